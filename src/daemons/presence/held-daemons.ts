/**
 * Which daemons each instance holds, as presence records them: what another instance settles when
 * one departs without a goodbye (webhooks report its daemons offline once their presence expires).
 * A daemon stays listed under an instance until that instance detaches it cleanly or a reaper
 * releases it; a daemon that moved on may still be listed under an instance it left.
 */
export abstract class HeldDaemons {
  abstract heldBy(instanceId: string): Promise<string[]>;
  /** The departed instance's daemon is settled: it is no longer listed there. */
  abstract release(instanceId: string, daemonId: string): Promise<void>;
  /** Forgets a departed instance's list once every daemon on it is settled. */
  abstract forgetInstance(instanceId: string): Promise<void>;
}

/** One instance: nobody else can depart holding its daemons. */
export class NoHeldDaemons extends HeldDaemons {
  async heldBy(): Promise<string[]> {
    return [];
  }

  async release(): Promise<void> {}

  async forgetInstance(): Promise<void> {}
}
