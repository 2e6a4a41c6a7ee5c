export * from './protocol.js';
export { DEFAULT_BACKOFF, fullJitterDelay, type BackoffOptions } from './backoff.js';
export type { Listener, Unsubscribe } from './emitter.js';
export { ConnectionClosedError, GatewayRequestError, RequestTimeoutError } from './errors.js';
export { browserNetwork, type NetworkMonitor } from './network.js';
export {
  ConnectionState,
  GatewayCloseError,
  ReconnectingWebSocket,
  type CloseEvent,
  type ReconnectingWebSocketEvents,
  type ReconnectingWebSocketOptions,
  type SendOptions,
  type TokenSource,
  type UrlSource,
  type WebSocketConstructor,
  type WebSocketLike,
} from './reconnecting-websocket.js';
export {
  DEFAULT_GATEWAY_URL,
  GatewayClient,
  newTaskId,
  type CommandAck,
  type GatewayClientEvents,
  type GatewayClientOptions,
  type RunTaskRequest,
} from './gateway-client.js';
export { startSharedWorkerRelay } from './shared-worker-relay.js';
export { browserTabApis, CrossTabClient, type CrossTabClientEvents, type CrossTabClientOptions, type PortLike, type TabApis } from './cross-tab-client.js';
export { DaemonWatch, WatchState, type CommandAnswer, type DaemonWatchEvents, type WatchEndReason, type WatchOptions } from './daemon-watch.js';
export type { DaemonViewEvents } from './daemon-view.js';
export { DaemonClient, type DaemonClientEvents, type DaemonClientOptions } from './daemon-client.js';
export { systemTimers, type Timers } from './timers.js';
