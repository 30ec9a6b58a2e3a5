//! Keys of the Channels pane, and the glue that keeps the pane's table and the
//! poller's CLIENT LIST in step with what is on screen.

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use super::{pattern_covers, pattern_for, short_name};
use crate::filter::Filter;
use crate::keymap::{Command, Scope};
use crate::redis::message::SubKind;
use crate::redis::poller::ChannelKind;
use crate::state::composer::ComposerState;
use crate::state::keys::movement;
use crate::state::status::NoticeTopic;
use crate::state::{AppState, Effect, Overlay, Tab};

impl AppState {
    /// Rows of the channels (or clients) table on screen.
    pub fn channel_rows(&self) -> usize {
        usize::from(
            self.areas()
                .body
                .height
                .saturating_sub(self.channels.title_rows()),
        )
        .max(1)
    }

    /// Run after every event: rebuild the table if it is shown and stale, and tell the
    /// poller to list clients only while the clients view is on screen (CLIENT LIST
    /// scans every client on the server; nobody should pay for it unseen).
    pub(in crate::state) fn channels_after_event(
        &mut self,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) {
        if self.tab == Tab::Channels {
            let page = self.channel_rows();
            self.channels.refresh(now, page);
        }
        let wanted = self.tab == Tab::Channels && self.channels.show_clients;
        if wanted != self.channels.clients_polling {
            self.channels.clients_polling = wanted;
            effects.push(Effect::SetClientsPolling(wanted));
        }
    }

    /// The `/` filter edits the shown pane's filter; the prompt is shared.
    pub(in crate::state) fn apply_filter(&mut self, filter: Option<Filter>) {
        match self.tab {
            Tab::Channels => self.channels.set_filter(filter),
            // JSON-field tests read each channel as its `[decode]` rule says, like the rows.
            _ => self
                .feed
                .set_filter(filter.map(|f| f.with_decoders(self.config.decode.decoders(None)))),
        }
    }

    pub(in crate::state) fn channels_move(&mut self, delta: isize) {
        let page = self.channel_rows();
        self.channels.move_by(delta, page);
    }

    pub(in crate::state) fn channels_key(
        &mut self,
        key: &KeyEvent,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let page = self.channel_rows();
        match self.keymap.lookup(Scope::Channels, key) {
            Some(Command::ToggleClients) => {
                self.channels.show_clients = !self.channels.show_clients;
                self.channels.show_nodes = false;
            }
            Some(Command::ToggleNodes) => {
                self.channels.show_nodes = !self.channels.show_nodes;
                self.channels.show_clients = false;
            }
            Some(Command::Publish) => self.open_composer(),
            // The rest act on the channels table, not on the clients or nodes view.
            Some(_) if self.channels.show_clients || self.channels.show_nodes => return false,
            Some(Command::Filter) => {
                let source = self.channels.filter().map(|f| f.source().to_string());
                self.open_filter(source);
            }
            Some(Command::ClearFilter) => {
                if self.channels.filter().is_none() {
                    return false;
                }
                self.channels.set_filter(None);
                self.info_about(NoticeTopic::Filter, "filter cleared".into());
            }
            Some(Command::SortNext) => self.channels.cycle_sort(false),
            Some(Command::SortReverse) => self.channels.cycle_sort(true),
            Some(Command::SubscribeSelected) => self.subscribe_selected(false, effects),
            Some(Command::SubscribePattern) => self.subscribe_selected(true, effects),
            _ => match movement(self.keymap.lookup(Scope::Navigation, key), page) {
                Some(step) => self.channels_move(step.delta()),
                None => return false,
            },
        }
        true
    }

    fn subscribe_selected(&mut self, as_pattern: bool, effects: &mut Vec<Effect>) {
        let Some(row) = self.channels.selected_row() else {
            self.info("no channel selected".into());
            return;
        };
        let (kind, name) = match (row.kind, as_pattern) {
            (ChannelKind::Shard, true) => {
                let subscribe = self
                    .keymap
                    .first_key(Scope::Channels, Command::SubscribeSelected);
                self.error(format!(
                    "shard channels have no pattern subscriptions (SSUBSCRIBE takes exact \
                     names); press {subscribe} to subscribe to this one"
                ));
                return;
            }
            (ChannelKind::Shard, false) => (SubKind::Shard, row.name.clone()),
            (ChannelKind::Channel, false) => (SubKind::Channel, row.name.clone()),
            (ChannelKind::Channel, true) => (SubKind::Pattern, pattern_for(&row.name)),
        };
        let feed_key = self.keymap.first_key(Scope::Global, Command::ShowFeed);
        let shown = short_name(&name);
        if self.subscriptions.set(kind).contains(&name) {
            self.info(format!(
                "already subscribed to {} {shown} — see the Feed ({feed_key})",
                kind.label()
            ));
            return;
        }
        // Redis sends a message once per matching subscription: say so rather than
        // let doubled rows in the feed look like a bug.
        let covered = (kind == SubKind::Channel)
            .then(|| {
                self.subscriptions
                    .patterns
                    .iter()
                    .find(|p| pattern_covers(p, &name))
                    .map(|p| short_name(p))
            })
            .flatten();
        let note = covered.map_or_else(String::new, |p| {
            format!(" (pattern {p} already matches it: each message will show twice)")
        });
        self.info(format!(
            "subscribed to {} {shown} — see the Feed ({feed_key}){note}",
            kind.label()
        ));
        self.subscriptions.set_mut(kind).insert(name.clone());
        effects.push(Effect::Subscribe { kind, name });
    }

    fn open_composer(&mut self) {
        if self.config.read_only.is_on() {
            self.refuse_read_only("publish", None, None);
            return;
        }
        let selected = if self.channels.show_clients {
            None
        } else {
            self.channels.selected_row()
        };
        let (composer, note) = ComposerState::for_channel(selected.map(|r| (r.kind, &r.name)));
        if let Some(note) = note {
            self.info(note);
        }
        self.overlay = Some(Overlay::Composer(composer));
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use crossterm::event::{KeyCode, KeyModifiers};

    use super::*;
    use crate::redis::poller::ChannelStat;
    use crate::redis::subscriber::Subscriptions;
    use crate::state::composer::{Outcome, PublishDone};
    use crate::state::{Config, Event, Focus};

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn press(s: &mut AppState, code: KeyCode, modifiers: KeyModifiers) -> Vec<Effect> {
        s.update(Event::Key(KeyEvent::new(code, modifiers)), t(1))
    }

    fn ch(s: &mut AppState, c: char) -> Vec<Effect> {
        press(s, KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn state(read_only: bool) -> AppState {
        let mut subs = Subscriptions::default();
        subs.patterns.insert(Bytes::from_static(b"ai:*"));
        let config = Config {
            read_only: crate::redis::actions::ReadOnly::from_flag(read_only),
            ..Config::default()
        };
        let mut s = AppState::new(config, subs, t(0));
        let channels = vec![
            ChannelStat {
                name: Bytes::from_static(b"ai:chat"),
                kind: ChannelKind::Channel,
                subscribers: 1,
            },
            ChannelStat {
                name: Bytes::from_static(b"orders"),
                kind: ChannelKind::Channel,
                subscribers: 4,
            },
        ];
        let poll = crate::state::channels::tests::poll(channels);
        s.update(Event::PubSubPoll(poll), t(0));
        ch(&mut s, '2');
        s
    }

    use crate::state::tests::notice_text as notice;

    #[test]
    fn subscribes_to_the_selected_channel_or_its_pattern() {
        let mut s = state(false);
        assert_eq!(s.focus(), Focus::Channels);
        assert_eq!(s.channels.rows.len(), 2, "rebuilt on entering the pane");
        ch(&mut s, 'j');
        let effects = ch(&mut s, 's');
        assert_eq!(
            effects,
            [Effect::Subscribe {
                kind: SubKind::Channel,
                name: Bytes::from_static(b"ai:chat")
            }]
        );
        let text = notice(&s);
        assert!(
            text.starts_with("subscribed to channel ai:chat — see the Feed (1)"),
            "{text}"
        );
        assert!(text.contains("pattern ai:* already matches it"), "{text}");
        assert!(s.subscriptions.channels.contains(&b"ai:chat"[..]));
        assert!(
            press(&mut s, KeyCode::Enter, KeyModifiers::NONE).is_empty(),
            "already subscribed"
        );
        assert!(notice(&s).starts_with("already subscribed"));
        assert!(ch(&mut s, 'S').is_empty(), "ai:* is already there");
        ch(&mut s, 'k');
        assert_eq!(
            ch(&mut s, 'S'),
            [Effect::Subscribe {
                kind: SubKind::Pattern,
                name: Bytes::from_static(b"orders*")
            }]
        );
    }

    #[test]
    fn clients_are_polled_only_while_shown() {
        let mut s = state(false);
        assert_eq!(ch(&mut s, 'c'), [Effect::SetClientsPolling(true)]);
        assert_eq!(s.focus(), Focus::Clients);
        assert_eq!(ch(&mut s, '1'), [Effect::SetClientsPolling(false)]);
        assert!(ch(&mut s, '1').is_empty());
        assert_eq!(ch(&mut s, '2'), [Effect::SetClientsPolling(true)]);
        assert!(
            ch(&mut s, 's').is_empty(),
            "no subscribing from the clients view"
        );
        assert_eq!(ch(&mut s, 'c'), [Effect::SetClientsPolling(false)]);
    }

    #[test]
    fn the_filter_narrows_the_table_not_the_feed() {
        let mut s = state(false);
        ch(&mut s, '/');
        ch(&mut s, 'a');
        ch(&mut s, 'i');
        press(&mut s, KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(s.channels.rows.len(), 1);
        assert!(s.feed.filter().is_none());
        press(&mut s, KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(s.channels.rows.len(), 2);
    }

    #[test]
    fn read_only_refuses_the_composer() {
        let mut s = state(true);
        // Nothing is sent; the refusal goes to the audit log.
        assert!(matches!(
            ch(&mut s, 'p').as_slice(),
            [Effect::AuditRefusal { action, stream: None, group: None }] if action == "publish"
        ));
        assert!(s.overlay.is_none());
        assert_eq!(
            notice(&s),
            "read-only mode: publish is disabled (--read-only)"
        );
    }

    #[test]
    fn composer_publishes_and_shows_the_receivers() {
        let mut s = state(false);
        ch(&mut s, 'p');
        assert_eq!(s.focus(), Focus::Composer);
        for c in "hi q".chars() {
            assert!(ch(&mut s, c).is_empty(), "q is text here");
        }
        let effects = press(&mut s, KeyCode::Char('s'), KeyModifiers::CONTROL);
        assert_eq!(
            effects,
            [Effect::Publish {
                channel: Bytes::from_static(b"orders"),
                payload: Bytes::from_static(b"hi q"),
                shard: false
            }]
        );
        s.update(
            Event::Published(Ok(PublishDone {
                channel: Bytes::from_static(b"orders"),
                shard: false,
                receivers: 0,
            })),
            t(2),
        );
        let Some(Overlay::Composer(c)) = &s.overlay else {
            panic!("composer stays open");
        };
        assert!(matches!(&c.outcome, Some(Outcome::Delivered(d)) if d.receivers == 0));
        assert!(notice(&s).contains("nobody was listening"));
        press(&mut s, KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(s.focus(), Focus::Channels);
    }
}
