//! Access tokens: biscuits signed with the server's Ed25519 root key, carrying the user, device,
//! session and expiry in their authority block.
//!
//! Anyone holding a biscuit can append blocks to it without a key, so a token's blocks after
//! the first are attacker-controlled input. The server therefore never evaluates a token's
//! Datalog. A token is accepted only when it has exactly the shape the server mints, plus at
//! most [`MAX_ATTENUATIONS`] appended blocks, each made only of checks of a form the product
//! defines (today one form: a shorter expiry, `check if time($t), $t <= <date>;`). The checks
//! run, in order: the length, the count and kind of blocks, the signature chain, the authority
//! block's claims, the revocation set, the attenuation blocks, and the expiry. Each step is
//! linear in the token's length (at most [`MAX_TOKEN_CHARS`]), so refusing any token costs a
//! few tens of microseconds however it was built.

use biscuit_auth::builder::{Algorithm, BiscuitBuilder};
use biscuit_auth::{KeyPair, PrivateKey, UnverifiedBiscuit};
use chatalot_protocol::ids::{DeviceId, SessionId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// Longest token accepted, in characters (a minted token is about 400).
pub const MAX_TOKEN_CHARS: usize = 2048;
/// Most blocks a holder may append to a minted token.
pub const MAX_ATTENUATIONS: usize = 3;
/// Most checks in one appended block.
pub const MAX_CHECKS_PER_BLOCK: usize = 4;
/// Most new symbols one appended block may introduce (its variable names).
const MAX_SYMBOLS_PER_BLOCK: usize = 4;

/// Who a verified token speaks for, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub user_id: UserId,
    pub device_id: DeviceId,
    pub session_id: SessionId,
    /// The earliest expiry of the token and its attenuations.
    pub expires_at: OffsetDateTime,
}

/// Why a token was refused (never shown to clients beyond "unauthorized").
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed or forged token")]
    Invalid,
    #[error("token has a block the server does not accept")]
    Shape,
    #[error("token expired")]
    Expired,
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

    /// A new access token for a session of `user` on `device`, and the moment it expires.
    pub fn issue(
        &self,
        user: UserId,
        device: DeviceId,
        session: SessionId,
    ) -> Result<(String, OffsetDateTime), TokenError> {
        // whole seconds: the token's date has second precision
        let now = OffsetDateTime::now_utc();
        let expires_at = now.replace_nanosecond(0).unwrap_or(now) + self.ttl;
        let mut params = HashMap::new();
        params.insert("user".to_owned(), user.to_string().into());
        params.insert("device".to_owned(), device.to_string().into());
        params.insert("session".to_owned(), session.to_string().into());
        params.insert("exp".to_owned(), SystemTime::from(expires_at).into());
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
        Ok((token, expires_at))
    }

    /// The claims of a valid, unexpired, unrevoked token of an accepted shape. Evaluates no
    /// Datalog (see the module documentation).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_at(token, OffsetDateTime::now_utc())
    }

    fn verify_at(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Invalid);
        }
        // decoding only: no signature check, no evaluation
        let unverified = UnverifiedBiscuit::from_base64(token).map_err(|_| TokenError::Invalid)?;
        let blocks = unverified.block_count();
        if blocks > 1 + MAX_ATTENUATIONS {
            return Err(TokenError::Shape);
        }
        if unverified
            .external_public_keys()
            .iter()
            .any(Option::is_some)
        {
            // third-party blocks are not part of the product
            return Err(TokenError::Shape);
        }
        let biscuit = unverified
            .verify(self.root.public())
            .map_err(|_| TokenError::Invalid)?;
        let authority = biscuit
            .print_block_source(0)
            .map_err(|_| TokenError::Invalid)?;
        let mut claims = parse_authority(&authority).ok_or(TokenError::Invalid)?;
        if self.revoked.contains(claims.session_id) {
            return Err(TokenError::Revoked);
        }
        for i in 1..blocks {
            let symbols = biscuit.block_symbols(i).map_err(|_| TokenError::Shape)?;
            if symbols.len() > MAX_SYMBOLS_PER_BLOCK || symbols.iter().any(|s| s.len() > 16) {
                return Err(TokenError::Shape);
            }
            let source = biscuit
                .print_block_source(i)
                .map_err(|_| TokenError::Shape)?;
            for expiry in parse_attenuation(&source).ok_or(TokenError::Shape)? {
                claims.expires_at = claims.expires_at.min(expiry);
            }
        }
        if now > claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// The claims of the authority block the server mints, exactly:
/// `user("…"); device("…"); session("…"); check if time($t), $t <= <date>;` (one per line, as
/// biscuit prints them). Anything else is not a token of this server.
fn parse_authority(source: &str) -> Option<Claims> {
    let mut lines = source.lines();
    let mut fact = |name: &str| -> Option<Uuid> {
        let line = lines.next()?;
        let inner = line
            .strip_prefix(name)?
            .strip_prefix("(\"")?
            .strip_suffix("\");")?;
        Uuid::parse_str(inner).ok()
    };
    let user_id = UserId(fact("user")?);
    let device_id = DeviceId(fact("device")?);
    let session_id = SessionId(fact("session")?);
    let expires_at = parse_expiry_check(lines.next()?)?;
    if lines.next().is_some() {
        return None;
    }
    Some(Claims {
        user_id,
        device_id,
        session_id,
        expires_at,
    })
}

/// The expiries of an appended block made only of accepted checks (at most
/// [`MAX_CHECKS_PER_BLOCK`]); None for any other block.
fn parse_attenuation(source: &str) -> Option<Vec<OffsetDateTime>> {
    let mut out = Vec::new();
    for line in source.lines() {
        if out.len() == MAX_CHECKS_PER_BLOCK {
            return None;
        }
        out.push(parse_expiry_check(line)?);
    }
    (!out.is_empty()).then_some(out)
}

/// `check if time($v), $v <= <RFC 3339 date>;` with one variable name used twice.
fn parse_expiry_check(line: &str) -> Option<OffsetDateTime> {
    let rest = line.strip_prefix("check if time($")?;
    let (var, rest) = rest.split_once("), $")?;
    let rest = rest.strip_prefix(var)?.strip_prefix(" <= ")?;
    let date = rest.strip_suffix(';')?;
    let valid_var = !var.is_empty()
        && var.len() <= 16
        && var
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid_var || date.len() > 32 {
        return None;
    }
    OffsetDateTime::parse(date, &Rfc3339).ok()
}

impl chatalot_actors::Authenticator for Tokens {
    fn verify(&self, token: &str) -> Option<chatalot_actors::Claims> {
        Tokens::verify(self, token)
            .ok()
            .map(|c| chatalot_actors::Claims {
                user_id: c.user_id,
                device_id: c.device_id,
                session_id: c.session_id,
                expires_at: c.expires_at,
            })
    }

    fn is_revoked(&self, session: SessionId) -> bool {
        self.revoked.contains(session)
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
    use biscuit_auth::{Biscuit, BlockBuilder};
    use std::time::Instant;

    fn tokens(seed: u8, ttl: u64) -> Tokens {
        Tokens::new(&[seed; 32], Duration::from_secs(ttl)).expect("key")
    }

    fn ids() -> (UserId, DeviceId, SessionId) {
        (UserId::new(), DeviceId::new(), SessionId::new())
    }

    /// `token` with one block of `code` appended by its holder (no key needed).
    fn attenuate(t: &Tokens, token: &str, code: &str) -> String {
        let b = Biscuit::from_base64(token, t.root.public()).expect("own token");
        let block = BlockBuilder::new().code(code).expect("datalog");
        b.append(block)
            .expect("append")
            .to_base64()
            .expect("encode")
    }

    #[test]
    fn issued_token_verifies_to_its_claims() {
        let t = tokens(7, 60);
        let (u, d, s) = ids();
        let (token, exp) = t.issue(u, d, s).expect("issued");
        let c = t.verify(&token).expect("valid");
        assert_eq!((c.user_id, c.device_id, c.session_id), (u, d, s));
        assert_eq!(c.expires_at, exp);
        assert!(
            token.len() < 600,
            "minted tokens stay short: {}",
            token.len()
        );
    }

    #[test]
    fn token_from_another_key_is_invalid() {
        let (a, b) = (tokens(1, 60), tokens(2, 60));
        let (u, d, s) = ids();
        let (token, _) = a.issue(u, d, s).expect("issued");
        assert_eq!(b.verify(&token), Err(TokenError::Invalid));
        assert_eq!(a.verify("garbage"), Err(TokenError::Invalid));
    }

    #[test]
    fn revoked_session_is_refused() {
        let t = tokens(3, 60);
        let (u, d, s) = ids();
        let (token, _) = t.issue(u, d, s).expect("issued");
        t.revocations().insert_all([s]);
        assert_eq!(t.verify(&token), Err(TokenError::Revoked));
        // revocation is checked before any appended block is looked at
        let heavy = attenuate(&t, &token, "a($x) <- b($x); b(1);");
        assert_eq!(t.verify(&heavy), Err(TokenError::Revoked));
    }

    #[test]
    fn expired_token_is_refused() {
        let t = tokens(4, 60);
        let (u, d, s) = ids();
        let (token, exp) = t.issue(u, d, s).expect("issued");
        let later = exp + time::Duration::seconds(1);
        assert_eq!(t.verify_at(&token, later), Err(TokenError::Expired));
        assert!(t.verify_at(&token, exp).is_ok());
    }

    #[test]
    fn a_shorter_expiry_appended_by_the_holder_is_honoured() {
        let t = tokens(5, 600);
        let (u, d, s) = ids();
        let (token, exp) = t.issue(u, d, s).expect("issued");
        let soon = (OffsetDateTime::now_utc() + time::Duration::seconds(30))
            .replace_nanosecond(0)
            .expect("valid");
        let date = soon.format(&Rfc3339).expect("format");
        let short = attenuate(
            &t,
            &token,
            &format!("check if time($time), $time <= {date};"),
        );
        assert_eq!(t.verify(&short).expect("valid").expires_at, soon);
        // a later date cannot extend the token
        let late = (exp + time::Duration::days(9))
            .format(&Rfc3339)
            .expect("format");
        let long = attenuate(&t, &token, &format!("check if time($t), $t <= {late};"));
        assert_eq!(t.verify(&long).expect("valid").expires_at, exp);
        // three blocks are accepted, a fourth is not
        let mut chained = short.clone();
        for _ in 0..2 {
            chained = attenuate(&t, &chained, &format!("check if time($t), $t <= {date};"));
        }
        assert!(t.verify(&chained).is_ok());
        let four = attenuate(&t, &chained, &format!("check if time($t), $t <= {date};"));
        assert_eq!(t.verify(&four), Err(TokenError::Shape));
        // a past date expires the token
        let past = attenuate(&t, &token, "check if time($t), $t <= 2020-01-01T00:00:00Z;");
        assert_eq!(t.verify(&past), Err(TokenError::Expired));
    }

    /// Blocks a holder could append to make an evaluating server work hard: recursion, fact
    /// floods, cartesian joins, huge expressions, regular expressions, and checks that merely
    /// look like an expiry. Each is refused, quickly, without being evaluated.
    #[test]
    fn hostile_blocks_are_refused_in_microseconds() {
        let t = tokens(6, 600);
        let (u, d, s) = ids();
        let (token, _) = t.issue(u, d, s).expect("issued");
        let facts: String = (0..60).map(|i| format!("n({i});")).collect();
        let big_expr = format!(
            "check if {};",
            (0..80)
                .map(|i| format!("{i} + {i} == {}", 2 * i))
                .collect::<Vec<_>>()
                .join(" && ")
        );
        let corpus = [
            "a($x) <- a($x);".to_owned(),
            "path($x, $z) <- path($x, $y), path($y, $z); path(1, 2); path(2, 3);".to_owned(),
            facts.clone(),
            format!("{facts} p($a, $b, $c) <- n($a), n($b), n($c);"),
            format!("{facts} check if n($a), n($b), n($c), n($d), $a + $b + $c + $d == -1;"),
            big_expr,
            "check if \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\".matches(\"(a+)+$\");".to_owned(),
            "check if time($t), $t <= 2099-01-01T00:00:00Z, $t >= 1999-01-01T00:00:00Z;".to_owned(),
            "check all time($t), $t <= 2099-01-01T00:00:00Z;".to_owned(),
            "reject if user($u);".to_owned(),
            "check if time($t), $t <= 2099-01-01T00:00:00Z trusting previous;".to_owned(),
            "check if operation(\"read\");".to_owned(),
            "user(\"someone-else\");".to_owned(),
            "session(\"another\"); check if time($t), $t <= 2099-01-01T00:00:00Z;".to_owned(),
        ];
        for code in &corpus {
            let hostile = attenuate(&t, &token, code);
            let started = Instant::now();
            let got = t.verify(&hostile);
            let took = started.elapsed();
            assert!(
                matches!(got, Err(TokenError::Shape) | Err(TokenError::Invalid)),
                "accepted: {code}: {got:?}"
            );
            assert!(took < Duration::from_millis(20), "{code} took {took:?}");
        }
        // a token too long to be one of ours is refused unread
        let long = "A".repeat(MAX_TOKEN_CHARS + 1);
        assert_eq!(t.verify(&long), Err(TokenError::Invalid));
    }
}
