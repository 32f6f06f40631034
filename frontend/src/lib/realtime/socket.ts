// One WebSocket to /api/v1/ws that stays up by itself: it authenticates with a fresh access
// token, pings at the server's heartbeat, notices a dead connection, and reconnects with
// growing, jittered delays (at once when the browser comes back online). Whoever owns it
// resubscribes with its cursors on every `ready`; frames are only sent while ready.
//
// The server closes a connection when its access token expires (`token_expires_at` in `ready`
// and `reauthenticated`) unless a newer token of the same session arrives first, so the socket
// sends `authenticate` again on the open connection ahead of that moment (see `renewDelay`).

import { parseServerFrame, type ClientFrame, type ServerFrame } from './frames';

export type SocketStatus = 'connecting' | 'ready' | 'offline' | 'stopped';

type WsLike = Pick<WebSocket, 'send' | 'close' | 'readyState'> & {
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
};

export interface SocketOptions {
  url: string;
  /** A valid access token (refreshed when needed). Rejecting stops the socket. */
  token: () => Promise<string>;
  /**
   * An access token newer than `current` (the one the connection holds), to renew the open
   * connection. Without it, `token()` is asked and a renewal waits until it hands out another.
   */
  renewToken?: (current: string | null) => Promise<string>;
  /** Now on the server's clock (ms), to read `token_expires_at`; the local clock by default. */
  now?: () => number;
  onFrame: (frame: ServerFrame) => void;
  onStatus?: (status: SocketStatus) => void;
  /** Called when the server refuses the session (close 4001 after a refresh failed). */
  onUnauthorized?: () => void;
  createSocket?: (url: string) => WsLike;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (id: unknown) => void;
  random?: () => number;
}

const OPEN = 1;
/** Renewals of one connection are at least this far apart (ms), whatever the clocks say. */
export const MIN_RENEW_GAP_MS = 10_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * How long to wait (ms) before renewing a token with `remaining` ms of life: at 80 % of it or
 * a minute before expiry, whichever is sooner, but never in the first half of a short life
 * (so a short-lived token is not renewed over and over). Null when it has expired already by
 * this clock: then nothing is renewed and the server's close (4001) leads to a reconnect.
 */
export function renewDelay(remaining: number): number | null {
  if (!(remaining > 0)) return null;
  const ahead = Math.min(remaining * 0.8, remaining - 60_000);
  return Math.min(MAX_TIMER_MS, Math.round(Math.max(ahead, remaining / 2)));
}

/** Delay before reconnect attempt `n` (0-based): 0.5 s doubling to 30 s, with ±25 % jitter. */
export function backoff(n: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 500 * 2 ** Math.min(n, 10));
  return Math.round(base * (0.75 + random() * 0.5));
}

export class RealtimeSocket {
  status: SocketStatus = 'stopped';
  private ws: WsLike | null = null;
  private attempts = 0;
  private reconnectTimer: unknown = null;
  private heartbeatTimer: unknown = null;
  private heartbeatMs = 30_000;
  private lastHeard = 0;
  private renewTimer: unknown = null;
  /** The newest token the connection has been accepted with. */
  private heldToken: string | null = null;
  /** A token sent to renew the connection, until `reauthenticated` accepts it. */
  private offeredToken: string | null = null;
  /** The connection's deadline on the server's clock (ms), from the last `ready`/`reauthenticated`. */
  private deadline: number | null = null;
  /** When the last renewal was sent (local clock, ms). */
  private lastRenewal = -Infinity;
  /**
   * The token of a connection the server closed with 4001 (refused: expired on its clock, or
   * the session revoked): the next connection asks for a newer one, so that a revoked session
   * ends at once (its refresh is refused) instead of presenting the same token again.
   */
  private refusedToken: string | null = null;
  private readonly opts: Required<Omit<SocketOptions, 'onStatus' | 'onUnauthorized' | 'renewToken'>> &
    Pick<SocketOptions, 'onStatus' | 'onUnauthorized' | 'renewToken'>;

  constructor(opts: SocketOptions) {
    this.opts = {
      createSocket: (url) => new WebSocket(url) as WsLike,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
      random: Math.random,
      now: () => Date.now(),
      ...opts,
    };
  }

  private setStatus(s: SocketStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.opts.onStatus?.(s);
  }

  start(): void {
    if (this.status !== 'stopped') return;
    if (typeof window !== 'undefined') {
      window.addEventListener('online', this.onOnline);
      window.addEventListener('offline', this.onOffline);
    }
    this.connect();
  }

  stop(): void {
    this.setStatus('stopped');
    this.refusedToken = null;
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', this.onOnline);
      window.removeEventListener('offline', this.onOffline);
    }
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      ws.close(1000);
    }
  }

  /** Sends a frame when the connection is ready; false otherwise (the caller retries on ready). */
  send(frame: ClientFrame): boolean {
    if (this.status !== 'ready' || !this.ws || this.ws.readyState !== OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private onOnline = (): void => {
    if (this.status === 'offline') {
      this.attempts = 0;
      this.opts.clearTimer(this.reconnectTimer);
      this.reconnectTimer = null;
      this.connect();
    }
  };

  /** The browser lost the network: the socket is dead even if it has not noticed yet. */
  private onOffline = (): void => {
    const ws = this.ws;
    if (!ws || this.status === 'stopped') return;
    ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
    ws.close(4000);
    this.ws = null;
    this.endConnection();
    this.retry();
  };

  private clearTimers(): void {
    if (this.reconnectTimer !== null) this.opts.clearTimer(this.reconnectTimer);
    this.reconnectTimer = null;
    this.endConnection();
  }

  /** Forgets what belonged to the connection that is gone: its heartbeat, token and renewal. */
  private endConnection(): void {
    if (this.heartbeatTimer !== null) this.opts.clearTimer(this.heartbeatTimer);
    if (this.renewTimer !== null) this.opts.clearTimer(this.renewTimer);
    this.heartbeatTimer = this.renewTimer = null;
    this.heldToken = this.offeredToken = null;
    this.deadline = null;
    this.lastRenewal = -Infinity;
  }

  private connect(): void {
    this.setStatus('connecting');
    let ws: WsLike;
    try {
      ws = this.opts.createSocket(this.opts.url);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const refused = this.refusedToken;
      const renew = this.opts.renewToken;
      (refused !== null && renew ? renew(refused) : this.opts.token())
        .then((token) => {
          if (this.ws !== ws || ws.readyState !== OPEN) return;
          this.heldToken = token;
          ws.send(JSON.stringify({ type: 'authenticate', token }));
        })
        .catch(() => {
          // No valid session any more: the API client has ended it.
          this.stop();
          this.opts.onUnauthorized?.();
        });
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      const frame = parseServerFrame(ev.data);
      if (!frame) return;
      if (frame.type === 'ready') {
        this.attempts = 0;
        this.refusedToken = null;
        this.heartbeatMs = Math.max(5, Math.min(frame.heartbeat_secs, 60)) * 1000;
        this.setStatus('ready');
        this.beat();
        this.onDeadline(frame.token_expires_at, ws);
      } else if (frame.type === 'reauthenticated') {
        if (this.offeredToken !== null) this.heldToken = this.offeredToken;
        this.offeredToken = null;
        this.onDeadline(frame.token_expires_at, ws);
        return;
      } else if (frame.type === 'error' && frame.frame === 'authenticate' && this.status === 'ready') {
        // A renewal with a token of another session (signed in again elsewhere): the server
        // changed nothing, and the connection ends at its deadline and reconnects then.
        this.offeredToken = null;
        return;
      }
      this.opts.onFrame(frame);
    };
    ws.onerror = () => {
      // onclose follows.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const held = this.heldToken;
      this.endConnection();
      if (this.status === 'stopped') return;
      // 4001: the token was refused or the session revoked. The next attempt asks for a newer
      // token, which refreshes it or, when the session is gone, ends it (and stops us).
      if (ev.code === 4001 && held !== null) this.refusedToken = held;
      if (ev.code === 4029) this.attempts = Math.max(this.attempts, 5);
      this.retry();
    };
  }

  private retry(): void {
    this.setStatus('offline');
    const delay = backoff(this.attempts++, this.opts.random);
    this.reconnectTimer = this.opts.setTimer(() => {
      this.reconnectTimer = null;
      if (this.status === 'offline') this.connect();
    }, delay);
  }

  /** Pings each heartbeat; a connection silent for two heartbeats is taken for dead. */
  private beat(): void {
    this.heartbeatTimer = this.opts.setTimer(() => {
      this.heartbeatTimer = null;
      const ws = this.ws;
      if (!ws || this.status !== 'ready') return;
      if (Date.now() - this.lastHeard > 2 * this.heartbeatMs + 5_000) {
        ws.onclose = null;
        ws.close(4000);
        this.ws = null;
        this.endConnection();
        this.retry();
        return;
      }
      this.send({ type: 'ping' });
      this.beat();
    }, this.heartbeatMs);
  }

  /**
   * Takes the connection's new deadline and plans the renewal before it. A deadline that did
   * not move past the previous one means the last renewal gained nothing: no renewal is planned
   * then (the server's close at the deadline leads to a reconnect), so a renewal never repeats
   * in a loop.
   */
  private onDeadline(at: string | undefined, ws: WsLike): void {
    if (this.renewTimer !== null) this.opts.clearTimer(this.renewTimer);
    this.renewTimer = null;
    const deadline = at === undefined ? NaN : Date.parse(at);
    if (!Number.isFinite(deadline)) return;
    const previous = this.deadline;
    this.deadline = deadline;
    if (previous !== null && deadline <= previous) return;
    this.planRenewal(ws);
  }

  private planRenewal(ws: WsLike): void {
    if (this.deadline === null) return;
    const delay = renewDelay(this.deadline - this.opts.now());
    if (delay === null) return;
    const wait = Math.max(delay, this.lastRenewal + MIN_RENEW_GAP_MS - Date.now());
    this.renewTimer = this.opts.setTimer(() => {
      this.renewTimer = null;
      void this.renew(ws);
    }, wait);
  }

  /** Sends `authenticate` with a newer token of the session on the open connection. */
  private async renew(ws: WsLike): Promise<void> {
    const current = this.heldToken;
    const live = () => this.ws === ws && this.status === 'ready' && ws.readyState === OPEN;
    if (!live()) return;
    this.lastRenewal = Date.now();
    let token: string;
    try {
      token = await (this.opts.renewToken ? this.opts.renewToken(current) : this.opts.token());
    } catch {
      // No token now (network, or the session ended, which the API client reports): try again
      // while the deadline is ahead.
      if (live()) this.planRenewal(ws);
      return;
    }
    if (!live()) return;
    if (token === current) {
      // Nothing newer yet: ask again later, before the deadline.
      this.planRenewal(ws);
      return;
    }
    this.offeredToken = token;
    ws.send(JSON.stringify({ type: 'authenticate', token }));
  }
}
