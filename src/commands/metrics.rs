//! Headless `metrics`: a background streams poll (the same [`StreamsPoller`] the TUI
//! uses, with its health windows) plus the doctor's bounded pending reads after each
//! poll; the Prometheus text rendered from the latest result is kept in memory and a
//! scrape answers from it — a scrape never causes a poll.
//!
//! HTTP is hand-rolled and minimal: HTTP/1.1, `GET` (or `HEAD`) `/metrics` only (404 for
//! other paths, 405 for other methods), requests bounded to [`MAX_REQUEST_BYTES`] and
//! [`REQUEST_TIMEOUT`], at most [`MAX_CONNECTIONS`] at once, the connection closed after
//! each response.
//!
//! Label cardinality is bounded: series for at most [`MAX_STREAMS`] streams (by key order)
//! and [`MAX_GROUPS`] groups; `redtail_series_omitted` says how many were left out.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::cli::{ConnArgs, MetricsArgs};
use crate::redis::doctor::{
    count_by_kind, findings, read_details_via_route, Context, DoctorConfig, Finding, PendingDetails,
};
use crate::redis::route::{Pool, Route};
use crate::redis::streams::{
    GroupInfo, ReportedLag, StreamInfo, StreamsPoller, StreamsSnapshot, StreamsState,
};

pub const MAX_STREAMS: usize = 1000;
pub const MAX_GROUPS: usize = 5000;
pub const MAX_REQUEST_BYTES: usize = 8192;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_CONNECTIONS: usize = 64;

pub async fn run(args: MetricsArgs, route: Arc<Route>, conn: &ConnArgs) -> Result<i32> {
    // Not an address at all: a usage error (64), not a failure to listen (1).
    if tokio::net::lookup_host(&args.listen).await.is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "redtail: --listen {}: not an address to listen on (HOST:PORT, e.g. 127.0.0.1:9121)",
            crate::text::escape::escape_str(&args.listen)
        );
        return Ok(crate::exit::USAGE);
    }
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| anyhow!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| anyhow!("cannot read the listening address: {e}"))?;
    let config = DoctorConfig {
        poison_deliveries: args.poison_deliveries,
        zombie_after_ms: u64::try_from(args.zombie_after.as_millis()).unwrap_or(u64::MAX),
    };
    let poller = StreamsPoller::spawn_route(route.clone(), args.streams.poll_config(args.interval));
    let (tx, rx) = watch::channel(Arc::new(render(
        &StreamsState::default(),
        &[],
        &PendingDetails::new(),
    )));
    let prefix = crate::commands::doctor::fix_prefix(&route, conn);
    let refresher = tokio::spawn(refresh(poller, route, config, prefix, tx));
    crate::commands::write_stdout(
        format!(
            "serving Prometheus metrics on http://{addr}/metrics, polling every {}\n",
            crate::text::duration_ms(u64::try_from(args.interval.as_millis()).unwrap_or(0))
        )
        .as_bytes(),
    )?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut stop =
        crate::signals::Stop::new().map_err(|e| anyhow!("cannot listen for signals: {e}"))?;
    let result = loop {
        tokio::select! {
            _ = stop.recv() => break Ok(0),
            accepted = listener.accept() => {
                let (sock, _) = match accepted {
                    Ok(a) => a,
                    // Out of file descriptors and the like: wait, do not spin.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Over the limit: close at once rather than queue.
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    drop(sock);
                    continue;
                };
                let body = rx.borrow().clone();
                tokio::spawn(async move {
                    let _ = serve(sock, &body).await;
                    drop(permit);
                });
            }
        }
    };
    refresher.abort();
    result
}

/// Say on stderr why polls fail when that changes (a wrong password, a port that is not
/// Redis, a server gone), and when they succeed again.
fn say_poll_error(state: &StreamsState, said: &mut Option<String>) {
    let line = match (&state.last_error, &*said) {
        (Some((_, error)), Some(before)) if error == before => return,
        (Some((_, error)), _) => {
            *said = Some(error.clone());
            format!(
                "redtail: metrics: the poll failed ({}); redtail_up is 0 until one succeeds",
                crate::text::escape::escape_str(error)
            )
        }
        (None, Some(_)) => {
            *said = None;
            "redtail: metrics: polling again".to_string()
        }
        (None, None) => return,
    };
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// After each published poll: read pending details, compute findings, render.
async fn refresh(
    poller: StreamsPoller,
    route: Arc<Route>,
    config: DoctorConfig,
    prefix: String,
    tx: watch::Sender<Arc<String>>,
) {
    let mut states = poller.state();
    let mut pool = Pool::new();
    // The poll's error last said on stderr (a scrape shows only `redtail_up 0`).
    let mut said: Option<String> = None;
    while states.changed().await.is_ok() {
        let state = states.borrow_and_update().clone();
        say_poll_error(&state, &mut said);
        let (details, found) = match (&state.last_ok, state.is_stale()) {
            (Some(snapshot), false) => {
                let (details, _notes) = read_details_via_route(&route, &mut pool, snapshot).await;
                let cx = Context {
                    config: &config,
                    details: &details,
                    command: &prefix,
                    single_poll: false,
                };
                let found = findings(snapshot, &cx);
                (details, found)
            }
            _ => (PendingDetails::new(), Vec::new()),
        };
        let _ = tx.send(Arc::new(render(&state, &found, &details)));
    }
}

/// Read one request (bounded), answer, close.
async fn serve(mut sock: TcpStream, body: &str) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let complete = tokio::time::timeout(REQUEST_TIMEOUT, async {
        loop {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            request.extend_from_slice(&chunk[..n]);
            if request.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(true);
            }
            if request.len() > MAX_REQUEST_BYTES {
                return Ok(false);
            }
        }
    })
    .await;
    let response = match complete {
        Ok(Ok(true)) => respond(&request, body),
        Ok(Ok(false)) if request.len() > MAX_REQUEST_BYTES => {
            simple(431, "Request Header Fields Too Large")
        }
        _ => return Ok(()),
    };
    sock.write_all(&response).await?;
    sock.shutdown().await
}

/// The response to a complete request head.
pub fn respond(request: &[u8], body: &str) -> Vec<u8> {
    let line = request.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return simple(400, "Bad Request");
    };
    if !version.starts_with("HTTP/1.") {
        return simple(400, "Bad Request");
    }
    let path = target.split('?').next().unwrap_or(target);
    if path != "/metrics" {
        return simple(404, "Not Found");
    }
    if method != "GET" && method != "HEAD" {
        let mut r = simple(405, "Method Not Allowed");
        // Insert an Allow header after the status line.
        let at = r.windows(2).position(|w| w == b"\r\n").map_or(0, |i| i + 2);
        r.splice(at..at, b"Allow: GET, HEAD\r\n".iter().copied());
        return r;
    }
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method == "GET" {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

fn simple(code: u16, reason: &str) -> Vec<u8> {
    let body = format!("{code} {reason}\n");
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A label value: the name as text (escaped like the terminal text when it is not
/// printable UTF-8), then Prometheus' escapes for `\`, `"` and newline.
pub fn label_value(name: &[u8]) -> String {
    let text = crate::text::escape::escape_line(name);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// The whole exposition from the latest state. Series of streams and groups come only
/// from a current poll: after a failed poll they are left out (stale figures would read
/// as current) and `redtail_up` is 0.
pub fn render(state: &StreamsState, found: &[Finding], details: &PendingDetails) -> String {
    let mut text = String::with_capacity(4096);
    let mut f = Family { out: &mut text };
    let current = state.last_ok.as_ref().filter(|_| !state.is_stale());
    render_poll_health(&mut f, state, current.is_some());
    let Some(snap) = current else {
        return text;
    };
    let streams: Vec<&StreamInfo> = snap.streams.iter().take(MAX_STREAMS).collect();
    let groups = bounded_groups(&streams);
    render_omitted(&mut f, snap, streams.len(), groups.len());
    render_streams(&mut f, snap, &streams);
    render_group_lag(&mut f, &groups);
    render_group_counts(&mut f, &groups);
    render_oldest_pending(&mut f, snap, &groups, details);
    render_findings(&mut f, found);
    text
}

/// A group with its stream, the stream's key already a label value.
type GroupRow<'a> = (String, &'a StreamInfo, &'a GroupInfo);

/// The groups of the kept streams, at most [`MAX_GROUPS`] of them.
fn bounded_groups<'a>(streams: &[&'a StreamInfo]) -> Vec<GroupRow<'a>> {
    let mut groups = Vec::new();
    for s in streams {
        for g in &s.groups {
            if groups.len() < MAX_GROUPS {
                groups.push((label_value(&s.key), *s, g));
            }
        }
    }
    groups
}

/// `redtail_up`, the poll count, and the time and duration of the last good poll.
fn render_poll_health(f: &mut Family, state: &StreamsState, up: bool) {
    f.head(
        "redtail_up",
        "gauge",
        "1 when the latest poll of the server succeeded, else 0.",
    );
    f.sample("redtail_up", &[], if up { 1.0 } else { 0.0 });
    f.head(
        "redtail_polls_total",
        "counter",
        "Polls attempted (successful or not) since start.",
    );
    f.sample("redtail_polls_total", &[], state.generation as f64);
    if let Some(snap) = &state.last_ok {
        f.head(
            "redtail_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful poll.",
        );
        f.sample(
            "redtail_last_success_timestamp_seconds",
            &[],
            snap.taken_at.timestamp_millis() as f64 / 1000.0,
        );
        f.head(
            "redtail_poll_duration_seconds",
            "gauge",
            "How long the last successful poll took.",
        );
        f.sample(
            "redtail_poll_duration_seconds",
            &[],
            snap.took.as_secs_f64(),
        );
    }
}

fn render_omitted(f: &mut Family, snap: &StreamsSnapshot, streams: usize, groups: usize) {
    let total_groups: usize = snap.streams.iter().map(|s| s.groups.len()).sum();
    f.head(
        "redtail_series_omitted",
        "gauge",
        "Streams or groups left out to bound label cardinality (at most 1000 streams, 5000 groups).",
    );
    f.sample(
        "redtail_series_omitted",
        &[("what", "streams")],
        snap.streams.len().saturating_sub(streams) as f64,
    );
    f.sample(
        "redtail_series_omitted",
        &[("what", "groups")],
        total_groups.saturating_sub(groups) as f64,
    );
}

/// The stream count, then each kept stream's length and newest entry's age.
fn render_streams(f: &mut Family, snap: &StreamsSnapshot, streams: &[&StreamInfo]) {
    f.head("redtail_streams", "gauge", "Streams found and polled.");
    f.sample("redtail_streams", &[], snap.streams.len() as f64);
    f.head(
        "redtail_stream_length",
        "gauge",
        "Entries in the stream (XLEN).",
    );
    for s in streams {
        let key = label_value(&s.key);
        f.sample(
            "redtail_stream_length",
            &[("stream", &key)],
            s.length as f64,
        );
    }
    f.head(
        "redtail_stream_last_entry_age_seconds",
        "gauge",
        "Age of the stream's newest entry id at the server's clock.",
    );
    for s in streams {
        if let Some(ms) = s.last_entry_age_ms(snap.server_time_ms) {
            let key = label_value(&s.key);
            f.sample(
                "redtail_stream_last_entry_age_seconds",
                &[("stream", &key)],
                ms as f64 / 1000.0,
            );
        }
    }
}

/// The lag as the server reports it, else redtail's estimate (never both for a group).
fn render_group_lag(f: &mut Family, groups: &[GroupRow]) {
    f.head(
        "redtail_group_lag",
        "gauge",
        "Entries not yet delivered to the group, exactly as XINFO GROUPS reports it; absent when the server reports nil.",
    );
    for (key, _, g) in groups {
        if let ReportedLag::Known(n) = g.reported_lag {
            let name = label_value(&g.name);
            f.sample(
                "redtail_group_lag",
                &[("stream", key), ("group", &name)],
                n as f64,
            );
        }
    }
    f.head(
        "redtail_group_lag_estimate",
        "gauge",
        "redtail's count or estimate of the lag when the server reports nil; method says how.",
    );
    for (key, _, g) in groups {
        if let (false, Some(e)) = (
            matches!(g.reported_lag, ReportedLag::Known(_)),
            g.lag_estimate,
        ) {
            let name = label_value(&g.name);
            f.sample(
                "redtail_group_lag_estimate",
                &[
                    ("stream", key),
                    ("group", &name),
                    ("method", e.method.as_str()),
                ],
                e.value as f64,
            );
        }
    }
}

/// Pending entries and consumers per group.
fn render_group_counts(f: &mut Family, groups: &[GroupRow]) {
    f.head(
        "redtail_group_pending",
        "gauge",
        "Entries delivered to the group and not acknowledged.",
    );
    group_samples(f, "redtail_group_pending", groups, |g| g.pending);
    f.head(
        "redtail_group_consumers",
        "gauge",
        "Consumers in the group.",
    );
    group_samples(f, "redtail_group_consumers", groups, |g| g.consumers);
}

/// One sample per group, labelled with its stream and name.
fn group_samples(f: &mut Family, name: &str, groups: &[GroupRow], value: fn(&GroupInfo) -> u64) {
    for (key, _, g) in groups {
        let group = label_value(&g.name);
        f.sample(name, &[("stream", key), ("group", &group)], value(g) as f64);
    }
}

fn render_oldest_pending(
    f: &mut Family,
    snap: &StreamsSnapshot,
    groups: &[GroupRow],
    details: &PendingDetails,
) {
    f.head(
        "redtail_group_oldest_pending_age_seconds",
        "gauge",
        "Age (by its id) of the group's oldest pending entry; 0 when nothing is pending; absent when unknown.",
    );
    for (key, s, g) in groups {
        let age_ms = if g.pending == 0 {
            Some(0)
        } else {
            details
                .get(&(s.key.clone(), g.name.clone()))
                .and_then(|d| d.as_ref().ok())
                .and_then(|d| d.rows.first())
                .map(|r| r.id.age_ms(snap.server_time_ms))
        };
        if let Some(ms) = age_ms {
            let name = label_value(&g.name);
            f.sample(
                "redtail_group_oldest_pending_age_seconds",
                &[("stream", key), ("group", &name)],
                ms as f64 / 1000.0,
            );
        }
    }
}

fn render_findings(f: &mut Family, found: &[Finding]) {
    f.head(
        "redtail_findings",
        "gauge",
        "Current doctor findings by kind and severity (see `redtail doctor`).",
    );
    for ((kind, severity), n) in count_by_kind(found) {
        f.sample(
            "redtail_findings",
            &[("kind", kind.as_str()), ("severity", severity.as_str())],
            n as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(r: &[u8]) -> String {
        String::from_utf8_lossy(r)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }

    #[test]
    fn only_get_or_head_of_metrics_is_answered() {
        let ok = respond(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", "up 1\n");
        let text = String::from_utf8(ok).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 5\r\n") && text.ends_with("\r\n\r\nup 1\n"));
        let head = respond(b"HEAD /metrics HTTP/1.0\r\n\r\n", "up 1\n");
        assert!(String::from_utf8(head).unwrap().ends_with("\r\n\r\n"));
        assert_eq!(
            status(&respond(b"GET / HTTP/1.1\r\n\r\n", "")),
            "HTTP/1.1 404 Not Found"
        );
        let post = respond(b"POST /metrics HTTP/1.1\r\n\r\n", "");
        assert_eq!(status(&post), "HTTP/1.1 405 Method Not Allowed");
        assert!(String::from_utf8_lossy(&post).contains("\r\nAllow: GET, HEAD\r\n"));
        assert_eq!(
            status(&respond(b"GET\r\n\r\n", "")),
            "HTTP/1.1 400 Bad Request"
        );
        assert_eq!(
            status(&respond(b"GET /metrics SPDY/3\r\n\r\n", "")),
            "HTTP/1.1 400 Bad Request"
        );
    }

    #[test]
    fn label_values_are_escaped_for_the_text_format_and_terminals() {
        assert_eq!(label_value(b"plain"), "plain");
        assert_eq!(label_value(b"a\"b"), r#"a\"b"#);
        assert_eq!(label_value(b"a\\b"), r"a\\b");
        // Newline and ESC are shown escaped (as everywhere in redtail); the backslash that
        // escaping wrote is itself escaped for Prometheus.
        assert_eq!(label_value(b"a\nb\x1b"), r"a\\nb\\x1b");
        assert_eq!(label_value(b"\xff"), r"\\xff");
    }

    #[test]
    fn before_the_first_poll_only_up_and_the_poll_count_are_exported() {
        let text = render(&StreamsState::default(), &[], &PendingDetails::new());
        assert!(text.contains("\nredtail_up 0\n"), "{text}");
        assert!(!text.contains("redtail_group"), "{text}");
    }
}
