/** The console's calls: same origin, the session cookie, and the CSRF header on every request. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { 'x-arbor-console': '1', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
  if (!response.ok) {
    const error = (parsed ?? {}) as { code?: string; message?: string };
    throw new ApiError(response.status, error.code ?? 'error', error.message ?? response.statusText);
  }
  return parsed as T;
}

export interface Session {
  keyId: string;
  scope: 'read' | 'write';
}

export interface StreamPosition {
  epoch: string;
  seq: number;
}

export interface DaemonSummary {
  daemonId: string;
  status: 'online' | 'stale' | 'offline';
  instance: string | null;
  connectedAt: string | null;
  lastHeartbeat: string | null;
  workspaceIds: string[];
  stream: StreamPosition;
  viewers: { connections: number; users: number };
}

export interface DaemonDetails extends DaemonSummary {
  workspaceStatuses: Record<string, string>;
}

export interface InstanceStats {
  instanceId: string;
  at: string;
  connections: Record<string, number>;
  daemons: Record<string, number>;
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
  slowConsumerCuts: number;
  replays: Record<string, number>;
  draining: boolean;
  redis: string;
}

export interface Stats {
  instances: InstanceStats[];
  totals: {
    instances: number;
    connections: Record<string, number>;
    daemons: Record<string, number>;
    messagesInPerSecond: number;
    messagesOutPerSecond: number;
    slowConsumerCuts: number;
    replays: Record<string, number>;
    draining: number;
  };
}
