//! Keyspace benchmark: how many keyspace events per second `redtail tail --keyspace`
//! sustains while `redis-benchmark -t set` floods a private redis-server, and the CPU it
//! spends per million events. Each SET is one `set` event on `__keyspace@0__:key:…`.
//!
//! Measured: redtail (`--format jsonl -n N > /dev/null`, so it exits after the N-th
//! event) and, as the practical limit, `redis-cli psubscribe` piped to `head`. For each:
//! wall time from the flood's start until the subscriber has all N events, its CPU
//! seconds (wait4 rusage), events/s and CPU s per million events, and whether all
//! arrived (a subscriber that reads too slowly is disconnected by the server, or drops).
//!
//! Run: `cargo bench --bench keyspace` (env: BENCH_EVENTS=1000000, BENCH_PIPELINE=16)

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

/// Patterns subscribed by clients whose CLIENT LIST line contains `name`.
fn psubs(server: &Server) -> u64 {
    server
        .cli(&["CLIENT", "LIST", "TYPE", "pubsub"])
        .lines()
        .filter_map(|l| l.split_whitespace().find_map(|f| f.strip_prefix("psub=")))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

/// `redis-benchmark -t set` with `n` requests over random keys; its requests/s.
fn flood(port: u16, n: u64, pipeline: u64) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let out = Command::new("redis-benchmark")
            .args(["-p", &port.to_string(), "-t", "set", "-q"])
            .args(["-n", &n.to_string(), "-r", "1000000"])
            .args(["-P", &pipeline.to_string()])
            .output()
            .expect("redis-benchmark");
        // -q rewrites its progress line with \r; the summary is the last piece.
        String::from_utf8_lossy(&out.stdout)
            .split(['\r', '\n'])
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or_default()
            .to_string()
    })
}

struct Row {
    name: &'static str,
    wall: Duration,
    cpu_s: f64,
    complete: bool,
    flood: String,
}

fn measure(
    server: &Server,
    name: &'static str,
    n: u64,
    pipeline: u64,
    start: impl FnOnce() -> (Child, Option<Child>),
) -> Row {
    eprintln!("[{name}] starting");
    let (mut sub, waiter) = start();
    let deadline = Instant::now() + Duration::from_secs(20);
    while psubs(server) < 1 {
        assert!(Instant::now() < deadline, "{name} did not subscribe");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("[{name}] subscribed; {n} SETs");
    let t0 = Instant::now();
    let publisher = flood(server.port, n, pipeline);
    let deadline = t0 + Duration::from_secs(30) + Duration::from_micros(n * 20);
    let (wall, cpu_s, complete) = match waiter {
        // redis-cli: `head` ends when all lines arrived; redis-cli only notices on its
        // next write, so it is stopped then.
        Some(mut head) => {
            let mut complete = false;
            loop {
                if let Ok(Some(s)) = head.try_wait() {
                    complete = s.success();
                    break;
                }
                if Instant::now() > deadline {
                    let _ = head.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let wall = t0.elapsed();
            let _ = sub.kill();
            let cpu_s = common::wait_usage(&mut sub, Instant::now()).cpu_s;
            (wall, cpu_s, complete)
        }
        // redtail exits by itself after the n-th event (`-n`).
        None => {
            let common::Usage { cpu_s, code, .. } = common::wait_usage(&mut sub, deadline);
            (t0.elapsed(), cpu_s, code == 0)
        }
    };
    let flood = publisher.join().unwrap_or_default();
    Row {
        name,
        wall,
        cpu_s,
        complete,
        flood,
    }
}

fn main() {
    if !common::benchmarking("keyspace") {
        return;
    }
    let n = common::env_u64("BENCH_EVENTS", 1_000_000);
    let pipeline = common::env_u64("BENCH_PIPELINE", 16);
    let redtail = env!("CARGO_BIN_EXE_redtail");
    let server = Server::start_with(&["--notify-keyspace-events", "K$"]);
    let url = server.url();
    let port = server.port.to_string();
    let mut rows = Vec::new();

    rows.push(measure(
        &server,
        "redis-cli psubscribe",
        n,
        pipeline,
        // 4 lines per event plus 3 for the confirmation.
        || common::redis_cli_counted(&port, &["psubscribe", "__keyspace@0__:key:*"], 4 * n + 3),
    ));
    // Keys from the first run are overwritten: still one `set` event per SET.
    let count = n.to_string();
    let row = {
        let url = url.clone();
        let count = count.clone();
        measure(&server, "redtail tail --keyspace", n, pipeline, move || {
            let sub = Command::new(redtail)
                .args(["tail", &url, "--db", "0", "--keyspace", "key:*"])
                .args(["--events", "set", "--format", "jsonl", "-n", &count])
                .stdout(Stdio::null())
                .spawn()
                .expect("redtail");
            (sub, None)
        })
    };
    rows.push(row);

    println!();
    println!("keyspace events: {n} SETs by redis-benchmark -P {pipeline} -r 1000000, one `set` event each");
    println!(
        "{:<26} {:>9} {:>12} {:>9} {:>16} {:>9}  flood (redis-benchmark)",
        "subscriber", "wall s", "events/s", "cpu s", "cpu s / M events", "complete"
    );
    for r in &rows {
        let secs = r.wall.as_secs_f64();
        println!(
            "{:<26} {:>9.2} {:>12.0} {:>9.2} {:>16.2} {:>9}  {}",
            r.name,
            secs,
            n as f64 / secs,
            r.cpu_s,
            r.cpu_s / (n as f64 / 1e6),
            r.complete,
            r.flood
        );
    }
}
