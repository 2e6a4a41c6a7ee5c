import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The SDK as a user installs it: the packed tarball, checked by publint --strict and attw, then
 * compiled into a CommonJS and an ESM TypeScript app (node16 resolution) that run under Node.
 */
const root = resolve(import.meta.dirname, '..');
const sdk = join(root, 'sdk');
const requireFromRoot = createRequire(join(root, 'package.json'));
const tsc = requireFromRoot.resolve('typescript/bin/tsc');

const CONSUMER_SOURCE = `
import { GatewayClient, ReconnectingWebSocket, fullJitterDelay, type GatewayClientOptions, type WebSocketConstructor } from '@arbor/gateway-client';
import { CloseCode, isWellFormedText, type StreamPosition } from '@arbor/gateway-client/protocol';
import { FakeGateway } from '@arbor/gateway-client/testing';
import { describeLink, type DaemonConnectionStatusProps } from '@arbor/gateway-client/react';

const options: GatewayClientOptions = { url: 'ws://127.0.0.1:1/ws', daemonId: 'daemon-1', getToken: () => 'unused' };
const position: StreamPosition | undefined = undefined;
const props: Partial<DaemonConnectionStatusProps> = {};
const delay: number = fullJitterDelay(3, { minDelay: 100, factor: 2, maxDelay: 1000 }, () => 0.5);
// The browser's WebSocket is a WebSocket option as it is (compiles only if it fits).
const browserSocketFits: typeof WebSocket extends WebSocketConstructor ? true : never = true;
console.log(JSON.stringify({
  client: typeof GatewayClient,
  socket: typeof ReconnectingWebSocket,
  fake: typeof FakeGateway,
  describeLink: typeof describeLink,
  unauthorized: CloseCode.Unauthorized,
  wellFormed: isWellFormedText('ok'),
  delay,
  url: options.url,
  nothing: position === undefined && Object.keys(props).length === 0 && browserSocketFits,
}));
`;

interface Consumer {
  dir: string;
  output: Record<string, unknown>;
}

let workDir: string;
let tarball: string;

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'arbor-sdk-package-'));
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', workDir], { cwd: sdk, encoding: 'utf8' })) as { filename: string }[];
  tarball = join(workDir, packed[0].filename);
}, 60_000);

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function createConsumer(kind: 'commonjs' | 'module'): Consumer {
  const dir = join(workDir, kind);
  const installed = join(dir, 'node_modules/@arbor/gateway-client');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  // The React entry's types need React's; the app would have them installed.
  mkdirSync(join(dir, 'node_modules/@types'), { recursive: true });
  symlinkSync(join(root, 'node_modules/@types/react'), join(dir, 'node_modules/@types/react'));
  symlinkSync(join(root, 'node_modules/react'), join(dir, 'node_modules/react'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${kind}`, private: true, type: kind }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2022',
        module: 'node16',
        moduleResolution: 'node16',
        strict: true,
        types: [],
        lib: ['es2022', 'dom'],
        rootDir: 'src',
        outDir: 'out',
      },
      include: ['src'],
    }),
  );
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src/index.ts'), CONSUMER_SOURCE);
  const compiled = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  if (compiled.status !== 0) throw new Error(`${kind} consumer does not compile:\n${compiled.stdout}${compiled.stderr}`);
  const ran = spawnSync(process.execPath, [join(dir, 'out/index.js')], { encoding: 'utf8' });
  if (ran.status !== 0) throw new Error(`${kind} consumer fails at run time:\n${ran.stderr}`);
  return { dir, output: JSON.parse(ran.stdout) as Record<string, unknown> };
}

const EXPECTED_OUTPUT = {
  client: 'function',
  socket: 'function',
  fake: 'function',
  describeLink: 'function',
  unauthorized: 4401,
  wellFormed: true,
  delay: 400,
  url: 'ws://127.0.0.1:1/ws',
  nothing: true,
};

describe('the packed SDK', () => {
  it('ships the sources its source maps name, and no specs', () => {
    const listed = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(listed).toContain('package/src/index.ts');
    expect(listed).toContain('package/dist/cjs/index.js.map');
    expect(listed).toContain('package/dist/esm/index.d.ts.map');
    expect(listed.filter((path) => path.includes('.spec.'))).toEqual([]);
  });

  it('passes publint --strict', () => {
    const bin = join(root, 'node_modules/publint/src/cli.js');
    const run = spawnSync(process.execPath, [bin, '--strict', sdk], { encoding: 'utf8' });
    expect(`${run.stdout}${run.stderr}`).toContain('All good!');
    expect(run.status).toBe(0);
  }, 60_000);

  it('passes attw on every entry point under node10, node16 (CJS and ESM) and bundler resolution', () => {
    const bin = join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js');
    const run = spawnSync(process.execPath, [bin, tarball, '--format', 'json'], { encoding: 'utf8' });
    const report = JSON.parse(run.stdout) as { analysis: { entrypoints: Record<string, unknown>; problems: unknown[] } };
    expect(Object.keys(report.analysis.entrypoints).sort()).toEqual(['.', './package.json', './protocol', './react', './testing']);
    expect(report.analysis.problems).toEqual([]);
    expect(run.status).toBe(0);
  }, 60_000);

  it('compiles and runs in a CommonJS TypeScript app (module node16)', () => {
    const consumer = createConsumer('commonjs');
    expect(consumer.output).toMatchObject(EXPECTED_OUTPUT);
    expect(readdirSync(join(consumer.dir, 'out'))).toContain('index.js');
  }, 60_000);

  it('compiles and runs in an ESM TypeScript app (module node16)', () => {
    expect(createConsumer('module').output).toMatchObject(EXPECTED_OUTPUT);
  }, 60_000);
});
