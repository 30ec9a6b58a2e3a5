//! Pub/Sub figures (channels, shard channels, subscriber counts, pattern count) polled
//! from one server, and a background task that keeps the latest poll in a `watch`
//! channel for the UI.
//!
//! A poll costs two round trips however many channels exist: one pipeline asks for the
//! channel lists and NUMPAT, a second asks NUMSUB / SHARDNUMSUB for every name, chunked
//! so that no single command is huge but all chunks travel together.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use redis::aio::MultiplexedConnection;
use redis::Value;
use tokio::sync::{watch, Notify};

use crate::redis::backoff::{clock_jitter, Backoff};
use crate::redis::clients::{client_list_pubsub, pubsub_output_limit, OutputLimit, PubSubClient};
use crate::redis::conn::Target;
pub use crate::redis::error::{PollError, PollErrorKind};
pub(crate) use crate::redis::reply::{int_of, into_bytes, into_items, strip_attribute};
use crate::redis::route::{Pool, Route};

pub mod cluster;
pub use cluster::NodePubSub;

/// Most channel names in one NUMSUB command. Redis answers a NUMSUB in one go while
/// other clients wait, so thousands of names are split into several commands (still in
/// one pipeline, so still one round trip).
const MAX_NAMES_PER_COMMAND: usize = 1000;
/// Channel names can be up to 512 MB each; cap the argument bytes per command too, so a
/// handful of huge names do not make one enormous command.
const MAX_ARG_BYTES_PER_COMMAND: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// An ordinary channel (SUBSCRIBE / PUBLISH).
    Channel,
    /// A shard channel (SSUBSCRIBE / SPUBLISH, Redis 7.0+).
    Shard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelStat {
    /// Raw name: binary-safe, may be huge; escape it before showing it.
    pub name: Bytes,
    pub kind: ChannelKind,
    pub subscribers: i64,
}

#[derive(Debug, Clone)]
pub struct PubSubSnapshot {
    /// Sorted by kind, then name. Only channels with at least one subscriber.
    pub channels: Vec<ChannelStat>,
    /// Pattern subscriptions on the server (not clients: one client with two patterns
    /// counts twice).
    pub numpat: i64,
    /// False on servers before sharded Pub/Sub (Redis < 7.0): shard figures are then
    /// unknown rather than zero.
    pub shard_supported: bool,
    pub taken_at: DateTime<Utc>,
    pub took: Duration,
    pub commands_sent: usize,
    /// Per node, so in a cluster the longest chain (nodes are asked in parallel).
    pub round_trips: usize,
    /// Cluster only: each node's share (empty for a single server).
    pub nodes: Vec<NodePubSub>,
    /// Cluster only: parallel to `channels`, (index into `nodes`, subscribers there).
    pub channel_nodes: Vec<Vec<(u16, i64)>>,
}

/// One poll: two round trips whatever the number of channels.
pub async fn poll_pubsub(conn: &mut MultiplexedConnection) -> Result<PubSubSnapshot, PollError> {
    let started = Instant::now();
    let taken_at = Utc::now();

    let mut first = redis::pipe();
    first
        .cmd("PUBSUB")
        .arg("CHANNELS")
        .cmd("PUBSUB")
        .arg("NUMPAT")
        .cmd("PUBSUB")
        .arg("SHARDCHANNELS");
    // ignore_errors: each reply keeps its own error, so we can say which command failed
    // and tolerate an old server's missing SHARDCHANNELS.
    let replies: Vec<Value> = first
        .ignore_errors()
        .query_async(conn)
        .await
        .map_err(|e| PollError::from_redis("PUBSUB CHANNELS", &e))?;
    let first = parse_first_round(replies)?;
    let mut commands_sent = 3;

    let mut second = redis::pipe();
    let mut second_kinds = Vec::new();
    for chunk in chunk_names(&first.channels) {
        second.cmd("PUBSUB").arg("NUMSUB");
        for name in chunk {
            second.arg(name.as_ref());
        }
        second_kinds.push(ChannelKind::Channel);
    }
    for chunk in chunk_names(first.shard_channels.as_deref().unwrap_or_default()) {
        second.cmd("PUBSUB").arg("SHARDNUMSUB");
        for name in chunk {
            second.arg(name.as_ref());
        }
        second_kinds.push(ChannelKind::Shard);
    }

    let mut channels = Vec::new();
    let mut round_trips = 1;
    if !second_kinds.is_empty() {
        let replies: Vec<Value> = second
            .ignore_errors()
            .query_async(conn)
            .await
            .map_err(|e| PollError::from_redis("PUBSUB NUMSUB", &e))?;
        commands_sent += second_kinds.len();
        round_trips = 2;
        if replies.len() != second_kinds.len() {
            return Err(PollError::reply(
                "PUBSUB NUMSUB",
                &format!(
                    "{} replies to {} commands",
                    replies.len(),
                    second_kinds.len()
                ),
            ));
        }
        for (kind, reply) in second_kinds.into_iter().zip(replies) {
            let command = match kind {
                ChannelKind::Channel => "PUBSUB NUMSUB",
                ChannelKind::Shard => "PUBSUB SHARDNUMSUB",
            };
            let pairs = parse_numsub(command, reply)?;
            // A channel whose last subscriber left between the two round trips answers
            // 0; it no longer exists, so it is not listed.
            channels.extend(pairs.into_iter().filter(|(_, n)| *n > 0).map(
                |(name, subscribers)| ChannelStat {
                    name,
                    kind,
                    subscribers,
                },
            ));
        }
    }
    channels.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));

    Ok(PubSubSnapshot {
        channels,
        numpat: first.numpat,
        shard_supported: first.shard_channels.is_some(),
        taken_at,
        took: started.elapsed(),
        commands_sent,
        round_trips,
        nodes: Vec::new(),
        channel_nodes: Vec::new(),
    })
}

#[derive(Debug, PartialEq)]
struct FirstRound {
    channels: Vec<Bytes>,
    numpat: i64,
    /// None: the server has no sharded Pub/Sub.
    shard_channels: Option<Vec<Bytes>>,
}

fn parse_first_round(replies: Vec<Value>) -> Result<FirstRound, PollError> {
    let mut it = replies.into_iter();
    let (Some(channels), Some(numpat), Some(shard), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(PollError::reply("PUBSUB CHANNELS", "expected 3 replies"));
    };
    let channels = parse_name_list("PUBSUB CHANNELS", channels)?;
    let numpat = match numpat {
        Value::ServerError(e) => {
            return Err(PollError::from_server(
                "PUBSUB NUMPAT",
                e.code(),
                e.details().unwrap_or(""),
            ))
        }
        v => int_of(&v).ok_or_else(|| PollError::reply("PUBSUB NUMPAT", "not a number"))?,
    };
    let shard_channels = match shard {
        Value::ServerError(e)
            if e.details()
                .is_some_and(|d| d.to_ascii_lowercase().starts_with("unknown subcommand")) =>
        {
            None
        }
        v => Some(parse_name_list("PUBSUB SHARDCHANNELS", v)?),
    };
    Ok(FirstRound {
        channels,
        numpat,
        shard_channels,
    })
}

fn parse_name_list(command: &str, v: Value) -> Result<Vec<Bytes>, PollError> {
    if let Value::ServerError(e) = &v {
        return Err(PollError::from_server(
            command,
            e.code(),
            e.details().unwrap_or(""),
        ));
    }
    let items = into_items(v).ok_or_else(|| PollError::reply(command, "not a list"))?;
    items
        .into_iter()
        .map(|item| {
            into_bytes(item).ok_or_else(|| PollError::reply(command, "a name is not a string"))
        })
        .collect()
}

/// NUMSUB answers `name, count, name, count…` (RESP2) or a map (RESP3).
fn parse_numsub(command: &str, v: Value) -> Result<Vec<(Bytes, i64)>, PollError> {
    let bad = || PollError::reply(command, "not name/count pairs");
    let pairs: Vec<(Value, Value)> = match strip_attribute(v) {
        Value::ServerError(e) => {
            return Err(PollError::from_server(
                command,
                e.code(),
                e.details().unwrap_or(""),
            ))
        }
        Value::Map(pairs) => pairs,
        Value::Array(items) => {
            if items.len() % 2 != 0 {
                return Err(bad());
            }
            let mut it = items.into_iter();
            let mut pairs = Vec::new();
            while let (Some(name), Some(count)) = (it.next(), it.next()) {
                pairs.push((name, count));
            }
            pairs
        }
        _ => return Err(bad()),
    };
    pairs
        .into_iter()
        .map(|(name, count)| Some((into_bytes(name)?, int_of(&count)?)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)
}

/// Split names into commands of at most [`MAX_NAMES_PER_COMMAND`] names and about
/// [`MAX_ARG_BYTES_PER_COMMAND`] bytes (a single larger name gets a command of its own).
fn chunk_names(names: &[Bytes]) -> Vec<&[Bytes]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, name) in names.iter().enumerate() {
        let count = i - start;
        if count > 0
            && (count >= MAX_NAMES_PER_COMMAND || bytes + name.len() > MAX_ARG_BYTES_PER_COMMAND)
        {
            chunks.push(&names[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += name.len();
    }
    if start < names.len() {
        chunks.push(&names[start..]);
    }
    chunks
}

/// What the background poller last saw. Cloned out of a `watch` channel.
#[derive(Debug, Clone, Default)]
pub struct PollState {
    /// Increases with every published state, so a consumer can tell new from seen.
    pub generation: u64,
    /// The last successful poll; kept when a later poll fails, so compare its
    /// `taken_at` with now before calling its figures current.
    pub last_ok: Option<Arc<PubSubSnapshot>>,
    /// Set when the latest attempt failed (connect or poll); cleared by a success.
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// Only while clients are enabled ([`Poller::set_clients_enabled`]).
    pub clients: Option<Result<Vec<PubSubClient>, String>>,
    /// The `pubsub` class of client-output-buffer-limit, when readable.
    pub output_limit: Option<OutputLimit>,
    /// What is being watched when it is more than one server: "cluster · 3 primaries ·
    /// 3 replicas", "sentinel · mymaster at 10.0.0.5:6379".
    pub deployment: Option<String>,
}

impl PollState {
    /// True when `last_ok` is not the result of the latest attempt.
    pub fn is_stale(&self) -> bool {
        self.last_error.is_some()
    }
}

struct Control {
    clients_enabled: AtomicBool,
    wake: Notify,
}

/// Background task polling one server every `interval`, publishing into a `watch`
/// channel. Stops when dropped.
pub struct Poller {
    state: watch::Receiver<PollState>,
    control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl Poller {
    /// Must be called inside a tokio runtime. The first poll starts at once.
    pub fn spawn(target: Target, interval: Duration) -> Poller {
        Poller::spawn_route(Route::single(target), interval)
    }

    /// Poll whatever the route leads to: every node of a cluster, or the primary a
    /// Sentinel names (asked again after each lost connection).
    pub fn spawn_route(route: Arc<Route>, interval: Duration) -> Poller {
        let (tx, rx) = watch::channel(PollState::default());
        let control = Arc::new(Control {
            clients_enabled: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let task = tokio::spawn(run(route, interval, control.clone(), tx));
        Poller {
            state: rx,
            control,
            task,
        }
    }

    pub fn state(&self) -> watch::Receiver<PollState> {
        self.state.clone()
    }

    /// CLIENT LIST can be large and costs the server a scan of all clients, so it is
    /// only polled while something shows it. Enabling polls at once.
    pub fn set_clients_enabled(&self, enabled: bool) {
        let was = self
            .control
            .clients_enabled
            .swap(enabled, Ordering::Relaxed);
        if enabled && !was {
            self.control.wake.notify_one();
        }
    }

    /// Poll now instead of at the next tick. A request during a poll causes one more
    /// poll right after it (requests do not pile up).
    pub fn poll_now(&self) {
        self.control.wake.notify_one();
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    route: Arc<Route>,
    interval: Duration,
    control: Arc<Control>,
    tx: watch::Sender<PollState>,
) {
    // A zero interval would spin the task and hammer the server.
    let interval = interval.max(Duration::from_millis(50));
    let mut state = PollState::default();
    let mut pool = Pool::new();
    let mut single = Single {
        conn: None,
        failed_connects: 0,
        backoff: Backoff::default(),
    };
    loop {
        let clients_enabled = control.clients_enabled.load(Ordering::Relaxed);
        let wait = if route.is_cluster() {
            poll_cluster_once(&route, &mut pool, clients_enabled, &mut state).await;
            interval
        } else {
            single
                .poll_once(&route, interval, clients_enabled, &mut state)
                .await
        };
        if !clients_enabled {
            state.clients = None;
        }
        state.deployment = route.describe();
        state.generation += 1;
        tx.send_replace(state.clone());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = control.wake.notified() => {}
        }
    }
}

/// The connection to a single server (or the primary a Sentinel names).
struct Single {
    conn: Option<MultiplexedConnection>,
    failed_connects: u32,
    backoff: Backoff,
}

impl Single {
    /// One cycle; returns how long to wait before the next.
    async fn poll_once(
        &mut self,
        route: &Route,
        interval: Duration,
        clients_enabled: bool,
        state: &mut PollState,
    ) -> Duration {
        let mut wait = interval;
        if self.conn.is_none() {
            // While a login is refused, do not connect: the subscriber retries when the
            // user asks, and a success there lets the next cycle in.
            let connected = async {
                route.check_refusal()?;
                route
                    .target(self.failed_connects)
                    .await?
                    .command_connection()
                    .await
            };
            match connected.await {
                Ok(c) => {
                    self.conn = Some(c);
                    self.failed_connects = 0;
                }
                Err(e) => {
                    let message = format!("{e:#}");
                    if clients_enabled {
                        state.clients = Some(Err(message.clone()));
                    }
                    state.last_error = Some((Utc::now(), message));
                    if route.note_refusal(&e).is_none() {
                        wait = self.backoff.delay(self.failed_connects, clock_jitter());
                        self.failed_connects = self.failed_connects.saturating_add(1);
                    }
                }
            }
        }
        let Some(c) = self.conn.as_mut() else {
            return wait;
        };
        let mut lost = false;
        match poll_pubsub(c).await {
            Ok(snapshot) => {
                state.last_ok = Some(Arc::new(snapshot));
                state.last_error = None;
            }
            Err(e) => {
                lost |= e.is_connection();
                state.last_error = Some((Utc::now(), e.message));
            }
        }
        if clients_enabled && !lost {
            let clients = client_list_pubsub(c).await;
            lost |= clients.as_ref().is_err_and(PollError::is_connection);
            state.clients = Some(clients.map_err(|e| e.message));
            state.output_limit = pubsub_output_limit(c).await;
        }
        if lost {
            // The next cycle reconnects at once: the old connection will not recover (and
            // a Sentinel may name another primary by now).
            self.conn = None;
            route.invalidate();
            wait = Duration::ZERO;
        }
        wait
    }
}

/// One cluster cycle: figures from every node, and (when shown) every node's pub/sub
/// clients with the first readable output limit.
async fn poll_cluster_once(
    route: &Route,
    pool: &mut Pool,
    clients_enabled: bool,
    state: &mut PollState,
) {
    match cluster::poll_route(route, pool).await {
        Ok(snapshot) => {
            state.last_ok = Some(Arc::new(snapshot));
            state.last_error = None;
        }
        Err(e) => state.last_error = Some((Utc::now(), e.message)),
    }
    if !clients_enabled {
        state.clients = None;
        return;
    }
    let nodes = match route.all_nodes().await {
        Ok(n) => n,
        Err(e) => {
            state.clients = Some(Err(format!("{e:#}")));
            return;
        }
    };
    let mut all = Vec::new();
    let mut errors = Vec::new();
    let mut limit = None;
    for (_, target) in nodes {
        let mut c = match pool.get(&target).await {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{e:#}"));
                continue;
            }
        };
        match client_list_pubsub(&mut c).await {
            Ok(list) => all.extend(list),
            Err(e) => errors.push(format!("{}: {}", target.addr(), e.message)),
        }
        if limit.is_none() {
            limit = pubsub_output_limit(&mut c).await;
        }
    }
    state.clients = Some(if all.is_empty() && !errors.is_empty() {
        Err(errors.join("; "))
    } else {
        Ok(all)
    });
    state.output_limit = limit;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(resp: &[u8]) -> Value {
        redis::parse_redis_value(resp).expect("valid RESP")
    }

    #[test]
    fn noperm_says_what_to_grant() {
        let e = PollError::from_server(
            "PUBSUB CHANNELS",
            "NOPERM",
            "this user has no permissions to run the 'pubsub|channels' command",
        );
        assert_eq!(e.kind, PollErrorKind::Denied);
        assert!(
            e.message
                .starts_with("PUBSUB CHANNELS refused: NOPERM this user"),
            "{e}"
        );
        assert!(e.message.contains("grant +pubsub|channels"), "{e}");
        let e = PollError::from_server(
            "PUBLISH",
            "NOPERM",
            "this user has no permissions to access one of the channels used as arguments",
        );
        assert!(e.message.contains("&<pattern>"), "{e}");
    }

    #[test]
    fn unknown_command_is_explained_as_renamed_or_disabled() {
        let e = PollError::from_server(
            "PUBSUB CHANNELS",
            "ERR",
            "unknown command 'pubsub', with args beginning with: 'channels' ",
        );
        assert_eq!(e.kind, PollErrorKind::UnknownCommand);
        assert!(e.message.contains("renamed or disabled"), "{e}");
        assert!(e.message.contains("PUBSUB command"), "{e}");
    }

    #[test]
    fn server_text_is_escaped() {
        let e = PollError::from_server("PUBLISH", "ERR", "bad \x1b]0;title\x07 thing");
        assert!(!e.message.contains('\x1b'), "{e}");
        assert!(e.message.contains("\\x1b"), "{e}");
    }

    #[test]
    fn old_server_without_shardchannels_has_no_shard_figures() {
        let replies = vec![
            parse(b"*2\r\n$1\r\na\r\n$2\r\n\xff\x00\r\n"),
            parse(b":3\r\n"),
            parse(b"-ERR Unknown subcommand or wrong number of arguments for 'SHARDCHANNELS'. Try PUBSUB HELP.\r\n"),
        ];
        let first = parse_first_round(replies).unwrap();
        assert_eq!(
            first.channels,
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"\xff\x00")]
        );
        assert_eq!(first.numpat, 3);
        assert_eq!(first.shard_channels, None);
    }

    #[test]
    fn other_errors_fail_the_poll_naming_the_command() {
        let replies = vec![
            parse(b"*0\r\n"),
            parse(b":0\r\n"),
            parse(b"-NOPERM this user has no permissions to run the 'pubsub|shardchannels' command\r\n"),
        ];
        let e = parse_first_round(replies).unwrap_err();
        assert_eq!(e.command, "PUBSUB SHARDCHANNELS");
        assert!(e.message.contains("+pubsub|shardchannels"), "{e}");
        let e = parse_first_round(vec![parse(b"*0\r\n")]).unwrap_err();
        assert_eq!(e.kind, PollErrorKind::Reply);
    }

    #[test]
    fn numsub_accepts_arrays_and_maps_and_rejects_garbage() {
        let arr = parse(b"*4\r\n$1\r\na\r\n:2\r\n$1\r\nb\r\n:0\r\n");
        assert_eq!(
            parse_numsub("PUBSUB NUMSUB", arr).unwrap(),
            vec![(Bytes::from_static(b"a"), 2), (Bytes::from_static(b"b"), 0)]
        );
        let map = Value::Map(vec![(Value::BulkString(b"x".to_vec()), Value::Int(5))]);
        assert_eq!(
            parse_numsub("PUBSUB NUMSUB", map).unwrap(),
            vec![(Bytes::from_static(b"x"), 5)]
        );
        let odd = parse(b"*1\r\n$1\r\na\r\n");
        assert_eq!(
            parse_numsub("PUBSUB NUMSUB", odd).unwrap_err().kind,
            PollErrorKind::Reply
        );
        let not_int = parse(b"*2\r\n$1\r\na\r\n*0\r\n");
        assert!(parse_numsub("PUBSUB NUMSUB", not_int).is_err());
    }

    #[test]
    fn chunks_by_count_and_by_bytes() {
        let many: Vec<Bytes> = (0..2500).map(|i| Bytes::from(format!("c{i}"))).collect();
        let sizes: Vec<usize> = chunk_names(&many).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![1000, 1000, 500]);
        let big = Bytes::from(vec![b'x'; MAX_ARG_BYTES_PER_COMMAND + 1]);
        let names = vec![
            Bytes::from_static(b"a"),
            big.clone(),
            big,
            Bytes::from_static(b"b"),
        ];
        let sizes: Vec<usize> = chunk_names(&names).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![1, 1, 1, 1]);
        assert!(chunk_names(&[]).is_empty());
    }
}
