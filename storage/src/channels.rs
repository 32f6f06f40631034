//! Channels: community channels, DMs and group DMs; who may see them; read markers.

use crate::error::{Result, StorageError};
use crate::schema::{channel_members, channels, groups, read_markers, user_blocks};
use chatalot_protocol::api::ChannelKind;
use chatalot_protocol::ids::{ChannelId, CommunityId, GroupId, UserId};
use chatalot_protocol::perms::{self, ChannelFacts, CommunityRole, GroupKind};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: ChannelId,
    pub community_id: Option<CommunityId>,
    pub kind: ChannelKind,
    pub name: String,
    pub topic: String,
    pub e2e: bool,
    pub slow_mode_secs: i32,
    pub archived: bool,
    pub position: i32,
    pub last_seq: i64,
    pub group_id: Option<GroupId>,
    /// Least community role that may read.
    pub view_role: CommunityRole,
    /// Least community role that may post.
    pub post_role: CommunityRole,
    pub created_at: OffsetDateTime,
    /// Members' devices hand past sender keys to a new member's devices.
    pub history_for_new_members: bool,
}

#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = channels)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct ChannelRow {
    id: Uuid,
    community_id: Option<Uuid>,
    kind: String,
    name: String,
    topic: String,
    e2e: bool,
    slow_mode_secs: i32,
    archived: bool,
    position: i32,
    last_seq: i64,
    group_id: Option<Uuid>,
    view_role: String,
    post_role: String,
    created_at: OffsetDateTime,
    history_for_new_members: bool,
}

impl From<ChannelRow> for Channel {
    fn from(r: ChannelRow) -> Self {
        Channel {
            id: ChannelId(r.id),
            community_id: r.community_id.map(CommunityId),
            // the column's CHECK admits only the kinds there are
            kind: ChannelKind::parse(&r.kind).unwrap_or(ChannelKind::Text),
            name: r.name,
            topic: r.topic,
            e2e: r.e2e,
            slow_mode_secs: r.slow_mode_secs,
            archived: r.archived,
            position: r.position,
            last_seq: r.last_seq,
            group_id: r.group_id.map(GroupId),
            view_role: CommunityRole::parse(&r.view_role).unwrap_or(CommunityRole::Owner),
            post_role: CommunityRole::parse(&r.post_role).unwrap_or(CommunityRole::Owner),
            created_at: r.created_at,
            history_for_new_members: r.history_for_new_members,
        }
    }
}

/// A new community channel.
pub struct NewChannel<'a> {
    pub id: ChannelId,
    pub community_id: CommunityId,
    pub kind: ChannelKind,
    pub name: &'a str,
    pub topic: &'a str,
    pub e2e: bool,
    pub group_id: Option<GroupId>,
    pub view_role: CommunityRole,
    pub post_role: CommunityRole,
    pub position: i32,
    pub slow_mode_secs: i32,
    pub created_by: UserId,
    pub history_for_new_members: bool,
}

/// Inserts a community channel.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewChannel<'_>) -> Result<Channel> {
    Ok(diesel::insert_into(channels::table)
        .values((
            channels::id.eq(new.id.0),
            channels::community_id.eq(Some(new.community_id.0)),
            channels::kind.eq(new.kind.as_str()),
            channels::name.eq(new.name),
            channels::topic.eq(new.topic),
            channels::e2e.eq(new.e2e),
            channels::group_id.eq(new.group_id.map(|g| g.0)),
            channels::view_role.eq(new.view_role.as_str()),
            channels::post_role.eq(new.post_role.as_str()),
            channels::position.eq(new.position),
            channels::slow_mode_secs.eq(new.slow_mode_secs),
            channels::created_by.eq(Some(new.created_by.0)),
            channels::history_for_new_members.eq(new.history_for_new_members),
        ))
        .returning(ChannelRow::as_returning())
        .get_result(conn)
        .await?
        .into())
}

/// The channel with this id; `NotFound` if none.
pub async fn get(conn: &mut AsyncPgConnection, id: ChannelId) -> Result<Channel> {
    Ok(channels::table
        .find(id.0)
        .select(ChannelRow::as_select())
        .first(conn)
        .await?
        .into())
}

#[derive(QueryableByName)]
struct FactsRow {
    #[diesel(embed)]
    channel: ChannelRow,
    #[diesel(sql_type = Nullable<Text>)]
    member_role: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    group_kind: Option<String>,
    #[diesel(sql_type = Bool)]
    in_group: bool,
    #[diesel(sql_type = Bool)]
    dm_member: bool,
}

const CHANNEL_COLUMNS: &str = "c.id, c.community_id, c.kind, c.name, c.topic, c.e2e, \
    c.slow_mode_secs, c.archived, c.position, c.last_seq, c.group_id, c.view_role, c.post_role, \
    c.created_at, c.history_for_new_members";

/// Joins that give, for user $1, the facts the permission rules need about channel `c`.
const FACTS_JOINS: &str = "LEFT JOIN community_members cm \
        ON cm.community_id = c.community_id AND cm.user_id = $1 \
    LEFT JOIN groups g ON g.id = c.group_id \
    LEFT JOIN group_members gm ON gm.group_id = c.group_id AND gm.user_id = $1 \
    LEFT JOIN channel_members dm ON dm.channel_id = c.id AND dm.user_id = $1";

const FACTS_COLUMNS: &str = "cm.role AS member_role, g.kind AS group_kind, \
    (gm.user_id IS NOT NULL) AS in_group, (dm.user_id IS NOT NULL) AS dm_member";

fn facts_of(
    c: &Channel,
    role: Option<&str>,
    group: Option<&str>,
    in_group: bool,
    dm: bool,
) -> ChannelFacts {
    ChannelFacts {
        direct: c.community_id.is_none(),
        dm_member: dm,
        role: role.and_then(CommunityRole::parse),
        group: group.and_then(GroupKind::parse),
        in_group,
        view_role: c.view_role,
        post_role: c.post_role,
        archived: c.archived,
    }
}

/// The channel and what the permission rules need to know about it and `user`; None if there
/// is no such channel.
pub async fn access(
    conn: &mut AsyncPgConnection,
    id: ChannelId,
    user: UserId,
) -> Result<Option<(Channel, ChannelFacts)>> {
    let row: Option<FactsRow> = diesel::sql_query(format!(
        "SELECT {CHANNEL_COLUMNS}, {FACTS_COLUMNS} FROM channels c {FACTS_JOINS} WHERE c.id = $2"
    ))
    .bind::<SqlUuid, _>(user.0)
    .bind::<SqlUuid, _>(id.0)
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.map(|r| {
        let c = Channel::from(r.channel);
        let f = facts_of(
            &c,
            r.member_role.as_deref(),
            r.group_kind.as_deref(),
            r.in_group,
            r.dm_member,
        );
        (c, f)
    }))
}

/// The channel if `user` may read it, with the facts; None otherwise (missing and invisible
/// channels look the same).
pub async fn find_visible(
    conn: &mut AsyncPgConnection,
    id: ChannelId,
    user: UserId,
) -> Result<Option<(Channel, ChannelFacts)>> {
    Ok(access(conn, id, user)
        .await?
        .filter(|(_, f)| perms::view_channel(f)))
}

/// The channels among `ids` that `user` may read, with the facts, in one query (missing and
/// invisible channels are simply absent).
pub async fn find_visible_many(
    conn: &mut AsyncPgConnection,
    ids: &[ChannelId],
    user: UserId,
) -> Result<Vec<(Channel, ChannelFacts)>> {
    let ids: Vec<Uuid> = ids.iter().map(|c| c.0).collect();
    let rows: Vec<FactsRow> = diesel::sql_query(format!(
        "SELECT {CHANNEL_COLUMNS}, {FACTS_COLUMNS} FROM channels c {FACTS_JOINS} \
         WHERE c.id = ANY($2)"
    ))
    .bind::<SqlUuid, _>(user.0)
    .bind::<Array<SqlUuid>, _>(&ids)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let c = Channel::from(r.channel);
            let f = facts_of(
                &c,
                r.member_role.as_deref(),
                r.group_kind.as_deref(),
                r.in_group,
                r.dm_member,
            );
            perms::view_channel(&f).then_some((c, f))
        })
        .collect())
}

#[derive(QueryableByName)]
struct UserFactsRow {
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    member_role: Option<String>,
    #[diesel(sql_type = Bool)]
    in_group: bool,
    #[diesel(sql_type = Bool)]
    dm_member: bool,
}

/// The channel as it is now and, for each of `users`, the facts the permission rules need:
/// how the gateway re-checks its subscribers after a membership, role or channel change.
pub async fn access_for_users(
    conn: &mut AsyncPgConnection,
    id: ChannelId,
    users: &[UserId],
) -> Result<Option<(Channel, Vec<(UserId, ChannelFacts)>)>> {
    let Some(channel) = channels::table
        .find(id.0)
        .select(ChannelRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Channel::from)
    else {
        return Ok(None);
    };
    let group_kind: Option<String> = match channel.group_id {
        Some(g) => groups::table
            .find(g.0)
            .select(groups::kind)
            .first(conn)
            .await
            .optional()?,
        None => None,
    };
    let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
    let rows: Vec<UserFactsRow> = diesel::sql_query(
        "SELECT u.uid AS user_id, cm.role AS member_role, \
                (gm.user_id IS NOT NULL) AS in_group, (dm.user_id IS NOT NULL) AS dm_member \
         FROM unnest($1::uuid[]) AS u(uid) \
         LEFT JOIN community_members cm ON cm.community_id = $2 AND cm.user_id = u.uid \
         LEFT JOIN group_members gm ON gm.group_id = $3 AND gm.user_id = u.uid \
         LEFT JOIN channel_members dm ON dm.channel_id = $4 AND dm.user_id = u.uid",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Nullable<SqlUuid>, _>(channel.community_id.map(|c| c.0))
    .bind::<Nullable<SqlUuid>, _>(channel.group_id.map(|g| g.0))
    .bind::<SqlUuid, _>(id.0)
    .load(conn)
    .await?;
    let facts = rows
        .into_iter()
        .map(|r| {
            let f = facts_of(
                &channel,
                r.member_role.as_deref(),
                group_kind.as_deref(),
                r.in_group,
                r.dm_member,
            );
            (UserId(r.user_id), f)
        })
        .collect();
    Ok(Some((channel, facts)))
}

/// The members of a DM or group DM.
pub async fn dm_member_ids(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
) -> Result<Vec<UserId>> {
    let ids: Vec<Uuid> = channel_members::table
        .filter(channel_members::channel_id.eq(channel.0))
        .select(channel_members::user_id)
        .load(conn)
        .await?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// The ids of a group's channels.
pub async fn ids_in_group(conn: &mut AsyncPgConnection, group: GroupId) -> Result<Vec<ChannelId>> {
    let ids: Vec<Uuid> = channels::table
        .filter(channels::group_id.eq(group.0))
        .select(channels::id)
        .load(conn)
        .await?;
    Ok(ids.into_iter().map(ChannelId).collect())
}

/// The ids of a community's channels.
pub async fn ids_in_community(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
) -> Result<Vec<ChannelId>> {
    let ids: Vec<Uuid> = channels::table
        .filter(channels::community_id.eq(community.0))
        .select(channels::id)
        .load(conn)
        .await?;
    Ok(ids.into_iter().map(ChannelId).collect())
}

/// Changes to a channel; None leaves a field as it is.
#[derive(Default, AsChangeset)]
#[diesel(table_name = channels)]
pub struct ChannelChanges<'a> {
    pub name: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub slow_mode_secs: Option<i32>,
    pub archived: Option<bool>,
    pub position: Option<i32>,
    pub group_id: Option<Option<Uuid>>,
    pub view_role: Option<&'a str>,
    pub post_role: Option<&'a str>,
    pub e2e: Option<bool>,
    pub history_for_new_members: Option<bool>,
}

/// Applies the changes. The end-to-end mode only changes while the channel has no messages
/// (`Ok(None)` otherwise, and nothing changes).
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: ChannelId,
    changes: &ChannelChanges<'_>,
) -> Result<Option<Channel>> {
    let mut q = diesel::update(channels::table.find(id.0)).into_boxed();
    if changes.e2e.is_some() {
        q = q.filter(channels::last_seq.eq(0));
    }
    let is_empty = changes.name.is_none()
        && changes.topic.is_none()
        && changes.slow_mode_secs.is_none()
        && changes.archived.is_none()
        && changes.position.is_none()
        && changes.group_id.is_none()
        && changes.view_role.is_none()
        && changes.post_role.is_none()
        && changes.e2e.is_none()
        && changes.history_for_new_members.is_none();
    if is_empty {
        return Ok(Some(get(conn, id).await?));
    }
    Ok(q.set(changes)
        .returning(ChannelRow::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .map(Channel::from))
}

/// Deletes a channel with its messages.
pub async fn delete(conn: &mut AsyncPgConnection, id: ChannelId) -> Result<bool> {
    Ok(diesel::delete(channels::table.find(id.0))
        .execute(conn)
        .await?
        == 1)
}

/// Has any of `users` blocked `by`?
pub async fn blocked_by_any(
    conn: &mut AsyncPgConnection,
    users: &[UserId],
    by: UserId,
) -> Result<bool> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
    Ok(diesel::select(diesel::dsl::exists(
        user_blocks::table
            .filter(user_blocks::blocker_id.eq_any(ids))
            .filter(user_blocks::blocked_id.eq(by.0)),
    ))
    .get_result(conn)
    .await?)
}

/// True when `a` and `b` are related: they are members of a common community, or of a DM or
/// group DM, one that `b` accepted (created, or posted in) when `accepted` is set. What a
/// stranger must have before reaching `b` outside any channel (accepted), or before claiming
/// `b`'s prekeys (any shared conversation).
pub async fn related(
    conn: &mut AsyncPgConnection,
    a: UserId,
    b: UserId,
    accepted: bool,
) -> Result<bool> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Bool)]
        related: bool,
    }
    let row: Row = diesel::sql_query(
        "SELECT EXISTS ( \
            SELECT 1 FROM community_members x JOIN community_members y \
              ON y.community_id = x.community_id \
            WHERE x.user_id = $1 AND y.user_id = $2 \
         ) OR EXISTS ( \
            SELECT 1 FROM channel_members x \
            JOIN channel_members y ON y.channel_id = x.channel_id \
            JOIN channels c ON c.id = x.channel_id \
            WHERE x.user_id = $1 AND y.user_id = $2 \
              AND (NOT $3 OR c.created_by = $2 OR EXISTS ( \
                    SELECT 1 FROM messages m WHERE m.channel_id = c.id AND m.sender_id = $2)) \
         ) AS related",
    )
    .bind::<SqlUuid, _>(a.0)
    .bind::<SqlUuid, _>(b.0)
    .bind::<Bool, _>(accepted)
    .get_result(conn)
    .await?;
    Ok(row.related)
}

/// A channel with the caller's read position and unread count (capped at `UNREAD_CAP`).
#[derive(Debug, Clone)]
pub struct ChannelState {
    pub channel: Channel,
    /// What the permission rules know about it and the user.
    pub facts: ChannelFacts,
    pub last_read_seq: i64,
    pub unread: i64,
    /// When the user joined the channel's community (None for DMs).
    pub joined_at: Option<OffsetDateTime>,
}

/// Unread counts stop counting here.
pub const UNREAD_CAP: i64 = 1000;

#[derive(QueryableByName)]
struct StateRow {
    #[diesel(embed)]
    facts: FactsRow,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    last_activity_at: OffsetDateTime,
    #[diesel(sql_type = BigInt)]
    last_read_seq: i64,
    #[diesel(sql_type = BigInt)]
    unread: i64,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    joined_at: Option<OffsetDateTime>,
}

/// Where a page of the channel list ends: the last channel's activity time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelCursor {
    pub at: OffsetDateTime,
    pub id: ChannelId,
}

/// A page of the channels `user` can read, most recently active first (a new message moves a
/// channel up), with read state, and the cursor of the next page if there is one.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user: UserId,
    before: Option<ChannelCursor>,
    limit: i64,
) -> Result<(Vec<ChannelState>, Option<ChannelCursor>)> {
    list_states(conn, user, None, before, limit).await
}

/// Every channel of `community` that `user` can read, with read state. Complete: a community
/// has at most `CHANNELS_MAX` channels.
pub async fn list_for_user_in_community(
    conn: &mut AsyncPgConnection,
    user: UserId,
    community: CommunityId,
) -> Result<Vec<ChannelState>> {
    let all = chatalot_protocol::api::community_limits::CHANNELS_MAX as i64;
    Ok(list_states(conn, user, Some(community), None, all).await?.0)
}

async fn list_states(
    conn: &mut AsyncPgConnection,
    user: UserId,
    community: Option<CommunityId>,
    before: Option<ChannelCursor>,
    limit: i64,
) -> Result<(Vec<ChannelState>, Option<ChannelCursor>)> {
    // rows the permission rules hide are dropped after the query: read more than asked
    let fetch = limit.saturating_mul(4);
    let rows: Vec<StateRow> = diesel::sql_query(format!(
        "SELECT {CHANNEL_COLUMNS}, {FACTS_COLUMNS}, c.last_activity_at, \
                COALESCE(r.last_read_seq, 0) AS last_read_seq, \
                (SELECT count(*) FROM (SELECT 1 FROM messages m \
                    WHERE m.channel_id = c.id AND m.seq > COALESCE(r.last_read_seq, 0) \
                      AND m.deleted_at IS NULL AND m.sender_id IS DISTINCT FROM $1 \
                      AND (cm.joined_at IS NULL OR m.created_at > cm.joined_at) \
                    LIMIT 1000) x) AS unread, cm.joined_at AS joined_at \
         FROM channels c {FACTS_JOINS} \
         LEFT JOIN read_markers r ON r.channel_id = c.id AND r.user_id = $1 \
         WHERE (cm.user_id IS NOT NULL OR dm.user_id IS NOT NULL) \
           AND ($3::uuid IS NULL OR c.community_id = $3) \
           AND ($4::timestamptz IS NULL OR (c.last_activity_at, c.id) < ($4, $5)) \
         ORDER BY c.last_activity_at DESC, c.id DESC \
         LIMIT $2"
    ))
    .bind::<SqlUuid, _>(user.0)
    .bind::<BigInt, _>(fetch)
    .bind::<Nullable<SqlUuid>, _>(community.map(|c| c.0))
    .bind::<Nullable<diesel::sql_types::Timestamptz>, _>(before.map(|b| b.at))
    .bind::<Nullable<SqlUuid>, _>(before.map(|b| b.id.0))
    .load(conn)
    .await?;
    let fetched = rows.len();
    let mut out = Vec::new();
    let mut last = None;
    let mut consumed = 0;
    for r in rows {
        if out.len() as i64 == limit {
            break;
        }
        consumed += 1;
        let channel = Channel::from(r.facts.channel);
        last = Some(ChannelCursor {
            at: r.last_activity_at,
            id: channel.id,
        });
        let f = facts_of(
            &channel,
            r.facts.member_role.as_deref(),
            r.facts.group_kind.as_deref(),
            r.facts.in_group,
            r.facts.dm_member,
        );
        if perms::view_channel(&f) {
            out.push(ChannelState {
                channel,
                facts: f,
                last_read_seq: r.last_read_seq,
                unread: r.unread,
                joined_at: r.joined_at,
            });
        }
    }
    let more = fetched as i64 == fetch || consumed < fetched;
    Ok((out, if more { last } else { None }))
}

/// Opens the DM (two users) or group DM (three or more) of exactly these users, creating it the
/// first time: the same set of users always gets the same channel. `users` includes the caller.
pub async fn open_dm(
    conn: &mut AsyncPgConnection,
    new_id: ChannelId,
    creator: UserId,
    users: &[UserId],
    e2e: bool,
) -> Result<Channel> {
    let mut ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
    ids.sort();
    ids.dedup();
    let key = dm_key(&ids);
    let kind = if ids.len() == 2 {
        ChannelKind::Dm
    } else {
        ChannelKind::GroupDm
    }
    .as_str();
    conn.transaction::<_, StorageError, _>(async |conn| {
        if let Some(found) = channels::table
            .filter(channels::dm_key.eq(&key))
            .select(ChannelRow::as_select())
            .first(conn)
            .await
            .optional()?
        {
            // whoever opens it again is a member again (after leaving it)
            diesel::insert_into(channel_members::table)
                .values((
                    channel_members::channel_id.eq(found.id),
                    channel_members::user_id.eq(creator.0),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            return Ok(found.into());
        }
        let row = diesel::insert_into(channels::table)
            .values((
                channels::id.eq(new_id.0),
                channels::kind.eq(kind),
                channels::e2e.eq(e2e),
                channels::dm_key.eq(&key),
                channels::created_by.eq(Some(creator.0)),
            ))
            .on_conflict(channels::dm_key)
            .do_nothing()
            .returning(ChannelRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        let Some(row) = row else {
            // opened concurrently by another request: take that one
            return Ok(channels::table
                .filter(channels::dm_key.eq(&key))
                .select(ChannelRow::as_select())
                .first(conn)
                .await?
                .into());
        };
        let members: Vec<_> = ids
            .iter()
            .map(|u| {
                (
                    channel_members::channel_id.eq(row.id),
                    channel_members::user_id.eq(*u),
                )
            })
            .collect();
        diesel::insert_into(channel_members::table)
            .values(&members)
            .execute(conn)
            .await?;
        Ok(row.into())
    })
    .await
}

/// Who in a DM or group DM accepted it (created it, or posted in it), and the blocks that
/// stand between its members, as (blocker, blocked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectState {
    pub accepted: Vec<UserId>,
    pub blocks: Vec<(UserId, UserId)>,
}

/// The `DirectState` of a DM or group DM (at most 10 members).
pub async fn direct_state(conn: &mut AsyncPgConnection, channel: ChannelId) -> Result<DirectState> {
    #[derive(QueryableByName)]
    struct Accepted {
        #[diesel(sql_type = SqlUuid)]
        user_id: Uuid,
    }
    #[derive(QueryableByName)]
    struct Block {
        #[diesel(sql_type = SqlUuid)]
        blocker_id: Uuid,
        #[diesel(sql_type = SqlUuid)]
        blocked_id: Uuid,
    }
    let accepted: Vec<Accepted> = diesel::sql_query(
        "SELECT m.user_id FROM channel_members m JOIN channels c ON c.id = m.channel_id \
         WHERE m.channel_id = $1 AND (c.created_by = m.user_id OR EXISTS ( \
             SELECT 1 FROM messages x WHERE x.channel_id = $1 AND x.sender_id = m.user_id))",
    )
    .bind::<SqlUuid, _>(channel.0)
    .load(conn)
    .await?;
    let blocks: Vec<Block> = diesel::sql_query(
        "SELECT b.blocker_id, b.blocked_id FROM user_blocks b \
         JOIN channel_members x ON x.channel_id = $1 AND x.user_id = b.blocker_id \
         JOIN channel_members y ON y.channel_id = $1 AND y.user_id = b.blocked_id",
    )
    .bind::<SqlUuid, _>(channel.0)
    .load(conn)
    .await?;
    Ok(DirectState {
        accepted: accepted.into_iter().map(|a| UserId(a.user_id)).collect(),
        blocks: blocks
            .into_iter()
            .map(|b| (UserId(b.blocker_id), UserId(b.blocked_id)))
            .collect(),
    })
}

/// The DMs and group DMs both `a` and `b` are members of (at most `limit`).
pub async fn shared_direct(
    conn: &mut AsyncPgConnection,
    a: UserId,
    b: UserId,
    limit: i64,
) -> Result<Vec<ChannelId>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        channel_id: Uuid,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT x.channel_id FROM channel_members x JOIN channel_members y \
           ON y.channel_id = x.channel_id AND y.user_id = $2 \
         WHERE x.user_id = $1 LIMIT $3",
    )
    .bind::<SqlUuid, _>(a.0)
    .bind::<SqlUuid, _>(b.0)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| ChannelId(r.channel_id)).collect())
}

/// Is there a block between any two of `users` (either way)?
pub async fn block_among(conn: &mut AsyncPgConnection, users: &[UserId]) -> Result<bool> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
    Ok(diesel::select(diesel::dsl::exists(
        user_blocks::table
            .filter(user_blocks::blocker_id.eq_any(&ids))
            .filter(user_blocks::blocked_id.eq_any(&ids)),
    ))
    .get_result(conn)
    .await?)
}

/// Takes `user` out of a DM or group DM: they no longer read it until they open it again.
/// False if they were not a member.
pub async fn leave_direct(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    user: UserId,
) -> Result<bool> {
    let n = diesel::delete(channel_members::table.find((channel.0, user.0)))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// How many DMs and group DMs `user` has opened (created).
pub async fn count_opened_direct(conn: &mut AsyncPgConnection, user: UserId) -> Result<i64> {
    Ok(channels::table
        .filter(channels::created_by.eq(user.0))
        .filter(channels::community_id.is_null())
        .count()
        .get_result(conn)
        .await?)
}

/// The DM or group DM of exactly these users, if it exists.
pub async fn find_dm(conn: &mut AsyncPgConnection, users: &[UserId]) -> Result<Option<ChannelId>> {
    let mut ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
    ids.sort();
    ids.dedup();
    let found: Option<Uuid> = channels::table
        .filter(channels::dm_key.eq(dm_key(&ids)))
        .select(channels::id)
        .first(conn)
        .await
        .optional()?;
    Ok(found.map(ChannelId))
}

/// The identity of a DM: its members' ids in order, concatenated. A DM is its member set.
fn dm_key(sorted: &[Uuid]) -> String {
    sorted.iter().map(|id| id.simple().to_string()).collect()
}

/// Moves the read marker of `user` in `channel` forward to `seq` (never backward). Returns the
/// marker now stored.
pub async fn update_read_marker(
    conn: &mut AsyncPgConnection,
    user: UserId,
    channel: ChannelId,
    seq: i64,
) -> Result<i64> {
    use diesel::upsert::excluded;
    let stored: i64 = diesel::insert_into(read_markers::table)
        .values((
            read_markers::user_id.eq(user.0),
            read_markers::channel_id.eq(channel.0),
            read_markers::last_read_seq.eq(seq),
        ))
        .on_conflict((read_markers::user_id, read_markers::channel_id))
        .do_update()
        .set((
            read_markers::last_read_seq.eq(diesel::dsl::sql::<BigInt>(
                "GREATEST(read_markers.last_read_seq, EXCLUDED.last_read_seq)",
            )),
            read_markers::updated_at.eq(excluded(read_markers::updated_at)),
        ))
        .returning(read_markers::last_read_seq)
        .get_result(conn)
        .await?;
    Ok(stored)
}
