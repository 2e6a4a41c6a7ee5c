import { Injectable } from '@nestjs/common';
import { ErrorCode, Limits, UNKNOWN_WORKSPACE_STATUS, type WorkspaceStatusPayload } from '@arbor/gateway-client/protocol';
import { DomainError } from '../errors/domain.error.js';
import { WorkspaceStatusStore } from './workspace-status.store.js';

@Injectable()
export class WorkspacesService {
  constructor(private readonly store: WorkspaceStatusStore) {}

  async replaceWorkspaces(daemonId: string, workspaceIds: readonly string[]): Promise<void> {
    await this.store.setWorkspaces(daemonId, [...new Set(workspaceIds)]);
  }

  async recordStatus(daemonId: string, workspaceId: string, status: string): Promise<void> {
    const current = await this.store.getStatus(daemonId, workspaceId);
    if (current === undefined && (await this.store.listWorkspaces(daemonId)).length >= Limits.MAX_WORKSPACES_PER_DAEMON) {
      throw new DomainError(ErrorCode.BadRequest, `a daemon may report at most ${Limits.MAX_WORKSPACES_PER_DAEMON} workspaces`, 'workspaceId');
    }
    await this.store.setStatus(daemonId, workspaceId, status);
  }

  listWorkspaces(daemonId: string): Promise<string[]> {
    return this.store.listWorkspaces(daemonId);
  }

  /** Every workspace of the daemon with its status (`unknown` until reported). */
  async statuses(daemonId: string): Promise<Record<string, string>> {
    const statuses: Record<string, string> = {};
    for (const [workspaceId, status] of Object.entries(await this.store.allStatuses(daemonId))) statuses[workspaceId] = status ?? UNKNOWN_WORKSPACE_STATUS;
    return statuses;
  }

  /** The cached status; `not_found` for a workspace that is not among this daemon's. */
  async getStatus(daemonId: string, workspaceId: string): Promise<WorkspaceStatusPayload> {
    const status = await this.store.getStatus(daemonId, workspaceId);
    if (status === undefined) throw new DomainError(ErrorCode.NotFound, 'workspace not found', 'workspaceId');
    return { workspaceId, status: status ?? UNKNOWN_WORKSPACE_STATUS };
  }

  forget(daemonId: string): Promise<void> {
    return this.store.forget(daemonId);
  }
}
