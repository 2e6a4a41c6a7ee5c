import { Injectable } from '@nestjs/common';
import { ErrorCode, ServerMessageType, parsePosition, type Frame, type SubscribedPayload } from '@arbor/gateway-client/protocol';
import { DaemonService } from '../../daemons/daemon.service.js';
import { WatchPolicy } from '../../daemons/watch-policy.js';
import { DomainError } from '../../errors/domain.error.js';
import type { Connection } from './connection.js';
import type { SubscribeDto } from '../dto/subscribe.dto.js';
import { Subscription } from './subscription.js';

/**
 * The daemons a multiplexed connection (opened without `daemonId`) watches: each `subscribe` adds a
 * `Subscription` (a watcher of its own, admitted by the domain's WatchPolicy), each `unsubscribe`
 * or the connection's end removes it.
 */
@Injectable()
export class MultiplexedWatches {
  constructor(
    private readonly daemons: DaemonService,
    private readonly policy: WatchPolicy,
  ) {}

  /** Answers `subscribed` (with the request's id) and the snapshot, then the missed events or `resync-required`. */
  async subscribe(connection: Connection, body: SubscribeDto, requestId: string | undefined): Promise<void> {
    const subscriptions = this.subscriptionsOf(connection);
    const { principal } = connection.identity;
    this.policy.admitSubscription(principal, body.daemonId, subscriptions);
    const subscription = new Subscription(connection, body.daemonId, (ended) => this.unwatch(connection, ended), body.coalesceMs);
    subscriptions.set(body.daemonId, subscription);
    let admission: Awaited<ReturnType<DaemonService['connectClient']>>;
    try {
      const since = body.since === undefined ? undefined : parsePosition(body.since);
      admission = await this.daemons.connectClient(body.daemonId, subscription, since, principal.sub);
    } catch (error) {
      subscription.end();
      throw error;
    }
    if (subscription.isEnded) return;
    const subscribed: Frame = { type: ServerMessageType.Subscribed, payload: admission.connected satisfies SubscribedPayload };
    if (requestId !== undefined) subscribed.id = requestId;
    subscription.release(subscribed, admission.follow, admission.afterSeq);
  }

  /** Ends the daemon's subscription, if there is one: nothing of the daemon follows. */
  unsubscribe(connection: Connection, daemonId: string): void {
    this.subscriptionsOf(connection).get(daemonId)?.end();
  }

  /** The connection closed: every subscription ends. */
  endAll(connection: Connection): void {
    for (const subscription of [...(connection.subscriptions?.values() ?? [])]) subscription.end();
  }

  /** The subscriptions of a multiplexed connection; `subscribe` on any other is a bad request. */
  private subscriptionsOf(connection: Connection): Map<string, Subscription> {
    if (!connection.subscriptions) throw new DomainError(ErrorCode.BadRequest, 'subscribe and unsubscribe need a connection opened without daemonId');
    return connection.subscriptions;
  }

  /** A subscription ended: the daemon's watcher is gone (in the connection's order). */
  private unwatch(connection: Connection, subscription: Subscription): void {
    connection.enqueue(() => this.daemons.disconnectClient(subscription.daemonId, subscription, connection.identity.principal.sub));
  }
}
