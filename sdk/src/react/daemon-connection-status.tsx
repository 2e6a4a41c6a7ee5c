import { useEffect, useState } from 'react';
import { DaemonStatus } from '../protocol.js';
import { ConnectionState, type TokenSource, type WebSocketConstructor } from '../reconnecting-websocket.js';
import { useWebSocket } from './use-websocket.js';

export interface DaemonConnectionStatusProps {
  daemonId: string;
  /** A workspace whose cached status to show as well. */
  workspaceId?: string;
  url?: string;
  getToken?: TokenSource;
  WebSocket?: WebSocketConstructor;
  className?: string;
}

const CLASS = 'arbor-daemon-status';

/**
 * The gateway link and the daemon's status in words, for people and screen readers alike
 * (`role="status"`, polite live region). Unstyled: class names per part and state.
 */
export function DaemonConnectionStatus(props: DaemonConnectionStatusProps) {
  const { daemonId, workspaceId } = props;
  const link = useWebSocket({ daemonId, url: props.url, getToken: props.getToken, WebSocket: props.WebSocket });
  const now = useNow(link.status === ConnectionState.Reconnecting || link.daemonStatus === DaemonStatus.Stale);
  const workspaceStatus = useWorkspaceStatus(link, workspaceId);
  // While the link is down the daemon's last known status may be stale: say so instead.
  const daemonState = link.isConnected ? (link.daemonStatus ?? 'unknown') : 'unknown';

  return (
    <div
      role="status"
      aria-live="polite"
      className={[CLASS, `${CLASS}--${link.status}`, props.className].filter(Boolean).join(' ')}
      data-link-state={link.status}
      data-daemon-status={daemonState}
    >
      <span className={`${CLASS}__link`}>Gateway: {describeLink(link.status, link.nextRetryAt, now)}</span>{' '}
      <span className={`${CLASS}__daemon ${CLASS}__daemon--${daemonState}`}>
        Daemon {daemonId}: {describeDaemon(daemonState, link.lastHeartbeat, now)}
      </span>
      {workspaceId !== undefined && (
        <>
          {' '}
          <span className={`${CLASS}__workspace`}>
            Workspace {workspaceId}: {link.isConnected ? (workspaceStatus ?? 'unknown') : 'unknown'}
          </span>
        </>
      )}
    </div>
  );
}

export function describeLink(state: ConnectionState, nextRetryAt: number | undefined, now: number): string {
  switch (state) {
    case ConnectionState.Open:
      return 'connected';
    case ConnectionState.Connecting:
    case ConnectionState.Idle:
      return 'connecting…';
    case ConnectionState.Reconnecting:
      return nextRetryAt === undefined || nextRetryAt <= now ? 'reconnecting…' : `reconnecting (next attempt in ${Math.ceil((nextRetryAt - now) / 1000)} s)`;
    case ConnectionState.Unauthorized:
      return 'unauthorized — sign in again';
    case ConnectionState.Forbidden:
      return 'no access to this daemon';
    case ConnectionState.Closed:
      return 'disconnected';
  }
}

export function describeDaemon(status: DaemonStatus | 'unknown', lastHeartbeat: string | null, now: number): string {
  if (status !== DaemonStatus.Stale) return status;
  if (!lastHeartbeat) return 'stale (no heartbeat yet)';
  return `stale (last heartbeat ${Math.max(0, Math.round((now - Date.parse(lastHeartbeat)) / 1000))} s ago)`;
}

/** Re-renders every second while something on screen counts time. */
function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [ticking]);
  return now;
}

/** The workspace's status: fetched once connected, then kept current by workspace-update events. */
function useWorkspaceStatus(link: ReturnType<typeof useWebSocket>, workspaceId: string | undefined): string | undefined {
  const fromEvents = workspaceId === undefined ? undefined : link.workspaceStatuses[workspaceId];
  const [fetched, setFetched] = useState<string | undefined>(undefined);
  const { client, isConnected } = link;
  useEffect(() => {
    if (!client || !isConnected || workspaceId === undefined) return;
    let cancelled = false;
    client.getWorkspaceStatus(workspaceId).then(
      (reply) => cancelled || setFetched(reply.status),
      () => cancelled || setFetched('not found'),
    );
    return () => {
      cancelled = true;
    };
  }, [client, isConnected, workspaceId]);
  return fromEvents ?? fetched;
}
