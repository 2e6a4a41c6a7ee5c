import { Role } from '@arbor/gateway-client/protocol';
import type { ConnectionIdentity } from './principal.js';

export enum RevocationKind {
  /** Every client token of this user issued up to the revocation. */
  User = 'user',
  /** The daemon's own tokens, and clients' access to it, issued up to the revocation. */
  Daemon = 'daemon',
  /** One token, by its `jti`. */
  Token = 'token',
}

export interface Revocation {
  kind: RevocationKind;
  value: string;
  /** ms since the epoch. */
  revokedAt: number;
  /** After this (ms) every token it could match has expired by itself: it can be forgotten. */
  expiresAt: number;
}

/**
 * A revocation made now: every token it can match was issued by now, so it can be forgotten once
 * the longest token lifetime (plus the clock leeway) has passed.
 */
export function revocationNow(
  kind: RevocationKind,
  value: string,
  limits: { tokenMaxTtlSeconds: number; clockToleranceSeconds: number },
  now = Date.now(),
): Revocation {
  return { kind, value, revokedAt: now, expiresAt: now + (limits.tokenMaxTtlSeconds + limits.clockToleranceSeconds) * 1000 + 1000 };
}

export const revocationKey = (kind: RevocationKind, value: string) => `${kind}:${value}`;

/** Whether `revocation` covers a connection (or a token presented for one). */
export function revocationMatches(revocation: Revocation, identity: ConnectionIdentity): boolean {
  const { principal, daemonId } = identity;
  // iat has whole seconds: a token issued in the revocation's own second counts as before it.
  const issuedBefore = principal.issuedAt <= Math.floor(revocation.revokedAt / 1000);
  switch (revocation.kind) {
    case RevocationKind.Token:
      return principal.tokenId === revocation.value;
    case RevocationKind.User:
      return issuedBefore && principal.role === Role.Client && principal.sub === revocation.value;
    case RevocationKind.Daemon:
      return issuedBefore && daemonId === revocation.value;
  }
}

/** Whom a disconnect order closes. */
export enum DisconnectTarget {
  /** The user's client connections. */
  User = 'user',
  /** The daemon's own connection. */
  Daemon = 'daemon',
  /** One connection, by the id its logs carry. */
  Connection = 'connection',
}

/**
 * Closes connections on every instance without revoking anything: with `reconnect`, 1012 and a
 * retry hint (the SDK comes back, perhaps to another instance); without, 4403 (the SDK stops).
 */
export interface DisconnectOrder {
  target: DisconnectTarget;
  value: string;
  reason: string;
  reconnect: boolean;
}

export function disconnectMatches(order: DisconnectOrder, identity: ConnectionIdentity, connectionId: string): boolean {
  switch (order.target) {
    case DisconnectTarget.Connection:
      return connectionId === order.value;
    case DisconnectTarget.User:
      return identity.principal.role === Role.Client && identity.principal.sub === order.value;
    case DisconnectTarget.Daemon:
      return identity.principal.role === Role.Daemon && identity.daemonId === order.value;
  }
}
