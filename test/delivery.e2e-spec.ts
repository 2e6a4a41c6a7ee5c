import WebSocket from 'ws';
import { ConnectionState, DaemonClient, GatewayClient, Role } from '@arbor/gateway-client';
import { ConnectionRegistry } from '../src/gateway/connections/connection-registry.js';
import { Connection } from '../src/gateway/connections/connection.js';
import { GatewayHarness } from './support/gateway-harness.js';
import { waitFor } from './support/ports.js';
import type { ReceivedFrame, TestPeer } from './support/test-peer.js';

const fileChange = (path: string) => ({ type: 'file-change', payload: { workspaceId: 'w1', path, event: 'change' } });
const paths = (frames: ReceivedFrame[]) => frames.filter((frame) => frame.type === 'file-change').map((frame) => frame.payload.path);

describe('ordered, resumable event streams (single instance)', () => {
  let gateway: GatewayHarness;

  beforeEach(async () => {
    gateway = await GatewayHarness.start({ REPLAY_MAX_EVENTS: '100' });
  });

  afterEach(async () => {
    await gateway.stop();
  });

  const resume = (since: string) => gateway.open(gateway.wsUrl({ daemonId: 'd1', since, token: gateway.token(Role.Client, 'user-1', { daemons: ['d1'] }) }));

  it('numbers every event of a daemon: one epoch, strictly increasing seq, daemon-status included', async () => {
    const client = await gateway.client('d1');
    const connected = client.received[0].payload;
    expect(connected.stream).toEqual({ epoch: expect.any(String), seq: 0 });
    expect(connected.recovered).toBe(false);
    const daemon = await gateway.daemon('d1');
    for (let i = 0; i < 20; i += 1) daemon.send(fileChange(`p${i}`));
    const frames = await client.collect('file-change', 20);
    const sequenced = client.received.filter((frame) => frame.seq !== undefined);
    expect(sequenced[0]).toMatchObject({ type: 'daemon-status', seq: 1, epoch: connected.stream.epoch });
    expect(sequenced.map((frame) => frame.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(frames[0]).toEqual({
      type: 'file-change',
      daemonId: 'd1',
      epoch: connected.stream.epoch,
      seq: 2,
      payload: { workspaceId: 'w1', path: 'p0', event: 'change' },
    });
  });

  it('a client resuming from its position gets the snapshot, then exactly the missed events, then live ones', async () => {
    const daemon = await gateway.daemon('d1');
    const first = await gateway.client('d1');
    for (let i = 0; i < 10; i += 1) daemon.send(fileChange(`a${i}`));
    const seen = await first.collect('file-change', 10);
    const position = `${seen[9].epoch}:${seen[9].seq}`;
    first.terminate();
    for (let i = 0; i < 30; i += 1) daemon.send(fileChange(`b${i}`));
    await daemon.assertAlive();
    const resumed = await resume(position);
    const connected = await resumed.next('connected');
    expect(connected.payload.recovered).toBe(true);
    expect(connected.payload.stream.seq).toBe(seen[9].seq! + 30);
    for (let i = 0; i < 5; i += 1) daemon.send(fileChange(`c${i}`));
    await resumed.collect('file-change', 35);
    expect(paths(resumed.received)).toEqual([...Array.from({ length: 30 }, (_, i) => `b${i}`), ...Array.from({ length: 5 }, (_, i) => `c${i}`)]);
  });

  it('no gap and no duplicate at the seam while the daemon keeps sending during the resume', async () => {
    const daemon = await gateway.daemon('d1');
    const first = await gateway.client('d1');
    daemon.send(fileChange('start'));
    const [start] = await first.collect('file-change', 1);
    first.terminate();
    let sent = 0;
    const burst = setInterval(() => {
      for (let i = 0; i < 5; i += 1) daemon.send(fileChange(`x${sent++}`));
    }, 1);
    const resumed = await resume(`${start.epoch}:${start.seq}`);
    await resumed.next('connected');
    await new Promise((resolve) => setTimeout(resolve, 50));
    clearInterval(burst);
    await daemon.assertAlive();
    await waitFor(() => paths(resumed.received).length === sent, `${sent} events`);
    expect(paths(resumed.received)).toEqual(Array.from({ length: sent }, (_, i) => `x${i}`));
    const seqs = resumed.received.filter((frame) => frame.type === 'file-change').map((frame) => frame.seq);
    expect(seqs).toEqual(Array.from({ length: sent }, (_, i) => start.seq! + 1 + i));
  });

  it('a position older than the history gets resync-required with the fresh snapshot', async () => {
    const daemon = await gateway.daemon('d1');
    const first = await gateway.client('d1');
    daemon.send(fileChange('old'));
    const [old] = await first.collect('file-change', 1);
    first.terminate();
    for (let i = 0; i < 150; i += 1) daemon.send(fileChange(`n${i}`));
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: ['w1'] } });
    await daemon.assertAlive();
    const resumed = await resume(`${old.epoch}:${old.seq}`);
    const connected = await resumed.next('connected');
    expect(connected.payload).toMatchObject({
      recovered: false,
      daemonStatus: 'online',
      workspaceStatuses: { w1: 'unknown' },
      stream: { epoch: old.epoch, seq: old.seq! + 150 },
    });
    expect(await resumed.next('resync-required')).toEqual({
      type: 'resync-required',
      daemonId: 'd1',
      payload: { reason: 'history_expired', stream: connected.payload.stream },
    });
    daemon.send(fileChange('live'));
    expect((await resumed.next('file-change')).seq).toBe(old.seq! + 151);
  });

  it('a position from another epoch gets resync-required; a malformed one is a bad request (4400)', async () => {
    await gateway.daemon('d1');
    const stranger = await resume('someotherepoch:5');
    expect((await stranger.next('connected')).payload.recovered).toBe(false);
    expect((await stranger.next('resync-required')).payload.reason).toBe('epoch_changed');
    const malformed = await resume('not-a-position');
    expect((await malformed.waitClosed()).code).toBe(4400);
  });
});

describe('GatewayClient resumes by itself', () => {
  it('ends with every event exactly once, in order, across repeated socket cuts', async () => {
    const gateway = await GatewayHarness.start({ REPLAY_MAX_EVENTS: '5000' });
    const daemon: TestPeer = await gateway.daemon('d1');
    const client = new GatewayClient({
      url: gateway.wsUrl(),
      daemonId: 'd1',
      WebSocket,
      getToken: () => gateway.token(Role.Client, 'user-1', { daemons: ['d1'] }),
      network: null,
      minDelay: 10,
      maxDelay: 50,
    });
    const received: string[] = [];
    const recoveries: boolean[] = [];
    client.on('file-change', (frame) => received.push(frame.payload.path));
    client.on('connected', (payload) => recoveries.push(payload.recovered));
    try {
      await waitFor(() => client.state === ConnectionState.Open, 'open');
      const total = 3000;
      const sockets = () => [...gateway.app.get(ConnectionRegistry).connections()].map((connection) => connection.socket);
      for (let i = 0; i < total; i += 1) {
        daemon.send(fileChange(`e${i}`));
        if (i % 500 === 250) {
          // Cut the client's socket; keep sending while it is away; let it come back before the next cut.
          for (const socket of sockets()) if (Connection.of(socket)?.identity.principal.role === Role.Client) socket.terminate();
          for (let j = 0; j < 50; j += 1) daemon.send(fileChange(`e${++i}`));
          const drops = recoveries.length;
          await waitFor(() => recoveries.length > drops, 'client back after the cut');
        }
      }
      await daemon.assertAlive();
      await waitFor(() => received.length >= total, `${total} events`, 15_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(received).toEqual(Array.from({ length: total }, (_, i) => `e${i}`));
      expect(recoveries.length).toBeGreaterThanOrEqual(6);
      expect(recoveries.slice(1).every(Boolean)).toBe(true);
      expect(client.recovered).toBe(true);
    } finally {
      client.dispose();
      await gateway.stop();
    }
  });
});

describe('slow consumers', () => {
  it('a client that stops reading is closed with 4008 while a reading client of the same daemon gets everything', async () => {
    const gateway = await GatewayHarness.start({ MAX_BUFFERED_BYTES: '65536', SLOW_CONSUMER_GRACE_MS: '300', REPLAY_MAX_EVENTS: '20000' });
    try {
      const daemon = await gateway.daemon('d1');
      const reader = await gateway.client('d1', 'user-1');
      const stalled = await gateway.client('d1', 'user-2');
      const tcp = (stalled.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      tcp.pause();
      const sockets = () => [...gateway.app.get(ConnectionRegistry).connections()].map((connection) => connection.socket);
      const stalledOnServer = [...sockets()].find((socket) => Connection.of(socket)?.identity.principal.sub === 'user-2')!;
      const total = 8000;
      const filler = 'x'.repeat(1000);
      for (let i = 0; i < total; i += 1) daemon.send(fileChange(`${filler}/${i}`));
      await daemon.assertAlive();
      await waitFor(() => stalledOnServer.readyState !== stalledOnServer.OPEN, 'the gateway closes the stalled client', 10_000);
      tcp.resume();
      expect((await stalled.waitClosed(10_000)).code).toBe(4008);
      expect(stalled.received.at(-1)).toEqual({ type: 'error', payload: { code: 'slow_consumer', message: 'slow consumer' } });
      const got = await reader.collect('file-change', total, 15_000);
      expect(got.map((frame) => Number(frame.payload.path.split('/')[1]))).toEqual(Array.from({ length: total }, (_, i) => i));
      // It resumes from its position like any reconnect.
      const seen = stalled.received.filter((frame) => frame.type === 'file-change');
      const position = seen.length ? { epoch: seen.at(-1)!.epoch, seq: seen.at(-1)!.seq } : stalled.received[0].payload.stream;
      const resumed = await gateway.open(
        gateway.wsUrl({ daemonId: 'd1', since: `${position.epoch}:${position.seq}`, token: gateway.token(Role.Client, 'user-2', { daemons: ['d1'] }) }),
      );
      expect((await resumed.next('connected')).payload.recovered).toBe(true);
      const rest = await resumed.collect('file-change', total - seen.length, 15_000);
      expect([...seen, ...rest].map((frame) => Number(frame.payload.path.split('/')[1]))).toEqual(Array.from({ length: total }, (_, i) => i));
    } finally {
      await gateway.stop();
    }
  });
});

describe('DaemonClient → gateway: nothing lost, nothing twice', () => {
  it('the daemon link is cut mid-burst: the gateway ends with every daemon event exactly once', async () => {
    const gateway = await GatewayHarness.start();
    const daemon = new DaemonClient({
      url: gateway.wsUrl(),
      WebSocket,
      getToken: () => gateway.token(Role.Daemon, 'd1'),
      network: null,
      minDelay: 10,
      maxDelay: 50,
    });
    try {
      const client = await gateway.client('d1');
      await waitFor(() => daemon.state === ConnectionState.Open, 'daemon open');
      const sockets = () => [...gateway.app.get(ConnectionRegistry).connections()].map((connection) => connection.socket);
      const total = 5000;
      for (let i = 0; i < total; i += 1) {
        daemon.fileChange('w1', `e${i}`, 'change');
        if (i === 1500 || i === 3500) {
          for (const socket of sockets()) if (Connection.of(socket)?.identity.principal.role === Role.Daemon) socket.terminate();
        }
        if (i % 250 === 249) await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await waitFor(() => paths(client.received).length >= total, `${total} events`, 15_000);
      await waitFor(() => daemon.unacknowledgedCount === 0, 'everything acknowledged');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(paths(client.received)).toEqual(Array.from({ length: total }, (_, i) => `e${i}`));
    } finally {
      daemon.dispose();
      await gateway.stop();
    }
  });
});
