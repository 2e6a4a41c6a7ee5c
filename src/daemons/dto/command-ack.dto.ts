import { IsString, Length } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { Limits, type CommandAckPayload } from '@arbor/gateway-client/protocol';

export class CommandAckDto implements CommandAckPayload {
  /** The command's `id`, as the gateway sent it. */
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  id: string;
}
