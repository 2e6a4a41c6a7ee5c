import { CloseCode, Role } from '@arbor/gateway-client/protocol';
import { API_KEYS, ApiClient, READ_SECRET, WRITE_SECRET } from './support/api-client.js';
import { GatewayProcess } from './support/gateway-process.js';
import { waitForAsync } from './support/ports.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { TestPeer } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

const SECRET = 'server-api-scale-secret-at-least-32-chars';

/** The server API answers for the whole deployment, whichever of three instances gets the call. */
describe('server API across three instances on Redis', () => {
  const prefix = uniquePrefix();
  const processes: GatewayProcess[] = [];
  let ports: number[];
  let apis: ApiClient[];
  const peers: TestPeer[] = [];

  const open = async (port: number, token: string, daemonId?: string) => {
    const peer = new TestPeer(`ws://127.0.0.1:${port}/ws?${daemonId ? `daemonId=${daemonId}&` : ''}token=${token}`);
    peers.push(peer);
    await peer.next('connected');
    return peer;
  };
  const daemon = (port: number, daemonId: string) => open(port, signToken(SECRET, { sub: daemonId, role: Role.Daemon }));
  const client = (port: number, daemonId: string, userId: string) =>
    open(port, signToken(SECRET, { sub: userId, role: Role.Client, daemons: [daemonId] }), daemonId);

  beforeAll(async () => {
    for (let i = 0; i < 3; i += 1) processes.push(GatewayProcess.onRedis(SECRET, SHARED_REDIS_URL, prefix, { API_KEYS }));
    ports = await Promise.all(processes.map((process) => process.ready()));
    apis = ports.map((port) => new ApiClient(`http://127.0.0.1:${port}`));
  });

  afterAll(async () => {
    for (const peer of peers) peer.terminate();
    for (const process of processes) process.kill('SIGKILL');
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  it('every instance lists every daemon of the deployment, with the instance that holds it', async () => {
    const held = new Map<string, number>();
    for (let i = 0; i < 9; i += 1) {
      const port = ports[i % 3];
      await daemon(port, `spread-${i}`);
      held.set(`spread-${i}`, i % 3);
    }
    const instanceIds = await Promise.all(apis.map(async (api) => (await api.get('/api/v1/stats')).body.instances[0].instanceId as string));
    for (const api of apis) {
      const items = await api.allDaemons('&prefix=spread-', 4);
      expect(items.map((item) => item.daemonId)).toEqual([...held.keys()]);
      for (const item of items) {
        expect(item.status).toBe('online');
        expect(item.instance).toBe(instanceIds[held.get(item.daemonId)!]);
      }
    }
  });

  it('counts viewers on every instance, and commands reach the daemon from any instance, at most once', async () => {
    const held = await daemon(ports[0], 'shared-d');
    await client(ports[1], 'shared-d', 'hana');
    await client(ports[2], 'shared-d', 'hana');
    await client(ports[2], 'shared-d', 'ivan');
    for (const api of apis) {
      await waitForAsync(async () => (await api.get('/api/v1/daemons/shared-d')).body.viewers?.connections === 3, 'three viewers seen');
      expect((await api.get('/api/v1/daemons/shared-d/viewers')).body.viewers).toEqual([
        { userId: 'hana', connections: 2 },
        { userId: 'ivan', connections: 1 },
      ]);
    }
    const run = { type: 'run-task', id: 'scale-cmd', userId: 'hana', payload: { taskId: 'ts', workspaceId: 'w', command: 'build' } };
    const answers = await Promise.all(apis.map((api) => api.post('/api/v1/daemons/shared-d/commands', run)));
    expect(answers.map((answer) => answer.body.status).sort()).toEqual(['accepted', 'duplicate', 'duplicate']);
    await held.next('run-task');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(held.received.filter((frame) => frame.type === 'run-task')).toHaveLength(1);

    // ?wait on an instance that neither holds the daemon nor has a viewer: the status crosses Redis.
    const waited = apis[2].post('/api/v1/daemons/shared-d/commands?wait=5000', { ...run, id: 'scale-wait', payload: { ...run.payload, taskId: 'tw' } });
    // The confirmation crosses Redis too: the holder's instance tells the waiting one.
    const command = await held.next((frame) => frame.type === 'run-task' && frame.payload.taskId === 'tw');
    held.send({ type: 'command-ack', payload: { id: command.id } });
    held.send({ type: 'task-status', payload: { taskId: command.payload.taskId, status: 'succeeded' } });
    expect((await waited).body).toEqual({ status: 'accepted', delivery: 'delivered', taskStatus: { taskId: 'tw', status: 'succeeded' } });
  });

  it('the events route and the errors answer the same on every instance', async () => {
    const held = await daemon(ports[0], 'events-d');
    held.send({ type: 'file-change', payload: { workspaceId: 'w', path: 'x.txt', event: 'add' } });
    for (const api of apis) {
      await waitForAsync(
        async () => (await api.get('/api/v1/daemons/events-d/events')).body.events?.some((event: any) => event.type === 'file-change'),
        'the event',
      );
      expect((await api.get('/api/v1/daemons/nowhere')).status).toBe(404);
      expect((await api.with(null).get('/api/v1/stats')).status).toBe(401);
      expect((await api.with(READ_SECRET).post('/api/v1/disconnect', { userId: 'u', reason: 'r' })).status).toBe(403);
      expect((await api.get('/api/v1/daemons?limit=5000')).body).toMatchObject({ code: 'validation_failed', field: 'limit' });
    }
  });

  it('disconnect on one instance closes the user’s connections on all of them', async () => {
    await daemon(ports[0], 'kick-d');
    const connections = [await client(ports[0], 'kick-d', 'jo'), await client(ports[1], 'kick-d', 'jo'), await client(ports[2], 'kick-d', 'jo')];
    const other = await client(ports[2], 'kick-d', 'kim');
    const answer = await apis[1].post('/api/v1/disconnect', { userId: 'jo', reason: 'moving', reconnect: true });
    expect(answer.status).toBe(200);
    for (const connection of connections) expect((await connection.waitClosed()).code).toBe(CloseCode.ServiceRestart);
    await other.assertAlive();
  });

  it('stats has every instance and the totals add up', async () => {
    // Each instance's figures are as of its last beat (every 2 s).
    await waitForAsync(async () => {
      const views = await Promise.all(apis.map(async (api) => (await api.get('/api/v1/stats')).body.instances));
      return views.every((instances) => instances.length === 3 && instances.every((instance: any) => instance.redis === 'up'));
    }, 'three instances beating with Redis up, as every instance sees them');
    const { body } = await apis[2].get('/api/v1/stats');
    expect(body.totals.instances).toBe(3);
    const sum = (role: string) => body.instances.reduce((total: number, instance: any) => total + instance.connections[role], 0);
    expect(body.totals.connections).toEqual({ client: sum('client'), daemon: sum('daemon') });
    expect(body.instances.every((instance: any) => instance.redis === 'up' && instance.draining === false)).toBe(true);
  });

  it('logs every call with the key id and never the secret', () => {
    const calls = processes.flatMap((process) => process.logLines()).filter((line) => line.msg === 'api call');
    expect(calls.length).toBeGreaterThan(10);
    expect(calls.every((line) => line.keyId === 'backend')).toBe(true);
    for (const process of processes) expect(process.stdout + process.stderr).not.toContain(WRITE_SECRET);
  });
});
