import { IsOptional, IsString, Length } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { Limits } from '@arbor/gateway-client/protocol';

/** POST /auth/revocations: exactly one of the three. */
export class RevokeDto {
  /** Every client token of this user issued until now. */
  @IsOptional()
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  userId?: string;

  /** The daemon's tokens, and every client's access to it, issued until now. */
  @IsOptional()
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  daemonId?: string;

  /** One token, by its jti. */
  @IsOptional()
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  tokenId?: string;
}
