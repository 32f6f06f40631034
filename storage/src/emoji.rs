//! A community's custom emoji: a name unique in the community and the ref of a public image.

use crate::error::{Result, StorageError};
use crate::schema::community_emoji;
use chatalot_protocol::ids::{CommunityId, EmojiId, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

/// An emoji as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji {
    pub id: EmojiId,
    pub community_id: CommunityId,
    pub name: String,
    pub image_ref: String,
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = community_emoji)]
struct Row {
    id: uuid::Uuid,
    community_id: uuid::Uuid,
    name: String,
    image_ref: String,
    created_by: Option<uuid::Uuid>,
    created_at: OffsetDateTime,
}

fn from_row(r: Row) -> Emoji {
    Emoji {
        id: EmojiId(r.id),
        community_id: CommunityId(r.community_id),
        name: r.name,
        image_ref: r.image_ref,
        created_by: r.created_by.map(UserId),
        created_at: r.created_at,
    }
}

/// Why an emoji was not added.
#[derive(Debug, PartialEq, Eq)]
pub enum AddRefused {
    /// The community has `max` emoji already.
    Full,
    /// The name is taken in the community.
    NameTaken,
}

/// The community's emoji by name, at most `limit`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    limit: i64,
) -> Result<Vec<Emoji>> {
    let rows: Vec<Row> = community_emoji::table
        .filter(community_emoji::community_id.eq(community.0))
        .order(community_emoji::name.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Adds an emoji unless the community holds `max` already or the name is taken. The count
/// and the insert run under a lock on the community's row, so racing adds cannot pass `max`.
pub async fn add(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    name: &str,
    image_ref: &str,
    by: UserId,
    max: i64,
) -> Result<std::result::Result<Emoji, AddRefused>> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        use crate::schema::communities;
        communities::table
            .find(community.0)
            .select(communities::id)
            .for_update()
            .first::<uuid::Uuid>(conn)
            .await?;
        let n: i64 = community_emoji::table
            .filter(community_emoji::community_id.eq(community.0))
            .count()
            .get_result(conn)
            .await?;
        if n >= max {
            return Ok(Err(AddRefused::Full));
        }
        let row: Option<Row> = diesel::insert_into(community_emoji::table)
            .values((
                community_emoji::id.eq(uuid::Uuid::now_v7()),
                community_emoji::community_id.eq(community.0),
                community_emoji::name.eq(name),
                community_emoji::image_ref.eq(image_ref),
                community_emoji::created_by.eq(by.0),
            ))
            .on_conflict((community_emoji::community_id, community_emoji::name))
            .do_nothing()
            .returning(Row::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        Ok(row.map(from_row).ok_or(AddRefused::NameTaken))
    })
    .await
}

/// Removes the emoji `id` of `community`; false when there is none.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    id: EmojiId,
) -> Result<bool> {
    let n = diesel::delete(
        community_emoji::table
            .filter(community_emoji::id.eq(id.0))
            .filter(community_emoji::community_id.eq(community.0)),
    )
    .execute(conn)
    .await?;
    Ok(n > 0)
}
