/** Sizes, defaults and well-formedness rules both sides enforce. */

/**
 * The secret a gateway started without JWT_SECRET uses outside production. Public by design: only
 * development tools (the token CLI, the daemon simulator) use it to mint tokens for a local gateway.
 */
export const DEVELOPMENT_JWT_SECRET = 'arbor-gateway-development-secret-do-not-use-in-production';

/**
 * Identifiers (daemon, workspace, task, user ids) and status strings must be well-formed Unicode:
 * a lone surrogate (`\ud800` in JSON) has no UTF-8 form, so stores and other instances would see
 * U+FFFD instead and two ids could become one. Such frames get `validation_failed`; file paths and
 * task output are relayed exactly as sent and may hold any JSON string.
 */
export function isWellFormedText(text: string): boolean {
  // With the u flag a paired surrogate is one code point: only lone ones match.
  return !/\p{Surrogate}/u.test(text);
}

export const Limits = {
  /** Daemon ids, workspace ids, task ids, user ids, request ids. */
  MAX_ID_LENGTH: 128,
  MAX_WORKSPACE_STATUS_LENGTH: 64,
  MAX_PATH_LENGTH: 4096,
  MAX_COMMAND_LENGTH: 4096,
  MAX_TASK_ARGS: 256,
  MAX_TASK_ARG_LENGTH: 4096,
  MAX_WORKSPACES_PER_DAEMON: 1024,
  MAX_DAEMONS_PER_TOKEN: 1024,
  /** Largest frame a daemon may send (MAX_PAYLOAD_BYTES) ... */
  DEFAULT_MAX_PAYLOAD_BYTES: 1024 * 1024,
  /** ... and a client (CLIENT_MAX_PAYLOAD_BYTES). */
  DEFAULT_CLIENT_MAX_PAYLOAD_BYTES: 64 * 1024,
  /** Objects and arrays nested deeper than this in one frame are refused. */
  MAX_JSON_DEPTH: 16,
  /** Arrays longer than this anywhere in a frame are refused. */
  MAX_JSON_ARRAY_LENGTH: 1024,
  /** Keys of one object in a frame. */
  MAX_JSON_OBJECT_KEYS: 64,
  MAX_TOKEN_LENGTH: 8192,
  /** How long an accepted command waits for its daemon's confirmation (COMMAND_TTL_MS). */
  DEFAULT_COMMAND_TTL_MS: 60_000,
  DEFAULT_TOKEN_MAX_TTL_SECONDS: 300,
  DEFAULT_REPLAY_MAX_EVENTS: 1000,
  DEFAULT_REPLAY_TTL_MS: 5 * 60 * 1000,
  MAX_CLOCK_TOLERANCE_SECONDS: 30,
  /** Daemons one multiplexed connection may watch at once, by default (MAX_SUBSCRIPTIONS_PER_CONNECTION). */
  DEFAULT_MAX_SUBSCRIPTIONS: 100,
  /** The window a subscription may ask `file-change` events of one path to be merged over (`coalesceMs`). */
  MIN_COALESCE_MS: 10,
  MAX_COALESCE_MS: 1000,
} as const;
