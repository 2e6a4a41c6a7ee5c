import { connect, type Socket } from 'node:net';
import { Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness } from './support/gateway-harness.js';
import { waitFor } from './support/ports.js';
import { GatewayMetrics } from '../src/metrics/gateway-metrics.js';

/** Every stalled socket a test opened: destroyed before its gateway stops (a stopped server no longer times them out). */
const opened: StalledUpgrade[] = [];

/** A socket that sends half an upgrade request and stalls, recording what the gateway answers. */
class StalledUpgrade {
  readonly socket: Socket;
  answer = '';
  closedAt: number | undefined;
  readonly openedAt = Date.now();

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    opened.push(this);
    this.socket.on('data', (chunk) => (this.answer += chunk.toString()));
    this.socket.on('close', () => (this.closedAt = Date.now()));
    this.socket.on('error', () => undefined);
    this.socket.write(`GET /ws?daemonId=d1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`);
  }

  get status(): number | undefined {
    const match = /^HTTP\/1\.1 (\d{3})/.exec(this.answer);
    return match ? Number(match[1]) : undefined;
  }
}

/** Read in process: an HTTP scrape from this address would itself be refused while the cap is reached. */
async function metric(gateway: GatewayHarness, name: string): Promise<number> {
  const text = await gateway.app.get(GatewayMetrics).registry.metrics();
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

describe('half-sent upgrade requests', () => {
  it('from one address (an ingress, a NAT) never keep its prompt clients out: 200 stalled sockets are cut off (408), every one of 300 prompt clients meanwhile is admitted', async () => {
    // The shipped per-address cap (100); a short deadline so the test does not wait 5 s.
    const gateway = await GatewayHarness.start({ HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '2000', MAX_INCOMPLETE_REQUESTS_PER_IP: '100' });
    try {
      const daemon = await gateway.daemon('d1');
      const stalled = Array.from({ length: 200 }, () => new StalledUpgrade(gateway.port));
      await waitFor(() => stalled.every((socket) => socket.socket.readyState === 'open'), 'stalled sockets open');
      const statuses: number[] = [];
      const prompt = async (index: number) => {
        // Spread over the stalled sockets' life: before and after they count as stalled.
        await new Promise((resolve) => setTimeout(resolve, (index % 30) * 25));
        const client = await gateway.open(gateway.wsUrl({ daemonId: 'd1', token: gateway.token(Role.Client, `user-${index}`, { daemons: ['d1'] }) }));
        const connected = await client.next('connected');
        statuses.push(connected.type === 'connected' ? 101 : 0);
        client.close();
      };
      await Promise.all(Array.from({ length: 300 }, (_, index) => prompt(index)));
      expect(statuses.filter((status) => status === 101)).toHaveLength(300);
      expect(await metric(gateway, 'arbor_incomplete_requests_refused_total')).toBe(0);

      await waitFor(() => stalled.every((socket) => socket.closedAt !== undefined), 'the stalled ones cut off', 10_000);
      expect(stalled.map((socket) => socket.status).filter((status) => status !== 408)).toEqual([]);
      // Within the headers deadline and Node's check interval, never Node's default 60-90 s.
      expect(Math.max(...stalled.map((socket) => socket.closedAt! - socket.openedAt))).toBeLessThan(3_000);
      expect(await metric(gateway, 'arbor_incomplete_requests')).toBe(0);
      await daemon.assertAlive();
    } finally {
      for (const upgrade of opened.splice(0)) upgrade.socket.destroy();
      await gateway.stop();
    }
  });

  it('past the per-address cap, a new socket sheds the oldest stalled one (408) instead of being refused', async () => {
    const gateway = await GatewayHarness.start({ HTTP_HEADERS_TIMEOUT_MS: '2000', HTTP_REQUEST_TIMEOUT_MS: '2000', MAX_INCOMPLETE_REQUESTS_PER_IP: '50' });
    try {
      const stalled = Array.from({ length: 50 }, () => new StalledUpgrade(gateway.port));
      await waitFor(() => stalled.every((socket) => socket.socket.readyState === 'open'), 'stalled sockets open');
      // Young, they are a burst and stay; past half the deadline they count as stalled.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect(stalled.every((socket) => socket.closedAt === undefined)).toBe(true);
      const newcomers = Array.from({ length: 10 }, () => new StalledUpgrade(gateway.port));
      await waitFor(() => stalled.filter((socket) => socket.closedAt !== undefined).length === 10, 'ten shed');
      expect(stalled.filter((socket) => socket.closedAt !== undefined).map((socket) => socket.status)).toEqual(Array(10).fill(408));
      expect(newcomers.every((socket) => socket.closedAt === undefined)).toBe(true);
      expect(await metric(gateway, 'arbor_incomplete_requests_shed_total')).toBe(10);
      expect(await metric(gateway, 'arbor_incomplete_requests_refused_total')).toBe(0);
      expect(await metric(gateway, 'arbor_incomplete_requests')).toBe(50);
    } finally {
      for (const upgrade of opened.splice(0)) upgrade.socket.destroy();
      await gateway.stop();
    }
  });

  it('past MAX_INCOMPLETE_REQUESTS in all, a new connection gets 503 while none is stalled, and sheds a stalled one after', async () => {
    const gateway = await GatewayHarness.start({ HTTP_HEADERS_TIMEOUT_MS: '2000', HTTP_REQUEST_TIMEOUT_MS: '2000', MAX_INCOMPLETE_REQUESTS: '10' });
    try {
      const stalled = Array.from({ length: 10 }, () => new StalledUpgrade(gateway.port));
      await waitFor(() => stalled.every((socket) => socket.socket.readyState === 'open'), 'stalled sockets open');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const extra = new StalledUpgrade(gateway.port);
      await waitFor(() => extra.closedAt !== undefined, 'the eleventh refused');
      expect(extra.status).toBe(503);
      // Past half the deadline the oldest counts as stalled: the next one takes its place.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const late = new StalledUpgrade(gateway.port);
      await waitFor(() => stalled[0].closedAt !== undefined, 'the oldest shed');
      expect(stalled[0].status).toBe(408);
      expect(await metric(gateway, 'arbor_incomplete_requests_shed_total')).toBe(1);
      expect(late.closedAt).toBeUndefined();
      await waitFor(() => [...stalled, late].every((socket) => socket.closedAt !== undefined), 'the stalled ones cut off', 10_000);
      expect([...stalled, late].map((socket) => socket.status)).toEqual(Array(11).fill(408));
      const daemon = await gateway.daemon('d2');
      await daemon.assertAlive();
    } finally {
      for (const upgrade of opened.splice(0)) upgrade.socket.destroy();
      await gateway.stop();
    }
  });

  it('a request timeout shorter than the headers timeout is refused at boot, naming both variables', async () => {
    await expect(GatewayHarness.start({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).rejects.toThrow(
      /HTTP_REQUEST_TIMEOUT_MS \(1000\) must be at least HTTP_HEADERS_TIMEOUT_MS \(5000\)/,
    );
  });
});
