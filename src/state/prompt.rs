//! The small modal inputs: filter line, subscribe prompt, unsubscribe picker.

use bytes::Bytes;
use tui_input::Input;

use crate::redis::message::SubKind;
use crate::redis::subscriber::Subscriptions;

/// Editing a pane's filter (feed, channels, streams).
///
/// Live preview: while the text parses, the pane shows what it would keep. While it does
/// not, the pane shows the filter in force before the prompt opened (`original`), never a
/// prefix of the text that happened to parse — that would be a filter nobody typed.
/// Enter on an error is refused: the prompt stays open with a caret under the problem,
/// and nothing new is applied. Esc restores `original`.
#[derive(Debug, Clone, Default)]
pub struct FilterEdit {
    pub input: Input,
    /// The filter source in force before editing: restored on cancel, and shown by the
    /// pane while the text does not parse.
    pub original: Option<String>,
    /// Why the current text does not parse: message and char position.
    pub error: Option<(String, usize)>,
    /// Enter was pressed on this error (the prompt says it was not applied).
    pub refused: bool,
}

impl FilterEdit {
    /// Start editing the filter in force (`None`: no filter).
    pub fn new(source: Option<String>) -> FilterEdit {
        FilterEdit {
            input: Input::new(source.clone().unwrap_or_default()),
            original: source,
            error: None,
            refused: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SubscribePrompt {
    pub input: Input,
    pub kind: SubKind,
    /// The user picked the kind with Tab: stop guessing from the text.
    pub manual: bool,
}

impl Default for SubscribePrompt {
    fn default() -> Self {
        SubscribePrompt {
            input: Input::default(),
            kind: SubKind::Channel,
            manual: false,
        }
    }
}

impl SubscribePrompt {
    /// Glob characters make a name a pattern (what PSUBSCRIBE would treat specially).
    pub fn detect(name: &str) -> SubKind {
        if name.contains(['*', '?', '[']) {
            SubKind::Pattern
        } else {
            SubKind::Channel
        }
    }

    pub fn text_changed(&mut self) {
        if !self.manual {
            self.kind = Self::detect(self.input.value());
        }
    }

    pub fn cycle_kind(&mut self) {
        self.manual = true;
        self.kind = match self.kind {
            SubKind::Channel => SubKind::Pattern,
            SubKind::Pattern => SubKind::Shard,
            SubKind::Shard => SubKind::Channel,
        };
    }
}

/// Choosing a subscription to drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picker {
    pub items: Vec<(SubKind, Bytes)>,
    pub selected: usize,
}

impl Picker {
    pub fn new(subscriptions: &Subscriptions) -> Picker {
        Picker {
            items: subscriptions.iter().map(|(k, n)| (k, n.clone())).collect(),
            selected: 0,
        }
    }

    pub fn move_by(&mut self, delta: isize) {
        let last = self.items.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    pub fn chosen(&self) -> Option<&(SubKind, Bytes)> {
        self.items.get(self.selected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_is_guessed_until_chosen() {
        let mut p = SubscribePrompt {
            input: Input::new("ai:*".into()),
            ..SubscribePrompt::default()
        };
        p.text_changed();
        assert_eq!(p.kind, SubKind::Pattern);
        p.input = Input::new("ai:chat".into());
        p.text_changed();
        assert_eq!(p.kind, SubKind::Channel);
        p.cycle_kind();
        p.cycle_kind();
        assert_eq!(p.kind, SubKind::Shard);
        p.input = Input::new("x*".into());
        p.text_changed();
        assert_eq!(p.kind, SubKind::Shard, "a chosen kind sticks");
    }

    #[test]
    fn picker_lists_every_subscription_and_clamps() {
        let mut subs = Subscriptions::default();
        subs.channels.insert(Bytes::from_static(b"orders"));
        subs.patterns.insert(Bytes::from_static(b"ai:*"));
        subs.shard_channels.insert(Bytes::from_static(b"{u}:1"));
        let mut picker = Picker::new(&subs);
        assert_eq!(picker.items.len(), 3);
        picker.move_by(10);
        assert_eq!(
            picker.chosen(),
            Some(&(SubKind::Shard, Bytes::from_static(b"{u}:1")))
        );
        picker.move_by(-10);
        assert_eq!(
            picker.chosen(),
            Some(&(SubKind::Channel, Bytes::from_static(b"orders")))
        );
        assert_eq!(Picker::new(&Subscriptions::default()).chosen(), None);
    }
}
