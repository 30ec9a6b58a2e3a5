//! `/metrics` scrape latency: the real `redtail metrics` binary polling a private
//! redis-server with 1,000 streams × 3 groups × 10 consumers (every consumer holding a
//! pending entry, so the findings' reads run after every poll), scraped N times one
//! after another over fresh connections (as Prometheus does). A scrape answers from the
//! text rendered after the latest poll, so its latency should not depend on the poll.
//!
//! Run: `cargo bench --bench metrics` (`-- --quick`: 100 streams, 200 scrapes;
//! BENCH_STREAMS, BENCH_SCRAPES).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

use common::{CONSUMERS, GROUPS};

/// One `GET /metrics` on a fresh connection: (status line, body length).
fn scrape(addr: &str) -> (String, usize) {
    let mut conn = TcpStream::connect(addr).expect("connect to redtail metrics");
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .expect("send request");
    let mut response = Vec::new();
    conn.read_to_end(&mut response).expect("read response");
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
    (status, body)
}

fn main() {
    if !common::benchmarking("metrics") {
        return;
    }
    let quick = common::quick();
    let streams = common::env_u64("BENCH_STREAMS", if quick { 100 } else { 1000 }) as usize;
    let scrapes = common::env_u64("BENCH_SCRAPES", if quick { 200 } else { 1000 }) as usize;
    let server = Server::start();
    common::seed_streams(&server, streams);

    let mut child = Command::new(env!("CARGO_BIN_EXE_redtail"))
        .args([
            "metrics",
            &server.url(),
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redtail metrics");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read the listening line");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();

    // Wait for the first poll (and its findings) to be in the page.
    let deadline = Instant::now() + Duration::from_secs(120);
    let want = format!("bench:stream:{}", streams - 1);
    loop {
        let mut conn = TcpStream::connect(&addr).expect("connect");
        let _ = conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: b\r\n\r\n");
        let mut body = String::new();
        let _ = conn.read_to_string(&mut body);
        if body.contains(&want) && body.contains("redtail_findings") {
            break;
        }
        assert!(Instant::now() < deadline, "no poll in the page after 120 s");
        std::thread::sleep(Duration::from_millis(200));
    }

    let cpu_before = common::cpu_seconds(child.id());
    let started = Instant::now();
    let mut times = Vec::with_capacity(scrapes);
    let mut body = 0;
    for _ in 0..scrapes {
        let t = Instant::now();
        let (status, len) = scrape(&addr);
        times.push(t.elapsed());
        assert!(status.contains("200"), "{status}");
        body = len;
    }
    let wall = started.elapsed();
    let cpu = common::cpu_seconds(child.id()) - cpu_before;
    let _ = child.kill();
    let _ = child.wait();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "\n| /metrics scrape | scrapes | page | p50 | p99 | max | redtail CPU during the scrapes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {streams} streams × {GROUPS} groups × {CONSUMERS} consumers, polled every 1 s | {scrapes} | {:.0} KiB | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} s over {:.1} s (polls and findings included) |",
        body as f64 / 1024.0,
        ms(common::percentile(&times, 0.5)),
        ms(common::percentile(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default()),
        cpu,
        wall.as_secs_f64()
    );
}
