//! Devices: one per client installation of a user.

use crate::error::Result;
use crate::schema::devices;
use chatalot_protocol::ids::{DeviceId, UserId};
use diesel::prelude::*;
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
        .order(devices::last_seen_at.desc())
        .limit(limit)
        .select(DeviceRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(Device::from)
        .collect())
}
