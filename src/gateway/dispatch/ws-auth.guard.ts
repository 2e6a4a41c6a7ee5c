import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { WebSocket } from 'ws';
import { ErrorCode, type Role } from '@arbor/gateway-client/protocol';
import { Connection } from '../connections/connection.js';
import { DomainError } from '../../errors/domain.error.js';
import { ROLES_KEY } from './roles.decorator.js';

/**
 * Runs before every message handler: the frame must come from a connection admitted by
 * AuthService at the handshake, and its role must be one the handler allows (@Roles).
 */
@Injectable()
export class WsAuthGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const connection = Connection.of(context.switchToWs().getClient<WebSocket>());
    assertAllowed(connection, this.reflector.get<Role[] | undefined>(ROLES_KEY, context.getHandler()));
    return true;
  }
}

/** The guard's decision, also applied by directly dispatched handlers. */
export function assertAllowed(connection: Connection | undefined, roles: readonly Role[] | undefined): asserts connection is Connection {
  if (!connection) throw new DomainError(ErrorCode.Unauthorized, 'connection is not authenticated');
  const role = connection.identity.principal.role;
  if (roles && !roles.includes(role)) throw roleRefusal(role);
}

/** What a connection of `role` is told for a message type its role may not send. */
export function roleRefusal(role: Role): DomainError {
  return new DomainError(ErrorCode.Forbidden, `a ${role} may not send this message type`);
}
