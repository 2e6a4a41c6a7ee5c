import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ClientMessageType, DaemonMessageType, Role, ServerMessageType } from '@arbor/gateway-client/protocol';
import { GatewayHarness } from './support/gateway-harness.js';
import { TestPeer } from './support/test-peer.js';

/**
 * Random and mutated frames against a live gateway (in this process, so crashes, unhandled
 * rejections and heap are observable): no crash, no unhandled rejection, heap back to its
 * baseline, and an unrelated client keeps receiving its daemon's events throughout.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TYPES = [...new Set([...Object.values(ClientMessageType), ...Object.values(DaemonMessageType), ...Object.values(ServerMessageType), 'x', ''])];
const VALID = [
  '{"type":"ping","id":"a"}',
  '{"type":"get-workspace-status","id":"b","payload":{"workspaceId":"w1"}}',
  '{"type":"run-task","id":"c","payload":{"taskId":"t1","workspaceId":"w1","command":"make","args":["-j2"]}}',
  '{"type":"file-change","seq":1,"payload":{"workspaceId":"w1","path":"src/a.ts","event":"change"}}',
  '{"type":"task-status","payload":{"taskId":"t1","status":"running","output":"..."}}',
  '{"type":"heartbeat","payload":{"workspaceIds":["w1","w2"]}}',
  '{"type":"refresh-token","id":"r","payload":{"token":"a.b.c"}}',
];

type Fuzzed = { text: string } | { bytes: Uint8Array; binary: boolean };

const mutated = fc
  .tuple(fc.constantFrom(...VALID), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 3 }), fc.string({ maxLength: 4 })), { minLength: 1, maxLength: 6 }))
  .map(([text, edits]) => {
    let out = text;
    for (const [at, op, insert] of edits) {
      const i = at % (out.length + 1);
      if (op === 0)
        out = out.slice(0, i) + insert + out.slice(i); // insert
      else if (op === 1)
        out = out.slice(0, i) + out.slice(i + 1 + insert.length); // delete
      else if (op === 2)
        out = out.slice(0, i); // truncate
      else out = out.slice(0, i) + insert + out.slice(i + insert.length); // overwrite
    }
    return out;
  });

const frameShaped = fc
  .record(
    {
      type: fc.oneof(fc.constantFrom(...TYPES), fc.string()),
      payload: fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.dictionary(
          fc.constantFrom('workspaceId', 'path', 'event', 'taskId', 'status', 'token', '__proto__', 'constructor', 'x'),
          fc.jsonValue({ maxDepth: 3 }),
        ),
      ),
      id: fc.oneof(fc.string({ maxLength: 140 }), fc.integer(), fc.constant(null)),
      seq: fc.oneof(fc.integer(), fc.double(), fc.string()),
      extra: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: [] },
  )
  .map((frame) => JSON.stringify(frame));

const fuzzed: fc.Arbitrary<Fuzzed> = fc.oneof(
  { arbitrary: mutated.map((text) => ({ text })), weight: 4 },
  { arbitrary: frameShaped.map((text) => ({ text })), weight: 4 },
  { arbitrary: fc.jsonValue({ maxDepth: 6 }).map((value) => ({ text: JSON.stringify(value) ?? 'null' })), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ text })), weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ bytes, binary: true })), weight: 1 },
  // Text frames that may not be valid UTF-8: the gateway closes with 1007.
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({ bytes, binary: false })), weight: 1 },
);

describe(`fuzz: ${RUNS} random and mutated frames (seed ${SEED})`, () => {
  let gateway: GatewayHarness;
  const crashes: unknown[] = [];
  const onCrash = (error: unknown) => crashes.push(error);

  beforeAll(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    gateway = await GatewayHarness.start();
  });
  afterAll(async () => {
    await gateway.stop();
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  });

  it('no crash, no unhandled rejection, heap back to baseline, bystander keeps receiving', async () => {
    const bystanderDaemon = await gateway.daemon('bystander');
    const bystander = await gateway.client('bystander', 'bystander-user');
    const peers: Record<Role, TestPeer | undefined> = { [Role.Client]: undefined, [Role.Daemon]: undefined };
    const open = async (role: Role): Promise<TestPeer> => {
      const current = peers[role];
      if (current?.isOpen) return current;
      const peer = role === Role.Daemon ? await gateway.daemon('fuzz-daemon') : await gateway.client('fuzz-daemon', 'fuzz-user');
      peers[role] = peer;
      return peer;
    };
    let relayed = 0;
    const relayOne = async () => {
      const path = `bystander-${++relayed}`;
      bystanderDaemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path, event: 'change' } });
      await bystander.next((frame) => frame.type === 'file-change' && frame.payload.path === path, path);
    };
    const heapAfterGc = async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };

    // Warm up (lazy code paths, caches) before the baseline.
    await open(Role.Client);
    await open(Role.Daemon);
    for (let i = 0; i < 20; i += 1) await relayOne();
    const baseline = await heapAfterGc();

    await fc.assert(
      fc.asyncProperty(fuzzed, fc.constantFrom(Role.Client, Role.Daemon), async (frame, role) => {
        const peer = await open(role);
        if ('text' in frame) peer.socket.send(frame.text);
        else peer.socket.send(frame.bytes, { binary: frame.binary });
        await relayOne();
        expect(crashes).toEqual([]);
      }),
      { numRuns: RUNS, seed: SEED },
    );

    for (const peer of Object.values(peers)) peer?.terminate();
    // Everything the bystander got is what its daemon sent, once each, in order.
    const paths = bystander.received.filter((frame) => frame.type === 'file-change').map((frame) => frame.payload.path);
    expect(paths).toEqual(Array.from({ length: relayed }, (_, i) => `bystander-${i + 1}`));
    expect(crashes).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await heapAfterGc();
    expect(after - baseline).toBeLessThan(8 * 1024 * 1024);
  });
});
