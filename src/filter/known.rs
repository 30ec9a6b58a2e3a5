//! The value at a filter's one JSON path, remembered per message between keystrokes
//! (issue 19).
//!
//! Typing `.latency_ms > 250` over a million retained messages read every payload's
//! `latency_ms` four times (`.latency_ms`, `> 2`, `> 25`, `> 250`), about 150 ms each.
//! A filter whose JSON tests all read one path and only ask whether the value is there
//! (`.field`) or how it compares as a number (`>`, `>=`, `<`, `<=`) needs 8 bytes of that
//! value: the number, or that it is absent, `null` or something else. The feed keeps one
//! [`ValueCell`] per retained message for the path while such filters are typed
//! (`state/feed.rs`); the first filter fills the cells as it tests, the next ones read
//! them instead of the payload.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

#[cfg(test)]
use super::Cmp;
use super::{JsonOp, Lit};

// Quiet NaNs: a JSON number read as `f64` is never a NaN, so these never collide with a
// number's bits.
const UNKNOWN: u64 = 0x7ff8_5eed_0000_0000;
const ABSENT: u64 = UNKNOWN + 1;
const NULL: u64 = UNKNOWN + 2;
const OTHER: u64 = UNKNOWN + 3;

/// The value at the path for one message, once a filter has read it. Atomic so the
/// count's threads fill cells of the messages they test (each cell by one thread).
#[derive(Debug)]
pub struct ValueCell(AtomicU64);

impl Default for ValueCell {
    fn default() -> ValueCell {
        ValueCell(AtomicU64::new(UNKNOWN))
    }
}

/// What a cell says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Known {
    /// No value there (or the payload is not JSON).
    Absent,
    Null,
    /// A string, bool, object or array.
    Other,
    Number(f64),
}

impl ValueCell {
    /// What is known, if a filter has read the value yet.
    pub(super) fn get(&self) -> Option<Known> {
        match self.0.load(Ordering::Relaxed) {
            UNKNOWN => None,
            ABSENT => Some(Known::Absent),
            NULL => Some(Known::Null),
            OTHER => Some(Known::Other),
            bits => Some(Known::Number(f64::from_bits(bits))),
        }
    }

    /// True once a filter has read the value.
    pub fn is_known(&self) -> bool {
        self.get().is_some()
    }

    /// Remember what the filter found at the path.
    pub(super) fn set(&self, found: Option<&Value>) {
        self.remember(match found {
            None => Known::Absent,
            Some(Value::Null) => Known::Null,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if !x.is_nan() => Known::Number(x),
                _ => Known::Other,
            },
            Some(_) => Known::Other,
        });
    }

    pub(super) fn remember(&self, known: Known) {
        let bits = match known {
            Known::Absent => ABSENT,
            Known::Null => NULL,
            Known::Other => OTHER,
            Known::Number(x) if !x.is_nan() => x.to_bits(),
            Known::Number(_) => OTHER,
        };
        self.0.store(bits, Ordering::Relaxed);
    }
}

impl Known {
    /// The test's outcome, for the tests a cell can answer (see [`answerable`]); the
    /// same as `JsonOp::test` on the value (a missing value fails every test).
    #[inline]
    pub(super) fn test(self, op: &JsonOp) -> Option<bool> {
        match (op, self) {
            (JsonOp::Exists, Known::Absent | Known::Null) => Some(false),
            (JsonOp::Exists, Known::Other | Known::Number(_)) => Some(true),
            (JsonOp::Cmp(cmp, n), Known::Number(x)) => Some(cmp.holds(x, *n)),
            (JsonOp::Cmp(..), _) => Some(false),
            // `!=` fails too where there is no value at all.
            (JsonOp::Eq(..), Known::Absent) => Some(false),
            (JsonOp::Eq(Lit::Num(n), want), Known::Number(x)) => Some((x == *n) == *want),
            (JsonOp::Eq(Lit::Null, want), known) => Some((known == Known::Null) == *want),
            (JsonOp::Eq(Lit::Num(_), want), Known::Null | Known::Other) => Some(!*want),
            _ => None,
        }
    }
}

/// True for the tests a cell answers: the field's existence, numeric comparisons and
/// equality with a number or `null`.
pub(super) fn answerable(op: &JsonOp) -> bool {
    matches!(
        op,
        JsonOp::Exists | JsonOp::Cmp(..) | JsonOp::Eq(Lit::Num(_) | Lit::Null, _)
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Filter, JsonMark};
    use super::*;
    use crate::test_rng::XorShift;

    fn payload(rng: &mut XorShift) -> String {
        let values = [
            "3",
            "3.0",
            "-1.5",
            "2",
            "250",
            "1e3",
            "null",
            "\"3\"",
            "true",
            "[1]",
            "{}",
            "18446744073709551615",
            "\"a\\\"b\"",
        ];
        let pick = |rng: &mut XorShift| values[rng.below(values.len())];
        match rng.below(12) {
            0 => "plain text 3".into(),
            1 => format!("{{\"a\":{}", pick(rng)),
            2 => format!("{{\"x\":{{\"a\":{}}}}}", pick(rng)),
            3 => format!("{{\"a\":{},\"a\":{}}}", pick(rng), pick(rng)),
            4 => format!("[{}]", pick(rng)),
            5 => format!("{{\"b\\u0061\":{}}}", pick(rng)),
            _ => format!("{{\"b\":{}, \"a\": {} }}", pick(rng), pick(rng)),
        }
    }

    #[test]
    fn remembered_values_answer_as_the_payload_does() {
        // Filters on one path (`.a`) share a key; each message's cell is filled by the
        // first and read by the others.
        let sources = [
            ".a",
            ".a > 2",
            ".a >= 2",
            ".a < 0",
            ".a == 3",
            ".a != 3",
            ".a == null",
            ".a != null",
            "not .a > 2",
            ".a > 2 or x",
            "ch:svc:1* .a > 1",
            ".a > 1 and .a < 5",
            "not .a",
        ];
        let filters: Vec<Filter> = sources
            .iter()
            .map(|s| Filter::parse(s).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let key = filters[0].column_key();
        assert!(key.is_some());
        for f in &filters {
            assert_eq!(f.column_key(), key, "{}", f.source());
        }
        for other in [
            ".b > 1",
            ".a.b > 1",
            ".a ~ x",
            ".a == \"x\"",
            ".a > 1 .b > 1",
            "x",
        ] {
            let f = Filter::parse(other).unwrap_or_else(|e| panic!("{e}"));
            assert_ne!(f.column_key(), key, "{other}");
        }
        let mut rng = XorShift(0xC0FF_EE00_1234_5678);
        for round in 0..3_000 {
            let text = payload(&mut rng);
            let channel: &[u8] = if rng.below(2) == 0 { b"svc:12" } else { b"web" };
            let cell = ValueCell::default();
            // Half the payloads checked for well-formed JSON first, as in idle time.
            let mark = JsonMark::default();
            if rng.below(2) == 0 {
                mark.check(text.as_bytes());
            }
            let first = rng.below(filters.len());
            for i in (first..filters.len()).chain(0..first) {
                let f = &filters[i];
                let want = f.matches(channel, text.as_bytes());
                // Decided from the cell (filled by a search) where the filter allows.
                let decided = f.decide_by_cell(text.as_bytes(), &cell, &mark);
                assert!(
                    decided.is_none_or(|d| d == want),
                    "round {round}: {} on {text}",
                    f.source()
                );
                let got = f.matches_known(channel, text.as_bytes(), Some(&cell), Some(&mark), None);
                assert_eq!(got, want, "round {round}: {} on {text}", f.source());
            }
        }
    }

    #[test]
    fn a_cell_answers_as_the_value_would() {
        let ops = [
            JsonOp::Exists,
            JsonOp::Cmp(Cmp::Gt, 2.0),
            JsonOp::Cmp(Cmp::Le, -1.5),
            JsonOp::Eq(Lit::Num(3.0), true),
            JsonOp::Eq(Lit::Num(3.0), false),
            JsonOp::Eq(Lit::Null, true),
            JsonOp::Eq(Lit::Null, false),
        ];
        let values = [
            None,
            Some(Value::Null),
            Some(serde_json::json!(3)),
            Some(serde_json::json!(3.0)),
            Some(serde_json::json!(-1.5)),
            Some(serde_json::json!(u64::MAX)),
            Some(serde_json::json!("3")),
            Some(serde_json::json!([1])),
            Some(serde_json::json!(false)),
        ];
        for value in &values {
            let cell = ValueCell::default();
            assert_eq!(cell.get(), None);
            cell.set(value.as_ref());
            let known = cell.get().expect("set");
            for op in &ops {
                let want = value.as_ref().is_some_and(|v| op.test(v));
                assert_eq!(known.test(op), Some(want), "{value:?} {op:?}");
            }
        }
    }
}
