/** A change of a daemon's presence that the app's backend may want to hear of (webhooks). */
export enum TransitionKind {
  Online = 'online',
  Stale = 'stale',
  Offline = 'offline',
  /** It connected again while its previous connection was still held (that one closes with 4409). */
  Replaced = 'replaced',
}

export interface DaemonTransition {
  daemonId: string;
  kind: TransitionKind;
  /** When it happened (ms since the epoch). */
  at: number;
}

export type TransitionListener = (transition: DaemonTransition) => void;
