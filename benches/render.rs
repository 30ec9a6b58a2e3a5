//! Render and filter cost (issue 8, item 3): draw panes into a `TestBackend` at 200×60 with
//! 100k retained messages and 10k channels, 1,000 streams × 3 groups × 10 consumers, and a
//! full page of pending entries; apply a streams poll of that size to the state (the UI
//! thread does it every --poll-interval); re-evaluate a filter over 100k messages.
//! Prints p50 / p99 / max per frame.
//!
//! Issue 19: a live filter over 1M and 10M retained messages, key → filtered page and
//! key → page plus the full count, and fresh filters against narrowing ones
//! (`RENDER_SKIP_10M=1` skips the 10M case, which needs about 3 GB).
//!
//! Run: `cargo bench --bench render`
//!
//! One filter alone, for A/B comparisons of builds: `RENDER_FILTER='payload 99'` (several:
//! comma-separated) types it at `/` over `RENDER_RETAINED` messages (default 1,000,000),
//! `RENDER_ROUNDS` times (default 3), keys `RENDER_PACE_MS` apart (default: back to
//! back; `RENDER_PER_KEY=1` prints each key's time with the count and its process CPU).
//! `RENDER_HOW=paste`
//! pastes it at once instead (after the pace, if given), `RENDER_HOW=set` sets it through
//! the feed's API and times the full count, `RENDER_HOW=narrow` with
//! `RENDER_FILTER='token>token .latency_ms > 250'` sets the first, counts it, then times
//! the second (the first `>` splits them). `RENDER_CHECKED=1` runs the idle work (the
//! arrivals' JSON check) before the first key, as the TUI has by then unless the
//! messages arrived in one burst a moment before.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use redtail::filter::Filter;
use redtail::redis::message::{Delivery, Kind, Message};
use redtail::redis::pending::{self, preview_fields, PendingEntry, PendingPage, PendingSummary};
use redtail::redis::streams::{
    ConsumerInfo, GroupHealth, GroupInfo, Outlook, ReportedLag, ScanProgress, Status, StreamId,
    StreamInfo, StreamsSnapshot, StreamsState,
};
use redtail::redis::subscriber::Subscriptions;
use redtail::state::pending::{PageLoad, PendingEffect, PendingEvent, PAGE_SIZE};
use redtail::state::streams::StreamsEvent;
use redtail::state::{AppState, Config, Effect, Event};

const W: u16 = 200;
const H: u16 = 60;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .map(|d| d.to_utc())
        .expect("fixed time")
}

fn key(s: &mut AppState, code: KeyCode, now: DateTime<Utc>) {
    s.update(
        Event::Key(KeyEvent {
            code,
            modifiers: KeyModifiers::NONE,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }),
        now,
    );
}

fn state(messages: usize, channels: usize) -> AppState {
    let config = Config {
        target: "redis://127.0.0.1:6379".into(),
        export_dir: PathBuf::from("/tmp"),
        size: (W, H),
        max_messages: messages * 2,
        max_bytes: usize::MAX / 4,
        ..Config::default()
    };
    let mut s = AppState::new(config, Subscriptions::default(), t0());
    let names: Vec<Bytes> = (0..channels)
        .map(|i| Bytes::from(format!("svc:{}:events:{i}", i % 97)))
        .collect();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..messages {
        let payload = format!(
            "{{\"seq\":{i},\"user\":{{\"id\":{}}},\"latency_ms\":{},\"text\":\"token stream payload {i}\"}}",
            i % 1000,
            i % 500
        );
        batch.push(Delivery::Message(Message {
            seq: i as u64,
            received: t0() + TimeDelta::milliseconds(i as i64),
            kind: Kind::PMessage,
            pattern: Some(Bytes::from_static(b"svc:*")),
            channel: names[i % names.len()].clone(),
            payload: Bytes::from(payload),
        }));
        if batch.len() == 10_000 {
            s.update(Event::Deliveries(std::mem::take(&mut batch)), t0());
        }
    }
    s.update(Event::Deliveries(batch), t0());
    s
}

/// Unix ms `seconds_ago` before the fixed clock.
fn ms_ago(seconds_ago: i64) -> u64 {
    (t0() - TimeDelta::seconds(seconds_ago)).timestamp_millis() as u64
}

/// A poll of `streams` streams × `groups` groups × `consumers` consumers, with full health
/// windows (sparklines) and a mix of statuses, as the streams poller publishes it.
fn streams_poll(generation: u64, streams: usize, groups: usize, consumers: usize) -> StreamsState {
    let statuses = [
        Status::CatchingUp,
        Status::FallingBehind,
        Status::Stalled,
        Status::CaughtUp,
    ];
    let streams: Vec<StreamInfo> = (0..streams)
        .map(|s| {
            let groups: Vec<GroupInfo> = (0..groups)
                .map(|g| {
                    let lag = ((s * 7919 + g * 104_729) % 50_000) as u64;
                    GroupInfo {
                        name: Bytes::from(format!("group-{g}")),
                        consumers: consumers as u64,
                        pending: lag / 10,
                        last_delivered_id: StreamId::new(ms_ago(30), 0),
                        entries_read: Some(1_000_000 - lag),
                        reported_lag: ReportedLag::Known(lag),
                        lag_estimate: None,
                        oldest_undelivered_id: Some(StreamId::new(ms_ago(29), 0)),
                        time_lag_ms: Some(29_000),
                        consumer_list: (0..consumers)
                            .map(|c| ConsumerInfo {
                                name: Bytes::from(format!("worker-{c}")),
                                pending: (lag / 10) / consumers as u64,
                                idle_ms: (c as u64 + 1) * 1_000,
                                inactive_ms: Some((c as i64 + 1) * 1_000),
                                flagged: c == 7,
                            })
                            .collect(),
                        consumers_error: None,
                        health: GroupHealth {
                            status: statuses[(s + g) % statuses.len()],
                            reason: format!("lag {lag}, sampled over 58s"),
                            consume_rate: Some(120.0),
                            outlook: Outlook::CatchingUp { eta_ms: 8_500 },
                            lag_series: (0..20).map(|i| lag + i * 10).collect(),
                            pending_series: (0..20).map(|i| lag / 10 + i).collect(),
                        },
                    }
                })
                .collect();
            StreamInfo {
                key: Bytes::from(format!("svc:{}:events:{s}", s % 37)),
                length: 100_000 + s as u64,
                first_entry_id: Some(StreamId::new(ms_ago(86_400), 0)),
                last_entry_id: Some(StreamId::new(ms_ago(1), 0)),
                last_generated_id: StreamId::new(ms_ago(1), 0),
                entries_added: Some(1_000_000),
                max_deleted_entry_id: None,
                recorded_first_entry_id: None,
                groups_count: groups.len() as u64,
                groups,
                groups_error: None,
                append_rate: Some(240.0),
            }
        })
        .collect();
    let mut streams = streams;
    streams.sort_by(|a, b| a.key.cmp(&b.key));
    let taken_at = t0() - TimeDelta::milliseconds(400);
    let scan = ScanProgress {
        complete: true,
        passes_completed: 1,
        scan_calls: 2,
        streams_found: streams.len(),
        fraction: Some(1.0),
        keyspace_keys: Some(streams.len() as u64),
        ..ScanProgress::default()
    };
    StreamsState {
        generation,
        scan: scan.clone(),
        last_ok: Some(Arc::new(StreamsSnapshot {
            streams,
            problems: Vec::new(),
            warnings: Vec::new(),
            scan,
            server_time_ms: taken_at.timestamp_millis(),
            taken_at,
            took: Duration::from_millis(120),
            commands_sent: 8001,
            round_trips: 2,
            stream_nodes: Default::default(),
        })),
        last_error: None,
    }
}

/// Open the Pending pane on one group and answer its fetch with a full page (PAGE_SIZE
/// entries with field previews) held by 10 consumers.
fn pending_page(s: &mut AppState) {
    s.set_pending_target(
        Bytes::from_static(b"svc:1:events:1"),
        Bytes::from_static(b"group-0"),
    );
    let effects = s.update(
        Event::Key(KeyEvent {
            code: KeyCode::Char('4'),
            modifiers: KeyModifiers::NONE,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }),
        t0(),
    );
    let generation = effects
        .iter()
        .find_map(|e| match e {
            Effect::Pending(PendingEffect::Fetch { generation, .. }) => Some(*generation),
            _ => None,
        })
        .expect("showing the pending pane fetches a page");
    let server_ms = t0().timestamp_millis() as u64;
    let entries: Vec<PendingEntry> = (0..PAGE_SIZE)
        .map(|i| {
            let id = pending::StreamId {
                ms: server_ms - 900_000 + i as u64 * 1_000,
                seq: 0,
            };
            let fields = vec![
                (
                    Bytes::from_static(b"prompt"),
                    Bytes::from(format!("summarise report {i} for the quarterly review")),
                ),
                (Bytes::from_static(b"model"), Bytes::from_static(b"gpt-4o")),
            ];
            PendingEntry {
                id,
                consumer: Bytes::from(format!("worker-{}", i % 10)),
                idle_ms: 600_000 - i as u64 * 1_000,
                deliveries: 1 + (i % 5) as u64,
                id_age_ms: server_ms - id.ms,
                preview: Some(preview_fields(&fields)),
                deleted: false,
                fields: Some(fields),
            }
        })
        .collect();
    let summary = PendingSummary {
        count: 40_000,
        min_id: entries.first().map(|e| e.id),
        max_id: entries.last().map(|e| e.id),
        consumers: (0..10)
            .map(|c| (Bytes::from(format!("worker-{c}")), 4_000))
            .collect(),
    };
    s.update(
        Event::Pending(PendingEvent::Page {
            generation,
            result: Ok(PageLoad {
                page: PendingPage {
                    entries,
                    next: Some(pending::StreamId {
                        ms: server_ms,
                        seq: 1,
                    }),
                    server_time_ms: server_ms,
                    sorted: None,
                },
                summary: Some(summary),
            }),
        }),
        t0(),
    );
}

fn frames(s: &AppState, n: usize) -> Vec<Duration> {
    let mut term = Terminal::new(TestBackend::new(W, H)).expect("test backend");
    (0..n)
        .map(|_| {
            let t = Instant::now();
            term.draw(|f| redtail::ui::render(s, f)).expect("draw");
            t.elapsed()
        })
        .collect()
}

fn report(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let p = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
        d.len(),
        p(0.5),
        p(0.99),
        d.last().map_or(0.0, |x| x.as_secs_f64() * 1e3)
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("render benchmark: run with `cargo bench --bench render`");
        return;
    }
    if let Ok(filters) = std::env::var("RENDER_FILTER") {
        one_filter(&filters);
        return;
    }
    let build = Instant::now();
    let mut s = state(100_000, 10_000);
    println!(
        "built 100k messages on 10k channels in {:.2} s",
        build.elapsed().as_secs_f64()
    );
    println!("\n| 200×60 frame | frames | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    report("feed, 100k retained, live", frames(&s, 200));
    key(&mut s, KeyCode::Char(' '), t0());
    report("feed, paused", frames(&s, 200));
    key(&mut s, KeyCode::Char(' '), t0());
    key(&mut s, KeyCode::Char('2'), t0());
    report("channels, 10k rows", frames(&s, 200));
    key(&mut s, KeyCode::Char('o'), t0());
    report("channels, re-sorted", frames(&s, 200));

    // Streams: 1,000 streams × 3 groups × 10 consumers.
    key(&mut s, KeyCode::Char('3'), t0());
    let mut applied = Vec::new();
    for generation in 1..=20 {
        let poll = streams_poll(generation, 1000, 3, 10);
        let t = Instant::now();
        s.update(Event::Streams(StreamsEvent::Poll(poll)), t0());
        applied.push(t.elapsed());
    }
    report("streams, 1,000 streams (3,000 groups)", frames(&s, 200));
    key(&mut s, KeyCode::Char('o'), t0());
    report("streams, re-sorted", frames(&s, 200));
    key(&mut s, KeyCode::Enter, t0());
    report("streams → groups of one stream", frames(&s, 200));
    key(&mut s, KeyCode::Enter, t0());
    report("streams → consumers of one group", frames(&s, 200));
    key(&mut s, KeyCode::Esc, t0());
    key(&mut s, KeyCode::Esc, t0());
    report(
        "applying one streams poll to the state (UI thread)",
        applied,
    );

    // Pending: a full page.
    pending_page(&mut s);
    report(
        &format!("pending, full page ({PAGE_SIZE} entries with previews)"),
        frames(&s, 200),
    );
    key(&mut s, KeyCode::Char('1'), t0());

    // Filter re-evaluation: each keystroke of the `/` prompt re-filters the retained feed.
    println!("\n| filter over 100k retained | evaluations | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    for expr in [
        "payload 99",
        ".latency_ms > 250",
        "ch:svc:4*",
        "/payload 9+/",
    ] {
        let mut times = Vec::new();
        for _ in 0..10 {
            key(&mut s, KeyCode::Char('/'), t0());
            let t = Instant::now();
            for c in expr.chars() {
                key(&mut s, KeyCode::Char(c), t0());
            }
            let per_key = t.elapsed() / expr.chars().count() as u32;
            times.push(per_key);
            key(&mut s, KeyCode::Esc, t0());
        }
        report(&format!("`{expr}` (per keystroke)"), times);
    }
    drop(s);

    // Issue 19: a live filter over 1M (and 10M) retained messages.
    for (retained, rounds) in [(1_000_000, 5), (10_000_000, 1)] {
        if retained > 1_000_000 && std::env::var_os("RENDER_SKIP_10M").is_some() {
            continue;
        }
        filter_at_scale(retained, rounds);
    }
}

/// Run the filter's background count to the end, as the TUI loop does between keys.
fn finish_count(s: &mut AppState) -> usize {
    let mut steps = 0;
    while s.feed.counting() {
        s.update(Event::Work, t0());
        steps += 1;
    }
    steps
}

/// The idle work the arrivals leave (their JSON check, as the TUI runs it between
/// drains), done and its cost printed.
fn check_arrivals(s: &mut AppState) {
    let (t, cpu) = (Instant::now(), process_cpu());
    idle_for(s, Duration::from_secs(60));
    println!(
        "\nthe arrivals' JSON check: {:.1} ms ({:.1} ms CPU)",
        ms(t.elapsed()),
        ms(process_cpu() - cpu)
    );
}

/// The TUI's idle work (`Event::Work`) for up to `limit`, or until there is none.
fn idle_for(s: &mut AppState, limit: Duration) {
    let idle = Instant::now();
    while s.has_work() && idle.elapsed() < limit {
        s.update(Event::Work, t0());
    }
}

/// Type `expr` at `/`, `rounds` times: per key, key → page drawn and key → count
/// complete. With a `pace`, idle work runs for up to that long before each key, as
/// between a person's keystrokes.
fn type_filter(
    s: &mut AppState,
    term: &mut Terminal<TestBackend>,
    expr: &str,
    rounds: usize,
    pace: Option<Duration>,
) -> (Vec<Duration>, Vec<Duration>) {
    // RENDER_PER_KEY=1: each key's time with the count, to see which keys cost most.
    let per_key = std::env::var_os("RENDER_PER_KEY").is_some();
    let (mut page, mut total) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        key(s, KeyCode::Char('/'), t0());
        finish_count(s);
        let mut typed = String::new();
        for c in expr.chars() {
            if let Some(pace) = pace {
                idle_for(s, pace);
            }
            let t = Instant::now();
            let cpu = process_cpu();
            key(s, KeyCode::Char(c), t0());
            term.draw(|f| redtail::ui::render(s, f)).expect("draw");
            page.push(t.elapsed());
            finish_count(s);
            total.push(t.elapsed());
            if per_key {
                typed.push(c);
                let cpu = ms(process_cpu() - cpu);
                println!("  {typed:?}: {:.2} ms ({cpu:.1} ms CPU)", ms(t.elapsed()));
            }
        }
        key(s, KeyCode::Esc, t0());
        finish_count(s);
    }
    (page, total)
}

/// Paste `expr` at `/`, `rounds` times: from the first pasted key to the page drawn and
/// to the count complete. The keys arrive together, so nothing runs between them (the
/// TUI counts only while no input waits); with a `pause`, idle work runs for up to that
/// long between `/` and the paste, as while a person reaches for the paste.
fn paste_filter(
    s: &mut AppState,
    term: &mut Terminal<TestBackend>,
    expr: &str,
    rounds: usize,
    pause: Option<Duration>,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut page, mut total) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        key(s, KeyCode::Char('/'), t0());
        if let Some(pause) = pause {
            idle_for(s, pause);
        }
        let t = Instant::now();
        for c in expr.chars() {
            key(s, KeyCode::Char(c), t0());
        }
        term.draw(|f| redtail::ui::render(s, f)).expect("draw");
        page.push(t.elapsed());
        finish_count(s);
        total.push(t.elapsed());
        key(s, KeyCode::Esc, t0());
        finish_count(s);
    }
    (page, total)
}

/// `RENDER_FILTER`'s filters alone (see the top of this file).
fn one_filter(filters: &str) {
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let retained = number("RENDER_RETAINED", 1_000_000) as usize;
    let rounds = number("RENDER_ROUNDS", 3) as usize;
    let pace = std::env::var_os("RENDER_PACE_MS").map(|_| number("RENDER_PACE_MS", 0));
    let pace = pace.map(Duration::from_millis);
    let how = std::env::var("RENDER_HOW").unwrap_or_default();
    let mut s = state(retained, 10_000);
    if std::env::var_os("RENDER_CHECKED").is_some() {
        check_arrivals(&mut s);
    }
    let mut term = Terminal::new(TestBackend::new(W, H)).expect("test backend");
    let label = match how.as_str() {
        "paste" => "pasted at `/`",
        "set" => "set through the feed (\"keys\": runs; \"page\": the call)",
        _ => "typed at `/`",
    };
    let pace_label = pace.map_or(String::new(), |p| format!(", {} ms apart", p.as_millis()));
    println!(
        "\n| {} retained, {label}{pace_label} | keys | page p50 | page p99 | page max | with count p50 | with count p99 | with count max |",
        thousands(retained)
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for expr in filters.split(',') {
        let (page, total) = match how.as_str() {
            "paste" => paste_filter(&mut s, &mut term, expr, rounds, pace),
            "set" => set_filter(&mut s, expr, rounds),
            "narrow" => narrow_filter(&mut s, expr, rounds),
            _ => type_filter(&mut s, &mut term, expr, rounds, pace),
        };
        report2(&format!("`{expr}`"), page, total);
    }
}

/// `before → after` (written `before>after`): set `before` and count it, then time
/// setting `after` and its count, `rounds` times.
fn narrow_filter(s: &mut AppState, expr: &str, rounds: usize) -> (Vec<Duration>, Vec<Duration>) {
    let (before, after) = expr
        .split_once('>')
        .expect("RENDER_HOW=narrow: before>after");
    set_after(s, Some(before), after, rounds)
}

/// Set `expr` through the feed's API `rounds` times (cleared in between): the time of
/// the call, and with the full count.
fn set_filter(s: &mut AppState, expr: &str, rounds: usize) -> (Vec<Duration>, Vec<Duration>) {
    set_after(s, None, expr, rounds)
}

/// Set `after` `rounds` times, `before` set and counted first each time (cleared after).
fn set_after(
    s: &mut AppState,
    before: Option<&str>,
    after: &str,
    rounds: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let parse = |expr: &str| Some(Filter::parse(expr).expect("the filter parses"));
    let (mut page, mut total) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        if let Some(before) = before {
            s.feed.set_filter(parse(before));
            finish_count(s);
        }
        let (t, cpu) = (Instant::now(), process_cpu());
        s.feed.set_filter(parse(after));
        page.push(t.elapsed());
        finish_count(s);
        total.push(t.elapsed());
        if std::env::var_os("RENDER_PER_KEY").is_some() {
            let cpu = ms(process_cpu() - cpu);
            println!(
                "  set {after:?}: {:.2} ms ({cpu:.1} ms CPU)",
                ms(t.elapsed())
            );
        }
        s.feed.set_filter(None);
    }
    (page, total)
}

/// Key → filtered page (the key's update plus one frame) and key → page plus the full
/// count, per keystroke typed at `/`; then fresh filters against narrowing ones.
fn filter_at_scale(retained: usize, rounds: usize) {
    let build = Instant::now();
    let mut s = state(retained, 10_000);
    let label = thousands(retained);
    println!(
        "\nbuilt {label} messages in {:.1} s",
        build.elapsed().as_secs_f64()
    );
    // They arrived before the first key (the pasted cases below also show a feed with
    // nothing checked).
    check_arrivals(&mut s);
    let mut term = Terminal::new(TestBackend::new(W, H)).expect("test backend");
    // Keys back to back (nothing runs between them but the count), then typed at a
    // person's pace: 120 ms apart (8 keys a second), the TUI's idle work (`Event::Work`:
    // reading a field ahead while its name is typed) running between keys.
    for pace in [None, Some(Duration::from_millis(120))] {
        let how = match pace {
            None => "per keystroke, back to back".to_string(),
            Some(p) => format!("per keystroke, typed {} ms apart", p.as_millis()),
        };
        println!("\n| filter over {label} retained, {how} | keys | page p50 | page p99 | page max | with count p50 | with count p99 | with count max |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for expr in [
            "payload 99",
            ".latency_ms > 250",
            "ch:svc:4*",
            "/payload 9+/",
        ] {
            let (page, total) = type_filter(&mut s, &mut term, expr, rounds, pace);
            report2(&format!("`{expr}`"), page, total);
        }
    }
    // Pasted: the whole expression arrives at once after `/` (keys queued: no count
    // between them), over a fresh feed: its arrivals' JSON check done (the TUI runs it
    // in idle time as they arrive), or not started (a burst that has just arrived, with
    // no idle moment since), with or without a pause after `/`.
    for (arrived, pause) in [
        (true, None),
        (false, Some(Duration::from_millis(250))),
        (false, None),
    ] {
        let how = match (arrived, pause) {
            (true, _) => "pasted with `/`, arrivals checked".to_string(),
            (false, Some(p)) => format!(
                "pasted {} ms after `/`, nothing checked before",
                p.as_millis()
            ),
            (false, None) => "pasted with `/`, nothing checked".to_string(),
        };
        println!("\n| filter over {label} retained, {how}, fresh feed | pastes | page p50 | page max | with count p50 | with count max | first paste with count |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for expr in [
            "payload 99",
            ".latency_ms > 250",
            "ch:svc:4*",
            "/payload 9+/",
        ] {
            let mut fresh = state(retained, 10_000);
            if arrived {
                idle_for(&mut fresh, Duration::from_secs(60));
            }
            let (page, total) = paste_filter(&mut fresh, &mut term, expr, rounds, pause);
            let first = total[0];
            report_short(&format!("`{expr}`"), page, total, Some(first));
        }
    }
    println!("\n| {label} retained: set the filter | runs | page p50 | page max | with count p50 | with count max |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (before, after) in [
        ("\"payload 9\"", "\"payload 99\""),
        ("ch:svc:4*", "ch:svc:4* .latency_ms > 250"),
        // The worst case: the old filter matched everything.
        ("token", "token .latency_ms > 250"),
        // A regex whose first letters are in every payload (its inner text in a fifth).
        ("/lat.ncy_ms/", "/lat.ncy_ms\":4/"),
    ] {
        for narrowing in [false, true] {
            let (mut page, mut total) = (Vec::new(), Vec::new());
            for _ in 0..rounds.max(3) {
                s.feed
                    .set_filter(narrowing.then(|| Filter::parse(before).expect("parses")));
                finish_count(&mut s);
                let t = Instant::now();
                s.feed
                    .set_filter(Some(Filter::parse(after).expect("parses")));
                page.push(t.elapsed());
                finish_count(&mut s);
                total.push(t.elapsed());
            }
            let how = if narrowing {
                format!("narrowing `{before}` → `{after}`")
            } else {
                format!("fresh `{after}`")
            };
            report_short(&how, page, total, None);
        }
    }
}

/// CPU time of the whole process (both counting threads), unaffected by other
/// programs' load: what a key costs, where wall time also shows waiting for a core.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a plain syscall writing into our own timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn thousands(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n => format!("{}k", n / 1_000),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn quantile(d: &[Duration], q: f64) -> Duration {
    d[((d.len() - 1) as f64 * q).round() as usize]
}

fn report2(name: &str, mut page: Vec<Duration>, mut total: Vec<Duration>) {
    page.sort();
    total.sort();
    let (p, t) = (&page, &total);
    println!(
        "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        p.len(),
        ms(quantile(p, 0.5)),
        ms(quantile(p, 0.99)),
        ms(quantile(p, 1.0)),
        ms(quantile(t, 0.5)),
        ms(quantile(t, 0.99)),
        ms(quantile(t, 1.0)),
    );
}

/// p50 and max of page and total; `first`, when given, is a last column.
fn report_short(
    name: &str,
    mut page: Vec<Duration>,
    mut total: Vec<Duration>,
    first: Option<Duration>,
) {
    page.sort();
    total.sort();
    let first = first.map_or(String::new(), |f| format!(" {:.2} ms |", ms(f)));
    println!(
        "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |{first}",
        page.len(),
        ms(quantile(&page, 0.5)),
        ms(quantile(&page, 1.0)),
        ms(quantile(&total, 0.5)),
        ms(quantile(&total, 1.0)),
    );
}
