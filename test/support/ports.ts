import { createServer } from 'node:net';

/** A port that was free a moment ago, for processes that must be restarted on the same port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Whether `port` can be bound on 127.0.0.1 now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Ports for `count` Redis Cluster nodes: each node also binds its cluster bus on port + 10 000, which
 * must be free too (so the port is at most 55 535) and must not be another node's port or bus, or
 * the node never starts.
 */
export async function freeClusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  const taken = new Set<number>();
  while (ports.length < count) {
    const port = await freePort();
    if (port > 55_535 || taken.has(port) || taken.has(port + 10_000) || !(await bindable(port + 10_000))) continue;
    ports.push(port);
    taken.add(port).add(port + 10_000);
  }
  return ports;
}

export async function waitFor(condition: () => boolean, label: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Polls an async condition (each call may itself wait) until it holds. */
export async function waitForAsync(condition: () => Promise<boolean>, label: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
