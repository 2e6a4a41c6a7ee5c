import { ArrayMaxSize, IsArray, IsString, Length } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { Limits, type HeartbeatPayload } from '@arbor/gateway-client/protocol';

export class HeartbeatDto implements HeartbeatPayload {
  @IsArray()
  @ArrayMaxSize(Limits.MAX_WORKSPACES_PER_DAEMON)
  @IsString({ each: true })
  @Length(1, Limits.MAX_ID_LENGTH, { each: true })
  @IsWellFormed({ each: true })
  workspaceIds: string[];
}
