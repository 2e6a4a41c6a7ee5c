import { generateKeyPairSync } from 'node:crypto';
import { DEVELOPMENT_JWT_SECRET } from '@arbor/gateway-client/protocol';
import { ConfigError, validateEnvironment } from './validate-environment.js';
import { GatewayConfig } from './gateway-config.js';

const PEM = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ESCAPED_PEM = PEM.trim().replace(/\n/g, '\\n');

function problemsOf(env: Record<string, string>): string[] {
  try {
    validateEnvironment(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('environment validation', () => {
  it('takes REDIS_URL as one server, Sentinel or Cluster, and names what is wrong without echoing it', () => {
    expect(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual([]);
    expect(problemsOf({ REDIS_URL: 'redis+sentinel://s1:26379,s2/?name=mymaster' })).toEqual([]);
    const problems = problemsOf({ REDIS_URL: 'redis+sentinel://:hunter2@s1:26379' });
    expect(problems).toEqual([expect.stringMatching(/^REDIS_URL is a Sentinel address without the master name/)]);
    expect(problems.join()).not.toContain('hunter2');
    expect(problemsOf({ REDIS_URL: 'memcached://x' })).toEqual([expect.stringContaining('REDIS_URL has an unknown scheme "memcached:"')]);
    expect(problemsOf({ REDIS_URL: 'redis+cluster://n1:7000,n2:7001' })).toEqual([]);
    expect(GatewayConfig.load({ REDIS_URL: 'redis+sentinel://s1/?name=m' }).redis).toMatchObject({ kind: 'sentinel', name: 'm' });
  });

  it('applies the documented defaults', () => {
    const config = GatewayConfig.load({});
    expect(config).toMatchObject({
      port: 3001,
      host: '0.0.0.0',
      audience: 'arbor-gateway',
      tokenMaxTtlSeconds: 300,
      clockToleranceSeconds: 30,
      maxPayloadBytes: 1048576,
      pingIntervalMs: 25000,
      daemonStaleMs: 30000,
      daemonTimeoutMs: 60000,
    });
    expect(config.jwt).toEqual({ kind: 'secret', secret: DEVELOPMENT_JWT_SECRET, algorithms: ['HS256'], isDevelopmentSecret: true });
  });

  it.each([
    [{ WEBSOCKET_PORT: '3001abc' }, 'WEBSOCKET_PORT'],
    [{ WEBSOCKET_PORT: '-1' }, 'WEBSOCKET_PORT'],
    [{ WEBSOCKET_PORT: '1.5' }, 'WEBSOCKET_PORT'],
    [{ PING_INTERVAL_MS: '0' }, 'PING_INTERVAL_MS'],
    [{ JWT_CLOCK_TOLERANCE_SECONDS: '31' }, 'JWT_CLOCK_TOLERANCE_SECONDS'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ JWT_PUBLIC_KEY: 'not a pem' }, 'JWT_PUBLIC_KEY'],
    [{ AUTH_API_KEY: 'short' }, 'AUTH_API_KEY'],
    [{ MAX_PAYLOAD_BYTES: '10' }, 'MAX_PAYLOAD_BYTES'],
  ])('names the bad variable in %j', (env, variable) => {
    const problems = problemsOf(env);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(variable);
  });

  const SECRET_A = 'a'.repeat(32);
  const SECRET_B = 'b'.repeat(32);

  it.each([
    ['an entry without a scope', `ops:${SECRET_A}`, "entry 1 is not id:secret:scope (the secret may not contain ':' or ',')"],
    ['a short secret', 'ops:short:read', 'key "ops" has a secret shorter than 32 characters'],
    ['an unknown scope', `ops:${SECRET_A}:admin`, 'key "ops" has scope "admin"; use read, write or tokens'],
    ['the id AUTH_API_KEY goes by', `AUTH_API_KEY:${SECRET_A}:tokens`, 'key id "AUTH_API_KEY" is the name AUTH_API_KEY goes by; choose another'],
    ['an id twice', `ops:${SECRET_A}:read,ops:${SECRET_B}:write`, 'key id "ops" is listed twice'],
    ['a secret twice', `ops:${SECRET_A}:read,backend:${SECRET_A}:write`, 'key "backend" reuses another key\'s secret'],
  ])('API_KEYS with %s: says what is wrong, never the secret', (_label, value, message) => {
    const problems = problemsOf({ API_KEYS: value });
    expect(problems).toEqual([`API_KEYS ${message}`]);
    expect(problems.join()).not.toContain(SECRET_A);
  });

  it('parses API keys, webhooks and the console switch', () => {
    const config = GatewayConfig.load({
      API_KEYS: `ops:${SECRET_A}:read, backend:${SECRET_B}:write`,
      WEBHOOK_URL: 'https://hooks.example.com/arbor',
      WEBHOOK_SECRET: SECRET_B,
      WEBHOOK_EVENTS: 'daemon.online,daemon.offline',
      CONSOLE_ENABLED: 'true',
    });
    expect(config.apiKeys).toEqual([
      { id: 'ops', secret: SECRET_A, scope: 'read' },
      { id: 'backend', secret: SECRET_B, scope: 'write' },
    ]);
    expect(config.apiRatePerKey).toEqual({ rate: 50, burst: 100 });
    expect(config.webhook).toEqual({
      url: 'https://hooks.example.com/arbor',
      secret: SECRET_B,
      events: new Set(['daemon.online', 'daemon.offline']),
      maxAgeMs: 3_600_000,
      timeoutMs: 10_000,
      retryMaxMs: 300_000,
    });
    expect(config.consoleEnabled).toBe(true);
    expect(config.startupSummary).toMatchObject({ serverApi: '/api/v1 on (2 keys)', webhooks: 'on (daemon.online, daemon.offline)', console: 'GET /console' });
  });

  it.each([
    [{ WEBHOOK_URL: 'https://hooks.example.com/x' }, 'WEBHOOK_SECRET is required with WEBHOOK_URL: every webhook is signed'],
    [{ WEBHOOK_URL: 'ftp://hooks.example.com/x', WEBHOOK_SECRET: 'c'.repeat(32) }, 'WEBHOOK_URL must be an http(s) URL'],
    [
      { WEBHOOK_URL: 'https://u:p@hooks.example.com/x', WEBHOOK_SECRET: 'c'.repeat(32) },
      'WEBHOOK_URL may not carry credentials (webhooks are signed with WEBHOOK_SECRET)',
    ],
    [
      { WEBHOOK_EVENTS: 'daemon.online,daemon.exploded' },
      'WEBHOOK_EVENTS names daemon.exploded; known: daemon.online, daemon.stale, daemon.offline, daemon.replaced',
    ],
    [{ CONSOLE_ENABLED: 'true' }, 'CONSOLE_ENABLED=true needs API_KEYS: the console signs in with an API key'],
  ])('refuses %j', (env, message) => {
    expect(problemsOf(env)).toEqual([message]);
  });

  it('turns tracing on with an OTLP endpoint or an exporter, and checks the pair', () => {
    expect(GatewayConfig.load({}).tracing).toBeUndefined();
    expect(GatewayConfig.load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      exporter: 'otlp',
      url: 'http://collector:4318/v1/traces',
      serviceName: 'arbor-gateway',
    });
    expect(GatewayConfig.load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing).toBeUndefined();
    expect(GatewayConfig.load({ OTEL_TRACES_EXPORTER: 'console' }).tracing).toEqual({ exporter: 'console', url: undefined, serviceName: 'arbor-gateway' });
    expect(problemsOf({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual([
      'OTEL_TRACES_EXPORTER=otlp needs OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    ]);
    expect(GatewayConfig.load({ TRACE_ACCEPT_CLIENT_CONTEXT: 'true' }).traceAcceptClientContext).toBe(true);
  });

  it('drains at once in development unless told otherwise (a watch-mode restart must not hold the port), and as documented elsewhere', () => {
    expect(GatewayConfig.load({})).toMatchObject({ drainDelayMs: 0, drainWindowMs: 0 });
    expect(GatewayConfig.load({ DRAIN_DELAY_MS: '300' })).toMatchObject({ drainDelayMs: 300, drainWindowMs: 0 });
    expect(GatewayConfig.load({ NODE_ENV: 'test' })).toMatchObject({ drainDelayMs: 5000, drainWindowMs: 15000 });
  });

  it('lists every problem at once', () => {
    expect(problemsOf({ WEBSOCKET_PORT: 'x', LOG_LEVEL: 'x' })).toHaveLength(2);
  });

  it('refuses production without a verification key', () => {
    expect(problemsOf({ NODE_ENV: 'production', ALLOWED_ORIGINS: '*' })).toEqual([
      'JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL is required when NODE_ENV=production',
    ]);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), ALLOWED_ORIGINS: '*' })).toEqual([]);
  });

  it('refuses production without ALLOWED_ORIGINS (an explicit * is accepted)', () => {
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) })[0]).toContain('ALLOWED_ORIGINS is required');
  });

  it('refuses ambiguous keys, a key that does not parse, and a timeout not above the stale threshold', () => {
    expect(problemsOf({ JWT_SECRET: 's'.repeat(32), JWT_PUBLIC_KEY: PEM })[0]).toContain('configure exactly one');
    expect(problemsOf({ JWT_PUBLIC_KEY: PEM, JWT_JWKS_URL: 'https://idp.example.com/jwks.json' })[0]).toContain('configure exactly one');
    expect(problemsOf({ JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\\nabc\\n-----END PUBLIC KEY-----' })).toEqual([
      'JWT_PUBLIC_KEY is not a valid PEM public key',
    ]);
    expect(problemsOf({ DAEMON_STALE_MS: '100', DAEMON_TIMEOUT_MS: '100' })[0]).toContain('DAEMON_TIMEOUT_MS');
  });

  it('accepts AUTH_API_KEY with a public key: revocations need it even where the gateway cannot sign', () => {
    expect(problemsOf({ JWT_PUBLIC_KEY: PEM, AUTH_API_KEY: 'k'.repeat(16) })).toEqual([]);
  });

  it('normalises ALLOWED_ORIGINS and refuses anything that is not an origin', () => {
    expect(GatewayConfig.load({ ALLOWED_ORIGINS: 'HTTPS://App.Example.com:443, http://localhost:5173' }).allowedOrigins).toEqual(
      new Set(['https://app.example.com', 'http://localhost:5173']),
    );
    expect(GatewayConfig.load({ ALLOWED_ORIGINS: '*' }).allowedOrigins).toBe('*');
    expect(GatewayConfig.load({ ALLOWED_ORIGINS: 'https://app.example.com/' }).allowedOrigins).toEqual(new Set(['https://app.example.com']));
    for (const bad of ['https://app.example.com/x', 'app.example.com', 'null', 'ftp://x.example', '*,https://a.example', 'https://u:p@a.example', ' , ']) {
      expect(problemsOf({ ALLOWED_ORIGINS: bad })[0]).toContain('ALLOWED_ORIGINS');
    }
  });

  it('requires an https JWKS URL in production', () => {
    const production = { NODE_ENV: 'production', ALLOWED_ORIGINS: '*' };
    expect(problemsOf({ ...production, JWT_JWKS_URL: 'http://idp.example.com/jwks.json' })).toEqual(['JWT_JWKS_URL must be an https URL in production']);
    expect(problemsOf({ ...production, JWT_JWKS_URL: 'https://idp.example.com/jwks.json' })).toEqual([]);
  });

  it('never echoes secret values', () => {
    const problems = problemsOf({ JWT_SECRET: 'tiny-secret' });
    expect(problems.join()).not.toContain('tiny-secret');
  });

  it('turns escaped newlines in JWT_PUBLIC_KEY into real ones', () => {
    const config = GatewayConfig.load({ JWT_PUBLIC_KEY: ESCAPED_PEM });
    expect(config.jwt).toEqual({ kind: 'public-key', publicKey: PEM.trim(), algorithms: ['RS256', 'ES256'] });
  });

  it('sums up at start what is on and which variable turns the rest on, without Redis credentials', () => {
    expect(GatewayConfig.load({}).startupSummary).toEqual({
      redis: 'off: one instance, in memory (set REDIS_URL to share state)',
      metrics: 'GET /metrics',
      tokenEndpoint: 'POST /auth/token off (404): set AUTH_API_KEY',
      revocations: 'POST /auth/revocations off (404): set AUTH_API_KEY',
      serverApi: '/api/v1 off (404): set API_KEYS',
      webhooks: 'off: set WEBHOOK_URL and WEBHOOK_SECRET',
      console: 'off (404): set CONSOLE_ENABLED=true',
      tracing: 'off: set OTEL_EXPORTER_OTLP_ENDPOINT',
    });
    const configured = GatewayConfig.load({
      REDIS_URL: 'redis://user:hunter2@redis.internal:6380/0',
      METRICS_PORT: '9464',
      AUTH_API_KEY: 'k'.repeat(32),
    }).startupSummary;
    expect(configured).toEqual({
      redis: 'redis.internal:6380',
      metrics: 'GET /metrics on port 9464',
      tokenEndpoint: 'POST /auth/token on',
      revocations: 'POST /auth/revocations on',
      serverApi: '/api/v1 off (404): set API_KEYS',
      webhooks: 'off: set WEBHOOK_URL and WEBHOOK_SECRET',
      console: 'off (404): set CONSOLE_ENABLED=true',
      tracing: 'off: set OTEL_EXPORTER_OTLP_ENDPOINT',
    });
    expect(GatewayConfig.load({ JWT_PUBLIC_KEY: ESCAPED_PEM }).startupSummary.tokenEndpoint).toMatch(/^off \(404\)/);
  });
});
