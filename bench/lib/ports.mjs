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

/** A port for a Redis Cluster node, whose cluster bus takes port + 10 000 (so at most 55 535) as well. */
export async function freeClusterPort() {
  for (;;) {
    const port = await freePort();
    if (port <= 55_535 && (await bindable(port + 10_000))) return port;
  }
}
