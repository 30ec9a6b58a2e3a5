//! Keys and answers for the Streams pane: drilling from streams to groups to consumers,
//! sort and filter, handing a group to the Pending pane, and the entries browser.

use bytes::Bytes;
use crossterm::event::KeyEvent;

use super::entries::{entry_lines, parse_jump, EntriesRequest, JumpPrompt};
use super::{server_now_ms, Level, StreamsEffect, StreamsEvent};
use crate::filter::Filter;
use crate::keymap::{Command, Scope};
use crate::state::keys::movement;
use crate::state::status::NoticeTopic;
use crate::state::{AppState, Effect, Tab};
use crate::text::escape::escape_line;

impl AppState {
    /// Table rows on screen at the current level (or entry rows in the browser).
    pub fn streams_page(&self) -> usize {
        let body = self.areas().body;
        match &self.streams.entries {
            Some(b) => b.layout(body).list_rows(),
            None => self.streams.layout(body).rows(),
        }
    }

    /// Run after every event: rebuild the tables when the pane is shown and stale.
    pub(in crate::state) fn streams_after_event(&mut self) {
        if self.tab == Tab::Streams {
            let page = self.streams_page();
            self.streams.refresh(page);
        }
    }

    /// After a jump, say which way the page goes from the point typed: the selected
    /// entry is the newest at or before it, newer entries above, older below.
    fn say_where_a_jump_landed(&mut self, request: EntriesRequest) {
        let offset = self.config.utc_offset;
        let Some(browser) = self.streams.entries.as_mut() else {
            return;
        };
        if browser.shown != Some(request) {
            return; // an empty answer: the browser already said where the edge is
        }
        let point = match request {
            EntriesRequest::AtTime(ms) => jump_time_text(ms, offset),
            EntriesRequest::AtId(id) => id.to_string(),
            _ => return,
        };
        browser.note = Some(format!(
            "showing entries at or before {point}, newest first — the selected entry is the \
             newest at or before it; newer ones are above it"
        ));
    }

    /// A rescan the user asked for has finished: its "scanning…" note gives way to what
    /// it found.
    fn rescan_progress(&mut self) {
        let Some(after) = self.streams.rescan_after else {
            return;
        };
        let scan = &self.streams.poll.scan;
        if scan.passes_completed > after {
            let found = scan.streams_found;
            self.streams.rescan_after = None;
            // Only replace the note itself: a newer notice stays.
            if self.notice.as_ref().map(|n| n.topic) == Some(Some(NoticeTopic::Scan)) {
                let noun = if found == 1 { "stream" } else { "streams" };
                self.info(format!("keyspace scanned: {found} {noun} found"));
            }
        }
    }

    pub(in crate::state) fn on_streams_event(&mut self, event: StreamsEvent) -> Vec<Effect> {
        match event {
            StreamsEvent::Poll(poll) => {
                self.streams.on_poll(poll);
                self.rescan_progress();
                // The entries browser follows new entries while the user watches the top.
                let last = self
                    .streams
                    .entries
                    .as_ref()
                    .and_then(|b| super::find_stream(self.streams.snapshot()?, &b.key))
                    .and_then(|s| s.last_entry_id);
                if let Some(browser) = &mut self.streams.entries {
                    if let Some((generation, request)) = browser.follow(last) {
                        return vec![entries_effect(&browser.key, generation, request)];
                    }
                }
            }
            StreamsEvent::Entries {
                key,
                generation,
                request,
                result,
            } => {
                if self.streams.entries.as_ref().is_some_and(|b| b.key == key) {
                    match self.streams.on_entries(generation, request, result) {
                        Some(Err(e)) => self.error(format!("cannot read entries: {e}")),
                        Some(Ok(())) => self.say_where_a_jump_landed(request),
                        None => {}
                    }
                    // A full page can still end at the newest entry: the last poll knows.
                    let last = self
                        .streams
                        .snapshot()
                        .and_then(|s| super::find_stream(s, &key))
                        .and_then(|s| s.last_entry_id);
                    if let (Some(browser), Some(last)) = (self.streams.entries.as_mut(), last) {
                        if browser.entries.first().is_some_and(|e| e.id >= last) {
                            browser.at_newest = true;
                        }
                    }
                }
            }
            StreamsEvent::Done { action, result } => {
                match result {
                    Ok(summary) => self.info(summary),
                    Err(e) => self.error(format!("{action} failed: {e}")),
                }
                // Show the change now rather than at the next poll.
                return vec![Effect::Streams(StreamsEffect::PollNow)];
            }
        }
        Vec::new()
    }

    pub(in crate::state) fn streams_wheel(&mut self, delta: isize) {
        if self.streams.modal.is_some() {
            return;
        }
        let page = self.streams_page();
        let body = self.areas().body;
        let width = body.width;
        match &mut self.streams.entries {
            Some(b) if b.expanded => {
                let rows = b.layout(body).detail_rows();
                let lines = b.selected().map_or(0, |e| entry_lines(e, width).len());
                b.scroll_by(delta, lines, rows);
            }
            Some(b) => b.move_by(delta, page),
            None => self.streams.move_by(delta, page),
        }
    }

    /// The `/` prompt edits the shown pane's filter (it is shared by the panes).
    pub(in crate::state) fn apply_pane_filter(&mut self, filter: Option<Filter>) {
        if self.tab == Tab::Streams {
            self.streams.set_filter(filter);
        } else if self.tab == Tab::Keyspace {
            self.keyspace.set_filter(filter);
        } else {
            self.apply_filter(filter);
        }
    }

    pub(in crate::state) fn streams_key(
        &mut self,
        key: &KeyEvent,
        effects: &mut Vec<Effect>,
    ) -> bool {
        if self.streams.modal.is_some() {
            self.modal_key(key, effects);
            return true;
        }
        if self.streams.entries.is_some() {
            return self.entries_key(key, effects);
        }
        let page = self.streams_page();
        match self.keymap.lookup(Scope::Streams, key) {
            Some(Command::DrillIn) => {
                if !self.streams.drill_in() && self.streams.level == Level::Groups {
                    self.info("no group selected".into());
                }
            }
            Some(Command::DrillOut) => {
                if !self.streams.drill_out() {
                    if self.streams.filter().is_none() {
                        return false;
                    }
                    self.streams.set_filter(None);
                    self.info_about(NoticeTopic::Filter, "filter cleared".into());
                }
            }
            Some(Command::Filter) => {
                // The filter narrows the streams table: show it while typing.
                self.streams.level = Level::Streams;
                self.streams.mark_stale();
                let source = self.streams.filter().map(|f| f.source().to_string());
                self.open_filter(source);
            }
            Some(Command::SortNext) => self.streams.cycle_sort(false),
            Some(Command::SortReverse) => self.streams.cycle_sort(true),
            Some(Command::BrowseEntries) => match self.streams.selected_stream() {
                Some(stream) => {
                    let key = stream.key.clone();
                    let (generation, request) = self.streams.open_entries(key.clone());
                    effects.push(entries_effect(&key, generation, request));
                }
                None => self.info("no stream selected".into()),
            },
            Some(Command::GroupPending) => match self.pending_group() {
                Ok((stream, group)) => {
                    self.set_pending_target(stream, group);
                    self.overlay = None;
                    self.tab = Tab::Pending;
                }
                Err(why) => self.info(why),
            },
            Some(Command::Refresh) => {
                self.info("polling streams now…".into());
                effects.push(Effect::Streams(StreamsEffect::PollNow));
            }
            Some(Command::FollowStream) => self.toggle_follow(effects),
            Some(Command::Rediscover) => {
                self.streams.rescan_after = Some(self.streams.poll.scan.passes_completed);
                self.progress(
                    NoticeTopic::Scan,
                    "scanning the keyspace for streams again…".into(),
                );
                effects.push(Effect::Streams(StreamsEffect::Rediscover));
            }
            Some(
                command @ (Command::CreateGroup
                | Command::SetGroupId
                | Command::DestroyGroup
                | Command::DeleteConsumer),
            ) => {
                self.manage_key(command);
            }
            _ => match movement(self.keymap.lookup(Scope::Navigation, key), page) {
                Some(step) => self.streams.move_by(step.delta(), page),
                None => {
                    // The Pending pane's key shows the selected group there (the tab
                    // switch itself is the global binding's).
                    if self.keymap.lookup(Scope::Global, key) == Some(Command::ShowPending) {
                        if let Ok((stream, group)) = self.pending_group() {
                            self.set_pending_target(stream, group);
                        }
                    }
                    return false;
                }
            },
        }
        true
    }

    /// Follow the selected stream's new entries in the feed, or stop following it.
    fn toggle_follow(&mut self, effects: &mut Vec<Effect>) {
        let Some(stream) = self.streams.selected_stream() else {
            self.info("no stream selected".into());
            return;
        };
        let key = stream.key.clone();
        let on = !self.followed_streams.contains(&key);
        let shown = crate::text::escape::escape_line(&key).into_owned();
        if on {
            self.followed_streams.insert(key.clone());
            let feed_key = self.keymap.first_key(Scope::Global, Command::ShowFeed);
            self.info(format!(
                "following {shown} in the feed — see the Feed ({feed_key})"
            ));
        } else {
            self.followed_streams.remove(&key);
            self.info(format!("stopped following {shown}"));
        }
        effects.push(Effect::Streams(StreamsEffect::Follow { key, on }));
    }

    /// The group to show in the Pending pane: the selected one, or a stream's only group.
    fn pending_group(&self) -> Result<(Bytes, Bytes), String> {
        let streams = &self.streams;
        if streams.level != Level::Streams {
            return streams
                .selected_group()
                .map(|(s, g)| (s.key.clone(), g.name.clone()))
                .ok_or_else(|| "no group selected".to_string());
        }
        let Some(stream) = streams.selected_stream() else {
            return Err("no stream selected".into());
        };
        match stream.groups.as_slice() {
            [only] => Ok((stream.key.clone(), only.name.clone())),
            [] => Err(format!(
                "{} has no consumer group: nothing is pending",
                escape_line(&stream.key)
            )),
            _ => {
                let open = self.keymap.first_key(Scope::Streams, Command::DrillIn);
                Err(format!(
                    "{} has {} groups: press {open} and pick one",
                    escape_line(&stream.key),
                    stream.groups.len()
                ))
            }
        }
    }

    fn entries_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let body = self.areas().body;
        let server_now = self
            .streams
            .snapshot()
            .map_or(self.now.timestamp_millis(), |s| server_now_ms(s, self.now));
        let offset = self.config.utc_offset;
        let input_command = self.keymap.lookup(Scope::Input, key);
        let entries_command = self.keymap.lookup(Scope::StreamEntries, key);
        let navigation = self.keymap.lookup(Scope::Navigation, key);
        let Some(browser) = self.streams.entries.as_mut() else {
            return false;
        };
        if let Some(prompt) = &mut browser.jump {
            match input_command {
                Some(Command::Accept) => match parse_jump(prompt.input.value(), server_now, offset)
                {
                    Ok(request) => {
                        browser.jump = None;
                        let (generation, request) = browser.request(request);
                        effects.push(entries_effect(&browser.key, generation, request));
                    }
                    Err(e) => prompt.error = Some(e),
                },
                Some(Command::Cancel) => browser.jump = None,
                _ => {
                    if crate::state::keys::edit_input(&mut prompt.input, key) {
                        prompt.error = None;
                    }
                }
            }
            // Typing must not switch panes or quit: every key is the prompt's.
            return true;
        }
        let layout = browser.layout(body);
        let request = match entries_command {
            Some(Command::DrillIn) => {
                browser.expanded = browser.selected().is_some();
                browser.scroll = 0;
                None
            }
            Some(Command::DrillOut) => {
                if browser.expanded {
                    browser.expanded = false;
                } else {
                    self.streams.entries = None;
                }
                None
            }
            Some(Command::NextPage) => match browser.older() {
                Some(request) => Some(request),
                None => {
                    browser.note = Some("the stream has no entries".into());
                    None
                }
            },
            Some(Command::PrevPage) => Some(browser.newer()),
            Some(Command::Refresh) => Some(EntriesRequest::Newest),
            Some(Command::JumpTo) => {
                browser.jump = Some(JumpPrompt::default());
                None
            }
            _ => {
                let (rows, lines) = if browser.expanded {
                    let lines = browser
                        .selected()
                        .map_or(0, |e| entry_lines(e, body.width).len());
                    (layout.detail_rows(), lines)
                } else {
                    (layout.list_rows(), 0)
                };
                let Some(step) = movement(navigation, rows) else {
                    return false;
                };
                let delta = step.delta();
                if browser.expanded {
                    browser.scroll_by(delta, lines, rows);
                } else {
                    browser.move_by(delta, rows);
                }
                None
            }
        };
        if let Some(request) = request {
            if let Some(browser) = self.streams.entries.as_mut() {
                let (generation, request) = browser.request(request);
                effects.push(entries_effect(&browser.key, generation, request));
            }
        }
        true
    }
}

fn entries_effect(key: &Bytes, generation: u64, request: EntriesRequest) -> Effect {
    Effect::Streams(StreamsEffect::Entries {
        generation,
        key: key.clone(),
        request,
    })
}

/// A jump's time as typed back to the user: date and time in the shown offset, ms kept
/// only when there are some.
pub fn jump_time_text(ms: u64, offset: chrono::FixedOffset) -> String {
    let Some(at) = i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
    else {
        return format!("{ms} ms");
    };
    let local = at.with_timezone(&offset);
    if ms.is_multiple_of(1000) {
        local.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        local.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
    }
}
