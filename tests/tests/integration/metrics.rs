//! `GET /metrics`: Prometheus text with request counts and latency by route pattern, pool
//! figures and the real-time families; open to loopback only unless a token is configured (F83).

use crate::common::TestServer;

#[test]
fn metrics_count_requests_by_route_pattern_and_status_class() {
    let server = TestServer::start();
    let (alice, _) = server.register("alice");
    let r = alice.get("/api/v1/users/me");
    assert_eq!(r.status, 200);
    let r = alice.delete(&format!("/api/v1/sessions/{}", uuid::Uuid::new_v4()));
    assert_eq!(r.status, 404);

    let r = server.client().get("/metrics");
    assert_eq!(r.status, 200, "{}", r.text);
    let content_type = r.headers["content-type"].to_str().expect("ascii");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert_eq!(r.headers["cache-control"], "no-store");
    for sample in [
        r#"chatalot_http_requests_total{method="POST",route="/api/v1/accounts",status="2xx"}"#,
        r#"chatalot_http_requests_total{method="GET",route="/api/v1/users/me",status="2xx"}"#,
        // the pattern, not the concrete path, so that ids do not multiply the series
        r#"chatalot_http_requests_total{method="DELETE",route="/api/v1/sessions/{id}",status="4xx"}"#,
        r#"chatalot_http_request_duration_seconds_bucket{method="GET",route="/api/v1/users/me",le="+Inf"}"#,
        "chatalot_db_pool_max 16",
        "chatalot_db_pool_size ",
        "chatalot_db_pool_available ",
        "chatalot_ws_connections ",
        "chatalot_ws_sessions ",
        "chatalot_messages_stored_total ",
        "chatalot_messages_delivered_total ",
        "chatalot_ws_queue_drops_total ",
        "process_start_time_seconds ",
    ] {
        assert!(r.text.contains(sample), "{sample} missing:\n{}", r.text);
    }
    assert!(!r.text.contains(&alice.token.clone().expect("token")));
}

#[test]
fn metrics_without_a_token_answer_only_local_requests() {
    let server = TestServer::start();
    let mut c = server.client();
    assert_eq!(c.get("/metrics").status, 200);
    // a proxy on this host forwarding an outside client
    c.forwarded_for = Some("203.0.113.7".into());
    c.get("/metrics").assert_error(403, "forbidden");
    let r = c.raw(
        "GET",
        "/metrics",
        &[("forwarded", "for=203.0.113.7")],
        Vec::new(),
    );
    r.assert_error(403, "forbidden");
    c.forwarded_for = Some("127.0.0.1".into());
    assert_eq!(c.get("/metrics").status, 200);
}

#[test]
fn metrics_with_a_token_need_it() {
    let token = "metrics-token-0123456789";
    let server = TestServer::start_with(|c| c.server.metrics_token = Some(token.into()));
    let c = server.client();
    let r = c.get("/metrics");
    r.assert_error(401, "unauthorized");
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    c.with_token(Some("metrics-token-wrong-value"))
        .get("/metrics")
        .assert_error(401, "unauthorized");
    let r = c.with_token(Some(token)).get("/metrics");
    assert_eq!(r.status, 200, "{}", r.text);
    // with a token, forwarded requests are fine: the token is the credential
    let mut far = c.with_token(Some(token));
    far.forwarded_for = Some("203.0.113.7".into());
    assert_eq!(far.get("/metrics").status, 200);
}
