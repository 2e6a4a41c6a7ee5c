import { ValidationPipe } from '@nestjs/common';

/** HTTP request bodies: unknown fields refused, nothing coerced, the DTO instance handed on. */
export const strictBody = () =>
  new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, transformOptions: { enableImplicitConversion: false } });
