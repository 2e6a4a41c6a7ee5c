import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The text from a heading to the next heading of the same or a higher level. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}`);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const level = /^#+/.exec(heading)![0];
  const next = text.slice(start + heading.length + 1).search(new RegExp(`\\n#{1,${level.length}} `));
  return next < 0 ? text.slice(start) : text.slice(start, start + heading.length + 1 + next);
}

/** GitHub's anchor for a heading. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

const MARKDOWN = ['README.md', 'sdk/README.md', ...readdirSync(join(ROOT, 'docs')).flatMap((file) => (file.endsWith('.md') ? [`docs/${file}`] : []))];

/**
 * The README, deploy.md and scaling.md quote the latest full benchmark run; benchmarks.md records it.
 * A new run that updates one and not the others is what a newcomer reads as docs that disagree.
 */
describe('docs quote the latest full benchmark run', () => {
  const benchmarks = read('docs/benchmarks.md');
  const latest = section(benchmarks, benchmarks.match(/^## Latest full run.*$/m)![0]);

  it('gives one memory per idle connection everywhere', () => {
    const measured = /\| memory per idle connection[^|]*\| ([\d.]+) KB/.exec(latest)![1];
    const quoted = ['README.md', 'docs/deploy.md', 'docs/scaling.md'].flatMap((path) =>
      [...read(path).matchAll(/([\d.]+) KB per idle connection/g)].map((match) => ({ path, kb: match[1] })),
    );
    expect(quoted.length).toBeGreaterThanOrEqual(3);
    expect(quoted.filter(({ kb }) => kb !== measured)).toEqual([]);
  });

  it("quotes in the README's performance paragraph only ratios of that run", () => {
    const paragraph = /\(latest full run: ([^)]*)\)/.exec(read('README.md'))![1];
    const ratios = [...paragraph.matchAll(/×\s?([\d.]+)/g)].map((match) => match[1]).filter((ratio) => ratio !== '1.5');
    expect(ratios.length).toBeGreaterThanOrEqual(5);
    expect(ratios.filter((ratio) => !latest.includes(`×${ratio}`))).toEqual([]);
  });

  it("gives deploy.md's held connections and their memory from that run", () => {
    const [, held, megabytes] = /(\d[\d ]*) held, 0 errors, (\d+) MB/.exec(latest)!;
    expect(read('docs/deploy.md')).toContain(`held ${held} authenticated connections at ~${megabytes} MB`);
  });
});

describe('docs stay readable', () => {
  it('benchmarks.md holds the latest run and how to reproduce it within 1 500 words (older runs live in bench/results/history.md)', () => {
    expect(read('docs/benchmarks.md').split(/\s+/).filter(Boolean).length).toBeLessThanOrEqual(1500);
    expect(existsSync(join(ROOT, 'bench/results/history.md'))).toBe(true);
  });

  it.each([...MARKDOWN, 'bench/results/history.md'])('%s: every table separator row has as many columns as its header', (path) => {
    const lines = read(path).split('\n');
    const cells = (line: string) => line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').length;
    const mismatched = lines.flatMap((line, index) =>
      /^\|(\s*:?-+:?\s*\|)+\s*$/.test(line) && index > 0 && cells(line) !== cells(lines[index - 1]) ? [`line ${index + 1}`] : [],
    );
    expect(mismatched).toEqual([]);
  });
});

describe('docs link to what exists', () => {
  it.each(MARKDOWN)('%s: every relative link names a file, and every anchor a heading in it', (path) => {
    const broken: string[] = [];
    for (const [, target] of read(path).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split('#');
      const linked = file ? join(dirname(path), file) : path;
      if (!existsSync(join(ROOT, linked))) broken.push(target);
      else if (anchor && linked.endsWith('.md')) {
        const anchors = read(linked)
          .split('\n')
          .filter((line) => /^#+ /.test(line))
          .map((line) => anchorOf(line.replace(/^#+ /, '')));
        if (!anchors.includes(anchor)) broken.push(target);
      }
    }
    expect(broken).toEqual([]);
  });
});
