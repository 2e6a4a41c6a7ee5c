import { Role } from '@arbor/gateway-client/protocol';
import type { GatewayHarness } from './gateway-harness.js';
import type { TestPeer } from './test-peer.js';

/** What the security suites check after every hostile case: an unrelated pair still served. */

export interface Bystanders {
  daemon: TestPeer;
  client: TestPeer;
  seq: number;
}

export type Mint = (role: Role, sub: string, daemons?: string[]) => string;

/** A daemon and a client of it, unrelated to the hostile peers; `mint` signs their tokens for gateways without the test secret. */
export async function bystanders(gateway: GatewayHarness, daemonId: string, mint?: Mint): Promise<Bystanders> {
  if (!mint) return { daemon: await gateway.daemon(daemonId), client: await gateway.client(daemonId, `${daemonId}-watcher`), seq: 0 };
  const daemon = await gateway.open(gateway.wsUrl({ token: mint(Role.Daemon, daemonId) }));
  await daemon.next('connected');
  const client = await gateway.open(gateway.wsUrl({ daemonId, token: mint(Role.Client, `${daemonId}-watcher`, [daemonId]) }));
  await client.next('connected');
  return { daemon, client, seq: 0 };
}

/** The unrelated pair still works end to end: a request is answered and an event is relayed. */
export async function assertUnaffected(gateway: GatewayHarness, pair: Bystanders): Promise<void> {
  expect((await pair.client.request('get-workspace-status', { workspaceId: 'w-none' })).payload).toMatchObject({ code: 'not_found' });
  const path = `alive-${++pair.seq}.txt`;
  pair.daemon.send({ type: 'file-change', payload: { workspaceId: 'w1', path, event: 'change' } });
  await pair.client.next((frame) => frame.type === 'file-change' && frame.payload.path === path, `relayed ${path}`);
  expect((await fetch(`${gateway.httpUrl}/health/live`)).status).toBe(200);
}

export async function expectClosed(peer: TestPeer, code: number, errorCode?: string): Promise<void> {
  const closed = await peer.waitClosed();
  expect(closed.code).toBe(code);
  // The error frame that comes with the close is the last one the peer got.
  if (errorCode) expect(peer.received.filter((frame) => frame.type === 'error').at(-1)?.payload.code).toBe(errorCode);
}

export async function expectError(peer: TestPeer, frame: unknown, code: string): Promise<void> {
  const id = `hostile-${Math.random().toString(36).slice(2)}`;
  peer.send(typeof frame === 'string' ? frame : { ...(frame as object), id });
  const reply = await peer.next((received) => received.type === 'error' && (typeof frame === 'string' || received.id === id), `error ${code}`);
  expect(reply.payload.code).toBe(code);
  expect(peer.isOpen).toBe(true);
}
