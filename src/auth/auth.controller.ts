import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { strictBody } from '../validation/strict-body.pipe.js';
import { AuthService } from './auth.service.js';
import { ApiScope } from '../config/api-keys.js';
import { ApiKeyGuard, RequiresApiScope } from './api-keys/api-key.guard.js';
import { IssueTokenDto } from './dto/issue-token.dto.js';
import type { IssuedToken } from './token-claims.js';

@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  /** For an app backend: mint a short-lived gateway token for one of its users or daemons. */
  @Post('token')
  @HttpCode(201)
  @UseGuards(ApiKeyGuard)
  @RequiresApiScope(ApiScope.Tokens)
  issueToken(
    @Body(strictBody())
    body: IssueTokenDto,
  ): IssuedToken {
    return this.auth.issueToken(body);
  }
}
