import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { declaredVariables, EnvironmentVariables } from './environment.js';

describe('.env.example', () => {
  const text = readFileSync(fileURLToPath(new URL('../../.env.example', import.meta.url)), 'utf8');
  const entries = text
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split('=') as [string, string]);

  it('lists every variable, in the order of the config class, with its default', () => {
    const defaults = new EnvironmentVariables() as unknown as Record<string, unknown>;
    const declared = declaredVariables();
    expect(declared).toHaveLength(64);
    // Own keys of a fresh instance are the variables with defaults, in declaration order.
    expect(declared.filter((key) => key in defaults)).toEqual(Object.keys(defaults));
    expect(entries.map(([key]) => key)).toEqual(declared);
    for (const [key, value] of entries) expect(value).toBe(defaults[key] === undefined ? '' : String(defaults[key] as string | number));
  });

  it("matches the README's configuration table, variable for variable, in the same order", () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
    // The first column of each row names one variable, or a pair written `A` / `B`.
    const named = table
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .flatMap((line) => [...line.split('|')[1].matchAll(/`([A-Z_]+)`/g)].map((match) => match[1]));
    expect(named).toEqual(declaredVariables());
  });
});
