//! Files uploaded to channels (docs/e2e.md 19): the rows that say whose a stored blob is, in
//! which channel it may be read and what it weighs. The bytes are in the file store
//! (`crate::blobs`), named by the SHA-256 recorded here.

use crate::error::Result;
use crate::schema::files;
use chatalot_protocol::ids::{ChannelId, FileId, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
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
}

fn from_row(r: Row) -> File {
    let mut sha256 = [0u8; 32];
    if r.sha256.len() == 32 {
        sha256.copy_from_slice(&r.sha256);
    }
    File {
        id: FileId(r.id),
        channel_id: ChannelId(r.channel_id),
        uploader_id: UserId(r.uploader_id),
        sha256,
        size: u64::try_from(r.size).unwrap_or(0),
        created_at: r.created_at,
    }
}

/// Records a stored file.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    uploader: UserId,
    sha256: [u8; 32],
    size: u64,
) -> Result<File> {
    let size = i64::try_from(size)
        .map_err(|_| crate::StorageError::Query("file size out of range".into()))?;
    let row: Row = diesel::insert_into(files::table)
        .values((
            files::id.eq(uuid::Uuid::now_v7()),
            files::channel_id.eq(channel.0),
            files::uploader_id.eq(uploader.0),
            files::sha256.eq(sha256.to_vec()),
            files::size.eq(size),
        ))
        .returning(Row::as_returning())
        .get_result(conn)
        .await?;
    Ok(from_row(row))
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

/// The bytes of every file of the instance.
pub async fn instance_bytes(conn: &mut AsyncPgConnection) -> Result<u64> {
    let bytes: i64 = files::table.select(total()).first(conn).await?;
    Ok(u64::try_from(bytes).unwrap_or(0))
}

/// The sum of `size` as a bigint (PostgreSQL sums a bigint column as numeric).
fn total() -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql::<diesel::sql_types::BigInt>("COALESCE(SUM(size), 0)::bigint")
}
