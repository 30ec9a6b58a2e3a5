//! A minimal RESP2 reader for the subscriber connection (and, in [`reader`], a borrowing
//! RESP2/RESP3 reader for replies parsed straight into structs). We read pub/sub frames
//! ourselves (instead of redis-rs's PubSub) to get SSUBSCRIBE, byte-exact names, a
//! bounded hand-off, and liveness pings — see REDIS-NOTES.md.

use std::ops::Range;

mod reader;
pub use reader::{skip_value, Item, ReadError, Reader, Skipper};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Simple(Range<usize>),
    Error(Range<usize>),
    Integer(i64),
    Bulk(Range<usize>),
    Nil,
    Array(Vec<Frame>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// A whole frame and how many bytes it used.
    Complete(Frame, usize),
    /// Need more input; `hint` is the total buffer length known to be needed (0 = unknown).
    Incomplete { hint: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "protocol error: {}", self.0)
    }
}

/// Largest bulk string we accept (Redis's own proto-max-bulk-len default).
const MAX_BULK: usize = 512 * 1024 * 1024;
const MAX_ARRAY: usize = 1 << 20;

pub fn parse(buf: &[u8]) -> Result<Parse, ProtocolError> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], start: usize, depth: usize) -> Result<Parse, ProtocolError> {
    if depth > 8 {
        return Err(ProtocolError("nesting too deep".into()));
    }
    let Some(&tag) = buf.get(start) else {
        return Ok(Parse::Incomplete { hint: 0 });
    };
    let Some(line_end) = find_crlf(buf, start + 1) else {
        return Ok(Parse::Incomplete { hint: 0 });
    };
    let line = start + 1..line_end;
    let after = line_end + 2;
    match tag {
        b'+' => Ok(Parse::Complete(Frame::Simple(line), after)),
        b'-' => Ok(Parse::Complete(Frame::Error(line), after)),
        b':' => Ok(Parse::Complete(Frame::Integer(int(&buf[line])?), after)),
        b'$' => {
            let n = int(&buf[line])?;
            if n < 0 {
                return Ok(Parse::Complete(Frame::Nil, after));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError("bad length".into()))?;
            if n > MAX_BULK {
                return Err(ProtocolError(format!("bulk string of {n} bytes")));
            }
            let end = after + n;
            if buf.len() < end + 2 {
                return Ok(Parse::Incomplete { hint: end + 2 });
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string not terminated by CRLF".into()));
            }
            Ok(Parse::Complete(Frame::Bulk(after..end), end + 2))
        }
        b'*' => {
            let n = int(&buf[line])?;
            if n < 0 {
                return Ok(Parse::Complete(Frame::Nil, after));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError("bad length".into()))?;
            if n > MAX_ARRAY {
                return Err(ProtocolError(format!("array of {n} elements")));
            }
            let mut items = Vec::with_capacity(n);
            let mut pos = after;
            for _ in 0..n {
                match parse_at(buf, pos, depth + 1)? {
                    Parse::Complete(f, next) => {
                        items.push(f);
                        pos = next;
                    }
                    incomplete => return Ok(incomplete),
                }
            }
            Ok(Parse::Complete(Frame::Array(items), pos))
        }
        other => Err(ProtocolError(format!("unexpected type byte 0x{other:02x}"))),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\r', &rest[i..]) {
        let at = i + off;
        match rest.get(at + 1) {
            Some(b'\n') => return Some(from + at),
            Some(_) => i = at + 1,
            None => return None,
        }
    }
    None
}

/// A RESP integer line: an optional `-` (or `+`), then 1 to 19 ASCII digits — what
/// `i64::from_str` accepts, without going through `str` for every frame header.
fn int(bytes: &[u8]) -> Result<i64, ProtocolError> {
    let bad = || ProtocolError("invalid integer".into());
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 19 {
        // Longer runs (leading zeros) are rare: leave them to the standard parser.
        return std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad);
    }
    let mut n: i128 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(bad());
        }
        n = n * 10 + i128::from(b - b'0');
    }
    let n = if negative { -n } else { n };
    i64::try_from(n).map_err(|_| bad())
}

/// Encode a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-level integer reader accepts and rejects exactly what `i64::from_str`
    /// does (it replaced it on every frame header).
    #[test]
    fn int_agrees_with_the_standard_parser() {
        let std_int = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
        };
        let mut cases: Vec<Vec<u8>> = [
            "0",
            "-0",
            "+0",
            "7",
            "-1",
            "+12",
            "1024",
            "",
            "-",
            "+",
            "--1",
            "+-1",
            "1 ",
            " 1",
            "1.0",
            "0x10",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "00000000000000000000001",
            "-0000000000000000000001",
            "١٢",
        ]
        .iter()
        .map(|c| c.as_bytes().to_vec())
        .collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 22) as usize;
            let alphabet = b"0123456789-+ x\r";
            cases.push(
                (0..len)
                    .map(|i| alphabet[((seed >> (i * 3 % 60)) as usize + i) % alphabet.len()])
                    .collect(),
            );
        }
        for case in cases {
            assert_eq!(
                int(&case).ok(),
                std_int(&case),
                "{:?}",
                String::from_utf8_lossy(&case)
            );
        }
    }

    #[test]
    fn parses_a_message_frame() {
        let buf = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhe\r\nl\r\nrest";
        let Parse::Complete(Frame::Array(items), used) = parse(buf).unwrap() else {
            panic!("expected complete array");
        };
        assert_eq!(used, buf.len() - 4);
        let Frame::Bulk(p) = &items[2] else { panic!() };
        assert_eq!(&buf[p.clone()], b"he\r\nl");
    }

    #[test]
    fn incomplete_input_asks_for_more_with_a_hint() {
        let full = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$10\r\n0123456789\r\n";
        for cut in 0..full.len() {
            match parse(&full[..cut]).unwrap() {
                // A hint names a length we do not have yet and never overshoots.
                Parse::Incomplete { hint } => {
                    assert!(hint == 0 || (hint > cut && hint <= full.len()))
                }
                Parse::Complete(..) => panic!("complete at {cut}"),
            }
        }
        assert!(matches!(parse(full).unwrap(), Parse::Complete(_, n) if n == full.len()));
    }

    #[test]
    fn errors_integers_and_nil() {
        assert_eq!(
            parse(b"-NOPERM no\r\n").unwrap(),
            Parse::Complete(Frame::Error(1..10), 12)
        );
        assert_eq!(
            parse(b":-5\r\n").unwrap(),
            Parse::Complete(Frame::Integer(-5), 5)
        );
        assert_eq!(parse(b"$-1\r\n").unwrap(), Parse::Complete(Frame::Nil, 5));
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b"$3\r\nabcXY").is_err());
    }

    #[test]
    fn encodes_binary_arguments() {
        let mut out = Vec::new();
        encode_command(&[b"SUBSCRIBE", b"a\r\nb"], &mut out);
        assert_eq!(out, b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\na\r\nb\r\n");
    }
}
