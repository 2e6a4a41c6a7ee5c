import { Logger } from '@nestjs/common';
import type { CommandNudge } from '../daemon.broker.js';
import type { PeerLink } from '../peer-link.js';
import type { CommandInbox } from './command-inbox.js';

interface Held {
  link: PeerLink;
  /** Every command up to this seq has been sent on `link` (or had left the inbox). */
  sentUpTo: number;
  /** True while the inbox is read; nudges meanwhile wait in `backlog`. */
  reading: boolean;
  backlog: CommandNudge[];
}

/**
 * The holder's side: sends each daemon connection held here its commands in order of acceptance,
 * each once. A new connection first gets every command still waiting; a nudge that skips a seq
 * (another instance's nudge is still on its way, or was lost) reads the inbox again, so a command
 * is never overtaken by a later one. A connection that drops takes nothing with it: what it did
 * not confirm is still in the inbox for the next one.
 */
export class CommandDelivery {
  private readonly logger = new Logger('CommandDelivery');
  private readonly held = new Map<string, Held>();
  /** One warning per outage: a reconnect storm while Redis is away must not become a log flood. */
  private warned = false;

  constructor(private readonly inbox: CommandInbox) {}

  /** A daemon connection was admitted here: its waiting commands go out (after `connected`). */
  async attached(daemonId: string, link: PeerLink): Promise<void> {
    const state: Held = { link, sentUpTo: 0, reading: false, backlog: [] };
    this.held.set(daemonId, state);
    await this.read(daemonId, state);
  }

  detached(daemonId: string, link: PeerLink): void {
    if (this.held.get(daemonId)?.link === link) this.held.delete(daemonId);
  }

  /** A command accepted for a daemon that may be held here. */
  arrived(daemonId: string, nudge: CommandNudge): void {
    const state = this.held.get(daemonId);
    if (!state) return;
    if (state.reading) return void state.backlog.push(nudge);
    if (nudge.seq <= state.sentUpTo) return;
    if (nudge.seq === state.sentUpTo + 1) {
      state.sentUpTo = nudge.seq;
      return state.link.send(nudge.frame);
    }
    void this.read(daemonId, state);
  }

  /** Sends every waiting command past `sentUpTo`, then what arrived meanwhile. */
  private async read(daemonId: string, state: Held): Promise<void> {
    state.reading = true;
    try {
      const { commands, lastSeq } = await this.inbox.pending(daemonId, Date.now());
      this.warned = false;
      if (this.held.get(daemonId) !== state) return;
      for (const command of commands) if (command.seq > state.sentUpTo) state.link.send(command.frame);
      state.sentUpTo = Math.max(state.sentUpTo, lastSeq);
    } catch (error) {
      // Redis is away: the commands stay recorded; the next nudge or connection reads again.
      if (!this.warned) this.logger.warn({ msg: 'waiting commands not read', daemonId, error: error instanceof Error ? error.message : String(error) });
      this.warned = true;
    } finally {
      state.reading = false;
    }
    if (this.held.get(daemonId) === state) for (const nudge of state.backlog.splice(0)) this.arrived(daemonId, nudge);
  }
}
