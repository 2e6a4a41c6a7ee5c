import { JwtService } from '@nestjs/jwt';
import { generateKeyPairSync } from 'node:crypto';
import { Role } from '@arbor/gateway-client/protocol';
import { GatewayConfig } from '../config/gateway-config.js';
import { AuthError } from './auth.error.js';
import { isMultiplexed, MULTIPLEXED } from './principal.js';
import { AuthService } from './auth.service.js';
import { RevocationKind } from './revocation.js';
import { InMemoryRevocationList } from './revocation.list.js';
import { DomainError } from '../errors/domain.error.js';

const SECRET = 'unit-test-secret-with-at-least-32-chars';
const now = () => Math.floor(Date.now() / 1000);

describe('AuthService', () => {
  const jwt = new JwtService({});
  const revocations = new InMemoryRevocationList();
  const auth = new AuthService(jwt, GatewayConfig.load({ JWT_SECRET: SECRET }), revocations);
  const sign = (claims: Record<string, unknown>, secret = SECRET) =>
    jwt.sign({ aud: 'arbor-gateway', iat: now(), exp: now() + 60, ...claims }, { secret, algorithm: 'HS256' });

  async function refusal(fn: () => unknown): Promise<AuthError> {
    try {
      await fn();
    } catch (error) {
      if (error instanceof AuthError) return error;
      throw error;
    }
    throw new Error('expected an AuthError');
  }

  describe('verifyToken', () => {
    it('returns the principal of a valid client token', async () => {
      const principal = await auth.verifyToken(sign({ sub: 'user-1', role: 'client', daemons: ['d1', 'd2'], jti: 'j1' }));
      expect(principal).toEqual({
        sub: 'user-1',
        role: Role.Client,
        daemons: new Set(['d1', 'd2']),
        expiresAt: expect.any(Number),
        issuedAt: expect.any(Number),
        tokenId: 'j1',
      });
    });

    it.each([
      ['a wrong signature', () => sign({ sub: 'u', role: 'daemon' }, 'another-secret-another-secret-another')],
      ['an expired token', () => sign({ sub: 'u', role: 'daemon', iat: now() - 200, exp: now() - 60 })],
      ['a lifetime over the maximum', () => sign({ sub: 'u', role: 'daemon', exp: now() + 301 })],
      ['an iat in the future', () => sign({ sub: 'u', role: 'daemon', iat: now() + 120, exp: now() + 180 })],
      ['a missing sub', () => sign({ role: 'daemon' })],
      ['an over-long sub', () => sign({ sub: 'x'.repeat(129), role: 'daemon' })],
      ['an unknown role', () => sign({ sub: 'u', role: 'root' })],
      ['a client without daemons', () => sign({ sub: 'u', role: 'client' })],
      ['a client with non-string daemons', () => sign({ sub: 'u', role: 'client', daemons: [1] })],
      ['a nbf in the future', () => sign({ sub: 'u', role: 'daemon', nbf: now() + 120 })],
    ])('refuses %s as unauthorized', async (_label, makeToken) => {
      const error = await refusal(() => auth.verifyToken(makeToken()));
      expect(error.code).toBe('unauthorized');
      expect(error.closeCode).toBe(4401);
    });

    it('refuses a token with a crit header even when its signature and claims are valid', async () => {
      const valid = sign({ sub: 'user-1', role: 'client', daemons: ['d1'] });
      const critical = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT', crit: ['exp'] })).toString('base64url');
      const body = valid.split('.')[1];
      const { createHmac } = await import('node:crypto');
      const token = `${critical}.${body}.${createHmac('sha256', SECRET).update(`${critical}.${body}`).digest('base64url')}`;
      const error = await refusal(() => auth.verifyToken(token));
      expect(error).toMatchObject({ code: 'unauthorized', message: 'invalid token: critical header extensions (crit) are not supported' });
      await expect(auth.verifyToken(valid)).resolves.toMatchObject({ sub: 'user-1' });
    });

    it('never puts the token in the error message', async () => {
      const token = sign({ sub: 'u', role: 'daemon' }, 'another-secret-another-secret-another');
      expect((await refusal(() => auth.verifyToken(token))).message).not.toContain(token.split('.')[2]);
    });
  });

  describe('authenticateConnection', () => {
    it('binds a daemon to its own id', async () => {
      const identity = await auth.authenticateConnection(`/ws?token=${sign({ sub: 'd1', role: 'daemon' })}`, {});
      expect(identity.daemonId).toBe('d1');
    });

    it('prefers the Authorization header', async () => {
      const identity = await auth.authenticateConnection('/ws?token=garbage&daemonId=d1', {
        authorization: `Bearer ${sign({ sub: 'u', role: 'client', daemons: ['d1'] })}`,
      });
      expect(identity).toMatchObject({ daemonId: 'd1', principal: { sub: 'u' } });
    });

    it.each([
      ['no token', '/ws?daemonId=d1', 'unauthorized', 4401],
      ['a client with an empty daemonId', () => `/ws?daemonId=&token=${sign({ sub: 'u', role: 'client', daemons: ['d1'] })}`, 'bad_request', 4400],
      ['a client without access', () => `/ws?daemonId=d9&token=${sign({ sub: 'u', role: 'client', daemons: ['d1'] })}`, 'forbidden', 4403],
      ['a daemon naming another daemon', () => `/ws?daemonId=d2&token=${sign({ sub: 'd1', role: 'daemon' })}`, 'forbidden', 4403],
    ] as const)('refuses %s', async (_label, url, code, closeCode) => {
      const error = await refusal(() => auth.authenticateConnection(typeof url === 'function' ? url() : url, {}));
      expect([error.code, error.closeCode]).toEqual([code, closeCode]);
    });

    it('admits a client without daemonId as multiplexed: its daemons are checked when it subscribes', async () => {
      const identity = await auth.authenticateConnection(`/ws?token=${sign({ sub: 'u', role: 'client', daemons: ['d1'] })}`, {});
      expect(identity.daemonId).toBe(MULTIPLEXED);
      expect(isMultiplexed(identity)).toBe(true);
    });
  });

  describe('issueToken', () => {
    it('mints tokens it verifies, capping the lifetime', async () => {
      const issued = auth.issueToken({ sub: 'user-1', role: Role.Client, daemons: ['d1'], ttlSeconds: 9999 });
      const principal = await auth.verifyToken(issued.token);
      expect(principal.daemons).toEqual(new Set(['d1']));
      expect(principal.expiresAt - now()).toBeLessThanOrEqual(300);
      expect(Date.parse(issued.expiresAt)).toBe(principal.expiresAt * 1000);
    });

    it('cannot mint with only a public key configured', () => {
      const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const verifier = new AuthService(jwt, GatewayConfig.load({ JWT_PUBLIC_KEY: pem }), revocations);
      expect(() => verifier.issueToken({ sub: 'u', role: Role.Daemon })).toThrow(DomainError);
    });
  });

  describe('revocations', () => {
    const revoke = (kind: RevocationKind, value: string) => revocations.revoke({ kind, value, revokedAt: Date.now(), expiresAt: Date.now() + 60_000 });

    it('refuses a revoked token id at connect and at refresh, and nothing else of that user', async () => {
      const revoked = sign({ sub: 'rev-1', role: 'client', daemons: ['d1'], jti: 'gone' });
      const other = sign({ sub: 'rev-1', role: 'client', daemons: ['d1'], jti: 'kept' });
      await revoke(RevocationKind.Token, 'gone');
      expect((await refusal(() => auth.authenticateConnection(`/ws?daemonId=d1&token=${revoked}`, {}))).message).toBe('authorization revoked');
      const live = await auth.authenticateConnection(`/ws?daemonId=d1&token=${other}`, {});
      expect((await refusal(() => auth.refreshIdentity(live, revoked))).closeCode).toBe(4403);
    });

    it('refuses tokens of a revoked user issued up to the revocation, and accepts later ones', async () => {
      await revoke(RevocationKind.User, 'rev-2');
      const before = sign({ sub: 'rev-2', role: 'client', daemons: ['d1'] });
      expect((await refusal(() => auth.authenticateConnection(`/ws?daemonId=d1&token=${before}`, {}))).code).toBe('forbidden');
      const after = sign({ sub: 'rev-2', role: 'client', daemons: ['d1'], iat: now() + 1, exp: now() + 61 });
      await expect(auth.authenticateConnection(`/ws?daemonId=d1&token=${after}`, {})).resolves.toMatchObject({ daemonId: 'd1' });
    });

    it("a revoked daemon also ends clients' access to it", async () => {
      await revoke(RevocationKind.Daemon, 'd-rev');
      const client = sign({ sub: 'u-rev', role: 'client', daemons: ['d-rev', 'd1'] });
      expect((await refusal(() => auth.authenticateConnection(`/ws?daemonId=d-rev&token=${client}`, {}))).code).toBe('forbidden');
      await expect(auth.authenticateConnection(`/ws?daemonId=d1&token=${client}`, {})).resolves.toMatchObject({ daemonId: 'd1' });
    });
  });

  describe('refreshIdentity', () => {
    it('accepts a later token of the same identity, and refuses another subject or lost access', async () => {
      const live = await auth.authenticateConnection(`/ws?daemonId=d1&token=${sign({ sub: 'u', role: 'client', daemons: ['d1'] })}`, {});
      const renewed = await auth.refreshIdentity(live, sign({ sub: 'u', role: 'client', daemons: ['d1'], exp: now() + 120 }));
      expect(renewed.principal.expiresAt).toBeGreaterThan(live.principal.expiresAt);
      expect((await refusal(() => auth.refreshIdentity(live, sign({ sub: 'v', role: 'client', daemons: ['d1'] })))).code).toBe('forbidden');
      expect((await refusal(() => auth.refreshIdentity(live, sign({ sub: 'u', role: 'client', daemons: ['d2'] })))).code).toBe('forbidden');
      expect((await refusal(() => auth.refreshIdentity(live, 'not-a-token'))).code).toBe('unauthorized');
    });
  });
});
