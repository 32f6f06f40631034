// The stores split off the chat store: the people cache (names) and the community
// administration (member lists, groups, changes), and how the chat store hands its frames on.
import { describe, expect, it } from 'vitest';
import { ApiError, type ApiClient } from '../../src/lib/api/client';
import type { Group, Member, Profile } from '../../src/lib/api/types';
import { PeopleStore, shortId } from '../../src/lib/chat/people.svelte';
import { roleRank } from '../../src/lib/chat/admin.svelte';
import { FakeWs, READY, flush } from './fakews';
import { channel, chatStore, message } from './chatharness';
import { E2e } from '../../src/lib/e2e/engine.svelte';
import { Keystore } from '../../src/lib/e2e/keystore';
import { MemoryStore } from '../../src/lib/storage/kv';

const BOB = '0193aaaa-0000-7000-8000-0000000b0b01';
const CAROL = '0193aaaa-0000-7000-8000-0000000ca201';

function profile(id: string, username: string, display_name: string): Profile {
  return { id, username, display_name, pronouns: null, custom_status: null, bio: null } as unknown as Profile;
}

function people(profiles: Record<string, Profile>, asked: string[] = []) {
  const api = {
    profile: async (id: string) => {
      asked.push(id);
      const p = profiles[id];
      if (!p) throw new ApiError('not_found', 'no such user', 404);
      return p;
    },
    userByName: async (name: string) => {
      const p = Object.values(profiles).find((x) => x.username === name);
      if (!p) throw new ApiError('not_found', 'no such user', 404);
      return p;
    },
  } as unknown as Pick<ApiClient, 'profile' | 'userByName'>;
  return new PeopleStore({ api, me: () => ({ id: 'me', display_name: 'Me' }) });
}

function member(user_id: string, username: string, display_name: string, role: Member['role'] = 'member'): Member {
  return { user_id, username, display_name, role, joined_at: '' };
}

function group(id: string, name: string): Group {
  return { id, community_id: 'c1', name, kind: 'public', assigned_to: null, position: 0 };
}

describe('PeopleStore', () => {
  it('names the signed-in user, a deleted one, and an unknown one by a short tag until its profile arrives', async () => {
    const asked: string[] = [];
    const p = people({ [BOB]: profile(BOB, 'bob', 'Bob') }, asked);
    expect(p.nameOf('me')).toBe('Me');
    expect(p.nameOf(null)).toBe('Deleted user');
    expect(p.nameOf(BOB)).toBe(`user·${shortId(BOB)}`);
    expect(shortId(BOB)).toBe('0b0b01');
    // Asked once, after the render that wanted it, however often it is named meanwhile.
    expect(p.nameOf(BOB)).toBe('user·0b0b01');
    expect(asked).toEqual([]);
    await flush();
    await flush();
    expect(asked).toEqual([BOB]);
    expect(p.nameOf(BOB)).toBe('Bob');
  });

  it('keeps the tag of a user whose profile cannot be had, and does not ask again', async () => {
    const asked: string[] = [];
    const p = people({}, asked);
    expect(p.nameOf(CAROL)).toBe('user·0ca201');
    await flush();
    await flush();
    p.nameOf(CAROL);
    await flush();
    await flush();
    expect(asked).toEqual([CAROL]);
    expect(p.nameOf(CAROL)).toBe(`user·${shortId(CAROL)}`);
  });

  it('learns names from member lists, profiles fetched whole and usernames found; a username stands in for an empty display name', async () => {
    const p = people({ [BOB]: profile(BOB, 'bob', 'Bobby'), [CAROL]: profile(CAROL, 'carol', '') });
    p.rememberMembers([member(BOB, 'bob', 'Bob')]);
    expect(p.nameOf(BOB)).toBe('Bob');
    expect((await p.fullProfile(BOB)).display_name).toBe('Bobby');
    expect(p.nameOf(BOB)).toBe('Bobby');
    expect((await p.findUser('carol')).id).toBe(CAROL);
    expect(p.nameOf(CAROL)).toBe('carol');
    await expect(p.findUser('nobody')).rejects.toMatchObject({ code: 'not_found' });
    // Remembering the same name again changes nothing (no new object for the renders).
    const before = p.profiles;
    p.remember({ id: BOB, username: 'bob', display_name: 'Bobby' });
    expect(p.profiles).toBe(before);
  });

  it('knows avatars from member lists, member frames, profiles and the signed-in user', async () => {
    const A1 = 'a1'.repeat(32);
    const A2 = 'a2'.repeat(32);
    const asked: string[] = [];
    const p = new PeopleStore({
      api: {
        profile: async (id: string) => {
          asked.push(id);
          return { ...profile(id, 'carol', 'Carol'), avatar_ref: A2 };
        },
      } as unknown as Pick<ApiClient, 'profile' | 'userByName'>,
      me: () => ({ id: 'me', display_name: 'Me', avatar_ref: A1 }),
    });
    expect(p.avatarOf('me')).toBe(A1);
    expect(p.avatarOf(null)).toBeNull();
    p.rememberMembers([{ ...member(BOB, 'bob', 'Bob'), avatar_ref: A1 }]);
    expect(p.avatarOf(BOB)).toBe(A1);
    // A source that says nothing of the avatar keeps it; `null` takes it away.
    p.remember({ id: BOB, username: 'bob', display_name: 'Bob' });
    expect(p.avatarOf(BOB)).toBe(A1);
    p.rememberMembers([member(BOB, 'bob', 'Bob')]);
    expect(p.avatarOf(BOB)).toBe(A1);
    const before = p.profiles;
    p.remember({ id: BOB, username: 'bob', display_name: 'Bob', avatar_ref: A1 });
    expect(p.profiles).toBe(before);
    p.remember({ id: BOB, username: 'bob', display_name: 'Bob', avatar_ref: null });
    expect(p.avatarOf(BOB)).toBeNull();
    p.remember({ id: BOB, username: 'bob', display_name: 'Bob', avatar_ref: A2 });
    expect(p.avatarOf(BOB)).toBe(A2);
    // Someone unknown has none until the profile (asked once, as for the name) says.
    expect(p.avatarOf(CAROL)).toBeNull();
    expect(p.nameOf(CAROL)).toBe(`user·${shortId(CAROL)}`);
    await flush();
    await flush();
    expect(asked).toEqual([CAROL]);
    expect(p.avatarOf(CAROL)).toBe(A2);
  });
});

describe('ChatStore frames handed on', () => {
  it('tells listeners every frame after applying it, until they unsubscribe', async () => {
    const { chat, ws } = await chatStore([channel('a', { last_seq: 1 })]);
    const seen: { type: string; lastSeq: number | undefined }[] = [];
    const stop = chat.listen((f) => seen.push({ type: f.type, lastSeq: chat.channel('a')?.last_seq }));
    ws.receive({ type: 'read_marker', channel_id: 'a', seq: 1 });
    ws.receive({ type: 'channel_updated', channel: { ...channel('a'), last_seq: 5 } });
    expect(seen).toEqual([
      { type: 'read_marker', lastSeq: 1 },
      { type: 'channel_updated', lastSeq: 5 },
    ]);
    stop();
    ws.receive({ type: 'read_marker', channel_id: 'a', seq: 1 });
    expect(seen).toHaveLength(2);
  });
});

describe('ChatStore and the encryption engine', () => {
  function spied() {
    const e2e = new E2e(new Keystore(new MemoryStore()));
    const decrypted: string[] = [];
    const shared: { channels: string[]; user: string }[] = [];
    e2e.decrypt = async (m) => {
      decrypted.push(m.id);
      return { ok: false, reason: 'locked' };
    };
    e2e.memberJoined = (channels, user) => void shared.push({ channels, user });
    return { e2e, decrypted, shared };
  }

  it('reads an encrypted direct message as it arrives, shown or not (so that it reaches the key backup)', async () => {
    const { e2e, decrypted } = spied();
    const dm = channel('d1', { community_id: null, kind: 'dm', e2e: true });
    const { ws } = await chatStore([dm, channel('e1', { e2e: true }), channel('p1')], {}, {}, { e2e });
    const enc = (id: string, seq: number, sender = 'other') => {
      const m = message(id, seq, sender);
      m.content = { kind: 'encrypted', ciphertext: 'CAECAwQ=' };
      return m;
    };
    ws.receive({ type: 'message_created', event_seq: 1, message: enc('d1', 1) });
    // Not its own, not a channel's (sender keys read later as well), not plaintext.
    ws.receive({ type: 'message_created', event_seq: 2, message: enc('d1', 2, 'me') });
    ws.receive({ type: 'message_created', event_seq: 1, message: enc('e1', 1) });
    ws.receive({ type: 'message_created', event_seq: 1, message: message('p1', 1) });
    await flush();
    expect(decrypted).toEqual(['d1-1']);
  });

  it('asks the engine to hand a newcomer the history of the community’s encrypted channels that allow it', async () => {
    const { e2e, shared } = spied();
    const { ws } = await chatStore(
      [
        channel('e1', { e2e: true }),
        channel('e2', { e2e: true, history_for_new_members: false }),
        channel('p1'),
        channel('x1', { community_id: 'c9', e2e: true }),
      ],
      {},
      {},
      { e2e },
    );
    ws.receive({ type: 'member_joined', community_id: 'c1', member: member('u-carol', 'carol', 'Carol') });
    ws.receive({ type: 'member_joined', community_id: 'c1', member: member('me', 'me', 'Me') });
    expect(shared).toEqual([{ channels: ['e1'], user: 'u-carol' }]);
  });
});

describe('CommunityAdmin', () => {
  function adminApi(calls: string[], members: Member[], groups: Group[]) {
    return {
      members: async (id: string) => {
        calls.push(`members ${id}`);
        return members.map((m) => ({ ...m }));
      },
      groups: async (id: string) => {
        calls.push(`groups ${id}`);
        return groups.map((g) => ({ ...g }));
      },
    };
  }

  it('loads a community’s members (their names) and groups, and keeps them live from the frames', async () => {
    const calls: string[] = [];
    const list = [member('me', 'me', 'Me', 'owner'), member(BOB, 'bob', 'Bob')];
    const { admin, people: names, ws } = await chatStore([channel('a')], {}, adminApi(calls, list, [group('g1', 'One')]));
    await admin.loadMembers('c1');
    expect(admin.members.c1!.map((m) => m.user_id)).toEqual(['me', BOB]);
    expect(admin.groups.c1!.map((g) => g.id)).toEqual(['g1']);
    expect(names.nameOf(BOB)).toBe('Bob');
    // A join is added once and named; a role change and a departure follow.
    const joined = { type: 'member_joined', community_id: 'c1', member: member(CAROL, 'carol', 'Carol') };
    ws.receive(joined);
    ws.receive(joined);
    expect(admin.members.c1!.map((m) => m.user_id)).toEqual(['me', BOB, CAROL]);
    expect(names.nameOf(CAROL)).toBe('Carol');
    ws.receive({ type: 'member_role_changed', community_id: 'c1', user_id: BOB, role: 'moderator' });
    expect(admin.members.c1!.find((m) => m.user_id === BOB)!.role).toBe('moderator');
    ws.receive({ type: 'member_left', community_id: 'c1', user_id: CAROL, reason: 'left' });
    expect(admin.members.c1!.map((m) => m.user_id)).toEqual(['me', BOB]);
    // Someone joining a community whose members were never loaded is named, not listed.
    ws.receive({ type: 'member_joined', community_id: 'c9', member: member(CAROL, 'carol', 'Caro') });
    expect(admin.members.c9).toBeUndefined();
    expect(names.nameOf(CAROL)).toBe('Caro');
    // Groups: a new or changed one loads the list again, a deleted one goes.
    calls.length = 0;
    ws.receive({ type: 'group_created', group: group('g2', 'Two') });
    await flush();
    expect(calls).toEqual(['groups c1']);
    ws.receive({ type: 'group_deleted', community_id: 'c1', group_id: 'g1' });
    expect(admin.groups.c1).toEqual([]);
    // Frames of communities whose groups were never loaded are left alone.
    ws.receive({ type: 'group_created', group: { ...group('g3', 'Three'), community_id: 'c9' } });
    await flush();
    expect(calls).toEqual(['groups c1']);
  });

  it('loads the loaded member lists again after a reconnect, not at the first ready', async () => {
    const calls: string[] = [];
    const { admin, ws, clock } = await chatStore([channel('a')], {}, adminApi(calls, [member(BOB, 'bob', 'Bob')], []), { ready: false });
    // The community opened before the connection was ready: its members are not asked again then.
    await admin.loadMembers('c1');
    calls.length = 0;
    ws.receive(READY);
    await flush();
    expect(calls).toEqual([]);
    ws.drop();
    clock.runAll();
    const ws2 = FakeWs.all[1]!;
    ws2.open();
    await flush();
    ws2.receive(READY);
    await flush();
    expect(calls.sort()).toEqual(['groups c1', 'members c1']);
  });

  it('forgets the members of a community the user left or that was deleted, with the community', async () => {
    const { chat, admin, ws } = await chatStore([channel('a')], {}, adminApi([], [member(BOB, 'bob', 'Bob')], []));
    await admin.loadMembers('c1');
    ws.receive({ type: 'member_left', community_id: 'c1', user_id: 'me', reason: 'kicked' });
    expect(chat.community('c1')).toBeUndefined();
    expect(admin.members.c1).toBeUndefined();
    const second = await chatStore([channel('a')], {}, adminApi([], [member(BOB, 'bob', 'Bob')], []));
    await second.admin.loadMembers('c1');
    second.ws.receive({ type: 'community_deleted', community_id: 'c1' });
    expect(second.chat.community('c1')).toBeUndefined();
    expect(second.chat.channels).toEqual([]);
    expect(second.admin.members.c1).toBeUndefined();
  });

  it('applies the answers of its changes to the chat lists, keeping the caller’s role and read state', async () => {
    const calls: string[] = [];
    let lists = 0;
    const { chat, admin } = await chatStore([channel('a', { unread: 3, last_read_seq: 2, last_seq: 5 })], {}, {
      ...adminApi(calls, [member(BOB, 'bob', 'Bob')], []),
      communities: async () => {
        lists++;
        return [{ id: 'c1', name: 'C', description: '', visibility: 'public', owner_id: 'x', role: 'admin', created_at: '' }];
      },
      updateCommunity: async (id: string, req: { name: string }) => ({ id, name: req.name, description: '', visibility: 'public', owner_id: 'x', role: null, created_at: '' }),
      updateChannel: async (id: string, req: { topic?: string; group_id?: string | null }) => ({ ...channel(id), ...req, last_seq: 4, unread: 0, last_read_seq: 0 }),
      createChannel: async (cid: string, req: { name: string }) => channel('new', { community_id: cid, name: req.name }),
      createCommunityInvite: async (cid: string, body: unknown) => {
        calls.push(`invite ${cid} ${JSON.stringify(body)}`);
        return { id: 'i1', code: 'ABCD' };
      },
      removeMember: async (cid: string, uid: string) => void calls.push(`remove ${cid} ${uid}`),
      deleteCommunity: async (cid: string) => void calls.push(`delete ${cid}`),
    });
    await admin.updateCommunity('c1', { name: 'Renamed' });
    expect(chat.community('c1')).toMatchObject({ name: 'Renamed', role: 'admin' });
    await admin.updateChannel('a', { topic: 'new topic', group_id: 'g1' });
    expect(chat.channel('a')).toMatchObject({ topic: 'new topic', group_id: 'g1', unread: 3, last_read_seq: 2, last_seq: 5 });
    const before = lists;
    await admin.createChannel('c1', { name: 'fresh' });
    expect(lists).toBe(before + 1);
    expect(await admin.createInvite('c1')).toBe('ABCD');
    expect(calls).toContain('invite c1 {}');
    await admin.loadMembers('c1');
    await admin.leaveCommunity('c1');
    expect(calls).toContain('remove c1 me');
    expect(chat.community('c1')).toBeUndefined();
    expect(admin.members.c1).toBeUndefined();
  });

  it('deletes a community: gone from the lists with its members; a refusal keeps it', async () => {
    let refuse = true;
    const { chat, admin } = await chatStore([channel('a')], {}, {
      ...adminApi([], [member(BOB, 'bob', 'Bob')], []),
      deleteCommunity: async () => {
        if (refuse) throw new ApiError('forbidden', 'only the owner deletes', 403);
      },
    });
    await admin.loadMembers('c1');
    await expect(admin.deleteCommunity('c1')).rejects.toMatchObject({ code: 'forbidden' });
    expect(chat.community('c1')).toBeDefined();
    expect(admin.members.c1).toHaveLength(1);
    refuse = false;
    await admin.deleteCommunity('c1');
    expect(chat.community('c1')).toBeUndefined();
    expect(chat.channelsOf('c1')).toEqual([]);
    expect(admin.members.c1).toBeUndefined();
  });

  it('ranks roles, unknown ones as members', () => {
    expect(['member', 'moderator', 'admin', 'owner', 'stranger', null].map(roleRank)).toEqual([0, 1, 2, 3, 0, 0]);
  });
});
