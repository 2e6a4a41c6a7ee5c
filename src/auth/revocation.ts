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
