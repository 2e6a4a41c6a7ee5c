import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness } from './support/gateway-harness.js';
import { waitFor } from './support/ports.js';
import { WEBHOOK_TEST_SECRET, WebhookReceiver } from './support/webhook-receiver.js';

describe('webhooks, one instance', () => {
  let receiver: WebhookReceiver;
  let gateway: GatewayHarness;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    gateway = await GatewayHarness.start({
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: WEBHOOK_TEST_SECRET,
      WEBHOOK_RETRY_MAX_MS: '1000',
      DAEMON_STALE_MS: '300',
      DAEMON_TIMEOUT_MS: '5000',
      SWEEP_INTERVAL_MS: '50',
    });
  });

  afterAll(async () => {
    await gateway.stop();
    await receiver.stop();
  });

  it('one signed POST per transition: online, stale, online, replaced, offline, numbered from 1 without gaps', async () => {
    const daemon = await gateway.daemon('hooked');
    await waitFor(() => receiver.eventsOf('hooked').length === 1, 'online');
    // Silent past DAEMON_STALE_MS: stale; a heartbeat: online again.
    await waitFor(() => receiver.eventsOf('hooked').length === 2, 'stale', 5000);
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: [] } });
    await waitFor(() => receiver.eventsOf('hooked').length === 3, 'online again');
    const second = await gateway.daemon('hooked');
    await daemon.waitClosed();
    await waitFor(() => receiver.eventsOf('hooked').length === 4, 'replaced');
    second.send({ type: 'heartbeat', payload: { workspaceIds: [] } });
    second.close();
    await waitFor(() => receiver.eventsOf('hooked').some((event) => event.type === 'daemon.offline'), 'offline', 5000);

    const events = receiver.eventsOf('hooked');
    expect(events.map((event) => event.type).slice(0, 5)).toEqual(['daemon.online', 'daemon.stale', 'daemon.online', 'daemon.replaced', expect.any(String)]);
    expect(events.at(-1)).toMatchObject({ type: 'daemon.offline', status: 'offline' });
    expect(events.map((event) => event.transition)).toEqual(events.map((_, index) => index + 1));
    expect(new Set(events.map((event) => event.epoch)).size).toBe(1);
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
    for (const event of events) {
      expect(Object.keys(event).sort()).toEqual(['at', 'daemonId', 'epoch', 'id', 'status', 'transition', 'type']);
      expect(Date.parse(event.at)).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(receiver.received.every((entry) => entry.signatureValid)).toBe(true);
  });

  it('a signature made with another secret, or too old, does not verify', async () => {
    const { verifySignature } = await import('./support/webhook-receiver.js');
    const [entry] = receiver.received;
    const header = `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`;
    expect(verifySignature(WEBHOOK_TEST_SECRET, header, entry.raw)).toBe(false);
    const { signature } = await import('../src/webhooks/webhook.service.js');
    expect(verifySignature(WEBHOOK_TEST_SECRET, signature(WEBHOOK_TEST_SECRET, entry.raw, Math.floor(Date.now() / 1000)), entry.raw)).toBe(true);
    expect(verifySignature(WEBHOOK_TEST_SECRET, signature(WEBHOOK_TEST_SECRET, entry.raw, Math.floor(Date.now() / 1000) - 301), entry.raw)).toBe(false);
    expect(
      verifySignature(WEBHOOK_TEST_SECRET, signature('another-secret-of-at-least-32-characters', entry.raw, Math.floor(Date.now() / 1000)), entry.raw),
    ).toBe(false);
  });

  it("docs/webhooks.md's verification function, run as a receiver would, accepts every delivery and refuses a changed body", () => {
    const docs = readFileSync(fileURLToPath(new URL('../docs/webhooks.md', import.meta.url)), 'utf8');
    const snippet = /## Verifying the signature[\s\S]*?```js\n([\s\S]*?)```/.exec(docs)![1];
    const dir = mkdtempSync(join(tmpdir(), 'arbor-webhook-verify-'));
    try {
      writeFileSync(join(dir, 'verify.mjs'), snippet);
      writeFileSync(
        join(dir, 'run.mjs'),
        `import { readFileSync } from 'node:fs';
import { verifyArborSignature } from './verify.mjs';
const { secret, deliveries } = JSON.parse(readFileSync(0, 'utf8'));
console.log(JSON.stringify(deliveries.map(({ signature, raw }) => verifyArborSignature(secret, signature, raw))));`,
      );
      const deliveries = receiver.received.map(({ signature, raw }) => ({ signature, raw }));
      const changed = deliveries.map(({ signature, raw }) => ({ signature, raw: raw.replace('"daemon.', '"daemon.x') }));
      const run = (secret: string, list: typeof deliveries) =>
        JSON.parse(
          execFileSync(process.execPath, [join(dir, 'run.mjs')], { input: JSON.stringify({ secret, deliveries: list }), encoding: 'utf8' }),
        ) as boolean[];
      expect(deliveries.length).toBeGreaterThanOrEqual(5);
      expect(run(WEBHOOK_TEST_SECRET, deliveries)).toEqual(deliveries.map(() => true));
      expect(run(WEBHOOK_TEST_SECRET, changed)).toEqual(deliveries.map(() => false));
      expect(run('another-secret-of-at-least-32-characters', deliveries)).toEqual(deliveries.map(() => false));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing receiver gets the event again, with the same id, until it answers 2xx; the gateway is not slowed', async () => {
    receiver.failWith = 503;
    const daemon = await gateway.daemon('retried');
    // Meanwhile the gateway serves as usual.
    const client = await gateway.open(gateway.wsUrl({ daemonId: 'retried', token: gateway.token(Role.Client, 'u', { daemons: ['retried'] }) }));
    await client.next('connected');
    await client.assertAlive();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(receiver.eventsOf('retried')).toEqual([]);
    receiver.failWith = undefined;
    // Online, then stale (it sends no heartbeat): both were refused, both arrive, once each.
    await waitFor(() => receiver.eventsOf('retried').length === 2, 'delivered after the receiver recovered', 5000);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(receiver.eventsOf('retried').map((event) => [event.type, event.transition])).toEqual([
      ['daemon.online', 1],
      ['daemon.stale', 2],
    ]);
    daemon.close();
  });
});

describe('webhook filter', () => {
  it('sends only the events WEBHOOK_EVENTS names', async () => {
    const receiver = await new WebhookReceiver().start();
    const gateway = await GatewayHarness.start({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: WEBHOOK_TEST_SECRET, WEBHOOK_EVENTS: 'daemon.offline' });
    try {
      const daemon = await gateway.daemon('filtered');
      daemon.close();
      await waitFor(() => receiver.eventsOf('filtered').length === 1, 'offline');
      // The online transition was numbered but not sent: offline is transition 2.
      expect(receiver.eventsOf('filtered')).toEqual([expect.objectContaining({ type: 'daemon.offline', transition: 2 })]);
    } finally {
      await gateway.stop();
      await receiver.stop();
    }
  });
});
