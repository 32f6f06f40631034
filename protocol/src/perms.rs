//! Who may do what: every permission decision of the server, as tables.
//!
//! The server and the gateway ask this module and nothing else; it is pure (facts in, decision
//! out), so the whole policy is read and tested here. Visibility comes first: a caller who may
//! not see an object is told it does not exist (404); a caller who sees it but may not act on it
//! is refused (403).

use serde::{Deserialize, Serialize};

/// A member's role in a community, lowest first (the order is the rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CommunityRole {
    Member,
    Moderator,
    Admin,
    Owner,
}

impl CommunityRole {
    pub const ALL: [CommunityRole; 4] = [
        CommunityRole::Member,
        CommunityRole::Moderator,
        CommunityRole::Admin,
        CommunityRole::Owner,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CommunityRole::Member => "member",
            CommunityRole::Moderator => "moderator",
            CommunityRole::Admin => "admin",
            CommunityRole::Owner => "owner",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<CommunityRole> {
        CommunityRole::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Things a member does in a community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See the community, its members, groups and the channels open to them.
    View,
    /// Leave it (the owner cannot: the community would have no owner).
    Leave,
    /// Change name, description, icon, banner, welcome message, visibility, discoverability;
    /// add and remove custom emoji.
    EditCommunity,
    DeleteCommunity,
    /// Create, list and revoke invite codes.
    ManageInvites,
    /// Remove a member of lower rank.
    Kick,
    /// Ban or unban a user of lower rank; list bans.
    Ban,
    /// Change a lower-ranked member's role to a role below one's own.
    SetRole,
    /// Create, edit, reorder and delete channels and groups; set per-channel roles and the
    /// end-to-end mode of an empty channel.
    ManageChannels,
    /// Set a channel's topic and slow mode, archive or unarchive it.
    ModerateChannel,
    /// Add members to private groups and assign personal groups.
    ManageGroupMembers,
    /// Delete other people's messages.
    DeleteOthersMessages,
    /// Read every group's channels, including private and personal groups one is not in.
    SeeAllGroups,
}

/// The least role for each action. Every community action is in this table.
pub const COMMUNITY_TABLE: &[(Action, CommunityRole)] = &[
    (Action::View, CommunityRole::Member),
    (Action::Leave, CommunityRole::Member),
    (Action::EditCommunity, CommunityRole::Admin),
    (Action::DeleteCommunity, CommunityRole::Owner),
    (Action::ManageInvites, CommunityRole::Moderator),
    (Action::Kick, CommunityRole::Moderator),
    (Action::Ban, CommunityRole::Moderator),
    (Action::SetRole, CommunityRole::Admin),
    (Action::ManageChannels, CommunityRole::Admin),
    (Action::ModerateChannel, CommunityRole::Moderator),
    (Action::ManageGroupMembers, CommunityRole::Moderator),
    (Action::DeleteOthersMessages, CommunityRole::Moderator),
    (Action::SeeAllGroups, CommunityRole::Moderator),
];

/// The least role for `action`.
pub fn least_role(action: Action) -> CommunityRole {
    COMMUNITY_TABLE
        .iter()
        .find(|(a, _)| *a == action)
        .map(|(_, r)| *r)
        .unwrap_or(CommunityRole::Owner)
}

/// A permission decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The caller may see the object but not do this (403).
    Forbidden(&'static str),
    /// The caller may not know the object exists (404).
    Invisible,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// May someone with `role` in a community (None: not a member) do `action`?
pub fn community(role: Option<CommunityRole>, action: Action) -> Decision {
    let Some(role) = role else {
        return Decision::Invisible;
    };
    if action == Action::Leave && role == CommunityRole::Owner {
        return Decision::Forbidden("the owner cannot leave; delete the community instead");
    }
    if role >= least_role(action) {
        Decision::Allow
    } else {
        Decision::Forbidden(match action {
            Action::EditCommunity | Action::SetRole | Action::ManageChannels => {
                "only community admins and the owner may do this"
            }
            Action::DeleteCommunity => "only the community owner may do this",
            _ => "only community moderators and above may do this",
        })
    }
}

/// May `actor` act on another member (kick, ban, change role)? Only on someone of lower rank;
/// a user who is not a member (`target` None) can be banned by anyone allowed to ban.
pub fn on_member(
    actor: Option<CommunityRole>,
    action: Action,
    target: Option<CommunityRole>,
) -> Decision {
    let base = community(actor, action);
    if !base.is_allowed() {
        return base;
    }
    match (actor, target) {
        (Some(a), Some(t)) if t >= a => {
            Decision::Forbidden("you can only act on members of lower rank")
        }
        _ => Decision::Allow,
    }
}

/// May `actor` give a member the role `new`? Only roles below one's own, never `owner`.
pub fn set_role(
    actor: Option<CommunityRole>,
    target: Option<CommunityRole>,
    new: CommunityRole,
) -> Decision {
    let base = on_member(actor, Action::SetRole, target);
    if !base.is_allowed() {
        return base;
    }
    match actor {
        Some(a) if new < a => Decision::Allow,
        _ => Decision::Forbidden("you can only give roles below your own"),
    }
}

/// The kind of group a channel sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// Every member is in it.
    Public,
    /// Members added by moderators.
    Private,
    /// One member's own group, assigned by moderators.
    Personal,
}

impl GroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Public => "public",
            GroupKind::Private => "private",
            GroupKind::Personal => "personal",
        }
    }

    pub fn parse(s: &str) -> Option<GroupKind> {
        [GroupKind::Public, GroupKind::Private, GroupKind::Personal]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// May someone with `role` (None: not a member) see a group of this kind (its name, in the
/// sidebar)? Public groups: every member; others: their members, and moderators and above.
pub fn view_group(role: Option<CommunityRole>, kind: GroupKind, in_group: bool) -> bool {
    match role {
        None => false,
        Some(r) => kind == GroupKind::Public || in_group || r >= least_role(Action::SeeAllGroups),
    }
}

/// May someone with `role` put a member into a group of this kind, or take them out
/// (`oneself`: the member is the caller)? Anyone joins and leaves public groups; everything
/// else is for moderators and above.
pub fn group_membership(role: Option<CommunityRole>, kind: GroupKind, oneself: bool) -> Decision {
    if oneself && kind == GroupKind::Public && role.is_some() {
        return Decision::Allow;
    }
    community(role, Action::ManageGroupMembers)
}

/// What the permission rules need to know about a channel and the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelFacts {
    /// A DM or group DM (no community).
    pub direct: bool,
    /// For DMs: the caller is one of its members.
    pub dm_member: bool,
    /// For community channels: the caller's role (None: not a member).
    pub role: Option<CommunityRole>,
    /// The channel's group, if any.
    pub group: Option<GroupKind>,
    /// The caller is a member of that group.
    pub in_group: bool,
    /// Least role to read.
    pub view_role: CommunityRole,
    /// Least role to post (announcement channels: moderator by default).
    pub post_role: CommunityRole,
    pub archived: bool,
}

/// May the caller read the channel (subscribe, page history, see it listed)?
pub fn view_channel(f: &ChannelFacts) -> bool {
    if f.direct {
        return f.dm_member;
    }
    let Some(role) = f.role else {
        return false;
    };
    if role < f.view_role {
        return false;
    }
    match f.group {
        None | Some(GroupKind::Public) => true,
        Some(_) => f.in_group || role >= least_role(Action::SeeAllGroups),
    }
}

/// May the caller send messages in the channel? Requires reading it. (Reactions need only
/// reading an unarchived channel: members react in announcement channels.)
pub fn post_channel(f: &ChannelFacts) -> Decision {
    if !view_channel(f) {
        return Decision::Invisible;
    }
    if f.archived {
        return Decision::Forbidden("the channel is archived");
    }
    match f.role {
        Some(r) if !f.direct && r < f.post_role => {
            Decision::Forbidden("only some roles may post in this channel")
        }
        _ => Decision::Allow,
    }
}

/// May the caller delete someone else's message in the channel?
pub fn delete_others(f: &ChannelFacts) -> bool {
    view_channel(f) && !f.direct && community(f.role, Action::DeleteOthersMessages).is_allowed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use CommunityRole::*;

    #[test]
    fn every_action_is_in_the_table_once() {
        let all = [
            Action::View,
            Action::Leave,
            Action::EditCommunity,
            Action::DeleteCommunity,
            Action::ManageInvites,
            Action::Kick,
            Action::Ban,
            Action::SetRole,
            Action::ManageChannels,
            Action::ModerateChannel,
            Action::ManageGroupMembers,
            Action::DeleteOthersMessages,
            Action::SeeAllGroups,
        ];
        assert_eq!(all.len(), COMMUNITY_TABLE.len());
        for a in all {
            assert_eq!(COMMUNITY_TABLE.iter().filter(|(x, _)| *x == a).count(), 1);
        }
    }

    #[test]
    fn outsiders_see_nothing_and_ranks_apply() {
        for (a, _) in COMMUNITY_TABLE {
            assert_eq!(community(None, *a), Decision::Invisible);
        }
        assert!(community(Some(Member), Action::View).is_allowed());
        assert!(!community(Some(Member), Action::Kick).is_allowed());
        assert!(community(Some(Moderator), Action::Kick).is_allowed());
        assert!(!community(Some(Moderator), Action::ManageChannels).is_allowed());
        assert!(community(Some(Admin), Action::ManageChannels).is_allowed());
        assert!(!community(Some(Admin), Action::DeleteCommunity).is_allowed());
        assert!(community(Some(Owner), Action::DeleteCommunity).is_allowed());
        assert!(!community(Some(Owner), Action::Leave).is_allowed());
        assert!(community(Some(Admin), Action::Leave).is_allowed());
    }

    #[test]
    fn members_act_only_downwards() {
        assert!(on_member(Some(Moderator), Action::Kick, Some(Member)).is_allowed());
        assert!(!on_member(Some(Moderator), Action::Kick, Some(Moderator)).is_allowed());
        assert!(!on_member(Some(Admin), Action::Ban, Some(Owner)).is_allowed());
        assert!(on_member(Some(Moderator), Action::Ban, None).is_allowed());
        assert!(set_role(Some(Owner), Some(Member), Admin).is_allowed());
        assert!(!set_role(Some(Owner), Some(Member), Owner).is_allowed());
        assert!(set_role(Some(Admin), Some(Member), Moderator).is_allowed());
        assert!(!set_role(Some(Admin), Some(Member), Admin).is_allowed());
        assert!(!set_role(Some(Admin), Some(Admin), Member).is_allowed());
        assert!(!set_role(Some(Moderator), Some(Member), Member).is_allowed());
    }

    fn facts(role: Option<CommunityRole>) -> ChannelFacts {
        ChannelFacts {
            direct: false,
            dm_member: false,
            role,
            group: None,
            in_group: false,
            view_role: Member,
            post_role: Member,
            archived: false,
        }
    }

    #[test]
    fn channel_rules() {
        assert!(!view_channel(&facts(None)));
        assert!(view_channel(&facts(Some(Member))));
        let announcement = ChannelFacts {
            post_role: Moderator,
            ..facts(Some(Member))
        };
        assert!(view_channel(&announcement));
        assert!(!post_channel(&announcement).is_allowed());
        assert!(post_channel(&ChannelFacts {
            role: Some(Moderator),
            ..announcement
        })
        .is_allowed());
        let staff = ChannelFacts {
            view_role: Admin,
            ..facts(Some(Moderator))
        };
        assert!(!view_channel(&staff));
        assert_eq!(post_channel(&staff), Decision::Invisible);
        let private = ChannelFacts {
            group: Some(GroupKind::Private),
            ..facts(Some(Member))
        };
        assert!(!view_channel(&private));
        assert!(view_channel(&ChannelFacts {
            in_group: true,
            ..private
        }));
        assert!(view_channel(&ChannelFacts {
            role: Some(Moderator),
            ..private
        }));
        let archived = ChannelFacts {
            archived: true,
            ..facts(Some(Owner))
        };
        assert!(view_channel(&archived));
        assert!(!post_channel(&archived).is_allowed());
        let dm = ChannelFacts {
            direct: true,
            dm_member: true,
            ..facts(None)
        };
        assert!(view_channel(&dm) && post_channel(&dm).is_allowed());
        assert!(!view_channel(&ChannelFacts {
            dm_member: false,
            ..dm
        }));
        assert!(!delete_others(&dm));
        assert!(delete_others(&facts(Some(Moderator))));
        assert!(!delete_others(&facts(Some(Member))));
    }

    #[test]
    fn group_visibility() {
        assert!(view_group(Some(Member), GroupKind::Public, false));
        assert!(!view_group(Some(Member), GroupKind::Private, false));
        assert!(view_group(Some(Member), GroupKind::Personal, true));
        assert!(view_group(Some(Moderator), GroupKind::Personal, false));
        assert!(!view_group(None, GroupKind::Public, true));
        assert!(group_membership(Some(Member), GroupKind::Public, true).is_allowed());
        assert!(!group_membership(Some(Member), GroupKind::Public, false).is_allowed());
        assert!(!group_membership(Some(Member), GroupKind::Private, true).is_allowed());
        assert!(group_membership(Some(Moderator), GroupKind::Private, false).is_allowed());
        assert!(!group_membership(None, GroupKind::Public, true).is_allowed());
    }
}
