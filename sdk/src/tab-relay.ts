import { DEFAULT_GATEWAY_URL, type GatewayClientOptions } from './gateway-client.js';
import type { WatchEndReason } from './daemon-watch.js';
import {
  AckStatus,
  ClientMessageType,
  COMMAND_TYPES,
  ServerMessageType,
  type AckPayload,
  type ErrorPayload,
  type Frame,
  type StreamPosition,
  type UnsubscribedPayload,
} from './protocol.js';
import { randomId } from './random-id.js';
import { ConnectionState, ReconnectingWebSocket } from './reconnecting-websocket.js';
import { daemonOf, endReasonOf, retryDelayOf, subscribePayload } from './watch-frames.js';

/** What the tabs of one browser profile say to each other (or to the SharedWorker) about one gateway URL. */
export type TabMessage =
  // tab → leader
  | { k: 'watch'; tab: string; daemonId: string; since?: StreamPosition }
  | { k: 'unwatch'; tab: string; daemonId: string }
  | { k: 'send'; tab: string; frame: Frame }
  | { k: 'bye'; tab: string }
  // leader → tabs
  | { k: 'leader'; tab: string }
  | { k: 'frame'; daemonId: string; frame: Frame }
  | { k: 'ended'; daemonId: string; reason: WatchEndReason; error?: ErrorPayload }
  | { k: 'reply'; tab: string; frame: Frame }
  | { k: 'state'; state: ConnectionState; nextRetryAt?: number };

/** A MessagePort as both sides use it (the DOM's, or a test's). */
export interface PortLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  start?(): void;
  close?(): void;
}

/** What the relay's connection is opened with: a tab's options (its tab-only ones are left out). */
export type RelayOptions = Omit<GatewayClientOptions, 'daemonId' | 'startClosed'> & { tabApis?: unknown; sharedWorker?: unknown };

/** One daemon as the relay serves it: which tabs watch it, and how far its frames have gone. */
interface Relayed {
  tabs: Set<string>;
  /** The furthest event relayed (or the position asked for, before the first). */
  position: StreamPosition | undefined;
  /** A subscription is being asked for (or held) on the connection. */
  subscribed: boolean;
  /** The last relayed frame of this daemon was its snapshot. */
  afterSnapshot: boolean;
  /** A `subscribe` awaits its answer, from this position (null: none asked, undefined: fresh). */
  pendingFrom: StreamPosition | undefined | null;
}

/**
 * The leader tab's side: one multiplexed connection, each daemon subscribed once for every tab
 * watching it, from the earliest position any of them asked for. It relays frames as they come
 * (a rewind for one tab repeats frames the others drop themselves).
 */
/** @internal The side holding the connection: in the leader tab, or in the SharedWorker. */
export class TabRelay {
  private readonly connection: ReconnectingWebSocket;
  private readonly daemons = new Map<string, Relayed>();
  /** Frame id of each request a tab sent → that tab. */
  private readonly askedBy = new Map<string, string>();
  /** Id of each command a tab sent whose `command-status` is still to come → that tab. */
  private readonly commandBy = new Map<string, string>();
  /** Our `subscribe`/`unsubscribe` frame ids → the daemon. */
  private readonly ours = new Map<string, string>();
  private counter = 0;
  private readonly prefix = randomId().slice(0, 8);

  constructor(
    options: RelayOptions,
    private readonly broadcast: (message: TabMessage) => void,
  ) {
    const { tabApis: _tabApis, requestTimeout: _requestTimeout, traceContext: _traceContext, url = DEFAULT_GATEWAY_URL, ...connectionOptions } = options;
    this.connection = new ReconnectingWebSocket({ ...connectionOptions, url });
    this.connection.on('statechange', () => this.tellState());
    this.connection.on('reconnecting', () => this.tellState());
    this.connection.on('message', (frame) => this.fromGateway(frame));
    this.connection.on('open', () => {
      for (const [daemonId, relayed] of this.daemons) this.subscribe(daemonId, relayed);
    });
    this.connection.on('close', () => {
      for (const relayed of this.daemons.values()) {
        relayed.subscribed = false;
        relayed.pendingFrom = null;
      }
    });
  }

  dispose(): void {
    this.connection.dispose();
  }

  receive(message: TabMessage): void {
    switch (message.k) {
      case 'watch':
        this.watch(message.tab, message.daemonId, message.since);
        // A tab that just arrived learns the link's state with its first answer.
        return this.tellState();
      case 'unwatch':
        return this.unwatch(message.tab, message.daemonId);
      case 'bye':
        for (const daemonId of [...this.daemons.keys()]) this.unwatch(message.tab, daemonId);
        for (const [id, tab] of this.commandBy) if (tab === message.tab) this.commandBy.delete(id);
        return;
      case 'send':
        if (message.frame.id !== undefined) {
          this.askedBy.set(message.frame.id, message.tab);
          if ((COMMAND_TYPES as readonly string[]).includes(message.frame.type)) this.commandBy.set(message.frame.id, message.tab);
        }
        this.connection.send(message.frame);
        return;
      default:
    }
  }

  private watch(tab: string, daemonId: string, since: StreamPosition | undefined): void {
    let relayed = this.daemons.get(daemonId);
    if (!relayed) {
      relayed = { tabs: new Set(), position: since, subscribed: false, afterSnapshot: false, pendingFrom: null };
      this.daemons.set(daemonId, relayed);
    }
    relayed.tabs.add(tab);
    // The answer on its way covers this tab too: its snapshot and replay reach every tab.
    if (relayed.subscribed && relayed.pendingFrom !== null && covers(relayed.pendingFrom, since)) return;
    // A tab new to the daemon needs a snapshot; one behind needs the events since its position:
    // ask again from the earliest position anyone needs (everyone else drops the repeats).
    const from = earliest(relayed.position, since);
    relayed.position = from;
    if (relayed.subscribed) this.unsubscribe(daemonId, relayed);
    this.subscribe(daemonId, relayed);
  }

  private unwatch(tab: string, daemonId: string): void {
    const relayed = this.daemons.get(daemonId);
    if (!relayed?.tabs.delete(tab) || relayed.tabs.size > 0) return;
    this.daemons.delete(daemonId);
    if (relayed.subscribed) this.unsubscribe(daemonId, relayed);
  }

  private subscribe(daemonId: string, relayed: Relayed): void {
    if (this.connection.state !== ConnectionState.Open) return;
    relayed.subscribed = true;
    relayed.pendingFrom = relayed.position;
    const id = `tab-sub-${this.prefix}-${++this.counter}`;
    this.ours.set(id, daemonId);
    this.connection.send({ type: ClientMessageType.Subscribe, id, payload: subscribePayload(daemonId, relayed.position) }, { volatile: true });
  }

  private unsubscribe(daemonId: string, relayed: Relayed): void {
    relayed.subscribed = false;
    if (this.connection.state !== ConnectionState.Open) return;
    const id = `tab-unsub-${this.prefix}-${++this.counter}`;
    this.ours.set(id, daemonId);
    this.connection.send({ type: ClientMessageType.Unsubscribe, id, payload: { daemonId } }, { volatile: true });
  }

  private fromGateway(frame: Frame): void {
    if (frame.id !== undefined) {
      const daemonId = this.ours.get(frame.id);
      if (daemonId !== undefined) {
        this.ours.delete(frame.id);
        return this.answered(daemonId, frame);
      }
      const tab = this.askedBy.get(frame.id) ?? this.commandBy.get(frame.id);
      if (tab !== undefined) {
        this.askedBy.delete(frame.id);
        if (!awaitsStatus(frame)) this.commandBy.delete(frame.id);
        return this.broadcast({ k: 'reply', tab, frame });
      }
    }
    const daemonId = daemonOf(frame);
    const relayed = daemonId === undefined ? undefined : this.daemons.get(daemonId);
    if (!relayed || daemonId === undefined) return;
    if (frame.type === ServerMessageType.Unsubscribed) {
      this.daemons.delete(daemonId);
      return this.broadcast({ k: 'ended', daemonId, reason: endReasonOf((frame.payload as UnsubscribedPayload).reason) });
    }
    const afterSnapshot = relayed.afterSnapshot;
    relayed.afterSnapshot = false;
    this.relay(daemonId, relayed, frame);
    if (frame.type === ServerMessageType.ResyncRequired && !afterSnapshot) {
      // The stream lost history under a live subscription: start every tab over from a fresh snapshot.
      relayed.position = undefined;
      this.unsubscribe(daemonId, relayed);
      this.subscribe(daemonId, relayed);
    }
  }

  private answered(daemonId: string, frame: Frame): void {
    const relayed = this.daemons.get(daemonId);
    if (!relayed || frame.type === ServerMessageType.Unsubscribed) return;
    relayed.pendingFrom = null;
    if (frame.type === ServerMessageType.Subscribed) {
      this.relay(daemonId, relayed, frame);
      relayed.afterSnapshot = true;
      return;
    }
    const retryIn = retryDelayOf(frame);
    if (retryIn !== undefined) {
      relayed.subscribed = false;
      setTimeout(() => {
        if (this.daemons.get(daemonId) === relayed && !relayed.subscribed) this.subscribe(daemonId, relayed);
      }, retryIn);
      return;
    }
    const error = frame.payload as ErrorPayload;
    this.daemons.delete(daemonId);
    this.broadcast({ k: 'ended', daemonId, reason: endReasonOf(error.code), error });
  }

  private relay(daemonId: string, relayed: Relayed, frame: Frame): void {
    const numbered = frame as { epoch?: string; seq?: number };
    if (numbered.epoch !== undefined && numbered.seq !== undefined) {
      if (!relayed.position || relayed.position.epoch !== numbered.epoch || numbered.seq > relayed.position.seq) {
        relayed.position = { epoch: numbered.epoch, seq: numbered.seq };
      }
    } else if (frame.type === ServerMessageType.Subscribed) {
      const { stream, recovered } = frame.payload as { stream: StreamPosition; recovered: boolean };
      if (!recovered || !relayed.position) relayed.position = stream;
    }
    this.broadcast({ k: 'frame', daemonId, frame });
  }

  tellState(): void {
    const { state, nextRetryAt } = this.connection;
    this.broadcast({ k: 'state', state, ...(nextRetryAt === undefined ? {} : { nextRetryAt }) });
  }
}

/** Whether a replay from `from` brings what a tab at `since` needs (a tab with no position needs only the snapshot). */
function covers(from: StreamPosition | undefined, since: StreamPosition | undefined): boolean {
  if (since === undefined) return true;
  return from !== undefined && from.epoch === since.epoch && from.seq <= since.seq;
}

/** The earlier of two positions (any position is earlier than none; another epoch's is taken as earlier). */
function earliest(a: StreamPosition | undefined, b: StreamPosition | undefined): StreamPosition | undefined {
  if (!a || !b) return a ?? b;
  if (a.epoch !== b.epoch) return b;
  return a.seq <= b.seq ? a : b;
}

/** An answer after which a command's `command-status` is still to come: accepted, or a duplicate still undecided. */
function awaitsStatus(frame: Frame): boolean {
  if (frame.type !== ServerMessageType.Ack) return false;
  const { status, outcome } = frame.payload as AckPayload;
  return status === AckStatus.Accepted || (status === AckStatus.Duplicate && outcome === undefined);
}
