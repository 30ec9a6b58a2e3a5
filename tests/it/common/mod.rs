//! The test kit: private servers (`server.rs`: redis-server / valkey-server on free
//! loopback ports, each in its own temp dir with persistence off, killed on drop), a real
//! Cluster and Sentinels, the real binary in a pty (`pty.rs`) and snapshot helpers. Tests
//! never touch a server they did not start. `server.rs` and `pty.rs` are also what the
//! benchmarks and the screenshots example use (included by path): one harness.
#![allow(dead_code)]

pub mod cluster;
pub mod pty;
pub mod python;
pub mod screen;
pub mod seed;
pub mod sentinel;
pub mod server;

pub use seed::tail_jsonl;
pub use server::*;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `redtail` child with its stdout lines arriving on a channel.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    stderr_done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub fn redtail_bin() -> &'static str {
    env!("CARGO_BIN_EXE_redtail")
}

/// An audit log in a temp dir of its own (removed with this value).
pub struct AuditLog {
    _dir: tempfile::TempDir,
    pub path: std::path::PathBuf,
}

impl AuditLog {
    pub fn new() -> AuditLog {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        AuditLog { _dir: dir, path }
    }
}

/// The binary in a 120×30 pty, auditing to a fresh [`AuditLog`], read-only mode set
/// explicitly either way (so the caller's environment cannot decide it).
pub fn tui_audited(args: &[&str], read_only: bool) -> (pty::Tui, AuditLog) {
    tui_audited_sized(args, read_only, (120, 30))
}

/// [`tui_audited`] in a `(cols, rows)` terminal.
pub fn tui_audited_sized(
    args: &[&str],
    read_only: bool,
    (cols, rows): (u16, u16),
) -> (pty::Tui, AuditLog) {
    let audit = AuditLog::new();
    let path = audit.path.to_string_lossy().into_owned();
    let env = [
        ("REDTAIL_AUDIT_LOG", path.as_str()),
        ("REDTAIL_READ_ONLY", if read_only { "1" } else { "0" }),
    ];
    (pty::Tui::spawn_env(args, &env, cols, rows), audit)
}

/// The binary under test in a pseudo-terminal (the kit's pty driver is binary-agnostic so
/// the benches and the screenshots example can share it).
impl pty::Tui {
    pub fn spawn(args: &[&str], cols: u16, rows: u16) -> pty::Tui {
        pty::Tui::spawn_env(args, &[], cols, rows)
    }

    pub fn spawn_env(args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> pty::Tui {
        let bin = std::path::Path::new(redtail_bin());
        pty::Tui::start(bin, args, env, (cols, rows), pty::Raw::Keep)
    }
}

impl Proc {
    pub fn spawn(args: &[&str]) -> Proc {
        Proc::spawn_env(args, &[])
    }

    pub fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(redtail_bin());
        cmd.args(args)
            .env_remove("REDISCLI_AUTH")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn redtail");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let err2 = err.clone();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done2 = done.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut line = String::new();
            while let Ok(n) = r.read_line(&mut line) {
                if n == 0 {
                    break;
                }
                if let Ok(mut e) = err2.lock() {
                    e.push_str(&line);
                }
                line.clear();
            }
            done2.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        Proc {
            child,
            lines: rx,
            stderr: err,
            stderr_done: done,
        }
    }

    /// Next stdout line, or None after `timeout`.
    pub fn line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The next stdout line as JSON; panics (with stderr) if none comes within `timeout`
    /// or it is not JSON.
    pub fn json_line(&self, timeout: Duration) -> serde_json::Value {
        let line = self
            .line(timeout)
            .unwrap_or_else(|| panic!("no line from redtail; stderr: {}", self.stderr()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad json {line:?}: {e}"))
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Wait until stderr contains `needle`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.stderr().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader thread take everything the process wrote to stderr.
                let drained = Instant::now() + Duration::from_secs(2);
                while !self.stderr_done.load(std::sync::atomic::Ordering::SeqCst)
                    && Instant::now() < drained
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `f` until it returns Some, or panic with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until the server counts `total` subscriptions of redtail's subscriber connections.
pub fn wait_subscribed(server: &Server, total: usize) {
    wait_subscribed_on(server.port, total);
}

/// [`wait_subscribed`] on the node at `port` (a Cluster or Sentinel data node).
pub fn wait_subscribed_on(port: u16, total: usize) {
    wait_for(
        &format!("redtail to subscribe on {port}"),
        Duration::from_secs(10),
        || (subscriptions_on(port) >= total).then_some(()),
    );
}

/// The channels, patterns and shard channels redtail's subscriber connections
/// (`name=redtail-sub`) hold on the node at `port`.
pub fn subscriptions_on(port: u16) -> usize {
    let list = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "CLIENT", "LIST", "TYPE", "pubsub"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    list.lines()
        .filter(|l| l.contains("name=redtail-sub"))
        .map(|l| {
            ["sub=", "psub=", "ssub="]
                .iter()
                .map(|k| {
                    l.split_whitespace()
                        .find_map(|f| f.strip_prefix(k))
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0)
                })
                .sum::<usize>()
        })
        .sum()
}

/// One command on a fresh, short-timeout connection to a loopback node. Err carries the
/// connection error or the server's error reply, for messages.
pub fn query(port: u16, args: &[&str]) -> Result<redis::Value, String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .map_err(|e| format!("port {port}: {e}"))?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_millis(1000))
        .map_err(|e| format!("port {port}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| format!("port {port}: {e}"))?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<redis::Value>(&mut conn)
        .map_err(|e| format!("port {port}: {} failed: {e}", args.join(" ")))
}

/// Like [`query`], for replies that are text (INFO, CLUSTER NODES, bulk strings); None if
/// the node does not answer or answers with an error.
pub fn query_text(port: u16, args: &[&str]) -> Option<String> {
    match query(port, args).ok()? {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        redis::Value::SimpleString(s) => Some(s),
        redis::Value::VerbatimString { text, .. } => Some(text),
        redis::Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// `field:value` from an INFO reply.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// Failed logins the server recorded: the sum of `count` over `ACL LOG` entries with
/// reason `auth` (the server folds repeats of one failure into one entry).
pub fn failed_auths(server: &Server, password: &str) -> u64 {
    let out = Command::new("redis-cli")
        .args([
            "-p",
            &server.port.to_string(),
            "--no-auth-warning",
            "-a",
            password,
        ])
        .args(["ACL", "LOG"])
        .output()
        .expect("run redis-cli");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut total = 0;
    let mut count = 0;
    for pair in lines.windows(2) {
        match pair[0] {
            "count" => count = pair[1].parse().unwrap_or(0),
            "reason" if pair[1] == "auth" => total += count,
            _ => {}
        }
    }
    total
}

/// A port that answers like an HTTP server: reads the request, says 400, closes.
pub fn http_like_listener() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    port
}

/// A port that accepts connections and never answers (a hung server, or a firewall that
/// drops the traffic after the accept): a dead network, not a Redis stand-in. Accepted
/// connections are held open for the rest of the test binary.
pub fn silent_listener() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    port
}
