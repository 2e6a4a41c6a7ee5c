import { IsString, Length } from 'class-validator';
import { Limits, type GetWorkspaceStatusPayload } from '@arbor/gateway-client/protocol';

export class GetWorkspaceStatusDto implements GetWorkspaceStatusPayload {
  @IsString() @Length(1, Limits.MAX_ID_LENGTH)
  workspaceId: string;
}
