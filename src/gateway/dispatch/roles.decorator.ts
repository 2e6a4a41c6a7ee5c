import { SetMetadata } from '@nestjs/common';
import type { Role } from '@arbor/gateway-client/protocol';

export const ROLES_KEY = 'arbor:roles';

/** Restricts a message handler to connections of the given roles. */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
