// The benchmark's report: what each scenario measures, a run's one-line description, medians and
// ratios to the raw relay over the rounds, and the targets they are judged by.
import { median } from './common.mjs';

export const STORM_STYLES = ['per-daemon', 'multiplexed'];

/** Per scenario: [result key, label, which way is better]. */
export const METRICS = {
  fanout: [
    ['deliveriesPerSecond', 'deliveries/s', 'higher'],
    ['serverPeakRss', 'peak RSS bytes', 'lower'],
  ],
  ingress: [
    ['messagesPerSecond', 'messages/s', 'higher'],
    ['cpuMicrosPerMessage', 'server CPU µs/message', 'lower'],
  ],
  latency: [
    ['p50', 'p50 ms', 'lower'],
    ['p99', 'p99 ms', 'lower'],
    ['p999', 'p99.9 ms', 'lower'],
    ['max', 'max ms', 'lower'],
  ],
  idle: [['bytesPerConnection', 'bytes/idle connection', 'lower']],
  connect: [['handshakesPerSecond', 'handshakes/s', 'higher']],
  commands: [
    ['commandsPerSecond', 'commands/s at the daemon', 'higher'],
    ['confirmedPerSecond', 'confirmed/s (sender told delivered)', 'higher'],
  ],
  capacity: [
    ['connected', 'connections held', 'higher'],
    ['serverRssAfter', 'server RSS bytes', 'lower'],
  ],
  storm: [
    ['secondsUntilAllBack', 's until all back', 'lower'],
    ['secondsAfterRestart', 's after the restart', 'lower'],
    ['refused', 'refused (503/429)', 'lower'],
    ['peakHandshakesPerSecond', 'peak handshakes/s', 'info'],
  ],
  ...Object.fromEntries(
    STORM_STYLES.map((style) => [
      `storm-${style}`,
      [
        ['handshakes', 'handshakes', 'lower'],
        ['secondsUntilAllBack', 's until all watched again', 'lower'],
        ['secondsAfterRestart', 's after the restart', 'lower'],
        ['refused', 'refused (503/429)', 'lower'],
      ],
    ]),
  ),
};

/** One run in one line. */
export function describeRun(scenario, result) {
  if (result.error) return `ERROR ${result.error}`;
  const parts = METRICS[scenario].map(([key, label]) => `${label} ${format(result[key])}`);
  parts.push(`lost ${result.lost}`);
  return parts.join(', ');
}

export function format(value) {
  if (typeof value !== 'number' || Number.isNaN(value)) return String(value);
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(value < 10 ? 2 : 0);
}

/** Medians, ranges and ratios to the raw relay per scenario, metric and server. */
export function summarizeRuns(runs, servers) {
  const summary = {};
  for (const scenario of Object.keys(METRICS)) {
    for (const [key, label, better] of METRICS[scenario]) {
      for (const server of servers) {
        const samples = runs
          .filter((run) => run.scenario === scenario && run.server === server && !run.result.error)
          .map((run) => run.result[key])
          .filter((value) => typeof value === 'number');
        if (samples.length === 0) continue;
        (summary[scenario] ??= {})[key] ??= { label, better, servers: {} };
        summary[scenario][key].servers[server] = { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples };
      }
    }
  }
  for (const metrics of Object.values(summary)) {
    for (const metric of Object.values(metrics)) {
      const baseline = metric.servers.raw?.median;
      for (const stats of Object.values(metric.servers)) if (baseline) stats.ratio = stats.median / baseline;
    }
  }
  return summary;
}

/** Each target: [label, measured value or undefined, check]. */
export function targetsOf(summary, params, clusterDaemons) {
  const ratio = (scenario, key, server = 'arbor') => summary[scenario]?.[key]?.servers[server]?.ratio;
  const ratioBetween = (scenario, key, server, reference) => {
    const servers = summary[scenario]?.[key]?.servers;
    return servers?.[server] && servers?.[reference] ? servers[server].median / servers[reference].median : undefined;
  };
  const value = (scenario, key) => summary[scenario]?.[key]?.servers.arbor?.median;
  const targets = [
    ['fan-out deliveries/s ≥ 3.0 × raw ws (coalesced writes)', ratio('fanout', 'deliveriesPerSecond'), (r) => r >= 3.0],
    ['fan-out peak server RSS ≤ 1.5 × raw ws', ratio('fanout', 'serverPeakRss'), (r) => r <= 1.5],
    ['ingress messages/s ≥ 0.80 × raw ws', ratio('ingress', 'messagesPerSecond'), (r) => r >= 0.8],
    ['ingress with tracing on (F) ≥ 0.70 × raw ws', ratio('ingress', 'messagesPerSecond', 'arbor-traced'), (r) => r >= 0.7],
    ['latency p99 ≤ 1.30 × raw ws', ratio('latency', 'p99'), (r) => r <= 1.3],
    ['memory per idle connection ≤ 1.40 × raw ws', ratio('idle', 'bytesPerConnection'), (r) => r <= 1.4],
    ['authenticated handshakes/s ≥ 0.70 × raw ws connects', ratio('connect', 'handshakesPerSecond'), (r) => r >= 0.7],
    [`connection capacity: ${params.capacity.connections} held, no errors`, value('capacity', 'connected'), (v) => v === params.capacity.connections],
    ['reconnect storm: all back within 30 s', value('storm', 'secondsUntilAllBack'), (v) => v <= 30],
    [
      `reconnect storm through one address, shipped limits (--storm-limits ${params.stormLimits}): ${params.storm.clients} clients back within 5 s of the restart`,
      value('storm', 'secondsAfterRestart'),
      (v) => v <= 5,
    ],
    ['reconnect storm through one address: zero refused (no 503, no 429)', value('storm', 'refused'), (v) => v === 0],
    ['multiplexed storm through one address: zero refused', value('storm-multiplexed', 'refused'), (v) => v === 0],
    ['multiplexed storm: every user watching again within 5 s of the restart', value('storm-multiplexed', 'secondsAfterRestart'), (v) => v <= 5],
    ['cross-instance fan-out (D) ≥ 0.70 × single instance (A)', ratioBetween('fanout', 'deliveriesPerSecond', 'arbor-redis', 'arbor'), (r) => r >= 0.7],
    [
      `cross-instance fan-out on a Cluster (E, ${clusterDaemons} daemons) ≥ 0.80 × one Redis (D)`,
      ratioBetween('fanout', 'deliveriesPerSecond', 'arbor-cluster', 'arbor-redis'),
      (r) => r >= 0.8,
    ],
    [
      "(D)'s shape on the Cluster (arbor-cluster-pair, only with --servers) ≥ 0.80 × one Redis (D)",
      ratioBetween('fanout', 'deliveriesPerSecond', 'arbor-cluster-pair', 'arbor-redis'),
      (r) => r >= 0.8,
    ],
  ];
  const stormHandshakes = ratioBetweenScenarios('storm-multiplexed', 'storm-per-daemon', 'handshakes');
  const stormSeconds = ratioBetweenScenarios('storm-multiplexed', 'storm-per-daemon', 'secondsUntilAllBack');
  targets.push([
    `reconnect storm, ${params.stormMux.users} users × ${params.stormMux.daemonsPerUser} daemons: multiplexed handshakes ≤ 0.25 × per-daemon`,
    stormHandshakes,
    (r) => r <= 0.25,
  ]);
  targets.push(['reconnect storm: multiplexed all watched again in ≤ 1.0 × the per-daemon time', stormSeconds, (r) => r <= 1.0]);
  function ratioBetweenScenarios(scenario, reference, key) {
    const a = summary[scenario]?.[key]?.servers.arbor?.median;
    const b = summary[reference]?.[key]?.servers.arbor?.median;
    return a !== undefined && b ? a / b : undefined;
  }
  return targets;
}

export function printSummary(summary, servers, targets, quick) {
  console.log('\nmedians (min–max), ratio to raw ws');
  for (const [scenario, metrics] of Object.entries(summary)) {
    for (const metric of Object.values(metrics)) {
      const cells = servers
        .filter((server) => metric.servers[server])
        .map((server) => {
          const stats = metric.servers[server];
          return `${server} ${format(stats.median)} (${format(stats.min)}–${format(stats.max)})${stats.ratio !== undefined ? ` ×${stats.ratio.toFixed(2)}` : ''}`;
        });
      console.log(`  ${scenario.padEnd(8)} ${metric.label.padEnd(24)} ${cells.join('   ')}`);
    }
  }
  console.log(quick ? '\ntargets (quick sizes: indicative only, judge a full run)' : '\ntargets');
  for (const [label, measuredValue, check] of targets) {
    const verdict = measuredValue === undefined ? 'not run' : check(measuredValue) ? 'met' : 'MISSED';
    console.log(`  ${verdict.padEnd(8)} ${label}: ${measuredValue === undefined ? '-' : format(measuredValue)}`);
  }
}
