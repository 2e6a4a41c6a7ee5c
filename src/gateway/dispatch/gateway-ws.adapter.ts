import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { CloseCode, ErrorCode } from '@arbor/gateway-client/protocol';
import { Connection, holdHandshakeWrites } from '../connections/connection.js';
import { PauseReason } from '../flow/pause-reason.js';
import { assertAllowed, roleRefusal } from './ws-auth.guard.js';
import type { LifecycleState } from '../../lifecycle/lifecycle.state.js';
import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import type { DirectRoute, DirectRoutes } from './direct-routes.js';
import { FrameRejection, parseFrame, type InboundFrame } from './frame-parser.js';
import { assertValid } from './payload-validation.pipe.js';
import { sendError } from './ws-error.filter.js';
import { errorFrame, errorFrameOf } from './frames.js';
import type { ConnectionAdmission, UpgradeRefusal } from '../connections/connection-admission.js';
import { FrameVerdict } from '../flow/inbound-limiter.js';
import type { FanoutBackpressure } from '../flow/fanout-backpressure.js';

export interface GatewayWsAdapterOptions {
  maxPayloadBytes: number;
  /** Hot message types dispatched without Nest's per-message pipeline. */
  directRoutes: DirectRoutes;
  /** While shutting down, new upgrades get 503 with Retry-After: the load balancer sends them elsewhere. */
  lifecycle: LifecycleState;
  metrics: GatewayMetrics;
  /** Origin, caps, handshake rate and token, decided before the WebSocket handshake. */
  admission: Pick<ConnectionAdmission, 'admit'>;
  /** Pauses a daemon whose viewers are backed up. */
  fanout: Pick<FanoutBackpressure, 'afterDaemonFrame'>;
}

type RegisteredServer = WebSocketServer & { path?: string };
type HandlerCallback = (payload: unknown, type: string) => unknown;

/**
 * Nest's WsAdapter with our frame format and strict input handling. Nest's defaults expect
 * `{event, data}` and drop bad JSON and unknown events silently; here every frame is either
 * dispatched or answered with an error frame, frames of one connection are handled in order,
 * and upgrades on unknown paths get a 404 instead of a silent socket reset.
 */
export class GatewayWsAdapter extends WsAdapter {
  private readonly servers = new Map<number, RegisteredServer[]>();
  private readonly upgradeListeners = new Map<number, (request: IncomingMessage, socket: Duplex, head: Buffer) => void>();
  /** Each route Nest dispatches, numbered once for every connection's callbacks. */
  private readonly routeIndex = new Map<string, number>();

  constructor(
    app: INestApplicationContext,
    private readonly adapterOptions: GatewayWsAdapterOptions,
  ) {
    super(app);
  }

  override create(port: number, options: Record<string, unknown> = {}): WebSocketServer {
    return super.create(port, {
      ...options,
      maxPayload: this.adapterOptions.maxPayloadBytes,
      perMessageDeflate: false,
    }) as WebSocketServer;
  }

  protected override addWsServerToRegistry<T extends Record<'path', string> = Record<'path', string>>(wsServer: T, port: number, path: string): void {
    super.addWsServerToRegistry(wsServer, port, path);
    const entries = this.servers.get(port) ?? [];
    entries.push(wsServer as unknown as RegisteredServer);
    this.servers.set(port, entries);
  }

  /** Owns the upgrade listener: the base one resets unknown paths without an HTTP answer. */
  protected override ensureHttpServerExists(port: number, httpServer: HttpServer = createServer()): HttpServer | undefined {
    if (this.httpServersRegistry.has(port)) return undefined;
    this.httpServersRegistry.set(port, httpServer);
    const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void this.routeUpgrade(port, request, socket, head);
    httpServer.on('upgrade', listener);
    this.upgradeListeners.set(port, listener);
    return httpServer;
  }

  override async dispose(): Promise<void> {
    for (const [port, listener] of this.upgradeListeners) (this.httpServersRegistry.get(port) as HttpServer | undefined)?.off('upgrade', listener);
    this.upgradeListeners.clear();
    this.servers.clear();
    await super.dispose();
  }

  /**
   * Nest binds every handler to each connection, each in an object of its own: a connection keeps
   * only the callbacks of the routes Nest dispatches for its role (the direct ones never use
   * theirs; another role's are refused as the guard would), in one array indexed by a route number
   * shared by every connection — idle memory is per connection.
   */
  override bindMessageHandlers(client: WebSocket, handlers: MessageMappingProperties[]): void {
    const { directRoutes } = this.adapterOptions;
    const role = Connection.of(client)?.identity.principal.role;
    const callbacks: HandlerCallback[] = [];
    for (const { message, callback } of handlers) {
      if (typeof message !== 'string' || directRoutes.get(message)) continue;
      let index = this.routeIndex.get(message);
      if (index === undefined) this.routeIndex.set(message, (index = this.routeIndex.size));
      if (role === undefined || directRoutes.allows(message, role)) callbacks[index] = callback as HandlerCallback;
    }
    client.on('message', (data: RawData, isBinary: boolean) => this.dispatch(client, callbacks, data, isBinary));
  }

  private dispatch(client: WebSocket, handlers: HandlerCallback[], data: RawData, isBinary: boolean): void {
    const connection = Connection.of(client);
    // A connection the gateway is closing (or refused) reads nothing more: what it accepted
    // before is answered, then the close goes out.
    if (!connection || !connection.isOpen || connection.isClosing) return;
    if (connection.isHoldingInbound) {
      connection.holdInbound(() => this.dispatch(client, handlers, data, isBinary));
      return;
    }
    this.handleFrame(connection, handlers, data, isBinary);
    if (connection.fanoutDaemonBudget) this.adapterOptions.fanout.afterDaemonFrame(connection);
  }

  private handleFrame(connection: Connection, handlers: HandlerCallback[], data: RawData, isBinary: boolean): void {
    const bytes = rawDataLength(data);
    const { limiter } = connection;
    const metrics = this.adapterOptions.metrics;
    if (bytes > limiter.maxFrameBytes) {
      metrics.received('invalid', bytes);
      connection.close(CloseCode.MessageTooBig, `a ${connection.identity.principal.role} frame may be at most ${limiter.maxFrameBytes} bytes`);
      return;
    }
    if (isBinary) {
      metrics.received('binary', bytes);
      if (!this.withinRate(connection, undefined)) return;
      connection.enqueue(async () => connection.send(errorFrameOf(ErrorCode.BadRequest, 'binary frames are not supported')));
      return;
    }
    const frame = parseFrame(rawDataToString(data));
    metrics.received(frame instanceof FrameRejection ? 'invalid' : frame.type, bytes);
    if (!this.withinRate(connection, frame instanceof FrameRejection ? frame.frameId : frame.id)) return;
    if (frame instanceof FrameRejection) {
      connection.enqueue(async () => connection.send(errorFrame(frame.error.toPayload(), frame.frameId)));
      return;
    }
    if (frame.seq !== undefined) {
      if (connection.session === undefined) {
        connection.enqueue(async () => connection.send(errorFrameOf(ErrorCode.BadRequest, 'seq needs a session (connect with session=…)', frame.id)));
        return;
      }
      // A repeat of an event already accepted (the daemon replays after a reconnect): drop, acknowledge.
      if (!connection.acceptInbound(frame.seq)) return connection.scheduleAck();
    }
    const direct = this.adapterOptions.directRoutes.get(frame.type);
    if (direct) {
      // In order: synchronously when nothing of this connection is in flight, else queued.
      if (connection.isIdle) dispatchDirect(connection, direct, frame, metrics);
      else connection.enqueue(() => dispatchDirect(connection, direct, frame, metrics));
      return;
    }
    const route = this.routeIndex.get(frame.type);
    if (route === undefined) {
      connection.enqueue(async () => connection.send(errorFrameOf(ErrorCode.UnknownType, `unknown message type "${frame.type}"`, frame.id)));
      return;
    }
    const handler = handlers[route];
    if (!handler) return refuseRoute(connection, frame);
    connection.enqueue(async () => {
      connection.currentFrameId = frame.id;
      connection.currentFrameSeq = frame.seq;
      connection.currentTraceContext = frame.tc;
      const reply = (await handler(frame.payload, frame.type)) as Record<string, unknown> | undefined;
      connection.currentFrameId = undefined;
      connection.currentFrameSeq = undefined;
      connection.currentTraceContext = undefined;
      if (frame.seq !== undefined) connection.scheduleAck();
      if (reply) connection.send(frame.id === undefined ? (reply as never) : ({ ...reply, id: frame.id } as never));
    });
  }

  /**
   * The connection's message rate. A client over it is answered `rate_limited` (and closed with
   * 1008 if it keeps on); a daemon over it is read later (TCP backpressure), losing nothing.
   */
  private withinRate(connection: Connection, frameId: string | undefined): boolean {
    const { limiter } = connection;
    const verdict = limiter.admit();
    if (verdict === FrameVerdict.Accept) return true;
    this.adapterOptions.metrics.rateLimited.labels(connection.identity.principal.role).inc();
    switch (verdict) {
      case FrameVerdict.Throttle:
        connection.pauseReads(PauseReason.RateLimit, limiter.retryAfterMs);
        return true;
      case FrameVerdict.Refuse: {
        const retryAfterMs = limiter.retryAfterMs;
        connection.enqueue(async () =>
          connection.send(errorFrame({ code: ErrorCode.RateLimited, message: 'too many frames; slow down', retryAfterMs }, frameId)),
        );
        return false;
      }
      default:
        connection.close(CloseCode.PolicyViolation, 'rate limit ignored');
        return false;
    }
  }

  private async routeUpgrade(port: number, request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // A client that resets mid-handshake must not become an unhandled 'error' event (the HTTP
    // server stops listening for them at the upgrade; ws starts again in handleUpgrade).
    const onError = () => socket.destroy();
    socket.on('error', onError);
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://gateway.invalid');
    } catch {
      return rejectUpgrade(socket, 400, 'Bad Request');
    }
    const target = (this.servers.get(port) ?? []).find((server) => server.path === url.pathname);
    if (!target) return rejectUpgrade(socket, 404, 'Not Found');
    if (this.adapterOptions.lifecycle.isShuttingDown) return rejectUpgrade(socket, 503, 'Service Unavailable', 'Retry-After: 1\r\n');
    let refusal: UpgradeRefusal | undefined;
    try {
      refusal = await this.adapterOptions.admission.admit(request, socket, url);
    } catch {
      return rejectUpgrade(socket, 500, 'Internal Server Error');
    }
    if (refusal) {
      const retryAfter = refusal.retryAfterSeconds === undefined ? '' : `Retry-After: ${Math.max(1, refusal.retryAfterSeconds)}\r\n`;
      return rejectUpgrade(socket, refusal.status, STATUS_TEXT[refusal.status], retryAfter);
    }
    if (socket.destroyed) return;
    socket.off('error', onError);
    holdHandshakeWrites(socket as Socket);
    target.handleUpgrade(request, socket, head, (ws) => target.emit('connection', ws, request));
  }
}

function dispatchDirect(connection: Connection, route: DirectRoute, frame: InboundFrame, metrics: GatewayMetrics): void {
  connection.currentFrameSeq = frame.seq;
  connection.currentTraceContext = frame.tc;
  try {
    assertAllowed(connection, route.roles);
    assertValid(route.validate, frame.payload);
    const started = performance.now();
    route.handle(connection, frame.payload);
    // Direct handlers are daemon events: this is receipt → last local client write.
    metrics.fanoutLatency.observe((performance.now() - started) / 1000);
  } catch (error) {
    sendError(connection, error, frame.id);
  } finally {
    connection.currentFrameSeq = undefined;
    connection.currentTraceContext = undefined;
  }
  if (frame.seq !== undefined) connection.scheduleAck();
}

const STATUS_TEXT: Record<UpgradeRefusal['status'], string> = { 403: 'Forbidden', 429: 'Too Many Requests', 503: 'Service Unavailable' };

function rejectUpgrade(socket: Duplex, status: number, text: string, headers = ''): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\n${headers}Connection: close\r\nContent-Length: 0\r\n\r\n`);
}

function rawDataLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((total, chunk) => total + chunk.length, 0);
  return Buffer.isBuffer(data) ? data.length : data.byteLength;
}

function rawDataToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** A route of another role, whose callback this connection does not keep: the guard's answer, in order. */
function refuseRoute(connection: Connection, frame: InboundFrame): void {
  connection.enqueue(async () => {
    sendError(connection, roleRefusal(connection.identity.principal.role), frame.id);
    if (frame.seq !== undefined) connection.scheduleAck();
  });
}
