import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = 'sdk/README.md';

/**
 * What the SDK README's snippets take from their surroundings: an app's own names (its token source,
 * its data), and the objects an earlier snippet made. Global, so a snippet's own import or
 * declaration of the same name takes precedence over it.
 */
const SURROUNDINGS = `
declare const url: string;
declare function getToken(): Promise<string>;
declare function fetchGatewayToken(): Promise<string>;
declare function mintDaemonToken(): Promise<string>;
declare function rebuild(snapshot: unknown): void;
declare const changes: Array<{ workspaceId: string; path: string; event: import('@arbor/gateway-client').FileChangeEvent }>;
declare const client: import('@arbor/gateway-client').GatewayClient;
declare const daemon: import('@arbor/gateway-client').DaemonClient;
declare const GatewayClient: typeof import('@arbor/gateway-client').GatewayClient;
declare const CrossTabClient: typeof import('@arbor/gateway-client').CrossTabClient;
declare const GatewayProvider: typeof import('@arbor/gateway-client/react').GatewayProvider;
`;

interface Snippet {
  line: number;
  file: string;
  code: string;
}

function snippets(markdown: string): Snippet[] {
  const found: Snippet[] = [];
  const lines = markdown.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const fence = /^```(ts|tsx)$/.exec(lines[index]);
    if (!fence) continue;
    const end = lines.indexOf('```', index + 1);
    // Each snippet is a module of its own (top-level await, its own imports).
    found.push({
      line: index + 1,
      file: join(ROOT, `test-artifacts/readme-snippet-${index + 1}.tsx`),
      code: `${lines.slice(index + 1, end).join('\n')}\nexport {};\n`,
    });
    index = end;
  }
  return found;
}

/** The SDK's README is where a frontend developer starts: every TypeScript snippet in it compiles against the SDK as it is. */
describe(`${README} snippets`, () => {
  const all = snippets(readFileSync(join(ROOT, README), 'utf8'));
  const surroundings = join(ROOT, 'test-artifacts/readme-surroundings.d.ts');
  const sources = new Map<string, string>([[surroundings, SURROUNDINGS], ...all.map((snippet): [string, string] => [snippet.file, snippet.code])]);
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    jsx: ts.JsxEmit.ReactJSX,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
    typeRoots: [join(ROOT, 'node_modules/@types')],
    paths: {
      '@arbor/gateway-client': [join(ROOT, 'sdk/src/index.ts')],
      '@arbor/gateway-client/*': [join(ROOT, 'sdk/src/*')],
    },
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (path) => sources.get(path) ?? readFile(path);
  host.fileExists = (path) => sources.has(path) || ts.sys.fileExists(path);
  host.getSourceFile = (path, language) => {
    const text = sources.get(path);
    return text === undefined ? getSourceFile(path, language) : ts.createSourceFile(path, text, language, true, ts.ScriptKind.TSX);
  };
  const program = ts.createProgram([...sources.keys()], options, host);

  it('has TypeScript snippets to check', () => {
    expect(all.length).toBeGreaterThanOrEqual(8);
  });

  it.each(all.map((snippet) => [snippet.line, snippet] as const))('the snippet at line %i compiles', (_line, snippet) => {
    const diagnostics = ts.getPreEmitDiagnostics(program, program.getSourceFile(snippet.file));
    const messages = diagnostics.map((diagnostic) => {
      const where = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : 0;
      return `${README}:${snippet.line + 1 + where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    });
    expect(messages).toEqual([]);
  });
});
