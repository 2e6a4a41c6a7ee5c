import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength, getMetadataStorage, validateSync } from 'class-validator';
import { createPublicKey } from 'node:crypto';
import { DEFAULT_AUDIENCE, DEFAULT_PORT, Limits, WebhookEventType } from '@arbor/gateway-client/protocol';
import { ApiKeysError, parseApiKeys } from './api-keys.js';
import { parseRedisUrl, RedisAddressError } from './redis-address.js';

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
  MAX_INCOMPLETE_REQUESTS: number = 5_000;

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

/** Every variable, optional ones included, in declaration order (from the validation decorators). */
export function declaredVariables(): string[] {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(EnvironmentVariables, '', false, false);
  return [...new Set(metadata.map((entry) => entry.propertyName))];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type RawEnv = Record<string, string | undefined>;

/** Validates the environment; throws ConfigError naming each bad variable. */
export function validateEnvironment(raw: RawEnv): EnvironmentVariables {
  const env = new EnvironmentVariables();
  const problems: string[] = [];
  const target = env as unknown as Record<string, unknown>;
  for (const key of declaredVariables()) {
    const value = raw[key];
    if (value === undefined || value === '') continue;
    if (typeof target[key] === 'number' || NUMERIC_OPTIONAL.has(key)) {
      if (!/^\d+$/.test(value.trim())) {
        problems.push(`${key} must be a whole number (got ${JSON.stringify(value)})`);
        continue;
      }
      target[key] = Number(value.trim());
    } else {
      target[key] = key === 'JWT_PUBLIC_KEY' ? unescapeNewlines(value) : value;
    }
  }
  for (const error of validateSync(env, { forbidUnknownValues: false })) {
    if (problems.some((p) => p.startsWith(error.property + ' '))) continue;
    const messages = Object.values(error.constraints ?? {});
    problems.push(`${messages.join('; ')} (got ${describeValue(error.property, error.value)})`);
  }
  if (env.JWT_PUBLIC_KEY && !problems.some((problem) => problem.startsWith('JWT_PUBLIC_KEY')) && !isPublicKey(env.JWT_PUBLIC_KEY)) {
    problems.push('JWT_PUBLIC_KEY is not a valid PEM public key');
  }
  const keySources = [env.JWT_SECRET && 'JWT_SECRET', env.JWT_PUBLIC_KEY && 'JWT_PUBLIC_KEY', env.JWT_JWKS_URL && 'JWT_JWKS_URL'].filter(Boolean);
  if (keySources.length > 1) {
    problems.push(`${keySources.join(' and ')} are set: configure exactly one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL`);
  }
  if (env.JWT_JWKS_URL) {
    const problem = jwksUrlProblem(env.JWT_JWKS_URL, env.NODE_ENV === NodeEnv.Production);
    if (problem) problems.push(problem);
  }
  if (env.REDIS_URL !== undefined) {
    try {
      parseRedisUrl(env.REDIS_URL);
    } catch (error) {
      if (!(error instanceof RedisAddressError)) throw error;
      problems.push(`REDIS_URL ${error.message}`);
    }
  }
  if (env.ALLOWED_ORIGINS !== undefined) {
    try {
      parseAllowedOrigins(env.ALLOWED_ORIGINS);
    } catch (error) {
      problems.push(`ALLOWED_ORIGINS ${(error as Error).message}`);
    }
  } else if (env.NODE_ENV === NodeEnv.Production) {
    problems.push(
      'ALLOWED_ORIGINS is required when NODE_ENV=production: the browser origins of your app, comma-separated (or * to allow any, which permits cross-site WebSocket hijacking)',
    );
  }

  if (env.LOG_FORMAT === LogFormat.Pretty && env.NODE_ENV !== NodeEnv.Development) {
    problems.push('LOG_FORMAT=pretty is for development only (NODE_ENV=development): production logs are JSON lines');
  }
  if (env.NODE_ENV === NodeEnv.Production && !env.JWT_SECRET && !env.JWT_PUBLIC_KEY && !env.JWT_JWKS_URL) {
    problems.push('JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required when NODE_ENV=production');
  }
  if (env.FANOUT_MAX_BUFFERED_BYTES <= env.MAX_BUFFERED_BYTES) {
    problems.push(
      `FANOUT_MAX_BUFFERED_BYTES (${env.FANOUT_MAX_BUFFERED_BYTES}) must be greater than MAX_BUFFERED_BYTES (${env.MAX_BUFFERED_BYTES}): one slow viewer must not be able to pause a daemon`,
    );
  }
  if (env.HTTP_REQUEST_TIMEOUT_MS < env.HTTP_HEADERS_TIMEOUT_MS) {
    problems.push(
      `HTTP_REQUEST_TIMEOUT_MS (${env.HTTP_REQUEST_TIMEOUT_MS}) must be at least HTTP_HEADERS_TIMEOUT_MS (${env.HTTP_HEADERS_TIMEOUT_MS}): the headers are part of the request`,
    );
  }
  if (env.COMMAND_TTL_MS > env.COMMAND_DEDUPE_TTL_MS) {
    problems.push(
      `COMMAND_TTL_MS (${env.COMMAND_TTL_MS}) must not exceed COMMAND_DEDUPE_TTL_MS (${env.COMMAND_DEDUPE_TTL_MS}): a command still waiting for its daemon must keep its id`,
    );
  }
  if (env.DAEMON_TIMEOUT_MS <= env.DAEMON_STALE_MS) {
    problems.push(`DAEMON_TIMEOUT_MS (${env.DAEMON_TIMEOUT_MS}) must be greater than DAEMON_STALE_MS (${env.DAEMON_STALE_MS})`);
  }
  if (env.API_KEYS !== undefined) {
    try {
      parseApiKeys(env.API_KEYS);
    } catch (error) {
      if (!(error instanceof ApiKeysError)) throw error;
      problems.push(`API_KEYS ${error.message}`);
    }
  }
  if (env.CONSOLE_ENABLED === 'true' && env.API_KEYS === undefined) {
    problems.push('CONSOLE_ENABLED=true needs API_KEYS: the console signs in with an API key');
  }
  if (env.WEBHOOK_URL !== undefined) {
    const problem = webhookUrlProblem(env.WEBHOOK_URL);
    if (problem) problems.push(problem);
    if (env.WEBHOOK_SECRET === undefined) problems.push('WEBHOOK_SECRET is required with WEBHOOK_URL: every webhook is signed');
  }
  if (env.WEBHOOK_EVENTS !== undefined) {
    const unknown = env.WEBHOOK_EVENTS.split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '' && !(Object.values(WebhookEventType) as string[]).includes(name));
    if (unknown.length > 0) problems.push(`WEBHOOK_EVENTS names ${unknown.join(', ')}; known: ${Object.values(WebhookEventType).join(', ')}`);
  }
  if (env.OTEL_TRACES_EXPORTER === 'otlp' && !env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    problems.push('OTEL_TRACES_EXPORTER=otlp needs OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  // No load balancer waits on a developer's machine: a restart (watch mode) must not hold the port through a drain.
  if (env.NODE_ENV === NodeEnv.Development) {
    if (!raw.DRAIN_DELAY_MS) env.DRAIN_DELAY_MS = 0;
    if (!raw.DRAIN_WINDOW_MS) env.DRAIN_WINDOW_MS = 0;
  }
  return env;
}

/**
 * ALLOWED_ORIGINS: `*`, or a comma-separated list of origins (scheme://host[:port], nothing else),
 * normalised as browsers send them: lower-case, default port dropped. Throws on anything else.
 */
export function parseAllowedOrigins(value: string): '*' | ReadonlySet<string> {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) throw new Error('must list at least one origin, or *');
  if (entries.includes('*')) {
    if (entries.length > 1) throw new Error('may not mix * with origins');
    return '*';
  }
  const origins = new Set<string>();
  for (const entry of entries) {
    const origin = normaliseOrigin(entry);
    if (!origin) throw new Error(`has ${JSON.stringify(entry)}, which is not an origin (scheme://host[:port], no path)`);
    origins.add(origin);
  }
  return origins;
}

/** The serialised origin of an http(s) URL with no path, query, fragment or credentials; else undefined. */
export function normaliseOrigin(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username || url.password || url.search || url.hash) return undefined;
  if (!/^[a-z]+:\/\/[^/?#]+\/?$/i.test(value)) return undefined;
  return url.origin;
}

function webhookUrlProblem(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'WEBHOOK_URL must be an http(s) URL';
    if (url.username || url.password) return 'WEBHOOK_URL may not carry credentials (webhooks are signed with WEBHOOK_SECRET)';
    return undefined;
  } catch {
    return 'WEBHOOK_URL must be an http(s) URL';
  }
}

function jwksUrlProblem(value: string, production: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'JWT_JWKS_URL must be an http(s) URL';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && !production) return undefined;
  return 'JWT_JWKS_URL must be an https URL in production';
}

/** Numeric variables without a default (the rest are recognised by their numeric default). */
const NUMERIC_OPTIONAL = new Set(['METRICS_PORT']);

// A Redis URL may carry a password.
const SECRET_VARIABLES = new Set(['JWT_SECRET', 'AUTH_API_KEY', 'JWT_PUBLIC_KEY', 'REDIS_URL', 'API_KEYS', 'WEBHOOK_SECRET', 'WEBHOOK_URL']);

function describeValue(key: string, value: unknown): string {
  if (SECRET_VARIABLES.has(key)) return 'a value that is not shown';
  return JSON.stringify(value);
}

function isPublicKey(pem: string): boolean {
  try {
    return createPublicKey(pem).type === 'public';
  } catch {
    return false;
  }
}

/** PEM keys often arrive through env files with literal "\n". */
function unescapeNewlines(value: string): string {
  return value.includes('\\n') ? value.replace(/\\n/g, '\n') : value;
}
