//! TUI benchmarks in a real pseudo-terminal against a private redis-server:
//!  1. ingest: a flood of N messages (redis-benchmark -P 16) while the feed is visible;
//!     messages/s until the header shows all N retained, CPU seconds per million, peak
//!     RSS, peak server-side output buffer (omem) of the TUI's subscriber connection;
//!  2. key latency under load: while ~100k msg/s flow, press `?` (help overlay) and Esc,
//!     and time key-to-screen-change; p50 / p99 over many presses.
//!
//! Run: `cargo bench --bench tui` (env: BENCH_MESSAGES=1000000, BENCH_RATE=100000)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cpu_seconds, percentile, retained, rss_kib, Server};

fn omem_peak(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let out = Command::new("redis-cli")
                .args(["-p", &port.to_string(), "CLIENT", "LIST", "TYPE", "pubsub"])
                .output();
            if let Ok(o) = out {
                for line in String::from_utf8_lossy(&o.stdout).lines() {
                    if line.contains("name=redtail-sub") {
                        if let Some(v) = line
                            .split_whitespace()
                            .find_map(|f| f.strip_prefix("omem="))
                        {
                            peak = peak.max(v.parse().unwrap_or(0));
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}

/// Publish about `rate` messages/s until stopped (batches of pipelined PUBLISH every 10 ms).
fn paced_publisher(port: u16, rate: u64, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return 0;
        };
        let per_tick = (rate / 100).max(1);
        let mut batch = Vec::new();
        for i in 0..per_tick {
            let payload =
                format!("{{\"seq\":{i},\"text\":\"load load load load load load load load\"}}");
            batch.extend_from_slice(
                format!(
                    "*3\r\n$7\r\nPUBLISH\r\n$4\r\nload\r\n${}\r\n{payload}\r\n",
                    payload.len()
                )
                .as_bytes(),
            );
        }
        let mut sent = 0;
        let mut sink = vec![0u8; 1 << 20];
        s.set_nonblocking(false).ok();
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if s.write_all(&batch).is_err() {
                break;
            }
            sent += per_tick;
            // Drain replies so the server never blocks on us.
            s.set_read_timeout(Some(Duration::from_micros(100))).ok();
            while let Ok(n) = s.read(&mut sink) {
                if n == 0 {
                    break;
                }
            }
            next += Duration::from_millis(10);
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        sent
    })
}

fn main() {
    if !common::benchmarking("tui") {
        return;
    }
    let n = common::env_u64("BENCH_MESSAGES", 1_000_000);
    let rate = common::env_u64("BENCH_RATE", 100_000);
    let server = Server::start();
    let url = server.url();

    // 1. Ingest with the feed visible.
    let tui = common::tui(&[
        &url,
        "-c",
        "flood",
        "--max-messages",
        &(2 * n).to_string(),
        "--max-bytes",
        "4GiB",
    ]);
    tui.poll_until("connected", Duration::from_secs(20), |s| {
        s.contains("connected")
    });
    std::thread::sleep(Duration::from_millis(500));
    let cpu0 = cpu_seconds(tui.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = omem_peak(server.port, stop.clone());
    let t0 = Instant::now();
    common::flood(server.port, "flood", n, &"x".repeat(100));
    let done = tui.poll_until("all retained", Duration::from_secs(120), |s| {
        retained(s) >= n
    });
    stop.store(true, Ordering::Relaxed);
    let omem = sampler.join().unwrap_or(0);
    let (cpu1, (_, hwm)) = (cpu_seconds(tui.pid()), rss_kib(tui.pid()));
    let gaps = tui.screen().contains("disconnected");
    match done {
        Some(t) => {
            let wall = t.duration_since(t0).as_secs_f64();
            println!("\n| TUI ingest | messages | msg/s | CPU s / 1M msgs | peak RSS | peak omem | disconnected |");
            println!("|---|---:|---:|---:|---:|---:|---|");
            println!(
                "| feed visible, 100 B | {n} | {:.0} | {:.2} | {:.1} MiB | {:.1} MiB | {} |",
                n as f64 / wall,
                (cpu1 - cpu0) / (n as f64 / 1e6),
                hwm as f64 / 1024.0,
                omem as f64 / (1024.0 * 1024.0),
                if gaps { "YES" } else { "no" }
            );
        }
        None => println!(
            "TUI ingest: did not retain all {n} messages (screen shows {})",
            retained(&tui.screen())
        ),
    }
    tui.quit();

    // 2. Key latency under a paced flood.
    let mut tui = common::tui(&[&url, "-c", "load"]);
    tui.poll_until("connected", Duration::from_secs(20), |s| {
        s.contains("connected")
    });
    std::thread::sleep(Duration::from_millis(300));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = paced_publisher(server.port, rate, stop.clone());
    std::thread::sleep(Duration::from_secs(1));
    let mut samples = Vec::new();
    let help_marker = " keys ";
    for _ in 0..60 {
        let t = Instant::now();
        tui.send_now(b"?");
        if let Some(at) = tui.poll_until("help open", Duration::from_secs(5), |s| {
            s.contains(help_marker)
        }) {
            samples.push(at.duration_since(t));
        }
        std::thread::sleep(Duration::from_millis(30));
        let t = Instant::now();
        tui.send_now(b"\x1b");
        if let Some(at) = tui.poll_until("help closed", Duration::from_secs(5), |s| {
            !s.contains(help_marker)
        }) {
            samples.push(at.duration_since(t));
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::Relaxed);
    let sent = publisher.join().unwrap_or(0);
    samples.sort();
    println!("\n| key → screen under load | publish rate | presses | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| `?` / Esc (help overlay) | ~{rate} msg/s ({sent} sent) | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    tui.quit();
}
