import type * as Swagger from '@nestjs/swagger';

/**
 * The OpenAPI decorators of `@nestjs/swagger`, real only while `npm run build` generates the
 * document from the controllers (scripts/build-openapi.mjs sets the flag). In the running gateway
 * they do nothing, so it never loads `@nestjs/swagger` (about 10 MB of resident memory, which the
 * fan-out memory target cannot spare); it serves the generated `dist/openapi.json` instead.
 */
export const GENERATING_OPENAPI = (globalThis as { __arborGeneratingOpenApi?: boolean }).__arborGeneratingOpenApi === true;

const swagger: typeof Swagger | undefined = GENERATING_OPENAPI ? await import('@nestjs/swagger') : undefined;

/** A decorator factory whose decorators do nothing. */
const inert = (() => () => undefined) as never;

export const ApiBearerAuth: typeof Swagger.ApiBearerAuth = swagger?.ApiBearerAuth ?? inert;
export const ApiExcludeController: typeof Swagger.ApiExcludeController = swagger?.ApiExcludeController ?? inert;
export const ApiOkResponse: typeof Swagger.ApiOkResponse = swagger?.ApiOkResponse ?? inert;
export const ApiOperation: typeof Swagger.ApiOperation = swagger?.ApiOperation ?? inert;
export const ApiParam: typeof Swagger.ApiParam = swagger?.ApiParam ?? inert;
export const ApiProperty: typeof Swagger.ApiProperty = swagger?.ApiProperty ?? inert;
export const ApiPropertyOptional: typeof Swagger.ApiPropertyOptional = swagger?.ApiPropertyOptional ?? inert;
export const ApiResponse: typeof Swagger.ApiResponse = swagger?.ApiResponse ?? inert;
export const ApiTags: typeof Swagger.ApiTags = swagger?.ApiTags ?? inert;
