//! TUI benchmarks in a real pseudo-terminal against a private redis-server:
//!  1. ingest: a flood of N messages (redis-benchmark -P 16) while the feed is visible;
//!     messages/s until the header shows all N retained, CPU seconds per million, peak
//!     RSS, peak server-side output buffer (omem) of the TUI's subscriber connection;
//!     In the same run and on the same flood, `redis-cli subscribe` (stdout a pipe the bench
//!     drains) is measured the same way, before and after the TUI, so the CPU ratio is side
//!     by side (BENCH_RUNS=N repeats the cli/TUI pair N times, interleaved);
//!  2. key latency under load: while ~100k msg/s flow, press `?` (help overlay) and Esc,
//!     and time key-to-screen-change; p50 / p99 over many presses.
//!
//! Run: `cargo bench --bench tui` (env: BENCH_MESSAGES=1000000, BENCH_RATE=100000;
//! `BENCH_JSON=1` floods 100-byte JSON objects instead of `xxx…`, which the TUI checks
//! for well-formed JSON in idle time as they arrive)

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
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

/// `redis-cli subscribe CHANNEL` with stdout a pipe this process drains (counting lines):
/// CPU seconds of redis-cli for the whole flood of `n` messages, or None if not all arrived
/// (disconnected by the server) within the deadline.
fn redis_cli_cpu(port: u16, channel: &str, n: u64) -> Option<(f64, f64)> {
    let mut cli = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "subscribe", channel])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-cli");
    let pid = cli.id();
    let out = cli.stdout.take().expect("stdout");
    // 3 lines per message plus 3 for the subscribe confirmation.
    let want = 3 * n + 3;
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 16, out);
        let mut lines = 0u64;
        let mut subscribed = false;
        loop {
            let buf = match r.fill_buf() {
                Ok([]) | Err(_) => break,
                Ok(b) => b,
            };
            lines += memchr_count(buf);
            let len = buf.len();
            r.consume(len);
            if !subscribed && lines >= 3 {
                subscribed = true;
                let _ = tx.send(None);
            }
            if lines >= want {
                let _ = tx.send(Some(Instant::now()));
                break;
            }
        }
    });
    let subscribed = rx.recv_timeout(Duration::from_secs(20)).is_ok();
    let result = if subscribed {
        let cpu0 = cpu_seconds(pid);
        let t0 = Instant::now();
        common::flood(port, channel, n, &flood_payload());
        rx.recv_timeout(Duration::from_secs(120))
            .ok()
            .flatten()
            .map(|t| {
                (
                    n as f64 / t.duration_since(t0).as_secs_f64(),
                    cpu_seconds(pid) - cpu0,
                )
            })
    } else {
        None
    };
    let _ = cli.kill();
    let _ = cli.wait();
    let _ = reader.join();
    result
}

/// The flood's 100-byte payload: `xxx…`, or a JSON object with `BENCH_JSON=1`.
fn flood_payload() -> String {
    if std::env::var_os("BENCH_JSON").is_none() {
        return "x".repeat(100);
    }
    let head = "{\"seq\":12345,\"user\":{\"id\":42},\"latency_ms\":250,\"text\":\"";
    format!("{head}{}\"}}", "x".repeat(100 - head.len() - 2))
}

/// "100 B", or "100 B JSON" with `BENCH_JSON=1`.
fn payload_label() -> &'static str {
    if std::env::var_os("BENCH_JSON").is_some() {
        "100 B JSON"
    } else {
        "100 B"
    }
}

fn memchr_count(buf: &[u8]) -> u64 {
    buf.iter().filter(|&&b| b == b'\n').count() as u64
}

/// One TUI ingest run: (msg/s, CPU s, peak RSS KiB, peak omem bytes, disconnected), or None
/// if the TUI did not show all `n` retained within the deadline.
fn tui_ingest(server: &Server, n: u64) -> Option<(f64, f64, u64, u64, bool)> {
    let url = server.url();
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
    common::flood(server.port, "flood", n, &flood_payload());
    let done = tui.poll_until("all retained", Duration::from_secs(120), |s| {
        retained(s) >= n
    });
    stop.store(true, Ordering::Relaxed);
    let omem = sampler.join().unwrap_or(0);
    // The idle work the last messages left (their JSON check) is part of their cost.
    std::thread::sleep(Duration::from_millis(300));
    let (cpu1, (_, hwm)) = (cpu_seconds(tui.pid()), rss_kib(tui.pid()));
    let gaps = tui.screen().contains("disconnected");
    let out = match done {
        Some(t) => Some((
            n as f64 / t.duration_since(t0).as_secs_f64(),
            cpu1 - cpu0,
            hwm,
            omem,
            gaps,
        )),
        None => {
            println!(
                "TUI ingest: did not retain all {n} messages (screen shows {})",
                retained(&tui.screen())
            );
            None
        }
    };
    tui.quit();
    out
}

fn ingest_side_by_side(server: &Server, n: u64, runs: u64) {
    let per_m = |cpu: f64| cpu / (n as f64 / 1e6);
    let mut rows = Vec::new();
    let cli_row = |rows: &mut Vec<String>, run: u64| -> Option<f64> {
        let r = redis_cli_cpu(server.port, "cliflood", n);
        match r {
            Some((rate, cpu)) => rows.push(format!(
                "| redis-cli subscribe → pipe, {} (run {run}) | {n} | {rate:.0} | {:.2} (1.00× cli) | | | no |",
                payload_label(),
                per_m(cpu)
            )),
            None => rows.push(format!(
                "| redis-cli subscribe → pipe, {} (run {run}) | {n} | — | — | | | YES (not all arrived) |",
                payload_label()
            )),
        }
        r.map(|(_, cpu)| per_m(cpu))
    };
    let mut clis = Vec::new();
    clis.extend(cli_row(&mut rows, 1));
    let mut tuis = Vec::new();
    for run in 1..=runs {
        if let Some((rate, cpu, hwm, omem, gaps)) = tui_ingest(server, n) {
            tuis.push((run, rate, per_m(cpu), hwm, omem, gaps));
        }
        clis.extend(cli_row(&mut rows, run + 1));
    }
    let cli = if clis.is_empty() {
        f64::NAN
    } else {
        clis.iter().sum::<f64>() / clis.len() as f64
    };
    for (run, rate, cpu, hwm, omem, gaps) in tuis {
        rows.push(format!(
            "| TUI, feed visible, {} (run {run}) | {n} | {rate:.0} | {cpu:.2} ({:.2}× cli) | {:.1} MiB | {:.1} MiB | {} |",
            payload_label(),
            cpu / cli,
            hwm as f64 / 1024.0,
            omem as f64 / (1024.0 * 1024.0),
            if gaps { "YES" } else { "no" }
        ));
    }
    println!("\n| TUI ingest (ratio: against the mean of the redis-cli runs around it) | messages | msg/s | CPU s / 1M msgs | peak RSS | peak omem | disconnected |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for r in rows {
        println!("{r}");
    }
}

fn main() {
    if !common::benchmarking("tui") {
        return;
    }
    let n = common::env_u64("BENCH_MESSAGES", 1_000_000);
    let rate = common::env_u64("BENCH_RATE", 100_000);
    let server = Server::start();
    let url = server.url();

    // 1. Ingest with the feed visible, redis-cli measured on the same flood around it.
    ingest_side_by_side(&server, n, common::env_u64("BENCH_RUNS", 1).max(1));

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
