import { JwtService } from '@nestjs/jwt';
import { parseArgs } from 'node:util';
import { Role } from '@arbor/gateway-client/protocol';
import { AuthService } from '../auth/auth.service.js';
import { InMemoryRevocationList } from '../auth/revocation.list.js';
import { GatewayConfig } from '../config/gateway-config.js';

const USAGE = `Usage: npm run token -- --role client|daemon --sub <id> [--daemons id1,id2] [--ttl seconds] [--json]

Prints a gateway token signed with JWT_SECRET (or the development secret outside production).`;

/** Development helper: mints a token the local gateway accepts. */
function main(): void {
  const { values } = parseArgs({
    options: {
      role: { type: 'string' },
      sub: { type: 'string' },
      daemons: { type: 'string' },
      ttl: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return void process.stdout.write(USAGE + '\n');
  const role = values.role as Role;
  if (role !== Role.Client && role !== Role.Daemon) fail('--role must be client or daemon');
  if (!values.sub) fail('--sub is required');
  if (role === Role.Client && !values.daemons) fail('--daemons is required for a client token');
  const ttlSeconds = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttlSeconds !== undefined && !(Number.isInteger(ttlSeconds) && ttlSeconds > 0)) fail('--ttl must be a positive whole number');

  const config = GatewayConfig.load();
  const auth = new AuthService(new JwtService({}), config, new InMemoryRevocationList());
  const issued = auth.issueToken({
    sub: values.sub,
    role,
    daemons: values.daemons
      ?.split(',')
      .map((id) => id.trim())
      .filter(Boolean),
    ttlSeconds,
  });
  process.stdout.write((values.json ? JSON.stringify(issued) : issued.token) + '\n');
}

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

try {
  main();
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
