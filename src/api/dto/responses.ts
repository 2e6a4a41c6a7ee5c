import { ApiProperty, ApiPropertyOptional } from '../openapi-decorators.js';
import { AckStatus, CommandStatus, DaemonStatus, TASK_STATUSES } from '@arbor/gateway-client/protocol';

export class StreamPositionDto {
  @ApiProperty() epoch: string;
  @ApiProperty() seq: number;
}

export class ViewerTotalsDto {
  @ApiProperty() connections: number;
  @ApiProperty() users: number;
}

export class DaemonSummaryDto {
  @ApiProperty() daemonId: string;
  @ApiProperty({ enum: DaemonStatus }) status: DaemonStatus;
  @ApiProperty({ type: String, nullable: true, description: 'The instance holding its connection.' }) instance: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) connectedAt: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) lastHeartbeat: string | null;
  @ApiProperty({ type: [String] }) workspaceIds: string[];
  @ApiProperty({ type: StreamPositionDto }) stream: StreamPositionDto;
  @ApiProperty({ type: ViewerTotalsDto }) viewers: ViewerTotalsDto;
}

export class DaemonDetailsDto extends DaemonSummaryDto {
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: 'Workspace id → last reported status.' })
  workspaceStatuses: Record<string, string>;
}

export class DaemonPageDto {
  @ApiProperty({ type: [DaemonSummaryDto] }) items: DaemonSummaryDto[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as cursor for the next page; null on the last.' }) nextCursor: string | null;
}

export class ViewerDto {
  @ApiProperty({ description: 'The token `sub` of the watching user.' }) userId: string;
  @ApiProperty() connections: number;
}

export class ViewersDto {
  @ApiProperty() daemonId: string;
  @ApiProperty({ type: [ViewerDto] }) viewers: ViewerDto[];
}

export class RecentEventsDto {
  @ApiProperty() daemonId: string;
  @ApiProperty({ type: StreamPositionDto }) stream: StreamPositionDto;
  @ApiProperty({
    description:
      'The oldest seq of this epoch still retained (older events aged out past REPLAY_TTL_MS or were trimmed past REPLAY_MAX_EVENTS); stream.seq + 1 when none is.',
  })
  historyStart: number;
  @ApiProperty({ type: 'array', items: { type: 'object', additionalProperties: true }, description: 'Event frames as clients receive them, oldest first.' })
  events: unknown[];
}

export class TaskStatusDto {
  @ApiProperty() taskId: string;
  @ApiProperty({ enum: TASK_STATUSES }) status: string;
  @ApiPropertyOptional() output?: string;
  @ApiPropertyOptional() error?: string;
}

/** Where an accepted command stands: still waiting for the daemon, confirmed by it, or expired unconfirmed. */
export type CommandDelivery = AckStatus.Accepted | CommandStatus;

export class CommandAckDto {
  @ApiProperty({ enum: AckStatus, description: 'accepted: recorded and sent to the daemon until it confirms (or COMMAND_TTL_MS passes).' }) status: AckStatus;
  @ApiPropertyOptional({
    enum: [AckStatus.Accepted, CommandStatus.Delivered, CommandStatus.Expired],
    description: 'For duplicate: the command’s state now (accepted: still waiting for the daemon).',
  })
  outcome?: CommandDelivery;
  @ApiPropertyOptional({
    enum: [AckStatus.Accepted, CommandStatus.Delivered, CommandStatus.Expired],
    description: 'With ?wait, for an accepted command: delivered (the daemon confirmed it), expired, or accepted (no confirmation within the wait).',
  })
  delivery?: CommandDelivery;
  @ApiPropertyOptional({ type: TaskStatusDto, nullable: true, description: 'With ?wait: the first task-status, or null when none came in time.' })
  taskStatus?: TaskStatusDto | null;
}

export class DisconnectResultDto {
  @ApiProperty({ enum: ['user', 'daemon', 'connection'] }) target: string;
  @ApiProperty() value: string;
  @ApiProperty() reconnect: boolean;
  @ApiProperty({ description: 'Whether current tokens were revoked (reconnect false, user or daemon).' }) revoked: boolean;
}

export class InstanceStatsDto {
  @ApiProperty() instanceId: string;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'number' }, description: 'Open connections by role.' }) connections: Record<string, number>;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'number' }, description: 'Daemons held here by status.' }) daemons: Record<string, number>;
  @ApiProperty() messagesInPerSecond: number;
  @ApiProperty() messagesOutPerSecond: number;
  @ApiProperty() slowConsumerCuts: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'number' }, description: 'Resuming clients: recovered, resync.' }) replays: Record<
    string,
    number
  >;
  @ApiProperty() draining: boolean;
  @ApiProperty({ enum: ['up', 'down', 'off'] }) redis: string;
}

export class StatsTotalsDto {
  @ApiProperty() instances: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'number' } }) connections: Record<string, number>;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'number' }, description: 'online, stale, offline (known daemons not connected).' })
  daemons: Record<string, number>;
  @ApiProperty() messagesInPerSecond: number;
  @ApiProperty() messagesOutPerSecond: number;
  @ApiProperty() slowConsumerCuts: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'number' } }) replays: Record<string, number>;
  @ApiProperty() draining: number;
}

export class StatsDto {
  @ApiProperty({ type: [InstanceStatsDto] }) instances: InstanceStatsDto[];
  @ApiProperty({ type: StatsTotalsDto }) totals: StatsTotalsDto;
}

export class ApiErrorDto {
  @ApiProperty() statusCode: number;
  @ApiProperty({ description: 'A protocol error code: unauthorized, forbidden, validation_failed, not_found, rate_limited, unavailable…' }) code: string;
  @ApiProperty() message: string;
  @ApiPropertyOptional({ description: 'The offending field (400).' }) field?: string;
  @ApiPropertyOptional({ description: 'For 429: ms until the next call is accepted (also in Retry-After, seconds).' }) retryAfterMs?: number;
}
