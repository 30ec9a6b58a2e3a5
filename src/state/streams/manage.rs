//! Group management from the Streams pane: create a group (at `$`, `0` or an id), move
//! it with SETID, destroy it, delete a consumer that holds nothing. Each goes through a
//! confirmation that says what will change, is refused in read-only mode before any
//! prompt, and runs through `redis::actions` (which audits it).

use bytes::Bytes;
use crossterm::event::KeyEvent;
use tui_input::Input;

use super::{Level, StreamsEffect};
use crate::keymap::{Command, Scope};
use crate::redis::actions::GroupStart;
use crate::state::{thousands, AppState, Effect};
use crate::text::escape::escape_line;

/// A change to a stream's groups, with everything it needs (names as the user saw them).
#[derive(Debug, Clone, PartialEq)]
pub enum GroupAction {
    Create {
        stream: Bytes,
        group: Bytes,
        start: GroupStart,
    },
    SetId {
        stream: Bytes,
        group: Bytes,
        start: GroupStart,
    },
    Destroy {
        stream: Bytes,
        group: Bytes,
    },
    DeleteConsumer {
        stream: Bytes,
        group: Bytes,
        consumer: Bytes,
    },
}

impl GroupAction {
    pub fn name(&self) -> &'static str {
        match self {
            GroupAction::Create { .. } => "create group",
            GroupAction::SetId { .. } => "set group id",
            GroupAction::Destroy { .. } => "destroy group",
            GroupAction::DeleteConsumer { .. } => "delete consumer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// `<name> [$|0|id]` for a new group on `stream`.
    Create,
    /// `$|0|id` for the selected group.
    SetId,
}

/// A dialog over the tables.
#[derive(Debug, Clone)]
pub enum StreamsModal {
    Prompt {
        kind: PromptKind,
        stream: Bytes,
        /// The group SETID moves (empty for Create).
        group: Bytes,
        input: Input,
        error: Option<String>,
    },
    Confirm {
        action: GroupAction,
        /// What will change, already escaped.
        text: String,
    },
}

impl AppState {
    /// Start a group action from its key; false when the key is not one.
    pub(super) fn manage_key(&mut self, command: Command) -> bool {
        let wanted = matches!(
            command,
            Command::CreateGroup
                | Command::SetGroupId
                | Command::DestroyGroup
                | Command::DeleteConsumer
        );
        if !wanted {
            return false;
        }
        let streams = &self.streams;
        let group = streams
            .selected_group()
            .filter(|_| streams.level != Level::Streams)
            .map(|(s, g)| (s.key.clone(), g));
        if self.config.read_only.is_on() {
            let action = match command {
                Command::CreateGroup => "group-create",
                Command::SetGroupId => "group-setid",
                Command::DestroyGroup => "group-destroy",
                _ => "consumer-delete",
            };
            let stream = streams.selected_stream().map(|s| s.key.clone());
            let group_name = group.map(|(_, g)| g.name.clone());
            self.refuse_read_only(action, stream, group_name);
            return true;
        }
        let modal = match command {
            Command::CreateGroup => match streams.selected_stream() {
                Some(s) => Ok(StreamsModal::Prompt {
                    kind: PromptKind::Create,
                    stream: s.key.clone(),
                    group: Bytes::new(),
                    input: Input::default(),
                    error: None,
                }),
                None => Err("no stream selected".to_string()),
            },
            Command::SetGroupId => match group {
                Some((stream, g)) => Ok(StreamsModal::Prompt {
                    kind: PromptKind::SetId,
                    stream,
                    group: g.name.clone(),
                    input: Input::default(),
                    error: None,
                }),
                None => Err("select a group first (open the stream)".to_string()),
            },
            Command::DestroyGroup => match group {
                Some((stream, g)) => Ok(StreamsModal::Confirm {
                    text: format!(
                        "Destroy group {} of {}? Its {} pending entries and {} consumers are \
                         forgotten; the entries stay in the stream. Consumers still reading \
                         with it will get NOGROUP errors.",
                        escape_line(&g.name),
                        escape_line(&stream),
                        thousands(g.pending),
                        thousands(g.consumers)
                    ),
                    action: GroupAction::Destroy {
                        stream,
                        group: g.name.clone(),
                    },
                }),
                None => Err("select a group first (open the stream)".to_string()),
            },
            _ => self.delete_consumer_modal(),
        };
        match modal {
            Ok(modal) => self.streams.modal = Some(modal),
            Err(why) => self.info(why),
        }
        true
    }

    /// Only a consumer with nothing pending may go: deleting one that holds entries would
    /// drop them from the pending list without anyone processing them.
    fn delete_consumer_modal(&self) -> Result<StreamsModal, String> {
        let streams = &self.streams;
        if streams.level != Level::Consumers {
            return Err("open a group's consumers to delete one".into());
        }
        let ((stream, group), consumer) = streams
            .selected_group()
            .zip(streams.selected_consumer())
            .ok_or("no consumer selected")?;
        if consumer.pending > 0 {
            let pending_key = self.keymap.first_key(Scope::Streams, Command::GroupPending);
            return Err(format!(
                "{} holds {} pending entries: claim or ack them first ({pending_key}: the \
                 group's pending entries)",
                escape_line(&consumer.name),
                thousands(consumer.pending)
            ));
        }
        Ok(StreamsModal::Confirm {
            text: format!(
                "Delete consumer {} of group {} on {}? It holds no pending entries.",
                escape_line(&consumer.name),
                escape_line(&group.name),
                escape_line(&stream.key)
            ),
            action: GroupAction::DeleteConsumer {
                stream: stream.key.clone(),
                group: group.name.clone(),
                consumer: consumer.name.clone(),
            },
        })
    }

    /// Keys while a dialog is open: every key is the dialog's.
    pub(super) fn modal_key(&mut self, key: &KeyEvent, effects: &mut Vec<Effect>) {
        let input = self.keymap.lookup(Scope::Input, key);
        let dialog = self.keymap.lookup(Scope::Dialog, key);
        match self.streams.modal.take() {
            Some(StreamsModal::Confirm { action, text }) => match (dialog, input) {
                (Some(Command::Confirm), _) => {
                    self.info(format!("{}…", action.name()));
                    effects.push(Effect::Streams(StreamsEffect::Act(action)));
                }
                (Some(Command::Cancel), _) | (_, Some(Command::Cancel)) => {}
                _ => self.streams.modal = Some(StreamsModal::Confirm { action, text }),
            },
            Some(StreamsModal::Prompt {
                kind,
                stream,
                group,
                mut input,
                mut error,
            }) => match self.keymap.lookup(Scope::Input, key) {
                Some(Command::Cancel) => {}
                Some(Command::Accept) => match confirm_prompt(kind, &stream, &group, input.value())
                {
                    Ok(modal) => self.streams.modal = Some(modal),
                    Err(e) => {
                        self.streams.modal = Some(StreamsModal::Prompt {
                            kind,
                            stream,
                            group,
                            input,
                            error: Some(e),
                        })
                    }
                },
                _ => {
                    if crate::state::keys::edit_input(&mut input, key) {
                        error = None;
                    }
                    self.streams.modal = Some(StreamsModal::Prompt {
                        kind,
                        stream,
                        group,
                        input,
                        error,
                    });
                }
            },
            None => {}
        }
    }
}

/// The typed text as an action and its confirmation.
fn confirm_prompt(
    kind: PromptKind,
    stream: &Bytes,
    group: &Bytes,
    text: &str,
) -> Result<StreamsModal, String> {
    let text = text.trim();
    match kind {
        PromptKind::Create => {
            let (name, start) = match text.rsplit_once(' ') {
                Some((name, start)) if start.parse::<GroupStart>().is_ok() => (name.trim(), start),
                _ => (text, "$"),
            };
            if name.is_empty() {
                return Err("type the new group's name, then $, 0 or an id".into());
            }
            let start: GroupStart = start.parse()?;
            let from = match start {
                GroupStart::End => "entries added from now on".to_string(),
                GroupStart::Beginning => "every entry in the stream".to_string(),
                GroupStart::After(id) => format!("entries after {id}"),
            };
            Ok(StreamsModal::Confirm {
                text: format!(
                    "Create group {} on {}, reading {from}?",
                    crate::text::escape::escape_str(name),
                    escape_line(stream)
                ),
                action: GroupAction::Create {
                    stream: stream.clone(),
                    group: Bytes::from(name.to_string()),
                    start,
                },
            })
        }
        PromptKind::SetId => {
            let start: GroupStart = text.parse()?;
            Ok(StreamsModal::Confirm {
                text: format!(
                    "Move group {} of {} to read after {start}? Entries before it are skipped \
                     (or re-delivered when moving back); pending entries stay pending, and \
                     the server reports lag as nil until the group catches up.",
                    escape_line(group),
                    escape_line(stream)
                ),
                action: GroupAction::SetId {
                    stream: stream.clone(),
                    group: group.clone(),
                    start,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_parse_names_and_starts() {
        let s = Bytes::from_static(b"orders");
        let g = Bytes::from_static(b"billing");
        let create = |t: &str| match confirm_prompt(PromptKind::Create, &s, &g, t) {
            Ok(StreamsModal::Confirm {
                action: GroupAction::Create { group, start, .. },
                ..
            }) => Ok((group, start)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(
            create("mailer"),
            Ok((Bytes::from_static(b"mailer"), GroupStart::End))
        );
        assert_eq!(
            create("new workers 0"),
            Ok((Bytes::from_static(b"new workers"), GroupStart::Beginning))
        );
        assert!(create("  ").is_err());
        assert!(confirm_prompt(PromptKind::SetId, &s, &g, "x-y").is_err());
        assert!(matches!(
            confirm_prompt(PromptKind::SetId, &s, &g, "$"),
            Ok(StreamsModal::Confirm {
                action: GroupAction::SetId {
                    start: GroupStart::End,
                    ..
                },
                ..
            })
        ));
    }
}
