// The load generator: one scenario against one server, in its own process. Prints `RESULT {json}`.
// For scenarios the orchestrator measures mid-way, it prints `READY` and waits for a line on stdin.
import { ConnectionState, GatewayClient } from '@arbor/gateway-client';
import { mintToken, percentile, sleep } from './lib/common.mjs';
import {
  arborClientWithToken,
  clientPort,
  countRefusals,
  DAEMON,
  deadline,
  forwardedFor,
  nextLine,
  openMany,
  port,
  protocol,
  pump,
  refusedIn,
  restartedAt,
  values,
  webSocketFrom,
} from './lib/loadgen-context.mjs';
import { fileChange, protocols, sentAtOf, sequenceOf } from './lib/protocols.mjs';
import { commands, stormMux } from './lib/sdk-scenarios.mjs';

const scenarios = {
  /**
   * D daemons, each → N clients, `events` in all (events / D each): the same events in and
   * deliveries out as 1 → N, spread over daemons. Deliveries/s, every delivery counted, order
   * checked per daemon.
   */
  async fanout() {
    const daemonCount = Number(values.daemons);
    const clientsEach = Number(values.clients);
    const eventsEach = Math.ceil(Number(values.events) / daemonCount);
    const ports = values.ports ? values.ports.split(',').map(Number) : undefined;
    const daemonIds = daemonCount === 1 ? [DAEMON] : Array.from({ length: daemonCount }, (_, k) => `${DAEMON}-${k}`);
    const daemons = daemonIds.map((daemonId, k) => protocol.daemon(ports ? ports[k % ports.length] : port, daemonId));
    await Promise.all(daemons.map((daemon) => daemon.ready));
    const expectedTotal = daemonCount * clientsEach * eventsEach;
    let delivered = 0;
    let outOfOrder = 0;
    let failures = 0;
    let finish;
    const done = new Promise((resolve) => (finish = resolve));
    for (const [k, daemonId] of daemonIds.entries()) {
      const target = ports ? ports[(k + 1) % ports.length] : clientPort;
      const opened = await openMany(clientsEach, 50, () => protocol.client(target, daemonId));
      failures += opened.failures;
      for (const peer of opened.peers) {
        let expected = 0;
        peer.onEvent((event) => {
          if (sequenceOf(event) !== expected) outOfOrder += 1;
          expected += 1;
          if (++delivered === expectedTotal) finish();
        });
      }
    }
    const started = performance.now();
    const limit = deadline('fanout');
    await Promise.all(daemons.map((daemon) => pump(daemon, eventsEach)));
    await Promise.race([done, limit.promise]).catch(() => undefined);
    limit.cancel();
    const seconds = (performance.now() - started) / 1000;
    return {
      daemons: daemonCount,
      expected: expectedTotal,
      delivered,
      lost: expectedTotal - delivered,
      outOfOrder,
      connectFailures: failures,
      seconds,
      deliveriesPerSecond: delivered / seconds,
    };
  },

  /** 1 daemon → 1 client: messages/s through the server. */
  async ingress() {
    const events = Number(values.events);
    const daemon = protocol.daemon(port, DAEMON);
    await daemon.ready;
    const client = protocol.client(clientPort, DAEMON);
    await client.ready;
    let delivered = 0;
    let outOfOrder = 0;
    let finish;
    const done = new Promise((resolve) => (finish = resolve));
    client.onEvent((event) => {
      if (sequenceOf(event) !== delivered) outOfOrder += 1;
      if (++delivered === events) finish();
    });
    process.stdout.write('READY\n');
    await nextLine();
    const started = performance.now();
    const limit = deadline('ingress');
    await pump(daemon, events);
    await Promise.race([done, limit.promise]).catch(() => undefined);
    limit.cancel();
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write('MEASURED\n');
    await nextLine();
    return { expected: events, delivered, lost: events - delivered, outOfOrder, seconds, messagesPerSecond: delivered / seconds };
  },

  /** N clients, the daemon at a fixed rate: delivery latency percentiles. */
  async latency() {
    const clients = Number(values.clients);
    const rate = Number(values.rate);
    const seconds = Number(values.seconds);
    const events = Math.round(rate * seconds);
    const daemon = protocol.daemon(port, DAEMON);
    await daemon.ready;
    const { peers, failures } = await openMany(clients, 50, () => protocol.client(clientPort, DAEMON));
    const samples = new Float64Array(clients * events);
    let count = 0;
    for (const peer of peers) peer.onEvent((event) => (samples[count++] = performance.now() - sentAtOf(event)));
    const started = performance.now();
    for (let seq = 0; seq < events; seq += 1) {
      const due = started + (seq * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      daemon.send(fileChange(seq));
    }
    const limit = Date.now() + 10_000;
    while (count < clients * events && Date.now() < limit) await sleep(20);
    const sorted = Array.from(samples.subarray(0, count)).sort((a, b) => a - b);
    return {
      expected: clients * events,
      delivered: count,
      lost: clients * events - count,
      connectFailures: failures,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      p999: percentile(sorted, 99.9),
      max: sorted.at(-1),
    };
  },

  /** N idle client connections: the orchestrator reads server RSS before and after. */
  async idle() {
    const connections = Number(values.connections);
    const daemon = protocol.daemon(port, DAEMON);
    await daemon.ready;
    const { failures } = await openMany(connections, Number(values.concurrency), (index, options) => protocol.client(port, DAEMON, options, `user-${index}`));
    process.stdout.write('READY\n');
    await nextLine();
    return { expected: connections, connected: connections - failures, lost: failures };
  },

  /** Handshakes/s: open connections `concurrency` at a time until each got `connected`. */
  async connect() {
    const connections = Number(values.connections);
    // Tokens are minted before the clock starts: a real client arrives with one.
    const urlsReady =
      protocol === protocols.arbor
        ? Array.from({ length: connections }, (_, index) => mintToken({ sub: `user-${index}`, role: 'client', daemons: [DAEMON] }))
        : [];
    const started = performance.now();
    const { peers, failures } = await openMany(connections, Number(values.concurrency), (index, options) =>
      protocol === protocols.arbor ? arborClientWithToken(urlsReady[index], options) : protocol.client(port, DAEMON, options),
    );
    const seconds = (performance.now() - started) / 1000;
    for (const peer of peers) peer?.close();
    return { expected: connections, connected: connections - failures, lost: failures, seconds, handshakesPerSecond: (connections - failures) / seconds };
  },

  /** Many authenticated connections held open with protocol pings running. */
  async capacity() {
    const connections = Number(values.connections);
    const { peers, failures } = await openMany(connections, Number(values.concurrency), (index, options) =>
      protocol.client(port, DAEMON, options, `user-${index}`),
    );
    let unexpectedCloses = 0;
    for (const peer of peers) peer?.socket.on('close', () => (unexpectedCloses += 1));
    process.stdout.write('READY\n');
    await nextLine();
    const result = { expected: connections, connected: connections - failures, failures, unexpectedCloses, lost: failures + unexpectedCloses };
    for (const peer of peers) peer?.socket.removeAllListeners('close');
    return result;
  },

  /** N SDK clients; the orchestrator kills and restarts the gateway; time until all are back. */
  /**
   * `connections` SDK clients, each its own user at its own address (X-Forwarded-For), all from
   * this machine's one address as through an ingress. The orchestrator kills and restarts the
   * gateway; counts refusals and the time until every client is back, from the drop and from the
   * restart.
   */
  async storm() {
    const connections = Number(values.connections);
    const clients = [];
    const opens = [];
    const refusals = {};
    let firstDrop = 0;
    let reopened = 0;
    for (let index = 0; index < connections; index += 1) {
      const client = new GatewayClient({
        url: `ws://127.0.0.1:${port}/ws`,
        daemonId: DAEMON,
        WebSocket: webSocketFrom(forwardedFor(index)),
        network: null,
        getToken: () => mintToken({ sub: `user-${index}`, role: 'client', daemons: [DAEMON] }),
      });
      countRefusals(client, refusals);
      let dropped = false;
      client.on('state', (state) => {
        if (state === ConnectionState.Reconnecting && !dropped) {
          dropped = true;
          firstDrop ||= Date.now();
        }
        if (state === ConnectionState.Open && dropped) {
          reopened += 1;
          opens.push(Date.now());
          dropped = false;
        }
      });
      clients.push(client);
      if (index % 200 === 199) await sleep(20);
    }
    const limit = Date.now() + 60_000;
    while (clients.some((client) => client.state !== ConnectionState.Open) && Date.now() < limit) await sleep(50);
    const initiallyOpen = clients.filter((client) => client.state === ConnectionState.Open).length;
    process.stdout.write('READY\n');
    const restarted = await restartedAt();
    const backBy = Date.now() + 45_000;
    while (reopened < initiallyOpen && Date.now() < backBy) await sleep(50);
    const perSecond = new Map();
    for (const at of opens) {
      const bucket = Math.floor((at - firstDrop) / 1000);
      perSecond.set(bucket, (perSecond.get(bucket) ?? 0) + 1);
    }
    const failures = clients.filter((client) => client.state !== ConnectionState.Open).length;
    for (const client of clients) client.dispose();
    const lastBack = opens.length ? Math.max(...opens) : NaN;
    return {
      expected: connections,
      connected: initiallyOpen,
      reconnected: reopened,
      lost: failures + (connections - initiallyOpen),
      refused: refusedIn(refusals),
      refusals,
      secondsUntilAllBack: (lastBack - firstDrop) / 1000,
      secondsAfterRestart: (lastBack - restarted) / 1000,
      peakHandshakesPerSecond: Math.max(0, ...perSecond.values()),
    };
  },
};

scenarios.commands = commands;
scenarios['storm-mux'] = stormMux;

try {
  const result = await scenarios[values.scenario]();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (error) {
  process.stdout.write(`RESULT ${JSON.stringify({ error: String(error?.stack ?? error), lost: -1 })}\n`);
  process.exit(1);
}
