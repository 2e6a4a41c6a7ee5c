import { ApiPropertyOptional } from '../openapi-decorators.js';
import { IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import { DaemonStatus, Limits } from '@arbor/gateway-client/protocol';
import { IsWellFormed } from '../../validation/is-well-formed.js';

export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 100;

export class ListDaemonsQuery {
  @ApiPropertyOptional({ enum: DaemonStatus, description: 'Only daemons with this status.' })
  @IsOptional()
  @IsIn(Object.values(DaemonStatus))
  status?: DaemonStatus;

  @ApiPropertyOptional({ description: 'Only daemons whose id starts with this.' })
  @IsOptional()
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  prefix?: string;

  @ApiPropertyOptional({ description: 'The previous page’s nextCursor.' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,700}$/, { message: 'cursor must be a nextCursor this API returned' })
  cursor?: string;

  @ApiPropertyOptional({ description: `Items per page, 1-${MAX_PAGE_SIZE} (default ${DEFAULT_PAGE_SIZE}).`, example: '100' })
  @IsOptional()
  @Matches(/^\d{1,4}$/, { message: `limit must be a whole number from 1 to ${MAX_PAGE_SIZE}` })
  limit?: string;
}

export class RecentEventsQuery {
  @ApiPropertyOptional({ description: 'How many of the last events, 1-100 (default 20).', example: '20' })
  @IsOptional()
  @Matches(/^\d{1,3}$/, { message: 'limit must be a whole number from 1 to 100' })
  limit?: string;
}

export class CommandQuery {
  @ApiPropertyOptional({ description: 'Wait up to this many ms (1-30000) for the daemon’s first task-status of this task, and include it.', example: '5000' })
  @IsOptional()
  @Matches(/^\d{1,5}$/, { message: 'wait must be a whole number of ms from 1 to 30000' })
  wait?: string;
}
