import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { DomainError } from '../errors/domain.error.js';

/**
 * HTTP request bodies and queries: unknown fields refused, nothing coerced, the DTO instance handed
 * on. A refusal is a `validation_failed` DomainError (400) naming the first offending field.
 */
export const strictBody = () =>
  new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => firstProblem(errors),
  });

function firstProblem(errors: ValidationError[], parent = ''): DomainError {
  const error = errors[0];
  if (!error) return new DomainError(ErrorCode.ValidationFailed, 'invalid request');
  const field = parent === '' ? error.property : `${parent}.${error.property}`;
  if (!error.constraints && error.children && error.children.length > 0) return firstProblem(error.children, field);
  const message = Object.values(error.constraints ?? {})[0] ?? `${field} is invalid`;
  return new DomainError(ErrorCode.ValidationFailed, message, field);
}
