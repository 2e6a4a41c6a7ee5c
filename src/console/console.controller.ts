import { Body, Controller, Get, HttpCode, Logger, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '../api/openapi-decorators.js';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { allows, ApiKeyRegistry, CONSOLE_SESSION_SECONDS } from '../auth/api-keys/api-key.registry.js';
import { ApiScope } from '../config/api-keys.js';
import { CONSOLE_COOKIE, cookieValue, sameOriginWrite } from '../auth/api-keys/console-session.js';
import { NodeEnv } from '../config/environment.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { DomainError } from '../errors/domain.error.js';
import { clientAddress } from '../edge/client-address.js';
import { assertBoundedJson } from '../validation/strict-body.pipe.js';
import { SignInThrottle } from './sign-in-throttle.js';

/** The bundle `npm run build` writes (scripts/build-console.mjs); from src/console or dist/console alike. */
const BUNDLE = fileURLToPath(new URL('../../dist/console-app/', import.meta.url));

/** Only the gateway's own origin: the page loads, styles and calls nothing from anywhere else. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Every answer under /console, errors included, carries the security headers (registered before the body parser). */
export function consoleSecurityHeaders(request: IncomingMessage, response: ServerResponse, next: () => void): void {
  if (request.url === '/console' || request.url?.startsWith('/console/') || request.url?.startsWith('/console?')) {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
  }
  next();
}

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Arbor Gateway console</title>
<link rel="stylesheet" href="/console/app.css"></head>
<body><div id="root"></div><script type="module" src="/console/app.js"></script></body>
</html>`;

/**
 * The operator console (CONSOLE_ENABLED=true): the page, its bundle, and sign-in with an API key
 * secret, which becomes a signed, HttpOnly, SameSite=Strict session cookie (Secure over https and
 * in production). The page reads and acts through the server API with that cookie; writes need the
 * CSRF header (ApiKeyGuard). Sign-ins and sign-outs are logged with the key id.
 */
@ApiExcludeController()
@Controller('console')
export class ConsoleController {
  private readonly logger = new Logger('Console');

  constructor(
    private readonly config: GatewayConfig,
    private readonly keys: ApiKeyRegistry,
    private readonly signIns: SignInThrottle,
  ) {}

  @Get()
  page(@Res() response: ServerResponse): void {
    this.assertEnabled();
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
  }

  @Get('app.js')
  script(@Res() response: ServerResponse): Promise<void> {
    return this.asset(response, 'app.js', 'text/javascript; charset=utf-8');
  }

  @Get('app.css')
  styles(@Res() response: ServerResponse): Promise<void> {
    return this.asset(response, 'app.css', 'text/css; charset=utf-8');
  }

  @Get('session')
  session(@Req() request: IncomingMessage): { keyId: string; scope: string } {
    this.assertEnabled();
    const token = cookieValue(request.headers.cookie, CONSOLE_COOKIE);
    const key = token === undefined ? undefined : this.keys.bySession(token);
    if (!key) throw new DomainError(ErrorCode.Unauthorized, 'not signed in');
    return { keyId: key.id, scope: key.scope };
  }

  @Post('login')
  @HttpCode(200)
  login(@Body() body: unknown, @Req() request: IncomingMessage, @Res({ passthrough: true }) response: ServerResponse): { keyId: string; scope: string } {
    this.assertEnabled();
    this.assertSameOrigin(request);
    assertBoundedJson(body);
    const address = clientAddress(request, this.config.clientIpHeader);
    this.signIns.attempt(address);
    const secret = typeof body === 'object' && body !== null ? (body as { secret?: unknown }).secret : undefined;
    const found = typeof secret === 'string' ? this.keys.bySecret(secret, ApiScope.Read) : undefined;
    // The console is the server API's: a key that only mints tokens does not sign in.
    const key = found && allows(found, ApiScope.Read) ? found : undefined;
    if (!key) {
      this.signIns.refused();
      this.logger.warn({ msg: 'console sign-in refused', address });
      throw new DomainError(ErrorCode.Unauthorized, 'wrong key');
    }
    this.signIns.succeeded(key.id);
    response.setHeader('set-cookie', this.cookie(request, this.keys.signSession(key), CONSOLE_SESSION_SECONDS));
    this.logger.log({ msg: 'console sign-in', keyId: key.id, scope: key.scope });
    return { keyId: key.id, scope: key.scope };
  }

  @Post('logout')
  @HttpCode(204)
  logout(@Req() request: IncomingMessage, @Res({ passthrough: true }) response: ServerResponse): void {
    this.assertEnabled();
    this.assertSameOrigin(request);
    const token = cookieValue(request.headers.cookie, CONSOLE_COOKIE);
    const key = token === undefined ? undefined : this.keys.bySession(token);
    response.setHeader('set-cookie', this.cookie(request, '', 0));
    this.logger.log({ msg: 'console sign-out', keyId: key?.id });
  }

  private async asset(response: ServerResponse, name: string, contentType: string): Promise<void> {
    this.assertEnabled();
    let content: Buffer;
    try {
      content = await readFile(`${BUNDLE}${name}`);
    } catch {
      throw new DomainError(ErrorCode.Unavailable, 'the console is not built: run npm run build');
    }
    response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache' }).end(content);
  }

  private cookie(request: IncomingMessage, value: string, maxAgeSeconds: number): string {
    const secure = this.config.nodeEnv === NodeEnv.Production || request.socket instanceof TLSSocket || request.headers['x-forwarded-proto'] === 'https';
    return `${CONSOLE_COOKIE}=${encodeURIComponent(value)}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  }

  private assertEnabled(): void {
    if (!this.config.consoleEnabled) throw new DomainError(ErrorCode.NotFound, 'Not Found');
  }

  /** Sign-in and sign-out only from the console's own page: the CSRF header, and Origin (when sent) this host. */
  private assertSameOrigin(request: IncomingMessage): void {
    if (!sameOriginWrite(request)) throw new DomainError(ErrorCode.Forbidden, 'sign in from the console page');
  }
}
