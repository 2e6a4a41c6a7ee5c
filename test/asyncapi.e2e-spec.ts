import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getMetadataStorage } from 'class-validator';
import { parse } from 'yaml';
import { SubscribeDto, UnsubscribeDto } from '../src/gateway/dto/subscribe.dto.js';
import { ClientMessageType, COMMAND_TYPES, DAEMON_EVENT_TYPES, DaemonMessageType, ErrorCode, Role, ServerMessageType } from '@arbor/gateway-client/protocol';
import { ROLES_KEY } from '../src/gateway/dispatch/roles.decorator.js';
import { DaemonGateway } from '../src/gateway/daemon.gateway.js';
import { RefreshTokenDto } from '../src/auth/dto/refresh-token.dto.js';
import { CancelTaskDto } from '../src/daemons/dto/cancel-task.dto.js';
import { FileChangeDto } from '../src/daemons/dto/file-change.dto.js';
import { HeartbeatDto } from '../src/daemons/dto/heartbeat.dto.js';
import { RunTaskDto } from '../src/daemons/dto/run-task.dto.js';
import { CommandAckDto } from '../src/daemons/dto/command-ack.dto.js';
import { TaskStatusDto } from '../src/daemons/dto/task-status.dto.js';
import { WorkspaceUpdateDto } from '../src/daemons/dto/workspace-update.dto.js';
import { GetWorkspaceStatusDto } from '../src/workspaces/dto/get-workspace-status.dto.js';

type Schema = Record<string, any>;
const doc = parse(readFileSync(fileURLToPath(new URL('../docs/asyncapi.yaml', import.meta.url)), 'utf8')) as Schema;

function resolve(node: Schema): Schema {
  if (!node?.$ref) return node;
  const path = (node.$ref as string).replace(/^#\//, '').split('/');
  return resolve(path.reduce((target: Schema, key) => target[key], doc));
}

/** Message names (frame types) of an operation. */
function operationTypes(operation: string): string[] {
  return (doc.operations[operation].messages as Schema[]).map((ref) => resolve(ref).name as string).sort();
}

/** The handlers the gateway really registers, with the roles allowed to send each. */
function implementedHandlers(): Map<string, Role[]> {
  const handlers = new Map<string, Role[]>();
  for (const name of Object.getOwnPropertyNames(DaemonGateway.prototype)) {
    const method = (DaemonGateway.prototype as unknown as Record<string, unknown>)[name];
    if (typeof method !== 'function') continue;
    const type = Reflect.getMetadata('message', method) as string | undefined;
    if (type === undefined) continue;
    handlers.set(type, (Reflect.getMetadata(ROLES_KEY, method) as Role[] | undefined) ?? [Role.Client, Role.Daemon]);
  }
  return handlers;
}

const sorted = (values: Iterable<string>) => [...values].sort();

describe('docs/asyncapi.yaml', () => {
  it('is an AsyncAPI 3 document with the /ws channels', () => {
    expect(doc.asyncapi).toMatch(/^3\./);
    expect(doc.servers.local.pathname).toBe('/ws');
    expect(Object.keys(doc.operations).sort()).toEqual(['receiveFromClient', 'receiveFromDaemon', 'sendToClient', 'sendToDaemon']);
  });

  it('documents exactly the types each role may send, as the gateway implements them', () => {
    const handlers = implementedHandlers();
    const sendableBy = (role: Role) => sorted([...handlers].filter(([, roles]) => roles.includes(role)).map(([type]) => type));
    expect(operationTypes('receiveFromClient')).toEqual(sorted(Object.values(ClientMessageType)));
    expect(operationTypes('receiveFromDaemon')).toEqual(sorted(Object.values(DaemonMessageType)));
    expect(operationTypes('receiveFromClient')).toEqual(sendableBy(Role.Client));
    expect(operationTypes('receiveFromDaemon')).toEqual(sendableBy(Role.Daemon));
  });

  it('documents what the gateway sends to each role', () => {
    const toClient = [
      ServerMessageType.Pong,
      ServerMessageType.Connected,
      ServerMessageType.DaemonStatus,
      ServerMessageType.WorkspaceStatus,
      ServerMessageType.Ack,
      ServerMessageType.CommandStatus,
      ServerMessageType.Error,
      ServerMessageType.ResyncRequired,
      ServerMessageType.TokenRefreshed,
      ServerMessageType.Subscribed,
      ServerMessageType.Unsubscribed,
      ...DAEMON_EVENT_TYPES,
    ];
    expect(operationTypes('sendToClient')).toEqual(sorted(toClient));
    expect(operationTypes('sendToDaemon')).toEqual(
      sorted([
        ServerMessageType.Pong,
        ServerMessageType.Connected,
        ServerMessageType.Error,
        ServerMessageType.Ack,
        ServerMessageType.TokenRefreshed,
        ...COMMAND_TYPES,
      ]),
    );
  });

  it.each([
    ['get-workspace-status', 'receiveFromClient', GetWorkspaceStatusDto],
    ['run-task', 'receiveFromClient', RunTaskDto],
    ['cancel-task', 'receiveFromClient', CancelTaskDto],
    ['refresh-token', 'receiveFromClient', RefreshTokenDto],
    ['subscribe', 'receiveFromClient', SubscribeDto],
    ['unsubscribe', 'receiveFromClient', UnsubscribeDto],
    ['refresh-token', 'receiveFromDaemon', RefreshTokenDto],
    ['heartbeat', 'receiveFromDaemon', HeartbeatDto],
    ['workspace-update', 'receiveFromDaemon', WorkspaceUpdateDto],
    ['file-change', 'receiveFromDaemon', FileChangeDto],
    ['task-status', 'receiveFromDaemon', TaskStatusDto],
    ['command-ack', 'receiveFromDaemon', CommandAckDto],
  ] as const)('the %s payload schema matches its DTO field by field', (type, operation, dto) => {
    const message = (doc.operations[operation].messages as Schema[]).map(resolve).find((entry) => entry.name === type)!;
    const frame = resolve(message.payload);
    expect(resolve(frame.properties.type).const).toBe(type);
    const payload = resolve(frame.properties.payload);
    const metadata = getMetadataStorage().getTargetValidationMetadatas(dto, '', false, false);
    const fields = sorted(new Set(metadata.map((entry) => entry.propertyName)));
    const optional = sorted(new Set(metadata.filter((entry) => entry.type === 'conditionalValidation').map((entry) => entry.propertyName)));
    expect(sorted(Object.keys(payload.properties))).toEqual(fields);
    expect(sorted(payload.required)).toEqual(fields.filter((field) => !optional.includes(field)));
    expect(payload.additionalProperties).toBe(false);
  });

  it('lists every error code', () => {
    expect(sorted(resolve(doc.components.schemas.ErrorPayload).properties.code.enum)).toEqual(sorted(Object.values(ErrorCode)));
  });
});
