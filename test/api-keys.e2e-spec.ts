import { API_KEYS, READ_SECRET, WRITE_SECRET } from './support/api-client.js';
import { GatewayHarness } from './support/gateway-harness.js';

const AUTH_API_KEY = 'backend-api-key-0123456789';
const TOKENS_SECRET = 'tokens-key-secret-that-is-at-least-32-chars';

/** AUTH_API_KEY and API_KEYS are one mechanism: AUTH_API_KEY is a `tokens` key, and API_KEYS may list such keys too. */
describe('API keys: one mechanism for token routes and the server API', () => {
  const call = (gateway: GatewayHarness, method: string, path: string, secret: string | null, body?: unknown) =>
    fetch(`${gateway.httpUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const mint = (gateway: GatewayHarness, secret: string | null) =>
    call(gateway, 'POST', '/auth/token', secret, { sub: 'user-1', role: 'client', daemons: ['d1'] });

  describe('with AUTH_API_KEY and API_KEYS holding read, write and tokens keys', () => {
    let gateway: GatewayHarness;
    beforeAll(async () => {
      gateway = await GatewayHarness.start({ AUTH_API_KEY, API_KEYS: `${API_KEYS},minter:${TOKENS_SECRET}:tokens`, CONSOLE_ENABLED: 'true' });
    });
    afterAll(() => gateway.stop());

    it('token routes take AUTH_API_KEY and tokens keys, and refuse server-API keys with 401', async () => {
      expect((await mint(gateway, AUTH_API_KEY)).status).toBe(201);
      expect((await mint(gateway, TOKENS_SECRET)).status).toBe(201);
      expect((await call(gateway, 'POST', '/auth/revocations', TOKENS_SECRET, { userId: 'user-9' })).status).toBe(201);
      for (const secret of [READ_SECRET, WRITE_SECRET, null]) expect((await mint(gateway, secret)).status).toBe(401);
    });

    it('the server API refuses tokens keys with 403, naming the scope', async () => {
      for (const secret of [AUTH_API_KEY, TOKENS_SECRET]) {
        const answer = await call(gateway, 'GET', '/api/v1/daemons', secret);
        expect(answer.status).toBe(403);
        expect(((await answer.json()) as { message: string }).message).toMatch(/^key "(AUTH_API_KEY|minter)" has scope tokens; this route needs a read key$/);
      }
      expect((await call(gateway, 'GET', '/api/v1/daemons', READ_SECRET)).status).toBe(200);
    });

    it('the console signs in server-API keys only', async () => {
      const signIn = (secret: string) =>
        fetch(`${gateway.httpUrl}/console/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-arbor-console': '1' },
          body: JSON.stringify({ secret }),
        });
      expect((await signIn(TOKENS_SECRET)).status).toBe(401);
      expect((await signIn(AUTH_API_KEY)).status).toBe(401);
      expect((await signIn(READ_SECRET)).status).toBe(200);
    });
  });

  it('with only a tokens key, the server API does not exist (404) and tokens are minted', async () => {
    const gateway = await GatewayHarness.start({ API_KEYS: `minter:${TOKENS_SECRET}:tokens` });
    try {
      expect((await call(gateway, 'GET', '/api/v1/daemons', TOKENS_SECRET)).status).toBe(404);
      expect((await call(gateway, 'GET', '/api/v1/openapi.json', TOKENS_SECRET)).status).toBe(404);
      expect((await mint(gateway, TOKENS_SECRET)).status).toBe(201);
    } finally {
      await gateway.stop();
    }
  });

  it('AUTH_API_KEY may also be the secret of a server-API key: each route takes it with the scope it needs', async () => {
    const gateway = await GatewayHarness.start({ AUTH_API_KEY: WRITE_SECRET, API_KEYS });
    try {
      expect((await mint(gateway, WRITE_SECRET)).status).toBe(201);
      expect((await call(gateway, 'POST', '/api/v1/disconnect', WRITE_SECRET, { userId: 'nobody', reason: 'test' })).status).toBe(200);
    } finally {
      await gateway.stop();
    }
  });

  it('with only server-API keys, the token routes do not exist (404)', async () => {
    const gateway = await GatewayHarness.start({ API_KEYS });
    try {
      expect((await mint(gateway, WRITE_SECRET)).status).toBe(404);
      expect((await call(gateway, 'POST', '/auth/revocations', WRITE_SECRET, { userId: 'u' })).status).toBe(404);
    } finally {
      await gateway.stop();
    }
  });
});
