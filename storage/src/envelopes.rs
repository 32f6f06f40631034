//! Device-to-device envelopes: opaque ciphertext queued for a recipient device until it
//! acknowledges it. The queue of each device is bounded; a send that would overflow any
//! recipient's queue stores nothing.

use crate::error::{Result, StorageError};
use crate::schema::{device_keys, envelopes};
use chatalot_protocol::ids::{ChannelId, DeviceId, EnvelopeId, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// A queued envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    pub id: EnvelopeId,
    pub recipient_device_id: DeviceId,
    pub sender_user_id: UserId,
    pub sender_device_id: DeviceId,
    pub channel_id: Option<ChannelId>,
    pub ciphertext: Vec<u8>,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // ciphertext never reaches logs
        f.debug_struct("Envelope")
            .field("id", &self.id)
            .field("recipient_device_id", &self.recipient_device_id)
            .field("sender_device_id", &self.sender_device_id)
            .field("bytes", &self.ciphertext.len())
            .finish()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = envelopes)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct EnvelopeRow {
    id: Uuid,
    recipient_device_id: Uuid,
    sender_user_id: Uuid,
    sender_device_id: Uuid,
    channel_id: Option<Uuid>,
    ciphertext: Vec<u8>,
    created_at: OffsetDateTime,
}

impl From<EnvelopeRow> for Envelope {
    fn from(r: EnvelopeRow) -> Self {
        Envelope {
            id: EnvelopeId(r.id),
            recipient_device_id: DeviceId(r.recipient_device_id),
            sender_user_id: UserId(r.sender_user_id),
            sender_device_id: DeviceId(r.sender_device_id),
            channel_id: r.channel_id.map(ChannelId),
            ciphertext: r.ciphertext,
            created_at: r.created_at,
        }
    }
}

/// One envelope to queue.
#[derive(Clone)]
pub struct NewEnvelope {
    pub recipient_device_id: DeviceId,
    pub channel_id: Option<ChannelId>,
    pub ciphertext: Vec<u8>,
}

/// What a send came to.
#[derive(Debug)]
pub enum Queued {
    /// Every envelope is stored, in the order given.
    Stored(Vec<Envelope>),
    /// This recipient has no published keys (or does not exist); nothing stored.
    UnknownRecipient(DeviceId),
    /// This recipient's queue would exceed its bounds; nothing stored.
    QueueFull(DeviceId),
    /// The sender's share of this recipient's queue would be exceeded; nothing stored.
    ShareFull(DeviceId),
}

/// The bounds of each device's queue: in all, and for what one sending user may hold in it.
#[derive(Debug, Clone, Copy)]
pub struct QueueCaps {
    pub envelopes: i64,
    pub bytes: i64,
    pub sender_envelopes: i64,
    pub sender_bytes: i64,
}

#[derive(QueryableByName)]
struct QueueRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    device: Uuid,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bytes: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    mine_n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    mine_bytes: i64,
}

/// Queues envelopes from one sender device, all or nothing, keeping every recipient's queue
/// within `caps`, in all and for this sending user. The recipients' key rows are locked in id
/// order, so concurrent sends to the same device count correctly and cannot deadlock.
pub async fn insert_batch(
    conn: &mut AsyncPgConnection,
    sender_user: UserId,
    sender_device: DeviceId,
    batch: &[NewEnvelope],
    caps: QueueCaps,
) -> Result<Queued> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let mut wanted: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
        for e in batch {
            let w = wanted.entry(e.recipient_device_id.0).or_default();
            w.0 += 1;
            w.1 += e.ciphertext.len() as i64;
        }
        let ids: Vec<Uuid> = wanted.keys().copied().collect();
        let present: Vec<Uuid> = device_keys::table
            .filter(device_keys::device_id.eq_any(&ids))
            .order(device_keys::device_id)
            .select(device_keys::device_id)
            .for_update()
            .load(conn)
            .await?;
        if let Some(missing) = ids.iter().find(|id| !present.contains(id)) {
            return Ok(Queued::UnknownRecipient(DeviceId(*missing)));
        }
        // octet_length reads a stored value's size without fetching it
        let queued: Vec<QueueRow> = diesel::sql_query(
            "SELECT recipient_device_id AS device, count(*) AS n, \
                    COALESCE(sum(octet_length(ciphertext)), 0)::bigint AS bytes, \
                    count(*) FILTER (WHERE sender_user_id = $2) AS mine_n, \
                    COALESCE(sum(octet_length(ciphertext)) FILTER (WHERE sender_user_id = $2), 0)::bigint AS mine_bytes \
             FROM envelopes WHERE recipient_device_id = ANY($1) \
             GROUP BY recipient_device_id",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(&ids)
        .bind::<diesel::sql_types::Uuid, _>(sender_user.0)
        .load(conn)
        .await?;
        for (device, (n, bytes)) in &wanted {
            let q = queued.iter().find(|q| q.device == *device);
            let (all_n, all_b, mine_n, mine_b) =
                q.map_or((0, 0, 0, 0), |q| (q.n, q.bytes, q.mine_n, q.mine_bytes));
            if mine_n + n > caps.sender_envelopes || mine_b + bytes > caps.sender_bytes {
                return Ok(Queued::ShareFull(DeviceId(*device)));
            }
            if all_n + n > caps.envelopes || all_b + bytes > caps.bytes {
                return Ok(Queued::QueueFull(DeviceId(*device)));
            }
        }
        let rows: Vec<_> = batch
            .iter()
            .map(|e| {
                (
                    envelopes::id.eq(EnvelopeId::new().0),
                    envelopes::recipient_device_id.eq(e.recipient_device_id.0),
                    envelopes::sender_user_id.eq(sender_user.0),
                    envelopes::sender_device_id.eq(sender_device.0),
                    envelopes::channel_id.eq(e.channel_id.map(|c| c.0)),
                    envelopes::ciphertext.eq(e.ciphertext.as_slice()),
                )
            })
            .collect();
        let stored: Vec<EnvelopeRow> = diesel::insert_into(envelopes::table)
            .values(rows)
            .returning(EnvelopeRow::as_returning())
            .get_results(conn)
            .await?;
        Ok(Queued::Stored(
            stored.into_iter().map(Envelope::from).collect(),
        ))
    })
    .await
}

/// The oldest envelopes queued for a device, in the order they were queued.
pub async fn list_for_device(
    conn: &mut AsyncPgConnection,
    device: DeviceId,
    limit: i64,
) -> Result<Vec<Envelope>> {
    Ok(envelopes::table
        .filter(envelopes::recipient_device_id.eq(device.0))
        .order(envelopes::seq)
        .limit(limit)
        .select(EnvelopeRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(Envelope::from)
        .collect())
}

/// Removes acknowledged envelopes of a device; ids of other devices' envelopes are ignored.
/// Returns how many were removed.
pub async fn delete_for_device(
    conn: &mut AsyncPgConnection,
    device: DeviceId,
    ids: &[EnvelopeId],
) -> Result<u64> {
    let ids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
    let n = diesel::delete(
        envelopes::table
            .filter(envelopes::recipient_device_id.eq(device.0))
            .filter(envelopes::id.eq_any(&ids)),
    )
    .execute(conn)
    .await?;
    Ok(n as u64)
}
