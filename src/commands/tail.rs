//! `redtail tail`: the headless consumer of the subscription engine.

mod keyspace;

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};

use crate::cli::{Format, TailArgs};
use crate::config::DecodeRules;
use crate::decode::Choice;
use crate::filter::Filter;
use crate::jsonl::{append_decoded, gap_jsonl, JsonlWriter};
use crate::redis::error::is_cluster_redirect;
use crate::redis::inbox::Caps;
use crate::redis::message::{Delivery, KeyEvent, Kind, Message};
use crate::redis::stream_tail::{self, StreamTail};
use crate::redis::subscriber::{ConnState, Status, Subscriber, SubscriberConfig};
use crate::text::escape::{escape_line, escape_str};

/// Deliveries handled per drain; stdout is flushed when the inbox runs empty.
const DRAIN_BATCH: usize = 4096;

pub async fn run(
    args: TailArgs,
    route: std::sync::Arc<crate::redis::route::Route>,
    decode: DecodeRules,
) -> Result<i32> {
    let filter = match &args.filter {
        // JSON-field tests read each payload as it is printed (`--decode`, `[decode]`):
        // one the named decoder does not take has no fields.
        Some(expr) => match Filter::parse(expr) {
            Ok(f) => Some(f.with_decoders(decode.decoders(args.decode).strict())),
            Err(e) => {
                eprintln!("redtail: {e}");
                return Ok(crate::exit::USAGE);
            }
        },
        None => None,
    };
    // Ctrl-C, `kill`, a closed terminal: stop as asked, putting back what was changed
    // (listening from before anything is changed).
    let mut stop = crate::signals::Stop::new().context("cannot listen for signals")?;
    let (subscriber, notifications) = if args.keyspace.is_on() {
        match keyspace::start(&args, &route, subscriber_config(&args, &route)).await {
            Ok(started) => started,
            Err(code) => return Ok(code),
        }
    } else {
        (spawn_subscriber(&args, &route), None)
    };
    let inbox = subscriber.inbox();
    let stream_tails = StreamTail::spawn_routed(
        &route,
        args.stream_keys
            .iter()
            .map(|k| crate::cli::name_bytes(k))
            .collect(),
        inbox.clone(),
    );
    let mut status = subscriber.status();
    let mut consumer = Consumer::new(&args, filter, decode, route.label());
    let mut batch = Vec::with_capacity(DRAIN_BATCH);
    // Fires SHIP_DELAY after output started waiting in a chunk smaller than SHIP_AT.
    let ship_timer = tokio::time::sleep(std::time::Duration::ZERO);
    tokio::pin!(ship_timer);

    let code = 'outer: loop {
        let now = status.borrow_and_update().clone();
        if let Some(code) = consumer.report_status(now) {
            break 'outer code;
        }
        loop {
            batch.clear();
            if inbox.drain_into(DRAIN_BATCH, &mut batch) == 0 {
                break;
            }
            for d in batch.drain(..) {
                if let Some(code) = consumer.deliver(d).await {
                    break 'outer code;
                }
            }
            // A backlog is worked through a batch at a time with the engine's turn in
            // between: it shares this thread, and a long stretch without socket reads
            // lets output pile up on the server (omem).
            tokio::task::yield_now().await;
        }
        consumer.report_drops(inbox.counters().evicted);
        // Caught up: hand a chunk worth a write to the writer now (it may wait while the
        // engine keeps reading the socket on this same thread); a smaller one waits up
        // to SHIP_DELAY for more. In a flood that is one write and one thread wake-up
        // per SHIP_AT bytes instead of per socket read.
        let ship_at = match consumer.out.ship_deadline() {
            Some(_) if consumer.out.worth_shipping() => None,
            deadline => deadline,
        };
        if ship_at.is_none() && consumer.out.ship().await.is_err() {
            break 'outer consumer.out.finish();
        }
        if let Some(at) = ship_at {
            if ship_timer.deadline() != at {
                ship_timer.as_mut().reset(at);
            }
        }
        tokio::select! {
            _ = &mut ship_timer, if ship_at.is_some() => {
                if consumer.out.ship().await.is_err() {
                    break 'outer consumer.out.finish();
                }
            }
            _ = inbox.notified() => {}
            r = status.changed() => { if r.is_err() { break 'outer 1; } }
            _ = stop.recv() => break 'outer 0,
        }
    };
    let _ = consumer.out.ship().await;
    let write_code = consumer.out.finish();
    subscriber.shutdown().await;
    for t in stream_tails {
        t.shutdown().await;
    }
    if let Some(n) = notifications {
        n.finish().await;
    }
    Ok(if code == 0 { write_code } else { code })
}

/// The engine for `tail`: routed (Sentinel, Cluster, and a login the route saw refused is
/// not tried again), pinging a silent connection, buffering within the given caps.
fn spawn_subscriber(
    args: &TailArgs,
    route: &std::sync::Arc<crate::redis::route::Route>,
) -> Subscriber {
    let mut subs = args.subs.subscriptions();
    if subs.is_empty() && args.stream_keys.is_empty() {
        eprintln!("redtail: no --channel/--pattern/--shard-channel given: following every classic channel (PSUBSCRIBE *)");
        subs.patterns.insert(bytes::Bytes::from_static(b"*"));
    }
    let mut config = subscriber_config(args, route);
    // Engine and consumer share this runtime's one thread, and the writer has a thread
    // of its own: a short pause after a small read costs the consumer nothing and
    // brings a flood in several times fewer reads and wake-ups (see `coalesce_pause`).
    config.coalesce_pause = crate::redis::subscriber::COALESCE_PAUSE;
    // Lines are printed in order and their messages dropped: payloads can stay in the
    // read buffers instead of being copied out (see `share_read_buffer`).
    config.share_read_buffer = true;
    Subscriber::spawn(config, subs)
}

/// Routing, liveness pings and buffer caps from the flags (shared by `--keyspace`).
fn subscriber_config(
    args: &TailArgs,
    route: &std::sync::Arc<crate::redis::route::Route>,
) -> SubscriberConfig {
    let mut config = SubscriberConfig::new(route.template().clone());
    config.route = Some(route.clone());
    let ping = std::time::Duration::from_secs_f64(args.ping_interval.clamp(0.1, 3600.0));
    config.ping_interval = ping;
    config.ping_timeout = ping;
    config.caps = Caps {
        max_items: args.max_buffered.max(1),
        max_bytes: args.max_buffered_bytes.max(1),
    };
    config
}

/// What `tail` prints, and how: filtering, formatting, counting, reporting outages and
/// drops on stderr. `Some(code)` from a method means: stop with that exit code.
struct Consumer {
    filter: Option<Filter>,
    /// The filter for stream entries: printed undecoded (our own JSON of their fields),
    /// so read as JSON, whatever `--decode` or `[decode]` says for their key.
    entry_filter: Option<Filter>,
    format: Format,
    escape: bool,
    /// `--decode` (wins) and the config's `[decode]` globs.
    decode_flag: Option<Choice>,
    decode_rules: DecodeRules,
    count: Option<u64>,
    printed: u64,
    reported_evicted: u64,
    jsonl: JsonlWriter,
    out: Output,
    /// The URL's server, named when the engine does not say which node it reached.
    target: String,
    last_conn: ConnState,
    was_down: bool,
}

impl Consumer {
    fn new(
        args: &TailArgs,
        filter: Option<Filter>,
        decode_rules: DecodeRules,
        target: String,
    ) -> Consumer {
        let style = LineStyle {
            format: args.format,
            escape: args.escape || std::io::stdout().is_terminal(),
        };
        let entry_filter = args.filter.as_deref().and_then(|e| Filter::parse(e).ok());
        Consumer {
            filter,
            entry_filter,
            format: style.format,
            escape: style.escape,
            decode_flag: args.decode,
            decode_rules,
            count: args.count,
            printed: 0,
            reported_evicted: 0,
            jsonl: JsonlWriter::default(),
            out: Output::start(style),
            target,
            last_conn: ConnState::Connecting,
            was_down: false,
        }
    }

    /// Connect failures and reconnects, on stderr; a failure before the first connect or
    /// a fatal one (refused login, not Redis) ends the command.
    fn report_status(&mut self, status: Status) -> Option<i32> {
        let conn = status.conn.clone();
        if conn == self.last_conn {
            return None;
        }
        match &conn {
            ConnState::Disconnected {
                error,
                fatal,
                ever_connected,
                retry_at,
                ..
            } => {
                if !ever_connected || *fatal {
                    eprintln!("redtail: {error}");
                    return Some(1);
                }
                if !self.was_down {
                    self.was_down = true;
                    let wait = retry_at.saturating_duration_since(tokio::time::Instant::now());
                    eprintln!(
                        "redtail: connection lost ({error}); reconnecting in {:.1} s",
                        wait.as_secs_f64()
                    );
                }
            }
            ConnState::Connected { .. } if self.was_down => {
                self.was_down = false;
                eprintln!("redtail: reconnected to {}", self.reached(&status));
            }
            _ => {}
        }
        self.last_conn = conn;
        None
    }

    /// The node the connection really reached (after a failover, not the URL's), and in
    /// a cluster where the shard channels are: `10.0.0.7:7003 (shard channels on …)`;
    /// for keyspace events every node followed: `10.0.0.7:7003, 10.0.0.8:7001, …`.
    fn reached(&self, status: &Status) -> String {
        let mut text = match (&status.node, status.keyspace_nodes.is_empty()) {
            (_, false) => status.keyspace_nodes.join(", "),
            (Some(node), true) => node.clone(),
            (None, true) => self.target.clone(),
        };
        if !status.shard_nodes.is_empty() {
            text.push_str(&format!(
                " (shard channels on {})",
                status.shard_nodes.join(", ")
            ));
        }
        escape_str(&text).into_owned()
    }

    async fn deliver(&mut self, d: Delivery) -> Option<i32> {
        match d {
            Delivery::Message(m) => return self.message(&m).await,
            Delivery::Keyspace(e) => return self.key_event(&e).await,
            Delivery::Gap(g) => {
                if self.format == Format::Jsonl {
                    gap_jsonl(&g, &mut self.out.pending);
                }
                if self.out.ship().await.is_err() {
                    return Some(self.out.finish());
                }
                eprintln!("redtail: {}", g.describe());
            }
            Delivery::ServerError(e) if e.starts_with(stream_tail::TRANSIENT) => {
                // The stream tail retries by itself; say so and keep going.
                let _ = self.out.ship().await;
                eprintln!("redtail: {e}; retrying");
            }
            Delivery::ServerError(e) if is_cluster_redirect(e.as_bytes()) => {
                // A cluster moved the slot (or is between owners): the subscriber reads
                // the topology again and subscribes where it now lives. Passing (tail
                // ended with exit 1 on a MOVED after a slot migration).
                let _ = self.out.ship().await;
                eprintln!("redtail: {e}; following the cluster to the slot's owner");
            }
            Delivery::ServerError(e) => {
                let _ = self.out.ship().await;
                if e.starts_with("stream ") {
                    eprintln!("redtail: {e}");
                } else {
                    eprintln!("redtail: the server refused a subscription: {e}");
                }
                if e.starts_with("NOPERM") {
                    eprintln!("redtail: this ACL user may not access that channel; grant it (e.g. ACL SETUSER … &channel) or subscribe to another");
                }
                return Some(1);
            }
            Delivery::Subscription { .. } => {}
        }
        None
    }

    async fn message(&mut self, m: &Message) -> Option<i32> {
        let filter = match m.kind {
            Kind::StreamEntry => &self.entry_filter,
            _ => &self.filter,
        };
        if let Some(f) = filter {
            if !f.matches(&m.channel, &m.payload) {
                return None;
            }
        }
        let decode = match m.kind {
            Kind::StreamEntry => None,
            _ => self
                .decode_flag
                .or_else(|| self.decode_rules.choice_for(&m.channel)),
        };
        if let Some(choice) = decode {
            // Decoding is the writer thread's work: this thread also reads the socket.
            self.out.defer(m.clone(), choice);
        } else {
            // Straight into the output chunk: no per-line buffer to copy from.
            match self.format {
                Format::Text => format_text(m, self.escape, &mut self.out.pending),
                Format::Jsonl => self.jsonl.write(m, &mut self.out.pending),
            }
        }
        self.emit().await
    }

    /// A keyspace event; for `--filter` the key is the channel and the event the payload.
    async fn key_event(&mut self, e: &KeyEvent) -> Option<i32> {
        if let Some(f) = &self.filter {
            if !f.matches(&e.key, &e.event) {
                return None;
            }
        }
        match self.format {
            Format::Text => format_key_event(e, self.escape, &mut self.out.pending),
            Format::Jsonl => self.jsonl.write_key_event(e, &mut self.out.pending),
        }
        self.emit().await
    }

    /// Count the line just queued; `Some(code)` when `-n` is reached or stdout is gone.
    async fn emit(&mut self) -> Option<i32> {
        self.printed += 1;
        if self.count.is_some_and(|n| self.printed >= n) {
            return Some(0);
        }
        if self.out.full() && self.out.ship().await.is_err() {
            return Some(self.out.finish());
        }
        None
    }

    /// What the engine evicted because stdout was slower than the channel.
    fn report_drops(&mut self, evicted: u64) {
        if evicted <= self.reported_evicted {
            return;
        }
        let n = evicted - self.reported_evicted;
        self.reported_evicted = evicted;
        if self.format == Format::Jsonl {
            let _ = writeln!(self.out.pending, "{{\"kind\":\"dropped\",\"count\":{n}}}");
        }
        eprintln!("redtail: dropped {n} messages: output was slower than the channel");
    }
}

/// Output is written by a thread of its own, in chunks: the engine and this consumer
/// share one thread (no cross-thread wake-up per socket read), and a slow or blocked
/// stdout only delays the consumer — never the socket reads, which keep draining into
/// the bounded inbox.
const OUTPUT_CHUNK: usize = 512 * 1024;
/// Messages left for the writer thread to decode, per chunk.
const DEFERRED_CHUNK: usize = 1024;
/// A chunk this big goes to the writer as soon as the consumer has caught up… (256 KiB:
/// in a 1 KB flood a quarter of the writer's wake-ups and writes of 64 KiB chunks)
const SHIP_AT: usize = 256 * 1024;
/// …a smaller one after waiting this long for more (with tokio's millisecond timer,
/// 1–2 ms: no one sees that delay, and a flood ships whole chunks).
const SHIP_DELAY: std::time::Duration = std::time::Duration::from_millis(1);

/// How lines look; the writer thread needs it for the messages it decodes.
#[derive(Debug, Clone, Copy)]
struct LineStyle {
    format: Format,
    escape: bool,
}

/// A message the writer thread decodes and formats, at `offset` in the chunk's bytes.
struct Deferred {
    offset: usize,
    message: Message,
    choice: Choice,
}

/// Formatted bytes, with the messages still to decode placed among them.
struct Chunk {
    bytes: Vec<u8>,
    deferred: Vec<Deferred>,
}

struct Output {
    pending: Vec<u8>,
    /// When the oldest unshipped output was queued (see `ship_deadline`).
    waiting_since: Option<tokio::time::Instant>,
    deferred: Vec<Deferred>,
    tx: Option<tokio::sync::mpsc::Sender<Chunk>>,
    /// Chunk buffers the writer is done with, to fill again: a fresh half-megabyte
    /// buffer per chunk cost page faults (3–4 % of `tail`'s CPU in a 1 KB flood).
    recycled: std::sync::mpsc::Receiver<Vec<u8>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Output {
    fn start(style: LineStyle) -> Output {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(4);
        let (recycle, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
        let writer = std::thread::spawn(move || {
            let mut stdout = std::io::stdout().lock();
            let mut decoder = DecodingWriter::new(style);
            while let Some(chunk) = rx.blocking_recv() {
                decoder.write_chunk(&chunk, &mut stdout)?;
                stdout.flush()?;
                let mut bytes = chunk.bytes;
                bytes.clear();
                let _ = recycle.send(bytes);
            }
            Ok(())
        });
        Output {
            pending: Vec::with_capacity(OUTPUT_CHUNK + 4096),
            waiting_since: None,
            deferred: Vec::new(),
            tx: Some(tx),
            recycled,
            writer: Some(writer),
        }
    }

    fn defer(&mut self, message: Message, choice: Choice) {
        self.deferred.push(Deferred {
            offset: self.pending.len(),
            message,
            choice,
        });
    }

    /// When what is pending must be shipped at the latest: SHIP_DELAY after it began to
    /// wait; None when nothing is pending.
    fn ship_deadline(&mut self) -> Option<tokio::time::Instant> {
        if self.pending.is_empty() && self.deferred.is_empty() {
            self.waiting_since = None;
            return None;
        }
        let since = *self
            .waiting_since
            .get_or_insert_with(tokio::time::Instant::now);
        Some(since + SHIP_DELAY)
    }

    /// Enough for a write of its own: ship without waiting.
    fn worth_shipping(&self) -> bool {
        self.pending.len() >= SHIP_AT || !self.deferred.is_empty()
    }

    fn full(&self) -> bool {
        self.pending.len() >= OUTPUT_CHUNK || self.deferred.len() >= DEFERRED_CHUNK
    }

    /// Send what is pending to the writer; Err when the writer has stopped (stdout gone).
    async fn ship(&mut self) -> Result<(), ()> {
        if self.pending.is_empty() && self.deferred.is_empty() {
            return Ok(());
        }
        self.waiting_since = None;
        // The writer holds at most the channel's 4 chunks and the one it writes: at most
        // six buffers are ever in use (each capped by how big a chunk grew).
        let next = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(OUTPUT_CHUNK + 4096));
        let chunk = Chunk {
            bytes: std::mem::replace(&mut self.pending, next),
            deferred: std::mem::take(&mut self.deferred),
        };
        match &self.tx {
            Some(tx) => tx.send(chunk).await.map_err(|_| ()),
            None => Err(()),
        }
    }

    /// Stop the writer after it wrote everything shipped; the exit code its result means.
    fn finish(&mut self) -> i32 {
        self.tx = None;
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(Err(e))) => broken_pipe_code(&e),
            Some(Err(_)) => 1,
            _ => 0,
        }
    }
}

/// The writer thread's side: writes a chunk's bytes, decoding and formatting its deferred
/// messages in their places.
struct DecodingWriter {
    style: LineStyle,
    jsonl: JsonlWriter,
    line: Vec<u8>,
}

impl DecodingWriter {
    fn new(style: LineStyle) -> DecodingWriter {
        DecodingWriter {
            style,
            jsonl: JsonlWriter::default(),
            line: Vec::with_capacity(512),
        }
    }

    fn write_chunk(&mut self, chunk: &Chunk, out: &mut impl Write) -> std::io::Result<()> {
        let mut at = 0;
        for d in &chunk.deferred {
            out.write_all(&chunk.bytes[at..d.offset])?;
            at = d.offset;
            self.line.clear();
            self.format(&d.message, d.choice);
            out.write_all(&self.line)?;
        }
        out.write_all(&chunk.bytes[at..])
    }

    fn format(&mut self, m: &Message, choice: Choice) {
        let result = crate::decode::decode(&m.payload, choice);
        match self.style.format {
            Format::Jsonl => {
                self.jsonl.write(m, &mut self.line);
                append_decoded(&mut self.line, &result);
            }
            Format::Text => format_text_decoded(m, &result, self.style.escape, &mut self.line),
        }
    }
}

/// The text line with the payload replaced by `[gzip+msgpack] {compact JSON}`; a payload
/// that did not decode is printed as is, followed by `  [not decoded: reason]`.
fn format_text_decoded(
    m: &Message,
    result: &Result<crate::decode::Decoded, crate::decode::Failure>,
    escape: bool,
    out: &mut Vec<u8>,
) {
    match result {
        Ok(decoded) => {
            let mut shown = m.clone();
            shown.payload = format!("[{}] {}", decoded.chain_id(), decoded.compact())
                .into_bytes()
                .into();
            format_text(&shown, escape, out);
        }
        Err(crate::decode::Failure::PlainText) => format_text(m, escape, out),
        Err(failure) => {
            format_text(m, escape, out);
            out.pop();
            let note = format!("  [not decoded: {}]", failure.reason());
            out.extend_from_slice(escape_line(note.as_bytes()).as_bytes());
            out.push(b'\n');
        }
    }
}

fn broken_pipe_code(e: &std::io::Error) -> i32 {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        0
    } else {
        eprintln!("redtail: cannot write output: {e}");
        1
    }
}

/// `HH:MM:SS.mmm channel payload`, with `(via pattern)` or `[shard]` where they apply.
/// When `escape` is false (stdout is a pipe), bytes pass through unchanged for scripts.
pub fn format_text(m: &Message, escape: bool, out: &mut Vec<u8>) {
    let ts = m.received.format("%H:%M:%S%.3f");
    let _ = write!(out, "{ts} ");
    match m.kind {
        Kind::SMessage => out.extend_from_slice(b"[shard] "),
        Kind::StreamEntry => out.extend_from_slice(b"[stream] "),
        _ => {}
    }
    let put = |b: &[u8], out: &mut Vec<u8>| {
        if escape {
            out.extend_from_slice(escape_line(b).as_bytes());
        } else {
            out.extend_from_slice(b);
        }
    };
    put(&m.channel, out);
    if let Some(p) = &m.pattern {
        out.extend_from_slice(b" (via ");
        put(p, out);
        out.push(b')');
    }
    out.push(b' ');
    put(&m.payload, out);
    out.push(b'\n');
}

/// `HH:MM:SS.mmm node db key event` (key and event escaped like channel and payload).
pub fn format_key_event(e: &KeyEvent, escape: bool, out: &mut Vec<u8>) {
    let ts = e.received.format("%H:%M:%S%.3f");
    let _ = write!(out, "{ts} {} {} ", escape_line(e.node.as_bytes()), e.db);
    for (i, part) in [&e.key, &e.event].into_iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if escape {
            out.extend_from_slice(escape_line(part).as_bytes());
        } else {
            out.extend_from_slice(part);
        }
    }
    out.push(b'\n');
}

/// Refuse obviously wrong combinations before connecting.
pub fn validate(args: &TailArgs) -> Result<()> {
    if args.count == Some(0) {
        return Err(crate::exit::UsageError("--count must be at least 1".into()).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::jsonl::tests::msg;

    #[test]
    fn text_escapes_only_when_asked() {
        let m = msg(Kind::Message, None, b"ch", b"\x1b]0;pwned\x07");
        let mut out = Vec::new();
        format_text(&m, true, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.ends_with(" ch \\x1b]0;pwned\\x07\n"), "{s}");
        let mut raw = Vec::new();
        format_text(&m, false, &mut raw);
        assert!(raw.ends_with(b"ch \x1b]0;pwned\x07\n"));
    }
}
