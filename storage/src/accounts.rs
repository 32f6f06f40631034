//! Registration: the one write that spans users, invites, devices and sessions.

use crate::error::{Result, StorageError};
use crate::sessions::{NewSession, Session};
use crate::users::{NewUser, User};
use crate::{devices, invites, sessions, users};
use chatalot_protocol::api::{InstanceRole, RegistrationMode};
use chatalot_protocol::ids::{DeviceId, SessionId, UserId};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use time::OffsetDateTime;

/// Everything a registration writes.
pub struct Registration<'a> {
    pub user_id: UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub recovery_code_hash: &'a [u8],
    pub invite_code: Option<&'a str>,
    pub mode: RegistrationMode,
    pub device_id: DeviceId,
    pub device_name: &'a str,
    pub device_secret_hash: &'a [u8],
    pub session_id: SessionId,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub session_expires_at: OffsetDateTime,
    pub refresh_hash: &'a [u8],
}

/// Why a registration was refused. A refused registration wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Closed,
    InviteRequired,
    InvalidInvite,
    UsernameTaken,
}

enum TxError {
    Refused(Refusal),
    Storage(StorageError),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Storage(e.into())
    }
}

impl From<StorageError> for TxError {
    fn from(e: StorageError) -> Self {
        TxError::Storage(e)
    }
}

/// Registers an account in one transaction. The first account of the instance becomes its
/// owner and needs no invite in any mode; later ones follow `mode`. An invite is used only if the
/// whole registration commits.
pub async fn register(
    conn: &mut AsyncPgConnection,
    r: &Registration<'_>,
) -> Result<std::result::Result<(User, Session), Refusal>> {
    let result = conn
        .transaction::<_, TxError, _>(async |conn| {
            users::lock_for_first_owner(conn).await?;
            let first = !users::any_exist(conn).await?;
            if !first {
                match r.mode {
                    RegistrationMode::Closed => return Err(TxError::Refused(Refusal::Closed)),
                    RegistrationMode::InviteOnly => {
                        let Some(code) = r.invite_code else {
                            return Err(TxError::Refused(Refusal::InviteRequired));
                        };
                        if invites::claim_use(conn, code).await?.is_none() {
                            return Err(TxError::Refused(Refusal::InvalidInvite));
                        }
                    }
                    RegistrationMode::Open => {}
                }
            }
            let role = if first {
                InstanceRole::Owner
            } else {
                InstanceRole::Member
            };
            let user = users::insert(
                conn,
                &NewUser {
                    id: r.user_id,
                    username: r.username,
                    display_name: r.display_name,
                    password_hash: r.password_hash,
                    role,
                    recovery_code_hash: r.recovery_code_hash,
                },
            )
            .await
            .map_err(|e| {
                if e.is_conflict_on("users_username_key") {
                    TxError::Refused(Refusal::UsernameTaken)
                } else {
                    TxError::Storage(e)
                }
            })?;
            devices::insert(
                conn,
                r.device_id,
                user.id,
                r.device_name,
                r.device_secret_hash,
            )
            .await?;
            let session = sessions::insert(
                conn,
                &NewSession {
                    id: r.session_id,
                    user_id: user.id,
                    device_id: r.device_id,
                    ip: r.ip,
                    user_agent: r.user_agent,
                    expires_at: r.session_expires_at,
                },
                r.refresh_hash,
            )
            .await?;
            Ok((user, session))
        })
        .await;
    match result {
        Ok(done) => Ok(Ok(done)),
        Err(TxError::Refused(refusal)) => Ok(Err(refusal)),
        Err(TxError::Storage(e)) => Err(e),
    }
}
