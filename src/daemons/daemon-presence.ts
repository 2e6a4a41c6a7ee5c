import type { DaemonStatus } from '@arbor/gateway-client/protocol';

/** What the gateway knows about a connected daemon. */
export interface DaemonPresence {
  readonly daemonId: string;
  status: DaemonStatus.Online | DaemonStatus.Stale;
  /** Epoch ms of the last `heartbeat` frame; null until the first one. */
  lastHeartbeat: number | null;
  /** Epoch ms the current connection was admitted; staleness counts from here until a heartbeat. */
  readonly connectedAt: number;
  /** The instance holding its connection. */
  readonly instance?: string;
}
