import { DEVELOPMENT_JWT_SECRET } from '@arbor/gateway-client/protocol';
import { EnvironmentVariables, LogFormat, LogLevel, NodeEnv, validateEnvironment } from './environment.js';

export type JwtKeyConfig =
  | { kind: 'secret'; secret: string; algorithms: ['HS256']; isDevelopmentSecret: boolean }
  | { kind: 'public-key'; publicKey: string; algorithms: ['RS256', 'ES256'] };

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
  readonly authApiKey?: string;
  readonly maxPayloadBytes: number;
  readonly pingIntervalMs: number;
  readonly daemonStaleMs: number;
  readonly daemonTimeoutMs: number;
  readonly sweepIntervalMs: number;
  readonly drainDelayMs: number;
  readonly drainWindowMs: number;
  readonly maxBufferedBytes: number;
  readonly slowConsumerGraceMs: number;
  readonly replayMaxEvents: number;
  readonly replayTtlMs: number;
  readonly commandDedupeTtlMs: number;
  /** Serve /metrics on a port of its own (and not on the main port). */
  readonly metricsPort?: number;
  /** Shared state for several instances; undefined runs one instance on in-memory state. */
  readonly redisUrl?: string;
  readonly redisKeyPrefix: string;

  constructor(env: EnvironmentVariables) {
    this.nodeEnv = env.NODE_ENV;
    this.port = env.WEBSOCKET_PORT;
    this.host = env.HOST;
    this.logLevel = env.LOG_LEVEL;
    this.logFormat = env.LOG_FORMAT;
    this.jwt = env.JWT_PUBLIC_KEY
      ? { kind: 'public-key', publicKey: env.JWT_PUBLIC_KEY, algorithms: ['RS256', 'ES256'] }
      : {
          kind: 'secret',
          secret: env.JWT_SECRET ?? DEVELOPMENT_JWT_SECRET,
          algorithms: ['HS256'],
          isDevelopmentSecret: !env.JWT_SECRET,
        };
    this.audience = env.JWT_AUDIENCE;
    this.issuer = env.JWT_ISSUER;
    this.tokenMaxTtlSeconds = env.TOKEN_MAX_TTL_SECONDS;
    this.clockToleranceSeconds = env.JWT_CLOCK_TOLERANCE_SECONDS;
    this.authApiKey = env.AUTH_API_KEY;
    this.maxPayloadBytes = env.MAX_PAYLOAD_BYTES;
    this.pingIntervalMs = env.PING_INTERVAL_MS;
    this.daemonStaleMs = env.DAEMON_STALE_MS;
    this.daemonTimeoutMs = env.DAEMON_TIMEOUT_MS;
    this.sweepIntervalMs = env.SWEEP_INTERVAL_MS;
    this.drainDelayMs = env.DRAIN_DELAY_MS;
    this.drainWindowMs = env.DRAIN_WINDOW_MS;
    this.maxBufferedBytes = env.MAX_BUFFERED_BYTES;
    this.slowConsumerGraceMs = env.SLOW_CONSUMER_GRACE_MS;
    this.replayMaxEvents = env.REPLAY_MAX_EVENTS;
    this.replayTtlMs = env.REPLAY_TTL_MS;
    this.commandDedupeTtlMs = env.COMMAND_DEDUPE_TTL_MS;
    this.metricsPort = env.METRICS_PORT;
    this.redisUrl = env.REDIS_URL;
    this.redisKeyPrefix = env.REDIS_KEY_PREFIX;
  }

  get isProduction(): boolean {
    return this.nodeEnv === NodeEnv.Production;
  }

  /** The only place the gateway reads process.env. Tests pass their own record. */
  static load(raw: Record<string, string | undefined> = process.env): GatewayConfig {
    return new GatewayConfig(validateEnvironment(raw));
  }
}
