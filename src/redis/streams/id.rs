//! Stream entry ids (`<ms>-<seq>`), parsed so they can be compared, stepped past and
//! turned into ages. Comparing ids as strings is wrong (`9-0` > `10-0`), and the server
//! accepts only decimal `u64` halves, so a typed id is both safer and cheaper.

use std::fmt;
use std::str::FromStr;

/// A stream entry id. Ordered like the server orders them: by milliseconds, then sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part: the Unix time of the append for auto-generated ids, but a
    /// producer may choose any value with explicit ids.
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// `ms-seq` exactly as the server writes ids. `ms` alone is accepted too (sequence 0),
    /// which is what a person types when jumping to a time.
    pub fn parse(bytes: impl AsRef<[u8]>) -> Option<StreamId> {
        let text = std::str::from_utf8(bytes.as_ref()).ok()?;
        let (ms, seq) = match text.split_once('-') {
            Some((ms, seq)) => (ms, Some(seq)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || seq.is_some_and(|s| !digits(s)) {
            return None;
        }
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: match seq {
                Some(s) => s.parse().ok()?,
                None => 0,
            },
        })
    }

    /// The smallest id greater than this one; `None` after [`StreamId::MAX`]. Used as an
    /// inclusive range start meaning "after this id", which works on every server version
    /// (the `(id` exclusive syntax needs Redis 6.2).
    pub fn successor(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The largest id smaller than this one; `None` for `0-0`.
    pub fn predecessor(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// How long ago (in ms) this id's time part was, at `now_ms`. Ids from the future
    /// (explicit ids, or a server clock ahead of ours) count as age 0 rather than
    /// negative, because an age is shown as "how stale".
    pub fn age_ms(self, now_ms: i64) -> u64 {
        let now = u64::try_from(now_ms).unwrap_or(0);
        now.saturating_sub(self.ms)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadStreamId(pub String);

impl fmt::Display for BadStreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a stream id: expected <milliseconds>-<sequence> such as \
             1700000000000-0, or just <milliseconds>",
            crate::text::escape::escape_str(&self.0)
        )
    }
}

impl std::error::Error for BadStreamId {}

impl FromStr for StreamId {
    type Err = BadStreamId;

    fn from_str(s: &str) -> Result<StreamId, BadStreamId> {
        StreamId::parse(s.trim().as_bytes()).ok_or_else(|| BadStreamId(s.to_string()))
    }
}

impl serde::Serialize for StreamId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An id in a reply (bulk or simple string); `None` for nil or anything else.
pub(crate) fn id_of(v: &redis::Value) -> Option<StreamId> {
    use redis::Value;
    // Borrowed where the reply holds bytes: ids are read ~10,000 times per poll.
    match v {
        Value::BulkString(b) => StreamId::parse(b),
        Value::SimpleString(s) => StreamId::parse(s),
        Value::VerbatimString { text, .. } => StreamId::parse(text),
        Value::Attribute { data, .. } => id_of(data),
        other => StreamId::parse(crate::redis::reply::bytes_of(other)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_numerically() {
        let a: StreamId = "9-0".parse().unwrap();
        let b: StreamId = "10-0".parse().unwrap();
        assert!(a < b);
        assert_eq!(StreamId::parse(b"5"), Some(StreamId::new(5, 0)));
        assert_eq!(
            StreamId::parse(b"18446744073709551615-18446744073709551615"),
            Some(StreamId::MAX)
        );
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "+1-0",
            " 1-0",
            "99999999999999999999-0",
        ] {
            assert_eq!(StreamId::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert!("x"
            .parse::<StreamId>()
            .unwrap_err()
            .to_string()
            .contains("<milliseconds>"));
    }

    #[test]
    fn successor_and_predecessor_cross_the_sequence_boundary() {
        assert_eq!(StreamId::new(1, 5).successor(), Some(StreamId::new(1, 6)));
        assert_eq!(
            StreamId::new(1, u64::MAX).successor(),
            Some(StreamId::new(2, 0))
        );
        assert_eq!(StreamId::MAX.successor(), None);
        assert_eq!(
            StreamId::new(2, 0).predecessor(),
            Some(StreamId::new(1, u64::MAX))
        );
        assert_eq!(StreamId::ZERO.predecessor(), None);
    }

    #[test]
    fn ages_never_go_negative() {
        assert_eq!(StreamId::new(1_000, 0).age_ms(1_500), 500);
        assert_eq!(StreamId::new(2_000, 0).age_ms(1_500), 0);
        assert_eq!(StreamId::new(0, 0).age_ms(-5), 0);
        assert_eq!(StreamId::new(7, 3).to_string(), "7-3");
    }
}
