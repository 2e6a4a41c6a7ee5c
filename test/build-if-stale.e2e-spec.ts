import { execFile } from 'node:child_process';
import { statSync, utimesSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../scripts/build-if-stale.mjs', import.meta.url));
const MINT = fileURLToPath(new URL('../dist/cli/mint-token.js', import.meta.url));

/** `npm run token` and `npm run daemon:sim` build only when a source changed since the last build. */
describe('build-if-stale', () => {
  it('leaves a fresh build alone, and rebuilds when an output is older than the sources', async () => {
    // npm test built everything just before: nothing to do.
    const before = statSync(MINT).mtimeMs;
    const quiet = await run(process.execPath, [SCRIPT]);
    expect(quiet.stderr).toBe('');
    expect(statSync(MINT).mtimeMs).toBe(before);

    const anHourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(MINT, anHourAgo, anHourAgo);
    const rebuilt = await run(process.execPath, [SCRIPT]);
    expect(rebuilt.stderr).toContain('building');
    expect(statSync(MINT).mtimeMs).toBeGreaterThan(before - 1);
  }, 120_000);
});
