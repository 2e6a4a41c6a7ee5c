import { ApiProperty, ApiPropertyOptional } from '../openapi-decorators.js';
import { IsBoolean, IsOptional, IsString, Length } from 'class-validator';
import { Limits } from '@arbor/gateway-client/protocol';
import { IsWellFormed } from '../../validation/is-well-formed.js';

export class DisconnectBody {
  @ApiPropertyOptional({ description: 'Close this user’s client connections. Name exactly one of userId, daemonId, connectionId.' })
  @IsOptional()
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  userId?: string;

  @ApiPropertyOptional({ description: 'Close this daemon’s connection.' })
  @IsOptional()
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  daemonId?: string;

  @ApiPropertyOptional({ description: 'Close one connection (the connectionId of the gateway’s logs).' })
  @IsOptional()
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  connectionId?: string;

  @ApiProperty({ description: 'Why: sent as the close reason and logged.' })
  @IsString()
  @Length(1, 100)
  @IsWellFormed()
  reason: string;

  @ApiPropertyOptional({
    description:
      'false (default): revoke the user’s or daemon’s current tokens and close with 4403 (the SDK stops). true: close with 1012 and a retry hint (the SDK comes back).',
  })
  @IsOptional()
  @IsBoolean()
  reconnect?: boolean;
}
