import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** Unique per process: presence, the instance registry and the server API name an instance by it. */
export const INSTANCE_ID = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
