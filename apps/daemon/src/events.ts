import type { DaemonEvent } from '@usbscsi/core';

type Listener = (event: DaemonEvent, id: number) => void;

/** Fan-out of daemon events to SSE subscribers; ids increase so a client can tell what it missed. */
export class EventHub {
  private readonly listeners = new Set<Listener>();
  private nextId = 1;
  private readonly closers = new Set<() => void>();

  /** Registers a stream to end when the daemon shuts down; returns the unregister function. */
  onClose(closer: () => void): () => void {
    this.closers.add(closer);
    return () => this.closers.delete(closer);
  }

  /** Ends every open stream (shutdown). */
  close(): void {
    for (const c of [...this.closers]) c();
    this.closers.clear();
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  emit(event: DaemonEvent): void {
    const id = this.nextId++;
    for (const l of this.listeners) {
      try {
        l(event, id);
      } catch {
        // one broken subscriber must not stop the others
      }
    }
  }
}

export function formatSse(event: DaemonEvent, id: number): string {
  return `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}
