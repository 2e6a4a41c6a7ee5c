import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { DaemonsModule } from '../daemons/daemons.module.js';
import { DaemonsApiController } from './daemons-api.controller.js';
import { InstanceStats } from './instance-stats.service.js';
import { OpenApiController } from './openapi.controller.js';
import { OperationsApiController } from './operations-api.controller.js';

/**
 * The server API under /api/v1 for the app's backend and operators: daemons, viewers, commands on
 * a user's behalf, disconnects and stats — the whole deployment's view, whichever instance answers.
 */
@Module({
  imports: [AuthModule, DaemonsModule],
  controllers: [DaemonsApiController, OperationsApiController, OpenApiController],
  providers: [InstanceStats],
})
export class ApiModule {}
