//! GIF search through a provider that speaks the Tenor v2 API (Tenor itself, or another
//! provider's Tenor-compatible endpoint), only when an operator configured an API key
//! (`[gifs]`, docs/api.md "GIF search"). The key stays on the server. Readers' browsers never
//! reach the provider: the server fetches the search and the media, the media only from the
//! configured origins, through the same pinned, private-address-refusing fetcher as link
//! previews. A GIF picked is sent as a file of its own (encrypted in an end-to-end
//! conversation), so receivers fetch nothing from anyone.

use crate::config::GifsConfig;
use crate::imaging;
use crate::previews::{fetch_url, NoPreview};
use chatalot_protocol::api::{gif_limits, Gif, GifPage};
use std::net::SocketAddr;
use std::time::Duration;
use url::Url;

/// Why a search or a media fetch gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum GifError {
    /// No API key is configured.
    #[error("GIF search is not set up on this server")]
    Off,
    /// The caller's input is wrong (the message says how).
    #[error("{0}")]
    Bad(String),
    /// The provider could not be reached, answered an error or something unusable.
    #[error("the GIF provider is unavailable: {0}")]
    Unavailable(String),
}

/// The configured provider.
pub struct Gifs {
    cfg: GifsConfig,
    allow: Vec<SocketAddr>,
    origins: Vec<url::Origin>,
}

/// The most bytes of a search answer read.
const SEARCH_MAX_BYTES: u64 = 2 * 1024 * 1024;

impl Gifs {
    pub fn new(cfg: &GifsConfig) -> Gifs {
        Gifs {
            cfg: cfg.clone(),
            allow: cfg.allow.iter().filter_map(|a| a.parse().ok()).collect(),
            origins: cfg
                .media_origins
                .iter()
                .filter_map(|o| Url::parse(o).ok())
                .map(|u| u.origin())
                .collect(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.cfg.api_key.is_empty()
    }

    /// The message of `e` without the API key in it (an address may be quoted).
    fn unavailable(&self, e: NoPreview) -> GifError {
        let text = e.to_string();
        GifError::Unavailable(if self.cfg.api_key.is_empty() {
            text
        } else {
            text.replace(&self.cfg.api_key, "…")
        })
    }

    fn is_media_origin(&self, u: &Url) -> bool {
        self.origins.contains(&u.origin())
    }

    /// One page of results for `q` (blocking: run it off the async threads).
    pub fn search(&self, q: &str, pos: Option<&str>) -> Result<GifPage, GifError> {
        if !self.enabled() {
            return Err(GifError::Off);
        }
        let q = q.trim();
        if q.is_empty()
            || q.chars().count() > gif_limits::QUERY_MAX
            || q.chars().any(char::is_control)
        {
            return Err(GifError::Bad(format!(
                "q: 1 to {} characters, no control characters",
                gif_limits::QUERY_MAX
            )));
        }
        if pos.is_some_and(|p| {
            p.is_empty() || p.len() > gif_limits::POS_MAX || p.chars().any(char::is_control)
        }) {
            return Err(GifError::Bad(format!(
                "pos: the `next` of the page before (at most {} bytes)",
                gif_limits::POS_MAX
            )));
        }
        let mut url = Url::parse(&format!(
            "{}/search",
            self.cfg.base_url.trim_end_matches('/')
        ))
        .map_err(|e| GifError::Unavailable(e.to_string()))?;
        {
            let mut qp = url.query_pairs_mut();
            qp.append_pair("q", q)
                .append_pair("key", &self.cfg.api_key)
                .append_pair("client_key", &self.cfg.client_key)
                .append_pair("limit", &gif_limits::PAGE.to_string())
                .append_pair("media_filter", "gif,tinygif")
                .append_pair("contentfilter", &self.cfg.content_filter);
            if let Some(p) = pos {
                qp.append_pair("pos", p);
            }
        }
        let got = fetch_url(
            url,
            &self.allow,
            Duration::from_millis(self.cfg.timeout_ms),
            SEARCH_MAX_BYTES,
            "application/json",
        )
        .map_err(|e| self.unavailable(e))?;
        let v: serde_json::Value = serde_json::from_slice(&got.body)
            .map_err(|e| GifError::Unavailable(format!("an answer that is not JSON: {e}")))?;
        Ok(self.page(&v))
    }

    /// The results of a Tenor v2 answer that have both renditions, from the media origins.
    fn page(&self, v: &serde_json::Value) -> GifPage {
        let rendition =
            |r: &serde_json::Value, name: &str| -> Option<(String, u32, u32, Option<u64>)> {
                let m = r.get("media_formats")?.get(name)?;
                let url = m.get("url")?.as_str()?;
                let parsed = Url::parse(url).ok()?;
                if !self.is_media_origin(&parsed) || url.len() > 2048 {
                    return None;
                }
                let dims = m.get("dims")?.as_array()?;
                let side = |i: usize| dims.get(i)?.as_u64().and_then(|n| u32::try_from(n).ok());
                Some((
                    url.to_owned(),
                    side(0)?,
                    side(1)?,
                    m.get("size").and_then(|s| s.as_u64()),
                ))
            };
        let clip = |s: &str, max: usize| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(max)
                .collect::<String>()
        };
        let results = v
            .get("results")
            .and_then(|r| r.as_array())
            .map(|list| {
                list.iter()
                    .take(gif_limits::PAGE)
                    .filter_map(|r| {
                        let id = r.get("id")?.as_str()?;
                        let (url, width, height, size) = rendition(r, "gif")?;
                        let (preview_url, preview_width, preview_height, _) =
                            rendition(r, "tinygif")?;
                        let title = r
                            .get("content_description")
                            .and_then(|t| t.as_str())
                            .filter(|t| !t.is_empty())
                            .or_else(|| r.get("title").and_then(|t| t.as_str()))
                            .unwrap_or("GIF");
                        Some(Gif {
                            id: clip(id, 100),
                            title: clip(title, 200),
                            url,
                            width,
                            height,
                            preview_url,
                            preview_width,
                            preview_height,
                            size,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let next = v
            .get("next")
            .and_then(|n| n.as_str())
            .filter(|n| !n.is_empty() && n.len() <= gif_limits::POS_MAX && *n != "0")
            .map(str::to_owned);
        GifPage { results, next }
    }

    /// The GIF (or WebP) at `raw`, an address under one of the media origins, with its type
    /// from its bytes (blocking: run it off the async threads).
    pub fn media(&self, raw: &str) -> Result<(Vec<u8>, &'static str), GifError> {
        if !self.enabled() {
            return Err(GifError::Off);
        }
        let url = Url::parse(raw)
            .ok()
            .filter(|u| raw.len() <= 2048 && self.is_media_origin(u))
            .ok_or_else(|| {
                GifError::Bad("url: the address of a GIF found by GET /api/v1/gifs".into())
            })?;
        let got = fetch_url(
            url,
            &self.allow,
            Duration::from_millis(self.cfg.timeout_ms),
            self.cfg.max_bytes + 1,
            "image/gif,image/webp",
        )
        .map_err(|e| self.unavailable(e))?;
        if !self.is_media_origin(&got.final_url) {
            return Err(GifError::Unavailable(
                "the provider sent the media elsewhere".into(),
            ));
        }
        if got.body.len() as u64 > self.cfg.max_bytes {
            return Err(GifError::Unavailable(format!(
                "the GIF has more than {} bytes",
                self.cfg.max_bytes
            )));
        }
        let content_type = match imaging::sniff(&got.body) {
            Some(image::ImageFormat::Gif) => "image/gif",
            Some(image::ImageFormat::WebP) => "image/webp",
            _ => return Err(GifError::Unavailable("the media is no GIF".into())),
        };
        Ok((got.body, content_type))
    }
}
