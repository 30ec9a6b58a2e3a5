//! The TUI event loop: the only code that touches the terminal.
//!
//! One `select!`, biased to input: a key is handled before any queued engine work, the
//! inbox is drained in bounded batches, and drawing happens only when something changed
//! and at most `fps` times a second, so a flood of messages never makes keys lag.

use std::io::{self, Stdout, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use chrono::{Local, Offset as _, TimeDelta, Utc};
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cli::TuiArgs;
use crate::jsonl::format_jsonl;
use std::sync::Arc;

use crate::redis::doctor::DoctorConfig;
use crate::redis::inbox::{Caps, Counters};
use crate::redis::message::{Delivery, Message};
use crate::redis::poller::Poller;
use crate::redis::route::Route;
use crate::redis::stream_tail::StreamTail;
use crate::redis::subscriber::{ConnState, Status, Subscriber, SubscriberConfig};
use crate::state::composer::PublishDone;
use crate::state::marks::MarkedDone;
use crate::state::pending::PendingEvent;
use crate::state::status::{ConnView, StatusUpdate};
use crate::state::streams::StreamsEffect;
use crate::state::streams::StreamsEvent;
use crate::state::{AppState, Config, Effect, Event, ExportDone};
use crate::text::escape::escape_str;
use crate::ui;
use pending::PendingRunner;
use streams::StreamsRunner;

mod backend;
mod keyspace;
mod pending;
mod problems;
mod streams;

/// Deliveries taken from the inbox per loop turn: large enough to keep up with a flood,
/// small enough that a key press waits at most one batch.
const DRAIN_BATCH: usize = 5_000;
/// Least time between two inbox drains woken by the engine (see the event loop). Well
/// under a frame (33 ms at 30 fps), so nothing shows later; in a flood each drain takes
/// a few thousand messages at once. `cargo bench --bench tui`, 1M × 100 B: 1 ms →
/// 2.11 s CPU per 1M, 3 ms → 1.77, 8 ms → 1.50; key→screen p99 unchanged (6.2 ms).
const DRAIN_PACE: Duration = Duration::from_millis(8);
/// Header countdowns and the msg/s figure move even when nothing arrives.
const TICK: Duration = Duration::from_millis(250);

pub async fn run(args: TuiArgs, route: Arc<Route>) -> Result<i32> {
    let target = route.template().clone();
    let mut subscriptions = args.subs.subscriptions();
    let defaulted = subscriptions.is_empty();
    if defaulted {
        // Same default as `redtail tail`: an empty feed on first start looks broken.
        subscriptions.patterns.insert(Bytes::from_static(b"*"));
    }
    // One budget for the inbox and the feed together: the inbox holds only what arrives
    // between two drains, the feed the rest (see `Caps::split`).
    let (inbox_caps, feed_caps) = Caps::split(args.max_messages, args.max_bytes);
    let mut engine_config = SubscriberConfig::new(target.clone());
    engine_config.route = Some(route.clone());
    engine_config.caps = inbox_caps;
    let keyspace_setup = keyspace_setup(&args, &route, &engine_config);
    // A flood's socket reads then wake only the engine's thread, not both workers.
    engine_config.own_thread = true;
    // …and a flood then arrives in fewer, bigger reads (only that thread waits).
    engine_config.coalesce_pause = crate::redis::subscriber::COALESCE_PAUSE;
    let restorer = keyspace_setup.restorer.clone();
    let subscriber = Subscriber::spawn(engine_config, subscriptions.clone());
    // Explicit --stream keys (not globs) are also tailed into the feed with XREAD; `f` in
    // the streams pane adds or removes keys at runtime.
    let followed: Vec<Bytes> = args.streams.key_names();
    let mut follower = Follower::new(route.clone(), subscriber.inbox(), followed.clone());

    crate::ui::theme::set(args.theme);
    install_panic_hook();
    let mut terminal = enter_terminal().context("cannot set up the terminal")?;
    let guard = RestoreOnDrop;
    let size = terminal
        .size()
        .map(|s| (s.width, s.height))
        .unwrap_or((80, 24));
    let config = Config {
        // Through Sentinel the template's host is a placeholder: name the Sentinels.
        target: route.label(),
        max_messages: feed_caps.max_items,
        max_bytes: feed_caps.max_bytes,
        export_dir: export_dir(),
        utc_offset: Local::now().offset().fix(),
        read_only: args.read_only.clone(),
        size,
        cluster: route.is_cluster(),
        decode: args.decode.clone(),
    };
    let mut state = AppState::new(config, subscriptions, Utc::now());
    state.followed_streams.extend(followed);
    // Configured keys drive both the key handler and the help/footer labels.
    state.keymap = args.keymap.clone();
    if defaulted {
        state.info("no --channel/--pattern given: following every channel (pattern *)".into());
    }
    if let Some(spec) = &keyspace_setup.spec {
        // Asked for on the command line: open on the pane that shows it.
        state.start_keyspace(spec.clone());
        state.tab = crate::state::Tab::Keyspace;
    }
    let setup = Setup {
        streams: streams::config(&args),
        keyspace: keyspace_setup,
        doctor: args.doctor,
    };
    let result = event_loop(
        &mut terminal,
        &mut state,
        &subscriber,
        &mut follower,
        &route,
        setup,
        args.fps,
    )
    .await;
    drop(guard);
    drop(terminal);
    // Keyspace settings enabled from the TUI go back now, said on the restored terminal.
    for line in restorer.restore().await {
        // The terminal may be gone (SIGHUP): the setting is back either way.
        let _ = writeln!(std::io::stderr(), "{line}");
    }
    // The engine stops promptly; don't let a stuck socket hold the terminal hostage.
    let _ = tokio::time::timeout(Duration::from_secs(2), subscriber.shutdown()).await;
    follower.stop().await;
    result.map(|()| 0)
}

type Term = Terminal<CrosstermBackend<Stdout>>;

/// What the workers are started with besides the route.
struct Setup {
    streams: crate::redis::streams::StreamsConfig,
    keyspace: keyspace::KeyspaceSetup,
    /// Thresholds of the Problems list's findings.
    doctor: DoctorConfig,
}

/// The Keyspace pane's engine: `--keyspace` flags, and the same engine settings as
/// the feed's (its own inbox, of the same size).
fn keyspace_setup(
    args: &TuiArgs,
    route: &Route,
    engine: &SubscriberConfig,
) -> keyspace::KeyspaceSetup {
    let spec = args.keyspace.is_on().then(|| {
        let mut spec = args.keyspace.spec();
        let url_db = u32::try_from(route.template().db).ok().filter(|&d| d > 0);
        spec.db = spec.db.or(url_db);
        spec
    });
    keyspace::KeyspaceSetup {
        spec,
        enable_at_start: args.keyspace.enable_notifications,
        config: engine.clone(),
        restorer: keyspace::Restorer::default(),
    }
}

/// The streams followed in the feed. A change restarts the XREAD task with the new key
/// set (dropping the old one stops it); each key resumes from its newest entry.
struct Follower {
    route: Arc<Route>,
    inbox: std::sync::Arc<crate::redis::inbox::Inbox>,
    keys: Vec<Bytes>,
    tails: Vec<StreamTail>,
}

impl Follower {
    fn new(
        route: Arc<Route>,
        inbox: std::sync::Arc<crate::redis::inbox::Inbox>,
        keys: Vec<Bytes>,
    ) -> Follower {
        let mut f = Follower {
            route,
            inbox,
            keys,
            tails: Vec::new(),
        };
        f.restart();
        f
    }

    fn set(&mut self, key: Bytes, on: bool) {
        self.keys.retain(|k| *k != key);
        if on {
            self.keys.push(key);
        }
        self.restart();
    }

    fn restart(&mut self) {
        self.tails = StreamTail::spawn_routed(&self.route, self.keys.clone(), self.inbox.clone());
    }

    async fn stop(mut self) {
        for tail in self.tails.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), tail.shutdown()).await;
        }
    }
}

/// What carries out the state's effects: the engine handles, off-loop runners, and the
/// senders their answers come back on.
struct Workers<'a> {
    subscriber: &'a Subscriber,
    follower: &'a mut Follower,
    poller: Poller,
    pending: PendingRunner,
    streams: StreamsRunner,
    /// Findings after each streams poll (kept here so it stops with the loop).
    _problems: problems::ProblemsTask,
    keyspace: keyspace::KeyspaceRunner,
    /// One command connection and one audit log for every pane's reads and actions.
    backend: backend::Backend,
    publish_tx: mpsc::Sender<Result<PublishDone, String>>,
    marked_tx: mpsc::Sender<Result<MarkedDone, String>>,
    export_tx: mpsc::Sender<Result<ExportDone, String>>,
}

/// The answers that come back to the loop: replies on channels, and latest-value polls
/// (a slow UI skips intermediate polls, never queues them).
struct Answers {
    export_rx: mpsc::Receiver<Result<ExportDone, String>>,
    publish_rx: mpsc::Receiver<Result<PublishDone, String>>,
    marked_rx: mpsc::Receiver<Result<MarkedDone, String>>,
    pending_rx: mpsc::Receiver<PendingEvent>,
    streams_rx: mpsc::Receiver<StreamsEvent>,
    keyspace_rx: mpsc::Receiver<crate::state::keyspace::KeyspaceEvent>,
    poll_state: tokio::sync::watch::Receiver<crate::redis::poller::PollState>,
    poller_alive: bool,
    streams_state: tokio::sync::watch::Receiver<crate::redis::streams::StreamsState>,
    streams_alive: bool,
    problems: tokio::sync::watch::Receiver<crate::state::problems::ProblemsUpdate>,
    problems_alive: bool,
}

/// One answer for the state.
enum Answer {
    Exported(Result<ExportDone, String>),
    Published(Result<PublishDone, String>),
    MarkedSent(Result<MarkedDone, String>),
    Pending(PendingEvent),
    Streams(StreamsEvent),
    Keyspace(crate::state::keyspace::KeyspaceEvent),
    PubSubPoll(crate::redis::poller::PollState),
    Problems(crate::state::problems::ProblemsUpdate),
    /// A poller stopped (only at shutdown); nothing to apply.
    Ended,
}

impl Answers {
    /// The next answer from any worker. Every branch is cancel-safe (channel receives and
    /// watch changes), so the loop may drop this future when a key comes first.
    async fn next(&mut self) -> Answer {
        tokio::select! {
            Some(done) = self.export_rx.recv() => Answer::Exported(done),
            Some(done) = self.publish_rx.recv() => Answer::Published(done),
            Some(done) = self.marked_rx.recv() => Answer::MarkedSent(done),
            Some(event) = self.pending_rx.recv() => Answer::Pending(event),
            Some(event) = self.streams_rx.recv() => Answer::Streams(event),
            Some(event) = self.keyspace_rx.recv() => Answer::Keyspace(event),
            changed = self.poll_state.changed(), if self.poller_alive => {
                // Latest value only: a slow UI skips intermediate polls, never queues them.
                if changed.is_err() {
                    self.poller_alive = false;
                    return Answer::Ended;
                }
                Answer::PubSubPoll(self.poll_state.borrow_and_update().clone())
            }
            changed = self.streams_state.changed(), if self.streams_alive => {
                if changed.is_err() {
                    self.streams_alive = false;
                    return Answer::Ended;
                }
                Answer::Streams(StreamsEvent::Poll(self.streams_state.borrow_and_update().clone()))
            }
            changed = self.problems.changed(), if self.problems_alive => {
                if changed.is_err() {
                    self.problems_alive = false;
                    return Answer::Ended;
                }
                Answer::Problems(self.problems.borrow_and_update().clone())
            }
            else => std::future::pending().await,
        }
    }

    /// Apply an answer; the effects to run. Only pending and streams answers start
    /// work (a pending page asks for previews, the entries browser follows new entries);
    /// the others only change what is shown.
    fn apply(&self, answer: Answer, state: &mut AppState) -> Vec<Effect> {
        let now = Utc::now();
        match answer {
            Answer::Pending(event) => return state.update(Event::Pending(event), now),
            Answer::Streams(event) => return state.update(Event::Streams(event), now),
            Answer::Exported(done) => state.update(Event::Exported(done), now),
            Answer::Published(done) => state.update(Event::Published(done), now),
            Answer::Keyspace(event) => state.update(Event::Keyspace(event), now),
            Answer::MarkedSent(done) => state.update(Event::MarkedSent(done), now),
            Answer::PubSubPoll(poll) => state.update(Event::PubSubPoll(poll), now),
            Answer::Problems(update) => state.update(Event::Problems(update), now),
            Answer::Ended => Vec::new(),
        };
        Vec::new()
    }
}

fn start_workers<'a>(
    state: &AppState,
    subscriber: &'a Subscriber,
    follower: &'a mut Follower,
    route: &Arc<Route>,
    setup: Setup,
) -> (Workers<'a>, Answers) {
    let streams_config = setup.streams;
    let (export_tx, export_rx) = mpsc::channel(4);
    let (publish_tx, publish_rx) = mpsc::channel(4);
    let (marked_tx, marked_rx) = mpsc::channel(4);
    // Pub/Sub figures for the Channels pane, at the same --poll-interval as the Streams
    // pane; stops when dropped at the end of the loop.
    let poller = Poller::spawn_route(route.clone(), streams_config.interval);
    // Pending pane reads and actions run off the loop and answer on this channel.
    let (pending_tx, pending_rx) = mpsc::channel(32);
    let backend = backend::Backend::new(route.clone(), state.config.read_only.clone());
    let pending = PendingRunner::new(backend.clone(), pending_tx);
    // Streams pane: the poller's state is latest-value; entries pages answer on a channel.
    let (streams_tx, streams_rx) = mpsc::channel(8);
    let streams = StreamsRunner::spawn(route.clone(), streams_config, backend.clone(), streams_tx);
    let problems = problems::ProblemsTask::spawn(route.clone(), streams.state(), setup.doctor);
    // Keyspace pane: its own engine; deliveries, settings and enable outcomes come back
    // on this channel (bounded: the engine's inbox evicts, counted, if we fall behind).
    let (keyspace_tx, keyspace_rx) = mpsc::channel(64);
    let keyspace =
        keyspace::KeyspaceRunner::new(route.clone(), setup.keyspace, backend.clone(), keyspace_tx);
    let answers = Answers {
        export_rx,
        publish_rx,
        marked_rx,
        pending_rx,
        streams_rx,
        keyspace_rx,
        poll_state: poller.state(),
        poller_alive: true,
        streams_state: streams.state(),
        streams_alive: true,
        problems: problems.updates(),
        problems_alive: true,
    };
    let workers = Workers {
        subscriber,
        follower,
        poller,
        pending,
        streams,
        _problems: problems,
        keyspace,
        backend,
        publish_tx,
        marked_tx,
        export_tx,
    };
    (workers, answers)
}

impl Workers<'_> {
    /// Carry out one effect; false when it is the end (quit).
    fn run(&mut self, effect: Effect) -> bool {
        match effect {
            Effect::Quit => return false,
            Effect::Subscribe { kind, name } => self.subscriber.subscribe(kind, vec![name]),
            Effect::Unsubscribe { kind, name } => self.subscriber.unsubscribe(kind, vec![name]),
            Effect::SetClientsPolling(enabled) => self.poller.set_clients_enabled(enabled),
            // The pollers follow on their next cycle once the subscriber's login
            // succeeds (see `Route::refusal`).
            Effect::Retry => self.subscriber.retry_now(),
            // Written by the event loop, which owns the terminal.
            Effect::CopyToClipboard(_) => {}
            Effect::Pending(effect) => self.pending.run(effect),
            Effect::Streams(StreamsEffect::Follow { key, on }) => self.follower.set(key, on),
            Effect::Streams(effect) => self.streams.run(effect),
            Effect::Keyspace(effect) => self.keyspace.run(effect),
            Effect::Publish {
                channel,
                payload,
                shard,
            } => {
                let tx = self.publish_tx.clone();
                let backend = self.backend.clone();
                // Off the loop: a slow server must not stall keys or drawing. The action
                // layer refuses in read-only mode and audits either way.
                tokio::spawn(async move {
                    let result = backend
                        .publish(&channel, &payload, shard)
                        .await
                        .map(|outcome| PublishDone {
                            channel,
                            shard,
                            receivers: outcome.receivers,
                        });
                    let _ = tx.send(result).await;
                });
            }
            Effect::PublishMarked(messages) => {
                let tx = self.marked_tx.clone();
                let backend = self.backend.clone();
                // Off the loop, like a single publish.
                tokio::spawn(async move {
                    let _ = tx.send(backend.publish_marked(messages).await).await;
                });
            }
            Effect::AuditRefusal {
                action,
                stream,
                group,
            } => {
                let backend = self.backend.clone();
                tokio::spawn(async move {
                    backend
                        .audit_refusal(&action, stream.as_deref(), group.as_deref())
                        .await;
                });
            }
            Effect::Export { path, messages } => {
                let tx = self.export_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let result = write_export(&path, &messages)
                        .map(|count| ExportDone {
                            path: path.clone(),
                            count,
                        })
                        .map_err(|e| format!("{}: {e:#}", path.display()));
                    let _ = tx.blocking_send(result);
                });
            }
        }
        true
    }
}

fn draw(terminal: &mut Term, state: &AppState, no_color: bool) -> Result<()> {
    terminal
        .draw(|frame| {
            ui::render(state, frame);
            if no_color {
                ui::theme::monochrome(frame.buffer_mut());
            }
        })
        .context("drawing")?;
    Ok(())
}

async fn event_loop(
    terminal: &mut Term,
    state: &mut AppState,
    subscriber: &Subscriber,
    follower: &mut Follower,
    route: &Arc<Route>,
    setup: Setup,
    fps: u32,
) -> Result<()> {
    // `kill`, a closed terminal or a dropped SSH session: quit as on `q`, so the terminal
    // and any keyspace setting changed are put back (listening from before the workers
    // start, one of which may change a setting at launch).
    let mut stop = crate::signals::Stop::new().context("cannot listen for signals")?;
    let frame_interval = Duration::from_secs_f64(1.0 / f64::from(fps.clamp(1, 240)));
    let no_color = ui::theme::no_color_requested();
    let mut input = EventStream::new();
    let inbox = subscriber.inbox();
    let mut status = subscriber.status();
    let (mut workers, mut answers) = start_workers(state, subscriber, follower, route, setup);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut next_draw = Instant::now();
    let mut dirty = true;
    let mut backlog = false;
    let mut drain_due: Option<Instant> = None;
    let mut engine_alive = true;
    let mut last_counters = Counters::default();
    let mut batch: Vec<Delivery> = Vec::with_capacity(DRAIN_BATCH);

    // The first status may predate our receiver: apply it before waiting for changes.
    let first = status.borrow_and_update().clone();
    state.update(Event::Status(status_update(&first)), Utc::now());

    loop {
        let mut effects = Vec::new();
        tokio::select! {
            biased;
            event = input.next() => match event {
                Some(Ok(event)) => {
                    if let Some(event) = translate(event) {
                        effects = state.update(event, Utc::now());
                        dirty = true;
                    }
                }
                Some(Err(e)) => return Err(e).context("reading terminal input"),
                None => return Ok(()),
            },
            _ = stop.recv() => return Ok(()),
            _ = tokio::time::sleep_until(next_draw), if dirty => {
                draw(terminal, state, no_color)?;
                dirty = false;
                next_draw = Instant::now() + frame_interval;
            }
            _ = tick.tick() => {
                // Ticks start the Pending pane's periodic refresh: their effects run.
                effects = state.update(Event::Tick, Utc::now());
                dirty = true;
            }
            changed = status.changed(), if engine_alive => {
                let update = if changed.is_ok() {
                    status_update(&status.borrow_and_update().clone())
                } else {
                    // The engine only ends on shutdown; keep the UI up and say so.
                    engine_alive = false;
                    StatusUpdate { conn: ConnView::Stopped, wanted: state.subscriptions.clone() }
                };
                state.update(Event::Status(update), Utc::now());
                dirty = true;
            }
            answer = answers.next() => {
                effects = answers.apply(answer, state);
                dirty = true;
            }
            _ = inbox.notified(), if !backlog && drain_due.is_none() => {
                backlog = drain(&inbox, &mut batch, state);
                // Take the next messages in a moment, not at every read the engine makes:
                // a flood then costs one wake-up of this loop per DRAIN_PACE, not one per
                // socket read (which doubled the CPU per message). The inbox keeps
                // what arrives meanwhile; the permit of a notify is kept too.
                drain_due = Some(Instant::now() + DRAIN_PACE);
                dirty = true;
            }
            _ = tokio::time::sleep_until(drain_due.unwrap_or(next_draw)), if drain_due.is_some() && !backlog => {
                drain_due = None;
                if !inbox.is_empty() {
                    backlog = drain(&inbox, &mut batch, state);
                    dirty = true;
                }
            }
            _ = std::future::ready(()), if backlog => {
                backlog = drain(&inbox, &mut batch, state);
                dirty = true;
            }
            // Last: a filter's count runs step by step when nothing else is ready, so a
            // key (first in this select) never waits for more than one step.
            _ = std::future::ready(()), if state.has_work() => {
                let shows = state.work_shows();
                state.update(Event::Work, Utc::now());
                dirty |= shows;
            }
        }
        let counters = inbox.counters();
        if counters != last_counters {
            last_counters = counters;
            state.update(Event::EngineCounters(counters), Utc::now());
        }
        for effect in effects {
            if let Effect::CopyToClipboard(payload) = &effect {
                copy_to_clipboard(terminal, payload)?;
                continue;
            }
            if !workers.run(effect) {
                return Ok(());
            }
        }
    }
}

/// The OSC 52 "set the clipboard" sequence for `payload`: `ESC ] 52 ; c ; BASE64 BEL`.
/// Only base64 text goes between the delimiters, so no payload byte reaches the
/// terminal raw (the size cap is the state's, `send_again::COPY_MAX`).
pub fn osc52(payload: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let mut out = b"\x1b]52;c;".to_vec();
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(payload)
            .as_bytes(),
    );
    out.push(0x07);
    out
}

fn copy_to_clipboard(terminal: &mut Term, payload: &[u8]) -> Result<()> {
    let backend = terminal.backend_mut();
    backend
        .write_all(&osc52(payload))
        .and_then(|()| backend.flush())
        .context("writing the clipboard sequence to the terminal")
}

/// Take one bounded batch; true if more is waiting (so the loop comes back without a
/// notification, after giving input a turn).
fn drain(
    inbox: &crate::redis::inbox::Inbox,
    batch: &mut Vec<Delivery>,
    state: &mut AppState,
) -> bool {
    batch.clear();
    let n = inbox.drain_into(DRAIN_BATCH, batch);
    if n > 0 {
        state.update(Event::Deliveries(std::mem::take(batch)), Utc::now());
        *batch = Vec::with_capacity(DRAIN_BATCH);
    }
    n == DRAIN_BATCH && !inbox.is_empty()
}

fn translate(event: TermEvent) -> Option<Event> {
    match event {
        // Release events (kitty protocol, Windows) would double every key press.
        TermEvent::Key(key) if key.kind != KeyEventKind::Release => Some(Event::Key(key)),
        TermEvent::Mouse(mouse) => Some(Event::Mouse(mouse)),
        TermEvent::Resize(w, h) => Some(Event::Resize(w, h)),
        _ => None,
    }
}

/// The engine's status on the wall clock.
fn status_update(status: &Status) -> StatusUpdate {
    let conn = match &status.conn {
        ConnState::Connecting => ConnView::Connecting,
        ConnState::Connected { since } => ConnView::Connected { since: *since },
        ConnState::Disconnected {
            since,
            error,
            retry_at,
            attempt,
            fatal,
            ever_connected,
        } => {
            let wait = retry_at.saturating_duration_since(Instant::now());
            ConnView::Disconnected {
                since: *since,
                error: escape_str(error).into_owned(),
                retry_at: Utc::now() + TimeDelta::from_std(wait).unwrap_or_default(),
                attempt: *attempt,
                fatal: *fatal,
                ever_connected: *ever_connected,
            }
        }
        ConnState::Stopped => ConnView::Stopped,
    };
    StatusUpdate {
        conn,
        wanted: status.wanted.clone(),
    }
}

/// `<platform data dir>/exports`, or `./exports` where there is no home directory.
fn export_dir() -> PathBuf {
    directories::ProjectDirs::from("dev", "redtail", "redtail")
        .map(|dirs| dirs.data_dir().join("exports"))
        .unwrap_or_else(|| PathBuf::from("exports"))
}

fn write_export(path: &Path, messages: &[Message]) -> Result<usize> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .context("cannot create the export file")?;
    let mut out = io::BufWriter::new(file);
    let mut line = Vec::with_capacity(512);
    for m in messages {
        line.clear();
        format_jsonl(m, &mut line);
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(messages.len())
}

fn enter_terminal() -> Result<Term> {
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    if let Err(e) = crossterm::execute!(stdout, EnterAlternateScreen, EnableMouseCapture) {
        restore_terminal();
        return Err(e.into());
    }
    match Terminal::new(CrosstermBackend::new(stdout)) {
        Ok(t) => Ok(t),
        Err(e) => {
            restore_terminal();
            Err(e.into())
        }
    }
}

/// Idempotent: safe to call from the panic hook, a drop guard and the normal exit path.
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = crossterm::execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Restore the terminal before the panic message prints, so it is readable and the shell
/// is usable; then hand over to the previous hook (which prints the message).
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::message::Kind;
    use chrono::DateTime;

    #[test]
    fn export_writes_tail_jsonl_and_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("redtail-export-test-{}", std::process::id()));
        let path = dir.join("sub").join("x.jsonl");
        let _ = std::fs::remove_dir_all(&dir);
        let m = Message {
            seq: 1,
            received: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            kind: Kind::Message,
            pattern: None,
            channel: Bytes::from_static(b"c"),
            payload: Bytes::from_static(b"\x1b[2J"),
        };
        assert_eq!(write_export(&path, &[m.clone(), m]).ok(), Some(2));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains(r#""payload":"\u001b[2J""#), "{text}");
        assert!(
            write_export(&path, &[]).is_err(),
            "an existing file is kept"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
