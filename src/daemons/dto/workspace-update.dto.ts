import { IsString, Length } from 'class-validator';
import { Limits, type WorkspaceUpdatePayload } from '@arbor/gateway-client/protocol';

export class WorkspaceUpdateDto implements WorkspaceUpdatePayload {
  @IsString() @Length(1, Limits.MAX_ID_LENGTH)
  workspaceId: string;

  @IsString() @Length(1, Limits.MAX_WORKSPACE_STATUS_LENGTH)
  status: string;
}
