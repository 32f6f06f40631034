//! Pending device links (docs/e2e.md section 18.2): a new device's `LinkRequest` and, once a
//! device of the same account answered it, the `LinkResponse`. Both are opaque to the server;
//! it relays them. One request per device; requests expire, and expired ones are deleted as
//! the account's requests are next touched.

use crate::error::{Result, StorageError};
use crate::schema::link_requests;
use chatalot_protocol::ids::{DeviceId, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

/// A pending link request.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkRequest {
    pub device_id: DeviceId,
    pub user_id: UserId,
    pub request: Vec<u8>,
    pub response: Option<Vec<u8>>,
    pub responder_device_id: Option<DeviceId>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for LinkRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkRequest")
            .field("device_id", &self.device_id)
            .field("answered", &self.response.is_some())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = link_requests)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct Row {
    device_id: uuid::Uuid,
    user_id: uuid::Uuid,
    request: Vec<u8>,
    response: Option<Vec<u8>>,
    responder_device_id: Option<uuid::Uuid>,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

impl From<Row> for LinkRequest {
    fn from(r: Row) -> Self {
        LinkRequest {
            device_id: DeviceId(r.device_id),
            user_id: UserId(r.user_id),
            request: r.request,
            response: r.response,
            responder_device_id: r.responder_device_id.map(DeviceId),
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

/// What storing a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    Stored(LinkRequest),
    /// The account has `max` other requests pending.
    TooMany,
}

async fn delete_expired(conn: &mut AsyncPgConnection, user: UserId) -> Result<()> {
    diesel::delete(
        link_requests::table
            .filter(link_requests::user_id.eq(user.0))
            .filter(link_requests::expires_at.le(diesel::dsl::now)),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores (or replaces, unanswered) `device`'s request, pending until `ttl` from now, unless
/// the account already has `max` other pending requests.
pub async fn put(
    conn: &mut AsyncPgConnection,
    user: UserId,
    device: DeviceId,
    request: &[u8],
    ttl: time::Duration,
    max: usize,
) -> Result<Put> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        delete_expired(conn, user).await?;
        let others: i64 = link_requests::table
            .filter(link_requests::user_id.eq(user.0))
            .filter(link_requests::device_id.ne(device.0))
            .count()
            .get_result(conn)
            .await?;
        if others >= max as i64 {
            return Ok(Put::TooMany);
        }
        let expires_at = OffsetDateTime::now_utc() + ttl;
        let row: Row = diesel::insert_into(link_requests::table)
            .values((
                link_requests::device_id.eq(device.0),
                link_requests::user_id.eq(user.0),
                link_requests::request.eq(request),
                link_requests::expires_at.eq(expires_at),
            ))
            .on_conflict(link_requests::device_id)
            .do_update()
            .set((
                link_requests::request.eq(request),
                link_requests::response.eq(None::<Vec<u8>>),
                link_requests::responder_device_id.eq(None::<uuid::Uuid>),
                link_requests::created_at.eq(diesel::dsl::now),
                link_requests::expires_at.eq(expires_at),
            ))
            .returning(Row::as_returning())
            .get_result(conn)
            .await?;
        Ok(Put::Stored(row.into()))
    })
    .await
}

/// The account's pending (unexpired, unanswered) requests, oldest first, at most `limit`.
pub async fn list_pending(
    conn: &mut AsyncPgConnection,
    user: UserId,
    limit: i64,
) -> Result<Vec<LinkRequest>> {
    delete_expired(conn, user).await?;
    let rows: Vec<Row> = link_requests::table
        .filter(link_requests::user_id.eq(user.0))
        .filter(link_requests::response.is_null())
        .order((
            link_requests::created_at.asc(),
            link_requests::device_id.asc(),
        ))
        .limit(limit)
        .select(Row::as_select())
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// `device`'s request, if it has one that has not expired.
pub async fn find(conn: &mut AsyncPgConnection, device: DeviceId) -> Result<Option<LinkRequest>> {
    let row: Option<Row> = link_requests::table
        .find(device.0)
        .filter(link_requests::expires_at.gt(diesel::dsl::now))
        .select(Row::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(Into::into))
}

/// What answering a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Stored,
    /// No unexpired request of this account for that device.
    NoRequest,
    /// The request has an answer already (a request is answered once).
    Answered,
}

/// Stores `response` as the answer to `device`'s pending request in `user`'s account, once.
pub async fn answer(
    conn: &mut AsyncPgConnection,
    user: UserId,
    device: DeviceId,
    responder: DeviceId,
    response: &[u8],
) -> Result<Answer> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let current: Option<Option<Vec<u8>>> = link_requests::table
            .find(device.0)
            .filter(link_requests::user_id.eq(user.0))
            .filter(link_requests::expires_at.gt(diesel::dsl::now))
            .select(link_requests::response)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        match current {
            None => Ok(Answer::NoRequest),
            Some(Some(_)) => Ok(Answer::Answered),
            Some(None) => {
                diesel::update(link_requests::table.find(device.0))
                    .set((
                        link_requests::response.eq(response),
                        link_requests::responder_device_id.eq(responder.0),
                    ))
                    .execute(conn)
                    .await?;
                Ok(Answer::Stored)
            }
        }
    })
    .await
}

/// Deletes `device`'s request (cancelled, or the device is linked). True if there was one.
pub async fn delete(conn: &mut AsyncPgConnection, device: DeviceId) -> Result<bool> {
    Ok(diesel::delete(link_requests::table.find(device.0))
        .execute(conn)
        .await?
        > 0)
}
