//! Tailing streams into the feed: one task with a command connection of its own that
//! follows new entries of explicit stream keys with `XREAD BLOCK` and pushes them into the
//! same bounded [`Inbox`] the Pub/Sub engine fills, as [`Kind::StreamEntry`] messages.
//!
//! Reading is plain XREAD: it never joins a consumer group, never XREADGROUPs, never
//! XACKs, so group state (entries-read, pending) is untouched.
//!
//! Where reading starts: on the first connect each key's newest entry id is looked up
//! (XREVRANGE … COUNT 1; a missing or empty stream starts at 0-0, so everything added
//! later is new). After that the last id seen is kept, so entries added while the
//! connection was down are read after the reconnect (streams are durable, unlike
//! Pub/Sub). A key that cannot be read (WRONGTYPE, NOPERM) is reported once as a
//! [`Delivery::ServerError`] and left out until a later re-check succeeds.
//!
//! Payload rendering (see [`render_payload`]): the JSON text
//! `{"id":"…","fields":[["k","v"],…]}` (fields in producer order, duplicates kept), with
//! `{"b64":"…"}` in place of a name or value that is not UTF-8.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use redis::aio::MultiplexedConnection;
use redis::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::backoff::{clock_jitter, Backoff};
use super::cluster::key_slot;
use super::conn::Target;
use super::error::PollError;
use super::inbox::Inbox;
use super::message::{Delivery, Kind, Message};
use super::reply::{into_bytes, into_items, strip_attribute};
use super::route::{Mode, Route, SENTINEL_RECHECK};
use super::streams::{parse_entries, stream_error, StreamEntry, StreamId};
use crate::text::escape::escape_str;

/// Stream entries get sequence numbers from here up, apart from Pub/Sub's.
pub const SEQ_BASE: u64 = 1 << 48;
/// How long one XREAD waits on the server; well under the connection's 10 s timeout.
pub const BLOCK_MS: u64 = 2000;
/// Most entries one XREAD returns.
pub const READ_COUNT: usize = 1000;
/// Unreadable keys are re-checked this often.
const RECHECK: Duration = Duration::from_secs(5);

/// Handle to the running tail. Dropping it stops the task.
pub struct StreamTail {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl StreamTail {
    /// Follow `keys` (explicit stream keys, not globs) into `inbox`, reconnecting with the
    /// default backoff.
    /// In a cluster, one follower per hash slot that holds some of `keys`: one XREAD
    /// cannot span slots (CROSSSLOT, even on one node), and a slot's keys always move
    /// together. Each connect asks the route's topology which primary owns the slot, and
    /// a lost connection or a cluster error reads the topology again (from the other
    /// known nodes), so after a failover the follower reads on at the promoted replica
    /// from the last entry read. Outside a cluster a single follower asks the route at
    /// every connect, so through Sentinel it reads the primary the Sentinels name now
    /// (never the template's placeholder address), and after a failover the next
    /// connect asks them again.
    pub fn spawn_routed(
        route: &Arc<Route>,
        keys: Vec<Bytes>,
        inbox: Arc<Inbox>,
    ) -> Vec<StreamTail> {
        if keys.is_empty() {
            return Vec::new();
        }
        if !route.is_cluster() {
            return vec![StreamTail::start(
                Source::Route(route.clone()),
                keys,
                inbox,
                Backoff::default(),
            )];
        }
        let mut by_slot: std::collections::BTreeMap<u16, Vec<Bytes>> = Default::default();
        for key in keys {
            by_slot.entry(key_slot(&key)).or_default().push(key);
        }
        by_slot
            .into_iter()
            .map(|(slot, keys)| {
                let source = Source::Slot {
                    route: route.clone(),
                    slot,
                    redirect: None,
                };
                StreamTail::start(source, keys, inbox.clone(), Backoff::default())
            })
            .collect()
    }

    pub fn spawn(target: Target, keys: Vec<Bytes>, inbox: Arc<Inbox>) -> StreamTail {
        StreamTail::spawn_with(target, keys, inbox, Backoff::default())
    }

    /// [`StreamTail::spawn`] with the reconnect pacing given.
    pub fn spawn_with(
        target: Target,
        keys: Vec<Bytes>,
        inbox: Arc<Inbox>,
        backoff: Backoff,
    ) -> StreamTail {
        StreamTail::start(Source::Fixed(target), keys, inbox, backoff)
    }

    fn start(source: Source, keys: Vec<Bytes>, inbox: Arc<Inbox>, backoff: Backoff) -> StreamTail {
        let (stop, stop_rx) = watch::channel(false);
        let mut unique = Vec::new();
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        let tail = Tail {
            source,
            keys: unique,
            inbox,
            backoff,
            seq: SEQ_BASE,
            last: HashMap::new(),
            bad: HashMap::new(),
            reported: None,
        };
        let task = tokio::spawn(tail.run(stop_rx));
        StreamTail {
            stop,
            task: Some(task),
        }
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for StreamTail {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Where a follower connects.
enum Source {
    /// One node, as given (a cluster node, or a test's server).
    Fixed(Target),
    /// Whatever the route names at connect time: the one server, or the primary the
    /// Sentinels name.
    Route(Arc<Route>),
    /// The primary that owns a hash slot of a cluster, as the route's topology says at
    /// connect time; `redirect` is the node a MOVED named, tried once first.
    Slot {
        route: Arc<Route>,
        slot: u16,
        redirect: Option<Target>,
    },
}

struct Tail {
    source: Source,
    keys: Vec<Bytes>,
    inbox: Arc<Inbox>,
    backoff: Backoff,
    seq: u64,
    /// Last id read per key (read from after it).
    last: HashMap<Bytes, StreamId>,
    /// Keys that could not be read, with the error last reported for them.
    bad: HashMap<Bytes, String>,
    /// The last connection-wide error reported, so an outage is said once.
    reported: Option<String>,
}

impl Tail {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        if self.keys.is_empty() {
            return;
        }
        let mut attempt: u32 = 0;
        loop {
            let result = tokio::select! {
                r = self.session(&mut attempt) => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            if let Err(e) = result {
                self.report(e);
            }
            let delay = self.backoff.delay(attempt, clock_jitter());
            attempt = attempt.saturating_add(1);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// Connect, find where to start, then XREAD until something fails.
    async fn session(&mut self, attempt: &mut u32) -> Result<(), String> {
        let result = self.read_until_failure(attempt).await;
        if let (Err(_), Source::Route(route) | Source::Slot { route, .. }) = (&result, &self.source)
        {
            // A Sentinel may name another primary by now, or the slot's owner may have
            // died and a replica taken over: read the topology again (from the other
            // known nodes) on the next connect, after the backoff.
            route.invalidate();
        }
        result
    }

    /// Where this connect goes.
    async fn target(&mut self, attempt: u32) -> anyhow::Result<Target> {
        match &mut self.source {
            Source::Fixed(t) => Ok(t.clone()),
            Source::Route(route) => route.target(attempt).await,
            Source::Slot {
                route,
                slot,
                redirect,
            } => match redirect.take() {
                Some(t) => Ok(t),
                None => route.target_for_slot(*slot).await,
            },
        }
    }

    async fn read_until_failure(&mut self, attempt: &mut u32) -> Result<(), String> {
        let cannot_connect = |e: anyhow::Error| {
            format!(
                "{TRANSIENT}cannot connect: {}",
                escape_str(&format!("{e:#}"))
            )
        };
        let target = self.target(*attempt).await.map_err(cannot_connect)?;
        let mut conn = target.command_connection().await.map_err(cannot_connect)?;
        self.resolve(&mut conn, true).await?;
        *attempt = 0;
        let mut last_check = Instant::now();
        let mut last_asked = Instant::now();
        loop {
            if !self.bad.is_empty() && last_check.elapsed() >= RECHECK {
                self.resolve(&mut conn, false).await?;
                last_check = Instant::now();
            }
            let good: Vec<&Bytes> = self
                .keys
                .iter()
                .filter(|k| !self.bad.contains_key(*k))
                .collect();
            if good.is_empty() {
                tokio::time::sleep(RECHECK).await;
                continue;
            }
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS");
            for k in &good {
                cmd.arg(k.as_ref());
            }
            for k in &good {
                let id = self.last.get(*k).copied().unwrap_or(StreamId::new(0, 0));
                cmd.arg(id.to_string());
            }
            let reply: Value = match cmd.query_async(&mut conn).await {
                Ok(reply) => reply,
                Err(e) => return Err(self.failed("XREAD", &e)),
            };
            let batches = parse_xread(reply)
                .map_err(|what| format!("{TRANSIENT}XREAD failed: unexpected reply ({what})"))?;
            self.reported = None;
            let mut out = Vec::new();
            for (key, entries) in batches {
                for entry in entries {
                    self.last.insert(key.clone(), entry.id);
                    out.push(Delivery::Message(Message {
                        seq: self.seq,
                        received: Utc::now(),
                        kind: Kind::StreamEntry,
                        pattern: None,
                        channel: key.clone(),
                        payload: render_payload(&entry),
                    }));
                    self.seq += 1;
                }
            }
            self.inbox.push_batch(&mut out);
            self.still_the_primary(&target, &mut last_asked).await?;
        }
    }

    /// Through Sentinel: ends the session once the Sentinels name another primary, so
    /// the next connect reads there. After a failover the old primary keeps answering
    /// XREAD (with nothing new) until the Sentinels make it a replica, about 10 s later;
    /// entries added on the new one waited that long. Asked at most once a
    /// [`SENTINEL_RECHECK`] (the route asks a Sentinel no more often either); a Sentinel
    /// that does not answer leaves the session as it is.
    async fn still_the_primary(
        &self,
        target: &Target,
        last_asked: &mut Instant,
    ) -> Result<(), String> {
        let Source::Route(route) = &self.source else {
            return Ok(());
        };
        if !matches!(route.mode(), Mode::Sentinel(_)) || last_asked.elapsed() < SENTINEL_RECHECK {
            return Ok(());
        }
        *last_asked = Instant::now();
        match route.target(0).await {
            Ok(now) if now.addr() != target.addr() => Err(format!(
                "{TRANSIENT}the Sentinels name {} as the primary now (was {})",
                escape_str(&now.addr()),
                escape_str(&target.addr())
            )),
            _ => Ok(()),
        }
    }

    /// Find the start id of every key without one (`all`) or of the unreadable keys.
    /// Per-key server errors mark that key bad; connection errors end the session.
    async fn resolve(&mut self, conn: &mut MultiplexedConnection, all: bool) -> Result<(), String> {
        let keys: Vec<Bytes> = self
            .keys
            .iter()
            .filter(|k| (all && !self.last.contains_key(*k)) || self.bad.contains_key(*k))
            .cloned()
            .collect();
        for key in keys {
            let reply: Result<Value, redis::RedisError> = redis::cmd("XREVRANGE")
                .arg(key.as_ref())
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(conn)
                .await;
            match reply {
                Ok(v) => {
                    let entries = parse_entries(v).map_err(|what| {
                        format!("{TRANSIENT}XREVRANGE failed: unexpected reply ({what})")
                    })?;
                    self.bad.remove(&key);
                    self.last
                        .entry(key)
                        .or_insert_with(|| entries.first().map_or(StreamId::new(0, 0), |e| e.id));
                }
                Err(e) if e.code().is_some() => {
                    let text = format!(
                        "stream {}: {}",
                        escape_str(&String::from_utf8_lossy(&key)),
                        error_text("XREAD", &e)
                    );
                    if self.bad.get(&key) != Some(&text) {
                        self.push_error(text.clone());
                    }
                    self.bad.insert(key, text);
                }
                Err(e) => return Err(self.failed("XREVRANGE", &e)),
            }
        }
        Ok(())
    }

    fn report(&mut self, error: String) {
        if self.reported.as_ref() != Some(&error) {
            self.reported = Some(error.clone());
            self.push_error(error);
        }
    }

    fn push_error(&self, text: String) {
        self.inbox
            .push_batch(&mut vec![Delivery::ServerError(text)]);
    }
}

/// Errors that retrying may cure (lost connection, odd reply) start with this; a
/// server's refusal (WRONGTYPE, NOPERM) names the stream instead (`stream KEY: …`).
pub const TRANSIENT: &str = "stream tail: ";

impl Tail {
    /// The session's end after `command` failed with `e`. A MOVED (the slot was resharded,
    /// or the node came back as a replica after a failover) moves the follower to the
    /// node named: the next connect reads there, from the last id read, so no entry is
    /// missed (a MOVED ended `tail` with exit 1, its channel subscriptions with it).
    fn failed(&mut self, command: &str, e: &redis::RedisError) -> String {
        let moved_to = (e.code() == Some("MOVED"))
            .then(|| e.redirect_node())
            .flatten()
            .and_then(|(addr, _)| addr.rsplit_once(':'))
            .and_then(|(host, port)| Some((host.to_string(), port.parse::<u16>().ok()?)));
        if let Some((host, port)) = moved_to {
            match &mut self.source {
                Source::Fixed(target) => (target.host, target.port) = (host, port),
                Source::Slot {
                    route, redirect, ..
                } => {
                    // The seed's credentials and TLS; cluster nodes only have database 0.
                    let mut target = route.template().clone();
                    (target.host, target.port, target.db) = (host, port, 0);
                    *redirect = Some(target);
                }
                Source::Route(_) => {}
            }
        }
        session_error(command, e)
    }
}

/// An error that ends the session: a server refusal for the whole read, or a transient one
/// (a lost connection, an odd reply, or the cluster moving or being unable to serve the
/// slot for now: MOVED, ASK, TRYAGAIN, CLUSTERDOWN, or a node loading or read-only).
fn session_error(command: &str, e: &redis::RedisError) -> String {
    const PASSING: [&str; 7] = [
        "MOVED",
        "ASK",
        "TRYAGAIN",
        "CLUSTERDOWN",
        "LOADING",
        "READONLY",
        "MASTERDOWN",
    ];
    match e.code() {
        Some(code) if !PASSING.contains(&code) => format!("streams: {}", error_text(command, e)),
        _ => format!("{TRANSIENT}{}", error_text(command, e)),
    }
}

/// One line, escaped, that says what failed.
fn error_text(command: &str, e: &redis::RedisError) -> String {
    let err: PollError = match e.code() {
        Some(code) => stream_error(command, code, e.detail().unwrap_or("")),
        None => PollError::from_redis(command, e),
    };
    let text = err.to_string();
    // Keep the server's code first (e.g. "WRONGTYPE …") where the message leads with it.
    let text = match e.code() {
        Some(code) if !text.contains(code) => format!("{code} {text}"),
        _ => text,
    };
    escape_str(&text).into_owned()
}

/// `(key, entries)` per stream from an XREAD reply (RESP2 list or RESP3 map); nil (the
/// BLOCK timed out) is no entries.
pub fn parse_xread(v: Value) -> Result<Vec<(Bytes, Vec<StreamEntry>)>, String> {
    let pairs: Vec<(Value, Value)> = match strip_attribute(v) {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(map) => map,
        other => {
            let items = into_items(other).ok_or("not a list of streams")?;
            items
                .into_iter()
                .map(|item| {
                    let mut parts = into_items(item)
                        .ok_or("a stream is not a list")?
                        .into_iter();
                    match (parts.next(), parts.next()) {
                        (Some(k), Some(e)) => Ok((k, e)),
                        _ => Err("a stream is not a key/entries pair".to_string()),
                    }
                })
                .collect::<Result<_, String>>()?
        }
    };
    pairs
        .into_iter()
        .map(|(k, e)| {
            let key = into_bytes(k).ok_or("a stream key is not a string")?;
            Ok((key, parse_entries(e)?))
        })
        .collect()
}

/// The entry id at the start of a payload written by [`render_payload`]; None for any
/// other bytes. Ids are ASCII digits and one `-`, so no JSON escaping can hide in them.
pub fn payload_entry_id(payload: &[u8]) -> Option<&str> {
    let rest = payload.strip_prefix(b"{\"id\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let id = std::str::from_utf8(&rest[..end]).ok()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit() || b == b'-')).then_some(id)
}

/// The feed payload of an entry, always JSON and lossless:
/// `{"id":"…","fields":[["k","v"],…]}` in producer order with duplicates kept; a name or
/// value that is not UTF-8 is `{"b64":"…"}` in its place. Written with the one safe
/// JSON rule, so it is terminal-safe as it stands. The TUI shows (and pretty-prints) it,
/// filters match on it, and `tail --format jsonl` turns it back into real fields
/// (`jsonl::JsonlWriter`), so an entry costs no more memory than one JSON text.
pub fn render_payload(entry: &StreamEntry) -> Bytes {
    let size: usize = entry
        .fields
        .iter()
        .map(|(k, v)| k.len() + v.len() + 8)
        .sum();
    let mut out = Vec::with_capacity(size + 40);
    out.extend_from_slice(b"{\"id\":\"");
    out.extend_from_slice(entry.id.to_string().as_bytes());
    out.extend_from_slice(b"\",\"fields\":[");
    for (i, (k, v)) in entry.fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        crate::json::json_bytes(k, &mut out);
        out.push(b',');
        crate::json::json_bytes(v, &mut out);
        out.push(b']');
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fields: &[(&'static [u8], &'static [u8])]) -> StreamEntry {
        StreamEntry {
            id: StreamId::new(1700000000000, 3),
            fields: fields
                .iter()
                .map(|(k, v)| (Bytes::from_static(k), Bytes::from_static(v)))
                .collect(),
        }
    }

    #[test]
    fn utf8_entries_render_as_json_keeping_order_and_duplicates() {
        let p = render_payload(&entry(&[(b"b", b"2"), (b"a", b"\"x\""), (b"b", b"3")]));
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v["id"], "1700000000000-3");
        assert_eq!(payload_entry_id(&p), Some("1700000000000-3"));
        assert_eq!(payload_entry_id(b"{\"id\":\"x\"}"), None);
        assert_eq!(payload_entry_id(b"plain"), None);
        assert_eq!(
            v["fields"],
            serde_json::json!([["b", "2"], ["a", "\"x\""], ["b", "3"]])
        );
        assert_eq!(
            render_payload(&entry(&[])),
            Bytes::from_static(b"{\"id\":\"1700000000000-3\",\"fields\":[]}")
        );
    }

    #[test]
    fn binary_names_and_values_render_as_b64_objects() {
        let p = render_payload(&entry(&[(b"k", b"\xff\x00"), (b"\xfe=", b"1 2")]));
        assert_eq!(
            std::str::from_utf8(&p).unwrap(),
            r#"{"id":"1700000000000-3","fields":[["k",{"b64":"/wA="}],[{"b64":"/j0="},"1 2"]]}"#
        );
        let p = render_payload(&entry(&[(b"k\x1b\xc2\x9b", b"\xe2\x80\xae")]));
        assert_eq!(
            std::str::from_utf8(&p).unwrap(),
            r#"{"id":"1700000000000-3","fields":[["k\u001b\u009b","\u202e"]]}"#
        );
    }

    #[test]
    fn xread_replies_parse_in_both_protocols() {
        let bulk = |s: &[u8]| Value::BulkString(s.to_vec());
        let entries = Value::Array(vec![Value::Array(vec![
            bulk(b"5-1"),
            Value::Array(vec![bulk(b"f"), bulk(b"v")]),
        ])]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk(b"s"), entries.clone()])]);
        let resp3 = Value::Map(vec![(bulk(b"s"), entries)]);
        for v in [resp2, resp3] {
            let got = parse_xread(v).unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0, Bytes::from_static(b"s"));
            assert_eq!(got[0].1[0].id, StreamId::new(5, 1));
            assert_eq!(
                got[0].1[0].fields,
                vec![(Bytes::from_static(b"f"), Bytes::from_static(b"v"))]
            );
        }
        assert!(parse_xread(Value::Nil).unwrap().is_empty());
        assert!(parse_xread(Value::Int(3)).is_err());
    }
}
