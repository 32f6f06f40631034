//! Typed identifiers: newtypes over UUID so that a user id can never be passed as a session id.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::uuid_schema()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

typed_id!(
    /// An account.
    UserId
);
typed_id!(
    /// One client installation of a user (a browser profile, a bot): holds its own keys.
    DeviceId
);
typed_id!(
    /// A login session: one family of rotating refresh tokens on one device.
    SessionId
);
typed_id!(
    /// A registration invite code.
    InviteId
);
typed_id!(
    /// An audit log entry.
    AuditEventId
);
typed_id!(
    /// A community: members, groups of channels, roles.
    CommunityId
);
typed_id!(
    /// A channel: a community channel, a DM or a group DM.
    ChannelId
);
typed_id!(
    /// A message.
    MessageId
);
typed_id!(
    /// A file uploaded to a channel (its bytes are in the file store, docs/e2e.md 19).
    FileId
);
typed_id!(
    /// A group of channels inside a community.
    GroupId
);
typed_id!(
    /// A custom emoji of a community.
    EmojiId
);
typed_id!(
    /// A device-to-device envelope queued for its recipient device.
    EnvelopeId
);
