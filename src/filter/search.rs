//! The folded substring search of the filter's smart-case terms.

use std::ops::Range;

/// `needle` (lowercase) in `hay` with ASCII case folded.
pub(super) fn find_folded(hay: &[u8], needle: &[u8]) -> Option<Range<usize>> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0..0);
    };
    let starts = hay.len().checked_sub(needle.len())?;
    let (lower, upper) = (first, first.to_ascii_uppercase());
    let mut from = 0;
    while from <= starts {
        let at = from + memchr::memchr2(lower, upper, &hay[from..=starts])?;
        let tail = &hay[at + 1..at + needle.len()];
        if tail
            .iter()
            .zip(rest)
            .all(|(h, c)| h.to_ascii_lowercase() == *c)
        {
            return Some(at..at + needle.len());
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift;

    /// The scan it replaced: compare a window at every offset.
    fn naive(hay: &[u8], needle: &[u8]) -> Option<Range<usize>> {
        if needle.is_empty() {
            return Some(0..0);
        }
        let at = hay.windows(needle.len()).position(|w| {
            w.iter()
                .zip(needle)
                .all(|(h, c)| h.to_ascii_lowercase() == *c)
        })?;
        Some(at..at + needle.len())
    }

    #[test]
    fn a_regex_prefix_is_what_every_match_starts_with() {
        use super::super::regex_prefix;
        let prefix = |p: &str| regex_prefix(p).map(|b| String::from_utf8_lossy(&b).into_owned());
        assert_eq!(prefix("payload 9+").as_deref(), Some("payload 9"));
        assert_eq!(prefix("Timeout.*x").as_deref(), Some("timeout"));
        assert_eq!(prefix("time?out").as_deref(), Some("tim"));
        assert_eq!(prefix("ab{2}").as_deref(), None, "one byte is not worth it");
        assert_eq!(prefix("abc*d").as_deref(), Some("ab"));
        // Alternation anywhere, a group or class first, k and s (Kelvin sign, long s).
        for none in [
            "ab|cd", "x(ab|cd)", "(ab)", "[ab]c", "\\dab", "kelvin", "ask", "a.b",
        ] {
            assert_eq!(prefix(none), None, "{none}");
        }
        assert_eq!(prefix("err: disk").as_deref(), Some("err: di"));
    }

    #[test]
    fn finds_what_the_window_scan_found() {
        let alphabet = b"aAbB:\xff\x00 ";
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let mut next = |n: usize| rng.below(n);
        for _ in 0..20_000 {
            let hay: Vec<u8> = (0..next(24))
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            let needle: Vec<u8> = (0..next(4))
                .map(|_| alphabet[next(alphabet.len())].to_ascii_lowercase())
                .collect();
            assert_eq!(
                find_folded(&hay, &needle),
                naive(&hay, &needle),
                "{hay:?} {needle:?}"
            );
        }
    }
}
