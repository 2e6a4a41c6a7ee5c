// The scenarios that drive the gateway through commands and the SDK: commands/s to a daemon, and
// a reconnect storm of SDK users (one connection per daemon, or one multiplexed connection each).
import { ConnectionState, GatewayClient } from '@arbor/gateway-client';
import { mintToken, sleep } from './common.mjs';
import {
  clientPort,
  countRefusals,
  DAEMON,
  deadline,
  forwardedFor,
  openMany,
  port,
  protocol,
  refusedIn,
  restartedAt,
  values,
  webSocketFrom,
} from './loadgen-context.mjs';

/**
 * Clients → one daemon (on another instance for the Redis server): `commands` run-task commands
 * with ids, `window` unsettled per client. The daemon counts what reaches it (each id once) and,
 * on Arbor, confirms it (`command-ack`). A command settles when it reached the daemon (the raw
 * relay, which confirms nothing) or when its sender was told `delivered` (Arbor: the whole
 * confirmed path, the ack `accepted` on the way). Commands/s at the daemon, confirmed/s.
 */
export async function commands() {
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
}

/**
 * storm-mux: `users` users each watching `daemons-per-user` daemons, either one SDK connection per
 * daemon (`--style per-daemon`, as before multiplexing) or one multiplexed connection per user
 * watching them all. The orchestrator kills and restarts the gateway; counts the handshakes the
 * storm took and the time until every watch is subscribed again.
 */
export async function stormMux() {
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
  const refusals = {};
  for (let index = 0; index < users; index += 1) {
    const getToken = () => mintToken({ sub: `user-${index}`, role: 'client', daemons: daemonIds });
    // Each user at its own address (X-Forwarded-For), all through this machine's one, as through an ingress.
    const WebSocket = webSocketFrom(forwardedFor(index));
    const clients = multiplexed
      ? [new GatewayClient({ url, WebSocket, network: null, getToken })]
      : daemonIds.map((daemonId) => new GatewayClient({ url, daemonId, WebSocket, network: null, getToken }));
    for (const client of clients) countRefusals(client, refusals);
    const watches = multiplexed ? daemonIds.map((daemonId) => clients[0].watch(daemonId)) : [];
    const link = { clients, watches, dropped: false };
    const isBack = () => clients.every((client) => client.state === ConnectionState.Open) && watches.every((watch) => watch.state === 'subscribed');
    link.isBack = isBack;
    const check = () => {
      if (link.dropped && isBack()) {
        link.dropped = false;
        backAt.push(Date.now());
      }
    };
    for (const client of clients) {
      client.on('state', (state) => {
        if (state === ConnectionState.Reconnecting && !link.dropped && link.armed) {
          link.dropped = true;
          firstDrop ||= Date.now();
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
  const restarted = await restartedAt();
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
    refused: refusedIn(refusals),
    refusals,
    secondsUntilAllBack: backAt.length ? (Math.max(...backAt) - firstDrop) / 1000 : NaN,
    secondsAfterRestart: backAt.length ? (Math.max(...backAt) - restarted) / 1000 : NaN,
  };
}
