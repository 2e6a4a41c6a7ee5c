import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UNLIMITED } from './gateway-harness.js';

export const MAIN_JS = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The built gateway (`dist/main.js`) as a real child process, its output captured. */
export class GatewayProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<ExitInfo>;

  constructor(env: Record<string, string>) {
    // No drain unless a test asks for one: SIGTERM then exits promptly.
    this.child = spawn(process.execPath, [MAIN_JS], { env: { PATH: process.env.PATH ?? '', DRAIN_DELAY_MS: '0', DRAIN_WINDOW_MS: '0', ...UNLIMITED, ...env } });
    this.child.stdout.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** An instance on 127.0.0.1 (ephemeral port) sharing `redisUrl` under `prefix`; logs at info, where its port is announced. */
  static onRedis(secret: string, redisUrl: string, prefix: string, env: Record<string, string> = {}): GatewayProcess {
    return new GatewayProcess({
      WEBSOCKET_PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET: secret,
      LOG_LEVEL: 'info',
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      ...env,
    });
  }

  /** Resolves with the port from the "gateway listening" log line. */
  async listening(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const line = this.logLines().find((entry) => entry.msg === 'gateway listening');
      if (line) return line.port as number;
      if (this.child.exitCode !== null) throw new Error(`gateway exited: ${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`gateway did not start: ${this.stdout} ${this.stderr}`);
  }

  /**
   * Resolves with the port once `/health/ready` answers 200: on Redis, the instance then hears its
   * own channel, so a command routed to it from another instance is not lost to a subscription
   * still starting.
   */
  async ready(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const port = await this.listening(timeoutMs);
    while (Date.now() < deadline) {
      if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200) return port;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`gateway on ${port} not ready within ${timeoutMs} ms: ${this.stdout} ${this.stderr}`);
  }

  logLines(): Array<Record<string, unknown>> {
    return this.stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null) this.child.kill(signal);
  }
}
