import { Module } from '@nestjs/common';
import { ApiModule } from '../api/api.module.js';
import { ConsoleController } from './console.controller.js';
import { SignInThrottle } from './sign-in-throttle.js';

/** The operator console at /console (404 unless CONSOLE_ENABLED=true). */
@Module({ imports: [ApiModule], controllers: [ConsoleController], providers: [SignInThrottle] })
export class ConsoleModule {}
