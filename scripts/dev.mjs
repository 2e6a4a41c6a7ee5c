// Watch mode: the TypeScript compiler watches the sources, and after every build without errors
// the gateway restarts. The old process is stopped and waited for before the new one starts, so
// the new one never races it for the port.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const nodeFlags = (process.env.npm_package_config_nodeFlags ?? '').split(' ').filter(Boolean);
/** How long a stopping gateway gets before it is killed (a development drain takes no time). */
const STOP_GRACE_MS = 10_000;
const BUILD_DONE = /Found (\d+) errors?\. Watching for file changes\./;

let gateway;
let starts = 0;
let restarting = Promise.resolve();
let exiting = false;

function say(text) {
  process.stdout.write(`[dev] ${text}\n`);
}

function stopGateway() {
  const child = gateway;
  gateway = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function startGateway() {
  say(starts++ === 0 ? 'starting the gateway' : 'restarting the gateway');
  const child = spawn(process.execPath, [...nodeFlags, 'dist/main.js'], { cwd: root, stdio: 'inherit' });
  child.on('exit', (code, signal) => {
    if (gateway === child && !exiting) say(`the gateway exited (${signal ?? `code ${code}`}); waiting for the next change`);
  });
  gateway = child;
}

const compiler = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--watch', '--preserveWatchOutput'], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let pending = '';
compiler.stdout.setEncoding('utf8');
compiler.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  pending += chunk;
  const lines = pending.split('\n');
  pending = lines.pop();
  for (const line of lines) {
    const done = BUILD_DONE.exec(line);
    if (!done || exiting) continue;
    if (done[1] !== '0') {
      say('build has errors; the running gateway (if any) keeps the last good build');
      continue;
    }
    restarting = restarting.then(stopGateway).then(() => {
      if (!exiting) startGateway();
    });
  }
});
compiler.on('exit', (code) => {
  if (!exiting) {
    say(`the compiler exited (code ${code})`);
    void shutdown(1);
  }
});

async function shutdown(code) {
  exiting = true;
  compiler.kill('SIGTERM');
  await restarting;
  await stopGateway();
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
