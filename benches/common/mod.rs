//! Helpers shared by the benchmarks: the test kit's private redis-server and pty driver
//! (included from `tests/it/common`), /proc sampling (CPU, RSS), the header's counters,
//! and a flood publisher.
//!
//! Each bench includes this with `mod common;` and uses a different subset.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::Duration;

// The one test kit (tests/it/common): its server launcher and pty driver, shared by path.
#[path = "../../tests/it/common/pty.rs"]
pub mod pty;
#[path = "../../tests/it/common/server.rs"]
pub mod server;

#[allow(unused_imports)]
pub use pty::Tui;
#[allow(unused_imports)]
pub use server::{resp, Server};

/// The benchmarks' terminal: 160×50 (or `cols`×`rows`), an empty config file so a
/// developer's own config cannot change the figures, and no copy of the raw output (a
/// flood would make it grow for minutes).
pub fn tui(args: &[&str]) -> Tui {
    tui_sized(args, 160, 50)
}

pub fn tui_sized(args: &[&str], cols: u16, rows: u16) -> Tui {
    let config = std::env::temp_dir().join("redtail-bench-empty-config.toml");
    std::fs::write(&config, "").expect("write empty config");
    let config = config.to_string_lossy().into_owned();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_redtail"));
    Tui::start(
        bin,
        args,
        &[("REDTAIL_CONFIG", config.as_str())],
        (cols, rows),
        pty::Raw::Discard,
    )
}

/// `cargo test --benches` runs bench binaries without `--bench`; they only measure when
/// run by `cargo bench`.
pub fn benchmarking(name: &str) -> bool {
    let on = std::env::args().any(|a| a == "--bench");
    if !on {
        println!("{name} benchmark: run with `cargo bench --bench {name}`");
    }
    on
}

/// `--quick` after `--` (`cargo bench --bench memory -- --quick`) or `BENCH_QUICK=1`.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Publish `n` copies of `payload` to `channel` as fast as one pipelined connection can
/// (`redis-benchmark -c 1 -P 16`).
pub fn flood(port: u16, channel: &str, n: u64, payload: &str) {
    let ok = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "1",
            "-P",
            "16",
            "-q",
            "-n",
            &n.to_string(),
        ])
        .args(["PUBLISH", channel, payload])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "publisher (redis-benchmark) failed");
}

/// The number just before `label` in the header: "1,000,000 retained" → 1000000.
pub fn header_count(screen: &str, label: &str) -> u64 {
    screen
        .lines()
        .find_map(|l| {
            let i = l.find(label)?;
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

pub fn retained(screen: &str) -> u64 {
    header_count(screen, " retained")
}

pub fn evicted(screen: &str) -> u64 {
    header_count(screen, " evicted")
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may contain spaces; fields are counted after its closing paren.
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (field(11) + field(12)) / ticks
}

/// (VmRSS, VmHWM) in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// Context switches (voluntary + involuntary) of all threads of a process: how often it
/// woke up.
pub fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .map(|t| {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// What `wait4` says of a finished child.
pub struct Usage {
    pub cpu_s: f64,
    pub max_rss_kb: i64,
    /// The exit code; -1 killed by a signal, -2 timed out (killed at the deadline).
    pub code: i32,
}

/// Wait (up to `deadline`) for a child and return its CPU time and peak RSS (wait4's
/// rusage). A child still running at the deadline is killed and marked as timed out: a
/// subscriber the server disconnected for reading slowly may otherwise wait forever.
pub fn wait_usage(child: &mut std::process::Child, deadline: std::time::Instant) -> Usage {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain syscalls on our own child; rusage is fully written by the kernel.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4 failed");
        if std::time::Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            assert_eq!(r, pid, "wait4");
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage {
        cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss_kb: ru.ru_maxrss,
        code: if timed_out {
            -2
        } else if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
    }
}

/// The streams benches' workload (poll, metrics): `streams` streams of ENTRIES entries,
/// GROUPS groups each, CONSUMERS consumers per group.
pub const GROUPS: usize = 3;
pub const CONSUMERS: usize = 10;
pub const ENTRIES: usize = 20;

/// Streams with entries, groups at 0, consumers that each took one entry (so every group
/// has pending entries, consumers and lag), all in one `redis-cli --pipe`.
pub fn seed_streams(server: &Server, streams: usize) {
    let mut out = Vec::new();
    for s in 0..streams {
        let key = format!("bench:stream:{s}");
        for e in 0..ENTRIES {
            let value = format!("{{\"order\":{e},\"stream\":{s}}}");
            out.extend(resp(&[
                b"XADD",
                key.as_bytes(),
                b"*",
                b"payload",
                value.as_bytes(),
            ]));
        }
        for g in 0..GROUPS {
            let group = format!("group-{g}");
            out.extend(resp(&[
                b"XGROUP",
                b"CREATE",
                key.as_bytes(),
                group.as_bytes(),
                b"0",
            ]));
            for c in 0..CONSUMERS {
                let consumer = format!("worker-{c}");
                out.extend(resp(&[
                    b"XREADGROUP",
                    b"GROUP",
                    group.as_bytes(),
                    consumer.as_bytes(),
                    b"COUNT",
                    b"1",
                    b"STREAMS",
                    key.as_bytes(),
                    b">",
                ]));
            }
        }
    }
    server.pipe(&out);
}

/// `redis-cli -p PORT ARGS…` (a SUBSCRIBE or PSUBSCRIBE) with its output piped into a
/// shell that succeeds only if exactly `lines` lines arrived: a redis-cli the server
/// disconnected ends early, and its second process then fails.
pub fn redis_cli_counted(
    port: &str,
    args: &[&str],
    lines: u64,
) -> (std::process::Child, Option<std::process::Child>) {
    let mut cli = Command::new("redis-cli")
        .args(["-p", port])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    let out = cli.stdout.take().expect("stdout");
    let head = Command::new("sh")
        .args([
            "-c",
            &format!("test \"$(head -n {lines} | wc -l)\" -eq {lines}"),
        ])
        .stdin(out)
        .stdout(Stdio::null())
        .spawn()
        .expect("head");
    (cli, Some(head))
}
