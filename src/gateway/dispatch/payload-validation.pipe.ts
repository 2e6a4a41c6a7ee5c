import { Injectable, Logger, type ArgumentMetadata, type PipeTransform, type ValidationError, ValidationPipe } from '@nestjs/common';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { compileValidator, UnsupportedConstraintError, type PayloadValidator } from '../../validation/compiled-validator.js';
import { DomainError } from '../../errors/domain.error.js';

type Dto = abstract new () => object;

const compiled = new WeakMap<Dto, PayloadValidator | null>();
const logger = new Logger('PayloadValidation');

/** The compiled validator for a DTO; null when it uses a decorator the compiler does not know. */
export function validatorFor(dto: Dto): PayloadValidator | null {
  let validator = compiled.get(dto);
  if (validator === undefined) {
    try {
      validator = compileValidator(dto);
    } catch (error) {
      if (!(error instanceof UnsupportedConstraintError)) throw error;
      logger.warn({ msg: 'falling back to class-validator at runtime', dto: dto.name, reason: error.message });
      validator = null;
    }
    compiled.set(dto, validator);
  }
  return validator;
}

/**
 * Payload validation for message handlers: unknown fields refused, nothing coerced, the first
 * failing field named. DTOs run through their compiled validator; class-validator itself is the
 * fallback for decorators the compiler does not handle.
 */
@Injectable()
export class PayloadValidationPipe implements PipeTransform {
  private readonly fallback = new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const { path, messages } = firstFailure(errors);
      return new DomainError(ErrorCode.ValidationFailed, messages.join('; '), path);
    },
  });

  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const dto = metadata.metatype as Dto | undefined;
    if (metadata.type !== 'body' || !dto || PRIMITIVES.has(dto)) return value;
    const validator = validatorFor(dto);
    if (!validator) return this.fallback.transform(value, metadata);
    assertValid(validator, value as Record<string, unknown>);
    return value;
  }
}

/** Throws the validation_failed DomainError for an invalid payload. */
export function assertValid(validator: PayloadValidator, payload: Record<string, unknown>): void {
  const failure = validator(payload);
  if (failure) throw new DomainError(ErrorCode.ValidationFailed, failure.message, failure.field);
}

const PRIMITIVES = new Set<unknown>([String, Boolean, Number, Array, Object]);

function firstFailure(errors: ValidationError[], parent = ''): { path: string; messages: string[] } {
  const error = errors[0];
  const path = parent ? `${parent}.${error.property}` : error.property;
  if (error.constraints) return { path, messages: Object.values(error.constraints) };
  if (error.children?.length) return firstFailure(error.children, path);
  return { path, messages: [`${path} is invalid`] };
}
