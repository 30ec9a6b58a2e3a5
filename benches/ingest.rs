//! Ingest benchmark: one publisher floods a channel; subscribers are measured side by
//! side in the same run against the same private redis-server:
//!   redis-cli subscribe (C, the practical limit), a Python `redis` listen() loop, and
//!   `redtail tail --format jsonl > /dev/null`.
//! Reports messages/s, CPU seconds per million messages, peak RSS, the peak server-side
//! output buffer (omem) of the subscriber, and whether it was disconnected.
//!
//! Then `redtail tail --format jsonl --decode auto` on MessagePack and on gzip-compressed
//! JSON payloads (binary, so published by a pipelined RESP writer of our own rather than
//! redis-benchmark, whose arguments cannot hold a NUL byte).
//!
//! Run: `cargo bench --bench ingest` (env: BENCH_MESSAGES=1000000, BENCH_SIZES=100,1024,
//! BENCH_DECODE=1; `BENCH_SIZES=` runs only the decode rows; BENCH_NO_OUTPUT_LIMIT=1 lifts
//! the server's pubsub output limit so redis-cli survives 1 KB; BENCH_REDTAIL=PATH runs
//! another redtail binary, e.g. a base build for a before/after pair)

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Server;

fn numsub(server: &Server, ch: &str) -> u64 {
    server
        .cli(&["PUBSUB", "NUMSUB", ch])
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// Peak `omem` of pubsub clients, sampled every 10 ms until stopped.
fn omem_sampler(
    port: u16,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        let mut reader = BufReader::new(s.try_clone().expect("clone"));
        while !stop.load(Ordering::Relaxed) {
            if s.write_all(b"CLIENT LIST TYPE pubsub\r\n").is_err() {
                return;
            }
            let mut header = String::new();
            if reader.read_line(&mut header).is_err() {
                return;
            }
            let len: usize = header.trim().trim_start_matches('$').parse().unwrap_or(0);
            let mut body = vec![0u8; len + 2];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            for line in String::from_utf8_lossy(&body).lines() {
                if let Some(v) = line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("omem="))
                {
                    let v: u64 = v.parse().unwrap_or(0);
                    peak.fetch_max(v, Ordering::Relaxed);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}

/// PUBLISH `payload` to `channel` `n` times over one pipelined connection (any bytes).
fn flood_bytes(port: u16, channel: &str, n: u64, payload: &[u8]) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("publisher connects");
    let reader = stream.try_clone().expect("clone");
    // Replies are read (and counted) on their own thread so the pipe never stalls.
    let replies = std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        for _ in 0..n {
            line.clear();
            if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                return;
            }
        }
    });
    let mut command = format!(
        "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{channel}\r\n${}\r\n",
        channel.len(),
        payload.len()
    )
    .into_bytes();
    command.extend_from_slice(payload);
    command.extend_from_slice(b"\r\n");
    const BATCH: u64 = 64;
    let batch: Vec<u8> = command.repeat(BATCH as usize);
    let mut sent = 0;
    while sent < n {
        let k = BATCH.min(n - sent);
        let bytes = if k == BATCH {
            &batch[..]
        } else {
            &batch[..command.len() * k as usize]
        };
        stream.write_all(bytes).expect("publish");
        sent += k;
    }
    let _ = replies.join();
}

struct Row {
    name: &'static str,
    size: usize,
    n: u64,
    wall: Duration,
    usage: common::Usage,
    omem_peak: u64,
    complete: bool,
}

/// What the publisher sends: `size` bytes of `x` through redis-benchmark, or given bytes.
enum Payload {
    Text(usize),
    Bytes(Vec<u8>),
}

fn measure(
    server: &Server,
    name: &'static str,
    payload: Payload,
    n: u64,
    ch: &str,
    mut start: impl FnMut() -> (Child, Option<Child>),
) -> Row {
    let size = match &payload {
        Payload::Text(size) => *size,
        Payload::Bytes(bytes) => bytes.len(),
    };
    eprintln!("[{name} {size} B] starting");
    let (mut sub, mut waiter) = start();
    let deadline = Instant::now() + Duration::from_secs(20);
    while numsub(server, ch) < 1 {
        assert!(Instant::now() < deadline, "{name} did not subscribe");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = omem_sampler(server.port, stop.clone(), peak.clone());
    let t0 = Instant::now();
    let port = server.port;
    let ch2 = ch.to_string();
    eprintln!("[{name} {size} B] subscribed; publishing {n}");
    let publisher = std::thread::spawn(move || match payload {
        Payload::Text(size) => common::flood(port, &ch2, n, &"x".repeat(size)),
        Payload::Bytes(bytes) => flood_bytes(port, &ch2, n, &bytes),
    });
    // The measured process ends by itself after n messages (or is cut by head).
    let (usage, complete) = match waiter.as_mut() {
        Some(head) => {
            let deadline = t0 + Duration::from_secs(15) + Duration::from_micros(n * 20);
            let mut ok = false;
            loop {
                if let Ok(Some(s)) = head.try_wait() {
                    ok = s.success();
                    break;
                }
                if Instant::now() > deadline {
                    let _ = head.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let wall_done = t0.elapsed();
            // redis-cli only notices head is gone on its next write: stop it now.
            let _ = sub.kill();
            let u = common::wait_usage(&mut sub, Instant::now());
            let _ = publisher.join();
            stop.store(true, Ordering::Relaxed);
            let _ = sampler.join();
            return Row {
                name,
                size,
                n,
                wall: wall_done,
                usage: u,
                omem_peak: peak.load(Ordering::Relaxed),
                complete: ok,
            };
        }
        None => {
            // Generous: the slowest reasonable subscriber needs well under a minute.
            let u = common::wait_usage(
                &mut sub,
                t0 + Duration::from_secs(15) + Duration::from_micros(n * 20),
            );
            let ok = u.code == 0;
            (u, ok)
        }
    };
    let wall = t0.elapsed();
    let _ = publisher.join();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    Row {
        name,
        size,
        n,
        wall,
        usage,
        omem_peak: peak.load(Ordering::Relaxed),
        complete,
    }
}

fn main() {
    if !common::benchmarking("ingest") {
        return;
    }
    let n = common::env_u64("BENCH_MESSAGES", 1_000_000);
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "100,1024".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    // BENCH_REDTAIL=/path/to/redtail measures another build (e.g. the base of a change)
    // in the same harness, against the same redis-cli baseline.
    let redtail_override = std::env::var("BENCH_REDTAIL").ok();
    let redtail = redtail_override
        .as_deref()
        .unwrap_or(env!("CARGO_BIN_EXE_redtail"));
    let python_ok = Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let server = Server::start();
    if std::env::var_os("BENCH_NO_OUTPUT_LIMIT").is_some() {
        // redis-cli cannot keep up with 1 KB messages and is disconnected at the default
        // pubsub limit: lift it so redis-cli's CPU per message is a real baseline.
        server.cli(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 0 0 0",
        ]);
    }
    let mut rows = Vec::new();
    for &size in &sizes {
        let port = server.port.to_string();
        let ch = format!("bench:{size}");
        rows.push(measure(
            &server,
            "redis-cli",
            Payload::Text(size),
            n,
            &ch,
            // 3 lines per message plus 3 for the subscribe confirmation.
            || common::redis_cli_counted(&port, &["subscribe", &ch], 3 * n + 3),
        ));
        if python_ok {
            let script = format!(
                "import redis\nr=redis.Redis(port={port})\np=r.pubsub()\np.subscribe('{ch}')\nn=0\nfor m in p.listen():\n    if m['type']=='message':\n        n+=1\n        if n>={n}: break\n"
            );
            rows.push(measure(
                &server,
                "python redis listen()",
                Payload::Text(size),
                n,
                &ch,
                || {
                    (
                        Command::new("python3")
                            .args(["-c", &script])
                            .spawn()
                            .expect("python3"),
                        None,
                    )
                },
            ));
        }
        rows.push(measure(
            &server,
            "redtail tail --format jsonl",
            Payload::Text(size),
            n,
            &ch,
            || (tail(redtail, server.port, &ch, n, &[]), None),
        ));
    }
    if std::env::var("BENCH_DECODE").map_or(true, |v| v != "0") {
        decode_rows(&server, redtail, n, &mut rows);
    }
    print_rows(&rows);
}

/// `redtail tail --format jsonl` on `ch` until `n` messages, plus `extra` flags.
fn tail(redtail: &str, port: u16, ch: &str, n: u64, extra: &[&str]) -> Child {
    Command::new(redtail)
        .args([
            "tail",
            &format!("redis://127.0.0.1:{port}"),
            "-c",
            ch,
            "--format",
            "jsonl",
        ])
        .args([
            "--count",
            &n.to_string(),
            "--max-buffered",
            &(2 * n).to_string(),
        ])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .expect("redtail")
}

/// `--decode auto` on a Socket.IO-style MessagePack event and on a gzip-compressed
/// ~1 KiB JSON document, each with plain `tail` on the same bytes for comparison.
fn decode_rows(server: &Server, redtail: &str, n: u64, rows: &mut Vec<Row>) {
    let event = serde_json::json!([2, {"type": 2, "nsp": "/", "data": ["chat", {
        "user": {"id": 42, "name": "ada"}, "text": "hello there", "ts": 1_764_000_000_000u64
    }]}]);
    let doc = serde_json::json!({
        "host": "web-1",
        "metrics": (0..24).map(|i| serde_json::json!({"name": format!("cpu.{i}"), "value": i as f64 * 0.37})).collect::<Vec<_>>(),
    });
    let cases: [(&'static str, &'static str, Vec<u8>); 2] = [
        (
            "redtail tail --decode auto (msgpack)",
            "redtail tail, same msgpack, no decode",
            redtail::decode::to_msgpack(&event),
        ),
        (
            "redtail tail --decode auto (gzip json)",
            "redtail tail, same gzip, no decode",
            redtail::decode::gzip(doc.to_string().as_bytes()),
        ),
    ];
    for (i, (decoding, plain, bytes)) in cases.into_iter().enumerate() {
        let ch = format!("bench:decode:{i}");
        let port = server.port;
        rows.push(measure(
            server,
            plain,
            Payload::Bytes(bytes.clone()),
            n,
            &ch,
            || (tail(redtail, port, &ch, n, &[]), None),
        ));
        rows.push(measure(
            server,
            decoding,
            Payload::Bytes(bytes),
            n,
            &ch,
            || (tail(redtail, port, &ch, n, &["--decode", "auto"]), None),
        ));
    }
}

fn print_rows(rows: &[Row]) {
    println!("\n| subscriber | payload | messages | msg/s | CPU s / 1M msgs | peak RSS | peak omem | complete, not disconnected |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    let mut base = std::collections::HashMap::new();
    for r in rows {
        let rate = r.n as f64 / r.wall.as_secs_f64();
        let cpu_per_m = r.usage.cpu_s / (r.n as f64 / 1e6);
        if r.name == "redis-cli" {
            base.insert(r.size, (rate, cpu_per_m));
        }
        // Rows without a redis-cli run at their size (the decode rows) show no ratio.
        let versus = |value: f64, pick: fn((f64, f64)) -> f64| match base.get(&r.size) {
            Some(&b) => format!(" ({:.2}× cli)", value / pick(b)),
            None => String::new(),
        };
        println!(
            "| {} | {} B | {} | {:.0}{} | {:.2}{} | {:.1} MiB | {:.1} MiB | {} |",
            r.name,
            r.size,
            r.n,
            rate,
            versus(rate, |b| b.0),
            cpu_per_m,
            versus(cpu_per_m, |b| b.1),
            r.usage.max_rss_kb as f64 / 1024.0,
            r.omem_peak as f64 / (1024.0 * 1024.0),
            match (r.complete, r.usage.code) {
                (true, _) => "yes",
                (false, -2) => "NO: timed out (disconnected by the server?)",
                _ => "NO",
            },
        );
    }
}
