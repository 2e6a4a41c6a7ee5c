import { IsIn, IsOptional, IsString, Length } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { Limits, TASK_STATUSES, type TaskStatus, type TaskStatusPayload } from '@arbor/gateway-client/protocol';

export class TaskStatusDto implements TaskStatusPayload {
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  taskId: string;

  @IsIn(TASK_STATUSES)
  status: TaskStatus;

  @IsOptional()
  @IsString()
  output?: string;

  @IsOptional()
  @IsString()
  error?: string;
}
