import { IsEmail, IsOptional, IsString, validateSync, ValidateIf } from 'class-validator';
import { plainToInstance } from 'class-transformer';
import { ErrorCode } from '@arbor/gateway-client/protocol';
import { IssueTokenDto } from '../auth/dto/issue-token.dto.js';
import { CancelTaskDto } from '../daemons/dto/cancel-task.dto.js';
import { FileChangeDto } from '../daemons/dto/file-change.dto.js';
import { HeartbeatDto } from '../daemons/dto/heartbeat.dto.js';
import { RunTaskDto } from '../daemons/dto/run-task.dto.js';
import { TaskStatusDto } from '../daemons/dto/task-status.dto.js';
import { WorkspaceUpdateDto } from '../daemons/dto/workspace-update.dto.js';
import { GetWorkspaceStatusDto } from '../workspaces/dto/get-workspace-status.dto.js';
import { compileValidator, UnsupportedConstraintError } from './compiled-validator.js';
import { PayloadValidationPipe, validatorFor } from '../gateway/dispatch/payload-validation.pipe.js';
import { prng } from '../../test/support/prng.js';

type Dto = new () => object;

/** What class-validator itself says, configured as the gateway configures it. */
function classValidatorFailures(dto: Dto, payload: Record<string, unknown>): string[] {
  const instance = plainToInstance(dto, payload, { enableImplicitConversion: false });
  return validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true }).map((error) => error.property);
}

const VALUES: unknown[] = [
  undefined,
  null,
  0,
  5,
  -1,
  1.5,
  true,
  '',
  'x',
  'a'.repeat(64),
  'a'.repeat(65),
  'a'.repeat(128),
  'a'.repeat(129),
  'a'.repeat(4096),
  'a'.repeat(4097),
  'w\ud800',
  'ok\udc00',
  '\ud83d\ude00',
  ['w\ud801'],
  ['w1', '\udfff'],
  [],
  ['w1'],
  [''],
  [1],
  Array(257).fill('a'),
  Array(1025).fill('w'),
  {},
  { a: 1 },
  'add',
  'change',
  'unlinkDir',
  'queued',
  'failed',
  'client',
  'daemon',
  300,
  86401,
];

const VALID: Array<[Dto, Record<string, unknown>]> = [
  [GetWorkspaceStatusDto, { workspaceId: 'w1' }],
  [RunTaskDto, { taskId: 't', workspaceId: 'w', command: 'npm', args: ['x'] }],
  [CancelTaskDto, { taskId: 't' }],
  [HeartbeatDto, { workspaceIds: ['w1'] }],
  [WorkspaceUpdateDto, { workspaceId: 'w', status: 'idle' }],
  [FileChangeDto, { workspaceId: 'w', path: 'p', event: 'add' }],
  [TaskStatusDto, { taskId: 't', status: 'running', output: 'o' }],
  [IssueTokenDto, { sub: 'u', role: 'client', daemons: ['d'], ttlSeconds: 60 }],
];

describe('compileValidator agrees with class-validator', () => {
  it.each(VALID)('%p: on every single-field mutation, pair mutation and extra key', (dto, valid) => {
    const validate = compileValidator(dto);
    const fields = [...Object.keys(valid), 'args', 'output', 'error', 'daemons', 'ttlSeconds'].filter((field, index, all) => all.indexOf(field) === index);
    const corpus: Record<string, unknown>[] = [valid, {}, { ...valid, extra: 1 }];
    for (const field of fields) for (const value of VALUES) corpus.push({ ...valid, [field]: value });
    const random = prng(7);
    for (let i = 0; i < 400; i += 1) {
      const payload: Record<string, unknown> = { ...valid };
      for (let k = 0; k < 2; k += 1) payload[fields[Math.floor(random() * fields.length)]] = VALUES[Math.floor(random() * VALUES.length)];
      corpus.push(payload);
    }
    for (const payload of corpus) {
      for (const key of Object.keys(payload)) if (payload[key] === undefined) delete payload[key];
      const expected = classValidatorFailures(dto, payload);
      const actual = validate(payload);
      if (expected.length === 0) expect({ payload, actual }).toEqual({ payload, actual: undefined });
      else
        expect({ payload, field: expected.includes(actual?.field ?? '') ? 'one of the failing fields' : actual?.field }).toEqual({
          payload,
          field: 'one of the failing fields',
        });
    }
  });
});

describe('fallback to class-validator', () => {
  class ContactDto {
    @IsEmail()
    email: string;

    @IsOptional()
    @IsString()
    note?: string;
  }

  class ConditionalDto {
    @ValidateIf((dto: ConditionalDto) => dto.kind === 'named')
    @IsString()
    name?: string;

    @IsString()
    kind: string;
  }

  it('refuses to compile a decorator it does not know, and the pipe uses class-validator for it', async () => {
    expect(() => compileValidator(ContactDto)).toThrow(UnsupportedConstraintError);
    expect(validatorFor(ContactDto)).toBeNull();
    const pipe = new PayloadValidationPipe();
    await expect(pipe.transform({ email: 'a@example.com' }, { type: 'body', metatype: ContactDto })).resolves.toBeInstanceOf(ContactDto);
    await expect(pipe.transform({ email: 'nope' }, { type: 'body', metatype: ContactDto })).rejects.toMatchObject({
      code: ErrorCode.ValidationFailed,
      field: 'email',
    });
  });

  it('compiles ValidateIf conditions', () => {
    const validate = compileValidator(ConditionalDto);
    expect(validate({ kind: 'anonymous' })).toBeUndefined();
    expect(validate({ kind: 'named' })).toMatchObject({ field: 'name' });
    expect(validate({ kind: 'named', name: 'x' })).toBeUndefined();
  });
});
