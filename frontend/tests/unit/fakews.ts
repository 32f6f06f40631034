// A WebSocket stand-in and hand-run timers, for the socket and chat store tests.
import { expect } from 'vitest';

/** A WebSocket stand-in: records what is sent, lets the test open, answer and close it. */
export class FakeWs {
  static all: FakeWs[] = [];
  readyState: 0 | 1 | 2 | 3 = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closedWith: number | null = null;
  constructor(readonly url: string) {
    FakeWs.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.closedWith = code;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent);
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code } as CloseEvent);
  }
  types() {
    return this.sent.map((f) => f.type);
  }
}

/** Timers run by hand. */
export class Clock {
  timers = new Map<number, { fn: () => void; ms: number }>();
  next = 1;
  set = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.timers.set(id, { fn, ms });
    return id;
  };
  clear = (id: unknown) => {
    this.timers.delete(id as number);
  };
  runAll() {
    const list = [...this.timers.entries()];
    this.timers.clear();
    for (const [, t] of list) t.fn();
  }
  /** The delays of the pending timers other than the heartbeat (30 s in these tests). */
  others() {
    return [...this.timers.values()].filter((t) => t.ms !== 30_000).map((t) => t.ms);
  }
  /** Runs the one pending timer of this delay. */
  run(ms: number) {
    const found = [...this.timers.entries()].filter(([, t]) => t.ms === ms);
    expect(found).toHaveLength(1);
    const [id, t] = found[0]!;
    this.timers.delete(id);
    t.fn();
  }
}

export const flush = () => new Promise((r) => setTimeout(r, 0));
export const READY = { type: 'ready', protocol_version: 1, user_id: 'me', session_id: 's', heartbeat_secs: 30 };
