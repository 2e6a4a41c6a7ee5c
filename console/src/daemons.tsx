import { useState } from 'react';
import { call, type DaemonSummary } from './api.js';
import { usePolling } from './hooks.js';

const PAGE_SIZE = 50;

/** A page of daemons from the server API (never every daemon at once), refreshed every 2 s. */
export function DaemonList() {
  const [prefix, setPrefix] = useState('');
  const [status, setStatus] = useState('');
  // Cursors of the pages before this one, for "previous".
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const cursor = cursors[cursors.length - 1];
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (prefix) query.set('prefix', prefix);
  if (status) query.set('status', status);
  if (cursor) query.set('cursor', cursor);
  const path = `/api/v1/daemons?${query.toString()}`;
  const { data, error } = usePolling(() => call<{ items: DaemonSummary[]; nextCursor: string | null }>('GET', path), 2000, path);
  const restart = () => setCursors([null]);
  return (
    <section>
      <h2>Daemons</h2>
      <div className="filters">
        <input
          aria-label="search by id prefix"
          placeholder="daemon id starts with…"
          value={prefix}
          onChange={(event) => {
            setPrefix(event.target.value);
            restart();
          }}
        />
        <StatusFilter
          value={status}
          onChange={(next) => {
            setStatus(next);
            restart();
          }}
        />
      </div>
      {error && <p className="error">{error}</p>}
      <DaemonTable daemons={data?.items ?? []} />
      <div className="pager">
        <button disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← previous
        </button>
        <button disabled={!data?.nextCursor} onClick={() => data?.nextCursor && setCursors([...cursors, data.nextCursor])}>
          next →
        </button>
      </div>
    </section>
  );
}

function StatusFilter({ value, onChange }: { value: string; onChange: (status: string) => void }) {
  return (
    <select aria-label="status" value={value} onChange={(event) => onChange(event.target.value)}>
      <option value="">any status</option>
      <option value="online">online</option>
      <option value="stale">stale</option>
      <option value="offline">offline</option>
    </select>
  );
}

function DaemonTable({ daemons }: { daemons: DaemonSummary[] }) {
  return (
    <div className="table-scroll">
      <table data-testid="daemon-table">
        <thead>
          <tr>
            <th>daemon</th>
            <th>status</th>
            <th>instance</th>
            <th>workspaces</th>
            <th>stream</th>
            <th>viewers</th>
          </tr>
        </thead>
        <tbody>
          {daemons.map((daemon) => (
            <tr key={daemon.daemonId}>
              <td>
                <a href={`#/daemons/${encodeURIComponent(daemon.daemonId)}`}>{daemon.daemonId}</a>
              </td>
              <td>
                <span className={`status ${daemon.status}`}>{daemon.status}</span>
              </td>
              <td className="mono">{daemon.instance ?? '—'}</td>
              <td>{daemon.workspaceIds.length}</td>
              <td className="mono">
                {daemon.stream.epoch}:{daemon.stream.seq}
              </td>
              <td>
                {daemon.viewers.users} users, {daemon.viewers.connections} connections
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
