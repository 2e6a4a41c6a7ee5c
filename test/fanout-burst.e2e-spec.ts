import WebSocket from 'ws';
import { Role } from '@arbor/gateway-client/protocol';
import { GatewayProcess } from './support/gateway-process.js';
import { waitFor } from './support/ports.js';
import { RawReader } from './support/raw-reader.js';
import { signToken } from './support/tokens.js';

/**
 * A daemon floods 100 000 events at 50 viewers, one of which reads slowly. The gateway (a real
 * process) must keep what it buffers for the healthy viewers under FANOUT_MAX_BUFFERED_BYTES by
 * pausing the daemon — whose own send buffer fills instead — cut the slow viewer with 4008 without
 * stalling the others, and deliver every event to everyone exactly once, in order.
 */

const SECRET = 'fanout-burst-secret-at-least-32-characters';
const EVENTS = 100_000;
const VIEWERS = 50;
// The defaults: 4 MiB per daemon's viewers, 1 MiB per viewer.
const FANOUT_MAX = 4 * 1024 * 1024;

const FILE_CHANGE = Buffer.from('{"type":"file-change"');
const SEQ = Buffer.from('"seq":');

/** The seq of a file-change event, or undefined for any other frame; no JSON parsing. */
function fileChangeSeq(payload: Buffer): number | undefined {
  if (payload.compare(FILE_CHANGE, 0, FILE_CHANGE.length, 0, FILE_CHANGE.length) !== 0) return undefined;
  let at = payload.indexOf(SEQ) + SEQ.length;
  let seq = 0;
  for (let digit = payload[at]; digit >= 48 && digit <= 57; digit = payload[++at]) seq = seq * 10 + digit - 48;
  return seq;
}

interface Viewer {
  reader: RawReader;
  events: number;
  firstSeq: number | undefined;
  lastSeq: number;
  outOfOrder: number;
  epoch: string | undefined;
}

/** Counts file-change events and checks each seq follows the last (after `after`, when resuming). */
function viewer(port: number, path: string, after?: number, pace?: { bytes: number; ms: number }): Viewer {
  const state: Viewer = { events: 0, firstSeq: undefined, lastSeq: after ?? 0, outOfOrder: 0, epoch: undefined } as Viewer;
  state.reader = new RawReader(
    port,
    path,
    (payload) => {
      const seq = fileChangeSeq(payload);
      if (seq === undefined) {
        if (payload.includes('"type":"connected"'))
          state.epoch ??= (JSON.parse(payload.toString()) as { payload: { stream: { epoch: string } } }).payload.stream.epoch;
        return;
      }
      if ((state.events > 0 || after !== undefined) && seq !== state.lastSeq + 1) state.outOfOrder += 1;
      state.firstSeq ??= seq;
      state.lastSeq = seq;
      state.events += 1;
    },
    pace,
  );
  return state;
}

const opened = (socket: WebSocket) =>
  new Promise<void>((resolve, reject) =>
    socket.readyState === WebSocket.OPEN ? resolve() : (socket.once('open', () => resolve()), socket.once('error', reject)),
  );
const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

describe('fan-out burst: coalesced writes and backpressure to the daemon', () => {
  let gateway: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    gateway = new GatewayProcess({
      WEBSOCKET_PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET: SECRET,
      LOG_LEVEL: 'info',
      // The slow viewer resumes from history after its 4008: keep the whole burst.
      REPLAY_MAX_EVENTS: String(EVENTS + 1000),
    });
    port = await gateway.listening();
  });
  afterAll(() => gateway.kill('SIGKILL'));

  it(`${EVENTS} events to ${VIEWERS} viewers, one slow: bounded buffers, daemon paused and resumed, slow viewer cut and resumed, nothing lost`, async () => {
    const base = `ws://127.0.0.1:${port}/ws`; // the daemon uses a full client
    const clientToken = (user: string) => signToken(SECRET, { sub: user, role: Role.Client, daemons: ['burst'] });
    const daemon = new WebSocket(`${base}?token=${signToken(SECRET, { sub: 'burst', role: Role.Daemon })}`, { perMessageDeflate: false });
    await opened(daemon);
    // Healthy viewers read at a steady 1.6 MB/s each: slower than the daemon can send, so they hold
    // it back, and all alike, so none falls behind the others. The slow one reads 80 KB/s.
    const healthy = Array.from({ length: VIEWERS - 1 }, (_, i) =>
      viewer(port, `/ws?daemonId=burst&token=${clientToken(`viewer-${i}`)}`, undefined, { bytes: 32 * 1024, ms: 20 }),
    );
    const slow = viewer(port, `/ws?daemonId=burst&token=${clientToken('slow-viewer')}`, undefined, { bytes: 4 * 1024, ms: 50 });
    await waitFor(() => [...healthy, slow].every((entry) => entry.epoch !== undefined), 'every viewer admitted');

    const samples = { outbound: 0, daemonBuffered: 0 };
    let scraping = true;
    const scrape = (async () => {
      while (scraping) {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        samples.outbound = Math.max(samples.outbound, metric(text, 'arbor_outbound_buffered_bytes'));
        samples.daemonBuffered = Math.max(samples.daemonBuffered, daemon.bufferedAmount);
        // Once the gateway has given up on the slow viewer, it reads its close frame promptly.
        if (metric(text, 'arbor_slow_consumer_closes_total') > 0) slow.reader.readFreely();
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();

    for (let i = 0; i < EVENTS; i += 1) {
      daemon.send(`{"type":"file-change","payload":{"workspaceId":"w1","path":"src/f${i}.ts","event":"change"}}`);
      // Also measured as the burst is written, not only between scrapes: what the kernel did not take stays here.
      if (i % 1000 === 999) samples.daemonBuffered = Math.max(samples.daemonBuffered, daemon.bufferedAmount);
    }
    try {
      await waitFor(() => healthy.every((entry) => entry.events === EVENTS), 'every healthy viewer has every event', 120_000);
    } finally {
      scraping = false;
      await scrape;
    }

    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    // Bounded: what the healthy viewers held never passed the bound (by more than one event's fan-out) ...
    const peak = metric(text, 'arbor_fanout_buffered_peak_bytes');
    expect(peak).toBeLessThanOrEqual(FANOUT_MAX + 64 * 1024);
    expect(peak).toBeGreaterThan(FANOUT_MAX / 2);
    // ... and no single connection, the slow viewer included, held more than the slow-consumer hard
    // limit (FANOUT_MAX_BUFFERED_BYTES) and one write batch.
    expect(metric(text, 'arbor_connection_buffered_peak_bytes')).toBeLessThanOrEqual(FANOUT_MAX + 64 * 1024);
    expect(samples.outbound).toBeGreaterThan(0);
    // Paused and resumed: the pressure reached the daemon's own send buffer, and every event got through.
    expect(metric(text, 'arbor_daemon_pauses_total')).toBeGreaterThan(0);
    expect(metric(text, 'arbor_daemon_paused_seconds_total')).toBeGreaterThan(0);
    expect(samples.daemonBuffered).toBeGreaterThan(256 * 1024);
    // Coalesced: on average several frames per write.
    const writes = metric(text, 'arbor_coalesced_frames_per_write_count');
    const frames = metric(text, 'arbor_coalesced_frames_per_write_sum');
    expect(frames / writes).toBeGreaterThan(4);
    for (const entry of healthy) expect([entry.events, entry.outOfOrder, entry.reader.closeCode]).toEqual([EVENTS, 0, undefined]);

    // The slow viewer was cut with 4008 (it reads what was queued before the close frame), and
    // resumes from where it was: the rest, once each, in order.
    slow.reader.readFreely();
    await waitFor(() => slow.reader.closeCode !== undefined, 'the slow viewer closed', 20_000);
    expect(slow.reader.closeCode).toBe(4008);
    expect(slow.events).toBeLessThan(EVENTS);
    expect([slow.firstSeq, slow.outOfOrder]).toEqual([healthy[0].firstSeq, 0]);
    const resumed = viewer(port, `/ws?daemonId=burst&since=${slow.epoch}:${slow.lastSeq}&token=${clientToken('slow-viewer')}`, slow.lastSeq);
    await waitFor(() => slow.events + resumed.events === EVENTS, 'the resumed viewer has the rest', 60_000);
    expect(resumed.outOfOrder).toBe(0);
    expect(resumed.lastSeq).toBe(healthy[0].lastSeq);
    slow.reader.stop();

    for (const entry of [...healthy, resumed]) entry.reader.stop();
    daemon.terminate();
    expect(gateway.child.exitCode).toBeNull();
  }, 180_000);
});
