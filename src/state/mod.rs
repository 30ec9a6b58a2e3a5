//! `AppState`: everything the TUI shows, changed only by [`AppState::update`], which does
//! no I/O and takes the time as an argument. Effects it returns are carried out by app.rs.

pub mod channels;
pub mod composer;
pub mod detail;
pub mod feed;
mod keys;
pub mod keyspace;
pub mod layout;
pub mod marks;
pub mod pending;
pub mod preview;
pub mod problems;
pub mod prompt;
mod send_again;
pub mod status;
pub mod streams;

use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Offset as _, Utc};
use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::layout::Rect;

use crate::keymap::Keymap;
use crate::redis::actions::ReadOnly;
use crate::redis::inbox::Counters;
use crate::redis::message::{Delivery, Message, SubKind};
use crate::redis::poller::PollState;
use crate::redis::subscriber::Subscriptions;
use crate::text::escape::escape_line;
use channels::ChannelsState;
use composer::{ComposerState, PublishDone};
use detail::DetailState;
use feed::{FeedItem, FeedState};
use keyspace::{KeyspaceEffect, KeyspaceEvent, KeyspacePane};
use layout::{Areas, DETAIL_META_ROWS};
use pending::{PendingEffect, PendingEvent, PendingPane};
use problems::{ProblemsUpdate, ProblemsView};
use prompt::{FilterEdit, Picker, SubscribePrompt};
use status::{ConnView, Notice, NoticeLevel, NoticeTopic, Outage, RateMeter, StatusUpdate};
use streams::{StreamsEffect, StreamsEvent, StreamsFocus, StreamsPane};

/// The panes of the tab bar. Adding one: a variant here, a module under `src/ui/`, and
/// its arm in `ui::render_body`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Feed,
    Channels,
    Streams,
    Pending,
    Keyspace,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Feed,
        Tab::Channels,
        Tab::Streams,
        Tab::Pending,
        Tab::Keyspace,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Feed => "Feed",
            Tab::Channels => "Channels",
            Tab::Streams => "Streams",
            Tab::Pending => "Pending",
            Tab::Keyspace => "Keyspace",
        }
    }

    pub fn number(self) -> usize {
        Tab::ALL
            .iter()
            .position(|&t| t == self)
            .map_or(0, |i| i + 1)
    }

    fn offset(self, delta: isize) -> Tab {
        let n = Tab::ALL.len() as isize;
        let i = (self.number() as isize - 1 + delta).rem_euclid(n);
        Tab::ALL[i as usize]
    }
}

/// A modal layer over the panes; it gets keys first.
#[derive(Debug, Clone)]
pub enum Overlay {
    Help {
        scroll: usize,
    },
    Filter(FilterEdit),
    Subscribe(SubscribePrompt),
    Unsubscribe(Picker),
    Composer(ComposerState),
    /// `r` with marked messages: send them all again?
    SendMarked(marks::SendMarked),
}

/// Who gets a key first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Help,
    Filter,
    Subscribe,
    Unsubscribe,
    Detail,
    Feed,
    Channels,
    /// The Channels pane showing subscriber clients.
    Clients,
    /// The Channels pane showing the nodes (cluster topology with per-node figures).
    Nodes,
    Composer,
    Pending,
    /// A Pending pane dialog (prompt, claim picker, confirmation, preview).
    PendingDialog(pending::dialog::DialogKind),
    /// A pane that is not built yet.
    Placeholder,
    /// The Streams pane: a table, the entries browser, an entry, or the jump prompt.
    Streams(StreamsFocus),
    /// The Problems list, over any pane.
    Problems,
    /// The Problems list's fix preview / advice.
    ProblemsDialog,
    /// The Keyspace pane (events or keys table), or its prompt / confirmation.
    Keyspace,
    KeyspaceDialog,
    /// The confirmation of sending the marked messages again.
    SendMarked,
}

#[derive(Debug)]
pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Deliveries(Vec<Delivery>),
    Status(StatusUpdate),
    EngineCounters(Counters),
    Tick,
    Exported(Result<ExportDone, String>),
    /// The poller's latest state (Pub/Sub figures, clients).
    PubSubPoll(PollState),
    Published(Result<PublishDone, String>),
    /// The marked messages were sent again (or not).
    MarkedSent(Result<marks::MarkedDone, String>),
    /// Pending pane: a page, consumers, a preview or an action's result.
    Pending(PendingEvent),
    /// Streams pane: the poller's latest state, or a page of entries.
    Streams(StreamsEvent),
    /// Findings computed from the latest streams poll (the Problems list and the header).
    Problems(ProblemsUpdate),
    /// Keyspace pane: the setting on every node, events, an enable's outcome.
    Keyspace(KeyspaceEvent),
    /// One bounded step of work the state has left (the feed filter's count, about
    /// 16k messages per core): the TUI loop sends it while [`AppState::has_work`] and no
    /// input waits, so the work happens between keys, never ahead of one.
    Work,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportDone {
    pub path: PathBuf,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Subscribe {
        kind: SubKind,
        name: Bytes,
    },
    Unsubscribe {
        kind: SubKind,
        name: Bytes,
    },
    /// Write these messages as JSONL (same format as `tail --format jsonl`) to `path`.
    Export {
        path: PathBuf,
        messages: Vec<Message>,
    },
    /// PUBLISH (or SPUBLISH when `shard`) on a command connection.
    Publish {
        channel: Bytes,
        payload: Bytes,
        shard: bool,
    },
    /// Send these messages again, in this order, each by PUBLISH (SPUBLISH for a shard
    /// message), as one batch through the action layer.
    PublishMarked(Vec<Message>),
    /// Connect again now: the subscriber does not retry a refused login by itself.
    Retry,
    /// Put these bytes on the clipboard (app.rs writes OSC 52 to the terminal; the bytes
    /// travel base64-encoded, so nothing raw reaches it).
    CopyToClipboard(Bytes),
    /// Whether the poller should also run CLIENT LIST.
    SetClientsPolling(bool),
    /// Pending pane: fetch a page or consumers, run an action or its preview.
    Pending(PendingEffect),
    /// Streams pane: poll now, rediscover, read a page of entries.
    Streams(StreamsEffect),
    /// Keyspace pane: start following, enable notifications.
    Keyspace(KeyspaceEffect),
    /// Read-only mode refused a mutating key before its dialog opened: write the
    /// refusal to the audit log (the action layer's record, like any other refusal).
    AuditRefusal {
        action: String,
        stream: Option<Bytes>,
        group: Option<Bytes>,
    },
    Quit,
}

/// Fixed inputs of the state: limits, where exports go, how times are shown.
#[derive(Debug, Clone)]
pub struct Config {
    /// Shown in the header; `Target`'s Display, which never contains the password.
    pub target: String,
    pub max_messages: usize,
    pub max_bytes: usize,
    /// Directory exports are written to (app.rs picks the platform data dir).
    pub export_dir: PathBuf,
    /// Offset used to show times; tests pin it so snapshots don't depend on the machine.
    pub utc_offset: FixedOffset,
    /// On (with what set it) when nothing may be changed.
    pub read_only: ReadOnly,
    pub size: (u16, u16),
    /// Watching a Redis Cluster (defaults that involve two keys keep them in one slot).
    pub cluster: bool,
    /// `[decode]`: the decoder per channel glob (auto where none matches).
    pub decode: crate::config::DecodeRules,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            target: "redis://127.0.0.1:6379".into(),
            max_messages: 100_000,
            max_bytes: 64 << 20,
            export_dir: PathBuf::from("exports"),
            utc_offset: Utc.fix(),
            read_only: ReadOnly::off(),
            size: (100, 30),
            cluster: false,
            decode: Default::default(),
        }
    }
}

#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub keymap: Keymap,
    pub tab: Tab,
    pub feed: FeedState,
    pub channels: ChannelsState,
    pub pending: PendingPane,
    pub streams: StreamsPane,
    /// The Problems list (`!`) and the header's problems count.
    pub problems: ProblemsView,
    pub keyspace: KeyspacePane,
    /// Streams whose new entries are followed in the feed (XREAD, never a group).
    pub followed_streams: std::collections::BTreeSet<Bytes>,
    pub detail: Option<DetailState>,
    pub overlay: Option<Overlay>,
    pub conn: ConnView,
    /// The last connection error, kept while reconnecting so "connecting…" can say why.
    pub last_error: Option<String>,
    pub subscriptions: Subscriptions,
    /// The engine's own counters (its inbox evicts when we fall behind).
    pub engine: Counters,
    pub rate: RateMeter,
    /// Recognises the extra copies of a message delivered by several subscriptions.
    copies: channels::activity::Copies,
    /// The subscription's outage while it lasts (shown and counted before its gap row).
    pub outage: Outage,
    pub notice: Option<Notice>,
    pub now: DateTime<Utc>,
    pub size: (u16, u16),
    /// Refusals to audit, handed out with the effects of the current update.
    refusals: Vec<Effect>,
    /// Decoded previews of the feed rows drawn (filled lazily by the feed's renderer).
    pub previews: preview::Previews,
    /// Feed messages marked to send again together (`m`, then `r`).
    pub marks: marks::Marks,
}

impl AppState {
    pub fn new(config: Config, subscriptions: Subscriptions, now: DateTime<Utc>) -> AppState {
        AppState {
            feed: FeedState::new(config.max_messages, config.max_bytes),
            size: config.size,
            config,
            keymap: Keymap::default(),
            tab: Tab::Feed,
            channels: ChannelsState::default(),
            pending: PendingPane::default(),
            streams: StreamsPane::default(),
            problems: ProblemsView::default(),
            keyspace: KeyspacePane::default(),
            followed_streams: Default::default(),
            detail: None,
            overlay: None,
            conn: ConnView::Connecting,
            last_error: None,
            subscriptions,
            engine: Counters::default(),
            rate: RateMeter::default(),
            copies: Default::default(),
            outage: Outage::default(),
            notice: None,
            now,
            refusals: Vec::new(),
            previews: Default::default(),
            marks: Default::default(),
        }
    }

    pub fn update(&mut self, event: Event, now: DateTime<Utc>) -> Vec<Effect> {
        // Only events whose effects app.rs carries out may start a pending-page fetch: a
        // fetch whose effect was dropped would hold back the refreshes after it.
        let pending_refresh = matches!(
            event,
            Event::Key(_) | Event::Mouse(_) | Event::Tick | Event::Pending(_)
        );
        let mut effects = self.handle(event, now);
        effects.append(&mut self.refusals);
        self.channels_after_event(now, &mut effects);
        self.streams_after_event();
        if self.tab == Tab::Feed {
            self.observe_feed_column(now);
        }
        if pending_refresh {
            effects.extend(self.pending_refresh());
        }
        effects
    }

    fn handle(&mut self, event: Event, now: DateTime<Utc>) -> Vec<Effect> {
        self.now = now;
        match event {
            Event::Key(key) => return self.on_key(key),
            Event::Mouse(mouse) => self.on_mouse(mouse),
            Event::Resize(w, h) => {
                self.size = (w, h);
                let width = self.areas().body.width;
                if let Some(d) = &mut self.detail {
                    d.set_width(width);
                }
            }
            Event::Deliveries(batch) => self.on_deliveries(batch),
            Event::Status(update) => self.on_status(update),
            Event::EngineCounters(c) => self.engine = c,
            Event::Tick => self.channels.on_tick(now),
            Event::Work => self.feed.count_step(),
            Event::PubSubPoll(poll) => self.channels.on_poll(poll),
            Event::Published(result) => self.on_published(result),
            Event::MarkedSent(result) => self.on_marked_sent(result),
            Event::Pending(event) => self.on_pending_event(event),
            Event::Streams(event) => return self.on_streams_event(event),
            Event::Problems(update) => self.problems.on_update(update),
            Event::Keyspace(event) => self.on_keyspace_event(event),
            Event::Exported(Ok(done)) => self.info(format!(
                "exported {} messages to {}",
                thousands(done.count as u64),
                escape_line(done.path.to_string_lossy().as_bytes())
            )),
            Event::Exported(Err(e)) => {
                self.error(format!("export failed: {}", escape_line(e.as_bytes())))
            }
        }
        Vec::new()
    }

    /// True while [`Event::Work`] has something to do.
    pub fn has_work(&self) -> bool {
        self.feed.counting() || self.feed.reading_ahead() || self.feed.checking_json()
    }

    /// True when the next [`Event::Work`] changes what the screen shows: a filter's
    /// count does; reading a field ahead and checking arrivals for JSON do not, and
    /// need no frame.
    pub fn work_shows(&self) -> bool {
        self.feed.counting()
    }

    pub fn areas(&self) -> Areas {
        layout::areas(Rect::new(0, 0, self.size.0, self.size.1), self.input_rows())
    }

    /// Rows of the prompt above the footer: the filter has a second line for the caret
    /// under an error, the subscribe prompt one line, anything else none.
    pub fn input_rows(&self) -> u16 {
        match self.overlay {
            Some(Overlay::Filter(_)) => 2,
            Some(Overlay::Subscribe(_)) => 1,
            _ => 0,
        }
    }

    /// Rows of feed on screen.
    pub fn feed_rows(&self) -> usize {
        usize::from(self.areas().body.height).max(1)
    }

    /// Rows of payload on screen in the detail view.
    pub fn detail_rows(&self) -> usize {
        usize::from(self.areas().body.height.saturating_sub(DETAIL_META_ROWS)).max(1)
    }

    pub fn focus(&self) -> Focus {
        match &self.overlay {
            Some(Overlay::Help { .. }) => Focus::Help,
            Some(Overlay::Filter(_)) => Focus::Filter,
            Some(Overlay::Subscribe(_)) => Focus::Subscribe,
            Some(Overlay::Unsubscribe(_)) => Focus::Unsubscribe,
            Some(Overlay::Composer(_)) => Focus::Composer,
            Some(Overlay::SendMarked(_)) => Focus::SendMarked,
            None if self.problems.open => match self.problems.dialog {
                Some(_) => Focus::ProblemsDialog,
                None => Focus::Problems,
            },
            None => match self.tab {
                Tab::Feed if self.detail.is_some() => Focus::Detail,
                Tab::Feed => Focus::Feed,
                Tab::Channels if self.channels.show_clients => Focus::Clients,
                Tab::Channels if self.channels.show_nodes => Focus::Nodes,
                Tab::Channels => Focus::Channels,
                Tab::Pending => match &self.pending.modal {
                    Some(modal) => Focus::PendingDialog(modal.kind()),
                    None => Focus::Pending,
                },
                Tab::Streams => Focus::Streams(self.streams.focus()),
                Tab::Keyspace if self.keyspace.modal.is_some() => Focus::KeyspaceDialog,
                Tab::Keyspace => Focus::Keyspace,
            },
        }
    }

    /// The notice to show now, if it has not faded.
    pub fn visible_notice(&self) -> Option<&Notice> {
        self.notice.as_ref().filter(|n| n.visible(self.now))
    }

    pub fn info(&mut self, text: String) {
        self.set_notice(text, NoticeLevel::Info, None);
    }

    /// An info notice about `topic`, taken down when the topic moves on.
    pub fn info_about(&mut self, topic: NoticeTopic, text: String) {
        self.set_notice(text, NoticeLevel::Info, Some(topic));
    }

    /// A note that work is under way; it stays until [`AppState::clear_notice`] for its
    /// topic (or a newer notice) replaces it.
    pub fn progress(&mut self, topic: NoticeTopic, text: String) {
        self.set_notice(text, NoticeLevel::Progress, Some(topic));
    }

    /// Take down the notice about `topic`, if it is the one shown.
    pub fn clear_notice(&mut self, topic: NoticeTopic) {
        if self.notice.as_ref().is_some_and(|n| n.topic == Some(topic)) {
            self.notice = None;
        }
    }

    fn set_notice(&mut self, text: String, level: NoticeLevel, topic: Option<NoticeTopic>) {
        self.notice = Some(Notice {
            text,
            level,
            at: self.now,
            topic,
        });
    }

    /// Read-only mode refuses `action` before any dialog opens: say so (and what set it),
    /// and have the refusal audited like one made by the action layer.
    pub(crate) fn refuse_read_only(
        &mut self,
        action: &str,
        stream: Option<Bytes>,
        group: Option<Bytes>,
    ) {
        let why = self.config.read_only.reason().unwrap_or("read-only");
        self.error(format!("read-only mode: {action} is disabled ({why})"));
        self.refusals.push(Effect::AuditRefusal {
            action: action.to_string(),
            stream,
            group,
        });
    }

    pub fn error(&mut self, text: String) {
        self.set_notice(text, NoticeLevel::Error, None);
    }

    fn on_deliveries(&mut self, batch: Vec<Delivery>) {
        for delivery in batch {
            match delivery {
                Delivery::Message(m) => {
                    // The feed shows every delivery (each says which subscription
                    // brought it); rates and counts are of published messages.
                    if !self.copies.is_copy(&m) {
                        self.rate.record(m.received, 1);
                        if let Some(kind) = channels::activity::kind_of(&m) {
                            self.channels.record(kind, &m.channel, m.received);
                        }
                    }
                    self.feed.push(FeedItem::Message(m));
                }
                // The Keyspace pane's own engine sends its events as
                // `Event::Keyspace`; one arriving here still belongs to that pane.
                Delivery::Keyspace(e) => self.keyspace.push(e),
                Delivery::Gap(g) => {
                    self.copies.reset();
                    self.outage.on_gap_row(g.from);
                    self.feed.push(FeedItem::Gap(g));
                }
                Delivery::ServerError(e) => {
                    let hint = if e.starts_with("NOPERM") {
                        " — this ACL user may not access that channel; grant it or subscribe to another"
                    } else {
                        ""
                    };
                    // Stream-tail errors name their stream ("stream KEY: …") or say they
                    // are retried ("stream tail: …"); everything else is a refused
                    // (P|S)SUBSCRIBE.
                    if e.starts_with("stream ") {
                        self.error(e.clone());
                    } else {
                        self.error(format!("the server refused a subscription: {e}{hint}"));
                    }
                    self.feed.push(FeedItem::ServerError(e));
                }
                Delivery::Subscription {
                    kind,
                    name,
                    subscribed,
                    ..
                } => {
                    let verb = if subscribed {
                        "subscribed to"
                    } else {
                        "unsubscribed from"
                    };
                    let text = format!("{verb} {} {}", kind.label(), escape_line(&name));
                    // A notice that already says this and more (the Channels pane's
                    // "— see the Feed (1)") is kept rather than cut short.
                    let said = self
                        .notice
                        .as_ref()
                        .is_some_and(|n| n.text.starts_with(&text));
                    if !said {
                        self.info(text);
                    }
                }
            }
        }
    }

    fn on_status(&mut self, update: StatusUpdate) {
        match &update.conn {
            ConnView::Disconnected { error, .. } => self.last_error = Some(error.clone()),
            ConnView::Connected { .. } => self.last_error = None,
            ConnView::Connecting | ConnView::Stopped => {}
        }
        self.outage.on_conn(&update.conn);
        self.conn = update.conn;
        self.subscriptions = update.wanted;
    }

    /// The header's msg/s: 0 as soon as the connection is known lost (nothing can arrive),
    /// else the average over the seconds it has been up in the meter's window.
    pub fn rate_per_second(&self) -> f64 {
        match &self.conn {
            ConnView::Connected { since } => self.rate.per_second(self.now, *since),
            _ => 0.0,
        }
    }

    /// Gaps so far, the current outage included from its first moment (its gap row only
    /// reaches the feed after the reconnect).
    pub fn gap_count(&self) -> u64 {
        self.feed.gaps + self.outage.uncounted(self.now)
    }
}

/// 1284 → "1,284" (the one count formatter, re-exported where panes used to have it).
pub use crate::text::thousands;

#[cfg(test)]
mod tests;
