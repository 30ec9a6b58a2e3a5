//! Keys and mouse: the focused mode gets a key first (returning whether it used it), the
//! global bindings are the fallback. What a key does is looked up in the keymap, never
//! matched on raw key codes here, so rebinding works everywhere.

use bytes::Bytes;
use crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use tui_input::backend::crossterm::EventHandler;

use super::detail::DetailState;
use super::feed::FeedItem;
use super::prompt::{FilterEdit, Picker, SubscribePrompt};
use super::status::NoticeTopic;
use super::{layout, thousands, AppState, ConnView, Effect, Focus, Overlay, Tab};
use crate::filter::Filter;
use crate::keymap::{Command, Scope};
use crate::text::escape::escape_line;

/// Rows one mouse-wheel notch scrolls.
const WHEEL_ROWS: isize = 3;

impl AppState {
    pub(super) fn on_mouse(&mut self, mouse: MouseEvent) {
        let delta = match mouse.kind {
            MouseEventKind::ScrollUp => -WHEEL_ROWS,
            MouseEventKind::ScrollDown => WHEEL_ROWS,
            MouseEventKind::Down(MouseButton::Left) => {
                if mouse.row == self.areas().tabs.y && self.overlay.is_none() {
                    if let Some(tab) = layout::tab_at(mouse.column) {
                        self.tab = tab;
                    }
                } else {
                    match self.focus() {
                        Focus::Feed => self.feed_click(mouse.row),
                        Focus::Channels => self.channels_click(mouse.row),
                        Focus::Pending => self.pending_click(mouse.row),
                        Focus::Streams(_) => self.streams_click(mouse.row),
                        Focus::Problems => self.problems_click(mouse.row),
                        Focus::Keyspace => self.keyspace_click(mouse.row),
                        _ => {}
                    }
                }
                return;
            }
            _ => return,
        };
        match self.focus() {
            Focus::Feed => self.feed_move(delta),
            Focus::Detail => {
                let rows = self.detail_rows();
                if let Some(d) = &mut self.detail {
                    d.scroll_by(delta, rows);
                }
            }
            Focus::Help => self.help_scroll(delta),
            Focus::Channels | Focus::Clients => self.channels_move(delta),
            Focus::Nodes => {}
            Focus::Pending => self.pending_wheel(delta),
            Focus::Streams(_) => self.streams_wheel(delta),
            Focus::Problems => {
                let page = self.problems_page();
                self.problems.move_by(delta, page);
            }
            Focus::Keyspace => {
                let rows = self.keyspace_rows();
                self.keyspace.move_by(delta, rows);
            }
            Focus::Unsubscribe => {
                if let Some(Overlay::Unsubscribe(p)) = &mut self.overlay {
                    p.move_by(delta.signum());
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if let Some(command) = self.keymap.lookup(Scope::Always, &key) {
            return self.global(command);
        }
        let mut effects = Vec::new();
        let consumed = match self.focus() {
            Focus::Help => self.help_key(&key, &mut effects),
            Focus::Filter => self.filter_key(key),
            Focus::Subscribe => self.subscribe_key(key, &mut effects),
            Focus::Unsubscribe => self.unsubscribe_key(&key, &mut effects),
            Focus::Detail => self.detail_key(&key, &mut effects),
            Focus::Feed => self.feed_key(&key, &mut effects),
            Focus::Channels | Focus::Clients | Focus::Nodes => {
                self.channels_key(&key, &mut effects)
            }
            Focus::Composer => self.composer_key(key, &mut effects),
            Focus::SendMarked => self.send_marked_key(&key, &mut effects),
            Focus::Pending | Focus::PendingDialog(_) => self.pending_key(&key, &mut effects),
            Focus::Streams(_) => self.streams_key(&key, &mut effects),
            Focus::Problems | Focus::ProblemsDialog => self.problems_key(&key, &mut effects),
            Focus::Keyspace | Focus::KeyspaceDialog => self.keyspace_key(&key, &mut effects),
            Focus::Placeholder => false,
        };
        if !consumed {
            if let Some(command) = self.keymap.lookup(Scope::Global, &key) {
                effects.extend(self.global(command));
            }
        }
        effects
    }

    fn global(&mut self, command: Command) -> Vec<Effect> {
        match command {
            Command::Quit => return vec![Effect::Quit],
            Command::Help => {
                self.overlay = match self.overlay {
                    Some(Overlay::Help { .. }) => None,
                    _ => Some(Overlay::Help { scroll: 0 }),
                }
            }
            Command::NextTab => self.switch_tab(self.tab.offset(1)),
            Command::PrevTab => self.switch_tab(self.tab.offset(-1)),
            Command::ShowFeed => self.switch_tab(Tab::Feed),
            Command::ShowChannels => self.switch_tab(Tab::Channels),
            Command::ShowStreams => self.switch_tab(Tab::Streams),
            Command::ShowPending => self.switch_tab(Tab::Pending),
            Command::ProblemsList => self.toggle_problems(),
            Command::ShowKeyspace => self.switch_tab(Tab::Keyspace),
            _ => {}
        }
        Vec::new()
    }

    fn switch_tab(&mut self, tab: Tab) {
        self.overlay = None;
        self.problems.open = false;
        self.tab = tab;
    }

    fn help_scroll(&mut self, delta: isize) {
        if let Some(Overlay::Help { scroll }) = &mut self.overlay {
            // Render clamps to the content height it knows; keep the value sane here.
            *scroll = scroll.saturating_add_signed(delta).min(200);
        }
    }

    fn help_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
        if let Some(Command::Accept | Command::Cancel) = self.keymap.lookup(Scope::Input, key) {
            self.overlay = None;
            return true;
        }
        let page = self.feed_rows();
        match movement(self.keymap.lookup(Scope::Navigation, key), page) {
            // help_scroll clamps (0 ..= 200): Top and Bottom land on either end.
            Some(step) => self.help_scroll(step.delta()),
            None => {
                // Quit, tab switching and `?` still work; anything else is swallowed so a
                // stray key does not act behind the overlay.
                if let Some(command) = self.keymap.lookup(Scope::Global, key) {
                    effects.extend(self.global(command));
                }
            }
        }
        true
    }

    /// The filter prompt's result goes to the Problems list while it is open, else to
    /// the pane.
    fn apply_filter_here(&mut self, filter: Option<Filter>) {
        if self.problems.open {
            self.problems.set_filter(filter);
        } else {
            self.apply_pane_filter(filter);
        }
    }

    /// Open the filter prompt on the filter in force (`None`: none).
    pub(super) fn open_filter(&mut self, source: Option<String>) {
        self.clear_notice(NoticeTopic::Filter);
        self.overlay = Some(Overlay::Filter(FilterEdit::new(source)));
    }

    fn filter_key(&mut self, key: KeyEvent) -> bool {
        let Some(Overlay::Filter(edit)) = &mut self.overlay else {
            return false;
        };
        match self.keymap.lookup(Scope::Input, &key) {
            Some(Command::Accept) => {
                if edit.error.is_some() {
                    // Refused: the prompt stays with its caret; the pane keeps showing
                    // the filter in force before the prompt opened.
                    edit.refused = true;
                    return true;
                }
                let accepted = Filter::parse(edit.input.value())
                    .ok()
                    .filter(|f| !f.is_empty());
                self.overlay = None;
                self.apply_filter_here(accepted);
                return true;
            }
            Some(Command::Cancel) => {
                let original = edit.original.take();
                self.overlay = None;
                self.apply_filter_here(original.and_then(|s| Filter::parse(&s).ok()));
                return true;
            }
            _ => {}
        }
        if edit
            .input
            .handle_event(&crossterm::event::Event::Key(key))
            .is_some()
        {
            edit.refused = false;
            let was_error = edit.error.is_some();
            let preview = match Filter::parse(edit.input.value()) {
                Ok(filter) => {
                    edit.error = None;
                    (!filter.is_empty()).then_some(filter)
                }
                Err(e) => {
                    edit.error = Some((e.message, e.position));
                    if was_error {
                        return true; // already showing the filter in force
                    }
                    // Back to the filter in force, never a prefix that happened to parse.
                    let original = edit.original.as_deref();
                    original.and_then(|s| Filter::parse(s).ok())
                }
            };
            self.apply_filter_here(preview);
        }
        true
    }

    fn subscribe_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let Some(Overlay::Subscribe(prompt)) = &mut self.overlay else {
            return false;
        };
        match self.keymap.lookup(Scope::Input, &key) {
            Some(Command::Accept) => {
                let name = prompt.input.value().to_string();
                let kind = prompt.kind;
                self.overlay = None;
                if !name.is_empty() {
                    let name = Bytes::from(name);
                    self.info(format!(
                        "subscribing to {} {}…",
                        kind.label(),
                        escape_line(&name)
                    ));
                    self.subscriptions.set_mut(kind).insert(name.clone());
                    effects.push(Effect::Subscribe { kind, name });
                }
            }
            Some(Command::Cancel) => self.overlay = None,
            Some(Command::CycleKind) => prompt.cycle_kind(),
            _ => {
                if prompt
                    .input
                    .handle_event(&crossterm::event::Event::Key(key))
                    .is_some()
                {
                    prompt.text_changed();
                }
            }
        }
        true
    }

    fn unsubscribe_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let Some(Overlay::Unsubscribe(picker)) = &mut self.overlay else {
            return false;
        };
        match self.keymap.lookup(Scope::Input, key) {
            Some(Command::Accept) => {
                let chosen = picker.chosen().cloned();
                self.overlay = None;
                if let Some((kind, name)) = chosen {
                    self.info(format!(
                        "unsubscribing from {} {}…",
                        kind.label(),
                        escape_line(&name)
                    ));
                    self.subscriptions.set_mut(kind).remove(&name);
                    effects.push(Effect::Unsubscribe { kind, name });
                }
                return true;
            }
            Some(Command::Cancel) => {
                self.overlay = None;
                return true;
            }
            _ => {}
        }
        let step = movement(self.keymap.lookup(Scope::Navigation, key), self.feed_rows());
        if let (Some(Overlay::Unsubscribe(picker)), Some(step)) = (&mut self.overlay, step) {
            picker.move_by(step.delta());
        }
        true
    }

    fn detail_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let rows = self.detail_rows();
        let Some(detail) = &mut self.detail else {
            return false;
        };
        match self.keymap.lookup(Scope::Detail, key) {
            Some(Command::Back) => {
                self.detail = None;
                return true;
            }
            Some(Command::ToggleHex) => {
                detail.toggle_hex();
                return true;
            }
            Some(Command::SendAgain) => {
                self.send_again();
                return true;
            }
            Some(Command::CopyPayload) => {
                self.copy_payload(effects);
                return true;
            }
            Some(Command::CycleDecoder) => {
                detail.cycle_decoder();
                return true;
            }
            _ => {}
        }
        match movement(self.keymap.lookup(Scope::Navigation, key), rows) {
            Some(Move::By(delta)) => detail.scroll_by(delta, rows),
            Some(Move::Top) => detail.scroll_top(),
            Some(Move::Bottom) => detail.scroll_bottom(rows),
            None => return false,
        }
        true
    }

    /// A click on a feed row selects that message (and so pauses the feed, like moving).
    fn feed_click(&mut self, row: u16) {
        let body = self.areas().body;
        if row < body.y || row >= body.y + body.height {
            return;
        }
        let rows = self.feed_rows();
        let (start, selected) = self.feed.window(rows);
        let Some(selected) = selected else { return };
        let target = start + usize::from(row - body.y);
        if target >= self.feed.matching_len() {
            return;
        }
        let delta = target as isize - selected as isize;
        self.feed.move_by(delta, rows);
    }

    /// A click on a channel row selects it.
    fn channels_click(&mut self, row: u16) {
        let top = self.areas().body.y + self.channels.title_rows();
        let page = self.channel_rows();
        let Some(at) = row_in_page(row, top, page) else {
            return;
        };
        let c = &self.channels;
        let offset = crate::state::channels::visible_offset(c.offset, c.selected, page);
        let target = offset + at;
        if target < c.rows.len() {
            let delta = target as isize - c.selected as isize;
            self.channels_move(delta);
        }
    }

    /// A click on a pending entry selects it (by its id, like every pending selection).
    fn pending_click(&mut self, row: u16) {
        if self.pending.modal.is_some() {
            return;
        }
        let top = self.areas().body.y + crate::state::pending::LIST_TOP_ROWS;
        let rows = self.pending_rows();
        let Some(at) = row_in_page(row, top, rows) else {
            return;
        };
        let pane = &mut self.pending;
        let len = pane.entries.len();
        // The same first row the list is drawn from (ui/pending.rs).
        let mut start = pane.scroll.min(len.saturating_sub(rows));
        if let Some(s) = pane.selected_index() {
            start = start.min(s).max((s + 1).saturating_sub(rows));
        }
        if let Some(entry) = pane.entries.get(start + at) {
            pane.selected = Some(entry.id);
            pane.keep_visible(rows);
        }
    }

    /// A click on a row of the streams, groups or consumers table selects it.
    fn streams_click(&mut self, row: u16) {
        if self.streams.modal.is_some() || self.streams.entries.is_some() {
            return;
        }
        let top = self.streams.layout(self.areas().body).table.y + 1;
        let page = self.streams_page();
        let Some(at) = row_in_page(row, top, page) else {
            return;
        };
        let pane = &self.streams;
        let (sel, len) = match pane.level {
            crate::state::streams::Level::Streams => (&pane.streams_sel, pane.stream_rows.len()),
            crate::state::streams::Level::Groups => (&pane.groups_sel, pane.group_rows.len()),
            crate::state::streams::Level::Consumers => {
                (&pane.consumers_sel, pane.consumer_rows.len())
            }
        };
        let offset = crate::state::streams::visible_offset(sel.offset, sel.index, page);
        let target = offset + at;
        if target < len {
            let delta = target as isize - sel.index as isize;
            self.streams.move_by(delta, page);
        }
    }

    fn feed_move(&mut self, delta: isize) {
        // Down in live mode would only pause on the newest row: nothing to do.
        if delta > 0 && !self.feed.is_paused() {
            return;
        }
        let rows = self.feed_rows();
        self.feed.move_by(delta, rows);
    }

    fn feed_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let rows = self.feed_rows();
        match self.keymap.lookup(Scope::Feed, key) {
            Some(Command::Filter) => {
                let source = self.feed.filter().map(|f| f.source().to_string());
                self.open_filter(source);
            }
            Some(Command::TogglePause) => self.feed.toggle_pause(rows),
            Some(Command::Open) => self.open_selected(),
            Some(Command::ClearFilter) => {
                if self.feed.filter().is_none() {
                    return false;
                }
                self.feed.set_filter(None);
                self.info_about(NoticeTopic::Filter, "filter cleared".into());
            }
            Some(Command::Subscribe) => {
                self.overlay = Some(Overlay::Subscribe(SubscribePrompt::default()))
            }
            Some(Command::Unsubscribe) => {
                if self.subscriptions.is_empty() {
                    let subscribe = self.keymap.first_key(Scope::Feed, Command::Subscribe);
                    self.info(format!(
                        "no subscriptions to drop; press {subscribe} to subscribe"
                    ));
                } else {
                    self.overlay = Some(Overlay::Unsubscribe(Picker::new(&self.subscriptions)));
                }
            }
            Some(Command::Export) => {
                let messages = self.feed.matching_messages();
                if messages.is_empty() {
                    self.info("nothing to export: no retained messages match".into());
                } else {
                    let name = format!("redtail-{}.jsonl", self.now.format("%Y%m%d-%H%M%S%.3f"));
                    let path = self.config.export_dir.join(name);
                    self.info(format!(
                        "exporting {} messages…",
                        thousands(messages.len() as u64)
                    ));
                    effects.push(Effect::Export { path, messages });
                }
            }
            Some(Command::SendAgain) => self.send_again(),
            Some(Command::CopyPayload) => self.copy_payload(effects),
            Some(Command::ToggleMark) => self.toggle_mark(),
            Some(Command::ClearMarks) => self.clear_marks(),
            Some(Command::Retry) => {
                if let ConnView::Disconnected { .. } = self.conn {
                    self.info("connecting again…".into());
                    effects.push(Effect::Retry);
                } else {
                    self.info("already connected or connecting: nothing to retry".into());
                }
            }
            _ => match movement(self.keymap.lookup(Scope::Navigation, key), rows) {
                Some(Move::By(delta)) => self.feed_move(delta),
                Some(Move::Top) => self.feed.to_top(rows),
                Some(Move::Bottom) => self.feed.to_bottom(),
                None => return false,
            },
        }
        true
    }

    fn open_selected(&mut self) {
        let rows = self.feed_rows();
        let Some(id) = self.feed.selected_id(rows) else {
            return;
        };
        let message = match self.feed.get(id).map(|e| e.item) {
            Some(FeedItem::Message(m)) => m,
            _ => return,
        };
        let width = self.areas().body.width;
        let choice = self
            .config
            .decode
            .choice_for(&message.channel)
            .unwrap_or(crate::decode::Choice::Auto);
        self.detail = Some(DetailState::open_with(id, message, width, choice));
    }
}

/// The row of a `page`-row list starting at screen row `top` that screen row `row` is on.
/// Hands a key to a text input; true when it changed the text (so a shown error about
/// the old text can go).
pub(crate) fn edit_input(input: &mut tui_input::Input, key: &KeyEvent) -> bool {
    input
        .handle_event(&crossterm::event::Event::Key(*key))
        .is_some()
}

fn row_in_page(row: u16, top: u16, page: usize) -> Option<usize> {
    let at = usize::from(row.checked_sub(top)?);
    (at < page).then_some(at)
}

/// Where a navigation key moves a selection or a scroll position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::state) enum Move {
    /// By this many rows (negative: up).
    By(isize),
    Top,
    Bottom,
}

impl Move {
    /// As a row delta for `move_by`-style functions, which clamp: Top and Bottom are
    /// farther than any list is long (and half of `isize`'s range, so adding cannot wrap).
    pub(in crate::state) fn delta(self) -> isize {
        match self {
            Move::By(delta) => delta,
            Move::Top => isize::MIN / 2,
            Move::Bottom => isize::MAX / 2,
        }
    }
}

/// The one mapping of the navigation commands (Up, Down, PageUp, PageDown, Top, Bottom)
/// to a movement, `page` rows being a page. `None` for any other command.
pub(in crate::state) fn movement(command: Option<Command>, page: usize) -> Option<Move> {
    let page = page as isize;
    Some(match command? {
        Command::Up => Move::By(-1),
        Command::Down => Move::By(1),
        Command::PageUp => Move::By(-page),
        Command::PageDown => Move::By(page),
        Command::Top => Move::Top,
        Command::Bottom => Move::Bottom,
        _ => return None,
    })
}
