//! The Keyspace pane: keyspace notifications (`redtail --keyspace GLOB`, or started from
//! the pane) in their own bounded ring, newest first, and a keys table that counts
//! events per key ("which keys churn"). Changed only through [`AppState::update`]; the
//! engine (`redis::keyspace`) is started by app.rs on [`KeyspaceEffect::Start`].

pub mod table;

use std::collections::VecDeque;

use crossterm::event::KeyEvent as Key;

use super::keys::{edit_input, movement, Move};
use super::{AppState, Effect};
use crate::filter::Filter;
use crate::keymap::{Command, Scope};
use crate::redis::keyspace::check::Finding;
use crate::redis::keyspace::KeyspaceSpec;
use crate::redis::message::{Delivery, Gap, KeyEvent};
use crate::text::escape::escape_line;
pub use table::{KeyRow, KeySort, KeysTable, MAX_TRACKED_KEYS};

/// Events kept at most (oldest evicted and counted).
pub const MAX_EVENTS: usize = 100_000;
/// Rows above the list: the status line and the column titles.
pub const TOP_ROWS: u16 = 2;
/// Node notes shown at most (the rest are counted on one more line).
pub const MAX_NOTES: usize = 3;
/// Gap rows kept at most (the oldest go first; the per-node counts keep them all).
pub const MAX_GAP_ROWS: usize = 1_000;

/// An outage of a node's subscription, as a row among the events: it sits after the
/// `after`-th event received, and no filter hides it (hiding an outage would fake
/// continuity, as in the feed).
#[derive(Debug, Clone, PartialEq)]
pub struct GapRow {
    /// Events received before it.
    pub after: u64,
    /// Its number among the gaps received (1 for the first).
    pub ordinal: u64,
    pub gap: Gap,
}

/// One row of the events list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Row<'a> {
    Event(&'a KeyEvent),
    Gap(&'a GapRow),
}

impl<'a> Row<'a> {
    /// The event, for a row that is one.
    pub fn event(self) -> Option<&'a KeyEvent> {
        match self {
            Row::Event(e) => Some(e),
            Row::Gap(_) => None,
        }
    }
}

/// What the pane asks app.rs to do.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyspaceEffect {
    /// Check the setting on every node and (re)start following `spec`.
    Start(KeyspaceSpec),
    /// Add the missing flags on these nodes through the action layer (audited); the
    /// old values are put back on quit.
    Enable,
}

/// What comes back from app.rs.
#[derive(Debug, Clone)]
pub enum KeyspaceEvent {
    /// The setting as read on every node for the running subscription.
    Settings(Vec<Finding>),
    /// Where events come from: "the server", "3 primaries".
    Sources(String),
    /// Deliveries of the keyspace engine (events, gaps, errors).
    Deliveries(Vec<Delivery>),
    /// The outcome of enabling: one line per node, and whether any failed.
    Enabled { lines: Vec<String>, failed: bool },
}

/// A dialog over the pane.
#[derive(Debug, Clone)]
pub enum KeyspaceModal {
    /// "GLOB [EVENTS]": start or replace the subscription.
    Start(tui_input::Input),
    /// Enable the flags: what will be set on which node.
    ConfirmEnable,
}

#[derive(Debug, Clone)]
pub struct KeyspacePane {
    /// Newest at the back.
    events: VecDeque<KeyEvent>,
    cap: usize,
    /// Events dropped from the ring to stay within `cap`.
    pub evicted: u64,
    /// Events received since the pane started (for "N new" while paused).
    pub received: u64,
    /// While paused: `received` at the moment of pausing; the view does not move.
    paused_at: Option<u64>,
    /// Gap rows, oldest first, at most [`MAX_GAP_ROWS`], none older than the oldest event
    /// kept.
    gap_rows: VecDeque<GapRow>,
    /// Gaps received since the pane started; and that count when paused.
    gaps_received: u64,
    gaps_at_pause: u64,
    /// Rows scrolled down from the newest matching event.
    pub scroll: usize,
    pub filter: Option<Filter>,
    pub keys: KeysTable,
    pub show_keys: bool,
    /// The subscription, once started.
    pub spec: Option<KeyspaceSpec>,
    /// The setting on every node (empty until read).
    pub findings: Vec<Finding>,
    /// Where events come from ("3 primaries"), once known.
    pub sources: Option<String>,
    /// Gaps (outages of a node's subscription), per node (`""`: the one server), and the
    /// last one's text.
    pub gaps: std::collections::BTreeMap<String, u64>,
    pub last_gap: Option<String>,
    pub modal: Option<KeyspaceModal>,
    /// An enable is under way (so a second key press does not start another).
    pub enabling: bool,
}

impl Default for KeyspacePane {
    fn default() -> Self {
        KeyspacePane::with_cap(MAX_EVENTS, MAX_TRACKED_KEYS)
    }
}

impl KeyspacePane {
    pub fn with_cap(max_events: usize, max_keys: usize) -> KeyspacePane {
        KeyspacePane {
            events: VecDeque::new(),
            cap: max_events.max(1),
            evicted: 0,
            received: 0,
            paused_at: None,
            gap_rows: VecDeque::new(),
            gaps_received: 0,
            gaps_at_pause: 0,
            scroll: 0,
            filter: None,
            keys: KeysTable::with_limit(max_keys),
            show_keys: false,
            spec: None,
            findings: Vec::new(),
            sources: None,
            gaps: Default::default(),
            last_gap: None,
            modal: None,
            enabling: false,
        }
    }

    pub fn push(&mut self, event: KeyEvent) {
        self.keys.record(&event);
        self.received += 1;
        if self.events.len() == self.cap {
            self.events.pop_front();
            self.evicted += 1;
        }
        self.events.push_back(event);
        // A gap before an evicted event no longer sits next to anything shown.
        let first = self.received - self.events.len() as u64;
        while self.gap_rows.front().is_some_and(|g| g.after < first) {
            self.gap_rows.pop_front();
        }
    }

    /// A gap after the events received so far.
    pub fn push_gap(&mut self, gap: Gap) {
        self.gaps_received += 1;
        if self.gap_rows.len() == MAX_GAP_ROWS {
            self.gap_rows.pop_front();
        }
        self.gap_rows.push_back(GapRow {
            after: self.received,
            ordinal: self.gaps_received,
            gap,
        });
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn is_paused(&self) -> bool {
        self.paused_at.is_some()
    }

    /// Events that arrived since the pause (not shown until it ends).
    pub fn held(&self) -> u64 {
        self.paused_at.map_or(0, |at| self.received - at)
    }

    pub fn toggle_pause(&mut self) {
        self.paused_at = match self.paused_at {
            Some(_) => {
                self.scroll = 0;
                None
            }
            None => {
                self.gaps_at_pause = self.gaps_received;
                Some(self.received)
            }
        };
    }

    /// Does `event` pass the filter? `channel:` terms see the key, the rest the event.
    pub fn matches(filter: Option<&Filter>, key: &[u8], event: &[u8]) -> bool {
        filter.is_none_or(|f| f.matches(key, event))
    }

    /// The rows to show, newest first: `rows` of them from the scroll position. Events
    /// that match the filter, and every gap where it happened; what arrived while paused
    /// is left out.
    pub fn visible(&self, rows: usize) -> Vec<Row<'_>> {
        self.rows_newest_first()
            .skip(self.scroll)
            .take(rows)
            .collect()
    }

    /// Every row the list can scroll through, newest first.
    fn rows_newest_first(&self) -> impl Iterator<Item = Row<'_>> {
        let top = self.paused_at.unwrap_or(self.received);
        let gap_top = if self.paused_at.is_some() {
            self.gaps_at_pause
        } else {
            self.gaps_received
        };
        let held = usize::try_from(self.received - top).unwrap_or(usize::MAX);
        // Events before the oldest kept; event `i` of the ring is number `first + i + 1`.
        let first = self.received - self.events.len() as u64;
        let mut events = self
            .events
            .iter()
            .enumerate()
            .rev()
            .skip(held)
            .filter(|(_, e)| Self::matches(self.filter.as_ref(), &e.key, &e.event))
            .map(move |(i, e)| (first + i as u64 + 1, e))
            .peekable();
        let mut gaps = self
            .gap_rows
            .iter()
            .rev()
            .filter(move |g| g.ordinal <= gap_top && g.after <= top)
            .peekable();
        // A gap received after event `k` is newer than it: it comes first.
        std::iter::from_fn(move || match (gaps.peek(), events.peek()) {
            (Some(g), Some((k, _))) if g.after >= *k => gaps.next().map(Row::Gap),
            (_, Some(_)) => events.next().map(|(_, e)| Row::Event(e)),
            (Some(_), None) => gaps.next().map(Row::Gap),
            (None, None) => None,
        })
    }

    /// How many retained events match the filter.
    pub fn matching_len(&self) -> usize {
        match &self.filter {
            None => self.events.len(),
            Some(f) => self
                .events
                .iter()
                .filter(|e| f.matches(&e.key, &e.event))
                .count(),
        }
    }

    /// Scroll the events (pausing, like moving in the feed) or the keys table.
    pub fn move_by(&mut self, delta: isize, rows: usize) {
        if self.show_keys {
            self.keys.move_by(delta, self.filter.as_ref());
            return;
        }
        if self.paused_at.is_none() {
            if delta <= 0 {
                return;
            }
            self.paused_at = Some(self.received);
        }
        let max = self.rows_newest_first().count().saturating_sub(rows);
        self.scroll = self.scroll.saturating_add_signed(delta).min(max);
    }

    pub fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.scroll = 0;
        self.keys.selected = 0;
    }

    /// Nodes whose setting lacks flags (or cannot be read).
    pub fn lacking(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| !matches!(f, Finding::Ready { .. }))
    }

    /// Rows of node notes under the status line in a body `height` rows high: one per
    /// lacking node (at most [`MAX_NOTES`], then one counting the rest), and the line
    /// saying how to fix it; always leaving room for the titles and a row of list.
    pub fn note_rows(&self, height: u16) -> u16 {
        let lacking = self.lacking().count();
        if lacking == 0 || self.spec.is_none() {
            return 0;
        }
        let mut rows = lacking.min(MAX_NOTES) + usize::from(lacking > MAX_NOTES);
        rows += usize::from(self.to_enable().next().is_some());
        let room = usize::from(height.saturating_sub(TOP_ROWS + 1)).max(1);
        rows.min(room) as u16
    }

    /// Nodes the enable would change.
    pub fn to_enable(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| matches!(f, Finding::Missing { .. }))
    }

    fn on_deliveries(&mut self, batch: Vec<Delivery>) -> Vec<String> {
        let mut errors = Vec::new();
        for delivery in batch {
            match delivery {
                Delivery::Keyspace(e) => self.push(e),
                Delivery::Gap(g) => {
                    // The engine names the node in keyspace mode: "node HOST:PORT: …".
                    let node = g
                        .reason
                        .strip_prefix("node ")
                        .and_then(|r| r.split_once(": "))
                        .map_or("", |(n, _)| n);
                    *self.gaps.entry(node.to_string()).or_default() += 1;
                    self.last_gap = Some(g.describe());
                    self.push_gap(g);
                }
                Delivery::ServerError(e) => errors.push(e),
                // A key glob only matches keyspace channels; the rest is not ours.
                Delivery::Message(_) | Delivery::Subscription { .. } => {}
            }
        }
        errors
    }
}

/// "GLOB [EVENTS]" → the spec (`db` from the running one). `None` for an empty text.
pub fn parse_start(text: &str, db: Option<u32>) -> Option<KeyspaceSpec> {
    let mut words = text.split_whitespace();
    let glob = words.next()?;
    let events: std::collections::BTreeSet<String> = words
        .flat_map(|w| w.split(','))
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .collect();
    Some(KeyspaceSpec {
        globs: vec![crate::cli::name_bytes(glob)],
        events: (!events.is_empty()).then_some(events),
        db,
    })
}

impl AppState {
    /// Rows of list the Keyspace pane shows.
    pub fn keyspace_rows(&self) -> usize {
        let body = self.areas().body.height;
        let notes = self.keyspace.note_rows(body);
        // The keys table and the events list each have a title row.
        usize::from(body.saturating_sub(TOP_ROWS + notes)).max(1)
    }

    /// A click on a row of the keys table selects it.
    pub(super) fn keyspace_click(&mut self, row: u16) {
        if !self.keyspace.show_keys {
            return;
        }
        let body = self.areas().body;
        let top = body.y + TOP_ROWS + self.keyspace.note_rows(body.height);
        let rows = self.keyspace_rows();
        let Some(at) = row.checked_sub(top).map(usize::from).filter(|&a| a < rows) else {
            return;
        };
        let keys = &mut self.keyspace.keys;
        let total = keys.matching_len(self.keyspace.filter.as_ref());
        let selected = keys.selected.min(total.saturating_sub(1));
        let start = table::window_start(selected, total, rows);
        if start + at < total {
            keys.selected = start + at;
        }
    }

    pub(super) fn on_keyspace_event(&mut self, event: KeyspaceEvent) {
        match event {
            KeyspaceEvent::Settings(findings) => self.keyspace.findings = findings,
            KeyspaceEvent::Sources(text) => self.keyspace.sources = Some(text),
            KeyspaceEvent::Deliveries(batch) => {
                if let Some(e) = self.keyspace.on_deliveries(batch).pop() {
                    self.error(format!("keyspace: the server refused: {e}"));
                }
            }
            KeyspaceEvent::Enabled { lines, failed } => {
                self.keyspace.enabling = false;
                let text = lines.join("; ");
                if failed {
                    self.error(text);
                } else {
                    self.info(text);
                }
            }
        }
    }

    /// The spec given on the command line: shown at once, before the engine answers.
    pub fn start_keyspace(&mut self, spec: KeyspaceSpec) {
        self.keyspace.spec = Some(spec);
        self.keyspace.findings.clear();
    }

    pub(super) fn keyspace_key(&mut self, key: &Key, effects: &mut Vec<Effect>) -> bool {
        if self.keyspace.modal.is_some() {
            self.keyspace_modal_key(key, effects);
            return true;
        }
        let rows = self.keyspace_rows();
        match self.keymap.lookup(Scope::Keyspace, key) {
            Some(Command::Filter) => {
                let source = self
                    .keyspace
                    .filter
                    .as_ref()
                    .map(|f| f.source().to_string());
                self.open_filter(source);
            }
            Some(Command::ClearFilter) => {
                if self.keyspace.filter.is_none() {
                    return false;
                }
                self.keyspace.set_filter(None);
                self.info_about(super::NoticeTopic::Filter, "filter cleared".into());
            }
            Some(Command::TogglePause) => self.keyspace.toggle_pause(),
            Some(Command::ToggleKeysTable) => {
                self.keyspace.show_keys = !self.keyspace.show_keys;
            }
            Some(Command::SortNext) => self.keyspace.keys.sort_next(),
            Some(Command::SortReverse) => self.keyspace.keys.descending ^= true,
            Some(Command::KeyspaceStart) => {
                let mut input = tui_input::Input::default();
                if let Some(spec) = &self.keyspace.spec {
                    input = input.with_value(describe_spec_input(spec));
                }
                self.keyspace.modal = Some(KeyspaceModal::Start(input));
            }
            Some(Command::EnableNotifications) => self.open_enable(),
            _ => match movement(self.keymap.lookup(Scope::Navigation, key), rows) {
                Some(Move::By(delta)) => self.keyspace.move_by(delta, rows),
                Some(step) => self.keyspace.move_by(step.delta(), rows),
                None => return false,
            },
        }
        true
    }

    fn open_enable(&mut self) {
        if self.keyspace.to_enable().next().is_none() {
            let text = if self.keyspace.spec.is_none() {
                "no keyspace subscription yet: nothing to enable"
            } else {
                "every node has the flags it needs: nothing to enable"
            };
            self.info(text.into());
            return;
        }
        if self.config.read_only.is_on() {
            self.refuse_read_only("notify-enable", None, None);
            return;
        }
        if self.keyspace.enabling {
            self.info("enabling keyspace notifications is already under way".into());
            return;
        }
        self.keyspace.modal = Some(KeyspaceModal::ConfirmEnable);
    }

    fn keyspace_modal_key(&mut self, key: &Key, effects: &mut Vec<Effect>) {
        let input_cmd = self.keymap.lookup(Scope::Input, key);
        let dialog_cmd = self.keymap.lookup(Scope::Dialog, key);
        let db = self.keyspace.spec.as_ref().and_then(|s| s.db);
        let pane = &mut self.keyspace;
        match &mut pane.modal {
            Some(KeyspaceModal::Start(input)) => match input_cmd {
                Some(Command::Accept) => {
                    let text = input.value().to_string();
                    pane.modal = None;
                    if let Some(spec) = parse_start(&text, db) {
                        self.restart_keyspace(spec, effects);
                    }
                }
                Some(Command::Cancel) => pane.modal = None,
                _ => {
                    edit_input(input, key);
                }
            },
            Some(KeyspaceModal::ConfirmEnable) => {
                if dialog_cmd == Some(Command::Confirm) || input_cmd == Some(Command::Accept) {
                    pane.modal = None;
                    pane.enabling = true;
                    self.info("enabling keyspace notifications…".into());
                    effects.push(Effect::Keyspace(KeyspaceEffect::Enable));
                } else if matches!(dialog_cmd, Some(Command::Cancel))
                    || input_cmd == Some(Command::Cancel)
                {
                    pane.modal = None;
                }
            }
            None => {}
        }
    }

    fn restart_keyspace(&mut self, spec: KeyspaceSpec, effects: &mut Vec<Effect>) {
        let globs: Vec<String> = spec
            .globs
            .iter()
            .map(|g| escape_line(g).into_owned())
            .collect();
        self.info(format!(
            "following keyspace events of {}…",
            globs.join(", ")
        ));
        let pane = &mut self.keyspace;
        pane.events.clear();
        pane.keys.clear();
        pane.scroll = 0;
        pane.paused_at = None;
        pane.received = 0;
        pane.evicted = 0;
        pane.gaps.clear();
        pane.last_gap = None;
        pane.gap_rows.clear();
        pane.gaps_received = 0;
        pane.gaps_at_pause = 0;
        self.start_keyspace(spec.clone());
        effects.push(Effect::Keyspace(KeyspaceEffect::Start(spec)));
    }
}

/// The start prompt's text for a running spec: "GLOB set,del".
fn describe_spec_input(spec: &KeyspaceSpec) -> String {
    let mut text = spec
        .globs
        .first()
        .map(|g| String::from_utf8_lossy(g).into_owned())
        .unwrap_or_default();
    if let Some(events) = &spec.events {
        text.push(' ');
        text.push_str(&events.iter().cloned().collect::<Vec<_>>().join(","));
    }
    text
}

#[cfg(test)]
mod tests;
