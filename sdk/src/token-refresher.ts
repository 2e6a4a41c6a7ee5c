import { ClientMessageType, ServerMessageType, type Frame, type TokenRefreshedPayload } from './protocol.js';
import type { WebSocketLike } from './socket-types.js';
import type { TimerHandle, TimerSet } from './timers.js';

/** Ids of our own refresh-token frames: their answers are handled here, not emitted. */
const REFRESH_ID_PREFIX = 'arbor-refresh-';
const REFRESH_RETRY_MS = 5_000;

/** What the refresher needs of the connection it keeps authorized. */
export interface RefreshHost {
  readonly timers: TimerSet;
  /** The admitted socket a refresh goes out on; undefined while none is. */
  openSocket(): WebSocketLike | undefined;
  fetchToken(): Promise<string | null | undefined>;
  refreshed(authExpiresAt: string): void;
  failed(error: Error): void;
}

/**
 * Keeps a live connection's authorization from running out: before the gateway's `authExpiresAt`
 * it sends a fresh token as `refresh-token`, so a short-lived token never forces a reconnect.
 */
export class TokenRefresher {
  private timer: TimerHandle | undefined;
  private sent = 0;
  /** Bumped by `cancel()`: a token fetched for an abandoned socket is not sent on the next one. */
  private generation = 0;

  constructor(private readonly host: RefreshHost) {}

  /** Whether the frame answers one of our refreshes. */
  static answers(frame: Frame): boolean {
    return typeof frame.id === 'string' && frame.id.startsWith(REFRESH_ID_PREFIX);
  }

  /**
   * Plans the next refresh from the gateway's `authExpiresAt`, measured against the gateway's own
   * `timestamp` so a skewed local clock does not matter: a fifth of the remaining time before the
   * end (at least 1 s, at most 60 s).
   */
  schedule(payload: { authExpiresAt?: unknown; timestamp?: unknown } | undefined): void {
    const { timers } = this.host;
    timers.cancel(this.timer);
    if (typeof payload?.authExpiresAt !== 'string') return;
    const serverNow = typeof payload.timestamp === 'string' ? Date.parse(payload.timestamp) : timers.now();
    const remaining = Date.parse(payload.authExpiresAt) - (Number.isNaN(serverNow) ? timers.now() : serverNow);
    if (Number.isNaN(remaining)) return;
    const margin = Math.min(60_000, Math.max(1_000, remaining / 5));
    this.timer = timers.after(Math.max(0, remaining - margin), () => void this.refresh());
  }

  answered(frame: Frame): void {
    if (frame.type === ServerMessageType.TokenRefreshed) {
      this.host.refreshed((frame.payload as TokenRefreshedPayload).authExpiresAt);
      return this.schedule(frame.payload as TokenRefreshedPayload);
    }
    const message = (frame.payload as { message?: string } | undefined)?.message ?? 'refused';
    this.host.failed(new Error(`token refresh refused: ${message}`));
    this.retryLater();
  }

  cancel(): void {
    this.generation += 1;
    this.host.timers.cancel(this.timer);
  }

  private async refresh(): Promise<void> {
    const generation = this.generation;
    let token: string | null | undefined;
    try {
      token = await this.host.fetchToken();
    } catch (error) {
      this.host.failed(new Error(`could not get a token to refresh the connection: ${error instanceof Error ? error.message : String(error)}`));
    }
    const socket = this.host.openSocket();
    if (generation !== this.generation || !socket) return;
    // No token: try again shortly; if the gateway's deadline passes first it closes with 4401 and we reconnect.
    if (!token) return this.retryLater();
    this.sent += 1;
    socket.send(JSON.stringify({ type: ClientMessageType.RefreshToken, id: `${REFRESH_ID_PREFIX}${this.sent}`, payload: { token } }));
  }

  private retryLater(): void {
    this.host.timers.cancel(this.timer);
    this.timer = this.host.timers.after(REFRESH_RETRY_MS, () => void this.refresh());
  }
}
