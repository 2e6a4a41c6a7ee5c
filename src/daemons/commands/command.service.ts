import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit, Optional } from '@nestjs/common';
import {
  AckStatus,
  CommandStatus,
  ErrorCode,
  ServerMessageType,
  type AckPayload,
  type CommandStatusPayload,
  type CommandType,
  type Frame,
  type TraceContext,
} from '@arbor/gateway-client/protocol';
import { randomUUID } from 'node:crypto';
import { Counter } from 'prom-client';
import type { Principal } from '../../auth/principal.js';
import { GatewayConfig } from '../../config/gateway-config.js';
import { DomainError } from '../../errors/domain.error.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { Attr, exemplarOf, messagingSpan, SpanKind, traceContextOf, tracing } from '../../tracing/tracing.js';
import { DaemonBroker, type CommandStatusMessage } from '../daemon.broker.js';
import type { PeerLink } from '../peer-link.js';
import { CommandDelivery } from './command-delivery.js';
import { CommandInbox, type PendingCommand } from './command-inbox.js';

/** When a command's expiry finds it neither expired nor settled (Redis away, a status in flight): ask again after this long… */
const STATUS_GRACE_MS = 5_000;
/** …this many times in all, then forget the sender. */
const STATUS_TRIES = 4;

interface Sender {
  link: PeerLink;
  timer: NodeJS.Timeout;
}

/**
 * Commands from clients and the server API to daemons, confirmed end to end. `accepted` means
 * recorded in the inbox (shared through Redis when configured); the instance holding the daemon
 * sends it, and every later connection of the daemon gets it again until the daemon confirms it
 * (`command-ack`) or COMMAND_TTL_MS passes. The sender is told which: `command-status` `delivered`
 * or `expired`, exactly one of them, by whichever instance took the command out of the inbox.
 */
@Injectable()
export class CommandService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(CommandService.name);
  private readonly delivery: CommandDelivery;
  /** Connections (and API calls) here waiting for their commands' status, by daemon and command id. */
  private readonly senders = new Map<string, Sender>();
  private readonly outcomes: Counter<'outcome'> | undefined;

  constructor(
    private readonly broker: DaemonBroker,
    private readonly inbox: CommandInbox,
    private readonly config: GatewayConfig,
    @Optional() private readonly metrics?: GatewayMetrics,
  ) {
    this.delivery = new CommandDelivery(inbox);
    this.outcomes =
      metrics &&
      new Counter({
        name: 'arbor_command_outcomes_total',
        help: 'Accepted commands taken out of the inbox: delivered (the daemon confirmed) or expired (COMMAND_TTL_MS passed unconfirmed)',
        labelNames: ['outcome'],
        registers: [metrics.registry],
      });
    for (const outcome of Object.values(CommandStatus)) this.outcomes?.labels(outcome).inc(0);
  }

  onModuleInit(): void {
    this.broker.onCommand((daemonId, nudge) => this.delivery.arrived(daemonId, nudge));
    this.broker.onCommandStatus((message) => this.tellSender(message));
  }

  onModuleDestroy(): void {
    for (const sender of this.senders.values()) clearTimeout(sender.timer);
    this.senders.clear();
  }

  /** A daemon connection was admitted here: the commands waiting for it follow `connected`. */
  attached(daemonId: string, link: PeerLink): Promise<void> {
    return this.delivery.attached(daemonId, link);
  }

  detached(daemonId: string, link: PeerLink): void {
    this.delivery.detached(daemonId, link);
  }

  /** The daemon's `command-ack`: counted only from its current connection. */
  async confirmed(daemonId: string, link: PeerLink, id: string): Promise<void> {
    const command = await this.inbox.confirm(daemonId, id, link.id);
    if (command) this.settled(daemonId, command, CommandStatus.Delivered);
  }

  /**
   * Accepts a command for the daemon with the requesting user added, or answers why not: with a
   * command id a resend answers `duplicate` with the command's state; a daemon not connected
   * anywhere answers `daemon_offline` (not recorded; without an id that is an error). `sender`
   * gets the later `command-status`.
   */
  async sendCommand(
    daemonId: string,
    principal: Principal,
    type: CommandType,
    payload: object,
    commandId?: string,
    tc?: TraceContext,
    sender?: PeerLink,
  ): Promise<AckPayload> {
    const started = performance.now();
    let status: AckStatus | undefined;
    const span = messagingSpan(
      'process',
      type,
      SpanKind.CONSUMER,
      {
        [Attr.Destination]: 'daemon',
        [Attr.DaemonId]: daemonId,
        [Attr.Instance]: this.broker.instanceId,
        ...(commandId === undefined ? {} : { [Attr.MessageId]: commandId }),
      },
      tc,
      tracing.acceptClientContext,
    );
    // The daemon continues the gateway's span; untraced, a browser's context only when it is trusted.
    const forwarded = span ? traceContextOf(span) : tracing.acceptClientContext ? tc : undefined;
    try {
      const ack = await this.accept(daemonId, principal, type, payload, commandId, forwarded, commandId === undefined ? undefined : sender);
      status = ack.status;
      span?.setAttribute(Attr.Outcome, ack.status);
      return ack;
    } catch (error) {
      // Without an id, an offline daemon is an error frame: still a daemon_offline answer.
      if (error instanceof DomainError && error.code === ErrorCode.DaemonOffline) status = AckStatus.DaemonOffline;
      throw error;
    } finally {
      span?.end();
      if (status !== undefined) {
        this.metrics?.commandAcks.labels(status).inc();
        this.metrics?.observeCommand((performance.now() - started) / 1000, exemplarOf(span));
      }
    }
  }

  private async accept(
    daemonId: string,
    principal: Principal,
    type: CommandType,
    payload: object,
    commandId: string | undefined,
    tc: TraceContext | undefined,
    sender: PeerLink | undefined,
  ): Promise<AckPayload> {
    const holder = await this.broker.holderOf(daemonId);
    if (holder === undefined) {
      if (commandId === undefined) throw new DomainError(ErrorCode.DaemonOffline, 'daemon is not connected');
      return { status: AckStatus.DaemonOffline };
    }
    // The daemon a multiplexed client named is the destination, not part of the command.
    const { daemonId: _destination, ...forwarded } = payload as { daemonId?: string };
    const id = commandId ?? `gw-${randomUUID()}`;
    const frame: Frame = { type, id, payload: { ...forwarded, userId: principal.sub }, ...(tc ? { tc } : {}) };
    const senderInstance = sender ? this.broker.instanceId : undefined;
    const result = await this.inbox.accept(daemonId, { id, userId: principal.sub, frame, senderInstance }, Date.now());
    if (result.kind === 'conflict') throw new DomainError(ErrorCode.BadRequest, 'this command id is in use for this daemon by another user', 'id');
    if (result.kind === 'duplicate') {
      // Still waiting: the status now goes to this connection (the first sender may be gone).
      if (result.outcome === AckStatus.Accepted && sender) {
        await this.inbox.redirect(daemonId, principal.sub, id, this.broker.instanceId);
        this.awaitStatus(daemonId, id, sender, Date.now() + this.config.commandTtlMs);
      }
      return { status: AckStatus.Duplicate, outcome: result.outcome };
    }
    if (sender) this.awaitStatus(daemonId, id, sender, result.command.expiresAt);
    // Recorded: a holder that just left, or a lost nudge, costs nothing — the next connection reads the inbox.
    await this.broker.routeCommand(daemonId, holder, { seq: result.command.seq, frame }).catch((error: unknown) => {
      this.logger.warn({ msg: 'command recorded, nudge failed', daemonId, error: error instanceof Error ? error.message : String(error) });
    });
    return { status: AckStatus.Accepted };
  }

  /** Waits here for the command's status; at its expiry, takes it out as expired unless it was confirmed. */
  private awaitStatus(daemonId: string, id: string, link: PeerLink, expiresAt: number): void {
    const key = senderKey(daemonId, id);
    clearTimeout(this.senders.get(key)?.timer);
    const sender: Sender = { link, timer: this.expireAt(daemonId, id, expiresAt - Date.now(), STATUS_TRIES) };
    this.senders.set(key, sender);
  }

  private expireAt(daemonId: string, id: string, delayMs: number, triesLeft: number): NodeJS.Timeout {
    const timer = setTimeout(() => void this.expire(daemonId, id, triesLeft), Math.max(0, delayMs) + 1);
    timer.unref();
    return timer;
  }

  private async expire(daemonId: string, id: string, triesLeft: number): Promise<void> {
    const command = await this.inbox.expire(daemonId, id, Date.now()).catch(() => undefined);
    if (command) return this.settled(daemonId, command, CommandStatus.Expired);
    // Confirmed or expired elsewhere, and the status lost with the instance that decided it: the outcome key still knows.
    const outcome = await this.inbox.outcome(daemonId, id).catch(() => undefined);
    if (outcome === CommandStatus.Delivered || outcome === CommandStatus.Expired) return this.tellSender({ daemonId, id, status: outcome });
    // Redis is away, or the status is on its way: ask again a little later, a few times, then forget.
    const sender = this.senders.get(senderKey(daemonId, id));
    if (!sender) return;
    if (triesLeft <= 1) return void this.senders.delete(senderKey(daemonId, id));
    sender.timer = this.expireAt(daemonId, id, STATUS_GRACE_MS, triesLeft - 1);
  }

  /** The command left the inbox through us: its sender is told, wherever it is. */
  private settled(daemonId: string, command: PendingCommand, status: CommandStatus): void {
    this.outcomes?.labels(status).inc();
    if (command.senderInstance === undefined) return;
    const message: CommandStatusMessage = { daemonId, id: command.id, status };
    if (command.senderInstance === this.broker.instanceId) return this.tellSender(message);
    this.broker.sendCommandStatus(command.senderInstance, message).catch((error: unknown) => {
      this.logger.warn({ msg: 'command status not sent', daemonId, status, error: error instanceof Error ? error.message : String(error) });
    });
  }

  private tellSender({ daemonId, id, status }: CommandStatusMessage): void {
    const key = senderKey(daemonId, id);
    const sender = this.senders.get(key);
    if (!sender) return;
    clearTimeout(sender.timer);
    this.senders.delete(key);
    sender.link.send({ type: ServerMessageType.CommandStatus, id, payload: { status, daemonId } satisfies CommandStatusPayload });
  }
}

function senderKey(daemonId: string, id: string): string {
  return `${daemonId}\u0000${id}`;
}
