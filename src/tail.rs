//! `redtail tail`: the headless consumer of the subscription engine.

use std::io::{IsTerminal, Write};

use anyhow::Result;

use crate::cli::{Format, TailArgs};
use crate::filter::Filter;
use crate::jsonl::{gap_jsonl, JsonlWriter};
use crate::redis::inbox::Caps;
use crate::redis::message::{Delivery, Kind, Message};
use crate::redis::stream_tail::{self, StreamTail};
use crate::redis::subscriber::{ConnState, Subscriber, SubscriberConfig};
use crate::render_text::escape_line;

/// Deliveries handled per drain; stdout is flushed when the inbox runs empty.
const DRAIN_BATCH: usize = 4096;

pub async fn run(args: TailArgs, route: std::sync::Arc<crate::redis::route::Route>) -> Result<i32> {
    let target = route.template().clone();
    let filter = match &args.filter {
        Some(expr) => match Filter::parse(expr) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("redtail: {e}");
                return Ok(crate::exit::USAGE);
            }
        },
        None => None,
    };
    let mut subs = args.subs.subscriptions();
    if subs.is_empty() && args.stream_keys.is_empty() {
        eprintln!("redtail: no --channel/--pattern/--shard-channel given: following every classic channel (PSUBSCRIBE *)");
        subs.patterns.insert(bytes::Bytes::from_static(b"*"));
    }
    let mut config = SubscriberConfig::new(target.clone());
    // Sentinel: ask where the primary is at every (re)connect. Cluster: classic
    // subscriptions on any node, shard channels on their slot owners.
    // Single servers too: a login the route saw refused is then not tried again.
    config.route = Some(route.clone());
    let ping = std::time::Duration::from_secs_f64(args.ping_interval.clamp(0.1, 3600.0));
    config.ping_interval = ping;
    config.ping_timeout = ping;
    config.caps = Caps {
        max_items: args.max_buffered.max(1),
        max_bytes: args.max_buffered_bytes.max(1),
    };
    let subscriber = Subscriber::spawn(config, subs);
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
    let escape = args.escape || std::io::stdout().is_terminal();
    let mut out = Output::start();
    let mut batch = Vec::with_capacity(DRAIN_BATCH);
    let mut printed: u64 = 0;
    let mut reported_evicted: u64 = 0;
    let mut line = Vec::with_capacity(512);
    let mut jsonl = JsonlWriter::default();
    let mut last_conn = ConnState::Connecting;
    let mut was_down = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    let code = 'outer: loop {
        // Status changes (connect failures, reconnects) are reported on stderr.
        let conn = status.borrow_and_update().conn.clone();
        if conn != last_conn {
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
                        break 'outer 1;
                    }
                    if !was_down {
                        was_down = true;
                        let wait = retry_at.saturating_duration_since(tokio::time::Instant::now());
                        eprintln!(
                            "redtail: connection lost ({error}); reconnecting in {:.1} s",
                            wait.as_secs_f64()
                        );
                    }
                }
                ConnState::Connected { .. } if was_down => {
                    was_down = false;
                    eprintln!("redtail: reconnected to {target}");
                }
                _ => {}
            }
            last_conn = conn;
        }

        loop {
            batch.clear();
            if inbox.drain_into(DRAIN_BATCH, &mut batch) == 0 {
                break;
            }
            for d in batch.drain(..) {
                match d {
                    Delivery::Message(m) => {
                        if let Some(f) = &filter {
                            if !f.matches(&m.channel, &m.payload) {
                                continue;
                            }
                        }
                        line.clear();
                        match args.format {
                            Format::Text => format_text(&m, escape, &mut line),
                            Format::Jsonl => jsonl.write(&m, &mut line),
                        }
                        out.pending.extend_from_slice(&line);
                        printed += 1;
                        if args.count.is_some_and(|n| printed >= n) {
                            break 'outer 0;
                        }
                        if out.pending.len() >= OUTPUT_CHUNK && out.ship().await.is_err() {
                            break 'outer out.finish();
                        }
                    }
                    Delivery::Gap(g) => {
                        if args.format == Format::Jsonl {
                            line.clear();
                            gap_jsonl(&g, &mut line);
                            out.pending.extend_from_slice(&line);
                        }
                        if out.ship().await.is_err() {
                            break 'outer out.finish();
                        }
                        eprintln!("redtail: {}", g.describe());
                    }
                    Delivery::ServerError(e) if e.starts_with(stream_tail::TRANSIENT) => {
                        // The stream tail retries by itself; say so and keep going.
                        let _ = out.ship().await;
                        eprintln!("redtail: {e}; retrying");
                    }
                    Delivery::ServerError(e) => {
                        let _ = out.ship().await;
                        if e.starts_with("stream ") {
                            eprintln!("redtail: {e}");
                        } else {
                            eprintln!("redtail: the server refused a subscription: {e}");
                        }
                        if e.starts_with("NOPERM") {
                            eprintln!("redtail: this ACL user may not access that channel; grant it (e.g. ACL SETUSER … &channel) or subscribe to another");
                        }
                        break 'outer 1;
                    }
                    Delivery::Subscription { .. } => {}
                }
            }
        }
        let evicted = inbox.counters().evicted;
        if evicted > reported_evicted {
            let n = evicted - reported_evicted;
            reported_evicted = evicted;
            if args.format == Format::Jsonl {
                let _ = writeln!(out.pending, "{{\"kind\":\"dropped\",\"count\":{n}}}");
            }
            eprintln!("redtail: dropped {n} messages: output was slower than the channel");
        }
        // Caught up: hand what we have to the writer (it may wait while the engine keeps
        // reading the socket on this same thread).
        if out.ship().await.is_err() {
            break 'outer out.finish();
        }
        tokio::select! {
            _ = inbox.notified() => {}
            r = status.changed() => { if r.is_err() { break 'outer 1; } }
            _ = &mut ctrl_c => break 'outer 0,
        }
    };
    let _ = out.ship().await;
    let write_code = out.finish();
    subscriber.shutdown().await;
    for t in stream_tails {
        t.shutdown().await;
    }
    Ok(if code == 0 { write_code } else { code })
}

/// Output is written by a thread of its own, in chunks: the engine and this consumer
/// share one thread (no cross-thread wake-up per socket read), and a slow or blocked
/// stdout only delays the consumer — never the socket reads, which keep draining into
/// the bounded inbox.
const OUTPUT_CHUNK: usize = 128 * 1024;

struct Output {
    pending: Vec<u8>,
    tx: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Output {
    fn start() -> Output {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let writer = std::thread::spawn(move || {
            let mut stdout = std::io::stdout().lock();
            while let Some(chunk) = rx.blocking_recv() {
                stdout.write_all(&chunk)?;
                stdout.flush()?;
            }
            Ok(())
        });
        Output {
            pending: Vec::with_capacity(OUTPUT_CHUNK + 4096),
            tx: Some(tx),
            writer: Some(writer),
        }
    }

    /// Send what is pending to the writer; Err when the writer has stopped (stdout gone).
    async fn ship(&mut self) -> Result<(), ()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(OUTPUT_CHUNK + 4096));
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
    use bytes::Bytes;

    fn msg(
        kind: Kind,
        pattern: Option<&'static [u8]>,
        channel: &'static [u8],
        payload: &'static [u8],
    ) -> Message {
        Message {
            seq: 1,
            received: chrono::DateTime::parse_from_rfc3339("2026-11-22T01:02:03.456789Z")
                .map(|d| d.to_utc())
                .unwrap_or_default(),
            kind,
            pattern: pattern.map(Bytes::from_static),
            channel: Bytes::from_static(channel),
            payload: Bytes::from_static(payload),
        }
    }

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
