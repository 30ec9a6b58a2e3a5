//! The entries browser: pages of one stream, newest first (XREVRANGE), paged both ways,
//! and jumps to an id or a time. Every request carries a generation and only the answer
//! to the latest one is taken, so paging quickly never ends on a stale page.

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use ratatui::layout::Rect;
use tui_input::Input;

use crate::redis::streams::{StreamEntry, StreamId};
use crate::text::escape::{escape_line, escape_lines, pretty_json};

/// Entries per page: what a person reads through, and a bounded read however large the
/// stream or its entries are.
pub const PAGE_SIZE: usize = 100;

/// Bytes of a value shown: a multi-megabyte field must not cost that much per frame.
pub const VALUE_PREVIEW_BYTES: usize = 64 << 10;
/// The field-name column is at most this wide; longer names get a line of their own.
pub const NAME_COLUMN_MAX: usize = 24;
/// Rows of the list (titles included) when there is room for list and entry both.
const LIST_MIN_ROWS: u16 = 5;

pub use crate::redis::streams::entries::EntriesRequest;

/// Typing where to jump.
#[derive(Debug, Clone, Default)]
pub struct JumpPrompt {
    pub input: Input,
    /// Why the last Enter was refused.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EntriesBrowser {
    /// Raw stream key: escape before showing.
    pub key: Bytes,
    /// The page on screen, newest first.
    pub entries: Vec<StreamEntry>,
    /// The request the page on screen answered; None before the first page.
    pub shown: Option<EntriesRequest>,
    /// No entry is newer than the page's first one (as of when it was read).
    pub at_newest: bool,
    /// Selected row; its id is what survives a reload.
    pub index: usize,
    pub offset: usize,
    /// The selected entry fills the pane.
    pub expanded: bool,
    /// First line shown of the expanded entry.
    pub scroll: usize,
    generation: u64,
    /// The request in flight.
    pub loading: Option<EntriesRequest>,
    /// The last read failed (the page shown is from before it).
    pub error: Option<String>,
    /// What the last paging found, e.g. that there is nothing older.
    pub note: Option<String>,
    pub jump: Option<JumpPrompt>,
}

impl EntriesBrowser {
    pub fn new(key: Bytes) -> EntriesBrowser {
        EntriesBrowser {
            key,
            entries: Vec::new(),
            shown: None,
            at_newest: false,
            index: 0,
            offset: 0,
            expanded: false,
            scroll: 0,
            generation: 0,
            loading: None,
            error: None,
            note: None,
            jump: None,
        }
    }

    /// Start a read; returns what the effect carries.
    pub fn request(&mut self, request: EntriesRequest) -> (u64, EntriesRequest) {
        self.generation += 1;
        self.loading = Some(request);
        self.note = None;
        (self.generation, request)
    }

    pub fn selected(&self) -> Option<&StreamEntry> {
        self.entries.get(self.index)
    }

    /// The page older than the one shown; None when nothing is shown.
    pub fn older(&self) -> Option<EntriesRequest> {
        self.entries.last().map(|e| EntriesRequest::Older(e.id))
    }

    /// The page newer than the one shown (the newest when nothing is shown).
    pub fn newer(&self) -> EntriesRequest {
        self.entries
            .first()
            .map_or(EntriesRequest::Newest, |e| EntriesRequest::Newer(e.id))
    }

    /// Take an answer. None when it answers an older request (ignored); otherwise
    /// whether it succeeded (the error also stays on screen).
    pub fn apply(
        &mut self,
        generation: u64,
        request: EntriesRequest,
        result: Result<Vec<StreamEntry>, String>,
    ) -> Option<Result<(), String>> {
        if generation != self.generation {
            return None;
        }
        self.loading = None;
        let page = match result {
            Ok(page) => page,
            Err(e) => {
                self.error = Some(e.clone());
                return Some(Err(e));
            }
        };
        self.error = None;
        if page.is_empty() && request != EntriesRequest::Newest {
            // Keep the page on screen: an empty answer only says where the edge is.
            self.note = Some(
                match request {
                    EntriesRequest::Older(_) => "no older entries: this is the start of the stream",
                    EntriesRequest::Newer(_) => "no newer entries: this is the newest page",
                    _ => "no entry at or before that point: the stream starts later",
                }
                .into(),
            );
            if matches!(request, EntriesRequest::Newer(_)) {
                self.at_newest = true;
            }
            return Some(Ok(()));
        }
        // Watching the top means following the newest entry; otherwise the user looks at
        // one entry, and a reload keeps it.
        let keep = (self.index > 0)
            .then(|| self.selected().map(|e| e.id))
            .flatten();
        // A short page (fewer than PAGE_SIZE) only happens when the whole stream is
        // shorter: the reader tops pages up at either end.
        self.at_newest = request.reached_newest(&page) || page.len() < PAGE_SIZE;
        self.entries = page;
        self.shown = Some(request);
        self.expanded = false;
        self.scroll = 0;
        self.index = match request {
            // A reload of the newest page keeps the entry the user was looking at.
            EntriesRequest::Newest => keep
                .and_then(|id| self.entries.iter().position(|e| e.id == id))
                .unwrap_or(0),
            // Paging lands next to where the user came from; a jump on its entry.
            _ => request.anchor(&self.entries),
        };
        self.offset = 0;
        Some(Ok(()))
    }

    pub fn move_by(&mut self, delta: isize, page: usize) {
        self.index = self
            .index
            .saturating_add_signed(delta)
            .min(self.entries.len().saturating_sub(1));
        self.offset = super::visible_offset(self.offset, self.index, page);
        self.scroll = 0;
    }

    /// Scroll the expanded entry; `lines` is how many it has, `page` how many fit.
    pub fn scroll_by(&mut self, delta: isize, lines: usize, page: usize) {
        let max = lines.saturating_sub(page.max(1));
        self.scroll = self.scroll.saturating_add_signed(delta).min(max);
    }

    /// Reload the newest page when it is what the user watches and the stream has grown:
    /// on the newest page, the newest row selected, nothing expanded or in flight.
    pub fn follow(&mut self, last_entry_id: Option<StreamId>) -> Option<(u64, EntriesRequest)> {
        let watching = self.at_newest
            && self.index == 0
            && !self.expanded
            && self.jump.is_none()
            && self.loading.is_none()
            && self.error.is_none();
        let newest_shown = self.entries.first().map(|e| e.id);
        if watching && last_entry_id.is_some() && last_entry_id != newest_shown {
            return Some(self.request(EntriesRequest::Newest));
        }
        None
    }
}

/// The browser's geometry inside the pane's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntriesLayout {
    /// Title line, the jump prompt, the last error or note.
    pub top: Rect,
    /// Column titles (first row) and the page's rows; empty while an entry is expanded.
    pub list: Rect,
    /// The selected entry: a title row, then its fields.
    pub detail: Rect,
}

impl EntriesLayout {
    pub fn list_rows(&self) -> usize {
        usize::from(self.list.height.saturating_sub(1)).max(1)
    }

    pub fn detail_rows(&self) -> usize {
        usize::from(self.detail.height.saturating_sub(1)).max(1)
    }
}

impl EntriesBrowser {
    pub fn layout(&self, body: Rect) -> EntriesLayout {
        let top = (1
            + u16::from(self.jump.is_some())
            + u16::from(self.error.is_some() || self.note.is_some()))
        .min(body.height);
        let rest = body.height - top;
        let list = if self.expanded {
            0
        } else {
            // About two fifths for the list, the rest for the entry's fields.
            (rest * 2 / 5).max(LIST_MIN_ROWS).min(rest)
        };
        let y = body.y + top;
        EntriesLayout {
            top: Rect::new(body.x, body.y, body.width, top),
            list: Rect::new(body.x, y, body.width, list),
            detail: Rect::new(body.x, y + list, body.width, rest - list),
        }
    }
}

/// One display line of an entry's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLine {
    /// The field's escaped name, on its first line only.
    pub name: Option<String>,
    /// Escaped (and for JSON, re-indented) value text; a name line of its own when
    /// `value` is false.
    pub text: String,
    /// False for a long name given its own line.
    pub value: bool,
    pub json: bool,
}

/// The first byte of a JSON object or array.
const JSON_OPENERS: &[u8] = b"{[";

/// A value's display lines: JSON objects and arrays pretty-printed, anything else escaped
/// line by line. True when it was JSON.
pub fn field_lines(value: &[u8]) -> (bool, Vec<String>) {
    let shown = &value[..value.len().min(VALUE_PREVIEW_BYTES)];
    let looks_json = shown
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| JSON_OPENERS.contains(b));
    if looks_json {
        if let Some(lines) = pretty_json(shown) {
            return (true, lines);
        }
    }
    let mut lines = escape_lines(shown);
    if value.len() > shown.len() {
        lines.push(format!(
            "… {} more bytes not shown",
            value.len() - shown.len()
        ));
    }
    (false, lines)
}

/// The width of the name column for these fields.
pub fn name_column(entry: &StreamEntry) -> usize {
    entry
        .fields
        .iter()
        .map(|(name, _)| escape_line(name).chars().count())
        .max()
        .unwrap_or(0)
        .min(NAME_COLUMN_MAX)
}

/// Every field in its real order (duplicate names kept), values wrapped to `width`
/// columns after the name column. State and render both use it, so scrolling and
/// drawing agree on the line count.
pub fn entry_lines(entry: &StreamEntry, width: u16) -> Vec<EntryLine> {
    let name_width = name_column(entry);
    let value_width = usize::from(width).saturating_sub(name_width + 3).max(8);
    let mut out = Vec::new();
    for (name, value) in &entry.fields {
        let name = escape_line(name).into_owned();
        let long_name = name.chars().count() > name_width;
        if long_name {
            for piece in wrap_chars(&name, usize::from(width).saturating_sub(1).max(8)) {
                out.push(EntryLine {
                    name: None,
                    text: piece,
                    value: false,
                    json: false,
                });
            }
        }
        let mut first = !long_name;
        let (json, lines) = field_lines(value);
        for line in lines {
            for piece in wrap_chars(&line, value_width) {
                out.push(EntryLine {
                    name: first.then(|| name.clone()),
                    text: piece,
                    value: true,
                    json,
                });
                first = false;
            }
        }
    }
    out
}

/// `text` cut into pieces of `width` chars; an empty text is one empty piece.
fn wrap_chars(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}

/// Where a typed jump goes:
/// - an id, `1700000000000-5`;
/// - a Unix time in ms, `1700000000000` (what an id's first half is);
/// - a date and time in the shown offset, `2026-11-22 10:00`, `2026-11-22T10:00:05`,
///   RFC 3339 with its own offset, or a time of day today, `10:00`;
/// - an age, `90s`, `5m`, `1h30m`, `2d` (optionally followed by `ago`).
pub fn parse_jump(
    text: &str,
    server_now_ms: i64,
    offset: FixedOffset,
) -> Result<EntriesRequest, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("type an id, a time or an age (5m)".into());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(EntriesRequest::AtTime)
            .map_err(|_| "that number is too large for a time in ms".into());
    }
    if let Some(id) = StreamId::parse(t.as_bytes()) {
        return Ok(EntriesRequest::AtId(id));
    }
    if let Some(ms) = parse_age_ms(t) {
        let at = u64::try_from(server_now_ms).unwrap_or(0).saturating_sub(ms);
        return Ok(EntriesRequest::AtTime(at));
    }
    if let Some(at) = parse_time(t, server_now_ms, offset) {
        return Ok(EntriesRequest::AtTime(u64::try_from(at).unwrap_or(0)));
    }
    Err(format!(
        "cannot read {:?}: try 1700000000000-0, 2026-11-22 10:00, 10:00 or 5m",
        crate::text::escape::escape_str(t)
    ))
}

/// `90s`, `5m`, `1h30m`, `250ms`, `2d`, each optionally followed by ` ago`.
fn parse_age_ms(text: &str) -> Option<u64> {
    let t = text.strip_suffix("ago").unwrap_or(text).trim_end();
    let mut total: u64 = 0;
    let mut rest = t;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Unix ms of a typed date and time; a time of day alone means today (in `offset`).
fn parse_time(text: &str, server_now_ms: i64, offset: FixedOffset) -> Option<i64> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    let local = |naive: NaiveDateTime| {
        offset
            .from_local_datetime(&naive)
            .single()
            .map(|at| at.timestamp_millis())
    };
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return local(naive);
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return local(day.and_time(NaiveTime::MIN));
    }
    for format in ["%H:%M:%S%.f", "%H:%M"] {
        if let Ok(time) = NaiveTime::parse_from_str(text, format) {
            let today = DateTime::from_timestamp_millis(server_now_ms)?
                .with_timezone(&offset)
                .date_naive();
            return local(today.and_time(time));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(ms: u64) -> StreamEntry {
        StreamEntry {
            id: StreamId::new(ms, 0),
            fields: vec![(Bytes::from_static(b"f"), Bytes::from_static(b"v"))],
        }
    }

    const NOW: i64 = 1_763_805_600_000; // 2025-11-22T10:00:00Z

    #[test]
    fn jumps_parse_ids_times_and_ages() {
        let utc = FixedOffset::east_opt(0).expect("utc");
        let jump = |t: &str| parse_jump(t, NOW, utc);
        assert_eq!(
            jump("1700000000000-5"),
            Ok(EntriesRequest::AtId(StreamId::new(1_700_000_000_000, 5)))
        );
        assert_eq!(
            jump("1700000000000"),
            Ok(EntriesRequest::AtTime(1_700_000_000_000))
        );
        // Durations back from now, date-times and a time of today.
        for (text, back_ms) in [
            ("5m", 300_000),
            ("1h30m ago", 5_400_000),
            ("2025-11-22 09:00", 3_600_000),
            ("2025-11-22T09:00:00+01:00", 7_200_000),
            ("09:59:30", 30_000),
        ] {
            assert_eq!(
                jump(text),
                Ok(EntriesRequest::AtTime(NOW as u64 - back_ms)),
                "{text}"
            );
        }
        let plus_two = FixedOffset::east_opt(7200).expect("offset");
        assert_eq!(
            parse_jump("12:00", NOW, plus_two),
            Ok(EntriesRequest::AtTime(NOW as u64)),
            "a time of day is in the shown offset"
        );
        assert!(jump("").is_err());
        assert!(jump("yesterday").is_err());
        assert!(jump("5x").is_err());
        assert!(jump("\x1b[2J").is_err_and(|e| !e.contains('\x1b')));
    }

    #[test]
    fn only_the_latest_answer_counts_and_edges_keep_the_page() {
        let mut b = EntriesBrowser::new(Bytes::from_static(b"s"));
        let (g1, r1) = b.request(EntriesRequest::Newest);
        let (g2, r2) = b.request(EntriesRequest::Newest);
        assert_eq!(b.apply(g1, r1, Ok(vec![entry(9)])), None, "stale answer");
        assert!(b.entries.is_empty());
        assert_eq!(b.apply(g2, r2, Ok(vec![entry(3), entry(2)])), Some(Ok(())));
        assert!(b.at_newest);
        b.move_by(1, 10);
        let older = b.older().expect("a page is shown");
        assert_eq!(older, EntriesRequest::Older(StreamId::new(2, 0)));
        let (g, r) = b.request(older);
        assert_eq!(b.apply(g, r, Ok(Vec::new())), Some(Ok(())));
        assert_eq!(
            b.entries.len(),
            2,
            "an empty older page keeps what is shown"
        );
        assert!(b
            .note
            .as_deref()
            .is_some_and(|n| n.contains("start of the stream")));
        // A reload of the newest page keeps the selected entry.
        let (g, r) = b.request(EntriesRequest::Newest);
        b.apply(g, r, Ok(vec![entry(4), entry(3), entry(2)]));
        assert_eq!(b.selected().map(|e| e.id.ms), Some(2));
        // Paging newer selects the row next to where the user came from.
        let (g, r) = b.request(EntriesRequest::Newer(StreamId::new(4, 0)));
        b.apply(g, r, Ok(vec![entry(7), entry(6), entry(5)]));
        assert_eq!(b.selected().map(|e| e.id.ms), Some(5));
        assert!(b.at_newest, "a short newer page reaches the newest entry");
        let (g, r) = b.request(EntriesRequest::Newest);
        assert_eq!(
            b.apply(g, r, Err("XREVRANGE failed".into())),
            Some(Err("XREVRANGE failed".into()))
        );
        assert_eq!(b.entries.len(), 3, "a failed read keeps the page");
    }

    #[test]
    fn fields_keep_order_and_duplicates_and_pretty_print_json() {
        let e = StreamEntry {
            id: StreamId::new(1, 0),
            fields: vec![
                (Bytes::from_static(b"tag"), Bytes::from_static(b"a")),
                (Bytes::from_static(b"tag"), Bytes::from_static(b"b\x1b\x00")),
                (
                    Bytes::from_static(b"raw"),
                    Bytes::from_static(b"\xff\x1b[2J"),
                ),
                (
                    Bytes::from_static(b"doc"),
                    Bytes::from_static(br#"{"a":[1,2],"b":{}}"#),
                ),
            ],
        };
        let lines = entry_lines(&e, 60);
        let shown: Vec<(Option<&str>, &str)> = lines
            .iter()
            .map(|l| (l.name.as_deref(), l.text.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                (Some("tag"), "a"),
                (Some("tag"), "b\\x1b\\x00"),
                (Some("raw"), "\\xff\\x1b[2J"),
                (Some("doc"), "{"),
                (None, "  \"a\": ["),
                (None, "    1,"),
                (None, "    2"),
                (None, "  ],"),
                (None, "  \"b\": {}"),
                (None, "}"),
            ]
        );
        assert!(lines[3].json && !lines[0].json);
        // Narrow: values wrap under the value column.
        let long = StreamEntry {
            id: StreamId::new(1, 0),
            fields: vec![(Bytes::from_static(b"k"), Bytes::from(vec![b'x'; 30]))],
        };
        let lines = entry_lines(&long, 14);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0].text.len(), 10);
    }

    #[test]
    fn follows_new_entries_only_while_watching_the_top() {
        let mut b = EntriesBrowser::new(Bytes::from_static(b"s"));
        let (g, r) = b.request(EntriesRequest::Newest);
        b.apply(g, r, Ok(vec![entry(3), entry(2)]));
        assert_eq!(b.follow(Some(StreamId::new(3, 0))), None, "nothing new");
        assert!(b.follow(Some(StreamId::new(4, 0))).is_some());
        let (g, r) = (b.generation, EntriesRequest::Newest);
        b.apply(g, r, Ok(vec![entry(4), entry(3), entry(2)]));
        b.move_by(1, 10);
        assert_eq!(
            b.follow(Some(StreamId::new(5, 0))),
            None,
            "reading an older row: the page holds still"
        );
    }
}
