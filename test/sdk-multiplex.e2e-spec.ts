import { JwtService } from '@nestjs/jwt';
import WebSocket from 'ws';
import { ConnectionState, DaemonClient, GatewayClient, Role, WatchState, type DaemonWatch } from '@arbor/gateway-client';
import { GatewayProcess } from './support/gateway-process.js';
import { freePort, waitFor } from './support/ports.js';

const SECRET = 'sdk-multiplex-secret-at-least-32-characters';
const FAST_RETRY = { minDelay: 20, maxDelay: 200, network: null } as const;
const DAEMONS = ['mx-1', 'mx-2', 'mx-3', 'mx-4', 'mx-5'];

function mint(claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  return new JwtService({}).sign(
    { aud: 'arbor-gateway', iat: now, exp: now + 300, jti: `${Math.random()}`, ...claims },
    { secret: SECRET, algorithm: 'HS256' },
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The SDK's multiplexed GatewayClient against the real gateway: many daemons, one WebSocket. */
describe('GatewayClient.watch against the real gateway', () => {
  let gateway: GatewayProcess;
  let url: string;
  const daemons: DaemonClient[] = [];
  let client: GatewayClient;

  beforeAll(async () => {
    const port = await freePort();
    gateway = new GatewayProcess({ WEBSOCKET_PORT: String(port), HOST: '127.0.0.1', JWT_SECRET: SECRET, LOG_LEVEL: 'info' });
    await gateway.listening();
    url = `ws://127.0.0.1:${port}/ws`;
    for (const daemonId of DAEMONS) {
      daemons.push(new DaemonClient({ url, WebSocket, getToken: () => mint({ sub: daemonId, role: Role.Daemon }), workspaceIds: ['w1'], ...FAST_RETRY }));
    }
    await waitFor(() => daemons.every((daemon) => daemon.state === ConnectionState.Open), 'daemons open');
  });

  afterEach(() => client?.dispose());

  afterAll(() => {
    for (const daemon of daemons) daemon.dispose();
    gateway?.kill('SIGKILL');
  });

  it.each([1, 2, 3, 4, 5])(
    'every daemon exactly once and in order across random reconnects, on one connection (round %i)',
    async () => {
      client = new GatewayClient({ url, WebSocket, getToken: () => mint({ sub: 'user-1', role: Role.Client, daemons: DAEMONS }), ...FAST_RETRY });
      const watches = DAEMONS.map((daemonId) => client.watch(daemonId));
      // Every event as delivered, repeats included: the watch is what must not repeat.
      const seqs = watches.map((watch) => {
        const seen: number[] = [];
        watch.on('file-change', (frame) => seen.push(frame.seq));
        return seen;
      });
      const resyncs: string[] = [];
      for (const watch of watches) watch.on('resync', ({ reason }) => resyncs.push(reason));
      await waitFor(() => watches.every((watch) => watch.state === WatchState.Subscribed), 'all subscribed');
      const startedAt = watches.map((watch) => watch.position!.seq);

      let opens = 0;
      let openCuts = 0;
      client.connection.on('open', () => (opens += 1));
      const sent = DAEMONS.map(() => 0);
      const sending = setInterval(() => {
        for (const [index, daemon] of daemons.entries()) {
          daemon.fileChange('w1', `f${sent[index]}`, 'change');
          sent[index] += 1;
        }
      }, 3);
      try {
        for (let cut = 0; cut < 12; cut += 1) {
          await sleep(30 + Math.random() * 150);
          // A cut may land while the previous reconnect is still under way; only cuts of an open link must cost an open.
          if (client.connection.state === ConnectionState.Open) openCuts += 1;
          client.connection.reconnect();
        }
        await sleep(100);
      } finally {
        clearInterval(sending);
      }
      await waitFor(() => watches.every((watch, index) => watch.position!.seq - startedAt[index] === sent[index]), 'every event seen', 20_000);
      for (const [index, seen] of seqs.entries()) {
        expect(seen).toEqual(Array.from({ length: sent[index] }, (_, i) => startedAt[index] + 1 + i));
      }
      expect(openCuts).toBeGreaterThanOrEqual(6);
      expect(opens).toBeGreaterThanOrEqual(openCuts);
      expect(resyncs).toEqual([]);
      expect(watches.every((watch) => watch.recovered)).toBe(true);
    },
    60_000,
  );

  it('a coalescing watch gets the last change of each path with its count, at exact positions', async () => {
    client = new GatewayClient({ url, WebSocket, getToken: () => mint({ sub: 'user-3', role: Role.Client, daemons: DAEMONS }), ...FAST_RETRY });
    const reference = new GatewayClient({ url, WebSocket, getToken: () => mint({ sub: 'user-4', role: Role.Client, daemons: DAEMONS }), ...FAST_RETRY });
    try {
      const coalesced = client.watch('mx-4', { coalesceMs: 200 });
      const everything = reference.watch('mx-4');
      const got: Array<{ seq: number; path: string; merged: number }> = [];
      coalesced.on('file-change', (frame) => got.push({ seq: frame.seq, path: frame.payload.path, merged: frame.merged ?? 1 }));
      const all: Array<{ seq: number; path: string }> = [];
      everything.on('file-change', (frame) => all.push({ seq: frame.seq, path: frame.payload.path }));
      let snapshots = 0;
      coalesced.on('connected', () => (snapshots += 1));
      await waitFor(() => coalesced.state === WatchState.Subscribed && everything.state === WatchState.Subscribed, 'both subscribed');
      for (let i = 0; i < 60; i += 1) daemons[3].fileChange('w1', `path-${i % 3}`, 'change');
      await waitFor(() => all.length === 60 && coalesced.position!.seq === everything.position!.seq, 'both at the last event');
      expect(got.length).toBeLessThan(60);
      expect(got.reduce((total, event) => total + event.merged, 0)).toBe(60);
      const lastOf = (events: Array<{ seq: number; path: string }>) => Object.fromEntries(events.map((event) => [event.path, event.seq]));
      expect(lastOf(got)).toEqual(lastOf(all));
      expect(got.map((event) => event.seq)).toEqual([...got.map((event) => event.seq)].sort((a, b) => a - b));
      // Never mistaken for a gap: no second subscription was asked for.
      expect(snapshots).toBe(1);
    } finally {
      reference.dispose();
    }
  });

  it('commands go to the daemon named by the watch; a forbidden watch ends alone', async () => {
    client = new GatewayClient({ url, WebSocket, getToken: () => mint({ sub: 'user-2', role: Role.Client, daemons: ['mx-1', 'mx-2'] }), ...FAST_RETRY });
    const allowed = client.watch('mx-2');
    const forbidden: DaemonWatch = client.watch('mx-3');
    const ended: string[] = [];
    forbidden.on('ended', ({ reason }) => ended.push(reason));
    const received: string[] = [];
    for (const [index, daemon] of daemons.entries()) daemon.on('run-task', (task) => received.push(`${DAEMONS[index]}:${task.taskId}`));
    const statuses: string[] = [];
    allowed.on('task-status', (frame) => statuses.push(`${frame.payload.taskId}:${frame.payload.status}`));
    daemons[1].on('run-task', (task) => daemons[1].taskStatus(task.taskId, 'running'));
    await waitFor(() => allowed.state === WatchState.Subscribed && ended.length === 1, 'subscribed and refused');
    expect(ended).toEqual(['forbidden']);
    await expect(allowed.runTask({ workspaceId: 'w1', command: 'build', taskId: 'task-a' })).resolves.toMatchObject({ status: 'accepted' });
    await waitFor(() => statuses.length === 1, 'task status');
    expect(received).toEqual(['mx-2:task-a']);
    expect(statuses).toEqual(['task-a:running']);
    await expect(allowed.getWorkspaceStatus('w1')).resolves.toMatchObject({ workspaceId: 'w1', daemonId: 'mx-2' });
    expect(client.state).toBe(ConnectionState.Open);
  });
});
