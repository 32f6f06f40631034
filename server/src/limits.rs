//! Token-bucket rate limiting and the client address behind trusted proxies.

use crate::config::parse_cidr;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most keys one limiter remembers; past it, full (idle) buckets are forgotten first.
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// A map of token buckets, one per key, each holding up to `burst` tokens and refilling at
/// `per_sec` tokens per second.
pub struct RateLimiter<K> {
    buckets: Mutex<HashMap<K, Bucket>>,
    burst: f64,
    per_sec: f64,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// A limiter of `burst` tokens refilled at `per` intervals of `every`.
    pub fn new(burst: u32, per: u32, every: Duration) -> Self {
        RateLimiter {
            buckets: Mutex::new(HashMap::new()),
            burst: f64::from(burst.max(1)),
            per_sec: f64::from(per.max(1)) / every.as_secs_f64(),
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let elapsed = now.duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_sec).min(self.burst);
        b.updated = now;
    }

    fn seconds_until_token(&self, b: &Bucket) -> u64 {
        ((1.0 - b.tokens) / self.per_sec).ceil().max(1.0) as u64
    }

    /// Takes one token for `key`, or says how many seconds until one is available.
    pub fn take(&self, key: &K) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            self.evict(&mut map, now);
        }
        let b = map.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        self.refill(b, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.seconds_until_token(b))
        }
    }

    /// Like `take` but only looks: Ok if a token is available for `key`.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(key) {
            None => Ok(()),
            Some(b) => {
                self.refill(b, now);
                if b.tokens >= 1.0 {
                    Ok(())
                } else {
                    Err(self.seconds_until_token(b))
                }
            }
        }
    }

    /// Makes room: first forgets buckets that have refilled (they would start full anyway),
    /// then, if the map is still full, the tenth with the most tokens. Emptied buckets (the
    /// ones that hold an attacker back) are the last to go, so a flood of new keys cannot
    /// reset them.
    fn evict(&self, map: &mut HashMap<K, Bucket>, now: Instant) {
        let full_after = Duration::from_secs_f64(self.burst / self.per_sec);
        map.retain(|_, b| now.duration_since(b.updated) < full_after);
        if map.len() < MAX_KEYS {
            return;
        }
        let mut levels: Vec<f64> = map
            .values()
            .map(|b| {
                (b.tokens + now.duration_since(b.updated).as_secs_f64() * self.per_sec)
                    .min(self.burst)
            })
            .collect();
        let cut = levels.len() - levels.len() / 10 - 1;
        levels.select_nth_unstable_by(cut, f64::total_cmp);
        let threshold = levels[cut];
        let mut over = map.len() - cut;
        map.retain(|_, b| {
            let level = (b.tokens + now.duration_since(b.updated).as_secs_f64() * self.per_sec)
                .min(self.burst);
            if over > 0 && level >= threshold {
                over -= 1;
                false
            } else {
                true
            }
        });
    }
}

/// Decides which address a request comes from.
#[derive(Debug, Clone, Default)]
pub struct ClientIpResolver {
    trusted: Vec<(IpAddr, u8)>,
}

impl ClientIpResolver {
    /// Believes `X-Forwarded-For` only from peers inside `trusted` (addresses or CIDRs).
    pub fn new(trusted: &[String]) -> Result<Self, String> {
        Ok(ClientIpResolver {
            trusted: trusted
                .iter()
                .map(|s| parse_cidr(s))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Is `ip` one of the trusted proxies?
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted
            .iter()
            .any(|(net, prefix)| in_network(ip, *net, *prefix))
    }

    /// The client address: the peer, or, when the peer is a trusted proxy, the right-most
    /// address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn resolve(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.is_trusted(peer) {
            return canonical(peer);
        }
        let Some(header) = forwarded_for else {
            return canonical(peer);
        };
        let mut client = canonical(peer);
        for part in header.rsplit(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = canonical(ip);
                    if !self.is_trusted(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, canonical(net)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Counts unauthenticated WebSockets per client address (`realtime.unauthenticated_per_ip`);
/// an address is remembered only while it holds one.
#[derive(Clone, Default)]
pub struct PreAuthCounter {
    inner: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One unauthenticated socket; released when dropped (on authentication or close).
pub struct PreAuthSlot {
    counter: PreAuthCounter,
    ip: IpAddr,
}

impl PreAuthCounter {
    /// A slot for `ip`, unless it already holds `cap`.
    pub fn acquire(&self, ip: IpAddr, cap: usize) -> Option<PreAuthSlot> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(PreAuthSlot {
            counter: self.clone(),
            ip,
        })
    }
}

impl Drop for PreAuthSlot {
    fn drop(&mut self) {
        let mut map = self.counter.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_new_keys_does_not_reset_emptied_buckets() {
        let l = RateLimiter::new(5, 1, Duration::from_secs(3600));
        for _ in 0..5 {
            l.take(&0u32).expect("burst");
        }
        assert!(l.take(&0).is_err(), "emptied");
        // an attacker creates far more keys than the limiter keeps
        for k in 1..(MAX_KEYS as u32 * 2) {
            let _ = l.take(&k);
        }
        assert!(l.check(&0).is_err(), "the emptied bucket was kept");
        assert!(l.take(&0).is_err());
        let live = l.buckets.lock().expect("lock").len();
        assert!(live <= MAX_KEYS, "{live} keys");
    }

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let l = RateLimiter::new(3, 1, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.take(&"k").is_ok());
        }
        let wait = l.take(&"k").expect_err("empty");
        assert!((1..=60).contains(&wait));
        assert!(l.check(&"k").is_err());
        assert!(l.take(&"other").is_ok());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let r = ClientIpResolver::new(&["10.0.0.0/8".into()]).expect("valid");
        let proxy: IpAddr = "10.1.2.3".parse().expect("ip");
        let stranger: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(
            r.resolve(stranger, Some("198.51.100.1")),
            stranger,
            "header from an untrusted peer is ignored"
        );
        assert_eq!(
            r.resolve(proxy, Some("198.51.100.1, 10.0.0.5")),
            "198.51.100.1".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(
            r.resolve(proxy, Some("1.1.1.1, 198.51.100.1")),
            "198.51.100.1".parse::<IpAddr>().expect("ip"),
            "a spoofed left-most entry is not believed"
        );
        assert_eq!(r.resolve(proxy, Some("junk")), proxy);
    }
}
