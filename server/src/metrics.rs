//! Prometheus metrics: a small registry of counters, gauges and one latency histogram, all plain
//! atomics, rendered in the Prometheus text format at `GET /metrics`.
//!
//! HTTP requests are counted by the `record` middleware, labelled by route pattern (one of
//! `routes::ROUTES` or `/metrics`; anything else is `other`), method and status class. The
//! real-time gateway's counters (connections, sessions, messages stored and delivered, queue
//! drops) are the atomics of `chatalot_actors::stats`, read when the page is rendered.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Upper bounds of the latency histogram buckets, in seconds (`+Inf` is implied).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The label of requests that match no route of the API (the web app, unknown paths).
const OTHER: &str = "other";
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

static START_TIME: OnceLock<f64> = OnceLock::new();

/// Records the process start time; called once when the server starts (later calls keep the
/// first value).
pub fn mark_start() {
    START_TIME.get_or_init(unix_now);
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Counters of one (method, route) pair.
struct RouteStats {
    method: &'static str,
    route: &'static str,
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl RouteStats {
    fn new(method: &'static str, route: &'static str) -> Self {
        RouteStats {
            method,
            route,
            by_class: Default::default(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, status: StatusCode, elapsed: Duration) {
        let class = usize::from(status.as_u16() / 100)
            .clamp(1, 5)
            .saturating_sub(1);
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// One `RouteStats` per known (method, pattern), plus one per method for everything else.
struct HttpStats {
    routes: Vec<RouteStats>,
    index: HashMap<(&'static str, &'static str), usize>,
}

const OTHER_METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", OTHER,
];

fn http_stats() -> &'static HttpStats {
    static STATS: OnceLock<HttpStats> = OnceLock::new();
    STATS.get_or_init(|| {
        let mut routes = Vec::new();
        let mut index = HashMap::new();
        let known = crate::routes::ROUTES
            .iter()
            .copied()
            .chain([("GET", "/metrics")])
            .chain(OTHER_METHODS.iter().map(|m| (*m, OTHER)));
        for (method, route) in known {
            index.insert((method, route), routes.len());
            routes.push(RouteStats::new(method, route));
        }
        HttpStats { routes, index }
    })
}

fn method_label(method: &Method) -> &'static str {
    OTHER_METHODS
        .iter()
        .copied()
        .find(|m| *m == method.as_str())
        .unwrap_or(OTHER)
}

fn observe(pattern: Option<&str>, method: &Method, status: StatusCode, elapsed: Duration) {
    let stats = http_stats();
    let m = method_label(method);
    let plain = pattern.map(crate::routes::plain_pattern);
    let slot = plain
        .as_deref()
        .and_then(|p| stats.index.get(&(m, p)))
        .or_else(|| stats.index.get(&(m, OTHER)));
    if let Some(&i) = slot {
        stats.routes[i].observe(status, elapsed);
    }
}

/// Middleware: counts every request by route pattern, method and status class, and observes the
/// time until the response head is ready.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().clone();
    let res = next.call(req).await;
    let elapsed = start.elapsed();
    match &res {
        Ok(r) => observe(
            r.request().match_pattern().as_deref(),
            &method,
            r.status(),
            elapsed,
        ),
        Err(e) => observe(None, &method, e.as_response_error().status_code(), elapsed),
    }
    res
}

/// The pool figures shown by `render`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolFigures {
    pub size: usize,
    pub available: usize,
    pub max: usize,
}

/// The whole registry in the Prometheus text format (version 0.0.4).
pub fn render(pool: PoolFigures) -> String {
    let mut out = String::with_capacity(8192);
    let stats = http_stats();

    family(
        &mut out,
        "chatalot_http_requests_total",
        "counter",
        "HTTP requests answered, by route pattern, method and status class.",
    );
    for r in &stats.routes {
        for (class, n) in STATUS_CLASSES.iter().zip(&r.by_class) {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "chatalot_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{class}\"}} {n}",
                    r.method, r.route
                );
            }
        }
    }

    family(
        &mut out,
        "chatalot_http_request_duration_seconds",
        "histogram",
        "Time from receiving a request to its response head, by route pattern and method.",
    );
    for r in &stats.routes {
        let count = r.count.load(Ordering::Relaxed);
        if count == 0 {
            continue;
        }
        let labels = format!("method=\"{}\",route=\"{}\"", r.method, r.route);
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(&r.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "chatalot_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "chatalot_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let sum = r.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "chatalot_http_request_duration_seconds_sum{{{labels}}} {sum}"
        );
        let _ = writeln!(
            out,
            "chatalot_http_request_duration_seconds_count{{{labels}}} {count}"
        );
    }

    let realtime = chatalot_actors::stats::stats();
    let gauges: [(&str, &str, i64); 5] = [
        (
            "chatalot_db_pool_size",
            "Open connections in the database pool.",
            i64::try_from(pool.size).unwrap_or(i64::MAX),
        ),
        (
            "chatalot_db_pool_available",
            "Idle connections in the database pool.",
            i64::try_from(pool.available).unwrap_or(i64::MAX),
        ),
        (
            "chatalot_db_pool_max",
            "Largest number of connections the database pool opens (database.pool_size).",
            i64::try_from(pool.max).unwrap_or(i64::MAX),
        ),
        (
            "chatalot_ws_connections",
            "Open WebSocket connections.",
            realtime.connections.load(Ordering::Relaxed),
        ),
        (
            "chatalot_ws_sessions",
            "Authenticated WebSocket sessions.",
            realtime.sessions.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, value) in gauges {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }

    let counters: [(&str, &str, u64); 4] = [
        (
            "chatalot_messages_stored_total",
            "Messages committed to the database.",
            realtime.messages_stored.load(Ordering::Relaxed),
        ),
        (
            "chatalot_messages_delivered_total",
            "Message copies written to WebSocket sessions.",
            realtime.messages_delivered.load(Ordering::Relaxed),
        ),
        (
            "chatalot_ws_queue_drops_total",
            "Sessions dropped because their outbound queue was full.",
            realtime.queue_drops.load(Ordering::Relaxed),
        ),
        (
            "chatalot_actor_restarts_total",
            "User and channel actors restarted after stopping unexpectedly.",
            realtime.actor_restarts.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, value) in counters {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }

    family(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch, in seconds.",
    );
    let start = *START_TIME.get_or_init(unix_now);
    let _ = writeln!(out, "process_start_time_seconds {start}");
    family(
        &mut out,
        "chatalot_build_info",
        "gauge",
        "Always 1; the label carries the server version.",
    );
    let _ = writeln!(
        out,
        "chatalot_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// `GET /metrics`. With `server.metrics_token` set, the request must carry it as a bearer token;
/// without one, only loopback and trusted proxies are answered, and a request forwarded on
/// behalf of any other address is refused.
pub async fn get_metrics(req: HttpRequest, state: Data<AppState>) -> HttpResponse {
    if let Err(e) = allowed(&req, &state) {
        let mut res = e.error_response();
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        if e.code == chatalot_protocol::ErrorCode::Unauthorized {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        return res;
    }
    let s = state.db.status();
    let body = render(PoolFigures {
        size: s.size,
        available: s.available,
        max: s.max_size,
    });
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn allowed(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if let Some(token) = &state.config.server.metrics_token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        return match presented {
            Some(p) if same_secret(p, token) => Ok(()),
            _ => Err(ApiError::new(
                chatalot_protocol::ErrorCode::Unauthorized,
                "metrics need the configured token (Authorization: Bearer <token>)",
            )),
        };
    }
    let near = |ip: IpAddr| ip.is_loopback() || state.client_ip.is_trusted(ip);
    let refused = || {
        ApiError::forbidden(
            "metrics are served only to loopback and trusted proxies; set server.metrics_token \
             to scrape from elsewhere",
        )
    };
    let peer = req.peer_addr().map(|a| a.ip()).ok_or_else(refused)?;
    if !near(peer) {
        return Err(refused());
    }
    // a proxy on this host forwarding an outside client must not expose the metrics
    for name in ["x-forwarded-for", "x-real-ip"] {
        for value in req.headers().get_all(name) {
            let text = value.to_str().map_err(|_| refused())?;
            for part in text.split(',') {
                match part.trim().parse::<IpAddr>() {
                    Ok(ip) if near(ip) => {}
                    _ => return Err(refused()),
                }
            }
        }
    }
    if req.headers().contains_key(header::FORWARDED) {
        return Err(refused());
    }
    Ok(())
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_every_family_and_counts_requests() {
        observe(
            Some("/api/v1/health"),
            &Method::GET,
            StatusCode::OK,
            Duration::from_millis(3),
        );
        observe(
            Some("/no/such/pattern"),
            &Method::GET,
            StatusCode::NOT_FOUND,
            Duration::from_millis(40),
        );
        let text = render(PoolFigures {
            size: 2,
            available: 1,
            max: 16,
        });
        for name in [
            "chatalot_http_requests_total",
            "chatalot_http_request_duration_seconds",
            "chatalot_db_pool_size 2",
            "chatalot_db_pool_available 1",
            "chatalot_db_pool_max 16",
            "chatalot_ws_connections 0",
            "chatalot_ws_sessions",
            "chatalot_messages_stored_total",
            "chatalot_messages_delivered_total",
            "chatalot_ws_queue_drops_total",
            "chatalot_actor_restarts_total",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert!(text.contains(
            "chatalot_http_requests_total{method=\"GET\",route=\"/api/v1/health\",status=\"2xx\"}"
        ));
        assert!(text.contains(
            "chatalot_http_requests_total{method=\"GET\",route=\"other\",status=\"4xx\"}"
        ));
        assert!(text.contains(
            "chatalot_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/health\",le=\"0.005\"}"
        ));
        // every sample line is `name{labels} value` or `name value` with a numeric value
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or("");
            assert!(value.parse::<f64>().is_ok(), "bad sample {line:?}");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let r = RouteStats::new("GET", "/x");
        r.observe(StatusCode::OK, Duration::from_micros(500));
        r.observe(StatusCode::OK, Duration::from_millis(300));
        r.observe(StatusCode::INTERNAL_SERVER_ERROR, Duration::from_secs(60));
        assert_eq!(r.count.load(Ordering::Relaxed), 3);
        assert_eq!(r.buckets[0].load(Ordering::Relaxed), 1);
        assert_eq!(r.by_class[1].load(Ordering::Relaxed), 2);
        assert_eq!(r.by_class[4].load(Ordering::Relaxed), 1);
        // 60 s falls in no finite bucket, only +Inf (the count)
        let finite: u64 = r.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        assert_eq!(finite, 2);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
