// Bundles the operator console (console/src) with the project's React into dist/console-app/:
// one script and one stylesheet, served by the gateway itself (no CDN, nothing fetched at runtime).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/console-app`;
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [`${root}console/src/main.tsx`],
  outfile: `${out}/app.js`,
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(`${root}console/src/styles.css`, `${out}/app.css`);
