import { useRef } from 'react';
import { call, type Stats } from './api.js';
import { usePolling } from './hooks.js';

const POINTS = 60;

/** A small line chart of the last POINTS samples (inline SVG: nothing loaded from elsewhere). */
function Sparkline({ values, label }: { values: number[]; label: string }) {
  const width = 240;
  const height = 48;
  const max = Math.max(1, ...values);
  const points = values
    .map((value, index) => `${((index / (POINTS - 1)) * width).toFixed(1)},${(height - (value / max) * (height - 4) - 2).toFixed(1)}`)
    .join(' ');
  return (
    <figure className="chart">
      <svg width={width} height={height} role="img" aria-label={label}>
        <polyline points={points} fill="none" stroke="currentColor" strokeWidth="2" />
      </svg>
      <figcaption>
        {label}: <strong>{values.at(-1) ?? 0}</strong>/s
      </figcaption>
    </figure>
  );
}

export function Overview() {
  const history = useRef<{ in: number[]; out: number[] }>({ in: [], out: [] });
  const { data, error } = usePolling(
    async () => {
      const stats = await call<Stats>('GET', '/api/v1/stats');
      const series = history.current;
      series.in = [...series.in, stats.totals.messagesInPerSecond].slice(-POINTS);
      series.out = [...series.out, stats.totals.messagesOutPerSecond].slice(-POINTS);
      return stats;
    },
    2000,
    'stats',
  );
  if (!data) return <p className="muted">{error ?? 'Loading…'}</p>;
  const { totals } = data;
  return (
    <section>
      <h2>Overview</h2>
      {error && <p className="error">{error}</p>}
      <div className="cards">
        <div className="card">
          <span className="label">Instances</span>
          <span className="value" data-testid="instances">
            {totals.instances}
          </span>
        </div>
        <div className="card">
          <span className="label">Clients</span>
          <span className="value" data-testid="clients">
            {totals.connections.client ?? 0}
          </span>
        </div>
        <div className="card">
          <span className="label">Daemon connections</span>
          <span className="value">{totals.connections.daemon ?? 0}</span>
        </div>
        <div className="card online">
          <span className="label">Online</span>
          <span className="value" data-testid="online">
            {totals.daemons.online ?? 0}
          </span>
        </div>
        <div className="card stale">
          <span className="label">Stale</span>
          <span className="value">{totals.daemons.stale ?? 0}</span>
        </div>
        <div className="card offline">
          <span className="label">Offline</span>
          <span className="value">{totals.daemons.offline ?? 0}</span>
        </div>
      </div>
      <div className="charts">
        <Sparkline values={history.current.in} label="messages in" />
        <Sparkline values={history.current.out} label="messages out" />
      </div>
      <h3>Instances</h3>
      <table>
        <thead>
          <tr>
            <th>instance</th>
            <th>clients</th>
            <th>daemons</th>
            <th>in/s</th>
            <th>out/s</th>
            <th>slow-consumer cuts</th>
            <th>Redis</th>
            <th>state</th>
          </tr>
        </thead>
        <tbody>
          {data.instances.map((instance) => (
            <tr key={instance.instanceId}>
              <td className="mono">{instance.instanceId}</td>
              <td>{instance.connections.client ?? 0}</td>
              <td>{(instance.daemons.online ?? 0) + (instance.daemons.stale ?? 0)}</td>
              <td>{instance.messagesInPerSecond}</td>
              <td>{instance.messagesOutPerSecond}</td>
              <td>{instance.slowConsumerCuts}</td>
              <td className={instance.redis === 'down' ? 'error' : ''}>{instance.redis}</td>
              <td>{instance.draining ? 'draining' : 'serving'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
