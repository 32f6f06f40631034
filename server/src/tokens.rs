//! Access tokens: biscuits signed with the server's Ed25519 root key, carrying the user, device,
//! session and expiry as authority facts. A token is accepted only if its signature verifies,
//! it has not expired, and its session is not in the revocation set.

use biscuit_auth::builder::{Algorithm, AuthorizerBuilder, BiscuitBuilder};
use biscuit_auth::{Biscuit, KeyPair, PrivateKey};
use chatalot_protocol::ids::{DeviceId, SessionId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;
use uuid::Uuid;

/// Who a verified token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub session_id: SessionId,
}

/// Why a token was refused (never shown to clients beyond "unauthorized").
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed or forged token")]
    Invalid,
    #[error("token expired or failed a check")]
    Refused,
    #[error("session revoked")]
    Revoked,
    #[error("cannot issue token: {0}")]
    Issue(String),
}

/// Issues and verifies access tokens.
#[derive(Clone)]
pub struct Tokens {
    root: Arc<KeyPair>,
    ttl: Duration,
    revoked: RevocationSet,
}

impl Tokens {
    /// Tokens signed by the Ed25519 key `secret`, valid for `ttl`.
    pub fn new(secret: &[u8; 32], ttl: Duration) -> Result<Self, TokenError> {
        let private = PrivateKey::from_bytes(secret, Algorithm::Ed25519)
            .map_err(|e| TokenError::Issue(e.to_string()))?;
        Ok(Tokens {
            root: Arc::new(KeyPair::from(&private)),
            ttl,
            revoked: RevocationSet::new(ttl + Duration::from_secs(60)),
        })
    }

    /// The set of revoked sessions.
    pub fn revocations(&self) -> &RevocationSet {
        &self.revoked
    }

    /// A new access token for `claims` and the moment it expires.
    pub fn issue(&self, claims: Claims) -> Result<(String, OffsetDateTime), TokenError> {
        let now = SystemTime::now();
        let expires = now + self.ttl;
        let mut params = HashMap::new();
        params.insert("user".to_owned(), claims.user_id.to_string().into());
        params.insert("device".to_owned(), claims.device_id.to_string().into());
        params.insert("session".to_owned(), claims.session_id.to_string().into());
        params.insert("exp".to_owned(), expires.into());
        let token = BiscuitBuilder::new()
            .code_with_params(
                "user({user}); device({device}); session({session});
                 check if time($t), $t <= {exp};",
                params,
                HashMap::new(),
            )
            .and_then(|b| b.build(&self.root))
            .and_then(|t| t.to_base64())
            .map_err(|e| TokenError::Issue(e.to_string()))?;
        let expires_at = OffsetDateTime::from(expires);
        Ok((token, expires_at))
    }

    /// The claims of a valid, unexpired, unrevoked token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        let biscuit =
            Biscuit::from_base64(token, self.root.public()).map_err(|_| TokenError::Invalid)?;
        let mut authorizer = AuthorizerBuilder::new()
            .set_limits(verify_limits())
            .time()
            .code("allow if user($u);")
            .and_then(|b| b.build(&biscuit))
            .map_err(|_| TokenError::Invalid)?;
        authorizer.authorize().map_err(|_| TokenError::Refused)?;
        let facts: Vec<(String, String, String)> = authorizer
            .query("claims($u, $d, $s) <- user($u), device($d), session($s)")
            .map_err(|_| TokenError::Invalid)?;
        let [(u, d, s)] = facts.as_slice() else {
            return Err(TokenError::Invalid);
        };
        let parse = |v: &str| Uuid::parse_str(v).map_err(|_| TokenError::Invalid);
        let claims = Claims {
            user_id: UserId(parse(u)?),
            device_id: DeviceId(parse(d)?),
            session_id: SessionId(parse(s)?),
        };
        if self.revoked.contains(claims.session_id) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }
}

impl chatalot_actors::Authenticator for Tokens {
    fn verify(&self, token: &str) -> Option<chatalot_actors::Claims> {
        Tokens::verify(self, token)
            .ok()
            .map(|c| chatalot_actors::Claims {
                user_id: c.user_id,
                device_id: c.device_id,
                session_id: c.session_id,
            })
    }

    fn is_revoked(&self, session: SessionId) -> bool {
        self.revoked.contains(session)
    }
}

/// Limits of one token check. The library's default allows 1 ms of wall-clock time, which a
/// loaded machine exceeds and so refuses valid tokens; the work itself is tiny and bounded by
/// the facts and iterations caps, so the time cap only guards against the pathological.
fn verify_limits() -> biscuit_auth::AuthorizerLimits {
    biscuit_auth::AuthorizerLimits {
        max_facts: 1000,
        max_iterations: 100,
        max_time: Duration::from_millis(250),
    }
}

/// Sessions whose access tokens must no longer be accepted. An entry is kept as long as a token
/// of that session could still be unexpired, then pruned.
#[derive(Clone)]
pub struct RevocationSet {
    inner: Arc<RwLock<HashMap<SessionId, std::time::Instant>>>,
    keep_for: Duration,
}

impl RevocationSet {
    fn new(keep_for: Duration) -> Self {
        RevocationSet {
            inner: Arc::new(RwLock::new(HashMap::new())),
            keep_for,
        }
    }

    /// How long a revoked session must be remembered.
    pub fn keep_for(&self) -> Duration {
        self.keep_for
    }

    /// Marks sessions revoked.
    pub fn insert_all(&self, sessions: impl IntoIterator<Item = SessionId>) {
        let now = std::time::Instant::now();
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, at| now.duration_since(*at) < self.keep_for);
        for s in sessions {
            map.insert(s, now);
        }
    }

    /// True if the session was revoked.
    pub fn contains(&self, session: SessionId) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            user_id: UserId::new(),
            device_id: DeviceId::new(),
            session_id: SessionId::new(),
        }
    }

    #[test]
    fn issued_token_verifies_to_its_claims() {
        let t = Tokens::new(&[7u8; 32], Duration::from_secs(60)).expect("key");
        let c = claims();
        let (token, _) = t.issue(c).expect("issued");
        assert_eq!(t.verify(&token).expect("valid"), c);
    }

    #[test]
    fn token_from_another_key_is_invalid() {
        let a = Tokens::new(&[1u8; 32], Duration::from_secs(60)).expect("key");
        let b = Tokens::new(&[2u8; 32], Duration::from_secs(60)).expect("key");
        let (token, _) = a.issue(claims()).expect("issued");
        assert!(matches!(b.verify(&token), Err(TokenError::Invalid)));
        assert!(matches!(a.verify("garbage"), Err(TokenError::Invalid)));
    }

    #[test]
    fn revoked_session_is_refused() {
        let t = Tokens::new(&[3u8; 32], Duration::from_secs(60)).expect("key");
        let c = claims();
        let (token, _) = t.issue(c).expect("issued");
        t.revocations().insert_all([c.session_id]);
        assert!(matches!(t.verify(&token), Err(TokenError::Revoked)));
    }

    #[test]
    fn expired_token_is_refused() {
        let t = Tokens::new(&[4u8; 32], Duration::from_secs(1)).expect("key");
        let (token, _) = t.issue(claims()).expect("issued");
        std::thread::sleep(Duration::from_millis(2100));
        assert!(matches!(t.verify(&token), Err(TokenError::Refused)));
    }
}
