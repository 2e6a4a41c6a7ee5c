import { Body, Controller, HttpCode, Logger, Post, UseGuards } from '@nestjs/common';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { DomainError } from '../errors/domain.error.js';
import { exactlyOne } from '../validation/exactly-one.js';
import { strictBody } from '../validation/strict-body.pipe.js';
import { ApiScope } from '../config/api-keys.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { ApiKeyGuard, RequiresApiScope } from './api-keys/api-key.guard.js';
import { RevokeDto } from './dto/revoke.dto.js';
import { RevocationKind, revocationNow, type Revocation } from './revocation.js';
import { RevocationList } from './revocation.list.js';

@Controller('auth')
export class RevocationsController {
  private readonly logger = new Logger(RevocationsController.name);

  constructor(
    private readonly revocations: RevocationList,
    private readonly config: GatewayConfig,
  ) {}

  /**
   * For an app backend: revoke a user, a daemon or one token. Live connections it covers close
   * with 4403 on every instance; tokens it covers are refused at connect and refresh until they
   * would have expired by themselves.
   */
  @Post('revocations')
  @HttpCode(201)
  @UseGuards(ApiKeyGuard)
  @RequiresApiScope(ApiScope.Tokens)
  async revoke(
    @Body(strictBody())
    body: RevokeDto,
  ): Promise<RevocationAnswer> {
    const named = exactlyOne([
      [RevocationKind.User, body.userId],
      [RevocationKind.Daemon, body.daemonId],
      [RevocationKind.Token, body.tokenId],
    ] as const);
    if (!named) throw new DomainError(ErrorCode.ValidationFailed, 'name exactly one of userId, daemonId, tokenId', 'userId');
    const [kind, value] = named;
    const revocation = revocationNow(kind, value, this.config);
    try {
      await this.revocations.revoke(revocation);
    } catch {
      throw new DomainError(ErrorCode.Unavailable, 'shared state unavailable; revocation not recorded');
    }
    this.logger.log({ msg: 'revoked', kind, value });
    // Times as ISO strings, as every HTTP route answers them (POST /auth/token's expiresAt too).
    return { ...revocation, revokedAt: new Date(revocation.revokedAt).toISOString(), expiresAt: new Date(revocation.expiresAt).toISOString() };
  }
}

/** A revocation as the HTTP answer gives it. */
type RevocationAnswer = Omit<Revocation, 'revokedAt' | 'expiresAt'> & { revokedAt: string; expiresAt: string };
