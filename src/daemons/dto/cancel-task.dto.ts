import { IsOptional, IsString, Length } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { Limits, type CancelTaskPayload } from '@arbor/gateway-client/protocol';

export class CancelTaskDto implements CancelTaskPayload {
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  taskId: string;

  /** On a multiplexed connection: the daemon it is for. */
  @IsOptional()
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  daemonId?: string;
}
