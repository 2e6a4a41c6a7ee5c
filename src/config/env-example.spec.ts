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
    expect(declared).toHaveLength(63);
    // Own keys of a fresh instance are the variables with defaults, in declaration order.
    expect(declared.filter((key) => key in defaults)).toEqual(Object.keys(defaults));
    expect(entries.map(([key]) => key)).toEqual(declared);
    for (const [key, value] of entries) expect(value).toBe(defaults[key] === undefined ? '' : String(defaults[key] as string | number));
  });
});
