import type { ConnectionIdentity } from './principal.js';
import { RevocationKind, revocationKey, revocationMatches, type DisconnectOrder, type Revocation } from './revocation.js';

export type RevocationListener = (revocation: Revocation) => void;
export type DisconnectListener = (order: DisconnectOrder) => void;

/**
 * Revoked users, daemons and tokens, held in memory for a synchronous check at connect and at
 * refresh. The shared implementation stores them in Redis and tells every instance.
 */
export abstract class RevocationList {
  protected readonly entries = new Map<string, Revocation>();
  private readonly listeners = new Set<RevocationListener>();
  private readonly disconnectListeners = new Set<DisconnectListener>();

  /** False until the shared list has been read once: until then nobody can be cleared. */
  get isSynced(): boolean {
    return true;
  }

  /** Records the revocation (on every instance) and closes matching connections everywhere. */
  abstract revoke(revocation: Revocation): Promise<void>;

  /** Tells every instance to close the connections the order names. */
  abstract disconnect(order: DisconnectOrder): Promise<void>;

  onRevoked(listener: RevocationListener): void {
    this.listeners.add(listener);
  }

  onDisconnect(listener: DisconnectListener): void {
    this.disconnectListeners.add(listener);
  }

  protected applyDisconnect(order: DisconnectOrder): void {
    for (const listener of this.disconnectListeners) listener(order);
  }

  /** The revocation covering this identity, if any. */
  find(identity: ConnectionIdentity, now = Date.now()): Revocation | undefined {
    if (this.entries.size === 0) return undefined;
    const { principal, daemonId } = identity;
    const candidates = [
      principal.tokenId === undefined ? undefined : this.entries.get(revocationKey(RevocationKind.Token, principal.tokenId)),
      this.entries.get(revocationKey(RevocationKind.User, principal.sub)),
      this.entries.get(revocationKey(RevocationKind.Daemon, daemonId)),
    ];
    return candidates.find((entry) => entry !== undefined && entry.expiresAt > now && revocationMatches(entry, identity));
  }

  /** Adds an entry (keeping the later of two for one key) and tells the listeners. */
  protected apply(revocation: Revocation): void {
    const key = revocationKey(revocation.kind, revocation.value);
    const existing = this.entries.get(key);
    if (existing && existing.revokedAt >= revocation.revokedAt) return;
    this.entries.set(key, revocation);
    for (const listener of this.listeners) listener(revocation);
  }

  protected prune(now = Date.now()): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}

export class InMemoryRevocationList extends RevocationList {
  async revoke(revocation: Revocation): Promise<void> {
    this.prune();
    this.apply(revocation);
  }

  async disconnect(order: DisconnectOrder): Promise<void> {
    this.applyDisconnect(order);
  }
}
