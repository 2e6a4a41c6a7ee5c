import { Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness } from './support/gateway-harness.js';
import type { TestPeer } from './support/test-peer.js';

/**
 * The bad-input catalogue: each frame gets its documented error, the offending connection stays
 * usable (where the protocol keeps it open) and an unrelated connection never notices.
 */
describe('bad input', () => {
  let gateway: GatewayHarness;
  let daemon: TestPeer;
  let client: TestPeer;
  let unrelated: TestPeer;

  beforeAll(async () => {
    gateway = await GatewayHarness.start({ MAX_PAYLOAD_BYTES: '4096' });
    const unrelatedDaemon = await gateway.daemon('daemon-unrelated');
    unrelated = await gateway.client('daemon-unrelated', 'user-9');
    unrelatedDaemon.send({ type: 'heartbeat', payload: { workspaceIds: ['w9'] } });
    await unrelatedDaemon.assertAlive();
  });

  beforeEach(async () => {
    daemon = await gateway.daemon('daemon-1');
    client = await gateway.client('daemon-1');
  });

  afterEach(async () => {
    expect((await unrelated.request('get-workspace-status', { workspaceId: 'w9' })).payload).toEqual({ workspaceId: 'w9', status: 'unknown' });
  });

  afterAll(async () => {
    await gateway.stop();
  });

  async function expectError(peer: TestPeer, frame: unknown, code: string, field?: string) {
    peer.send(frame);
    const error = await peer.next('error');
    expect(error.payload.code).toBe(code);
    expect(typeof error.payload.message).toBe('string');
    if (field !== undefined) expect(error.payload.field).toBe(field);
    await peer.assertAlive();
    return error;
  }

  it('malformed JSON → invalid_json', async () => {
    await expectError(client, '{"type": "ping"', 'invalid_json');
    await expectError(daemon, 'not json at all', 'invalid_json');
  });

  it.each([['[]'], ['42'], ['"ping"'], ['null'], ['true']])('non-object JSON %s → bad_request', async (text) => {
    await expectError(client, text, 'bad_request');
  });

  it('missing or non-string type → bad_request', async () => {
    await expectError(client, { payload: {} }, 'bad_request', 'type');
    await expectError(client, { type: 7 }, 'bad_request', 'type');
    await expectError(client, { type: '' }, 'bad_request', 'type');
  });

  it('non-object payload and bad id → bad_request', async () => {
    await expectError(client, { type: 'get-workspace-status', payload: 'w1' }, 'bad_request', 'payload');
    await expectError(client, { type: 'get-workspace-status', payload: ['w1'] }, 'bad_request', 'payload');
    await expectError(client, { type: 'ping', id: 12 }, 'bad_request', 'id');
    await expectError(client, { type: 'ping', id: 'x'.repeat(129) }, 'bad_request', 'id');
  });

  it('unknown type → unknown_type, with the request id', async () => {
    const error = await expectError(client, { type: 'launch-missiles', id: 'r1' }, 'unknown_type');
    expect(error.id).toBe('r1');
  });

  it('missing payload → validation_failed naming the field', async () => {
    await expectError(client, { type: 'get-workspace-status', id: 'r1' }, 'validation_failed', 'workspaceId');
    await expectError(daemon, { type: 'file-change' }, 'validation_failed', 'workspaceId');
  });

  it('wrong field types → validation_failed, without coercion', async () => {
    await expectError(client, { type: 'get-workspace-status', payload: { workspaceId: 5 } }, 'validation_failed', 'workspaceId');
    await expectError(daemon, { type: 'heartbeat', payload: { workspaceIds: 'w1' } }, 'validation_failed', 'workspaceIds');
    await expectError(daemon, { type: 'heartbeat', payload: { workspaceIds: [1, 2] } }, 'validation_failed', 'workspaceIds');
    await expectError(daemon, { type: 'file-change', payload: { workspaceId: 'w1', path: 'a', event: 'explode' } }, 'validation_failed', 'event');
    await expectError(daemon, { type: 'task-status', payload: { taskId: 't1', status: 'done' } }, 'validation_failed', 'status');
    await expectError(daemon, { type: 'task-status', payload: { taskId: 't1', status: 'failed', error: { code: 1 } } }, 'validation_failed', 'error');
    await expectError(client, { type: 'run-task', payload: { taskId: 't1', workspaceId: 'w1', command: 'ls', args: 'a b' } }, 'validation_failed', 'args');
  });

  it('out-of-range values → validation_failed', async () => {
    await expectError(client, { type: 'get-workspace-status', payload: { workspaceId: '' } }, 'validation_failed', 'workspaceId');
    await expectError(client, { type: 'cancel-task', payload: { taskId: 'x'.repeat(129) } }, 'validation_failed', 'taskId');
    await expectError(daemon, { type: 'workspace-update', payload: { workspaceId: 'w1', status: 's'.repeat(65) } }, 'validation_failed', 'status');
  });

  it('extra fields → validation_failed naming the field', async () => {
    await expectError(client, { type: 'get-workspace-status', payload: { workspaceId: 'w1', admin: true } }, 'validation_failed', 'admin');
    await expectError(client, { type: 'ping', extra: 1 }, 'bad_request', 'extra');
  });

  it('__proto__ and constructor keys → bad_request, and nothing is polluted', async () => {
    await expectError(client, '{"type":"get-workspace-status","payload":{"workspaceId":"w1","__proto__":{"polluted":true}}}', 'bad_request', '__proto__');
    await expectError(client, '{"type":"ping","__proto__":{"polluted":true}}', 'bad_request', '__proto__');
    await expectError(
      daemon,
      { type: 'file-change', payload: { workspaceId: 'w1', path: 'a', event: 'add', constructor: { prototype: { polluted: true } } } },
      'bad_request',
      'constructor',
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // A value that merely mentions such a word is fine.
    daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'src/constructor.ts', event: 'add' } });
    expect((await client.next('file-change')).payload.path).toBe('src/constructor.ts');
  });

  it('binary frame → bad_request', async () => {
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await client.next('error')).payload.code).toBe('bad_request');
    await client.assertAlive();
  });

  it('a client sending daemon-only types → forbidden, and nothing is forwarded', async () => {
    await expectError(client, { type: 'heartbeat', payload: { workspaceIds: ['w1'] } }, 'forbidden');
    await expectError(client, { type: 'file-change', payload: { workspaceId: 'w1', path: 'a', event: 'add' } }, 'forbidden');
    await expectError(client, { type: 'task-status', payload: { taskId: 't', status: 'running' } }, 'forbidden');
    await expectError(client, { type: 'workspace-update', payload: { workspaceId: 'w1', status: 'idle' } }, 'forbidden');
    await expectError(client, { type: 'command-ack', payload: { id: 'c1' } }, 'forbidden');
    expect(client.received.filter((frame) => frame.type === 'file-change')).toEqual([]);
  });

  it('a daemon sending client-only types → forbidden', async () => {
    await expectError(daemon, { type: 'run-task', payload: { taskId: 't', workspaceId: 'w1', command: 'ls' } }, 'forbidden');
    await expectError(daemon, { type: 'cancel-task', payload: { taskId: 't' } }, 'forbidden');
    await expectError(daemon, { type: 'get-workspace-status', payload: { workspaceId: 'w1' } }, 'forbidden');
    await expectError(daemon, { type: 'subscribe', payload: { daemonId: 'd1' } }, 'forbidden');
    await expectError(daemon, { type: 'unsubscribe', payload: { daemonId: 'd1' } }, 'forbidden');
  });

  it("another role's message is refused in order: its answer comes before the next frame's", async () => {
    client.send({ type: 'heartbeat', id: 'hb-1', payload: { workspaceIds: ['w1'] } });
    client.send({ type: 'ping', id: 'ping-1' });
    const answers = [await client.next((frame) => frame.id === 'hb-1' || frame.id === 'ping-1', 'first answer')];
    answers.push(await client.next((frame) => (frame.id === 'hb-1' || frame.id === 'ping-1') && frame !== answers[0], 'second answer'));
    expect(answers.map((frame) => [frame.id, frame.type, frame.payload?.code])).toEqual([
      ['hb-1', 'error', 'forbidden'],
      ['ping-1', 'pong', undefined],
    ]);
  });

  it('a frame over MAX_PAYLOAD_BYTES closes only that connection with 1009', async () => {
    client.send({ type: 'get-workspace-status', payload: { workspaceId: 'x'.repeat(5000) } });
    expect((await client.waitClosed()).code).toBe(1009);
    await daemon.assertAlive();
  });

  it('identity comes from the connection: a daemon cannot speak for another daemon', async () => {
    const other = await gateway.client('daemon-2', 'user-2');
    await expectError(
      daemon,
      { type: 'file-change', payload: { workspaceId: 'w1', path: 'a', event: 'add', daemonId: 'daemon-2' } },
      'validation_failed',
      'daemonId',
    );
    daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'b', event: 'add' } });
    expect((await client.next('file-change')).daemonId).toBe('daemon-1');
    await other.assertAlive();
    expect(other.received.some((frame) => frame.type === 'file-change')).toBe(false);
  });

  it('a flood of garbage from one peer does not disturb another', async () => {
    for (let i = 0; i < 200; i += 1) client.send(i % 2 ? '{{{' : { type: 'nope' });
    daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'after-flood', event: 'add' } });
    const second = await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token: gateway.token(Role.Client, 'user-2', { daemons: ['daemon-1'] }) }));
    await second.next('connected');
    daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: 'later', event: 'add' } });
    expect((await second.next('file-change')).payload.path).toBe('later');
    const errors = await client.collect('error', 200);
    expect(errors).toHaveLength(200);
    await client.assertAlive();
  });
});
