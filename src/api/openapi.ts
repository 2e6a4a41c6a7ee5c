import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { ApiModule } from './api.module.js';

/** The server API's OpenAPI 3.1 document, from the controllers' decorators. */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('Arbor Gateway server API')
    .setDescription('For the app’s backend and operators: the whole deployment’s daemons, viewers, commands, disconnects and stats. See docs/server-api.md.')
    .setVersion('1')
    // An opaque API key, not a JWT (Nest's default bearerFormat would say JWT).
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'API key', description: 'An API key secret from API_KEYS.' })
    .build();
  return SwaggerModule.createDocument(app, config, { include: [ApiModule] });
}
