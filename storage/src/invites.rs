//! Registration invite codes.

use crate::error::Result;
use crate::schema::invites;
use chatalot_protocol::ids::{InviteId, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// An invite as stored.
#[derive(Debug, Clone)]
pub struct Invite {
    pub id: InviteId,
    pub code: String,
    pub created_by: Option<UserId>,
    pub max_uses: Option<i32>,
    pub uses: i32,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = invites)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct InviteRow {
    id: Uuid,
    code: String,
    created_by: Option<Uuid>,
    max_uses: Option<i32>,
    uses: i32,
    expires_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

impl From<InviteRow> for Invite {
    fn from(r: InviteRow) -> Self {
        Invite {
            id: InviteId(r.id),
            code: r.code,
            created_by: r.created_by.map(UserId),
            max_uses: r.max_uses,
            uses: r.uses,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        }
    }
}

/// A new invite.
pub struct NewInvite<'a> {
    pub id: InviteId,
    pub code: &'a str,
    pub created_by: UserId,
    pub max_uses: Option<i32>,
    pub expires_at: Option<OffsetDateTime>,
}

/// Inserts an invite.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewInvite<'_>) -> Result<Invite> {
    Ok(diesel::insert_into(invites::table)
        .values((
            invites::id.eq(new.id.0),
            invites::code.eq(new.code),
            invites::created_by.eq(new.created_by.0),
            invites::max_uses.eq(new.max_uses),
            invites::expires_at.eq(new.expires_at),
        ))
        .returning(InviteRow::as_returning())
        .get_result(conn)
        .await?
        .into())
}

/// The newest invites, at most `limit`.
pub async fn list(conn: &mut AsyncPgConnection, limit: i64) -> Result<Vec<Invite>> {
    Ok(invites::table
        .order(invites::created_at.desc())
        .limit(limit)
        .select(InviteRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(Invite::from)
        .collect())
}

/// Revokes an invite: false if it does not exist or was already revoked.
pub async fn revoke(conn: &mut AsyncPgConnection, id: InviteId) -> Result<bool> {
    let n = diesel::update(
        invites::table
            .find(id.0)
            .filter(invites::revoked_at.is_null()),
    )
    .set(invites::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Atomically uses the invite with this code once if it is live (not revoked, not expired,
/// uses left): its id, or None.
pub async fn claim_use(conn: &mut AsyncPgConnection, code: &str) -> Result<Option<InviteId>> {
    let id: Option<Uuid> = diesel::update(
        invites::table
            .filter(invites::code.eq(code))
            .filter(invites::revoked_at.is_null())
            .filter(
                invites::expires_at
                    .is_null()
                    .or(invites::expires_at.gt(diesel::dsl::now)),
            )
            .filter(
                invites::max_uses
                    .is_null()
                    .or(invites::uses.lt(invites::max_uses.assume_not_null())),
            ),
    )
    .set(invites::uses.eq(invites::uses + 1))
    .returning(invites::id)
    .get_result(conn)
    .await
    .optional()?;
    Ok(id.map(InviteId))
}
