/** Field names that look like they hold a secret. */
const SECRET_NAME = /pass(word|wd)?|secret|token|api[-_]?key|auth|credential|private[-_]?key|session|cookie/i;

export const REDACTED = '[redacted]';

/** A copy with every field whose name looks secret replaced, at any depth (for operators' eyes). */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = SECRET_NAME.test(key) ? REDACTED : redactSecrets(field);
  return copy;
}
