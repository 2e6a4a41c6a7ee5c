import { Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness } from './support/gateway-harness.js';
import { GatewayProcess } from './support/gateway-process.js';
import { waitFor } from './support/ports.js';
import { prng } from './support/prng.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { TestPeer, type ReceivedFrame } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

/** One client connection, many daemons: `subscribe` / `unsubscribe` on a connection opened without `daemonId`. */
describe('multiplexed client connections, one instance', () => {
  let gateway: GatewayHarness;

  beforeAll(async () => {
    gateway = await GatewayHarness.start({ MAX_SUBSCRIPTIONS_PER_CONNECTION: '3', AUTH_API_KEY: 'multiplex-api-key-0123456789' });
  });

  afterAll(() => gateway.stop());

  const openMultiplexed = async (daemons: string[], userId = 'mux-user') => {
    const peer = await gateway.open(gateway.wsUrl({ token: gateway.token(Role.Client, userId, { daemons }) }));
    const connected = await peer.next('connected');
    expect(connected.payload).toMatchObject({ multiplexed: true });
    return peer;
  };
  const subscribe = (peer: TestPeer, daemonId: string, id: string, since?: string) => {
    peer.send({ type: 'subscribe', id, payload: since ? { daemonId, since } : { daemonId } });
    return peer.next((frame) => frame.id === id, `reply to subscribe ${daemonId}`);
  };

  it('subscribes to several daemons; a forbidden one is refused alone; events carry their daemon', async () => {
    const d1 = await gateway.daemon('mux-1');
    const d2 = await gateway.daemon('mux-2');
    const client = await openMultiplexed(['mux-1', 'mux-2']);
    const first = await subscribe(client, 'mux-1', 's1');
    expect(first).toMatchObject({ type: 'subscribed', payload: { daemonId: 'mux-1', daemonStatus: 'online', recovered: false } });
    expect((await subscribe(client, 'mux-x', 's2')).payload).toMatchObject({ code: 'forbidden' });
    expect((await subscribe(client, 'mux-2', 's3')).type).toBe('subscribed');
    expect((await subscribe(client, 'mux-1', 's4')).payload).toMatchObject({ code: 'bad_request', field: 'daemonId' });
    for (const coalesceMs of [5, 1001, 20.5, '100']) {
      client.send({ type: 'subscribe', id: `c-${coalesceMs}`, payload: { daemonId: 'mux-2', coalesceMs } });
      expect((await client.next((frame) => frame.id === `c-${coalesceMs}`)).payload).toMatchObject({ code: 'validation_failed', field: 'coalesceMs' });
    }

    d1.send({ type: 'file-change', payload: { workspaceId: 'w', path: 'one.txt', event: 'add' } });
    d2.send({ type: 'file-change', payload: { workspaceId: 'w', path: 'two.txt', event: 'add' } });
    const changes = [await client.next('file-change'), await client.next('file-change')];
    expect(changes.map((frame) => `${frame.daemonId}:${frame.payload.path}`).sort()).toEqual(['mux-1:one.txt', 'mux-2:two.txt']);

    // Commands name their daemon in the payload; it is not forwarded.
    client.send({ type: 'run-task', id: 'c1', payload: { daemonId: 'mux-2', taskId: 't1', workspaceId: 'w', command: 'build' } });
    expect((await client.next((frame) => frame.id === 'c1')).payload).toEqual({ status: 'accepted' });
    expect((await d2.next('run-task')).payload).toEqual({ taskId: 't1', workspaceId: 'w', command: 'build', userId: 'mux-user' });
    client.send({ type: 'run-task', id: 'c2', payload: { taskId: 't2', workspaceId: 'w', command: 'build' } });
    expect((await client.next((frame) => frame.id === 'c2')).payload).toMatchObject({ code: 'validation_failed', field: 'daemonId' });
    client.send({ type: 'get-workspace-status', id: 'g1', payload: { daemonId: 'mux-x', workspaceId: 'w' } });
    expect((await client.next((frame) => frame.id === 'g1')).payload).toMatchObject({ code: 'forbidden' });

    // Unsubscribed: nothing more of that daemon after the reply.
    client.send({ type: 'unsubscribe', id: 'u1', payload: { daemonId: 'mux-1' } });
    expect(await client.next((frame) => frame.id === 'u1')).toMatchObject({ type: 'unsubscribed', payload: { daemonId: 'mux-1' } });
    d1.send({ type: 'file-change', payload: { workspaceId: 'w', path: 'after.txt', event: 'add' } });
    d2.send({ type: 'file-change', payload: { workspaceId: 'w', path: 'still.txt', event: 'add' } });
    expect((await client.next('file-change')).payload.path).toBe('still.txt');
    await client.assertAlive();
    expect(client.received.some((frame) => frame.payload?.path === 'after.txt')).toBe(false);
  });

  it('holds at most MAX_SUBSCRIPTIONS_PER_CONNECTION; subscribe on a single-daemon connection is a bad request', async () => {
    const client = await openMultiplexed(['a', 'b', 'c', 'd']);
    for (const [index, daemonId] of ['a', 'b', 'c'].entries()) expect((await subscribe(client, daemonId, `l${index}`)).type).toBe('subscribed');
    expect((await subscribe(client, 'd', 'l3')).payload).toMatchObject({ code: 'bad_request', message: 'a connection may hold at most 3 subscriptions' });
    const single = await gateway.client('a', 'single-user');
    expect((await subscribe(single, 'a', 'x1')).payload).toMatchObject({ code: 'bad_request' });
  });

  it('a revoked daemon ends only its subscription; a refreshed token without a daemon ends that one', async () => {
    const client = await openMultiplexed(['r-1', 'r-2', 'r-3'], 'revoke-user');
    for (const daemonId of ['r-1', 'r-2', 'r-3']) await subscribe(client, daemonId, `sub-${daemonId}`);
    const revoked = await fetch(`${gateway.httpUrl}/auth/revocations`, {
      method: 'POST',
      headers: { authorization: 'Bearer multiplex-api-key-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify({ daemonId: 'r-2' }),
    });
    expect(revoked.status).toBe(201);
    expect((await client.next('unsubscribed')).payload).toEqual({ daemonId: 'r-2', reason: 'forbidden' });
    // A token issued after the revocation's second, granting r-1 only.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const reply = await client.request('refresh-token', { token: gateway.token(Role.Client, 'revoke-user', { daemons: ['r-1'] }) });
    expect(reply.type).toBe('token-refreshed');
    // The subscription the new token does not grant ended before the reply.
    const ended = client.received.filter((frame) => frame.type === 'unsubscribed').map((frame) => frame.payload);
    expect(ended).toEqual([
      { daemonId: 'r-2', reason: 'forbidden' },
      { daemonId: 'r-3', reason: 'forbidden' },
    ]);
    await client.assertAlive();
    const d1 = await gateway.daemon('r-1');
    d1.send({ type: 'file-change', payload: { workspaceId: 'w', path: 'kept.txt', event: 'add' } });
    expect((await client.next('file-change')).daemonId).toBe('r-1');
  });
});

/**
 * Fifty daemons on three instances, one client connection on one of them: each daemon's events
 * arrive once and in order; a cut connection resumes all fifty from their own positions.
 */
describe('one connection watching 50 daemons on three instances on Redis', () => {
  const SECRET = 'multiplex-scale-secret-at-least-32-chars';
  const DAEMONS = Array.from({ length: 50 }, (_, i) => `fifty-${String(i).padStart(2, '0')}`);
  const prefix = uniquePrefix();
  const processes: GatewayProcess[] = [];
  const peers: TestPeer[] = [];
  let ports: number[];

  beforeAll(async () => {
    for (let i = 0; i < 3; i += 1) processes.push(GatewayProcess.onRedis(SECRET, SHARED_REDIS_URL, prefix));
    ports = await Promise.all(processes.map((process) => process.ready()));
  });

  afterAll(async () => {
    for (const peer of peers) peer.terminate();
    for (const process of processes) process.kill('SIGKILL');
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  const open = async (port: number, query: string) => {
    const peer = new TestPeer(`ws://127.0.0.1:${port}/ws?${query}`);
    peers.push(peer);
    await peer.next('connected');
    return peer;
  };

  /** Per daemon, the seqs of its file-changes in arrival order. */
  const seqsByDaemon = (frames: ReceivedFrame[]) => {
    const seqs = new Map<string, number[]>();
    for (const frame of frames) if (frame.type === 'file-change') seqs.set(frame.daemonId!, [...(seqs.get(frame.daemonId!) ?? []), frame.seq!]);
    return seqs;
  };

  it('every event once, in order, per daemon; a cut connection resumes all 50 from their positions', async () => {
    const random = prng(21);
    const daemons = await Promise.all(DAEMONS.map((daemonId, i) => open(ports[i % 3], `token=${signToken(SECRET, { sub: daemonId, role: Role.Daemon })}`)));
    const token = signToken(SECRET, { sub: 'fifty-user', role: Role.Client, daemons: DAEMONS });
    const client = await open(ports[0], `token=${token}`);
    const subscribed = new Map<string, ReceivedFrame>();
    for (const daemonId of DAEMONS) {
      client.send({ type: 'subscribe', id: daemonId, payload: { daemonId } });
    }
    for (const daemonId of DAEMONS)
      subscribed.set(daemonId, await client.next((frame) => frame.id === daemonId && frame.type === 'subscribed', daemonId, 10_000));

    const send = async (round: number, count: number) => {
      for (let i = 0; i < count; i += 1) {
        const order = [...daemons.keys()].sort(() => random() - 0.5);
        for (const index of order) daemons[index].send({ type: 'file-change', payload: { workspaceId: 'w', path: `r${round}-${i}`, event: 'change' } });
        if (random() < 0.3) await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 5)));
      }
    };
    await send(1, 10);
    await waitFor(() => client.received.filter((frame) => frame.type === 'file-change').length >= 500, 'the first 500 events', 15_000);
    const first = seqsByDaemon(client.received);
    for (const daemonId of DAEMONS) {
      const start = (subscribed.get(daemonId)!.payload.stream.seq as number) + 1;
      expect(first.get(daemonId)).toEqual(Array.from({ length: 10 }, (_, i) => start + i));
    }

    // Cut; the daemons go on; a new connection resumes each daemon from the last seq it processed.
    client.terminate();
    await send(2, 5);
    const again = await open(ports[1], `token=${token}`);
    for (const daemonId of DAEMONS) {
      const seqs = first.get(daemonId)!;
      again.send({
        type: 'subscribe',
        id: daemonId,
        payload: { daemonId, since: `${subscribed.get(daemonId)!.payload.stream.epoch}:${seqs[seqs.length - 1]}` },
      });
    }
    const resumed = await Promise.all(DAEMONS.map((daemonId) => again.next((frame) => frame.id === daemonId, daemonId, 10_000)));
    expect(resumed.every((frame) => frame.type === 'subscribed' && frame.payload.recovered === true)).toBe(true);
    await send(3, 5);
    await waitFor(() => again.received.filter((frame) => frame.type === 'file-change').length >= 500, 'the missed and new events', 15_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = seqsByDaemon(again.received);
    for (const daemonId of DAEMONS) {
      const seqs = first.get(daemonId)!;
      const last = seqs[seqs.length - 1];
      expect(second.get(daemonId)).toEqual(Array.from({ length: 10 }, (_, i) => last + 1 + i));
    }
  }, 60_000);
});
