/**
 * Items gathered per key within one event-loop turn and handed over together at its end
 * (setImmediate), or at once when a key's batch reaches `maxItems` or `maxWeight`. Order within a
 * key is kept. Used to send a daemon's events of one turn to Redis in one command.
 */
export class TurnBatches<T> {
  private readonly batches = new Map<string, { items: T[]; weight: number }>();
  private scheduled = false;

  constructor(
    private readonly send: (key: string, items: T[]) => void,
    private readonly maxItems: number,
    private readonly maxWeight = Number.POSITIVE_INFINITY,
    private readonly weigh: (item: T) => number = () => 0,
  ) {}

  add(key: string, item: T): void {
    let batch = this.batches.get(key);
    if (!batch) this.batches.set(key, (batch = { items: [], weight: 0 }));
    batch.items.push(item);
    batch.weight += this.weigh(item);
    if (batch.items.length >= this.maxItems || batch.weight >= this.maxWeight) this.flush(key);
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  flush(key: string): void {
    const batch = this.batches.get(key);
    if (!batch) return;
    this.batches.delete(key);
    this.send(key, batch.items);
  }

  /** Removes a key's batch without sending it, for a caller that deals with its items itself. */
  take(key: string): T[] {
    const batch = this.batches.get(key);
    this.batches.delete(key);
    return batch?.items ?? [];
  }

  /** Hands over every batch now (before a read that must see them, or at shutdown). */
  readonly flushAll = (): void => {
    this.scheduled = false;
    for (const key of [...this.batches.keys()]) this.flush(key);
  };
}
