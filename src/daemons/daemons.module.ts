import { Module } from '@nestjs/common';
import { ApiKeyRegistry } from '../auth/api-keys/api-key.registry.js';
import { AuthModule } from '../auth/auth.module.js';
import { ApiScope } from '../config/api-keys.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { RedisConnections } from '../redis/redis-connections.js';
import { CommandInbox } from './commands/command-inbox.js';
import { CommandService } from './commands/command.service.js';
import { InMemoryCommandInbox } from './commands/in-memory-command-inbox.js';
import { RedisCommandInbox } from './commands/redis-command-inbox.js';
import { RedisDaemonBroker } from './redis-daemon.broker.js';
import { EventStreams } from './streams/event-streams.js';
import { InMemoryEventStreams } from './streams/in-memory-event-streams.js';
import { RedisEventStreams } from './streams/redis-event-streams.js';
import { WorkspacesModule } from '../workspaces/workspaces.module.js';
import { DaemonBroker } from './daemon.broker.js';
import { DaemonService } from './daemon.service.js';
import { DaemonDirectory, InMemoryDaemonDirectory } from './daemon-directory.js';
import { DaemonInspector } from './daemon-inspector.js';
import { RedisDaemonDirectory } from './redis-daemon-directory.js';
import { InMemoryDaemonBroker } from './in-memory-daemon.broker.js';
import { HeldDaemons, NoHeldDaemons } from './presence/held-daemons.js';
import { RedisPresence } from './presence/redis-presence.js';
import { WatchPolicy } from './watch-policy.js';

@Module({
  imports: [AuthModule, WorkspacesModule],
  providers: [
    {
      provide: HeldDaemons,
      inject: [RedisConnections, GatewayConfig],
      useFactory: (redis: RedisConnections | null, config: GatewayConfig) => (redis ? new RedisPresence(redis, config.daemonStaleMs) : new NoHeldDaemons()),
    },
    {
      provide: DaemonBroker,
      inject: [RedisConnections, GatewayConfig, EventStreams, GatewayMetrics, HeldDaemons],
      useFactory: (redis: RedisConnections | null, config: GatewayConfig, streams: EventStreams, metrics: GatewayMetrics, presence: HeldDaemons) =>
        redis ? new RedisDaemonBroker(redis, config, streams as RedisEventStreams, metrics, presence as RedisPresence) : new InMemoryDaemonBroker(),
    },
    {
      provide: EventStreams,
      inject: [RedisConnections, GatewayConfig],
      useFactory: (redis: RedisConnections | null, config: GatewayConfig) =>
        redis ? new RedisEventStreams(redis, config.replayMaxEvents, config.replayTtlMs) : new InMemoryEventStreams(config.replayMaxEvents, config.replayTtlMs),
    },
    {
      provide: CommandInbox,
      inject: [RedisConnections, GatewayConfig, DaemonBroker],
      useFactory: (redis: RedisConnections | null, config: GatewayConfig, broker: DaemonBroker) =>
        redis
          ? new RedisCommandInbox(redis, config.commandTtlMs, config.commandDedupeTtlMs)
          : new InMemoryCommandInbox(config.commandTtlMs, config.commandDedupeTtlMs, (daemonId) => broker.localDaemonLink(daemonId)?.id),
    },
    CommandService,
    {
      provide: DaemonDirectory,
      inject: [RedisConnections, ApiKeyRegistry],
      // Only the server API reads the directory: without its keys it is not shared (no Redis writes per connection).
      useFactory: (redis: RedisConnections | null, keys: ApiKeyRegistry) =>
        redis && keys.offers(ApiScope.Read) ? new RedisDaemonDirectory(redis) : new InMemoryDaemonDirectory(),
    },
    DaemonService,
    DaemonInspector,
    WatchPolicy,
  ],
  exports: [DaemonService, DaemonInspector, CommandService, HeldDaemons, WatchPolicy],
})
export class DaemonsModule {}
