//! Devices: one per client installation of a user.

use crate::error::{Result, StorageError};
use crate::schema::{device_keys, devices, link_requests, sessions};
use chatalot_protocol::ids::{DeviceId, SessionId, UserId};
use diesel::prelude::*;
use diesel_async::AsyncConnection;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// A device as stored.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: DeviceId,
    pub user_id: UserId,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = devices)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct DeviceRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    created_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
}

impl From<DeviceRow> for Device {
    fn from(r: DeviceRow) -> Self {
        Device {
            id: DeviceId(r.id),
            user_id: UserId(r.user_id),
            name: r.name,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
        }
    }
}

/// Inserts a device whose secret hashes to `secret_hash`.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    id: DeviceId,
    user: UserId,
    name: &str,
    secret_hash: &[u8],
) -> Result<Device> {
    Ok(diesel::insert_into(devices::table)
        .values((
            devices::id.eq(id.0),
            devices::user_id.eq(user.0),
            devices::name.eq(name),
            devices::secret_hash.eq(secret_hash),
        ))
        .returning(DeviceRow::as_returning())
        .get_result(conn)
        .await?
        .into())
}

/// The device with this id belonging to `user` whose secret hashes to `secret_hash`, if any.
pub async fn find_by_secret(
    conn: &mut AsyncPgConnection,
    id: DeviceId,
    user: UserId,
    secret_hash: &[u8],
) -> Result<Option<Device>> {
    Ok(devices::table
        .filter(devices::id.eq(id.0))
        .filter(devices::user_id.eq(user.0))
        .filter(devices::secret_hash.eq(secret_hash))
        .filter(devices::removed_at.is_null())
        .select(DeviceRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Device::from))
}

/// One of `user`'s devices (not removed), if any.
pub async fn find(
    conn: &mut AsyncPgConnection,
    user: UserId,
    id: DeviceId,
) -> Result<Option<Device>> {
    Ok(devices::table
        .filter(devices::id.eq(id.0))
        .filter(devices::user_id.eq(user.0))
        .filter(devices::removed_at.is_null())
        .select(DeviceRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Device::from))
}

/// Marks the device as seen now.
pub async fn update_last_seen(conn: &mut AsyncPgConnection, id: DeviceId) -> Result<()> {
    diesel::update(devices::table.find(id.0))
        .set(devices::last_seen_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

/// A user's devices, most recently seen first.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user: UserId,
    limit: i64,
) -> Result<Vec<Device>> {
    Ok(devices::table
        .filter(devices::user_id.eq(user.0))
        .filter(devices::removed_at.is_null())
        .order(devices::last_seen_at.desc())
        .limit(limit)
        .select(DeviceRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(Device::from)
        .collect())
}

/// Renames one of `user`'s devices; false when it has no such device.
pub async fn rename(
    conn: &mut AsyncPgConnection,
    user: UserId,
    id: DeviceId,
    name: &str,
) -> Result<bool> {
    let n = diesel::update(
        devices::table
            .find(id.0)
            .filter(devices::user_id.eq(user.0))
            .filter(devices::removed_at.is_null()),
    )
    .set(devices::name.eq(name))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Removes one of `user`'s devices in one transaction: marks it removed (it is no longer
/// listed and its secret no longer logs in), revokes its sessions and deletes its published
/// keys (with its prekeys and queued envelopes) and its link request. Returns the sessions
/// revoked, or None when `user` has no such device.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    user: UserId,
    id: DeviceId,
) -> Result<Option<Vec<SessionId>>> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let n = diesel::update(
            devices::table
                .find(id.0)
                .filter(devices::user_id.eq(user.0))
                .filter(devices::removed_at.is_null()),
        )
        .set(devices::removed_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
        if n == 0 {
            return Ok(None);
        }
        let revoked: Vec<Uuid> = diesel::update(
            sessions::table
                .filter(sessions::device_id.eq(id.0))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((
            sessions::revoked_at.eq(diesel::dsl::now),
            sessions::revoked_reason.eq("device_removed"),
        ))
        .returning(sessions::id)
        .get_results(conn)
        .await?;
        diesel::delete(device_keys::table.find(id.0))
            .execute(conn)
            .await?;
        diesel::delete(link_requests::table.find(id.0))
            .execute(conn)
            .await?;
        Ok(Some(revoked.into_iter().map(SessionId).collect()))
    })
    .await
}
