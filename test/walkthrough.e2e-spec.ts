import { Role } from '@arbor/gateway-client/protocol';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GatewayHarness } from './support/gateway-harness.js';

const run = promisify(execFile);
const WALKTHROUGH = fileURLToPath(new URL('../examples/walkthrough.mjs', import.meta.url));

describe('README walk-through', () => {
  it('shows a file-change travelling from the daemon to the client', async () => {
    const gateway = await GatewayHarness.start();
    try {
      const { stdout } = await run(process.execPath, [WALKTHROUGH], {
        env: {
          PATH: process.env.PATH ?? '',
          GATEWAY_URL: gateway.wsUrl(),
          DAEMON_TOKEN: gateway.token(Role.Daemon, 'daemon-123'),
          CLIENT_TOKEN: gateway.token(Role.Client, 'user-1', { daemons: ['daemon-123'] }),
        },
      });
      expect(stdout).toContain('client ← {"type":"file-change","daemonId":"daemon-123","payload":{"workspaceId":"w1","path":"src/a.ts","event":"change"}}');
      expect(stdout).toContain('file-change arrived at the client for daemon-123: src/a.ts (change)');
    } finally {
      await gateway.stop();
    }
  });
});
