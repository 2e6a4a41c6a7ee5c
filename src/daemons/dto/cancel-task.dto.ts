import { IsString, Length } from 'class-validator';
import { Limits, type CancelTaskPayload } from '@arbor/gateway-client/protocol';

export class CancelTaskDto implements CancelTaskPayload {
  @IsString() @Length(1, Limits.MAX_ID_LENGTH)
  taskId: string;
}
