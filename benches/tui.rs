//! TUI benchmarks in a real pseudo-terminal against a private redis-server:
//!  1. ingest: a flood of N messages (redis-benchmark -P 16) while the feed is visible;
//!     messages/s until the header shows all N retained, CPU seconds per million, peak
//!     RSS, peak server-side output buffer (omem) of the TUI's subscriber connection;
//!  2. key latency under load: while ~100k msg/s flow, press `?` (help overlay) and Esc,
//!     and time key-to-screen-change; p50 / p99 over many presses.
//!
//! Run: `cargo bench --bench tui` (env: BENCH_MESSAGES=1000000, BENCH_RATE=100000)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server on PATH");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server { child, port }
}

struct Tui {
    screen: Arc<Mutex<vt100::Parser>>,
    changes: Arc<AtomicU64>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    pid: u32,
}

impl Tui {
    fn spawn(args: &[&str]) -> Tui {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: 50,
                cols: 160,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_redtail"));
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        let child = pty.slave.spawn_command(cmd).expect("spawn");
        let pid = child.process_id().expect("pid");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("reader");
        let writer = pty.master.take_writer().expect("writer");
        let nz = |n| std::num::NonZeroU16::new(n).expect("non-zero");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(nz(50), nz(160), 0)));
        let changes = Arc::new(AtomicU64::new(0));
        let (s, c) = (screen.clone(), changes.clone());
        let master = pty.master;
        std::thread::spawn(move || {
            let _keep = master;
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut p) = s.lock() {
                    p.process(&buf[..n]);
                }
                c.fetch_add(1, Ordering::Relaxed);
            }
        });
        Tui {
            screen,
            changes,
            writer,
            child,
            pid,
        }
    }
    fn contents(&self) -> String {
        self.screen
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }
    fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.contents()) {
                return Some(Instant::now());
            }
            if Instant::now() > deadline {
                eprintln!("timed out waiting for {what}");
                return None;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    fn key(&mut self, b: &[u8]) {
        let _ = self.writer.write_all(b);
        let _ = self.writer.flush();
    }
}

/// Number before " retained" in the header ("1,000,000 retained").
fn retained(screen: &str) -> u64 {
    screen
        .lines()
        .find_map(|l| {
            let i = l.find(" retained")?;
            let digits: String = l[..i]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit() || *c == ',')
                .collect();
            digits
                .chars()
                .rev()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn proc_stat(pid: u32) -> (f64, u64) {
    // utime + stime in clock ticks (fields 14, 15), VmHWM from status.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let cpu = (f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
        / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, hwm)
}

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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("tui benchmark: run with `cargo bench --bench tui`");
        return;
    }
    let n: u64 = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rate: u64 = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let server = start_server();
    let url = format!("redis://127.0.0.1:{}", server.port);

    // 1. Ingest with the feed visible.
    let mut tui = Tui::spawn(&[
        &url,
        "-c",
        "flood",
        "--max-messages",
        &(2 * n).to_string(),
        "--max-bytes",
        "4GiB",
    ]);
    tui.wait("connected", Duration::from_secs(20), |s| {
        s.contains("connected")
    });
    std::thread::sleep(Duration::from_millis(500));
    let (cpu0, _) = proc_stat(tui.pid);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = omem_peak(server.port, stop.clone());
    let t0 = Instant::now();
    let ok = Command::new("redis-benchmark")
        .args([
            "-p",
            &server.port.to_string(),
            "-c",
            "1",
            "-P",
            "16",
            "-q",
            "-n",
            &n.to_string(),
        ])
        .args(["PUBLISH", "flood", &"x".repeat(100)])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "publisher failed");
    let done = tui.wait("all retained", Duration::from_secs(120), |s| {
        retained(s) >= n
    });
    stop.store(true, Ordering::Relaxed);
    let omem = sampler.join().unwrap_or(0);
    let (cpu1, hwm) = proc_stat(tui.pid);
    let gaps = tui.contents().contains("disconnected");
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
            retained(&tui.contents())
        ),
    }
    tui.key(b"q");
    let _ = tui.child.wait();

    // 2. Key latency under a paced flood.
    let mut tui = Tui::spawn(&[&url, "-c", "load"]);
    tui.wait("connected", Duration::from_secs(20), |s| {
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
        tui.key(b"?");
        if let Some(at) = tui.wait("help open", Duration::from_secs(5), |s| {
            s.contains(help_marker)
        }) {
            samples.push(at.duration_since(t));
        }
        std::thread::sleep(Duration::from_millis(30));
        let t = Instant::now();
        tui.key(b"\x1b");
        if let Some(at) = tui.wait("help closed", Duration::from_secs(5), |s| {
            !s.contains(help_marker)
        }) {
            samples.push(at.duration_since(t));
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::Relaxed);
    let sent = publisher.join().unwrap_or(0);
    let _ = tui.changes.load(Ordering::Relaxed);
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
    tui.key(b"q");
    let _ = tui.child.wait();
}
