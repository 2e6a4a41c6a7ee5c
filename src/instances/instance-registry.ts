import { INSTANCE_ID } from '../config/instance-id.js';

/** What an instance says about itself on every beat (the server API's /stats reads it). */
export interface InstanceRecord {
  instanceId: string;
  /** When it last beat (ms since the epoch). */
  at: number;
  /** Whatever the snapshot source returned at that beat. */
  snapshot: Record<string, unknown>;
}

/** How often an instance beats. */
export const INSTANCE_BEAT_MS = 2_000;
/** An instance silent this long has departed (crashed, or shut down). */
export const INSTANCE_DEPARTED_MS = 5 * INSTANCE_BEAT_MS;

export type SnapshotSource = () => Record<string, unknown>;

/**
 * The instances of one deployment. Each beats with a snapshot of itself; one silent past
 * INSTANCE_DEPARTED_MS has departed. In memory there is one instance: this one.
 */
export abstract class InstanceRegistry {
  /** This instance, as presence and the registry name it. */
  abstract readonly instanceId: string;
  protected snapshotSource: SnapshotSource = () => ({});

  /** What each beat carries; set by whoever knows it (the server API's stats). */
  setSnapshotSource(source: SnapshotSource): void {
    this.snapshotSource = source;
  }

  /** Instances that beat recently, this one first. */
  abstract live(): Promise<InstanceRecord[]>;
  /** Instances that stopped beating and are not forgotten yet. */
  abstract departed(): Promise<InstanceRecord[]>;
  /** Forgets a departed instance (once whatever it left behind is dealt with). */
  abstract forget(instanceId: string): Promise<void>;
}

export class InMemoryInstanceRegistry extends InstanceRegistry {
  readonly instanceId = INSTANCE_ID;

  async live(): Promise<InstanceRecord[]> {
    return [{ instanceId: this.instanceId, at: Date.now(), snapshot: this.snapshotSource() }];
  }

  async departed(): Promise<InstanceRecord[]> {
    return [];
  }

  async forget(): Promise<void> {}
}
