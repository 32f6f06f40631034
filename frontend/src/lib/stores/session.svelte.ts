import { ApiError, type ApiClient, type SessionEndReason } from '../api/client';
import type { InstanceInfo, Me } from '../api/types';

export type Status = 'loading' | 'signed_out' | 'signed_in';

const CHANNEL = 'chatalot-session';

/**
 * Who is signed in, shared by every screen. Other tabs of the app are told of sign-ins and
 * sign-outs through a BroadcastChannel and follow.
 */
export class SessionStore {
  status = $state<Status>('loading');
  me = $state<Me | null>(null);
  instance = $state<InstanceInfo | null>(null);
  /** Shown on the sign-in screen after the session ended on its own. */
  notice = $state<string | null>(null);
  /** The setup token of the link this page was opened with (`#setup=…`), for the owner's registration. */
  setupToken = $state<string | null>(null);

  readonly api: ApiClient;
  /**
   * Called when this tab saw the session end (a logout here, or the server no longer knowing the
   * session: revoked, expired), not when it follows another tab: the keys of the browser go.
   */
  onEnded: ((reason: SessionEndReason) => void) | null = null;
  private channel: BroadcastChannel | null;

  constructor(api: ApiClient) {
    this.api = api;
    api.onSessionEnded = (reason) => this.ended(reason, true);
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;
    if (this.channel) {
      this.channel.onmessage = (e: MessageEvent) => {
        if (e.data === 'signed_out' && this.status === 'signed_in') {
          void this.api.forget().then(() => this.ended('logout', false));
        } else if (e.data === 'signed_in' && this.status !== 'signed_in') {
          void this.resume();
        }
      };
    }
  }

  private ended(reason: SessionEndReason, tellOthers: boolean): void {
    const wasIn = this.status === 'signed_in';
    this.status = 'signed_out';
    this.me = null;
    if (reason === 'expired' && wasIn) this.notice = 'Your session has ended. Please sign in again.';
    if (tellOthers) {
      this.channel?.postMessage('signed_out');
      this.onEnded?.(reason);
    }
  }

  async loadInstance(): Promise<void> {
    try {
      this.instance = await this.api.instance();
    } catch {
      this.instance = null;
    }
  }

  /** At start: resumes the stored session, if any. */
  async resume(): Promise<void> {
    const stored = await this.api.storedSession().catch(() => undefined);
    if (!stored) {
      this.status = 'signed_out';
      return;
    }
    try {
      await this.api.refresh();
      this.me = await this.api.me();
      this.status = 'signed_in';
    } catch (e) {
      // A network failure keeps the stored session for the next visit.
      if (!(e instanceof ApiError) || e.code !== 'network') await this.api.forget().catch(() => {});
      this.status = 'signed_out';
      if (e instanceof ApiError && e.code === 'network') this.notice = e.message;
    }
  }

  /** After a sign-in or registration through the API client. */
  signedIn(me: Me): void {
    this.me = me;
    this.notice = null;
    this.status = 'signed_in';
    this.channel?.postMessage('signed_in');
  }

  async refreshMe(): Promise<void> {
    this.me = await this.api.me();
  }

  async logout(): Promise<void> {
    await this.api.logout();
  }

  /** Signs out here without asking the server: after this device was removed (its sessions with it). */
  async signOutHere(): Promise<void> {
    await this.api.forget();
    this.ended('logout', true);
  }
}
