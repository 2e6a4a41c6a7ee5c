import { DEVELOPMENT_JWT_SECRET, Role } from '@arbor/gateway-client';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { freePort, waitFor, waitForAsync } from './support/ports.js';
import { signToken } from './support/tokens.js';

/**
 * `npm run dev:ws` on a copy of the project: every save restarts the gateway, and the restarted
 * one gets the port even while the old one still had a daemon connected.
 */
const root = resolve(import.meta.dirname, '..');

describe('watch mode (npm run dev:ws)', () => {
  let project: string;
  let dev: ChildProcess | undefined;
  let output = '';

  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'arbor-watch-'));
    for (const entry of ['src', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json'])
      cpSync(join(root, entry), join(project, entry), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(project, 'node_modules'));
    symlinkSync(join(root, 'sdk'), join(project, 'sdk'));
  });

  afterAll(async () => {
    if (dev && dev.exitCode === null) {
      const exited = new Promise((done) => dev?.once('exit', done));
      dev.kill('SIGTERM');
      await exited;
    }
    rmSync(project, { recursive: true, force: true });
  });

  const listening = () => output.split('gateway listening').length - 1;

  it('comes back on /health/live after each of two edits, with a daemon connected to the old process', async () => {
    const port = await freePort();
    dev = spawn('npm', ['run', 'dev:ws'], { cwd: project, env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', WEBSOCKET_PORT: String(port) } });
    dev.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    dev.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const live = async () => (await fetch(`http://127.0.0.1:${port}/health/live`)).status === 200;
    await waitFor(() => listening() === 1, 'the first start', 90_000);
    await waitForAsync(live, '/health/live after the first start');

    for (const edit of [1, 2]) {
      const daemon = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
        headers: { authorization: `Bearer ${signToken(DEVELOPMENT_JWT_SECRET, { role: Role.Daemon, sub: `daemon-${edit}` })}` },
      });
      await new Promise((opened, failed) => daemon.once('open', opened).once('error', failed));
      const closed = new Promise<number>((done) => daemon.once('close', done));
      appendFileSync(join(project, 'src/main.ts'), `// edit ${edit}\n`);
      expect(await closed).toBe(1012);
      await waitFor(() => listening() === edit + 1, `the restart after edit ${edit}`, 60_000);
      await waitForAsync(live, `/health/live after edit ${edit}`);
    }
    expect(output).not.toContain('EADDRINUSE');
    expect(output.match(/\[dev\] restarting the gateway/g)).toHaveLength(2);
  }, 180_000);
});
