import type { INestApplication } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { AddressInfo } from 'node:net';
import { DEVELOPMENT_JWT_SECRET, Role } from '@arbor/gateway-client/protocol';
import { createGatewayApp } from '../../src/app.factory.js';

import { GatewayConfig } from '../../src/config/gateway-config.js';
import { TestPeer } from './test-peer.js';

export const TEST_SECRET = 'test-secret-that-is-at-least-32-characters-long';

/**
 * Tests open hundreds of connections from one address as one user and flood on purpose: limits
 * are out of the way unless a test sets them (the security suite runs with the defaults).
 */
export const UNLIMITED: Record<string, string> = {
  MAX_CONNECTIONS_PER_USER: '1000000',
  HANDSHAKE_RATE_PER_IP: '1000000',
  HANDSHAKE_BURST_PER_IP: '1000000',
  MAX_INCOMPLETE_REQUESTS: '1000000',
  MAX_INCOMPLETE_REQUESTS_PER_IP: '1000000',
  CLIENT_MESSAGE_RATE: '10000000',
  CLIENT_MESSAGE_BURST: '10000000',
  DAEMON_MESSAGE_RATE: '10000000',
  DAEMON_MESSAGE_BURST: '10000000',
};

export interface TokenOptions {
  daemons?: string[];
  ttlSeconds?: number;
  secret?: string;
  audience?: string;
  issuer?: string;
  claims?: Record<string, unknown>;
}

/** The real app on an ephemeral 127.0.0.1 port, with helpers to mint tokens and open peers. */
export class GatewayHarness {
  private readonly peers: TestPeer[] = [];
  private readonly jwt = new JwtService({});

  private constructor(
    readonly app: INestApplication,
    readonly config: GatewayConfig,
    readonly port: number,
  ) {}

  static async start(env: Record<string, string> = {}): Promise<GatewayHarness> {
    const config = GatewayConfig.load({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      JWT_SECRET: TEST_SECRET,
      WEBSOCKET_PORT: '0',
      HOST: '127.0.0.1',
      // Tests close apps constantly: no drain unless a test asks for one.
      DRAIN_DELAY_MS: '0',
      DRAIN_WINDOW_MS: '0',
      ...UNLIMITED,
      ...env,
    });
    const app = await createGatewayApp(config);
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    return new GatewayHarness(app, config, port);
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  wsUrl(query: Record<string, string | undefined> = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, value);
    const search = params.toString();
    return `ws://127.0.0.1:${this.port}/ws${search ? `?${search}` : ''}`;
  }

  token(role: Role, sub: string, options: TokenOptions = {}): string {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      sub,
      role,
      aud: options.audience ?? this.config.audience,
      iat: now,
      exp: now + (options.ttlSeconds ?? 300),
      ...(options.issuer ? { iss: options.issuer } : {}),
      ...(role === Role.Client ? { daemons: options.daemons ?? [] } : {}),
      ...options.claims,
    };
    const secret = options.secret ?? (this.config.jwt.kind === 'secret' ? this.config.jwt.secret : DEVELOPMENT_JWT_SECRET);
    return this.jwt.sign(claims, { secret, algorithm: 'HS256' });
  }

  /** Connects a daemon and waits for its `connected` frame. */
  async daemon(daemonId: string): Promise<TestPeer> {
    const peer = await this.open(this.wsUrl({ token: this.token(Role.Daemon, daemonId) }));
    await peer.next('connected');
    return peer;
  }

  /** Connects a client watching `daemonId` and waits for its `connected` frame. */
  async client(daemonId: string, userId = 'user-1'): Promise<TestPeer> {
    const peer = await this.open(this.wsUrl({ daemonId, token: this.token(Role.Client, userId, { daemons: [daemonId] }) }));
    await peer.next('connected');
    return peer;
  }

  /** Opens a raw connection; resolves once it is open or closed (refusals close right away). */
  async open(url: string, options: ConstructorParameters<typeof TestPeer>[1] = {}): Promise<TestPeer> {
    const peer = new TestPeer(url, options);
    this.peers.push(peer);
    await peer.opened;
    return peer;
  }

  async stop(): Promise<void> {
    for (const peer of this.peers) peer.terminate();
    await this.app.close();
  }
}
