import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EnvironmentVariables } from './environment.js';
import { declaredVariables, validateEnvironment } from './validate-environment.js';

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

  it('states both defaults, in the README and here, of every variable whose default depends on NODE_ENV', () => {
    const required = { JWT_SECRET: 'a-production-secret-of-at-least-32-chars', ALLOWED_ORIGINS: 'https://app.example.com' };
    const [development, production] = [
      validateEnvironment({ ...required, NODE_ENV: 'development' }),
      validateEnvironment({ ...required, NODE_ENV: 'production' }),
    ] as unknown as Array<Record<string, unknown>>;
    const dependent = declaredVariables().filter((key) => key !== 'NODE_ENV' && development[key] !== production[key]);
    expect(dependent.length).toBeGreaterThan(0);
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    for (const key of dependent) {
      const defaults = readme
        .split('\n')
        .find((line) => line.startsWith(`| \`${key}\` |`))!
        .split('|')[2];
      expect({ key, defaults }).toEqual({ key, defaults: expect.stringContaining(`\`${String(production[key])}\``) });
      expect({ key, defaults }).toEqual({ key, defaults: expect.stringContaining(`\`${String(development[key])}\` when \`NODE_ENV=development\``) });
      const comment = text.slice(0, text.indexOf(`\n${key}=`));
      expect(comment.slice(comment.lastIndexOf('\n\n') + 1)).toMatch(/default to 0 when NODE_ENV=development/);
    }
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
