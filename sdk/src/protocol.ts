/**
 * The Arbor Gateway wire protocol: message types, close codes, error codes and limits.
 * Defined once, in this module and the files of protocol/ it gathers; the gateway and every SDK
 * client import it from here. docs/protocol.md and docs/asyncapi.yaml describe the same contract
 * for other languages (a test keeps them in step).
 */

export * from './protocol/messages.js';
export * from './protocol/closes.js';
export * from './protocol/limits.js';
export * from './protocol/frames.js';
export * from './protocol/payloads.js';
export * from './protocol/webhooks.js';
