import { useState } from 'react';
import { call, type DaemonDetails, type Session, type StreamPosition } from './api.js';
import { usePolling } from './hooks.js';
import { Time } from './time.js';

interface Viewers {
  viewers: Array<{ userId: string; connections: number }>;
}
interface RecentEvents {
  stream: StreamPosition;
  events: Array<{ type: string; seq: number; payload: unknown }>;
}

/** One daemon: status, instance, workspaces, stream head, viewers, last events, and (write keys) actions. */
export function DaemonPage({ daemonId, session }: { daemonId: string; session: Session }) {
  const base = `/api/v1/daemons/${encodeURIComponent(daemonId)}`;
  const details = usePolling(() => call<DaemonDetails>('GET', base), 2000, base);
  const viewers = usePolling(() => call<Viewers>('GET', `${base}/viewers`), 2000, `${base}/viewers`);
  const events = usePolling(() => call<RecentEvents>('GET', `${base}/events?limit=20`), 2000, `${base}/events`);
  const daemon = details.data;
  if (!daemon) return <p className="muted">{details.error ?? 'Loading…'}</p>;
  return (
    <section>
      <p>
        <a href="#/daemons">← daemons</a>
      </p>
      <h2>
        {daemon.daemonId}{' '}
        <span className={`status ${daemon.status}`} data-testid="daemon-status">
          {daemon.status}
        </span>
      </h2>
      <DaemonFacts daemon={daemon} />
      <h3>Workspaces</h3>
      <WorkspaceList statuses={daemon.workspaceStatuses} />
      <h3>Viewers</h3>
      <ViewerList viewers={viewers.data?.viewers ?? []} />
      {session.scope === 'write' && <DaemonActions daemon={daemon} base={base} session={session} />}
      <h3>Last events</h3>
      <LastEvents events={events.data?.events ?? []} />
    </section>
  );
}

function DaemonFacts({ daemon }: { daemon: DaemonDetails }) {
  return (
    <dl className="facts">
      <dt>instance</dt>
      <dd className="mono">{daemon.instance ?? '—'}</dd>
      <dt>connected</dt>
      <dd>
        <Time iso={daemon.connectedAt} />
      </dd>
      <dt>last heartbeat</dt>
      <dd>
        <Time iso={daemon.lastHeartbeat} />
      </dd>
      <dt>stream head</dt>
      <dd className="mono">
        {daemon.stream.epoch}:{daemon.stream.seq}
      </dd>
    </dl>
  );
}

function WorkspaceList({ statuses }: { statuses: DaemonDetails['workspaceStatuses'] }) {
  if (Object.keys(statuses).length === 0) return <p className="muted">none reported</p>;
  return (
    <ul>
      {Object.entries(statuses).map(([workspaceId, status]) => (
        <li key={workspaceId}>
          <span className="mono">{workspaceId}</span>: {status}
        </li>
      ))}
    </ul>
  );
}

function ViewerList({ viewers }: Viewers) {
  if (viewers.length === 0) return <p className="muted">nobody is watching</p>;
  return (
    <ul>
      {viewers.map((viewer) => (
        <li key={viewer.userId}>
          {viewer.userId}: {viewer.connections} connection{viewer.connections === 1 ? '' : 's'}
        </li>
      ))}
    </ul>
  );
}

/** What a write key may do to the daemon: disconnect it, revoke it or a user, send a test task. */
function DaemonActions({ daemon, base, session }: { daemon: DaemonDetails; base: string; session: Session }) {
  const { daemonId } = daemon;
  const [outcome, setOutcome] = useState<string>('');
  const [userToRevoke, setUserToRevoke] = useState('');
  const act = (label: string, action: () => Promise<unknown>) => {
    setOutcome(`${label}…`);
    action().then(
      (answer) => setOutcome(`${label}: ${JSON.stringify(answer)}`),
      (error: unknown) => setOutcome(`${label} failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  };
  const testRunTask = () => {
    const taskId = `console-test-${Date.now()}`;
    act('test run-task', () =>
      call('POST', `${base}/commands?wait=5000`, {
        type: 'run-task',
        id: taskId,
        userId: `console:${session.keyId}`,
        payload: { taskId, workspaceId: daemon.workspaceIds[0] ?? 'console', command: 'echo', args: ['arbor console test'] },
      }),
    );
  };
  return (
    <>
      <h3>Actions</h3>
      <div className="actions">
        <button
          onClick={() => act('disconnect', () => call('POST', '/api/v1/disconnect', { daemonId, reason: `console (${session.keyId})`, reconnect: true }))}
        >
          Disconnect (it may reconnect)
        </button>
        <button
          className="danger"
          onClick={() => act('revoke', () => call('POST', '/api/v1/disconnect', { daemonId, reason: `revoked from the console (${session.keyId})` }))}
        >
          Disconnect and revoke its tokens
        </button>
        <button onClick={testRunTask}>Send a test run-task</button>
      </div>
      <form
        className="actions"
        onSubmit={(event) => {
          event.preventDefault();
          if (userToRevoke)
            act(`revoke user ${userToRevoke}`, () =>
              call('POST', '/api/v1/disconnect', { userId: userToRevoke, reason: `revoked from the console (${session.keyId})` }),
            );
        }}
      >
        <input aria-label="user to revoke" placeholder="user id (token sub)" value={userToRevoke} onChange={(event) => setUserToRevoke(event.target.value)} />
        <button className="danger" type="submit">
          Revoke user
        </button>
      </form>
      {outcome && (
        <p className="outcome" data-testid="outcome">
          {outcome}
        </p>
      )}
    </>
  );
}

function LastEvents({ events }: { events: RecentEvents['events'] }) {
  return (
    <div className="table-scroll">
      <table>
        <thead>
          <tr>
            <th>seq</th>
            <th>type</th>
            <th>payload (secret-looking fields redacted)</th>
          </tr>
        </thead>
        <tbody>
          {events
            .slice()
            .reverse()
            .map((event) => (
              <tr key={event.seq}>
                <td>{event.seq}</td>
                <td>{event.type}</td>
                <td className="mono">{JSON.stringify(event.payload)}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </div>
  );
}
