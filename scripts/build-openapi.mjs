// Generates the server API's OpenAPI 3.1 document from the controllers' decorators into
// dist/openapi.json. The decorators are real only while this runs (src/api/openapi-decorators.ts):
// the running gateway serves this file and never loads @nestjs/swagger.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

globalThis.__arborGeneratingOpenApi = true;
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const { GatewayConfig } = await import(`${dist}config/gateway-config.js`);
const { createGatewayApp } = await import(`${dist}app.factory.js`);
const { openApiDocument } = await import(`${dist}api/openapi.js`);
const app = await createGatewayApp(GatewayConfig.load({ NODE_ENV: 'test', LOG_LEVEL: 'silent' }));
writeFileSync(`${dist}openapi.json`, `${JSON.stringify(openApiDocument(app), null, 2)}\n`);
await app.close();
