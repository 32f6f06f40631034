//! Public profiles and blocks between users.

use crate::error::{Result, StorageError};
use crate::schema::{user_blocks, user_profiles, users};
use chatalot_protocol::ids::UserId;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// What other users see of an account.
#[derive(Debug, Clone)]
pub struct Profile {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub pronouns: String,
    pub custom_status: String,
    pub avatar_ref: Option<String>,
    pub banner_ref: Option<String>,
    pub created_at: OffsetDateTime,
}

type ProfileTuple = (
    Uuid,
    String,
    String,
    Option<(String, String, String, Option<String>, Option<String>)>,
    OffsetDateTime,
);

fn from_tuple(t: ProfileTuple) -> Profile {
    let (bio, pronouns, custom_status, avatar_ref, banner_ref) = t.3.unwrap_or_default();
    Profile {
        id: UserId(t.0),
        username: t.1,
        display_name: t.2,
        bio,
        pronouns,
        custom_status,
        avatar_ref,
        banner_ref,
        created_at: t.4,
    }
}

macro_rules! profile_query {
    () => {
        users::table.left_join(user_profiles::table).select((
            users::id,
            users::username,
            users::display_name,
            (
                user_profiles::bio,
                user_profiles::pronouns,
                user_profiles::custom_status,
                user_profiles::avatar_ref,
                user_profiles::banner_ref,
            )
                .nullable(),
            users::created_at,
        ))
    };
}

/// The profile of this user (suspended accounts too: their messages still show a name).
pub async fn get(conn: &mut AsyncPgConnection, id: UserId) -> Result<Profile> {
    let t: ProfileTuple = profile_query!()
        .filter(users::id.eq(id.0))
        .first(conn)
        .await?;
    Ok(from_tuple(t))
}

/// The profile with this exact (lower-case) username.
pub async fn find_by_username(conn: &mut AsyncPgConnection, username: &str) -> Result<Profile> {
    let t: ProfileTuple = profile_query!()
        .filter(users::username.eq(username))
        .first(conn)
        .await?;
    Ok(from_tuple(t))
}

/// Changes to a profile; None leaves a field as it is.
#[derive(Default)]
pub struct ProfileChanges<'a> {
    pub display_name: Option<&'a str>,
    pub bio: Option<&'a str>,
    pub pronouns: Option<&'a str>,
    pub custom_status: Option<&'a str>,
    pub avatar_ref: Option<Option<&'a str>>,
    pub banner_ref: Option<Option<&'a str>>,
}

#[derive(AsChangeset)]
#[diesel(table_name = user_profiles)]
struct ProfileChangeset<'a> {
    bio: Option<&'a str>,
    pronouns: Option<&'a str>,
    custom_status: Option<&'a str>,
    avatar_ref: Option<Option<&'a str>>,
    banner_ref: Option<Option<&'a str>>,
    updated_at: OffsetDateTime,
}

/// Applies the changes, all or nothing, and returns the profile.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: UserId,
    c: &ProfileChanges<'_>,
) -> Result<Profile> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        if let Some(name) = c.display_name {
            diesel::update(users::table.find(id.0))
                .set((
                    users::display_name.eq(name),
                    users::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
        }
        let rest = c.bio.is_some()
            || c.pronouns.is_some()
            || c.custom_status.is_some()
            || c.avatar_ref.is_some()
            || c.banner_ref.is_some();
        if rest {
            diesel::insert_into(user_profiles::table)
                .values(user_profiles::user_id.eq(id.0))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            diesel::update(user_profiles::table.find(id.0))
                .set(ProfileChangeset {
                    bio: c.bio,
                    pronouns: c.pronouns,
                    custom_status: c.custom_status,
                    avatar_ref: c.avatar_ref,
                    banner_ref: c.banner_ref,
                    updated_at: OffsetDateTime::now_utc(),
                })
                .execute(conn)
                .await?;
        }
        get(conn, id).await
    })
    .await
}

/// `blocker` blocks `blocked`: true if new.
pub async fn block(conn: &mut AsyncPgConnection, blocker: UserId, blocked: UserId) -> Result<bool> {
    let n = diesel::insert_into(user_blocks::table)
        .values((
            user_blocks::blocker_id.eq(blocker.0),
            user_blocks::blocked_id.eq(blocked.0),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// How many users `blocker` has blocked.
pub async fn count_blocks(conn: &mut AsyncPgConnection, blocker: UserId) -> Result<i64> {
    Ok(user_blocks::table
        .filter(user_blocks::blocker_id.eq(blocker.0))
        .count()
        .get_result(conn)
        .await?)
}

/// Lifts a block: false if there was none.
pub async fn unblock(
    conn: &mut AsyncPgConnection,
    blocker: UserId,
    blocked: UserId,
) -> Result<bool> {
    let n = diesel::delete(user_blocks::table.find((blocker.0, blocked.0)))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// The users `blocker` has blocked, newest first (one query).
pub async fn blocked(
    conn: &mut AsyncPgConnection,
    blocker: UserId,
    limit: i64,
) -> Result<Vec<Profile>> {
    let rows: Vec<ProfileTuple> = user_blocks::table
        .inner_join(users::table.on(users::id.eq(user_blocks::blocked_id)))
        .left_join(user_profiles::table.on(user_profiles::user_id.eq(users::id)))
        .filter(user_blocks::blocker_id.eq(blocker.0))
        .order(user_blocks::created_at.desc())
        .limit(limit)
        .select((
            users::id,
            users::username,
            users::display_name,
            (
                user_profiles::bio,
                user_profiles::pronouns,
                user_profiles::custom_status,
                user_profiles::avatar_ref,
                user_profiles::banner_ref,
            )
                .nullable(),
            users::created_at,
        ))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(from_tuple).collect())
}
