import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/**
 * Whether the gateway still accepts work. Shutdown starts the moment a drain begins (or Nest
 * starts closing): readiness goes down and new WebSocket upgrades are refused.
 */
@Injectable()
export class LifecycleState implements BeforeApplicationShutdown {
  private shuttingDown = false;

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  beginShutdown(): void {
    this.shuttingDown = true;
  }

  beforeApplicationShutdown(): void {
    this.beginShutdown();
  }
}
