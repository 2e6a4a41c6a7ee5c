import { normaliseOrigin } from '../../config/origins.js';

/**
 * Cross-site WebSocket hijacking defence: a browser always sends `Origin` on an upgrade, so an
 * upgrade whose Origin is not one of ours is refused. Requests without Origin (daemons, servers)
 * are not browsers and pass; their tokens still have to.
 */
export class OriginPolicy {
  constructor(private readonly allowed: '*' | ReadonlySet<string> | undefined) {}

  allows(origin: string | undefined): boolean {
    if (origin === undefined || this.allowed === undefined || this.allowed === '*') return true;
    // Exact match of the normalised serialisation: `null`, lookalike hosts, other schemes or ports all miss.
    const normalised = normaliseOrigin(origin);
    return normalised !== undefined && this.allowed.has(normalised);
  }
}
