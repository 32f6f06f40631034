// One WebSocket to /api/v1/ws that stays up by itself: it authenticates with a fresh access
// token, pings at the server's heartbeat, notices a dead connection, and reconnects with
// growing, jittered delays (at once when the browser comes back online). Whoever owns it
// resubscribes with its cursors on every `ready`; frames are only sent while ready.

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
  private readonly opts: Required<Omit<SocketOptions, 'onStatus' | 'onUnauthorized'>> &
    Pick<SocketOptions, 'onStatus' | 'onUnauthorized'>;

  constructor(opts: SocketOptions) {
    this.opts = {
      createSocket: (url) => new WebSocket(url) as WsLike,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
      random: Math.random,
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
    if (this.heartbeatTimer !== null) this.opts.clearTimer(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.retry();
  };

  private clearTimers(): void {
    if (this.reconnectTimer !== null) this.opts.clearTimer(this.reconnectTimer);
    if (this.heartbeatTimer !== null) this.opts.clearTimer(this.heartbeatTimer);
    this.reconnectTimer = this.heartbeatTimer = null;
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
      this.opts
        .token()
        .then((token) => {
          if (this.ws === ws && ws.readyState === OPEN) ws.send(JSON.stringify({ type: 'authenticate', token }));
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
        this.heartbeatMs = Math.max(5, Math.min(frame.heartbeat_secs, 60)) * 1000;
        this.setStatus('ready');
        this.beat();
      }
      this.opts.onFrame(frame);
    };
    ws.onerror = () => {
      // onclose follows.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.heartbeatTimer !== null) this.opts.clearTimer(this.heartbeatTimer);
      this.heartbeatTimer = null;
      if (this.status === 'stopped') return;
      // 4001: the token was refused or the session revoked. The next attempt fetches a token
      // again, which refreshes it or, when the session is gone, ends it (and stops us).
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
        this.retry();
        return;
      }
      this.send({ type: 'ping' });
      this.beat();
    }, this.heartbeatMs);
  }
}
