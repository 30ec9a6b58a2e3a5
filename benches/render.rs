//! Render and filter cost (issue 8, item 3): draw panes into a `TestBackend` at 200×60 with
//! 100k retained messages and 10k channels, and re-evaluate a filter over 100k messages.
//! Prints p50 / p99 / max per frame.
//!
//! Run: `cargo bench --bench render`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use redtail::redis::message::{Delivery, Kind, Message};
use redtail::redis::subscriber::Subscriptions;
use redtail::state::{AppState, Config, Event};

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
}
