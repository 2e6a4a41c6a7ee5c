/** Something with one deadline at a time, and the slot the wheel filed it under. */
export interface HasDeadline {
  deadline: number | undefined;
  deadlineSlot: number | undefined;
}

/**
 * Deadlines for many connections without a timer each: deadlines are filed in slots of `slotMs`
 * and `tick()` (called every slot) fires those due. A deadline fires at most one slot late, never
 * early. Fifty thousand connections cost fifty thousand set entries, not fifty thousand timers.
 */
export class DeadlineWheel<T extends HasDeadline> {
  private readonly slots = new Map<number, Set<T>>();
  private lastSlot: number;

  constructor(
    private readonly slotMs: number,
    private readonly onDue: (item: T) => void,
    now = Date.now(),
  ) {
    this.lastSlot = Math.floor(now / slotMs);
  }

  schedule(item: T, deadline: number): void {
    this.cancel(item);
    const slot = Math.max(Math.ceil(deadline / this.slotMs), this.lastSlot + 1);
    let entries = this.slots.get(slot);
    if (!entries) this.slots.set(slot, (entries = new Set()));
    entries.add(item);
    item.deadline = deadline;
    item.deadlineSlot = slot;
  }

  cancel(item: T): void {
    if (item.deadlineSlot === undefined) return;
    const entries = this.slots.get(item.deadlineSlot);
    entries?.delete(item);
    if (entries?.size === 0) this.slots.delete(item.deadlineSlot);
    item.deadline = undefined;
    item.deadlineSlot = undefined;
  }

  get size(): number {
    let total = 0;
    for (const entries of this.slots.values()) total += entries.size;
    return total;
  }

  tick(now = Date.now()): void {
    const current = Math.floor(now / this.slotMs);
    for (let slot = this.lastSlot + 1; slot <= current; slot += 1) {
      const entries = this.slots.get(slot);
      if (!entries) continue;
      this.slots.delete(slot);
      for (const item of entries) {
        item.deadlineSlot = undefined;
        item.deadline = undefined;
        this.onDue(item);
      }
    }
    this.lastSlot = current;
  }
}
