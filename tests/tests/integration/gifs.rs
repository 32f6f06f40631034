//! GIF search (docs/api.md "GIF search") through the real server, against a provider on
//! loopback that speaks the Tenor v2 API (no test reaches the internet): off without an API
//! key; with one, the key goes to the provider and never to the browser, results whose media
//! are not from the configured origins are dropped, and the media route fetches only from those
//! origins, only pictures, within the byte bound.
use crate::common::TestServer;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A GIF of 1 x 1 pixel.
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// The provider: `/v2/search` answers three results (one with media elsewhere), `/media/a.gif`
/// a GIF, `/media/page.gif` HTML, `/media/big.gif` 64 KiB. Keeps every request line.
fn provider() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || serve(conn, addr, &log));
        }
    });
    (addr, seen)
}

fn serve(mut conn: TcpStream, me: SocketAddr, log: &Mutex<Vec<String>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    log.lock().expect("log").push(target.clone());
    let path = target.split('?').next().unwrap_or("").to_owned();
    let base = format!("http://{me}");
    let (ctype, body): (&str, Vec<u8>) = match path.as_str() {
        "/v2/search" => {
            let gif = |id: &str, host: &str| {
                json!({"id": id, "title": format!("title {id}"), "content_description": format!("a cat {id}"),
                    "media_formats": {
                        "gif": {"url": format!("{host}/media/a.gif"), "dims": [480, 270], "size": GIF.len()},
                        "tinygif": {"url": format!("{host}/media/a.gif"), "dims": [220, 124], "size": 10}}})
            };
            let mut results = vec![gif("1", &base), gif("2", "http://elsewhere.test")];
            results.push(json!({"id": "3", "media_formats": {"gif": {"url": format!("{base}/media/a.gif"), "dims": [1, 1]}}}));
            (
                "application/json",
                serde_json::to_vec(&json!({"results": results, "next": "page2"})).expect("json"),
            )
        }
        "/media/a.gif" => ("image/gif", GIF.to_vec()),
        "/media/page.gif" => (
            "image/gif",
            b"<html><script>alert(1)</script></html>".to_vec(),
        ),
        "/media/big.gif" => ("image/gif", [GIF, &vec![0u8; 64 * 1024]].concat()),
        _ => ("text/plain", b"no".to_vec()),
    };
    let status = if ctype == "text/plain" {
        "404 Not Found"
    } else {
        "200 OK"
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    let _ = conn.write_all(&out);
}

#[test]
fn gif_search_is_off_without_a_key() {
    let s = TestServer::start();
    let (alice, _) = s.register("alice");
    assert_eq!(alice.get("/api/v1/instance").body["gifs"], false);
    let r = alice.get("/api/v1/gifs?q=cat");
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.text);
    assert!(r.text.contains("not set up"), "{}", r.text);
    let r = alice.get("/api/v1/gifs/media?url=https%3A%2F%2Fmedia.tenor.com%2Fx.gif");
    assert_eq!(r.status, 404, "{}", r.text);
}

#[test]
fn gif_search_goes_through_the_server_and_its_media_only_from_the_provider() {
    let (addr, seen) = provider();
    let s = TestServer::start_with(move |c| {
        c.gifs.api_key = "secret-key-123".into();
        c.gifs.base_url = format!("http://{addr}/v2");
        c.gifs.media_origins = vec![format!("http://{addr}")];
        c.gifs.allow = vec![addr.to_string()];
        c.gifs.max_bytes = 32 * 1024;
    });
    let (alice, _) = s.register("alice");
    assert_eq!(alice.get("/api/v1/instance").body["gifs"], true);
    assert_eq!(s.client().get("/api/v1/gifs?q=cat").status, 401);

    let r = alice.get("/api/v1/gifs?q=happy%20cat&pos=p1");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("secret-key-123"), "{}", r.text);
    let base = format!("http://{addr}");
    assert_eq!(
        r.body,
        json!({"results": [{"id": "1", "title": "a cat 1", "url": format!("{base}/media/a.gif"),
            "width": 480, "height": 270, "preview_url": format!("{base}/media/a.gif"),
            "preview_width": 220, "preview_height": 124, "size": GIF.len()}], "next": "page2"}),
        "media from elsewhere and results without a preview are dropped"
    );
    let asked = seen.lock().expect("log").clone();
    let search = asked
        .iter()
        .find(|t| t.starts_with("/v2/search"))
        .expect("searched");
    for part in [
        "q=happy+cat",
        "key=secret-key-123",
        "limit=24",
        "pos=p1",
        "media_filter=gif%2Ctinygif",
    ] {
        assert!(search.contains(part), "{part} in {search}");
    }

    // bad queries: 400 before the provider hears of them
    let before = seen.lock().expect("log").len();
    for q in [
        "",
        "?q=",
        "?q=%20",
        &format!("?q={}", "x".repeat(101)),
        "?q=a%0Ab",
    ] {
        let r = alice.get(&format!("/api/v1/gifs{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.text);
    }
    assert_eq!(seen.lock().expect("log").len(), before);

    // the media: a picture, inert
    let (status, headers, bytes) = alice.raw_bytes(
        "GET",
        &format!("/api/v1/gifs/media?url={base}/media/a.gif"),
        &[],
        vec![],
    );
    assert_eq!(status, 200);
    assert_eq!(bytes, GIF);
    assert_eq!(headers["content-type"], "image/gif");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap_or("")
        .starts_with("sandbox"));
    // only from the media origins (another port of loopback is another origin), only
    // pictures, within the bound
    let before = seen.lock().expect("log").len();
    for url in [
        "http://127.0.0.1:1/media/a.gif".to_owned(),
        format!("http://localhost:{}/media/a.gif", addr.port()),
        "http://elsewhere.test/media/a.gif".into(),
        "file:///etc/passwd".into(),
    ] {
        let r = alice.get(&format!(
            "/api/v1/gifs/media?url={}",
            url.replace(':', "%3A").replace('/', "%2F")
        ));
        assert_eq!(r.status, 400, "{url}: {}", r.text);
    }
    assert_eq!(
        seen.lock().expect("log").len(),
        before,
        "nothing fetched for refused addresses"
    );
    for path in ["/media/page.gif", "/media/big.gif", "/media/missing.gif"] {
        let r = alice.get(&format!("/api/v1/gifs/media?url={base}{path}"));
        assert_eq!(
            (r.status, r.code()),
            (503, "unavailable"),
            "{path}: {}",
            r.text
        );
        assert!(!r.text.contains("secret-key-123"));
    }
}
