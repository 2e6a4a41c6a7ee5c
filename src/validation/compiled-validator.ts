import { getMetadataStorage, ValidationTypes } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata.js';
import { isWellFormedText } from '@arbor/gateway-client/protocol';
import { IS_WELL_FORMED, wellFormedMessage } from './is-well-formed.js';

export interface ValidationFailure {
  field: string;
  message: string;
}

/** Checks one payload; undefined when it is valid. */
export type PayloadValidator = (payload: Record<string, unknown>) => ValidationFailure | undefined;

type Check = (value: unknown) => boolean;

interface CompiledConstraint {
  check: Check;
  each: boolean;
  message: (field: string) => string;
  /** Checked first, so a wrong type is reported as such rather than as a length. */
  isTypeCheck?: boolean;
}

interface CompiledProperty {
  name: string;
  /** From @IsOptional / @ValidateIf: validate only when this holds. */
  conditions: Array<(object: object, value: unknown) => boolean>;
  constraints: CompiledConstraint[];
}

/** The class-validator constraints the compiler knows; anything else keeps class-validator at runtime. */
const CONSTRAINTS: Record<string, (args: unknown[]) => Omit<CompiledConstraint, 'each'>> = {
  isString: () => ({ check: (v) => typeof v === 'string', message: (f) => `${f} must be a string`, isTypeCheck: true }),
  isInt: () => ({ check: (v) => Number.isInteger(v), message: (f) => `${f} must be an integer number`, isTypeCheck: true }),
  isArray: () => ({ check: (v) => Array.isArray(v), message: (f) => `${f} must be an array`, isTypeCheck: true }),
  isIn: ([allowed]) => {
    const values = new Set(allowed as unknown[]);
    return { check: (v) => values.has(v), message: (f) => `${f} must be one of the following values: ${[...values].join(', ')}` };
  },
  isLength: ([min, max]) => ({
    check: (v) => typeof v === 'string' && v.length >= (min as number) && (max === undefined || v.length <= (max as number)),
    message: (f) => `${f} must be between ${String(min)} and ${String(max)} characters long`,
  }),
  maxLength: ([max]) => ({
    check: (v) => typeof v === 'string' && v.length <= (max as number),
    message: (f) => `${f} must be shorter than or equal to ${String(max)} characters`,
  }),
  minLength: ([min]) => ({
    check: (v) => typeof v === 'string' && v.length >= (min as number),
    message: (f) => `${f} must be longer than or equal to ${String(min)} characters`,
  }),
  arrayMaxSize: ([max]) => ({
    check: (v) => Array.isArray(v) && v.length <= (max as number),
    message: (f) => `${f} must contain no more than ${String(max)} elements`,
  }),
  [IS_WELL_FORMED]: () => ({ check: (v) => typeof v !== 'string' || isWellFormedText(v), message: wellFormedMessage }),
  min: ([min]) => ({ check: (v) => typeof v === 'number' && v >= (min as number), message: (f) => `${f} must not be less than ${String(min)}` }),
  max: ([max]) => ({ check: (v) => typeof v === 'number' && v <= (max as number), message: (f) => `${f} must not be greater than ${String(max)}` }),
};

export class UnsupportedConstraintError extends Error {}

/**
 * Compiles a DTO's class-validator decorators into one plain function with the semantics the
 * gateway configures (whitelist, forbidNonWhitelisted, no coercion): the decorators stay the
 * declared schema, and validating a frame costs a few comparisons instead of class-transformer
 * and class-validator's per-call machinery. A test checks it agrees with class-validator.
 */
export function compileValidator(dto: abstract new () => object): PayloadValidator {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(dto, '', false, false);
  const byProperty = new Map<string, ValidationMetadata[]>();
  for (const entry of metadata) {
    const list = byProperty.get(entry.propertyName) ?? [];
    list.push(entry);
    byProperty.set(entry.propertyName, list);
  }
  const properties: CompiledProperty[] = [...byProperty].map(([name, entries]) => compileProperty(dto.name, name, entries));
  const known = new Set(properties.map((property) => property.name));

  return (payload) => {
    for (const key in payload) {
      if (!known.has(key)) return { field: key, message: `property ${key} should not exist` };
    }
    for (const property of properties) {
      const value = payload[property.name];
      if (property.conditions.some((condition) => !condition(payload, value))) continue;
      for (const constraint of property.constraints) {
        const ok = constraint.each && Array.isArray(value) ? value.every(constraint.check) : constraint.check(value);
        if (!ok) return { field: property.name, message: constraint.message(constraint.each ? `each value in ${property.name}` : property.name) };
      }
    }
    return undefined;
  };
}

function compileProperty(dtoName: string, name: string, entries: ValidationMetadata[]): CompiledProperty {
  const conditions: CompiledProperty['conditions'] = [];
  const constraints: CompiledConstraint[] = [];
  // class-validator lists a property's decorators bottom-up; check them top-down, as written.
  for (const entry of [...entries].reverse()) {
    if (entry.type === ValidationTypes.CONDITIONAL_VALIDATION) {
      conditions.push(entry.constraints[0] as (object: object, value: unknown) => boolean);
      continue;
    }
    const factory = entry.type === ValidationTypes.CUSTOM_VALIDATION && entry.name ? CONSTRAINTS[entry.name] : undefined;
    if (!factory || entry.validationTypeOptions || entry.groups?.length) {
      throw new UnsupportedConstraintError(`${dtoName}.${name}: ${entry.name ?? entry.type} is not compiled`);
    }
    constraints.push({ ...factory(entry.constraints ?? []), each: entry.each === true });
  }
  const first = (constraint: CompiledConstraint) => Number(constraint.isTypeCheck === true && !constraint.each);
  constraints.sort((a, b) => first(b) - first(a));
  return { name, conditions, constraints };
}
