import { LogFormat, LogLevel } from '../config/environment.js';
import { JsonLogger } from './json-logger.js';
import { redact } from './redact.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlLXBhcnQ';

describe('JsonLogger', () => {
  function capture(level: LogLevel) {
    const lines: string[] = [];
    return { logger: new JsonLogger(level, (line) => lines.push(line)), lines };
  }

  it('writes one JSON object per line with level and context', () => {
    const { logger, lines } = capture(LogLevel.Info);
    logger.log({ msg: 'hello', connectionId: 'c1' }, 'Gateway');
    logger.warn('careful');
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { time: expect.any(String), level: 'info', context: 'Gateway', msg: 'hello', connectionId: 'c1' },
      { time: expect.any(String), level: 'warn', msg: 'careful' },
    ]);
    expect(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(true);
  });

  it('filters by level', () => {
    const { logger, lines } = capture(LogLevel.Warn);
    logger.log('dropped');
    logger.debug('dropped');
    logger.error(new Error('kept'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'error', msg: 'kept' });
  });

  it("logs Nest's start-up narration at debug, and its warnings as they come", () => {
    const info = capture(LogLevel.Info);
    info.logger.log('AppModule dependencies initialized', 'InstanceLoader');
    info.logger.log('Mapped {/health, GET} route', 'RouterExplorer');
    info.logger.warn('something odd', 'NestApplication');
    expect(info.lines.map((line) => JSON.parse(line) as { level: string; msg: string })).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'something odd' }),
    ]);
    const debug = capture(LogLevel.Debug);
    debug.logger.log('Mapped {/health, GET} route', 'RouterExplorer');
    expect(JSON.parse(debug.lines[0])).toMatchObject({ level: 'debug', context: 'RouterExplorer' });
  });

  it('redacts tokens wherever they appear', () => {
    const { logger, lines } = capture(LogLevel.Debug);
    logger.log({ msg: 'upgrade', url: `/ws?daemonId=d1&token=${JWT}` });
    logger.error(new Error(`bad header Bearer ${JWT}`));
    logger.debug(`raw ${JWT}`);
    for (const line of lines) expect(line).not.toContain('c2lnbmF0dXJlLXBhcnQ');
    expect(lines[0]).toContain('"url":"/ws?[REDACTED]"');
  });
});

describe('redact', () => {
  it('keeps ordinary text', () => {
    expect(redact('daemon d1 connected to /ws from 10.0.0.1: is it there?')).toBe('daemon d1 connected to /ws from 10.0.0.1: is it there?');
  });
  it('removes whole query strings of paths and URLs, and bare token parameters', () => {
    expect(redact('/ws?access_token=abc.def&x=1')).toBe('/ws?[REDACTED]');
    expect(redact('connect ws://gw.example/ws?daemonId=d1&since=e:4 failed')).toBe('connect ws://gw.example/ws?[REDACTED] failed');
    expect(redact('token=abc.def')).toBe('token=[REDACTED]');
  });

  it('writes readable lines in the pretty format', () => {
    const lines: string[] = [];
    new JsonLogger(LogLevel.Info, (line) => lines.push(line), LogFormat.Pretty).log(
      { msg: 'connection admitted', connectionId: 'c1', role: 'client' },
      'DaemonGateway',
    );
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[DaemonGateway\] connection admitted connectionId=c1 role=client\n$/);
  });
});
