//! Who may do what, asked of storage and answered by `perms`: each function loads what a
//! decision needs and turns a refusal into the answer (404 when the caller may not know the
//! object exists, 403 when they may know and are refused).

use crate::error::{ApiError, ApiResult};
use crate::extract::Authed;
use chatalot_protocol::ids::{CommunityId, GroupId, UserId};
use chatalot_protocol::perms::{self, Action, CommunityRole, Decision};
use chatalot_storage::AsyncPgConnection;
use chatalot_storage::{communities, groups, users};

/// Turns a decision into the answer: 404 when the caller may not know, 403 when refused.
pub fn require(decision: Decision) -> ApiResult<()> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Forbidden(why) => Err(ApiError::forbidden(why)),
        Decision::Invisible => Err(ApiError::not_found()),
    }
}

/// The community and the caller's role in it; 404 when it does not exist.
pub async fn community(
    conn: &mut AsyncPgConnection,
    id: CommunityId,
    user: UserId,
) -> ApiResult<(communities::Community, Option<CommunityRole>)> {
    let community = communities::get(conn, id).await?;
    let role = communities::find_role(conn, id, user).await?;
    Ok((community, role))
}

/// Loads the community and checks that the caller may do `action` there.
pub async fn authorize(
    conn: &mut AsyncPgConnection,
    id: CommunityId,
    user: UserId,
    action: Action,
) -> ApiResult<(communities::Community, CommunityRole)> {
    let (community, role) = community(conn, id, user).await?;
    require(perms::community(role, action))?;
    Ok((community, role.unwrap_or(CommunityRole::Member)))
}

/// The group, if the caller may see it, with the caller's role and whether they are in it;
/// 404 otherwise.
pub async fn group(
    conn: &mut AsyncPgConnection,
    id: GroupId,
    user: UserId,
) -> ApiResult<(groups::Group, CommunityRole, bool)> {
    let g = groups::get(conn, id).await?;
    let role = communities::find_role(conn, g.community_id, user).await?;
    let inside = groups::member_ids(conn, g.id).await?.contains(&user);
    if !perms::view_group(role, g.kind, inside) {
        return Err(ApiError::not_found());
    }
    Ok((g, role.unwrap_or(CommunityRole::Member), inside))
}

/// The caller, if an instance admin (or the owner); everyone else gets 404: the admin surface
/// is invisible to them.
pub async fn instance_admin(
    conn: &mut AsyncPgConnection,
    authed: Authed,
) -> ApiResult<users::User> {
    let user = users::get(conn, authed.0.user_id).await?;
    if user.role.is_admin() {
        Ok(user)
    } else {
        Err(ApiError::not_found())
    }
}
