//! Communities and their members (the minimal model; roles beyond owner/member come later).

use crate::error::{Result, StorageError};
use crate::schema::{channels, communities, community_members};
use chatalot_protocol::ids::{ChannelId, CommunityId, UserId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// A community as stored.
#[derive(Debug, Clone)]
pub struct Community {
    pub id: CommunityId,
    pub name: String,
    pub description: String,
    pub visibility: String,
    pub owner_id: UserId,
    pub created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = communities)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct CommunityRow {
    id: Uuid,
    name: String,
    description: String,
    visibility: String,
    owner_id: Uuid,
    created_at: OffsetDateTime,
}

impl From<CommunityRow> for Community {
    fn from(r: CommunityRow) -> Self {
        Community {
            id: CommunityId(r.id),
            name: r.name,
            description: r.description,
            visibility: r.visibility,
            owner_id: UserId(r.owner_id),
            created_at: r.created_at,
        }
    }
}

/// A new community with its first channel.
pub struct NewCommunity<'a> {
    pub id: CommunityId,
    pub name: &'a str,
    pub description: &'a str,
    pub visibility: &'a str,
    pub owner: UserId,
    pub first_channel: ChannelId,
    pub first_channel_name: &'a str,
    pub e2e: bool,
}

/// Creates a community, makes the owner its first member and creates its first text channel,
/// all or nothing.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewCommunity<'_>) -> Result<Community> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let row = diesel::insert_into(communities::table)
            .values((
                communities::id.eq(new.id.0),
                communities::name.eq(new.name),
                communities::description.eq(new.description),
                communities::visibility.eq(new.visibility),
                communities::owner_id.eq(new.owner.0),
            ))
            .returning(CommunityRow::as_returning())
            .get_result(conn)
            .await?;
        diesel::insert_into(community_members::table)
            .values((
                community_members::community_id.eq(new.id.0),
                community_members::user_id.eq(new.owner.0),
                community_members::role.eq("owner"),
            ))
            .execute(conn)
            .await?;
        diesel::insert_into(channels::table)
            .values((
                channels::id.eq(new.first_channel.0),
                channels::community_id.eq(Some(new.id.0)),
                channels::kind.eq("text"),
                channels::name.eq(new.first_channel_name),
                channels::e2e.eq(new.e2e),
                channels::created_by.eq(Some(new.owner.0)),
            ))
            .execute(conn)
            .await?;
        Ok(row.into())
    })
    .await
}

/// The community with this id; `NotFound` if none.
pub async fn get(conn: &mut AsyncPgConnection, id: CommunityId) -> Result<Community> {
    Ok(communities::table
        .find(id.0)
        .select(CommunityRow::as_select())
        .first(conn)
        .await?
        .into())
}

/// The caller's role in a community, if a member.
pub async fn find_role(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> Result<Option<String>> {
    Ok(community_members::table
        .find((community.0, user.0))
        .select(community_members::role)
        .first(conn)
        .await
        .optional()?)
}

/// Adds a member (idempotent): true if newly added.
pub async fn insert_member(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> Result<bool> {
    let n = diesel::insert_into(community_members::table)
        .values((
            community_members::community_id.eq(community.0),
            community_members::user_id.eq(user.0),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// The communities a user belongs to, with the user's role, oldest membership first.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user: UserId,
    limit: i64,
) -> Result<Vec<(Community, String)>> {
    let rows: Vec<(CommunityRow, String)> = communities::table
        .inner_join(community_members::table)
        .filter(community_members::user_id.eq(user.0))
        .order(community_members::joined_at.asc())
        .limit(limit)
        .select((CommunityRow::as_select(), community_members::role))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|(c, r)| (c.into(), r)).collect())
}
