// What every load-generator scenario shares: the command line, the server's ports, and the helpers
// that open peers, pump events and bound a run.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { fileChange, protocols } from './protocols.mjs';

export const { values } = parseArgs({
  options: {
    protocol: { type: 'string' },
    port: { type: 'string' },
    // Clients may connect to another instance than the daemon (the Redis scenario).
    'client-port': { type: 'string' },
    // Fan-out over several instances (the Cluster scenario): daemon k on ports[k % n], its clients on ports[(k + 1) % n].
    ports: { type: 'string' },
    daemons: { type: 'string', default: '1' },
    scenario: { type: 'string' },
    clients: { type: 'string', default: '100' },
    events: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '100' },
    // Connections are spread over 127.0.0.x source addresses, a fresh range each run, so that
    // earlier runs' TIME_WAIT sockets and the ephemeral-port range never slow a handshake.
    'source-base': { type: 'string', default: String(2 + Math.floor(Math.random() * 200)) },
    'per-source': { type: 'string', default: '1000' },
    'timeout-ms': { type: 'string', default: '120000' },
    // storm-mux: users watching `daemons-per-user` daemons each, one connection per daemon or one multiplexed.
    users: { type: 'string', default: '2000' },
    'daemons-per-user': { type: 'string', default: '5' },
    style: { type: 'string', default: 'multiplexed' },
    // commands: whether the daemon confirms (command-ack) and commands settle on `delivered`; `no` for a
    // gateway without confirmed commands (the path before them), where a command settles at the daemon.
    confirm: { type: 'string', default: 'auto' },
  },
});
export const protocol = protocols[values.protocol];
export const port = Number(values.port);
export const clientPort = Number(values['client-port'] ?? values.port);
export const DAEMON = 'bench-daemon';
const HIGH_WATER = 1024 * 1024;

const lines = createInterface({ input: process.stdin });
export const nextLine = () => new Promise((resolve) => lines.once('line', resolve));

/** Opens `count` peers, `concurrency` at a time, spread over 127.0.0.x source addresses. */
export async function openMany(count, concurrency, make) {
  const peers = new Array(count);
  let failures = 0;
  let next = 0;
  const perSource = Number(values['per-source']);
  const sourceBase = Number(values['source-base']);
  async function worker() {
    while (next < count) {
      const index = next++;
      const localAddress = `127.0.0.${2 + ((sourceBase - 2 + Math.floor(index / perSource)) % 250)}`;
      try {
        const peer = make(index, { localAddress });
        peers[index] = peer;
        await peer.ready;
      } catch {
        failures += 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { peers, failures };
}

/** Sends `count` file-change events as fast as the daemon's socket drains. */
export async function pump(daemon, count, onSent = () => {}) {
  for (let seq = 0; seq < count; seq += 1) {
    while (daemon.buffered() > HIGH_WATER) await new Promise((resolve) => setImmediate(resolve));
    daemon.send(fileChange(seq));
    onSent(seq);
    if ((seq & 255) === 255) await new Promise((resolve) => setImmediate(resolve));
  }
}

export function deadline(label) {
  const ms = Number(values['timeout-ms']);
  let timer;
  const promise = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${label}: timed out after ${ms} ms`)), ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

export function arborClientWithToken(token, options) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?daemonId=${DAEMON}&token=${token}`, { perMessageDeflate: false, ...options });
  const ready = new Promise((resolve, reject) => {
    socket.once('message', () => resolve());
    socket.once('error', reject);
    socket.once('close', (code) => reject(new Error(`closed ${code}`)));
  });
  return { ready, socket, close: () => socket.terminate() };
}

/**
 * Client `index`'s own address as an ingress reports it (X-Forwarded-For): every storm client
 * arrives from this machine's one address, as every user does through an ingress.
 */
export function forwardedFor(index) {
  return `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
}

/** A WebSocket class for the SDK whose handshakes carry `address` as X-Forwarded-For. */
export function webSocketFrom(address) {
  return class extends WebSocket {
    constructor(url) {
      super(url, { headers: { 'x-forwarded-for': address } });
    }
  };
}

/** All refusals of a tally `countRefusals` keeps. */
export function refusedIn(refusals) {
  return Object.values(refusals).reduce((total, count) => total + count, 0);
}

/** Counts the handshakes the server refused (503, 429, …) by status, from the SDK's error events. */
export function countRefusals(client, refusals) {
  client.on('error', (error) => {
    const status = /Unexpected server response: (\d{3})/.exec(error?.message ?? '')?.[1];
    if (status) refusals[status] = (refusals[status] ?? 0) + 1;
  });
}

/** Waits for the orchestrator's go-ahead after a restart; it carries when the server was back (epoch ms). */
export async function restartedAt() {
  const line = await nextLine();
  return Number(String(line).split(' ')[1]) || Date.now();
}
