import { connect } from 'node:net';
import WebSocket from 'ws';

export interface UpgradeOutcome {
  /** 101 when the WebSocket opened; otherwise the HTTP status of the refusal. */
  status: number;
  retryAfter?: string;
}

/** Attempts an upgrade and reports how the gateway answered it (the socket is closed again). */
export function upgradeOutcome(url: string, headers: Record<string, string> = {}): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('open', () => {
      resolve({ status: 101 });
      socket.terminate();
    });
    socket.once('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] });
      response.resume();
      socket.terminate();
    });
    socket.once('error', (error) => reject(error));
  });
}

/** Sends raw bytes on a fresh TCP connection and resolves with everything the server answered (latin1). */
export function rawExchange(port: number, request: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', (error) => (answer ? resolve(answer) : reject(error)));
    socket.write(request);
    setTimeout(() => socket.end(), 500);
  });
}
