//! Poll cost (issue 8): one cycle of the Pub/Sub poller (`poll_pubsub`, what the Channels
//! pane runs every --poll-interval) and of the streams poller (`poll_streams` plus the
//! health windows, what `StreamsPoller` runs) against a private redis-server seeded with
//! 1,000 streams × 3 groups × 10 consumers and 10,000 channels that have a subscriber.
//!
//! Per cycle: wall time (p50 / max), the commands and round trips the poller counts, the
//! commands the server counted (`INFO commandstats` calls, delta), and the server's own
//! time in them (usec, delta). Target: a cycle under 250 ms in O(1) round trips per node.
//!
//! The streams case runs twice: the poll alone, and the poll with the Problems list's
//! findings computed (what the TUI's problems task and `redtail metrics` add after each
//! poll: the doctor's bounded XPENDING + XRANGE reads, two pipelined round trips, then
//! `state::problems::build`).
//!
//! Run: `cargo bench --bench poll` (`-- --quick` or BENCH_QUICK=1: 100 streams, 1k channels)

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{resp, Server};
use redis::aio::MultiplexedConnection;
use redtail::redis::conn::Target;
use redtail::redis::doctor::{groups_with_pending, read_pending_details, DoctorConfig};
use redtail::redis::poller::poll_pubsub;
use redtail::redis::streams::{
    poll_streams, Discovery, DiscoveryConfig, HealthConfig, HealthTracker, StreamsConn,
};

use common::{CONSUMERS, ENTRIES, GROUPS};
const CYCLES: usize = 10;

/// One raw connection subscribed to `channels` channels, kept open while it lives.
fn subscribe_channels(port: u16, channels: usize) -> TcpStream {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let names: Vec<String> = (0..channels)
        .map(|i| format!("bench:channel:{}:{i}", i % 97))
        .collect();
    for chunk in names.chunks(1000) {
        let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
        args.extend(chunk.iter().map(|n| n.as_bytes()));
        conn.write_all(&resp(&args)).expect("subscribe");
    }
    // Each confirmation is `*3 $9 subscribe $len name :count` (7 lines); wait for the last.
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let last = format!(":{channels}");
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read subscribe replies");
        assert!(n > 0, "subscriber connection closed");
        if line.trim_end() == last {
            break;
        }
    }
    conn
}

/// `cmdstat_<name>` → (calls, usec) from INFO commandstats.
fn commandstats(conn: &mut redis::Connection) -> BTreeMap<String, (u64, u64)> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(conn)
        .expect("INFO commandstats");
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let field = |key: &str| {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix(key))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            Some((name.to_string(), (field("calls="), field("usec="))))
        })
        .collect()
}

/// Commands (and server usec) between two commandstats readings, INFO itself excluded.
fn delta(
    before: &BTreeMap<String, (u64, u64)>,
    after: &BTreeMap<String, (u64, u64)>,
) -> (u64, u64, String) {
    let mut calls = 0;
    let mut usec = 0;
    let mut parts = Vec::new();
    for (name, (c, u)) in after {
        if name == "info" {
            continue;
        }
        let (c0, u0) = before.get(name).copied().unwrap_or((0, 0));
        if c > &c0 {
            calls += c - c0;
            usec += u - u0;
            parts.push(format!("{} {}", name.replace('|', " "), c - c0));
        }
    }
    (calls, usec, parts.join(", "))
}

/// This process's CPU time so far (user + system, every thread): the poller's client-side
/// cost, without the server's.
fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage only writes into the struct we pass.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

struct Row {
    what: String,
    times: Vec<Duration>,
    /// Client CPU per cycle (this process, all threads).
    cpu: Vec<Duration>,
    commands_counted: usize,
    round_trips: usize,
    server_calls: u64,
    server_usec: u64,
    breakdown: String,
}

fn print(rows: &[Row]) {
    println!(
        "\n| poll cycle | cycles | p50 | max | client CPU p50 | commands (poller's count) | commands (server's count) | round trips | server time / cycle | commands by name |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let mut t = r.times.clone();
        t.sort();
        let mut cpu = r.cpu.clone();
        cpu.sort();
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} | {} | {:.1} ms | {} |",
            r.what,
            t.len(),
            common::percentile(&t, 0.5).as_secs_f64() * 1e3,
            t.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            common::percentile(&cpu, 0.5).as_secs_f64() * 1e3,
            r.commands_counted,
            r.server_calls,
            r.round_trips,
            r.server_usec as f64 / 1e3,
            r.breakdown,
        );
    }
}

async fn connect(url: &str) -> MultiplexedConnection {
    Target::parse_url(url)
        .expect("url")
        .command_connection()
        .await
        .expect("connect")
}

/// Steady streams cycles with the findings computed after each poll.
async fn with_findings(
    conn: &mut StreamsConn,
    discovery: &mut Discovery,
    tracker: &mut HealthTracker,
    stats: &mut redis::Connection,
) -> Row {
    let config = DoctorConfig::default();
    let mut times = Vec::new();
    let mut findings_time = Vec::new();
    let mut cpu = Vec::new();
    let mut findings_cpu = Vec::new();
    let mut last = None;
    for _ in 0..CYCLES {
        let before = commandstats(stats);
        let t = Instant::now();
        let c = process_cpu();
        let mut snapshot = poll_streams(conn, discovery).await.expect("poll_streams");
        let at = snapshot.taken_at.timestamp_millis();
        tracker.observe(&mut snapshot, at);
        let polled = t.elapsed();
        let polled_cpu = process_cpu();
        let groups = groups_with_pending(&snapshot);
        let details = read_pending_details(&conn.cmd, &groups)
            .await
            .expect("pending details");
        let groups = groups.len();
        let problems = redtail::state::problems::build(&snapshot, &details, &config, "redtail");
        let took = t.elapsed();
        let done_cpu = process_cpu();
        cpu.push(done_cpu.saturating_sub(c));
        findings_cpu.push(done_cpu.saturating_sub(polled_cpu));
        times.push(took);
        findings_time.push(took - polled);
        let rows: usize = details
            .values()
            .filter_map(|d| d.as_ref().ok())
            .map(|d| d.rows.len())
            .sum();
        // XRANGE existence checks: rows the stream's first entry and max-deleted-entry-id
        // do not already settle (see redis::doctor::read).
        let checks: usize = snapshot
            .streams
            .iter()
            .flat_map(|st| st.groups.iter().map(move |g| (st, g)))
            .filter_map(|(st, g)| {
                let key = (st.key.clone(), g.name.clone());
                let pending = details.get(&key)?.as_ref().ok()?;
                let open = |id: (u64, u64)| {
                    let after_first = st.first_entry_id.is_some_and(|f| id >= (f.ms, f.seq));
                    let maybe_deleted = st.max_deleted_entry_id.is_none_or(|m| id <= (m.ms, m.seq));
                    after_first && maybe_deleted
                };
                Some(
                    pending
                        .rows
                        .iter()
                        .filter(|r| open((r.id.ms, r.id.seq)))
                        .count(),
                )
            })
            .sum();
        let (calls, usec, breakdown) = delta(&before, &commandstats(stats));
        last = Some((
            snapshot,
            calls,
            usec,
            breakdown,
            groups,
            (rows, checks),
            problems.len(),
        ));
    }
    let (snapshot, calls, usec, breakdown, groups, (rows, checks), problems) =
        last.expect("at least one cycle");
    findings_time.sort();
    findings_cpu.sort();
    Row {
        what: format!(
            "streams + findings: {} streams, {groups} groups with pending, {rows} pending rows read, {problems} findings (findings: {:.1} ms of it, {:.1} ms client CPU)",
            snapshot.streams.len(),
            common::percentile(&findings_time, 0.5).as_secs_f64() * 1e3,
            common::percentile(&findings_cpu, 0.5).as_secs_f64() * 1e3
        ),
        times,
        cpu,
        commands_counted: snapshot.commands_sent + groups + checks,
        round_trips: snapshot.round_trips + 2,
        server_calls: calls,
        server_usec: usec,
        breakdown,
    }
}

fn main() {
    if !common::benchmarking("poll") {
        return;
    }
    let quick = common::quick();
    let streams = common::env_u64("BENCH_STREAMS", if quick { 100 } else { 1000 }) as usize;
    let channels = common::env_u64("BENCH_CHANNELS", if quick { 1000 } else { 10_000 }) as usize;
    let server = Server::start();
    let url = server.url();

    let t = Instant::now();
    common::seed_streams(&server, streams);
    let _subscriber = subscribe_channels(server.port, channels);
    println!(
        "seeded {streams} streams × {GROUPS} groups × {CONSUMERS} consumers ({ENTRIES} entries each) and {channels} subscribed channels in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut stats = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .expect("stats connection");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let rows = runtime.block_on(async {
        let mut conn = connect(&url).await;
        let mut rows = Vec::new();

        // Pub/Sub: every cycle is alike.
        let before = commandstats(&mut stats);
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut last = None;
        for _ in 0..CYCLES {
            let t = Instant::now();
            let c = process_cpu();
            let snapshot = poll_pubsub(&mut conn).await.expect("poll_pubsub");
            times.push(t.elapsed());
            cpu.push(process_cpu().saturating_sub(c));
            last = Some(snapshot);
        }
        let (calls, usec, breakdown) = delta(&before, &commandstats(&mut stats));
        let snapshot = last.expect("at least one cycle");
        assert_eq!(snapshot.channels.len(), channels, "every channel seen");
        rows.push(Row {
            what: format!("Pub/Sub, {channels} channels"),
            times,
            cpu,
            commands_counted: snapshot.commands_sent,
            round_trips: snapshot.round_trips,
            server_calls: calls / CYCLES as u64,
            server_usec: usec / CYCLES as u64,
            breakdown: format!("{breakdown} (over {CYCLES} cycles)"),
        });

        // Streams: the first cycles also discover (SCAN, bounded per cycle); then steady.
        // The streams poller's own connections, as `StreamsPoller` opens them.
        let target = Target::parse_url(&url).expect("url");
        let mut streams_conn = StreamsConn::open(&target).await.expect("connect");
        let mut discovery = Discovery::new(Vec::new(), Vec::new(), DiscoveryConfig::default());
        let mut tracker = HealthTracker::new(HealthConfig::default());
        let mut first = true;
        let mut health = Vec::new();
        let mut steady = Vec::new();
        let mut steady_cpu = Vec::new();
        let mut health_cpu = Vec::new();
        let mut steady_row = None;
        for _ in 0..CYCLES + 5 {
            let before = commandstats(&mut stats);
            let t = Instant::now();
            let c = process_cpu();
            let mut snapshot = poll_streams(&mut streams_conn, &mut discovery)
                .await
                .expect("poll_streams");
            let polled = t.elapsed();
            let polled_cpu = process_cpu();
            let at = snapshot.taken_at.timestamp_millis();
            tracker.observe(&mut snapshot, at);
            let took = t.elapsed();
            let done_cpu = process_cpu();
            let cycle_cpu = done_cpu.saturating_sub(c);
            health.push(took - polled);
            let (calls, usec, breakdown) = delta(&before, &commandstats(&mut stats));
            if first || snapshot.scan.scanning {
                rows.push(Row {
                    what: format!(
                        "streams, {} found so far (discovery {})",
                        snapshot.streams.len(),
                        if snapshot.scan.scanning {
                            "running"
                        } else {
                            "done"
                        }
                    ),
                    times: vec![took],
                    cpu: vec![cycle_cpu],
                    commands_counted: snapshot.commands_sent,
                    round_trips: snapshot.round_trips,
                    server_calls: calls,
                    server_usec: usec,
                    breakdown,
                });
                first = false;
                continue;
            }
            assert_eq!(snapshot.streams.len(), streams, "every stream polled");
            let groups: usize = snapshot.streams.iter().map(|s| s.groups.len()).sum();
            let consumers: usize = snapshot
                .streams
                .iter()
                .flat_map(|s| &s.groups)
                .map(|g| g.consumer_list.len())
                .sum();
            steady.push(took);
            steady_cpu.push(cycle_cpu);
            health_cpu.push(done_cpu.saturating_sub(polled_cpu));
            steady_row = Some((snapshot, calls, usec, breakdown, groups, consumers));
            if steady.len() == CYCLES {
                break;
            }
        }
        if let Some((snapshot, calls, usec, breakdown, groups, consumers)) = steady_row {
            rows.push(Row {
                what: format!(
                    "streams, steady: {} streams, {groups} groups, {consumers} consumers (health windows: {:.1} ms of it, {:.1} ms client CPU)",
                    snapshot.streams.len(),
                    {
                        health.sort();
                        common::percentile(&health, 0.5).as_secs_f64() * 1e3
                    },
                    {
                        health_cpu.sort();
                        common::percentile(&health_cpu, 0.5).as_secs_f64() * 1e3
                    }
                ),
                times: steady,
                cpu: steady_cpu,
                commands_counted: snapshot.commands_sent,
                round_trips: snapshot.round_trips,
                server_calls: calls,
                server_usec: usec,
                breakdown,
            });
        }
        rows.push(
            with_findings(&mut streams_conn, &mut discovery, &mut tracker, &mut stats).await,
        );
        rows
    });
    print(&rows);
    println!(
        "\n(server's count and time: INFO commandstats deltas, INFO excluded; for the streams rows, of the last cycle)"
    );
}
