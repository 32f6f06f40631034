//! Input rules shared by the routes. Each failure names the field and the rule.

use crate::error::{ApiError, ApiResult};
use chatalot_protocol::api::{community_limits, limits};
use chatalot_protocol::ErrorCode;

/// Lower-cases and checks a username: 3-32 of `a-z 0-9 _ . -`, starting with a letter or digit.
pub fn username(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim().to_ascii_lowercase();
    let ok_len = (limits::USERNAME_MIN..=limits::USERNAME_MAX).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
    let ok_first = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok_len && ok_chars && ok_first {
        Ok(name)
    } else {
        Err(ApiError::invalid(
            "username: 3 to 32 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit",
        ))
    }
}

/// Checks that a login or recovery username is at least plausibly sized and free of control
/// characters (PostgreSQL text cannot hold NUL); the rest is left to the lookup, so that every
/// printable name that is not an account answers like a wrong password.
pub fn login_username(raw: &str) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > 64 || raw.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "username: 1 to 64 characters, no control characters",
        ));
    }
    Ok(raw.trim().to_ascii_lowercase())
}

/// A password given to log in or to confirm: only bounded in size.
pub fn given_password(raw: &str) -> Result<(), ApiError> {
    if raw.is_empty() || raw.len() > limits::PASSWORD_MAX {
        return Err(ApiError::invalid("password: 1 to 256 bytes"));
    }
    Ok(())
}

/// A new password: 10 to 256 bytes and not containing the username.
pub fn new_password(raw: &str, username: &str) -> Result<(), ApiError> {
    if raw.len() < limits::PASSWORD_MIN || raw.len() > limits::PASSWORD_MAX {
        return Err(ApiError::new(
            ErrorCode::WeakPassword,
            "password: 10 to 256 bytes; a long passphrase is best",
        ));
    }
    if raw.to_lowercase().contains(username) {
        return Err(ApiError::new(
            ErrorCode::WeakPassword,
            "password: must not contain the username",
        ));
    }
    if raw.chars().all(|c| raw.starts_with(c)) {
        return Err(ApiError::new(
            ErrorCode::WeakPassword,
            "password: must not repeat a single character",
        ));
    }
    Ok(())
}

/// A display name: trimmed, 1-64 characters, no control characters.
pub fn display_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let n = name.chars().count();
    if n == 0 || n > limits::DISPLAY_NAME_MAX || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "display_name: 1 to 64 characters without control characters",
        ));
    }
    if let Some(why) = deceptive(name) {
        return Err(ApiError::invalid(format!("display_name: {why}")));
    }
    Ok(name.to_owned())
}

/// Why a name could mislead its readers, if it could: direction overrides and isolates
/// (which reorder what follows, so "gnp.exe" reads "exe.png"), and invisible characters that
/// make two names look alike or a name look empty. Joiners stay allowed between visible
/// characters (emoji sequences and several scripts need them).
pub fn deceptive(name: &str) -> Option<&'static str> {
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        match c {
            '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}' => return Some("no text direction controls"),
            '\u{200B}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{00AD}'
            | '\u{180E}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{3164}'
            | '\u{FFA0}'
            | '\u{2800}' => return Some("no invisible characters"),
            '\u{200C}' | '\u{200D}' => {
                let visible = |j: Option<&char>| {
                    j.is_some_and(|c| !c.is_whitespace() && !matches!(c, '\u{200C}' | '\u{200D}'))
                };
                if !visible(i.checked_sub(1).and_then(|j| chars.get(j)))
                    || !visible(chars.get(i + 1))
                {
                    return Some("joiners only between visible characters");
                }
            }
            _ => {}
        }
    }
    None
}

/// A device name: from the request, else derived from the User-Agent, else a generic one.
pub fn device_name(raw: Option<&str>, user_agent: Option<&str>) -> Result<String, ApiError> {
    if let Some(raw) = raw {
        let name = raw.trim();
        let n = name.chars().count();
        if n == 0 || n > limits::DEVICE_NAME_MAX || name.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "device_name: 1 to 64 characters without control characters",
            ));
        }
        return Ok(name.to_owned());
    }
    Ok(match user_agent {
        Some(ua) if !ua.trim().is_empty() => {
            ua.trim().chars().take(limits::DEVICE_NAME_MAX).collect()
        }
        _ => "Unknown device".to_owned(),
    })
}

/// A typed code (TOTP, backup, recovery, invite): bounded in size, no control characters.
pub fn code(raw: &str, field: &'static str) -> Result<(), ApiError> {
    if raw.is_empty() || raw.len() > 64 || raw.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "{field}: 1 to 64 characters, no control characters"
        )));
    }
    Ok(())
}

/// A trimmed text field of `min..=max` characters without control characters (newlines are
/// allowed).
pub fn text(raw: &str, field: &str, min: usize, max: usize) -> ApiResult<String> {
    let t = raw.trim();
    let n = t.chars().count();
    if n < min || n > max || t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(format!(
            "{field}: {min} to {max} characters without control characters"
        )));
    }
    Ok(t.to_owned())
}

/// A one-line text field (names, statuses): as `text`, without line breaks or characters that
/// could mislead.
pub fn line(raw: &str, field: &str, min: usize, max: usize) -> ApiResult<String> {
    let t = text(raw, field, min, max)?;
    if t.contains('\n') {
        return Err(ApiError::invalid(format!("{field}: one line")));
    }
    if let Some(why) = deceptive(&t) {
        return Err(ApiError::invalid(format!("{field}: {why}")));
    }
    Ok(t)
}

/// A channel's slow mode: 0 (off) or `SLOW_MODE_MIN_SECS` to `SLOW_MODE_MAX_SECS`.
pub fn slow_mode(secs: i32) -> ApiResult<i32> {
    let range = community_limits::SLOW_MODE_MIN_SECS..=community_limits::SLOW_MODE_MAX_SECS;
    if secs == 0 || range.contains(&secs) {
        Ok(secs)
    } else {
        Err(ApiError::invalid(format!(
            "slow_mode_secs: 0 (off) or {} to {} seconds",
            range.start(),
            range.end()
        )))
    }
}

/// The bounds of an invite, for registration and community invites alike.
pub fn invite_limits(max_uses: Option<u32>, expires_in_secs: Option<u64>) -> ApiResult<()> {
    if max_uses.is_some_and(|n| n == 0 || n > limits::INVITE_MAX_USES) {
        return Err(ApiError::invalid(format!(
            "max_uses: 1 to {}, or absent for unlimited",
            limits::INVITE_MAX_USES
        )));
    }
    if expires_in_secs.is_some_and(|s| !(60..=limits::INVITE_MAX_LIFETIME_SECS).contains(&s)) {
        return Err(ApiError::invalid(format!(
            "expires_in_secs: 60 to {} (one year), or absent for no expiry",
            limits::INVITE_MAX_LIFETIME_SECS
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username(" Alice ").expect("ok"), "alice");
        for bad in ["ab", "_alice", "al ice", "alïce", &"a".repeat(33)] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn typed_names_and_codes_refuse_control_characters() {
        // PostgreSQL text cannot hold NUL: these must be refused before any lookup
        assert_eq!(login_username(" Bob ").expect("ok"), "bob");
        assert!(login_username("b\u{0}ob").is_err());
        assert!(login_username("bob\n").is_err());
        assert!(code("ABCD-1234", "code").is_ok());
        assert!(code("AB\u{0}", "code").is_err());
    }

    #[test]
    fn passwords() {
        assert!(new_password("correct horse battery", "alice").is_ok());
        assert!(new_password("short", "alice").is_err());
        assert!(new_password("alice-is-great", "alice").is_err());
        assert!(new_password("aaaaaaaaaaaa", "bob").is_err());
        assert!(new_password(&"x".repeat(257), "bob").is_err());
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name("  Ann ").expect("ok"), "Ann");
        assert!(display_name("").is_err());
        assert!(display_name("a\u{0007}b").is_err());
        assert!(display_name(&"é".repeat(65)).is_err());
    }

    #[test]
    fn names_that_could_mislead_are_refused() {
        for bad in [
            "admin\u{202E}gnp.exe",
            "\u{2067}alice",
            "ali\u{200B}ce",
            "\u{FEFF}bob",
            "\u{3164}",
            "\u{200D}bob",
            "bob\u{200D}",
            "a\u{200D}\u{200D}b",
        ] {
            assert!(display_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "Alice",
            "👨\u{200D}👩\u{200D}👧 family",
            "می\u{200C}خواهم",
            "Zoë Ångström",
            "שלום",
        ] {
            assert!(display_name(good).is_ok(), "{good:?} refused");
        }
    }
}
