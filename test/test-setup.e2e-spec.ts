import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * `scripts/test-setup.sh` (run by `npm test` before the suites) on a machine missing a package,
 * as a user who cannot install it: it stops before any test with the exact command.
 */
const SCRIPT = resolve(import.meta.dirname, '../scripts/test-setup.sh');
const AS_ROOT = process.getuid?.() === 0;
const which = (tool: string) => spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();

describe('test set-up', () => {
  let bin: string;

  beforeAll(() => {
    // A PATH with what the script runs, and without promtool.
    bin = mkdtempSync(join(tmpdir(), 'arbor-test-setup-'));
    chmodSync(bin, 0o755);
    for (const tool of ['bash', 'id', 'redis-cli', 'redis-server', 'seq', 'sleep']) symlinkSync(which(tool), join(bin, tool));
  });

  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  it('without root, names what is missing and the exact command, and exits 1', () => {
    // As root, drop to nobody so the script cannot take the install path; the script comes on
    // stdin, since nobody may not be allowed into the checkout.
    const [command, args] = AS_ROOT ? [which('setpriv'), ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', '-s']] : ['bash', ['-s']];
    const run = spawnSync(command, args, { encoding: 'utf8', env: { PATH: bin }, input: readFileSync(SCRIPT), cwd: bin });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('missing: prometheus');
    expect(run.stderr).toContain('run:  sudo apt-get update && sudo apt-get install -y prometheus');
  });

  it('passes on this machine, where the packages and a Redis are present', () => {
    const run = spawnSync('bash', [SCRIPT], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
