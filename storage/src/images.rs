//! Public images (avatars, banners, community icons, custom emoji): the rows that say a blob of
//! the file store is an image of some kind, re-encoded by the server. The blob's SHA-256 is the
//! image's reference (`avatar_ref`, `icon_ref`, ...). Whatever names an image touches its row
//! first ([`touch`]); an image nothing names is reclaimed a while after its last touch
//! ([`expire_unnamed`]), and its bytes once no row of any kind names them (`files::reclaim_blob`).

use crate::blobs::{BlobId, BlobStore};
use crate::error::{Result, StorageError};
use crate::files::lock_blob;
use crate::schema::images;
use chatalot_protocol::api::ImageKind;
use chatalot_protocol::ids::UserId;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

/// An image row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub blob: BlobId,
    pub kind: ImageKind,
    pub uploader_id: Option<UserId>,
    /// `image/webp` or `image/jpeg`.
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub size: u64,
    pub touched_at: OffsetDateTime,
}

/// What an upload made of its image.
#[derive(Debug, Clone, Copy)]
pub struct NewImage<'a> {
    pub kind: ImageKind,
    pub content_type: &'a str,
    pub width: u32,
    pub height: u32,
    pub size: u64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = images)]
struct Row {
    sha256: Vec<u8>,
    kind: String,
    uploader_id: Option<uuid::Uuid>,
    content_type: String,
    width: i32,
    height: i32,
    size: i64,
    touched_at: OffsetDateTime,
}

fn from_row(r: Row) -> Result<Image> {
    let bad = || StorageError::Query("an image row out of range".into());
    Ok(Image {
        blob: BlobId(<[u8; 32]>::try_from(r.sha256.as_slice()).map_err(|_| bad())?),
        kind: ImageKind::parse(&r.kind).ok_or_else(bad)?,
        uploader_id: r.uploader_id.map(UserId),
        content_type: r.content_type,
        width: u32::try_from(r.width).map_err(|_| bad())?,
        height: u32::try_from(r.height).map_err(|_| bad())?,
        size: u64::try_from(r.size).map_err(|_| bad())?,
        touched_at: r.touched_at,
    })
}

/// Records a blob just placed in `store` as an image of `new.kind`, or touches the row if the
/// same image was recorded before. `None` when the blob is no longer there (reclaimed between
/// its placing and this record): it must be uploaded again. Holds the blob's lock, as
/// `files::record` does.
pub async fn record<S: BlobStore>(
    conn: &mut AsyncPgConnection,
    store: &S,
    uploader: UserId,
    blob: BlobId,
    new: NewImage<'_>,
) -> Result<Option<Image>> {
    let range = || StorageError::Query("image dimensions out of range".into());
    let width = i32::try_from(new.width).map_err(|_| range())?;
    let height = i32::try_from(new.height).map_err(|_| range())?;
    let size = i64::try_from(new.size).map_err(|_| range())?;
    conn.transaction::<_, StorageError, _>(async |conn| {
        lock_blob(conn, &blob).await?;
        if store
            .open(&blob)
            .await
            .map_err(|e| StorageError::Query(e.to_string()))?
            .is_none()
        {
            return Ok(None);
        }
        let row: Row = diesel::insert_into(images::table)
            .values((
                images::sha256.eq(blob.0.to_vec()),
                images::kind.eq(new.kind.as_str()),
                images::uploader_id.eq(uploader.0),
                images::content_type.eq(new.content_type),
                images::width.eq(width),
                images::height.eq(height),
                images::size.eq(size),
            ))
            .on_conflict((images::sha256, images::kind))
            .do_update()
            .set(images::touched_at.eq(diesel::dsl::now))
            .returning(Row::as_returning())
            .get_result(conn)
            .await?;
        Ok(Some(from_row(row)?))
    })
    .await
}

/// The image stored as `blob`, of whichever kind was recorded first.
pub async fn find(conn: &mut AsyncPgConnection, blob: BlobId) -> Result<Option<Image>> {
    let row: Option<Row> = images::table
        .filter(images::sha256.eq(blob.0.to_vec()))
        .order(images::kind.asc())
        .select(Row::as_select())
        .first(conn)
        .await
        .optional()?;
    row.map(from_row).transpose()
}

/// Marks the image `blob` of `kind` as named now, so reclamation leaves it for another grace
/// period; false when there is no such image. Call it before storing a reference to it: a
/// reclamation running at the same time either deleted the row first (and this says false) or
/// finds it touched.
pub async fn touch(conn: &mut AsyncPgConnection, blob: BlobId, kind: ImageKind) -> Result<bool> {
    let n = diesel::update(
        images::table
            .filter(images::sha256.eq(blob.0.to_vec()))
            .filter(images::kind.eq(kind.as_str())),
    )
    .set(images::touched_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Deletes at most `limit` image rows last touched before `before` that no profile, community
/// or emoji names; how many.
pub async fn expire_unnamed(
    conn: &mut AsyncPgConnection,
    before: OffsetDateTime,
    limit: i64,
) -> Result<usize> {
    // The touched_at test is repeated outside the subquery: a row touched while this waits on
    // its lock is checked again against its new version and kept.
    Ok(diesel::sql_query(
        "DELETE FROM images WHERE touched_at < $1 AND (sha256, kind) IN ( \
           SELECT i.sha256, i.kind FROM images i \
           WHERE i.touched_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM user_profiles p \
                             WHERE p.avatar_ref = encode(i.sha256, 'hex') \
                                OR p.banner_ref = encode(i.sha256, 'hex')) \
             AND NOT EXISTS (SELECT 1 FROM communities c \
                             WHERE c.icon_ref = encode(i.sha256, 'hex') \
                                OR c.banner_ref = encode(i.sha256, 'hex')) \
             AND NOT EXISTS (SELECT 1 FROM community_emoji e \
                             WHERE e.image_ref = encode(i.sha256, 'hex')) \
           LIMIT $2)",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await?)
}

/// Of `keys` (blob SHA-256s), those an image row names.
pub async fn named_among(conn: &mut AsyncPgConnection, keys: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(images::table
        .filter(images::sha256.eq_any(keys))
        .select(images::sha256)
        .distinct()
        .load(conn)
        .await?)
}

/// Whether an image row names `blob`.
pub async fn names(conn: &mut AsyncPgConnection, blob: &BlobId) -> Result<bool> {
    let n: i64 = images::table
        .filter(images::sha256.eq(blob.0.to_vec()))
        .count()
        .get_result(conn)
        .await?;
    Ok(n > 0)
}
