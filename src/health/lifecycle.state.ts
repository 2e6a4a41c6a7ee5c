import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/** Whether the gateway is still accepting work; readiness goes down the moment shutdown begins. */
@Injectable()
export class LifecycleState implements BeforeApplicationShutdown {
  private shuttingDown = false;

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }
}
