/** Why reading a connection's socket is paused; reads resume when no reason is left. */
export enum PauseReason {
  /** A daemon over its message rate. */
  RateLimit = 1,
  /** A daemon whose viewers have too much buffered (fan-out backpressure). */
  Backpressure = 2,
}
