// The end-to-end suites run the built gateway (`dist/`) and SDK (`sdk/dist`) as child processes:
// when one file is run on its own (`npx jest test/x.e2e-spec.ts`), build first if a source changed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function buildBeforeE2e() {
  const script = fileURLToPath(new URL('../../scripts/build-if-stale.mjs', import.meta.url));
  const { status } = spawnSync(process.execPath, [script], { stdio: 'inherit' });
  if (status !== 0) throw new Error('the build failed; see above');
}
