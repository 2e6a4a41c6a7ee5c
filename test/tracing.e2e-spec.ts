import { DaemonClient, GatewayClient, Role } from '@arbor/gateway-client';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { GatewayConfig } from '../src/config/gateway-config.js';
import { startTracing, stopTracing } from '../src/tracing/tracing.provider.js';
import { GatewayHarness, TEST_SECRET } from './support/gateway-harness.js';
import { GatewayProcess } from './support/gateway-process.js';
import { waitFor } from './support/ports.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { TestPeer } from './support/test-peer.js';
import { signToken } from './support/tokens.js';

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const CLIENT_TC = { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, tracestate: 'app=console' };

/** Resolves on the client's next `connected`. */
const connected = (client: { on(event: 'connected', listener: () => void): () => void }) =>
  new Promise<void>((resolve) => {
    const off = client.on('connected', () => {
      off();
      resolve();
    });
  });

const spanId = (span: ReadableSpan) => span.spanContext().spanId;
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/**
 * One command followed end to end: a client on instance A, its daemon on instance B, Redis between
 * them; the spans come from both instances into one in-process exporter.
 */
describe.each([
  ['trusted (TRACE_ACCEPT_CLIENT_CONTEXT=true)', 'true'],
  ['untrusted (the default)', 'false'],
])('a run-task traced across two instances on Redis, client context %s', (_label, accept) => {
  const exporter = new InMemorySpanExporter();
  const prefix = uniquePrefix();
  let a: GatewayHarness;
  let b: GatewayHarness;

  beforeAll(async () => {
    await startTracing(GatewayConfig.load({ TRACE_ACCEPT_CLIENT_CONTEXT: accept }), exporter);
    const env = { REDIS_URL: SHARED_REDIS_URL, REDIS_KEY_PREFIX: prefix, TRACE_ACCEPT_CLIENT_CONTEXT: accept };
    [a, b] = await Promise.all([GatewayHarness.start(env), GatewayHarness.start(env)]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await stopTracing();
    await deletePrefix(SHARED_REDIS_URL, prefix);
  });

  it('client → gateway A → Redis → gateway B → daemon → task-status back, one trace, no secret in any attribute', async () => {
    const daemonToken = b.token(Role.Daemon, 'traced-daemon');
    const clientToken = a.token(Role.Client, 'traced-user', { daemons: ['traced-daemon'] });
    const daemon = new DaemonClient({ url: `ws://127.0.0.1:${b.port}/ws`, WebSocket, getToken: () => daemonToken });
    const received: Array<{ taskId: string; tc?: unknown }> = [];
    daemon.on('run-task', (task) => {
      received.push(task);
      // The SDK echoes the command's trace context on the task's statuses by itself.
      daemon.taskStatus(task.taskId, 'running');
    });
    const client = new GatewayClient({
      url: `ws://127.0.0.1:${a.port}/ws`,
      daemonId: 'traced-daemon',
      WebSocket,
      getToken: () => clientToken,
      traceContext: () => CLIENT_TC,
    });
    const statuses: Array<{ tc?: { traceparent: string } }> = [];
    client.on('task-status', (frame) => statuses.push(frame));
    try {
      await Promise.all([connected(client), connected(daemon)]);
      const ack = await client.runTask({ workspaceId: 'w1', command: 'build', taskId: 'traced-task' });
      expect(ack.status).toBe('accepted');
      await waitFor(() => statuses.length === 1, 'the task status at the client');
      await waitFor(() => exporter.getFinishedSpans().some((span) => span.name === 'send task-status'), 'the delivery span');
    } finally {
      client.close();
      daemon.close();
    }

    const spans = exporter.getFinishedSpans().filter((span) => span.name !== 'arbor.handshake');
    const byName = (name: string) => spans.filter((span) => span.name === name);
    const [published] = byName('send run-task');
    const received2 = byName('process run-task').find((span) => parentOf(span) === spanId(published))!;
    const received1 = byName('process run-task').find((span) => span !== received2)!;
    const [answered] = byName('process task-status');
    const [delivered] = byName('send task-status');
    for (const span of [received1, received2, published, answered, delivered]) expect(span).toBeDefined();
    // A: the command received (from the client's context, or a new trace linked to it) …
    if (accept === 'true') {
      expect(received1.spanContext().traceId).toBe(CLIENT_TRACE);
      expect(parentOf(received1)).toBe(CLIENT_SPAN);
    } else {
      expect(received1.spanContext().traceId).not.toBe(CLIENT_TRACE);
      expect(parentOf(received1)).toBeUndefined();
      expect(received1.links.map((link) => link.context.traceId)).toEqual([CLIENT_TRACE]);
    }
    // … published to B's channel, received by B, handed to the daemon; its status back.
    expect(parentOf(published)).toBe(spanId(received1));
    expect(parentOf(received2)).toBe(spanId(published));
    expect(parentOf(answered)).toBe(spanId(received2));
    expect(parentOf(delivered)).toBe(spanId(answered));
    const traceId = received1.spanContext().traceId;
    for (const span of [published, received2, answered, delivered]) expect(span.spanContext().traceId).toBe(traceId);
    expect(statuses[0].tc?.traceparent).toContain(traceId);

    expect(received1.attributes).toMatchObject({
      'messaging.system': 'arbor',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'run-task',
      'messaging.destination.name': 'daemon',
      'arbor.daemon.id': 'traced-daemon',
      'arbor.outcome': 'accepted',
    });
    expect(published.attributes).toMatchObject({ 'messaging.operation.type': 'send', 'messaging.destination.name': 'instance' });
    expect(published.attributes['arbor.instance']).not.toBe(received2.attributes['arbor.instance']);
    expect(published.attributes['arbor.target_instance']).toBe(received2.attributes['arbor.instance']);
    expect(answered.attributes).toMatchObject({ 'arbor.task.id': 'traced-task' });
    expect(delivered.attributes).toMatchObject({ 'arbor.viewers': 1, 'messaging.batch.message_count': 1 });
    expect(delivered.attributes['arbor.instance']).toBe(received1.attributes['arbor.instance']);

    const everything = JSON.stringify(exporter.getFinishedSpans().map((span) => ({ name: span.name, attributes: span.attributes, events: span.events })));
    for (const secret of [daemonToken, clientToken, TEST_SECRET, 'build', 'token=']) expect(everything).not.toContain(secret);
  });
});

describe('trace context in the envelope', () => {
  let gateway: GatewayHarness;

  beforeAll(async () => {
    gateway = await GatewayHarness.start();
  });

  afterAll(() => gateway.stop());

  it.each([
    [{ traceparent: 'not-a-traceparent' }, 'tc.traceparent'],
    [{ traceparent: `00-${'0'.repeat(32)}-${CLIENT_SPAN}-01` }, 'tc.traceparent'],
    [{ traceparent: CLIENT_TC.traceparent, tracestate: 'x'.repeat(600) }, 'tc.tracestate'],
    [{ traceparent: CLIENT_TC.traceparent, baggage: 'a=b' }, 'tc.baggage'],
    ['00-abc', 'tc'],
  ])('a malformed tc %j is refused with bad_request naming %s, and the connection stays', async (tc, field) => {
    const client = await gateway.client('d-tc', 'u-tc');
    const reply = await client.request('run-task', { taskId: 't', workspaceId: 'w', command: 'x' }).catch(() => undefined);
    expect(reply?.type).toBe('ack');
    client.send({ type: 'run-task', id: 'bad-tc', payload: { taskId: 't2', workspaceId: 'w', command: 'x' }, tc });
    const error = await client.next((frame) => frame.id === 'bad-tc');
    expect(error.payload).toMatchObject({ code: 'bad_request', field });
    await client.assertAlive();
  });

  it('tracing off: a client’s context is not forwarded to the daemon unless trusted; the daemon’s on a task-status reaches clients', async () => {
    const daemon = await gateway.daemon('d-untraced');
    const client = await gateway.client('d-untraced', 'u');
    client.send({ type: 'run-task', id: 'c1', payload: { taskId: 't1', workspaceId: 'w', command: 'x' }, tc: CLIENT_TC });
    const command = await daemon.next('run-task');
    expect(command.tc).toBeUndefined();
    daemon.send({ type: 'task-status', payload: { taskId: 't1', status: 'running' }, tc: CLIENT_TC });
    const status = await client.next('task-status');
    expect(status.tc).toEqual(CLIENT_TC);
  });
});

describe('the OTLP exporter and exemplars (a built gateway, tracing on)', () => {
  let receiver: Server;
  const batches: any[] = [];
  let gateway: GatewayProcess;
  const SECRET = 'otlp-test-secret-at-least-32-characters';

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.url === '/v1/traces') batches.push({ contentType: request.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString()) });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as AddressInfo;
    gateway = new GatewayProcess({
      WEBSOCKET_PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET: SECRET,
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_SERVICE_NAME: 'arbor-gateway-test',
    });
  });

  afterAll(async () => {
    gateway?.kill('SIGKILL');
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('sends spans over OTLP/HTTP, and the command-latency histogram carries trace ids', async () => {
    const port = await gateway.listening();
    const daemon = new TestPeer(`ws://127.0.0.1:${port}/ws?token=${signToken(SECRET, { sub: 'd-otlp', role: Role.Daemon })}`);
    await daemon.next('connected');
    const client = new TestPeer(`ws://127.0.0.1:${port}/ws?daemonId=d-otlp&token=${signToken(SECRET, { sub: 'u', role: Role.Client, daemons: ['d-otlp'] })}`);
    await client.next('connected');
    client.send({ type: 'run-task', id: 'c1', payload: { taskId: 't', workspaceId: 'w', command: 'x' } });
    await client.next('ack');
    const command = (await daemon.next('run-task')) as unknown as { tc: { traceparent: string } };
    expect(command.tc.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('application/openmetrics-text');
    const traceId = command.tc.traceparent.split('-')[1];
    expect(await metrics.text()).toMatch(new RegExp(`^arbor_command_duration_seconds_bucket\\{le="[^"]+"\\} 1 # \\{trace_id="${traceId}"\\}`, 'm'));

    daemon.terminate();
    client.terminate();
    // SIGTERM flushes the batch on the way out.
    gateway.kill('SIGTERM');
    await waitFor(() => batches.some((batch) => JSON.stringify(batch.body).includes('process run-task')), 'the spans at the collector', 10_000);
    const batch = batches.find((entry) => JSON.stringify(entry.body).includes('process run-task'));
    expect(batch.contentType).toContain('application/json');
    const resource = JSON.stringify(batch.body.resourceSpans[0].resource);
    expect(resource).toContain('arbor-gateway-test');
    const names = batches.flatMap((entry) =>
      entry.body.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((span: any) => span.name))),
    );
    expect(names).toEqual(expect.arrayContaining(['arbor.handshake', 'process run-task']));
  });
});
