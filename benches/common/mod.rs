//! Helpers shared by the benchmarks: a private redis-server on a free loopback port, the
//! real `redtail` binary in a pseudo-terminal with a parsed screen, /proc sampling
//! (CPU, RSS), the header's counters, and a flood publisher.
//!
//! Each bench includes this with `mod common;` and uses a different subset.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

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

/// A redis-server in its own temp dir, persistence off; killed (and the dir removed) on
/// drop.
pub struct Server {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new("redis-server")
            .args(redtail::commands::demo::private_server_args(
                port,
                dir.path(),
            ))
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (scripts/ensure-deps.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// redis-cli's stdout for one command.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Feed raw RESP commands through `redis-cli --pipe` (mass insertion: one pipelined
    /// stream, replies counted, not printed).
    pub fn pipe(&self, resp: &[u8]) {
        let mut child = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--pipe"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli --pipe");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = resp.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().expect("redis-cli --pipe");
        let _ = writer.join();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("errors: 0"),
            "redis-cli --pipe failed: {text}"
        );
    }
}

/// One command in RESP, for `Server::pipe`.
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
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

/// The real binary in a pseudo-terminal; a thread feeds its output to a terminal
/// emulator so the screen can be read as a person would see it.
pub struct Tui {
    screen: Arc<Mutex<vt100::Parser>>,
    /// Reads of pty output so far (each read is at least one write by the TUI).
    pub output_reads: Arc<AtomicU64>,
    pub output_bytes: Arc<AtomicU64>,
    writer: Box<dyn Write + Send>,
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
    pub pid: u32,
}

impl Tui {
    pub fn spawn(args: &[&str]) -> Tui {
        Tui::spawn_sized(args, 160, 50)
    }

    pub fn spawn_sized(args: &[&str], cols: u16, rows: u16) -> Tui {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_redtail"));
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        // An empty config file: a developer's own config must not change the figures.
        let config = std::env::temp_dir().join("redtail-bench-empty-config.toml");
        std::fs::write(&config, "").expect("write empty config");
        cmd.env("REDTAIL_CONFIG", &config);
        let child = pty.slave.spawn_command(cmd).expect("spawn");
        let pid = child.process_id().expect("pid");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("reader");
        let writer = pty.master.take_writer().expect("writer");
        let nz = |n| std::num::NonZeroU16::new(n).expect("non-zero");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(nz(rows), nz(cols), 0)));
        let reads = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let (s, r, b) = (screen.clone(), reads.clone(), bytes.clone());
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
                r.fetch_add(1, Ordering::Relaxed);
                b.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
        Tui {
            screen,
            output_reads: reads,
            output_bytes: bytes,
            writer,
            child,
            pid,
        }
    }

    pub fn contents(&self) -> String {
        self.screen().contents()
    }

    /// A handle another thread can read the screen through.
    pub fn screen(&self) -> Screen {
        Screen(self.screen.clone())
    }

    /// Poll the screen until `pred` holds; None (and a note on stderr) at the deadline.
    pub fn wait(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<Instant> {
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

    pub fn key(&mut self, b: &[u8]) {
        let _ = self.writer.write_all(b);
        let _ = self.writer.flush();
    }

    /// Press q and reap the process (killed if it does not exit within 5 s).
    pub fn quit(mut self) {
        self.key(b"q");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
pub struct Screen(Arc<Mutex<vt100::Parser>>);

impl Screen {
    pub fn contents(&self) -> String {
        self.0
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }
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
