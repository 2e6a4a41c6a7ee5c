import { ApiProperty } from '../openapi-decorators.js';
import { IsIn, IsObject, IsString, Length } from 'class-validator';
import { ClientMessageType, Limits } from '@arbor/gateway-client/protocol';
import { IsWellFormed } from '../../validation/is-well-formed.js';

export class CommandBody {
  @ApiProperty({ enum: [ClientMessageType.RunTask, ClientMessageType.CancelTask] })
  @IsIn([ClientMessageType.RunTask, ClientMessageType.CancelTask])
  type: ClientMessageType.RunTask | ClientMessageType.CancelTask;

  @ApiProperty({ description: 'The command id: the same id is forwarded at most once (the ledger clients use).' })
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  id: string;

  @ApiProperty({ description: 'The user on whose behalf the command runs (the daemon sees it as userId).' })
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  userId: string;

  @ApiProperty({ description: 'run-task: {taskId, workspaceId, command, args?}; cancel-task: {taskId}.', type: 'object', additionalProperties: true })
  @IsObject()
  payload: Record<string, unknown>;
}
