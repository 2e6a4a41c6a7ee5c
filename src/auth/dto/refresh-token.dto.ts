import { IsString, Length } from 'class-validator';
import { Limits } from '@arbor/gateway-client/protocol';

export class RefreshTokenDto {
  @IsString()
  @Length(1, Limits.MAX_TOKEN_LENGTH)
  token: string;
}
