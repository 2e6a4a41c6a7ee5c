// How the load generator speaks to each server under test. Every peer exposes the same surface:
// ready (resolves on the server's `connected`), send(frame), onEvent(text => …), buffered(), close().
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { mintToken } from './common.mjs';

function wsPeer(url, options = {}) {
  const socket = new WebSocket(url, { perMessageDeflate: false, ...options });
  let onEvent = () => {};
  let resolveReady;
  let rejectReady;
  const ready = new Promise((resolve, reject) => ((resolveReady = resolve), (rejectReady = reject)));
  let isReady = false;
  socket.on('message', (data) => {
    if (!isReady) {
      const text = data.toString();
      if (text.includes('"type":"connected"')) {
        isReady = true;
        resolveReady();
        return;
      }
    }
    onEvent(data);
  });
  socket.on('error', (error) => rejectReady(error));
  socket.on('close', (code) => {
    if (!isReady) rejectReady(new Error(`closed before connected: ${code}`));
  });
  return {
    ready,
    socket,
    send: (frame) => socket.send(JSON.stringify(frame)),
    onEvent: (callback) => (onEvent = callback),
    buffered: () => socket.bufferedAmount,
    close: () => socket.terminate(),
  };
}

export const protocols = {
  /** (A) Arbor Gateway: real tokens, real validation. */
  arbor: {
    daemon: (port, daemonId, options) => wsPeer(`ws://127.0.0.1:${port}/ws?token=${mintToken({ sub: daemonId, role: 'daemon' })}`, options),
    client: (port, daemonId, options, userId = 'bench-user') =>
      wsPeer(`ws://127.0.0.1:${port}/ws?daemonId=${daemonId}&token=${mintToken({ sub: userId, role: 'client', daemons: [daemonId] })}`, options),
  },
  /** (B) the raw ws relay baseline. */
  raw: {
    daemon: (port, daemonId, options) => wsPeer(`ws://127.0.0.1:${port}/?role=daemon&id=${daemonId}`, options),
    client: (port, daemonId, options) => wsPeer(`ws://127.0.0.1:${port}/?role=client&daemon=${daemonId}`, options),
  },
  /** (C) Socket.IO rooms. */
  socketio: {
    daemon: (port, daemonId, options) => ioPeer(port, { role: 'daemon', id: daemonId }, options),
    client: (port, daemonId, options) => ioPeer(port, { role: 'client', daemon: daemonId }, options),
  },
};

function ioPeer(port, query, options = {}) {
  const socket = io(`http://127.0.0.1:${port}`, {
    transports: ['websocket'],
    query,
    reconnection: false,
    forceNew: true,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  let onEvent = () => {};
  const ready = new Promise((resolve, reject) => {
    socket.once('connected', resolve);
    socket.once('connect_error', reject);
  });
  socket.on('event', (frame) => onEvent(frame));
  return {
    ready,
    socket,
    send: (frame) => socket.emit('event', frame),
    onEvent: (callback) => (onEvent = callback),
    buffered: () => socket.io.engine?.transport?.ws?.bufferedAmount ?? 0,
    close: () => socket.disconnect(),
  };
}

/** The sequence number a file-change event carries in its path (`e/<seq>/<sent ms>`). */
export function sequenceOf(event) {
  const text = typeof event === 'string' ? event : Buffer.isBuffer(event) ? event.toString() : event.payload.path;
  const start = text.indexOf('e/') + 2;
  return Number.parseInt(text.slice(start, text.indexOf('/', start)), 10);
}

/** The send time (performance.now() of the load generator) a file-change event carries. */
export function sentAtOf(event) {
  const text = typeof event === 'string' ? event : Buffer.isBuffer(event) ? event.toString() : event.payload.path;
  const start = text.indexOf('e/') + 2;
  const slash = text.indexOf('/', start);
  return Number.parseFloat(text.slice(slash + 1, text.indexOf('"', slash) === -1 ? undefined : text.indexOf('"', slash)));
}

export function fileChange(seq) {
  return { type: 'file-change', payload: { workspaceId: 'w1', path: `e/${seq}/${performance.now().toFixed(3)}`, event: 'change' } };
}
