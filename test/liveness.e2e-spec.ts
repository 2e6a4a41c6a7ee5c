import { GatewayHarness } from './support/gateway-harness.js';

describe('daemon heartbeats and connection liveness', () => {
  let gateway: GatewayHarness;

  beforeEach(async () => {
    gateway = await GatewayHarness.start({
      DAEMON_STALE_MS: '150',
      DAEMON_TIMEOUT_MS: '400',
      SWEEP_INTERVAL_MS: '20',
      PING_INTERVAL_MS: '60',
    });
  });

  afterEach(async () => {
    await gateway.stop();
  });

  it('marks a silent daemon stale, then closes it with 4408 and reports it offline', async () => {
    const client = await gateway.client('daemon-1');
    const daemon = await gateway.daemon('daemon-1');
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: ['w1'] } });

    expect((await client.next('daemon-status')).payload.status).toBe('online');
    const stale = await client.next('daemon-status');
    expect(stale.payload).toEqual({ daemonId: 'daemon-1', status: 'stale', lastHeartbeat: expect.any(String) });
    const offline = await client.next('daemon-status');
    expect(offline.payload.status).toBe('offline');
    expect(await daemon.waitClosed()).toEqual({ code: 4408, reason: 'heartbeat timeout' });
    expect(daemon.received.at(-1)).toEqual({ type: 'error', payload: { code: 'heartbeat_timeout', message: 'heartbeat timeout' } });
    expect((await client.request('run-task', { taskId: 't', workspaceId: 'w1', command: 'ls' })).payload.status).toBe('daemon_offline');
  });

  it('a heartbeat brings a stale daemon back online', async () => {
    const client = await gateway.client('daemon-1');
    const daemon = await gateway.daemon('daemon-1');
    await client.next((frame) => frame.type === 'daemon-status' && frame.payload.status === 'stale', 'stale');
    daemon.send({ type: 'heartbeat', payload: { workspaceIds: [] } });
    const online = await client.next('daemon-status');
    expect(online.payload.status).toBe('online');
    expect(online.payload.lastHeartbeat).not.toBeNull();
    expect(daemon.isOpen).toBe(true);
  });

  it('a daemon that keeps sending heartbeats stays online', async () => {
    const client = await gateway.client('daemon-1');
    const daemon = await gateway.daemon('daemon-1');
    const timer = setInterval(() => daemon.send({ type: 'heartbeat', payload: { workspaceIds: ['w1'] } }), 40);
    try {
      // Well past the timeout: the daemon must still be there and never have gone stale.
      await new Promise((resolve) => setTimeout(resolve, 600));
      await daemon.assertAlive();
      expect(client.received.filter((frame) => frame.type === 'daemon-status').map((frame) => frame.payload.status)).toEqual(['online']);
    } finally {
      clearInterval(timer);
    }
  });

  it('terminates a half-open connection that stops answering protocol pings', async () => {
    await gateway.daemon('daemon-1');
    const silent = await gateway.open(gateway.wsUrl({ daemonId: 'daemon-1', token: gateway.token('client' as never, 'user-1', { daemons: ['daemon-1'] }) }), {
      autoPong: false,
    });
    await silent.next('connected');
    const healthy = await gateway.client('daemon-1', 'user-2');
    expect((await silent.waitClosed()).code).toBe(1006);
    // The responsive client outlives several ping rounds.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await healthy.assertAlive();
  });
});
