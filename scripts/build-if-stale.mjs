// Builds the SDK and the gateway only when a source is newer than the build, so `npm start` and the
// helpers (`npm run token`, `npm run daemon:sim`) start in about a second once built.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = [
  'src',
  'sdk/src',
  'console/src',
  'scripts/build-console.mjs',
  'scripts/build-openapi.mjs',
  'sdk/scripts',
  'tsconfig.json',
  'tsconfig.build.json',
  'sdk/tsconfig.json',
  'sdk/tsconfig.esm.json',
  'sdk/tsconfig.cjs.json',
  'package.json',
  'sdk/package.json',
];
const OUTPUTS = ['dist/main.js', 'dist/cli/mint-token.js', 'dist/cli/daemon-sim.js', 'dist/console-app/app.js', 'dist/openapi.json', 'sdk/dist/esm/index.js'];

/** The newest modification time under a file or folder (0 when it does not exist). */
function newest(path) {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    return 0;
  }
  if (!stats.isDirectory()) return stats.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((entry) => newest(join(path, entry))));
}

function oldestOutput() {
  return Math.min(...OUTPUTS.map((path) => newest(join(root, path)) || -1));
}

if (oldestOutput() <= 0 || newest(join(root, SOURCES[0])) > oldestOutput() || SOURCES.slice(1).some((path) => newest(join(root, path)) > oldestOutput())) {
  process.stderr.write('building (sources changed since the last build)…\n');
  const { status } = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (status !== 0) process.exit(status ?? 1);
}
