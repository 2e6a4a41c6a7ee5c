import { describeRedisTopology, parseRedisUrl, RedisAddressError, RedisTopologyKind } from './redis-address.js';

describe('parseRedisUrl', () => {
  it('reads one server, with credentials and TLS, keeping the URL for the client', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({ kind: RedisTopologyKind.Standalone, url: 'redis://127.0.0.1:6379', tls: false });
    expect(parseRedisUrl('rediss://app:p%40ss@redis.internal:6380/2')).toEqual({
      kind: RedisTopologyKind.Standalone,
      url: 'rediss://app:p%40ss@redis.internal:6380/2',
      username: 'app',
      password: 'p@ss',
      tls: true,
    });
  });

  it('reads Sentinel: several sentinels (26379 by default), the master name, database and sentinel credentials', () => {
    expect(parseRedisUrl('redis+sentinel://:secret@s1,s2:26380,[::1]:26381/3?name=mymaster&sentinel_password=sp')).toEqual({
      kind: RedisTopologyKind.Sentinel,
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'mymaster',
      db: 3,
      password: 'secret',
      sentinelUsername: undefined,
      sentinelPassword: 'sp',
      tls: false,
    });
    expect(parseRedisUrl('rediss+sentinel://h:26379/?sentinel_master_name=m')).toMatchObject({ name: 'm', tls: true, db: 0 });
  });

  it('reads Cluster seed nodes', () => {
    expect(parseRedisUrl('redis+cluster://u:p@n1:7000,n2:7001')).toEqual({
      kind: RedisTopologyKind.Cluster,
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
      ],
      username: 'u',
      password: 'p',
      tls: false,
    });
  });

  it.each([
    ['http://redis:6379', /unknown scheme "http:"/],
    ['redis.internal:6379', /is not an address/],
    ['redis+sentinel://s1:26379,s2:26379', /without the master name: add \?name=/],
    ['redis+cluster://n1:7000/1', /database 1; Redis Cluster has database 0 only/],
    ['redis://a:6379,b:6379', /names 2 hosts; one server takes one/],
    ['redis://redis:99999', /port out of range/],
    ['redis://', /names no host/],
    ['redis://redis:6379/abc', /not a database number/],
    ['redis://u:%zz@redis:6379', /not valid percent-encoding/],
  ])('refuses %s, saying what is wrong', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(RedisAddressError);
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  it('describes each topology for logs without its credentials', () => {
    expect(describeRedisTopology(parseRedisUrl('redis://u:hunter2@redis.internal'))).toBe('redis.internal:6379');
    expect(describeRedisTopology(parseRedisUrl('redis+sentinel://u:hunter2@s1,s2:26380/?name=m'))).toBe('sentinel m via s1:26379,s2:26380');
    expect(describeRedisTopology(parseRedisUrl('redis+cluster://u:hunter2@n1:7000,[::1]:7001'))).toBe('cluster via n1:7000,[::1]:7001');
  });
});
