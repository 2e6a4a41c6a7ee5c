import { IsString, Length } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { Limits, type WorkspaceUpdatePayload } from '@arbor/gateway-client/protocol';

export class WorkspaceUpdateDto implements WorkspaceUpdatePayload {
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  workspaceId: string;

  @IsString()
  @Length(1, Limits.MAX_WORKSPACE_STATUS_LENGTH)
  @IsWellFormed()
  status: string;
}
