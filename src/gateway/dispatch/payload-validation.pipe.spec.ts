import type { ArgumentMetadata } from '@nestjs/common';
import { FILE_CHANGE_EVENTS, TASK_STATUSES } from '@arbor/gateway-client/protocol';
import { CancelTaskDto } from '../../daemons/dto/cancel-task.dto.js';
import { FileChangeDto } from '../../daemons/dto/file-change.dto.js';
import { HeartbeatDto } from '../../daemons/dto/heartbeat.dto.js';
import { RunTaskDto } from '../../daemons/dto/run-task.dto.js';
import { TaskStatusDto } from '../../daemons/dto/task-status.dto.js';
import { WorkspaceUpdateDto } from '../../daemons/dto/workspace-update.dto.js';
import { GetWorkspaceStatusDto } from '../../workspaces/dto/get-workspace-status.dto.js';
import { DomainError } from '../../errors/domain.error.js';
import { PayloadValidationPipe } from './payload-validation.pipe.js';

const pipe = new PayloadValidationPipe();
const body = (metatype: new () => object): ArgumentMetadata => ({ type: 'body', metatype });

async function failure(metatype: new () => object, payload: unknown): Promise<DomainError> {
  try {
    await pipe.transform(payload, body(metatype));
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(payload)} to fail`);
}

describe('payload DTOs', () => {
  it.each([
    [GetWorkspaceStatusDto, { workspaceId: 'w1' }],
    [RunTaskDto, { taskId: 't', workspaceId: 'w', command: 'npm', args: ['run', 'build'] }],
    [RunTaskDto, { taskId: 't', workspaceId: 'w', command: 'npm' }],
    [CancelTaskDto, { taskId: 't' }],
    [HeartbeatDto, { workspaceIds: [] }],
    [WorkspaceUpdateDto, { workspaceId: 'w', status: 'syncing' }],
    [FileChangeDto, { workspaceId: 'w', path: 'a/b.ts', event: 'unlinkDir' }],
    [TaskStatusDto, { taskId: 't', status: 'failed', output: 'log', error: 'boom' }],
  ] as const)('accepts a valid %p payload unchanged', async (metatype, payload) => {
    expect(await pipe.transform(payload, body(metatype))).toEqual(payload);
  });

  it('accepts every documented file-change event and task status', async () => {
    for (const event of FILE_CHANGE_EVENTS) await pipe.transform({ workspaceId: 'w', path: 'p', event }, body(FileChangeDto));
    for (const status of TASK_STATUSES) await pipe.transform({ taskId: 't', status }, body(TaskStatusDto));
  });

  it.each([
    [GetWorkspaceStatusDto, {}, 'workspaceId'],
    [GetWorkspaceStatusDto, { workspaceId: 1 }, 'workspaceId'],
    [GetWorkspaceStatusDto, { workspaceId: 'w', more: 1 }, 'more'],
    [RunTaskDto, { taskId: 't', workspaceId: 'w', command: '' }, 'command'],
    [RunTaskDto, { taskId: 't', workspaceId: 'w', command: 'x', args: [1] }, 'args'],
    [RunTaskDto, { taskId: 't', workspaceId: 'w', command: 'x', args: Array(257).fill('a') }, 'args'],
    [HeartbeatDto, { workspaceIds: [''] }, 'workspaceIds'],
    [HeartbeatDto, { workspaceIds: Array(1025).fill('w') }, 'workspaceIds'],
    [FileChangeDto, { workspaceId: 'w', path: 'p'.repeat(4097), event: 'add' }, 'path'],
    [FileChangeDto, { workspaceId: 'w', path: 'p', event: 'ADD' }, 'event'],
    [TaskStatusDto, { taskId: 't', status: 'running', output: 5 }, 'output'],
    [WorkspaceUpdateDto, { workspaceId: 'w', status: true }, 'status'],
  ] as const)('%p rejects %j naming %s', async (metatype, payload, field) => {
    const error = await failure(metatype, payload);
    expect(error.toPayload()).toEqual({ code: 'validation_failed', message: expect.any(String), field });
  });
});
