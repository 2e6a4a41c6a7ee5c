import { Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness } from './support/gateway-harness.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import type { TestPeer } from './support/test-peer.js';

/**
 * Ill-formed Unicode (lone surrogates, sent as JSON escapes: a WebSocket text frame is UTF-8 and
 * cannot carry them raw) is refused in every identifier and status field, so memory and Redis
 * agree; well-formed text, astral characters included, round-trips exactly through Redis, and file
 * paths are relayed exactly as sent.
 */
describe.each([
  ['in memory', false],
  ['two instances on Redis', true],
])('Unicode in ids, statuses and paths: %s', (_name, shared) => {
  const prefix = uniquePrefix();
  let daemonSide: GatewayHarness;
  let clientSide: GatewayHarness;
  let daemon: TestPeer;
  let client: TestPeer;

  beforeAll(async () => {
    const env: Record<string, string> = shared ? { REDIS_URL: SHARED_REDIS_URL, REDIS_KEY_PREFIX: prefix } : {};
    daemonSide = await GatewayHarness.start(env);
    clientSide = shared ? await GatewayHarness.start(env) : daemonSide;
    daemon = await daemonSide.daemon('d-unicode');
    client = await clientSide.client('d-unicode');
  });

  afterAll(async () => {
    await daemonSide.stop();
    if (shared) {
      await clientSide.stop();
      await deletePrefix(SHARED_REDIS_URL, prefix);
    }
  });

  /** Sends a frame whose JSON text is given as is (escapes included), and expects its error. */
  async function refused(peer: TestPeer, id: string, text: string, field: string): Promise<void> {
    peer.send(text);
    const error = await peer.next((frame) => frame.id === id, `error for ${id}`);
    expect(error).toMatchObject({ type: 'error', payload: { code: 'validation_failed', field } });
  }

  it.each([
    ['heartbeat workspaceIds', '{"type":"heartbeat","id":"h1","payload":{"workspaceIds":["w\\ud800","w\\ud801"]}}', 'h1', 'workspaceIds'],
    ['workspace-update workspaceId', '{"type":"workspace-update","id":"u1","payload":{"workspaceId":"w\\ud800","status":"ok"}}', 'u1', 'workspaceId'],
    ['workspace-update status', '{"type":"workspace-update","id":"u2","payload":{"workspaceId":"w1","status":"ok\\udc00"}}', 'u2', 'status'],
    ['file-change workspaceId', '{"type":"file-change","id":"f1","payload":{"workspaceId":"\\udfffw","path":"a","event":"add"}}', 'f1', 'workspaceId'],
    ['task-status taskId', '{"type":"task-status","id":"t1","payload":{"taskId":"t\\ud800","status":"running"}}', 't1', 'taskId'],
  ])("a daemon's %s with a lone surrogate: validation_failed", async (_label, text, id, field) => {
    await refused(daemon, id, text, field);
  });

  it.each([
    ['get-workspace-status workspaceId', '{"type":"get-workspace-status","id":"g1","payload":{"workspaceId":"w\\ud800"}}', 'g1', 'workspaceId'],
    ['run-task taskId', '{"type":"run-task","id":"r1","payload":{"taskId":"t\\ud800","workspaceId":"w1","command":"ls"}}', 'r1', 'taskId'],
    ['cancel-task taskId', '{"type":"cancel-task","id":"c1","payload":{"taskId":"\\udc00"}}', 'c1', 'taskId'],
  ])("a client's %s with a lone surrogate: validation_failed", async (_label, text, id, field) => {
    await refused(client, id, text, field);
  });

  it('a token whose sub has a lone surrogate is refused with 4401', async () => {
    const token = daemonSide.token(Role.Daemon, 'd\ud800');
    const peer = await daemonSide.open(daemonSide.wsUrl({ token }));
    expect((await peer.waitClosed()).code).toBe(4401);
  });

  it('well-formed workspaces and statuses, astral characters included, come back exactly on every instance; paths are relayed exactly', async () => {
    const workspaces = ['w-\u00e9', 'w-\ud83d\ude00', 'w-\u4e2d'];
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: workspaces } });
    daemon.send({ type: 'workspace-update', payload: { workspaceId: workspaces[1], status: 'ok-\ud83c\udf89' } });
    // A path may hold anything JSON can: it is relayed, never stored as a key.
    daemon.send('{"type":"file-change","payload":{"workspaceId":"w-\\u00e9","path":"src/\\ud800odd.ts","event":"add"}}');
    const change = await client.next('file-change');
    expect(change.payload.path).toBe('src/\ud800odd.ts');
    await daemon.assertAlive();
    for (const side of [daemonSide, clientSide]) {
      const fresh = await side.client('d-unicode', 'user-2');
      const connected = fresh.received[0];
      expect(connected.payload.workspaceStatuses).toEqual({ [workspaces[0]]: 'unknown', [workspaces[1]]: 'ok-\ud83c\udf89', [workspaces[2]]: 'unknown' });
      expect((await fresh.request('get-workspace-status', { workspaceId: workspaces[1] })).payload).toEqual({
        workspaceId: workspaces[1],
        status: 'ok-\ud83c\udf89',
      });
      fresh.terminate();
    }
  });
});
