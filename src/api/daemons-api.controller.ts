import { Body, Controller, Get, HttpCode, Logger, Param, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiParam, ApiResponse, ApiTags } from './openapi-decorators.js';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { randomUUID } from 'node:crypto';
import {
  AckStatus,
  ClientMessageType,
  ErrorCode,
  isWellFormedText,
  Limits,
  Role,
  ServerMessageType,
  type CommandStatusPayload,
} from '@arbor/gateway-client/protocol';
import type { Principal } from '../auth/principal.js';
import { DaemonInspector } from '../daemons/daemon-inspector.js';
import { CommandService } from '../daemons/commands/command.service.js';
import type { PeerLink } from '../daemons/peer-link.js';
import { EventFrame } from '../daemons/streams/event-frame.js';
import { CancelTaskDto } from '../daemons/dto/cancel-task.dto.js';
import { RunTaskDto } from '../daemons/dto/run-task.dto.js';
import { DomainError } from '../errors/domain.error.js';
import { strictBody } from '../validation/strict-body.pipe.js';
import { ApiScope } from '../config/api-keys.js';
import { ApiKeyGuard, RequiresApiScope, type ApiRequest } from '../auth/api-keys/api-key.guard.js';
import { CommandBody } from './dto/command.body.js';
import { CommandQuery, DEFAULT_PAGE_SIZE, ListDaemonsQuery, MAX_PAGE_SIZE, RecentEventsQuery } from './dto/list-daemons.query.js';
import { ApiErrorDto, CommandAckDto, type CommandDelivery, DaemonDetailsDto, DaemonPageDto, RecentEventsDto, ViewersDto } from './dto/responses.js';
import { redactSecrets } from './redact.js';

const MAX_WAIT_MS = 30_000;
const MAX_RECENT_EVENTS = 100;
const DEFAULT_RECENT_EVENTS = 20;

@ApiTags('daemons')
@ApiBearerAuth()
@ApiResponse({ status: 401, description: 'No key, or an unknown one.', type: ApiErrorDto })
@ApiResponse({ status: 429, description: 'Over the key’s rate; Retry-After says when to try again.', type: ApiErrorDto })
@ApiResponse({ status: 503, description: '`unavailable`: the shared state (Redis) is unreachable; retry.', type: ApiErrorDto })
@Controller('api/v1/daemons')
@UseGuards(ApiKeyGuard)
export class DaemonsApiController {
  private readonly logger = new Logger('ServerApi');

  constructor(
    private readonly inspector: DaemonInspector,
    private readonly commands: CommandService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Daemons the deployment knows, paged in id order (no id twice across pages).' })
  @ApiOkResponse({ type: DaemonPageDto })
  @ApiResponse({ status: 400, type: ApiErrorDto })
  async list(@Query(strictBody()) query: ListDaemonsQuery): Promise<DaemonPageDto> {
    const limit = query.limit === undefined ? DEFAULT_PAGE_SIZE : Number(query.limit);
    if (limit < 1 || limit > MAX_PAGE_SIZE)
      throw new DomainError(ErrorCode.ValidationFailed, `limit must be a whole number from 1 to ${MAX_PAGE_SIZE}`, 'limit');
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const page = await this.inspector.list({ status: query.status, prefix: query.prefix, after, limit });
    return { items: page.items, nextCursor: page.nextCursor === null ? null : encodeCursor(page.nextCursor) };
  }

  @Get(':daemonId')
  @ApiOperation({ summary: 'One daemon, with its workspace statuses.' })
  @ApiParam({ name: 'daemonId' })
  @ApiOkResponse({ type: DaemonDetailsDto })
  @ApiResponse({ status: 404, description: 'The deployment never saw this daemon.', type: ApiErrorDto })
  async describe(@Param('daemonId') daemonId: string): Promise<DaemonDetailsDto> {
    return (await this.inspector.describe(checkedId(daemonId))) ?? notFound(daemonId);
  }

  @Get(':daemonId/viewers')
  @ApiOperation({ summary: 'The users watching the daemon, on every instance, with their connection counts.' })
  @ApiOkResponse({ type: ViewersDto })
  @ApiResponse({ status: 404, type: ApiErrorDto })
  async viewers(@Param('daemonId') daemonId: string): Promise<ViewersDto> {
    const viewers = (await this.inspector.viewers(checkedId(daemonId))) ?? notFound(daemonId);
    return { daemonId, viewers };
  }

  @Get(':daemonId/events')
  @ApiOperation({
    summary:
      'The last events of the daemon’s stream still retained, oldest first, and the seq its retained history begins at. Console sessions see secret-looking fields redacted.',
  })
  @ApiOkResponse({ type: RecentEventsDto })
  @ApiResponse({ status: 404, type: ApiErrorDto })
  async events(@Param('daemonId') daemonId: string, @Query(strictBody()) query: RecentEventsQuery, @Req() request: ApiRequest): Promise<RecentEventsDto> {
    const limit = query.limit === undefined ? DEFAULT_RECENT_EVENTS : Number(query.limit);
    if (limit < 1 || limit > MAX_RECENT_EVENTS)
      throw new DomainError(ErrorCode.ValidationFailed, `limit must be a whole number from 1 to ${MAX_RECENT_EVENTS}`, 'limit');
    const recent = (await this.inspector.recentEvents(checkedId(daemonId), limit)) ?? notFound(daemonId);
    const events = request.apiCaller === 'console' ? recent.events.map(redactSecrets) : recent.events;
    return { daemonId, stream: recent.stream, historyStart: recent.historyStart, events };
  }

  @Post(':daemonId/commands')
  @HttpCode(200)
  @RequiresApiScope(ApiScope.Write)
  @ApiOperation({
    summary:
      'Records run-task or cancel-task for the daemon on behalf of userId (accepted), sent to it until it confirms; at most once per command id (a retry answers duplicate with the command’s state). With ?wait: waits for the daemon’s confirmation and its first task-status.',
  })
  @ApiOkResponse({ type: CommandAckDto })
  @ApiResponse({ status: 400, type: ApiErrorDto })
  @ApiResponse({ status: 403, description: 'A read key.', type: ApiErrorDto })
  async command(
    @Param('daemonId') daemonId: string,
    @Query(strictBody()) query: CommandQuery,
    @Body(strictBody()) body: CommandBody,
    @Req() request: ApiRequest,
  ): Promise<CommandAckDto> {
    checkedId(daemonId);
    const waitMs = query.wait === undefined ? undefined : Number(query.wait);
    if (waitMs !== undefined && (waitMs < 1 || waitMs > MAX_WAIT_MS))
      throw new DomainError(ErrorCode.ValidationFailed, `wait must be a whole number of ms from 1 to ${MAX_WAIT_MS}`, 'wait');
    const payload = checkedPayload(body.type, body.payload);
    if (payload.daemonId !== undefined && payload.daemonId !== daemonId) {
      throw new DomainError(ErrorCode.ValidationFailed, 'payload.daemonId, when given, must be the daemon of the path', 'payload.daemonId');
    }
    const principal: Principal = { sub: body.userId, role: Role.Client, daemons: new Set([daemonId]), expiresAt: 0, issuedAt: 0 };
    // Watching starts before the command goes out, so an answer that comes at once is not missed.
    const watcher = waitMs === undefined ? undefined : await this.inspector.watchTask(daemonId, payload.taskId, waitMs);
    const delivery = waitMs === undefined ? undefined : deliveryWaiter(waitMs);
    let ack: CommandAckDto;
    try {
      ack = await this.commands.sendCommand(daemonId, principal, body.type, payload, body.id, undefined, delivery?.link);
    } catch (error) {
      watcher?.stop();
      delivery?.stop();
      throw error;
    }
    this.logger.log({ msg: 'api command', keyId: request.apiKey?.id, daemonId, type: body.type, commandId: body.id, userId: body.userId, status: ack.status });
    if (!watcher || !delivery) return ack;
    if (ack.status !== AckStatus.Accepted) {
      watcher.stop();
      delivery.stop();
      return { ...ack, taskStatus: null };
    }
    const [taskStatus, status] = await Promise.all([watcher.status, delivery.status]);
    return { ...ack, delivery: status, taskStatus: taskStatus ?? null };
  }
}

/** A stand-in sender for an API call that waits: resolves with the command's status, or `accepted` when `waitMs` passes first. */
function deliveryWaiter(waitMs: number): { link: PeerLink; status: Promise<CommandDelivery>; stop: () => void } {
  let settle: (status: CommandDelivery) => void = () => {};
  const status = new Promise<CommandDelivery>((resolve) => (settle = resolve));
  const timer = setTimeout(() => settle(AckStatus.Accepted), waitMs);
  const stop = () => {
    clearTimeout(timer);
    settle(AckStatus.Accepted);
  };
  const link: PeerLink = {
    id: `api-${randomUUID()}`,
    send: (frame) => {
      if (frame instanceof EventFrame || frame.type !== ServerMessageType.CommandStatus) return;
      clearTimeout(timer);
      settle((frame.payload as CommandStatusPayload).status);
    },
    close: stop,
  };
  return { link, status, stop };
}

/** The id in the path: what a token's daemons claim may hold. */
function checkedId(daemonId: string): string {
  if (daemonId.length < 1 || daemonId.length > Limits.MAX_ID_LENGTH || !isWellFormedText(daemonId)) {
    throw new DomainError(ErrorCode.ValidationFailed, `daemonId must be 1-${Limits.MAX_ID_LENGTH} characters of well-formed Unicode`, 'daemonId');
  }
  return daemonId;
}

function notFound(daemonId: string): never {
  throw new DomainError(ErrorCode.NotFound, `daemon "${daemonId}" is not known`);
}

/** The payload checked as a client's frame of that type is, unknown fields refused. */
function checkedPayload(type: CommandBody['type'], payload: Record<string, unknown>): RunTaskDto | CancelTaskDto {
  const dto = plainToInstance(type === ClientMessageType.RunTask ? RunTaskDto : CancelTaskDto, payload);
  const [error] = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
  if (error) throw new DomainError(ErrorCode.ValidationFailed, Object.values(error.constraints ?? {})[0] ?? 'invalid payload', `payload.${error.property}`);
  return dto;
}

export function encodeCursor(lastId: string): string {
  return Buffer.from(lastId).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const lastId = Buffer.from(cursor, 'base64url').toString();
  if (lastId.length === 0 || lastId.length > Limits.MAX_ID_LENGTH || encodeCursor(lastId) !== cursor) {
    throw new DomainError(ErrorCode.ValidationFailed, 'cursor must be a nextCursor this API returned', 'cursor');
  }
  return lastId;
}
