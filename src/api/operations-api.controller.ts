import { Body, Controller, Get, HttpCode, Logger, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from './openapi-decorators.js';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { DisconnectTarget, RevocationKind, revocationNow } from '../auth/revocation.js';
import { RevocationList } from '../auth/revocation.list.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { DomainError } from '../errors/domain.error.js';
import { exactlyOne } from '../validation/exactly-one.js';
import { strictBody } from '../validation/strict-body.pipe.js';
import { ApiScope } from '../config/api-keys.js';
import { ApiKeyGuard, RequiresApiScope, type ApiRequest } from '../auth/api-keys/api-key.guard.js';
import { DisconnectBody } from './dto/disconnect.body.js';
import { ApiErrorDto, DisconnectResultDto, StatsDto } from './dto/responses.js';
import { InstanceStats } from './instance-stats.service.js';

@ApiTags('operations')
@ApiBearerAuth()
@ApiResponse({ status: 401, type: ApiErrorDto })
@ApiResponse({ status: 429, type: ApiErrorDto })
@ApiResponse({ status: 503, description: '`unavailable`: the shared state (Redis) is unreachable; retry.', type: ApiErrorDto })
@Controller('api/v1')
@UseGuards(ApiKeyGuard)
export class OperationsApiController {
  private readonly logger = new Logger('ServerApi');

  constructor(
    private readonly revocations: RevocationList,
    private readonly instanceStats: InstanceStats,
    private readonly config: GatewayConfig,
  ) {}

  @Post('disconnect')
  @HttpCode(200)
  @RequiresApiScope(ApiScope.Write)
  @ApiOperation({
    summary: 'Closes a user’s, a daemon’s or one connection on every instance; without reconnect, revokes the user’s or daemon’s current tokens too.',
  })
  @ApiOkResponse({ type: DisconnectResultDto })
  @ApiResponse({ status: 400, type: ApiErrorDto })
  @ApiResponse({ status: 403, description: 'A read key.', type: ApiErrorDto })
  async disconnect(@Body(strictBody()) body: DisconnectBody, @Req() request: ApiRequest): Promise<DisconnectResultDto> {
    const named = exactlyOne([
      [DisconnectTarget.User, body.userId],
      [DisconnectTarget.Daemon, body.daemonId],
      [DisconnectTarget.Connection, body.connectionId],
    ] as const);
    if (!named) throw new DomainError(ErrorCode.ValidationFailed, 'name exactly one of userId, daemonId, connectionId', 'userId');
    const [target, value] = named;
    const reconnect = body.reconnect ?? false;
    // Without reconnect a user or daemon is revoked: its current tokens cannot come back either.
    const revokes = !reconnect && target !== DisconnectTarget.Connection;
    if (revokes) {
      const kind = target === DisconnectTarget.User ? RevocationKind.User : RevocationKind.Daemon;
      await this.revocations.revoke(revocationNow(kind, value, this.config));
    }
    await this.revocations.disconnect({ target, value, reason: body.reason, reconnect });
    this.logger.log({ msg: 'api disconnect', keyId: request.apiKey?.id, target, value, reconnect, revoked: revokes, reason: body.reason });
    return { target, value, reconnect, revoked: revokes };
  }

  @Get('stats')
  @ApiOperation({ summary: 'Per live instance and in total: connections by role, daemons by status, messages/s, slow-consumer cuts, replays, drain state.' })
  @ApiOkResponse({ type: StatsDto })
  stats(): Promise<StatsDto> {
    return this.instanceStats.all();
  }
}
