//! "Send again" and "copy" on a message: the open one in the detail view, else the
//! selected feed row. Send again opens the publish composer prefilled (`composer.rs`);
//! copy hands the payload to `app.rs` as an effect, which writes the OSC 52 sequence.

use bytes::Bytes;

use super::composer::ComposerState;
use super::feed::FeedItem;
use super::{AppState, Effect, Overlay};
use crate::keymap::{Command, Scope};
use crate::redis::message::{Kind, Message};

/// Largest payload copied to the clipboard. The OSC 52 sequence carries it in base64
/// (4/3 the size); terminals drop or cut longer sequences (xterm and tmux cap them
/// around 100 kB), so a larger payload is refused with a pointer to export instead of
/// arriving cut short.
pub const COPY_MAX: usize = 64 * 1024;

impl AppState {
    /// The message `r` / `y` act on.
    fn acted_on(&self) -> Option<Message> {
        if let Some(detail) = &self.detail {
            return Some(detail.message.clone());
        }
        let id = self.feed.selected_id(self.feed_rows())?;
        match self.feed.get(id)?.item {
            FeedItem::Message(m) => Some(m),
            _ => None,
        }
    }

    /// The message, or a notice saying why there is none to act on (`what`: "send
    /// again", "copy").
    fn usable_message(&mut self, what: &str) -> Option<Message> {
        let Some(m) = self.acted_on() else {
            let up = self.keymap.first_key(Scope::Navigation, Command::Up);
            self.info(format!(
                "nothing to {what}: select a message first ({up} moves up the feed)"
            ));
            return None;
        };
        if m.kind == Kind::StreamEntry {
            self.info(format!(
                "a stream entry is not a Pub/Sub message: nothing to {what} here"
            ));
            return None;
        }
        if let Some(full) = self.feed.truncated_from(m.seq) {
            let export = self.keymap.first_key(Scope::Feed, Command::Export);
            self.error(format!(
                "this message is kept truncated ({} of {}, over --max-bytes), so it cannot \
                 be used whole; capture it with `redtail tail --format jsonl` (or export with \
                 {export}) and replay with `redtail publish --from`",
                crate::text::bytes(m.payload.len() as u64),
                crate::text::bytes(full as u64)
            ));
            return None;
        }
        Some(m)
    }

    /// `r`: the composer prefilled with the message (same channel and kind, its payload),
    /// sent as it is unless edited. Refused (and audited) in read-only mode.
    pub(super) fn send_again(&mut self) {
        // In the feed, marks turn `r` into "send the marked ones"; the detail view is
        // about the one message it shows.
        if !self.marks.is_empty() && self.detail.is_none() {
            self.send_marked();
            return;
        }
        if self.config.read_only.is_on() {
            self.refuse_read_only("publish", None, None);
            return;
        }
        let Some(m) = self.usable_message("send again") else {
            return;
        };
        let composer = ComposerState::send_again(&m);
        if composer.payload_escaped || composer.channel_escaped {
            self.info(
                "binary message: \\xNN is a byte and \\\\ a backslash in the composer; \
                 unedited, it is sent exactly as received"
                    .into(),
            );
        }
        self.overlay = Some(Overlay::Composer(composer));
    }

    /// `y`: the payload to the clipboard (OSC 52, written by `app.rs`).
    pub(super) fn copy_payload(&mut self, effects: &mut Vec<Effect>) {
        let Some(m) = self.usable_message("copy") else {
            return;
        };
        if m.payload.len() > COPY_MAX {
            let export = self.keymap.first_key(Scope::Feed, Command::Export);
            self.error(format!(
                "not copied: the payload is {}, the clipboard copy takes at most {} \
                 (terminals cut longer ones); export it with {export} instead",
                crate::text::bytes(m.payload.len() as u64),
                crate::text::bytes(COPY_MAX as u64)
            ));
            return;
        }
        self.info(format!(
            "copied {} (OSC 52; tmux needs set-clipboard on, some terminals must allow it)",
            crate::text::bytes(m.payload.len() as u64)
        ));
        effects.push(Effect::CopyToClipboard(Bytes::clone(&m.payload)));
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
    use crate::state::composer::Field;
    use crate::state::{Config, Event};

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn ch(c: char) -> Event {
        Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    fn with(kind: Kind, channel: &[u8], payload: &[u8], read_only: ReadOnly) -> AppState {
        let config = Config {
            export_dir: PathBuf::from("/exports"),
            read_only,
            ..Config::default()
        };
        let mut s = AppState::new(config, Subscriptions::default(), t(0));
        let m = Message {
            seq: 1,
            received: t(0),
            kind,
            pattern: None,
            channel: Bytes::copy_from_slice(channel),
            payload: Bytes::copy_from_slice(payload),
        };
        s.update(Event::Deliveries(vec![Delivery::Message(m)]), t(1));
        s
    }

    fn send(s: &mut AppState) -> Vec<Effect> {
        let send = s.keymap.keys_for(Scope::Composer, Command::Send)[0];
        s.update(Event::Key(KeyEvent::new(send.code, send.modifiers)), t(2))
    }

    #[test]
    fn r_prefills_the_composer_with_channel_kind_and_payload() {
        let mut s = with(
            Kind::SMessage,
            b"orders:{eu}",
            b"{\"id\": 7}",
            ReadOnly::off(),
        );
        s.update(ch('r'), t(2));
        let Some(Overlay::Composer(c)) = &s.overlay else {
            panic!("the composer opens");
        };
        assert_eq!(c.channel.value(), "orders:{eu}");
        assert_eq!(c.payload.text(), "{\"id\": 7}");
        assert!(c.shard, "an smessage goes out as SPUBLISH");
        assert_eq!(c.field, Field::Payload);
        assert_eq!(
            send(&mut s),
            vec![Effect::Publish {
                channel: Bytes::from_static(b"orders:{eu}"),
                payload: Bytes::from_static(b"{\"id\": 7}"),
                shard: true,
            }]
        );
    }

    #[test]
    fn r_on_a_binary_message_sends_the_original_bytes() {
        let payload: Vec<u8> = (0..=255u8).chain(*b"\\x41 \\\\ \xe2\x80\xae").collect();
        let mut s = with(Kind::PMessage, b"bin:\xff", &payload, ReadOnly::off());
        s.update(ch('r'), t(2));
        let Some(Overlay::Composer(c)) = &s.overlay else {
            panic!("the composer opens");
        };
        assert!(c.payload_escaped && c.channel_escaped && !c.shard);
        assert!(
            c.payload
                .text()
                .chars()
                .all(|ch| ch == '\n' || !crate::text::escape::is_unsafe_char(ch)),
            "only printable text in the editor"
        );
        assert_eq!(
            send(&mut s),
            vec![Effect::Publish {
                channel: Bytes::from_static(b"bin:\xff"),
                payload: Bytes::from(payload),
                shard: false,
            }]
        );
    }

    #[test]
    fn r_is_refused_in_read_only_mode_and_audited() {
        let mut s = with(Kind::Message, b"a", b"b", ReadOnly::because("--read-only"));
        let effects = s.update(ch('r'), t(2));
        assert!(s.overlay.is_none());
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::AuditRefusal { action, .. } if action == "publish")),
            "{effects:?}"
        );
    }

    #[test]
    fn y_copies_the_payload_and_caps_the_size() {
        let mut s = with(Kind::Message, b"a", b"\x1b]0;pwned\x07", ReadOnly::off());
        let effects = s.update(ch('y'), t(2));
        assert_eq!(
            effects,
            vec![Effect::CopyToClipboard(Bytes::from_static(
                b"\x1b]0;pwned\x07"
            ))]
        );
        let big = vec![b'x'; COPY_MAX + 1];
        let mut s = with(Kind::Message, b"a", &big, ReadOnly::off());
        assert!(
            s.update(ch('y'), t(2)).is_empty(),
            "too big: refused, not cut"
        );
    }
}
