//! Keys and answers for the Pending pane: the pane's own keys, its dialogs, and the
//! events app.rs sends back (pages, consumers, previews, action results).

use bytes::Bytes;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::dialog::{
    entries, parse_duration_ms, parse_target, parse_trim, ClaimField, ClaimPicker, ClaimPurpose,
    PendingModal, PromptKind, TextPrompt,
};
use super::{
    ActionResult, PendingAction, PendingEffect, PendingEvent, PendingTarget, LIST_TOP_ROWS,
    RESULT_ROWS,
};
use crate::keymap::{Command, Scope};
use crate::redis::pending::{PendingSort, StreamId};
use crate::state::status::NoticeTopic;
use crate::state::{AppState, Effect, Tab};

impl AppState {
    /// Point the Pending pane at `stream` and `group` (the Streams pane calls this when a
    /// group is selected). It fetches at once when the pane is visible.
    pub fn set_pending_target(&mut self, stream: Bytes, group: Bytes) {
        self.pending.set_target(PendingTarget { stream, group });
    }

    /// Entry rows the pending list has on screen.
    pub fn pending_rows(&self) -> usize {
        let result = if self.pending.result.is_some() {
            RESULT_ROWS
        } else {
            0
        };
        usize::from(
            self.areas()
                .body
                .height
                .saturating_sub(LIST_TOP_ROWS + result),
        )
        .max(1)
    }

    /// A page fetch, when the pane is visible and one is due.
    pub(in crate::state) fn pending_refresh(&mut self) -> Vec<Effect> {
        if self.tab != Tab::Pending {
            return Vec::new();
        }
        let now = self.now;
        self.pending
            .due_fetch(now)
            .map(Effect::Pending)
            .into_iter()
            .collect()
    }

    pub(in crate::state) fn pending_wheel(&mut self, delta: isize) {
        if self.pending.modal.is_none() {
            let rows = self.pending_rows();
            self.pending.move_by(delta, rows);
        }
    }

    pub(in crate::state) fn on_pending_event(&mut self, event: PendingEvent) {
        match event {
            PendingEvent::Page { generation, result } => {
                let now = self.now;
                if self.pending.apply_page(generation, result, now) {
                    let rows = self.pending_rows();
                    self.pending.keep_visible(rows);
                }
            }
            PendingEvent::Consumers { target, result } => {
                let Some(PendingModal::Claim(picker)) = &mut self.pending.modal else {
                    return;
                };
                if picker.target != target {
                    return;
                }
                match result {
                    Ok(rows) => picker.set_consumers(rows),
                    Err(e) => picker.error = Some(format!("could not list the consumers: {e}")),
                }
            }
            PendingEvent::Done { action, result } => {
                self.pending.busy = None;
                self.pending.refresh_soon();
                match result {
                    Ok(report) => {
                        self.pending.marked.clear();
                        self.pending.anchor = None;
                        self.pending.result = Some(ActionResult {
                            text: report.summary.clone(),
                            error: false,
                        });
                        self.info(report.summary);
                    }
                    Err(e) => {
                        let text = format!("{action} failed: {e}");
                        self.pending.result = Some(ActionResult {
                            text: text.clone(),
                            error: true,
                        });
                        self.error(text);
                    }
                }
            }
            PendingEvent::AutoclaimPreview {
                target,
                consumer,
                result,
            } => {
                if !matches!(self.pending.modal, Some(PendingModal::Waiting("autoclaim"))) {
                    return; // cancelled while it was read
                }
                self.pending.modal = None;
                match result {
                    Ok(preview) => self.autoclaim_confirm(target, consumer, preview),
                    Err(e) => self.error(format!("autoclaim preview failed: {e}")),
                }
            }
            PendingEvent::TrimPreview { target, result } => {
                if !matches!(self.pending.modal, Some(PendingModal::Waiting("trim"))) {
                    return;
                }
                self.pending.modal = None;
                match result {
                    Ok(preview) => self.trim_confirm(target, preview),
                    Err(e) => self.error(format!("trim preview failed: {e}")),
                }
            }
        }
    }

    pub(in crate::state) fn pending_key(
        &mut self,
        key: &KeyEvent,
        effects: &mut Vec<Effect>,
    ) -> bool {
        match &self.pending.modal {
            Some(PendingModal::Prompt(_)) => self.prompt_key(key, effects),
            Some(PendingModal::Claim(_)) => self.picker_key(key, effects),
            Some(PendingModal::Confirm(_)) => self.confirm_key(key, effects),
            Some(PendingModal::Waiting(_)) => {
                if self.keymap.lookup(Scope::Input, key) != Some(Command::Cancel) {
                    return false;
                }
                self.pending.modal = None;
                true
            }
            None => self.pane_key(key, effects),
        }
    }

    /// Keys while an entry is open: scroll it, Esc (or Enter) back to the list.
    fn open_entry_key(&mut self, key: &KeyEvent) -> bool {
        let rows = self.pending_rows();
        let width = self.areas().body.width;
        let lines = self.pending.opened().map_or(0, |(_, e)| {
            crate::state::streams::entries::entry_lines(&e, width).len()
        });
        if let Some(Command::Cancel | Command::Accept) = self.keymap.lookup(Scope::Input, key) {
            self.pending.open_entry = None;
            return true;
        }
        let page = rows as isize;
        let delta = match self.keymap.lookup(Scope::Navigation, key) {
            Some(Command::Up) => -1,
            Some(Command::Down) => 1,
            Some(Command::PageUp) => -page,
            Some(Command::PageDown) => page,
            Some(Command::Top) => isize::MIN / 2,
            Some(Command::Bottom) => isize::MAX / 2,
            _ => return false,
        };
        let max = lines.saturating_sub(rows);
        let pane = &mut self.pending;
        pane.entry_scroll = pane.entry_scroll.saturating_add_signed(delta).min(max);
        true
    }

    fn pane_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
        if self.pending.open_entry.is_some() {
            return self.open_entry_key(key);
        }
        let Some(command) = self.keymap.lookup(Scope::Pending, key) else {
            return self.pane_navigation_key(key);
        };
        self.pane_view_command(command) || self.pane_action_command(command, effects)
    }

    /// Moving the selection with the navigation keys.
    fn pane_navigation_key(&mut self, key: &KeyEvent) -> bool {
        let rows = self.pending_rows();
        let page = rows as isize;
        let pane = &mut self.pending;
        match self.keymap.lookup(Scope::Navigation, key) {
            Some(Command::Up) => pane.move_by(-1, rows),
            Some(Command::Down) => pane.move_by(1, rows),
            Some(Command::PageUp) => pane.move_by(-page, rows),
            Some(Command::PageDown) => pane.move_by(page, rows),
            Some(Command::Top) => pane.move_by(isize::MIN / 2, rows),
            Some(Command::Bottom) => pane.move_by(isize::MAX / 2, rows),
            _ => return false,
        }
        true
    }

    /// Commands that change what the pane shows: prompts, sort, marks, pages, the open
    /// entry. False when `command` is not one of them (or does nothing now).
    fn pane_view_command(&mut self, command: Command) -> bool {
        let rows = self.pending_rows();
        let pane = &mut self.pending;
        match command {
            Command::PendingTarget => {
                let current = pane
                    .target
                    .as_ref()
                    .and_then(|t| {
                        let stream = std::str::from_utf8(&t.stream).ok()?;
                        let group = std::str::from_utf8(&t.group).ok()?;
                        Some(format!("{stream} {group}"))
                    })
                    .unwrap_or_default();
                pane.modal = Some(PendingModal::Prompt(TextPrompt::new(
                    PromptKind::Target,
                    current,
                )));
            }
            Command::IdleFilter => {
                let current = pane
                    .min_idle_ms
                    .map(|ms| ms.to_string())
                    .unwrap_or_default();
                pane.modal = Some(PendingModal::Prompt(TextPrompt::new(
                    PromptKind::IdleFilter,
                    current,
                )));
            }
            Command::Filter => {
                let current = pane
                    .consumer
                    .as_ref()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .unwrap_or_default();
                pane.modal = Some(PendingModal::Prompt(TextPrompt::new(
                    PromptKind::ConsumerFilter,
                    current,
                )));
            }
            Command::SortNext => {
                let (sort, descending) = match pane.sort {
                    PendingSort::Id => (PendingSort::Idle, true),
                    PendingSort::Idle => (PendingSort::Deliveries, true),
                    PendingSort::Deliveries => (PendingSort::Consumer, false),
                    PendingSort::Consumer => (PendingSort::Id, false),
                };
                pane.set_sort(sort, descending);
                pane.keep_visible(rows);
            }
            Command::SortReverse => {
                pane.set_sort(pane.sort, !pane.descending);
                pane.keep_visible(rows);
            }
            Command::ToggleMark => {
                pane.toggle_mark();
                pane.move_by(1, rows);
            }
            Command::MarkRange => {
                let marked = pane.range_key();
                if pane.anchor.is_some() {
                    let again = self.keymap.first_key(Scope::Pending, Command::MarkRange);
                    self.info(format!(
                        "range started: move, then press {again} again to mark it"
                    ));
                } else if marked > 0 {
                    self.info(format!("marked {}", entries(marked)));
                }
            }
            Command::ClearMarks => {
                if pane.marked.is_empty() && pane.anchor.is_none() {
                    return false;
                }
                pane.marked.clear();
                pane.anchor = None;
            }
            Command::NextPage => {
                if pane.next_page() {
                    self.clear_notice(NoticeTopic::Paging);
                } else {
                    self.info_about(NoticeTopic::Paging, "this is the last page".into());
                }
            }
            Command::Open => {
                let Some(entry) = pane.selected_entry() else {
                    return false;
                };
                if entry.deleted {
                    self.info(
                        "that entry was deleted from the stream: only its id is pending".into(),
                    );
                } else {
                    pane.open_entry = Some(entry.id);
                    pane.entry_scroll = 0;
                }
            }
            Command::FirstPage => {
                pane.first_page();
                self.clear_notice(NoticeTopic::Paging);
            }
            Command::Refresh => pane.refresh_soon(),
            _ => return false,
        }
        true
    }

    /// The mutating commands: each passes [`Self::gate`] first.
    fn pane_action_command(&mut self, command: Command, effects: &mut Vec<Effect>) -> bool {
        match command {
            Command::Ack => {
                if let Some((target, ids)) = self.gate("ack", true) {
                    self.info(format!("acking {}…", entries(ids.len())));
                    self.dispatch(target, PendingAction::Ack { ids }, effects);
                }
            }
            Command::Claim => {
                if let Some((target, ids)) = self.gate("claim", true) {
                    self.open_picker(target, ClaimPurpose::Claim { ids }, effects);
                }
            }
            Command::Autoclaim => {
                if let Some((target, _)) = self.gate("autoclaim", false) {
                    self.open_picker(target, ClaimPurpose::Autoclaim, effects);
                }
            }
            Command::DeadLetter => {
                if let Some((target, ids)) = self.gate("dead-letter", true) {
                    self.dead_letter_confirm(target, ids);
                }
            }
            Command::DeleteEntries => {
                if let Some((target, ids)) = self.gate("delete", true) {
                    self.delete_confirm(target, ids);
                }
            }
            Command::Trim => {
                if self.gate("trim", false).is_some() {
                    self.pending.modal = Some(PendingModal::Prompt(TextPrompt::new(
                        PromptKind::Trim,
                        String::new(),
                    )));
                }
            }
            _ => return false,
        }
        true
    }

    /// Whether `action` may start now; the target and the ids (in display order) it would
    /// act on. Says why not otherwise.
    fn gate(&mut self, action: &str, needs_ids: bool) -> Option<(PendingTarget, Vec<StreamId>)> {
        if self.config.read_only.is_on() {
            let target = self.pending.target.clone();
            self.refuse_read_only(
                action,
                target.as_ref().map(|t| t.stream.clone()),
                target.map(|t| t.group),
            );
            return None;
        }
        if let Some(busy) = self.pending.busy {
            self.info(format!("wait: {busy} is still running"));
            return None;
        }
        let Some(target) = self.pending.target.clone() else {
            let target = self
                .keymap
                .first_key(Scope::Pending, Command::PendingTarget);
            self.info(format!("choose a stream and group first (press {target})"));
            return None;
        };
        let ids = self.pending.action_ids();
        if needs_ids && ids.is_empty() {
            self.info(format!("{action}: no entry selected"));
            return None;
        }
        Some((target, ids))
    }

    pub(super) fn dispatch(
        &mut self,
        target: PendingTarget,
        action: PendingAction,
        effects: &mut Vec<Effect>,
    ) {
        if action.mutates() {
            self.pending.busy = Some(action.name());
        }
        effects.push(Effect::Pending(PendingEffect::Act { target, action }));
    }

    fn open_picker(
        &mut self,
        target: PendingTarget,
        purpose: ClaimPurpose,
        effects: &mut Vec<Effect>,
    ) {
        let known = self.pending.known_consumers();
        let holders = match &purpose {
            ClaimPurpose::Claim { ids } => {
                let mut holders: Vec<Bytes> = (self.pending.entries.iter())
                    .filter(|e| ids.contains(&e.id))
                    .map(|e| e.consumer.clone())
                    .collect();
                holders.dedup();
                holders
            }
            ClaimPurpose::Autoclaim => Vec::new(),
        };
        self.pending.modal = Some(PendingModal::Claim(ClaimPicker::new(
            target.clone(),
            purpose,
            known,
            holders,
        )));
        // The page only shows consumers holding entries; a healthy, idle-free worker
        // usually holds none, so ask the server for the whole list.
        effects.push(Effect::Pending(PendingEffect::Consumers { target }));
    }

    fn prompt_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let Some(PendingModal::Prompt(prompt)) = &mut self.pending.modal else {
            return false;
        };
        match self.keymap.lookup(Scope::Input, key) {
            Some(Command::Cancel) => self.pending.modal = None,
            Some(Command::Accept) => {
                let (kind, text) = (prompt.kind, prompt.input.value().to_string());
                match self.accept_prompt(kind, &text, effects) {
                    Ok(()) => {}
                    Err(e) => {
                        if let Some(PendingModal::Prompt(prompt)) = &mut self.pending.modal {
                            prompt.error = Some(e);
                        }
                    }
                }
            }
            _ => {
                if crate::state::keys::edit_input(&mut prompt.input, key) {
                    prompt.error = None;
                }
            }
        }
        true
    }

    /// Apply a prompt's text; the prompt stays open with the error when it does not parse.
    fn accept_prompt(
        &mut self,
        kind: PromptKind,
        text: &str,
        effects: &mut Vec<Effect>,
    ) -> Result<(), String> {
        match kind {
            PromptKind::Target => {
                let target = parse_target(text)?;
                self.pending.modal = None;
                self.pending.set_target(target);
            }
            PromptKind::IdleFilter => {
                self.pending.min_idle_ms = parse_duration_ms(text)?;
                self.pending.modal = None;
                self.pending.first_page();
            }
            PromptKind::ConsumerFilter => {
                let name = text.trim();
                self.pending.consumer = (!name.is_empty()).then(|| Bytes::from(name.to_string()));
                self.pending.modal = None;
                self.pending.first_page();
            }
            PromptKind::Trim => {
                let strategy = parse_trim(text)?;
                let target = self
                    .pending
                    .target
                    .clone()
                    .ok_or_else(|| "choose a stream first (t)".to_string())?;
                self.pending.modal = Some(PendingModal::Waiting("trim"));
                self.dispatch(target, PendingAction::TrimPreview { strategy }, effects);
            }
        }
        Ok(())
    }

    fn picker_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let Some(PendingModal::Claim(picker)) = &mut self.pending.modal else {
            return false;
        };
        match self.keymap.lookup(Scope::Input, key) {
            Some(Command::Cancel) => {
                self.pending.modal = None;
                return true;
            }
            Some(Command::Accept) => {
                match picker.chosen() {
                    Ok((consumer, min_idle_ms)) => {
                        let (target, purpose) = (picker.target.clone(), picker.purpose.clone());
                        self.picker_done(target, purpose, consumer, min_idle_ms, effects);
                    }
                    Err(e) => picker.error = Some(e),
                }
                return true;
            }
            _ => {}
        }
        if self.keymap.lookup(Scope::Dialog, key) == Some(Command::SwitchField) {
            picker.field = match picker.field {
                ClaimField::Consumer => ClaimField::MinIdle,
                ClaimField::MinIdle => ClaimField::Consumer,
            };
            return true;
        }
        // Letters are names being typed, so only non-character keys move in the list.
        let typing =
            matches!(key.code, KeyCode::Char(_)) && !key.modifiers.contains(KeyModifiers::CONTROL);
        if !typing && picker.field == ClaimField::Consumer {
            let moved = match self.keymap.lookup(Scope::Navigation, key) {
                Some(Command::Up) => Some(-1),
                Some(Command::Down) => Some(1),
                Some(Command::Top) => Some(isize::MIN / 2),
                Some(Command::Bottom) => Some(isize::MAX / 2),
                _ => None,
            };
            if let Some(delta) = moved {
                picker.move_by(delta);
                return true;
            }
        }
        let input = match picker.field {
            ClaimField::Consumer => &mut picker.name,
            ClaimField::MinIdle => &mut picker.min_idle,
        };
        if crate::state::keys::edit_input(input, key) {
            picker.error = None;
            if picker.field == ClaimField::Consumer {
                picker.selected = picker.consumers.len();
                picker.touched = true;
            }
        }
        true
    }

    fn confirm_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let yes = self.keymap.lookup(Scope::Dialog, key) == Some(Command::Confirm);
        let no = self.keymap.lookup(Scope::Dialog, key) == Some(Command::Cancel)
            || self.keymap.lookup(Scope::Input, key) == Some(Command::Cancel);
        if !(yes || no) {
            // Tab switching, help and quit still work; other keys do nothing here.
            return self.keymap.lookup(Scope::Global, key).is_none();
        }
        let Some(PendingModal::Confirm(confirm)) = self.pending.modal.take() else {
            return false;
        };
        if yes {
            if self.config.read_only.is_on() {
                let (stream, group) = (confirm.target.stream, confirm.target.group);
                self.refuse_read_only(confirm.action.name(), Some(stream), Some(group));
                return true;
            }
            self.info(format!("{}…", confirm.title));
            self.dispatch(confirm.target, confirm.action, effects);
        }
        true
    }
}
