import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Length, Max, Min, ValidateIf } from 'class-validator';
import { IsWellFormed } from '../../validation/is-well-formed.js';
import { Limits, Role } from '@arbor/gateway-client/protocol';
import type { IssueTokenRequest } from '../token-claims.js';

export class IssueTokenDto implements IssueTokenRequest {
  @IsString()
  @Length(1, Limits.MAX_ID_LENGTH)
  @IsWellFormed()
  sub: string;

  @IsIn(Object.values(Role))
  role: Role;

  /** Required for clients: the daemons this user may reach. */
  @ValidateIf((dto: IssueTokenDto) => dto.role === Role.Client || dto.daemons !== undefined)
  @IsArray()
  @ArrayMaxSize(Limits.MAX_DAEMONS_PER_TOKEN)
  @IsString({ each: true })
  @Length(1, Limits.MAX_ID_LENGTH, { each: true })
  @IsWellFormed({ each: true })
  daemons?: string[];

  /** Capped at TOKEN_MAX_TTL_SECONDS. */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86400)
  ttlSeconds?: number;
}
