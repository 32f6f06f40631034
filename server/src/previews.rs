//! The link preview fetcher (docs/api.md "Link previews"): fetches a web page that a user
//! names and reads what it says of itself, without ever reaching an address that is not on the
//! public internet.
//!
//! How an address is checked:
//! - the URL is parsed the way browsers do (WHATWG, the `url` crate), so the decimal, octal and
//!   hexadecimal forms of an IPv4 address (`2130706433`, `0177.0.0.1`, `0x7f.1`) are read as
//!   the address they stand for; only `http` and `https` are taken, without credentials, on
//!   ports 80 and 443;
//! - a name is resolved once; every address it resolves to must be public (a name that also
//!   resolves to a private address is refused), and the connection goes to the first one,
//!   pinned: the HTTP client is given that address and resolves nothing itself, so no second
//!   lookup can answer differently;
//! - refused are loopback, private, shared (CGNAT), link-local, unspecified, broadcast,
//!   multicast, documentation, benchmarking and reserved ranges, and IPv6 forms that carry an
//!   IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address; Teredo and
//!   unique-local IPv6 are refused;
//! - redirects are followed by hand, at most 5, each new address checked the same way;
//! - the whole fetch has one deadline, reads at most `max_bytes`, takes only HTML, ignores
//!   proxies from the environment, and sends no cookie or credential.
//!
//! `link_previews.allow` names exact `ip:port` addresses an operator lets it reach anyway.
//! Answers, failures included, are remembered for `cache_secs`.

use crate::config::LinkPreviewsConfig;
use chatalot_protocol::api::preview_limits::{DESCRIPTION_MAX, SITE_NAME_MAX, TITLE_MAX, URL_MAX};
use chatalot_protocol::api::LinkPreview;
use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use url::{Host, Url};

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;
/// Fetches running at once.
const AT_ONCE: usize = 4;

/// Why there is no preview.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoPreview {
    /// The address is not one the fetcher takes (scheme, port, credentials, form).
    #[error("{0}")]
    BadUrl(String),
    /// The address, or one it redirects to, is not on the public internet.
    #[error("the address is not a public one: link previews reach only public web sites")]
    NotPublic,
    /// The page could not be fetched, or is no HTML page.
    #[error("no preview for that page: {0}")]
    Unavailable(String),
    /// Link previews are off on this server.
    #[error("link previews are off on this server")]
    Off,
}

/// Whether `ip` is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", unspecified
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |hi: usize| {
        Ipv4Addr::new(
            (s[hi] >> 8) as u8,
            s[hi] as u8,
            (s[hi + 1] >> 8) as u8,
            s[hi + 1] as u8,
        )
    };
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible): the IPv4 address decides
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return public_v4(embedded(6));
    }
    // 64:ff9b::a.b.c.d (the well-known NAT64 prefix): the IPv4 address decides; the rest of
    // 64:ff9b::/32 (the local-use 64:ff9b:1::/48 among it) is refused
    if s[0] == 0x64 && s[1] == 0xff9b {
        return s[2..6] == [0; 4] && public_v4(embedded(6));
    }
    // 2002:a.b.c.d::/48 (6to4): the IPv4 address decides
    if s[0] == 0x2002 {
        return public_v4(embedded(1));
    }
    // only global unicast (2000::/3), and not Teredo (2001::/32), ORCHIDs, documentation
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] == 0)
        && !(s[0] == 0x2001 && (0x10..0x40).contains(&s[1]))
        && !(s[0] == 0x2001 && s[1] == 0x0db8)
        && !(s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0) // benchmarking
        && !(s[0] == 0x3fff && s[1] < 0x1000)
}

/// The addresses of `name`, from the system's resolver, within `left` (a lookup that takes
/// longer is given up; its thread ends when the resolver's own timeout does).
fn resolve(name: &str, port: u16, left: Duration) -> Result<Vec<SocketAddr>, NoPreview> {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = name.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(
            (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>()),
        );
    });
    match rx.recv_timeout(left) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(NoPreview::Unavailable(format!(
            "the name does not resolve ({e})"
        ))),
        Err(_) => Err(NoPreview::Unavailable(
            "the name took too long to resolve".into(),
        )),
    }
}

/// The address `url` may be fetched from, resolved once within `left`, or why not.
fn pin(url: &Url, allow: &[SocketAddr], left: Duration) -> Result<SocketAddr, NoPreview> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(NoPreview::BadUrl(
            "only http and https addresses have previews".into(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(NoPreview::BadUrl(
            "an address with credentials has no preview".into(),
        ));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| NoPreview::BadUrl("the address has no port".into()))?;
    let candidates: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => resolve(name, port, left)?,
        None => return Err(NoPreview::BadUrl("the address has no host".into())),
    };
    let first = *candidates
        .first()
        .ok_or_else(|| NoPreview::Unavailable("the name resolves to no address".into()))?;
    let allowed =
        |a: &SocketAddr| allow.contains(a) || (is_public(a.ip()) && (port == 80 || port == 443));
    if candidates.iter().all(allowed) {
        Ok(first)
    } else if candidates.iter().all(|a| is_public(a.ip())) {
        Err(NoPreview::BadUrl(
            "only addresses on ports 80 and 443 have previews".into(),
        ))
    } else {
        Err(NoPreview::NotPublic)
    }
}

/// Hands the HTTP client the one address checked before: it resolves nothing itself.
#[derive(Debug)]
struct Pinned(SocketAddr);

impl Resolver for Pinned {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut out = self.empty();
        out.push(self.0);
        Ok(out)
    }
}

/// One GET of `url` at `addr`, within `left`: (status, Location, content type, body prefix).
fn get(
    url: &Url,
    addr: SocketAddr,
    left: Duration,
    max_bytes: u64,
    accept: &str,
) -> Result<(u16, Option<String>, String, Vec<u8>), NoPreview> {
    let config = ureq::Agent::config_builder()
        .proxy(None)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .timeout_global(Some(left))
        .user_agent("Chatalot link preview")
        .accept(accept)
        .build();
    let agent = ureq::Agent::with_parts(config, DefaultConnector::default(), Pinned(addr));
    let mut res = agent
        .get(url.as_str())
        .call()
        .map_err(|e| NoPreview::Unavailable(e.to_string()))?;
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let location = header("location");
    let content_type = header("content-type").unwrap_or_default();
    let mut body = Vec::new();
    if (200..300).contains(&status) {
        res.body_mut()
            .as_reader()
            .take(max_bytes)
            .read_to_end(&mut body)
            .map_err(|e| NoPreview::Unavailable(e.to_string()))?;
    }
    Ok((status, location, content_type, body))
}

/// What a GET that the fetcher followed to its end found: the address it ended at, the type the
/// site declared, and at most the bound of bytes of the body.
pub struct Fetched {
    pub final_url: Url,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// GETs `url` (blocking: run it off the async threads), resolving each address once and
/// pinning it, refusing every address that is not public unless `allow` names it (and public
/// ones on ports other than 80 and 443), re-checking each redirect, within `timeout` in all and
/// `max_bytes` of body. A status other than 2xx is `Unavailable`.
pub fn fetch_url(
    mut url: Url,
    allow: &[SocketAddr],
    timeout: Duration,
    max_bytes: u64,
    accept: &str,
) -> Result<Fetched, NoPreview> {
    let deadline = Instant::now() + timeout;
    url.set_fragment(None);
    for hop in 0..=MAX_REDIRECTS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NoPreview::Unavailable("the site took too long".into()));
        }
        let addr = match pin(&url, allow, left) {
            Ok(a) => a,
            // the address asked for is the caller's to fix; one a site redirects to is not
            Err(e @ (NoPreview::BadUrl(_) | NoPreview::NotPublic)) if hop > 0 => {
                return Err(NoPreview::Unavailable(format!(
                    "a redirect to a refused address: {e}"
                )))
            }
            Err(e) => return Err(e),
        };
        let (status, location, content_type, body) = get(&url, addr, left, max_bytes, accept)?;
        match status {
            301 | 302 | 303 | 307 | 308 => {
                let to = location.ok_or_else(|| {
                    NoPreview::Unavailable("a redirect without a Location".into())
                })?;
                url = url.join(&to).map_err(|e| {
                    NoPreview::Unavailable(format!("a redirect to no address: {e}"))
                })?;
                url.set_fragment(None);
            }
            200..=299 => {
                return Ok(Fetched {
                    final_url: url,
                    content_type,
                    body,
                })
            }
            other => {
                return Err(NoPreview::Unavailable(format!("the site answered {other}")));
            }
        }
    }
    Err(NoPreview::Unavailable(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// Fetches `raw` and reads its preview (blocking: run it off the async threads).
pub fn fetch(raw: &str, cfg: &LinkPreviewsConfig) -> Result<LinkPreview, NoPreview> {
    if raw.len() > URL_MAX {
        return Err(NoPreview::BadUrl(format!(
            "an address may have at most {URL_MAX} bytes"
        )));
    }
    let allow: Vec<SocketAddr> = cfg.allow.iter().filter_map(|a| a.parse().ok()).collect();
    let url = Url::parse(raw).map_err(|e| NoPreview::BadUrl(format!("not an address: {e}")))?;
    let got = fetch_url(
        url,
        &allow,
        Duration::from_millis(cfg.timeout_ms),
        cfg.max_bytes,
        "text/html,application/xhtml+xml",
    )?;
    let mime = got.content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("text/html")
        && !mime.eq_ignore_ascii_case("application/xhtml+xml")
    {
        return Err(NoPreview::Unavailable("the address is no web page".into()));
    }
    let page = String::from_utf8_lossy(&got.body);
    let meta = read_page(&page);
    Ok(LinkPreview {
        url: raw.to_owned(),
        final_url: got.final_url.to_string(),
        title: meta.title,
        description: meta.description,
        site_name: meta.site_name,
    })
}

/// What a page says of itself.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PageMeta {
    pub title: String,
    pub description: String,
    pub site_name: String,
}

/// Reads the Open Graph title, description and site name of an HTML page, else its `<title>`
/// and `<meta name="description">`. A scan of `<meta>` tags and the first `<title>`, not an
/// HTML parser: only those attributes are needed, from a bounded prefix of the page.
pub fn read_page(html: &str) -> PageMeta {
    let lower = html.to_ascii_lowercase();
    let mut og_title = None;
    let mut og_description = None;
    let mut og_site = None;
    let mut description = None;
    let mut at = 0;
    while let Some(i) = lower[at..].find("<meta") {
        let start = at + i + 5;
        let Some(end) = lower[start..].find('>') else {
            break;
        };
        let attrs = attributes(&html[start..start + end]);
        let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let key = get("property").or_else(|| get("name")).unwrap_or_default();
        if let Some(content) = get("content") {
            match key.to_ascii_lowercase().as_str() {
                "og:title" => og_title = og_title.or(Some(content)),
                "og:description" => og_description = og_description.or(Some(content)),
                "og:site_name" => og_site = og_site.or(Some(content)),
                "description" => description = description.or(Some(content)),
                _ => {}
            }
        }
        at = start + end;
    }
    let title = og_title.unwrap_or_else(|| {
        lower
            .find("<title")
            .and_then(|i| lower[i..].find('>').map(|j| i + j + 1))
            .and_then(|s| lower[s..].find("</title").map(|e| decode(&html[s..s + e])))
            .unwrap_or_default()
    });
    PageMeta {
        title: clip(&title, TITLE_MAX),
        description: clip(
            &og_description.or(description).unwrap_or_default(),
            DESCRIPTION_MAX,
        ),
        site_name: clip(&og_site.unwrap_or_default(), SITE_NAME_MAX),
    }
}

/// `name="value"` pairs of a tag (names lower-cased, values decoded).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = tag.as_bytes();
    let mut i = 0;
    while i < b.len() && out.len() < 32 {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let name_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        let name = tag[name_start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            if name.is_empty() {
                i += 1;
            }
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
            let q = b[i];
            let s = i + 1;
            let e = tag[s..]
                .bytes()
                .position(|c| c == q)
                .map_or(b.len(), |p| s + p);
            i = (e + 1).min(b.len());
            &tag[s..e]
        } else {
            let s = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            &tag[s..i]
        };
        out.push((name, decode(value)));
    }
    out
}

/// Decodes the character references of an attribute or a title.
fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.bytes().take(12).position(|c| c == b';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whitespace folded, control characters dropped, at most `max` characters.
fn clip(s: &str, max: usize) -> String {
    let folded: String = s
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if folded.chars().count() <= max {
        folded
    } else {
        let mut cut: String = folded.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// On drop, forgets `url`'s lock in `map` if only the map and this holder have it.
struct Leave<'a> {
    map: &'a Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    url: &'a str,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map
            .get(self.url)
            .is_some_and(|l| std::sync::Arc::strong_count(l) <= 2)
        {
            map.remove(self.url);
        }
    }
}

/// A remembered answer and when it was fetched.
type Cached = (Instant, Result<LinkPreview, NoPreview>);

/// The fetcher with its bounded cache and its bound on fetches at once.
pub struct Previews {
    cfg: LinkPreviewsConfig,
    cache: Mutex<HashMap<String, Cached>>,
    at_once: std::sync::Arc<tokio::sync::Semaphore>,
    /// One lock per address being fetched: who asks for it meanwhile waits for that answer.
    fetching: Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl Previews {
    pub fn new(cfg: &LinkPreviewsConfig) -> Previews {
        Previews {
            cfg: cfg.clone(),
            cache: Mutex::new(HashMap::new()),
            at_once: std::sync::Arc::new(tokio::sync::Semaphore::new(AT_ONCE)),
            fetching: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, url: &str) -> Option<Result<LinkPreview, NoPreview>> {
        let ttl = Duration::from_secs(self.cfg.cache_secs);
        let map = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        map.get(url)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, r)| r.clone())
    }

    fn remember(&self, url: &str, answer: &Result<LinkPreview, NoPreview>) {
        if self.cfg.cache_entries == 0 {
            return;
        }
        let ttl = Duration::from_secs(self.cfg.cache_secs);
        let mut map = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.cfg.cache_entries && !map.contains_key(url) {
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            if map.len() >= self.cfg.cache_entries {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(url.to_owned(), (Instant::now(), answer.clone()));
    }

    /// The preview of `url`: from the cache, else fetched once however many ask at the same
    /// time.
    pub async fn preview(&self, url: &str) -> Result<LinkPreview, NoPreview> {
        if !self.cfg.enabled {
            return Err(NoPreview::Off);
        }
        if let Some(hit) = self.cached(url) {
            return hit;
        }
        let lock = {
            let mut map = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(url.to_owned()).or_default().clone()
        };
        // removes the address's lock once no one holds it, also when the request is given up
        let _leave = Leave {
            map: &self.fetching,
            url,
        };
        let _one = lock.lock().await;
        match self.cached(url) {
            Some(hit) => hit,
            None => self.fetch_now(url).await,
        }
    }

    /// Fetches `url` (at most `AT_ONCE` at a time) and remembers the answer.
    async fn fetch_now(&self, url: &str) -> Result<LinkPreview, NoPreview> {
        let permit = self
            .at_once
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| NoPreview::Off)?;
        let (raw, cfg) = (url.to_owned(), self.cfg.clone());
        // the permit goes with the fetch: a request given up does not free its place early
        let answer = actix_web::web::block(move || {
            let out = fetch(&raw, &cfg);
            drop(permit);
            out
        })
        .await
        .unwrap_or_else(|e| Err(NoPreview::Unavailable(e.to_string())));
        self.remember(url, &answer);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for bad in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001::1",
            "2001:db8::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(!is_public(ip), "{bad} is not public");
        }
        for good in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "::ffff:1.1.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82a::200e",
        ] {
            let ip: IpAddr = good.parse().unwrap();
            assert!(is_public(ip), "{good} is public");
        }
    }

    #[test]
    fn every_spelling_of_loopback_is_refused_before_any_connection() {
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://0/",
            "http://localhost/",
            "https://169.254.169.254/latest/meta-data/",
        ] {
            let u = Url::parse(url).unwrap();
            assert_eq!(
                pin(&u, &[], Duration::from_secs(5)),
                Err(NoPreview::NotPublic),
                "{url}"
            );
        }
        for (url, why) in [
            ("ftp://example.com/", "only http and https"),
            ("http://user:pw@1.1.1.1/", "credentials"),
            ("http://1.1.1.1:22/", "ports 80 and 443"),
        ] {
            let u = Url::parse(url).unwrap();
            match pin(&u, &[], Duration::from_secs(5)) {
                Err(NoPreview::BadUrl(m)) => assert!(m.contains(why), "{url}: {m}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        // an exact exception is reachable
        let u = Url::parse("http://127.0.0.1:8081/").unwrap();
        let a: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        assert_eq!(pin(&u, &[a], Duration::from_secs(5)), Ok(a));
    }

    #[test]
    fn open_graph_tags_come_first_and_text_is_decoded_and_clipped() {
        let page = r#"<!doctype html><html><head><title>Plain &amp; simple</title>
            <META property='og:title' content="The &quot;real&quot; title">
            <meta name=description content="A page &#x2014; about things">
            <meta property="og:site_name" content="Example">
            </head><body><meta property="og:title" content="later"></body></html>"#;
        let m = read_page(page);
        assert_eq!(m.title, "The \"real\" title");
        assert_eq!(m.description, "A page \u{2014} about things");
        assert_eq!(m.site_name, "Example");
        let m = read_page("<title>\n  Only\t a   title </title>");
        assert_eq!(m.title, "Only a title");
        assert_eq!(m.description, "");
        // a reference cut short before a multi-byte character
        assert_eq!(read_page("<title>&éééééé</title>").title, "&éééééé");
        let long = format!("<title>{}</title>", "x".repeat(1000));
        assert_eq!(read_page(&long).title.chars().count(), TITLE_MAX);
        assert_eq!(
            read_page("<meta content=\"x\" <title>"),
            PageMeta::default()
        );
    }
}
