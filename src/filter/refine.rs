//! When one filter provably narrows another: every message the new one matches, the old
//! one matched too. The feed then re-checks only the old matches after a keystroke at
//! the `/` prompt (issue 19). The test is conservative — `false` only costs a full scan —
//! and decided on the compiled expressions, never on the source text:
//!
//! - an expression AND-ed with more (`error` → `error ch:svc:*`);
//! - a substring term that got longer (`time` → `timeout`, smart case respected: a
//!   case-insensitive `tim` is narrowed by an exact `Timeout`, not the other way round);
//! - a channel glob `prefix*` whose prefix got longer (`ch:svc:*` → `ch:svc:4*`);
//! - an identical term; and the same rules through `or` and `not` (`not a` is narrowed
//!   by `not b` when `a` narrows `b`).
//!
//! Regexes never count as narrowing (flags are not part of their text), and JSON tests
//! only when identical.

use super::{Filter, GlobTok, JsonOp, Matcher, Node, Target, Term};

/// Larger expressions are not compared (the check is quadratic in the worst case).
const MAX_NODES: usize = 64;

impl Filter {
    /// True if every message this filter matches, `old` matches too.
    pub fn narrows(&self, old: &Filter) -> bool {
        match (&self.root, &old.root) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(new), Some(old)) => size(new) + size(old) <= MAX_NODES && implies(new, old),
        }
    }
}

fn size(node: &Node) -> usize {
    match node {
        Node::And(v) | Node::Or(v) => 1 + v.iter().map(size).sum::<usize>(),
        Node::Not(n) => 1 + size(n),
        Node::Term(_) => 1,
    }
}

/// `a` ⇒ `b` for every message (sound, not complete).
pub(super) fn implies(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Or(xs), _) => xs.iter().all(|x| implies(x, b)),
        (_, Node::And(ys)) => ys.iter().all(|y| implies(a, y)),
        (Node::And(xs), _) if xs.iter().any(|x| implies(x, b)) => true,
        (_, Node::Or(ys)) => ys.iter().any(|y| implies(a, y)),
        (Node::Not(x), Node::Not(y)) => implies(y, x),
        (Node::Term(x), Node::Term(y)) => term_implies(x, y),
        _ => false,
    }
}

fn term_implies(a: &Term, b: &Term) -> bool {
    match (a, b) {
        (Term::Text(ta, ma), Term::Text(tb, mb)) => {
            (*tb == Target::Any || ta == tb) && matcher_implies(ma, mb)
        }
        (Term::Glob(ga), Term::Glob(gb)) => {
            ga.0 == gb.0
                || matches!((prefix(&ga.0), prefix(&gb.0)), (Some(pa), Some(pb)) if pa.starts_with(&pb))
        }
        (Term::Json(pa, oa), Term::Json(pb, ob)) => {
            pa.path == pb.path && (same_json_op(oa, ob) || json_op_implies(oa, ob))
        }
        _ => false,
    }
}

/// A value passing `a` passes `b` (same path): `> 250` ⇒ `> 25`, and any comparison
/// ⇒ the field exists (a number is not null). Typing `.latency_ms > 25` → `> 250`
/// re-checks only the previous matches.
fn json_op_implies(a: &JsonOp, b: &JsonOp) -> bool {
    use super::Cmp::{Ge, Gt, Le, Lt};
    match (a, b) {
        (JsonOp::Cmp(..), JsonOp::Exists) => true,
        (JsonOp::Cmp(a, x), JsonOp::Cmp(b, y)) => match (a, b) {
            // `> x` ⇒ `> y` when x ≥ y; `>= x` ⇒ `> y` only when x > y (x itself).
            (Gt, Gt | Ge) | (Ge, Ge) => x >= y,
            (Ge, Gt) => x > y,
            (Lt, Lt | Le) | (Le, Le) => x <= y,
            (Le, Lt) => x < y,
            _ => false,
        },
        _ => false,
    }
}

/// A match of `a` in some bytes means a match of `b` in the same bytes.
fn matcher_implies(a: &Matcher, b: &Matcher) -> bool {
    let contains = |hay: &[u8], needle: &[u8]| {
        needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
    };
    match (a, b) {
        (Matcher::Exact(n), Matcher::Exact(m)) => contains(n.needle(), m.needle()),
        // Both lowercase; ASCII folding is the same on both sides.
        (Matcher::Fold(n), Matcher::Fold(m)) => contains(n, m),
        // Where `n` occurs exactly, its ASCII-lowercase form occurs folded.
        (Matcher::Exact(n), Matcher::Fold(m)) => contains(&n.needle().to_ascii_lowercase(), m),
        // A folded match equals `n` but for the case of letters; `m` has none (a search
        // without letters is exact), so it occurs exactly where it is in `n`.
        (Matcher::Fold(n), Matcher::Exact(m)) => {
            !m.needle().iter().any(u8::is_ascii_alphabetic) && contains(n, m.needle())
        }
        _ => false,
    }
}

/// The literal prefix of a glob that is only `prefix*`.
fn prefix(toks: &[GlobTok]) -> Option<Vec<u8>> {
    let (last, body) = toks.split_last()?;
    if *last != GlobTok::Star {
        return None;
    }
    body.iter()
        .map(|t| match t {
            GlobTok::Byte(b) => Some(*b),
            _ => None,
        })
        .collect()
}

fn same_json_op(a: &JsonOp, b: &JsonOp) -> bool {
    match (a, b) {
        (JsonOp::Exists, JsonOp::Exists) => true,
        (JsonOp::Eq(la, wa), JsonOp::Eq(lb, wb)) => {
            wa == wb && format!("{la:?}") == format!("{lb:?}")
        }
        (JsonOp::Cmp(a, na), JsonOp::Cmp(b, nb)) => a == b && na.to_bits() == nb.to_bits(),
        (JsonOp::Contains(ma), JsonOp::Contains(mb)) => {
            matcher_implies(ma, mb) && matcher_implies(mb, ma)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn narrows(new: &str, old: &str) -> bool {
        let parse = |s: &str| Filter::parse(s).unwrap_or_else(|e| panic!("{e}"));
        parse(new).narrows(&parse(old))
    }

    #[test]
    fn longer_substrings_and_added_terms_narrow() {
        for (new, old) in [
            ("timeout", "time"),
            ("Timeout", "tim"),
            ("error ch:svc:*", "error"),
            ("ch:svc:4*", "ch:svc:*"),
            ("ch:svc:*", "ch:svc:*"),
            ("error and .latency_ms > 250", ".latency_ms > 250"),
            ("payload 99", "payload 9"),
            ("p:abc", "abc"),
            ("not ab", "not abc"),
            ("a or b", "a or b or c"),
            ("x", ""),
            (".a == 1 x", ".a == 1"),
            (".a ~ foo", ".a ~ foo"),
            (".a > 2", ".a > 1"),
            ("9x", "9"),
            ("payload 99", "payload 9"),
            ("x:1", ":1"),
            (".a > 250", ".a > 25"),
            (".a > 1", ".a >= 1"),
            (".a >= 2", ".a > 1"),
            (".a < 1", ".a <= 1"),
            (".a <= 0", ".a < 1"),
            (".a > 2", ".a"),
            ("x .a < 3", ".a < 30"),
        ] {
            assert!(narrows(new, old), "{new:?} narrows {old:?}");
        }
    }

    #[test]
    fn anything_else_does_not() {
        for (new, old) in [
            ("time", "timeout"),
            ("tim", "Timeout"),
            ("Tim", "time"),
            ("abc", "p:abc"),
            ("abc", "ch:abc"),
            ("p:abc", "ch:abc"),
            ("not abc", "not ab"),
            ("ch:svc:*", "ch:svc:4*"),
            ("ch:svc:4", "ch:svc:*"),
            ("ch:s?c:4*", "ch:s?c:*"),
            ("a or b", "a"),
            ("/abc/i", "/abc/"),
            ("/abc/", "/abc/"),
            (".a > 1", ".a > 2"),
            ("9", "9x"),
            ("b1", "Ab1"),
            ("b9", "B9"),
            (".a >= 1", ".a > 1"),
            (".a <= 1", ".a < 1"),
            (".a < 1", ".a > 0"),
            (".a > 2", ".b > 1"),
            (".a", ".a > 2"),
            (".a == 1", ".a == \"1\""),
            ("", "x"),
            ("ошибкаx", "ошибка"),
        ] {
            assert!(
                !narrows(new, old),
                "{new:?} must not count as narrowing {old:?}"
            );
        }
    }
}
