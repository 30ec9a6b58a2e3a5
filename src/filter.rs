//! Message filter language shared by `redtail tail --filter` and the TUI's `/` filter.
//!
//! A filter decides whether a Pub/Sub message (channel bytes + payload bytes) matches.
//!
//! ```text
//! expr    := or
//! or      := and (("or" | "||") and)*
//! and     := unary (("and" | "&&")? unary)*      -- juxtaposition means AND
//! unary   := ("not" | "!") unary | "(" expr ")" | term
//! term    := WORD | QUOTED                       -- substring of channel OR payload
//!          | ("channel:" | "ch:") (GLOB | QUOTED | regex)
//!          | ("payload:" | "p:") (WORD | QUOTED | regex)
//!          | regex                              -- regex on channel OR payload
//!          | path (op value)?                   -- JSON field; bare path: exists, not null
//! regex   := "/" ( "\/" | any char but "/" )* "/" "i"?
//! path    := ("." NAME | "." QUOTED | "."? "[" DIGITS "]")+  -- must start with "."
//! op      := "==" | "!=" | "<" | "<=" | ">" | ">=" | "~"
//! value   := NUMBER | QUOTED | "true" | "false" | "null" | WORD
//! QUOTED  := '"' ( '\"' | '\\' | any char but '"' )* '"'  -- other backslashes are literal
//! WORD    := run of chars up to whitespace, "(", ")", "&&" or "||"
//! NAME    := letters, digits, "_", "-", "$", "@"
//! ```
//!
//! Semantics:
//! - Precedence is `not` > `and` > `or`. Keywords (`and`, `or`, `not`, `channel:`, `ch:`,
//!   `payload:`, `p:`) are case-insensitive; quote a term to search for a keyword literally.
//!   An expression of only whitespace matches everything.
//! - Substring terms are smart-case: case-insensitive unless the term has an uppercase letter.
//! - `channel:GLOB` uses Redis `PSUBSCRIBE` glob rules on bytes (`*`, `?`, `[abc]`, `[a-z]`,
//!   `[^a]`, `\` escape), plus `[!a]` as a negation alias. Only the first colon after the
//!   keyword separates, so `channel:ai:stream:*` is the glob `ai:stream:*`. Any other
//!   `word:with:colons` is an ordinary substring term.
//! - `/REGEX/` is case-sensitive unless followed by `i`; it runs on raw bytes, so binary
//!   payloads still match.
//! - JSON tests parse the payload (at most once per message). A payload that is not JSON or
//!   lacks the field never matches, including for `!=`. Numbers compare numerically
//!   (`42 == 42.0`); strings, booleans and null compare only with their own JSON type.
//!   `<`, `<=`, `>`, `>=` need a number. An unquoted value that is not a number, `true`,
//!   `false` or `null` is a string. `~` is a smart-case substring test on a string value,
//!   or on the JSON text of any other value.
//!
//! Examples:
//! ```text
//! error channel:svc:*                   "error" anywhere, on a channel matching svc:*
//! ch:"ai:stream:*" and not heartbeat
//! payload:/timeout \d+ms/i                case-insensitive regex on the payload only
//! .user.id == 42 || .latency_ms >= 250
//! .tags[0] == "x" ."odd key" ~ gpt .trace_id
//! (error or warn) !channel:health:*
//! ```

mod json;
mod known;
mod lex;
mod refine;
mod required;
mod scan;
mod search;
mod valid;

use std::fmt;
use std::ops::Range;

use regex::bytes::{Regex, RegexBuilder};
use serde_json::Value;

use crate::text::escape::escape_str;

pub use known::ValueCell;
pub use scan::JsonMark;
pub(crate) use search::Needle;

/// Parens and `not` recurse; bounding them keeps a pasted `((((…` from overflowing the stack.
const MAX_DEPTH: usize = 100;
const SCOPES: [(&str, Target); 4] = [
    ("channel:", Target::Channel),
    ("ch:", Target::Channel),
    ("payload:", Target::Payload),
    ("p:", Target::Payload),
];

/// A compiled filter expression.
#[derive(Debug, Clone)]
pub struct Filter {
    root: Option<Node>,
    /// Every JSON path the expression reads: payloads are parsed only that far.
    paths: json::Paths,
    /// True when the expression reads one JSON path only (however many tests read it):
    /// its value is then found by [`scan`] rather than a parse.
    one_path: bool,
    /// The one JSON test's field when the expression reads nothing else and a cell
    /// answers each of its tests: a message's verdict then follows from its
    /// [`ValueCell`] alone ([`Filter::decide_by_cell`]).
    column: Option<Field>,
    source: String,
    /// The decoder each channel's payload takes for JSON-field tests (see
    /// [`Filter::with_decoders`]); without it, `auto`.
    decoders: Option<Decoders>,
}

/// Which decoder a channel's payloads take: the config's `[decode]` globs, or `tail
/// --decode`. JSON-field tests then see what the feed and `tail` show — a
/// `protobuf:TYPE` channel by its field names (`auto` never guesses a type).
#[derive(Clone)]
pub struct Decoders {
    choice_for: std::sync::Arc<ChoiceFor>,
    /// Equal for decoders that choose alike (see [`Filter::column_key`]).
    identity: std::sync::Arc<str>,
    /// No channel has a decoder of its own: every payload is read as without any.
    json_only: bool,
    /// A payload its channel's decoder does not take has no fields (see
    /// [`Decoders::strict`]); otherwise it is read as without a decoder.
    strict: bool,
}

/// A channel → its configured decoder, if any.
type ChoiceFor = dyn Fn(&[u8]) -> Option<crate::decode::Choice> + Send + Sync;

impl Decoders {
    /// Decoders unlike any other.
    pub fn new(
        choice_for: impl Fn(&[u8]) -> Option<crate::decode::Choice> + Send + Sync + 'static,
    ) -> Decoders {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Decoders::named(format!("#{n}"), choice_for)
    }

    /// Decoders that choose as every other one named `identity` does (the same
    /// `[decode]` rules and flag).
    pub fn named(
        identity: String,
        choice_for: impl Fn(&[u8]) -> Option<crate::decode::Choice> + Send + Sync + 'static,
    ) -> Decoders {
        Decoders {
            choice_for: std::sync::Arc::new(choice_for),
            identity: identity.into(),
            json_only: false,
            strict: false,
        }
    }

    /// A payload that the channel's decoder does not take has no fields, as the README
    /// promises ("the filter reads the payload with that decoder"): under `--decode
    /// msgpack`, JSON text or gzip is not read some other way. Only for callers that keep
    /// stream entries (our own JSON of their fields, never decoded) away from these
    /// decoders, as `tail` does.
    pub fn strict(mut self) -> Decoders {
        self.strict = true;
        self.identity = format!("{} strict", self.identity).into();
        self
    }

    /// Decoders known to give no channel a decoder of its own (no rule or flag names
    /// one other than `auto` or `json`): JSON tests then take the shortcuts a filter
    /// without decoders takes.
    pub fn json_only(mut self) -> Decoders {
        self.json_only = true;
        self
    }
}

impl fmt::Debug for Decoders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Decoders")
    }
}

/// A parse error, positioned at a char offset of the original expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub message: String,
    pub position: usize,
    pub source: String,
}

impl fmt::Display for FilterError {
    /// The expression (and a message quoting part of it) is what the user typed or pasted:
    /// shown escaped, one line each, with the caret under the escaped text at the width
    /// it takes on screen (`\x1b` is 4 columns, a tab's `\t` 2, `日` 2).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let before: String = self.source.chars().take(self.position).collect();
        let pad = " ".repeat(unicode_width::UnicodeWidthStr::width(&*escape_str(&before)));
        let col = self.position + 1;
        let (msg, src) = (escape_str(&self.message), escape_str(&self.source));
        write!(f, "filter error at column {col}: {msg}\n  {src}\n  {pad}^")
    }
}

impl std::error::Error for FilterError {}

impl Filter {
    pub fn parse(src: &str) -> Result<Filter, FilterError> {
        let chars = src.chars().collect();
        let mut p = Parser {
            src,
            chars,
            pos: 0,
            depth: 0,
        };
        p.skip_ws();
        let root = p.peek().is_some().then(|| p.parse_or()).transpose()?;
        if p.peek().is_some() {
            // parse_or only stops early at a ')' that no '(' claimed.
            return p.fail(p.pos, "unmatched ')' with no '(' before it");
        }
        let mut paths = json::Paths::default();
        let mut distinct: Vec<&[Seg]> = Vec::new();
        if let Some(root) = &root {
            root.collect_paths(&mut paths, &mut distinct);
        }
        let one_path = distinct.len() == 1;
        let column = root.as_ref().filter(|_| one_path).and_then(Node::column);
        Ok(Filter {
            root,
            paths,
            one_path,
            column,
            source: src.to_string(),
            decoders: None,
        })
    }

    /// JSON-field tests decode each channel's payload as `decoders` says.
    pub fn with_decoders(mut self, decoders: Decoders) -> Filter {
        self.decoders = Some(decoders);
        self
    }

    /// JSON-field tests decode as `other`'s do.
    pub fn with_decoders_of(mut self, other: &Filter) -> Filter {
        self.decoders = other.decoders.clone();
        self
    }

    /// The key when the whole filter is one top-level field's existence, `.name`: what
    /// the prompt shows while a field name is being typed.
    pub fn bare_field(&self) -> Option<&str> {
        match &self.root {
            Some(Node::Term(Term::Json(field, JsonOp::Exists))) => match field.path.as_slice() {
                [Seg::Key(k)] => Some(k),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn matches(&self, channel: &[u8], payload: &[u8]) -> bool {
        self.eval(channel, payload, true, None, None, None)
    }

    /// Where the value at the filter's one JSON path may be remembered per message
    /// ([`ValueCell`]): filters with the same key read the same value from a payload.
    /// `None` unless every JSON test reads one path and a cell can answer it (existence,
    /// a numeric comparison, `== number`, `== null`).
    pub fn column_key(&self) -> Option<String> {
        fn answerable(node: &Node) -> bool {
            match node {
                Node::And(v) | Node::Or(v) => v.iter().all(answerable),
                Node::Not(n) => answerable(n),
                Node::Term(Term::Json(_, op)) => known::answerable(op),
                Node::Term(_) => true,
            }
        }
        let root = self.root.as_ref()?;
        let path = self.paths_read().first()?.clone();
        let decoders = self.decoders.as_ref().map(|d| &*d.identity);
        (self.one_path && answerable(root)).then(|| format!("{path:?} {decoders:?}"))
    }

    /// [`Filter::matches`], reading the value at the one JSON path from `cell` when a
    /// filter with the same [`Filter::column_key`] has read it, and leaving it there
    /// when this one reads it; `mark` is what is known of the payload's JSON (and where
    /// a scan leaves what it learns).
    ///
    /// `found`: a term of this filter (its [`Filter::needle`]) that a search of the
    /// payload has found, which holds without a search of its own.
    pub fn matches_known(
        &self,
        channel: &[u8],
        payload: &[u8],
        cell: Option<&ValueCell>,
        mark: Option<&JsonMark>,
        found: Option<&SearchTerm<'_>>,
    ) -> bool {
        let found = found.and_then(|term| match term.0 {
            SearchKind::Text(_, m) => Some(m),
            SearchKind::Glob(_) => None,
        });
        self.eval(channel, payload, true, cell, mark, found)
    }

    /// The verdict on a message from its cell alone, for a filter that reads only its
    /// one JSON path with tests a cell answers (`.latency_ms > 250`): no evaluation of the
    /// expression against the payload. An empty cell is filled first where a search
    /// tells the value: a top-level field of a payload `mark` says is well formed (see
    /// `scan::known`). None: the payload is to be read ([`Filter::matches_known`]).
    pub fn decide_by_cell(
        &self,
        payload: &[u8],
        cell: &ValueCell,
        mark: &JsonMark,
    ) -> Option<bool> {
        let field = self.column.as_ref()?;
        let known = match cell.get() {
            Some(known) => known,
            None if self.reads_json_only() => {
                let known = scan::known(payload, Some(mark), field.search())?;
                cell.remember(known);
                known
            }
            None => return None,
        };
        self.root.as_ref()?.decide(known, None)
    }

    /// True when no channel's payload goes through a decoder of its own.
    fn reads_json_only(&self) -> bool {
        self.decoders.as_ref().is_none_or(|d| d.json_only)
    }

    /// The search that fills cells for this filter a block of payloads at a time, when
    /// it reads only one top-level field with tests a cell answers and no channel has
    /// its own decoder (see [`Filter::decide_by_cell`]).
    pub fn column_search(&self) -> Option<ColumnSearch<'_>> {
        let field = self.column.as_ref().filter(|_| self.reads_json_only())?;
        let root = self.root.as_ref()?;
        let single = match root {
            Node::Term(Term::Json(_, op)) => Some(op),
            _ => None,
        };
        let tentative = self.bare_field().is_none();
        ColumnSearch::new(root, field, tentative, single, None)
    }

    /// [`Filter::column_search`] for a filter that ANDs its [`Filter::needle`] with tests
    /// of one top-level field that a cell answers (`token .latency_ms > 250`): its
    /// verdicts are the filter's for a message whose payload the needle's search found
    /// the needle in. Such a filter was tested message by message, its field searched
    /// for in each payload alone (at 10M, 0.26–0.63 s).
    pub fn column_search_after_needle(&self) -> Option<ColumnSearch<'_>> {
        let needle = self.needle()?;
        let SearchKind::Text(_, given) = needle.0 else {
            return None;
        };
        let Some(root @ Node::And(items)) = self.root.as_ref() else {
            return None;
        };
        let is_needle =
            |n: &Node| matches!(n, Node::Term(Term::Text(_, m)) if std::ptr::eq(m, given));
        let mut rest = items.iter().filter(|n| !is_needle(n));
        // Every other item a test of the one field (the filter reads one path).
        let columns = rest.clone().all(|n| n.column().is_some());
        if !columns || !self.one_path || !self.reads_json_only() {
            return None;
        }
        fn field(node: &Node) -> Option<&Field> {
            match node {
                Node::And(v) | Node::Or(v) => v.iter().find_map(field),
                Node::Not(n) => field(n),
                Node::Term(Term::Json(f, _)) => Some(f),
                Node::Term(_) => None,
            }
        }
        let field = rest.clone().find_map(field)?;
        let single = match (rest.next(), rest.next()) {
            (Some(Node::Term(Term::Json(_, op))), None) => Some(op),
            _ => None,
        };
        ColumnSearch::new(root, field, true, single, Some(given))
    }

    /// The JSON paths the expression reads, in order of appearance.
    fn paths_read(&self) -> Vec<Vec<Seg>> {
        fn walk(node: &Node, out: &mut Vec<Vec<Seg>>) {
            match node {
                Node::And(v) | Node::Or(v) => v.iter().for_each(|n| walk(n, out)),
                Node::Not(n) => walk(n, out),
                Node::Term(Term::Json(field, _)) => out.push(field.path.clone()),
                Node::Term(_) => {}
            }
        }
        let mut out = Vec::new();
        if let Some(root) = &self.root {
            walk(root, &mut out);
        }
        out
    }

    /// `fast`: take the shortcuts for JSON tests (the key pre-check and the scanner);
    /// tests compare both ways.
    fn eval(
        &self,
        channel: &[u8],
        payload: &[u8],
        fast: bool,
        cell: Option<&ValueCell>,
        mark: Option<&JsonMark>,
        found: Option<&Matcher>,
    ) -> bool {
        let Some(root) = &self.root else { return true };
        // A cell is only ever handed over for a filter with a column key (one path).
        let cell = cell.filter(|_| fast && self.one_path);
        root.eval(&mut Msg {
            channel,
            payload,
            paths: &self.paths,
            decoders: self.decoders.as_ref(),
            choice: None,
            fast,
            one_path: fast && self.one_path,
            json: None,
            field: None,
            plain: None,
            known: cell.and_then(ValueCell::get),
            cell,
            mark: mark.filter(|_| fast),
            found: found.filter(|_| fast),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Byte ranges in `text` (an already-escaped display string of the payload or channel)
    /// that a positive (not under `not`) substring or regex term matches — used for
    /// highlighting. Ranges are sorted, merged and on char boundaries.
    pub fn highlight_ranges(&self, text: &str) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        if let Some(root) = &self.root {
            root.highlights(text.as_bytes(), true, &mut found);
        }
        found.retain(|r| !r.is_empty());
        found.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(found.len());
        for mut r in found {
            // Byte-level regexes such as `(?-u:\xC3)` can split a char; widen to whole chars.
            while !text.is_char_boundary(r.start) {
                r.start -= 1;
            }
            while !text.is_char_boundary(r.end) {
                r.end += 1;
            }
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        merged
    }
}

/// A filter's one top-level key, searched for across payloads laid end to end (the
/// feed's blocks): see [`Filter::column_search`].
pub struct ColumnSearch<'f> {
    root: &'f Node,
    search: scan::KeySearch<'f>,
    /// Whether a verdict may come without the value (see [`ColumnSearch::fill`]): not
    /// for a bare field name (`.latency_ms`), typed on the way to a test or read ahead
    /// for one, whose point is the values it leaves in the cells.
    tentative: bool,
    /// The verdicts of an absent value, `null` and a value other than a number, worked
    /// out once: most cells of a field typed on the way to another hold one of them.
    fixed: [Option<bool>; 3],
    /// The test, where the expression is one (a number's verdict without a walk of the
    /// expression: at 10M, a walk a cell was a fifth of a narrowing key).
    single: Option<&'f JsonOp>,
    /// The needle whose search found it in the payloads given verdicts (see
    /// [`Filter::column_search_after_needle`]): that term holds.
    given: Option<&'f Matcher>,
}

impl<'f> ColumnSearch<'f> {
    /// The search for `root`'s one field, `field` (None where its key cannot be searched
    /// for), with the text term `given` taken as true.
    fn new(
        root: &'f Node,
        field: &'f Field,
        tentative: bool,
        single: Option<&'f JsonOp>,
        given: Option<&'f Matcher>,
    ) -> Option<ColumnSearch<'f>> {
        let fixed = [
            known::Known::Absent,
            known::Known::Null,
            known::Known::Other,
        ];
        Some(ColumnSearch {
            root,
            search: field.search()?,
            tentative,
            fixed: fixed.map(|known| root.decide(known, given)),
            single,
            given,
        })
    }

    /// The expression's verdict given the value.
    #[inline]
    fn decide(&self, known: known::Known) -> Option<bool> {
        match known {
            known::Known::Absent => self.fixed[0],
            known::Known::Null => self.fixed[1],
            known::Known::Other => self.fixed[2],
            known::Known::Number(_) => match self.single {
                Some(op) => known.test(op),
                None => self.root.decide(known, self.given),
            },
        }
    }

    /// Fill the cell of each of `items` (a payload's range in `bytes`, its mark, its
    /// cell and a tag; ascending) where the search tells its value (the rest stay empty,
    /// for the filter to read), and give `verdict(tag, passes)` for each filled.
    pub fn fill<'m, T>(
        &self,
        bytes: &[u8],
        items: impl IntoIterator<Item = (Range<usize>, &'m JsonMark, &'m ValueCell, T)>,
        mut verdict: impl FnMut(T, bool),
    ) {
        // A payload not known to be well formed, read as if it were: were it not JSON,
        // the field would be absent. Where the value found gives the verdict no value
        // gives, that is the verdict either way, and no scan of the payload is needed
        // (a field filter arriving with `/`, before any payload is checked, scanned
        // each payload that has the key); its cell stays empty. Elsewhere the payload is
        // checked, which costs less than the scan that would follow, and where it is
        // well formed the value found is its value.
        let absent = self.fixed[0].filter(|_| self.tentative);
        let items = (items.into_iter()).map(|(span, mark, cell, tag)| (span, mark, (cell, tag)));
        self.search
            .known_in(bytes, items, |span, mark, (cell, tag), known, sure| {
                let passes = self.decide(known);
                if !sure {
                    if let Some(either) = absent.filter(|_| passes == absent) {
                        return verdict(tag, either);
                    }
                    mark.check(&bytes[span]);
                    if !mark.well_formed() {
                        return;
                    }
                }
                cell.remember(known);
                if let Some(passes) = passes {
                    verdict(tag, passes);
                }
            });
    }

    /// Whether the key occurs anywhere in `bytes` (payloads laid end to end): where it
    /// does not, each payload's verdict is [`ColumnSearch::lacking_key`]'s.
    pub fn key_in(&self, bytes: &[u8]) -> bool {
        self.search.occurs_in(bytes)
    }

    /// The verdict for a payload the key does not occur in, where that tells it (no cell
    /// is filled: the search that told it costs less than the cells' memory); None where
    /// the payload is to be read.
    pub fn lacking_key(&self, payload: &[u8], mark: &JsonMark) -> Option<bool> {
        scan::KeySearch::lacking(payload, mark).and_then(|known| self.decide(known))
    }

    /// The verdict a filled cell gives.
    pub fn verdict(&self, cell: &ValueCell) -> Option<bool> {
        self.decide(cell.get()?)
    }
}

/// One term of a filter that searches alone decide (see [`Filter::search_terms`]): what
/// it looks for, the text a regex's matches start with, and the term's position among
/// the filter's ANDed items.
pub struct SearchTerm<'f>(SearchKind<'f>, Option<&'f [u8]>, usize);

enum SearchKind<'f> {
    Text(Target, &'f Matcher),
    Glob(&'f Glob),
}

impl SearchTerm<'_> {
    /// Where the term stands among the filter's ANDed items: the same whatever terms a
    /// narrowing leaves out ([`Filter::search_terms_beyond`]).
    pub fn position(&self) -> usize {
        self.2
    }

    /// True if the term looks in payloads: the feed then searches a block of them at once
    /// with [`SearchTerm::find_at`].
    pub fn reads_payload(&self) -> bool {
        matches!(self.0, SearchKind::Text(target, _) if target != Target::Channel)
    }

    /// The first match at or after `from` (a payload term only).
    pub fn find_at(&self, hay: &[u8], from: usize) -> Option<Range<usize>> {
        match self.0 {
            SearchKind::Text(_, m) => m.find_at(hay, from),
            SearchKind::Glob(_) => None,
        }
    }

    /// [`SearchTerm::find_at`] for a haystack of payloads laid end to end, `end_of(i)`
    /// being where the payload holding byte `i` ends. A regex that every match of starts
    /// with a known text is searched for that text first (the fast folded search), then
    /// tried from there to the end of that payload only: what it finds is inside one
    /// payload, and a payload where it finds nothing has no match. For such a regex the
    /// range given is from that text's occurrence to the payload's end, which holds the
    /// match: whether there is one is all a block search asks, and asking only that
    /// spares the regex the backward search for where its match starts.
    pub fn find_within(
        &self,
        hay: &[u8],
        from: usize,
        end_of: &dyn Fn(usize) -> usize,
    ) -> Option<Range<usize>> {
        self.searcher().find_within(hay, from, end_of)
    }

    /// The term's search for a run of calls ([`TermSearch`]): a block search makes one.
    pub fn searcher(&self) -> TermSearch<'_> {
        let regex = match (&self.0, self.1) {
            (SearchKind::Text(_, Matcher::Regex(re, aids)), Some(prefix)) => {
                let dfa = aids.dfa.get_or_init(|| lazy_dfa(re.as_str(), aids.nocase));
                let dfa = dfa.as_ref().map(|dfa| (dfa, take_dfa_cache(aids.id, dfa)));
                let id = aids.id;
                Some(RegexSearch {
                    re,
                    id,
                    prefix,
                    dfa,
                })
            }
            _ => None,
        };
        TermSearch { term: self, regex }
    }

    /// For a regex, text every match holds beyond the text it starts with (see
    /// `required`): a block of payloads is swept for it before the regex runs.
    pub(crate) fn inner(&self) -> Option<search::Needle<'_>> {
        match &self.0 {
            SearchKind::Text(_, Matcher::Regex(_, aids)) => {
                (aids.inner.as_ref()).map(|(text, fold)| search::Needle::new(text, *fold))
            }
            _ => None,
        }
    }

    /// The term's text when it is a substring (folded or exact), not a regex: a block of
    /// payloads is searched for it in one sweep.
    pub(crate) fn substring(&self) -> Option<search::Needle<'_>> {
        match self.0 {
            SearchKind::Text(_, Matcher::Exact(finder)) => {
                Some(search::Needle::new(finder.needle(), false))
            }
            SearchKind::Text(_, Matcher::Fold(needle)) => Some(search::Needle::new(needle, true)),
            _ => None,
        }
    }

    /// Every match has the same length (a substring, folded or not): a match running past
    /// a payload's end rules out any later one starting in it. A regex's does not.
    pub fn fixed_length(&self) -> bool {
        !matches!(self.0, SearchKind::Text(_, Matcher::Regex(..)))
    }

    /// The term's test on a payload on its own.
    pub fn payload_matches(&self, payload: &[u8]) -> bool {
        self.reads_payload() && self.text_matches(payload)
    }

    /// The term's test on the channel (false for a payload-only term).
    pub fn channel_matches(&self, channel: &[u8]) -> bool {
        match self.0 {
            SearchKind::Text(Target::Payload, _) => false,
            SearchKind::Text(..) => self.text_matches(channel),
            SearchKind::Glob(g) => g.matches(channel),
        }
    }

    /// A text term's test on `bytes`; a regex with a known start only where that text
    /// occurs, tried anchored there (see [`SearchTerm::find_within`]: the folded search
    /// turns most away faster than the regex engine).
    fn text_matches(&self, bytes: &[u8]) -> bool {
        match (&self.0, &self.1) {
            (SearchKind::Text(..), Some(_)) => {
                self.find_within(bytes, 0, &|_| bytes.len()).is_some()
            }
            (SearchKind::Text(_, m), None) => m.is_match(bytes),
            (SearchKind::Glob(_), _) => false,
        }
    }
}

/// Anchored tries of a regex at occurrences of its text in one payload before the rest
/// of the payload is searched at once.
const ANCHORED_TRIES: usize = 4;

/// A term's search through payloads, for a run of calls (a block of payloads, the
/// payloads still in after other terms). A regex with a known start keeps its lazy DFA's
/// cache here, taken from the ones this thread keeps and given back when done: taken
/// for each payload, the look-up was a tenth of a count that tries the regex in most
/// payloads.
pub struct TermSearch<'t> {
    term: &'t SearchTerm<'t>,
    /// For a regex with a known start.
    regex: Option<RegexSearch<'t>>,
}

/// A regex's part of a [`TermSearch`].
struct RegexSearch<'t> {
    re: &'t Regex,
    /// [`RegexAids::id`].
    id: usize,
    /// The text every match starts with.
    prefix: &'t [u8],
    /// The lazy DFA (None where it could not be built) and this search's cache for it.
    dfa: Option<(&'t LazyDfa, DfaCache)>,
}

impl TermSearch<'_> {
    /// [`SearchTerm::find_within`].
    pub fn find_within(
        &mut self,
        hay: &[u8],
        mut from: usize,
        end_of: &dyn Fn(usize) -> usize,
    ) -> Option<Range<usize>> {
        let Some(RegexSearch {
            re, prefix, dfa, ..
        }) = &mut self.regex
        else {
            return self.term.find_at(hay, from);
        };
        // Occurrences of the text tried anchored in the payload at hand.
        let (mut payload_end, mut tried) = (0, 0);
        loop {
            let at = from + search::find_folded(hay.get(from..)?, prefix)?.start;
            let end = end_of(at).clamp(at, hay.len());
            if end != payload_end {
                (payload_end, tried) = (end, 0);
            }
            // A match starts at an occurrence of the text: tried there only, the DFA
            // stops where it can no longer match (`/lat.ncy_ms":4/` read on to each
            // payload's end, a second of a 10M count).
            if let Some((dfa, cache)) = dfa.as_mut().filter(|_| tried < ANCHORED_TRIES) {
                tried += 1;
                let input = regex_automata::Input::new(&hay[..end])
                    .range(at..end)
                    .anchored(regex_automata::Anchored::Yes)
                    .earliest(true);
                let found = (dfa.try_search_fwd(cache, &input).map(|m| m.is_some()))
                    .unwrap_or_else(|_| re.is_match_at(&hay[..end], at));
                if found {
                    return Some(at..end);
                }
                from = at + 1;
                continue;
            }
            // Many occurrences in one payload: one search of the rest of it (an anchored
            // try at each could read it once per occurrence).
            if re.is_match_at(&hay[..end], at) {
                return Some(at..end);
            }
            from = end.max(at + 1);
        }
    }

    /// [`SearchTerm::payload_matches`].
    pub fn payload_matches(&mut self, payload: &[u8]) -> bool {
        match self.regex {
            Some(_) if self.term.reads_payload() => {
                let end = payload.len();
                self.find_within(payload, 0, &|_| end).is_some()
            }
            _ => self.term.payload_matches(payload),
        }
    }
}

impl Drop for TermSearch<'_> {
    fn drop(&mut self) {
        if let Some(RegexSearch {
            id,
            dfa: Some((_, cache)),
            ..
        }) = self.regex.take()
        {
            give_dfa_cache(id, cache);
        }
    }
}

/// ASCII text every match of regex `pattern` starts with, lowercase (at least two bytes),
/// read off the pattern's plain first characters: none after an alternation anywhere,
/// and a character a quantifier may drop ends it. `k` and `s` end it too: a
/// case-insensitive regex matches them as the Kelvin sign and the long s, which ASCII
/// folding does not.
fn regex_prefix(pattern: &str) -> Option<Box<[u8]>> {
    /// Punctuation a regex reads as itself (outside a class, without the `x` flag).
    const REGEX_PLAIN_PUNCTUATION: &[u8] = b" _-:,;=<>@#%&/!~";
    /// `{`, a counted repeat (named so that brace-counting tools are not misled).
    const REPEAT: u8 = 0x7b;
    if pattern.contains('|') {
        return None;
    }
    let bytes = pattern.as_bytes();
    let plain = |b: u8| {
        (b.is_ascii_alphanumeric() || REGEX_PLAIN_PUNCTUATION.contains(&b))
            && !matches!(b.to_ascii_lowercase(), b'k' | b's')
    };
    let mut prefix = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if !plain(b) {
            break;
        }
        if matches!(bytes.get(i + 1), Some(&(b'*' | b'?' | REPEAT))) {
            break;
        }
        prefix.push(b.to_ascii_lowercase());
    }
    (prefix.len() >= 2).then(|| prefix.into())
}

impl Filter {
    /// The filter's terms when it is one substring, regex or channel glob, or an AND of
    /// them: a message passes when every term matches its payload (found by searching a
    /// block of payloads at once) or its channel, and no other test is needed (issue 19).
    /// A regex qualifies only when a match inside one payload is a match of that payload
    /// alone (no anchors or word boundaries, which look at the bytes around a match) and
    /// it never matches empty; a term that matches empty text never does.
    pub fn search_terms(&self) -> Option<Vec<SearchTerm<'_>>> {
        self.search_terms_beyond(None)
    }

    /// [`Filter::search_terms`] for messages known to pass `passed`: the terms `passed`
    /// implies are left out (typing `payload 9` → `payload 99` re-checks only `99`). An
    /// empty list: every such message passes.
    pub fn search_terms_beyond(&self, passed: Option<&Filter>) -> Option<Vec<SearchTerm<'_>>> {
        fn term(node: &Node, position: usize) -> Option<SearchTerm<'_>> {
            match node {
                Node::Term(Term::Glob(g)) => Some(SearchTerm(SearchKind::Glob(g), None, position)),
                Node::Term(Term::Text(target, m)) if !m.is_match(b"") => {
                    let prefix = match m {
                        Matcher::Regex(_, aids) if !aids.searchable => return None,
                        Matcher::Regex(_, aids) => aids.prefix.as_deref(),
                        _ => None,
                    };
                    Some(SearchTerm(SearchKind::Text(*target, m), prefix, position))
                }
                _ => None,
            }
        }
        let items = match self.root.as_ref()? {
            Node::And(items) => items.as_slice(),
            node => std::slice::from_ref(node),
        };
        let known = passed.and_then(|p| p.root.as_ref());
        items
            .iter()
            .enumerate()
            .filter(|(_, item)| !known.is_some_and(|k| refine::implies(k, item)))
            .map(|(position, item)| term(item, position))
            .collect()
    }

    /// [`Filter::needle`], when every message `passed` lets through holds it (the
    /// previous filter of a narrowing, `token` → `token .latency_ms > 250`): its matches
    /// need no search for it ([`Filter::matches_known`]'s `found`).
    pub fn needle_implied_by(&self, passed: &Filter) -> Option<SearchTerm<'_>> {
        let needle = self.needle()?;
        let SearchKind::Text(_, matcher) = needle.0 else {
            return None;
        };
        let items = match self.root.as_ref()? {
            Node::And(items) => items.as_slice(),
            node => std::slice::from_ref(node),
        };
        let node = items
            .iter()
            .find(|n| matches!(n, Node::Term(Term::Text(_, m)) if std::ptr::eq(m, matcher)))?;
        refine::implies(passed.root.as_ref()?, node).then_some(needle)
    }

    /// A plain (not regex, not empty) substring term the whole expression needs: the
    /// expression itself or one of the terms it ANDs; an exact one first.
    /// The feed searches a block of payloads for it in one pass and tests the filter
    /// only where it occurs, or where [`SearchTerm::channel_matches`] (issue 19).
    pub fn needle(&self) -> Option<SearchTerm<'_>> {
        fn find(node: &Node, exact: bool) -> Option<SearchTerm<'_>> {
            match node {
                Node::And(items) => items.iter().find_map(|n| find(n, exact)),
                Node::Term(Term::Text(target, m)) if *target != Target::Channel => {
                    let usable = match m {
                        Matcher::Exact(f) => !f.needle().is_empty(),
                        Matcher::Fold(n) => !exact && !n.is_empty(),
                        Matcher::Regex(..) => false,
                    };
                    usable.then_some(SearchTerm(SearchKind::Text(*target, m), None, 0))
                }
                _ => None,
            }
        }
        let root = self.root.as_ref()?;
        find(root, true).or_else(|| find(root, false))
    }
}

#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Term(Term),
}

impl Node {
    fn join(mut items: Vec<Node>, and: bool) -> Node {
        if items.len() == 1 {
            if let Some(only) = items.pop() {
                return only;
            }
        }
        // Terms are pure, so running cheap ones first only changes speed: a glob can
        // short-circuit before a regex scan or a JSON parse ever runs.
        items.sort_by_key(Node::cost);
        let make = if and { Node::And } else { Node::Or };
        make(items)
    }

    fn cost(&self) -> u8 {
        match self {
            Node::And(v) | Node::Or(v) => v.iter().map(Node::cost).max().unwrap_or(0),
            Node::Not(n) => n.cost(),
            Node::Term(Term::Glob(_)) => 0,
            Node::Term(Term::Text(_, Matcher::Regex(..))) => 2,
            Node::Term(Term::Text(..)) => 1,
            Node::Term(Term::Json(..)) => 3,
        }
    }

    fn eval(&self, msg: &mut Msg) -> bool {
        match self {
            Node::And(v) => v.iter().all(|n| n.eval(msg)),
            Node::Or(v) => v.iter().any(|n| n.eval(msg)),
            Node::Not(n) => !n.eval(msg),
            Node::Term(Term::Glob(g)) => g.matches(msg.channel),
            Node::Term(Term::Text(_, m)) if msg.found.is_some_and(|f| std::ptr::eq(f, m)) => true,
            Node::Term(Term::Text(target, m)) => {
                (*target != Target::Payload && m.is_match(msg.channel))
                    || (*target != Target::Channel && m.is_match(msg.payload))
            }
            Node::Term(Term::Json(field, op)) => {
                if let Some(answer) = msg.known.and_then(|known| known.test(op)) {
                    return answer;
                }
                if let Some(answer) = msg.known_now(field).and_then(|known| known.test(op)) {
                    return answer;
                }
                let cell = msg.cell;
                let found = msg.value_at(field);
                if let Some(cell) = cell {
                    cell.set(found);
                }
                found.is_some_and(|v| op.test(v))
            }
        }
    }

    /// The verdict given the value at the one path, for an expression of JSON tests
    /// alone that a cell answers, and the text term `given` (a needle found) if any;
    /// None otherwise.
    fn decide(&self, known: known::Known, given: Option<&Matcher>) -> Option<bool> {
        match self {
            Node::And(v) => v
                .iter()
                .try_fold(true, |all, n| Some(n.decide(known, given)? && all)),
            Node::Or(v) => v
                .iter()
                .try_fold(false, |any, n| Some(n.decide(known, given)? || any)),
            Node::Not(n) => n.decide(known, given).map(|b| !b),
            Node::Term(Term::Json(_, op)) => known.test(op),
            Node::Term(Term::Text(_, m)) if given.is_some_and(|g| std::ptr::eq(g, m)) => Some(true),
            Node::Term(_) => None,
        }
    }

    /// The field of an expression made only of JSON tests a cell answers (on one path:
    /// the caller checks), if it is one.
    fn column(&self) -> Option<Field> {
        match self {
            Node::And(v) | Node::Or(v) => {
                let fields: Option<Vec<Field>> = v.iter().map(Node::column).collect();
                fields?.into_iter().next()
            }
            Node::Not(n) => n.column(),
            Node::Term(Term::Json(field, op)) if known::answerable(op) => Some(field.clone()),
            Node::Term(_) => None,
        }
    }

    fn collect_paths<'n>(&'n self, paths: &mut json::Paths, distinct: &mut Vec<&'n [Seg]>) {
        match self {
            Node::And(v) | Node::Or(v) => v.iter().for_each(|n| n.collect_paths(paths, distinct)),
            Node::Not(n) => n.collect_paths(paths, distinct),
            Node::Term(Term::Json(field, _)) => {
                paths.add(&field.path);
                if !distinct.contains(&field.path.as_slice()) {
                    distinct.push(&field.path);
                }
            }
            Node::Term(_) => {}
        }
    }

    fn highlights(&self, hay: &[u8], positive: bool, out: &mut Vec<Range<usize>>) {
        match self {
            Node::And(v) | Node::Or(v) => v.iter().for_each(|n| n.highlights(hay, positive, out)),
            Node::Not(n) => n.highlights(hay, !positive, out),
            Node::Term(Term::Text(_, m)) if positive => m.find_all(hay, out),
            Node::Term(_) => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Any,
    Channel,
    Payload,
}

#[derive(Debug, Clone)]
enum Term {
    Text(Target, Matcher),
    Glob(Glob),
    Json(Field, JsonOp),
}

/// A JSON field test's path, with the bytes a payload must contain to have it.
#[derive(Clone)]
struct Field {
    path: Vec<Seg>,
    /// `"name"` for the path's longest key: in JSON text without a backslash a key is
    /// written exactly so, so a payload without these bytes cannot have the field.
    quoted: Option<Box<memchr::memmem::Finder<'static>>>,
    /// The path is one plain key: well-formed payloads are searched for `quoted`.
    searchable: bool,
}

impl Field {
    fn new(path: Vec<Seg>) -> Field {
        let longest = path
            .iter()
            .filter_map(|s| match s {
                Seg::Key(k) => Some(k),
                Seg::Index(_) => None,
            })
            .max_by_key(|k| k.len());
        let quoted = longest.map(|k| {
            let needle = format!("\"{k}\"");
            Box::new(memchr::memmem::Finder::new(needle.as_bytes()).into_owned())
        });
        let searchable = scan::searchable(&path);
        Field {
            path,
            quoted,
            searchable,
        }
    }

    /// The search for the path's key in well-formed payloads, when it is one plain key.
    fn search(&self) -> Option<scan::KeySearch<'_>> {
        let quoted = self.quoted.as_deref().filter(|_| self.searchable)?;
        Some(scan::KeySearch::new(quoted))
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.path.fmt(f)
    }
}

/// Per-call state: the payload's JSON is parsed lazily, once, and only if a JSON term runs.
struct Msg<'a> {
    channel: &'a [u8],
    payload: &'a [u8],
    paths: &'a json::Paths,
    decoders: Option<&'a Decoders>,
    /// The channel's own decoder, when it is one that JSON text does not go through
    /// (looked up once, when a JSON test first runs).
    choice: Option<Option<crate::decode::Choice>>,
    /// Take the shortcuts (see [`Filter::eval`]).
    fast: bool,
    /// Every JSON test reads the same path: [`Msg::field`] rather than [`Msg::json`].
    one_path: bool,
    json: Option<Option<Value>>,
    /// The value at the one path (None: absent, or not JSON).
    field: Option<Option<Value>>,
    /// JSON text (an object or array first) without a backslash.
    plain: Option<bool>,
    /// The value at the one path as a filter read it before (see [`ValueCell`]).
    known: Option<known::Known>,
    /// Where to leave the value at the one path once read.
    cell: Option<&'a ValueCell>,
    /// What is known of the payload's JSON.
    mark: Option<&'a JsonMark>,
    /// A text term a search found in the payload (see [`Filter::matches_known`]).
    found: Option<&'a Matcher>,
}

impl Msg<'_> {
    /// The value a JSON test reads at `field`'s path. The shortcuts read JSON text; a
    /// channel with its own decoder is decoded.
    fn value_at(&mut self, field: &Field) -> Option<&Value> {
        if self.own_decoder().is_none() {
            // A well-formed payload's top-level field is found by the same search.
            let searched = field.searchable && self.mark.is_some_and(JsonMark::well_formed);
            if !(searched && self.one_path) && self.lacks(field) {
                return None;
            }
            if self.one_path {
                return self.field(field);
            }
        }
        self.json().and_then(|v| lookup(v, &field.path))
    }

    /// What a cell holds for `field` when a search of the well-formed payload tells
    /// without a serde read (see `scan::known`); left in the cell.
    fn known_now(&mut self, field: &Field) -> Option<known::Known> {
        let cell = self.cell?;
        if self.own_decoder().is_some() {
            return None;
        }
        let found = scan::known(self.payload, self.mark, field.search())?;
        cell.remember(found);
        Some(found)
    }

    /// The channel's configured decoder when it is not `auto` or `json`.
    fn own_decoder(&mut self) -> Option<crate::decode::Choice> {
        let (decoders, channel) = (self.decoders, self.channel);
        *self.choice.get_or_insert_with(|| {
            decoders
                .filter(|d| !d.json_only)
                .and_then(|d| (d.choice_for)(channel))
                .filter(|c| !c.reads_json())
        })
    }

    fn json(&mut self) -> Option<&Value> {
        let (payload, paths) = (self.payload, self.paths);
        let choice = self.own_decoder();
        let strict = self.decoders.is_some_and(|d| d.strict);
        self.json
            .get_or_insert_with(|| match choice {
                Some(choice) => decoded_payload(payload, paths, choice, strict),
                None => parse_payload(payload, paths),
            })
            .as_ref()
    }

    /// True when the payload provably lacks `field`: plain JSON text without its
    /// quoted key (a search costs a tenth of a parse).
    fn lacks(&mut self, field: &Field) -> bool {
        let Some(quoted) = field.quoted.as_deref().filter(|_| self.fast) else {
            return false;
        };
        let payload = self.payload;
        let plain = *self
            .plain
            .get_or_insert_with(|| scan::plain_json_text(payload));
        plain && quoted.find(payload).is_none()
    }

    /// The value at `path`, the filter's one JSON path: scanned, or parsed when the
    /// scanner is unsure.
    fn field(&mut self, field: &Field) -> Option<&Value> {
        let (payload, paths, path) = (self.payload, self.paths, field.path.as_slice());
        let search = field.search();
        self.field
            .get_or_insert_with(|| match scan::field(payload, path, self.mark, search) {
                scan::Scanned::Found(value) => Some(value),
                scan::Scanned::Absent => None,
                scan::Scanned::Unsure => {
                    parse_payload(payload, paths).and_then(|root| lookup(&root, path).cloned())
                }
            })
            .as_ref()
    }
}

/// The payload as the channel's own decoder reads it (`auto` and `json` as without one).
/// A payload that decoder does not take (a stream entry's JSON under `--decode`, a stray
/// message) is read as without one, unless `strict` ([`Decoders::strict`]): then it has
/// no fields.
fn decoded_payload(
    payload: &[u8],
    paths: &json::Paths,
    choice: crate::decode::Choice,
    strict: bool,
) -> Option<Value> {
    use crate::decode::{Choice, Format};
    match choice {
        Choice::Auto | Choice::Only(Format::Json) => parse_payload(payload, paths),
        Choice::Only(_) => {
            crate::decode::decode_capped(payload, choice, crate::decode::PREVIEW_OUTPUT)
                .ok()
                .map(|decoded| decoded.value)
                .or_else(|| (!strict).then(|| parse_payload(payload, paths)).flatten())
        }
    }
}

/// The payload as JSON, pruned to what `paths` read (see [`json`]).
fn parse_payload(payload: &[u8], paths: &json::Paths) -> Option<Value> {
    #[cfg(test)]
    tests::JSON_PARSES.with(|n| n.set(n.get() + 1));
    // Paths need an object or array at the root; rejecting other payloads by their first
    // byte keeps floods of plain-text messages from paying for a failed parse.
    let first = payload.iter().find(|b| !b.is_ascii_whitespace())?;
    if matches!(first, b'{' | b'[') {
        return json::project(payload, paths);
    }
    // Not JSON text: a MessagePack/CBOR/compressed/… payload is tested on its decoded
    // value (`crate::decode`, auto order). Plain text is turned away by its first bytes,
    // so floods of text messages do not pay for a decode attempt.
    if !crate::decode::maybe_encoded(payload) {
        return None;
    }
    crate::decode::decode_capped(
        payload,
        crate::decode::Choice::Auto,
        crate::decode::PREVIEW_OUTPUT,
    )
    .ok()
    .map(|decoded| decoded.value)
}

/// Substring or regex search on bytes. Plain substrings skip the regex engine: an exact
/// needle uses a prebuilt `memchr` searcher (SIMD), a folded one jumps between the
/// places its first byte occurs in either case; both scan a clean run of bytes at
/// memory speed instead of comparing a window at every offset (issue 19).
#[derive(Debug, Clone)]
enum Matcher {
    Exact(Box<memchr::memmem::Finder<'static>>),
    /// Already lowercase: smart case only folds needles without uppercase letters.
    Fold(Box<[u8]>),
    Regex(Regex, std::sync::Arc<RegexAids>),
}

/// What a block search for a regex uses (see [`Filter::search_terms`],
/// [`SearchTerm::find_within`] and [`SearchTerm::inner`]), worked out once when the
/// regex is compiled.
#[derive(Debug, Clone, Default)]
struct RegexAids {
    /// False for a regex that may look at the bytes around a match (anchors, word
    /// boundaries):
    /// it is tested message by message, and the rest is left empty.
    searchable: bool,
    /// Text every match starts with ([`regex_prefix`]).
    prefix: Option<Box<[u8]>>,
    /// Whether the regex ignores case (its DFA is built alike).
    nocase: bool,
    /// Tells apart the regexes whose lazy DFA each thread keeps a cache for
    /// ([`take_dfa_cache`]).
    id: usize,
    /// For a regex with a `prefix`: its lazy DFA, searched anchored at each occurrence
    /// of the prefix with a cache the thread keeps (the regex's own search took a cache
    /// from a shared pool, and was built again anchored, on each try: a fifth of a count
    /// of `/lat.ncy_ms/` went to that set-up). Built when a block search first tries it
    /// (with the regex, a heavy pattern's parse, `/lat\w{60}x/`, took twice as long);
    /// None where it cannot be built: searched unanchored.
    dfa: std::sync::OnceLock<Option<LazyDfa>>,
    /// Text every match holds beyond the one it starts with, and whether folded.
    inner: Option<(Box<[u8]>, bool)>,
}

/// Numbers the compiled regexes ([`RegexAids::id`]).
static NEXT_REGEX_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// The lazy DFA of regex `pattern` as [`RegexBuilder`] reads it for bytes (Unicode
/// classes, matches that may hold invalid UTF-8), for searches that only ask whether
/// there is a match; None where it cannot be built.
fn lazy_dfa(pattern: &str, nocase: bool) -> Option<LazyDfa> {
    let syntax = regex_automata::util::syntax::Config::new()
        .case_insensitive(nocase)
        .utf8(false);
    let nfa = regex_automata::nfa::thompson::Config::new().utf8(false);
    (regex_automata::hybrid::dfa::DFA::builder()
        .syntax(syntax)
        .thompson(nfa))
    .build(pattern)
    .ok()
}

type LazyDfa = regex_automata::hybrid::dfa::DFA;
type DfaCache = regex_automata::hybrid::dfa::Cache;

thread_local! {
    /// The lazy DFA caches of the regexes this thread searched last, by id: a lazy DFA
    /// fills its cache as it goes, so the states worked out in one block of payloads
    /// serve the next.
    static DFA_CACHES: std::cell::RefCell<Vec<(usize, DfaCache)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// This thread's cache for regex `id`'s `dfa` (a new one if it has none).
fn take_dfa_cache(id: usize, dfa: &LazyDfa) -> DfaCache {
    let kept = DFA_CACHES.with_borrow_mut(|caches| {
        let k = caches.iter().position(|(known, _)| *known == id)?;
        Some(caches.remove(k).1)
    });
    kept.unwrap_or_else(|| dfa.create_cache())
}

/// Keep regex `id`'s cache for this thread's next search; the caches of the last
/// [`RECENT_KEPT`] regexes are kept.
fn give_dfa_cache(id: usize, cache: DfaCache) {
    DFA_CACHES.with_borrow_mut(|caches| {
        if caches.len() >= RECENT_KEPT {
            caches.remove(0);
        }
        caches.push((id, cache));
    });
}

/// How many of the regexes compiled last are kept (see [`Matcher::regex`]).
const RECENT_KEPT: usize = 8;

thread_local! {
    /// The regexes this thread compiled last (the oldest dropped first), by pattern and
    /// case flag: the TUI parses its filter on every key, and a heavy pattern compiles
    /// in milliseconds (`/lat\w{60}x/`: 16 ms), so typing after a regex (`/lat\w{60}x/
    /// token`) compiled it again on each key.
    static RECENT_REGEXES: std::cell::RefCell<Vec<(String, bool, Matcher)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Matcher {
    /// The regex `pattern`, compiled, or as compiled for one of this thread's recent
    /// filters.
    fn regex(pattern: &str, nocase: bool) -> Result<Matcher, regex::Error> {
        let same = |(p, n, _): &&(String, bool, Matcher)| p == pattern && *n == nocase;
        let known = RECENT_REGEXES.with_borrow(|r| r.iter().find(same).map(|(.., m)| m.clone()));
        if let Some(known) = known {
            return Ok(known);
        }
        let re = RegexBuilder::new(pattern)
            .case_insensitive(nocase)
            .build()?;
        // A regex that may look at the bytes around a match (anchors, word boundaries):
        // a match in a payload laid beside others may then not be one of it alone.
        let hir = required::parse(pattern, nocase).filter(|h| h.properties().look_set().is_empty());
        let aids = match hir {
            None => RegexAids::default(),
            Some(hir) => RegexAids {
                searchable: true,
                prefix: regex_prefix(pattern),
                nocase,
                id: NEXT_REGEX_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                dfa: std::sync::OnceLock::new(),
                inner: required::inner_text(&hir),
            },
        };
        let matcher = Matcher::Regex(re, std::sync::Arc::new(aids));
        RECENT_REGEXES.with_borrow_mut(|recent| {
            if recent.len() >= RECENT_KEPT {
                recent.remove(0);
            }
            recent.push((pattern.to_string(), nocase, matcher.clone()));
        });
        Ok(matcher)
    }

    fn needle(text: &str) -> Result<Matcher, regex::Error> {
        // Uppercase: case-sensitive (smart case). No letters at all (`99`, `:`): folding
        // changes nothing, and the exact searcher is the faster one.
        if text.chars().any(char::is_uppercase) || !text.chars().any(char::is_alphabetic) {
            let finder = memchr::memmem::Finder::new(text.as_bytes()).into_owned();
            return Ok(Matcher::Exact(Box::new(finder)));
        }
        // ASCII folding leaves non-ASCII bytes untouched, so only caseless non-ASCII letters
        // (`ошибка`, `é`) need Unicode folding, which only the regex engine provides.
        if text.chars().any(|c| !c.is_ascii() && c.is_lowercase()) {
            return Matcher::regex(&regex::escape(text), true);
        }
        Ok(Matcher::Fold(text.as_bytes().into()))
    }

    fn find_at(&self, hay: &[u8], from: usize) -> Option<Range<usize>> {
        let rest = hay.get(from..)?;
        let found = match self {
            Matcher::Exact(finder) => {
                let at = finder.find(rest)?;
                at..at + finder.needle().len()
            }
            Matcher::Fold(n) => search::find_folded(rest, n)?,
            Matcher::Regex(re, _) => return re.find_at(hay, from).map(|m| m.range()),
        };
        Some(from + found.start..from + found.end)
    }

    fn is_match(&self, hay: &[u8]) -> bool {
        match self {
            Matcher::Regex(re, _) => re.is_match(hay),
            _ => self.find_at(hay, 0).is_some(),
        }
    }

    fn find_all(&self, hay: &[u8], out: &mut Vec<Range<usize>>) {
        if let Matcher::Regex(re, _) = self {
            return out.extend(re.find_iter(hay).map(|m| m.range()));
        }
        let mut from = 0;
        while let Some(r) = self.find_at(hay, from).filter(|r| !r.is_empty()) {
            from = r.end;
            out.push(r);
        }
    }
}

/// A Redis `stringmatchlen`-style glob on bytes, compiled once at parse time (also the
/// config's `[decode]` channel globs).
#[derive(Debug, Clone)]
pub struct Glob(Box<[GlobTok]>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobTok {
    Byte(u8),
    AnyByte,
    Star,
    Class(Box<[bool; 256]>),
}

impl Glob {
    pub fn compile(mut pat: &[u8]) -> Glob {
        let mut toks = Vec::new();
        while let Some((&c, rest)) = pat.split_first() {
            pat = rest;
            toks.push(match (c, rest) {
                (b'*', _) if toks.last() == Some(&GlobTok::Star) => continue,
                (b'*', _) => GlobTok::Star,
                (b'?', _) => GlobTok::AnyByte,
                (b'[', _) => {
                    let (set, after) = glob_class(rest);
                    pat = after;
                    GlobTok::Class(set)
                }
                // Like Redis, a trailing backslash is a literal backslash.
                (b'\\', [esc, after @ ..]) => {
                    pat = after;
                    GlobTok::Byte(*esc)
                }
                (b, _) => GlobTok::Byte(b),
            });
        }
        Glob(toks.into())
    }

    pub fn matches(&self, s: &[u8]) -> bool {
        // Every non-star token eats exactly one byte, so retrying only the latest star one
        // byte further is complete, and bounded by O(len(s) * tokens).
        let (toks, mut t, mut i, mut star) = (&self.0, 0, 0, None);
        while let Some(&b) = s.get(i) {
            match toks.get(t) {
                Some(GlobTok::Star) => (star, t) = (Some((t, i)), t + 1),
                Some(GlobTok::Byte(c)) if *c == b => (t, i) = (t + 1, i + 1),
                Some(GlobTok::AnyByte) => (t, i) = (t + 1, i + 1),
                Some(GlobTok::Class(set)) if set[usize::from(b)] => (t, i) = (t + 1, i + 1),
                _ => {
                    let Some((st, si)) = star else { return false };
                    (star, t, i) = (Some((st, si + 1)), st + 1, si + 1);
                }
            }
        }
        toks.iter().skip(t).all(|tok| *tok == GlobTok::Star)
    }
}

/// Parses a class body after its `[`; like Redis, an unclosed class runs to the end.
fn glob_class(mut pat: &[u8]) -> (Box<[bool; 256]>, &[u8]) {
    let mut set = Box::new([false; 256]);
    let negate = matches!(pat.first(), Some(b'^' | b'!'));
    if negate {
        pat = &pat[1..];
    }
    loop {
        let (lo, hi, rest) = match pat {
            [] => break,
            [b']', rest @ ..] => {
                pat = rest;
                break;
            }
            [b'\\', c, rest @ ..] => (*c, *c, rest),
            [a, b'-', z, rest @ ..] if *z != b']' => (*a.min(z), *a.max(z), rest),
            [c, rest @ ..] => (*c, *c, rest),
        };
        (lo..=hi).for_each(|b| set[usize::from(b)] = true);
        pat = rest;
    }
    if negate {
        set.iter_mut().for_each(|x| *x = !*x);
    }
    (set, pat)
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn lookup<'v>(mut v: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    for seg in path {
        v = match seg {
            Seg::Key(k) => v.get(k.as_str())?,
            Seg::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

#[derive(Debug, Clone)]
enum Lit {
    Num(f64),
    Str(String),
    Bool(bool),
    Null,
}

impl Lit {
    fn from_word(w: &str) -> Lit {
        match w {
            "true" => Lit::Bool(true),
            "false" => Lit::Bool(false),
            "null" => Lit::Null,
            // `str::parse::<f64>` also accepts `inf` and `nan`, which users mean as text.
            _ if w.bytes().all(|b| b"0123456789+-.eE".contains(&b)) => {
                w.parse().map_or_else(|_| Lit::Str(w.to_string()), Lit::Num)
            }
            _ => Lit::Str(w.to_string()),
        }
    }

    fn equals(&self, v: &Value) -> bool {
        match (self, v) {
            (Lit::Num(n), Value::Number(x)) => x.as_f64() == Some(*n),
            (Lit::Str(s), Value::String(x)) => s == x,
            (Lit::Bool(b), Value::Bool(x)) => b == x,
            (Lit::Null, Value::Null) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
enum JsonOp {
    Exists,
    /// The bool is the outcome wanted from the equality test (`false` for `!=`).
    Eq(Lit, bool),
    Cmp(Cmp, f64),
    Contains(Matcher),
}

/// A numeric comparison: the field's number against the filter's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, x: f64, n: f64) -> bool {
        match self {
            Cmp::Lt => x < n,
            Cmp::Le => x <= n,
            Cmp::Gt => x > n,
            Cmp::Ge => x >= n,
        }
    }
}

impl JsonOp {
    fn test(&self, v: &Value) -> bool {
        match self {
            JsonOp::Exists => !v.is_null(),
            JsonOp::Eq(lit, want) => lit.equals(v) == *want,
            JsonOp::Cmp(cmp, n) => v.as_f64().is_some_and(|x| cmp.holds(x, *n)),
            JsonOp::Contains(m) => match v {
                Value::String(s) => m.is_match(s.as_bytes()),
                other => m.is_match(other.to_string().as_bytes()),
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
    Not,
}

/// Recursive-descent parser over chars, so every position is a char offset into the source.
struct Parser<'s> {
    src: &'s str,
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

type Parsed<T> = Result<T, FilterError>;

impl Parser<'_> {
    fn fail<T>(&self, position: usize, message: impl Into<String>) -> Parsed<T> {
        let (message, source) = (message.into(), self.src.to_string());
        Err(FilterError {
            message,
            position,
            source,
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek2(&self) -> (Option<char>, Option<char>) {
        (self.peek(), self.chars.get(self.pos + 1).copied())
    }

    fn text(&self, range: Range<usize>) -> String {
        self.chars.get(range).unwrap_or_default().iter().collect()
    }

    fn skip_ws(&mut self) {
        self.take_while(char::is_whitespace);
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.text(start..self.pos)
    }

    fn starts_with_ci(&self, at: usize, kw: &str) -> bool {
        let same = |s: &[char]| {
            s.iter()
                .zip(kw.chars())
                .all(|(c, k)| c.eq_ignore_ascii_case(&k))
        };
        self.chars.get(at..at + kw.len()).is_some_and(same)
    }

    fn at_boundary(&self, at: usize) -> bool {
        let ends = |c: &char| c.is_whitespace() || matches!(c, '(' | ')');
        self.chars.get(at).is_none_or(ends)
            || self.starts_with_ci(at, "&&")
            || self.starts_with_ci(at, "||")
    }

    fn peek_op(&self) -> Option<(Op, usize)> {
        if self.peek2() == (Some('!'), Some('=')) {
            return None;
        }
        let ops = [
            ("&&", Op::And),
            ("||", Op::Or),
            ("!", Op::Not),
            ("and", Op::And),
            ("or", Op::Or),
            ("not", Op::Not),
        ];
        // Symbolic operators may touch their operand (`!a`); word operators must stand alone.
        let word_ok = |kw: &str| {
            !kw.starts_with(|c: char| c.is_ascii_alphabetic())
                || self.at_boundary(self.pos + kw.len())
        };
        let (kw, op) = ops
            .into_iter()
            .find(|(kw, _)| self.starts_with_ci(self.pos, kw) && word_ok(kw))?;
        Some((op, kw.len()))
    }

    fn read_word(&mut self) -> String {
        let start = self.pos;
        while !self.at_boundary(self.pos) {
            self.pos += 1;
        }
        self.text(start..self.pos)
    }

    fn enter(&mut self, at: usize) -> Parsed<()> {
        self.depth += 1;
        match self.depth > MAX_DEPTH {
            true => self.fail(at, "expression is nested too deeply"),
            false => Ok(()),
        }
    }

    /// Consumes an operator of `len` chars and checks that an operand follows it.
    fn operator(&mut self, len: usize) -> Parsed<()> {
        let at = self.pos;
        self.pos += len;
        self.skip_ws();
        let at_end = matches!(self.peek(), None | Some(')'));
        if at_end || matches!(self.peek_op(), Some((Op::And | Op::Or, _))) {
            let op = self.text(at..at + len);
            return self.fail(self.pos, format!("expected an expression after '{op}'"));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Parsed<Node> {
        let mut items = vec![self.parse_and()?];
        while let Some((Op::Or, len)) = self.peek_op() {
            self.operator(len)?;
            items.push(self.parse_and()?);
        }
        Ok(Node::join(items, false))
    }

    fn parse_and(&mut self) -> Parsed<Node> {
        let mut items = vec![self.parse_unary()?];
        loop {
            self.skip_ws();
            let op = self.peek_op();
            if matches!(self.peek(), None | Some(')')) || matches!(op, Some((Op::Or, _))) {
                return Ok(Node::join(items, true));
            }
            if let Some((Op::And, len)) = op {
                self.operator(len)?;
            }
            items.push(self.parse_unary()?);
        }
    }

    fn parse_unary(&mut self) -> Parsed<Node> {
        let start = self.pos;
        match (self.peek(), self.peek_op()) {
            (Some('('), _) => {
                self.enter(start)?;
                self.pos += 1;
                self.skip_ws();
                match self.peek() {
                    Some(')') => {
                        return self.fail(self.pos, "expected an expression inside '(' ')'")
                    }
                    None => return self.fail(self.pos, "expected an expression after '('"),
                    Some(_) => {}
                }
                let inner = self.parse_or()?;
                if self.peek() != Some(')') {
                    return self.fail(start, "unclosed '(' opened here");
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            (Some(')'), _) => self.fail(start, "expected an expression before ')'"),
            (Some('.'), _) => self.parse_field(),
            (_, Some((Op::Not, len))) => {
                self.enter(start)?;
                self.operator(len)?;
                let inner = self.parse_unary()?;
                self.depth -= 1;
                Ok(Node::Not(Box::new(inner)))
            }
            (_, Some((_, len))) => {
                let op = self.text(start..start + len);
                self.fail(start, format!("expected an expression before '{op}'"))
            }
            _ => {
                let scope = SCOPES
                    .into_iter()
                    .find(|(kw, _)| self.starts_with_ci(start, kw));
                let (target, kw_len) = scope.map_or((Target::Any, 0), |(kw, t)| (t, kw.len()));
                self.pos += kw_len;
                self.parse_value(target, start)
            }
        }
    }

    /// A term's value, after its optional `channel:`/`payload:` keyword starting at `kw_at`.
    fn parse_value(&mut self, target: Target, kw_at: usize) -> Parsed<Node> {
        let at = self.pos;
        let value = match self.peek() {
            Some('/') => return self.parse_regex(target),
            Some('"') => self.quoted()?,
            _ if self.at_boundary(at) => {
                let what = if target == Target::Channel {
                    "a channel pattern"
                } else {
                    "text"
                };
                let kw = self.text(kw_at..at);
                if kw.is_empty() {
                    return self.fail(at, "expected an expression");
                }
                return self.fail(at, format!("expected {what} after '{kw}'"));
            }
            _ => {
                let w = self.read_word();
                if target == Target::Any && (w == "==" || w == "!=") {
                    return self.fail(
                        at,
                        format!("'{w}' needs a .field on its left, like .a {w} 1"),
                    );
                }
                w
            }
        };
        let term = match target {
            Target::Channel => Term::Glob(Glob::compile(value.as_bytes())),
            _ => Term::Text(target, self.needle(&value, at)?),
        };
        Ok(Node::Term(term))
    }

    fn needle(&self, text: &str, at: usize) -> Parsed<Matcher> {
        Matcher::needle(text).or_else(|_| self.fail(at, "search text is too long"))
    }

    fn quoted(&mut self) -> Parsed<String> {
        let open = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek2() {
                (None, _) => return self.fail(open, "unterminated quote: missing closing '\"'"),
                (Some('"'), _) => break,
                (Some('\\'), Some(c @ ('"' | '\\'))) => {
                    s.push(c);
                    self.pos += 1;
                }
                (Some(c), _) => s.push(c),
            }
            self.pos += 1;
        }
        self.pos += 1;
        Ok(s)
    }

    fn parse_regex(&mut self, target: Target) -> Parsed<Node> {
        let open = self.pos;
        self.pos += 1;
        // `origin` maps each pattern char back to the source so regex errors can point at it.
        let (mut pat, mut origin) = (String::new(), Vec::new());
        loop {
            let at = self.pos;
            match self.peek2() {
                (None, _) | (Some('\\'), None) => {
                    return self.fail(open, "unterminated regex: missing closing '/'");
                }
                (Some('/'), _) => break,
                (Some('\\'), Some('/')) => {
                    pat.push('/');
                    origin.push(at);
                    self.pos += 1;
                }
                (Some('\\'), Some(c)) => {
                    pat.extend(['\\', c]);
                    origin.extend([at, at + 1]);
                    self.pos += 1;
                }
                (Some(c), _) => {
                    pat.push(c);
                    origin.push(at);
                }
            }
            self.pos += 1;
        }
        self.pos += 1;
        let nocase = self.peek() == Some('i') && self.at_boundary(self.pos + 1);
        self.pos += usize::from(nocase);
        if let Some(c) = self.peek().filter(|_| !self.at_boundary(self.pos)) {
            let msg = format!("unexpected '{c}' after regex; only the 'i' flag is supported");
            return self.fail(self.pos, msg);
        }
        let e = match Matcher::regex(&pat, nocase) {
            Ok(m) => return Ok(Node::Term(Term::Text(target, m))),
            Err(e) => e,
        };
        let (reason, col) = regex_reason(&e, &pat);
        let at = col.and_then(|c| origin.get(c).copied()).unwrap_or(open);
        self.fail(at, format!("invalid regex: {reason}"))
    }

    fn parse_path(&mut self) -> Parsed<Vec<Seg>> {
        let mut path = Vec::new();
        loop {
            match self.peek2() {
                (Some('.'), Some('"')) => {
                    self.pos += 1;
                    path.push(Seg::Key(self.quoted()?));
                }
                (Some('.'), Some('[')) => self.pos += 1,
                (Some('.'), c) => {
                    self.pos += 1;
                    if !c.is_some_and(is_name_char) {
                        return self.fail(self.pos, "expected a field name after '.'");
                    }
                    path.push(Seg::Key(self.take_while(is_name_char)));
                }
                (Some('['), _) => {
                    self.pos += 1;
                    let (at, digits) = (self.pos, self.take_while(|c| c.is_ascii_digit()));
                    if digits.is_empty() {
                        return self.fail(at, "expected an array index after '['");
                    }
                    let Ok(index) = digits.parse() else {
                        return self.fail(at, "array index is too large");
                    };
                    if self.peek() != Some(']') {
                        return self.fail(self.pos, "expected ']' after the array index");
                    }
                    self.pos += 1;
                    path.push(Seg::Index(index));
                }
                _ => return Ok(path),
            }
        }
    }

    fn parse_field(&mut self) -> Parsed<Node> {
        let path = self.parse_path()?;
        let end = self.pos;
        self.skip_ws();
        let op_at = self.pos;
        let ops = ["==", "!=", "<=", ">=", "<", ">", "~", "="];
        let Some(op) = ops.into_iter().find(|op| self.starts_with_ci(op_at, op)) else {
            let glued = op_at == end && !self.at_boundary(end);
            if let Some(c) = self.peek().filter(|_| glued) {
                let msg = format!("unexpected '{c}' after field path; quote odd names: .\"a{c}b\"");
                return self.fail(end, msg);
            }
            self.pos = end;
            return Ok(Node::Term(Term::Json(Field::new(path), JsonOp::Exists)));
        };
        if op == "=" {
            return self.fail(op_at, "use '==' to compare");
        }
        self.pos += op.len();
        self.skip_ws();
        let at = self.pos;
        if self.at_boundary(at) {
            return self.fail(at, format!("expected a value after '{op}'"));
        }
        let (lit, raw) = match self.peek() {
            Some('"') => self.quoted().map(|s| (Lit::Str(s.clone()), s))?,
            _ => {
                let w = self.read_word();
                (Lit::from_word(&w), w)
            }
        };
        let test = match (op, lit) {
            ("==", lit) => JsonOp::Eq(lit, true),
            ("!=", lit) => JsonOp::Eq(lit, false),
            ("~", _) => JsonOp::Contains(self.needle(&raw, at)?),
            ("<", Lit::Num(n)) => JsonOp::Cmp(Cmp::Lt, n),
            ("<=", Lit::Num(n)) => JsonOp::Cmp(Cmp::Le, n),
            (">", Lit::Num(n)) => JsonOp::Cmp(Cmp::Gt, n),
            (">=", Lit::Num(n)) => JsonOp::Cmp(Cmp::Ge, n),
            _ => return self.fail(at, format!("expected a number after '{op}'")),
        };
        Ok(Node::Term(Term::Json(Field::new(path), test)))
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | '@')
}

/// The regex crate's one-line reason, plus the pattern column its caret marks: its message
/// prints the pattern indented by 4 spaces with a line of `^` under the culprit.
fn regex_reason(e: &regex::Error, pat: &str) -> (String, Option<usize>) {
    let regex::Error::Syntax(msg) = e else {
        return ("it compiles to more than the size limit".to_string(), None);
    };
    let reason = msg.lines().rev().find_map(|l| l.strip_prefix("error: "));
    let col = msg.lines().find_map(|l| {
        let carets = l.trim_start_matches(' ');
        let caret_line = !carets.is_empty() && carets.chars().all(|c| c == '^');
        caret_line.then(|| (l.len() - carets.len()).checked_sub(4))?
    });
    let col = col.filter(|_| !pat.contains('\n'));
    (reason.unwrap_or(msg).to_string(), col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        pub(super) static JSON_PARSES: Cell<usize> = const { Cell::new(0) };
    }

    const USER_JSON: &[u8] =
        br#"{"user":{"id":42,"name":"Ann"},"tags":["x","y"],"latency_ms":300}"#;
    const MSGS: &[(&str, &[u8])] = &[
        ("ai:stream:s1", b"token: Hello world"),
        ("ai:stream:s2", USER_JSON),
        ("cache:invalidate", b"key=user:42"),
        (
            "config:changed",
            br#"{"status":"done","latency_ms":100,"model":"GPT-4o","ok":true,"n":null}"#,
        ),
        ("xai:1", b"ERROR disk full"),
        ("bin", b"\xff\x00abc"),
        ("svc:auth", b"error: timeout /api/v1"),
        ("metrics", br#"{"latency_ms":250,"id":42.0}"#),
        ("Events", b"user logged in"),
        ("ai:x", b""),
    ];

    /// Asserts which of `MSGS` each expression selects.
    fn check(cases: &[(&str, &[usize])]) {
        for &(expr, want) in cases {
            let f = Filter::parse(expr).unwrap_or_else(|e| panic!("{e}"));
            let hits = MSGS
                .iter()
                .enumerate()
                .filter(|(_, (c, p))| f.matches(c.as_bytes(), p));
            assert_eq!(hits.map(|(i, _)| i).collect::<Vec<_>>(), want, "{expr}");
        }
    }

    #[test]
    fn substring_terms_smart_case() {
        check(&[
            ("error", &[4, 6]),
            ("ERROR", &[4]),
            ("hello", &[0]),
            ("HELLO", &[]),
            ("abc", &[5]),
            ("user", &[1, 2, 8]),
            (r#""user:42""#, &[2]),
            (r#""token: hello""#, &[0]),
            ("cache:invalidate", &[2]), // unknown `keyword:` is a plain substring
            ("config:changed", &[3]),
            ("stream", &[0, 1]),
            ("payload:user", &[1, 2, 8]),
            ("p:stream", &[]),
            ("P:\"disk full\"", &[4]),
        ]);
        let f = Filter::parse("ошибка").expect("parses");
        assert!(f.matches(b"c", "ОШИБКА".as_bytes()) && !f.matches(b"c", b"oshibka"));
        let f = Filter::parse(r#""say \"hi\" \\ ok""#).expect("parses");
        assert!(f.matches(b"c", br#"x say "hi" \ ok"#));
    }

    #[test]
    fn a_regex_tried_at_its_prefix_agrees_with_the_regex() {
        // Patterns with a known start, so a payload is tried with the lazy DFA anchored
        // at each occurrence of it: flags, comments (the `x` mode), Unicode classes and
        // case folding, `.` over bytes that are not UTF-8, counted repeats.
        let patterns = [
            r"lat.ncy_ms",
            r#"lat.ncy_ms":4"#,
            r"lat(?x)  \d+ # a comment",
            r"lat\w{2,3}x",
            r"latÉ+",
            r"lat(?-u:.)z",
            r"lat.z",
            r"lat[^a]z",
        ];
        let payloads: [&[u8]; 12] = [
            b"",
            b"lat",
            br#"{"latency_ms":42}"#,
            br#"{"latency_ms":7,"lat":1,"latency_ms":4}"#,
            b"lat 12 lat12",
            b"lat12",
            b"latabx latabcdx",
            "LATÉé xlatéÉÉ".as_bytes(),
            b"lat\xffz lat\xc3z",
            "latéz".as_bytes(),
            b"lat lat lat lat lat lat lat az latbz",
            b"lat\nz",
        ];
        let mut tried = 0;
        for pattern in patterns {
            for flags in ["", "i"] {
                let f = Filter::parse(&format!("/{pattern}/{flags}")).expect("parses");
                let terms = f.search_terms().expect("searchable");
                assert!(terms[0].1.is_some(), "{pattern}: has a known start");
                let re = RegexBuilder::new(pattern)
                    .case_insensitive(flags == "i")
                    .build()
                    .expect("compiles");
                for payload in payloads {
                    let expected = re.is_match(payload);
                    tried += usize::from(expected);
                    assert_eq!(
                        terms[0].payload_matches(payload),
                        expected,
                        "/{pattern}/{flags} in {:?}",
                        String::from_utf8_lossy(payload)
                    );
                }
            }
        }
        assert!(tried > 20, "matches as well as misses: {tried}");
    }

    #[test]
    fn a_regex_typed_after_is_the_one_compiled_for_the_filter_before() {
        fn aids(f: &Filter) -> std::sync::Arc<RegexAids> {
            fn find(node: &Node) -> Option<std::sync::Arc<RegexAids>> {
                match node {
                    Node::And(v) | Node::Or(v) => v.iter().find_map(find),
                    Node::Not(n) => find(n),
                    Node::Term(Term::Text(_, Matcher::Regex(_, aids))) => Some(aids.clone()),
                    Node::Term(_) => None,
                }
            }
            f.root.as_ref().and_then(find).expect("a regex")
        }
        let parse = |e: &str| Filter::parse(e).expect("parses");
        let first = parse("/ab.cd/");
        let same = std::sync::Arc::ptr_eq;
        assert!(same(&aids(&first), &aids(&parse("/ab.cd/ x"))));
        assert!(same(&aids(&first), &aids(&parse("x or not /ab.cd/"))));
        // Another case flag or pattern: compiled anew; the regex behaves as compiled.
        let folded = parse("/ab.cd/i");
        assert!(!same(&aids(&first), &aids(&folded)));
        assert!(folded.matches(b"c", b"ABxCD") && !first.matches(b"c", b"ABxCD"));
        // Only the last few are kept.
        for k in 0..RECENT_KEPT {
            parse(&format!("/ab.cd{k}/"));
        }
        assert!(!same(&aids(&first), &aids(&parse("/ab.cd/"))));
    }

    #[test]
    fn channel_globs_and_regexes() {
        check(&[
            ("channel:ai:*", &[0, 1, 9]),
            (r#"ch:"ai:stream:*""#, &[0, 1]),
            ("CHANNEL:ai:stream:s?", &[0, 1]),
            ("Ch:[ce]*", &[2, 3]),
            ("channel:bin", &[5]),
            ("/E.*full/", &[4]),
            ("/error/i", &[4, 6]),
            ("/^ai/", &[0, 1, 9]),
            ("channel:/^ai:/", &[0, 1, 9]),
            (r"payload:/^\{/", &[1, 3, 7]),
            (r"/\/api\//", &[6]),
            ("/abc$/", &[5]),
            (r"p:/(?-u:\xff)\x00/", &[5]),
        ]);
    }

    #[test]
    fn glob_semantics() {
        let glob = |pat: &str, s: &str| Glob::compile(pat.as_bytes()).matches(s.as_bytes());
        assert!(glob("ai:*", "ai:") && glob("ai:*", "ai:x:y") && !glob("ai:*", "xai:1"));
        assert!(glob("*", "") && glob("a*b*c", "axxbyyc") && !glob("a*b*c", "axxbyy"));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac") && !glob("a?c", "abbc"));
        assert!(glob("h[ae]llo", "hello") && !glob("h[ae]llo", "hillo"));
        assert!(glob("h[^e]llo", "hallo") && !glob("h[^e]llo", "hello"));
        assert!(glob("h[!e]llo", "hallo") && !glob("h[!e]llo", "hello"));
        assert!(glob("h[a-b]llo", "hbllo") && !glob("h[a-b]llo", "hcllo") && glob("[z-a]", "q"));
        assert!(glob(r"a\*b", "a*b") && !glob(r"a\*b", "axb") && glob(r"[\]]", "]"));
        assert!(glob(r"a\", r"a\") && glob("s*:*:end", "s:x:y:end") && !glob("*?", ""));
        assert!(glob("[a-]", "-") && !glob("[]", "]") && glob("x[ab", "xb") && !glob("ab", "abc"));
        assert!(Glob::compile(b"*a*").matches(b"\xffa\x00"));
    }

    #[test]
    fn boolean_logic() {
        check(&[
            ("error or token and disk", &[4, 6]),
            ("(error or token) and disk", &[4]),
            ("not error", &[0, 1, 2, 3, 5, 7, 8, 9]),
            ("!error !user", &[0, 3, 5, 7, 9]),
            ("error channel:svc:*", &[6]),
            ("error && ch:svc:*", &[6]),
            ("error AND ch:svc:*", &[6]),
            ("hello || disk", &[0, 4]),
            ("NOT error Or hello", &[0, 1, 2, 3, 5, 7, 8, 9]),
            ("not (error or user) channel:ai:*", &[0, 9]),
            ("not not hello", &[0]),
            ("(hello)or(disk)", &[0, 4]),
            (r#""and""#, &[]),
        ]);
        let empty = Filter::parse("  \t").expect("parses");
        assert!(empty.is_empty() && empty.matches(b"", b"") && empty.source() == "  \t");
        assert!(!Filter::parse("x").expect("parses").is_empty());
    }

    #[test]
    fn json_fields() {
        check(&[
            (".user.id == 42", &[1]),
            (".id == 42", &[7]), // 42.0
            (".id==42.0", &[7]),
            (r#".user.name == "Ann""#, &[1]),
            (".user.name == Ann", &[1]),
            (".user.id == \"42\"", &[]),
            (r#".status != "x""#, &[3]),
            (r#".status != "done""#, &[]),
            (".latency_ms > 250", &[1]),
            (".latency_ms >= 250", &[1, 7]),
            (".latency_ms < 250", &[3]),
            (".latency_ms <= 100", &[3]),
            (r#".tags[0] == "x""#, &[1]),
            (".tags[1] == y .tags[2]", &[]),
            (".user.id", &[1]),
            (".n", &[]), // null counts as absent
            (".n == null", &[3]),
            (".ok == true", &[3]),
            (".ok == false", &[]),
            (".model ~ gpt", &[3]),
            (".model ~ Gpt", &[]),
            (".user ~ ann", &[1]), // objects compare as JSON text
            (".user.id ~ 4", &[1]),
            (r#"."latency_ms" == 300"#, &[1]),
            (".latency_ms", &[1, 3, 7]), // non-JSON payloads just don't match
            (".latency_ms or error", &[1, 3, 4, 6, 7]),
        ]);
        let arr = Filter::parse(".[1].v == 2").expect("parses");
        assert!(arr.matches(b"c", br#"[{}, {"v": 2}]"#) && !arr.matches(b"c", b"[2]"));
    }

    #[test]
    fn json_parsed_at_most_once_and_only_when_needed() {
        let count = |expr: &str| {
            let f = Filter::parse(expr).expect("parses");
            JSON_PARSES.with(|n| n.set(0));
            f.matches(b"ai:stream:s2", USER_JSON);
            JSON_PARSES.with(Cell::get)
        };
        assert_eq!(
            count(".user.id == 42 .tags[0] == x .latency_ms > 1 .user"),
            1
        );
        assert_eq!(count("user or x or /y/ or channel:ai:*"), 0);
        assert_eq!(count(".user.id nomatch"), 0, "cheap terms run first");
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases: &[(&str, &str, usize)] = &[
            ("(a or b", "unclosed '(' opened here", 0),
            ("x (y (z)", "unclosed '(' opened here", 2),
            ("a )", "unmatched ')'", 2),
            ("()", "expected an expression inside", 1),
            ("\"abc", "unterminated quote", 0),
            ("p:\"x", "unterminated quote", 2),
            ("/abc", "unterminated regex", 0),
            (r"ch:/a\/", "unterminated regex", 3),
            ("x /a(b/", "invalid regex: unclosed group", 4),
            (
                r"/\/\/[z-a]/",
                "invalid regex: invalid character class range",
                6,
            ),
            ("/abc/x", "unexpected 'x' after regex", 5),
            (".a ==", "expected a value after '=='", 5),
            (".a == )", "expected a value after '=='", 6),
            (".latency > \"x\"", "expected a number after '>'", 11),
            (".", "expected a field name after '.'", 1),
            (".a.", "expected a field name after '.'", 3),
            (".a[", "expected an array index after '['", 3),
            (".a[0", "expected ']'", 4),
            (".a=1", "use '=='", 2),
            (".a:b", "unexpected ':' after field path", 2),
            ("a and", "expected an expression after 'and'", 5),
            ("a && || b", "expected an expression after '&&'", 5),
            ("or b", "expected an expression before 'or'", 0),
            ("a OR", "expected an expression after 'OR'", 4),
            ("not", "expected an expression after 'not'", 3),
            ("channel:", "expected a channel pattern after 'channel:'", 8),
            ("P: x", "expected text after 'P:'", 2),
            ("(", "expected an expression after '('", 1),
            ("a ((", "expected an expression after '('", 4),
            ("a == 1", "'==' needs a .field", 2),
            ("\"é\" (x", "unclosed '('", 4),
        ];
        for &(expr, msg, pos) in cases {
            let e = Filter::parse(expr).expect_err(expr);
            assert!(e.message.contains(msg), "{expr:?}: got {:?}", e.message);
            assert_eq!(e.position, pos, "{expr:?}: {}", e.message);
        }
        let deep = format!("{}a", "(".repeat(100_000));
        assert!(Filter::parse(&deep)
            .expect_err("deep")
            .message
            .contains("nested too deeply"));
        assert!(Filter::parse("foo:bar").is_ok());
    }

    #[test]
    fn error_display_has_caret() {
        let e = Filter::parse("a (b").expect_err("unclosed");
        let want = "filter error at column 3: unclosed '(' opened here\n  a (b\n    ^";
        assert_eq!(e.to_string(), want);
        let e = Filter::parse(".a ==").expect_err("no value");
        let want = "filter error at column 6: expected a value after '=='\n  .a ==\n       ^";
        assert_eq!((e.to_string().as_str(), e.source.as_str()), (want, ".a =="));
        // Typed text is escaped, and the caret moves by the columns its escapes take.
        let e = Filter::parse("\u{65e5}\t\x1b\u{202e} )").expect_err("unmatched");
        let pad = " ".repeat(2 + 2 + 4 + 8 + 1);
        let want = "filter error at column 6: unmatched ')' with no '(' before it\n  \
                    \u{65e5}\\t\\x1b\\u{202e} )\n  "
            .to_string()
            + &pad
            + "^";
        assert_eq!(e.to_string(), want);
        assert_eq!(
            e.source, "\u{65e5}\t\x1b\u{202e} )",
            "the filter itself is kept"
        );
    }

    #[test]
    fn highlight_ranges_for_positive_text_terms() {
        let hl = |expr: &str, text: &str| -> Vec<(usize, usize)> {
            let f = Filter::parse(expr).expect("parses");
            f.highlight_ranges(text)
                .into_iter()
                .map(|r| (r.start, r.end))
                .collect()
        };
        assert_eq!(
            hl("hello /wor.d/ not token", "token: Hello world"),
            [(7, 12), (13, 18)]
        );
        assert_eq!(hl("o", "foo bOo"), [(1, 3), (5, 7)]);
        assert_eq!(hl("ab /bc/", "abc"), [(0, 3)], "overlaps merge");
        assert_eq!(
            hl("not (x or hello) .a ch:*", "hello x"),
            [],
            "only positive text"
        );
        assert_eq!(hl("!x or x", "x"), [(0, 1)]);
        assert_eq!(
            hl(r"/(?-u:\xA9)/", "é"),
            [(0, 2)],
            "widened to char boundaries"
        );
        assert_eq!(hl("/a*/ \"\"", "bab"), [(1, 2)], "empty matches dropped");
        assert_eq!(hl("ошибка", "x ОШИБКА"), [(2, 14)]);
        assert_eq!(hl("", "abc"), []);
    }

    #[test]
    fn a_narrowing_knows_the_needle_its_previous_filter_implies() {
        let implied = |before: &str, after: &str| {
            let (before, after) = (Filter::parse(before), Filter::parse(after));
            let (before, after) = (before.expect("parses"), after.expect("parses"));
            after.needle_implied_by(&before).is_some()
        };
        assert!(implied("token", "token .n > 1"));
        assert!(implied("token", "tok .n > 1"));
        assert!(implied("token .n > 1", "token .n > 2"));
        assert!(implied("p:token", "token .n > 1"));
        assert!(!implied("tok", "token .n > 1"));
        assert!(!implied("token", "p:token .n > 1"));
        assert!(!implied("token or x", "token .n > 1"));
        assert!(!implied(".n > 1", "token .n > 1"));
    }
}
