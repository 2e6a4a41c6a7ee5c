import { ArrayMaxSize, IsArray, IsOptional, IsString, Length, MaxLength } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { Limits, type RunTaskPayload } from '@arbor/gateway-client/protocol';

export class RunTaskDto implements RunTaskPayload {
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  taskId: string;

  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  workspaceId: string;

  @IsString()
  @Length(1, Limits.MAX_COMMAND_LENGTH)
  command: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(Limits.MAX_TASK_ARGS)
  @IsString({ each: true })
  @MaxLength(Limits.MAX_TASK_ARG_LENGTH, { each: true })
  args?: string[];

  /** On a multiplexed connection: the daemon it is for. */
  @IsOptional()
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  daemonId?: string;
}
