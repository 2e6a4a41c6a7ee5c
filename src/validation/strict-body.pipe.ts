import { ValidationPipe, type ArgumentMetadata, type PipeTransform, type ValidationError } from '@nestjs/common';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { DomainError } from '../errors/domain.error.js';
import { structureProblem } from './json-structure.js';

/**
 * HTTP request bodies and queries: shape bounded first (depth, sizes, no prototype keys, as for
 * WebSocket frames), then unknown fields refused, nothing coerced, the DTO instance handed on. A
 * refusal is a `validation_failed` DomainError (400) naming the first offending field.
 */
export const strictBody = (): PipeTransform => new StrictBodyPipe();

class StrictBodyPipe implements PipeTransform {
  private readonly validation = new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => firstProblem(errors),
  });

  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    assertBoundedJson(value);
    return this.validation.transform(value, metadata);
  }
}

/** A body or query shaped past the limits every frame has is refused before anything walks it. */
export function assertBoundedJson(value: unknown): void {
  // The body is the envelope: its fields sit where a frame's payload does.
  const problem = structureProblem(value, 0);
  if (problem) throw new DomainError(ErrorCode.ValidationFailed, problem.message, problem.field);
}

function firstProblem(errors: ValidationError[], parent = ''): DomainError {
  const error = errors[0];
  if (!error) return new DomainError(ErrorCode.ValidationFailed, 'invalid request');
  const field = parent === '' ? error.property : `${parent}.${error.property}`;
  if (!error.constraints && error.children && error.children.length > 0) return firstProblem(error.children, field);
  const message = Object.values(error.constraints ?? {})[0] ?? `${field} is invalid`;
  return new DomainError(ErrorCode.ValidationFailed, message, field);
}
