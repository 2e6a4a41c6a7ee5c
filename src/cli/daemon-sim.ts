import { JwtService } from '@nestjs/jwt';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { CloseCode, DaemonClient, FILE_CHANGE_EVENTS, GatewayCloseError, Role } from '@arbor/gateway-client';
import { AuthService } from '../auth/auth.service.js';
import { InMemoryRevocationList } from '../auth/revocation.list.js';
import { GatewayConfig } from '../config/gateway-config.js';

const USAGE = `Usage: npm run daemon:sim -- --daemon <id> [--workspaces w1,w2] [--rate <events/s>] [--url <ws url>] [--token <jwt>]
                                [--heartbeat-ms <ms>] [--quiet]

--url defaults to ws://localhost:$WEBSOCKET_PORT/ws (3001), the gateway \`npm start\` runs with the same environment.

Simulates a daemon: heartbeats, workspace updates and file changes at --rate (pausing while the
gateway pushes back), and task-status progress for every run-task it receives. Without --token it mints its own daemon tokens from
JWT_SECRET (or the gateway's development secret), a fresh one for every reconnect.`;

const WORKSPACE_STATUSES = ['idle', 'syncing', 'idle', 'indexing'];
const TASK_STEPS = 3;
const TASK_STEP_MS = 300;

interface SimOptions {
  daemonId: string;
  workspaceIds: string[];
  rate: number;
  heartbeatMs: number;
  url?: string;
  token?: string;
  quiet: boolean;
}

function readOptions(): SimOptions | undefined {
  const { values } = parseArgs({
    options: {
      daemon: { type: 'string', default: 'daemon-123' },
      workspaces: { type: 'string', default: 'w1,w2' },
      rate: { type: 'string', default: '1' },
      url: { type: 'string' },
      token: { type: 'string' },
      'heartbeat-ms': { type: 'string', default: '10000' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return void process.stdout.write(USAGE + '\n');
  const rate = Number(values.rate);
  const heartbeatMs = Number(values['heartbeat-ms']);
  if (!(rate >= 0) || !(heartbeatMs > 0)) fail('--rate must be >= 0 and --heartbeat-ms > 0');
  const workspaceIds = values.workspaces
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  return { daemonId: values.daemon, workspaceIds, rate, heartbeatMs, url: values.url, token: values.token, quiet: values.quiet };
}

function main(): void {
  const options = readOptions();
  if (!options) return;
  const { daemonId, workspaceIds } = options;
  const log = (message: string) => options.quiet || process.stdout.write(`[daemon-sim ${daemonId}] ${message}\n`);

  const fixedToken = options.token;
  const config = GatewayConfig.load();
  const url = options.url ?? config.localUrl;
  const auth = fixedToken ? undefined : new AuthService(new JwtService({}), config, new InMemoryRevocationList());
  const getToken = () => fixedToken ?? auth!.issueToken({ sub: daemonId, role: Role.Daemon }).token;

  const daemon = new DaemonClient({ url, getToken, WebSocket, workspaceIds, daemonHeartbeatInterval: options.heartbeatMs, startClosed: true });
  daemon.on('state', (state) => log(`link ${state}`));
  daemon.on('error', (error) => {
    log(`error: ${error.message}`);
    const verdict = refusalRetryCannotFix(error, daemonId);
    if (!verdict) return;
    process.stderr.write(`[daemon-sim ${daemonId}] ${verdict}; stopping\n`);
    stop(1);
  });
  const stopTasks = runTasks(daemon, log);
  const stopEvents = produceEvents(daemon, workspaceIds, options.rate);

  function stop(code = 0): never {
    stopEvents();
    stopTasks();
    daemon.dispose();
    process.exit(code);
  }
  process.on('SIGINT', () => stop());
  process.on('SIGTERM', () => stop());
  log(`connecting to ${url} with workspaces ${workspaceIds.join(', ')}`);
  daemon.connect();
}

/** Answers every run-task with queued, a few running steps and succeeded (or cancelled); returns what stops them. */
function runTasks(daemon: DaemonClient, log: (message: string) => void): () => void {
  const tasks = new Map<string, NodeJS.Timeout>();
  daemon.on('run-task', (task) => {
    log(`run-task ${task.taskId} from ${task.userId}: ${task.command} ${(task.args ?? []).join(' ')}`);
    daemon.taskStatus(task.taskId, 'queued');
    let step = 0;
    const timer = setInterval(() => {
      step += 1;
      if (step <= TASK_STEPS) {
        daemon.taskStatus(task.taskId, 'running', { output: `step ${step}/${TASK_STEPS}` });
        return;
      }
      clearInterval(timer);
      tasks.delete(task.taskId);
      daemon.taskStatus(task.taskId, 'succeeded', { output: 'done' });
    }, TASK_STEP_MS);
    tasks.set(task.taskId, timer);
  });
  daemon.on('cancel-task', (task) => {
    const timer = tasks.get(task.taskId);
    if (!timer) return;
    clearInterval(timer);
    tasks.delete(task.taskId);
    daemon.taskStatus(task.taskId, 'cancelled');
    log(`cancel-task ${task.taskId}`);
  });
  return () => {
    for (const timer of tasks.values()) clearInterval(timer);
  };
}

/**
 * Events at `rate`, produced every 10 ms in the number due; while the gateway pushes back (a
 * helper returned false) production waits for `drain` instead of piling events up here.
 */
function produceEvents(daemon: DaemonClient, workspaceIds: string[], rate: number): () => void {
  if (rate <= 0) return () => undefined;
  let sequence = 0;
  let backedUp = false;
  let produced = 0;
  const startedAt = Date.now();
  daemon.on('drain', () => (backedUp = false));
  const emit = (): boolean => {
    sequence += 1;
    const workspaceId = workspaceIds[sequence % workspaceIds.length];
    return sequence % 10 === 0
      ? daemon.workspaceUpdate(workspaceId, WORKSPACE_STATUSES[(sequence / 10) % WORKSPACE_STATUSES.length])
      : daemon.fileChange(workspaceId, `src/file-${sequence % 50}.ts`, FILE_CHANGE_EVENTS[sequence % 3]);
  };
  const emitter = setInterval(() => {
    const due = Math.floor(((Date.now() - startedAt) / 1000) * rate);
    if (backedUp) {
      produced = due; // what could not be produced meanwhile is skipped, not owed
      return;
    }
    while (produced < due && !backedUp) {
      produced += 1;
      if (!emit()) backedUp = true; // backed up or offline: `drain` says when to go on
    }
    if (backedUp) produced = due;
  }, 10);
  return () => clearInterval(emitter);
}

/**
 * What to tell the user when the gateway refused the simulator for a reason another attempt cannot
 * change (undefined for what retrying may fix, such as a gateway not started yet).
 */
function refusalRetryCannotFix(error: Error, daemonId: string): string | undefined {
  if (error instanceof GatewayCloseError) {
    if (error.code === CloseCode.Replaced) return `replaced: another connection took daemon ${daemonId} over (4409); give each daemon its own --daemon id`;
    if (error.code === CloseCode.Unauthorized)
      return `the gateway refused the token (4401${error.reason ? ` ${error.reason}` : ''}): mint it with the gateway's JWT_SECRET, or pass --token`;
    return `the gateway ended the connection for good (${error.code}${error.reason ? ` ${error.reason}` : ''})`;
  }
  const status = /Unexpected server response: (\d{3})/.exec(error.message)?.[1];
  if (status === '401') return "the gateway refused the token (HTTP 401): mint it with the gateway's JWT_SECRET, or pass --token";
  if (status === '403') return 'the gateway refused the connection (HTTP 403): the token does not allow it, or the origin is not allowed';
  return undefined;
}

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

main();
