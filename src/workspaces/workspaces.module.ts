import { Module } from '@nestjs/common';
import { RedisConnections } from '../redis/redis-connections.js';
import { InMemoryWorkspaceStatusStore } from './in-memory-workspace-status.store.js';
import { RedisWorkspaceStatusStore } from './redis-workspace-status.store.js';
import { WorkspaceStatusStore } from './workspace-status.store.js';
import { WorkspacesService } from './workspaces.service.js';

@Module({
  providers: [
    {
      provide: WorkspaceStatusStore,
      inject: [RedisConnections],
      useFactory: (redis: RedisConnections | null) => (redis ? new RedisWorkspaceStatusStore(redis) : new InMemoryWorkspaceStatusStore()),
    },
    WorkspacesService,
  ],
  exports: [WorkspacesService],
})
export class WorkspacesModule {}
