// `npm run bench`: our gateway (A) side by side with a raw `ws` relay (B, the baseline) and a
// Socket.IO relay (C), interleaved in one run; ratios are to B measured in the same run.
// Every server runs in its own process; the load generator is another process.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BENCH_SECRET, cpuSeconds, openFilesLimit, peakRssBytes, rssBytes, sleep, waitForPort } from './lib/common.mjs';
import { freePort } from './lib/ports.mjs';
import { startRedisCluster } from './lib/redis-cluster.mjs';
import { describeRun, format, printSummary, STORM_STYLES, summarizeRuns, targetsOf } from './lib/report.mjs';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const require = createRequire(import.meta.url);

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    only: { type: 'string' },
    servers: { type: 'string', default: 'arbor,raw,socketio,arbor-redis,arbor-cluster,arbor-traced' },
    'fanout-clients': { type: 'string' },
    'fanout-events': { type: 'string' },
    'ingress-events': { type: 'string' },
    'latency-clients': { type: 'string' },
    'latency-rate': { type: 'string' },
    'latency-seconds': { type: 'string' },
    'idle-connections': { type: 'string' },
    'connect-connections': { type: 'string' },
    'capacity-connections': { type: 'string' },
    'capacity-seconds': { type: 'string' },
    'storm-clients': { type: 'string' },
    'storm-users': { type: 'string' },
    // The storms run with the deployment's settings (every limit at its default); `raised` lifts them as for the other scenarios.
    'storm-limits': { type: 'string', default: 'shipped' },
    commands: { type: 'string' },
    // `no`: the gateway under test predates confirmed commands (to measure the path before them with this harness).
    'commands-confirm': { type: 'string', default: 'auto' },
    out: { type: 'string', default: here('./results/') },
    profile: { type: 'boolean', default: false },
  },
});

const QUICK = values.quick;
const size = (name, full, quick) => Number(values[name] ?? (QUICK ? quick : full));
// A server process can hold at most RLIMIT_NOFILE sockets; keep a margin for everything else.
const fdLimit = openFilesLimit();
const params = {
  rounds: Number(values.rounds ?? (QUICK ? 1 : 3)),
  fanout: { clients: size('fanout-clients', 100, 20), events: size('fanout-events', 20_000, 500) },
  ingress: { events: size('ingress-events', 100_000, 5_000) },
  latency: { clients: size('latency-clients', 100, 10), rate: size('latency-rate', 500, 200), seconds: size('latency-seconds', 10, 2) },
  idle: { connections: size('idle-connections', 10_000, 300) },
  connect: { connections: size('connect-connections', 3_000, 300) },
  capacity: { connections: Math.min(size('capacity-connections', 50_000, 500), fdLimit - 500), seconds: size('capacity-seconds', 20, 2) },
  storm: { clients: size('storm-clients', 10_000, 300) },
  commands: { clients: 10, events: size('commands', 20_000, 1_000), confirm: values['commands-confirm'] },
  // 2 000 users × 5 daemons: one connection per daemon (10 000) against one multiplexed connection per user.
  stormMux: { users: size('storm-users', 2_000, 60), daemonsPerUser: 5 },
  stormLimits: values['storm-limits'],
};
const SERVERS = values.servers.split(',');
/** (D) and (E) span instances: scenarios about one process's connections do not apply to them. */
const APPLIES = {
  'arbor-redis': new Set(['fanout', 'ingress', 'latency', 'commands']),
  'arbor-cluster': new Set(['fanout', 'ingress']),
  'arbor-redis-spread': new Set(['fanout', 'ingress']),
  'arbor-cluster-pair': new Set(['fanout', 'ingress']),
  'arbor-traced': new Set(['fanout', 'ingress', 'latency']),
};
/** (E): daemons spread over the Cluster's shards and over the instances. */
const CLUSTER_DAEMONS = 30;
/** The Socket.IO relay forwards nothing from clients: it has no command path to compare. */
const NOT_FOR = { commands: new Set(['socketio']) };
const applies = (server, scenario) => (!APPLIES[server] || APPLIES[server].has(scenario)) && !NOT_FOR[scenario]?.has(server);
const INTERLEAVED = ['fanout', 'ingress', 'latency', 'idle', 'connect', 'commands'];
const ARBOR_ONLY = ['capacity', 'storm', 'storm-mux'];
/** storm-mux runs once per connection style; each is reported as a scenario of its own. */
const selected = new Set(values.only ? values.only.split(',') : [...INTERLEAVED, ...ARBOR_ONLY]);

// The load generator is one address, one user, and floods on purpose: the relays we compare with
// have no limits, so ours are raised out of the way (their cost per frame is still paid).
const BENCH_LIMITS = {
  ALLOWED_ORIGINS: '*',
  MAX_CONNECTIONS: '1000000',
  MAX_CONNECTIONS_PER_USER: '1000000',
  HANDSHAKE_RATE_PER_IP: '1000000',
  HANDSHAKE_BURST_PER_IP: '1000000',
  MAX_INCOMPLETE_REQUESTS: '1000000',
  MAX_INCOMPLETE_REQUESTS_PER_IP: '1000000',
  CLIENT_MESSAGE_RATE: '10000000',
  CLIENT_MESSAGE_BURST: '10000000',
  DAEMON_MESSAGE_RATE: '10000000',
  DAEMON_MESSAGE_BURST: '10000000',
};

// The Node flags `npm start` and the image use (package.json config.nodeFlags): we measure what we ship.
const NODE_FLAGS = JSON.parse(readFileSync(here('../package.json'), 'utf8'))
  .config.nodeFlags.split(' ')
  .filter(Boolean);

/**
 * The storms' server: the Kubernetes deployment's environment (deploy/kubernetes/deployment.yaml),
 * every limit at its default; clients each carry their own address in X-Forwarded-For.
 */
const SHIPPED_STORM_ENV = { ALLOWED_ORIGINS: '*', CLIENT_IP_HEADER: 'x-forwarded-for' };
const STORMS = new Set(['storm', 'storm-mux']);

const SERVER_COMMANDS = {
  arbor: (port, extraEnv = {}, limits = BENCH_LIMITS) => ({
    // --profile: a CPU profile of our gateway per run, written when it exits on SIGINT.
    args: [...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.out}profiles`] : []), ...NODE_FLAGS, here('../dist/main.js')],
    env: { NODE_ENV: 'production', JWT_SECRET: BENCH_SECRET, WEBSOCKET_PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...limits, ...extraEnv },
  }),
  raw: (port) => ({ args: [here('./servers/raw-ws-relay.mjs')], env: { PORT: String(port) } }),
  // (F) tracing on: every span exported over OTLP/HTTP to a local collector stub that accepts and drops them.
  'arbor-traced': (port, extraEnv = {}) => SERVER_COMMANDS.arbor(port, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, ...extraEnv }),
  socketio: (port) => ({ args: [here('./servers/socketio-relay.mjs')], env: { PORT: String(port) } }),
};

/** The OTLP collector stub for (F): answers every export at once, counts what it got. */
const collector = await (async () => {
  const stats = { requests: 0, bytes: 0 };
  const server = createServer((request, response) => {
    request.on('data', (chunk) => (stats.bytes += chunk.length));
    request.on('end', () => {
      stats.requests += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  return { url: `http://127.0.0.1:${server.address().port}`, stats };
})();

// (D): two instances of our gateway sharing Redis; the daemon connects to the first, clients to the second.
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_PREFIX = `arbor-bench:${Date.now().toString(36)}:`;

// (E): three instances on a three-shard Redis Cluster (started once for the run); daemon k on
// instance k mod 3, its clients on the next instance.
let redisCluster;

async function startServer(kind, port, extraEnv) {
  // 'arbor-redis-spread' (not run by default): (E)'s shape on one Redis, to tell the Cluster's cost from the shape's.
  if (kind === 'arbor-cluster' || kind === 'arbor-redis-spread') {
    if (kind === 'arbor-cluster') redisCluster ??= await startRedisCluster();
    const env = { REDIS_URL: kind === 'arbor-cluster' ? redisCluster.url : REDIS_URL, REDIS_KEY_PREFIX: REDIS_PREFIX, ...extraEnv };
    const ports = [port, await freePort(), await freePort()];
    const children = await Promise.all(ports.map((instancePort) => startProcess(SERVER_COMMANDS.arbor(instancePort, env), instancePort)));
    return { children, clientPort: ports[1], ports };
  }
  if (kind === 'arbor-shipped') {
    const child = await startProcess(SERVER_COMMANDS.arbor(port, { ...SHIPPED_STORM_ENV, ...extraEnv }, {}), port);
    return { children: [child], clientPort: port };
  }
  if (kind !== 'arbor-redis' && kind !== 'arbor-cluster-pair') {
    const child = await startProcess(SERVER_COMMANDS[kind](port, extraEnv), port);
    return { children: [child], clientPort: port };
  }
  // 'arbor-cluster-pair' (not run by default): (D)'s shape on the Cluster, to tell the Cluster's cost from the shape's.
  if (kind === 'arbor-cluster-pair') redisCluster ??= await startRedisCluster();
  const env = { REDIS_URL: kind === 'arbor-cluster-pair' ? redisCluster.url : REDIS_URL, REDIS_KEY_PREFIX: REDIS_PREFIX, ...extraEnv };
  const clientPort = await freePort();
  const children = await Promise.all([startProcess(SERVER_COMMANDS.arbor(port, env), port), startProcess(SERVER_COMMANDS.arbor(clientPort, env), clientPort)]);
  return { children, clientPort };
}

const sum = (server, measure) => server.children.reduce((total, child) => total + measure(child.pid), 0);

async function startProcess({ args, env }, port) {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port);
  await sleep(300);
  return child;
}

async function stopServer(server, signal = values.profile ? 'SIGINT' : 'SIGKILL') {
  await Promise.all(
    server.children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    }),
  );
}

/** Runs one scenario against one fresh server process. */
async function runOnce(kind, scenario, scenarioParams, loadgenCount = 1) {
  const port = await freePort();
  const serverEnv = scenario === 'capacity' ? { PING_INTERVAL_MS: '5000' } : {};
  const serverKind = kind === 'arbor' && STORMS.has(scenario) && values['storm-limits'] === 'shipped' ? 'arbor-shipped' : kind;
  let server = await startServer(serverKind, port, serverEnv);
  const measured = { rssBefore: sum(server, rssBytes) };
  const protocol = kind.startsWith('arbor') ? 'arbor' : kind;
  const args = [here('./loadgen.mjs'), '--protocol', protocol, '--port', String(port), '--client-port', String(server.clientPort), '--scenario', scenario];
  if (server.ports && scenario === 'fanout') args.push('--ports', server.ports.join(','), '--daemons', String(CLUSTER_DAEMONS));
  for (const [key, value] of Object.entries(scenarioParams)) args.push(`--${key}`, String(value));

  const runLoadgen = (extra) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [...args, ...extra], { stdio: ['pipe', 'pipe', 'inherit'] });
      const lines = createInterface({ input: child.stdout });
      let result;
      lines.on('line', (line) => {
        if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7));
        else child.emit('marker', line);
      });
      child.on('exit', () => resolve(result ?? { error: 'load generator exited without a result', lost: -1 }));
      resolve.child = child;
      runLoadgen.children.push(child);
    });
  runLoadgen.children = [];

  const loadgens = [];
  const perLoadgen = Math.ceil((scenarioParams.connections ?? 0) / loadgenCount);
  for (let i = 0; i < loadgenCount; i += 1) {
    const extra = loadgenCount > 1 ? ['--connections', String(perLoadgen), '--source-base', String(2 + i * 20)] : [];
    loadgens.push(runLoadgen(extra));
  }
  const children = runLoadgen.children;
  const markers = (name) => Promise.all(children.map((child) => new Promise((resolve) => child.on('marker', (line) => line === name && resolve()))));
  const release = (line = 'go') => children.forEach((child) => child.stdin.write(`${line}\n`));

  if (scenario === 'ingress') {
    await markers('READY');
    measured.cpuStart = sum(server, cpuSeconds);
    release();
    await markers('MEASURED');
    measured.cpuEnd = sum(server, cpuSeconds);
    release();
  } else if (scenario === 'idle' || scenario === 'capacity') {
    await markers('READY');
    await sleep(scenario === 'capacity' ? scenarioParams.seconds * 1000 : 1500);
    measured.rssAfter = sum(server, rssBytes);
    release();
  } else if (scenario === 'storm' || scenario === 'storm-mux') {
    await markers('READY');
    await stopServer(server, 'SIGKILL');
    server = await startServer(serverKind, port, serverEnv);
    // When the new instance answered: the storm's clients are timed from it too.
    release(`go ${Date.now()}`);
  }
  const results = await Promise.all(loadgens);
  measured.peakRss = sum(server, peakRssBytes);
  await stopServer(server);
  return combine(results, measured, scenarioParams);
}

function combine(results, measured, scenarioParams) {
  const result =
    results.length === 1
      ? { ...results[0] }
      : results.reduce((sum, part) => {
          for (const [key, value] of Object.entries(part)) sum[key] = typeof value === 'number' ? (sum[key] ?? 0) + value : value;
          return sum;
        }, {});
  result.serverRssBefore = measured.rssBefore;
  result.serverPeakRss = measured.peakRss;
  if (measured.rssAfter !== undefined) {
    result.serverRssAfter = measured.rssAfter;
    const connections = result.connected ?? scenarioParams.connections;
    result.bytesPerConnection = (measured.rssAfter - measured.rssBefore) / connections;
  }
  if (measured.cpuStart !== undefined) result.cpuMicrosPerMessage = ((measured.cpuEnd - measured.cpuStart) / result.delivered) * 1e6;
  return result;
}

// ---- the run ------------------------------------------------------------------------------

const runs = [];
const startedAt = new Date();
console.log(`Arbor Gateway benchmark ${QUICK ? '(quick)' : ''}: ${params.rounds} round(s), servers ${SERVERS.join(', ')}`);
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, open-files limit ${fdLimit}`,
);
for (let round = 0; round < params.rounds; round += 1) {
  for (const scenario of INTERLEAVED.filter((name) => selected.has(name))) {
    // Rotate the order each round so no server always runs first (or last) on a warm machine.
    const order = SERVERS.map((_, i) => SERVERS[(i + round) % SERVERS.length]).filter((server) => applies(server, scenario));
    for (const server of order) {
      const result = await runOnce(server, scenario, params[scenario]);
      runs.push({ round, scenario, server, result });
      console.log(`  round ${round + 1} ${scenario.padEnd(8)} ${server.padEnd(8)} ${describeRun(scenario, result)}`);
    }
  }
}
if (SERVERS.includes('arbor')) {
  for (const scenario of ARBOR_ONLY.filter((name) => selected.has(name))) {
    if (scenario === 'storm-mux') {
      for (const style of STORM_STYLES) {
        const { users, daemonsPerUser } = params.stormMux;
        const result = await runOnce('arbor', scenario, { users, 'daemons-per-user': daemonsPerUser, style });
        runs.push({ round: 0, scenario: `storm-${style}`, server: 'arbor', result });
        console.log(`  ${`storm ${style}`.padEnd(16)} arbor    ${describeRun(`storm-${style}`, result)}`);
      }
      continue;
    }
    const loadgenCount = scenario === 'capacity' ? Math.max(1, Math.ceil(params.capacity.connections / 9000)) : 1;
    const scenarioParams = scenario === 'storm' ? { connections: params.storm.clients } : params[scenario];
    const result = await runOnce('arbor', scenario, scenarioParams, loadgenCount);
    runs.push({ round: 0, scenario, server: 'arbor', result });
    console.log(`  ${scenario.padEnd(16)} arbor    ${describeRun(scenario, result)}`);
  }
}

// Redis memory per daemon, measured on the Cluster after (E)'s fan-out: every key of its daemons.
let redisMemory;
if (redisCluster) {
  const { bytes, keys, streamEntries } = await redisCluster.memoryUnder(`${REDIS_PREFIX}{d:bench-daemon-`);
  const daemons = runs.some((run) => run.server === 'arbor-cluster' && run.scenario === 'fanout') ? CLUSTER_DAEMONS : 0;
  if (daemons > 0) {
    redisMemory = { daemons, keys, bytes, bytesPerDaemon: bytes / daemons, streamEntries, bytesPerStreamEntry: bytes / Math.max(1, streamEntries) };
    console.log(
      `  redis memory      ${daemons} daemons: ${format(redisMemory.bytesPerDaemon)} bytes each with ${format(streamEntries / daemons)} events retained (${format(redisMemory.bytesPerStreamEntry)} bytes per retained event, keys included)`,
    );
  }
  await redisCluster.stop();
}

// ---- summary --------------------------------------------------------------------------------

const summary = summarizeRuns(runs, SERVERS);
const targets = targetsOf(summary, params, CLUSTER_DAEMONS);
const lossy = runs.filter((run) => run.result.error || run.result.lost !== 0 || run.result.outOfOrder > 0);

printSummary(summary, SERVERS, targets, QUICK);
if (SERVERS.includes('arbor-traced'))
  console.log(`\n(F) exported ${collector.stats.requests} OTLP requests, ${format(collector.stats.bytes)} bytes, to the collector stub`);
const completeness = lossy.length === 0 ? 'every scenario complete, zero loss' : `${lossy.length} run(s) lost or reordered deliveries or failed`;
console.log(`\n${completeness}`);

mkdirSync(values.out, { recursive: true });
const report = {
  startedAt: startedAt.toISOString(),
  quick: QUICK,
  machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version, openFilesLimit: fdLimit },
  versions: {
    ws: require('ws/package.json').version,
    'socket.io': require('socket.io/package.json').version,
    '@nestjs/core': require('@nestjs/core/package.json').version,
  },
  params,
  runs,
  summary,
  targets: targets.map(([label, measuredValue, check]) => ({
    label,
    value: measuredValue ?? null,
    met: measuredValue === undefined ? null : check(measuredValue),
  })),
  lossy: lossy.length,
  redisMemory,
  /** What (F) exported: OTLP requests and bytes the collector stub received. */
  traceExport: collector.stats,
};
const file = `${values.out}bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(file, JSON.stringify(report, null, 2));
writeFileSync(`${values.out}latest.json`, JSON.stringify(report, null, 2));
console.log(`results: ${file}`);
// Completeness and zero loss decide the exit code; timing never does.
process.exit(lossy.length === 0 ? 0 : 1);
