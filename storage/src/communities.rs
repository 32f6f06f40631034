//! Communities, their members, roles, bans and invite codes.

use crate::error::{Result, StorageError};
use crate::schema::{
    channels, communities, community_bans, community_invites, community_members, group_members,
    groups, user_profiles, users,
};
use chatalot_protocol::api::{ChannelKind, Visibility};
use chatalot_protocol::ids::{ChannelId, CommunityId, InviteId, UserId};
use chatalot_protocol::perms::CommunityRole;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// A community as stored.
#[derive(Debug, Clone)]
pub struct Community {
    pub id: CommunityId,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub owner_id: UserId,
    pub icon_ref: Option<String>,
    pub banner_ref: Option<String>,
    pub welcome_message: String,
    pub discoverable: bool,
    pub created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = communities)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct CommunityRow {
    id: Uuid,
    name: String,
    description: String,
    visibility: String,
    owner_id: Uuid,
    icon_ref: Option<String>,
    banner_ref: Option<String>,
    welcome_message: String,
    discoverable: bool,
    created_at: OffsetDateTime,
}

impl From<CommunityRow> for Community {
    fn from(r: CommunityRow) -> Self {
        Community {
            id: CommunityId(r.id),
            name: r.name,
            description: r.description,
            // the column's CHECK admits only the two there are
            visibility: Visibility::parse(&r.visibility).unwrap_or(Visibility::Private),
            owner_id: UserId(r.owner_id),
            icon_ref: r.icon_ref,
            banner_ref: r.banner_ref,
            welcome_message: r.welcome_message,
            discoverable: r.discoverable,
            created_at: r.created_at,
        }
    }
}

/// A new community with its first channel.
pub struct NewCommunity<'a> {
    pub id: CommunityId,
    pub name: &'a str,
    pub description: &'a str,
    pub visibility: Visibility,
    pub owner: UserId,
    pub first_channel: ChannelId,
    pub first_channel_name: &'a str,
    pub e2e: bool,
}

/// Creates a community, makes the owner its first member and creates its first text channel,
/// all or nothing.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewCommunity<'_>) -> Result<Community> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let row = diesel::insert_into(communities::table)
            .values((
                communities::id.eq(new.id.0),
                communities::name.eq(new.name),
                communities::description.eq(new.description),
                communities::visibility.eq(new.visibility.as_str()),
                communities::owner_id.eq(new.owner.0),
            ))
            .returning(CommunityRow::as_returning())
            .get_result(conn)
            .await?;
        diesel::insert_into(community_members::table)
            .values((
                community_members::community_id.eq(new.id.0),
                community_members::user_id.eq(new.owner.0),
                community_members::role.eq("owner"),
            ))
            .execute(conn)
            .await?;
        diesel::insert_into(channels::table)
            .values((
                channels::id.eq(new.first_channel.0),
                channels::community_id.eq(Some(new.id.0)),
                channels::kind.eq(ChannelKind::Text.as_str()),
                channels::name.eq(new.first_channel_name),
                channels::e2e.eq(new.e2e),
                channels::created_by.eq(Some(new.owner.0)),
            ))
            .execute(conn)
            .await?;
        Ok(row.into())
    })
    .await
}

/// The community with this id; `NotFound` if none.
pub async fn get(conn: &mut AsyncPgConnection, id: CommunityId) -> Result<Community> {
    Ok(communities::table
        .find(id.0)
        .select(CommunityRow::as_select())
        .first(conn)
        .await?
        .into())
}

/// The caller's role in a community, if a member.
pub async fn find_role(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> Result<Option<CommunityRole>> {
    let role: Option<String> = community_members::table
        .find((community.0, user.0))
        .select(community_members::role)
        .first(conn)
        .await
        .optional()?;
    Ok(role.as_deref().and_then(CommunityRole::parse))
}

/// Why a user could not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Newly a member (and of every public group).
    Joined,
    AlreadyMember,
    /// Banned from this community: nothing changed.
    Banned,
    /// The invite code is unknown, revoked, expired or used up: nothing changed.
    InvalidInvite,
}

/// Adds a member unless banned, and puts them in every public group; all or nothing.
pub async fn join(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> Result<JoinOutcome> {
    conn.transaction::<_, StorageError, _>(async |conn| join_in_tx(conn, community, user).await)
        .await
}

async fn join_in_tx(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> Result<JoinOutcome> {
    if is_banned(conn, community, user).await? {
        return Ok(JoinOutcome::Banned);
    }
    let n = diesel::insert_into(community_members::table)
        .values((
            community_members::community_id.eq(community.0),
            community_members::user_id.eq(user.0),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if n == 0 {
        return Ok(JoinOutcome::AlreadyMember);
    }
    let public: Vec<Uuid> = groups::table
        .filter(groups::community_id.eq(community.0))
        .filter(groups::kind.eq("public"))
        .select(groups::id)
        .load(conn)
        .await?;
    let rows: Vec<_> = public
        .iter()
        .map(|g| {
            (
                group_members::group_id.eq(*g),
                group_members::user_id.eq(user.0),
            )
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(group_members::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(JoinOutcome::Joined)
}

/// Joins by invite code: the code's use is counted only when the user actually joins (a banned
/// user or an existing member uses nothing). Returns the community when the code is live.
pub async fn join_by_invite(
    conn: &mut AsyncPgConnection,
    code_hash: &[u8],
    user: UserId,
) -> Result<(Option<CommunityId>, JoinOutcome)> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let live: Option<(Uuid, Uuid)> = community_invites::table
            .filter(community_invites::code_hash.eq(code_hash))
            .filter(community_invites::revoked_at.is_null())
            .filter(
                community_invites::expires_at
                    .is_null()
                    .or(community_invites::expires_at.gt(diesel::dsl::now)),
            )
            .filter(
                community_invites::max_uses
                    .is_null()
                    .or(community_invites::uses.lt(community_invites::max_uses.assume_not_null())),
            )
            .select((community_invites::id, community_invites::community_id))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((invite, community)) = live else {
            return Ok((None, JoinOutcome::InvalidInvite));
        };
        let community = CommunityId(community);
        let outcome = join_in_tx(conn, community, user).await?;
        if outcome == JoinOutcome::Joined {
            diesel::update(community_invites::table.find(invite))
                .set(community_invites::uses.eq(community_invites::uses + 1))
                .execute(conn)
                .await?;
        }
        Ok((Some(community), outcome))
    })
    .await
}

/// The communities a user belongs to, with the user's role, oldest membership first.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user: UserId,
    limit: i64,
) -> Result<Vec<(Community, CommunityRole)>> {
    let rows: Vec<(CommunityRow, String)> = communities::table
        .inner_join(community_members::table)
        .filter(community_members::user_id.eq(user.0))
        .order(community_members::joined_at.asc())
        .limit(limit)
        .select((CommunityRow::as_select(), community_members::role))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(c, r)| {
            (
                c.into(),
                CommunityRole::parse(&r).unwrap_or(CommunityRole::Member),
            )
        })
        .collect())
}

/// Public, discoverable communities, newest first, optionally matching `query` in the name,
/// with their member counts.
pub async fn list_discoverable(
    conn: &mut AsyncPgConnection,
    query: Option<&str>,
    limit: i64,
) -> Result<Vec<(Community, i64)>> {
    let mut q = communities::table
        .filter(communities::discoverable.eq(true))
        .filter(communities::visibility.eq(Visibility::Public.as_str()))
        .into_boxed();
    if let Some(text) = query {
        let pattern = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        q = q.filter(communities::name.ilike(pattern));
    }
    let rows: Vec<CommunityRow> = q
        .order(communities::created_at.desc())
        .limit(limit)
        .select(CommunityRow::as_select())
        .load(conn)
        .await?;
    // every listed community's member count in one query
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let counts: std::collections::HashMap<Uuid, i64> = community_members::table
        .filter(community_members::community_id.eq_any(&ids))
        .group_by(community_members::community_id)
        .select((community_members::community_id, diesel::dsl::count_star()))
        .load::<(Uuid, i64)>(conn)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let n = counts.get(&r.id).copied().unwrap_or(0);
            (r.into(), n)
        })
        .collect())
}

/// Changes to a community's settings; None leaves a field as it is.
#[derive(Default)]
pub struct CommunityChanges<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub visibility: Option<Visibility>,
    pub icon_ref: Option<Option<&'a str>>,
    pub banner_ref: Option<Option<&'a str>>,
    pub welcome_message: Option<&'a str>,
    pub discoverable: Option<bool>,
}

#[derive(AsChangeset)]
#[diesel(table_name = communities)]
struct CommunityChangeset<'a> {
    name: Option<&'a str>,
    description: Option<&'a str>,
    visibility: Option<&'a str>,
    icon_ref: Option<Option<&'a str>>,
    banner_ref: Option<Option<&'a str>>,
    welcome_message: Option<&'a str>,
    discoverable: Option<bool>,
    updated_at: OffsetDateTime,
}

/// Applies the changes; a private community is never discoverable.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: CommunityId,
    c: &CommunityChanges<'_>,
) -> Result<Community> {
    let row: CommunityRow = diesel::update(communities::table.find(id.0))
        .set(CommunityChangeset {
            name: c.name,
            description: c.description,
            visibility: c.visibility.map(Visibility::as_str),
            icon_ref: c.icon_ref,
            banner_ref: c.banner_ref,
            welcome_message: c.welcome_message,
            discoverable: c.discoverable,
            updated_at: OffsetDateTime::now_utc(),
        })
        .returning(CommunityRow::as_returning())
        .get_result(conn)
        .await?;
    if row.visibility != Visibility::Public.as_str() && row.discoverable {
        diesel::update(communities::table.find(id.0))
            .set(communities::discoverable.eq(false))
            .execute(conn)
            .await?;
        return get(conn, id).await;
    }
    Ok(row.into())
}

/// Deletes a community with its channels, messages, groups, invites and bans.
pub async fn delete(conn: &mut AsyncPgConnection, id: CommunityId) -> Result<bool> {
    let n = diesel::delete(communities::table.find(id.0))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// A member as listed.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: CommunityRole,
    pub joined_at: OffsetDateTime,
    /// The ref of their avatar image, if they set one.
    pub avatar_ref: Option<String>,
}

type MemberRow = (Uuid, String, String, String, OffsetDateTime, Option<String>);

fn member_from((id, username, display_name, role, joined_at, avatar): MemberRow) -> Member {
    Member {
        user_id: UserId(id),
        username,
        display_name,
        role: CommunityRole::parse(&role).unwrap_or(CommunityRole::Member),
        joined_at,
        avatar_ref: avatar,
    }
}

/// The first `limit` members to join, listed by role (highest first), then by join time.
pub async fn members(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    limit: i64,
) -> Result<Vec<Member>> {
    let rows: Vec<MemberRow> = community_members::table
        .inner_join(users::table.left_join(user_profiles::table))
        .filter(community_members::community_id.eq(community.0))
        .order(community_members::joined_at.asc())
        .limit(limit)
        .select((
            users::id,
            users::username,
            users::display_name,
            community_members::role,
            community_members::joined_at,
            user_profiles::avatar_ref.nullable(),
        ))
        .load(conn)
        .await?;
    let mut out: Vec<Member> = rows.into_iter().map(member_from).collect();
    out.sort_by(|a, b| b.role.cmp(&a.role).then(a.joined_at.cmp(&b.joined_at)));
    Ok(out)
}

/// One member, if they are one.
pub async fn member(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> Result<Option<Member>> {
    let row: Option<MemberRow> = community_members::table
        .inner_join(users::table.left_join(user_profiles::table))
        .filter(community_members::community_id.eq(community.0))
        .filter(community_members::user_id.eq(user.0))
        .select((
            users::id,
            users::username,
            users::display_name,
            community_members::role,
            community_members::joined_at,
            user_profiles::avatar_ref.nullable(),
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(member_from))
}

/// How many communities `user` belongs to.
pub async fn count_for_user(conn: &mut AsyncPgConnection, user: UserId) -> Result<i64> {
    Ok(community_members::table
        .filter(community_members::user_id.eq(user.0))
        .count()
        .get_result(conn)
        .await?)
}

/// Every member's id (for live updates).
pub async fn member_ids(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
) -> Result<Vec<UserId>> {
    let ids: Vec<Uuid> = community_members::table
        .filter(community_members::community_id.eq(community.0))
        .select(community_members::user_id)
        .load(conn)
        .await?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// Sets a member's role: false if not a member.
pub async fn set_role(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
    role: CommunityRole,
) -> Result<bool> {
    let n = diesel::update(community_members::table.find((community.0, user.0)))
        .set(community_members::role.eq(role.as_str()))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Removes a member (leave or kick) and their group memberships in this community, and
/// optionally bans them, all at once. False if they were not a member (the ban is still
/// recorded when asked for).
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
    ban: Option<(UserId, &str)>,
) -> Result<bool> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let n = diesel::delete(community_members::table.find((community.0, user.0)))
            .execute(conn)
            .await?;
        let in_community = groups::table
            .filter(groups::community_id.eq(community.0))
            .select(groups::id);
        diesel::delete(
            group_members::table
                .filter(group_members::user_id.eq(user.0))
                .filter(group_members::group_id.eq_any(in_community)),
        )
        .execute(conn)
        .await?;
        if let Some((by, reason)) = ban {
            diesel::insert_into(community_bans::table)
                .values((
                    community_bans::community_id.eq(community.0),
                    community_bans::user_id.eq(user.0),
                    community_bans::banned_by.eq(Some(by.0)),
                    community_bans::reason.eq(reason),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
        }
        Ok(n == 1)
    })
    .await
}

/// Is this user banned from the community?
pub async fn is_banned(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> Result<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        community_bans::table.find((community.0, user.0)),
    ))
    .get_result(conn)
    .await?)
}

/// Lifts a ban: false if there was none.
pub async fn unban(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> Result<bool> {
    let n = diesel::delete(community_bans::table.find((community.0, user.0)))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// A ban as listed.
#[derive(Debug, Clone)]
pub struct Ban {
    pub user_id: UserId,
    pub username: String,
    pub banned_by: Option<UserId>,
    pub reason: String,
    pub created_at: OffsetDateTime,
}

/// The community's bans, newest first.
pub async fn bans(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    limit: i64,
) -> Result<Vec<Ban>> {
    let rows: Vec<(Uuid, String, Option<Uuid>, String, OffsetDateTime)> = community_bans::table
        .inner_join(users::table.on(users::id.eq(community_bans::user_id)))
        .filter(community_bans::community_id.eq(community.0))
        .order(community_bans::created_at.desc())
        .limit(limit)
        .select((
            community_bans::user_id,
            users::username,
            community_bans::banned_by,
            community_bans::reason,
            community_bans::created_at,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(u, username, by, reason, created_at)| Ban {
            user_id: UserId(u),
            username,
            banned_by: by.map(UserId),
            reason,
            created_at,
        })
        .collect())
}

/// A community invite as stored (the code itself is kept only as a hash).
#[derive(Debug, Clone)]
pub struct CommunityInvite {
    pub id: InviteId,
    pub community_id: CommunityId,
    pub created_by: Option<UserId>,
    pub max_uses: Option<i32>,
    pub uses: i32,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

type InviteTuple = (
    Uuid,
    Uuid,
    Option<Uuid>,
    Option<i32>,
    i32,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
    OffsetDateTime,
);

fn invite_from(t: InviteTuple) -> CommunityInvite {
    CommunityInvite {
        id: InviteId(t.0),
        community_id: CommunityId(t.1),
        created_by: t.2.map(UserId),
        max_uses: t.3,
        uses: t.4,
        expires_at: t.5,
        revoked_at: t.6,
        created_at: t.7,
    }
}

const INVITE_COLUMNS: (
    community_invites::id,
    community_invites::community_id,
    community_invites::created_by,
    community_invites::max_uses,
    community_invites::uses,
    community_invites::expires_at,
    community_invites::revoked_at,
    community_invites::created_at,
) = (
    community_invites::id,
    community_invites::community_id,
    community_invites::created_by,
    community_invites::max_uses,
    community_invites::uses,
    community_invites::expires_at,
    community_invites::revoked_at,
    community_invites::created_at,
);

/// Stores a new invite code (as its hash).
pub async fn insert_invite(
    conn: &mut AsyncPgConnection,
    id: InviteId,
    community: CommunityId,
    code_hash: &[u8],
    created_by: UserId,
    max_uses: Option<i32>,
    expires_at: Option<OffsetDateTime>,
) -> Result<CommunityInvite> {
    let t: InviteTuple = diesel::insert_into(community_invites::table)
        .values((
            community_invites::id.eq(id.0),
            community_invites::community_id.eq(community.0),
            community_invites::code_hash.eq(code_hash),
            community_invites::created_by.eq(Some(created_by.0)),
            community_invites::max_uses.eq(max_uses),
            community_invites::expires_at.eq(expires_at),
        ))
        .returning(INVITE_COLUMNS)
        .get_result(conn)
        .await?;
    Ok(invite_from(t))
}

/// The community's invites, newest first.
pub async fn invites(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    limit: i64,
) -> Result<Vec<CommunityInvite>> {
    let rows: Vec<InviteTuple> = community_invites::table
        .filter(community_invites::community_id.eq(community.0))
        .order(community_invites::created_at.desc())
        .limit(limit)
        .select(INVITE_COLUMNS)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(invite_from).collect())
}

/// Revokes an invite of this community: false if there is no such live invite.
pub async fn revoke_invite(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    id: InviteId,
) -> Result<bool> {
    let n = diesel::update(
        community_invites::table
            .find(id.0)
            .filter(community_invites::community_id.eq(community.0))
            .filter(community_invites::revoked_at.is_null()),
    )
    .set(community_invites::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(n == 1)
}
