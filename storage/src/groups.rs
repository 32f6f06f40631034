//! Groups inside a community, and who is in them.

use crate::error::{Result, StorageError};
use crate::schema::{community_members, group_members, groups};
use chatalot_protocol::ids::{CommunityId, GroupId, UserId};
use chatalot_protocol::perms::GroupKind;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use uuid::Uuid;

/// A group as stored.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: GroupId,
    pub community_id: CommunityId,
    pub name: String,
    pub kind: GroupKind,
    pub assigned_to: Option<UserId>,
    pub position: i32,
    pub created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = groups)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct GroupRow {
    id: Uuid,
    community_id: Uuid,
    name: String,
    kind: String,
    assigned_to: Option<Uuid>,
    position: i32,
    created_at: OffsetDateTime,
}

impl From<GroupRow> for Group {
    fn from(r: GroupRow) -> Self {
        Group {
            id: GroupId(r.id),
            community_id: CommunityId(r.community_id),
            name: r.name,
            kind: GroupKind::parse(&r.kind).unwrap_or(GroupKind::Private),
            assigned_to: r.assigned_to.map(UserId),
            position: r.position,
            created_at: r.created_at,
        }
    }
}

/// Creates a group. A public group takes in every current member; a personal group its
/// assignee (who must be a member: `NotFound` otherwise).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    id: GroupId,
    community: CommunityId,
    name: &str,
    kind: GroupKind,
    assigned_to: Option<UserId>,
    position: i32,
) -> Result<Group> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        if let Some(user) = assigned_to {
            community_members::table
                .find((community.0, user.0))
                .select(community_members::user_id)
                .first::<Uuid>(conn)
                .await?;
        }
        let row: GroupRow = diesel::insert_into(groups::table)
            .values((
                groups::id.eq(id.0),
                groups::community_id.eq(community.0),
                groups::name.eq(name),
                groups::kind.eq(kind.as_str()),
                groups::assigned_to.eq(assigned_to.map(|u| u.0)),
                groups::position.eq(position),
            ))
            .returning(GroupRow::as_returning())
            .get_result(conn)
            .await?;
        match kind {
            GroupKind::Public => {
                let members: Vec<Uuid> = community_members::table
                    .filter(community_members::community_id.eq(community.0))
                    .select(community_members::user_id)
                    .load(conn)
                    .await?;
                let rows: Vec<_> = members
                    .iter()
                    .map(|u| {
                        (
                            group_members::group_id.eq(id.0),
                            group_members::user_id.eq(*u),
                        )
                    })
                    .collect();
                for chunk in rows.chunks(5000) {
                    diesel::insert_into(group_members::table)
                        .values(chunk)
                        .execute(conn)
                        .await?;
                }
            }
            GroupKind::Personal => {
                if let Some(user) = assigned_to {
                    diesel::insert_into(group_members::table)
                        .values((
                            group_members::group_id.eq(id.0),
                            group_members::user_id.eq(user.0),
                        ))
                        .execute(conn)
                        .await?;
                }
            }
            GroupKind::Private => {}
        }
        Ok(row.into())
    })
    .await
}

/// The group with this id; `NotFound` if none.
pub async fn get(conn: &mut AsyncPgConnection, id: GroupId) -> Result<Group> {
    Ok(groups::table
        .find(id.0)
        .select(GroupRow::as_select())
        .first(conn)
        .await?
        .into())
}

/// A community's groups in order, each with whether `user` is in it.
pub async fn list(
    conn: &mut AsyncPgConnection,
    community: CommunityId,
    user: UserId,
) -> Result<Vec<(Group, bool)>> {
    let rows: Vec<(GroupRow, Option<Uuid>)> = groups::table
        .left_join(
            group_members::table.on(group_members::group_id
                .eq(groups::id)
                .and(group_members::user_id.eq(user.0))),
        )
        .filter(groups::community_id.eq(community.0))
        .order((groups::position.asc(), groups::created_at.asc()))
        .select((GroupRow::as_select(), group_members::user_id.nullable()))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(g, m)| (g.into(), m.is_some()))
        .collect())
}

/// Renames or moves a group.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: GroupId,
    name: Option<&str>,
    position: Option<i32>,
) -> Result<Group> {
    #[derive(AsChangeset)]
    #[diesel(table_name = groups)]
    struct Changes<'a> {
        name: Option<&'a str>,
        position: Option<i32>,
    }
    if name.is_none() && position.is_none() {
        return get(conn, id).await;
    }
    Ok(diesel::update(groups::table.find(id.0))
        .set(Changes { name, position })
        .returning(GroupRow::as_returning())
        .get_result(conn)
        .await?
        .into())
}

/// Deletes a group and its channels.
pub async fn delete(conn: &mut AsyncPgConnection, id: GroupId) -> Result<bool> {
    Ok(diesel::delete(groups::table.find(id.0))
        .execute(conn)
        .await?
        == 1)
}

/// Adds a community member to a group: `NotFound` if they are not a member of its community;
/// true if newly added.
pub async fn add_member(conn: &mut AsyncPgConnection, group: &Group, user: UserId) -> Result<bool> {
    community_members::table
        .find((group.community_id.0, user.0))
        .select(community_members::user_id)
        .first::<Uuid>(conn)
        .await?;
    let n = diesel::insert_into(group_members::table)
        .values((
            group_members::group_id.eq(group.id.0),
            group_members::user_id.eq(user.0),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Takes a user out of a group: false if they were not in it.
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    user: UserId,
) -> Result<bool> {
    let n = diesel::delete(group_members::table.find((group.0, user.0)))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// The ids of a group's members.
pub async fn member_ids(conn: &mut AsyncPgConnection, group: GroupId) -> Result<Vec<UserId>> {
    let ids: Vec<Uuid> = group_members::table
        .filter(group_members::group_id.eq(group.0))
        .select(group_members::user_id)
        .load(conn)
        .await?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// How many groups a community has.
pub async fn count(conn: &mut AsyncPgConnection, community: CommunityId) -> Result<i64> {
    Ok(groups::table
        .filter(groups::community_id.eq(community.0))
        .count()
        .get_result(conn)
        .await?)
}
