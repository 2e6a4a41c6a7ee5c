import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Role } from '@arbor/gateway-client/protocol';
import { parse } from 'yaml';
import { GatewayProcess } from './support/gateway-process.js';
import { deletePrefix, SHARED_REDIS_URL, uniquePrefix } from './support/redis.js';
import { TestPeer } from './support/test-peer.js';
import { signToken } from './support/tokens.js';
import { WEBHOOK_TEST_SECRET } from './support/webhook-receiver.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const SECRET = 'alerts-test-secret-at-least-32-characters';
const ALERTS = [
  'ArborGatewayNotReady',
  'ArborNoDaemonsOnline',
  'ArborResyncRatioHigh',
  'ArborSlowConsumerCuts',
  'ArborCommandsDaemonOffline',
  'ArborHandshakeRefusals',
  'ArborRedisDown',
  'ArborEventLoopLag',
  'ArborDrainTooLong',
];

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd: root, encoding: 'utf8' });
  if (result.error) throw new Error(`promtool is needed (apt-get install -y prometheus; .ci/run does): ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The metric names a PromQL expression reads. */
const metricsIn = (expr: string) => [...expr.matchAll(/\b((?:arbor|nodejs|process)_[a-z0-9_]+)\b/g)].map((match) => match[1]);

describe('alerts and dashboard', () => {
  const rules = parse(read('deploy/prometheus/rules.yaml')) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string; annotations: Record<string, string> }> }>;
  };
  const alertRules = rules.groups.flatMap((group) => group.rules);

  it('the rules pass promtool check rules, and each alert fires and stays silent in promtool test rules', () => {
    const check = promtool('check', 'rules', 'deploy/prometheus/rules.yaml');
    expect(check.output).toContain('SUCCESS: 9 rules found');
    expect(check.status).toBe(0);
    const test = promtool('test', 'rules', 'deploy/prometheus/rules.test.yaml');
    expect(test.output).toContain('SUCCESS');
    expect(test.status).toBe(0);
    // Every alert has a test that makes it fire.
    const tests = parse(read('deploy/prometheus/rules.test.yaml')) as {
      tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const firing = new Set(tests.tests.flatMap((test) => test.alert_rule_test.filter((rule) => rule.exp_alerts.length > 0).map((rule) => rule.alertname)));
    expect([...firing].sort()).toEqual([...ALERTS].sort());
  });

  it('names the documented alerts, each with a runbook section in docs/operations.md', () => {
    expect(alertRules.map((rule) => rule.alert)).toEqual(ALERTS);
    const operations = read('docs/operations.md');
    for (const rule of alertRules) {
      expect(operations).toContain(`### ${rule.alert}\n`);
      expect(rule.annotations.runbook).toBe(`docs/operations.md#${rule.alert.toLowerCase()}`);
    }
  });

  it('the PrometheusRule carries the same groups as rules.yaml', () => {
    const resource = parse(read('deploy/kubernetes/prometheusrule.yaml')) as { kind: string; spec: { groups: unknown } };
    expect(resource.kind).toBe('PrometheusRule');
    expect(resource.spec.groups).toEqual(rules.groups);
  });

  describe('against a live gateway', () => {
    const prefix = uniquePrefix();
    let gateway: GatewayProcess;
    let exposed: Set<string>;

    beforeAll(async () => {
      gateway = GatewayProcess.onRedis(SECRET, SHARED_REDIS_URL, prefix, { WEBHOOK_URL: 'http://127.0.0.1:9/hooks', WEBHOOK_SECRET: WEBHOOK_TEST_SECRET });
      const port = await gateway.ready();
      // One daemon, one client, one command: every family has samples.
      const daemon = new TestPeer(`ws://127.0.0.1:${port}/ws?token=${signToken(SECRET, { sub: 'd-metrics', role: Role.Daemon })}`);
      await daemon.next('connected');
      const client = new TestPeer(
        `ws://127.0.0.1:${port}/ws?daemonId=d-metrics&token=${signToken(SECRET, { sub: 'u', role: Role.Client, daemons: ['d-metrics'] })}`,
      );
      await client.next('connected');
      client.send({ type: 'run-task', id: 'c1', payload: { taskId: 't', workspaceId: 'w', command: 'x' } });
      await client.next('ack');
      daemon.send({ type: 'file-change', payload: { workspaceId: 'w', path: 'a', event: 'add' } });
      await client.next('file-change');
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      exposed = new Set(text.split('\n').flatMap((line) => (line.startsWith('#') || line === '' ? [] : [line.split(/[{ ]/)[0]])));
      daemon.terminate();
      client.terminate();
    });

    afterAll(async () => {
      gateway?.kill('SIGKILL');
      await deletePrefix(SHARED_REDIS_URL, prefix);
    });

    it('every metric an alert reads is exposed', () => {
      const used = [...new Set(alertRules.flatMap((rule) => metricsIn(rule.expr)))];
      expect(used.length).toBeGreaterThan(10);
      expect(used.filter((name) => !exposed.has(name))).toEqual([]);
    });

    it('every query of the Grafana dashboard resolves to exposed metrics', () => {
      const dashboard = JSON.parse(read('deploy/grafana/arbor-gateway.json')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
      const titles = dashboard.panels.map((panel) => panel.title);
      for (const title of [
        'Connections by role',
        'Daemons by status',
        'Messages in / out',
        'Fan-out latency',
        'Command latency',
        'Slow-consumer cuts',
        'Resumes: recovered vs resync',
        'Handshake refusals by reason',
        'Redis',
        'Drain progress',
        'Event-loop lag',
        'Resident memory',
      ]) {
        expect(titles).toContain(title);
      }
      const used = [...new Set(dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => metricsIn(target.expr))))];
      expect(used.length).toBeGreaterThan(15);
      expect(used.filter((name) => !exposed.has(name))).toEqual([]);
    });
  });
});
