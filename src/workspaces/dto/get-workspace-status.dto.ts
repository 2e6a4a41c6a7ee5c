import { IsString, Length } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { Limits, type GetWorkspaceStatusPayload } from '@arbor/gateway-client/protocol';

export class GetWorkspaceStatusDto implements GetWorkspaceStatusPayload {
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  workspaceId: string;
}
