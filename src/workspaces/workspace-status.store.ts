/**
 * The workspace status cache: which workspaces a daemon has and the last status it reported for
 * each. Abstract so the Redis scale-out can share it between instances; the in-memory one is the
 * single-instance default.
 */
export abstract class WorkspaceStatusStore {
  /** Replaces the daemon's workspace list; statuses of workspaces no longer listed are dropped. */
  abstract setWorkspaces(daemonId: string, workspaceIds: readonly string[]): Promise<void>;
  /** Records a status, adding the workspace to the daemon's list. */
  abstract setStatus(daemonId: string, workspaceId: string, status: string): Promise<void>;
  abstract listWorkspaces(daemonId: string): Promise<string[]>;
  /** Workspace id → status (null until reported), in one read. */
  abstract allStatuses(daemonId: string): Promise<Record<string, string | null>>;
  /** `undefined` when the workspace is not among the daemon's; `null` when it has no status yet. */
  abstract getStatus(daemonId: string, workspaceId: string): Promise<string | null | undefined>;
  /** Drops everything known about a daemon. */
  abstract forget(daemonId: string): Promise<void>;
}
