//! Keys → [`Command`]s, defined once as a value.
//!
//! The help overlay and the footer are generated from the same table the key handler
//! reads, so what they show is always what the keys do. The table is data (not `match`
//! arms) so a config file can later rebind keys by naming commands.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::{Deserialize, Serialize};

/// Everything a key can ask for. These names are what a config file would bind.
/// `Ord` (declaration order) lets the config keep `[keys]` in a sorted map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Quit,
    Help,
    NextTab,
    PrevTab,
    ShowFeed,
    ShowChannels,
    ShowStreams,
    ShowPending,
    ShowKeyspace,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Filter,
    TogglePause,
    Open,
    ClearFilter,
    Subscribe,
    Unsubscribe,
    Export,
    /// Connect again now (after a refused login, or instead of waiting out the backoff).
    Retry,
    /// Open the publish composer prefilled with the selected message (channel, kind,
    /// payload) to send it again, edited or not.
    SendAgain,
    /// Copy the selected message's payload to the clipboard (OSC 52).
    CopyPayload,
    Back,
    ToggleHex,
    CycleDecoder,
    Accept,
    Cancel,
    CycleKind,
    SortNext,
    SortReverse,
    ToggleClients,
    ToggleNodes,
    SubscribeSelected,
    SubscribePattern,
    Publish,
    Send,
    NextField,
    ToggleShard,
    ToggleJson,
    CycleEncoding,
    PendingTarget,
    Ack,
    Claim,
    Autoclaim,
    DeadLetter,
    DeleteEntries,
    Trim,
    ToggleMark,
    MarkRange,
    ClearMarks,
    IdleFilter,
    NextPage,
    FirstPage,
    Refresh,
    Confirm,
    SwitchField,
    DrillIn,
    DrillOut,
    BrowseEntries,
    GroupPending,
    Rediscover,
    PrevPage,
    JumpTo,
    CreateGroup,
    SetGroupId,
    DestroyGroup,
    DeleteConsumer,
    FollowStream,
    /// Open / close the Problems list (findings about stuck stream work).
    ProblemsList,
    /// Problems list: show the selected finding's group, consumer or entry in its pane.
    ShowEvidence,
    /// Problems list: preview the selected finding's fix (then confirm), or its advice.
    Fix,
    /// Keyspace pane: prompt for a key glob (and events) to follow.
    KeyspaceStart,
    /// Keyspace pane: events ↔ keys table.
    ToggleKeysTable,
    /// Keyspace pane: add the missing notify-keyspace-events flags (confirmed, audited).
    EnableNotifications,
}

impl Command {
    /// What the help overlay says the command does.
    pub fn describe(self) -> &'static str {
        match self {
            Command::Quit => "quit",
            Command::Help => "show / hide this help",
            Command::NextTab => "next pane",
            Command::PrevTab => "previous pane",
            Command::ShowFeed => "feed pane",
            Command::ShowChannels => "channels pane",
            Command::ShowStreams => "streams pane",
            Command::ShowPending => "pending pane",
            Command::ShowKeyspace => "keyspace pane",
            Command::Up => "up one line",
            Command::Down => "down one line",
            Command::PageUp => "page up",
            Command::PageDown => "page down",
            Command::Top => "oldest / top",
            Command::Bottom => "newest; feed: follow again",
            Command::Filter => "filter the pane",
            Command::TogglePause => "pause / follow the tail",
            Command::Open => "open the selected message",
            Command::ClearFilter => "clear the filter",
            Command::Subscribe => "add a subscription",
            Command::Unsubscribe => "drop a subscription",
            Command::Export => "export matches as JSONL",
            Command::Retry => "connect again now",
            Command::SendAgain => "send it again (composer)",
            Command::CopyPayload => "copy the payload (OSC 52)",
            Command::Back => "back to the feed",
            Command::ToggleHex => "toggle hex dump / text",
            Command::CycleDecoder => "next decoder, raw text, hex",
            Command::Accept => "apply",
            Command::Cancel => "cancel",
            Command::CycleKind => "channel → pattern → shard",
            Command::SortNext => "sort by the next column",
            Command::SortReverse => "reverse the sort",
            Command::ToggleClients => "channels / subscriber clients",
            Command::ToggleNodes => "channels / nodes (cluster topology, per-node figures)",
            Command::SubscribeSelected => "subscribe to the selected channel",
            Command::SubscribePattern => "subscribe to its pattern (a:b:* for a:b:c)",
            Command::Publish => "publish a message",
            Command::Send => "publish it",
            Command::NextField => "channel ⇄ payload",
            Command::ToggleShard => "PUBLISH ⇄ SPUBLISH",
            Command::ToggleJson => "check JSON on / off",
            Command::CycleEncoding => "send as raw/msgpack/cbor/gzip/pb",
            Command::PendingTarget => "choose the stream and group",
            Command::Ack => "ack selected / marked",
            Command::Claim => "claim for a consumer",
            Command::Autoclaim => "autoclaim sweep (previewed)",
            Command::DeadLetter => "dead-letter to <stream>:dlq",
            Command::DeleteEntries => "delete from stream (XDEL)",
            Command::Trim => "trim (MAXLEN / MINID)",
            Command::ToggleMark => "mark / unmark the entry",
            Command::MarkRange => "start / mark a range",
            Command::ClearMarks => "clear the marks",
            Command::IdleFilter => "only entries idle at least…",
            Command::NextPage => "next page",
            Command::FirstPage => "first page",
            Command::Refresh => "refresh now",
            Command::Confirm => "yes, do it",
            Command::SwitchField => "consumer ⇄ min idle",
            Command::DrillIn => "open the selected row",
            Command::DrillOut => "back up a level",
            Command::BrowseEntries => "browse the stream's entries",
            Command::GroupPending => "the group's pending entries",
            Command::Rediscover => "rescan the keyspace",
            Command::FollowStream => "follow / stop following in the feed",
            Command::KeyspaceStart => "follow a key glob (events)",
            Command::ToggleKeysTable => "events / keys table",
            Command::EnableNotifications => "enable missing notify flags",
            Command::PrevPage => "previous (newer) page",
            Command::JumpTo => "jump to an id, time or age",
            Command::CreateGroup => "create a consumer group",
            Command::SetGroupId => "move the group (SETID)",
            Command::DestroyGroup => "destroy the group",
            Command::DeleteConsumer => "delete an idle consumer",
            Command::ProblemsList => "problems list: open / close",
            Command::ShowEvidence => "show it in its pane (Streams / Pending)",
            Command::Fix => "fix: preview, then confirm (or the advice)",
        }
    }

    /// The one-word label the footer uses.
    pub fn short(self) -> &'static str {
        match self {
            Command::Quit => "quit",
            Command::Help => "help",
            Command::NextTab | Command::PrevTab => "pane",
            Command::ShowFeed => "feed",
            Command::ShowChannels => "channels",
            Command::ShowStreams => "streams",
            Command::ShowPending => "pending",
            Command::ShowKeyspace => "keyspace",
            Command::Up | Command::Down => "move",
            Command::PageUp | Command::PageDown => "page",
            Command::Top => "top",
            Command::Bottom => "bottom",
            Command::Filter => "filter",
            Command::TogglePause => "pause",
            Command::Open => "open",
            Command::ClearFilter => "clear filter",
            Command::Subscribe => "subscribe",
            Command::Unsubscribe => "unsubscribe",
            Command::Export => "export",
            Command::Retry => "retry",
            Command::SendAgain => "send again",
            Command::CopyPayload => "copy",
            Command::Back => "back",
            Command::ToggleHex => "hex/text",
            Command::CycleDecoder => "decoder",
            Command::Accept => "apply",
            Command::Cancel => "cancel",
            Command::CycleKind => "kind",
            Command::SortNext => "sort",
            Command::SortReverse => "reverse",
            Command::ToggleClients => "clients",
            Command::ToggleNodes => "nodes",
            Command::SubscribeSelected => "subscribe",
            Command::SubscribePattern => "sub pattern",
            Command::Publish => "publish",
            Command::Send => "send",
            Command::NextField => "field",
            Command::ToggleShard => "PUBLISH/SPUBLISH",
            Command::ToggleJson => "JSON check",
            Command::CycleEncoding => "send as",
            Command::PendingTarget => "target",
            Command::Ack => "ack",
            Command::Claim => "claim",
            Command::Autoclaim => "autoclaim",
            Command::DeadLetter => "dead-letter",
            Command::DeleteEntries => "delete",
            Command::Trim => "trim",
            Command::ToggleMark => "mark",
            Command::MarkRange => "range",
            Command::ClearMarks => "unmark",
            Command::IdleFilter => "idle",
            Command::NextPage => "next page",
            Command::FirstPage => "first page",
            Command::Refresh => "refresh",
            Command::Confirm => "yes",
            Command::SwitchField => "field",
            Command::DrillIn => "open",
            Command::DrillOut => "back",
            Command::BrowseEntries => "entries",
            Command::GroupPending => "pending",
            Command::Rediscover => "rescan",
            Command::FollowStream => "follow",
            Command::PrevPage => "newer",
            Command::JumpTo => "jump",
            Command::CreateGroup => "new group",
            Command::SetGroupId => "setid",
            Command::DestroyGroup => "destroy",
            Command::DeleteConsumer => "delete",
            Command::ProblemsList => "problems",
            Command::ShowEvidence => "show",
            Command::Fix => "fix",
            Command::KeyspaceStart => "follow keys",
            Command::ToggleKeysTable => "keys table",
            Command::EnableNotifications => "enable",
        }
    }
}

/// Where a binding applies. The focused mode decides which scopes are asked, in order.
/// The serde names are the config file's `[keys.PLACE]` tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Checked before anything else, even while typing (Ctrl-C).
    Always,
    /// Fallback when the focused pane does not use the key.
    Global,
    /// Scrolling in any list or text (feed, detail, picker, help).
    Navigation,
    Feed,
    Detail,
    Channels,
    /// The publish composer (keys checked before the text fields get them).
    Composer,
    /// Text prompts and pickers (filter, subscribe, unsubscribe).
    Input,
    Pending,
    /// The Pending pane's confirmations and claim picker.
    Dialog,
    /// The Streams pane's tables (streams, groups, consumers).
    Streams,
    /// The Streams pane's entries browser.
    StreamEntries,
    /// The Problems list (findings).
    Problems,
    /// The Keyspace pane (events and keys table).
    Keyspace,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Always | Scope::Global => "Everywhere",
            Scope::Navigation => "Moving",
            Scope::Feed => "Feed",
            Scope::Detail => "Message detail",
            Scope::Channels => "Channels",
            Scope::Composer => "Publish composer",
            Scope::Input => "Prompts",
            Scope::Pending => "Pending entries",
            Scope::Dialog => "Pending dialogs",
            Scope::Streams => "Streams",
            Scope::StreamEntries => "Stream entries",
            Scope::Problems => "Problems",
            Scope::Keyspace => "Keyspace",
        }
    }
}

/// One key chord. Shift is ignored for characters: terminals disagree about reporting it
/// for `G` or `?`, and the character already says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySpec {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl KeySpec {
    pub const fn new(code: KeyCode, modifiers: KeyModifiers) -> KeySpec {
        KeySpec { code, modifiers }
    }
    pub const fn plain(code: KeyCode) -> KeySpec {
        KeySpec::new(code, KeyModifiers::NONE)
    }
    pub const fn ch(c: char) -> KeySpec {
        KeySpec::plain(KeyCode::Char(c))
    }
    pub const fn ctrl(c: char) -> KeySpec {
        KeySpec::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    /// The spec a key event would match.
    pub fn from_event(key: &KeyEvent) -> KeySpec {
        let mut modifiers =
            key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        if matches!(key.code, KeyCode::Char(_) | KeyCode::BackTab) {
            modifiers.remove(KeyModifiers::SHIFT);
        }
        let code = match key.code {
            // Ctrl+letter arrives as lowercase on most terminals, uppercase on some.
            KeyCode::Char(c) if modifiers.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        KeySpec { code, modifiers }
    }

    /// Parse the form [`Display`](fmt::Display) prints, e.g. `ctrl-c`, `PgUp`, `Space`, `G`.
    pub fn parse(text: &str) -> Option<KeySpec> {
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower.strip_prefix("ctrl-") {
                modifiers |= KeyModifiers::CONTROL;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("alt-") {
                modifiers |= KeyModifiers::ALT;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "space" => KeyCode::Char(' '),
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "shift-tab" | "backtab" => KeyCode::BackTab,
            "up" | "↑" => KeyCode::Up,
            "down" | "↓" => KeyCode::Down,
            "left" | "←" => KeyCode::Left,
            "right" | "→" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            _ => {
                let mut chars = rest.chars();
                let c = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                if modifiers.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
        };
        Some(KeySpec { code, modifiers })
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) if self.modifiers.contains(KeyModifiers::CONTROL) => {
                write!(f, "{}", c.to_ascii_uppercase())
            }
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::Backspace => f.write_str("Backspace"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub scope: Scope,
    pub key: KeySpec,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

/// The Problems list's keys (after the panes' in help and the default config).
const PROBLEMS_KEYS: &[(Scope, KeySpec, Command)] = &[
    (
        Scope::Problems,
        KeySpec::plain(KeyCode::Esc),
        Command::ProblemsList,
    ),
    (
        Scope::Problems,
        KeySpec::plain(KeyCode::Enter),
        Command::ShowEvidence,
    ),
    (Scope::Problems, KeySpec::ch('x'), Command::Fix),
    (Scope::Problems, KeySpec::ch('/'), Command::Filter),
];

impl Default for Keymap {
    fn default() -> Self {
        use Command as C;
        use KeyCode as K;
        use Scope as S;
        let mut table: Vec<(Scope, KeySpec, Command)> = vec![
            (S::Always, KeySpec::ctrl('c'), C::Quit),
            (S::Global, KeySpec::ch('q'), C::Quit),
            (S::Global, KeySpec::ch('?'), C::Help),
            (S::Global, KeySpec::plain(K::Tab), C::NextTab),
            (S::Global, KeySpec::plain(K::BackTab), C::PrevTab),
            (S::Global, KeySpec::ch('1'), C::ShowFeed),
            (S::Global, KeySpec::ch('2'), C::ShowChannels),
            (S::Global, KeySpec::ch('3'), C::ShowStreams),
            (S::Global, KeySpec::ch('4'), C::ShowPending),
            (S::Global, KeySpec::ch('5'), C::ShowKeyspace),
            (S::Global, KeySpec::ch('!'), C::ProblemsList),
            (S::Navigation, KeySpec::plain(K::Up), C::Up),
            (S::Navigation, KeySpec::ch('k'), C::Up),
            (S::Navigation, KeySpec::plain(K::Down), C::Down),
            (S::Navigation, KeySpec::ch('j'), C::Down),
            (S::Navigation, KeySpec::plain(K::PageUp), C::PageUp),
            (S::Navigation, KeySpec::ctrl('b'), C::PageUp),
            (S::Navigation, KeySpec::plain(K::PageDown), C::PageDown),
            (S::Navigation, KeySpec::ctrl('f'), C::PageDown),
            (S::Navigation, KeySpec::ch('g'), C::Top),
            (S::Navigation, KeySpec::plain(K::Home), C::Top),
            (S::Navigation, KeySpec::ch('G'), C::Bottom),
            (S::Navigation, KeySpec::plain(K::End), C::Bottom),
            (S::Feed, KeySpec::ch('/'), C::Filter),
            (S::Feed, KeySpec::ch(' '), C::TogglePause),
            (S::Feed, KeySpec::plain(K::Enter), C::Open),
            (S::Feed, KeySpec::plain(K::Esc), C::ClearFilter),
            (S::Feed, KeySpec::ch('s'), C::Subscribe),
            (S::Feed, KeySpec::ch('u'), C::Unsubscribe),
            (S::Feed, KeySpec::ch('e'), C::Export),
            (S::Feed, KeySpec::ch('r'), C::SendAgain),
            (S::Feed, KeySpec::ch('y'), C::CopyPayload),
            (S::Feed, KeySpec::ch('m'), C::ToggleMark),
            (S::Feed, KeySpec::ch('M'), C::ClearMarks),
            (S::Feed, KeySpec::ch('R'), C::Retry),
            (S::Detail, KeySpec::plain(K::Esc), C::Back),
            (S::Detail, KeySpec::ch('h'), C::ToggleHex),
            (S::Detail, KeySpec::ch('r'), C::SendAgain),
            (S::Detail, KeySpec::ch('y'), C::CopyPayload),
            (S::Detail, KeySpec::ch('d'), C::CycleDecoder),
            (S::Channels, KeySpec::ch('/'), C::Filter),
            (S::Channels, KeySpec::plain(K::Esc), C::ClearFilter),
            (S::Channels, KeySpec::ch('o'), C::SortNext),
            (S::Channels, KeySpec::ch('O'), C::SortReverse),
            (S::Channels, KeySpec::plain(K::Enter), C::SubscribeSelected),
            (S::Channels, KeySpec::ch('s'), C::SubscribeSelected),
            (S::Channels, KeySpec::ch('S'), C::SubscribePattern),
            (S::Channels, KeySpec::ch('c'), C::ToggleClients),
            (S::Channels, KeySpec::ch('n'), C::ToggleNodes),
            (S::Channels, KeySpec::ch('p'), C::Publish),
            // Ctrl-S reaches us: raw mode turns off XON/XOFF flow control.
            (S::Composer, KeySpec::ctrl('s'), C::Send),
            (
                S::Composer,
                KeySpec::new(K::Enter, KeyModifiers::ALT),
                C::Send,
            ),
            (S::Composer, KeySpec::plain(K::Tab), C::NextField),
            (S::Composer, KeySpec::plain(K::BackTab), C::NextField),
            // Ctrl-T / Ctrl-O: not taken by the text fields (tui-input uses a/e/b/f/h/k/u/w/y).
            (S::Composer, KeySpec::ctrl('t'), C::ToggleShard),
            (S::Composer, KeySpec::ctrl('o'), C::ToggleJson),
            (S::Composer, KeySpec::ctrl('n'), C::CycleEncoding),
            (S::Composer, KeySpec::plain(K::Esc), C::Cancel),
            (S::Input, KeySpec::plain(K::Enter), C::Accept),
            (S::Input, KeySpec::plain(K::Esc), C::Cancel),
            (S::Input, KeySpec::plain(K::Tab), C::CycleKind),
        ];
        // After the rest: help sections come in the order of their first binding.
        table.extend(pending_and_streams_bindings());
        table.extend(PROBLEMS_KEYS.iter().copied());
        Keymap {
            bindings: table
                .into_iter()
                .map(|(scope, key, command)| Binding {
                    scope,
                    key,
                    command,
                })
                .collect(),
        }
    }
}

/// The Pending and Streams panes and their dialogs (a second table only to keep each
/// function short).
fn pending_and_streams_bindings() -> Vec<(Scope, KeySpec, Command)> {
    use Command as C;
    use KeyCode as K;
    use Scope as S;
    vec![
        (S::Pending, KeySpec::ch('t'), C::PendingTarget),
        (S::Pending, KeySpec::plain(K::Enter), C::Open),
        (S::Pending, KeySpec::ch('a'), C::Ack),
        (S::Pending, KeySpec::ch('c'), C::Claim),
        (S::Pending, KeySpec::ch('A'), C::Autoclaim),
        (S::Pending, KeySpec::ch('d'), C::DeadLetter),
        (S::Pending, KeySpec::ch('x'), C::DeleteEntries),
        (S::Pending, KeySpec::ch('T'), C::Trim),
        (S::Pending, KeySpec::ch(' '), C::ToggleMark),
        (S::Pending, KeySpec::ch('v'), C::MarkRange),
        (S::Pending, KeySpec::plain(K::Esc), C::ClearMarks),
        (S::Pending, KeySpec::ch('o'), C::SortNext),
        (S::Pending, KeySpec::ch('O'), C::SortReverse),
        (S::Pending, KeySpec::ch('i'), C::IdleFilter),
        (S::Pending, KeySpec::ch('/'), C::Filter),
        (S::Pending, KeySpec::ch(']'), C::NextPage),
        (S::Pending, KeySpec::ch('['), C::FirstPage),
        (S::Pending, KeySpec::ch('r'), C::Refresh),
        (S::Dialog, KeySpec::ch('y'), C::Confirm),
        (S::Dialog, KeySpec::ch('n'), C::Cancel),
        (S::Dialog, KeySpec::plain(K::Tab), C::SwitchField),
        (S::Streams, KeySpec::plain(K::Enter), C::DrillIn),
        (S::Streams, KeySpec::plain(K::Right), C::DrillIn),
        (S::Streams, KeySpec::plain(K::Esc), C::DrillOut),
        (S::Streams, KeySpec::plain(K::Left), C::DrillOut),
        (S::Streams, KeySpec::ch('/'), C::Filter),
        (S::Streams, KeySpec::ch('o'), C::SortNext),
        (S::Streams, KeySpec::ch('O'), C::SortReverse),
        (S::Streams, KeySpec::ch('e'), C::BrowseEntries),
        (S::Streams, KeySpec::ch('p'), C::GroupPending),
        (S::Streams, KeySpec::ch('r'), C::Refresh),
        (S::Streams, KeySpec::ch('R'), C::Rediscover),
        (S::Streams, KeySpec::ch('F'), C::FollowStream),
        (S::Streams, KeySpec::ch('n'), C::CreateGroup),
        (S::Streams, KeySpec::ch('s'), C::SetGroupId),
        (S::Streams, KeySpec::ch('D'), C::DestroyGroup),
        (S::Streams, KeySpec::ch('X'), C::DeleteConsumer),
        (S::StreamEntries, KeySpec::plain(K::Enter), C::DrillIn),
        (S::StreamEntries, KeySpec::plain(K::Esc), C::DrillOut),
        (S::StreamEntries, KeySpec::ch(']'), C::NextPage),
        (S::StreamEntries, KeySpec::ch('['), C::PrevPage),
        (S::StreamEntries, KeySpec::ch('t'), C::JumpTo),
        (S::StreamEntries, KeySpec::ch('r'), C::Refresh),
        (S::Keyspace, KeySpec::ch('/'), C::Filter),
        (S::Keyspace, KeySpec::plain(K::Esc), C::ClearFilter),
        (S::Keyspace, KeySpec::ch(' '), C::TogglePause),
        (S::Keyspace, KeySpec::ch('t'), C::ToggleKeysTable),
        (S::Keyspace, KeySpec::ch('o'), C::SortNext),
        (S::Keyspace, KeySpec::ch('O'), C::SortReverse),
        (S::Keyspace, KeySpec::ch('s'), C::KeyspaceStart),
        (S::Keyspace, KeySpec::ch('E'), C::EnableNotifications),
    ]
}

impl Keymap {
    pub fn new(bindings: Vec<Binding>) -> Keymap {
        Keymap { bindings }
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// Replace whatever `key` did in `scope` (the hook for user configuration).
    pub fn bind(&mut self, scope: Scope, key: KeySpec, command: Command) {
        self.bindings
            .retain(|b| !(b.scope == scope && b.key == key));
        self.bindings.push(Binding {
            scope,
            key,
            command,
        });
    }

    pub fn lookup(&self, scope: Scope, key: &KeyEvent) -> Option<Command> {
        let spec = KeySpec::from_event(key);
        self.bindings
            .iter()
            .find(|b| b.scope == scope && b.key == spec)
            .map(|b| b.command)
    }

    /// Keys bound to `command` in `scope`, in table order.
    pub fn keys_for(&self, scope: Scope, command: Command) -> Vec<KeySpec> {
        self.bindings
            .iter()
            .filter(|b| b.scope == scope && b.command == command)
            .map(|b| b.key)
            .collect()
    }

    /// The first key for a command, for a hint in running text ("press c to go back");
    /// "?" when the user's config unbound it.
    pub fn first_key(&self, scope: Scope, command: Command) -> String {
        self.bindings
            .iter()
            .find(|b| b.scope == scope && b.command == command)
            .map_or_else(|| "?".to_string(), |b| b.key.to_string())
    }

    /// "↑/k": every key for a command, for help and footer.
    pub fn keys_label(&self, scope: Scope, command: Command) -> Option<String> {
        let keys = self.keys_for(scope, command);
        if keys.is_empty() {
            return None;
        }
        Some(
            keys.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    /// Help sections: per scope, each command once with all its keys, in table order.
    pub fn help_sections(&self) -> Vec<(&'static str, Vec<(String, &'static str)>)> {
        let mut sections: Vec<(&'static str, Vec<(String, &'static str)>)> = Vec::new();
        let mut seen: Vec<(Scope, Command)> = Vec::new();
        for b in &self.bindings {
            // Ctrl-C (Always) is listed with the other quit keys.
            let scope = if b.scope == Scope::Always {
                Scope::Global
            } else {
                b.scope
            };
            if seen.contains(&(scope, b.command)) {
                continue;
            }
            seen.push((scope, b.command));
            let mut keys = self.keys_for(scope, b.command);
            if scope == Scope::Global {
                keys.extend(self.keys_for(Scope::Always, b.command));
            }
            let label = keys
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("/");
            let title = scope.title();
            match sections.iter_mut().find(|(t, _)| *t == title) {
                Some((_, rows)) => rows.push((label, b.command.describe())),
                None => sections.push((title, vec![(label, b.command.describe())])),
            }
        }
        sections
    }

    /// Footer hints for the given (scope, command) list; commands without a key are left out.
    pub fn footer(&self, wanted: &[(Scope, Command)]) -> Vec<(String, &'static str)> {
        wanted
            .iter()
            .filter_map(|&(scope, command)| {
                let keys = self.keys_for(scope, command);
                // The footer is one line: the first key is enough, help lists the rest.
                keys.first().map(|k| (k.to_string(), command.short()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn shift_is_ignored_for_characters() {
        let map = Keymap::default();
        let g = ev(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(map.lookup(Scope::Navigation, &g), Some(Command::Bottom));
        let q = ev(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(map.lookup(Scope::Global, &q), Some(Command::Help));
        let c = ev(
            KeyCode::Char('C'),
            KeyModifiers::CONTROL | KeyModifiers::SHIFT,
        );
        assert_eq!(map.lookup(Scope::Always, &c), Some(Command::Quit));
    }

    #[test]
    fn rebinding_changes_lookup_and_help() {
        let mut map = Keymap::default();
        map.bind(Scope::Feed, KeySpec::ch('x'), Command::Export);
        map.bind(Scope::Feed, KeySpec::ch('e'), Command::Filter);
        let x = ev(KeyCode::Char('x'), KeyModifiers::NONE);
        assert_eq!(map.lookup(Scope::Feed, &x), Some(Command::Export));
        assert_eq!(
            map.keys_label(Scope::Feed, Command::Export).as_deref(),
            Some("x")
        );
        assert_eq!(
            map.keys_label(Scope::Feed, Command::Filter).as_deref(),
            Some("//e")
        );
        let feed = map.help_sections().into_iter().find(|(t, _)| *t == "Feed");
        let rows = feed.map(|(_, rows)| rows).unwrap_or_default();
        assert!(rows.contains(&("x".to_string(), Command::Export.describe())));
    }

    #[test]
    fn key_specs_round_trip() {
        for text in [
            "Ctrl-C",
            "PgUp",
            "Space",
            "G",
            "?",
            "Shift-Tab",
            "↑",
            "Enter",
            "Alt-x",
        ] {
            let spec = KeySpec::parse(text);
            assert_eq!(spec.map(|s| s.to_string()).as_deref(), Some(text), "{text}");
        }
        assert_eq!(KeySpec::parse("ctrl-c"), Some(KeySpec::ctrl('c')));
        assert_eq!(KeySpec::parse("nope"), None);
    }

    #[test]
    fn commands_are_config_names() {
        let json = serde_json::to_string(&Command::TogglePause).unwrap_or_default();
        assert_eq!(json, "\"toggle_pause\"");
        let back: Result<Command, _> = serde_json::from_str("\"toggle_hex\"");
        assert_eq!(back.ok(), Some(Command::ToggleHex));
    }
}
