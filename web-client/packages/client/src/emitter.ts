/**
 * A minimal typed event emitter. Listeners run synchronously in the order
 * they were added; a listener that throws is reported to onListenerError
 * and does not stop the others, so a game bug cannot break the connection.
 */
export type Listener<T> = (ev: T) => void;

export class Emitter<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners: { [K in keyof Events]?: Listener<Events[K]>[] } = {};

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(type: K, fn: Listener<Events[K]>): () => void {
    (this.listeners[type] ??= []).push(fn);
    return () => this.off(type, fn);
  }

  off<K extends keyof Events>(type: K, fn: Listener<Events[K]>): void {
    const l = this.listeners[type];
    if (!l) return;
    const i = l.indexOf(fn);
    if (i >= 0) l.splice(i, 1);
  }

  emit<K extends keyof Events>(type: K, ev: Events[K]): void {
    const l = this.listeners[type];
    if (!l) return;
    for (const fn of [...l]) {
      try {
        fn(ev);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
