import { Body, Controller, HttpCode, Post, UseGuards, ValidationPipe } from '@nestjs/common';
import { AuthService } from './auth.service.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { IssueTokenDto } from './dto/issue-token.dto.js';
import type { IssuedToken } from './token-claims.js';

@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  /** For an app backend: mint a short-lived gateway token for one of its users or daemons. */
  @Post('token')
  @HttpCode(201)
  @UseGuards(ApiKeyGuard)
  issueToken(
    @Body(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, transformOptions: { enableImplicitConversion: false } }))
    body: IssueTokenDto,
  ): IssuedToken {
    return this.auth.issueToken(body);
  }
}
