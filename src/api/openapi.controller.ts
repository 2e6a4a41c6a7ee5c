import { Controller, Get } from '@nestjs/common';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DomainError } from '../errors/domain.error.js';
import { ApiKeyRegistry } from '../auth/api-keys/api-key.registry.js';
import { ApiScope } from '../config/api-keys.js';
import { ApiExcludeController } from './openapi-decorators.js';

/** Written by `npm run build` (scripts/build-openapi.mjs); from src/api or dist/api alike. */
const DOCUMENT = fileURLToPath(new URL('../../dist/openapi.json', import.meta.url));

@ApiExcludeController()
@Controller('api/v1')
export class OpenApiController {
  private document: Promise<object> | undefined;

  constructor(private readonly keys: ApiKeyRegistry) {}

  /** The server API's OpenAPI 3.1 document, generated from the controllers; served without a key while the API is on. */
  @Get('openapi.json')
  async openApi(): Promise<object> {
    if (!this.keys.offers(ApiScope.Read)) throw new DomainError(ErrorCode.NotFound, 'Not Found');
    this.document ??= readFile(DOCUMENT, 'utf8').then((text) => JSON.parse(text) as object);
    try {
      return await this.document;
    } catch {
      this.document = undefined;
      throw new DomainError(ErrorCode.Unavailable, 'the OpenAPI document is not built: run npm run build');
    }
  }
}
