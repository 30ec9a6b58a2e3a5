//! The Pending pane's dialogs: one-line prompts (target, filters, trim), the claim
//! picker, confirmations, and the wait for a read-only preview. Plus the small parsers
//! behind the prompts, so a typo is caught before anything is sent.

use bytes::Bytes;
use tui_input::Input;

use super::{ConsumerRow, PendingAction, PendingTarget, DEFAULT_MIN_IDLE_MS};
use crate::redis::actions::TrimStrategy;
use crate::redis::pending::StreamId;
use crate::text::escape::escape_line;

/// Most consumers the picker lists; the typed name covers the rest.
pub const MAX_PICKER_CONSUMERS: usize = 50;

#[derive(Debug, Clone)]
pub enum PendingModal {
    Prompt(TextPrompt),
    Claim(ClaimPicker),
    Confirm(Confirm),
    /// A read-only preview is being read; its answer opens the confirmation.
    Waiting(&'static str),
}

/// Which dialog has the keys; the footer and help are chosen by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialogKind {
    Prompt,
    Picker,
    Confirm,
    Waiting,
}

impl PendingModal {
    pub fn kind(&self) -> DialogKind {
        match self {
            PendingModal::Prompt(_) => DialogKind::Prompt,
            PendingModal::Claim(_) => DialogKind::Picker,
            PendingModal::Confirm(_) => DialogKind::Confirm,
            PendingModal::Waiting(_) => DialogKind::Waiting,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Target,
    IdleFilter,
    ConsumerFilter,
    Trim,
}

impl PromptKind {
    pub fn title(self) -> &'static str {
        match self {
            PromptKind::Target => "stream and group",
            PromptKind::IdleFilter => "only entries idle at least",
            PromptKind::ConsumerFilter => "only entries held by consumer",
            PromptKind::Trim => "trim the stream",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            PromptKind::Target => "stream group   e.g.  jobs workers",
            PromptKind::IdleFilter => "e.g. 60000 (ms), 90s, 5min, 2h — empty: no filter",
            PromptKind::ConsumerFilter => "consumer name — empty: every consumer",
            PromptKind::Trim => "MAXLEN <n> (keep the newest n) or MINID <id> (drop older ids)",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TextPrompt {
    pub kind: PromptKind,
    pub input: Input,
    pub error: Option<String>,
}

impl TextPrompt {
    pub fn new(kind: PromptKind, value: String) -> TextPrompt {
        TextPrompt {
            kind,
            input: Input::new(value),
            error: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimPurpose {
    /// XCLAIM these ids (captured when the picker opened).
    Claim { ids: Vec<StreamId> },
    /// The XAUTOCLAIM sweep over the whole pending list.
    Autoclaim,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimField {
    Consumer,
    MinIdle,
}

/// What the claim confirmations say when min idle is 0.
pub const MIN_IDLE_ZERO_WARNING: &str =
    "⚠ min idle 0 = may take entries a live consumer is working on";

/// Choosing who gets the entries, and how idle they must be.
#[derive(Debug, Clone)]
pub struct ClaimPicker {
    pub target: PendingTarget,
    pub purpose: ClaimPurpose,
    pub consumers: Vec<ConsumerRow>,
    /// Index into `consumers`; `consumers.len()` is the typed-name row.
    pub selected: usize,
    pub name: Input,
    pub min_idle: Input,
    pub field: ClaimField,
    pub error: Option<String>,
    /// The user moved or typed: a list arriving later must not change their choice.
    pub touched: bool,
    /// Who holds the entries being claimed: never preselected (claiming to the holder
    /// only resets the idle time).
    pub holders: Vec<Bytes>,
}

impl ClaimPicker {
    pub fn new(
        target: PendingTarget,
        purpose: ClaimPurpose,
        consumers: Vec<ConsumerRow>,
        holders: Vec<Bytes>,
    ) -> Self {
        let mut picker = ClaimPicker {
            holders,
            target,
            purpose,
            consumers: Vec::new(),
            selected: 0,
            name: Input::default(),
            min_idle: Input::new(DEFAULT_MIN_IDLE_MS.to_string()),
            field: ClaimField::Consumer,
            error: None,
            touched: false,
        };
        picker.set_consumers(consumers);
        picker
    }

    /// Replace the list (XINFO CONSUMERS answered), keeping a name the user chose.
    /// Most recently active first. The preselection rule, the same whenever the list
    /// changes until the user chooses: the most recently active consumer that does not
    /// hold the entries being claimed (a healthy worker other than the stuck one); the
    /// first row if every consumer holds some.
    pub fn set_consumers(&mut self, mut consumers: Vec<ConsumerRow>) {
        let chosen = self
            .consumers
            .get(self.selected)
            .filter(|_| self.touched)
            .map(|c| c.name.clone());
        consumers.sort_by(|a, b| {
            let idle = |c: &ConsumerRow| c.idle_ms.unwrap_or(u64::MAX);
            idle(a).cmp(&idle(b)).then_with(|| a.name.cmp(&b.name))
        });
        consumers.truncate(MAX_PICKER_CONSUMERS);
        self.consumers = consumers;
        let typed_row = self.selected >= self.consumers.len() && !self.name.value().is_empty();
        self.selected = match chosen {
            Some(name) if !typed_row => self
                .consumers
                .iter()
                .position(|c| c.name == name)
                .unwrap_or(0),
            _ if typed_row || self.consumers.is_empty() => self.consumers.len(),
            _ => self
                .consumers
                .iter()
                .position(|c| !self.holders.contains(&c.name))
                .unwrap_or(0),
        };
    }

    pub fn typed_row(&self) -> bool {
        self.selected >= self.consumers.len()
    }

    pub fn move_by(&mut self, delta: isize) {
        self.touched = true;
        self.selected = self
            .selected
            .saturating_add_signed(delta)
            .min(self.consumers.len());
    }

    /// The consumer and min-idle, or what is wrong with them.
    pub fn chosen(&self) -> Result<(Bytes, u64), String> {
        let consumer = if self.typed_row() {
            let name = self.name.value().trim();
            if name.is_empty() {
                return Err("type a consumer name, or pick one with ↑/↓".into());
            }
            Bytes::from(name.to_string())
        } else {
            self.consumers[self.selected].name.clone()
        };
        let text = self.min_idle.value();
        // 0 is allowed (take entries whatever their idle time); the confirmation warns.
        let min_idle = match parse_duration_ms(text)? {
            Some(ms) => ms,
            None if text.trim().is_empty() => {
                return Err(
                    "min idle: give a time, e.g. 60000 (ms) or 60s (0 takes entries whatever their idle time)"
                        .into(),
                )
            }
            None => 0,
        };
        Ok((consumer, min_idle))
    }
}

/// A question before an action that changes the server. `lines` are already escaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    /// What `y` sends: built from what the dialog shows, not re-read at confirm time.
    pub target: PendingTarget,
    pub action: PendingAction,
}

/// `stream group` → the pair; names are single words (quote-free) here.
pub fn parse_target(text: &str) -> Result<PendingTarget, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [stream, group] => Ok(PendingTarget {
            stream: Bytes::from(stream.to_string()),
            group: Bytes::from(group.to_string()),
        }),
        [] => Err("type the stream key and the group name, e.g.  jobs workers".into()),
        [_] => Err("and the group name after the stream, e.g.  jobs workers".into()),
        _ => Err("two words: the stream key, then the group name".into()),
    }
}

/// `60000`, `60000ms`, `90s`, `5m`, `2h` → ms; empty or 0 → `None` (no filter).
pub fn parse_duration_ms(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(format!(
                "{:?}: a number of ms, or with s / min / h, e.g. 90s",
                escape_line(text.as_bytes())
            ))
        }
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!(
            "{:?}: a whole number, e.g. 60000 or 60s",
            escape_line(text.as_bytes())
        )
    })?;
    let ms = n
        .checked_mul(scale)
        .ok_or_else(|| "that is longer than any server keeps time".to_string())?;
    Ok((ms > 0).then_some(ms))
}

/// `MAXLEN 1000` or `MINID 1700000000000-0` (case-insensitive keyword).
pub fn parse_trim(text: &str) -> Result<TrimStrategy, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [how, threshold] = words.as_slice() else {
        return Err("MAXLEN <n> or MINID <id>, e.g. MAXLEN 1000".into());
    };
    match how.to_ascii_uppercase().as_str() {
        "MAXLEN" => threshold
            .parse::<u64>()
            .map(TrimStrategy::MaxLen)
            .map_err(|_| "MAXLEN takes a whole number of entries to keep".into()),
        "MINID" => threshold
            .parse::<StreamId>()
            .map(TrimStrategy::MinId)
            .map_err(|e| e.to_string()),
        _ => Err(format!(
            "{:?}: MAXLEN or MINID",
            escape_line(how.as_bytes())
        )),
    }
}

/// Ids as text for a dialog, shortened after a few.
pub fn list_ids(ids: &[StreamId]) -> String {
    const SHOWN: usize = 4;
    let mut text: Vec<String> = ids.iter().take(SHOWN).map(ToString::to_string).collect();
    if ids.len() > SHOWN {
        text.push(format!("and {} more", ids.len() - SHOWN));
    }
    text.join(", ")
}

/// "1 entry" / "3 entries".
pub fn entries(n: usize) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration_ms(""), Ok(None));
        assert_eq!(parse_duration_ms("0"), Ok(None));
        assert_eq!(parse_duration_ms("60000"), Ok(Some(60_000)));
        assert_eq!(parse_duration_ms("90s"), Ok(Some(90_000)));
        assert_eq!(parse_duration_ms(" 5m "), Ok(Some(300_000)));
        assert_eq!(parse_duration_ms("5min"), Ok(Some(300_000)));
        assert_eq!(parse_duration_ms("2h"), Ok(Some(7_200_000)));
        assert!(parse_duration_ms("5 days").is_err());
        assert!(parse_duration_ms("s").is_err());
        assert!(parse_duration_ms("99999999999999999999h").is_err());
    }

    #[test]
    fn trim_and_target_parse() {
        assert_eq!(parse_trim("maxlen 10"), Ok(TrimStrategy::MaxLen(10)));
        assert_eq!(
            parse_trim("MINID 5-1"),
            Ok(TrimStrategy::MinId(StreamId { ms: 5, seq: 1 }))
        );
        assert!(parse_trim("MAXLEN ten").is_err());
        assert!(parse_trim("KEEP 10").is_err());
        let t = parse_target("  jobs   workers ");
        assert_eq!(
            t.map(|t| (t.stream, t.group)).ok(),
            Some(("jobs".into(), "workers".into()))
        );
        assert!(parse_target("jobs").is_err());
        assert!(parse_target("a b c").is_err());
    }

    #[test]
    fn picker_prefers_active_consumers_and_validates() {
        let row = |name: &'static str, idle: Option<u64>| ConsumerRow {
            name: Bytes::from_static(name.as_bytes()),
            pending: 0,
            idle_ms: idle,
        };
        let target = PendingTarget {
            stream: "s".into(),
            group: "g".into(),
        };
        let mut p = ClaimPicker::new(
            target.clone(),
            ClaimPurpose::Autoclaim,
            vec![row("w3", None)],
            Vec::new(),
        );
        assert_eq!(
            p.chosen().map(|c| c.0).ok(),
            Some(Bytes::from_static(b"w3"))
        );
        p.set_consumers(vec![row("w3", Some(900_000)), row("w2", Some(10))]);
        assert_eq!(p.consumers[0].name, "w2");
        assert_eq!(
            p.chosen().map(|c| c.0).ok(),
            Some(Bytes::from_static(b"w2")),
            "the default follows the list"
        );
        p.move_by(1);
        p.set_consumers(vec![
            row("w3", Some(900)),
            row("w2", Some(10)),
            row("w1", Some(1)),
        ]);
        assert_eq!(
            p.chosen().map(|c| c.0).ok(),
            Some(Bytes::from_static(b"w3")),
            "a choice stays"
        );
        p.move_by(10);
        assert!(p.typed_row());
        assert!(p.chosen().is_err(), "typed row without a name");
        p.name = Input::new("fresh".into());
        p.min_idle = Input::new("2m".into());
        assert_eq!(p.chosen(), Ok((Bytes::from_static(b"fresh"), 120_000)));
        // 0 is allowed (the confirmation warns); an empty field says 0 is possible.
        p.min_idle = Input::new("0".into());
        assert_eq!(p.chosen(), Ok((Bytes::from_static(b"fresh"), 0)));
        p.min_idle = Input::new(" ".into());
        assert!(p.chosen().is_err_and(|e| e.contains("0 takes entries")));

        // Claiming: the holder of the entries is never preselected, whatever the order.
        let ids = vec![StreamId { ms: 1, seq: 0 }];
        let mut p = ClaimPicker::new(
            target,
            ClaimPurpose::Claim { ids },
            vec![row("stuck", None), row("w2", None)],
            vec![Bytes::from_static(b"stuck")],
        );
        assert_eq!(p.chosen().map(|c| c.0).ok(), Some("w2".into()));
        p.set_consumers(vec![row("stuck", Some(1)), row("w2", Some(50))]);
        assert_eq!(
            p.chosen().map(|c| c.0).ok(),
            Some("w2".into()),
            "same rule when XINFO CONSUMERS answers"
        );
    }
}
