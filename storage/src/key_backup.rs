//! An account's secret storage and encrypted key backup (docs/e2e.md sections 18.3–18.4), and
//! the reset that drops every key of an account (18.6). The bytes are opaque: the server
//! orders the writes (each storage version and each head the next one, chunks appended at the
//! next number) and bounds them; clients check everything else.

use crate::error::{Result, StorageError};
use crate::schema::{
    device_keys, key_backup_chunks, key_backups, link_requests, secret_storage, user_keys,
};
use chatalot_protocol::ids::UserId;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

/// The stored secret storage.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretStorage {
    pub version: u64,
    pub storage: Vec<u8>,
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for SecretStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStorage")
            .field("version", &self.version)
            .field("bytes", &self.storage.len())
            .finish()
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StorageError::Query("value out of range".into()))
}

/// The account's secret storage, if any.
pub async fn find_secret_storage(
    conn: &mut AsyncPgConnection,
    user: UserId,
) -> Result<Option<SecretStorage>> {
    let row: Option<(i64, Vec<u8>, OffsetDateTime)> = secret_storage::table
        .find(user.0)
        .select((
            secret_storage::version,
            secret_storage::storage,
            secret_storage::updated_at,
        ))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(version, storage, updated_at)| SecretStorage {
        version: to_u64(version),
        storage,
        updated_at,
    }))
}

/// What a compare-and-swap write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap<T> {
    Stored(T),
    /// The write was not the next one: the current version (0: none yet).
    Stale {
        current: u64,
    },
}

/// Stores `storage` as version `version`, which must be the next one (1 when there is none).
pub async fn put_secret_storage(
    conn: &mut AsyncPgConnection,
    user: UserId,
    version: u64,
    storage: &[u8],
) -> Result<Swap<SecretStorage>> {
    let v = to_i64(version)?;
    conn.transaction::<_, StorageError, _>(async |conn| {
        let current: Option<i64> = secret_storage::table
            .find(user.0)
            .select(secret_storage::version)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let current = current.unwrap_or(0);
        if v != current + 1 {
            return Ok(Swap::Stale {
                current: to_u64(current),
            });
        }
        let (version, storage, updated_at): (i64, Vec<u8>, OffsetDateTime) =
            diesel::insert_into(secret_storage::table)
                .values((
                    secret_storage::user_id.eq(user.0),
                    secret_storage::version.eq(v),
                    secret_storage::storage.eq(storage),
                ))
                .on_conflict(secret_storage::user_id)
                .do_update()
                .set((
                    secret_storage::version.eq(v),
                    secret_storage::storage.eq(storage),
                    secret_storage::updated_at.eq(diesel::dsl::now),
                ))
                .returning((
                    secret_storage::version,
                    secret_storage::storage,
                    secret_storage::updated_at,
                ))
                .get_result(conn)
                .await?;
        Ok(Swap::Stored(SecretStorage {
            version: to_u64(version),
            storage,
            updated_at,
        }))
    })
    .await
}

/// The state of an account's backup.
#[derive(Clone, PartialEq, Eq)]
pub struct BackupState {
    /// Chunks stored (numbered `1..=chunk_count`).
    pub chunk_count: u64,
    /// Their total size.
    pub chunk_bytes: u64,
    /// The latest head, if one was written.
    pub head: Option<Vec<u8>>,
    pub head_seq: u64,
    /// Chunks the head names.
    pub head_count: u64,
    pub updated_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for BackupState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupState")
            .field("chunk_count", &self.chunk_count)
            .field("chunk_bytes", &self.chunk_bytes)
            .field("head_seq", &self.head_seq)
            .field("head_count", &self.head_count)
            .finish()
    }
}

type StateRow = (i64, i64, Option<Vec<u8>>, i64, i64, OffsetDateTime);

fn state(row: Option<StateRow>) -> BackupState {
    match row {
        None => BackupState {
            chunk_count: 0,
            chunk_bytes: 0,
            head: None,
            head_seq: 0,
            head_count: 0,
            updated_at: None,
        },
        Some((count, bytes, head, head_seq, head_count, updated_at)) => BackupState {
            chunk_count: to_u64(count),
            chunk_bytes: to_u64(bytes),
            head,
            head_seq: to_u64(head_seq),
            head_count: to_u64(head_count),
            updated_at: Some(updated_at),
        },
    }
}

const STATE_COLUMNS: (
    key_backups::chunk_count,
    key_backups::chunk_bytes,
    key_backups::head,
    key_backups::head_seq,
    key_backups::head_count,
    key_backups::updated_at,
) = (
    key_backups::chunk_count,
    key_backups::chunk_bytes,
    key_backups::head,
    key_backups::head_seq,
    key_backups::head_count,
    key_backups::updated_at,
);

/// The account's backup state (all zero before the first write).
pub async fn backup_state(conn: &mut AsyncPgConnection, user: UserId) -> Result<BackupState> {
    let row: Option<StateRow> = key_backups::table
        .find(user.0)
        .select(STATE_COLUMNS)
        .first(conn)
        .await
        .optional()?;
    Ok(state(row))
}

/// Creates the account's backup row if missing and locks it.
async fn lock_backup(conn: &mut AsyncPgConnection, user: UserId) -> Result<StateRow> {
    diesel::insert_into(key_backups::table)
        .values(key_backups::user_id.eq(user.0))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(key_backups::table
        .find(user.0)
        .select(STATE_COLUMNS)
        .for_update()
        .first(conn)
        .await?)
}

/// The bounds of one account's backup.
#[derive(Debug, Clone, Copy)]
pub struct BackupQuota {
    pub max_chunks: u64,
    pub max_bytes: u64,
}

/// What appending a chunk did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Append {
    Stored(BackupState),
    /// `seq` is not the next free number, which is `next`.
    NotNext {
        next: u64,
    },
    /// The chunk would take the backup past its quota.
    Full,
}

/// Appends `chunk` at `seq`, which must be the next free number, within `quota`.
pub async fn append_chunk(
    conn: &mut AsyncPgConnection,
    user: UserId,
    seq: u64,
    chunk: &[u8],
    quota: BackupQuota,
) -> Result<Append> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let current = state(Some(lock_backup(conn, user).await?));
        if seq != current.chunk_count + 1 {
            return Ok(Append::NotNext {
                next: current.chunk_count + 1,
            });
        }
        let bytes = current.chunk_bytes + chunk.len() as u64;
        if seq > quota.max_chunks || bytes > quota.max_bytes {
            return Ok(Append::Full);
        }
        diesel::insert_into(key_backup_chunks::table)
            .values((
                key_backup_chunks::user_id.eq(user.0),
                key_backup_chunks::seq.eq(to_i64(seq)?),
                key_backup_chunks::chunk.eq(chunk),
            ))
            .execute(conn)
            .await?;
        let row: StateRow = diesel::update(key_backups::table.find(user.0))
            .set((
                key_backups::chunk_count.eq(to_i64(seq)?),
                key_backups::chunk_bytes.eq(to_i64(bytes)?),
                key_backups::updated_at.eq(diesel::dsl::now),
            ))
            .returning(STATE_COLUMNS)
            .get_result(conn)
            .await?;
        Ok(Append::Stored(state(Some(row))))
    })
    .await
}

/// Chunks after `after`, in order: at most `limit` of them and, past the first, at most
/// `max_bytes` in all. The flag says more follow.
pub async fn list_chunks(
    conn: &mut AsyncPgConnection,
    user: UserId,
    after: u64,
    limit: i64,
    max_bytes: usize,
) -> Result<(Vec<(u64, Vec<u8>)>, bool)> {
    // sizes first, so a page never loads more than it returns
    let sizes: Vec<(i64, i32)> = key_backup_chunks::table
        .filter(key_backup_chunks::user_id.eq(user.0))
        .filter(key_backup_chunks::seq.gt(to_i64(after)?))
        .order(key_backup_chunks::seq.asc())
        .limit(limit + 1)
        .select((
            key_backup_chunks::seq,
            diesel::dsl::sql::<diesel::sql_types::Integer>("length(chunk)"),
        ))
        .load(conn)
        .await?;
    let mut take = 0usize;
    let mut total = 0usize;
    for (i, (_, len)) in sizes.iter().enumerate() {
        if i as i64 >= limit {
            break;
        }
        let len = usize::try_from(*len).unwrap_or(0);
        if i > 0 && total + len > max_bytes {
            break;
        }
        total += len;
        take += 1;
    }
    let more = sizes.len() > take;
    let Some(&(last, _)) = take.checked_sub(1).and_then(|i| sizes.get(i)) else {
        return Ok((Vec::new(), more));
    };
    let rows: Vec<(i64, Vec<u8>)> = key_backup_chunks::table
        .filter(key_backup_chunks::user_id.eq(user.0))
        .filter(key_backup_chunks::seq.gt(to_i64(after)?))
        .filter(key_backup_chunks::seq.le(last))
        .order(key_backup_chunks::seq.asc())
        .select((key_backup_chunks::seq, key_backup_chunks::chunk))
        .load(conn)
        .await?;
    Ok((
        rows.into_iter().map(|(s, c)| (to_u64(s), c)).collect(),
        more,
    ))
}

/// What writing the head did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadWrite {
    Stored(BackupState),
    /// `head_seq` is not the next one.
    Stale {
        current: u64,
    },
    /// The head names more chunks than are stored, or fewer than the head before it.
    BadCount {
        stored: u64,
        previous: u64,
    },
}

/// Stores `head` (naming `count` chunks) as head number `head_seq`, which must be the next.
pub async fn put_head(
    conn: &mut AsyncPgConnection,
    user: UserId,
    head_seq: u64,
    count: u64,
    head: &[u8],
) -> Result<HeadWrite> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let current = state(Some(lock_backup(conn, user).await?));
        if head_seq != current.head_seq + 1 {
            return Ok(HeadWrite::Stale {
                current: current.head_seq,
            });
        }
        if count > current.chunk_count || count < current.head_count {
            return Ok(HeadWrite::BadCount {
                stored: current.chunk_count,
                previous: current.head_count,
            });
        }
        let row: StateRow = diesel::update(key_backups::table.find(user.0))
            .set((
                key_backups::head.eq(head),
                key_backups::head_seq.eq(to_i64(head_seq)?),
                key_backups::head_count.eq(to_i64(count)?),
                key_backups::updated_at.eq(diesel::dsl::now),
            ))
            .returning(STATE_COLUMNS)
            .get_result(conn)
            .await?;
        Ok(HeadWrite::Stored(state(Some(row))))
    })
    .await
}

/// What a reset removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reset {
    /// Device certificates (with their prekeys and queued envelopes).
    pub devices: usize,
    pub backup_chunks: u64,
}

/// Drops every key the server holds for the account: its user key, its devices' published
/// identities (their prekeys and queued envelopes go with them), its secret storage, its key
/// backup and its pending links. The account may then publish a new user key.
pub async fn reset_account_keys(conn: &mut AsyncPgConnection, user: UserId) -> Result<Reset> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let backup = backup_state(conn, user).await?;
        let devices = diesel::delete(device_keys::table.filter(device_keys::user_id.eq(user.0)))
            .execute(conn)
            .await?;
        diesel::delete(user_keys::table.find(user.0))
            .execute(conn)
            .await?;
        diesel::delete(secret_storage::table.find(user.0))
            .execute(conn)
            .await?;
        diesel::delete(key_backups::table.find(user.0))
            .execute(conn)
            .await?;
        diesel::delete(link_requests::table.filter(link_requests::user_id.eq(user.0)))
            .execute(conn)
            .await?;
        Ok(Reset {
            devices,
            backup_chunks: backup.chunk_count,
        })
    })
    .await
}
