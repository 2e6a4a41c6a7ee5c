import { IsOptional, IsString, Length } from 'class-validator';
import { Limits } from '@arbor/gateway-client/protocol';

/** POST /auth/revocations: exactly one of the three. */
export class RevokeDto {
  /** Every client token of this user issued until now. */
  @IsOptional() @IsString() @Length(1, Limits.MAX_ID_LENGTH)
  userId?: string;

  /** The daemon's tokens, and every client's access to it, issued until now. */
  @IsOptional() @IsString() @Length(1, Limits.MAX_ID_LENGTH)
  daemonId?: string;

  /** One token, by its jti. */
  @IsOptional() @IsString() @Length(1, Limits.MAX_ID_LENGTH)
  tokenId?: string;
}
