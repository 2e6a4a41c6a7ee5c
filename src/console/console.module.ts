import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { ConsoleController } from './console.controller.js';
import { SignInThrottle } from './sign-in-throttle.js';

/** The operator console at /console (404 unless CONSOLE_ENABLED=true). */
@Module({ imports: [AuthModule], controllers: [ConsoleController], providers: [SignInThrottle] })
export class ConsoleModule {}
