//! Nothing sensitive is logged, even at the most verbose level: the real binary runs with
//! `CHATALOT_LOG=trace` and JSON logs while a client registers, logs in, refreshes, sets up 2FA
//! and recovers the account with canary values; none of the secrets appears in the captured
//! output (F83).

use crate::support::{command, free_port, Server, TempDir};
use serde_json::json;
use std::process::Stdio;

fn totp_now(secret: &str) -> String {
    let secret = chatalot_server::totp::base32_decode(secret).expect("base32 secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    format!("{:06}", chatalot_server::totp::code_at(&secret, now / 30))
}

fn text(v: &serde_json::Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_owned()
}

#[test]
fn trace_logs_carry_no_passwords_tokens_or_codes() {
    let dir = TempDir::new("logs");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let err = log.try_clone().expect("log file");
    let mut cmd = command(dir.path());
    cmd.env("CHATALOT_LOG", "trace")
        .env("CHATALOT_LOG_FORMAT", "json")
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err));
    let server = Server::start(cmd, free_port());

    let username = "canary_user_7q";
    let password = "Canary-Passw0rd-zx81QmT4";
    let new_password = "Canary-NewPass-pv53RwK9";
    let mut secrets: Vec<String> = vec![password.into(), new_password.into()];

    // register the owner with the setup token the server printed (the one secret meant for
    // the log: it only works until the owner exists)
    let printed = std::fs::read_to_string(&log_path).expect("log");
    let setup_token: String = printed
        .split("#setup=")
        .nth(1)
        .expect("the setup link is in the log")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    assert_eq!(setup_token.len(), 29, "{setup_token}");
    let (status, reg) = server.send(
        "POST",
        "/api/v1/accounts",
        None,
        Some(&json!({"username": username, "password": password, "setup_token": setup_token})),
    );
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["user"]["role"], "owner");
    for key in [
        "access_token",
        "refresh_token",
        "device_secret",
        "recovery_code",
    ] {
        secrets.push(text(&reg, key));
    }
    let device_id = text(&reg, "device_id");
    let device_secret = text(&reg, "device_secret");
    let recovery_code = text(&reg, "recovery_code");

    // log in on the known device, then refresh
    let (status, login) = server.send(
        "POST",
        "/api/v1/sessions",
        None,
        Some(&json!({"username": username, "password": password,
                     "device_id": device_id, "device_secret": device_secret})),
    );
    assert_eq!(status, 201, "{login}");
    secrets.push(text(&login, "access_token"));
    let (status, pair) = server.send(
        "POST",
        "/api/v1/sessions/refresh",
        None,
        Some(&json!({"refresh_token": text(&login, "refresh_token")})),
    );
    assert_eq!(status, 200, "{pair}");
    secrets.push(text(&login, "refresh_token"));
    secrets.push(text(&pair, "refresh_token"));
    secrets.push(text(&pair, "access_token"));
    let token = text(&pair, "access_token");

    // an invite: its code is stored as issued, so it crosses the database connection
    let (status, invite) = server.send("POST", "/api/v1/invites", Some(&token), Some(&json!({})));
    assert_eq!(status, 201, "{invite}");
    secrets.push(text(&invite, "code"));

    // a failed login with a wrong password that is also a canary
    let wrong = "Canary-WrongPass-hh20Xa";
    secrets.push(wrong.into());
    let (status, _) = server.send(
        "POST",
        "/api/v1/sessions",
        None,
        Some(&json!({"username": username, "password": wrong})),
    );
    assert_eq!(status, 401);

    // 2FA setup and a login with a backup code
    let (status, setup) = server.send(
        "POST",
        "/api/v1/users/me/totp",
        Some(&token),
        Some(&json!({"password": password})),
    );
    assert_eq!(status, 200, "{setup}");
    let totp_secret = text(&setup, "secret");
    secrets.push(totp_secret.clone());
    secrets.push(text(&setup, "otpauth_url"));
    let (status, codes) = server.send(
        "POST",
        "/api/v1/users/me/totp/confirm",
        Some(&token),
        Some(&json!({"code": totp_now(&totp_secret)})),
    );
    assert_eq!(status, 200, "{codes}");
    let backup_codes: Vec<String> = codes["backup_codes"]
        .as_array()
        .expect("backup codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    secrets.extend(backup_codes.iter().cloned());
    let (status, login) = server.send(
        "POST",
        "/api/v1/sessions",
        None,
        Some(&json!({"username": username, "password": password,
                     "totp_code": backup_codes[0]})),
    );
    assert_eq!(status, 201, "{login}");
    secrets.push(text(&login, "access_token"));
    secrets.push(text(&login, "refresh_token"));

    // recovery with the recovery code, then a login with the new password
    let (status, rec) = server.send(
        "POST",
        "/api/v1/recoveries",
        None,
        Some(
            &json!({"username": username, "recovery_code": recovery_code,
                     "new_password": new_password}),
        ),
    );
    assert_eq!(status, 200, "{rec}");
    secrets.push(text(&rec, "recovery_code"));
    let (status, login) = server.send(
        "POST",
        "/api/v1/sessions",
        None,
        Some(&json!({"username": username, "password": new_password,
                     "totp_code": backup_codes[1]})),
    );
    assert_eq!(status, 201, "{login}");
    secrets.push(text(&login, "access_token"));
    secrets.push(text(&login, "refresh_token"));
    server.stop();

    let captured = std::fs::read_to_string(&log_path).expect("log");
    let lines: Vec<&str> = captured.lines().collect();
    assert!(lines.len() > 20, "the log captured the run:\n{captured}");
    assert!(
        captured.contains("\"level\":\"TRACE\"") || captured.contains("\"level\":\"DEBUG\""),
        "verbose levels were on"
    );
    assert!(
        captured.contains("/api/v1/sessions/refresh"),
        "the access log is there"
    );
    let mut leaks = Vec::new();
    for secret in &secrets {
        // codes are also searched without their separators, and every secret as the list of
        // byte values a `Debug` of its bytes would print
        let bytes = |s: &str| {
            s.bytes()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let forms = [
            secret.clone(),
            secret.replace('-', ""),
            bytes(secret),
            bytes(&secret.replace('-', "")),
        ];
        for form in forms.iter().filter(|f| f.len() >= 8) {
            let hits = lines.iter().filter(|l| l.contains(form.as_str())).count();
            if hits > 0 {
                let first = lines.iter().find(|l| l.contains(form.as_str()));
                leaks.push(format!("{form}: {hits} lines, e.g. {first:?}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets in the log:\n{}",
        leaks.join("\n")
    );
    eprintln!(
        "scanned {} log lines ({} bytes) for {} secrets: no hits",
        lines.len(),
        captured.len(),
        secrets.len()
    );
}
