// The load generator: one scenario against one server, in its own process. Prints `RESULT {json}`.
// For scenarios the orchestrator measures mid-way, it prints `READY` and waits for a line on stdin.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { ConnectionState, GatewayClient } from '@arbor/gateway-client';
import { mintToken, percentile, sleep } from './lib/common.mjs';
import { fileChange, protocols, sentAtOf, sequenceOf } from './lib/protocols.mjs';

const { values } = parseArgs({
  options: {
    protocol: { type: 'string' },
    port: { type: 'string' },
    // Clients may connect to another instance than the daemon (the Redis scenario).
    'client-port': { type: 'string' },
    // Fan-out over several instances (the Cluster scenario): daemon k on ports[k % n], its clients on ports[(k + 1) % n].
    ports: { type: 'string' },
    daemons: { type: 'string', default: '1' },
    scenario: { type: 'string' },
    clients: { type: 'string', default: '100' },
    events: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '100' },
    // Connections are spread over 127.0.0.x source addresses, a fresh range each run, so that
    // earlier runs' TIME_WAIT sockets and the ephemeral-port range never slow a handshake.
    'source-base': { type: 'string', default: String(2 + Math.floor(Math.random() * 200)) },
    'per-source': { type: 'string', default: '1000' },
    'timeout-ms': { type: 'string', default: '120000' },
    // storm-mux: users watching `daemons-per-user` daemons each, one connection per daemon or one multiplexed.
    users: { type: 'string', default: '2000' },
    'daemons-per-user': { type: 'string', default: '5' },
    style: { type: 'string', default: 'multiplexed' },
    // commands: whether the daemon confirms (command-ack) and commands settle on `delivered`; `no` for a
    // gateway without confirmed commands (the path before them), where a command settles at the daemon.
    confirm: { type: 'string', default: 'auto' },
  },
});
const protocol = protocols[values.protocol];
const port = Number(values.port);
const clientPort = Number(values['client-port'] ?? values.port);
const DAEMON = 'bench-daemon';
const HIGH_WATER = 1024 * 1024;

const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));

/** Opens `count` peers, `concurrency` at a time, spread over 127.0.0.x source addresses. */
async function openMany(count, concurrency, make) {
  const peers = new Array(count);
  let failures = 0;
  let next = 0;
  const perSource = Number(values['per-source']);
  const sourceBase = Number(values['source-base']);
  async function worker() {
    while (next < count) {
      const index = next++;
      const localAddress = `127.0.0.${2 + ((sourceBase - 2 + Math.floor(index / perSource)) % 250)}`;
      try {
        const peer = make(index, { localAddress });
        peers[index] = peer;
        await peer.ready;
      } catch {
        failures += 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { peers, failures };
}

/** Sends `count` file-change events as fast as the daemon's socket drains. */
async function pump(daemon, count, onSent = () => {}) {
  for (let seq = 0; seq < count; seq += 1) {
    while (daemon.buffered() > HIGH_WATER) await new Promise((resolve) => setImmediate(resolve));
    daemon.send(fileChange(seq));
    onSent(seq);
    if ((seq & 255) === 255) await new Promise((resolve) => setImmediate(resolve));
  }
}

function deadline(label) {
  const ms = Number(values['timeout-ms']);
  let timer;
  const promise = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${label}: timed out after ${ms} ms`)), ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

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
  async storm() {
    const connections = Number(values.connections);
    const clients = [];
    const opens = [];
    let firstDrop = 0;
    let reopened = 0;
    for (let index = 0; index < connections; index += 1) {
      const client = new GatewayClient({
        url: `ws://127.0.0.1:${port}/ws`,
        daemonId: DAEMON,
        WebSocket,
        network: null,
        getToken: () => mintToken({ sub: `user-${index}`, role: 'client', daemons: [DAEMON] }),
      });
      let dropped = false;
      client.on('state', (state) => {
        if (state === ConnectionState.Reconnecting && !dropped) {
          dropped = true;
          firstDrop ||= performance.now();
        }
        if (state === ConnectionState.Open && dropped) {
          reopened += 1;
          opens.push(performance.now());
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
    await nextLine();
    const backBy = Date.now() + 45_000;
    while (reopened < initiallyOpen && Date.now() < backBy) await sleep(50);
    const perSecond = new Map();
    for (const at of opens) {
      const bucket = Math.floor((at - firstDrop) / 1000);
      perSecond.set(bucket, (perSecond.get(bucket) ?? 0) + 1);
    }
    const failures = clients.filter((client) => client.state !== ConnectionState.Open).length;
    for (const client of clients) client.dispose();
    return {
      expected: connections,
      connected: initiallyOpen,
      reconnected: reopened,
      lost: failures + (connections - initiallyOpen),
      secondsUntilAllBack: opens.length ? (Math.max(...opens) - firstDrop) / 1000 : NaN,
      peakHandshakesPerSecond: Math.max(0, ...perSecond.values()),
    };
  },
};

/**
 * storm-mux: `users` users each watching `daemons-per-user` daemons, either one SDK connection per
 * daemon (`--style per-daemon`, as before multiplexing) or one multiplexed connection per user
 * watching them all. The orchestrator kills and restarts the gateway; counts the handshakes the
 * storm took and the time until every watch is subscribed again.
 */
/**
 * Clients → one daemon (on another instance for the Redis server): `commands` run-task commands
 * with ids, `window` unsettled per client. The daemon counts what reaches it (each id once) and,
 * on Arbor, confirms it (`command-ack`). A command settles when it reached the daemon (the raw
 * relay, which confirms nothing) or when its sender was told `delivered` (Arbor: the whole
 * confirmed path, the ack `accepted` on the way). Commands/s at the daemon, confirmed/s.
 */
scenarios.commands = async function commands() {
  const total = Number(values.events);
  const clientCount = Number(values.clients);
  const window = 32;
  const confirming = values.confirm === 'auto' ? values.protocol === 'arbor' : values.confirm === 'yes';
  const daemon = protocol.daemon(port, DAEMON);
  await daemon.ready;
  const opened = await openMany(clientCount, 50, () => protocol.client(clientPort, DAEMON));
  const reached = new Set();
  let accepted = 0;
  let confirmed = 0;
  const settlers = new Map();
  const settle = (id) => settlers.get(id)?.();
  daemon.onEvent((data) => {
    const frame = JSON.parse(data.toString());
    if (frame.type !== 'run-task') return;
    // The task id is the command id: every gateway and relay forwards the payload.
    const id = frame.payload.taskId;
    reached.add(id);
    if (confirming) daemon.send({ type: 'command-ack', payload: { id: frame.id } });
    else settle(id);
  });
  const started = performance.now();
  const limit = deadline('commands');
  const perClient = Math.ceil(total / clientCount);
  // Fresh ids every run: rounds share one Redis, where an id is remembered for COMMAND_DEDUPE_TTL_MS.
  const run = Math.random().toString(36).slice(2, 8);
  const sendAll = opened.peers.map(async (peer, c) => {
    peer.onEvent((data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'ack' && frame.payload.status === 'accepted') accepted += 1;
      if (frame.type === 'command-status' && frame.payload.status === 'delivered') {
        confirmed += 1;
        settle(frame.id);
      }
    });
    let inFlight = 0;
    let wake = () => {};
    for (let i = 0; i < perClient; i += 1) {
      while (inFlight >= window) await new Promise((resolve) => (wake = resolve));
      const id = `${run}-${c}-${i}`;
      inFlight += 1;
      settlers.set(id, () => {
        settlers.delete(id);
        inFlight -= 1;
        wake();
      });
      peer.send({ type: 'run-task', id, payload: { taskId: id, workspaceId: 'w1', command: 'build' } });
    }
    while (inFlight > 0) await new Promise((resolve) => (wake = resolve));
  });
  await Promise.race([Promise.all(sendAll), limit.promise]).catch(() => undefined);
  limit.cancel();
  const seconds = (performance.now() - started) / 1000;
  const expected = perClient * opened.peers.length;
  return {
    expected,
    delivered: reached.size,
    lost: expected - reached.size,
    accepted: confirming ? accepted : undefined,
    confirmed: confirming ? confirmed : undefined,
    connectFailures: opened.failures,
    seconds,
    commandsPerSecond: reached.size / seconds,
    confirmedPerSecond: confirming ? confirmed / seconds : undefined,
  };
};

scenarios['storm-mux'] = async function stormMux() {
  const users = Number(values.users);
  const perUser = Number(values['daemons-per-user']);
  const daemonIds = Array.from({ length: perUser }, (_, k) => `storm-daemon-${k}`);
  const multiplexed = values.style === 'multiplexed';
  const url = `ws://127.0.0.1:${port}/ws`;
  /** Each user's clients, and a function telling whether all of its daemons are watched again. */
  const links = [];
  let firstDrop = 0;
  let handshakes = 0;
  const backAt = [];
  for (let index = 0; index < users; index += 1) {
    const getToken = () => mintToken({ sub: `user-${index}`, role: 'client', daemons: daemonIds });
    const clients = multiplexed
      ? [new GatewayClient({ url, WebSocket, network: null, getToken })]
      : daemonIds.map((daemonId) => new GatewayClient({ url, daemonId, WebSocket, network: null, getToken }));
    const watches = multiplexed ? daemonIds.map((daemonId) => clients[0].watch(daemonId)) : [];
    const link = { clients, watches, dropped: false };
    const isBack = () => clients.every((client) => client.state === ConnectionState.Open) && watches.every((watch) => watch.state === 'subscribed');
    link.isBack = isBack;
    const check = () => {
      if (link.dropped && isBack()) {
        link.dropped = false;
        backAt.push(performance.now());
      }
    };
    for (const client of clients) {
      client.on('state', (state) => {
        if (state === ConnectionState.Reconnecting && !link.dropped && link.armed) {
          link.dropped = true;
          firstDrop ||= performance.now();
        }
        if (state === ConnectionState.Open && link.armed) handshakes += 1;
        check();
      });
    }
    for (const watch of watches) watch.on('connected', check);
    links.push(link);
    if (index % 100 === 99) await sleep(20);
  }
  const limit = Date.now() + 60_000;
  while (links.some((link) => !link.isBack()) && Date.now() < limit) await sleep(50);
  const initiallyBack = links.filter((link) => link.isBack()).length;
  for (const link of links) link.armed = true;
  process.stdout.write('READY\n');
  await nextLine();
  const backBy = Date.now() + 60_000;
  while (backAt.length < initiallyBack && Date.now() < backBy) await sleep(50);
  const notBack = links.filter((link) => !link.isBack()).length;
  for (const link of links) for (const client of link.clients) client.dispose();
  return {
    style: values.style,
    users,
    connections: links.reduce((total, link) => total + link.clients.length, 0),
    expected: users,
    connected: initiallyBack,
    lost: notBack + (users - initiallyBack),
    handshakes,
    secondsUntilAllBack: backAt.length ? (Math.max(...backAt) - firstDrop) / 1000 : NaN,
  };
};

function arborClientWithToken(token, options) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?daemonId=${DAEMON}&token=${token}`, { perMessageDeflate: false, ...options });
  const ready = new Promise((resolve, reject) => {
    socket.once('message', () => resolve());
    socket.once('error', reject);
    socket.once('close', (code) => reject(new Error(`closed ${code}`)));
  });
  return { ready, socket, close: () => socket.terminate() };
}

try {
  const result = await scenarios[values.scenario]();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (error) {
  process.stdout.write(`RESULT ${JSON.stringify({ error: String(error?.stack ?? error), lost: -1 })}\n`);
  process.exit(1);
}
