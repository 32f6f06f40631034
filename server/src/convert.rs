//! Stored rows in wire form: one function per response body built from storage, so that every
//! route and every live frame shows an object the same way.

use chatalot_protocol::api::{
    AuditEvent, Ban, Channel, Community, CommunityInvite, Group, Invite, Member, Profile,
};
use chatalot_protocol::bytes::Base64Bytes;
use chatalot_protocol::keys::{DeviceKeys, Envelope};
use chatalot_protocol::perms::{self, ChannelFacts, CommunityRole};
use chatalot_storage::{audit, channels, communities, envelopes, groups, invites, keys, profiles};

/// A community; `role` is the caller's (None for a non-member and in live frames).
pub fn community(c: communities::Community, role: Option<CommunityRole>) -> Community {
    Community {
        visibility: c.visibility,
        id: c.id,
        name: c.name,
        description: c.description,
        discoverable: c.discoverable,
        welcome_message: c.welcome_message,
        icon_ref: c.icon_ref,
        banner_ref: c.banner_ref,
        owner_id: c.owner_id,
        role,
        created_at: c.created_at,
    }
}

pub fn member(m: communities::Member) -> Member {
    Member {
        user_id: m.user_id,
        username: m.username,
        display_name: m.display_name,
        role: m.role,
        joined_at: m.joined_at,
        avatar_ref: m.avatar_ref,
    }
}

pub fn ban(b: communities::Ban) -> Ban {
    Ban {
        user_id: b.user_id,
        username: b.username,
        banned_by: b.banned_by,
        reason: b.reason,
        created_at: b.created_at,
    }
}

/// A channel with the caller's rights (`facts`) and read state.
pub fn channel(
    c: channels::Channel,
    facts: &ChannelFacts,
    last_read_seq: i64,
    unread: i64,
) -> Channel {
    Channel {
        id: c.id,
        community_id: c.community_id,
        group_id: c.group_id,
        kind: c.kind,
        name: c.name,
        topic: c.topic,
        e2e: c.e2e,
        slow_mode_secs: c.slow_mode_secs,
        archived: c.archived,
        position: c.position,
        view_role: c.view_role,
        post_role: c.post_role,
        can_post: perms::post_channel(facts).is_allowed(),
        history_for_new_members: c.history_for_new_members,
        last_seq: c.last_seq,
        last_read_seq,
        unread,
        joined_at: None,
    }
}

/// A channel of the channel list, with the caller's read state and when they joined.
pub fn channel_state(s: channels::ChannelState) -> Channel {
    Channel {
        joined_at: s.joined_at,
        ..channel(s.channel, &s.facts, s.last_read_seq, s.unread)
    }
}

/// A community invite; `code` only in the answer that creates it.
pub fn community_invite(i: communities::CommunityInvite, code: Option<String>) -> CommunityInvite {
    CommunityInvite {
        id: i.id,
        community_id: i.community_id,
        code,
        created_by: i.created_by,
        max_uses: i.max_uses.map(|n| n as u32),
        uses: i.uses.max(0) as u32,
        expires_at: i.expires_at,
        revoked: i.revoked_at.is_some(),
        created_at: i.created_at,
    }
}

/// A registration invite.
pub fn invite(i: invites::Invite) -> Invite {
    Invite {
        id: i.id,
        code: i.code,
        created_by: i.created_by,
        max_uses: i.max_uses.map(|n| n.max(0) as u32),
        uses: i.uses.max(0) as u32,
        expires_at: i.expires_at,
        revoked: i.revoked_at.is_some(),
        created_at: i.created_at,
    }
}

pub fn group(g: groups::Group) -> Group {
    Group {
        id: g.id,
        community_id: g.community_id,
        name: g.name,
        kind: g.kind,
        assigned_to: g.assigned_to,
        position: g.position,
    }
}

pub fn profile(p: profiles::Profile) -> Profile {
    Profile {
        id: p.id,
        username: p.username,
        display_name: p.display_name,
        bio: p.bio,
        pronouns: p.pronouns,
        custom_status: p.custom_status,
        avatar_ref: p.avatar_ref,
        banner_ref: p.banner_ref,
        created_at: p.created_at,
    }
}

pub fn audit_event(e: audit::AuditEvent) -> AuditEvent {
    AuditEvent {
        id: e.id,
        user_id: e.user_id,
        action: e.action,
        subject_id: e.subject_id,
        ip: e.ip,
        user_agent: e.user_agent,
        created_at: e.created_at,
    }
}

pub fn device_keys(k: keys::DeviceKeys) -> DeviceKeys {
    DeviceKeys {
        user_id: k.user_id,
        device_id: k.device_id,
        certificate: Base64Bytes(k.certificate),
        created_at: k.created_at,
    }
}

pub fn envelope(e: envelopes::Envelope) -> Envelope {
    Envelope {
        id: e.id,
        sender_user_id: e.sender_user_id,
        sender_device_id: e.sender_device_id,
        recipient_device_id: e.recipient_device_id,
        channel_id: e.channel_id,
        ciphertext: Base64Bytes(e.ciphertext),
        created_at: e.created_at,
    }
}
