//! A private Sentinel deployment for tests: one primary, one replica and three sentinels
//! (quorum 2) monitoring them as `mymaster`, all on free loopback ports in one temp dir,
//! killed on drop (and, through PR_SET_PDEATHSIG, when the test binary dies).

use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::{at_exit, free_port, info_field, query, query_text, spawn_child, wait_for, wait_ready};

pub const MASTER_NAME: &str = "mymaster";

struct Proc {
    port: u16,
    child: Option<Child>,
}

pub struct SentinelSetup {
    /// The two data nodes as started: [first primary, first replica].
    data_ports: [u16; 2],
    sentinel_ports: Vec<u16>,
    procs: Mutex<Vec<Proc>>,
    dir: tempfile::TempDir,
    shared: bool,
}

impl SentinelSetup {
    /// Start primary, replica (in sync) and three sentinels; returns once every sentinel
    /// knows the master, sees the replica as a healthy failover candidate and sees the
    /// two other sentinels.
    pub fn start() -> SentinelSetup {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut setup = SentinelSetup {
            data_ports: [0, 0],
            sentinel_ports: Vec::new(),
            procs: Mutex::new(Vec::new()),
            dir,
            shared: false,
        };
        let data_args = |port: u16, dir: &std::path::Path| {
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--appendonly", "no", "--save", ""])
                // Diskless full sync waits 5 s for more replicas by default.
                .args(["--repl-diskless-sync-delay", "0"])
                .args(["--daemonize", "no", "--protected-mode", "no", "--dir"])
                .arg(dir);
            cmd
        };
        let primary = setup.launch("primary", |port, dir| data_args(port, dir));
        let replica = setup.launch("replica", |port, dir| {
            let mut cmd = data_args(port, dir);
            cmd.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
            cmd
        });
        setup.data_ports = [primary, replica];
        // Sentinels learn replicas from the primary's INFO, which they ask for at once
        // and then only every 10 s: have the replica attached before they start.
        wait_for("the replica to sync", Duration::from_secs(20), || {
            let info = query_text(replica, &["INFO", "replication"])?;
            (info_field(&info, "master_link_status") == Some("up")).then_some(())
        });
        for n in 0..3 {
            let port = setup.launch(&format!("sentinel-{n}"), |port, dir| {
                let conf = dir.join("sentinel.conf");
                let text = format!(
                    "port {port}\n\
                     bind 127.0.0.1\n\
                     daemonize no\n\
                     protected-mode no\n\
                     dir {dir}\n\
                     sentinel resolve-hostnames no\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n\
                     sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                     sentinel failover-timeout {MASTER_NAME} 5000\n",
                    dir = dir.display()
                );
                // Sentinels rewrite their config file, so each gets its own, writable.
                std::fs::write(&conf, text).expect("write sentinel.conf");
                let mut cmd = Command::new("redis-server");
                cmd.arg(&conf).arg("--sentinel");
                cmd
            });
            setup.sentinel_ports.push(port);
        }
        for &port in &setup.sentinel_ports {
            wait_for(
                &format!("sentinel {port} to see the replica and 2 other sentinels"),
                Duration::from_secs(30),
                || {
                    let master = fields(&query(port, &["SENTINEL", "MASTER", MASTER_NAME]).ok()?);
                    let flags = master.get("flags")?;
                    let ok = flags == "master"
                        && master.get("num-other-sentinels")? == "2"
                        && master.get("num-slaves")? == "1";
                    let replicas = query(port, &["SENTINEL", "REPLICAS", MASTER_NAME]).ok()?;
                    let replica_ok = items(&replicas).iter().map(fields).any(|r| {
                        r.get("port").map(String::as_str) == Some(&replica.to_string())
                            && r.get("flags").map(String::as_str) == Some("slave")
                            && r.get("master-link-status").map(String::as_str) == Some("ok")
                    });
                    (ok && replica_ok).then_some(())
                },
            );
        }
        setup
    }

    /// One setup per test binary, for tests that only resolve: never fail it over or kill
    /// parts of it (those calls panic on the shared setup).
    pub fn shared() -> &'static SentinelSetup {
        static SHARED: OnceLock<SentinelSetup> = OnceLock::new();
        fn shutdown_shared() {
            if let Some(s) = SHARED.get() {
                s.shutdown();
            }
        }
        SHARED.get_or_init(|| {
            let mut s = SentinelSetup::start();
            s.shared = true;
            at_exit(shutdown_shared);
            s
        })
    }

    /// Start one process in its own subdirectory on a free port, retrying on other ports
    /// if it exits at once (another test took the port first).
    fn launch(&self, name: &str, make: impl Fn(u16, &std::path::Path) -> Command) -> u16 {
        let mut last_error = String::new();
        for attempt in 0..5 {
            let port = free_port();
            let dir = self.dir.path().join(format!("{name}-{attempt}"));
            std::fs::create_dir(&dir).expect("create node dir");
            let mut child = spawn_child(make(port, &dir)).expect("start redis-server");
            match wait_ready(port, &mut child, Duration::from_secs(10)) {
                Ok(()) => {
                    self.lock_procs().push(Proc {
                        port,
                        child: Some(child),
                    });
                    return port;
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = e;
                }
            }
        }
        panic!("cannot start {name}: {last_error}");
    }

    fn lock_procs(&self) -> std::sync::MutexGuard<'_, Vec<Proc>> {
        self.procs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn master_name(&self) -> &str {
        MASTER_NAME
    }

    /// `127.0.0.1:port` of each sentinel.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinel_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect()
    }

    pub fn sentinel_ports(&self) -> &[u16] {
        &self.sentinel_ports
    }

    /// Ports of the two data nodes (primary and replica as started; roles swap on
    /// failover).
    pub fn data_ports(&self) -> [u16; 2] {
        self.data_ports
    }

    /// The primary's port according to the first sentinel that answers
    /// SENTINEL get-master-addr-by-name.
    pub fn primary_port(&self) -> u16 {
        self.sentinel_ports
            .iter()
            .find_map(|&s| master_addr(s))
            .expect("no sentinel knows the primary")
    }

    /// SENTINEL FAILOVER, then wait until every live sentinel names the other data node
    /// as primary and that node says `role:master`. Returns the new primary's port.
    pub fn failover(&self) -> u16 {
        assert!(
            !self.shared,
            "failover on SentinelSetup::shared() would break the other tests: use start()"
        );
        let old = self.primary_port();
        let new = if old == self.data_ports[0] {
            self.data_ports[1]
        } else {
            self.data_ports[0]
        };
        let sentinel = self.sentinel_ports[0];
        // NOGOODSLAVE if the sentinel's view of the replica is not fresh yet: retry.
        wait_for(
            "SENTINEL FAILOVER to be accepted",
            Duration::from_secs(15),
            || match query(sentinel, &["SENTINEL", "FAILOVER", MASTER_NAME]) {
                Ok(_) => Some(()),
                Err(e) if e.contains("INPROG") => Some(()),
                Err(_) => None,
            },
        );
        wait_for(
            &format!("sentinels to switch the primary from {old} to {new}"),
            Duration::from_secs(30),
            || {
                let all_agree = self
                    .live_sentinels()
                    .into_iter()
                    .all(|s| master_addr(s) == Some(new));
                let info = query_text(new, &["INFO", "replication"])?;
                (all_agree && info_field(&info, "role") == Some("master")).then_some(new)
            },
        )
    }

    fn live_sentinels(&self) -> Vec<u16> {
        self.lock_procs()
            .iter()
            .filter(|p| p.child.is_some() && self.sentinel_ports.contains(&p.port))
            .map(|p| p.port)
            .collect()
    }

    /// SIGKILL every sentinel (the data nodes keep running).
    pub fn kill_sentinels(&self) {
        assert!(
            !self.shared,
            "kill_sentinels on SentinelSetup::shared() would break the other tests"
        );
        for p in self.lock_procs().iter_mut() {
            if self.sentinel_ports.contains(&p.port) {
                if let Some(mut child) = p.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
    }

    /// SIGKILL the primary and the replica (the sentinels keep running).
    pub fn kill_data_nodes(&self) {
        assert!(
            !self.shared,
            "kill_data_nodes on SentinelSetup::shared() would break the other tests"
        );
        for p in self.lock_procs().iter_mut() {
            if self.data_ports.contains(&p.port) {
                if let Some(mut child) = p.child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
    }

    fn kill_all(&self) {
        for p in self.lock_procs().iter_mut() {
            if let Some(mut child) = p.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// For the shared setup at exit, where Drop never runs.
    fn shutdown(&self) {
        self.kill_all();
        let _ = std::fs::remove_dir_all(self.dir.path());
    }
}

impl Drop for SentinelSetup {
    fn drop(&mut self) {
        // The TempDir field removes the directory after this.
        self.kill_all();
    }
}

/// SENTINEL get-master-addr-by-name from one sentinel, as a port.
fn master_addr(sentinel: u16) -> Option<u16> {
    let reply = query(
        sentinel,
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
    )
    .ok()?;
    let parts = items(&reply);
    text(parts.get(1)?)?.parse().ok()
}

fn items(v: &redis::Value) -> Vec<redis::Value> {
    match v {
        redis::Value::Array(items) => items.clone(),
        _ => Vec::new(),
    }
}

fn text(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// A sentinel's flat `[name, value, name, value…]` reply (or a RESP3 map) as a map.
fn fields(v: &redis::Value) -> std::collections::HashMap<String, String> {
    let pairs: Vec<(redis::Value, redis::Value)> = match v {
        redis::Value::Map(m) => m.clone(),
        redis::Value::Array(a) => a
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect(),
        _ => Vec::new(),
    };
    pairs
        .iter()
        .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
        .collect()
}

/// One numbered message a [`NumberedPublisher`] published: its number, the node it went
/// to, and when (taken after asking the Sentinel, before PUBLISH).
#[derive(Debug, Clone)]
pub struct Published {
    pub n: u64,
    pub port: u16,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// A publisher that follows the Sentinels like a well-behaved client: before each
/// message it asks the first sentinel (SENTINEL get-master-addr-by-name) where the
/// primary is, and PUBLISHes `n=000001`, `n=000002`, … there, every `every`.
pub struct NumberedPublisher {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    log: std::sync::Arc<Mutex<Vec<Published>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NumberedPublisher {
    pub fn start(setup: &SentinelSetup, channel: &str, every: Duration) -> NumberedPublisher {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        let (sentinel, channel) = (setup.sentinel_ports[0], channel.to_string());
        let (stop2, log2) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let mut n = 0;
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some(port) = master_addr(sentinel) {
                    let at = chrono::Utc::now();
                    let payload = format!("n={:06}", n + 1);
                    if query(port, &["PUBLISH", &channel, &payload]).is_ok() {
                        n += 1;
                        let mut log = log2.lock().unwrap_or_else(|p| p.into_inner());
                        log.push(Published { n, port, at });
                    }
                }
                std::thread::sleep(every);
            }
        });
        NumberedPublisher {
            stop,
            log,
            thread: Some(thread),
        }
    }

    /// What was published so far.
    pub fn log(&self) -> Vec<Published> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stop publishing; everything published.
    pub fn stop(mut self) -> Vec<Published> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.log()
    }
}

impl Drop for NumberedPublisher {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The number in a [`NumberedPublisher`] payload (`n=000042` → 42).
pub fn number_of(payload: &str) -> Option<u64> {
    payload.strip_prefix("n=")?.parse().ok()
}
