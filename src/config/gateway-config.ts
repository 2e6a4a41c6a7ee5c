import { WebhookEventType, WS_PATH } from '@arbor/gateway-client/protocol';
import { parseApiKeys, type ApiKey } from './api-keys.js';
import { DEVELOPMENT_JWT_SECRET } from '@arbor/gateway-client/protocol';
import { describeRedisTopology, parseRedisUrl, type RedisTopology } from './redis-address.js';
import { EnvironmentVariables, LogFormat, LogLevel, NodeEnv } from './environment.js';
import { parseAllowedOrigins } from './origins.js';
import { validateEnvironment } from './validate-environment.js';

export type JwtKeyConfig =
  | { kind: 'secret'; secret: string; algorithms: ['HS256']; isDevelopmentSecret: boolean }
  | { kind: 'public-key'; publicKey: string; algorithms: ['RS256', 'ES256'] }
  | { kind: 'jwks'; url: string; algorithms: ['RS256', 'ES256']; refetchMinIntervalMs: number; timeoutMs: number };

/** A token bucket: `rate` tokens a second, at most `burst` saved up. */
export interface RateLimit {
  rate: number;
  burst: number;
}

/** The validated, typed configuration every provider injects. Built once at boot. */
export class GatewayConfig {
  readonly nodeEnv: NodeEnv;
  readonly port: number;
  readonly host: string;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly jwt: JwtKeyConfig;
  readonly audience: string;
  readonly issuer?: string;
  readonly tokenMaxTtlSeconds: number;
  readonly clockToleranceSeconds: number;
  readonly tokenGraceMs: number;
  readonly authApiKey?: string;
  /** `*`, or the exact browser origins allowed to open a WebSocket; undefined (development only): any. */
  readonly allowedOrigins?: '*' | ReadonlySet<string>;
  /** Take the client address from this header (set by a trusted proxy) instead of the socket. */
  readonly clientIpHeader?: string;
  readonly maxConnections: number;
  readonly maxConnectionsPerUser: number;
  readonly handshakeRatePerIp: RateLimit;
  /** How long a new HTTP connection may take to send its request's headers, and its whole request. */
  readonly httpHeadersTimeoutMs: number;
  readonly httpRequestTimeoutMs: number;
  /** Sockets whose first request has not fully arrived yet: at most this many, and per peer address. */
  readonly maxIncompleteRequests: number;
  readonly maxIncompleteRequestsPerIp: number;
  readonly clientMessageRate: RateLimit;
  readonly daemonMessageRate: RateLimit;
  /** The largest frame a daemon may send (and the server-wide cap) ... */
  readonly maxPayloadBytes: number;
  /** ... and a client. */
  readonly clientMaxPayloadBytes: number;
  readonly pingIntervalMs: number;
  readonly daemonStaleMs: number;
  readonly daemonTimeoutMs: number;
  readonly sweepIntervalMs: number;
  readonly drainDelayMs: number;
  readonly drainWindowMs: number;
  readonly maxBufferedBytes: number;
  readonly slowConsumerGraceMs: number;
  /** Bytes a daemon's healthy viewers may hold buffered before the daemon is read no further. */
  readonly fanoutMaxBufferedBytes: number;
  readonly replayMaxEvents: number;
  readonly replayTtlMs: number;
  readonly commandDedupeTtlMs: number;
  /** How long an accepted command waits for its daemon's command-ack before it expires. */
  readonly commandTtlMs: number;
  /** Daemons one multiplexed client connection may watch at once. */
  readonly maxSubscriptionsPerConnection: number;
  /** Serve /metrics on a port of its own (and not on the main port). */
  readonly metricsPort?: number;
  /** Shared state for several instances; undefined runs one instance on in-memory state. */
  /** Where Redis is (one server, Sentinel or Cluster); undefined: one instance, in memory. */
  readonly redis?: RedisTopology;
  readonly redisKeyPrefix: string;
  /** Server API keys (API_KEYS); empty: the server API answers 404. */
  readonly apiKeys: readonly ApiKey[];
  readonly apiRatePerKey: RateLimit;
  /** Undefined: no webhooks are sent. */
  readonly webhook?: { url: string; secret: string; events: ReadonlySet<WebhookEventType>; maxAgeMs: number; timeoutMs: number; retryMaxMs: number };
  readonly consoleEnabled: boolean;
  /** Undefined: tracing off (no span is made, nothing is exported). */
  readonly tracing?: { exporter: 'otlp' | 'console'; url?: string; serviceName: string };
  /** Trust a browser's trace context as the parent of the gateway's spans (else: a new trace, linked). */
  readonly traceAcceptClientContext: boolean;

  constructor(env: EnvironmentVariables) {
    this.nodeEnv = env.NODE_ENV;
    this.port = env.WEBSOCKET_PORT;
    this.host = env.HOST;
    this.logLevel = env.LOG_LEVEL;
    this.logFormat = env.LOG_FORMAT;
    this.jwt = jwtOf(env);
    this.audience = env.JWT_AUDIENCE;
    this.issuer = env.JWT_ISSUER;
    this.tokenMaxTtlSeconds = env.TOKEN_MAX_TTL_SECONDS;
    this.clockToleranceSeconds = env.JWT_CLOCK_TOLERANCE_SECONDS;
    this.tokenGraceMs = env.TOKEN_GRACE_MS;
    this.authApiKey = env.AUTH_API_KEY;
    this.allowedOrigins = env.ALLOWED_ORIGINS === undefined ? undefined : parseAllowedOrigins(env.ALLOWED_ORIGINS);
    this.clientIpHeader = env.CLIENT_IP_HEADER?.toLowerCase();
    this.maxConnections = env.MAX_CONNECTIONS;
    this.maxConnectionsPerUser = env.MAX_CONNECTIONS_PER_USER;
    this.handshakeRatePerIp = { rate: env.HANDSHAKE_RATE_PER_IP, burst: env.HANDSHAKE_BURST_PER_IP };
    this.httpHeadersTimeoutMs = env.HTTP_HEADERS_TIMEOUT_MS;
    this.httpRequestTimeoutMs = env.HTTP_REQUEST_TIMEOUT_MS;
    this.maxIncompleteRequests = env.MAX_INCOMPLETE_REQUESTS;
    this.maxIncompleteRequestsPerIp = env.MAX_INCOMPLETE_REQUESTS_PER_IP;
    this.clientMessageRate = { rate: env.CLIENT_MESSAGE_RATE, burst: env.CLIENT_MESSAGE_BURST };
    this.daemonMessageRate = { rate: env.DAEMON_MESSAGE_RATE, burst: env.DAEMON_MESSAGE_BURST };
    this.maxPayloadBytes = env.MAX_PAYLOAD_BYTES;
    // MAX_PAYLOAD_BYTES caps every frame, so a lower one also caps clients.
    this.clientMaxPayloadBytes = Math.min(env.CLIENT_MAX_PAYLOAD_BYTES, env.MAX_PAYLOAD_BYTES);
    this.pingIntervalMs = env.PING_INTERVAL_MS;
    this.daemonStaleMs = env.DAEMON_STALE_MS;
    this.daemonTimeoutMs = env.DAEMON_TIMEOUT_MS;
    this.sweepIntervalMs = env.SWEEP_INTERVAL_MS;
    this.drainDelayMs = env.DRAIN_DELAY_MS;
    this.drainWindowMs = env.DRAIN_WINDOW_MS;
    this.maxBufferedBytes = env.MAX_BUFFERED_BYTES;
    this.slowConsumerGraceMs = env.SLOW_CONSUMER_GRACE_MS;
    this.fanoutMaxBufferedBytes = env.FANOUT_MAX_BUFFERED_BYTES;
    this.replayMaxEvents = env.REPLAY_MAX_EVENTS;
    this.replayTtlMs = env.REPLAY_TTL_MS;
    this.commandDedupeTtlMs = env.COMMAND_DEDUPE_TTL_MS;
    this.commandTtlMs = env.COMMAND_TTL_MS;
    this.maxSubscriptionsPerConnection = env.MAX_SUBSCRIPTIONS_PER_CONNECTION;
    this.metricsPort = env.METRICS_PORT;
    this.redis = env.REDIS_URL === undefined ? undefined : parseRedisUrl(env.REDIS_URL);
    this.redisKeyPrefix = env.REDIS_KEY_PREFIX;
    this.apiKeys = env.API_KEYS === undefined ? [] : parseApiKeys(env.API_KEYS);
    this.apiRatePerKey = { rate: env.API_RATE_PER_KEY, burst: env.API_BURST_PER_KEY };
    this.webhook = webhookOf(env);
    this.consoleEnabled = env.CONSOLE_ENABLED === 'true';
    this.tracing = tracingOf(env);
    this.traceAcceptClientContext = env.TRACE_ACCEPT_CLIENT_CONTEXT === 'true';
  }

  /**
   * What this start serves beyond the WebSocket, for the one start-up line: what is on, what is
   * off and which variable turns it on (routes that are off answer 404).
   */
  get startupSummary(): Record<string, string> {
    const apiKeyRoutes = this.authApiKey === undefined ? 'off (404): set AUTH_API_KEY' : 'on';
    return {
      redis: this.redis === undefined ? 'off: one instance, in memory (set REDIS_URL to share state)' : describeRedisTopology(this.redis),
      metrics: this.metricsPort === undefined ? 'GET /metrics' : `GET /metrics on port ${this.metricsPort}`,
      tokenEndpoint: this.jwt.kind !== 'secret' ? 'off (404): tokens are signed elsewhere (JWT_PUBLIC_KEY/JWT_JWKS_URL)' : `POST /auth/token ${apiKeyRoutes}`,
      revocations: `POST /auth/revocations ${apiKeyRoutes}`,
      serverApi:
        this.apiKeys.length === 0 ? '/api/v1 off (404): set API_KEYS' : `/api/v1 on (${this.apiKeys.length} key${this.apiKeys.length === 1 ? '' : 's'})`,
      webhooks: this.webhook === undefined ? 'off: set WEBHOOK_URL and WEBHOOK_SECRET' : `on (${[...this.webhook.events].join(', ')})`,
      console: this.consoleEnabled ? 'GET /console' : 'off (404): set CONSOLE_ENABLED=true',
      tracing:
        this.tracing === undefined
          ? 'off: set OTEL_EXPORTER_OTLP_ENDPOINT'
          : `${this.tracing.exporter}${this.tracing.url ? ` to ${new URL(this.tracing.url).host}` : ''}`,
    };
  }

  /** Where a helper on this machine reaches this gateway (the CLI tools dial it by default). */
  get localUrl(): string {
    return `ws://localhost:${this.port}${WS_PATH}`;
  }

  /** The only place the gateway reads process.env. Tests pass their own record. */
  static load(raw: Record<string, string | undefined> = process.env): GatewayConfig {
    return new GatewayConfig(validateEnvironment(raw));
  }
}

function jwtOf(env: EnvironmentVariables): GatewayConfig['jwt'] {
  return env.JWT_JWKS_URL
    ? {
        kind: 'jwks',
        url: env.JWT_JWKS_URL,
        algorithms: ['RS256', 'ES256'],
        refetchMinIntervalMs: env.JWKS_REFETCH_MIN_INTERVAL_MS,
        timeoutMs: env.JWKS_TIMEOUT_MS,
      }
    : env.JWT_PUBLIC_KEY
      ? { kind: 'public-key', publicKey: env.JWT_PUBLIC_KEY, algorithms: ['RS256', 'ES256'] }
      : {
          kind: 'secret',
          secret: env.JWT_SECRET ?? DEVELOPMENT_JWT_SECRET,
          algorithms: ['HS256'],
          isDevelopmentSecret: !env.JWT_SECRET,
        };
}

function webhookOf(env: EnvironmentVariables): GatewayConfig['webhook'] {
  const named = (env.WEBHOOK_EVENTS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '') as WebhookEventType[];
  return env.WEBHOOK_URL === undefined || env.WEBHOOK_SECRET === undefined
    ? undefined
    : {
        url: env.WEBHOOK_URL,
        secret: env.WEBHOOK_SECRET,
        events: new Set(named.length > 0 ? named : Object.values(WebhookEventType)),
        maxAgeMs: env.WEBHOOK_MAX_AGE_MS,
        timeoutMs: env.WEBHOOK_TIMEOUT_MS,
        retryMaxMs: env.WEBHOOK_RETRY_MAX_MS,
      };
}

function tracingOf(env: EnvironmentVariables): GatewayConfig['tracing'] {
  const endpoint =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (env.OTEL_EXPORTER_OTLP_ENDPOINT && `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces`);
  const exporter = env.OTEL_TRACES_EXPORTER ?? (endpoint ? 'otlp' : 'none');
  return exporter === 'none' ? undefined : { exporter: exporter as 'otlp' | 'console', url: endpoint || undefined, serviceName: env.OTEL_SERVICE_NAME };
}
