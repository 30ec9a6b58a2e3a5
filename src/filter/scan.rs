//! The value at one JSON path, read by a lazy scanner instead of a parser (issue 19).
//!
//! A filter with one field test, `.latency_ms > 250`, parsed each of a million payloads
//! with serde (a pruned `Value`: a map and a key string allocated per message, 280 ns
//! a payload). This scanner walks the payload's bytes once, checks them to be valid JSON
//! as it goes, skips what the path does not enter and hands only the value at the path
//! to serde, which gives exactly the `Value` a full parse would.
//!
//! It answers only where it is sure to agree with [`super::json::project`] followed by
//! `filter::lookup`; anything unusual — an escape (`\`), a control character in a string,
//! nesting deeper than [`MAX_DEPTH`], a syntax error, a payload that is not JSON text —
//! is [`Scanned::Unsure`], and the caller takes the parser's path. Every input the
//! scanner accepts, serde accepts too (a subset of the JSON grammar with no escapes), so
//! "the path is absent" here means absent there.

use serde_json::Value;

use super::Seg;

/// Well below serde_json's recursion limit (128), so a value handed to serde on its own
/// parses as it would in place.
const MAX_DEPTH: usize = 64;

// Named so that brace-counting tools are not misled by a brace in a literal.
const OBJECT: u8 = b'{';
const OBJECT_END: u8 = b'}';
const ARRAY: u8 = b'[';
const ARRAY_END: u8 = b']';

/// True when `payload` takes the parser's route: JSON text, an object or array first.
pub(super) fn json_text(payload: &[u8]) -> bool {
    let first = payload.iter().find(|b| !b.is_ascii_whitespace());
    matches!(first, Some(&OBJECT | &ARRAY))
}

/// What the scanner found at the path.
#[derive(Debug, PartialEq)]
pub(super) enum Scanned {
    /// The value there (`Value::Null` for a JSON `null`).
    Found(Value),
    /// Valid JSON (or not JSON at all) without a value there: the field test fails.
    Absent,
    /// Not decided here: ask the parser.
    Unsure,
}

/// The scanner gave up; the parser decides.
struct Unsure;

type Step<T> = Result<T, Unsure>;

/// The value of `payload` at `path`, as `lookup(project(payload), path)` gives it.
pub(super) fn field(payload: &[u8], path: &[Seg]) -> Scanned {
    // The parser's route is taken only by JSON text.
    if !json_text(payload) {
        return Scanned::Unsure;
    }
    // `project` reads the payload as a `str` first: not UTF-8, no value anywhere.
    if std::str::from_utf8(payload).is_err() {
        return Scanned::Absent;
    }
    let mut scanner = Scanner {
        bytes: payload,
        at: 0,
        depth: 0,
    };
    match scanner.root(path) {
        Ok(Some(value)) => Scanned::Found(value),
        Ok(None) => Scanned::Absent,
        Err(Unsure) => Scanned::Unsure,
    }
}

/// A checked number token that is an integer of at most 18 digits, as serde gives it
/// (`u64` when not negative, else `i64`), without serde's set-up (a full `.latency_ms` pass
/// at 1M: 13 % less CPU). `-0` is left to serde (it reads it as the float `-0.0`).
fn small_integer(token: &[u8]) -> Option<Value> {
    let (negative, digits) = match token.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, token),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    match (negative, n) {
        (false, n) => Some(Value::from(n)),
        (true, 0) => None,
        // 18 digits fit an i64.
        (true, n) => Some(Value::from(-(n as i64))),
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Scanner<'_> {
    fn root(&mut self, path: &[Seg]) -> Step<Option<Value>> {
        self.ws();
        let found = self.value(Some(path))?;
        self.ws();
        if self.at != self.bytes.len() {
            return Err(Unsure);
        }
        Ok(found)
    }

    /// JSON whitespace (not form feed: serde rejects it).
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Step<()> {
        if self.peek() != Some(byte) {
            return Err(Unsure);
        }
        self.at += 1;
        Ok(())
    }

    /// A value; `want` is the rest of the path when this value is on it. Returns the
    /// path's value, if it is in here.
    fn value(&mut self, want: Option<&[Seg]>) -> Step<Option<Value>> {
        let start = self.at;
        match (want, self.peek()) {
            (Some([]), _) => {
                // Parsed by serde, as the parser does with every value at the path (an
                // earlier duplicate that fails to parse fails the whole payload there).
                self.skip()?;
                if let Some(n) = small_integer(&self.bytes[start..self.at]) {
                    return Ok(Some(n));
                }
                let text = std::str::from_utf8(&self.bytes[start..self.at]);
                match text.map(serde_json::from_str::<Value>) {
                    Ok(Ok(value)) => Ok(Some(value)),
                    _ => Err(Unsure),
                }
            }
            (Some(rest), Some(OBJECT)) => self.object(rest),
            (Some(rest), Some(ARRAY)) => self.array(rest),
            (Some(_), _) => {
                // A scalar where the path goes deeper: the parser reads it in full (a
                // number out of range is an error there), then finds nothing in it.
                self.skip()?;
                let number = matches!(self.bytes.get(start), Some(b'-' | b'0'..=b'9'));
                if number {
                    let text = std::str::from_utf8(&self.bytes[start..self.at]);
                    let parsed = text.map(serde_json::from_str::<Value>);
                    if !matches!(parsed, Ok(Ok(_))) {
                        return Err(Unsure);
                    }
                }
                Ok(None)
            }
            (None, _) => {
                self.skip()?;
                Ok(None)
            }
        }
    }

    fn enter(&mut self) -> Step<()> {
        self.depth += 1;
        self.at += 1;
        if self.depth > MAX_DEPTH {
            return Err(Unsure);
        }
        self.ws();
        Ok(())
    }

    /// An object on the path: the member named by `want`'s first segment, if any (the
    /// last of duplicates wins, as in a parse).
    fn object(&mut self, want: &[Seg]) -> Step<Option<Value>> {
        self.enter()?;
        let mut found = None;
        if self.peek() == Some(OBJECT_END) {
            self.at += 1;
            self.depth -= 1;
            return Ok(None);
        }
        loop {
            let key = self.string()?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            match want.split_first() {
                Some((Seg::Key(k), rest)) if &self.bytes[key] == k.as_bytes() => {
                    found = self.value(Some(rest))?;
                }
                _ => self.skip()?,
            }
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.ws();
                }
                Some(OBJECT_END) => break,
                _ => return Err(Unsure),
            }
        }
        self.at += 1;
        self.depth -= 1;
        Ok(found)
    }

    /// An array on the path: the element `want`'s first segment indexes, if any.
    fn array(&mut self, want: &[Seg]) -> Step<Option<Value>> {
        self.enter()?;
        let mut found = None;
        if self.peek() == Some(ARRAY_END) {
            self.at += 1;
            self.depth -= 1;
            return Ok(None);
        }
        let mut index = 0;
        loop {
            match want.split_first() {
                Some((Seg::Index(i), rest)) if *i == index => found = self.value(Some(rest))?,
                _ => self.skip()?,
            }
            index += 1;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.ws();
                }
                Some(ARRAY_END) => break,
                _ => return Err(Unsure),
            }
        }
        self.at += 1;
        self.depth -= 1;
        Ok(found)
    }

    /// Past one value no path enters, checking it.
    fn skip(&mut self) -> Step<()> {
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(OBJECT) => self.object(&[]).map(drop),
            Some(ARRAY) => self.array(&[]).map(drop),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => Err(Unsure),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Step<()> {
        if !self.bytes[self.at..].starts_with(word) {
            return Err(Unsure);
        }
        self.at += word.len();
        Ok(())
    }

    /// A string without escapes or control characters; returns its contents' range.
    fn string(&mut self) -> Step<std::ops::Range<usize>> {
        self.expect(b'"')?;
        let start = self.at;
        // A byte loop: keys and most values are a few bytes, where a memchr call's set-up
        // cost more than the search (perf: a third of the scanner's time; eight bytes at a
        // time measured no faster).
        for (i, &b) in self.bytes[start..].iter().enumerate() {
            match b {
                b'"' => {
                    self.at = start + i + 1;
                    return Ok(start..start + i);
                }
                b'\\' | 0..0x20 => return Err(Unsure),
                _ => {}
            }
        }
        Err(Unsure)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, as serde reads it.
    fn number(&mut self) -> Step<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return Err(Unsure);
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Unsure),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Step<()> {
        let start = self.at;
        self.digits();
        if self.at == start {
            return Err(Unsure);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{json, lookup, Filter, Seg};
    use super::*;
    use proptest::prelude::*;

    /// What the parser's route gives: the reference the scanner must agree with.
    fn parsed(payload: &[u8], path: &[Seg]) -> Option<Value> {
        let mut paths = json::Paths::default();
        paths.add(path);
        let root = json::project(payload, &paths)?;
        lookup(&root, path).cloned()
    }

    fn agrees(payload: &[u8], path: &[Seg]) -> Result<bool, TestCaseError> {
        let want = parsed(payload, path);
        let text = String::from_utf8_lossy(payload);
        match field(payload, path) {
            Scanned::Found(v) => prop_assert_eq!(Some(v), want, "{} {:?}", text, path),
            Scanned::Absent => prop_assert_eq!(None, want, "{} {:?}", text, path),
            Scanned::Unsure => return Ok(false),
        }
        Ok(true)
    }

    const KEYS: &[&str] = &[r#""a""#, r#""b""#, r#""latency_ms""#, r#""""#, "\"é\""];
    /// Keys the parser reads its own way (escapes).
    const ODD_KEYS: &[&str] = &[r#""l\u0061tency_ms""#, r#""a\"b""#, r#""a\\""#];
    const SCALARS: &[&str] = &[
        "null",
        "true",
        "false",
        "0",
        "-0",
        "250",
        "251",
        "2.5e2",
        "25.0",
        "-1.5E-3",
        "18446744073709551616",
        "-9223372036854775809",
        r#""x""#,
        r#""250""#,
        r#""""#,
        r#""latency_ms""#,
        "\"é ü\"",
    ];
    /// Scalars the parser rejects or reads its own way.
    const ODD_SCALARS: &[&str] = &[
        "1e400",
        "-1e400",
        "01",
        "1.",
        "-",
        ".5",
        "tru",
        r#""a\"b""#,
        r#""\u0041\ud800""#,
        "\"tab\there\"",
    ];
    fn space() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            40 => Just(""),
            6 => Just(" "),
            2 => Just("\n\t"),
            1 => Just("\r"),
            // Form feed: whitespace to Rust, not to JSON.
            1 => Just("\u{c}"),
        ]
    }

    fn pick(usual: &'static [&'static str], odd: &'static [&'static str]) -> BoxedStrategy<String> {
        prop_oneof![
            40 => prop::sample::select(usual).prop_map(String::from),
            1 => prop::sample::select(odd).prop_map(String::from),
        ]
        .boxed()
    }

    /// JSON-ish text: mostly valid, with the odd number, escape, space or key that the
    /// parser treats in its own way.
    fn json_ish() -> impl Strategy<Value = String> {
        let leaf = pick(SCALARS, ODD_SCALARS);
        leaf.prop_recursive(5, 48, 5, |inner| {
            let item = (space(), inner, space())
                .prop_map(|(a, v, b)| format!("{a}{v}{b}"))
                .boxed();
            let member = (pick(KEYS, ODD_KEYS), space(), item.clone())
                .prop_map(|(k, s, v)| format!("{k}{s}:{v}"));
            prop_oneof![
                1 => prop::collection::vec(item, 0..5).prop_map(|v| format!("[{}]", v.join(","))),
                2 => prop::collection::vec(member, 0..5).prop_map(|v| format!("{{{}}}", v.join(","))),
            ]
        })
    }

    /// A payload: JSON-ish text, sometimes damaged (a byte dropped, replaced or added).
    fn payload() -> impl Strategy<Value = Vec<u8>> {
        let damage = prop_oneof![
            20 => Just(None),
            1 => (any::<prop::sample::Index>(), prop::sample::select(&b"{}[],:\"\\ 0e\xff\x01"[..]), 0..3u8)
                .prop_map(Some),
        ];
        (space(), json_ish(), space(), damage).prop_map(|(a, text, b, damage)| {
            let mut bytes = format!("{a}{text}{b}").into_bytes();
            if let Some((at, byte, how)) = damage {
                let i = at.index(bytes.len() + 1);
                match how {
                    0 if i < bytes.len() => drop(bytes.remove(i)),
                    1 if i < bytes.len() => bytes[i] = byte,
                    _ => bytes.insert(i, byte),
                }
            }
            bytes
        })
    }

    fn seg() -> impl Strategy<Value = Seg> {
        prop_oneof![
            3 => prop::sample::select(&["a", "b", "latency_ms", "a", "b", "latency_ms", "a\"b", "", "é"][..])
                .prop_map(|k| Seg::Key(k.to_string())),
            1 => (0..3usize).prop_map(Seg::Index),
        ]
    }

    /// The filter's text for a path.
    fn path_text(path: &[Seg]) -> String {
        path.iter()
            .map(|s| match s {
                Seg::Key(k) => format!(".{}", serde_json::Value::String(k.clone())),
                Seg::Index(i) => format!(".[{i}]"),
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_scanner_finds_what_the_parser_finds(
            payload in payload(),
            path in prop::collection::vec(seg(), 1..4),
        ) {
            agrees(&payload, &path)?;
        }

        #[test]
        fn shortcuts_never_change_a_verdict(
            payload in payload(),
            paths in prop::collection::vec(prop::collection::vec(seg(), 1..3), 1..3),
            ops in prop::collection::vec(
                prop::sample::select(&["", " == 250", " > 25", " <= 2.5e2", " != \"x\"",
                    " == null", " ~ a", " == true", " ~ 25", " == \"250\""][..]), 3),
            shape in 0..4usize,
        ) {
            let field = |i: usize| format!("{}{}", path_text(&paths[i % paths.len()]), ops[i]);
            let expr = match shape {
                0 => field(0),
                1 => format!("{} and {}", field(0), field(1)),
                2 => format!("{} or not {}", field(0), field(1)),
                _ => format!("not ({} or {}) or {}", field(0), field(1), field(2)),
            };
            let filter = Filter::parse(&expr).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(
                filter.eval(b"c", &payload, true, None),
                filter.eval(b"c", &payload, false, None),
                "{} on {}", expr, String::from_utf8_lossy(&payload)
            );
        }
    }

    #[test]
    fn small_integers_read_as_serde_reads_them() {
        let mut tokens: Vec<String> = [
            "0",
            "-0",
            "7",
            "-7",
            "10",
            "-10",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "18446744073709551615",
            "1.5",
            "1e3",
            "-",
            "",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let mut rng = crate::test_rng::XorShift(0xDEC1_4A11);
        for _ in 0..5_000 {
            let digits = 1 + rng.below(20);
            let mut t: String = (0..digits)
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            if t.len() > 1 {
                t = t.trim_start_matches('0').to_string();
            }
            if rng.below(2) == 0 {
                t.insert(0, '-');
            }
            tokens.push(t);
        }
        for token in tokens {
            let serde = serde_json::from_str::<Value>(&token).ok();
            match small_integer(token.as_bytes()) {
                Some(v) => assert_eq!(Some(v), serde, "{token}"),
                None => assert!(
                    token.len() > 18
                        || token == "-0"
                        || !matches!(serde, Some(Value::Number(ref n)) if n.is_i64() || n.is_u64()),
                    "{token} left to serde"
                ),
            }
        }
    }

    #[test]
    fn plain_payloads_are_scanned_not_parsed() {
        let key = |k: &str| Seg::Key(k.to_string());
        let payload = br#" {"seq":1,"user":{"id":42,"tags":["x",{"k":[1,2]}]},"latency_ms":250.5,"t":"p 9"} "#;
        for (path, want) in [
            (vec![key("latency_ms")], Some(serde_json::json!(250.5))),
            (vec![key("user"), key("id")], Some(serde_json::json!(42))),
            (
                vec![key("user"), key("tags"), Seg::Index(1), key("k")],
                Some(serde_json::json!([1, 2])),
            ),
            (vec![key("user"), key("tags"), Seg::Index(2)], None),
            (vec![key("seq"), key("x")], None),
            (vec![key("missing")], None),
        ] {
            let scanned = field(payload, &path);
            let expected = want.map_or(Scanned::Absent, Scanned::Found);
            assert_eq!(scanned, expected, "{path:?}");
            assert!(agrees(payload, &path).expect("agrees"));
        }
        // What the scanner leaves to the parser.
        for unsure in [
            &br#"{"a\u0062":1}"#[..],
            b"{\"a\":\"\x01\"}",
            br#"{"a":1,}"#,
            br#"{"a":1e400}"#,
            // An earlier duplicate the parser fails on fails the payload there too.
            br#"{"a":[1e400],"a":null}"#,
            b"\xa4\x01",
            b"plain text",
        ] {
            let path = [key("a")];
            assert_eq!(field(unsure, &path), Scanned::Unsure, "{unsure:?}");
        }
        // Cases proptest found once (were proptest-regressions/filter/scan.txt).
        for (payload, path) in [
            (&b"null"[..], vec![Seg::Index(0)]),
            (
                br#"{"latency_ms":[1e400],"latency_ms":null}"#,
                vec![key("latency_ms")],
            ),
        ] {
            assert!(agrees(payload, &path).is_ok(), "{path:?}");
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(70), "]".repeat(70));
        assert_eq!(field(deep.as_bytes(), &[key("a")]), Scanned::Unsure);
        assert_eq!(
            field(b"{\"a\":\"\xff\"}", &[key("a")]),
            Scanned::Absent,
            "not UTF-8"
        );
    }
}
