export { FakeGateway, FakeSocket, type FakeGatewayOptions } from './fake-gateway.js';
