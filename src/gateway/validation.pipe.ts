import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { GatewayException } from './gateway.exception.js';

/**
 * Payload validation for message handlers: unknown fields are refused, nothing is coerced, and
 * the error names the first failing field (dotted path for nested values).
 */
export function createPayloadValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const { path, messages } = firstFailure(errors);
      return new GatewayException(ErrorCode.ValidationFailed, messages.join('; '), path);
    },
  });
}

function firstFailure(errors: ValidationError[], parent = ''): { path: string; messages: string[] } {
  const error = errors[0];
  const path = parent ? `${parent}.${error.property}` : error.property;
  if (error.constraints) return { path, messages: Object.values(error.constraints) };
  if (error.children?.length) return firstFailure(error.children, path);
  return { path, messages: [`${path} is invalid`] };
}
