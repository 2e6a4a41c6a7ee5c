import { jest } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Role } from '@arbor/gateway-client/protocol';
import type { AuthService } from '../../auth/auth.service.js';
import type { ConnectionIdentity } from '../../auth/principal.js';
import { GatewayConfig } from '../../config/gateway-config.js';
import { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import { ConnectionAdmission } from './connection-admission.js';

const identity: ConnectionIdentity = { principal: { sub: 'u1', role: Role.Client, daemons: new Set(['d1']), expiresAt: 0, issuedAt: 0 }, daemonId: 'd1' };

function socket(): Duplex & { destroyed: boolean } {
  return Object.assign(new EventEmitter(), { destroyed: false }) as unknown as Duplex & { destroyed: boolean };
}

const url = new URL('/ws?daemonId=d1&token=t', 'http://gateway.invalid');
const request = (headers: Record<string, string> = {}) =>
  ({ url: '/ws?daemonId=d1&token=t', headers, socket: { remoteAddress: '10.0.0.1' } }) as unknown as IncomingMessage;

describe('ConnectionAdmission', () => {
  const config = GatewayConfig.load({ MAX_CONNECTIONS: '2', MAX_CONNECTIONS_PER_USER: '1', ALLOWED_ORIGINS: 'https://app.example.com' });

  it('counts a connection until its socket closes, per instance and per user', async () => {
    const auth = { authenticateConnection: async () => identity } as unknown as AuthService;
    const admission = new ConnectionAdmission(auth, config, new GatewayMetrics());
    const first = socket();
    expect(await admission.admit(request(), first, url)).toBeUndefined();
    expect(await admission.admit(request(), socket(), url)).toMatchObject({ status: 429, reason: 'user_cap' });
    first.emit('close');
    expect(admission.openConnections).toBe(0);
    expect(await admission.admit(request(), socket(), url)).toBeUndefined();
  });

  it('counts nothing for a socket that went away while its token was being verified', async () => {
    let release!: () => void;
    const auth = { authenticateConnection: () => new Promise((resolve) => (release = () => resolve(identity))) } as unknown as AuthService;
    const admission = new ConnectionAdmission(auth, config, new GatewayMetrics());
    const gone = socket();
    const pending = admission.admit(request(), gone, url);
    gone.destroyed = true;
    gone.emit('close');
    release();
    expect(await pending).toBeUndefined();
    expect(admission.openConnections).toBe(0);
  });

  it('refuses a foreign Origin with 403 before looking at the token', async () => {
    const authenticate = jest.fn();
    const admission = new ConnectionAdmission({ authenticateConnection: authenticate } as unknown as AuthService, config, new GatewayMetrics());
    expect(await admission.admit(request({ origin: 'https://evil.example.com' }), socket(), url)).toMatchObject({ status: 403, reason: 'origin' });
    expect(authenticate).not.toHaveBeenCalled();
  });
});
