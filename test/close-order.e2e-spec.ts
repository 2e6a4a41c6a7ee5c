import { Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness } from './support/gateway-harness.js';
import type { ReceivedFrame, TestPeer } from './support/test-peer.js';

/**
 * A close the gateway decides never overtakes replies it already owes: every frame accepted before
 * it is answered, then the close's error frame goes out, then the close.
 */
describe('gateway-initiated closes come after the replies already owed', () => {
  let gateway: GatewayHarness;

  beforeAll(async () => {
    gateway = await GatewayHarness.start({ CLIENT_MESSAGE_RATE: '20', CLIENT_MESSAGE_BURST: '40', CLIENT_MAX_PAYLOAD_BYTES: '1024' });
  });

  afterAll(async () => {
    await gateway.stop();
  });

  async function openClient(): Promise<TestPeer> {
    const peer = await gateway.open(gateway.wsUrl({ daemonId: 'd-close', token: gateway.token(Role.Client, 'user-close', { daemons: ['d-close'] }) }));
    await peer.next('connected');
    return peer;
  }

  /** The frames after `connected` up to the close, as `reply:id` / `error:code:id` labels. */
  function labels(frames: readonly ReceivedFrame[]): string[] {
    return frames
      .filter((frame) => frame.type !== 'connected')
      .map((frame) => (frame.type === 'error' ? `error:${frame.payload.code}:${frame.id ?? ''}` : `${frame.type}:${frame.id}`));
  }

  /** Checks that the answered ids are p1…pK in order, and returns K. */
  function answeredPrefix(answers: string[]): number {
    answers.forEach((label, index) => expect(label.endsWith(`:p${index + 1}`)).toBe(true));
    return answers.length;
  }

  it('a burst of 400 pings: every ping accepted or refused before the 1008 is answered, then policy_violation, then 1008', async () => {
    const client = await openClient();
    for (let i = 1; i <= 400; i += 1) client.send({ type: 'ping', id: `p${i}` });
    const { code } = await client.waitClosed();
    expect(code).toBe(1008);
    const frames = labels(client.received);
    expect(frames.at(-1)).toBe('error:policy_violation:');
    const answers = frames.slice(0, -1);
    const answered = answeredPrefix(answers);
    // The burst's 40 are answered with pong; then refusals, until 40 in a row (a token refilled
    // meanwhile answers one more pong and starts the count again); the next one ends it.
    expect(answers.filter((label) => label.startsWith('pong:')).length).toBeGreaterThanOrEqual(40);
    expect(answers.slice(-40).every((label) => label.startsWith('error:rate_limited:'))).toBe(true);
    expect(answers.at(-41)).toMatch(/^pong:/);
    expect(answered).toBeLessThan(400);
  });

  it('10 000 invalid frames: each one accepted before the close gets invalid_json, then policy_violation, then 1008', async () => {
    const client = await openClient();
    for (let i = 1; i <= 10_000; i += 1) client.send(`{"type":"ping","id":"p${i}",`);
    const { code } = await client.waitClosed();
    expect(code).toBe(1008);
    const frames = labels(client.received);
    expect(frames.at(-1)).toBe('error:policy_violation:');
    // Unparseable frames carry no readable id: their answers are counted, in order.
    const answers = frames.slice(0, -1);
    const firstRefusal = answers.findIndex((label) => label.startsWith('error:rate_limited:'));
    expect(answers.slice(0, firstRefusal).every((label) => label === 'error:invalid_json:')).toBe(true);
    expect(firstRefusal).toBeGreaterThanOrEqual(40);
    // As with pings: a token refilled during the refusals answers one more invalid_json and starts
    // the count again; the close follows 40 refusals in a row.
    expect(answers.every((label) => label === 'error:invalid_json:' || label === 'error:rate_limited:')).toBe(true);
    expect(answers.slice(-40).every((label) => label === 'error:rate_limited:')).toBe(true);
    expect(answers.at(-41)).toBe('error:invalid_json:');
    expect(answers.length).toBeLessThan(10_000);
  });

  it('pings and then an oversized frame in one burst: 30 pongs, then message_too_big, then 1009', async () => {
    const client = await openClient();
    for (let i = 1; i <= 30; i += 1) client.send({ type: 'ping', id: `p${i}` });
    client.send({ type: 'ping', id: 'big', payload: { filler: 'x'.repeat(2000) } });
    const { code } = await client.waitClosed();
    expect(code).toBe(1009);
    const frames = labels(client.received);
    expect(frames.at(-1)).toBe('error:message_too_big:');
    expect(frames.slice(0, -1)).toEqual(Array.from({ length: 30 }, (_, i) => `pong:p${i + 1}`));
  });
});
