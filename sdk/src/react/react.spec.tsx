import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { StrictMode, useState } from 'react';
import type { Frame } from '../protocol.js';
import { FakeGateway, type FakeSocket } from '../testing/fake-gateway.js';
import { connections } from './connection-registry.js';
import { DaemonConnectionStatus } from './daemon-connection-status.js';
import { GatewayProvider } from './gateway-context.js';
import { useWebSocket } from './use-websocket.js';

const URL_BASE = 'ws://gateway.test/ws';

function Probe(props: { daemonId: string; label?: string; onMessage?: (frame: Frame) => void; onConnect?: () => void }) {
  const { status, isConnected, daemonStatus, lastMessage, sendMessage } = useWebSocket({
    daemonId: props.daemonId,
    onMessage: props.onMessage,
    onConnect: props.onConnect,
  });
  return (
    <div data-testid={props.label ?? props.daemonId}>
      {status}|{String(isConnected)}|{daemonStatus ?? '-'}|{lastMessage?.type ?? '-'}
      <button onClick={() => sendMessage({ type: 'ping' })}>send {props.label ?? props.daemonId}</button>
    </div>
  );
}

describe('React bindings', () => {
  let gateway: FakeGateway;
  let tokenCalls: number;

  const wrap = (children: React.ReactNode, strict = false) => {
    const tree = (
      <GatewayProvider url={URL_BASE} getToken={() => `token-${++tokenCalls}`} WebSocket={gateway.WebSocket} options={{ network: null }} releaseDelayMs={50}>
        {children}
      </GatewayProvider>
    );
    return strict ? <StrictMode>{tree}</StrictMode> : tree;
  };

  beforeEach(() => {
    gateway = new FakeGateway();
    tokenCalls = 0;
  });

  afterEach(async () => {
    cleanup();
    await waitFor(() => expect(connections().size).toBe(0));
  });

  const openSockets = () => gateway.sockets.filter((socket) => socket.readyState === 1);

  it('connects, reports state, and calls onConnect and onMessage', async () => {
    const seen: string[] = [];
    render(wrap(<Probe daemonId="d1" onConnect={() => seen.push('connect')} onMessage={(frame) => seen.push(frame.type)} />));
    await screen.findByText(/^open\|true\|online\|subscribed/);
    expect(gateway.last.url.searchParams.has('daemonId')).toBe(false);
    expect([...gateway.last.subscriptions]).toEqual(['d1']);
    expect(gateway.last.token).toBe('token-1');
    act(() => gateway.last.deliver({ type: 'file-change', daemonId: 'd1', payload: { workspaceId: 'w', path: 'a', event: 'add' } }));
    await screen.findByText(/^open\|true\|online\|file-change/);
    expect(seen).toEqual(['subscribed', 'connect', 'file-change']);
  });

  it('opens exactly one socket under StrictMode', async () => {
    render(wrap(<Probe daemonId="d1" />, true));
    await screen.findByText(/^open\|true/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(gateway.sockets).toHaveLength(1);
    expect(openSockets()).toHaveLength(1);
  });

  it('shares one connection per gateway URL between every component, each daemon a subscription on it', async () => {
    render(
      wrap(
        <>
          <Probe daemonId="d1" label="a" />
          <Probe daemonId="d1" label="b" />
          <Probe daemonId="d2" label="c" />
        </>,
      ),
    );
    await waitFor(() => expect(screen.getByTestId('c').textContent).toMatch(/^open/));
    expect(screen.getByTestId('a').textContent).toMatch(/^open/);
    expect(gateway.sockets).toHaveLength(1);
    expect(gateway.last.frames.filter((frame) => frame.type === 'subscribe').map((frame) => frame.payload)).toEqual([{ daemonId: 'd1' }, { daemonId: 'd2' }]);
    act(() => gateway.last.deliver({ type: 'file-change', daemonId: 'd2', payload: { workspaceId: 'w', path: 'a', event: 'add' } }));
    await waitFor(() => expect(screen.getByTestId('c').textContent).toBe('open|true|online|file-changesend c'));
    expect(screen.getByTestId('a').textContent).toBe('open|true|online|subscribedsend a');
  });

  it('reads handlers through a ref: re-renders do not resubscribe or reconnect', async () => {
    const calls: string[] = [];
    function Changing() {
      const [round, setRound] = useState(1);
      useWebSocket({ daemonId: 'd1', onMessage: (frame) => calls.push(`${round}:${frame.type}`) });
      return <button onClick={() => setRound((value) => value + 1)}>round {round}</button>;
    }
    render(wrap(<Changing />));
    await waitFor(() => expect(openSockets()).toHaveLength(1));
    await act(() => screen.getByText('round 1').click());
    await act(() => screen.getByText('round 2').click());
    await screen.findByText('round 3');
    act(() => gateway.last.deliver({ type: 'daemon-status', payload: { daemonId: 'd1', status: 'stale', lastHeartbeat: null } }));
    expect(calls).toEqual(['1:subscribed', '3:daemon-status']);
    expect(gateway.sockets).toHaveLength(1);
  });

  it('sendMessage sends while connected and closes the socket after the last unmount', async () => {
    const view = render(wrap(<Probe daemonId="d1" />));
    await screen.findByText(/^open/);
    await act(() => screen.getByText('send d1').click());
    expect(gateway.last.frames.filter((frame) => frame.type !== 'subscribe')).toEqual([{ type: 'ping' }]);
    view.unmount();
    await waitFor(() => expect(gateway.last.readyState).toBe(3));
    expect(gateway.last.closedByClient?.code).toBe(1000);
  });

  it("sendMessage addresses commands and requests to the hook's daemon on the shared connection", async () => {
    function Commander() {
      const { sendMessage, isConnected } = useWebSocket({ daemonId: 'd2' });
      return (
        <button onClick={() => sendMessage({ type: 'run-task', id: 'c1', payload: { taskId: 't', workspaceId: 'w', command: 'ls' } })}>
          run {String(isConnected)}
        </button>
      );
    }
    render(wrap(<Commander />));
    // findByText waits outside act: React warns when a wait runs inside an act scope.
    const run = await screen.findByText('run true');
    await act(() => run.click());
    expect(gateway.last.frames.find((frame) => frame.type === 'run-task')).toEqual({
      type: 'run-task',
      id: 'c1',
      payload: { taskId: 't', workspaceId: 'w', command: 'ls', daemonId: 'd2' },
    });
  });

  describe('DaemonConnectionStatus', () => {
    function answerWorkspaceStatus(status: string) {
      gateway.onFrame = (socket: FakeSocket, frame) => {
        if (frame.type === 'get-workspace-status') socket.deliver({ type: 'workspace-status', id: frame.id, payload: { workspaceId: 'w1', status } });
      };
    }

    it('is a polite live region showing link, daemon and workspace', async () => {
      answerWorkspaceStatus('idle');
      render(wrap(<DaemonConnectionStatus daemonId="daemon-123" workspaceId="w1" />));
      const status = await screen.findByRole('status');
      expect(status.getAttribute('aria-live')).toBe('polite');
      await waitFor(() => expect(status.textContent).toBe('Gateway: connected Daemon daemon-123: online Workspace w1: idle'));
      expect(status.className).toContain('arbor-daemon-status--open');
      act(() => gateway.last.deliver({ type: 'workspace-update', daemonId: 'daemon-123', payload: { workspaceId: 'w1', status: 'syncing' } }));
      await waitFor(() => expect(status.textContent).toContain('Workspace w1: syncing'));
    });

    it('shows stale with the heartbeat age, then offline', async () => {
      render(wrap(<DaemonConnectionStatus daemonId="daemon-123" />));
      const status = await screen.findByRole('status');
      await waitFor(() => expect(status.textContent).toContain('online'));
      const lastHeartbeat = new Date(Date.now() - 42_000).toISOString();
      act(() => gateway.last.deliver({ type: 'daemon-status', daemonId: 'daemon-123', payload: { daemonId: 'daemon-123', status: 'stale', lastHeartbeat } }));
      await waitFor(() => expect(status.textContent).toMatch(/Daemon daemon-123: stale \(last heartbeat 4[23] s ago\)/));
      expect(status.getAttribute('data-daemon-status')).toBe('stale');
      act(() => gateway.last.deliver({ type: 'daemon-status', daemonId: 'daemon-123', payload: { daemonId: 'daemon-123', status: 'offline', lastHeartbeat } }));
      await waitFor(() => expect(status.textContent).toContain('Daemon daemon-123: offline'));
    });

    it('shows reconnecting with the next attempt, never the stale daemon status, and unauthorized', async () => {
      render(wrap(<DaemonConnectionStatus daemonId="daemon-123" />));
      const status = await screen.findByRole('status');
      await waitFor(() => expect(status.textContent).toContain('online'));
      gateway.options.autoAccept = false;
      act(() => gateway.last.drop());
      await waitFor(() => expect(status.textContent).toMatch(/Gateway: reconnecting/));
      expect(status.textContent).toContain('Daemon daemon-123: unknown');
      await waitFor(() => expect(gateway.sockets).toHaveLength(2));
      act(() => gateway.last.closeFromServer(4401, 'token expired'));
      await waitFor(() => expect(gateway.sockets).toHaveLength(3), { timeout: 3000 });
      act(() => gateway.last.closeFromServer(4401, 'token expired'));
      await waitFor(() => expect(status.textContent).toContain('Gateway: unauthorized'));
    });

    it('shows the fresh snapshot after a failed recovery, never the stale state', async () => {
      render(wrap(<DaemonConnectionStatus daemonId="daemon-123" workspaceId="w1" />));
      const status = await screen.findByRole('status');
      await waitFor(() => expect(status.textContent).toContain('online'));
      act(() =>
        gateway.last.deliver({ type: 'workspace-update', daemonId: 'daemon-123', epoch: 'fake', seq: 1, payload: { workspaceId: 'w1', status: 'syncing' } }),
      );
      await waitFor(() => expect(status.textContent).toContain('Workspace w1: syncing'));
      gateway.options.autoSubscribe = false;
      act(() => gateway.last.drop());
      await waitFor(() => expect(gateway.sockets).toHaveLength(2), { timeout: 3000 });
      await waitFor(() => expect(gateway.last.frames.some((frame) => frame.type === 'subscribe')).toBe(true));
      const resume = gateway.last.frames.find((frame) => frame.type === 'subscribe')!;
      expect(resume.payload).toEqual({ daemonId: 'daemon-123', since: 'fake:1' });
      // The resume failed: the gateway answers with a fresh snapshot in a new epoch.
      act(() => {
        gateway.last.deliver({
          type: 'subscribed',
          id: resume.id,
          payload: {
            daemonId: 'daemon-123',
            workspaceIds: ['w1'],
            workspaceStatuses: { w1: 'error' },
            daemonStatus: 'offline',
            stream: { epoch: 'e2', seq: 7 },
            recovered: false,
            timestamp: 'now',
          },
        });
        gateway.last.deliver({ type: 'resync-required', daemonId: 'daemon-123', payload: { reason: 'history_expired', stream: { epoch: 'e2', seq: 7 } } });
      });
      await waitFor(() => expect(status.textContent).toBe('Gateway: connected Daemon daemon-123: offline Workspace w1: error'));
    });

    it('says so when the user has no access to a daemon, and only for that daemon', async () => {
      gateway.options.autoSubscribe = false;
      gateway.onFrame = (socket, frame) => {
        const { daemonId } = (frame.payload ?? {}) as { daemonId?: string };
        if (frame.type !== 'subscribe') return;
        if (daemonId === 'daemon-9') socket.deliver({ type: 'error', id: frame.id, payload: { code: 'forbidden', message: 'no access' } });
        else socket.answerSubscription(frame);
      };
      render(
        wrap(
          <>
            <DaemonConnectionStatus daemonId="daemon-9" />
            <DaemonConnectionStatus daemonId="daemon-1" />
          </>,
        ),
      );
      const [refused, allowed] = await screen.findAllByRole('status');
      await waitFor(() => expect(refused.textContent).toContain('Gateway: no access to this daemon'));
      await waitFor(() => expect(allowed.textContent).toBe('Gateway: connected Daemon daemon-1: online'));
      expect(gateway.sockets).toHaveLength(1);
    });

    it('says so when the gateway refuses the connection itself', async () => {
      gateway.onConnection = (socket) => socket.closeFromServer(4403, 'forbidden');
      gateway.options.autoAccept = false;
      render(wrap(<DaemonConnectionStatus daemonId="daemon-9" />));
      const status = await screen.findByRole('status');
      await waitFor(() => expect(status.textContent).toContain('Gateway: no access to this daemon'));
      expect(gateway.sockets).toHaveLength(1);
    });
  });
});
