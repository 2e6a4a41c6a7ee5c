import { Limits } from '@arbor/gateway-client/protocol';

/** Keys that could reach an object's prototype once copied: refused in every frame and body. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface StructureProblem {
  message: string;
  field?: string;
}

/**
 * Caps what parsed JSON may be shaped like before anything walks it recursively (validators,
 * class-transformer): nesting depth, array length, keys per object, and no prototype-polluting
 * keys. `depth` is the level of `value` itself; recursion is bounded by the depth cap.
 */
export function structureProblem(value: unknown, depth: number): StructureProblem | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth > Limits.MAX_JSON_DEPTH) return { message: `JSON nests deeper than ${Limits.MAX_JSON_DEPTH} levels` };
  if (Array.isArray(value)) {
    if (value.length > Limits.MAX_JSON_ARRAY_LENGTH) return { message: `arrays may hold at most ${Limits.MAX_JSON_ARRAY_LENGTH} items` };
    for (const item of value) {
      const problem = structureProblem(item, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  const keys = Object.keys(value);
  if (keys.length > Limits.MAX_JSON_OBJECT_KEYS) return { message: `objects may hold at most ${Limits.MAX_JSON_OBJECT_KEYS} keys` };
  for (const key of keys) {
    if (FORBIDDEN_KEYS.has(key)) return { message: `key "${key}" is not allowed`, field: key };
    const problem = structureProblem((value as Record<string, unknown>)[key], depth + 1);
    if (problem) return problem;
  }
  return undefined;
}
