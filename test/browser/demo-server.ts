import { build } from 'esbuild';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const DEMO_PAGE = fileURLToPath(new URL('./demo-page.tsx', import.meta.url));

const HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Arbor daemon status</title>
<style>
  body { font: 16px system-ui, sans-serif; margin: 2rem; }
  .arbor-daemon-status { display: grid; gap: .4rem; padding: 1rem; border-radius: 8px; border: 2px solid #999; max-width: 32rem; }
  .arbor-daemon-status--open { border-color: #2a7; }
  .arbor-daemon-status--reconnecting, .arbor-daemon-status--connecting { border-color: #d90; }
  .arbor-daemon-status__daemon--online { color: #2a7; }
  .arbor-daemon-status__daemon--stale { color: #d90; }
  .arbor-daemon-status__daemon--offline { color: #c33; }
  ul.daemons { list-style: none; padding: 0; display: grid; gap: .6rem; }
  .last-seq { font: 13px ui-monospace, monospace; color: #555; }
</style></head>
<body><div id="root"></div><script type="module" src="/app.js"></script></body>
</html>`;

/**
 * Bundles a demo page (default: demo-page.tsx) with esbuild and serves it as /app.js, with a
 * /token endpoint minting client tokens and, when given, a worker script as /worker.js.
 */
export async function startDemoServer(
  gatewayUrl: string,
  mintToken: () => string,
  page = DEMO_PAGE,
  worker?: string,
): Promise<{ url: string; close: () => Promise<void> }> {
  const bundle = await bundleOf(page, gatewayUrl);
  const workerBundle = worker === undefined ? undefined : await bundleOf(worker, gatewayUrl);
  const server: Server = createServer((request, response) => {
    const path = request.url?.split('?')[0];
    if (path === '/') return void response.writeHead(200, { 'content-type': 'text/html' }).end(HTML);
    if (path === '/app.js') return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    if (path === '/worker.js' && workerBundle) return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(workerBundle);
    if (path === '/token') return void response.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(mintToken());
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function bundleOf(entry: string, gatewayUrl: string): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    jsx: 'automatic',
    define: {
      'process.env.NODE_ENV': '"production"',
      'process.env.NEXT_PUBLIC_WEBSOCKET_URL': JSON.stringify(gatewayUrl),
    },
    logLevel: 'silent',
  });
  return result.outputFiles[0].contents;
}
