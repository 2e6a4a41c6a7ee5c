import { jest } from '@jest/globals';
import { CloseCode, DaemonMessageType, DaemonStatus, Role } from '@arbor/gateway-client/protocol';
import type { Principal } from '../auth/principal.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { DomainError } from '../errors/domain.error.js';
import { InMemoryWorkspaceStatusStore } from '../workspaces/in-memory-workspace-status.store.js';
import { WorkspacesService } from '../workspaces/workspaces.service.js';
import { InMemoryDaemonDirectory } from './daemon-directory.js';
import { DaemonService } from './daemon.service.js';
import { CommandService } from './commands/command.service.js';
import { InMemoryCommandInbox } from './commands/in-memory-command-inbox.js';
import { InMemoryDaemonBroker } from './in-memory-daemon.broker.js';
import { InMemoryEventStreams } from './streams/in-memory-event-streams.js';
import { RecordingLink } from '../../test/support/recording-link.js';

const user: Principal = { sub: 'user-1', role: Role.Client, daemons: new Set(['d1']), expiresAt: 0, issuedAt: 0 };
const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('DaemonService', () => {
  let service: DaemonService;
  let commands: CommandService;
  let config: GatewayConfig;

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    config = GatewayConfig.load({ DAEMON_STALE_MS: '1000', DAEMON_TIMEOUT_MS: '3000', SWEEP_INTERVAL_MS: '100' });
    const workspaces = new WorkspacesService(new InMemoryWorkspaceStatusStore());
    const broker = new InMemoryDaemonBroker();
    commands = new CommandService(broker, new InMemoryCommandInbox(60_000, 60_000, (daemonId) => broker.localDaemonLink(daemonId)?.id), config);
    commands.onModuleInit();
    service = new DaemonService(broker, workspaces, config, new InMemoryEventStreams(100, 60_000), commands, new InMemoryDaemonDirectory());
  });

  afterEach(() => {
    service.onModuleDestroy();
    commands.onModuleDestroy();
    jest.useRealTimers();
  });

  it('snapshots an offline daemon for a client and announces it when it connects', async () => {
    const client = new RecordingLink('c1');
    const admission = await service.connectClient('d1', client);
    expect(admission).toEqual({
      connected: {
        daemonId: 'd1',
        workspaceIds: [],
        workspaceStatuses: {},
        daemonStatus: DaemonStatus.Offline,
        stream: { epoch: expect.any(String), seq: 0 },
        recovered: false,
        timestamp: new Date(T0).toISOString(),
      },
      follow: [],
      afterSeq: 0,
    });
    await service.connectDaemon('d1', new RecordingLink('daemon'));
    expect(client.frames).toEqual([
      {
        type: 'daemon-status',
        daemonId: 'd1',
        epoch: admission.connected.stream.epoch,
        seq: 1,
        payload: { daemonId: 'd1', status: 'online', lastHeartbeat: null },
      },
    ]);
  });

  it('replaces an older daemon link, closing it with 4409, without an offline blip', async () => {
    const client = new RecordingLink('c1');
    await service.connectClient('d1', client);
    const older = new RecordingLink('old');
    const newer = new RecordingLink('new');
    await service.connectDaemon('d1', older);
    await service.connectDaemon('d1', newer);
    expect(older.closedWith).toEqual({ code: CloseCode.Replaced, reason: 'replaced by a newer connection' });
    await service.disconnectDaemon('d1', older);
    expect(client.statuses()).toEqual(['online']);
    await commands.sendCommand('d1', user, 'cancel-task' as never, { taskId: 't1' });
    expect(newer.frames).toEqual([{ type: 'cancel-task', id: expect.stringMatching(/^gw-/), payload: { taskId: 't1', userId: 'user-1' } }]);
    expect(older.frames).toEqual([]);
  });

  it('goes stale after DAEMON_STALE_MS and times out after DAEMON_TIMEOUT_MS', async () => {
    const client = new RecordingLink('c1');
    const daemon = new RecordingLink('daemon');
    await service.connectClient('d1', client);
    await service.connectDaemon('d1', daemon);
    await service.heartbeat('d1', daemon, ['w1']);

    await service.sweep(T0 + 999);
    expect(client.statuses()).toEqual(['online']);
    await service.sweep(T0 + 1000);
    expect(client.statuses()).toEqual(['online', 'stale']);
    await service.sweep(T0 + 2000);
    expect(client.statuses()).toEqual(['online', 'stale']);
    await service.sweep(T0 + 3000);
    expect(daemon.closedWith).toEqual({ code: CloseCode.HeartbeatTimeout, reason: 'heartbeat timeout' });
    expect(client.statuses()).toEqual(['online', 'stale', 'offline']);
    expect(client.frames.at(-1).payload.lastHeartbeat).toBe(new Date(T0).toISOString());
    // The socket's own close event arrives later and must not announce offline twice.
    await service.disconnectDaemon('d1', daemon);
    expect(client.statuses()).toEqual(['online', 'stale', 'offline']);
    expect(service.healthSnapshot()).toMatchObject({ online: 0, stale: 0, offline: 1, timedOutTotal: 1 });
  });

  it('counts staleness from the connection when no heartbeat ever came', async () => {
    await service.connectDaemon('d1', new RecordingLink('daemon'));
    await service.sweep(T0 + 1000);
    expect(service.healthSnapshot()).toMatchObject({ online: 0, stale: 1 });
  });

  it('a heartbeat after going stale announces online again', async () => {
    const client = new RecordingLink('c1');
    const daemon = new RecordingLink('daemon');
    await service.connectClient('d1', client);
    await service.connectDaemon('d1', daemon);
    await service.sweep(T0 + 1500);
    jest.setSystemTime(T0 + 1600);
    await service.heartbeat('d1', daemon, []);
    expect(client.statuses()).toEqual(['online', 'stale', 'online']);
    expect(client.frames.at(-1).payload.lastHeartbeat).toBe(new Date(T0 + 1600).toISOString());
  });

  it('stores workspace updates and forwards every event once to each watcher', async () => {
    const a = new RecordingLink('a');
    const b = new RecordingLink('b');
    await service.connectClient('d1', a);
    await service.connectClient('d1', b);
    const daemon = new RecordingLink('daemon');
    await service.connectDaemon('d1', daemon);
    await service.updateWorkspace('d1', daemon, { workspaceId: 'w1', status: 'syncing' });
    expect(await service.getWorkspaceStatus('d1', 'w1')).toEqual({ workspaceId: 'w1', status: 'syncing' });
    for (const link of [a, b]) {
      expect(link.frames.filter((frame) => frame.type === 'workspace-update')).toEqual([
        { type: 'workspace-update', daemonId: 'd1', epoch: expect.any(String), seq: 2, payload: { workspaceId: 'w1', status: 'syncing' } },
      ]);
    }
    await service.disconnectClient('d1', a);
    service.relayEvent('d1', daemon, DaemonMessageType.FileChange, { workspaceId: 'w1', path: 'x', event: 'add' });
    expect(a.frames.some((frame) => frame.type === 'file-change')).toBe(false);
    expect(b.frames.some((frame) => frame.type === 'file-change')).toBe(true);
  });

  it('rejects unknown workspaces with not_found and commands to absent daemons with daemon_offline', async () => {
    await expect(service.getWorkspaceStatus('d1', 'w1')).rejects.toMatchObject({ code: 'not_found' });
    await expect(commands.sendCommand('d1', user, 'run-task' as never, {})).rejects.toBeInstanceOf(DomainError);
    await expect(commands.sendCommand('d1', user, 'run-task' as never, {})).rejects.toMatchObject({ code: 'daemon_offline' });
  });

  it("forgets a daemon's workspaces once neither it nor any watcher remains", async () => {
    const daemon = new RecordingLink('daemon');
    const client = new RecordingLink('c1');
    await service.connectDaemon('d1', daemon);
    await service.connectClient('d1', client);
    await service.heartbeat('d1', daemon, ['w1']);
    await service.disconnectDaemon('d1', daemon);
    expect((await service.getWorkspaceStatus('d1', 'w1')).status).toBe('unknown');
    await service.disconnectClient('d1', client);
    await expect(service.getWorkspaceStatus('d1', 'w1')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('records a command id at most once, and lets a command that found no daemon be retried', async () => {
    const daemon = new RecordingLink('daemon');
    expect(await commands.sendCommand('d1', user, 'run-task' as never, { taskId: 't1' }, 'c1')).toEqual({ status: 'daemon_offline' });
    await service.connectDaemon('d1', daemon);
    expect(await commands.sendCommand('d1', user, 'run-task' as never, { taskId: 't1' }, 'c1')).toEqual({ status: 'accepted' });
    expect(await commands.sendCommand('d1', user, 'run-task' as never, { taskId: 't1' }, 'c1')).toEqual({ status: 'duplicate', outcome: 'accepted' });
    // The daemon knows commands by id alone: another user's command with the same id is refused, never taken for a repeat.
    await expect(commands.sendCommand('d1', { ...user, sub: 'user-2' }, 'run-task' as never, { taskId: 't9' }, 'c1')).rejects.toMatchObject({
      code: 'bad_request',
      field: 'id',
    });
    expect(daemon.ofType('run-task').map((frame) => [frame.id, frame.payload.taskId])).toEqual([['c1', 't1']]);
    jest.setSystemTime(T0 + 60_001);
    expect(await commands.sendCommand('d1', user, 'run-task' as never, { taskId: 't1' }, 'c1')).toEqual({ status: 'accepted' });
  });

  it('reports the sweep late after three missed intervals', () => {
    service.onModuleInit();
    expect(service.isSweepOnSchedule(T0 + 299)).toBe(true);
    expect(service.isSweepOnSchedule(T0 + 300)).toBe(false);
    jest.advanceTimersByTime(250);
    expect(service.isSweepOnSchedule(T0 + 300)).toBe(true);
  });
});
