import { jest } from '@jest/globals';
import { JwtService } from '@nestjs/jwt';
import { createHmac, createSecretKey } from 'node:crypto';
import { Hs256FastPath, type FastPathOptions } from './hs256-fast-path.js';
import { prng } from '../../test/support/prng.js';

const SECRET = 'unit-test-secret-with-at-least-32-chars';
const KEY = createSecretKey(Buffer.from(SECRET));
const NOW = 1_800_000_000;
const TOLERANCE = 5;

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const hmac = (input: string, secret = SECRET) => createHmac('sha256', secret).update(input).digest('base64url');
/** A token signed over whatever header and payload text it is given, valid or not. */
const token = (header: unknown, payload: unknown, secret = SECRET) => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${hmac(input, secret)}`;
};

const HEADERS: unknown[] = [
  { alg: 'HS256', typ: 'JWT' },
  { typ: 'JWT', alg: 'HS256' },
  { alg: 'HS256' },
  { alg: 'HS256', typ: 'JWT', kid: 'k1' },
  { alg: 'HS512', typ: 'JWT' },
  { alg: 'none', typ: 'JWT' },
  { alg: 'RS256', typ: 'JWT' },
  { typ: 'JWT' },
  '{"alg": "HS256", "typ": "JWT"}',
  'not json',
  [],
];

const CLAIM_VALUES: Record<string, unknown[]> = {
  exp: [undefined, NOW + 60, NOW, NOW - TOLERANCE, NOW - TOLERANCE + 1, NOW - 3600, '1900000000', null],
  nbf: [undefined, NOW, NOW + TOLERANCE, NOW + TOLERANCE + 1, NOW + 60, '1', null],
  aud: [undefined, 'arbor-gateway', 'other', ['arbor-gateway'], ['x', 'arbor-gateway'], ['x'], [], 7, null],
  iss: [undefined, 'https://issuer.example', 'https://other.example', null, 1],
};

/** Claim values that pass, so that a good share of the corpus is valid. */
const GOOD: Record<string, unknown> = { exp: NOW + 60, nbf: NOW, aud: 'arbor-gateway', iss: 'https://issuer.example' };

function randomPayload(random: () => number): unknown {
  const roll = random();
  if (roll < 0.03) return 'not json';
  if (roll < 0.05) return '[1,2]';
  if (roll < 0.07) return 'null';
  if (roll < 0.09) return '42';
  const payload: Record<string, unknown> = { sub: 'user-1', role: 'client', daemons: ['d1'], iat: NOW - 10 };
  for (const [claim, values] of Object.entries(CLAIM_VALUES)) {
    const value = random() < 0.7 ? GOOD[claim] : values[Math.floor(random() * values.length)];
    if (value !== undefined) payload[claim] = value;
  }
  return payload;
}

/** Changes one thing about a token's text: a character, a segment, padding, the alphabet. */
function mutate(text: string, random: () => number): string {
  const at = Math.floor(random() * text.length);
  const choice = Math.floor(random() * 9);
  switch (choice) {
    case 0:
      return text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    case 1:
      return text.slice(0, at);
    case 2:
      return `${text}=`;
    case 3:
      return `${text}.`;
    case 4:
      return text.replace(/-/g, '+').replace(/_/g, '/');
    case 5:
      return text.split('.').slice(0, 2).join('.') + '.';
    case 6:
      return `.${text}`;
    case 7:
      return text.slice(0, at) + ' ' + text.slice(at);
    default:
      return text.slice(0, at) + text.slice(at + 1);
  }
}

function libraryVerdict(jwt: JwtService, text: string): unknown {
  try {
    return jwt.verify(text);
  } catch {
    return undefined;
  }
}

describe.each<[string, FastPathOptions]>([
  ['without an issuer', { audience: 'arbor-gateway', clockToleranceSeconds: TOLERANCE }],
  ['with an issuer', { audience: 'arbor-gateway', issuer: 'https://issuer.example', clockToleranceSeconds: TOLERANCE }],
])('Hs256FastPath against jsonwebtoken, %s', (_name, options) => {
  const fast = new Hs256FastPath(KEY, options);
  // How AuthService configures jsonwebtoken for JWT_SECRET.
  const library = new JwtService({
    secret: KEY as never,
    verifyOptions: { algorithms: ['HS256'], audience: options.audience, issuer: options.issuer, clockTolerance: options.clockToleranceSeconds },
  });

  beforeEach(() => jest.useFakeTimers({ now: NOW * 1000 + 500, doNotFake: ['nextTick', 'setImmediate'] }));
  afterEach(() => jest.useRealTimers());

  it('never accepts what jsonwebtoken refuses, and agrees on the claims of what both accept', () => {
    const random = prng(options.issuer ? 7 : 3);
    let fastAccepted = 0;
    let libraryAccepted = 0;
    for (let index = 0; index < 6000; index += 1) {
      const header = random() < 0.5 ? HEADERS[0] : HEADERS[Math.floor(random() * HEADERS.length)];
      let text = token(header, randomPayload(random), random() < 0.1 ? 'another-secret-with-at-least-32-chars' : SECRET);
      const roll = random();
      if (roll < 0.3) text = mutate(text, random);
      else if (roll < 0.45) {
        // Mutated signing input with a correct signature: only the parsing rules can refuse it.
        const input = mutate(text.slice(0, text.lastIndexOf('.')), random);
        text = `${input}.${hmac(input)}`;
      }
      const fromFast = fast.verify(text);
      const fromLibrary = libraryVerdict(library, text);
      if (fromFast !== undefined) {
        fastAccepted += 1;
        expect({ text, claims: fromLibrary }).toEqual({ text, claims: fromFast });
      }
      if (fromLibrary !== undefined) libraryAccepted += 1;
    }
    // Both sides of the corpus are exercised, and the fast path takes most of what the library accepts.
    expect(fastAccepted).toBeGreaterThan(300);
    expect(fastAccepted).toBeGreaterThan(libraryAccepted * 0.5);
  });

  it('accepts a standard valid token itself, and leaves every refusal to jsonwebtoken', () => {
    const claims = {
      sub: 'user-1',
      role: 'client',
      daemons: ['d1'],
      iat: NOW,
      exp: NOW + 300,
      aud: 'arbor-gateway',
      ...(options.issuer ? { iss: options.issuer } : {}),
    };
    const valid = token({ alg: 'HS256', typ: 'JWT' }, claims);
    expect(fast.verify(valid)).toEqual(claims);
    expect(fast.verify(token({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: NOW - 60 }))).toBeUndefined();
    expect(fast.verify(token({ alg: 'HS256', typ: 'JWT' }, { ...claims, aud: 'elsewhere' }))).toBeUndefined();
    expect(fast.verify(`${valid.slice(0, -2)}AA`)).toBeUndefined();
    expect(fast.verify(token({ alg: 'HS256', typ: 'JWT' }, claims, 'another-secret-with-at-least-32-chars'))).toBeUndefined();
    expect(fast.verify(`${valid.split('.').slice(0, 2).join('.')}.`)).toBeUndefined();
    // A crit header is never one of the standard encodings: AuthService's general path refuses it.
    expect(fast.verify(token({ alg: 'HS256', typ: 'JWT', crit: ['exp'] }, claims))).toBeUndefined();
  });
});
