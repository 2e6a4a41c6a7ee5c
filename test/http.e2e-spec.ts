import { Role } from '@arbor/gateway-client/protocol';
import { LifecycleState } from '../src/lifecycle/lifecycle.state.js';
import { GatewayHarness } from './support/gateway-harness.js';

const API_KEY = 'backend-api-key-0123456789';

describe('health endpoints', () => {
  let gateway: GatewayHarness;

  beforeEach(async () => {
    gateway = await GatewayHarness.start();
  });

  afterEach(async () => {
    await gateway.stop();
  });

  it('reports daemon counts from heartbeat state', async () => {
    const daemon = await gateway.daemon('daemon-1');
    await gateway.daemon('daemon-2');
    await gateway.client('daemon-offline');
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: [] } });
    await daemon.assertAlive();

    const response = await fetch(`${gateway.httpUrl}/health`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as any;
    expect(body.status).toBe('ok');
    expect(body.details.daemons).toMatchObject({ status: 'up', online: 2, stale: 0, offline: 1, timedOutTotal: 0 });
    expect(Date.parse(body.details.daemons.lastSweepAt)).toBeGreaterThan(Date.now() - 10_000);
    expect(body.details.heap.status).toBe('up');
    expect(body.details.gateway.status).toBe('up');
  });

  it('serves liveness and readiness probes', async () => {
    expect((await fetch(`${gateway.httpUrl}/health/live`)).status).toBe(200);
    const ready = await fetch(`${gateway.httpUrl}/health/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as any).details.daemons.status).toBe('up');
  });

  it('readiness answers 503 once shutdown begins while liveness stays up', async () => {
    gateway.app.get(LifecycleState).beforeApplicationShutdown();
    const ready = await fetch(`${gateway.httpUrl}/health/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as any).error.gateway).toEqual({ status: 'down', reason: 'shutting down' });
    expect((await fetch(`${gateway.httpUrl}/health`)).status).toBe(503);
    expect((await fetch(`${gateway.httpUrl}/health/live`)).status).toBe(200);
  });
});

describe('graceful close', () => {
  it('closes open connections with 1012 instead of dropping them', async () => {
    const gateway = await GatewayHarness.start();
    const daemon = await gateway.daemon('daemon-1');
    const client = await gateway.client('daemon-1');
    await gateway.app.close();
    expect((await daemon.waitClosed()).code).toBe(1012);
    expect(await client.waitClosed()).toEqual({ code: 1012, reason: expect.stringMatching(/^server draining; retry-after-ms=\d+$/) });
  });
});

describe('POST /auth/token', () => {
  it('does not exist without AUTH_API_KEY', async () => {
    const gateway = await GatewayHarness.start();
    try {
      const response = await fetch(`${gateway.httpUrl}/auth/token`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` } });
      expect(response.status).toBe(404);
    } finally {
      await gateway.stop();
    }
  });

  describe('with AUTH_API_KEY', () => {
    let gateway: GatewayHarness;
    const post = (body: unknown, key: string | null = API_KEY) =>
      fetch(`${gateway.httpUrl}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(body),
      });

    beforeAll(async () => {
      gateway = await GatewayHarness.start({ AUTH_API_KEY: API_KEY });
    });

    afterAll(async () => {
      await gateway.stop();
    });

    it('refuses a missing or wrong API key with 401', async () => {
      expect((await post({ sub: 'user-1', role: 'client', daemons: ['d1'] }, null)).status).toBe(401);
      expect((await post({ sub: 'user-1', role: 'client', daemons: ['d1'] }, 'wrong-key-wrong-key')).status).toBe(401);
    });

    it('validates the body', async () => {
      expect((await post({ sub: 'user-1', role: 'admin' })).status).toBe(400);
      expect((await post({ sub: 'user-1', role: 'client' })).status).toBe(400);
      expect((await post({ sub: 'user-1', role: 'client', daemons: ['d1'], extra: true })).status).toBe(400);
      expect((await post({ sub: 'user-1', role: 'client', daemons: ['d1'], ttlSeconds: '60' })).status).toBe(400);
    });

    it('issues a token the WebSocket endpoint accepts, capped at the maximum lifetime', async () => {
      const response = await post({ sub: 'user-1', role: 'client', daemons: ['daemon-1'], ttlSeconds: 3600 });
      expect(response.status).toBe(201);
      const { token, expiresAt } = (await response.json()) as any;
      const lifetime = Date.parse(expiresAt) - Date.now();
      expect(lifetime).toBeLessThanOrEqual(300_000);
      expect(lifetime).toBeGreaterThan(290_000);
      const peer = await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token }));
      expect((await peer.next('connected')).payload.daemonId).toBe('daemon-1');

      const daemonResponse = await post({ sub: 'daemon-1', role: Role.Daemon });
      const daemon = await gateway.open(gateway.wsUrl({ token: ((await daemonResponse.json()) as any).token }));
      await daemon.next('connected');
    });
  });
});
