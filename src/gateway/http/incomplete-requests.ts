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

/**
 * Bounds connections that have not sent a complete first request (a half-sent upgrade holds a
 * socket and a parser, and admission only runs once the request is complete): Node's header and
 * request deadlines end each one within seconds (408), and a count per peer address and in total
 * refuses new ones past their caps (503) before anything is parsed.
 */
export class IncompleteRequestGuard {
  private readonly logger = new Logger(IncompleteRequestGuard.name);
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  /** The address each counted socket was counted under; a socket leaves the count once. */
  private readonly counted = new WeakMap<Socket, string>();
  private refusedTotal = 0;

  constructor(
    private readonly limits: IncompleteRequestLimits,
    private readonly metrics?: GatewayMetrics,
  ) {
    if (metrics) metrics.sources.incompleteRequests = () => this.total;
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

  opened(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.total >= this.limits.maxTotal || fromAddress >= this.limits.maxPerAddress) {
      this.refusedTotal += 1;
      this.metrics?.incompleteRequestsRefused.inc();
      if (this.refusedTotal === 1 || this.refusedTotal % 1000 === 0) {
        this.logger.warn({ msg: 'connection refused: too many incomplete requests', address, fromAddress, total: this.total, refusedTotal: this.refusedTotal });
      }
      socket.on('error', () => undefined);
      socket.end(REFUSAL, () => socket.destroy());
      return;
    }
    this.total += 1;
    this.perAddress.set(address, fromAddress + 1);
    this.counted.set(socket, address);
    socket.once('close', () => this.completed(socket));
  }

  /** The socket's first request arrived whole (or it closed): it no longer counts. */
  completed(socket: Socket): void {
    const address = this.counted.get(socket);
    if (address === undefined) return;
    this.counted.delete(socket);
    this.total -= 1;
    const left = (this.perAddress.get(address) ?? 1) - 1;
    if (left === 0) this.perAddress.delete(address);
    else this.perAddress.set(address, left);
  }
}
