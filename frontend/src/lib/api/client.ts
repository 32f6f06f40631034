// The typed client of the REST API. It owns the tokens: the access token stays in this object's
// memory only; the rotating refresh token and the device credentials are kept in the
// key-value store (IndexedDB in the browser) so that a reload or a new tab resumes the session.
//
// Refreshing: before an authenticated request whose access token is missing or about to expire,
// and once more after a 401 `unauthorized`, the client exchanges the stored refresh token for a
// new pair. A timer also refreshes shortly before expiry. Refreshes are single-flight within the
// tab and serialised across tabs with a Web Lock; the refresh token is always read back from the
// store inside the lock, so two tabs never present the same refresh token (which the server would
// treat as theft and answer by revoking the session). When the server answers
// `invalid_refresh_token`, the stored session is erased and `onSessionEnded('expired')` runs.

import type { KeyValueStore } from '../storage/kv';
import { plainUploadQuery } from '../validate';
import type {
  AccountDevices,
  AppendedChunkJson,
  AuditEvent,
  BackupChunkPageJson,
  KeyBackupJson,
  FileUsage,
  LinkPreview,
  GifPage,
  PlainStoredFile,
  Image,
  ImageKind,
  LinkAnswerJson,
  PendingLinkJson,
  PendingLinksJson,
  SecretStorageJson,
  BackupCodes,
  Channel,
  ChannelPage,
  Community,
  CommunityInvite,
  CommunityRole,
  CreateEmojiRequest,
  CustomEmoji,
  Ban,
  DirectoryEntry,
  Group,
  GroupKind,
  UpdateCommunityRequest,
  Member,
  Profile,
  UpdateProfileRequest,
  CreateChannelRequest,
  CreateCommunityRequest,
  DeviceKeysJson,
  EnvelopeJson,
  MessagePage,
  NewEnvelopeJson,
  ErrorBody,
  ErrorCode,
  InstanceInfo,
  LoginRequest,
  LoginResponse,
  Me,
  RecoveryCode,
  RegisterRequest,
  RevokedSessions,
  SessionInfo,
  TokenPair,
  TotpSetup,
} from './types';

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds, from `Retry-After` on 429. */
  readonly retryAfter: number | null;

  constructor(code: ErrorCode, message: string, status = 0, retryAfter: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** The session kept between visits (store `auth`, key `session`). */
export interface StoredSession {
  user_id: string;
  username: string;
  /** The device of this session (absent in sessions stored by older versions). */
  device_id?: string;
  session_id: string;
  refresh_token: string;
}

/** A device of one account on this browser (store `devices`, key: the username). */
export interface StoredDevice {
  device_id: string;
  device_secret: string;
}

export type SessionEndReason = 'logout' | 'expired';
export type LockFn = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

export interface ApiOptions {
  store: KeyValueStore;
  fetch?: typeof fetch;
  /** Prefix of every path, `/api/v1` by default. */
  base?: string;
  now?: () => number;
  lock?: LockFn;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (id: unknown) => void;
  onSessionEnded?: (reason: SessionEndReason) => void;
  /** Name sent as `device_name` when a new device is created. */
  deviceName?: string;
}

const LOCK_NAME = 'chatalot-refresh';
/** Refresh when less than this is left of the access token (or a fifth of its life, if shorter). */
const REFRESH_MARGIN_MS = 60_000;

/** The page size asked of `GET /channels` (its most). */
export const CHANNEL_PAGE_LIMIT = 500;
/** At most this many pages of `GET /channels` are read: 20,000 channels. */
export const CHANNEL_PAGES_MAX = 40;

/** The largest image `POST /images` takes: 10 MiB (a larger one is refused with 413). */
export const IMAGE_MAX_BYTES = 10 * 1024 * 1024;
/** The image types the server reads (it goes by the bytes; the type sent is a hint). */
export const IMAGE_TYPES: readonly string[] = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

/** The `Content-Type` of an image upload: the blob's own type when the server reads it, else `application/octet-stream`. */
export function imageContentType(blob: Blob): string {
  const type = blob.type.toLowerCase();
  return IMAGE_TYPES.includes(type) ? type : 'application/octet-stream';
}

/** The whole channel list, or as much of it as the page bound allows (`complete: false`). */
export interface ChannelList {
  channels: Channel[];
  complete: boolean;
}

/**
 * Reads the paged channel list from the first page, following `next_before` until the last
 * page or `maxPages` pages. A channel seen on two pages (it became active meanwhile) is listed
 * once, where it was first seen, with its latest state. Past the bound the rest is not read
 * (`complete: false`): those are the least recently active channels.
 */
export async function loadAllChannels(
  page: (before: string | undefined) => Promise<ChannelPage>,
  maxPages = CHANNEL_PAGES_MAX,
): Promise<ChannelList> {
  const byId = new Map<string, Channel>();
  let before: string | undefined;
  for (let n = 0; n < maxPages; n++) {
    const p = await page(before);
    for (const c of p.channels) byId.set(c.id, c);
    const next = p.next_before ?? null;
    // A cursor that does not move would loop: the list ends there.
    if (next === null || next === before) return { channels: [...byId.values()], complete: true };
    before = next;
  }
  return { channels: [...byId.values()], complete: false };
}

/** A lock across tabs when the browser has Web Locks, else a mutex within this page. */
export function defaultLock(): LockFn {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (locks) return (name, fn) => locks.request(name, fn);
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(_name: string, fn: () => Promise<T>) => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

export function normaliseUsername(raw: string): string {
  return raw.trim().toLowerCase();
}

interface Access {
  token: string;
  /** Local clock, milliseconds. */
  expiresAt: number;
  /** Local clock, milliseconds: when to refresh ahead of expiry. */
  refreshAt: number;
}

export class ApiClient {
  private readonly store: KeyValueStore;
  private readonly fetchFn: typeof fetch;
  private readonly base: string;
  private readonly now: () => number;
  private readonly lock: LockFn;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (id: unknown) => void;
  private readonly deviceName: string | undefined;
  onSessionEnded: (reason: SessionEndReason) => void;

  private access: Access | null = null;
  private refreshing: Promise<void> | null = null;
  private timer: unknown = null;
  /** The server's clock minus ours (ms), from the `Date` header of the last token answer. */
  private clockOffset = 0;

  constructor(opts: ApiOptions) {
    this.store = opts.store;
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.base = opts.base ?? '/api/v1';
    this.now = opts.now ?? (() => Date.now());
    this.lock = opts.lock ?? defaultLock();
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((id) => clearTimeout(id as ReturnType<typeof setTimeout>));
    this.onSessionEnded = opts.onSessionEnded ?? (() => {});
    this.deviceName = opts.deviceName;
  }

  // ---- transport

  private async send(method: string, path: string, body: unknown, token: string | null): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      return await this.fetchFn(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch {
      throw new ApiError('network', 'The server cannot be reached. Check your connection and try again.');
    }
  }

  private static async fail(res: Response): Promise<ApiError> {
    const ra = res.headers.get('retry-after');
    const retryAfter = ra !== null && /^\d+$/.test(ra) ? Number(ra) : null;
    let body: Partial<ErrorBody> | null = null;
    try {
      body = (await res.json()) as Partial<ErrorBody>;
    } catch {
      body = null;
    }
    if (body && typeof body.code === 'string' && typeof body.message === 'string') {
      return new ApiError(body.code, body.message, res.status, retryAfter);
    }
    return new ApiError('bad_response', `The server answered with HTTP ${res.status}.`, res.status, retryAfter);
  }

  private static async parse<T>(res: Response): Promise<T> {
    if (!res.ok) throw await ApiClient.fail(res);
    if (res.status === 204) return undefined as T;
    try {
      return (await res.json()) as T;
    } catch {
      throw new ApiError('bad_response', 'The server sent an answer that could not be read.', res.status);
    }
  }

  private async publicCall<T>(method: string, path: string, body?: unknown): Promise<T> {
    return ApiClient.parse<T>(await this.send(method, path, body, null));
  }

  private async authed<T>(method: string, path: string, body?: unknown): Promise<T> {
    const token = await this.accessToken();
    let res = await this.send(method, path, body, token);
    if (res.status === 401) {
      // The token may have been refused for expiry (clock skew) or revocation: refresh once.
      await this.refresh(token);
      res = await this.send(method, path, body, this.access?.token ?? null);
      if (res.status === 401) {
        const err = await ApiClient.fail(res);
        await this.endSession('expired');
        throw err;
      }
    }
    return ApiClient.parse<T>(res);
  }

  // ---- tokens

  /** True while this client holds an access token. */
  get signedIn(): boolean {
    return this.access !== null;
  }

  /** The session kept in the store, if any. */
  storedSession(): Promise<StoredSession | undefined> {
    return this.store.get<StoredSession>('auth', 'session');
  }

  private async accessToken(): Promise<string> {
    if (!this.access || this.now() >= this.access.refreshAt) await this.refresh(this.access?.token ?? null);
    if (!this.access) throw new ApiError('unauthorized', 'You are signed out.', 401);
    return this.access.token;
  }

  private setAccess(pair: TokenPair, res: Response): void {
    const now = this.now();
    // Measure the lifetime against the server's clock when it says what time it is.
    const expires = Date.parse(pair.access_token_expires_at);
    const serverNow = Date.parse(res.headers.get('date') ?? '');
    if (Number.isFinite(serverNow)) this.clockOffset = serverNow - now;
    const lifetime = Number.isFinite(serverNow) ? expires - serverNow : expires - now;
    const ttl = Math.max(0, Number.isFinite(lifetime) ? lifetime : 0);
    const margin = Math.min(REFRESH_MARGIN_MS, ttl / 5);
    this.access = { token: pair.access_token, expiresAt: now + ttl, refreshAt: now + ttl - margin };
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    if (!this.access) return;
    const delay = Math.max(1000, this.access.refreshAt - this.now());
    this.timer = this.setTimer(() => {
      this.timer = null;
      this.refresh(this.access?.token ?? null).catch(() => {
        // A failed background refresh is retried by the next request.
      });
    }, delay);
  }

  /**
   * Exchanges the stored refresh token for a new pair. `seen` is the access token the caller
   * found wanting; if another call already replaced it, nothing is done.
   */
  refresh(seen: string | null = null): Promise<void> {
    if (this.access && seen !== null && this.access.token !== seen && this.now() < this.access.refreshAt) {
      return Promise.resolve();
    }
    this.refreshing ??= this.lock(LOCK_NAME, () => this.doRefresh()).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const stored = await this.storedSession();
    if (!stored) {
      await this.endSession('expired');
      throw new ApiError('unauthorized', 'You are signed out.', 401);
    }
    const res = await this.send('POST', '/sessions/refresh', { refresh_token: stored.refresh_token }, null);
    if (!res.ok) {
      const err = await ApiClient.fail(res);
      if (err.code === 'invalid_refresh_token') await this.endSession('expired');
      throw err;
    }
    const pair = await ApiClient.parse<TokenPair>(res);
    await this.store.put<StoredSession>('auth', 'session', {
      ...stored,
      session_id: pair.session_id,
      refresh_token: pair.refresh_token,
    });
    this.setAccess(pair, res);
  }

  /** Forgets the session locally (the device credentials stay) and tells the app. */
  private async endSession(reason: SessionEndReason): Promise<void> {
    const hadSession = this.access !== null || (await this.storedSession()) !== undefined;
    await this.forget();
    if (hadSession) this.onSessionEnded(reason);
  }

  /** Drops the tokens from memory and the store, without calling the server. */
  async forget(): Promise<void> {
    this.access = null;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    await this.store.delete('auth', 'session');
  }

  private async begin(res: Response): Promise<LoginResponse> {
    const body = await ApiClient.parse<LoginResponse>(res);
    const username = body.user.username;
    if (body.device_secret) {
      await this.store.put<StoredDevice>('devices', username, {
        device_id: body.device_id,
        device_secret: body.device_secret,
      });
    }
    await this.store.put<StoredSession>('auth', 'session', {
      user_id: body.user.id,
      username,
      device_id: body.device_id,
      session_id: body.session_id,
      refresh_token: body.refresh_token,
    });
    this.setAccess(body, res);
    return body;
  }

  // ---- public routes

  health(): Promise<{ status: string }> {
    return this.publicCall('GET', '/health');
  }

  instance(): Promise<InstanceInfo> {
    return this.publicCall('GET', '/instance');
  }

  /** Registers and signs in; the answer carries the recovery code, to be shown once. */
  async register(req: RegisterRequest): Promise<LoginResponse> {
    const body: RegisterRequest = { ...req };
    if (this.deviceName && !body.device_name) body.device_name = this.deviceName;
    return this.begin(await this.send('POST', '/accounts', body, null));
  }

  /** Signs in, on this browser's device of the account when there is one. */
  async login(req: LoginRequest): Promise<LoginResponse> {
    const body: LoginRequest = { ...req };
    const device = await this.store.get<StoredDevice>('devices', normaliseUsername(req.username));
    if (device) {
      body.device_id = device.device_id;
      body.device_secret = device.device_secret;
    }
    if (this.deviceName && !body.device_name) body.device_name = this.deviceName;
    return this.begin(await this.send('POST', '/sessions', body, null));
  }

  recover(username: string, recoveryCode: string, newPassword: string): Promise<RecoveryCode> {
    return this.publicCall('POST', '/recoveries', {
      username,
      recovery_code: recoveryCode,
      new_password: newPassword,
    });
  }

  // ---- authenticated routes

  me(): Promise<Me> {
    return this.authed('GET', '/users/me');
  }

  changePassword(currentPassword: string, newPassword: string): Promise<void> {
    return this.authed('PUT', '/users/me/password', {
      current_password: currentPassword,
      new_password: newPassword,
    });
  }

  /** Starts two-factor setup; the server asks for the password again (`wrong_password`, 403). */
  startTotp(password: string): Promise<TotpSetup> {
    return this.authed('POST', '/users/me/totp', { password });
  }

  confirmTotp(code: string): Promise<BackupCodes> {
    return this.authed('POST', '/users/me/totp/confirm', { code });
  }

  disableTotp(password: string, code: string): Promise<void> {
    return this.authed('DELETE', '/users/me/totp', { password, code });
  }

  regenerateBackupCodes(password: string, code: string): Promise<BackupCodes> {
    return this.authed('POST', '/users/me/totp/backup_codes', { password, code });
  }

  regenerateRecoveryCode(password: string): Promise<RecoveryCode> {
    return this.authed('POST', '/users/me/recovery_code', { password });
  }

  sessions(): Promise<SessionInfo[]> {
    return this.authed('GET', '/sessions');
  }

  revokeSession(id: string): Promise<void> {
    return this.authed('DELETE', `/sessions/${encodeURIComponent(id)}`);
  }

  auditEvents(limit = 50): Promise<AuditEvent[]> {
    return this.authed('GET', `/users/me/audit_events?limit=${limit}`);
  }

  /** A valid access token, refreshed first when needed: what the WebSocket authenticates with. */
  token(): Promise<string> {
    return this.accessToken();
  }

  /**
   * An access token newer than `than` (the one an open WebSocket holds), to renew that
   * connection before its token expires: the held token when it is already another one and not
   * due for refresh, else a refreshed one. The refresh is the same single-flight, cross-tab
   * serialised one as every other.
   */
  async freshToken(than: string | null): Promise<string> {
    const held = this.access;
    if (held && held.token !== than && this.now() < held.refreshAt) return held.token;
    await this.refresh(held?.token ?? null);
    if (!this.access) throw new ApiError('unauthorized', 'You are signed out.', 401);
    return this.access.token;
  }

  /** Now on the server's clock, as far as the `Date` of the last token answer tells (ms). */
  serverNow(): number {
    return this.now() + this.clockOffset;
  }

  // ---- communities, channels, messages

  communities(): Promise<Community[]> {
    return this.authed('GET', '/communities');
  }

  createCommunity(req: CreateCommunityRequest): Promise<Community> {
    return this.authed('POST', '/communities', req);
  }

  /** Joins a public community (answers the community when already a member). */
  joinCommunity(id: string): Promise<Community> {
    return this.authed('POST', `/communities/${encodeURIComponent(id)}/members`);
  }

  createChannel(communityId: string, req: CreateChannelRequest): Promise<Channel> {
    return this.authed('POST', `/communities/${encodeURIComponent(communityId)}/channels`, req);
  }

  /** One page of the channels the caller can read, most recently active first, with unread counts. */
  channelsPage(q: { limit?: number; before?: string } = {}): Promise<ChannelPage> {
    const params = new URLSearchParams();
    if (q.limit !== undefined) params.set('limit', String(q.limit));
    if (q.before !== undefined) params.set('before', q.before);
    const qs = params.toString();
    return this.authed('GET', `/channels${qs ? `?${qs}` : ''}`);
  }

  /** Every channel the caller can read (community channels and DMs): all pages, up to the bound. */
  channels(): Promise<ChannelList> {
    return loadAllChannels((before) => this.channelsPage({ limit: CHANNEL_PAGE_LIMIT, before }));
  }

  /** A page of history: the newest without cursors, older with `before_seq`, newer with `after_seq`. */
  messages(channelId: string, q: { before_seq?: number; after_seq?: number; limit?: number } = {}): Promise<MessagePage> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.authed('GET', `/channels/${encodeURIComponent(channelId)}/messages${qs ? `?${qs}` : ''}`);
  }

  /** The profile of an account found by its exact username. */
  userByName(username: string): Promise<Profile> {
    return this.authed('GET', `/users?username=${encodeURIComponent(username)}`);
  }

  profile(userId: string): Promise<Profile> {
    return this.authed('GET', `/users/${encodeURIComponent(userId)}/profile`);
  }

  /** Changes the caller's profile; omitted fields stay, and `null` clears an image reference. */
  updateProfile(req: UpdateProfileRequest): Promise<Profile> {
    return this.authed('PATCH', '/users/me/profile', req);
  }

  members(communityId: string): Promise<Member[]> {
    return this.authed('GET', `/communities/${encodeURIComponent(communityId)}/members`);
  }

  /** A new invite code of a community (moderators and above); `{}` is unlimited and never expires. */
  createCommunityInvite(communityId: string, req: { max_uses?: number; expires_in_secs?: number } = {}): Promise<CommunityInvite> {
    return this.authed('POST', `/communities/${encodeURIComponent(communityId)}/invites`, req);
  }

  /** Joins the community an invite code belongs to (public or private). */
  joinByCode(code: string): Promise<Community> {
    return this.authed('POST', '/community_joins', { code });
  }

  /** Public communities listed in the directory, optionally matching `q` in their names. */
  directory(q = ''): Promise<DirectoryEntry[]> {
    const qs = q.trim() ? `?q=${encodeURIComponent(q.trim())}` : '';
    return this.authed('GET', `/directory${qs}`);
  }

  updateCommunity(id: string, req: UpdateCommunityRequest): Promise<Community> {
    return this.authed('PATCH', `/communities/${encodeURIComponent(id)}`, req);
  }

  deleteCommunity(id: string): Promise<void> {
    return this.authed('DELETE', `/communities/${encodeURIComponent(id)}`);
  }

  /** Leaves (own id) or kicks (another member's id). */
  removeMember(communityId: string, userId: string): Promise<void> {
    return this.authed('DELETE', `/communities/${encodeURIComponent(communityId)}/members/${encodeURIComponent(userId)}`);
  }

  setMemberRole(communityId: string, userId: string, role: CommunityRole): Promise<Member> {
    return this.authed('PUT', `/communities/${encodeURIComponent(communityId)}/members/${encodeURIComponent(userId)}/role`, { role });
  }

  bans(communityId: string): Promise<Ban[]> {
    return this.authed('GET', `/communities/${encodeURIComponent(communityId)}/bans`);
  }

  ban(communityId: string, userId: string, reason: string): Promise<void> {
    return this.authed('PUT', `/communities/${encodeURIComponent(communityId)}/bans/${encodeURIComponent(userId)}`, reason ? { reason } : {});
  }

  unban(communityId: string, userId: string): Promise<void> {
    return this.authed('DELETE', `/communities/${encodeURIComponent(communityId)}/bans/${encodeURIComponent(userId)}`);
  }

  communityInvites(communityId: string): Promise<CommunityInvite[]> {
    return this.authed('GET', `/communities/${encodeURIComponent(communityId)}/invites`);
  }

  revokeInvite(communityId: string, inviteId: string): Promise<void> {
    return this.authed('DELETE', `/communities/${encodeURIComponent(communityId)}/invites/${encodeURIComponent(inviteId)}`);
  }

  // ---- custom emoji (docs/api.md, "Custom emoji")

  /** A community's custom emoji, by name (at most 100). */
  listEmoji(communityId: string): Promise<CustomEmoji[]> {
    return this.authed('GET', `/communities/${encodeURIComponent(communityId)}/emoji`);
  }

  /** Adds a custom emoji (admins): its name and the `ref` of an image uploaded with `kind=emoji`. */
  createEmoji(communityId: string, req: CreateEmojiRequest): Promise<CustomEmoji> {
    return this.authed('POST', `/communities/${encodeURIComponent(communityId)}/emoji`, req);
  }

  /** Removes a custom emoji (admins); messages that used it keep their text. */
  deleteEmoji(communityId: string, emojiId: string): Promise<void> {
    return this.authed('DELETE', `/communities/${encodeURIComponent(communityId)}/emoji/${encodeURIComponent(emojiId)}`);
  }

  groups(communityId: string): Promise<Group[]> {
    return this.authed('GET', `/communities/${encodeURIComponent(communityId)}/groups`);
  }

  createGroup(communityId: string, req: { name: string; kind?: GroupKind }): Promise<Group> {
    return this.authed('POST', `/communities/${encodeURIComponent(communityId)}/groups`, req);
  }

  renameGroup(groupId: string, name: string): Promise<Group> {
    return this.authed('PATCH', `/groups/${encodeURIComponent(groupId)}`, { name });
  }

  deleteGroup(groupId: string): Promise<void> {
    return this.authed('DELETE', `/groups/${encodeURIComponent(groupId)}`);
  }

  /**
   * Puts a channel in a group (`null`: out of any group), or changes its moderator settings (and,
   * for admins, its name and whether new members read its encrypted history).
   */
  updateChannel(
    channelId: string,
    req: {
      group_id?: string | null;
      name?: string;
      topic?: string;
      slow_mode_secs?: number;
      archived?: boolean;
      history_for_new_members?: boolean;
    },
  ): Promise<Channel> {
    return this.authed('PATCH', `/channels/${encodeURIComponent(channelId)}`, req);
  }

  /** Opens (or finds) the DM with one user, or the group DM with several. */
  openDm(userIds: string[]): Promise<Channel> {
    return this.authed('POST', '/dms', { user_ids: userIds });
  }

  /** Leaves a DM or group DM (opening the same people again with `openDm` brings it back). */
  leaveDm(channelId: string): Promise<void> {
    return this.authed('DELETE', `/dms/${encodeURIComponent(channelId)}`);
  }

  /** The device of the stored session, or null when signed out. */
  async deviceId(): Promise<string | null> {
    const s = await this.storedSession();
    if (!s) return null;
    if (s.device_id) return s.device_id;
    const d = await this.store.get<StoredDevice>('devices', s.username);
    return d?.device_id ?? null;
  }

  // ---- end-to-end keys and envelopes (docs/api.md, "End-to-end keys and envelopes")

  publishKeys(deviceId: string, body: { certificate: string; signed_prekey: string; one_time_prekeys: string[] }): Promise<unknown> {
    return this.authed('PUT', `/devices/${encodeURIComponent(deviceId)}/keys`, body);
  }

  uploadPrekeys(deviceId: string, keys: string[]): Promise<unknown> {
    return this.authed('POST', `/devices/${encodeURIComponent(deviceId)}/one_time_prekeys`, { one_time_prekeys: keys });
  }

  rotateSignedPreKey(deviceId: string, signedPreKey: string): Promise<unknown> {
    return this.authed('PUT', `/devices/${encodeURIComponent(deviceId)}/signed_prekey`, { signed_prekey: signedPreKey });
  }

  keyStatus(deviceId: string): Promise<{ one_time_prekeys: number }> {
    return this.authed('GET', `/devices/${encodeURIComponent(deviceId)}/keys`);
  }

  userDevices(userId: string): Promise<{ user_key: string | null; devices: DeviceKeysJson[] }> {
    return this.authed('GET', `/users/${encodeURIComponent(userId)}/devices`);
  }

  channelDevices(channelId: string): Promise<{ devices: DeviceKeysJson[] }> {
    return this.authed('GET', `/channels/${encodeURIComponent(channelId)}/devices`);
  }

  claimBundles(userId: string, deviceIds: string[]): Promise<{ bundles: { user_id: string; device_id: string; bundle: string }[] }> {
    return this.authed('POST', `/users/${encodeURIComponent(userId)}/key_bundles`, { device_ids: deviceIds });
  }

  sendEnvelopes(envelopes: NewEnvelopeJson[]): Promise<{ ids: string[] }> {
    return this.authed('POST', '/envelopes', { envelopes });
  }

  envelopes(deviceId: string): Promise<{ envelopes: EnvelopeJson[]; has_more: boolean }> {
    return this.authed('GET', `/devices/${encodeURIComponent(deviceId)}/envelopes`);
  }

  ackEnvelopes(deviceId: string, ids: string[]): Promise<unknown> {
    return this.authed('POST', `/devices/${encodeURIComponent(deviceId)}/envelope_acks`, { ids });
  }

  // ---- every device of an account (docs/api.md, "Every device of an account")

  /** The account's devices, most recently seen first. */
  accountDevices(): Promise<AccountDevices> {
    return this.authed('GET', '/devices');
  }

  renameDevice(deviceId: string, name: string): Promise<void> {
    return this.authed('PATCH', `/devices/${encodeURIComponent(deviceId)}`, { name });
  }

  /** Removes a device of the account (its sessions, keys and queued envelopes go). */
  removeDevice(deviceId: string): Promise<void> {
    return this.authed('DELETE', `/devices/${encodeURIComponent(deviceId)}`);
  }

  putLinkRequest(deviceId: string, request: string): Promise<PendingLinkJson> {
    return this.authed('PUT', `/devices/${encodeURIComponent(deviceId)}/link_request`, { request });
  }

  deleteLinkRequest(deviceId: string): Promise<void> {
    return this.authed('DELETE', `/devices/${encodeURIComponent(deviceId)}/link_request`);
  }

  /** The answer to this device's link request (404 `not_found` until there is one). */
  linkResponse(deviceId: string): Promise<LinkAnswerJson> {
    return this.authed('GET', `/devices/${encodeURIComponent(deviceId)}/link_response`);
  }

  linkRequests(): Promise<PendingLinksJson> {
    return this.authed('GET', '/users/me/link_requests');
  }

  answerLinkRequest(deviceId: string, response: string): Promise<void> {
    return this.authed('PUT', `/users/me/link_requests/${encodeURIComponent(deviceId)}/response`, { response });
  }

  /** The account's secret storage (404 `not_found` when it has none). */
  secretStorage(): Promise<SecretStorageJson> {
    return this.authed('GET', '/users/me/secret_storage');
  }

  putSecretStorage(storage: string): Promise<SecretStorageJson> {
    return this.authed('PUT', '/users/me/secret_storage', { storage });
  }

  keyBackup(): Promise<KeyBackupJson> {
    return this.authed('GET', '/users/me/key_backup');
  }

  appendBackupChunk(chunk: string): Promise<AppendedChunkJson> {
    return this.authed('POST', '/users/me/key_backup/chunks', { chunk });
  }

  backupChunks(after: number, limit = 100): Promise<BackupChunkPageJson> {
    return this.authed('GET', `/users/me/key_backup/chunks?after=${after}&limit=${limit}`);
  }

  putBackupHead(head: string): Promise<KeyBackupJson> {
    return this.authed('PUT', '/users/me/key_backup/head', { head });
  }

  /** Starts the account's keys over (docs/e2e.md 18.6): the password, and a code with two-factor on. */
  resetUserKey(password: string, code?: string): Promise<void> {
    return this.authed('POST', '/users/me/user_key_reset', code ? { password, code } : { password });
  }

  // ---- files (docs/api.md, "Files")

  /**
   * `POST /channels/{id}/files`: stores `blob` (in an end-to-end channel the encrypted blob) as
   * a file of the channel, reporting the bytes sent; `signal` cancels (an `AbortError`). In a
   * plaintext channel `plain` names the file and its type (`?name=&type=`; a name the server
   * would refuse throws before anything is sent), and the answer describes it.
   */
  async uploadFile(
    channelId: string,
    blob: Blob,
    onProgress?: (sent: number, total: number) => void,
    signal?: AbortSignal,
    plain?: { name: string; type?: string | null },
  ): Promise<PlainStoredFile> {
    const query = plain ? plainUploadQuery(plain.name, plain.type) : '';
    return this.upload(`/channels/${encodeURIComponent(channelId)}/files${query}`, blob, 'application/octet-stream', onProgress, signal);
  }

  /**
   * Sends `blob` as the raw body of an authenticated POST (with XMLHttpRequest, which reports the
   * bytes sent), refreshing once after a 401; `signal` cancels (an `AbortError`).
   */
  private async upload<T>(
    path: string,
    blob: Blob,
    contentType: string,
    onProgress?: (sent: number, total: number) => void,
    signal?: AbortSignal,
  ): Promise<T> {
    const once = (token: string) =>
      new Promise<{ status: number; text: string; retryAfter: string | null }>((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open('POST', this.base + path);
        xhr.setRequestHeader('authorization', `Bearer ${token}`);
        xhr.setRequestHeader('content-type', contentType);
        xhr.setRequestHeader('accept', 'application/json');
        xhr.upload.onprogress = (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : blob.size);
        xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText, retryAfter: xhr.getResponseHeader('retry-after') });
        xhr.onerror = () => reject(new ApiError('network', 'The server cannot be reached. Check your connection and try again.'));
        xhr.onabort = () => reject(new DOMException('The upload was cancelled.', 'AbortError'));
        if (signal?.aborted) return xhr.onabort(new ProgressEvent('abort'));
        signal?.addEventListener('abort', () => xhr.abort(), { once: true });
        xhr.send(blob);
      });
    const token = await this.accessToken();
    let r = await once(token);
    if (r.status === 401) {
      await this.refresh(token);
      r = await once(this.access?.token ?? '');
    }
    return ApiClient.parse<T>(new Response(r.text || null, { status: r.status, headers: r.retryAfter ? { 'retry-after': r.retryAfter } : {} }));
  }

  // ---- images (docs/api.md, "Images")

  /**
   * `POST /images?kind=`: the server decodes the image, crops or shrinks it for its kind (avatars
   * and icons a square, banners within 1920×640) and stores it again; the answer names it by
   * `ref`, which a profile or a community then refers to.
   */
  uploadImage(kind: ImageKind, blob: Blob, onProgress?: (sent: number, total: number) => void, signal?: AbortSignal): Promise<Image> {
    return this.upload(`/images?kind=${encodeURIComponent(kind)}`, blob, imageContentType(blob), onProgress, signal);
  }

  /** Where an image is served (`GET /images/{ref}`, public, so an `<img src>` needs no token). */
  imageUrl(ref: string): string {
    return `${this.base}/images/${encodeURIComponent(ref)}`;
  }

  /**
   * `GET /files/{id}`: the answer, its body to be read as a stream (an error answer throws).
   * From byte `from` on (`Range: bytes=from-`, answered 206) when it is more than 0.
   */
  fileResponse(fileId: string, signal?: AbortSignal, from = 0): Promise<Response> {
    if (!Number.isSafeInteger(from) || from < 0) throw new RangeError('from: a byte offset');
    return this.fileGet(`/files/${encodeURIComponent(fileId)}`, signal, from > 0 ? { range: `bytes=${from}-` } : {});
  }

  /** `GET /files/{id}/thumbnail`: the thumbnail the server made of a plaintext image (404 when none). */
  thumbnailResponse(fileId: string, signal?: AbortSignal): Promise<Response> {
    return this.fileGet(`/files/${encodeURIComponent(fileId)}/thumbnail`, signal);
  }

  /** An authenticated GET of stored bytes (not JSON), refreshing once after a 401. */
  private async fileGet(path: string, signal?: AbortSignal, extra: Record<string, string> = {}): Promise<Response> {
    const get = (token: string | null) =>
      this.fetchFn(`${this.base}${path}`, {
        headers: token ? { ...extra, authorization: `Bearer ${token}` } : { ...extra },
        credentials: 'omit',
        cache: 'no-store',
        signal,
      });
    const token = await this.accessToken();
    let res = await get(token);
    if (res.status === 401) {
      await this.refresh(token);
      res = await get(this.access?.token ?? null);
    }
    if (!res.ok) throw await ApiClient.fail(res);
    return res;
  }

  /** `GET /link_preview`: what a public web page says of itself, fetched by the server; null when it has none (204). */
  async linkPreview(url: string): Promise<LinkPreview | null> {
    return (await this.authed<LinkPreview | undefined>('GET', `/link_preview?url=${encodeURIComponent(url)}`)) ?? null;
  }

  // ---- GIF search (docs/api.md, "GIF search")

  /** `GET /gifs?q=&pos=`: a page of GIFs the configured provider found (404 when GIF search is off). */
  searchGifs(q: string, pos?: string | null): Promise<GifPage> {
    const next = pos ? `&pos=${encodeURIComponent(pos)}` : '';
    return this.authed('GET', `/gifs?q=${encodeURIComponent(q)}${next}`);
  }

  /**
   * `GET /gifs/media?url=`: the bytes of a GIF a search found (its `url` or `preview_url`),
   * fetched by the server from the provider; the answer, its body to be read (an error answer throws).
   */
  gifMedia(url: string, signal?: AbortSignal): Promise<Response> {
    return this.fileGet(`/gifs/media?url=${encodeURIComponent(url)}`, signal);
  }

  /** `GET /users/me/files`: how many files the caller stored, their bytes and the bounds. */
  fileUsage(): Promise<FileUsage> {
    return this.authed('GET', '/users/me/files');
  }

  /**
   * Signs out. Signing out erases this browser's end-to-end keys, so its device is of no more
   * use: it is removed from the account (its sessions with it; the channels it read re-key) and
   * forgotten here, and the next sign-in on this browser is a new device that links or restores.
   * A session of an older version (no device named) only ends.
   */
  async logout(): Promise<void> {
    const stored = await this.storedSession().catch(() => null);
    try {
      if (stored?.device_id) await this.authed('DELETE', `/devices/${encodeURIComponent(stored.device_id)}`);
      else if (this.access || stored) await this.authed('DELETE', '/sessions/current');
    } catch {
      // Signed out locally whatever the server said; the session ends at least.
      if (stored?.device_id) await this.authed('DELETE', '/sessions/current').catch(() => {});
    }
    if (stored?.device_id) {
      const kept = await this.store.get<StoredDevice>('devices', normaliseUsername(stored.username)).catch(() => undefined);
      if (kept?.device_id === stored.device_id) await this.forgetDevice(stored.username);
    }
    await this.forget();
    this.onSessionEnded('logout');
  }

  /**
   * Forgets this browser's device of the account (its credentials in the store `devices`): the
   * next sign-in makes a new device ("remove this device").
   */
  async forgetDevice(username: string): Promise<void> {
    await this.store.delete('devices', normaliseUsername(username));
  }

  /** Revokes every session of the account, this one included. */
  async logoutEverywhere(): Promise<RevokedSessions> {
    const res = await this.authed<RevokedSessions>('DELETE', '/sessions');
    await this.forget();
    this.onSessionEnded('logout');
    return res;
  }
}
