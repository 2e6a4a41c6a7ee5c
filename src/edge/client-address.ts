import type { IncomingMessage } from 'node:http';

/** The socket's address, or the nearest proxy's account of it (the header's last entry) when `header` is configured. */
export function clientAddress(request: IncomingMessage, header: string | undefined): string {
  const value = header ? request.headers[header] : undefined;
  const text = Array.isArray(value) ? value[value.length - 1] : value;
  const last = text?.split(',').pop()?.trim();
  return last || request.socket.remoteAddress || 'unknown';
}
