import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { DaemonsModule } from '../daemons/daemons.module.js';
import { ConnectionAdmission } from './connections/connection-admission.js';
import { ConnectionRegistry } from './connections/connection-registry.js';
import { DaemonGateway } from './daemon.gateway.js';
import { DirectRoutes } from './dispatch/direct-routes.js';
import { DrainService } from './connections/drain.service.js';
import { FanoutBackpressure } from './flow/fanout-backpressure.js';
import { MultiplexedWatches } from './connections/multiplexed-watches.js';
import { PeerSessions } from './connections/peer-sessions.js';
import { SlowConsumerMonitor } from './flow/slow-consumer.monitor.js';
import { WsAuthGuard } from './dispatch/ws-auth.guard.js';

/**
 * The transport: the WebSocket gateway and everything per connection — admission, the registry
 * (pings, authorization deadlines, revocation closes), limits, coalesced writes, slow consumers,
 * fan-out backpressure and the drain. It depends on the domain's services and ports; the domain
 * never imports it.
 */
@Module({
  imports: [AuthModule, DaemonsModule],
  providers: [
    DaemonGateway,
    PeerSessions,
    MultiplexedWatches,
    ConnectionRegistry,
    ConnectionAdmission,
    DirectRoutes,
    DrainService,
    FanoutBackpressure,
    SlowConsumerMonitor,
    WsAuthGuard,
  ],
  exports: [ConnectionAdmission, ConnectionRegistry, DirectRoutes, DrainService, FanoutBackpressure],
})
export class GatewayModule {}
