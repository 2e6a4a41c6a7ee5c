import { Logger } from '@nestjs/common';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';

export interface IncompleteRequestLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxTotal: number;
  maxPerAddress: number;
}

/** Node checks its header and request deadlines this often (its default is 30 s). */
const DEADLINE_CHECK_MAX_MS = 1_000;

const REFUSAL = 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
const SHED = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** A socket whose first request has not fully arrived. */
interface Incomplete {
  socket: Socket;
  address: string;
  openedAt: number;
}

/**
 * Bounds connections that have not sent a complete first request (a half-sent upgrade holds a
 * socket and a parser, and admission only runs once the request is complete). Node's header and
 * request deadlines end each one within seconds (408). Before that, a prompt client is never
 * refused because of the address it arrives from — behind an ingress or a NAT, every user shares
 * one: when an address holds more than `maxPerAddress`, its oldest *stalled* sockets (incomplete
 * for half the headers deadline) are shed with 408 to make room, and a burst of young ones is let
 * through. Only `maxTotal`, the memory bound, refuses (503) — and only once nothing stalled is left
 * to shed.
 */
export class IncompleteRequestGuard {
  private readonly logger = new Logger(IncompleteRequestGuard.name);
  /** Every incomplete socket, oldest first (a Map keeps insertion order). */
  private readonly all = new Map<Socket, Incomplete>();
  private readonly perAddress = new Map<string, Map<Socket, Incomplete>>();
  private readonly stalledAfterMs: number;
  private refusedTotal = 0;

  constructor(
    private readonly limits: IncompleteRequestLimits,
    private readonly metrics?: GatewayMetrics,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.stalledAfterMs = limits.headersTimeoutMs / 2;
    if (metrics) metrics.sources.incompleteRequests = () => this.all.size;
  }

  attach(server: HttpServer): void {
    server.headersTimeout = this.limits.headersTimeoutMs;
    server.requestTimeout = this.limits.requestTimeoutMs;
    // Read when the server starts listening: set before listen, it makes the deadlines hold to within a second.
    (server as HttpServer & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(
      DEADLINE_CHECK_MAX_MS,
      this.limits.headersTimeoutMs,
    );
    server.prependListener('connection', (socket: Socket) => this.opened(socket));
    server.prependListener('request', (request: IncomingMessage) => this.completed(request.socket));
    server.prependListener('upgrade', (request: IncomingMessage) => this.completed(request.socket));
  }

  get size(): number {
    return this.all.size;
  }

  opened(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    const fromAddress = this.perAddress.get(address);
    if (fromAddress && fromAddress.size >= this.limits.maxPerAddress) this.shedStalled(fromAddress, fromAddress.size - this.limits.maxPerAddress + 1);
    if (this.all.size >= this.limits.maxTotal) this.shedStalled(this.all, this.all.size - this.limits.maxTotal + 1);
    if (this.all.size >= this.limits.maxTotal) return this.refuse(socket, address);
    const entry = { socket, address, openedAt: this.now() };
    this.all.set(socket, entry);
    if (fromAddress) fromAddress.set(socket, entry);
    else this.perAddress.set(address, new Map([[socket, entry]]));
    socket.once('close', () => this.completed(socket));
  }

  /** The socket's first request arrived whole (or it closed): it no longer counts. */
  completed(socket: Socket): void {
    const entry = this.all.get(socket);
    if (!entry) return;
    this.all.delete(socket);
    const fromAddress = this.perAddress.get(entry.address)!;
    fromAddress.delete(socket);
    if (fromAddress.size === 0) this.perAddress.delete(entry.address);
  }

  /** Closes up to `count` of the oldest sockets in `sockets` that have stalled; young ones are kept. */
  private shedStalled(sockets: Map<Socket, Incomplete>, count: number): void {
    const stalledBefore = this.now() - this.stalledAfterMs;
    const shed: Incomplete[] = [];
    for (const entry of sockets.values()) {
      if (shed.length >= count || entry.openedAt > stalledBefore) break;
      shed.push(entry);
    }
    for (const { socket } of shed) {
      this.completed(socket);
      this.metrics?.incompleteRequestsShed.inc();
      socket.on('error', () => undefined);
      socket.end(SHED, () => socket.destroy());
    }
  }

  private refuse(socket: Socket, address: string): void {
    this.refusedTotal += 1;
    this.metrics?.incompleteRequestsRefused.inc();
    if (this.refusedTotal === 1 || this.refusedTotal % 1000 === 0) {
      this.logger.warn({ msg: 'connection refused: too many incomplete requests', address, total: this.all.size, refusedTotal: this.refusedTotal });
    }
    socket.on('error', () => undefined);
    socket.end(REFUSAL, () => socket.destroy());
  }
}
