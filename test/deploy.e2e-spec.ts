import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { parseAllDocuments } from 'yaml';
import { freePort } from './support/ports.js';
import { GatewayHarness } from './support/gateway-harness.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const manifests = (path: string) => parseAllDocuments(read(path)).map((document) => document.toJS());
const run = promisify(execFile);

describe('deploy files', () => {
  const [deployment] = manifests('deploy/kubernetes/deployment.yaml');
  const container = deployment.spec.template.spec.containers[0];
  const env = Object.fromEntries(container.env.map((entry: any) => [entry.name, entry]));

  it('kustomization lists the manifests, and every manifest parses', () => {
    const [kustomization] = manifests('deploy/kubernetes/kustomization.yaml');
    expect(kustomization.resources.sort()).toEqual(['deployment.yaml', 'hpa.yaml', 'pdb.yaml', 'service.yaml']);
    for (const file of kustomization.resources) expect(manifests(`deploy/kubernetes/${file}`)[0].kind).toEqual(expect.any(String));
  });

  it('probes point at paths and a port the app serves', async () => {
    const http = container.ports.find((port: any) => port.name === 'http');
    expect(String(http.containerPort)).toBe(env.WEBSOCKET_PORT.value);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    const gateway = await GatewayHarness.start();
    try {
      for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
        expect((await fetch(`${gateway.httpUrl}${probe.httpGet.path}`)).status).toBe(200);
      }
    } finally {
      await gateway.stop();
    }
  });

  it('the grace period covers the drain, secrets come from a Secret, the pod is locked down', () => {
    const drainSeconds = (Number(env.DRAIN_DELAY_MS.value) + Number(env.DRAIN_WINDOW_MS.value)) / 1000;
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(drainSeconds + 5);
    expect(container.lifecycle.preStop).toBeDefined();
    expect(env.JWT_SECRET.valueFrom.secretKeyRef.name).toBe('arbor-gateway');
    expect(env.REDIS_URL.valueFrom.secretKeyRef.name).toBe('arbor-gateway');
    expect(env.NODE_ENV.value).toBe('production');
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container.resources.requests).toEqual(expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }));
    expect(container.resources.limits).toEqual(expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }));
  });

  it('every manifest is valid against the Kubernetes and Prometheus Operator schemas', () => {
    const models: Record<string, new (data: any) => { validate(): void }> = {
      Deployment,
      Service,
      PodDisruptionBudget,
      HorizontalPodAutoscaler,
      ServiceMonitor,
      PrometheusRule,
      Secret,
    };
    const files = ['deployment.yaml', 'service.yaml', 'pdb.yaml', 'hpa.yaml', 'servicemonitor.yaml', 'prometheusrule.yaml', 'secret.example.yaml'];
    const documents = files.flatMap((file) => manifests(`deploy/kubernetes/${file}`));
    expect(documents.map((document) => document.kind).sort()).toEqual([
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'PrometheusRule',
      'Secret',
      'Service',
      'Service',
      'ServiceMonitor',
    ]);
    for (const document of documents) expect(() => new models[document.kind](document).validate()).not.toThrow();
    // The check is real: a wrong type is refused.
    expect(() => new Deployment({ ...deployment, spec: { ...deployment.spec, minReadySeconds: 'soon' } }).validate()).toThrow();
  });

  it('the HPA alone sets the replica count, the image has a fixed tag, and replicas spread over nodes and zones', () => {
    const [hpa] = manifests('deploy/kubernetes/hpa.yaml');
    const [kustomization] = manifests('deploy/kubernetes/kustomization.yaml');
    expect(deployment.spec.replicas).toBeUndefined();
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(3);
    const version = (JSON.parse(read('package.json')) as { version: string }).version;
    expect(container.image).toBe(`arbor-gateway:${version}`);
    expect(kustomization.images).toEqual([{ name: 'arbor-gateway', newName: 'arbor-gateway', newTag: version }]);
    const spread = deployment.spec.template.spec.topologySpreadConstraints;
    expect(spread.map((constraint: any) => constraint.topologyKey).sort()).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    for (const constraint of spread) expect(constraint.labelSelector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
  });

  it('/metrics is served only on METRICS_PORT, through a metrics Service of its own that the ServiceMonitor selects', async () => {
    const [monitor] = manifests('deploy/kubernetes/servicemonitor.yaml');
    const [publicService, metricsService] = manifests('deploy/kubernetes/service.yaml');
    const metricsPort = container.ports.find((port: any) => port.name === 'metrics');
    expect(String(metricsPort.containerPort)).toBe(env.METRICS_PORT.value);
    expect(publicService.spec.ports.map((port: any) => port.targetPort)).toEqual(['http']);
    expect(metricsService.spec.ports).toEqual([expect.objectContaining({ name: 'metrics', targetPort: 'metrics' })]);
    expect(metricsService.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(metricsService.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(publicService.metadata.labels).not.toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
    const port = await freePort();
    const gateway = await GatewayHarness.start({ METRICS_PORT: String(port) });
    try {
      expect((await fetch(`${gateway.httpUrl}/metrics`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    } finally {
      await gateway.stop();
    }
  });

  it('Service, PodDisruptionBudget and HPA select the Deployment', () => {
    const labels = deployment.spec.template.metadata.labels;
    const [service] = manifests('deploy/kubernetes/service.yaml');
    const [pdb] = manifests('deploy/kubernetes/pdb.yaml');
    const [hpa] = manifests('deploy/kubernetes/hpa.yaml');
    expect(service.spec.selector).toEqual(labels);
    expect(service.spec.sessionAffinity ?? 'None').toBe('None');
    expect(service.spec.ports[0].targetPort).toBe('http');
    expect(pdb.spec.selector.matchLabels).toEqual(labels);
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
  });

  const nodeFlags = (JSON.parse(read('package.json')) as { config: { nodeFlags: string } }).config.nodeFlags.split(' ');

  it('the Dockerfile runs node dist/main.js, with the Node flags npm start uses, as a non-root user from production dependencies only', () => {
    const dockerfile = read('Dockerfile');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    // A Node major CI runs the suites on (scripts/test-other-nodes.sh), and one upstream still supports.
    expect(runtime).toMatch(/^FROM node:22-/);
    expect(runtime).toContain('npm ci --omit=dev');
    // Both stages install without install scripts: node:22's npm does not read allowScripts, so it must be said.
    const installs = dockerfile.split('\n').filter((line) => /^RUN npm ci\b/.test(line));
    expect(installs).toHaveLength(2);
    for (const install of installs) expect(install).toContain('--ignore-scripts');
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toContain(`CMD ${JSON.stringify(['node', ...nodeFlags, 'dist/main.js']).replace(/,/g, ', ')}`);
    expect(read('package.json')).toContain('node $npm_package_config_nodeFlags dist/main.js');
    expect(runtime).not.toMatch(/COPY (--from=build \/app\/)?src/);
    const ignored = read('.dockerignore').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'test', '.git']));
    expect(ignored).not.toContain('src');
  });

  it("the Dockerfile's stages, played out step by step, build the image and its command serves", async () => {
    const stages = dockerStages(read('Dockerfile'));
    expect(stages.map((stage) => stage.name)).toEqual(['build', 'runtime']);
    const ignored = read('.dockerignore')
      .split('\n')
      .filter((line) => line.trim() && !line.startsWith('#'));
    const dirs = new Map<string, string>();
    try {
      for (const stage of stages) {
        const dir = mkdtempSync(join(tmpdir(), `arbor-image-${stage.name}-`));
        dirs.set(stage.name, dir);
        for (const step of stage.steps) {
          if (step.instruction === 'COPY') {
            const from = step.args[0].startsWith('--from=') ? dirs.get(step.args.shift()!.slice('--from='.length)) : undefined;
            const destination = step.args.pop()!;
            for (const source of step.args) {
              // From the build context (minus .dockerignore), or from an earlier stage's /app.
              const origin = from ? join(from, source.replace(/^\/app\//, '')) : join(root, source);
              expect({ copy: source, exists: existsSync(origin) }).toEqual({ copy: source, exists: true });
              // A folder's contents go to the destination; a file goes into it when it ends with '/'.
              const target = join(dir, statSync(origin).isDirectory() || !destination.endsWith('/') ? destination : join(destination, basename(source)));
              mkdirSync(dirname(target), { recursive: true });
              cpSync(origin, target, { recursive: true, filter: (path) => from !== undefined || !ignoredBy(ignored, relative(root, path)) });
            }
          } else if (step.instruction === 'RUN') {
            const command = step.args.join(' ');
            if (stage.name === 'build' && /^npm ci\b/.test(command)) {
              // The build stage's install is the repository's own (the same lockfile), not fetched again.
              symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
              continue;
            }
            await run('sh', ['-c', command], { cwd: dir, timeout: 180_000, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir } });
          }
        }
      }
      const runtime = stages.at(-1)!;
      const [command, ...args] = JSON.parse(runtime.steps.find((step) => step.instruction === 'CMD')!.args.join(' ')) as string[];
      expect(command).toBe('node');
      expect(existsSync(join(dirs.get('runtime')!, 'src'))).toBe(false);
      const child = spawn(process.execPath, args, {
        cwd: dirs.get('runtime'),
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'production',
          JWT_SECRET: 'image-test-secret-at-least-32-characters',
          ALLOWED_ORIGINS: 'https://app.example.com',
          WEBSOCKET_PORT: '0',
          HOST: '127.0.0.1',
          DRAIN_DELAY_MS: '0',
          DRAIN_WINDOW_MS: '0',
        },
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const deadline = Date.now() + 15_000;
      let port: number | undefined;
      while (!port && Date.now() < deadline) {
        const line = output.split('\n').find((entry) => entry.includes('"gateway listening"'));
        port = line ? JSON.parse(line).port : undefined;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(port).toBeDefined();
      expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/api/v1/openapi.json`)).status).toBe(404);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      for (const dir of dirs.values()) rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});

interface DockerStep {
  instruction: string;
  args: string[];
}

/** The stages of a Dockerfile of plain one-line instructions, as `FROM … AS name` opens them. */
function dockerStages(text: string): Array<{ name: string; steps: DockerStep[] }> {
  const stages: Array<{ name: string; steps: DockerStep[] }> = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [instruction, ...args] = line.trim().split(/\s+/);
    if (instruction === 'FROM') stages.push({ name: args[2] ?? String(stages.length), steps: [] });
    else stages.at(-1)!.steps.push({ instruction, args });
  }
  return stages;
}

/** Whether a path of the build context is left out by .dockerignore (paths from the root, and `*.ext` at the root). */
function ignoredBy(patterns: string[], path: string): boolean {
  return patterns.some((pattern) =>
    pattern.startsWith('*') ? !path.includes('/') && path.endsWith(pattern.slice(1)) : path === pattern || path.startsWith(`${pattern}/`),
  );
}
