import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { DEFAULT_AUDIENCE, DEFAULT_PORT, Limits } from '@arbor/gateway-client/protocol';

export enum NodeEnv {
  Development = 'development',
  Production = 'production',
  Test = 'test',
}

export enum LogLevel {
  Debug = 'debug',
  Info = 'info',
  Warn = 'warn',
  Error = 'error',
  Silent = 'silent',
}

/** How log lines are written: JSON lines, or readable lines on a developer's terminal. */
export enum LogFormat {
  Json = 'json',
  Pretty = 'pretty',
}

/**
 * Every environment variable the gateway reads, with its default. `.env.example` lists them in
 * this order. Numbers are parsed strictly (digits only) before validation: no implicit coercion.
 */
export class EnvironmentVariables {
  @IsIn(Object.values(NodeEnv))
  NODE_ENV: NodeEnv = NodeEnv.Development;

  @IsInt()
  @Min(0)
  @Max(65535)
  WEBSOCKET_PORT: number = DEFAULT_PORT;

  @IsString()
  @MinLength(1)
  HOST: string = '0.0.0.0';

  @IsIn(Object.values(LogLevel))
  LOG_LEVEL: LogLevel = LogLevel.Info;

  @IsIn(Object.values(LogFormat))
  LOG_FORMAT: LogFormat = LogFormat.Json;

  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'JWT_SECRET must be at least 32 characters' })
  JWT_SECRET?: string;

  @IsOptional()
  @IsString()
  @Matches(/-----BEGIN PUBLIC KEY-----/, { message: 'JWT_PUBLIC_KEY must be a PEM public key' })
  JWT_PUBLIC_KEY?: string;

  @IsString()
  @MinLength(1)
  @MaxLength(256)
  JWT_AUDIENCE: string = DEFAULT_AUDIENCE;

  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(256)
  JWT_ISSUER?: string;

  @IsInt()
  @Min(1)
  @Max(86400)
  TOKEN_MAX_TTL_SECONDS: number = Limits.DEFAULT_TOKEN_MAX_TTL_SECONDS;

  @IsInt()
  @Min(0)
  @Max(Limits.MAX_CLOCK_TOLERANCE_SECONDS)
  JWT_CLOCK_TOLERANCE_SECONDS: number = Limits.MAX_CLOCK_TOLERANCE_SECONDS;

  @IsOptional()
  @IsString()
  @Matches(/^\S+$/, { message: 'JWT_JWKS_URL must be an http(s) URL' })
  JWT_JWKS_URL?: string;

  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  JWKS_REFETCH_MIN_INTERVAL_MS: number = 30_000;

  @IsInt()
  @Min(100)
  @Max(60_000)
  JWKS_TIMEOUT_MS: number = 5_000;

  @IsInt()
  @Min(0)
  @Max(600_000)
  TOKEN_GRACE_MS: number = 30_000;

  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'AUTH_API_KEY must be at least 16 characters' })
  AUTH_API_KEY?: string;

  @IsOptional()
  @IsString()
  ALLOWED_ORIGINS?: string;

  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9-]{1,64}$/, { message: 'CLIENT_IP_HEADER must be an HTTP header name' })
  CLIENT_IP_HEADER?: string;

  @IsInt()
  @Min(1)
  @Max(10_000_000)
  MAX_CONNECTIONS: number = 50_000;

  @IsInt()
  @Min(1)
  @Max(1_000_000)
  MAX_CONNECTIONS_PER_USER: number = 100;

  @IsInt()
  @Min(1)
  @Max(1_000_000)
  HANDSHAKE_RATE_PER_IP: number = 20;

  @IsInt()
  @Min(1)
  @Max(1_000_000)
  HANDSHAKE_BURST_PER_IP: number = 60;

  @IsInt()
  @Min(100)
  @Max(120_000)
  HTTP_HEADERS_TIMEOUT_MS: number = 5_000;

  @IsInt()
  @Min(100)
  @Max(600_000)
  HTTP_REQUEST_TIMEOUT_MS: number = 10_000;

  @IsInt()
  @Min(1)
  @Max(10_000_000)
  MAX_INCOMPLETE_REQUESTS: number = 20_000;

  @IsInt()
  @Min(1)
  @Max(1_000_000)
  MAX_INCOMPLETE_REQUESTS_PER_IP: number = 100;

  @IsInt()
  @Min(1)
  @Max(10_000_000)
  CLIENT_MESSAGE_RATE: number = 20;

  @IsInt()
  @Min(1)
  @Max(10_000_000)
  CLIENT_MESSAGE_BURST: number = 40;

  @IsInt()
  @Min(1)
  @Max(10_000_000)
  DAEMON_MESSAGE_RATE: number = 2_000;

  @IsInt()
  @Min(1)
  @Max(10_000_000)
  DAEMON_MESSAGE_BURST: number = 10_000;

  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  MAX_PAYLOAD_BYTES: number = Limits.DEFAULT_MAX_PAYLOAD_BYTES;

  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  CLIENT_MAX_PAYLOAD_BYTES: number = Limits.DEFAULT_CLIENT_MAX_PAYLOAD_BYTES;

  @IsInt()
  @Min(10)
  @Max(600_000)
  PING_INTERVAL_MS: number = 25_000;

  @IsInt()
  @Min(10)
  @Max(3_600_000)
  DAEMON_STALE_MS: number = 30_000;

  @IsInt()
  @Min(10)
  @Max(3_600_000)
  DAEMON_TIMEOUT_MS: number = 60_000;

  @IsInt()
  @Min(5)
  @Max(60_000)
  SWEEP_INTERVAL_MS: number = 1_000;

  @IsInt()
  @Min(0)
  @Max(120_000)
  DRAIN_DELAY_MS: number = 5_000;

  @IsInt()
  @Min(0)
  @Max(600_000)
  DRAIN_WINDOW_MS: number = 15_000;

  @IsInt()
  @Min(1024)
  @Max(1024 * 1024 * 1024)
  MAX_BUFFERED_BYTES: number = 1024 * 1024;

  @IsInt()
  @Min(10)
  @Max(600_000)
  SLOW_CONSUMER_GRACE_MS: number = 5_000;

  @IsInt()
  @Min(64 * 1024)
  @Max(1024 * 1024 * 1024)
  FANOUT_MAX_BUFFERED_BYTES: number = 4 * 1024 * 1024;

  @IsInt()
  @Min(0)
  @Max(1_000_000)
  REPLAY_MAX_EVENTS: number = Limits.DEFAULT_REPLAY_MAX_EVENTS;

  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  REPLAY_TTL_MS: number = Limits.DEFAULT_REPLAY_TTL_MS;

  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  COMMAND_DEDUPE_TTL_MS: number = 10 * 60 * 1000;

  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  COMMAND_TTL_MS: number = Limits.DEFAULT_COMMAND_TTL_MS;

  @IsInt()
  @Min(1)
  @Max(10_000)
  MAX_SUBSCRIPTIONS_PER_CONNECTION: number = Limits.DEFAULT_MAX_SUBSCRIPTIONS;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(65535)
  METRICS_PORT?: number;

  /** One server, Sentinel or Cluster: see parseRedisUrl. */
  @IsOptional()
  @IsString()
  REDIS_URL?: string;

  @IsString()
  @Matches(/^[A-Za-z0-9:_.-]{1,64}$/, { message: 'REDIS_KEY_PREFIX must be 1-64 characters of A-Z a-z 0-9 : _ . -' })
  REDIS_KEY_PREFIX: string = 'arbor:';

  /** Server API keys, `id:secret:scope,…`: see parseApiKeys. */
  @IsOptional()
  @IsString()
  API_KEYS?: string;

  @IsInt()
  @Min(1)
  @Max(1_000_000)
  API_RATE_PER_KEY: number = 50;

  @IsInt()
  @Min(1)
  @Max(1_000_000)
  API_BURST_PER_KEY: number = 100;

  @IsOptional()
  @IsString()
  @Matches(/^\S+$/, { message: 'WEBHOOK_URL must be an http(s) URL' })
  WEBHOOK_URL?: string;

  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'WEBHOOK_SECRET must be at least 32 characters' })
  WEBHOOK_SECRET?: string;

  /** Comma-separated event names to send; empty: all of them. */
  @IsOptional()
  @IsString()
  WEBHOOK_EVENTS?: string;

  @IsInt()
  @Min(1000)
  @Max(7 * 86_400_000)
  WEBHOOK_MAX_AGE_MS: number = 3_600_000;

  @IsInt()
  @Min(100)
  @Max(60_000)
  WEBHOOK_TIMEOUT_MS: number = 10_000;

  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  WEBHOOK_RETRY_MAX_MS: number = 300_000;

  @IsIn(['true', 'false'])
  CONSOLE_ENABLED: string = 'false';

  /** otlp, console or none; unset: otlp when an OTLP endpoint is set, else none (tracing off). */
  @IsOptional()
  @IsIn(['otlp', 'console', 'none'], { message: 'OTEL_TRACES_EXPORTER must be otlp, console or none' })
  OTEL_TRACES_EXPORTER?: string;

  @IsOptional()
  @IsString()
  @Matches(/^https?:\/\/\S+$/, { message: 'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL' })
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;

  @IsOptional()
  @IsString()
  @Matches(/^https?:\/\/\S+$/, { message: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http(s) URL' })
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;

  @IsString()
  @MinLength(1)
  @MaxLength(128)
  OTEL_SERVICE_NAME: string = 'arbor-gateway';

  @IsIn(['true', 'false'])
  TRACE_ACCEPT_CLIENT_CONTEXT: string = 'false';
}
