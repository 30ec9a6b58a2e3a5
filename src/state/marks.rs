//! Marks in the feed: messages picked with `m` to send again together with `r`.
//!
//! Marks are the marked messages themselves (cheap `Bytes` clones), kept in engine
//! sequence order, so they outlive the feed's eviction and go out in the order they
//! arrived whatever order they were marked in. `r` with marks opens a confirmation
//! ([`SendMarked`]); `y` hands the messages to `app.rs` as one batch for the action
//! layer (read-only refusal, bounded audit).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::feed::FeedItem;
use super::{AppState, Effect, Overlay};
use crate::keymap::{Command, Scope};
use crate::redis::message::{Kind, Message};
use crate::text::{bytes as size, thousands};

/// Most messages marked at once: the batch is one confirmation and a handful of
/// pipelines, and the marks stay a small list.
pub const MAX_MARKS: usize = 1000;

/// The audit action of a marked send (and of its refusal in read-only mode).
pub const ACTION: &str = crate::redis::actions::MARKED_ACTION;

#[derive(Debug, Default)]
pub struct Marks {
    by_seq: BTreeMap<u64, Message>,
    bytes: usize,
}

/// Why a mark was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// [`MAX_MARKS`] reached.
    Count,
    /// The marked payloads would pass this many bytes.
    Bytes(usize),
}

impl Marks {
    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.by_seq.contains_key(&seq)
    }

    /// Payload bytes of the marked messages.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The marked messages in sequence (arrival) order.
    pub fn messages(&self) -> Vec<Message> {
        self.by_seq.values().cloned().collect()
    }

    /// Mark `m`, unless that would pass [`MAX_MARKS`] or `max_bytes` of payload.
    pub fn insert(&mut self, m: Message, max_bytes: usize) -> Result<(), Refused> {
        if self.by_seq.contains_key(&m.seq) {
            return Ok(());
        }
        if self.by_seq.len() >= MAX_MARKS {
            return Err(Refused::Count);
        }
        if self.bytes + m.payload.len() > max_bytes {
            return Err(Refused::Bytes(max_bytes));
        }
        self.bytes += m.payload.len();
        self.by_seq.insert(m.seq, m);
        Ok(())
    }

    pub fn remove(&mut self, seq: u64) -> bool {
        match self.by_seq.remove(&seq) {
            Some(m) => {
                self.bytes -= m.payload.len();
                true
            }
            None => false,
        }
    }

    /// Remove every mark; how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.by_seq.len();
        self.by_seq.clear();
        self.bytes = 0;
        n
    }
}

/// The confirmation `r` opens when messages are marked: exactly what `y` sends.
#[derive(Debug, Clone, PartialEq)]
pub struct SendMarked {
    /// In sequence order.
    pub messages: Vec<Message>,
    pub bytes: u64,
    /// Distinct channels in order of first use, with whether they go by SPUBLISH.
    pub channels: Vec<(Bytes, bool)>,
    /// Messages that go out by SPUBLISH (the rest by PUBLISH).
    pub shard: usize,
}

impl SendMarked {
    pub fn new(messages: Vec<Message>) -> SendMarked {
        let mut channels: Vec<(Bytes, bool)> = Vec::new();
        let mut shard = 0;
        let mut bytes = 0u64;
        for m in &messages {
            let is_shard = m.kind == Kind::SMessage;
            shard += usize::from(is_shard);
            bytes += m.payload.len() as u64;
            if !channels
                .iter()
                .any(|(c, s)| *c == m.channel && *s == is_shard)
            {
                channels.push((m.channel.clone(), is_shard));
            }
        }
        SendMarked {
            messages,
            bytes,
            channels,
            shard,
        }
    }
}

/// What a marked send did, as `app.rs` reports it back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkedDone {
    /// Sequence numbers of the messages the server accepted (their marks are cleared).
    pub sent: Vec<u64>,
    /// Sum of the receiver counts.
    pub receivers: i64,
    /// Messages nobody received.
    pub zero_receivers: u64,
    /// Messages the server refused.
    pub errors: u64,
    /// The first refusal's message.
    pub first_error: Option<String>,
    /// Why the batch stopped before its end (a lost connection), if it did.
    pub stopped: Option<String>,
}

impl AppState {
    /// `m`: mark or unmark the selected feed message.
    pub(super) fn toggle_mark(&mut self) {
        let Some(id) = self.feed.selected_id(self.feed_rows()) else {
            self.info("nothing to mark: the feed is empty".into());
            return;
        };
        let Some(FeedItem::Message(m)) = self.feed.get(id).map(|e| e.item) else {
            self.info("only messages can be marked, not gaps or errors".into());
            return;
        };
        if self.marks.remove(m.seq) {
            self.say_marked("unmarked");
            return;
        }
        if m.kind == Kind::StreamEntry {
            self.info(
                "a stream entry is not a Pub/Sub message: it cannot be marked to send again".into(),
            );
            return;
        }
        if let Some(full) = self.feed.truncated_from(m.seq) {
            self.error(format!(
                "not marked: this message is kept truncated ({} of {}, over --max-bytes), \
                 so it cannot be sent whole; capture it with `redtail tail --format jsonl` \
                 and replay with `redtail publish --from`",
                size(m.payload.len() as u64),
                size(full as u64)
            ));
            return;
        }
        let clear = self.keymap.first_key(Scope::Feed, Command::ClearMarks);
        let send = self.keymap.first_key(Scope::Feed, Command::SendAgain);
        match self.marks.insert(m, self.config.max_bytes) {
            Ok(()) => self.say_marked("marked"),
            Err(Refused::Count) => self.error(format!(
                "not marked: at most {} messages can be marked at once; send them with \
                 {send} or clear them with {clear} first",
                thousands(MAX_MARKS as u64)
            )),
            Err(Refused::Bytes(max)) => self.error(format!(
                "not marked: the marked payloads would pass {} (--max-bytes); send them \
                 with {send} or clear them with {clear} first",
                size(max as u64)
            )),
        }
    }

    fn say_marked(&mut self, what: &str) {
        let send = self.keymap.first_key(Scope::Feed, Command::SendAgain);
        let clear = self.keymap.first_key(Scope::Feed, Command::ClearMarks);
        let n = self.marks.len();
        self.info(format!(
            "{what}: {} marked — {send} sends them again, {clear} clears the marks",
            thousands(n as u64)
        ));
    }

    /// `M`: clear every mark.
    pub(super) fn clear_marks(&mut self) {
        let n = self.marks.clear();
        let text = if n == 0 {
            let mark = self.keymap.first_key(Scope::Feed, Command::ToggleMark);
            format!("no marks to clear ({mark} marks the selected message)")
        } else {
            format!("cleared {} mark{}", thousands(n as u64), plural(n))
        };
        self.info(text);
    }

    /// `r` with marks: the confirmation, or the read-only refusal (audited) at once.
    pub(super) fn send_marked(&mut self) {
        if self.config.read_only.is_on() {
            self.refuse_read_only(ACTION, None, None);
            return;
        }
        let dialog = SendMarked::new(self.marks.messages());
        self.overlay = Some(Overlay::SendMarked(dialog));
    }

    /// Keys of the confirmation: `y` sends, `n`/Esc cancels, anything else waits.
    pub(super) fn send_marked_key(
        &mut self,
        key: &crossterm::event::KeyEvent,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let confirm = self.keymap.lookup(Scope::Dialog, key) == Some(Command::Confirm);
        let cancel = self.keymap.lookup(Scope::Dialog, key) == Some(Command::Cancel)
            || self.keymap.lookup(Scope::Input, key) == Some(Command::Cancel);
        if cancel {
            self.overlay = None;
            self.info("not sent; the marks are kept".into());
        } else if confirm {
            if let Some(Overlay::SendMarked(dialog)) = self.overlay.take() {
                let n = dialog.messages.len() as u64;
                self.info(format!(
                    "sending {} marked message{}…",
                    thousands(n),
                    plural(n as usize)
                ));
                effects.push(Effect::PublishMarked(dialog.messages));
            }
        }
        true
    }

    /// The answer of a marked send: a notice; the marks of what was sent are cleared.
    pub(super) fn on_marked_sent(&mut self, result: Result<MarkedDone, String>) {
        let done = match result {
            Ok(done) => done,
            Err(e) => {
                self.error(format!(
                    "marked messages not sent: {}; the marks are kept",
                    crate::text::escape::escape_str(&e)
                ));
                return;
            }
        };
        for seq in &done.sent {
            self.marks.remove(*seq);
        }
        let sent = done.sent.len();
        let mut text = format!(
            "sent {} marked message{} again: {} receiver{} in total, {} reached nobody",
            thousands(sent as u64),
            plural(sent),
            thousands(done.receivers.max(0) as u64),
            plural(done.receivers.max(0) as usize),
            thousands(done.zero_receivers)
        );
        if done.errors == 0 && done.stopped.is_none() {
            self.info(text);
            return;
        }
        if done.errors > 0 {
            text.push_str(&format!(
                "; {} refused ({})",
                thousands(done.errors),
                crate::text::escape::escape_str(done.first_error.as_deref().unwrap_or("?"))
            ));
        }
        if let Some(why) = &done.stopped {
            text.push_str(&format!(
                "; stopped early: {}",
                crate::text::escape::escape_str(why)
            ));
        }
        text.push_str(&format!(
            "; {} not sent stay marked",
            thousands(self.marks.len() as u64)
        ));
        self.error(text);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use chrono::{DateTime, Utc};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::redis::actions::ReadOnly;
    use crate::redis::message::Delivery;
    use crate::redis::subscriber::Subscriptions;
    use crate::state::tests::notice_text;
    use crate::state::{Config, Event};

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn ch(c: char) -> Event {
        key(KeyCode::Char(c))
    }

    fn message(seq: u64, kind: Kind, channel: &str, payload: &[u8]) -> Message {
        Message {
            seq,
            received: t(0),
            kind,
            pattern: None,
            channel: Bytes::copy_from_slice(channel.as_bytes()),
            payload: Bytes::copy_from_slice(payload),
        }
    }

    /// A state whose feed holds `messages` (oldest first).
    fn state(messages: Vec<Message>, read_only: ReadOnly, max_bytes: usize) -> AppState {
        let config = Config {
            export_dir: PathBuf::from("/exports"),
            read_only,
            max_bytes,
            ..Config::default()
        };
        let mut s = AppState::new(config, Subscriptions::default(), t(0));
        let batch = messages.into_iter().map(Delivery::Message).collect();
        s.update(Event::Deliveries(batch), t(1));
        s
    }

    fn five() -> AppState {
        let messages = (1..=5)
            .map(|i| {
                let kind = if i == 2 {
                    Kind::SMessage
                } else {
                    Kind::Message
                };
                message(i, kind, &format!("ch{}", i % 2), format!("m{i}").as_bytes())
            })
            .collect();
        state(messages, ReadOnly::off(), 64 << 20)
    }

    fn seqs(s: &AppState) -> Vec<u64> {
        s.marks.messages().iter().map(|m| m.seq).collect()
    }

    #[test]
    fn m_toggles_a_mark_on_the_selected_message_and_marks_keep_seq_order() {
        let mut s = five();
        s.update(ch('m'), t(2)); // live: the newest (5)
        s.update(ch('k'), t(2)); // 4
        s.update(ch('k'), t(2)); // 3
        s.update(ch('m'), t(2));
        s.update(ch('k'), t(2)); // 2
        s.update(ch('k'), t(2)); // 1
        s.update(ch('m'), t(2));
        assert_eq!(seqs(&s), vec![1, 3, 5], "in seq order, not marking order");
        assert_eq!(s.marks.bytes(), 6);
        s.update(ch('m'), t(2)); // 1 again: unmarked
        assert_eq!(seqs(&s), vec![3, 5]);
        let notice = notice_text(&s);
        assert!(notice.starts_with("unmarked: 2 marked"), "{notice}");
    }

    #[test]
    fn capital_m_clears_every_mark() {
        let mut s = five();
        s.update(ch('m'), t(2));
        s.update(ch('k'), t(2));
        s.update(ch('m'), t(2));
        assert_eq!(s.marks.len(), 2);
        s.update(ch('M'), t(2));
        assert!(s.marks.is_empty());
        assert_eq!(s.marks.bytes(), 0);
        let notice = notice_text(&s);
        assert_eq!(notice, "cleared 2 marks");
    }

    #[test]
    fn marks_are_capped_by_count_and_by_bytes() {
        let mut marks = Marks::default();
        for seq in 0..MAX_MARKS as u64 {
            assert_eq!(
                marks.insert(message(seq, Kind::Message, "c", b"x"), 1 << 20),
                Ok(())
            );
        }
        let one_more = message(MAX_MARKS as u64, Kind::Message, "c", b"x");
        assert_eq!(marks.insert(one_more, 1 << 20), Err(Refused::Count));
        assert_eq!(marks.len(), MAX_MARKS);
        let mut marks = Marks::default();
        assert_eq!(
            marks.insert(message(1, Kind::Message, "c", &[7; 60]), 100),
            Ok(())
        );
        assert_eq!(
            marks.insert(message(2, Kind::Message, "c", &[7; 41]), 100),
            Err(Refused::Bytes(100))
        );
        assert_eq!(
            marks.insert(message(3, Kind::Message, "c", &[7; 40]), 100),
            Ok(())
        );

        // Through the key: the refusal says so and names the keys that make room.
        let mut s = five();
        for seq in 100..100 + MAX_MARKS as u64 {
            let m = message(seq, Kind::Message, "old", b"x");
            assert_eq!(s.marks.insert(m, usize::MAX), Ok(()));
        }
        s.update(ch('m'), t(2));
        assert_eq!(s.marks.len(), MAX_MARKS);
        assert!(!s.marks.contains(5));
        let notice = notice_text(&s);
        assert!(notice.contains("at most 1,000"), "{notice}");
        assert!(notice.contains("r or clear them with M"), "{notice}");
    }

    #[test]
    fn stream_entries_and_truncated_messages_cannot_be_marked() {
        let entry = message(1, Kind::StreamEntry, "orders-stream", b"{\"a\":1}");
        let mut s = state(vec![entry], ReadOnly::off(), 64 << 20);
        s.update(ch('m'), t(2));
        assert!(s.marks.is_empty());
        let notice = notice_text(&s);
        assert!(notice.contains("stream entry"), "{notice}");

        // Bigger than the whole --max-bytes budget: the feed keeps it truncated.
        let huge = message(1, Kind::Message, "big", &[b'x'; 4096]);
        let mut s = state(vec![huge], ReadOnly::off(), 1024);
        assert!(s.feed.truncated_from(1).is_some(), "the feed truncated it");
        s.update(ch('m'), t(2));
        assert!(s.marks.is_empty());
        let notice = notice_text(&s);
        assert!(notice.contains("kept truncated"), "{notice}");
    }

    #[test]
    fn r_with_marks_confirms_then_sends_exactly_the_marked_messages_in_seq_order() {
        let mut s = five();
        s.update(ch('k'), t(2)); // 4
        s.update(ch('m'), t(2));
        s.update(ch('k'), t(2)); // 3
        s.update(ch('k'), t(2)); // 2 (shard)
        s.update(ch('m'), t(2));
        assert!(
            s.update(ch('r'), t(3)).is_empty(),
            "nothing is sent before y"
        );
        let Some(Overlay::SendMarked(dialog)) = &s.overlay else {
            panic!("the confirmation opens, not the composer: {:?}", s.overlay);
        };
        assert_eq!(dialog.shard, 1);
        assert_eq!(dialog.bytes, 4);
        assert_eq!(
            dialog.channels,
            vec![
                (Bytes::from_static(b"ch0"), true),
                (Bytes::from_static(b"ch0"), false)
            ]
        );
        // A stray key does nothing; n cancels and keeps the marks.
        assert!(s.update(ch('x'), t(3)).is_empty());
        s.update(ch('n'), t(3));
        assert!(s.overlay.is_none());
        assert_eq!(seqs(&s), vec![2, 4]);
        s.update(ch('r'), t(4));
        let effects = s.update(ch('y'), t(4));
        let five = five();
        let expected: Vec<Message> = [2, 4]
            .iter()
            .filter_map(|&seq| match five.feed.get(seq - 1).map(|e| e.item) {
                Some(FeedItem::Message(m)) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(
            expected.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![2, 4]
        );
        assert_eq!(effects, vec![Effect::PublishMarked(expected)]);
        assert!(s.overlay.is_none());
        assert_eq!(s.marks.len(), 2, "kept until the send succeeds");
    }

    #[test]
    fn a_successful_send_clears_the_marks_a_partial_one_keeps_the_unsent() {
        let mut s = five();
        s.update(ch('m'), t(2));
        s.update(ch('k'), t(2));
        s.update(ch('m'), t(2));
        s.update(ch('k'), t(2));
        s.update(ch('m'), t(2));
        assert_eq!(seqs(&s), vec![3, 4, 5]);
        let partial = MarkedDone {
            sent: vec![3, 5],
            receivers: 2,
            zero_receivers: 1,
            errors: 1,
            first_error: Some("NOPERM \x1b[2J".into()),
            stopped: None,
        };
        s.update(Event::MarkedSent(Ok(partial)), t(3));
        assert_eq!(seqs(&s), vec![4]);
        let notice = notice_text(&s);
        assert!(notice.contains("sent 2 marked messages again"), "{notice}");
        assert!(notice.contains("1 refused (NOPERM \\x1b[2J)"), "{notice}");
        assert!(notice.contains("1 not sent stay marked"), "{notice}");
        let done = MarkedDone {
            sent: vec![4],
            receivers: 3,
            ..MarkedDone::default()
        };
        s.update(Event::MarkedSent(Ok(done)), t(4));
        assert!(s.marks.is_empty());
        let notice = notice_text(&s);
        assert_eq!(
            notice,
            "sent 1 marked message again: 3 receivers in total, 0 reached nobody"
        );
        s.update(ch('m'), t(5));
        s.update(Event::MarkedSent(Err("connection refused".into())), t(5));
        assert_eq!(s.marks.len(), 1, "a failed send keeps the marks");
    }

    #[test]
    fn r_with_marks_in_read_only_mode_is_refused_at_once_and_audited() {
        let messages = vec![message(1, Kind::Message, "a", b"b")];
        let mut s = state(messages, ReadOnly::because("--read-only"), 64 << 20);
        s.update(ch('m'), t(2));
        let effects = s.update(ch('r'), t(2));
        assert!(s.overlay.is_none(), "no dialog");
        assert_eq!(
            effects,
            vec![Effect::AuditRefusal {
                action: ACTION.into(),
                stream: None,
                group: None
            }]
        );
        let notice = notice_text(&s);
        assert!(
            notice.contains("read-only mode: publish-marked is disabled"),
            "{notice}"
        );
    }

    #[test]
    fn r_in_the_detail_view_still_sends_the_open_message_alone() {
        let mut s = five();
        s.update(ch('m'), t(2));
        s.update(key(KeyCode::Enter), t(2));
        assert!(s.detail.is_some());
        s.update(ch('r'), t(2));
        assert!(
            matches!(s.overlay, Some(Overlay::Composer(_))),
            "{:?}",
            s.overlay
        );
    }
}
