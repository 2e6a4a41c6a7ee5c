import WebSocket from 'ws';
import { ConnectionState, DaemonClient, GatewayClient, Role } from '@arbor/gateway-client';
import { GatewayProcess } from './support/gateway-process.js';
import { waitFor } from './support/ports.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { signToken } from './support/tokens.js';

const SECRET = 'drain-test-secret-at-least-32-characters';
const DRAIN_DELAY_MS = 300;
const DRAIN_WINDOW_MS = 1500;

describe('rolling deploy: SIGTERM drains an instance without anyone losing anything', () => {
  const prefix = uniquePrefix();
  const processes: GatewayProcess[] = [];

  afterAll(async () => {
    for (const process of processes) process.kill('SIGKILL');
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  it('readiness drops first, closes are 1012 and spread over the window, clients resume on the other instance, exit 0', async () => {
    const env = { WEBSOCKET_PORT: '0', HOST: '127.0.0.1', JWT_SECRET: SECRET, LOG_LEVEL: 'info', REDIS_URL: SHARED_REDIS_URL, REDIS_KEY_PREFIX: prefix };
    const draining = new GatewayProcess({ ...env, DRAIN_DELAY_MS: String(DRAIN_DELAY_MS), DRAIN_WINDOW_MS: String(DRAIN_WINDOW_MS) });
    const staying = new GatewayProcess(env);
    processes.push(draining, staying);
    const [portA, portB] = await Promise.all([draining.listening(), staying.listening()]);
    const url = (port: number) => `ws://127.0.0.1:${port}/ws`;
    // First attempt to its own instance; after that wherever the load balancer would send it (B stays).
    const route = (first: number) => {
      let attempts = 0;
      return () => (attempts++ === 0 ? url(first) : url(portB));
    };

    const daemons = ['d-a', 'd-b'].map((daemonId, index) => {
      const daemon = new DaemonClient({
        url: route(index === 0 ? portA : portB),
        WebSocket,
        getToken: () => signToken(SECRET, { sub: daemonId, role: Role.Daemon }),
        network: null,
        minDelay: 20,
        maxDelay: 200,
      });
      return { daemonId, daemon, sent: 0 };
    });
    const clients = Array.from({ length: 20 }, (_, index) => {
      const daemonId = daemons[index % 2].daemonId;
      const client = new GatewayClient({
        url: route(index < 10 ? portA : portB),
        daemonId,
        WebSocket,
        getToken: () => signToken(SECRET, { sub: `user-${index}`, role: Role.Client, daemons: [daemonId] }),
        network: null,
        minDelay: 20,
        maxDelay: 200,
      });
      const seen: number[] = [];
      const closes: Array<{ code: number; at: number }> = [];
      const resyncs: string[] = [];
      client.on('file-change', (frame) => seen.push(Number(frame.payload.path.slice(1))));
      client.on('resync', ({ reason }) => resyncs.push(reason));
      client.connection.on('close', ({ code }) => closes.push({ code, at: Date.now() }));
      return { client, daemonId, seen, closes, resyncs, onA: index < 10 };
    });
    try {
      await waitFor(
        () => daemons.every(({ daemon }) => daemon.state === ConnectionState.Open) && clients.every(({ client }) => client.daemonStatus === 'online'),
        'everyone connected',
      );
      const streaming = setInterval(() => {
        for (const entry of daemons) for (let i = 0; i < 5; i += 1) entry.daemon.fileChange('w1', `e${entry.sent++}`, 'change');
      }, 10);

      await new Promise((resolve) => setTimeout(resolve, 200));
      let readyDownAt = 0;
      const probing = setInterval(() => {
        fetch(`http://127.0.0.1:${portA}/health/ready`).then(
          (response) => {
            if (response.status === 503 && !readyDownAt) readyDownAt = Date.now();
          },
          () => undefined,
        );
      }, 20);
      const terminatedAt = Date.now();
      draining.kill('SIGTERM');
      // New upgrades are turned away with 503 and Retry-After while the drain runs.
      await waitFor(() => readyDownAt > 0, 'readiness down');
      const upgrade = await new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
        const socket = new WebSocket(`${url(portA)}?token=${signToken(SECRET, { sub: 'd-late', role: Role.Daemon })}`);
        socket.on('unexpected-response', (_request, response) => resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] }));
        socket.on('open', () => reject(new Error('upgrade accepted during the drain')));
        socket.on('error', () => undefined);
      });
      expect(upgrade).toEqual({ status: 503, retryAfter: '1' });
      const exit = await draining.exited;
      const exitedAfter = Date.now() - terminatedAt;
      clearInterval(probing);
      await new Promise((resolve) => setTimeout(resolve, 500));
      clearInterval(streaming);

      expect(exit).toEqual({ code: 0, signal: null });
      expect(exitedAfter).toBeLessThan(DRAIN_DELAY_MS + DRAIN_WINDOW_MS + 5000);
      const drained = clients.filter((entry) => entry.onA);
      const closeTimes = drained.map((entry) => entry.closes[0]?.at ?? Infinity);
      // Readiness went 503 before the first close; nobody saw 1006; closes spread over the window.
      expect(readyDownAt).toBeGreaterThan(0);
      expect(readyDownAt).toBeLessThan(Math.min(...closeTimes));
      for (const entry of clients) for (const close of entry.closes) expect(close.code).toBe(1012);
      expect(Math.max(...closeTimes) - Math.min(...closeTimes)).toBeGreaterThan(DRAIN_WINDOW_MS / 2);

      // Everyone is back on B and, resuming, missed nothing.
      await waitFor(() => clients.every(({ client }) => client.state === ConnectionState.Open), 'all clients back');
      for (const entry of daemons) entry.daemon.fileChange('w1', `e${entry.sent++}`, 'change');
      for (const entry of clients) {
        const total = daemons.find((daemon) => daemon.daemonId === entry.daemonId)!.sent;
        await waitFor(() => entry.seen.length >= total, `${entry.daemonId}: ${total} events`, 10_000);
        expect(entry.resyncs).toEqual([]);
        expect(entry.seen).toEqual(Array.from({ length: total }, (_, i) => i));
      }
      // The drained daemon came back on B without its clients ever seeing it offline.
      for (const entry of clients.filter((client) => client.daemonId === 'd-a')) expect(entry.client.daemonStatus).toBe('online');
    } finally {
      for (const { daemon } of daemons) daemon.dispose();
      for (const { client } of clients) client.dispose();
    }
  });
});
