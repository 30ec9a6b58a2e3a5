//! Names around a channel: the pattern for its siblings, whether a pattern already
//! covers it, and how to mention it in a one-line notice.

use bytes::Bytes;

use crate::filter::Filter;
use crate::text::escape::escape_line;

/// Bytes of a name shown in a one-line notice; the rest is cut with "…".
const NOTICE_NAME_BYTES: usize = 200;

/// A name for a notice: escaped, and cut short (a 1 MB channel name would otherwise be
/// re-laid-out on every frame the notice is shown).
pub fn short_name(name: &[u8]) -> String {
    if name.len() <= NOTICE_NAME_BYTES {
        return escape_line(name).into_owned();
    }
    let end = crate::text::escape::cut_at(name, NOTICE_NAME_BYTES);
    format!("{}…", escape_line(&name[..end]))
}

/// A pattern for the channel's siblings: the last `:` segment becomes `*`
/// (`ai:conversations:123` → `ai:conversations:*`); a name without `:` gets a `*`
/// appended. Glob characters in the kept part are escaped, so they match literally.
pub fn pattern_for(channel: &[u8]) -> Bytes {
    let prefix = match channel.iter().rposition(|&b| b == b':') {
        Some(i) => &channel[..=i],
        None => channel,
    };
    let mut out = Vec::with_capacity(prefix.len() + 2);
    for &b in prefix {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'*');
    Bytes::from(out)
}

/// Whether a PSUBSCRIBE `pattern` already delivers `channel` (Redis glob rules, via
/// the filter's `ch:` glob). Patterns that are not UTF-8 are assumed not to.
pub fn pattern_covers(pattern: &[u8], channel: &[u8]) -> bool {
    let Ok(pattern) = std::str::from_utf8(pattern) else {
        return false;
    };
    let quoted = pattern.replace('\\', "\\\\").replace('"', "\\\"");
    Filter::parse(&format!("ch:\"{quoted}\""))
        .map(|f| f.matches(channel, b""))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_from_channels() {
        assert_eq!(pattern_for(b"ai:conversations:123"), "ai:conversations:*");
        assert_eq!(pattern_for(b"orders"), "orders*");
        assert_eq!(pattern_for(b"a:"), "a:*");
        assert_eq!(pattern_for(b"x[1]*:y"), "x\\[1\\]\\*:*");
        assert_eq!(pattern_for(b"\xff\x1b:z"), &b"\xff\x1b:*"[..]);
        assert!(pattern_covers(b"*", b"anything"));
        assert!(pattern_covers(b"ai:*", b"ai:chat"));
        assert!(!pattern_covers(b"ai:*", b"orders"));
        assert!(pattern_covers(&pattern_for(b"x[1]*:y"), b"x[1]*:z"));
        assert!(!pattern_covers(&pattern_for(b"x[1]*:y"), b"x1:z"));
        assert!(pattern_covers(b"say\"hi\"*", b"say\"hi\" there"));
    }

    #[test]
    fn notice_names_are_escaped_and_short() {
        assert_eq!(short_name(b"a\x1bb"), "a\\x1bb");
        let long = "é".repeat(300);
        let shown = short_name(long.as_bytes());
        assert!(
            shown.ends_with('…') && shown.chars().count() == 101,
            "{shown}"
        );
    }
}
