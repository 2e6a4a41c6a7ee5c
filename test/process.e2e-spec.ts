import { Role } from '@arbor/gateway-client/protocol';
import { existsSync } from 'node:fs';
import { JwtService } from '@nestjs/jwt';
import { GatewayProcess, MAIN_JS } from './support/gateway-process.js';
import { freePort } from './support/ports.js';
import { TestPeer } from './support/test-peer.js';

const SECRET = 'process-test-secret-at-least-32-characters';

function sign(claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  return new JwtService({}).sign({ aud: 'arbor-gateway', iat: now, exp: now + 120, ...claims }, { secret: SECRET, algorithm: 'HS256' });
}

describe('the built gateway process', () => {
  beforeAll(() => {
    if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run npm run build (npm test does)`);
  });

  it.each([
    [{ WEBSOCKET_PORT: 'abc' }, 'WEBSOCKET_PORT'],
    [{ WEBSOCKET_PORT: '70000' }, 'WEBSOCKET_PORT'],
    [{ DAEMON_STALE_MS: '5000', DAEMON_TIMEOUT_MS: '1000' }, 'DAEMON_TIMEOUT_MS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ NODE_ENV: 'production' }, 'JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required'],
    [{ NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-at-least-32-chars' }, 'ALLOWED_ORIGINS is required'],
    [{ ALLOWED_ORIGINS: 'https://app.example.com/path' }, 'ALLOWED_ORIGINS'],
    [{ CLIENT_MESSAGE_RATE: '0' }, 'CLIENT_MESSAGE_RATE'],
  ])('refuses to boot with %j, naming the variable', async (env, expected) => {
    const gateway = new GatewayProcess({ WEBSOCKET_PORT: '0', ...env });
    const exit = await gateway.exited;
    expect(exit.code).toBe(1);
    expect(gateway.stderr).toContain(expected);
    // Not a terminal: one JSON line, a short message, the problems as an array (no escaped newlines).
    const [line, ...more] = gateway.stderr.trim().split('\n');
    expect(more).toEqual([]);
    const report = JSON.parse(line) as { msg: string; problems: string[] };
    expect(report.msg).toBe('invalid configuration');
    expect(report.problems.some((problem) => problem.includes(expected))).toBe(true);
    expect(line).not.toContain('\\n');
    // The secret's value is never echoed.
    if ('JWT_SECRET' in env) expect(gateway.stderr).not.toContain('"short"');
  });

  it('a second gateway on a busy port says so in one line naming the port and WEBSOCKET_PORT, and exits 1 at once', async () => {
    const port = await freePort();
    const env = { NODE_ENV: 'development', WEBSOCKET_PORT: String(port), HOST: '127.0.0.1', JWT_SECRET: SECRET, LOG_LEVEL: 'info' };
    const first = new GatewayProcess(env);
    try {
      await first.listening();
      const second = new GatewayProcess(env);
      const started = Date.now();
      const exit = await second.exited;
      expect(exit.code).toBe(1);
      expect(Date.now() - started).toBeLessThan(8000);
      const errors = second.logLines().filter((line) => line.level === 'error');
      expect(errors).toEqual([expect.objectContaining({ msg: `port ${port} is in use`, port, hint: expect.stringContaining('WEBSOCKET_PORT') })]);
      // No retry loop: no stack trace, no listener-leak warning.
      expect(second.stderr).not.toMatch(/EADDRINUSE|MaxListenersExceededWarning|\n\s+at /);
      // The first one never noticed.
      expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
    } finally {
      first.kill('SIGKILL');
    }
  });

  it('logs one JSON object per line, never a token, and exits 0 on SIGTERM', async () => {
    const gateway = new GatewayProcess({ WEBSOCKET_PORT: '0', HOST: '127.0.0.1', JWT_SECRET: SECRET, LOG_LEVEL: 'debug' });
    try {
      const port = await gateway.listening();
      const daemonToken = sign({ sub: 'daemon-1', role: Role.Daemon });
      const clientToken = sign({ sub: 'user-1', role: Role.Client, daemons: ['daemon-1'] });
      const forbiddenToken = sign({ sub: 'user-2', role: Role.Client, daemons: ['daemon-2'] });
      const badToken = `${clientToken.slice(0, -4)}AAAA`;

      const daemon = new TestPeer(`ws://127.0.0.1:${port}/ws?token=${daemonToken}`);
      await daemon.next('connected');
      const client = new TestPeer(`ws://127.0.0.1:${port}/ws?daemonId=daemon-1&token=${clientToken}`);
      await client.next('connected');
      const forbidden = new TestPeer(`ws://127.0.0.1:${port}/ws?daemonId=daemon-1&token=${forbiddenToken}`);
      expect((await forbidden.waitClosed()).code).toBe(4403);
      const bad = new TestPeer(`ws://127.0.0.1:${port}/ws?daemonId=daemon-1`, { headers: { Authorization: `Bearer ${badToken}` } });
      expect((await bad.waitClosed()).code).toBe(4401);
      client.send('{broken');
      await client.next('error');
      // Tokens in refresh-token frames, accepted or refused, stay out of the log too.
      const refreshToken = sign({ sub: 'user-1', role: Role.Client, daemons: ['daemon-1'], jti: 'refresh-1' });
      expect((await client.request('refresh-token', { token: refreshToken })).type).toBe('token-refreshed');
      const wrongSubject = sign({ sub: 'user-3', role: Role.Client, daemons: ['daemon-1'] });
      const refresher = new TestPeer(`ws://127.0.0.1:${port}/ws?daemonId=daemon-1&token=${sign({ sub: 'user-4', role: Role.Client, daemons: ['daemon-1'] })}`);
      await refresher.next('connected');
      refresher.send({ type: 'refresh-token', id: 'r', payload: { token: wrongSubject } });
      expect((await refresher.waitClosed()).code).toBe(4403);

      gateway.kill('SIGTERM');
      expect(await gateway.exited).toEqual({ code: 0, signal: null });
      expect((await client.waitClosed()).code).toBe(1012);

      const lines = gateway.logLines();
      expect(lines.length).toBeGreaterThan(5);
      for (const line of lines) expect(line).toEqual(expect.objectContaining({ time: expect.any(String), level: expect.any(String) }));
      const admitted = lines.filter((line) => line.msg === 'connection admitted');
      expect(admitted).toHaveLength(3);
      // Opens and ordinary closes are debug lines; a close the operator should see is not.
      for (const line of admitted) expect(line.level).toBe('debug');
      const closed = lines.filter((line) => line.msg === 'connection closed');
      expect(closed.find((line) => line.code === 1012)?.level).toBe('debug');
      expect(closed.find((line) => line.code === 4403)?.level).toBe('info');
      // Every line about a connection names it, refusals included.
      const aboutConnections = lines.filter((line) => typeof line.msg === 'string' && /^connection /.test(line.msg));
      expect(aboutConnections.length).toBeGreaterThanOrEqual(5);
      for (const line of aboutConnections) expect(line.connectionId).toEqual(expect.any(String));
      // No query string reaches the log, not even a token-free one.
      expect(gateway.stdout).not.toMatch(/daemonId=daemon-1/);
      for (const token of [daemonToken, clientToken, forbiddenToken, badToken, refreshToken, wrongSubject]) {
        expect(gateway.stdout).not.toContain(token);
        expect(gateway.stderr).not.toContain(token);
        // Not even the signature part of one.
        expect(gateway.stdout).not.toContain(token.split('.')[2]);
      }
      expect(lines.some((line) => line.msg === 'connection refused')).toBe(true);
    } finally {
      gateway.kill('SIGKILL');
    }
  });
});
