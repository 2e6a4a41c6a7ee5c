import { Redis } from 'ioredis';

/** A group of processes set up by `create`, or, when that fails, stopped: left running they would keep the test process alive. */
export async function createdOrStopped<T extends { stop(): Promise<void> }>(group: T, create: () => Promise<void>): Promise<T> {
  try {
    await create();
  } catch (error) {
    await group.stop();
    throw error;
  }
  return group;
}

export async function waitForPing(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing answers on ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      probe.disconnect();
    }
  }
}

export async function waitForReplication(replicaPort: number): Promise<void> {
  const replica = new Redis(replicaPort, '127.0.0.1', { maxRetriesPerRequest: 1 });
  const deadline = Date.now() + 10_000;
  try {
    while (!/master_link_status:up/.test(await replica.info('replication'))) {
      if (Date.now() > deadline) throw new Error('the replica did not sync');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    replica.disconnect();
  }
}
