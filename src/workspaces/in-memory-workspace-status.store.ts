import { Injectable } from '@nestjs/common';
import { WorkspaceStatusStore } from './workspace-status.store.js';

@Injectable()
export class InMemoryWorkspaceStatusStore extends WorkspaceStatusStore {
  /** daemonId → workspaceId → status (null until reported). Map order keeps listing stable. */
  private readonly daemons = new Map<string, Map<string, string | null>>();

  async setWorkspaces(daemonId: string, workspaceIds: readonly string[]): Promise<void> {
    const previous = this.daemons.get(daemonId);
    const next = new Map<string, string | null>();
    for (const workspaceId of workspaceIds) next.set(workspaceId, previous?.get(workspaceId) ?? null);
    this.daemons.set(daemonId, next);
  }

  async setStatus(daemonId: string, workspaceId: string, status: string): Promise<void> {
    let workspaces = this.daemons.get(daemonId);
    if (!workspaces) this.daemons.set(daemonId, (workspaces = new Map<string, string | null>()));
    workspaces.set(workspaceId, status);
  }

  async listWorkspaces(daemonId: string): Promise<string[]> {
    return [...(this.daemons.get(daemonId)?.keys() ?? [])];
  }

  async allStatuses(daemonId: string): Promise<Record<string, string | null>> {
    return Object.fromEntries(this.daemons.get(daemonId) ?? []);
  }

  async getStatus(daemonId: string, workspaceId: string): Promise<string | null | undefined> {
    return this.daemons.get(daemonId)?.get(workspaceId);
  }

  async forget(daemonId: string): Promise<void> {
    this.daemons.delete(daemonId);
  }
}
