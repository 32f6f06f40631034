//! Server secrets kept in files: read when present, generated with mode 0600 on first start.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use zeroize::Zeroizing;

/// Failure to read or create a secret file.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("secret file {path} must hold {len} bytes as hex")]
    Malformed { path: String, len: usize },
    #[error("secret file {path} is readable by other users (mode {mode:o}); chmod 600 it")]
    Permissions { path: String, mode: u32 },
}

/// The `LEN`-byte secret in `path` (hex), generated from the OS RNG if the file is missing.
pub fn load_or_create<const LEN: usize>(path: &Path) -> Result<Zeroizing<[u8; LEN]>, SecretError> {
    let shown = path.display().to_string();
    let io = |source| SecretError::Io {
        path: shown.clone(),
        source,
    };
    match fs::read_to_string(path) {
        Ok(text) => {
            let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretError::Permissions { path: shown, mode });
            }
            let text = Zeroizing::new(text);
            decode_hex::<LEN>(text.trim()).ok_or(SecretError::Malformed {
                path: shown,
                len: LEN,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if !dir.exists() {
                    fs::create_dir_all(dir).map_err(io)?;
                    // a directory made for secrets is private too (an existing one is left alone)
                    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
                }
            }
            let mut key = Zeroizing::new([0u8; LEN]);
            getrandom::fill(key.as_mut()).map_err(|e| io(std::io::Error::other(e)))?;
            let hex = Zeroizing::new(encode_hex(key.as_ref()));
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            file.write_all(hex.as_bytes()).map_err(io)?;
            file.write_all(b"\n").map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::info!(path = %shown, "generated a new secret");
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex<const LEN: usize>(s: &str) -> Option<Zeroizing<[u8; LEN]>> {
    if s.len() != LEN * 2 || !s.is_ascii() {
        return None;
    }
    let mut out = Zeroizing::new([0u8; LEN]);
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("chatalot-secret-{}", uuid::Uuid::new_v4()));
        let path = dir.join("secrets").join("k.key");
        let a = load_or_create::<32>(&path).expect("created");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = load_or_create::<32>(&path).expect("read back");
        assert_eq!(*a, *b);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            load_or_create::<32>(&path),
            Err(SecretError::Permissions { .. })
        ));
        fs::write(&path, "zz").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(matches!(
            load_or_create::<32>(&path),
            Err(SecretError::Malformed { .. })
        ));
        let _ = fs::remove_dir_all(dir);
    }
}
