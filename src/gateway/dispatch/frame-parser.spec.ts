import { FrameRejection, parseFrame } from './frame-parser.js';

function rejection(text: string) {
  const result = parseFrame(text);
  if (!(result instanceof FrameRejection)) throw new Error(`expected ${text} to be rejected`);
  return { ...result.error.toPayload(), id: result.frameId };
}

describe('parseFrame', () => {
  it('returns type, payload and id', () => {
    expect(parseFrame('{"type":"ping","id":"r1"}')).toEqual({ type: 'ping', payload: {}, id: 'r1' });
    expect(parseFrame('{"type":"x","payload":{"a":[1]}}')).toEqual({ type: 'x', payload: { a: [1] }, id: undefined });
  });

  it.each([
    ['{', 'invalid_json', undefined],
    ['[1]', 'bad_request', undefined],
    ['{"payload":{}}', 'bad_request', 'type'],
    ['{"type":"x","payload":3}', 'bad_request', 'payload'],
    ['{"type":"x","payload":null}', 'bad_request', 'payload'],
    ['{"type":"x","id":""}', 'bad_request', 'id'],
    ['{"type":"x","meta":1}', 'bad_request', 'meta'],
    ['{"type":"x","payload":{"a":{"b":[{"__proto__":1}]}}}', 'bad_request', '__proto__'],
    ['{"type":"x","payload":{"prototype":1}}', 'bad_request', 'prototype'],
  ])('rejects %s with %s', (text, code, field) => {
    const result = rejection(text);
    expect(result.code).toBe(code);
    expect(result.field).toBe(field);
  });

  it('keeps the request id on rejections after the id was read', () => {
    expect(rejection('{"type":"x","payload":3,"id":"r7"}').id).toBe('r7');
  });

  it('allows those words as values', () => {
    expect(parseFrame('{"type":"x","payload":{"path":"constructor/__proto__.ts"}}')).toMatchObject({ payload: { path: 'constructor/__proto__.ts' } });
  });
});
