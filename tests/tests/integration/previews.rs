//! Link previews through the real server (A10 in the security bars): a canary listener on
//! loopback, asked for by every spelling of its address and by redirect chains from a site
//! the fetcher may reach, receives nothing; the allowed site's preview comes back, within the
//! time bound, cached, and only for HTML.
use crate::common::TestServer;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts every connection made to it, and answers none.
struct Canary {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Canary {
    fn bind(addr: &str) -> Option<Canary> {
        let listener = TcpListener::bind(addr).ok()?;
        let addr = listener.local_addr().ok()?;
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                seen.fetch_add(1, Ordering::SeqCst);
                drop(conn);
            }
        });
        Some(Canary { addr, hits })
    }
}

/// A small web site: `/page` (a page with Open Graph tags), `/file` (not HTML), `/slow` (no
/// answer for 10 s), `/chain` (redirects to `/page` through `/chain2`) and `/to?<url>` (a
/// redirect to `<url>`). Counts requests for `/page`.
fn site() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let pages = Arc::new(AtomicUsize::new(0));
    let counted = pages.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let counted = counted.clone();
            std::thread::spawn(move || serve(conn, &counted));
        }
    });
    (addr, pages)
}

fn serve(mut conn: TcpStream, pages: &AtomicUsize) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let reply = |status: &str, headers: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let answer = match path.as_str() {
        "/page" => {
            pages.fetch_add(1, Ordering::SeqCst);
            reply(
                "200 OK",
                "Content-Type: text/html; charset=utf-8\r\n",
                r#"<html><head><title>fallback</title>
                <meta property="og:title" content="Rust &amp; friends">
                <meta property="og:description" content="A page about the crab">
                <meta property="og:site_name" content="Crab Weekly"></head><body>hi</body></html>"#,
            )
        }
        "/file" => reply(
            "200 OK",
            "Content-Type: application/octet-stream\r\n",
            "bytes",
        ),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(10));
            reply(
                "200 OK",
                "Content-Type: text/html\r\n",
                "<title>late</title>",
            )
        }
        "/chain" => reply("302 Found", "Location: /chain2\r\n", ""),
        "/chain2" => reply("301 Moved Permanently", "Location: /page\r\n", ""),
        p if p.starts_with("/to?") => reply("302 Found", &format!("Location: {}\r\n", &p[4..]), ""),
        _ => reply("404 Not Found", "", ""),
    };
    let _ = conn.write_all(answer.as_bytes());
}

fn preview(c: &crate::common::Client, url: &str) -> crate::common::Resp {
    let mut q = String::new();
    for b in url.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            q.push(b as char);
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    c.get(&format!("/api/v1/link_preview?url={q}"))
}

#[test]
fn the_fetcher_never_reaches_a_private_address_however_it_is_spelled_or_redirected_to() {
    let canary = Canary::bind("127.0.0.1:0").expect("canary");
    let canary6 = Canary::bind("[::1]:0");
    let (site, pages) = site();
    let s = TestServer::start_with(|c| {
        c.link_previews.allow = vec![site.to_string()];
        c.link_previews.timeout_ms = 1500;
        c.limits.preview_burst = 1000;
    });
    let (alice, _) = s.register("alice");
    let port = canary.addr.port();
    let mut forms = vec![
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://0x7f.0.0.1:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://017700000001:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
        format!("http://[::127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://0:{port}/"),
        format!("https://127.0.0.1:{port}/"),
        format!("http://user@127.0.0.1:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://192.168.0.1/".to_owned(),
        "http://[fe80::1]/".to_owned(),
        "http://[fc00::1]/".to_owned(),
    ];
    if let Some(c6) = &canary6 {
        let p6 = c6.addr.port();
        forms.push(format!("http://[::1]:{p6}/"));
        forms.push(format!("http://[0:0:0:0:0:0:0:1]:{p6}/"));
        forms.push(format!("http://localhost:{p6}/"));
    }
    for url in &forms {
        let r = preview(&alice, url);
        r.assert_error(400, "invalid_request");
        // and by way of a site the fetcher may reach, redirecting there: no preview (the
        // address asked for was fine; the site's redirect is refused)
        let via = format!("http://{site}/to?{url}");
        let r = preview(&alice, &via);
        assert_eq!(r.status, 204, "{via}: {}", r.text);
    }
    // a chain of redirects ending at the canary
    let chain = format!("http://{site}/to?http://{site}/to?http://127.0.0.1:{port}/x");
    assert_eq!(preview(&alice, &chain).status, 204);
    // other schemes
    for url in [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "ftp://example.com/",
    ] {
        preview(&alice, url).assert_error(400, "invalid_request");
    }

    // The allowed site: its preview, through redirects, and from the cache the second time.
    let page = format!("http://{site}/page");
    let r = preview(&alice, &page);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["title"], "Rust & friends");
    assert_eq!(r.body["description"], "A page about the crab");
    assert_eq!(r.body["site_name"], "Crab Weekly");
    let r = preview(&alice, &page);
    assert_eq!(r.status, 200);
    assert_eq!(
        pages.load(Ordering::SeqCst),
        1,
        "the second answer came from the cache"
    );
    let r = preview(&alice, &format!("http://{site}/chain"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["final_url"], page.as_str());
    // Not HTML, or too slow: no preview (204), within the time bound.
    assert_eq!(preview(&alice, &format!("http://{site}/file")).status, 204);
    let t = Instant::now();
    assert_eq!(preview(&alice, &format!("http://{site}/slow")).status, 204);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Without a token, nothing.
    assert_eq!(
        s.client()
            .get(&format!("/api/v1/link_preview?url=http://{site}/page"))
            .status,
        401
    );

    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        canary.hits.load(Ordering::SeqCst),
        0,
        "the canary heard nothing"
    );
    if let Some(c6) = canary6 {
        assert_eq!(
            c6.hits.load(Ordering::SeqCst),
            0,
            "the IPv6 canary heard nothing"
        );
    }
}

#[test]
fn with_previews_off_the_server_fetches_nothing() {
    let (site, pages) = site();
    let s = TestServer::start_with(|c| {
        c.link_previews.enabled = false;
        c.link_previews.allow = vec![site.to_string()];
    });
    let (alice, _) = s.register("alice");
    assert_eq!(preview(&alice, &format!("http://{site}/page")).status, 204);
    assert_eq!(pages.load(Ordering::SeqCst), 0);
}
