import { REDACTED, redactSecrets } from './redact.js';

describe('redactSecrets', () => {
  it('replaces fields whose names look secret, at any depth, and leaves the rest', () => {
    const event = {
      type: 'task-status',
      payload: {
        taskId: 't1',
        output: 'done',
        env: { API_KEY: 'k', Password: 'p', nested: [{ accessToken: 'x', path: 'a.txt' }] },
        authorization: 'Bearer abc',
        clientSecret: 's',
      },
    };
    expect(redactSecrets(event)).toEqual({
      type: 'task-status',
      payload: {
        taskId: 't1',
        output: 'done',
        env: { API_KEY: REDACTED, Password: REDACTED, nested: [{ accessToken: REDACTED, path: 'a.txt' }] },
        authorization: REDACTED,
        clientSecret: REDACTED,
      },
    });
    // The original is untouched.
    expect(event.payload.env.API_KEY).toBe('k');
  });
});
