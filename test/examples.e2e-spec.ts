import { ConnectionState, GatewayClient, Role } from '@arbor/gateway-client';
import WebSocket from 'ws';
import { freePort as freePortForExample, waitFor } from './support/ports.js';
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GatewayHarness, TEST_SECRET } from './support/gateway-harness.js';

const run = promisify(execFile);
const example = (name: string) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
const SIMULATOR = fileURLToPath(new URL('../dist/cli/daemon-sim.js', import.meta.url));

describe('README walk-throughs', () => {
  let gateway: GatewayHarness;

  beforeEach(async () => {
    gateway = await GatewayHarness.start();
  });

  afterEach(async () => {
    await gateway.stop();
  });

  it('walkthrough.mjs shows a file-change travelling from the daemon to the client', async () => {
    const { stdout } = await run(process.execPath, [example('walkthrough.mjs')], {
      env: {
        PATH: process.env.PATH ?? '',
        GATEWAY_URL: gateway.wsUrl(),
        DAEMON_TOKEN: gateway.token(Role.Daemon, 'daemon-walkthrough'),
        CLIENT_TOKEN: gateway.token(Role.Client, 'user-1', { daemons: ['daemon-walkthrough'] }),
      },
    });
    expect(stdout).toMatch(
      /client ← \{"type":"file-change","daemonId":"daemon-walkthrough","epoch":"[\w-]+","seq":2,"payload":\{"workspaceId":"w1","path":"src\/a.ts","event":"change"\}\}/,
    );
    expect(stdout).toContain('file-change arrived at the client for daemon-walkthrough: src/a.ts (change)');
  });

  it('walkthrough.mjs with an expired token says how to mint a new one, without a stack trace', async () => {
    const failed = await run(process.execPath, [example('walkthrough.mjs')], {
      env: {
        PATH: process.env.PATH ?? '',
        GATEWAY_URL: gateway.wsUrl(),
        DAEMON_TOKEN: gateway.token(Role.Daemon, 'daemon-walkthrough', { ttlSeconds: -120 }),
        CLIENT_TOKEN: gateway.token(Role.Client, 'user-1', { daemons: ['daemon-walkthrough'] }),
      },
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain('daemon closed: 4401');
    expect(failed?.stderr).toContain('export DAEMON_TOKEN=$(npm run -s token -- --role daemon --sub daemon-walkthrough)');
    expect(failed?.stderr).not.toMatch(/\n\s+at /);
  });

  it('the daemon simulator streams events that watch-daemon.mjs receives through the SDK', async () => {
    const simulator = spawn(process.execPath, [SIMULATOR, '--daemon', 'daemon-123', '--workspaces', 'w1,w2', '--rate', '50', '--url', gateway.wsUrl()], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_SECRET },
      stdio: 'ignore',
    });
    try {
      const { stdout } = await run(process.execPath, [example('watch-daemon.mjs'), 'daemon-123', '--count', '15'], {
        env: { PATH: process.env.PATH ?? '', GATEWAY_URL: gateway.wsUrl(), CLIENT_TOKEN: gateway.token(Role.Client, 'user-1', { daemons: ['daemon-123'] }) },
        timeout: 15_000,
      });
      expect(stdout).toMatch(/connected: daemon daemon-123 is (online|offline)/);
      expect(stdout).toMatch(/file-change: \{"workspaceId":"w[12]","path":"src\/file-\d+\.ts","event":"(add|change|unlink)"\}/);
      expect(stdout).toMatch(/workspace-update: \{"workspaceId":"w[12]","status":"\w+"\}/);
    } finally {
      simulator.kill('SIGKILL');
    }
  });

  it('the simulator and the watcher dial the gateway on WEBSOCKET_PORT when no URL is given, and say so', async () => {
    const simulator = spawn(process.execPath, [SIMULATOR, '--daemon', 'daemon-123', '--rate', '20'], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_SECRET, WEBSOCKET_PORT: String(gateway.port) },
    });
    let simulatorOut = '';
    simulator.stdout.on('data', (chunk: Buffer) => (simulatorOut += chunk.toString()));
    try {
      const { stdout } = await run(process.execPath, [example('watch-daemon.mjs'), 'daemon-123', '--count', '3'], {
        env: {
          PATH: process.env.PATH ?? '',
          WEBSOCKET_PORT: String(gateway.port),
          CLIENT_TOKEN: gateway.token(Role.Client, 'user-1', { daemons: ['daemon-123'] }),
        },
        timeout: 15_000,
      });
      expect(stdout).toContain(`gateway: ws://localhost:${gateway.port}/ws`);
      expect(stdout).toMatch(/file-change: /);
      expect(simulatorOut).toContain(`connecting to ws://localhost:${gateway.port}/ws`);
    } finally {
      simulator.kill('SIGKILL');
    }
  });

  it('watch-daemon.mjs mints a fresh token for every refresh: it stays connected past several token lifetimes', async () => {
    await gateway.stop();
    gateway = await GatewayHarness.start({ TOKEN_GRACE_MS: '0', JWT_CLOCK_TOLERANCE_SECONDS: '0' });
    const simulator = spawn(process.execPath, [SIMULATOR, '--daemon', 'daemon-123', '--rate', '20', '--url', gateway.wsUrl()], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_SECRET },
      stdio: 'ignore',
    });
    try {
      // 2-second tokens, about 6 seconds of events: a fixed token would be closed with 4401 after 2.
      const { stdout } = await run(process.execPath, [example('watch-daemon.mjs'), 'daemon-123', '--count', '110'], {
        env: { PATH: process.env.PATH ?? '', GATEWAY_URL: gateway.wsUrl(), JWT_SECRET: TEST_SECRET, TOKEN_TTL_SECONDS: '2' },
        timeout: 20_000,
      });
      expect(stdout.match(/^file-change: /gm)?.length ?? 0).toBeGreaterThanOrEqual(60);
      expect(stdout).not.toContain('link: closed');
      expect(stdout.match(/^link: open/gm)).toHaveLength(1);
    } finally {
      simulator.kill('SIGKILL');
    }
  }, 30_000);

  it('watch-daemon.mjs gets its tokens from POST /auth/token when AUTH_API_KEY is set', async () => {
    await gateway.stop();
    const apiKey = 'examples-api-key-of-at-least-16';
    gateway = await GatewayHarness.start({ AUTH_API_KEY: apiKey });
    const simulator = spawn(process.execPath, [SIMULATOR, '--daemon', 'daemon-123', '--rate', '20', '--url', gateway.wsUrl()], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_SECRET },
      stdio: 'ignore',
    });
    try {
      // No JWT_SECRET here: a token signed by the watcher itself would not verify.
      const { stdout } = await run(process.execPath, [example('watch-daemon.mjs'), 'daemon-123', '--count', '5'], {
        env: { PATH: process.env.PATH ?? '', GATEWAY_URL: gateway.wsUrl(), AUTH_API_KEY: apiKey },
        timeout: 15_000,
      });
      expect(stdout).toMatch(/connected: daemon daemon-123 is (online|offline)/);
    } finally {
      simulator.kill('SIGKILL');
    }
  });

  it('watch-daemon.mjs --run sends a task through the SDK to the simulator and prints each task-status to succeeded', async () => {
    const simulator = spawn(process.execPath, [SIMULATOR, '--daemon', 'daemon-123', '--workspaces', 'w1', '--rate', '0', '--url', gateway.wsUrl()], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_SECRET },
      stdio: 'ignore',
    });
    try {
      const { stdout } = await run(process.execPath, [example('watch-daemon.mjs'), 'daemon-123', '--run', 'npm test'], {
        env: { PATH: process.env.PATH ?? '', GATEWAY_URL: gateway.wsUrl(), JWT_SECRET: TEST_SECRET },
        timeout: 15_000,
      });
      expect(stdout).toMatch(/run-task (task-\w+) \(npm test\) in w1: accepted/);
      expect(stdout).toMatch(/run-task task-\w+: delivered/);
      const statuses = [...stdout.matchAll(/task-status: (\{.*\})/g)].map((match) => (JSON.parse(match[1]) as { status: string }).status);
      expect(statuses[0]).toBe('queued');
      expect(statuses.at(-1)).toBe('succeeded');
      expect(statuses).toContain('running');
    } finally {
      simulator.kill('SIGKILL');
    }
  });

  it('a simulator whose daemon another connection takes over says so and exits 1; one refused for its token stops at once', async () => {
    const simulator = spawn(process.execPath, [SIMULATOR, '--daemon', 'daemon-123', '--rate', '0', '--url', gateway.wsUrl()], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_SECRET },
    });
    let stderr = '';
    simulator.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => simulator.once('exit', (code) => resolve(code)));
    let stdout = '';
    simulator.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    await waitFor(() => stdout.includes('link open'), 'simulator connected');
    const intruder = await gateway.daemon('daemon-123');
    expect(await exited).toBe(1);
    expect(stderr).toContain('replaced: another connection took daemon daemon-123 over (4409)');
    intruder.close();

    const wrongSecret = await run(process.execPath, [SIMULATOR, '--daemon', 'daemon-9', '--rate', '0', '--url', gateway.wsUrl()], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: 'not-the-gateway-secret-but-long-enough-32' },
      timeout: 15_000,
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(wrongSecret?.code).toBe(1);
    expect(wrongSecret?.stderr).toMatch(/the gateway refused the token \((4401 [^)]+|HTTP 401)\)/);
  });

  it('watch-daemon.mjs says why it cannot connect: a refused API key stops it with exit 1; a wrong port names the address and the refusal', async () => {
    await gateway.stop();
    gateway = await GatewayHarness.start({ AUTH_API_KEY: 'the-right-api-key-of-16' });
    const refused = await run(process.execPath, [example('watch-daemon.mjs'), 'daemon-123'], {
      env: { PATH: process.env.PATH ?? '', GATEWAY_URL: gateway.wsUrl(), AUTH_API_KEY: 'the-wrong-api-key-of-16' },
      timeout: 15_000,
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toMatch(/answered 401/);
    expect(refused?.stderr).toContain('stopping');

    const port = await freePortForExample();
    const watcher = spawn(process.execPath, [example('watch-daemon.mjs'), 'daemon-123'], {
      env: { PATH: process.env.PATH ?? '', WEBSOCKET_PORT: String(port), JWT_SECRET: TEST_SECRET },
    });
    let stderr = '';
    watcher.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await waitFor(() => /ECONNREFUSED/.test(stderr), 'the refusal named');
      expect(stderr).toContain(`WebSocket error at ws://localhost:${port}/ws`);
      expect(stderr).not.toContain('token=');
    } finally {
      watcher.kill('SIGKILL');
    }
  });

  it('the daemon simulator answers run-task with task-status progress and honours cancel-task', async () => {
    const simulator = spawn(process.execPath, [SIMULATOR, '--daemon', 'daemon-123', '--rate', '0', '--url', gateway.wsUrl()], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_SECRET },
      stdio: 'ignore',
    });
    const client = new GatewayClient({
      url: gateway.wsUrl(),
      daemonId: 'daemon-123',
      WebSocket,
      getToken: () => gateway.token(Role.Client, 'user-1', { daemons: ['daemon-123'] }),
      network: null,
    });
    const updates: string[] = [];
    client.on('task-status', (frame) => updates.push(`${frame.payload.taskId}:${frame.payload.status}`));
    try {
      await waitFor(() => client.state === ConnectionState.Open && client.daemonStatus === 'online', 'simulator online');
      await client.runTask({ workspaceId: 'w1', command: 'npm', args: ['test'], taskId: 'build-1' });
      await waitFor(() => updates.includes('build-1:succeeded'), 'task finished');
      expect(updates).toEqual(['build-1:queued', 'build-1:running', 'build-1:running', 'build-1:running', 'build-1:succeeded']);
      await client.runTask({ workspaceId: 'w1', command: 'sleep', taskId: 'long-1' });
      await waitFor(() => updates.includes('long-1:queued'), 'second task queued');
      await client.cancelTask('long-1');
      await waitFor(() => updates.includes('long-1:cancelled'), 'task cancelled');
      expect(updates).not.toContain('long-1:succeeded');
    } finally {
      client.dispose();
      simulator.kill('SIGKILL');
    }
  });
});
