//! The end-to-end key directory: user keys, device certificates with their signed prekeys, and
//! one-time prekeys, each of which is handed out at most once.
//!
//! The storage layer knows nothing of the encodings: callers verify certificates and signatures
//! (with the `crypto` crate) before they store them, and clients verify again what they fetch.

use crate::error::{Result, StorageError};
use crate::schema::{device_keys, one_time_prekeys, user_keys};
use chatalot_protocol::ids::{DeviceId, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// A device's published identity and current signed prekey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKeys {
    pub device_id: DeviceId,
    pub user_id: UserId,
    /// The device certificate encoding (public).
    pub certificate: Vec<u8>,
    pub spk_id: u32,
    pub spk_public: Vec<u8>,
    pub spk_signature: Vec<u8>,
    pub created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = device_keys)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct DeviceKeysRow {
    device_id: Uuid,
    user_id: Uuid,
    certificate: Vec<u8>,
    spk_id: i64,
    spk_public: Vec<u8>,
    spk_signature: Vec<u8>,
    created_at: OffsetDateTime,
}

impl From<DeviceKeysRow> for DeviceKeys {
    fn from(r: DeviceKeysRow) -> Self {
        DeviceKeys {
            device_id: DeviceId(r.device_id),
            user_id: UserId(r.user_id),
            certificate: r.certificate,
            // the column's CHECK keeps it within u32
            spk_id: u32::try_from(r.spk_id).unwrap_or(u32::MAX),
            spk_public: r.spk_public,
            spk_signature: r.spk_signature,
            created_at: r.created_at,
        }
    }
}

/// A signed prekey as stored: key id, public key, signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPreKey {
    pub id: u32,
    pub public: [u8; 32],
    pub signature: [u8; 64],
}

/// A one-time prekey as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneTimePreKey {
    pub id: u32,
    pub public: [u8; 32],
}

/// A device's keys to publish (already verified by the caller).
#[derive(Debug, Clone)]
pub struct NewDeviceKeys<'a> {
    pub device_id: DeviceId,
    pub user_id: UserId,
    /// The user key that signed the certificate.
    pub user_key: &'a [u8; 32],
    pub certificate: &'a [u8],
    pub signed_prekey: &'a SignedPreKey,
    pub one_time_prekeys: &'a [OneTimePreKey],
}

/// What storing keys came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Stored; the device now has this many unclaimed one-time prekeys.
    Ok { one_time_prekeys: u32 },
    /// The certificate is signed by another user key than the one the user already has.
    UserKeyMismatch,
    /// The device already published a different certificate.
    CertificateMismatch,
    /// The device has not published keys.
    NoKeys,
    /// A one-time prekey id is already stored with another public key.
    PreKeyIdTaken(u32),
    /// The upload would leave more than the allowed number of one-time prekeys.
    TooManyPreKeys,
}

/// The user key a user's device certificates must be signed with, if any device published one.
pub async fn find_user_key(conn: &mut AsyncPgConnection, user: UserId) -> Result<Option<Vec<u8>>> {
    Ok(user_keys::table
        .find(user.0)
        .select(user_keys::public_key)
        .first(conn)
        .await
        .optional()?)
}

/// Publishes a device's certificate and signed prekey (and one-time prekeys), all or nothing.
/// The first device of a user fixes the user key. Publishing the same certificate again
/// replaces the signed prekey and adds the one-time prekeys.
pub async fn publish(
    conn: &mut AsyncPgConnection,
    new: &NewDeviceKeys<'_>,
    max_one_time_prekeys: usize,
) -> Result<Stored> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        diesel::insert_into(user_keys::table)
            .values((
                user_keys::user_id.eq(new.user_id.0),
                user_keys::public_key.eq(new.user_key.as_slice()),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        let user_key: Vec<u8> = user_keys::table
            .find(new.user_id.0)
            .select(user_keys::public_key)
            .for_update()
            .first(conn)
            .await?;
        if user_key != new.user_key {
            return Ok(Stored::UserKeyMismatch);
        }
        let spk = new.signed_prekey;
        diesel::insert_into(device_keys::table)
            .values((
                device_keys::device_id.eq(new.device_id.0),
                device_keys::user_id.eq(new.user_id.0),
                device_keys::certificate.eq(new.certificate),
                device_keys::spk_id.eq(i64::from(spk.id)),
                device_keys::spk_public.eq(spk.public.as_slice()),
                device_keys::spk_signature.eq(spk.signature.as_slice()),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        let stored: Vec<u8> = device_keys::table
            .find(new.device_id.0)
            .select(device_keys::certificate)
            .for_update()
            .first(conn)
            .await?;
        if stored != new.certificate {
            return Ok(Stored::CertificateMismatch);
        }
        set_signed_prekey(conn, new.device_id, spk).await?;
        add_one_time_prekeys(
            conn,
            new.device_id,
            new.one_time_prekeys,
            max_one_time_prekeys,
        )
        .await
    })
    .await
}

async fn set_signed_prekey(
    conn: &mut AsyncPgConnection,
    device: DeviceId,
    spk: &SignedPreKey,
) -> Result<usize> {
    Ok(diesel::update(device_keys::table.find(device.0))
        .set((
            device_keys::spk_id.eq(i64::from(spk.id)),
            device_keys::spk_public.eq(spk.public.as_slice()),
            device_keys::spk_signature.eq(spk.signature.as_slice()),
            device_keys::spk_updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?)
}

/// Adds one-time prekeys to a device whose `device_keys` row this transaction has locked.
async fn add_one_time_prekeys(
    conn: &mut AsyncPgConnection,
    device: DeviceId,
    keys: &[OneTimePreKey],
    max: usize,
) -> Result<Stored> {
    let ids: Vec<i64> = keys.iter().map(|k| i64::from(k.id)).collect();
    let existing: Vec<(i64, Vec<u8>)> = one_time_prekeys::table
        .filter(one_time_prekeys::device_id.eq(device.0))
        .filter(one_time_prekeys::key_id.eq_any(&ids))
        .select((one_time_prekeys::key_id, one_time_prekeys::public_key))
        .load(conn)
        .await?;
    let mut fresh: Vec<&OneTimePreKey> = Vec::new();
    for k in keys {
        match existing.iter().find(|(id, _)| *id == i64::from(k.id)) {
            // the same key again (a retried upload): nothing to do
            Some((_, public)) if public.as_slice() == k.public => {}
            Some(_) => return Ok(Stored::PreKeyIdTaken(k.id)),
            None => fresh.push(k),
        }
    }
    let count = count_one_time_prekeys(conn, device).await?;
    if count as usize + fresh.len() > max {
        return Ok(Stored::TooManyPreKeys);
    }
    let rows: Vec<_> = fresh
        .iter()
        .map(|k| {
            (
                one_time_prekeys::device_id.eq(device.0),
                one_time_prekeys::key_id.eq(i64::from(k.id)),
                one_time_prekeys::public_key.eq(k.public.as_slice()),
            )
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(one_time_prekeys::table)
            .values(rows)
            .execute(conn)
            .await?;
    }
    Ok(Stored::Ok {
        one_time_prekeys: count + fresh.len() as u32,
    })
}

async fn count_one_time_prekeys(conn: &mut AsyncPgConnection, device: DeviceId) -> Result<u32> {
    let n: i64 = one_time_prekeys::table
        .filter(one_time_prekeys::device_id.eq(device.0))
        .count()
        .get_result(conn)
        .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Locks a device's keys row for this transaction; false when the device has no keys.
async fn lock_device(conn: &mut AsyncPgConnection, device: DeviceId) -> Result<bool> {
    Ok(device_keys::table
        .find(device.0)
        .select(device_keys::device_id)
        .for_update()
        .first::<Uuid>(conn)
        .await
        .optional()?
        .is_some())
}

/// Replaces a device's signed prekey (already verified by the caller).
pub async fn update_signed_prekey(
    conn: &mut AsyncPgConnection,
    device: DeviceId,
    spk: &SignedPreKey,
) -> Result<Stored> {
    if set_signed_prekey(conn, device, spk).await? == 0 {
        return Ok(Stored::NoKeys);
    }
    let n = count_one_time_prekeys(conn, device).await?;
    Ok(Stored::Ok {
        one_time_prekeys: n,
    })
}

/// Adds one-time prekeys, all or nothing, keeping at most `max` unclaimed per device.
pub async fn insert_one_time_prekeys(
    conn: &mut AsyncPgConnection,
    device: DeviceId,
    keys: &[OneTimePreKey],
    max: usize,
) -> Result<Stored> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        if !lock_device(conn, device).await? {
            return Ok(Stored::NoKeys);
        }
        add_one_time_prekeys(conn, device, keys, max).await
    })
    .await
}

/// A device's keys and the number of its unclaimed one-time prekeys, if it published keys.
pub async fn find_status(
    conn: &mut AsyncPgConnection,
    device: DeviceId,
) -> Result<Option<(DeviceKeys, u32)>> {
    let Some(keys) = find(conn, device).await? else {
        return Ok(None);
    };
    let n = count_one_time_prekeys(conn, device).await?;
    Ok(Some((keys, n)))
}

/// A device's published keys, if any.
pub async fn find(conn: &mut AsyncPgConnection, device: DeviceId) -> Result<Option<DeviceKeys>> {
    Ok(device_keys::table
        .find(device.0)
        .select(DeviceKeysRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(DeviceKeys::from))
}

/// The published keys of these devices (those that have any), in device id order.
pub async fn list_by_ids(
    conn: &mut AsyncPgConnection,
    devices: &[DeviceId],
) -> Result<Vec<DeviceKeys>> {
    let ids: Vec<Uuid> = devices.iter().map(|d| d.0).collect();
    Ok(device_keys::table
        .filter(device_keys::device_id.eq_any(&ids))
        .order(device_keys::device_id)
        .select(DeviceKeysRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(DeviceKeys::from)
        .collect())
}

/// A user's devices with published keys, oldest first.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user: UserId,
    limit: i64,
) -> Result<Vec<DeviceKeys>> {
    Ok(device_keys::table
        .filter(device_keys::user_id.eq(user.0))
        .order((device_keys::created_at, device_keys::device_id))
        .limit(limit)
        .select(DeviceKeysRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(DeviceKeys::from)
        .collect())
}

/// The devices with published keys of these users (the readers of a channel), by user then
/// age.
pub async fn list_for_users(
    conn: &mut AsyncPgConnection,
    users: &[UserId],
    limit: i64,
) -> Result<Vec<DeviceKeys>> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
    Ok(device_keys::table
        .filter(device_keys::user_id.eq_any(&ids))
        .order((
            device_keys::user_id,
            device_keys::created_at,
            device_keys::device_id,
        ))
        .limit(limit)
        .select(DeviceKeysRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(DeviceKeys::from)
        .collect())
}

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    key_id: i64,
    #[diesel(sql_type = diesel::sql_types::Bytea)]
    public_key: Vec<u8>,
}

/// Takes one of the device's one-time prekeys, deleting it: each is handed out at most once,
/// also under concurrent claims (a row another claim holds locked is skipped).
pub async fn claim_one_time_prekey(
    conn: &mut AsyncPgConnection,
    device: DeviceId,
) -> Result<Option<OneTimePreKey>> {
    let row: Option<ClaimedRow> = diesel::sql_query(
        "DELETE FROM one_time_prekeys WHERE (device_id, key_id) IN (\
             SELECT device_id, key_id FROM one_time_prekeys WHERE device_id = $1 \
             ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING key_id, public_key",
    )
    .bind::<diesel::sql_types::Uuid, _>(device.0)
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.and_then(|r| {
        Some(OneTimePreKey {
            id: u32::try_from(r.key_id).ok()?,
            public: r.public_key.try_into().ok()?,
        })
    }))
}
