import { ArrayMaxSize, IsArray, IsString, Length } from 'class-validator';
import { Limits, type HeartbeatPayload } from '@arbor/gateway-client/protocol';

export class HeartbeatDto implements HeartbeatPayload {
  @IsArray() @ArrayMaxSize(Limits.MAX_WORKSPACES_PER_DAEMON)
  @IsString({ each: true }) @Length(1, Limits.MAX_ID_LENGTH, { each: true })
  workspaceIds: string[];
}
