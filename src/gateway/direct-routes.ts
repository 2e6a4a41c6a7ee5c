import { Injectable, SetMetadata } from '@nestjs/common';
import { MESSAGE_METADATA } from '@nestjs/websockets/constants.js';
import type { WebSocket } from 'ws';
import type { Role } from '@arbor/gateway-client/protocol';
import type { PayloadValidator } from './compiled-validator.js';
import type { Connection } from './connection.js';
import { validatorFor } from './payload-validation.pipe.js';
import { ROLES_KEY } from './roles.decorator.js';

export const DIRECT_DISPATCH_KEY = 'arbor:direct-dispatch';

/**
 * Marks a synchronous, high-volume @SubscribeMessage handler (daemon events) to be called by
 * the adapter directly, with the same role check, the same compiled payload validation and the
 * same error frames as Nest's guard → pipe → filter pipeline, but without its per-message
 * promises and context objects. Every other handler keeps the Nest pipeline.
 */
export const DirectDispatch = (dto: abstract new () => object) => SetMetadata(DIRECT_DISPATCH_KEY, dto);

export interface DirectRoute {
  roles: readonly Role[] | undefined;
  validate: PayloadValidator;
  /** Runs the handler; throws what the handler throws. */
  handle(connection: Connection, payload: Record<string, unknown>): void;
}

/** Message types the adapter dispatches directly; filled by the gateway at init. */
@Injectable()
export class DirectRoutes {
  private readonly routes = new Map<string, DirectRoute>();

  register(type: string, route: DirectRoute): void {
    this.routes.set(type, route);
  }

  /** Registers a gateway's @DirectDispatch handlers, with their @Roles and compiled DTO validators. */
  registerHandlers(gateway: object): void {
    const prototype = Object.getPrototypeOf(gateway) as Record<string, (socket: WebSocket, body: object) => void>;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const method = prototype[name];
      if (typeof method !== 'function') continue;
      const dto = Reflect.getMetadata(DIRECT_DISPATCH_KEY, method) as (new () => object) | undefined;
      const type = Reflect.getMetadata(MESSAGE_METADATA, method) as string | undefined;
      if (!dto || !type) continue;
      const validate = validatorFor(dto);
      if (!validate) throw new Error(`${name}: @DirectDispatch needs a DTO the validator compiler supports`);
      this.register(type, {
        roles: Reflect.getMetadata(ROLES_KEY, method) as Role[] | undefined,
        validate,
        handle: (connection, payload) => method.call(gateway, connection.socket, payload),
      });
    }
  }

  get(type: string): DirectRoute | undefined {
    return this.routes.get(type);
  }
}
