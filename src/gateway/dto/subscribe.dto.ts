import { IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { Limits, type SubscribePayload, type UnsubscribePayload } from '@arbor/gateway-client/protocol';
import { IsWellFormed } from '../../validation/is-well-formed.js';

export class SubscribeDto implements SubscribePayload {
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  daemonId: string;

  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,64}:\d{1,15}$/, { message: 'since must be {epoch}:{seq}' })
  since?: string;

  @IsOptional()
  @IsInt()
  @Min(Limits.MIN_COALESCE_MS)
  @Max(Limits.MAX_COALESCE_MS)
  coalesceMs?: number;
}

export class UnsubscribeDto implements UnsubscribePayload {
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  daemonId: string;
}
