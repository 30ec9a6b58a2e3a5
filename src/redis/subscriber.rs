//! The subscription engine: one dedicated connection that SUBSCRIBEs, PSUBSCRIBEs and
//! SSUBSCRIBEs, drains the socket at full speed into a bounded [`Inbox`], pings to detect
//! half-open connections, reconnects with backoff, re-subscribes everything and reports
//! each outage as a [`Gap`]. Through Sentinel or a Cluster, the per-node supervisor
//! (`per_node`) places engines on the right nodes and moves them when the primary changes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bytes::{Buf, Bytes, BytesMut};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::backoff::{clock_jitter, Backoff};
use super::conn::{Refusal, Target};
use super::inbox::{Caps, Inbox};
use super::keyspace::decode::{Decoded, Decoder, KeyspaceSpec};
use super::message::{Delivery, Gap, Kind, Message, SubKind};
use super::resp::{self, Frame, Parse};
use super::route::{Mode, Route};
use super::wire::{connect, Conn, Hello};
use crate::text::escape::escape_line;

mod sentinel;
mod sharded;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriptions {
    pub channels: BTreeSet<Bytes>,
    pub patterns: BTreeSet<Bytes>,
    pub shard_channels: BTreeSet<Bytes>,
}

impl Subscriptions {
    /// A subscribe or unsubscribe applied to the set: its kind and whether it subscribes;
    /// None for other controls (the set is unchanged).
    pub(super) fn apply(&mut self, ctl: &Control) -> Option<(SubKind, bool)> {
        let (kind, names, subscribe) = match ctl {
            Control::Subscribe(kind, names) => (*kind, names, true),
            Control::Unsubscribe(kind, names) => (*kind, names, false),
            Control::OpenGap(_) | Control::Retry | Control::Shutdown => return None,
        };
        let set = self.set_mut(kind);
        if subscribe {
            set.extend(names.iter().cloned());
        } else {
            for n in names {
                set.remove(n);
            }
        }
        Some((kind, subscribe))
    }

    pub fn set_mut(&mut self, kind: SubKind) -> &mut BTreeSet<Bytes> {
        match kind {
            SubKind::Channel => &mut self.channels,
            SubKind::Pattern => &mut self.patterns,
            SubKind::Shard => &mut self.shard_channels,
        }
    }
    pub fn set(&self, kind: SubKind) -> &BTreeSet<Bytes> {
        match kind {
            SubKind::Channel => &self.channels,
            SubKind::Pattern => &self.patterns,
            SubKind::Shard => &self.shard_channels,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty()
    }
    pub fn len(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
    /// Every (kind, name), in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (SubKind, &Bytes)> {
        self.channels
            .iter()
            .map(|c| (SubKind::Channel, c))
            .chain(self.patterns.iter().map(|p| (SubKind::Pattern, p)))
            .chain(self.shard_channels.iter().map(|s| (SubKind::Shard, s)))
    }
}

#[derive(Debug, Clone)]
pub struct SubscriberConfig {
    pub target: Target,
    /// Set to follow a Sentinel or a Cluster: each connect asks the route where to go
    /// (`target` is then only the template). In a cluster, shard channels are spread
    /// over one connection per slot owner.
    pub route: Option<Arc<Route>>,
    pub caps: Caps,
    /// Send a PING after this long without any data from the server…
    pub ping_interval: Duration,
    /// …and declare the connection dead if nothing arrives this long after it.
    pub ping_timeout: Duration,
    pub backoff: Backoff,
    pub client_name: String,
    /// Set for `tail --keyspace`: pmessages on `__keyspace@…` channels become
    /// [`Delivery::Keyspace`] events naming the node (see `redis::keyspace`).
    pub keyspace: Option<Arc<KeyspaceSpec>>,
    /// Run the engine (one node, not a cluster) on a thread of its own with a
    /// single-threaded runtime instead of as a task of the caller's runtime. For the TUI,
    /// whose runtime has two workers: there every socket read woke the other worker and
    /// the I/O driver across threads (futex, eventfd write, a second `epoll_wait`), which
    /// was the largest cost per message in a flood. `tail` runs on one thread already.
    pub own_thread: bool,
    /// After a small read, sleep this long (blocking the engine's thread) before reading
    /// again, so a flood arrives in fewer, bigger reads: each wake-up from `epoll_wait`
    /// costs more than parsing the ~16 KiB it brings. Zero (the default) only yields.
    /// For `tail`, whose engine and consumer share one thread of their own, and the
    /// TUI's engine on its own thread; never for engines that share a runtime (a
    /// cluster's), which the pause would stall in turn.
    pub coalesce_pause: Duration,
    /// Messages keep their payload as a slice of the socket read's buffer instead of a
    /// copy (one reference count per message, no memcpy): for `tail`, which prints and
    /// drops messages in the order they came, so the buffers they pin are the ones its
    /// bounded queue spans (a frame takes fewer bytes there than the queue counts for
    /// its message: `Message::approx_bytes`). Off for the TUI, whose feed keeps payloads
    /// over 16 KiB as they came and would pin a whole read buffer with each.
    pub share_read_buffer: bool,
}

/// The socket read buffer's size.
const READ_BUFFER: usize = 256 * 1024;

/// Reads smaller than this trigger the coalescing pause.
const COALESCE_BELOW: usize = 64 * 1024;

/// The pause for an engine on a thread of its own (`tail`, the TUI): 0.5 ms is about
/// 100 KB of a 1 KB-message flood at 200,000 messages/s, well inside the socket's receive
/// buffer, so the server never has to hold output back for us; and a read of 64 KiB or
/// more (a flood that outruns it) is followed by no pause at all.
pub const COALESCE_PAUSE: Duration = Duration::from_micros(500);

impl SubscriberConfig {
    pub fn new(target: Target) -> Self {
        SubscriberConfig {
            target,
            route: None,
            caps: Caps::default(),
            ping_interval: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
            client_name: "redtail-sub".into(),
            keyspace: None,
            own_thread: false,
            coalesce_pause: Duration::ZERO,
            share_read_buffer: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnState {
    Connecting,
    Connected {
        since: DateTime<Utc>,
    },
    Disconnected {
        since: DateTime<Utc>,
        error: String,
        /// When the next attempt starts.
        retry_at: Instant,
        attempt: u32,
        /// Retrying cannot help without a change (wrong password, missing permission, not
        /// a Redis server): the engine does not retry until [`Subscriber::retry_now`].
        fatal: bool,
        /// False until the first successful connect: a consumer may prefer to exit.
        ever_connected: bool,
    },
    Stopped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub conn: ConnState,
    /// What we want to be subscribed to (re-applied after every reconnect).
    pub wanted: Subscriptions,
    /// The node (host:port) the connection reached last: the server, the primary a
    /// Sentinel named, or in a cluster the classic subscriptions' node. `None` before
    /// the first connect. What "reconnected to …" names, not the URL's node.
    pub node: Option<String>,
    /// In a cluster: the nodes holding the shard channels (their slots' owners).
    pub shard_nodes: Vec<String>,
    /// Keyspace events: the nodes whose engines are connected — every serving primary
    /// of a cluster, else the server or the primary a Sentinel named.
    pub keyspace_nodes: Vec<String>,
}

impl Status {
    pub(super) fn connecting(wanted: Subscriptions) -> Status {
        Status {
            conn: ConnState::Connecting,
            wanted,
            node: None,
            shard_nodes: Vec::new(),
            keyspace_nodes: Vec::new(),
        }
    }
}

pub(super) enum Control {
    Subscribe(SubKind, Vec<Bytes>),
    Unsubscribe(SubKind, Vec<Bytes>),
    /// Channels about to be subscribed here moved from a node that still answered: a
    /// gap from the move to the next confirmed subscription (unless one is open).
    OpenGap(PendingGap),
    /// Try to connect now (after a fatal error, or instead of waiting out the backoff).
    Retry,
    Shutdown,
}

/// Handle to the running engine. Dropping it stops the engine.
pub struct Subscriber {
    control: mpsc::UnboundedSender<Control>,
    inbox: Arc<Inbox>,
    status: watch::Receiver<Status>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Subscriber {
    pub fn spawn(mut config: SubscriberConfig, initial: Subscriptions) -> Subscriber {
        let inbox = Arc::new(Inbox::new(config.caps));
        // Through Sentinel: one engine on the primary, moved (not reconnected by itself)
        // when the Sentinels name another, since the old primary keeps us connected after
        // a failover while the messages go to the new one.
        let sentinel = |r: &Arc<Route>| matches!(r.mode(), Mode::Sentinel(_));
        if let Some(route) = config.route.clone().filter(sentinel) {
            return sentinel::spawn(route, config, initial, inbox);
        }
        if let Some(route) = config.route.clone().filter(|r| r.is_cluster()) {
            // One engine per node, as tasks: `own_thread` and the blocking pause are for
            // the single engine.
            config.own_thread = false;
            config.coalesce_pause = Duration::ZERO;
            let (control_tx, control_rx) = mpsc::unbounded_channel();
            let (status_tx, status_rx) = watch::channel(Status::connecting(initial.clone()));
            let supervisor = sharded::Supervisor::new(
                route,
                config,
                initial,
                inbox.clone(),
                status_tx,
                control_rx,
            );
            return Subscriber {
                control: control_tx,
                inbox,
                status: status_rx,
                task: Some(tokio::spawn(supervisor.run())),
            };
        }
        let child = spawn_engine(config, initial, inbox.clone(), None, 0, None);
        Subscriber {
            control: child.control,
            inbox,
            status: child.status,
            task: Some(child.task),
        }
    }

    /// A handle on one engine that feeds `inbox`.
    pub(super) fn from_child(child: Child, inbox: Arc<Inbox>) -> Subscriber {
        Subscriber {
            control: child.control,
            inbox,
            status: child.status,
            task: Some(child.task),
        }
    }

    pub fn subscribe(&self, kind: SubKind, names: Vec<Bytes>) {
        let _ = self.control.send(Control::Subscribe(kind, names));
    }

    pub fn unsubscribe(&self, kind: SubKind, names: Vec<Bytes>) {
        let _ = self.control.send(Control::Unsubscribe(kind, names));
    }

    /// One new connection attempt now: the way out of a fatal error (the engine does not
    /// retry those by itself), or a shortcut through the backoff wait.
    pub fn retry_now(&self) {
        let _ = self.control.send(Control::Retry);
    }

    pub fn inbox(&self) -> Arc<Inbox> {
        self.inbox.clone()
    }

    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    pub async fn shutdown(mut self) {
        let _ = self.control.send(Control::Shutdown);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// One running engine: what [`Subscriber`] wraps, and what the cluster supervisor runs
/// per node.
pub(super) struct Child {
    pub(super) control: mpsc::UnboundedSender<Control>,
    pub(super) status: watch::Receiver<Status>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

/// A gap an engine reports once it has (re)subscribed: from when, and why.
/// A gap still open: where it starts, why, and whether it is a handover (see
/// [`Gap::handover`]).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PendingGap {
    pub(super) from: DateTime<Utc>,
    pub(super) reason: String,
    pub(super) handover: bool,
}

impl PendingGap {
    fn outage(from: DateTime<Utc>, reason: String) -> PendingGap {
        PendingGap {
            from,
            reason,
            handover: false,
        }
    }

    fn until(self, to: DateTime<Utc>) -> Gap {
        Gap {
            from: self.from,
            to,
            reason: self.reason,
            handover: self.handover,
        }
    }
}

/// Something a cluster supervisor must react to by reading the topology again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Notice {
    /// The node answered MOVED/ASK/CLUSTERDOWN to a subscription.
    Redirected,
    /// The server dropped a shard subscription we still want (its slot moved).
    Unsubscribed,
    /// The connection was lost.
    Lost,
}

/// An engine subscribing `initial` and feeding `inbox`. `handover`: a gap this engine
/// reports once it has connected and subscribed (it took over from an engine on a node
/// that stopped serving), and it counts as having been connected (its consumer keeps
/// going if its first connect fails).
pub(super) fn spawn_engine(
    config: SubscriberConfig,
    initial: Subscriptions,
    inbox: Arc<Inbox>,
    notices: Option<mpsc::UnboundedSender<Notice>>,
    seq_base: u64,
    handover: Option<PendingGap>,
) -> Child {
    let (status_tx, status_rx) = watch::channel(Status::connecting(initial.clone()));
    // Control messages are a handful of user actions; unbounded is fine here.
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let keyspace = config.keyspace.clone().map(Decoder::new);
    let own_thread = config.own_thread;
    let engine = Engine {
        config,
        wanted: initial,
        inbox,
        status: status_tx,
        control: control_rx,
        seq: seq_base,
        last_channel: Bytes::new(),
        last_pattern: Bytes::new(),
        slab: BytesMut::new(),
        parsed: Vec::new(),
        keyspace,
        notices,
        handover,
        open_gap: None,
    };
    Child {
        control: control_tx,
        status: status_rx,
        task: if own_thread {
            run_on_own_thread(engine)
        } else {
            tokio::spawn(engine.run())
        },
    }
}

/// Run `engine` on a new thread with a current-thread runtime; the returned task ends
/// when the engine does. The engine stops on `Control::Shutdown` or when its control
/// sender (the `Subscriber`) is dropped: aborting the returned task does not stop it.
/// If the runtime cannot be built, the engine runs as a task of the caller's runtime.
fn run_on_own_thread(engine: Engine) -> tokio::task::JoinHandle<()> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(_) => return tokio::spawn(engine.run()),
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    // If the thread cannot start, the engine is dropped with it: its status channel
    // closes and the consumer shows the engine stopped.
    let _ = std::thread::Builder::new()
        .name("redtail-sub".into())
        .spawn(move || {
            runtime.block_on(engine.run());
            let _ = done_tx.send(());
        });
    tokio::spawn(async move {
        let _ = done_rx.await;
    })
}

struct Engine {
    notices: Option<mpsc::UnboundedSender<Notice>>,
    config: SubscriberConfig,
    wanted: Subscriptions,
    inbox: Arc<Inbox>,
    status: watch::Sender<Status>,
    control: mpsc::UnboundedReceiver<Control>,
    seq: u64,
    /// Most messages in a burst share a channel: reuse its allocation.
    last_channel: Bytes,
    /// The same for the pattern of pmessages (`*` by default: every message has one).
    last_pattern: Bytes,
    /// Payloads are copied into shared slabs, not one allocation each (see `payload`).
    slab: BytesMut,
    /// The frames of one read, parsed before its bytes are split off (reused).
    parsed: Vec<Parsed>,
    /// Keyspace mode: decodes `__keyspace@…` pmessages and knows the node's address.
    keyspace: Option<Decoder>,
    /// The gap of a handover to this engine, reported on its first connect.
    handover: Option<PendingGap>,
    /// An outage or handover that ends when the server answers our first subscription
    /// after connecting.
    open_gap: Option<PendingGap>,
}

/// One frame of a read; ranges are positions in the read buffer.
enum Parsed {
    /// A message, pmessage or smessage read by the fast path ([`resp::parse_push`]).
    Push(resp::Push),
    /// Anything else, from the generic parser.
    Other(Frame),
}

/// Why a session ended.
enum End {
    Shutdown,
    /// The connection is gone; messages may have been lost since `since` (for a silent
    /// connection that is the last time we heard from the server, not when we noticed).
    Lost {
        reason: String,
        since: DateTime<Utc>,
    },
}

fn lost(reason: impl Into<String>) -> End {
    End::Lost {
        reason: reason.into(),
        since: Utc::now(),
    }
}

impl Engine {
    async fn run(mut self) {
        let mut attempt: u32 = 0;
        let mut down_since: Option<(DateTime<Utc>, String)> = None;
        // An engine taking over from another continues its connection.
        let mut ever_connected = self.handover.is_some();
        // An explicit retry connects even while the route has connects on hold.
        let mut retrying = false;
        loop {
            self.set_conn(ConnState::Connecting);
            let connected = self.connect_once(attempt, retrying).await;
            retrying = false;
            match connected {
                Ok((stream, addr)) => {
                    self.connected(&addr, down_since.take());
                    attempt = 0;
                    ever_connected = true;
                    // Plain sockets keep tokio's lock-free owned halves (the benchmarked
                    // path); TLS state is shared by both directions, so it needs
                    // `tokio::io::split`. `session` is generic, so neither pays for the other.
                    let end = match stream {
                        Conn::Plain(tcp) => {
                            let (rd, wr) = tcp.into_split();
                            self.session(rd, wr).await
                        }
                        Conn::Tls(tls) => {
                            let (rd, wr) = tokio::io::split(*tls);
                            self.session(rd, wr).await
                        }
                    };
                    match end {
                        End::Shutdown => break,
                        End::Lost { reason, since } => {
                            self.notify(Notice::Lost);
                            // Lost again before resubscribing: the gap goes on.
                            let since = self.open_gap.take().map_or(since, |gap| gap.from);
                            down_since = Some((since, reason));
                        }
                    }
                }
                Err(e) => {
                    let refused = match &self.config.route {
                        Some(route) => route.note_refusal(&e),
                        None => Refusal::of(&e).cloned(),
                    };
                    let reason = e.to_string();
                    if down_since.is_none() && ever_connected {
                        down_since = Some((Utc::now(), reason.clone()));
                    }
                    let fatal = refused.is_some() || is_fatal(&reason);
                    let delay = self.config.backoff.delay(attempt, clock_jitter());
                    self.set_conn(ConnState::Disconnected {
                        since: down_since.as_ref().map_or_else(Utc::now, |d| d.0),
                        error: reason,
                        retry_at: Instant::now() + if fatal { Duration::ZERO } else { delay },
                        attempt,
                        fatal,
                        ever_connected,
                    });
                    attempt = attempt.saturating_add(1);
                    // No retry storm: a refused login is tried again only when asked.
                    let stop = if fatal {
                        self.wait_for_retry().await
                    } else {
                        self.wait_or_control(delay).await
                    };
                    if stop {
                        break;
                    }
                    retrying = fatal;
                    continue;
                }
            }
            // Lost an established session: report, back off briefly, reconnect.
            let delay = self.config.backoff.delay(attempt, clock_jitter());
            if let Some((since, reason)) = &down_since {
                self.set_conn(ConnState::Disconnected {
                    since: *since,
                    error: reason.clone(),
                    retry_at: Instant::now() + delay,
                    attempt,
                    fatal: false,
                    ever_connected,
                });
            }
            attempt = attempt.saturating_add(1);
            if self.wait_or_control(delay).await {
                break;
            }
        }
        // A cluster supervisor stops an engine whose node is gone after moving its
        // subscriptions elsewhere: the outage still belongs in the feed (and a handover
        // this engine never got to report).
        let gap = match (self.handover.take().or(self.open_gap.take()), down_since) {
            (Some(handover), _) => Some(handover),
            (None, Some((from, reason))) if self.notices.is_some() => Some(PendingGap::outage(
                from,
                self.node_reason(format!("{reason}; subscriptions moved to another node")),
            )),
            _ => None,
        };
        if let Some(gap) = gap {
            self.push_gap(gap.until(Utc::now()));
        }
        self.set_conn(ConnState::Stopped);
    }

    /// Connected to `addr` (the subscriptions are sent next): the outage or handover
    /// that ends here is reported when the server confirms the first subscription
    /// (anything published before that is lost), or now if there is none to make.
    fn connected(&mut self, addr: &str, down_since: Option<(DateTime<Utc>, String)>) {
        let now = Utc::now();
        if let Some(k) = &mut self.keyspace {
            k.set_node(addr);
        }
        if let Some(route) = &self.config.route {
            route.clear_refusal();
        }
        // A handover's gap started earlier than any failed connect since, and covers it.
        let gap = match (self.handover.take(), down_since) {
            (Some(handover), _) => Some(handover),
            (None, Some((from, reason))) => {
                Some(PendingGap::outage(from, self.node_reason(reason)))
            }
            (None, None) => None,
        };
        match gap {
            Some(gap) if !self.wanted.is_empty() => self.open_gap = Some(gap),
            Some(gap) => self.push_gap(gap.until(now)),
            None => {}
        }
        self.status.send_modify(|s| {
            s.conn = ConnState::Connected { since: now };
            s.node = Some(addr.to_string());
        });
    }

    fn push_gap(&self, gap: Gap) {
        self.inbox.push_batch(&mut vec![Delivery::Gap(gap)]);
    }

    /// One connect, through the route when there is one. While the route has connects on
    /// hold (a login was refused, maybe by another task), only an explicit retry goes
    /// to the network.
    async fn connect_once(&self, attempt: u32, retrying: bool) -> Result<(Conn, String)> {
        let Some(route) = &self.config.route else {
            let conn = connect(&self.hello(), &self.config.target).await?;
            return Ok((conn, self.config.target.addr()));
        };
        if !retrying {
            route.check_refusal()?;
        }
        let target = route.target(attempt).await?;
        let conn = connect(&self.hello(), &target).await?;
        Ok((conn, target.addr()))
    }

    /// What the handshake says besides AUTH: our client name (no SELECT: Pub/Sub
    /// ignores databases).
    fn hello(&self) -> Hello<'_> {
        Hello {
            client_name: &self.config.client_name,
            db: None,
        }
    }

    /// In keyspace mode events come from many nodes: a gap says whose they are.
    fn node_reason(&self, reason: String) -> String {
        match &self.keyspace {
            Some(k) if !k.node().is_empty() => format!("node {}: {reason}", k.node()),
            _ => reason,
        }
    }

    /// After a fatal error: apply subscription changes until a retry (false) or a
    /// shutdown (true) is asked for.
    async fn wait_for_retry(&mut self) -> bool {
        loop {
            match self.control.recv().await {
                None | Some(Control::Shutdown) => return true,
                Some(Control::Retry) => return false,
                Some(c) => self.apply_wanted(&c),
            }
        }
    }

    fn notify(&self, notice: Notice) {
        if let Some(tx) = &self.notices {
            let _ = tx.send(notice);
        }
    }

    /// Sleep `delay` while still applying subscription changes; true on shutdown.
    async fn wait_or_control(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return false,
                ctl = self.control.recv() => match ctl {
                    None | Some(Control::Shutdown) => return true,
                    Some(Control::Retry) => return false,
                    Some(c) => { self.apply_wanted(&c); }
                },
            }
        }
    }

    fn apply_wanted(&mut self, c: &Control) {
        match c {
            Control::Subscribe(kind, names) => {
                self.wanted.set_mut(*kind).extend(names.iter().cloned());
            }
            Control::Unsubscribe(kind, names) => {
                let set = self.wanted.set_mut(*kind);
                for n in names {
                    set.remove(n);
                }
            }
            Control::OpenGap(gap) => {
                if self.open_gap.is_none() {
                    self.open_gap = Some(gap.clone());
                }
            }
            Control::Retry | Control::Shutdown => {}
        }
        let wanted = self.wanted.clone();
        self.status.send_modify(|s| s.wanted = wanted);
    }

    fn set_conn(&self, conn: ConnState) {
        self.status.send_modify(|s| s.conn = conn);
    }

    async fn session<R, W>(&mut self, mut rd: R, mut wr: W) -> End
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut out = Vec::new();
        for (kind, name) in self.wanted.iter() {
            resp::encode_command(&[kind.subscribe_cmd().as_bytes(), name], &mut out);
        }
        if let Err(e) = wr.write_all(&out).await {
            return lost(format!("write failed: {e}"));
        }
        let mut buf = BytesMut::with_capacity(READ_BUFFER);
        // The length of the partial frame at the buffer's start, when known.
        let mut need = 0;
        let mut batch: Vec<Delivery> = Vec::with_capacity(1024);
        let mut last_rx = Instant::now();
        let mut last_rx_wall = Utc::now();
        let mut ping_sent: Option<Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.make_read_room(&mut buf, need);
            tokio::select! {
                read = rd.read_buf(&mut buf) => {
                    match read {
                        Ok(0) => return lost("server closed the connection"),
                        Ok(n) => {
                            last_rx = Instant::now();
                            ping_sent = None;
                            last_rx_wall = Utc::now();
                            match self.parse_frames(&mut buf, &mut batch, last_rx_wall) {
                                Ok(hint) => need = hint,
                                Err(e) => return lost(e),
                            }
                            self.inbox.push_batch(&mut batch);
                            // A small read during a flood: let the consumer (and, in
                            // `tail`, the writer) run before reading again, so both sides
                            // move bigger chunks. Only a yield, never a sleep: a 1 ms pause
                            // capped reading at ~50 KB per pause and slowed the whole
                            // pipeline — the publisher took 4.7 s instead of 3.2 s for
                            // 1M × 100 B (`benches/ingest`).
                            // With shared read buffers, a big read yields too: the
                            // consumer then drops this read's messages before the next
                            // one, so the buffer is reused rather than replaced, and its
                            // backlog (a stretch without socket reads) stays short.
                            if n < COALESCE_BELOW {
                                tokio::task::yield_now().await;
                                if !self.config.coalesce_pause.is_zero() {
                                    std::thread::sleep(self.config.coalesce_pause);
                                }
                            } else if self.config.share_read_buffer {
                                tokio::task::yield_now().await;
                            }
                        }
                        Err(e) => return lost(format!("read failed: {e}")),
                    }
                }
                ctl = self.control.recv() => {
                    let ctl = match ctl {
                        None | Some(Control::Shutdown) => return End::Shutdown,
                        Some(c) => c,
                    };
                    self.apply_wanted(&ctl);
                    let mut out = Vec::new();
                    match &ctl {
                        Control::Subscribe(kind, names) | Control::Unsubscribe(kind, names) => {
                            let cmd = if matches!(ctl, Control::Subscribe(..)) {
                                kind.subscribe_cmd()
                            } else {
                                kind.unsubscribe_cmd()
                            };
                            // One command per name: SSUBSCRIBE needs one slot per call.
                            for n in names {
                                resp::encode_command(&[cmd.as_bytes(), n], &mut out);
                            }
                        }
                        Control::OpenGap(_) | Control::Retry | Control::Shutdown => {}
                    }
                    if let Err(e) = wr.write_all(&out).await {
                        return lost(format!("write failed: {e}"));
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    match ping_sent {
                        Some(at) if now.duration_since(at) > self.config.ping_timeout => {
                            return End::Lost {
                                reason: format!(
                                    "no reply to PING within {:.1} s (connection half-open?)",
                                    self.config.ping_timeout.as_secs_f64()
                                ),
                                since: last_rx_wall,
                            };
                        }
                        None if now.duration_since(last_rx) > self.config.ping_interval => {
                            let mut out = Vec::new();
                            resp::encode_command(&[b"PING"], &mut out);
                            // A stuck write is itself a sign of a dead peer.
                            match tokio::time::timeout(self.config.ping_timeout, wr.write_all(&out)).await {
                                Ok(Ok(())) => ping_sent = Some(now),
                                Ok(Err(e)) => return lost(format!("write failed: {e}")),
                                Err(_) => {
                                    return End::Lost {
                                        reason: "PING could not be sent (connection stuck)".into(),
                                        since: last_rx_wall,
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Parse every complete frame in `buf` into `batch`, leaving a partial frame behind;
    /// returns how long the buffer must be to hold that frame (0: not known yet).
    /// `received` is when the read that brought them ended.
    fn parse_frames(
        &mut self,
        buf: &mut BytesMut,
        batch: &mut Vec<Delivery>,
        received: DateTime<Utc>,
    ) -> Result<usize, String> {
        let mut parsed = std::mem::take(&mut self.parsed);
        parsed.clear();
        let scanned = self.scan_frames(buf, &mut parsed);
        let (used, hint) = match scanned {
            Ok(scanned) => scanned,
            Err(e) => {
                self.parsed = parsed;
                return Err(e);
            }
        };
        if self.config.share_read_buffer {
            let frames = buf.split_to(used).freeze();
            self.deliver_parsed(&frames, Some(&frames), &mut parsed, received, batch);
        } else {
            self.deliver_parsed(&buf[..used], None, &mut parsed, received, batch);
            buf.advance(used);
        }
        self.parsed = parsed;
        // The generic parser's hint counts from the start of the buffer we parsed.
        Ok(hint.saturating_sub(used))
    }

    /// Room for the next read (and for all of a frame `need` bytes long), made just
    /// before it: by then the consumer has had its turn, so with `share_read_buffer` the
    /// buffer is usually back to one owner and is reused (the partial frame moved to its
    /// front) instead of replaced. Reserving right after parsing, while the read's
    /// messages were still in the batch, allocated a new buffer of only 64 KiB each time
    /// (`BytesMut` allocates at least the original capacity, capped at 64 KiB), so
    /// every read was a small one followed by a pause: 2.5× the wall time for 1M × 1 KB.
    fn make_read_room(&self, buf: &mut BytesMut, need: usize) {
        if buf.capacity() < need || buf.capacity() - buf.len() < 16 * 1024 {
            let room = if self.config.share_read_buffer {
                READ_BUFFER / 2
            } else {
                64 * 1024
            };
            buf.reserve(room.max(need.saturating_sub(buf.len())));
        }
    }

    /// Every complete frame at the start of `buf`, into `parsed`: how many bytes they
    /// take and the generic parser's hint for the partial one after them.
    fn scan_frames(&self, buf: &[u8], parsed: &mut Vec<Parsed>) -> Result<(usize, usize), String> {
        // In keyspace mode pmessages are decoded as events: the generic path.
        let fast_pmessage = self.keyspace.is_none();
        let mut pos = 0;
        loop {
            if let Some(push) = resp::parse_push(buf, pos) {
                if push.kind != resp::PushKind::PMessage || fast_pmessage {
                    pos = push.end;
                    parsed.push(Parsed::Push(push));
                    continue;
                }
            }
            match resp::parse_from(buf, pos).map_err(|e| e.to_string())? {
                Parse::Incomplete { hint } => return Ok((pos, hint)),
                Parse::Complete(frame, end) => {
                    parsed.push(Parsed::Other(frame));
                    pos = end;
                }
            }
        }
    }

    /// Deliveries from the frames parsed out of `raw`; payloads are slices of `shared`
    /// (the same bytes) when given, copies otherwise.
    fn deliver_parsed(
        &mut self,
        raw: &[u8],
        shared: Option<&Bytes>,
        parsed: &mut Vec<Parsed>,
        received: DateTime<Utc>,
        batch: &mut Vec<Delivery>,
    ) {
        for p in parsed.drain(..) {
            match p {
                Parsed::Push(push) => batch.push(self.push_message(raw, shared, push, received)),
                Parsed::Other(frame) => {
                    if let Some(d) = self.delivery_from(raw, frame, received) {
                        // The server's first answer to our subscriptions (a refusal
                        // too: nothing would confirm then).
                        let confirmed = matches!(
                            d,
                            Delivery::Subscription {
                                subscribed: true,
                                ..
                            } | Delivery::ServerError(_)
                        );
                        if let Some(gap) = self.open_gap.take_if(|_| confirmed) {
                            batch.push(Delivery::Gap(gap.until(received)));
                        }
                        batch.push(d);
                    }
                }
            }
        }
    }

    /// The message of a frame the fast path read: the same as [`Self::delivery_from`]
    /// makes of it.
    fn push_message(
        &mut self,
        raw: &[u8],
        shared: Option<&Bytes>,
        push: resp::Push,
        received: DateTime<Utc>,
    ) -> Delivery {
        let pattern = push.pattern.map(|r| reuse(&mut self.last_pattern, &raw[r]));
        let channel = reuse(&mut self.last_channel, &raw[push.channel]);
        let payload = match shared {
            Some(frames) => frames.slice(push.payload),
            None => self.payload(&raw[push.payload]),
        };
        self.seq += 1;
        Delivery::Message(Message {
            seq: self.seq,
            received,
            kind: match push.kind {
                resp::PushKind::Message => Kind::Message,
                resp::PushKind::PMessage => Kind::PMessage,
                resp::PushKind::SMessage => Kind::SMessage,
            },
            pattern,
            channel,
            payload,
        })
    }

    fn delivery_from(
        &mut self,
        raw: &[u8],
        frame: Frame,
        received: DateTime<Utc>,
    ) -> Option<Delivery> {
        let bytes = |f: &Frame| match f {
            Frame::Bulk(r) | Frame::Simple(r) => Some(&raw[r.clone()]),
            _ => None,
        };
        match &frame {
            Frame::Error(r) => {
                let text = &raw[r.clone()];
                if super::error::is_cluster_redirect(text) {
                    self.notify(Notice::Redirected);
                }
                Some(Delivery::ServerError(escape_line(text).into_owned()))
            }
            Frame::Array(items) => {
                let kind = bytes(items.first()?)?;
                match (kind, items.len()) {
                    (b"message", 3) | (b"smessage", 3) => {
                        let channel = reuse(&mut self.last_channel, bytes(&items[1])?);
                        self.seq += 1;
                        Some(Delivery::Message(Message {
                            seq: self.seq,
                            received,
                            kind: if kind == b"message" {
                                Kind::Message
                            } else {
                                Kind::SMessage
                            },
                            pattern: None,
                            channel,
                            payload: self.payload(bytes(&items[2])?),
                        }))
                    }
                    (b"pmessage", 4) if self.keyspace.is_some() => {
                        let (p, c, x) = (bytes(&items[1])?, bytes(&items[2])?, bytes(&items[3])?);
                        let decoder = self.keyspace.as_mut()?;
                        match decoder.decode(&mut self.seq, received, p, c, x) {
                            Decoded::Event(e) => Some(Delivery::Keyspace(e)),
                            Decoded::Skip => None,
                            Decoded::NotKeyspace => self.keyspace_off_channel(p, c, x, received),
                        }
                    }
                    (b"pmessage", 4) => {
                        let pattern = reuse(&mut self.last_pattern, bytes(&items[1])?);
                        let channel = reuse(&mut self.last_channel, bytes(&items[2])?);
                        self.seq += 1;
                        Some(Delivery::Message(Message {
                            seq: self.seq,
                            received,
                            kind: Kind::PMessage,
                            pattern: Some(pattern),
                            channel,
                            payload: self.payload(bytes(&items[3])?),
                        }))
                    }
                    (name, 3) => {
                        let (kind, subscribed) = match name {
                            b"subscribe" => (SubKind::Channel, true),
                            b"unsubscribe" => (SubKind::Channel, false),
                            b"psubscribe" => (SubKind::Pattern, true),
                            b"punsubscribe" => (SubKind::Pattern, false),
                            b"ssubscribe" => (SubKind::Shard, true),
                            b"sunsubscribe" => (SubKind::Shard, false),
                            _ => return None,
                        };
                        let count = match items[2] {
                            Frame::Integer(n) => n,
                            _ => 0,
                        };
                        if kind == SubKind::Shard
                            && !subscribed
                            && self.notices.is_some()
                            && bytes(&items[1])
                                .is_some_and(|n| self.wanted.shard_channels.contains(n))
                        {
                            // Not asked for: the server dropped it because the slot moved.
                            self.notify(Notice::Unsubscribed);
                        }
                        Some(Delivery::Subscription {
                            kind,
                            name: Bytes::copy_from_slice(bytes(&items[1]).unwrap_or_default()),
                            subscribed,
                            count,
                        })
                    }
                    // PING replies in subscribed mode ("pong", "") and anything else.
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A pmessage in keyspace mode that is not a keyspace event (a key glob can only
    /// match keyspace channels, so this is rare): passed on as an ordinary message.
    fn keyspace_off_channel(
        &mut self,
        pattern: &[u8],
        channel: &[u8],
        payload: &[u8],
        received: DateTime<Utc>,
    ) -> Option<Delivery> {
        self.seq += 1;
        Some(Delivery::Message(Message {
            seq: self.seq,
            received,
            kind: Kind::PMessage,
            pattern: Some(Bytes::copy_from_slice(pattern)),
            channel: Bytes::copy_from_slice(channel),
            payload: self.payload(payload),
        }))
    }

    /// A copy of a small payload carved out of a shared 64 KiB slab: no allocation per
    /// message and no allocator overhead per retained payload (12 bytes of a 100-byte
    /// one). Consumers drop messages oldest first, so slabs are freed in turn; a slab
    /// lives as long as its newest retained payload. Large payloads get their own buffer.
    fn payload(&mut self, data: &[u8]) -> Bytes {
        const SLAB: usize = 64 * 1024;
        if data.is_empty() {
            return Bytes::new();
        }
        if data.len() > SLAB / 16 {
            return Bytes::copy_from_slice(data);
        }
        if self.slab.capacity() - self.slab.len() < data.len() {
            self.slab = BytesMut::with_capacity(SLAB);
        }
        self.slab.extend_from_slice(data);
        self.slab.split().freeze()
    }
}

/// `name` as `Bytes`, sharing `last`'s allocation when it is the same name (most messages
/// in a burst share their channel and pattern).
fn reuse(last: &mut Bytes, name: &[u8]) -> Bytes {
    if last.as_ref() != name {
        *last = Bytes::copy_from_slice(name);
    }
    last.clone()
}

fn is_fatal(reason: &str) -> bool {
    [
        "WRONGPASS",
        "NOAUTH",
        "NOPERM",
        "invalid password",
        "not supported",
        // TLS: a certificate the server or we reject, or a refusal alert, does not fix
        // itself by retrying; neither does an unreadable --cacert/--cert/--key file.
        "invalid peer certificate",
        "received fatal alert",
        "cannot read --",
        "--cacert file",
        "--cert file",
        "--key file",
    ]
    .iter()
    .any(|k| reason.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(share_read_buffer: bool) -> Engine {
        let target = Target::parse_url("redis://127.0.0.1:1").expect("url");
        let mut config = SubscriberConfig::new(target);
        config.share_read_buffer = share_read_buffer;
        let (status, _) = watch::channel(Status::connecting(Subscriptions::default()));
        let (_, control) = mpsc::unbounded_channel();
        Engine {
            notices: None,
            config,
            wanted: Subscriptions::default(),
            inbox: Arc::new(Inbox::new(Caps::default())),
            status,
            control,
            seq: 0,
            last_channel: Bytes::new(),
            last_pattern: Bytes::new(),
            slab: BytesMut::new(),
            parsed: Vec::new(),
            keyspace: None,
            handover: None,
            open_gap: None,
        }
    }

    /// An outage (or handover) ends when the server has confirmed the first
    /// subscription: anything published before it was processed is lost, so the gap
    /// runs to that read and comes before the confirmation and the messages after it.
    #[test]
    fn an_open_gap_ends_at_the_first_subscription_confirmed() {
        let mut e = engine(false);
        let from = Utc::now() - chrono::TimeDelta::seconds(3);
        e.open_gap = Some(PendingGap {
            from,
            reason: "node a no longer serves; b took over".into(),
            handover: true,
        });
        let mut stream = Vec::new();
        stream.extend_from_slice(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nch:0\r\n:1\r\n");
        resp::encode_command(&[b"message", b"ch:0", b"after"], &mut stream);
        stream.extend_from_slice(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nch:1\r\n:2\r\n");
        let received = Utc::now();
        let (mut buf, mut batch) = (BytesMut::from(&stream[..]), Vec::new());
        e.parse_frames(&mut buf, &mut batch, received)
            .expect("valid");
        assert_eq!(batch.len(), 4, "{batch:?}");
        assert_eq!(
            batch[0],
            Delivery::Gap(Gap {
                from,
                to: received,
                reason: "node a no longer serves; b took over".into(),
                handover: true,
            })
        );
        assert!(matches!(
            batch[1],
            Delivery::Subscription {
                subscribed: true,
                ..
            }
        ));
        assert!(matches!(batch[2], Delivery::Message(_)));
        assert!(
            matches!(batch[3], Delivery::Subscription { .. }),
            "one gap only"
        );
        assert!(e.open_gap.is_none());
    }

    /// What the engine delivered before the fast path: every frame through the generic
    /// parser and `delivery_from`.
    fn generic(bytes: &[u8], received: DateTime<Utc>) -> Vec<Delivery> {
        let mut e = engine(false);
        let mut out = Vec::new();
        let mut at = 0;
        while let Ok(Parse::Complete(frame, used)) = resp::parse(&bytes[at..]) {
            out.extend(e.delivery_from(&bytes[at..at + used], frame, received));
            at += used;
        }
        out
    }

    /// Messages of every kind, subscription confirmations and an error, in reads cut at
    /// random places: the fast path, with payloads copied (TUI) or sliced from the read
    /// buffer (`tail`), delivers exactly what the generic parser did.
    #[test]
    fn fast_path_and_shared_buffers_deliver_what_the_generic_parser_did() {
        let received = Utc::now();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut stream = Vec::new();
        for i in 0..2000u64 {
            let payload: Vec<u8> = (0..next(1500)).map(|j| (j * 7 + i) as u8).collect();
            let channel = format!("ch:{}", next(3)).into_bytes();
            let args: Vec<&[u8]> = match next(6) {
                0 => vec![b"pmessage", b"ch:*", &channel, &payload],
                1 => vec![b"smessage", &channel, &payload],
                2 if i % 50 == 0 => vec![b"subscribe", &channel],
                _ => vec![b"message", &channel, &payload],
            };
            if args[0] == b"subscribe" {
                stream.extend_from_slice(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nch:0\r\n:1\r\n");
            } else {
                resp::encode_command(&args, &mut stream);
            }
            if i == 1000 {
                stream.extend_from_slice(b"-ERR not now\r\n");
            }
        }
        let expected = generic(&stream, received);
        assert!(expected.len() > 1900);
        for share in [false, true] {
            let mut e = engine(share);
            let (mut buf, mut got, mut batch) = (BytesMut::new(), Vec::new(), Vec::new());
            let mut at = 0;
            while at < stream.len() {
                let n = (1 + next(40_000) as usize).min(stream.len() - at);
                buf.extend_from_slice(&stream[at..at + n]);
                at += n;
                e.parse_frames(&mut buf, &mut batch, received)
                    .expect("valid stream");
                got.append(&mut batch);
            }
            assert!(buf.is_empty());
            assert_eq!(got.len(), expected.len());
            assert!(got == expected, "share_read_buffer: {share}");
        }
    }
}
