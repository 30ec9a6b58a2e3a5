//! Text that every match of a regex contains beyond the text it starts with (issue 19).
//!
//! A regex whose first letters are in every payload (`/"user":\s*"bob/`, `/lat.ncy_ms":4/`)
//! sent the regex engine into every payload. Where its matches must also hold a longer
//! plain text (`"bob`, `ncy_ms":4`), a block of payloads is swept for that text first, and
//! the regex runs only in the payloads that hold it.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Shortest text worth a sweep of its own: shorter ones are in most payloads.
const SHORTEST: usize = 3;

/// Regex `pattern` read as the filter builds it (bytes, Unicode, case-insensitive when
/// `nocase`); None where it does not parse.
pub(super) fn parse(pattern: &str, nocase: bool) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .utf8(false)
        .case_insensitive(nocase)
        .build()
        .parse(pattern)
        .ok()
}

/// Text every match of a regex (read by [`parse`]) contains, and whether to look for it
/// with ASCII case folded (then it is lowercase). The longest plain run of the pattern's top-level
/// sequence, leaving out the run it starts with: the prefix search looks for that one
/// where it can, and a match's first letters are often a key every payload holds
/// (`"user":` in `/"user":\s*"bob/`, whose prefix search gives up at the quote). Only
/// the chosen run's sparseness is sampled. None where there is no such run of at least
/// [`SHORTEST`] bytes.
pub(super) fn inner_text(hir: &Hir) -> Option<(Box<[u8]>, bool)> {
    let mut runs = Runs {
        at_start: true,
        ..Runs::default()
    };
    runs.item(hir);
    runs.end();
    runs.done
        .into_iter()
        .filter(|(_, _, first)| !first)
        .map(|(text, fold, _)| (text, fold))
        .filter(|(text, _)| text.len() >= SHORTEST)
        .max_by_key(|(text, _)| text.len())
        .map(|(text, fold)| (text.into(), fold))
}

/// Plain runs of a sequence, read in order.
#[derive(Default)]
struct Runs {
    /// The run being read: its bytes, and whether a letter in it may be either case.
    text: Vec<u8>,
    fold: bool,
    /// True until the first run ends or something other than plain text is read (the
    /// run being read starts the match).
    at_start: bool,
    /// Runs read: text, folded, whether it starts the match.
    done: Vec<(Vec<u8>, bool, bool)>,
}

impl Runs {
    fn item(&mut self, hir: &Hir) {
        match hir.kind() {
            HirKind::Literal(literal) => self.text.extend_from_slice(&literal.0),
            HirKind::Class(class) => match case_pair(class) {
                Some(lower) => {
                    self.text.push(lower);
                    self.fold = true;
                }
                None => self.end(),
            },
            HirKind::Capture(capture) => self.item(&capture.sub),
            HirKind::Concat(items) => items.iter().for_each(|item| self.item(item)),
            // At least once: its text, then whatever repeats it may add.
            HirKind::Repetition(repeat) if repeat.min >= 1 => {
                self.item(&repeat.sub);
                self.end();
            }
            _ => self.end(),
        }
    }

    /// The run read so far is complete.
    fn end(&mut self) {
        let text = std::mem::take(&mut self.text);
        if !text.is_empty() {
            let text = match self.fold {
                true => text.to_ascii_lowercase(),
                false => text,
            };
            self.done.push((text, self.fold, self.at_start));
        }
        (self.fold, self.at_start) = (false, false);
    }
}

/// The lowercase letter of a class that is exactly an ASCII letter in either case (a
/// case-insensitive `a`; not `k` or `s`, whose classes hold the Kelvin sign and the long
/// s as well).
fn case_pair(class: &Class) -> Option<u8> {
    let pairs: Vec<(u32, u32)> = match class {
        Class::Unicode(c) => (c.ranges().iter())
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
        Class::Bytes(c) => (c.ranges().iter())
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
    };
    let [(a, a_end), (b, b_end)] = pairs[..] else {
        return None;
    };
    let (upper, lower) = (u8::try_from(a).ok()?, u8::try_from(b).ok()?);
    let pair = a == a_end
        && b == b_end
        && upper.is_ascii_uppercase()
        && upper.to_ascii_lowercase() == lower;
    pair.then_some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner(pattern: &str, nocase: bool) -> Option<(String, bool)> {
        let text = inner_text(&parse(pattern, nocase)?)?;
        Some((String::from_utf8_lossy(&text.0).into_owned(), text.1))
    }

    #[test]
    fn the_longest_plain_run_after_the_first_is_what_every_match_holds() {
        let some = |t: &str, f: bool| Some((t.to_string(), f));
        assert_eq!(inner(r#""user":\s*"bob"#, false), some("\"bob", false));
        assert_eq!(inner(r#"lat.ncy_ms":4"#, false), some("ncy_ms\":4", false));
        assert_eq!(inner(r"x\d+abcd\d+ab", false), some("abcd", false));
        // Case-insensitive: folded, lowercase; a repeat at least once gives its text.
        assert_eq!(inner(r"a.Err(or)+X", true), some("error", true));
        assert_eq!(inner(r"a.(?i:Err)or", false), some("error", true));
        // The run a match starts with is the prefix search's, not this one's.
        assert_eq!(inner(r"payload 9+", false), None);
        assert_eq!(inner(r"timeout", false), None);
        assert_eq!(inner(r"(timeout)\d", false), None);
        // Too short, optional, or in one branch only: nothing every match holds.
        assert_eq!(inner(r"a.bc", false), None);
        assert_eq!(inner(r"a.(?:bcd)?", false), None);
        assert_eq!(inner(r"a.(bcd|efg)", false), None);
        assert_eq!(inner(r"a.b*cde", false), some("cde", false));
        // `k` and `s` case-insensitive also match the Kelvin sign and the long s.
        assert_eq!(inner(r"a.kelvin", true), some("elvin", true));
        assert_eq!(inner(r"a.passes", true), None);
        // Not a pattern the filter builds.
        assert_eq!(inner(r"a.(bcd", false), None);
        assert!(parse(r"a.(bcd", false).is_none());
    }
}
