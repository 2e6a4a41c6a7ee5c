import { getMetadataStorage, validateSync } from 'class-validator';
import { createPublicKey } from 'node:crypto';
import { WebhookEventType } from '@arbor/gateway-client/protocol';
import { ApiKeysError, parseApiKeys } from './api-keys.js';
import { EnvironmentVariables, LogFormat, NodeEnv } from './environment.js';
import { parseAllowedOrigins } from './origins.js';
import { parseRedisUrl, RedisAddressError } from './redis-address.js';

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
  const problems = readValues(raw, env);
  for (const error of validateSync(env, { forbidUnknownValues: false })) {
    if (problems.some((p) => p.startsWith(error.property + ' '))) continue;
    const messages = Object.values(error.constraints ?? {});
    problems.push(`${messages.join('; ')} (got ${describeValue(error.property, error.value)})`);
  }
  problems.push(...keyProblems(env, problems), ...addressProblems(env), ...boundProblems(env), ...featureProblems(env));
  if (problems.length > 0) throw new ConfigError(problems);
  // No load balancer waits on a developer's machine: a restart (watch mode) must not hold the port through a drain.
  if (env.NODE_ENV === NodeEnv.Development) {
    if (!raw.DRAIN_DELAY_MS) env.DRAIN_DELAY_MS = 0;
    if (!raw.DRAIN_WINDOW_MS) env.DRAIN_WINDOW_MS = 0;
  }
  return env;
}

/** Sets each variable given on `env`, numbers parsed; returns the problems of those that are not numbers. */
function readValues(raw: RawEnv, env: EnvironmentVariables): string[] {
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
  return problems;
}

/** How tokens are verified: one key source, usable, and one at all in production. */
function keyProblems(env: EnvironmentVariables, found: readonly string[]): string[] {
  const problems: string[] = [];
  if (env.JWT_PUBLIC_KEY && !found.some((problem) => problem.startsWith('JWT_PUBLIC_KEY')) && !isPublicKey(env.JWT_PUBLIC_KEY)) {
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
  if (env.NODE_ENV === NodeEnv.Production && !env.JWT_SECRET && !env.JWT_PUBLIC_KEY && !env.JWT_JWKS_URL) {
    problems.push('JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required when NODE_ENV=production');
  }
  return problems;
}

/** Addresses and lists parsed by their own readers: Redis, browser origins, API keys. */
function addressProblems(env: EnvironmentVariables): string[] {
  const problems: string[] = [];
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
  if (env.API_KEYS !== undefined) {
    try {
      parseApiKeys(env.API_KEYS);
    } catch (error) {
      if (!(error instanceof ApiKeysError)) throw error;
      problems.push(`API_KEYS ${error.message}`);
    }
  }
  return problems;
}

/** Limits that only make sense in relation to one another. */
function boundProblems(env: EnvironmentVariables): string[] {
  const problems: string[] = [];
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
  return problems;
}

/** Features that need their companions: the console, webhooks, tracing, pretty logs. */
function featureProblems(env: EnvironmentVariables): string[] {
  const problems: string[] = [];
  if (env.LOG_FORMAT === LogFormat.Pretty && env.NODE_ENV !== NodeEnv.Development) {
    problems.push('LOG_FORMAT=pretty is for development only (NODE_ENV=development): production logs are JSON lines');
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
  return problems;
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
