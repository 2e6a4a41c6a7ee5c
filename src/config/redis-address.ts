/** The three ways the gateway can reach Redis, all from one setting: REDIS_URL. */
export enum RedisTopologyKind {
  Standalone = 'standalone',
  Sentinel = 'sentinel',
  Cluster = 'cluster',
}

export interface RedisEndpoint {
  host: string;
  port: number;
}

interface Credentials {
  username?: string;
  password?: string;
  /** `rediss` schemes: TLS to every node (and to the sentinels). */
  tls: boolean;
}

export type RedisTopology =
  | ({ kind: RedisTopologyKind.Standalone; url: string } & Credentials)
  | ({
      kind: RedisTopologyKind.Sentinel;
      sentinels: RedisEndpoint[];
      name: string;
      db: number;
      sentinelUsername?: string;
      sentinelPassword?: string;
    } & Credentials)
  | ({ kind: RedisTopologyKind.Cluster; nodes: RedisEndpoint[] } & Credentials);

const DEFAULT_PORT = { [RedisTopologyKind.Standalone]: 6379, [RedisTopologyKind.Sentinel]: 26379, [RedisTopologyKind.Cluster]: 6379 };

const SCHEMES: Record<string, { kind: RedisTopologyKind; tls: boolean }> = {
  redis: { kind: RedisTopologyKind.Standalone, tls: false },
  rediss: { kind: RedisTopologyKind.Standalone, tls: true },
  'redis+sentinel': { kind: RedisTopologyKind.Sentinel, tls: false },
  'rediss+sentinel': { kind: RedisTopologyKind.Sentinel, tls: true },
  'redis+cluster': { kind: RedisTopologyKind.Cluster, tls: false },
  'rediss+cluster': { kind: RedisTopologyKind.Cluster, tls: true },
};

const FORMS =
  'redis://[user:pass@]host:6379[/db], rediss://… (TLS), redis+sentinel://[user:pass@]host:26379[,host:port…]/?name=<master> or redis+cluster://[user:pass@]host:port[,host:port…]';

/** Why REDIS_URL cannot be used, in words that name the part at fault. */
export class RedisAddressError extends Error {}

/**
 * Reads REDIS_URL. Sentinel and Cluster addresses list several hosts, which WHATWG URLs cannot hold,
 * so the authority is split by hand; credentials are percent-decoded like a URL's.
 */
export function parseRedisUrl(url: string): RedisTopology {
  const match = /^([a-z+]+):\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(url.trim());
  if (!match) throw new RedisAddressError(`is not an address; use one of: ${FORMS}`);
  const [, rawScheme, userinfo, authority, path = '', query = ''] = match;
  const scheme = SCHEMES[rawScheme.toLowerCase()];
  if (!scheme) throw new RedisAddressError(`has an unknown scheme "${rawScheme}:"; use one of: ${FORMS}`);
  const credentials = { ...parseUserinfo(userinfo), tls: scheme.tls };
  const endpoints = parseHosts(authority, DEFAULT_PORT[scheme.kind]);
  const params = new URLSearchParams(query);
  const db = parseDb(path);

  switch (scheme.kind) {
    case RedisTopologyKind.Standalone:
      if (endpoints.length !== 1)
        throw new RedisAddressError(`names ${endpoints.length} hosts; one server takes one (for several, use redis+sentinel:// or redis+cluster://)`);
      return { kind: scheme.kind, url: url.trim(), ...credentials };
    case RedisTopologyKind.Sentinel: {
      const name = params.get('name') ?? params.get('sentinel_master_name');
      if (!name) throw new RedisAddressError('is a Sentinel address without the master name: add ?name=<master> (the name in sentinel.conf)');
      return {
        kind: scheme.kind,
        sentinels: endpoints,
        name,
        db,
        sentinelUsername: params.get('sentinel_username') ?? undefined,
        sentinelPassword: params.get('sentinel_password') ?? undefined,
        ...credentials,
      };
    }
    case RedisTopologyKind.Cluster:
      if (db !== 0) throw new RedisAddressError(`selects database ${db}; Redis Cluster has database 0 only`);
      return { kind: scheme.kind, nodes: endpoints, ...credentials };
  }
}

/** `host:port` of every node or sentinel, without credentials, for logs. */
export function describeRedisTopology(topology: RedisTopology): string {
  switch (topology.kind) {
    case RedisTopologyKind.Standalone: {
      const [endpoint] = parseHosts(/^[^:]+:\/\/(?:[^@/?#]*@)?([^/?#]*)/.exec(topology.url)?.[1] ?? '', DEFAULT_PORT.standalone);
      return `${endpoint.host}:${endpoint.port}`;
    }
    case RedisTopologyKind.Sentinel:
      return `sentinel ${topology.name} via ${topology.sentinels.map(hostPort).join(',')}`;
    case RedisTopologyKind.Cluster:
      return `cluster via ${topology.nodes.map(hostPort).join(',')}`;
  }
}

function hostPort({ host, port }: RedisEndpoint): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function parseUserinfo(userinfo: string | undefined): { username?: string; password?: string } {
  if (!userinfo) return {};
  const colon = userinfo.indexOf(':');
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new RedisAddressError('has credentials that are not valid percent-encoding');
    }
  };
  if (colon < 0) return { username: decode(userinfo) || undefined };
  return { username: decode(userinfo.slice(0, colon)) || undefined, password: decode(userinfo.slice(colon + 1)) || undefined };
}

function parseHosts(authority: string, defaultPort: number): RedisEndpoint[] {
  if (!authority) throw new RedisAddressError('names no host');
  return authority.split(',').map((entry) => {
    const bracketed = /^\[([0-9a-f:.]+)\](?::(\d*))?$/i.exec(entry);
    const plain = /^([^:[\]]+)(?::(\d*))?$/.exec(entry);
    const found = bracketed ?? plain;
    if (!found) throw new RedisAddressError(`has a host that cannot be read: "${entry}" (write host:port; IPv6 as [addr]:port)`);
    const port = found[2] ? Number(found[2]) : defaultPort;
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new RedisAddressError(`has a port out of range in "${entry}"`);
    return { host: found[1], port };
  });
}

function parseDb(path: string): number {
  const db = path.replace(/^\/+|\/+$/g, '');
  if (db === '') return 0;
  if (!/^\d+$/.test(db)) throw new RedisAddressError(`has a path "${path}" that is not a database number`);
  return Number(db);
}
