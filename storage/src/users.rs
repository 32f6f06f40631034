//! Accounts.

use crate::error::{Result, StorageError};
use crate::schema::users;
use chatalot_protocol::api::InstanceRole;
use chatalot_protocol::ids::UserId;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// An account as stored.
#[derive(Clone)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: InstanceRole,
    /// Sealed TOTP secret; set by setup, kept while 2FA is enabled.
    pub totp_secret: Option<Vec<u8>>,
    pub totp_enabled: bool,
    pub totp_last_step: i64,
    pub recovery_code_hash: Option<Vec<u8>>,
    pub suspended_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // hashes and secrets stay out of logs
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct UserRow {
    id: Uuid,
    username: String,
    display_name: String,
    password_hash: String,
    role: String,
    totp_secret: Option<Vec<u8>>,
    totp_enabled: bool,
    totp_last_step: i64,
    recovery_code_hash: Option<Vec<u8>>,
    suspended_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

impl TryFrom<UserRow> for User {
    type Error = StorageError;
    fn try_from(row: UserRow) -> Result<Self> {
        Ok(User {
            id: UserId(row.id),
            username: row.username,
            display_name: row.display_name,
            password_hash: row.password_hash,
            role: role_from_str(&row.role)?,
            totp_secret: row.totp_secret,
            totp_enabled: row.totp_enabled,
            totp_last_step: row.totp_last_step,
            recovery_code_hash: row.recovery_code_hash,
            suspended_at: row.suspended_at,
            created_at: row.created_at,
        })
    }
}

pub(crate) fn role_to_str(role: InstanceRole) -> &'static str {
    match role {
        InstanceRole::Owner => "owner",
        InstanceRole::Admin => "admin",
        InstanceRole::Member => "member",
    }
}

fn role_from_str(s: &str) -> Result<InstanceRole> {
    match s {
        "owner" => Ok(InstanceRole::Owner),
        "admin" => Ok(InstanceRole::Admin),
        "member" => Ok(InstanceRole::Member),
        other => Err(StorageError::Query(format!("unknown role {other:?}"))),
    }
}

/// A new account.
pub struct NewUser<'a> {
    pub id: UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: InstanceRole,
    pub recovery_code_hash: &'a [u8],
}

/// Inserts an account; `Conflict { constraint: "users_username_key" }` when the name is taken.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewUser<'_>) -> Result<User> {
    diesel::insert_into(users::table)
        .values((
            users::id.eq(new.id.0),
            users::username.eq(new.username),
            users::display_name.eq(new.display_name),
            users::password_hash.eq(new.password_hash),
            users::role.eq(role_to_str(new.role)),
            users::recovery_code_hash.eq(new.recovery_code_hash),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await?
        .try_into()
}

/// The account with this id; `NotFound` if there is none.
pub async fn get(conn: &mut AsyncPgConnection, id: UserId) -> Result<User> {
    users::table
        .find(id.0)
        .select(UserRow::as_select())
        .first(conn)
        .await?
        .try_into()
}

/// The account with this (lower-case) username, if any.
pub async fn find_by_username(
    conn: &mut AsyncPgConnection,
    username: &str,
) -> Result<Option<User>> {
    users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(User::try_from)
        .transpose()
}

/// True when at least one account exists.
pub async fn any_exist(conn: &mut AsyncPgConnection) -> Result<bool> {
    Ok(
        diesel::select(diesel::dsl::exists(users::table.select(users::id)))
            .get_result(conn)
            .await?,
    )
}

/// Replaces the password hash.
pub async fn update_password_hash(
    conn: &mut AsyncPgConnection,
    id: UserId,
    hash: &str,
) -> Result<()> {
    let n = diesel::update(users::table.find(id.0))
        .set((
            users::password_hash.eq(hash),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    expect_one(n)
}

/// Replaces the recovery code hash.
pub async fn update_recovery_code_hash(
    conn: &mut AsyncPgConnection,
    id: UserId,
    hash: &[u8],
) -> Result<()> {
    let n = diesel::update(users::table.find(id.0))
        .set((
            users::recovery_code_hash.eq(hash),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    expect_one(n)
}

/// Stores a new, not yet enabled, sealed TOTP secret; only while 2FA is disabled. Returns
/// false when 2FA is already enabled.
pub async fn update_pending_totp_secret(
    conn: &mut AsyncPgConnection,
    id: UserId,
    sealed: &[u8],
) -> Result<bool> {
    let n = diesel::update(
        users::table
            .find(id.0)
            .filter(users::totp_enabled.eq(false)),
    )
    .set((
        users::totp_secret.eq(sealed),
        users::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Turns 2FA on (keeping the stored secret) or off (erasing it).
pub async fn update_totp_enabled(
    conn: &mut AsyncPgConnection,
    id: UserId,
    enabled: bool,
) -> Result<()> {
    let n = if enabled {
        diesel::update(users::table.find(id.0))
            .set((
                users::totp_enabled.eq(true),
                users::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?
    } else {
        diesel::update(users::table.find(id.0))
            .set((
                users::totp_enabled.eq(false),
                users::totp_secret.eq(None::<Vec<u8>>),
                users::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?
    };
    expect_one(n)
}

/// Records `step` as the last accepted TOTP step if it is newer than the stored one: true when
/// this call claimed it, false for a replayed or older code.
pub async fn claim_totp_step(conn: &mut AsyncPgConnection, id: UserId, step: i64) -> Result<bool> {
    let n = diesel::update(
        users::table
            .find(id.0)
            .filter(users::totp_last_step.lt(step)),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Sets or clears the suspension mark.
pub async fn update_suspended(
    conn: &mut AsyncPgConnection,
    id: UserId,
    suspended: bool,
) -> Result<()> {
    let at = suspended.then(OffsetDateTime::now_utc);
    let n = diesel::update(users::table.find(id.0))
        .set((
            users::suspended_at.eq(at),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    expect_one(n)
}

/// Does the instance have its owner?
pub async fn owner_exists(conn: &mut AsyncPgConnection) -> Result<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        users::table
            .filter(users::role.eq("owner"))
            .select(users::id),
    ))
    .get_result(conn)
    .await?)
}

fn expect_one(n: usize) -> Result<()> {
    if n == 0 {
        Err(StorageError::NotFound)
    } else {
        Ok(())
    }
}

/// Sets the instance role (the unique index refuses a second owner).
pub async fn update_role(
    conn: &mut AsyncPgConnection,
    id: UserId,
    role: InstanceRole,
) -> Result<()> {
    let n = diesel::update(users::table.find(id.0))
        .set((
            users::role.eq(crate::users::role_to_str(role)),
            users::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    expect_one(n)
}
