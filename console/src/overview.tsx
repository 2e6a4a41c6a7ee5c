import { useRef } from 'react';
import { call, type Stats } from './api.js';
import { usePolling } from './hooks.js';

const POINTS = 60;
/** How often the overview polls: one sample per poll. */
const POLL_MS = 2000;

/**
 * A labelled line chart of the last POINTS samples, newest at the right edge (a short history fills
 * from the right, on the same time scale as a full one), with the current value, the range and the
 * time span it covers. Inline SVG: nothing loaded from elsewhere.
 */
function Sparkline({ values, label }: { values: number[]; label: string }) {
  const width = 240;
  const height = 64;
  const max = Math.max(1, ...values);
  const step = width / (POINTS - 1);
  const y = (value: number) => (height - 2 - (value / max) * (height - 14)).toFixed(1);
  const points = values.map((value, index) => `${(width - (values.length - 1 - index) * step).toFixed(1)},${y(value)}`).join(' ');
  const span = Math.max(0, values.length - 1) * (POLL_MS / 1000);
  const range = values.length ? `${Math.min(...values)}–${Math.max(...values)}/s` : '—';
  return (
    <figure className="chart" data-testid="chart">
      <figcaption>
        {label}: <strong data-testid="chart-now">{values.at(-1) ?? 0}/s</strong> now
        <span className="muted">
          {' '}
          · range {range} · last {span >= 60 ? `${Math.round(span / 60)} min` : `${span} s`}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label={`${label}, per second, over the last ${span} s`}>
        <line x1="0" y1={height - 1} x2={width} y2={height - 1} stroke="#dde1e6" strokeWidth="1" />
        <text x="2" y="10" fontSize="9" fill="#5b6670">
          {max}/s
        </text>
        <polyline points={points} fill="none" stroke="currentColor" strokeWidth="2" vectorEffect="non-scaling-stroke" />
      </svg>
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
    POLL_MS,
    'stats',
  );
  if (!data) return <p className="muted">{error ?? 'Loading…'}</p>;
  const { totals } = data;
  return (
    <section>
      <h2>Overview</h2>
      {error && <p className="error">{error}</p>}
      <TotalCards totals={totals} />
      <div className="charts">
        <Sparkline values={history.current.in} label="messages in" />
        <Sparkline values={history.current.out} label="messages out" />
      </div>
      <h3>Instances</h3>
      <InstanceTable instances={data.instances} />
    </section>
  );
}

function TotalCards({ totals }: { totals: Stats['totals'] }) {
  return (
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
  );
}

function InstanceTable({ instances }: { instances: Stats['instances'] }) {
  return (
    <div className="table-scroll">
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
          {instances.map((instance) => (
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
    </div>
  );
}
