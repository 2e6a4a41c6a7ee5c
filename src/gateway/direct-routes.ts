import { Injectable, SetMetadata } from '@nestjs/common';
import type { Role } from '@arbor/gateway-client/protocol';
import type { PayloadValidator } from './compiled-validator.js';
import type { Connection } from './connection.js';

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

  get(type: string): DirectRoute | undefined {
    return this.routes.get(type);
  }
}
