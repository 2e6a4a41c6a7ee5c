import { createServer } from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Whether `port` can be bound on 127.0.0.1 now. */
function bindable(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Ports for `count` Redis Cluster nodes: each bus (port + 10 000, so at most 55 535) free, and no port another's bus. */
export async function freeClusterPorts(count) {
  const ports = [];
  const taken = new Set();
  while (ports.length < count) {
    const port = await freePort();
    if (port > 55_535 || taken.has(port) || taken.has(port + 10_000) || !(await bindable(port + 10_000))) continue;
    ports.push(port);
    taken.add(port).add(port + 10_000);
  }
  return ports;
}
