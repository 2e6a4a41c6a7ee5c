import { applyDecorators, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SubscribeMessage } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import type { Role } from '@arbor/gateway-client/protocol';
import type { PayloadValidator } from '../../validation/compiled-validator.js';
import type { Connection } from '../connections/connection.js';
import { validatorFor } from './payload-validation.pipe.js';
import { ROLES_KEY } from './roles.decorator.js';

export const DIRECT_DISPATCH_KEY = 'arbor:direct-dispatch';
const MESSAGE_TYPE_KEY = 'arbor:message-type';

interface DirectDispatchMetadata {
  type: string;
  dto: new () => object;
}

/**
 * A synchronous, high-volume message handler (daemon events): `@SubscribeMessage(type)` for Nest,
 * and called by the adapter directly, with the same role check, the same compiled payload
 * validation and the same error frames as Nest's guard → pipe → filter pipeline, but without its
 * per-message promises and context objects. Every other handler keeps the Nest pipeline.
 */
export const DirectDispatch = (type: string, dto: new () => object) =>
  applyDecorators(Handles(type), SetMetadata(DIRECT_DISPATCH_KEY, { type, dto } satisfies DirectDispatchMetadata));

/** `@SubscribeMessage(type)`, with the type readable through the public Reflector (which roles may send it). */
export const Handles = (type: string) => applyDecorators(SubscribeMessage(type), SetMetadata(MESSAGE_TYPE_KEY, type));

export interface DirectRoute {
  roles: readonly Role[] | undefined;
  validate: PayloadValidator;
  /** Runs the handler; throws what the handler throws. */
  handle(connection: Connection, payload: Record<string, unknown>): void;
}

/** Message types the adapter dispatches directly, and which roles may send each; filled by the gateway at init. */
@Injectable()
export class DirectRoutes {
  private readonly routes = new Map<string, DirectRoute>();
  /** The @Roles of every @Handles route (undefined: any role). */
  private readonly roles = new Map<string, readonly Role[] | undefined>();

  constructor(private readonly reflector: Reflector) {}

  register(type: string, route: DirectRoute): void {
    this.routes.set(type, route);
  }

  /** Registers a gateway's @DirectDispatch handlers, with their @Roles and compiled DTO validators. */
  registerHandlers(gateway: object): void {
    const prototype = Object.getPrototypeOf(gateway) as Record<string, (socket: WebSocket, body: object) => void>;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const method = prototype[name];
      if (typeof method !== 'function') continue;
      const type = this.reflector.get<string | undefined>(MESSAGE_TYPE_KEY, method);
      if (type !== undefined) this.roles.set(type, this.reflector.get<Role[] | undefined>(ROLES_KEY, method));
      const direct = this.reflector.get<DirectDispatchMetadata | undefined>(DIRECT_DISPATCH_KEY, method);
      if (!direct) continue;
      const validate = validatorFor(direct.dto);
      if (!validate) throw new Error(`${name}: @DirectDispatch needs a DTO the validator compiler supports`);
      // The route calls the named handler, as Nest would: `route.handle` → `gateway[name]`.
      this.register(direct.type, {
        roles: this.reflector.get<Role[] | undefined>(ROLES_KEY, method),
        validate,
        handle: (connection, payload) => method.call(gateway, connection.socket, payload),
      });
    }
  }

  get(type: string): DirectRoute | undefined {
    return this.routes.get(type);
  }

  /** Whether a connection of `role` may send `type` (the guard's rule, known before any frame). */
  allows(type: string, role: Role): boolean {
    const roles = this.roles.get(type);
    return roles === undefined || roles.includes(role);
  }
}
