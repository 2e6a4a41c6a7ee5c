import { JwtService } from '@nestjs/jwt';
import WebSocket from 'ws';
import { ConnectionState, DaemonClient, GatewayClient, Role } from '@arbor/gateway-client';
import { GatewayProcess } from './support/gateway-process.js';
import { freePort, waitFor } from './support/ports.js';

const SECRET = 'sdk-integration-secret-at-least-32-chars';
const FAST_RETRY = { minDelay: 100, maxDelay: 1000, network: null } as const;

function mint(claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  return new JwtService({}).sign(
    { aud: 'arbor-gateway', iat: now, exp: now + 300, jti: `${Math.random()}`, ...claims },
    { secret: SECRET, algorithm: 'HS256' },
  );
}

/** A getToken that counts calls, remembers what it issued, and can be held closed. */
class TokenSource {
  readonly issued: string[] = [];
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  constructor(private readonly claims: Record<string, unknown>) {}
  readonly getToken = async () => {
    await this.gate;
    const token = mint(this.claims);
    this.issued.push(token);
    return token;
  };
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }
  release(): void {
    this.gate = undefined;
    this.openGate?.();
  }
}

describe('SDK against the real gateway', () => {
  let port: number;
  let gateway: GatewayProcess;
  const start = async () => {
    gateway = new GatewayProcess({ WEBSOCKET_PORT: String(port), HOST: '127.0.0.1', JWT_SECRET: SECRET, LOG_LEVEL: 'info' });
    await gateway.listening();
  };

  beforeAll(async () => {
    port = await freePort();
  });

  afterEach(() => {
    gateway?.kill('SIGKILL');
  });

  it('survives SIGKILL and restart: both reconnect with fresh tokens, queued messages arrive in order, none twice', async () => {
    await start();
    const url = `ws://127.0.0.1:${port}/ws`;
    const daemonTokens = new TokenSource({ sub: 'daemon-1', role: Role.Daemon });
    const clientTokens = new TokenSource({ sub: 'user-1', role: Role.Client, daemons: ['daemon-1'] });
    const daemon = new DaemonClient({ url, WebSocket, getToken: daemonTokens.getToken, workspaceIds: ['w1'], ...FAST_RETRY });
    const client = new GatewayClient({ url, daemonId: 'daemon-1', WebSocket, getToken: clientTokens.getToken, requestTimeout: 20_000, ...FAST_RETRY });
    const paths: string[] = [];
    client.on('file-change', (frame) => paths.push(frame.payload.path));
    const commands: string[] = [];
    const resyncs: string[] = [];
    client.on('resync', ({ reason }) => resyncs.push(reason));
    daemon.on('run-task', (task) => commands.push(task.taskId));
    try {
      await waitFor(() => daemon.state === ConnectionState.Open && client.state === ConnectionState.Open, 'both open');
      await waitFor(() => client.daemonStatus === 'online', 'daemon online for the client');

      // Both sending while the gateway dies.
      let live = 0;
      const sending = setInterval(() => {
        daemon.fileChange('w1', `live-${live++}`, 'change');
        client.send({ type: 'ping' });
      }, 2);
      await waitFor(() => paths.length >= 20, 'live traffic');

      // Round 1: the daemon queues while the gateway is down; the client comes back first.
      gateway.kill('SIGKILL');
      await waitFor(() => daemon.state === ConnectionState.Reconnecting && client.state === ConnectionState.Reconnecting, 'both reconnecting');
      clearInterval(sending);
      for (let i = 0; i < 50; i += 1) expect(daemon.fileChange('w1', `queued-${i}`, 'add')).toBe(false);
      daemonTokens.hold();
      const clientTokensBefore = clientTokens.issued.length;
      await start();
      await waitFor(() => client.state === ConnectionState.Open, 'client back');
      expect(clientTokens.issued.length).toBeGreaterThan(clientTokensBefore);
      daemonTokens.release();
      await waitFor(() => paths.filter((path) => path.startsWith('queued-')).length >= 50, 'queued daemon events');

      // Round 2: the client queues commands; the daemon comes back first.
      gateway.kill('SIGKILL');
      await waitFor(() => daemon.state === ConnectionState.Reconnecting && client.state === ConnectionState.Reconnecting, 'both reconnecting again');
      const acks = Array.from({ length: 5 }, (_, i) => client.runTask({ workspaceId: 'w1', command: 'echo', taskId: `task-${i}` }));
      clientTokens.hold();
      await start();
      await waitFor(() => daemon.state === ConnectionState.Open, 'daemon back');
      clientTokens.release();
      expect((await Promise.all(acks)).map((ack) => ack.status)).toEqual(Array(5).fill('accepted'));
      await waitFor(() => commands.length >= 5, 'queued commands at the daemon');
      await new Promise((resolve) => setTimeout(resolve, 200));

      expect(paths.filter((path) => path.startsWith('queued-'))).toEqual(Array.from({ length: 50 }, (_, i) => `queued-${i}`));
      expect(commands).toEqual(['task-0', 'task-1', 'task-2', 'task-3', 'task-4']);
      // Live events in flight when the gateway died are sent again by the DaemonClient: none is
      // lost. The restarted (in-memory) gateway lost its history, so they come in a new epoch and
      // the client was told to resync.
      const liveSeen = new Set(paths.filter((path) => path.startsWith('live-')).map((path) => Number(path.slice(5))));
      expect([...liveSeen].sort((a, b) => a - b)).toEqual(Array.from({ length: live }, (_, i) => i));
      expect(resyncs.length).toBeGreaterThanOrEqual(1);
      // Every attempt used a token of its own.
      for (const source of [daemonTokens, clientTokens]) {
        expect(source.issued.length).toBeGreaterThanOrEqual(3);
        expect(new Set(source.issued).size).toBe(source.issued.length);
      }
    } finally {
      daemon.dispose();
      client.dispose();
    }
  });

  it('a client whose token lacks the daemon stops with state forbidden after one attempt', async () => {
    await start();
    const tokens = new TokenSource({ sub: 'user-2', role: Role.Client, daemons: ['daemon-other'] });
    const client = new GatewayClient({ url: `ws://127.0.0.1:${port}/ws`, daemonId: 'daemon-1', WebSocket, getToken: tokens.getToken, ...FAST_RETRY });
    try {
      await waitFor(() => client.state === ConnectionState.Forbidden, 'forbidden');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(tokens.issued).toHaveLength(1);
      expect(client.state).toBe(ConnectionState.Forbidden);
      expect(client.connection.lastError).toMatchObject({ code: 4403 });
    } finally {
      client.dispose();
    }
  });
});
