import { Controller, Get, Injectable } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { ApiKeyRegistry } from './api-key.registry.js';
import { DomainError } from '../errors/domain.error.js';

/** The server API's OpenAPI document, generated from the controllers once the app is built. */
@Injectable()
export class OpenApiDocument {
  document: object | undefined;
}

@ApiExcludeController()
@Controller('api/v1')
export class OpenApiController {
  constructor(
    private readonly holder: OpenApiDocument,
    private readonly keys: ApiKeyRegistry,
  ) {}

  /** Served without a key (it holds no data), while the API is on. */
  @Get('openapi.json')
  document(): object {
    if (!this.keys.enabled || !this.holder.document) throw new DomainError(ErrorCode.NotFound, 'Not Found');
    return this.holder.document;
  }
}
