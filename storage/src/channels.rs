//! Channels: community channels, DMs and group DMs; who may see them; read markers.

use crate::error::{Result, StorageError};
use crate::schema::{channel_members, channels, community_members, read_markers};
use chatalot_protocol::ids::{ChannelId, CommunityId, UserId};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: ChannelId,
    pub community_id: Option<CommunityId>,
    pub kind: String,
    pub name: String,
    pub topic: String,
    pub e2e: bool,
    pub slow_mode_secs: i32,
    pub archived: bool,
    pub position: i32,
    pub last_seq: i64,
    pub created_at: OffsetDateTime,
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
    created_at: OffsetDateTime,
}

impl From<ChannelRow> for Channel {
    fn from(r: ChannelRow) -> Self {
        Channel {
            id: ChannelId(r.id),
            community_id: r.community_id.map(CommunityId),
            kind: r.kind,
            name: r.name,
            topic: r.topic,
            e2e: r.e2e,
            slow_mode_secs: r.slow_mode_secs,
            archived: r.archived,
            position: r.position,
            last_seq: r.last_seq,
            created_at: r.created_at,
        }
    }
}

/// A new community channel.
pub struct NewChannel<'a> {
    pub id: ChannelId,
    pub community_id: CommunityId,
    pub kind: &'a str,
    pub name: &'a str,
    pub topic: &'a str,
    pub e2e: bool,
    pub created_by: UserId,
}

/// Inserts a community channel.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewChannel<'_>) -> Result<Channel> {
    Ok(diesel::insert_into(channels::table)
        .values((
            channels::id.eq(new.id.0),
            channels::community_id.eq(Some(new.community_id.0)),
            channels::kind.eq(new.kind),
            channels::name.eq(new.name),
            channels::topic.eq(new.topic),
            channels::e2e.eq(new.e2e),
            channels::created_by.eq(Some(new.created_by.0)),
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

/// The channel if `user` may read it: a member of its community, or of the DM. None otherwise
/// (missing and invisible channels look the same).
pub async fn find_visible(
    conn: &mut AsyncPgConnection,
    id: ChannelId,
    user: UserId,
) -> Result<Option<Channel>> {
    let in_community = community_members::table
        .filter(community_members::user_id.eq(user.0))
        .select(community_members::community_id);
    let in_dm = channel_members::table
        .filter(channel_members::user_id.eq(user.0))
        .select(channel_members::channel_id);
    Ok(channels::table
        .filter(channels::id.eq(id.0))
        .filter(
            channels::community_id
                .eq_any(in_community.nullable())
                .or(channels::id.eq_any(in_dm)),
        )
        .select(ChannelRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Channel::from))
}

/// A channel with the caller's read position and unread count (capped at `UNREAD_CAP`).
#[derive(Debug, Clone)]
pub struct ChannelState {
    pub channel: Channel,
    pub last_read_seq: i64,
    pub unread: i64,
}

/// Unread counts stop counting here.
pub const UNREAD_CAP: i64 = 1000;

#[derive(QueryableByName)]
struct StateRow {
    #[diesel(embed)]
    channel: ChannelRow,
    #[diesel(sql_type = BigInt)]
    last_read_seq: i64,
    #[diesel(sql_type = BigInt)]
    unread: i64,
}

/// The channels `user` can read: community channels, then DMs, with read state.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user: UserId,
    limit: i64,
) -> Result<Vec<ChannelState>> {
    let rows: Vec<StateRow> = diesel::sql_query(
        "SELECT c.id, c.community_id, c.kind, c.name, c.topic, c.e2e, c.slow_mode_secs, \
                c.archived, c.position, c.last_seq, c.created_at, \
                COALESCE(r.last_read_seq, 0) AS last_read_seq, \
                (SELECT count(*) FROM (SELECT 1 FROM messages m \
                    WHERE m.channel_id = c.id AND m.seq > COALESCE(r.last_read_seq, 0) \
                      AND m.deleted_at IS NULL AND m.sender_id IS DISTINCT FROM $1 \
                    LIMIT 1000) x) AS unread \
         FROM channels c \
         LEFT JOIN read_markers r ON r.channel_id = c.id AND r.user_id = $1 \
         WHERE c.community_id IN (SELECT community_id FROM community_members WHERE user_id = $1) \
            OR c.id IN (SELECT channel_id FROM channel_members WHERE user_id = $1) \
         ORDER BY c.community_id NULLS LAST, c.position, c.created_at \
         LIMIT $2",
    )
    .bind::<SqlUuid, _>(user.0)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ChannelState {
            channel: r.channel.into(),
            last_read_seq: r.last_read_seq,
            unread: r.unread,
        })
        .collect())
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
    let kind = if ids.len() == 2 { "dm" } else { "group_dm" };
    conn.transaction::<_, StorageError, _>(async |conn| {
        if let Some(found) = channels::table
            .filter(channels::dm_key.eq(&key))
            .select(ChannelRow::as_select())
            .first(conn)
            .await
            .optional()?
        {
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
