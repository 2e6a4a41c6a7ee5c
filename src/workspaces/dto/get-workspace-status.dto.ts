import { IsOptional, IsString, Length } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { Limits, type GetWorkspaceStatusPayload } from '@arbor/gateway-client/protocol';

export class GetWorkspaceStatusDto implements GetWorkspaceStatusPayload {
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  workspaceId: string;

  /** On a multiplexed connection: the daemon it is for. */
  @IsOptional()
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  daemonId?: string;
}
