//! Command line: redis-cli compatible connection flags, accepted by every command.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::redis::conn::{Overrides, Target};

#[derive(Debug, Parser)]
#[command(
    name = "redtail",
    version,
    about = "Watch and debug Redis Pub/Sub and Streams in your terminal",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server URL: redis://[user:pass@]host[:port][/db] or rediss://…
    #[arg(value_name = "URL")]
    pub url_pos: Option<String>,
    #[command(flatten)]
    pub tui: TuiArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print messages from channels, patterns and shard channels (like `redis-cli subscribe`, but safe and scriptable)
    Tail(TailArgs),
    /// Start a private redis-server with a built-in workload and open the TUI on it
    Demo(DemoArgs),
    /// Print one poll of the server's Pub/Sub figures and exit
    Stats(StatsArgs),
    /// Publish a message (PUBLISH, or SPUBLISH with --shard) and print how many clients received it
    Publish(PublishArgs),
    /// List a consumer group's pending entries (XPENDING), oldest first
    Pending(PendingArgs),
    /// Acknowledge pending entries (XACK) and print how many were acked
    Ack(AckArgs),
    /// Move pending entries to another consumer (XCLAIM with a min-idle guard)
    Claim(ClaimArgs),
    /// Copy entries to a dead-letter stream and ack them, atomically
    DeadLetter(DeadLetterArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    #[arg(value_name = "URL")]
    pub url_pos: Option<String>,
    /// Print JSON (the only format for now besides a short table)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub streams: StreamSelect,
}

#[derive(Debug, Clone, Args, Default)]
pub struct StreamSelect {
    /// Key glob for stream discovery (SCAN … TYPE stream), e.g. 'ai:*' (repeatable; default: all streams)
    #[arg(long = "streams", value_name = "GLOB")]
    pub stream_globs: Vec<String>,
    /// A stream key to always include (repeatable)
    #[arg(long = "stream", value_name = "KEY")]
    pub stream_keys: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PendingArgs {
    pub stream: String,
    pub group: String,
    /// Only entries held by this consumer
    #[arg(long)]
    pub consumer: Option<String>,
    /// Only entries idle at least this many milliseconds
    #[arg(long, value_name = "MS")]
    pub min_idle: Option<u64>,
    /// Most entries to list
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AckArgs {
    pub stream: String,
    pub group: String,
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Refuse to change anything (also REDTAIL_READ_ONLY=1); the refusal is audited
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ClaimArgs {
    pub stream: String,
    pub group: String,
    /// The consumer that takes the entries
    pub consumer: String,
    /// Only claim entries idle at least this long, so a live worker's entry is not stolen
    #[arg(long, value_name = "MS", required = true)]
    pub min_idle: u64,
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Refuse to change anything (also REDTAIL_READ_ONLY=1); the refusal is audited
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DeadLetterArgs {
    pub stream: String,
    pub group: String,
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Dead-letter stream (default: <stream>:dlq)
    #[arg(long, value_name = "KEY")]
    pub to: Option<String>,
    /// Refuse to change anything (also REDTAIL_READ_ONLY=1); the refusal is audited
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    pub channel: String,
    pub payload: String,
    /// SPUBLISH to a shard channel instead of PUBLISH
    #[arg(long)]
    pub shard: bool,
}

#[derive(Debug, Clone, Args, Default)]
pub struct ConnArgs {
    /// Server URL (redis:// or rediss://); default redis://127.0.0.1:6379
    #[arg(short = 'u', long = "url", global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Server host (overrides the URL)
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Server port (overrides the URL)
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// ACL user name
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// Password (prefer REDISCLI_AUTH: command lines are visible to other users)
    #[arg(long = "pass", global = true, hide_env_values = true)]
    pub pass: Option<String>,
    /// Database number
    #[arg(long, global = true)]
    pub db: Option<i64>,
    /// Use TLS (same as a rediss:// URL)
    #[arg(long, global = true)]
    pub tls: bool,
}

#[derive(Debug, Clone, Args, Default)]
pub struct SubArgs {
    /// Channel to SUBSCRIBE to (repeatable)
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Pattern to PSUBSCRIBE to, e.g. 'ai:*' (repeatable)
    #[arg(short = 'p', long = "pattern", value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Shard channel to SSUBSCRIBE to (repeatable)
    #[arg(short = 's', long = "shard-channel", value_name = "CHANNEL")]
    pub shard_channels: Vec<String>,
}

#[derive(Debug, Clone, Args, Default)]
pub struct TuiArgs {
    #[command(flatten)]
    pub subs: SubArgs,
    /// Most messages the feed keeps (oldest are evicted and counted)
    #[arg(long, default_value_t = 100_000)]
    pub max_messages: usize,
    /// Most payload bytes the feed keeps, e.g. 64MiB
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    pub max_bytes: usize,
    /// Frame-rate cap for drawing
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Disable every action that changes server state (publish, ack, claim, …)
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Jsonl,
}

#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    #[arg(value_name = "URL")]
    pub url_pos: Option<String>,
    #[command(flatten)]
    pub subs: SubArgs,
    /// Only print messages matching this filter expression (see README: Filters)
    #[arg(short = 'f', long)]
    pub filter: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit after this many matching messages
    #[arg(short = 'n', long)]
    pub count: Option<u64>,
    /// Escape control bytes in text output even when stdout is not a terminal
    #[arg(long)]
    pub escape: bool,
    /// Most messages buffered between the socket and stdout before the oldest are dropped
    #[arg(long, default_value_t = 100_000)]
    pub max_buffered: usize,
    /// Seconds of silence before a liveness PING, and to wait for its answer
    #[arg(long, default_value_t = 5.0, hide = true)]
    pub ping_interval: f64,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Server binary to run (default: redis-server, then valkey-server, from PATH)
    #[arg(long)]
    pub server_bin: Option<String>,
    /// Do not open the TUI: run the workload and print the server URL until Ctrl-C
    #[arg(long)]
    pub headless: bool,
}

/// Accepts plain bytes or a suffix: 64MiB, 512KiB, 1GiB, 10MB, 4kb.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 64MiB, 512KiB, 1000000)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        other => return Err(format!("unknown size unit {other:?} (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

impl ConnArgs {
    /// Combine a positional URL, `--url`, the other flags and `REDISCLI_AUTH`.
    pub fn target(&self, url_pos: Option<&str>) -> anyhow::Result<Target> {
        if let (Some(a), Some(b)) = (url_pos, self.url.as_deref()) {
            if a != b {
                anyhow::bail!("give the server URL once: either as an argument or with --url");
            }
        }
        let url = url_pos.or(self.url.as_deref());
        Target::resolve(
            url,
            &Overrides {
                host: self.host.clone(),
                port: self.port,
                user: self.user.clone(),
                pass: self.pass.clone(),
                db: self.db,
                tls: self.tls,
                env_pass: std::env::var("REDISCLI_AUTH").ok(),
            },
        )
    }
}

impl SubArgs {
    pub fn subscriptions(&self) -> crate::redis::subscriber::Subscriptions {
        let mut s = crate::redis::subscriber::Subscriptions::default();
        s.channels
            .extend(self.channels.iter().map(|c| bytes::Bytes::from(c.clone())));
        s.patterns
            .extend(self.patterns.iter().map(|c| bytes::Bytes::from(c.clone())));
        s.shard_channels.extend(
            self.shard_channels
                .iter()
                .map(|c| bytes::Bytes::from(c.clone())),
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn url_positional_on_top_level_and_tail() {
        let cli = Cli::try_parse_from(["redtail", "redis://h:1", "--pattern", "ai:*"]).unwrap();
        assert_eq!(cli.url_pos.as_deref(), Some("redis://h:1"));
        assert_eq!(cli.tui.subs.patterns, vec!["ai:*"]);
        let cli = Cli::try_parse_from(["redtail", "tail", "redis://h:2", "-c", "x", "--port", "5"])
            .unwrap();
        let Some(Command::Tail(t)) = cli.command else {
            panic!("tail expected")
        };
        assert_eq!(t.url_pos.as_deref(), Some("redis://h:2"));
        assert_eq!(cli.conn.port, Some(5));
        assert_eq!(cli.conn.target(t.url_pos.as_deref()).unwrap().port, 5);
    }
}
