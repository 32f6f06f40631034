//! Files uploaded to channels (docs/e2e.md 19): the rows that say whose a stored blob is, in
//! which channel it may be read and what it weighs. The bytes are in the file store
//! (`crate::blobs`), named by the SHA-256 recorded here.

use crate::blobs::{BlobId, BlobStore};
use crate::error::{Result, StorageError};
use crate::schema::files;
use chatalot_protocol::ids::{ChannelId, FileId, MessageId, UserId};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::collections::HashSet;
use std::time::SystemTime;
use time::OffsetDateTime;

/// A file row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub id: FileId,
    pub channel_id: ChannelId,
    pub uploader_id: UserId,
    pub sha256: [u8; 32],
    pub size: u64,
    pub created_at: OffsetDateTime,
    /// The message that names it; none until one does (then reclaimed after a while).
    pub message_id: Option<MessageId>,
    /// What the server knows of it: only in a plaintext channel.
    pub meta: Option<FileMeta>,
}

/// What the server knows of a file of a plaintext channel (docs/e2e.md 19.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// As the uploader named it (checked by the route).
    pub name: String,
    /// The type the server recognised, else the one declared, else `application/octet-stream`.
    pub content_type: String,
    /// An image's width and height (upright).
    pub dimensions: Option<(u32, u32)>,
    /// The thumbnail the server made of an image: a blob of its own.
    pub thumbnail: Option<BlobId>,
}

/// A file as a message carries it: its id, its size and what the server knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: FileId,
    pub size: u64,
    pub meta: FileMeta,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = files)]
struct Row {
    id: uuid::Uuid,
    channel_id: uuid::Uuid,
    uploader_id: uuid::Uuid,
    sha256: Vec<u8>,
    size: i64,
    created_at: OffsetDateTime,
    message_id: Option<uuid::Uuid>,
    name: Option<String>,
    content_type: Option<String>,
    width: Option<i32>,
    height: Option<i32>,
    thumb_sha256: Option<Vec<u8>>,
}

/// The columns of [`FileMeta`] as stored.
pub(crate) type MetaColumns = (
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<i32>,
    Option<Vec<u8>>,
);

/// [`FileMeta`] from its columns: none without a name (a file of an end-to-end channel).
pub(crate) fn meta_of((name, content_type, width, height, thumb): MetaColumns) -> Option<FileMeta> {
    let side = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
    Some(FileMeta {
        name: name?,
        content_type: content_type.unwrap_or_else(|| "application/octet-stream".into()),
        dimensions: side(width).zip(side(height)),
        thumbnail: thumb.and_then(|t| <[u8; 32]>::try_from(t.as_slice()).ok().map(BlobId)),
    })
}

fn from_row(r: Row) -> File {
    let mut sha256 = [0u8; 32];
    if r.sha256.len() == 32 {
        sha256.copy_from_slice(&r.sha256);
    }
    let meta = meta_of((r.name, r.content_type, r.width, r.height, r.thumb_sha256));
    File {
        id: FileId(r.id),
        channel_id: ChannelId(r.channel_id),
        uploader_id: UserId(r.uploader_id),
        sha256,
        size: u64::try_from(r.size).unwrap_or(0),
        created_at: r.created_at,
        message_id: r.message_id.map(MessageId),
        meta,
    }
}

/// The advisory lock (for this transaction) that orders recording a blob and reclaiming it:
/// keyed by the blob's first 8 bytes (a collision only makes two blobs wait for each other).
pub(crate) async fn lock_blob(conn: &mut AsyncPgConnection, blob: &BlobId) -> Result<()> {
    let mut key = [0u8; 8];
    key.copy_from_slice(&blob.0[..8]);
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(i64::from_be_bytes(key))
        .execute(conn)
        .await?;
    Ok(())
}

fn store_error(e: crate::blobs::BlobError) -> StorageError {
    StorageError::Query(e.to_string())
}

/// An upload to record: the blob just placed, where and by whom, and in a plaintext channel
/// what the server knows of it.
#[derive(Debug, Clone, Copy)]
pub struct NewFile<'a> {
    pub channel: ChannelId,
    pub uploader: UserId,
    pub blob: BlobId,
    pub size: u64,
    pub meta: Option<&'a FileMeta>,
}

/// The bounds an upload must stay within when it is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    /// Bytes of files the uploader may have in all.
    pub user_bytes: u64,
    /// Bytes of files the instance may hold (0: no bound).
    pub instance_bytes: u64,
}

/// What recording an upload came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    File(Box<File>),
    /// The blob is no longer there: reclamation took it (an earlier, unnamed copy of the same
    /// bytes) between its placing and this record; the bytes must be uploaded again.
    Gone,
    /// With it the uploader's files, or the instance's, would pass their quota (other uploads
    /// were recorded while it streamed in). Nothing is recorded; the blob is left to
    /// reclamation.
    OverQuota,
}

/// Records a blob just placed in `store` as a file of `channel`, within `quota`, with what the
/// server knows of it in a plaintext channel (its thumbnail, if any, placed before). Holding the
/// blobs' locks, the record and the check that the bytes are there are one step for reclamation,
/// which takes the same lock; holding the uploader's lock (and, with an instance bound, the
/// instance's), uploads that stream in side by side are counted against the quota one after
/// the other, so together they never pass it.
pub async fn record<S: BlobStore>(
    conn: &mut AsyncPgConnection,
    store: &S,
    new: NewFile<'_>,
    quota: Quota,
) -> Result<Recorded> {
    let NewFile {
        channel,
        uploader,
        blob,
        size,
        meta,
    } = new;
    let size =
        i64::try_from(size).map_err(|_| StorageError::Query("file size out of range".into()))?;
    let side =
        |v: u32| i32::try_from(v).map_err(|_| StorageError::Query("side out of range".into()));
    let (width, height) = match meta.and_then(|m| m.dimensions) {
        Some((w, h)) => (Some(side(w)?), Some(side(h)?)),
        None => (None, None),
    };
    let thumb = meta.and_then(|m| m.thumbnail);
    // the blobs' locks in the order of their keys, so two uploads never wait on each other
    let mut blobs = vec![blob];
    blobs.extend(thumb.filter(|t| *t != blob));
    blobs.sort_by_key(|b| b.0[..8].to_vec());
    conn.transaction::<_, StorageError, _>(async |conn| {
        for b in &blobs {
            lock_blob(conn, b).await?;
        }
        for b in &blobs {
            if store.open(b).await.map_err(store_error)?.is_none() {
                return Ok(Recorded::Gone);
            }
        }
        // the uploader's lock, then the instance's: always in this order
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))")
            .bind::<diesel::sql_types::Text, _>(format!("file quota {}", uploader.0))
            .execute(conn)
            .await?;
        let (_, used) = usage_of(conn, uploader).await?;
        if used.saturating_add(size as u64) > quota.user_bytes {
            return Ok(Recorded::OverQuota);
        }
        if quota.instance_bytes > 0 {
            diesel::sql_query(
                "SELECT pg_advisory_xact_lock(hashtextextended('file quota of the instance', 1))",
            )
            .execute(conn)
            .await?;
            let all = instance_bytes(conn).await?;
            if all.saturating_add(size as u64) > quota.instance_bytes {
                return Ok(Recorded::OverQuota);
            }
        }
        let row: Row = diesel::insert_into(files::table)
            .values((
                files::id.eq(uuid::Uuid::now_v7()),
                files::channel_id.eq(channel.0),
                files::uploader_id.eq(uploader.0),
                files::sha256.eq(blob.0.to_vec()),
                files::size.eq(size),
                files::name.eq(meta.map(|m| m.name.as_str())),
                files::content_type.eq(meta.map(|m| m.content_type.as_str())),
                files::width.eq(width),
                files::height.eq(height),
                files::thumb_sha256.eq(thumb.map(|t| t.0.to_vec())),
            ))
            .returning(Row::as_returning())
            .get_result(conn)
            .await?;
        Ok(Recorded::File(Box::new(from_row(row))))
    })
    .await
}

/// Deletes blob `blob` from `store` unless a file or image row names it or it was stored (or stored
/// again) after `stored_before`, holding the blob's lock (so an upload recording the same bytes
/// waits, then finds them gone and says so). True when it was deleted.
pub async fn reclaim_blob<S: BlobStore>(
    conn: &mut AsyncPgConnection,
    store: &S,
    blob: BlobId,
    stored_before: SystemTime,
) -> Result<bool> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        lock_blob(conn, &blob).await?;
        match store.open(&blob).await.map_err(store_error)? {
            Some(f) if f.stored_at <= stored_before => {}
            _ => return Ok(false),
        }
        let named: i64 = files::table
            .filter(
                files::sha256
                    .eq(blob.0.to_vec())
                    .or(files::thumb_sha256.eq(blob.0.to_vec())),
            )
            .count()
            .get_result(conn)
            .await?;
        if named > 0 || crate::images::names(conn, &blob).await? {
            return Ok(false);
        }
        store.delete(&blob).await.map_err(store_error)
    })
    .await
}

/// Of `blobs`, those some file or image row names.
pub async fn named_among(
    conn: &mut AsyncPgConnection,
    blobs: &[BlobId],
) -> Result<HashSet<BlobId>> {
    if blobs.is_empty() {
        return Ok(HashSet::new());
    }
    let keys: Vec<Vec<u8>> = blobs.iter().map(|b| b.0.to_vec()).collect();
    let rows: Vec<Vec<u8>> = files::table
        .filter(files::sha256.eq_any(&keys))
        .select(files::sha256)
        .distinct()
        .load(conn)
        .await?;
    let thumbs: Vec<Option<Vec<u8>>> = files::table
        .filter(files::thumb_sha256.eq_any(&keys))
        .select(files::thumb_sha256)
        .distinct()
        .load(conn)
        .await?;
    let images = crate::images::named_among(conn, &keys).await?;
    Ok(rows
        .into_iter()
        .chain(thumbs.into_iter().flatten())
        .chain(images)
        .filter_map(|r| <[u8; 32]>::try_from(r.as_slice()).ok().map(BlobId))
        .collect())
}

/// Deletes at most `limit` rows of files no message named, uploaded before `before`; how many.
pub async fn expire_unclaimed(
    conn: &mut AsyncPgConnection,
    before: OffsetDateTime,
    limit: i64,
) -> Result<usize> {
    let ids: Vec<uuid::Uuid> = files::table
        .filter(files::message_id.is_null())
        .filter(files::created_at.lt(before))
        .select(files::id)
        .limit(limit)
        .load(conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    // still unnamed: a message may have named one since it was read
    Ok(diesel::delete(
        files::table
            .filter(files::id.eq_any(&ids))
            .filter(files::message_id.is_null()),
    )
    .execute(conn)
    .await?)
}

/// The file `id`, if any.
pub async fn find(conn: &mut AsyncPgConnection, id: FileId) -> Result<Option<File>> {
    let row: Option<Row> = files::table
        .find(id.0)
        .select(Row::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(from_row))
}

/// How many files `user` uploaded and their bytes.
pub async fn usage_of(conn: &mut AsyncPgConnection, user: UserId) -> Result<(u64, u64)> {
    let (n, bytes): (i64, i64) = files::table
        .filter(files::uploader_id.eq(user.0))
        .select((diesel::dsl::count_star(), total()))
        .first(conn)
        .await?;
    Ok((
        u64::try_from(n).unwrap_or(0),
        u64::try_from(bytes).unwrap_or(0),
    ))
}

/// How many files and public images the instance holds, and their bytes.
pub async fn instance_usage(conn: &mut AsyncPgConnection) -> Result<(u64, u64)> {
    let (n, bytes): (i64, i64) = files::table
        .select((diesel::dsl::count_star(), total()))
        .first(conn)
        .await?;
    let (m, image_bytes): (i64, i64) = crate::schema::images::table
        .select((diesel::dsl::count_star(), total()))
        .first(conn)
        .await?;
    Ok((
        u64::try_from(n.saturating_add(m)).unwrap_or(0),
        u64::try_from(bytes.saturating_add(image_bytes)).unwrap_or(0),
    ))
}

/// The bytes of every file and public image of the instance.
pub async fn instance_bytes(conn: &mut AsyncPgConnection) -> Result<u64> {
    let bytes: i64 = files::table.select(total()).first(conn).await?;
    let images: i64 = crate::schema::images::table
        .select(total())
        .first(conn)
        .await?;
    Ok(u64::try_from(bytes.saturating_add(images)).unwrap_or(0))
}

/// The sum of `size` as a bigint (PostgreSQL sums a bigint column as numeric).
fn total() -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql::<diesel::sql_types::BigInt>("COALESCE(SUM(size), 0)::bigint")
}
