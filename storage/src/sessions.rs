//! Login sessions and their families of rotating refresh tokens.
//!
//! A session is created at login and lives on one device. Each refresh token is used once: a
//! refresh marks the presented token used and issues the next one. Presenting a used token again
//! means it was copied, so the whole session (the family) is revoked.

use crate::error::{Result, StorageError};
use crate::schema::{devices, refresh_tokens, sessions};
use chatalot_protocol::ids::{DeviceId, SessionId, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// A session as stored.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl Session {
    /// True while the session is neither revoked nor expired.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    device_id: Uuid,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: OffsetDateTime,
    last_used_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: SessionId(r.id),
            user_id: UserId(r.user_id),
            device_id: DeviceId(r.device_id),
            ip: r.ip,
            user_agent: r.user_agent,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// A new session.
pub struct NewSession<'a> {
    pub id: SessionId,
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub expires_at: OffsetDateTime,
}

/// Why a session was revoked, as stored in `revoked_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    Logout,
    Revoked,
    LogoutAll,
    PasswordChanged,
    Recovered,
    RefreshReuse,
    Suspended,
    DeviceRemoved,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::Revoked => "revoked",
            RevokeReason::LogoutAll => "logout_all",
            RevokeReason::PasswordChanged => "password_changed",
            RevokeReason::Recovered => "recovered",
            RevokeReason::RefreshReuse => "refresh_reuse",
            RevokeReason::Suspended => "suspended",
            RevokeReason::DeviceRemoved => "device_removed",
        }
    }
}

/// Inserts a session together with its first refresh token (hash).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewSession<'_>,
    refresh_hash: &[u8],
) -> Result<Session> {
    let row = diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(new.id.0),
            sessions::user_id.eq(new.user_id.0),
            sessions::device_id.eq(new.device_id.0),
            sessions::ip.eq(new.ip),
            sessions::user_agent.eq(new.user_agent),
            sessions::expires_at.eq(new.expires_at),
        ))
        .returning(SessionRow::as_returning())
        .get_result(conn)
        .await?;
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(refresh_hash),
            refresh_tokens::session_id.eq(new.id.0),
        ))
        .execute(conn)
        .await?;
    Ok(row.into())
}

/// The session with this id; `NotFound` if there is none.
pub async fn get(conn: &mut AsyncPgConnection, id: SessionId) -> Result<Session> {
    Ok(sessions::table
        .find(id.0)
        .select(SessionRow::as_select())
        .first(conn)
        .await?
        .into())
}

/// A user's active sessions with their device names, most recently used first.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user: UserId,
    limit: i64,
) -> Result<Vec<(Session, String)>> {
    let rows: Vec<(SessionRow, String)> = sessions::table
        .inner_join(devices::table)
        .filter(sessions::user_id.eq(user.0))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .order(sessions::last_used_at.desc())
        .limit(limit)
        .select((SessionRow::as_select(), devices::name))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|(s, name)| (s.into(), name)).collect())
}

/// Revokes one active session of `user`: false if there is no such active session.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    id: SessionId,
    user: UserId,
    reason: RevokeReason,
) -> Result<bool> {
    let n = diesel::update(
        sessions::table
            .find(id.0)
            .filter(sessions::user_id.eq(user.0))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(diesel::dsl::now),
        sessions::revoked_reason.eq(reason.as_str()),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Revokes every unrevoked session of `user` except `keep`, returning the ids revoked.
pub async fn revoke_all_for_user(
    conn: &mut AsyncPgConnection,
    user: UserId,
    keep: Option<SessionId>,
    reason: RevokeReason,
) -> Result<Vec<SessionId>> {
    let keep = keep.map(|k| k.0).unwrap_or(Uuid::nil());
    let ids: Vec<Uuid> = diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user.0))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::id.ne(keep)),
    )
    .set((
        sessions::revoked_at.eq(diesel::dsl::now),
        sessions::revoked_reason.eq(reason.as_str()),
    ))
    .returning(sessions::id)
    .get_results(conn)
    .await?;
    Ok(ids.into_iter().map(SessionId).collect())
}

/// Ids of sessions revoked at or after `since` (at most `limit`), to warm the revocation set.
pub async fn list_revoked_since(
    conn: &mut AsyncPgConnection,
    since: OffsetDateTime,
    limit: i64,
) -> Result<Vec<SessionId>> {
    let ids: Vec<Uuid> = sessions::table
        .filter(sessions::revoked_at.ge(since))
        .order(sessions::revoked_at.desc())
        .limit(limit)
        .select(sessions::id)
        .load(conn)
        .await?;
    Ok(ids.into_iter().map(SessionId).collect())
}

/// Outcome of presenting a refresh token.
#[derive(Debug)]
pub enum Rotation {
    /// The token was valid: it is now used, `new_hash` is the session's current token.
    Rotated(Session),
    /// The token had been used before: the session is now revoked.
    Reused(Session),
    /// Unknown token, or its session is revoked or expired.
    Invalid,
}

/// Atomically exchanges the refresh token `presented` for `next`, extending the session to
/// `expires_at`. Concurrent presentations of one token are serialised by a row lock: exactly one
/// rotates, the others count as reuse.
pub async fn rotate_refresh(
    conn: &mut AsyncPgConnection,
    presented: &[u8],
    next: &[u8],
    expires_at: OffsetDateTime,
) -> Result<Rotation> {
    let presented = presented.to_vec();
    let next = next.to_vec();
    conn.transaction::<_, StorageError, _>(async |conn| {
        let found: Option<(Option<OffsetDateTime>, SessionRow)> = refresh_tokens::table
            .inner_join(sessions::table)
            .filter(refresh_tokens::token_hash.eq(&presented))
            .select((refresh_tokens::used_at, SessionRow::as_select()))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((used_at, row)) = found else {
            return Ok(Rotation::Invalid);
        };
        let session: Session = row.into();
        let now = OffsetDateTime::now_utc();
        if used_at.is_some() {
            if session.revoked_at.is_none() {
                revoke(
                    conn,
                    session.id,
                    session.user_id,
                    RevokeReason::RefreshReuse,
                )
                .await?;
            }
            return Ok(Rotation::Reused(session));
        }
        if !session.is_active(now) {
            return Ok(Rotation::Invalid);
        }
        diesel::update(refresh_tokens::table.find(&presented))
            .set(refresh_tokens::used_at.eq(now))
            .execute(conn)
            .await?;
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::token_hash.eq(&next),
                refresh_tokens::session_id.eq(session.id.0),
            ))
            .execute(conn)
            .await?;
        let row = diesel::update(sessions::table.find(session.id.0))
            .set((
                sessions::last_used_at.eq(now),
                sessions::expires_at.eq(expires_at),
            ))
            .returning(SessionRow::as_returning())
            .get_result(conn)
            .await?;
        Ok(Rotation::Rotated(row.into()))
    })
    .await
}
