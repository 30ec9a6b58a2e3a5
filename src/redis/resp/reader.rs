//! A borrowing RESP2/RESP3 reader for replies we parse straight into our own structs
//! (the streams poll): one value header at a time, strings borrowed from the buffer,
//! nothing allocated. RESP3 attributes are skipped wherever they appear, as the
//! redis-rs based decoders strip them.
//!
//! Scalars keep the distinctions redis-rs makes, so decoders written on this reader give
//! exactly what the `redis::Value` ones give: `+OK` is [`Item::Okay`] (not a string),
//! verbatim strings are their own kind (text after the `txt:` prefix), and sets and
//! pushes are not arrays.

use super::{find_crlf, int, ProtocolError, MAX_ARRAY, MAX_BULK};

/// One value's header (and, for strings, its bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// `$` bulk string.
    Bulk(&'a [u8]),
    /// `+` simple string other than `OK`.
    Simple(&'a [u8]),
    /// `+OK`.
    Okay,
    /// `=` verbatim string: the text after its `xxx:` format prefix.
    Verbatim(&'a [u8]),
    Int(i64),
    /// `$-1`, `*-1` or `_`.
    Nil,
    /// `-` or `!`: the whole error text (code and detail).
    Error(&'a [u8]),
    /// `*` with this many elements (read next).
    Array(usize),
    /// `~` set.
    Set(usize),
    /// `>` push.
    Push(usize),
    /// `%` map with this many field/value pairs (2 × n values follow).
    Map(usize),
    /// `#` boolean, `,` double, `(` big number: scalars our decoders never read.
    Other,
}

/// Why a value could not be read: the buffer ends inside it, or it is not RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    Incomplete,
    Protocol(ProtocolError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Incomplete => f.write_str("the reply ends early"),
            ReadError::Protocol(e) => e.fmt(f),
        }
    }
}

fn bad(what: impl Into<String>) -> ReadError {
    ReadError::Protocol(ProtocolError(what.into()))
}

/// A header as it is in the buffer: attributes are not skipped yet.
enum Header<'a> {
    Value(Item<'a>),
    /// `|` with this many pairs, decorating the value that follows them.
    Attribute(usize),
}

/// Read the header at `pos`: the item and where the next one starts.
fn header(buf: &[u8], pos: usize) -> Result<(Header<'_>, usize), ReadError> {
    let Some(&tag) = buf.get(pos) else {
        return Err(ReadError::Incomplete);
    };
    let line_end = find_crlf(buf, pos + 1).ok_or(ReadError::Incomplete)?;
    let line = &buf[pos + 1..line_end];
    let after = line_end + 2;
    let count = |line: &[u8]| -> Result<Option<usize>, ReadError> {
        let n = int(line).map_err(ReadError::Protocol)?;
        if n < 0 {
            return Ok(None);
        }
        let n = usize::try_from(n).map_err(|_| bad("bad length"))?;
        if n > MAX_ARRAY {
            return Err(bad(format!("aggregate of {n} elements")));
        }
        Ok(Some(n))
    };
    let value = |item| Ok((Header::Value(item), after));
    match tag {
        b'+' if line == b"OK" => value(Item::Okay),
        b'+' => value(Item::Simple(line)),
        b'-' => value(Item::Error(line)),
        b':' => value(Item::Int(int(line).map_err(ReadError::Protocol)?)),
        b'_' => value(Item::Nil),
        b'#' | b',' | b'(' => value(Item::Other),
        b'$' | b'!' | b'=' => {
            let n = int(line).map_err(ReadError::Protocol)?;
            if n < 0 {
                return value(Item::Nil);
            }
            let n = usize::try_from(n).map_err(|_| bad("bad length"))?;
            if n > MAX_BULK {
                return Err(bad(format!("bulk string of {n} bytes")));
            }
            let end = after.checked_add(n).ok_or_else(|| bad("bad length"))?;
            if buf.len() < end + 2 {
                return Err(ReadError::Incomplete);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(bad("bulk string not terminated by CRLF"));
            }
            let body = &buf[after..end];
            let item = match tag {
                b'$' => Item::Bulk(body),
                b'!' => Item::Error(body),
                _ => match body.get(3) {
                    Some(b':') => Item::Verbatim(&body[4..]),
                    _ => return Err(bad("verbatim string without a format")),
                },
            };
            Ok((Header::Value(item), end + 2))
        }
        b'*' => match count(line)? {
            None => value(Item::Nil),
            Some(n) => value(Item::Array(n)),
        },
        b'~' | b'>' | b'%' | b'|' => {
            let n = count(line)?.ok_or_else(|| bad("negative length"))?;
            match tag {
                b'~' => value(Item::Set(n)),
                b'>' => value(Item::Push(n)),
                b'%' => value(Item::Map(n)),
                _ => Ok((Header::Attribute(n), after)),
            }
        }
        other => Err(bad(format!("unexpected type byte 0x{other:02x}"))),
    }
}

/// How many values an item's header announces after itself.
fn children(item: &Item<'_>) -> usize {
    match *item {
        Item::Array(n) | Item::Set(n) | Item::Push(n) => n,
        Item::Map(n) => n.saturating_mul(2),
        _ => 0,
    }
}

/// Walks over whole values without looking at them, resumable: when the buffer ends
/// inside a value, [`Skipper::advance`] can be called again once more bytes are in.
#[derive(Debug, Clone)]
pub struct Skipper {
    pos: usize,
    remaining: usize,
}

impl Skipper {
    /// Skip one value starting at `pos`.
    pub fn at(pos: usize) -> Skipper {
        Skipper { pos, remaining: 1 }
    }

    /// Where the scan stands: after the value once [`advance`](Self::advance) said true.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Go as far as `buf` allows: true once the whole value is behind us.
    pub fn advance(&mut self, buf: &[u8]) -> Result<bool, ProtocolError> {
        while self.remaining > 0 {
            let (head, next) = match header(buf, self.pos) {
                Ok(h) => h,
                Err(ReadError::Incomplete) => return Ok(false),
                Err(ReadError::Protocol(e)) => return Err(e),
            };
            match head {
                // The pairs come first; the value they decorate is still owed.
                Header::Attribute(n) => {
                    self.remaining = self.remaining.saturating_add(n.saturating_mul(2))
                }
                Header::Value(item) => {
                    self.remaining = (self.remaining - 1).saturating_add(children(&item))
                }
            }
            self.pos = next;
        }
        Ok(true)
    }
}

/// The length of the one whole value at the start of `buf`, or None when it is not all
/// there yet.
pub fn skip_value(buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let mut s = Skipper::at(0);
    Ok(s.advance(buf)?.then_some(s.pos))
}

/// A cursor over one reply: read headers with [`Reader::item`], skip what is not needed
/// with [`Reader::skip`]. Strings borrow from the buffer.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// The next value's header, attributes skipped.
    pub fn item(&mut self) -> Result<Item<'a>, ReadError> {
        loop {
            let (head, next) = header(self.buf, self.pos)?;
            match head {
                Header::Value(item) => {
                    self.pos = next;
                    return Ok(item);
                }
                Header::Attribute(n) => {
                    let mut s = Skipper {
                        pos: next,
                        remaining: n.saturating_mul(2),
                    };
                    if !s.advance(self.buf).map_err(ReadError::Protocol)? {
                        return Err(ReadError::Incomplete);
                    }
                    self.pos = s.pos;
                }
            }
        }
    }

    /// Skip the children an item just read announced (nothing for a scalar).
    pub fn skip_children(&mut self, item: &Item<'_>) -> Result<(), ReadError> {
        self.skip_n(children(item))
    }

    /// Skip `n` whole values.
    pub fn skip_n(&mut self, n: usize) -> Result<(), ReadError> {
        if n == 0 {
            return Ok(());
        }
        let mut s = Skipper {
            pos: self.pos,
            remaining: n,
        };
        if !s.advance(self.buf).map_err(ReadError::Protocol)? {
            return Err(ReadError::Incomplete);
        }
        self.pos = s.pos;
        Ok(())
    }

    /// True when every byte has been read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_headers_and_skips_attributes() {
        let buf = b"|1\r\n+ttl\r\n:3\r\n*3\r\n$1\r\na\r\n+OK\r\n=7\r\ntxt:abc\r\n";
        let mut r = Reader::new(buf);
        assert_eq!(r.item(), Ok(Item::Array(3)));
        assert_eq!(r.item(), Ok(Item::Bulk(b"a")));
        assert_eq!(r.item(), Ok(Item::Okay));
        assert_eq!(r.item(), Ok(Item::Verbatim(b"abc")));
        assert!(r.at_end());
        assert_eq!(skip_value(buf), Ok(Some(buf.len())));
    }

    #[test]
    fn a_value_cut_anywhere_is_incomplete_and_resumes() {
        let full: &[u8] =
            b"%2\r\n$4\r\nname\r\n$2\r\ng1\r\n$3\r\nlag\r\n_\r\n*2\r\n:1\r\n!3\r\nERR\r\n";
        let first = 34;
        for cut in 0..first {
            assert_eq!(skip_value(&full[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(skip_value(full), Ok(Some(first)));
        let mut s = Skipper::at(0);
        for cut in 0..=full.len() {
            if s.advance(&full[..cut]).unwrap() {
                break;
            }
        }
        assert_eq!(s.pos(), first);
        assert_eq!(skip_value(&full[first..]), Ok(Some(full.len() - first)));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"?x\r\n"[..],
            b"$3\r\nabcXY",
            b"*-2\r\n",
            b"%-1\r\n",
            b"=2\r\nab\r\n",
            b":x\r\n",
            b"$99999999999999999999\r\n",
        ] {
            let _ = skip_value(bad);
            let mut r = Reader::new(bad);
            let _ = r.item();
        }
        assert!(skip_value(b"?x\r\n").is_err());
        assert!(skip_value(b"=2\r\nab\r\n").is_err());
        assert!(skip_value(b"$3\r\nabcXY").is_err());
    }
}
