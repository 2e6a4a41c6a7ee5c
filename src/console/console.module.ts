import { Module } from '@nestjs/common';
import { ApiModule } from '../api/api.module.js';
import { ConsoleController } from './console.controller.js';

/** The operator console at /console (404 unless CONSOLE_ENABLED=true). */
@Module({ imports: [ApiModule], controllers: [ConsoleController] })
export class ConsoleModule {}
