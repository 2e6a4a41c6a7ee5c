export { useWebSocket, defaultGatewayUrl, type UseWebSocketOptions, type UseWebSocketResult } from './use-websocket.js';
export { DaemonConnectionStatus, describeDaemon, describeLink, type DaemonConnectionStatusProps } from './daemon-connection-status.js';
export { GatewayProvider, GatewayContext, type GatewaySettings } from './gateway-context.js';
export type { ConnectionSnapshot } from './connection-registry.js';
