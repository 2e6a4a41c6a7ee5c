import WebSocket from 'ws';
import { Role } from '@arbor/gateway-client/protocol';
import { GatewayProcess } from './support/gateway-process.js';
import { waitFor } from './support/ports.js';
import { SlowReader } from './support/slow-reader.js';
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

interface Viewer {
  socket: WebSocket;
  events: number;
  lastSeq: number;
  outOfOrder: number;
  epoch: string | undefined;
  closeCode: number | undefined;
}

/** A lean reader: counts file-change events and checks each seq follows the last, without parsing JSON. */
function viewer(url: string, after = 0): Viewer {
  const state: Viewer = { socket: new WebSocket(url, { perMessageDeflate: false }), events: 0, lastSeq: after, outOfOrder: 0, epoch: undefined, closeCode: undefined };
  state.socket.on('message', (data: Buffer) => {
    const text = data.toString();
    if (text.startsWith('{"type":"connected"')) {
      state.epoch ??= (JSON.parse(text) as { payload: { stream: { epoch: string } } }).payload.stream.epoch;
      return;
    }
    if (!text.startsWith('{"type":"file-change"')) return;
    const seq = Number.parseInt(text.slice(text.indexOf('"seq":') + 6), 10);
    if (state.events > 0 || after > 0) {
      if (seq !== state.lastSeq + 1) state.outOfOrder += 1;
    }
    state.lastSeq = seq;
    state.events += 1;
  });
  state.socket.on('close', (code) => (state.closeCode = code));
  state.socket.on('error', () => undefined);
  return state;
}

const opened = (socket: WebSocket) => new Promise<void>((resolve, reject) => (socket.readyState === WebSocket.OPEN ? resolve() : (socket.once('open', () => resolve()), socket.once('error', reject))));
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
    const base = `ws://127.0.0.1:${port}/ws`;
    const clientToken = (user: string) => signToken(SECRET, { sub: user, role: Role.Client, daemons: ['burst'] });
    const daemon = new WebSocket(`${base}?token=${signToken(SECRET, { sub: 'burst', role: Role.Daemon })}`, { perMessageDeflate: false });
    await opened(daemon);
    const healthy = Array.from({ length: VIEWERS - 1 }, (_, i) => viewer(`${base}?daemonId=burst&token=${clientToken(`viewer-${i}`)}`));
    // The slow viewer reads 8 KiB every 50 ms (160 KiB/s), a small fraction of the burst's pace.
    const slow = new SlowReader(port, `/ws?daemonId=burst&token=${clientToken('slow-viewer')}`, 8 * 1024, 50);
    await Promise.all(healthy.map((entry) => opened(entry.socket)));
    await waitFor(() => healthy.every((entry) => entry.epoch !== undefined) && slow.texts.length > 0, 'every viewer admitted');

    const samples = { outbound: 0, daemonBuffered: 0 };
    let scraping = true;
    const scrape = (async () => {
      while (scraping) {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        samples.outbound = Math.max(samples.outbound, metric(text, 'arbor_outbound_buffered_bytes'));
        samples.daemonBuffered = Math.max(samples.daemonBuffered, daemon.bufferedAmount);
        // Once the gateway has given up on the slow viewer, it reads its close frame promptly.
        if (metric(text, 'arbor_slow_consumer_closes_total') > 0) slow.readFreely();
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();

    for (let i = 0; i < EVENTS; i += 1) daemon.send(`{"type":"file-change","payload":{"workspaceId":"w1","path":"src/f${i}.ts","event":"change"}}`);
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
    // ... and everything buffered, the slow viewer included, stayed within the bound plus the slow
    // viewer's hard limit (FANOUT_MAX_BUFFERED_BYTES again) and a write batch.
    expect(samples.outbound).toBeLessThan(2 * FANOUT_MAX + 128 * 1024);
    // Paused and resumed: the pressure reached the daemon's own send buffer, and every event got through.
    expect(metric(text, 'arbor_daemon_pauses_total')).toBeGreaterThan(0);
    expect(metric(text, 'arbor_daemon_paused_seconds_total')).toBeGreaterThan(0);
    expect(samples.daemonBuffered).toBeGreaterThan(256 * 1024);
    // Coalesced: on average several frames per write.
    const writes = metric(text, 'arbor_coalesced_frames_per_write_count');
    const frames = metric(text, 'arbor_coalesced_frames_per_write_sum');
    expect(frames / writes).toBeGreaterThan(4);
    for (const entry of healthy) expect([entry.events, entry.outOfOrder, entry.closeCode]).toEqual([EVENTS, 0, undefined]);

    // The slow viewer was cut with 4008 (it reads what was queued before the close frame), and
    // resumes from where it was: the rest, once each, in order.
    slow.readFreely();
    await waitFor(() => slow.closeCode !== undefined, 'the slow viewer closed', 20_000);
    expect(slow.closeCode).toBe(4008);
    const slowEvents = slow.texts.filter((text) => text.startsWith('{"type":"file-change"')).map((text) => JSON.parse(text) as { epoch: string; seq: number });
    expect(slowEvents.length).toBeLessThan(EVENTS);
    const firstSeq = healthy[0].lastSeq - EVENTS + 1;
    expect(slowEvents.map((event) => event.seq)).toEqual(Array.from({ length: slowEvents.length }, (_, i) => firstSeq + i));
    const last = slowEvents.at(-1)!;
    const resumed = viewer(`${base}?daemonId=burst&since=${last.epoch}:${last.seq}&token=${clientToken('slow-viewer')}`, last.seq);
    await waitFor(() => slowEvents.length + resumed.events === EVENTS, 'the resumed viewer has the rest', 60_000);
    expect(resumed.outOfOrder).toBe(0);
    expect(resumed.lastSeq).toBe(healthy[0].lastSeq);
    slow.stop();

    for (const entry of [...healthy, resumed]) entry.socket.terminate();
    daemon.terminate();
    expect(gateway.child.exitCode).toBeNull();
  }, 180_000);
});
