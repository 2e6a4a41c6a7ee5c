import { Role } from '@arbor/gateway-client/protocol';

/** The claims Arbor tokens carry (registered claims plus `role` and, for clients, `daemons`). */
export interface TokenClaims {
  sub: string;
  role: Role;
  aud: string;
  iss?: string;
  iat: number;
  exp: number;
  nbf?: number;
  jti?: string;
  daemons?: string[];
}

export interface IssueTokenRequest {
  sub: string;
  role: Role;
  daemons?: string[];
  ttlSeconds?: number;
}

export interface IssuedToken {
  token: string;
  expiresAt: string;
}
