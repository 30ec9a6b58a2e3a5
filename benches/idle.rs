//! Idle cost (issue 8): the TUI in a pseudo-terminal, connected, with nothing published,
//! on each pane in turn; and `redtail tail` waiting for messages. CPU % from utime +
//! stime over the window, wake-ups (context switches of all threads) per second, what
//! the TUI wrote to the terminal (redraws), and the CPU the pollers cost redis-server.
//!
//! Target: < 1 % CPU idle.
//!
//! Run: `cargo bench --bench idle` (BENCH_IDLE_SECS=30 per case; `-- --quick` or
//! BENCH_QUICK=1: 10 s)

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{context_switches, cpu_seconds, Server, Tui};

struct Row {
    what: String,
    secs: f64,
    cpu: f64,
    wakeups: u64,
    out_bytes: Option<u64>,
    out_writes: Option<u64>,
    server_cpu: f64,
}

/// Measure `pid` (and the server) over `secs` seconds; `output` reads the pty counters.
fn measure(what: String, pid: u32, server: &Server, secs: u64, output: Option<&Tui>) -> Row {
    let counters = |t: &Tui| {
        (
            t.output_bytes.load(Ordering::Relaxed),
            t.output_reads.load(Ordering::Relaxed),
        )
    };
    let (cpu0, sw0, srv0) = (
        cpu_seconds(pid),
        context_switches(pid),
        cpu_seconds(server.pid()),
    );
    let out0 = output.map(counters);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let elapsed = t.elapsed().as_secs_f64();
    let out1 = output.map(counters);
    Row {
        what,
        secs: elapsed,
        cpu: cpu_seconds(pid) - cpu0,
        wakeups: context_switches(pid) - sw0,
        out_bytes: out0.zip(out1).map(|(a, b)| b.0 - a.0),
        out_writes: out0.zip(out1).map(|(a, b)| b.1 - a.1),
        server_cpu: cpu_seconds(server.pid()) - srv0,
    }
}

fn main() {
    if !common::benchmarking("idle") {
        return;
    }
    let secs = common::env_u64("BENCH_IDLE_SECS", if common::quick() { 10 } else { 30 });
    let server = Server::start();
    let url = server.url();
    // Something for the Channels and Streams panes to show (and the pollers to read).
    server.cli(&["XADD", "jobs", "*", "task", "resize"]);
    server.cli(&["XGROUP", "CREATE", "jobs", "workers", "0"]);
    let mut rows = Vec::new();

    // The TUI with its defaults (PSUBSCRIBE *), on each pane.
    let mut tui = common::tui(&[&url]);
    tui.poll_until("connected", Duration::from_secs(20), |s| {
        s.contains("connected")
    })
    .expect("the TUI connects");
    for (key, pane) in [
        (b"1", "feed"),
        (b"2", "channels"),
        (b"3", "streams"),
        (b"4", "pending"),
    ] {
        tui.send_now(key);
        // Let the switch, its first polls and any notice settle before measuring.
        std::thread::sleep(Duration::from_secs(3));
        eprintln!("[TUI, {pane} pane] measuring {secs} s");
        rows.push(measure(
            format!("TUI, {pane} pane"),
            tui.pid(),
            &server,
            secs,
            Some(&tui),
        ));
    }
    tui.quit();

    // `tail`, waiting for messages on a quiet channel.
    let mut tail = Command::new(env!("CARGO_BIN_EXE_redtail"))
        .args(["tail", &url, "-c", "quiet"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redtail tail");
    std::thread::sleep(Duration::from_secs(2));
    eprintln!("[tail] measuring {secs} s");
    rows.push(measure(
        "`redtail tail -c quiet`".into(),
        tail.id(),
        &server,
        secs,
        None,
    ));
    let _ = tail.kill();
    let _ = tail.wait();

    println!(
        "\n| idle, nothing published | seconds | CPU | wake-ups / s | terminal output | redis-server CPU meanwhile |"
    );
    println!("|---|---:|---:|---:|---|---:|");
    for r in &rows {
        let output = match (r.out_bytes, r.out_writes) {
            (Some(b), Some(w)) => format!(
                "{:.0} B/s in {:.1} writes/s",
                b as f64 / r.secs,
                w as f64 / r.secs
            ),
            _ => "–".into(),
        };
        println!(
            "| {} | {:.0} | {:.2} % {} | {:.1} | {} | {:.2} % |",
            r.what,
            r.secs,
            100.0 * r.cpu / r.secs,
            if 100.0 * r.cpu / r.secs < 1.0 {
                "(met)"
            } else {
                "(MISSED)"
            },
            r.wakeups as f64 / r.secs,
            output,
            100.0 * r.server_cpu / r.secs,
        );
    }
}
