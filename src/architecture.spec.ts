import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = dirname(fileURLToPath(import.meta.url));

/**
 * Which module each module may import (docs/architecture.md). The domain (auth, workspaces,
 * daemons) never imports the transport (gateway); shared pieces import no domain module.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  config: [],
  errors: [],
  validation: ['errors'],
  lifecycle: [],
  // Pieces both edges use, the WebSocket transport and the HTTP routes: rate buckets, the client's address.
  edge: ['config', 'errors'],
  tracing: ['config'],
  logging: ['config'],
  redis: ['config'],
  metrics: ['config', 'redis', 'tracing'],
  auth: ['config', 'errors', 'validation', 'redis', 'metrics', 'edge'],
  workspaces: ['config', 'errors', 'validation', 'redis'],
  instances: ['config', 'redis'],
  daemons: ['auth', 'workspaces', 'instances', 'tracing', 'config', 'errors', 'validation', 'redis', 'metrics'],
  gateway: ['auth', 'workspaces', 'daemons', 'tracing', 'config', 'errors', 'validation', 'redis', 'metrics', 'lifecycle', 'edge'],
  // HTTP edges beside the WebSocket transport.
  api: ['auth', 'daemons', 'instances', 'config', 'errors', 'validation', 'redis', 'metrics', 'lifecycle', 'edge'],
  webhooks: ['daemons', 'instances', 'config', 'errors', 'redis', 'metrics'],
  console: ['api', 'auth', 'config', 'errors', 'validation', 'metrics', 'edge'],
  health: ['auth', 'daemons', 'redis', 'lifecycle', 'metrics'],
  cli: ['auth', 'config'],
  // The composition root: main.ts, app.factory.ts, app.module.ts.
  '.': ['*'],
};

function sources(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) && !/\.spec\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** Relative imports of a file, type-only ones included, as resolved .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^'";]*?from\s+'(\.{1,2}\/[^']+)'/gm),
    ...text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g),
  ].map((match) => match[1]);
  return specifiers.map((specifier) => resolve(dirname(file), specifier).replace(/\.js$/, '.ts'));
}

const moduleOf = (file: string) => {
  const path = relative(SRC, file);
  return path.includes('/') ? path.split('/')[0] : '.';
};

describe('architecture', () => {
  const files = sources(SRC);
  const graph = new Map(files.map((file) => [file, importsOf(file)]));

  it('every module imports only what docs/architecture.md allows (the domain never imports the transport)', () => {
    // The graph is really read: every relative import resolves to a source file.
    const edges = [...graph.values()].flat();
    expect(edges.length).toBeGreaterThan(150);
    expect(edges.filter((target) => !graph.has(target) && !target.endsWith('.spec.ts'))).toEqual([]);
    const violations: string[] = [];
    for (const [file, imports] of graph) {
      const from = moduleOf(file);
      const allowed = MAY_IMPORT[from];
      if (!allowed) {
        violations.push(`${relative(SRC, file)}: module ${from} is not in the table`);
        continue;
      }
      for (const target of imports) {
        const to = moduleOf(target);
        if (to !== from && !allowed.includes('*') && !allowed.includes(to)) violations.push(`${relative(SRC, file)} imports ${relative(SRC, target)}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('has no import cycle, type-only imports included', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push(
          path
            .slice(path.indexOf(file))
            .concat(file)
            .map((entry) => relative(SRC, entry))
            .join(' -> '),
        );
        return;
      }
      state.set(file, 'open');
      for (const target of graph.get(file) ?? []) if (graph.has(target)) visit(target, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('keeps DaemonGateway a thin list of decorated handlers (under 200 lines, at most two private helpers)', () => {
    const gateway = readFileSync(join(SRC, 'gateway/daemon.gateway.ts'), 'utf8');
    expect(gateway.split('\n').length).toBeLessThan(200);
    expect([...gateway.matchAll(/^ {2}private (?!readonly)\w+/gm)].length).toBeLessThanOrEqual(2);
  });

  it("imports no Nest internals (routes are found through Nest's public Reflector)", () => {
    const internal = files.filter((file) => /from '@nestjs\/[a-z-]+\/(?!index)[\w/.-]+'/.test(readFileSync(file, 'utf8')));
    expect(internal.map((file) => relative(SRC, file))).toEqual([]);
  });

  it('reads process.env only in src/config', () => {
    const readers = files.filter((file) => moduleOf(file) !== 'config' && /process\.env\b/.test(readFileSync(file, 'utf8')));
    expect(readers.map((file) => relative(SRC, file))).toEqual([]);
  });
});
