//! Public images made safe to serve: an upload is recognised by its bytes alone (PNG, JPEG,
//! GIF, WebP; never by a name or a declared type), decoded within bounds of size, sides,
//! pixels and memory, shaped for its kind, and encoded afresh, so what is served is a plain
//! picture the server wrote itself: no metadata, no second format hidden in it, no script.
//!
//! Decoding is CPU work: callers run [`process`] off the async threads, a bounded number at a
//! time (`AppState::imaging`).

use chatalot_protocol::api::image_limits::{PIXELS_MAX, SIDE_MAX};
use chatalot_protocol::api::ImageKind;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::{BufRead, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

/// The most memory one decode may take (40 megapixels of RGBA and some room).
const DECODE_ALLOC_MAX: u64 = 200 * 1024 * 1024;
/// JPEG quality of opaque images.
const JPEG_QUALITY: u8 = 85;

/// The image as it will be stored and served.
#[derive(Debug)]
pub struct Processed {
    pub bytes: Vec<u8>,
    /// `image/webp` (with transparency, lossless) or `image/jpeg`.
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Why an upload is not an image the server takes.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not PNG, JPEG, GIF or WebP by its first bytes.
    #[error("the file is not a PNG, JPEG, GIF or WebP image")]
    Format,
    /// Sides or pixels over the bounds.
    #[error("the image is too large: at most {SIDE_MAX} pixels a side and {PIXELS_MAX} pixels")]
    Dimensions,
    /// The bytes claim a format but do not decode as it (or would take too much memory).
    #[error("the image could not be read: {0}")]
    Broken(String),
}

/// The box an image of `kind` is shaped into, and whether it is cropped to a centred square.
fn shape(kind: ImageKind) -> (u32, u32, bool) {
    match kind {
        ImageKind::Avatar | ImageKind::Icon => (512, 512, true),
        ImageKind::Banner => (1920, 640, false),
        ImageKind::Emoji => (128, 128, false),
    }
}

/// The format of `bytes` by their magic numbers, if it is one the server decodes.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    match image::guess_format(bytes).ok()? {
        f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP) => {
            Some(f)
        }
        _ => None,
    }
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(SIDE_MAX);
    l.max_image_height = Some(SIDE_MAX);
    l.max_alloc = Some(DECODE_ALLOC_MAX);
    l
}

/// Decodes `bytes` within the bounds: the sides and pixel count are read from the header
/// before any pixel is, so a small file declaring a huge image costs nothing.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, Refused> {
    let format = sniff(bytes).ok_or(Refused::Format)?;
    decode_as(Cursor::new(bytes), format)
}

/// [`decode`] of an image of `format` read from `src` (from its current position).
fn decode_as<R: BufRead + Seek>(mut src: R, format: ImageFormat) -> Result<DynamicImage, Refused> {
    let io = |e: std::io::Error| Refused::Broken(e.to_string());
    let start = src.stream_position().map_err(io)?;
    let (w, h) = {
        let mut r = ImageReader::with_format(&mut src, format);
        r.limits(limits());
        r.into_dimensions().map_err(refusal)?
    };
    if w == 0 || h == 0 || w > SIDE_MAX || h > SIDE_MAX || u64::from(w) * u64::from(h) > PIXELS_MAX
    {
        return Err(Refused::Dimensions);
    }
    src.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut reader = ImageReader::with_format(src, format);
    reader.limits(limits());
    // decoded with the orientation the file states applied (a phone's portrait photo upright),
    // since the re-encoding drops the tag that says it
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    img.apply_orientation(orientation);
    Ok(img)
}

fn refusal(e: image::ImageError) -> Refused {
    match e {
        image::ImageError::Limits(_) => Refused::Dimensions,
        image::ImageError::Unsupported(_) => Refused::Format,
        other => Refused::Broken(other.to_string()),
    }
}

/// Crops and shrinks `img` for `kind` (never enlarging it).
fn fit(img: DynamicImage, kind: ImageKind) -> DynamicImage {
    let (bw, bh, square) = shape(kind);
    let img = if square && img.width() != img.height() {
        let side = img.width().min(img.height());
        img.crop_imm(
            (img.width() - side) / 2,
            (img.height() - side) / 2,
            side,
            side,
        )
    } else {
        img
    };
    if img.width() <= bw && img.height() <= bh {
        img
    } else {
        img.resize(bw, bh, FilterType::CatmullRom)
    }
}

/// Encodes `img`: lossless WebP when some pixel is not opaque, JPEG otherwise.
fn encode(img: &DynamicImage) -> Result<(Vec<u8>, &'static str), Refused> {
    let broken = |e: image::ImageError| Refused::Broken(e.to_string());
    let mut out = Vec::new();
    let transparent = img.color().has_alpha() && img.to_rgba8().pixels().any(|p| p.0[3] < 255);
    if transparent {
        let rgba = img.to_rgba8();
        image::codecs::webp::WebPEncoder::new_lossless(&mut out)
            .encode(
                rgba.as_raw(),
                rgba.width(),
                rgba.height(),
                image::ExtendedColorType::Rgba8,
            )
            .map_err(broken)?;
        Ok((out, "image/webp"))
    } else {
        let rgb = img.to_rgb8();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
            .encode(
                rgb.as_raw(),
                rgb.width(),
                rgb.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(broken)?;
        Ok((out, "image/jpeg"))
    }
}

/// The longer side of a thumbnail the server makes of a plaintext channel's image.
pub const THUMB_SIDE: u32 = 320;

/// What the server makes of a file of a plaintext channel that its bytes say is an image.
#[derive(Debug)]
pub struct Described {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`, from the bytes.
    pub content_type: &'static str,
    /// Width and height (upright) and a thumbnail within [`THUMB_SIDE`]; none when the image
    /// is over the decoding bounds or broken (it is then a file like any other).
    pub thumbnail: Option<(u32, u32, Processed)>,
}

fn mime(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Gif => "image/gif",
        _ => "image/webp",
    }
}

/// Looks at the stored file `path`: `None` unless its first bytes are those of a PNG, JPEG,
/// GIF or WebP; else its type, and its dimensions and a thumbnail when it decodes within the
/// bounds. The file is read from disk as the decoder needs it, never whole into memory first.
pub fn describe_file(path: &Path) -> std::io::Result<Option<Described>> {
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut head = [0u8; 32];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let Some(format) = sniff(&head[..n]) else {
        return Ok(None);
    };
    file.seek(SeekFrom::Start(0))?;
    let thumbnail = decode_as(file, format).ok().and_then(|img| {
        let (w, h) = (img.width(), img.height());
        let small = if w <= THUMB_SIDE && h <= THUMB_SIDE {
            img
        } else {
            img.resize(THUMB_SIDE, THUMB_SIDE, FilterType::CatmullRom)
        };
        let (bytes, content_type) = encode(&small).ok()?;
        Some((
            w,
            h,
            Processed {
                bytes,
                content_type,
                width: small.width(),
                height: small.height(),
            },
        ))
    });
    Ok(Some(Described {
        content_type: mime(format),
        thumbnail,
    }))
}

/// Recognises, decodes, shapes and re-encodes an uploaded image of `kind`.
pub fn process(bytes: &[u8], kind: ImageKind) -> Result<Processed, Refused> {
    let img = fit(decode(bytes)?, kind);
    let (bytes, content_type) = encode(&img)?;
    Ok(Processed {
        bytes,
        content_type,
        width: img.width(),
        height: img.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn png(img: DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn an_opaque_photo_becomes_a_square_jpeg() {
        let img = RgbImage::from_fn(900, 600, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 9]));
        let p = process(&png(DynamicImage::ImageRgb8(img)), ImageKind::Avatar).unwrap();
        assert_eq!(
            (p.width, p.height, p.content_type),
            (512, 512, "image/jpeg")
        );
        assert_eq!(sniff(&p.bytes), Some(ImageFormat::Jpeg));
    }

    #[test]
    fn transparency_is_kept_as_lossless_webp_and_small_images_are_not_enlarged() {
        let img = RgbaImage::from_fn(40, 20, |x, _| {
            Rgba([200, 10, 10, if x < 20 { 0 } else { 255 }])
        });
        let p = process(
            &png(DynamicImage::ImageRgba8(img.clone())),
            ImageKind::Emoji,
        )
        .unwrap();
        assert_eq!((p.width, p.height, p.content_type), (40, 20, "image/webp"));
        let back = image::load_from_memory(&p.bytes).unwrap().to_rgba8();
        assert_eq!(back, img);
    }

    #[test]
    fn a_banner_keeps_its_ratio_within_its_box() {
        let img = RgbImage::new(3840, 960);
        let p = process(&png(DynamicImage::ImageRgb8(img)), ImageKind::Banner).unwrap();
        assert_eq!((p.width, p.height), (1920, 480));
    }

    #[test]
    fn what_is_not_an_image_is_refused_by_its_bytes() {
        for bytes in [
            &b"<html><script>alert(1)</script></html>"[..],
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            b"",
            b"BM\x00\x00",
        ] {
            assert_eq!(
                process(bytes, ImageKind::Avatar).unwrap_err(),
                Refused::Format
            );
        }
    }

    #[test]
    fn a_truncated_image_is_refused() {
        let bytes = png(DynamicImage::ImageRgb8(RgbImage::new(64, 64)));
        let err = process(&bytes[..bytes.len() / 2], ImageKind::Avatar).unwrap_err();
        assert!(matches!(err, Refused::Broken(_)), "{err:?}");
    }
}
