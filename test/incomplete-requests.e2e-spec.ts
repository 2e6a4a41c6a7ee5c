import { connect, type Socket } from 'node:net';
import { Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness } from './support/gateway-harness.js';
import { waitFor } from './support/ports.js';
import { GatewayMetrics } from '../src/metrics/gateway-metrics.js';

/** A socket that sends half an upgrade request and stalls, recording what the gateway answers. */
class StalledUpgrade {
  readonly socket: Socket;
  answer = '';
  closedAt: number | undefined;
  readonly openedAt = Date.now();

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
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
  it('are cut off by the headers timeout (408) and counted per address: past the cap, 503 at once; established connections carry on', async () => {
    const gateway = await GatewayHarness.start({ HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '1000', MAX_INCOMPLETE_REQUESTS_PER_IP: '50' });
    try {
      const daemon = await gateway.daemon('d1');
      const stalled = Array.from({ length: 200 }, () => new StalledUpgrade(gateway.port));
      await waitFor(() => stalled.filter((socket) => socket.closedAt !== undefined).length >= 150, 'refusals past the cap');
      const refused = stalled.filter((socket) => socket.status === 503);
      expect(refused.length).toBe(150);
      expect(refused.every((socket) => socket.answer.includes('Retry-After: 1'))).toBe(true);
      expect(await metric(gateway, 'arbor_incomplete_requests')).toBe(50);
      expect(await metric(gateway, 'arbor_incomplete_requests_refused_total')).toBe(150);

      // Established connections are not held up by the stalled ones.
      await daemon.assertAlive();

      await waitFor(() => stalled.every((socket) => socket.closedAt !== undefined), 'the stalled ones cut off', 10_000);
      const timedOut = stalled.filter((socket) => socket.status === 408);
      expect(timedOut.length).toBe(50);
      // Node's default would have held them for 60-90 s.
      expect(Math.max(...timedOut.map((socket) => socket.closedAt! - socket.openedAt))).toBeLessThan(5_000);
      expect(await metric(gateway, 'arbor_incomplete_requests')).toBe(0);
      const client = await gateway.open(gateway.wsUrl({ daemonId: 'd1', token: gateway.token(Role.Client, 'user-1', { daemons: ['d1'] }) }));
      await client.next('connected');
      await daemon.assertAlive();
    } finally {
      await gateway.stop();
    }
  });

  it('past MAX_INCOMPLETE_REQUESTS in all, new connections get 503 until the stalled ones are gone', async () => {
    const gateway = await GatewayHarness.start({ HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '500', MAX_INCOMPLETE_REQUESTS: '10' });
    try {
      const stalled = Array.from({ length: 10 }, () => new StalledUpgrade(gateway.port));
      await waitFor(() => stalled.every((socket) => socket.socket.readyState === 'open'), 'stalled sockets open');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const extra = new StalledUpgrade(gateway.port);
      await waitFor(() => extra.closedAt !== undefined, 'the eleventh refused');
      expect(extra.status).toBe(503);
      await waitFor(() => stalled.every((socket) => socket.closedAt !== undefined), 'the stalled ones cut off', 10_000);
      expect(stalled.map((socket) => socket.status)).toEqual(Array(10).fill(408));
      const daemon = await gateway.daemon('d2');
      await daemon.assertAlive();
    } finally {
      await gateway.stop();
    }
  });

  it('a request timeout shorter than the headers timeout is refused at boot, naming both variables', async () => {
    await expect(GatewayHarness.start({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).rejects.toThrow(
      /HTTP_REQUEST_TIMEOUT_MS \(1000\) must be at least HTTP_HEADERS_TIMEOUT_MS \(5000\)/,
    );
  });
});
