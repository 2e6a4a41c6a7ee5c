import { IsIn, IsString, Length } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { FILE_CHANGE_EVENTS, Limits, type FileChangeEvent, type FileChangePayload } from '@arbor/gateway-client/protocol';

export class FileChangeDto implements FileChangePayload {
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  workspaceId: string;

  @IsString()
  @Length(1, Limits.MAX_PATH_LENGTH)
  path: string;

  @IsIn(FILE_CHANGE_EVENTS)
  event: FileChangeEvent;
}
