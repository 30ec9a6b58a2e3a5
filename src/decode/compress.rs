//! Compression layers: gzip, zlib (flate2, pure-Rust miniz_oxide backend), zstd (ruzstd),
//! lz4 frame (lz4_flex), snappy framed and raw (snap). Every reader is cut off one byte
//! past the cap ([`super::MAX_OUTPUT`], 16 MiB, or less for previews) so a zip bomb costs
//! at most that and is reported as such.

use std::io::{self, Read};

use super::{Cap, Format, NotThis};

const SNAPPY_STREAM: &[u8] = b"\xff\x06\x00\x00sNaPpY";

/// The compression a payload's first bytes announce.
pub(crate) fn magic(payload: &[u8]) -> Option<Format> {
    match payload {
        [0x1f, 0x8b, ..] => Some(Format::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Format::Zstd),
        [0x04, 0x22, 0x4d, 0x18, ..] => Some(Format::Lz4),
        p if p.starts_with(SNAPPY_STREAM) => Some(Format::Snappy),
        // zlib: deflate (CM 8), window ≤ 32 KiB, header check divisible by 31.
        [cmf, flg, ..]
            if cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 =>
        {
            Some(Format::Zlib)
        }
        _ => None,
    }
}

/// Is `format`'s signature at the start of `payload` certain enough that a failure to
/// decompress is the answer (`zstd: corrupt (…)`) rather than a reason to guess another
/// format? gzip, zstd, lz4 and framed snappy have magic numbers of two to ten bytes that
/// no value format starts with; a zlib header is two bytes with a 1-in-31 check that a
/// Protobuf message may start with (`08 1d` is field 1 = 29), so only the headers zlib
/// itself writes (`78 01`, `78 5e`, `78 9c`, `78 da`) count.
pub(crate) fn is_definite(payload: &[u8], format: Format) -> bool {
    magic(payload) == Some(format)
        && match format {
            Format::Zlib => matches!(payload, [0x78, 0x01 | 0x5e | 0x9c | 0xda, ..]),
            _ => true,
        }
}

/// "output larger than 16 MiB" (the caps are whole MiB; any other through `text::bytes`).
fn too_large(cap: Cap) -> NotThis {
    const MIB: usize = 1024 * 1024;
    let size = if cap.0.is_multiple_of(MIB) {
        format!("{} MiB", cap.0 / MIB)
    } else {
        crate::text::bytes(cap.0 as u64)
    };
    NotThis::new(format!("output larger than {size}"))
}

fn read_capped(reader: impl Read, cap: Cap) -> Result<Vec<u8>, NotThis> {
    let mut out = Vec::new();
    match reader.take(cap.0 as u64 + 1).read_to_end(&mut out) {
        Ok(_) if out.len() > cap.0 => Err(too_large(cap)),
        Ok(_) if out.is_empty() => Err(NotThis::new("empty after decompression")),
        Ok(_) => Ok(out),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(NotThis::new("truncated")),
        Err(e) => Err(NotThis::new(format!("corrupt ({e})"))),
    }
}

pub(crate) fn decompress(payload: &[u8], format: Format, cap: Cap) -> Result<Vec<u8>, NotThis> {
    match format {
        Format::Gzip => read_capped(flate2::read::MultiGzDecoder::new(payload), cap),
        Format::Zlib => read_capped(flate2::read::ZlibDecoder::new(payload), cap),
        Format::Zstd => zstd_frames(payload, cap),
        Format::Lz4 => read_capped(lz4_flex::frame::FrameDecoder::new(payload), cap),
        Format::Snappy if payload.starts_with(SNAPPY_STREAM) => {
            read_capped(snap::read::FrameDecoder::new(payload), cap)
        }
        Format::Snappy => {
            let len = snap::raw::decompress_len(payload)
                .map_err(|e| NotThis::new(format!("corrupt ({e})")))?;
            if len > cap.0 {
                return Err(too_large(cap));
            }
            if len == 0 {
                return Err(NotThis::new("empty after decompression"));
            }
            snap::raw::Decoder::new()
                .decompress_vec(payload)
                .map_err(|e| NotThis::new(format!("corrupt ({e})")))
        }
        other => Err(NotThis::new(format!("{other} is not a compression"))),
    }
}

/// Every zstd frame of `payload`, their outputs one after another (as `zstd -d` reads
/// concatenated frames); bytes after the last frame that do not start another are
/// corrupt. Reading only the first frame showed `zstd(x)` followed by anything as `x`.
fn zstd_frames(payload: &[u8], cap: Cap) -> Result<Vec<u8>, NotThis> {
    const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
    let corrupt = |e: &dyn std::fmt::Display| NotThis::new(format!("corrupt ({e})"));
    let mut rest = payload;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if !rest.starts_with(&MAGIC) {
            let after = crate::text::bytes(rest.len() as u64);
            return Err(NotThis::new(format!(
                "corrupt ({after} after the last frame are not a frame)"
            )));
        }
        let decoder =
            ruzstd::decoding::StreamingDecoder::new_with_max_window_size(&mut rest, cap.0 as u64)
                .map_err(|e| corrupt(&e))?;
        let room = (cap.0 - out.len()) as u64 + 1;
        match decoder.take(room).read_to_end(&mut out) {
            Ok(_) if out.len() > cap.0 => return Err(too_large(cap)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(NotThis::new("truncated"))
            }
            Err(e) => return Err(corrupt(&e)),
        }
    }
    if out.is_empty() {
        return Err(NotThis::new("empty after decompression"));
    }
    Ok(out)
}

/// gzip-compress `bytes` (re-encoding an edited payload).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// zstd-compress `bytes` (ruzstd's fastest level, about zstd level 1).
pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}
