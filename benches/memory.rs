//! Memory soak (issue 8): the TUI in a pseudo-terminal ingests a flood of 100-byte
//! messages (5M by default) under different caps, while VmRSS / VmHWM of the process and
//! the header's retained / evicted counts are sampled every 250 ms. Shows what the caps
//! retain, what that costs in RSS, and whether RSS stays flat once the caps are hit.
//!
//! Target: RSS ≤ 64 MiB + 1.5 × retained payload bytes.
//!
//! First, in this process (issue 19): the feed's store alone with 1M retained 100-byte
//! messages, payloads carved from shared slabs as the subscriber makes them; RSS grown
//! per message beyond its payload. Target: ≤ 40 bytes.
//!
//! Run: `cargo bench --bench memory` (env: BENCH_MESSAGES=5000000; `-- --quick` or
//! BENCH_QUICK=1 for 1M messages; BENCH_STORE_ONLY=1 for the in-process store figure only)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{evicted, mib, retained, rss_kib, Server};

const PAYLOAD: usize = 100;

#[derive(Clone, Copy)]
struct Sample {
    at: Duration,
    rss_kib: u64,
    processed: u64,
    retained: u64,
}

struct Outcome {
    name: &'static str,
    args: String,
    n: u64,
    complete: bool,
    retained: u64,
    samples: Vec<Sample>,
    hwm_kib: u64,
    settled_rss_kib: u64,
}

fn soak(server: &Server, name: &'static str, caps: &[&str], n: u64) -> Outcome {
    eprintln!("[{name}] {n} messages, caps: {}", caps.join(" "));
    let url = server.url();
    let mut args = vec![url.as_str(), "-c", "soak"];
    args.extend_from_slice(caps);
    let tui = common::tui(&args);
    let pid = tui.pid();
    let connected = tui.poll_until("connected", Duration::from_secs(20), |s| {
        s.contains("connected")
    });
    assert!(connected.is_some(), "the TUI did not connect");
    std::thread::sleep(Duration::from_millis(500));

    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let sampler = {
        let (stop, samples, screen) = (stop.clone(), samples.clone(), tui.screen_handle());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let screen = screen.contents();
                let (rss, _) = rss_kib(pid);
                let kept = retained(&screen);
                if let Ok(mut s) = samples.lock() {
                    s.push(Sample {
                        at: t0.elapsed(),
                        rss_kib: rss,
                        processed: kept + evicted(&screen),
                        retained: kept,
                    });
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let port = server.port;
    let publisher =
        std::thread::spawn(move || common::flood(port, "soak", n, &"x".repeat(PAYLOAD)));
    let done = tui.poll_until(
        "every message retained or evicted",
        Duration::from_secs(60) + Duration::from_micros(n * 40),
        |s| retained(s) + evicted(s) >= n,
    );
    let _ = publisher.join();
    // Keep sampling a while after the flood: memory must not creep up when idle either.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let (settled_rss_kib, hwm_kib) = rss_kib(pid);
    let screen = tui.screen();
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    tui.quit();
    Outcome {
        name,
        args: caps.join(" "),
        n,
        complete: done.is_some(),
        retained: retained(&screen),
        samples,
        hwm_kib,
        settled_rss_kib,
    }
}

fn main() {
    if !common::benchmarking("memory") {
        return;
    }
    let default_n = if common::quick() {
        1_000_000
    } else {
        5_000_000
    };
    let n = common::env_u64("BENCH_MESSAGES", default_n);
    store_overhead(1_000_000);
    if std::env::var_os("BENCH_STORE_ONLY").is_some() {
        return;
    }
    let server = Server::start();
    let outcomes = vec![
        soak(&server, "default caps", &[], n),
        soak(
            &server,
            "1M messages",
            &["--max-messages", "1000000", "--max-bytes", "4GiB"],
            n,
        ),
        soak(
            &server,
            "256 MiB",
            &["--max-messages", "100000000", "--max-bytes", "256MiB"],
            n,
        ),
    ];

    println!(
        "\n| caps | messages | retained | retained payload | RSS when the caps are hit | RSS at 50 % | RSS at the end (+3 s idle) | peak RSS (VmHWM) | target: 64 MiB + 1.5 × payload | flat: 2nd half growth (since the caps were hit) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for o in &outcomes {
        let payload = o.retained * PAYLOAD as u64;
        let target_kib = 64 * 1024 + (1.5 * payload as f64 / 1024.0) as u64;
        // The caps are hit at the first sample where something was evicted.
        let capped = o
            .samples
            .iter()
            .position(|s| s.processed > s.retained && s.retained > 0);
        let at_cap = capped.map_or(0, |i| o.samples[i].rss_kib);
        let half = o.samples.iter().position(|s| s.processed >= o.n / 2);
        let at_half = half.map_or(0, |i| o.samples[i].rss_kib);
        let max_from = |i: Option<usize>| {
            i.map_or(0, |i| {
                o.samples[i..].iter().map(|s| s.rss_kib).max().unwrap_or(0)
            })
        };
        let second_half = max_from(half).saturating_sub(at_half);
        let since_cap = max_from(capped).saturating_sub(at_cap);
        // Flat: the second half of the flood (millions of messages after the caps were
        // reached) adds less than 2 % to RSS.
        let flat = half.is_some() && (second_half as f64) < 0.02 * at_half as f64;
        println!(
            "| {} (`{}`) | {}{} | {} | {:.1} MiB | {:.0} MiB | {:.0} MiB | {:.0} MiB | {:.0} MiB | {:.0} MiB ({}) | {}: +{:.1} MiB (+{:.1} MiB) |",
            o.name,
            if o.args.is_empty() { "no flags" } else { &o.args },
            o.n,
            if o.complete { "" } else { " (INCOMPLETE)" },
            o.retained,
            payload as f64 / (1024.0 * 1024.0),
            mib(at_cap),
            mib(at_half),
            mib(o.settled_rss_kib),
            mib(o.hwm_kib),
            mib(target_kib),
            if o.hwm_kib <= target_kib { "met" } else { "MISSED" },
            if flat { "yes" } else { "NO" },
            mib(second_half),
            mib(since_cap),
        );
    }
    println!("\nRSS over time (MiB, one sample per second; processed = retained + evicted):");
    for o in &outcomes {
        let line: Vec<String> = o
            .samples
            .iter()
            .step_by(4)
            .map(|s| {
                format!(
                    "{:.0}s:{:.0}({}k/{}k)",
                    s.at.as_secs_f64(),
                    mib(s.rss_kib),
                    s.processed / 1000,
                    s.retained / 1000
                )
            })
            .collect();
        println!("  {}: {}", o.name, line.join(" "));
    }
}

/// RSS the feed's store grows by per retained message, beyond the payload, measured in
/// this process (a `FeedState` filled as the TUI fills it, payloads in 64 KiB slabs).
fn store_overhead(n: usize) {
    use bytes::{Bytes, BytesMut};
    use redtail::redis::message::{Kind, Message};
    use redtail::state::feed::{FeedItem, FeedState};

    let received = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let channel = Bytes::from_static(b"soak");
    let payload = "x".repeat(PAYLOAD);
    let mut feed = FeedState::new(n, usize::MAX / 4);
    let mut slab = BytesMut::new();
    let (before, _) = rss_kib(std::process::id());
    for seq in 0..n {
        if slab.capacity() - slab.len() < PAYLOAD {
            slab = BytesMut::with_capacity(64 * 1024);
        }
        slab.extend_from_slice(payload.as_bytes());
        feed.push(FeedItem::Message(Message {
            seq: seq as u64,
            received,
            kind: Kind::Message,
            pattern: None,
            channel: channel.clone(),
            payload: slab.split().freeze(),
        }));
    }
    let (after, _) = rss_kib(std::process::id());
    let per_message = (after.saturating_sub(before) * 1024) as f64 / n as f64;
    println!(
        "\n| feed store alone | retained | RSS grown | per message | beyond the {PAYLOAD}-byte payload (target ≤ 40) |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| {n} × {PAYLOAD} B | {} | {:.1} MiB | {per_message:.1} B | {:.1} B |",
        feed.len(),
        mib(after.saturating_sub(before)),
        per_message - PAYLOAD as f64
    );
}
