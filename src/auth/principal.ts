import { Role } from '@arbor/gateway-client/protocol';

/** Who is on the other end of a connection or request, as proven by a verified token. */
export interface Principal {
  readonly sub: string;
  readonly role: Role;
  /** Daemon ids a client may reach; empty for daemons. */
  readonly daemons: ReadonlySet<string>;
  /** Token expiry, seconds since the epoch. */
  readonly expiresAt: number;
  /** Token `iat`, seconds since the epoch: revocations cover tokens issued up to them. */
  readonly issuedAt: number;
  readonly tokenId?: string;
}

/** An admitted WebSocket connection: the principal plus the daemon it is bound to. */
export interface ConnectionIdentity {
  readonly principal: Principal;
  /**
   * For a daemon its own id (the token's sub); for a client the daemon it watches, or
   * MULTIPLEXED for a client connection opened without one (it subscribes to daemons instead).
   */
  readonly daemonId: string;
}

/** The `daemonId` of a client connection opened without one: it watches the daemons it subscribes to. */
export const MULTIPLEXED = '';

export function isMultiplexed(identity: ConnectionIdentity): boolean {
  return identity.principal.role === Role.Client && identity.daemonId === MULTIPLEXED;
}
