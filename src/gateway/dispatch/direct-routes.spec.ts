import { Reflector } from '@nestjs/core';
import { DaemonMessageType, Role } from '@arbor/gateway-client/protocol';
import { DaemonGateway } from '../daemon.gateway.js';
import { DirectRoutes } from './direct-routes.js';

describe('DirectRoutes.registerHandlers', () => {
  it("finds the gateway's @DirectDispatch handlers with their message type, roles and compiled validator", () => {
    const routes = new DirectRoutes(new Reflector());
    routes.registerHandlers(Object.create(DaemonGateway.prototype) as DaemonGateway);
    for (const type of [DaemonMessageType.FileChange, DaemonMessageType.TaskStatus]) {
      expect(routes.get(type)?.roles).toEqual([Role.Daemon]);
    }
    expect(routes.get('ping')).toBeUndefined();
    const fileChange = routes.get(DaemonMessageType.FileChange)!;
    expect(fileChange.validate({ workspaceId: 'w', path: 'p', event: 'add' })).toBeUndefined();
    expect(fileChange.validate({ workspaceId: 'w', path: 'p', event: 'nope' })).toMatchObject({ field: 'event' });
  });
});
