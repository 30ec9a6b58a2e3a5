//! `redtail publish --from FILE.jsonl`: send a `tail --format jsonl` capture (or a TUI
//! export) again, byte for byte and in order.
//!
//! A reader thread parses lines and hands them over in chunks through a bounded channel
//! (so a million-line file is never held in memory, and a slow server slows the reader
//! instead of growing a queue). This task groups them into batches, waits for each
//! batch's due time (`--rate`, `--as-recorded`), and sends it through the action layer
//! (`Replay`: read-only refusal, bounded audit). A chunk ends whenever the reader's
//! buffer runs dry, so a live pipe (`redtail tail … | redtail publish --from -`) is not
//! held back waiting for a full batch.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::audit::AuditLog;
use crate::cli::PublishArgs;
use crate::exit::{self, UsageError};
use crate::redis::actions::{ActionOutcome, ReadOnly, Replay, ReplayMessage, ReplaySkipped};
use crate::redis::route::Route;
use crate::text::escape::escape_line;

/// Lines the reader hands over at most at once.
const CHUNK: usize = 1000;
/// Most messages / payload bytes in one pipeline.
const MAX_BATCH: usize = 1000;
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Paced replays send messages due within this window of a batch's first together.
const PACE_WINDOW: Duration = Duration::from_millis(10);
/// Problems printed one by one; after that they are only counted in the summary.
const MAX_REPORTED: u64 = 20;
/// The longest line of a capture that is read and parsed; a longer one is read on to its
/// end in the reader's buffer-sized pieces, dropped, and reported as malformed. 64 MiB,
/// because a message cannot get into a capture much bigger than 32 MiB: Redis's default
/// `client-output-buffer-limit pubsub 32mb` disconnects the subscriber first. Such a
/// payload is ≈ 43 MiB as `payload_b64` and fits as JSON text even with a sixth of it
/// escaped as `\u00XX`, and 64 MiB is the default `--max-bytes` / `--max-buffered-bytes`
/// budget of `tail` and the TUI. A line is held about twice while parsed (the line, then
/// the payload) and a few parsed ones wait in the queue: six 60 MiB lines peaked at
/// 330 MiB RSS, a 300 MiB line (skipped) at 87 MiB, where it took 1.25 GB before.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// One line of a capture, as `tail --format jsonl` writes it. Unknown fields (e.g.
/// `decoded`) are ignored: the raw `payload` / `payload_b64` is what is sent.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CapturedLine {
    pub ts: Option<String>,
    pub kind: Option<String>,
    pub channel: Option<String>,
    pub channel_b64: Option<String>,
    pub payload: Option<String>,
    pub payload_b64: Option<String>,
}

/// What one line of a capture means for a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Send {
        message: ReplayMessage,
        /// The line's `ts`, when it has a valid one.
        ts: Option<DateTime<Utc>>,
    },
    Skip(Skip),
    /// Not a message line: why.
    Malformed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Gap,
    Keyspace,
    StreamEntry,
    Other,
}

/// Parse line `number` of a capture. `to_channel` replaces every recorded channel.
pub fn parse_line(number: u64, text: &[u8], to_channel: Option<&Bytes>) -> Parsed {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if text.iter().all(u8::is_ascii_whitespace) {
        return Parsed::Skip(Skip::Other);
    }
    let line: CapturedLine = match serde_json::from_slice(text) {
        Ok(line) => line,
        Err(e) => return Parsed::Malformed(format!("not a JSON object of a capture ({e})")),
    };
    let shard = match line.kind.as_deref() {
        Some("message" | "pmessage") => false,
        Some("smessage") => true,
        Some("gap") => return Parsed::Skip(Skip::Gap),
        Some("xentry") => return Parsed::Skip(Skip::StreamEntry),
        Some(_) => return Parsed::Skip(Skip::Other),
        None => return Parsed::Malformed("no \"kind\" field".into()),
    };
    let channel = match (line.channel_b64, line.channel) {
        (Some(b64), _) => match decode_b64(&b64) {
            Ok(bytes) => bytes,
            Err(e) => return Parsed::Malformed(format!("\"channel_b64\" is not base64 ({e})")),
        },
        (None, Some(text)) => Bytes::from(text.into_bytes()),
        (None, None) => return Parsed::Malformed("no \"channel\" field".into()),
    };
    if channel.starts_with(b"__keyspace@") || channel.starts_with(b"__keyevent@") {
        return Parsed::Skip(Skip::Keyspace);
    }
    let payload = match (line.payload_b64, line.payload) {
        (Some(b64), _) => match decode_b64(&b64) {
            Ok(bytes) => bytes,
            Err(e) => return Parsed::Malformed(format!("\"payload_b64\" is not base64 ({e})")),
        },
        (None, Some(text)) => Bytes::from(text.into_bytes()),
        (None, None) => return Parsed::Malformed("no \"payload\" or \"payload_b64\" field".into()),
    };
    let channel = to_channel.cloned().unwrap_or(channel);
    if channel.is_empty() {
        return Parsed::Malformed("the channel is empty".into());
    }
    let ts = line
        .ts
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    Parsed::Send {
        message: ReplayMessage {
            line: number,
            channel,
            payload,
            shard,
        },
        ts,
    }
}

fn decode_b64(text: &str) -> Result<Bytes, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Bytes::from)
}

/// When each message is due, relative to the start.
enum Pace {
    Fast,
    Rate {
        per_second: f64,
        index: u64,
    },
    Recorded {
        first: Option<DateTime<Utc>>,
        last: Duration,
    },
}

impl Pace {
    fn of(args: &PublishArgs) -> Pace {
        match (args.rate, args.as_recorded) {
            (Some(per_second), _) => Pace::Rate {
                per_second,
                index: 0,
            },
            (None, true) => Pace::Recorded {
                first: None,
                last: Duration::ZERO,
            },
            (None, false) => Pace::Fast,
        }
    }

    /// The next message's due time; `Err` when `--as-recorded` has no time to go by.
    fn due(&mut self, ts: Option<DateTime<Utc>>) -> Result<Option<Duration>, String> {
        match self {
            Pace::Fast => Ok(None),
            Pace::Rate { per_second, index } => {
                let due = Duration::from_secs_f64(*index as f64 / *per_second);
                *index += 1;
                Ok(Some(due))
            }
            Pace::Recorded { first, last } => {
                let ts = ts.ok_or("no valid \"ts\" to keep the recorded spacing by")?;
                let first = *first.get_or_insert(ts);
                // A capture merged out of order never makes us go back in time.
                let offset = (ts - first).to_std().unwrap_or_default().max(*last);
                *last = offset;
                Ok(Some(offset))
            }
        }
    }
}

/// The batch being gathered, and what has been printed so far.
struct Sender<'r, 'c, 'a> {
    replay: &'r mut Replay<'c, 'a>,
    route: &'r Route,
    start: Instant,
    batch: Vec<ReplayMessage>,
    batch_due: Option<Duration>,
    batch_bytes: usize,
    reported: u64,
}

impl Sender<'_, '_, '_> {
    fn report(&mut self, line: u64, what: &str) {
        self.reported += 1;
        if self.reported <= MAX_REPORTED {
            eprintln!("redtail: line {line}: {}", escape_line(what.as_bytes()));
        } else if self.reported == MAX_REPORTED + 1 {
            eprintln!("redtail: more problems follow; only counted from here (see the summary)");
        }
    }

    fn fits(&self, due: Option<Duration>) -> bool {
        self.batch.len() < MAX_BATCH
            && self.batch_bytes < MAX_BATCH_BYTES
            && match (self.batch_due, due) {
                (Some(first), Some(due)) => due <= first + PACE_WINDOW,
                _ => true,
            }
    }

    async fn add(&mut self, message: ReplayMessage, due: Option<Duration>) -> Result<(), String> {
        if !self.batch.is_empty() && !self.fits(due) {
            self.flush().await?;
        }
        if self.batch.is_empty() {
            self.batch_due = due;
        }
        self.batch_bytes += message.payload.len() + message.channel.len();
        self.batch.push(message);
        Ok(())
    }

    /// Wait until the batch is due, send it, report refused messages. `Err`: the replay
    /// cannot go on (connection lost, audit log unwritable).
    async fn flush(&mut self) -> Result<(), String> {
        if self.batch.is_empty() {
            return Ok(());
        }
        if let Some(due) = self.batch_due {
            tokio::time::sleep_until(self.start + due).await;
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let failures = self
            .replay
            .send(self.route, &batch)
            .await
            .map_err(|e| e.message)?;
        for f in failures {
            self.report(f.line, &format!("not sent: {}", f.error.message));
        }
        Ok(())
    }

    /// Take one chunk of parsed lines; `Err` says why the replay stops.
    async fn take(
        &mut self,
        chunk: Vec<(u64, Parsed)>,
        pace: &mut Pace,
        strict: bool,
    ) -> Result<(), String> {
        for (number, parsed) in chunk {
            self.replay.outcome_mut().lines += 1;
            let message = match parsed {
                Parsed::Send { message, ts } => match pace.due(ts) {
                    Ok(due) => {
                        self.add(message, due).await?;
                        continue;
                    }
                    Err(why) => why,
                },
                Parsed::Skip(kind) => {
                    count_skip(&mut self.replay.outcome_mut().skipped, kind);
                    continue;
                }
                Parsed::Malformed(why) => why,
            };
            self.replay.outcome_mut().skipped.malformed += 1;
            self.report(number, &format!("skipped: {message}"));
            if strict {
                self.flush().await?;
                return Err(format!("line {number} is malformed and --strict is on"));
            }
        }
        // The reader's buffer ran dry or the chunk is full: send what we have.
        self.flush().await
    }
}

fn count_skip(skipped: &mut ReplaySkipped, kind: Skip) {
    match kind {
        Skip::Gap => skipped.gap += 1,
        Skip::Keyspace => skipped.keyspace += 1,
        Skip::StreamEntry => skipped.xentry += 1,
        Skip::Other => skipped.other += 1,
    }
}

/// What [`read_line_capped`] found.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A whole line (with its `\n`, unless it is the last) is in the buffer.
    Whole,
    /// The line was longer than the cap; it has been read to its end and dropped.
    TooLong,
    /// Longer than the cap and holding NUL bytes, which a JSONL capture never has (JSON
    /// escapes them): binary data such as `/dev/zero`, whose "line" may never end.
    Binary,
    End,
}

/// Read the next line into `line`, holding at most `max` bytes of it: unlike
/// `read_until`, a line with no `\n` for gigabytes never grows memory.
fn read_line_capped(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    line.clear();
    let mut too_long = false;
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buffer.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Whole,
            });
        }
        let (piece, ends) = match memchr::memchr(b'\n', buffer) {
            Some(at) => (&buffer[..=at], true),
            None => (buffer, false),
        };
        let taken = piece.len();
        if !too_long && line.len() + taken > max {
            too_long = true;
            *line = Vec::new();
        }
        if too_long {
            if memchr::memchr(0, piece).is_some() {
                return Ok(Line::Binary);
            }
        } else {
            // Grow by doubling as usual, but never past the cap.
            if line.capacity() < line.len() + taken {
                let want = (line.capacity() * 2).clamp(line.len() + taken, max);
                line.reserve_exact(want - line.len());
            }
            line.extend_from_slice(piece);
        }
        reader.consume(taken);
        if ends {
            return Ok(if too_long { Line::TooLong } else { Line::Whole });
        }
    }
}

/// The reader thread: lines → parsed chunks, until the end of the input or the receiver
/// is gone. A read error ends the input with a malformed "line" saying so.
fn read_lines(
    input: Box<dyn Read + Send>,
    to_channel: Option<Bytes>,
    tx: mpsc::Sender<Vec<(u64, Parsed)>>,
) {
    let reader = BufReader::with_capacity(1 << 20, input);
    read_lines_capped(reader, MAX_LINE_BYTES, to_channel, tx);
}

fn read_lines_capped(
    mut reader: BufReader<impl Read>,
    max_line: usize,
    to_channel: Option<Bytes>,
    tx: mpsc::Sender<Vec<(u64, Parsed)>>,
) {
    let mut chunk = Vec::with_capacity(CHUNK);
    // Parsed payloads waiting in `chunk`: with big lines a chunk ends by bytes, so the
    // chunks queued in the channel stay bounded too.
    let mut chunk_bytes = 0;
    let mut line = Vec::new();
    let mut number = 0u64;
    let too_long = match max_line >> 20 {
        0 => format!("longer than {max_line} bytes"),
        mib => format!("longer than {mib} MiB"),
    };
    loop {
        match read_line_capped(&mut reader, &mut line, max_line) {
            Ok(Line::End) => break,
            Ok(Line::Whole) => {
                number += 1;
                chunk_bytes += line.len();
                chunk.push((number, parse_line(number, &line, to_channel.as_ref())));
                if line.capacity() > 1 << 20 {
                    // Do not keep a big line's buffer for the small ones after it.
                    line = Vec::new();
                }
            }
            Ok(Line::TooLong) => {
                number += 1;
                chunk.push((number, Parsed::Malformed(too_long.clone())));
            }
            Ok(Line::Binary) => {
                chunk.push((
                    number + 1,
                    Parsed::Malformed(format!(
                        "{too_long} and holds NUL bytes: binary data, not a capture; \
                         stopped reading"
                    )),
                ));
                break;
            }
            Err(e) => {
                chunk.push((
                    number + 1,
                    Parsed::Malformed(format!("cannot read further: {e}")),
                ));
                break;
            }
        }
        if chunk.len() >= CHUNK || chunk_bytes >= MAX_BATCH_BYTES || reader.buffer().is_empty() {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            chunk_bytes = 0;
            if tx.blocking_send(full).is_err() {
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(chunk);
    }
}

fn open_input(args: &PublishArgs) -> Result<(String, Box<dyn Read + Send>)> {
    let Some(path) = &args.from else {
        return Err(UsageError("--from needs a file".into()).into());
    };
    if path.as_os_str() == "-" {
        return Ok(("-".into(), Box::new(std::io::stdin())));
    }
    let cannot = |why: String| {
        UsageError(format!(
            "cannot open {} ({why}); give a file written by `redtail tail --format jsonl` \
             (or a TUI export), or - for standard input",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(|e| cannot(e.to_string()))?;
    // Opening a directory succeeds on Unix; only reading it fails.
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(cannot("it is a directory".into()).into());
    }
    Ok((path.display().to_string(), Box::new(file)))
}

pub async fn run(args: PublishArgs, route: Arc<Route>, read_only: ReadOnly) -> Result<i32> {
    let audit = AuditLog::open_default()?;
    let ctx = super::context(&route, read_only, &audit);
    let source = args
        .from
        .as_ref()
        .map_or_else(String::new, |p| p.display().to_string());
    // Refused (and audited) before the file is even opened: nothing is read or sent.
    let mut replay = Replay::start(&ctx, &source)?;
    let (source, input) = open_input(&args)?;
    replay.outcome_mut().source = source;
    let to_channel = args.to_channel.as_ref().map(|n| Bytes::from(n.0.clone()));
    let (tx, mut rx) = mpsc::channel(4);
    std::thread::spawn(move || read_lines(input, to_channel, tx));
    let mut pace = Pace::of(&args);
    let pump = async {
        let mut sender = Sender {
            replay: &mut replay,
            route: &route,
            start: Instant::now(),
            batch: Vec::new(),
            batch_due: None,
            batch_bytes: 0,
            reported: 0,
        };
        while let Some(chunk) = rx.recv().await {
            if let Err(why) = sender.take(chunk, &mut pace, args.strict).await {
                return Some(why);
            }
        }
        None
    };
    let stopped = tokio::select! {
        stopped = pump => stopped,
        _ = tokio::signal::ctrl_c() => Some("interrupted (Ctrl-C); the batch in flight may not be counted".into()),
    };
    let outcome = replay.finish(stopped)?;
    if args.json {
        let mut out = crate::json::to_vec_safe(&outcome)?;
        out.push(b'\n');
        crate::commands::write_stdout(&out)?;
    }
    eprintln!("redtail: {}", outcome.summary());
    Ok(if outcome.stopped.is_some() {
        exit::ERROR
    } else if !outcome.is_complete() {
        exit::PARTIAL
    } else {
        exit::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(parsed: Parsed) -> (Vec<u8>, Vec<u8>, bool) {
        match parsed {
            Parsed::Send { message, .. } => (
                message.channel.to_vec(),
                message.payload.to_vec(),
                message.shard,
            ),
            other => panic!("not sent: {other:?}"),
        }
    }

    #[test]
    fn lines_of_each_kind_parse_to_what_is_sent_or_why_not() {
        let line = |text: &str| parse_line(7, text.as_bytes(), None);
        assert_eq!(
            sent(line(
                r#"{"kind":"message","channel":"a","payload":"x\u001by"}"#
            )),
            (b"a".to_vec(), b"x\x1by".to_vec(), false)
        );
        assert_eq!(
            sent(line(
                r#"{"kind":"pmessage","channel":"p.\\xff","channel_b64":"cC7/","pattern":"p.*","payload_b64":"wAE="}"#
            )),
            (b"p.\xff".to_vec(), b"\xc0\x01".to_vec(), false)
        );
        assert_eq!(
            sent(line(
                "{\"kind\":\"smessage\",\"channel\":\"s\",\"payload\":\"\"}\r\n"
            )),
            (b"s".to_vec(), b"".to_vec(), true)
        );
        assert_eq!(
            line(r#"{"kind":"gap","from":"x"}"#),
            Parsed::Skip(Skip::Gap)
        );
        assert_eq!(
            line(r#"{"kind":"xentry","stream":"s","id":"1-0","fields":[]}"#),
            Parsed::Skip(Skip::StreamEntry)
        );
        assert_eq!(
            line(r#"{"kind":"pmessage","channel":"__keyspace@0__:k","payload":"set"}"#),
            Parsed::Skip(Skip::Keyspace)
        );
        assert_eq!(line("  \n"), Parsed::Skip(Skip::Other));
        assert_eq!(line(r#"{"kind":"later"}"#), Parsed::Skip(Skip::Other));
        for bad in [
            "not json",
            r#"{"channel":"a","payload":"b"}"#,
            r#"{"kind":"message","payload":"b"}"#,
            r#"{"kind":"message","channel":"a"}"#,
            r#"{"kind":"message","channel":"a","payload_b64":"!!"}"#,
            r#"{"kind":"message","channel":"","payload":"b"}"#,
        ] {
            assert!(matches!(line(bad), Parsed::Malformed(_)), "{bad}");
        }
        // --channel replaces the recorded channel, keeping the kind.
        let to = Bytes::from_static(b"copy");
        let parsed = parse_line(
            1,
            br#"{"kind":"smessage","channel":"s","payload":"p"}"#,
            Some(&to),
        );
        assert_eq!(sent(parsed), (b"copy".to_vec(), b"p".to_vec(), true));
    }

    #[test]
    fn a_line_over_the_cap_is_dropped_in_pieces_and_the_next_is_read() {
        let text = format!("ab\n{}\ncd", "x".repeat(30));
        let mut reader = BufReader::with_capacity(4, text.as_bytes());
        let mut line = Vec::new();
        let mut next = |line: &mut Vec<u8>| {
            let found = read_line_capped(&mut reader, line, 10).expect("read");
            assert!(line.capacity() <= 10, "held {} bytes", line.capacity());
            (found, String::from_utf8_lossy(line).into_owned())
        };
        assert_eq!(next(&mut line), (Line::Whole, "ab\n".into()));
        assert_eq!(next(&mut line).0, Line::TooLong);
        assert_eq!(next(&mut line), (Line::Whole, "cd".into()));
        assert_eq!(next(&mut line).0, Line::End);
    }

    #[test]
    fn an_endless_line_is_held_only_up_to_the_cap() {
        // 64 MiB without a line end, read through a 4 KiB buffer under a 1 KiB cap.
        let text = std::io::repeat(b'x').take(64 << 20);
        let mut reader = BufReader::with_capacity(4096, text);
        let mut line = Vec::new();
        let found = read_line_capped(&mut reader, &mut line, 1024).expect("read");
        assert_eq!(found, Line::TooLong);
        assert!(line.capacity() <= 1024, "held {} bytes", line.capacity());
        // /dev/zero never ends: its NUL bytes stop the reading once over the cap.
        let mut reader = BufReader::with_capacity(4096, std::io::repeat(0));
        let found = read_line_capped(&mut reader, &mut line, 1024).expect("read");
        assert_eq!(found, Line::Binary);
        assert!(line.capacity() <= 1024, "held {} bytes", line.capacity());
    }

    #[test]
    fn a_long_line_is_reported_by_number_between_the_lines_around_it() {
        let good = r#"{"kind":"message","channel":"m","payload":"p"}"#;
        let long = format!(
            r#"{{"kind":"message","channel":"m","payload":"{}"}}"#,
            "y".repeat(200)
        );
        let text = format!("{good}\n{long}\n{good}\n");
        let (tx, mut rx) = mpsc::channel(100);
        read_lines_capped(BufReader::with_capacity(16, text.as_bytes()), 100, None, tx);
        let mut lines = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            lines.extend(chunk);
        }
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(matches!(lines[0], (1, Parsed::Send { .. })), "{lines:?}");
        assert_eq!(
            lines[1],
            (2, Parsed::Malformed("longer than 100 bytes".into()))
        );
        assert!(matches!(lines[2], (3, Parsed::Send { .. })), "{lines:?}");
    }

    #[test]
    fn paces_give_due_times_that_never_go_back() {
        let mut rate = Pace::Rate {
            per_second: 4.0,
            index: 0,
        };
        let dues: Vec<_> = (0..3).map(|_| rate.due(None)).collect();
        assert_eq!(
            dues,
            [0, 250, 500].map(|ms| Ok(Some(Duration::from_millis(ms))))
        );
        let mut recorded = Pace::Recorded {
            first: None,
            last: Duration::ZERO,
        };
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        assert_eq!(
            recorded.due(at("2026-01-01T00:00:01Z")),
            Ok(Some(Duration::ZERO))
        );
        assert_eq!(
            recorded.due(at("2026-01-01T00:00:03Z")),
            Ok(Some(Duration::from_secs(2)))
        );
        // Out of order: held at the latest due time, never earlier.
        assert_eq!(
            recorded.due(at("2026-01-01T00:00:02Z")),
            Ok(Some(Duration::from_secs(2)))
        );
        assert!(recorded.due(None).is_err());
        assert_eq!(Pace::Fast.due(None), Ok(None));
    }
}
