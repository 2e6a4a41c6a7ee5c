import { Module } from '@nestjs/common';
import { InMemoryWorkspaceStatusStore } from './in-memory-workspace-status.store.js';
import { WorkspaceStatusStore } from './workspace-status.store.js';
import { WorkspacesService } from './workspaces.service.js';

@Module({
  providers: [{ provide: WorkspaceStatusStore, useClass: InMemoryWorkspaceStatusStore }, WorkspacesService],
  exports: [WorkspacesService],
})
export class WorkspacesModule {}
