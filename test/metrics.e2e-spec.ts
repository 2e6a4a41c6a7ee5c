import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Role } from '@arbor/gateway-client/protocol';
import { GatewayHarness } from './support/gateway-harness.js';
import { freePort } from './support/ports.js';

type Sample = { name: string; labels: Record<string, string>; value: number };

function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? ([-+\d.eE]+|NaN|[+-]Inf)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').match(/\w+="[^"]*"/g) ?? []) {
      const [key, value] = pair.split('=');
      labels[key] = value.slice(1, -1);
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples
    .filter((sample) => sample.name === name && Object.entries(labels).every(([key, expected]) => sample.labels[key] === expected))
    .reduce((sum, sample) => sum + sample.value, 0);

describe('GET /metrics', () => {
  it("passes promtool check metrics (Debian's prometheus package; .ci/run installs it)", async () => {
    const gateway = await GatewayHarness.start();
    try {
      const text = await (await fetch(`${gateway.httpUrl}/metrics`)).text();
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      if (check.error) throw new Error(`promtool is needed (apt-get install -y prometheus): ${check.error.message}`);
      expect({ status: check.status, problems: `${check.stdout}${check.stderr}`.trim() }).toEqual({ status: 0, problems: '' });
    } finally {
      await gateway.stop();
    }
  });

  it("names every arbor_* family a live /metrics exposes in docs/operations.md's metrics table; the dashboard's job variable reads a family an idle instance has", async () => {
    const gateway = await GatewayHarness.start();
    try {
      const text = await (await fetch(`${gateway.httpUrl}/metrics`)).text();
      const families = [...text.matchAll(/^# TYPE (arbor_\w+) /gm)].map((match) => match[1]);
      expect(families.length).toBeGreaterThan(30);
      const operations = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');
      const table = operations.slice(operations.indexOf('| metric |'), operations.indexOf('\n\n', operations.indexOf('| metric |')));
      expect(families.filter((family) => !table.includes(`\`${family}\``))).toEqual([]);
      // An idle instance (no connection yet) still has a sample of the variable's family, so the dashboard lists it.
      const dashboard = readFileSync(new URL('../deploy/grafana/arbor-gateway.json', import.meta.url), 'utf8');
      const variable = /label_values\((arbor_\w+), job\)/.exec(dashboard)![1];
      expect(text.split('\n').some((line) => line.startsWith(`${variable} `) || line.startsWith(`${variable}{`))).toBe(true);
    } finally {
      await gateway.stop();
    }
  });

  it('exposes every family, with bounded labels, and counts what a scripted session did', async () => {
    const gateway = await GatewayHarness.start();
    try {
      const daemon = await gateway.daemon('daemon-secret-id');
      const clients = [await gateway.client('daemon-secret-id', 'user-secret-1'), await gateway.client('daemon-secret-id', 'user-secret-2')];
      for (let i = 0; i < 25; i += 1) daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path: `p${i}`, event: 'add' } });
      for (const client of clients) await client.collect('file-change', 25);
      await clients[0].request('ping');
      clients[0].send('{not json');
      await clients[0].next('error');
      const refused = await gateway.open(gateway.wsUrl({ daemonId: 'daemon-secret-id', token: 'garbage' }));
      await refused.waitClosed();
      const forbidden = await gateway.open(
        gateway.wsUrl({ daemonId: 'other', token: gateway.token(Role.Client, 'user-3', { daemons: ['daemon-secret-id'] }) }),
      );
      await forbidden.waitClosed();
      const position = clients[1].received.filter((frame) => frame.type === 'file-change')[10];
      clients[1].terminate();
      const resumed = await gateway.open(
        gateway.wsUrl({
          daemonId: 'daemon-secret-id',
          since: `${position.epoch}:${position.seq}`,
          token: gateway.token(Role.Client, 'user-secret-2', { daemons: ['daemon-secret-id'] }),
        }),
      );
      await resumed.collect('file-change', 14);
      await new Promise((resolve) => setTimeout(resolve, 50));

      const response = await fetch(`${gateway.httpUrl}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const text = await response.text();
      const samples = parse(text);
      // No unbounded values in labels.
      expect(text).not.toMatch(/daemon-secret-id|user-secret/);
      for (const family of [
        'arbor_connections',
        'arbor_connects_total',
        'arbor_disconnects_total',
        'arbor_auth_failures_total',
        'arbor_messages_in_total',
        'arbor_messages_out_total',
        'arbor_received_bytes_total',
        'arbor_sent_bytes_total',
        'arbor_fanout_duration_seconds_bucket',
        'arbor_replay_total',
        'arbor_slow_consumer_closes_total',
        'arbor_rate_limited_messages_total',
        'arbor_daemons',
        'arbor_draining',
        'arbor_drain_remaining_connections',
        'arbor_handshake_refusals_total',
        'arbor_token_refreshes_total',
        'arbor_authorization_closes_total',
        'nodejs_eventloop_lag_seconds',
        'process_cpu_user_seconds_total',
        'nodejs_heap_size_used_bytes',
      ]) {
        expect(samples.some((sample) => sample.name === family)).toBe(true);
      }
      expect(value(samples, 'arbor_connections', { role: 'daemon' })).toBe(1);
      expect(value(samples, 'arbor_connections', { role: 'client' })).toBe(2);
      expect(value(samples, 'arbor_connects_total', { role: 'client' })).toBe(3);
      expect(value(samples, 'arbor_disconnects_total', { role: 'client' })).toBe(1);
      expect(value(samples, 'arbor_auth_failures_total', { reason: 'unauthorized' })).toBe(1);
      expect(value(samples, 'arbor_auth_failures_total', { reason: 'forbidden' })).toBe(1);
      expect(value(samples, 'arbor_messages_in_total', { type: 'file-change' })).toBe(25);
      expect(value(samples, 'arbor_messages_in_total', { type: 'ping' })).toBe(1);
      expect(value(samples, 'arbor_messages_in_total', { type: 'invalid' })).toBe(1);
      // 25 events to 2 clients, then 14 replayed to the resumed one.
      expect(value(samples, 'arbor_messages_out_total', { type: 'file-change' })).toBe(25 * 2 + 14);
      expect(value(samples, 'arbor_messages_out_total', { type: 'pong' })).toBe(1);
      expect(value(samples, 'arbor_fanout_duration_seconds_count')).toBe(25);
      expect(value(samples, 'arbor_replay_total', { outcome: 'recovered' })).toBe(1);
      expect(value(samples, 'arbor_daemons', { status: 'online' })).toBe(1);
      expect(value(samples, 'arbor_received_bytes_total')).toBeGreaterThan(25 * 60);
      expect(value(samples, 'arbor_sent_bytes_total')).toBeGreaterThan(64 * 60);
      expect(value(samples, 'arbor_draining')).toBe(0);
    } finally {
      await gateway.stop();
    }
  });

  it('moves to METRICS_PORT when that is set', async () => {
    const port = await freePort();
    const gateway = await GatewayHarness.start({ METRICS_PORT: String(port) });
    try {
      expect((await fetch(`${gateway.httpUrl}/metrics`)).status).toBe(404);
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('arbor_connections');
    } finally {
      await gateway.stop();
    }
  });
});
