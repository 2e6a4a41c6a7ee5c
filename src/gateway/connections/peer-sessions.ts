import { Injectable, Logger } from '@nestjs/common';
import { CloseCode, Role, ServerMessageType, type StreamPosition } from '@arbor/gateway-client/protocol';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { DaemonService } from '../../daemons/daemon.service.js';
import { isUnavailable } from '../../errors/domain.error.js';
import { daemonSession, resumePosition } from './connect-params.js';
import { Connection } from './connection.js';
import { ConnectionAdmission } from './connection-admission.js';
import { ConnectionRegistry } from './connection-registry.js';
import { MultiplexedWatches } from './multiplexed-watches.js';
import { newConnectionId } from './connection-id.js';

/**
 * A connection's session from admission to close, by role: a daemon is attached (and resumes its
 * numbering), a single-daemon client watches its daemon (resuming from `since`), a multiplexed
 * client waits for `subscribe` frames. Each is answered `connected` once admitted.
 */
@Injectable()
export class PeerSessions {
  private readonly logger = new Logger(PeerSessions.name);

  constructor(
    private readonly daemons: DaemonService,
    private readonly connections: ConnectionRegistry,
    private readonly admission: ConnectionAdmission,
    private readonly watches: MultiplexedWatches,
  ) {}

  open(socket: WebSocket, request: IncomingMessage): void {
    const id = newConnectionId();
    let connection: Connection;
    let since: StreamPosition | undefined;
    try {
      // The token was verified before the upgrade (ConnectionAdmission); its verdict applies here.
      const authentication = this.admission.authenticationOf(request);
      if ('error' in authentication) throw authentication.error;
      since = resumePosition(authentication.url.searchParams);
      connection = this.connections.add(socket, authentication.identity, id);
      connection.session = daemonSession(authentication.url.searchParams);
    } catch (error) {
      return this.connections.refuse(socket, error, id);
    }
    connection.enqueue(async () => {
      try {
        if (connection.identity.principal.role === Role.Daemon) await this.openDaemon(connection);
        else if (connection.subscriptions) this.openMultiplexed(connection);
        else await this.openClient(connection, since);
      } catch (error) {
        // Never leave an admitted peer waiting for `connected`: tell it to come back.
        const retryable = isUnavailable(error);
        if (!retryable) this.logger.error({ msg: 'admission failed', connectionId: connection.id, error: String(error) });
        connection.close(retryable ? CloseCode.TryAgainLater : CloseCode.InternalError, retryable ? 'shared state unavailable; retry' : 'internal error');
      }
    });
  }

  /** Nest passes on what the socket's `close` event carried first: the close code. */
  close(socket: WebSocket, closeCode?: string): void {
    const connection = Connection.of(socket);
    if (!connection) return;
    this.connections.remove(connection, Number(closeCode ?? CloseCode.AbnormalClosure));
    const { principal, daemonId } = connection.identity;
    if (connection.subscriptions) return this.watches.endAll(connection);
    connection.enqueue(() =>
      principal.role === Role.Daemon
        ? this.daemons.disconnectDaemon(daemonId, connection, connection.handover)
        : this.daemons.disconnectClient(daemonId, connection, principal.sub),
    );
  }

  private async openDaemon(connection: Connection): Promise<void> {
    const payload = await this.daemons.connectDaemon(connection.identity.daemonId, connection, connection.session);
    connection.resumeInbound(payload.lastSeq);
    connection.release({ type: ServerMessageType.Connected, payload: { ...payload, authExpiresAt: this.authExpiresAt(connection) } });
  }

  private openMultiplexed(connection: Connection): void {
    const payload = { multiplexed: true, authExpiresAt: this.authExpiresAt(connection), timestamp: new Date().toISOString() };
    connection.release({ type: ServerMessageType.Connected, payload });
  }

  private async openClient(connection: Connection, since: StreamPosition | undefined): Promise<void> {
    const { principal, daemonId } = connection.identity;
    const admission = await this.daemons.connectClient(daemonId, connection, since, principal.sub);
    const connected = { type: ServerMessageType.Connected, payload: { ...admission.connected, authExpiresAt: this.authExpiresAt(connection) } };
    connection.release(connected, admission.follow, admission.afterSeq);
  }

  private authExpiresAt(connection: Connection): string {
    return this.connections.authorizationEnd(connection.identity.principal);
  }
}
