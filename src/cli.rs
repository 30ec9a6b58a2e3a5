//! Command line: redis-cli compatible connection flags, accepted by every command.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::values::{parse_interval, parse_size, ThemeChoice};
use crate::redis::conn::Target;

/// What the TUI runs with, resolved from flags over the config file (see `config.rs`).
/// The old name is kept so `app::run` and `demo::run` read the same fields as before.
pub type TuiArgs = crate::config::TuiSettings;

#[derive(Debug, Parser)]
#[command(
    name = "redtail",
    version,
    about = "Watch and debug Redis Pub/Sub and Streams in your terminal",
    after_help = crate::exit::HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server URL: redis://[user:pass@]host[:port][/db] or rediss://…
    #[arg(value_name = "URL")]
    pub url_pos: Option<String>,
    #[command(flatten)]
    pub tui: TuiFlags,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub config: ConfigFlags,
    /// A Protobuf descriptor set (`protoc --include_imports --descriptor_set_out=FILE.pb
    /// x.proto`) or a .proto file (a common subset; see README) whose message types
    /// `protobuf:TYPE` decoders name (repeatable; added to the config's [protobuf] proto)
    #[arg(long, global = true, value_name = "FILE")]
    pub proto: Vec<PathBuf>,
}

/// Which config file and profile; accepted by every command.
#[derive(Debug, Clone, Args, Default)]
pub struct ConfigFlags {
    /// Config file to read [default: the platform config dir's redtail/config.toml, see `redtail config --path`]
    #[arg(long, global = true, value_name = "PATH", env = crate::config::CONFIG_ENV)]
    pub config: Option<PathBuf>,
    /// Connection profile from the config file ([profiles.NAME]); default: defaults.default_profile
    #[arg(short = 'P', long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Refuse every action that changes the server (publish, ack, claim, dead-letter,
    /// delete, trim, group changes), in the TUI and every command; refusals are audited.
    /// Also REDTAIL_READ_ONLY=1, or `read_only = true` in [defaults] or the profile: on if
    /// any of them says so; nothing switches it off (a `false` never undoes a `true`)
    #[arg(long, global = true)]
    pub read_only: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print messages from channels, patterns and shard channels (like `redis-cli subscribe`, but safe and scriptable)
    #[command(after_help = crate::exit::HELP)]
    Tail(TailArgs),
    /// Start a private redis-server with a built-in workload and open the TUI on it
    Demo(DemoArgs),
    /// Print one poll of the server's Pub/Sub figures and exit
    #[command(after_help = crate::exit::HELP)]
    Stats(StatsArgs),
    /// Check streams for stuck work (poison entries, dangling ids, zombie consumers, groups
    /// nobody reads, nil lag, dead letters) and print each finding with its fix; exit 1 if
    /// any is a warning or critical, 3 if the check could not run
    #[command(after_help = crate::exit::HELP)]
    Doctor(DoctorArgs),
    /// Serve Prometheus metrics (stream length, group lag, pending, findings) over HTTP
    /// from a background poll
    #[command(after_help = crate::exit::HELP)]
    Metrics(MetricsArgs),
    /// Publish a message (PUBLISH, or SPUBLISH with --shard) and print how many clients received it
    #[command(after_help = crate::exit::HELP)]
    Publish(PublishArgs),
    /// List a consumer group's pending entries (XPENDING), oldest first
    #[command(after_help = crate::exit::HELP)]
    Pending(PendingArgs),
    /// Acknowledge pending entries (XACK) and print how many were acked
    #[command(after_help = crate::exit::HELP)]
    Ack(AckArgs),
    /// Move pending entries to another consumer (XCLAIM with a min-idle guard)
    #[command(after_help = crate::exit::HELP)]
    Claim(ClaimArgs),
    /// Copy entries to a dead-letter stream and ack them, atomically
    #[command(after_help = crate::exit::HELP)]
    DeadLetter(DeadLetterArgs),
    /// Show where the config file is, print the documented default, or check a file
    Config(ConfigCommandArgs),
    /// Print a shell completion script, e.g. `redtail completions bash > /etc/bash_completion.d/redtail`
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. `redtail man > redtail.1 && man ./redtail.1`
    Man,
}

#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct ConfigCommandArgs {
    /// Print the documented default config (every option, with its built-in value)
    #[arg(long)]
    pub print_default: bool,
    /// Print where the config file is read from, and whether it exists
    #[arg(long)]
    pub path: bool,
    /// Validate the config file and print the settings it resolves to (passwords never shown)
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
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

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[arg(value_name = "URL")]
    pub url_pos: Option<String>,
    /// Print JSON: {"findings":[…],"checked":{…}}
    #[arg(long)]
    pub json: bool,
    /// A pending entry delivered at least this many times is poison
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub poison_deliveries: u64,
    /// A consumer holding pending entries that has not read for this long is a zombie,
    /// e.g. 90s, 5min, 1h
    #[arg(long, value_name = "DURATION", default_value = "5min", value_parser = parse_age)]
    pub zombie_after: Duration,
    #[command(flatten)]
    pub streams: StreamSelect,
}

#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    #[arg(value_name = "URL")]
    pub url_pos: Option<String>,
    /// Address to serve GET /metrics on, e.g. 127.0.0.1:9121 (port 0 picks a free one;
    /// the address is printed)
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// How often to poll the server (scrapes answer from the latest poll), e.g. 5s
    #[arg(long, value_name = "TIME", default_value = "5s", value_parser = parse_interval)]
    pub interval: Duration,
    /// A pending entry delivered at least this many times is poison (findings metrics)
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub poison_deliveries: u64,
    /// A consumer holding pending entries idle this long is a zombie (findings metrics)
    #[arg(long, value_name = "DURATION", default_value = "5min", value_parser = parse_age)]
    pub zombie_after: Duration,
    #[command(flatten)]
    pub streams: StreamSelect,
}

/// A duration for thresholds: a number and a unit, `ms`, `s`, `m`/`min`, `h` or `d`
/// (`90s`, `5min`, `1h`).
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a duration: write e.g. \"90s\", \"5min\" or \"1h\"")
    })?;
    let ms_per = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => {
            return Err(format!(
                "{text:?} needs a unit: write \"{n}s\" or \"{n}min\""
            ))
        }
        other => {
            return Err(format!(
                "unknown time unit {other:?}: use ms, s, min, h or d"
            ))
        }
    };
    Ok(Duration::from_millis(n.saturating_mul(ms_per)))
}

#[derive(Debug, Clone, Args, Default, PartialEq, Eq)]
pub struct StreamSelect {
    /// Key glob for stream discovery (SCAN … TYPE stream), e.g. 'ai:*' (repeatable; default: all streams)
    #[arg(long = "streams", value_name = "GLOB", value_parser = check_glob)]
    pub stream_globs: Vec<String>,
    /// A stream key to always include (repeatable; b64:BASE64 for a binary key)
    #[arg(long = "stream", value_name = "KEY", value_parser = check_name)]
    pub stream_keys: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PendingArgs {
    /// Stream key (b64:BASE64 for any bytes, e.g. a name_b64 from `stats --json`)
    pub stream: Name,
    /// Consumer group (b64:BASE64 for any bytes)
    pub group: Name,
    /// Only entries held by this consumer (b64:BASE64 for any bytes)
    #[arg(long)]
    pub consumer: Option<Name>,
    /// Only entries idle at least this many milliseconds
    #[arg(long, value_name = "MS")]
    pub min_idle: Option<u64>,
    /// Most entries to list (at least 1)
    #[arg(long, default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub count: usize,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AckArgs {
    /// Stream key (b64:BASE64 for any bytes, e.g. a name_b64 from `stats --json`)
    pub stream: Name,
    /// Consumer group (b64:BASE64 for any bytes)
    pub group: Name,
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ClaimArgs {
    /// Stream key (b64:BASE64 for any bytes, e.g. a name_b64 from `stats --json`)
    pub stream: Name,
    /// Consumer group (b64:BASE64 for any bytes)
    pub group: Name,
    /// The consumer that takes the entries (b64:BASE64 for any bytes)
    pub consumer: Name,
    /// Only claim entries idle at least this long, so a live worker's entry is not stolen
    #[arg(long, value_name = "MS", required = true)]
    pub min_idle: u64,
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DeadLetterArgs {
    /// Stream key (b64:BASE64 for any bytes, e.g. a name_b64 from `stats --json`)
    pub stream: Name,
    /// Consumer group (b64:BASE64 for any bytes)
    pub group: Name,
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Dead-letter stream (default: <stream>:dlq; b64:BASE64 for any bytes)
    #[arg(long, value_name = "KEY")]
    pub to: Option<Name>,
}

#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// Channel (b64:BASE64 for any bytes)
    #[arg(required_unless_present = "from", value_parser = parse_publish_channel)]
    pub channel: Option<Name>,
    /// The message, sent as given
    #[arg(required_unless_present = "from")]
    pub payload: Option<String>,
    /// SPUBLISH to a shard channel instead of PUBLISH
    #[arg(long, conflicts_with = "from")]
    pub shard: bool,
    /// Replay a `tail --format jsonl` capture (or a TUI export) byte for byte, in order;
    /// `-` reads standard input. smessage lines go out as SPUBLISH, gap / keyspace /
    /// stream lines are skipped and counted, malformed lines reported with their number
    #[arg(long, value_name = "FILE.jsonl", conflicts_with_all = ["channel", "payload"])]
    pub from: Option<PathBuf>,
    /// With --from: send every message to this channel instead of its recorded one
    /// (b64:BASE64 for any bytes)
    #[arg(long = "channel", id = "to_channel", value_name = "NEW")]
    pub to_channel: Option<Name>,
    // The --from-only flags are checked in `commands::publish` (usage error, exit 64).
    /// With --from: at most N messages a second (default: as fast as the server takes them)
    #[arg(long, value_name = "N", conflicts_with = "as_recorded", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// With --from: keep the recorded spacing between messages (from each line's `ts`)
    #[arg(long)]
    pub as_recorded: bool,
    /// With --from: stop at the first malformed line instead of skipping it
    #[arg(long)]
    pub strict: bool,
    /// With --from: print the replay summary as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// A positive, finite messages-per-second figure.
fn parse_rate(arg: &str) -> Result<f64, String> {
    match arg.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{arg:?} is not a rate: give messages per second as a positive number, e.g. 100 or 0.5"
        )),
    }
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
    /// CA certificate(s) to trust for TLS, PEM (default: the bundled Mozilla roots)
    #[arg(long, global = true, value_name = "PATH")]
    pub cacert: Option<PathBuf>,
    /// Client certificate for TLS, PEM (for servers with tls-auth-clients; needs --key)
    #[arg(long, global = true, value_name = "PATH")]
    pub cert: Option<PathBuf>,
    /// Private key of --cert, PEM
    #[arg(long, global = true, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (unsafe: anyone in between can listen)
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Ask these Sentinels (HOST:PORT, repeatable or comma-separated) where the primary
    /// named by --master is, and follow its failovers
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub sentinel: Vec<String>,
    /// Name of the primary the Sentinels monitor (with --sentinel)
    #[arg(long, global = true, value_name = "NAME")]
    pub master: Option<String>,
}

#[derive(Debug, Clone, Args, Default, PartialEq, Eq)]
pub struct SubArgs {
    /// Channel to SUBSCRIBE to (repeatable; b64:BASE64 for any bytes)
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL", value_parser = check_name)]
    pub channels: Vec<String>,
    /// Pattern to PSUBSCRIBE to, e.g. 'ai:*' (repeatable; b64:BASE64 for any bytes)
    #[arg(short = 'p', long = "pattern", value_name = "PATTERN", value_parser = check_name)]
    pub patterns: Vec<String>,
    /// Shard channel to SSUBSCRIBE to (repeatable; b64:BASE64 for any bytes)
    #[arg(short = 's', long = "shard-channel", value_name = "CHANNEL", value_parser = check_name)]
    pub shard_channels: Vec<String>,
}

/// TUI flags as given; unset ones come from the config file or the built-in defaults
/// (`Loaded::tui_settings`), which is why none has a clap default.
#[derive(Debug, Clone, Args, Default, PartialEq, Eq)]
pub struct TuiFlags {
    #[command(flatten)]
    pub subs: SubArgs,
    #[command(flatten)]
    pub streams: StreamSelect,
    /// Most messages the feed keeps (oldest are evicted and counted) [default: 100000]
    #[arg(long, value_name = "N")]
    pub max_messages: Option<usize>,
    /// Memory for messages: the feed and the buffer in front of it together, e.g. 64MiB
    /// [default: 64MiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bytes: Option<usize>,
    /// Frame-rate cap for drawing [default: 30]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: Option<u32>,
    /// How often the Channels and Streams panes poll the server, e.g. 500ms, 2s [default: 1s]
    #[arg(long, value_name = "TIME", value_parser = parse_interval)]
    pub poll_interval: Option<Duration>,
    /// Colours for dark or light terminals; auto picks light when $COLORFGBG says the
    /// background is light [default: dark]
    #[arg(long, value_enum)]
    pub theme: Option<ThemeChoice>,
    /// Problems list: a pending entry delivered at least this many times is poison
    /// [default: 5]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub poison_deliveries: Option<u64>,
    /// Problems list: a consumer holding pending entries that has not read for this long
    /// is a zombie, e.g. 90s, 5min [default: 5min]
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    pub zombie_after: Option<Duration>,
    /// `--keyspace GLOB [--events LIST] [--enable-notifications]`: the Keyspace pane (5)
    /// follows keyspace events from launch (the same flags as `tail --keyspace`)
    #[command(flatten)]
    pub keyspace: KeyspaceArgs,
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
    /// A stream key to follow with XREAD, shown beside channel messages (repeatable;
    /// never joins a consumer group; b64:BASE64 for a binary key)
    #[arg(long = "stream", value_name = "KEY", value_parser = check_name)]
    pub stream_keys: Vec<String>,
    /// Exit after this many matching messages
    #[arg(short = 'n', long)]
    pub count: Option<u64>,
    /// Escape control bytes in text output even when stdout is not a terminal
    #[arg(long)]
    pub escape: bool,
    /// Decode payloads: auto, or one of json, msgpack, cbor, protobuf, gzip, zlib, zstd,
    /// lz4, snappy, base64, or protobuf:TYPE with --proto (see README: Decoding payloads). JSONL lines gain "decoded"
    /// and "decoded_as" (or "decode_error"); text lines show the compact decoded value.
    /// Overrides the config file's [decode] table
    #[arg(long, value_name = "DECODER", value_parser = parse_decoder)]
    pub decode: Option<crate::decode::Choice>,
    /// Most messages buffered between the socket and stdout before the oldest are dropped
    #[arg(long, default_value_t = 100_000)]
    pub max_buffered: usize,
    /// Most bytes buffered between the socket and stdout (payloads, names and ~100 bytes
    /// of bookkeeping each) before the oldest are dropped, e.g. 16MiB. A single message
    /// larger than this is still printed whole: tail never truncates what it prints
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64MiB")]
    pub max_buffered_bytes: usize,
    /// Seconds of silence before a liveness PING, and to wait for its answer
    #[arg(long, default_value_t = 5.0, hide = true)]
    pub ping_interval: f64,
    #[command(flatten)]
    pub keyspace: KeyspaceArgs,
    /// Read-only mode as decided from flag, environment and config (set by main; only
    /// `--enable-notifications` changes anything).
    #[arg(skip)]
    pub read_only: crate::redis::actions::ReadOnly,
}

/// `tail --keyspace`: keyspace notifications from every node (see README: Keyspace
/// notifications).
#[derive(Debug, Clone, Args, Default, PartialEq, Eq)]
pub struct KeyspaceArgs {
    /// Follow keyspace events of keys matching this glob, from every node (repeatable;
    /// instead of --channel/--pattern/--shard-channel; b64:BASE64 for any bytes)
    #[arg(long = "keyspace", value_name = "GLOB", value_parser = check_name,
          conflicts_with_all = ["channels", "patterns", "shard_channels"])]
    pub globs: Vec<String>,
    /// Only these events, e.g. set,del,expired,evicted,xadd,hset (comma-separated or
    /// repeated; default: every event)
    #[arg(long, value_name = "LIST", value_delimiter = ',', requires = "globs")]
    pub events: Vec<String>,
    /// Only this database: the global `--db N` as given (set by main). Without it, a URL
    /// naming a database other than 0 limits to that one, else every database is followed.
    #[arg(skip)]
    pub db: Option<u32>,
    /// Add the notify-keyspace-events flags the events need on every node (merged with
    /// the flags already set), and put the old value back on exit; audited, refused in
    /// read-only mode
    #[arg(long, requires = "globs")]
    pub enable_notifications: bool,
}

impl KeyspaceArgs {
    pub fn is_on(&self) -> bool {
        !self.globs.is_empty()
    }

    /// What to follow, as the engine takes it.
    pub fn spec(&self) -> crate::redis::keyspace::KeyspaceSpec {
        let events: std::collections::BTreeSet<String> = self
            .events
            .iter()
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        crate::redis::keyspace::KeyspaceSpec {
            globs: self.globs.iter().map(|g| name_bytes(g)).collect(),
            events: (!events.is_empty()).then_some(events),
            db: self.db,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Server binary to run (default: redis-server, then valkey-server, from PATH)
    #[arg(long)]
    pub server_bin: Option<String>,
    /// Do not open the TUI: run the workload and print the server URL until Ctrl-C
    #[arg(long)]
    pub headless: bool,
    /// Run a private Redis Cluster (3 primaries, 3 replicas) instead of one server
    #[arg(long)]
    pub cluster: bool,
}

/// Names given as `b64:BASE64` are decoded to raw bytes, so a key, group, consumer or
/// channel that is not UTF-8 (shown as `name_b64` / `key_b64` by `stats --json`) can be
/// typed. A literal name that itself starts with `b64:` must be given in base64 too.
pub const NAME_B64_PREFIX: &str = "b64:";

/// A key, group, consumer or channel name from the command line, as raw bytes.
pub fn parse_name(arg: &str) -> Result<Vec<u8>, String> {
    let Some(encoded) = arg.strip_prefix(NAME_B64_PREFIX) else {
        return Ok(arg.as_bytes().to_vec());
    };
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| {
            format!(
                "{arg:?} starts with {NAME_B64_PREFIX} but the rest is not standard base64 ({e}); \
                 give a binary name as b64:BASE64 (as name_b64 in `stats --json`), and a literal \
                 name starting with {NAME_B64_PREFIX} as b64: followed by its base64"
            )
        })
}

/// `--decode NAME`.
fn parse_decoder(arg: &str) -> Result<crate::decode::Choice, String> {
    crate::decode::Choice::parse(arg).ok_or_else(|| {
        format!(
            "unknown decoder `{arg}`; use one of {}",
            crate::decode::Choice::names()
        )
    })
}

/// A name from the command line: [`parse_name`], and never empty. Redis takes `""` as a
/// channel, key, group or consumer, but on a command line it is almost always an unset
/// variable (`claim s g "$CONSUMER"`): acting on it would move entries to a ghost
/// consumer called "" or subscribe to a channel nobody publishes to and wait forever.
/// Every name argument (and so every command and the TUI's launch flags) passes here,
/// and a refusal is a usage error (exit 64) with the argument named by clap.
fn parse_arg_name(arg: &str) -> Result<Vec<u8>, String> {
    let bytes = parse_name(arg)?;
    if !bytes.is_empty() {
        return Ok(bytes);
    }
    let what = if arg.is_empty() {
        "the name is empty"
    } else {
        "this b64: name decodes to nothing"
    };
    Err(format!(
        "{what} (an unset shell variable?); give a name (b64:BASE64 for binary ones) — \
         redtail never acts on, or subscribes to, an empty name; nothing was sent"
    ))
}

/// clap check for names kept as text (shared with the config file): the argument is
/// kept as given and decoded at the edge with [`name_bytes`].
fn check_name(arg: &str) -> Result<String, String> {
    parse_arg_name(arg).map(|_| arg.to_string())
}

/// clap check for a key glob (`--streams`): an empty one matches nothing but an empty
/// key, so it is refused like an empty name.
fn check_glob(arg: &str) -> Result<String, String> {
    if arg.is_empty() {
        return Err(
            "the glob is empty (an unset shell variable?); give a key glob such as \
             'ai:*', or leave --streams out to discover every stream"
                .into(),
        );
    }
    Ok(arg.to_string())
}

/// The bytes a name stands for. Command-line names were checked by clap; a bad `b64:`
/// name from elsewhere (a config file) is taken literally rather than dropped.
pub fn name_bytes(arg: &str) -> bytes::Bytes {
    bytes::Bytes::from(parse_name(arg).unwrap_or_else(|_| arg.as_bytes().to_vec()))
}

/// A key, group, consumer or channel argument, decoded by [`parse_name`]; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(pub Vec<u8>);

impl Name {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// `publish`'s channel: a [`Name`], but not a server URL. `redtail publish URL CHANNEL`
/// (the URL where `tail` and `stats` take it) would publish to a channel named after the
/// URL, on the default server.
fn parse_publish_channel(arg: &str) -> Result<Name, String> {
    let lower = arg.to_ascii_lowercase();
    let schemes = [
        "redis://",
        "rediss://",
        "redis+sentinel://",
        "rediss+sentinel://",
    ];
    if schemes.iter().any(|scheme| lower.starts_with(scheme)) {
        return Err(
            "this is a server URL, not a channel: give the server with -u \
                    (`redtail publish -u URL CHANNEL MESSAGE`); nothing was sent"
                .into(),
        );
    }
    arg.parse()
}

impl std::str::FromStr for Name {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_arg_name(s).map(Name)
    }
}

impl From<Name> for bytes::Bytes {
    fn from(name: Name) -> Self {
        bytes::Bytes::from(name.0)
    }
}

impl Cli {
    /// Flags before a subcommand belong to the TUI. clap's `args_conflicts_with_subcommands`
    /// would reject them, but also global flags such as `--config` given before the
    /// subcommand (`redtail --config x.toml config --check`), so the check is made here.
    pub fn validate(&self) -> Result<(), clap::Error> {
        use clap::CommandFactory;
        let Some(command) = &self.command else {
            return Ok(());
        };
        let message = if self.url_pos.is_some() {
            match command {
                Command::Tail(_) | Command::Stats(_) | Command::Doctor(_) | Command::Metrics(_) => {
                    "put the server URL after the subcommand, e.g. `redtail tail URL`"
                }
                _ => "give the server URL with --url after the subcommand",
            }
        } else if self.tui != TuiFlags::default() && !matches!(command, Command::Demo(_)) {
            "flags before the subcommand are the TUI's; put the subcommand's flags after it, \
             e.g. `redtail tail -c orders`"
        } else {
            return Ok(());
        };
        Err(Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message))
    }
}

impl ConnArgs {
    /// Combine a positional URL, `--url`, the other flags and `REDISCLI_AUTH` (no
    /// profile; see `config::resolve_connection` for that).
    pub fn target(&self, url_pos: Option<&str>) -> anyhow::Result<Target> {
        let env = |name: &str| std::env::var(name).ok();
        crate::config::resolve_connection(None, self, url_pos, &env)?.require()
    }
}

impl StreamSelect {
    pub fn is_empty(&self) -> bool {
        self.stream_globs.is_empty() && self.stream_keys.is_empty()
    }

    /// The `--stream` keys as the bytes they name (`b64:` decoded).
    pub fn key_names(&self) -> Vec<bytes::Bytes> {
        self.stream_keys.iter().map(|k| name_bytes(k)).collect()
    }

    /// A streams poll of these globs and keys every `interval`.
    pub fn poll_config(
        &self,
        interval: std::time::Duration,
    ) -> crate::redis::streams::StreamsConfig {
        crate::redis::streams::StreamsConfig {
            globs: self.stream_globs.clone(),
            keys: self.key_names(),
            interval,
            ..crate::redis::streams::StreamsConfig::default()
        }
    }
}

impl SubArgs {
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty()
    }

    pub fn subscriptions(&self) -> crate::redis::subscriber::Subscriptions {
        let mut s = crate::redis::subscriber::Subscriptions::default();
        let names = |list: &[String]| list.iter().map(|c| name_bytes(c)).collect::<Vec<_>>();
        s.channels.extend(names(&self.channels));
        s.patterns.extend(names(&self.patterns));
        s.shard_channels.extend(names(&self.shard_channels));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_may_be_given_in_base64() {
        assert_eq!(parse_name("orders"), Ok(b"orders".to_vec()));
        assert_eq!(parse_name("b64://5x"), Ok(b"\xff\xfeq".to_vec()));
        assert_eq!(parse_name("b64:"), Ok(Vec::new()));
        // A literal name starting with b64: is itself given in base64.
        assert_eq!(
            parse_name("b64:YjY0Om9yZGVycw=="),
            Ok(b"b64:orders".to_vec())
        );
        let err = parse_name("b64:orders!").unwrap_err();
        assert!(err.contains("not standard base64"), "{err}");
        assert_eq!(name_bytes("b64:!"), bytes::Bytes::from_static(b"b64:!"));
        let cli = Cli::try_parse_from(["redtail", "ack", "b64://5x", "g", "1-0"]).unwrap();
        let Some(Command::Ack(a)) = cli.command else {
            panic!("ack expected")
        };
        assert_eq!(a.stream.as_bytes(), b"\xff\xfeq");
        assert!(Cli::try_parse_from(["redtail", "ack", "b64:%", "g", "1-0"]).is_err());
        assert!(Cli::try_parse_from(["redtail", "tail", "-c", "b64:%"]).is_err());
        let cli = Cli::try_parse_from(["redtail", "tail", "-c", "b64://5x"]).unwrap();
        let Some(Command::Tail(t)) = cli.command else {
            panic!("tail expected")
        };
        let subs = t.subs.subscriptions();
        assert!(subs
            .channels
            .contains(&bytes::Bytes::from_static(b"\xff\xfeq")));
    }

    #[test]
    fn publish_refuses_a_server_url_where_the_channel_goes() {
        for url in [
            "redis://127.0.0.1:7810",
            "REDISS://h:1",
            "redis+sentinel://s:26379/m",
        ] {
            let err = Cli::try_parse_from(["redtail", "publish", url, "hello"]).err();
            let text = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(text.contains("server URL, not a channel"), "{url}: {text}");
        }
        let ok = Cli::try_parse_from(["redtail", "-u", "redis://h:1", "publish", "redis", "x"]);
        assert!(ok.is_ok());
    }

    #[test]
    fn empty_names_are_refused_on_every_name_argument() {
        let cases: &[&[&str]] = &[
            &["tail", "-c", "EMPTY"],
            &["tail", "-p", "EMPTY"],
            &["tail", "-s", "EMPTY"],
            &["tail", "--stream", "EMPTY"],
            &["tail", "--keyspace", "EMPTY"],
            &["-c", "EMPTY"],
            &["-p", "EMPTY"],
            &["-s", "EMPTY"],
            &["--stream", "EMPTY"],
            &["--streams", "EMPTY"],
            &["--keyspace", "EMPTY"],
            &["pending", "EMPTY", "g"],
            &["pending", "s", "EMPTY"],
            &["pending", "s", "g", "--consumer", "EMPTY"],
            &["ack", "EMPTY", "g", "1-0"],
            &["ack", "s", "EMPTY", "1-0"],
            &["claim", "EMPTY", "g", "c", "--min-idle", "0", "1-0"],
            &["claim", "s", "EMPTY", "c", "--min-idle", "0", "1-0"],
            &["claim", "s", "g", "EMPTY", "--min-idle", "0", "1-0"],
            &["dead-letter", "EMPTY", "g", "1-0"],
            &["dead-letter", "s", "EMPTY", "1-0"],
            &["dead-letter", "s", "g", "1-0", "--to", "EMPTY"],
            &["publish", "EMPTY", "x"],
            &["publish", "--from", "f.jsonl", "--channel", "EMPTY"],
            &["stats", "--stream", "EMPTY"],
            &["stats", "--streams", "EMPTY"],
            &["doctor", "--stream", "EMPTY"],
            &["doctor", "--streams", "EMPTY"],
            &["metrics", "--listen", "127.0.0.1:0", "--stream", "EMPTY"],
        ];
        for case in cases {
            for empty in ["", "b64:", "b64: "] {
                if !empty.is_empty() && case.contains(&"--streams") {
                    continue; // a glob is not base64-decoded
                }
                let args: Vec<&str> = std::iter::once("redtail")
                    .chain(case.iter().map(|a| if *a == "EMPTY" { empty } else { a }))
                    .collect();
                let err = Cli::try_parse_from(&args).err();
                let err = err.unwrap_or_else(|| panic!("{args:?} must be refused"));
                let text = err.to_string();
                assert!(
                    text.contains("is empty") || text.contains("decodes to nothing"),
                    "{args:?}: {text}"
                );
                let named = case.iter().map(|a| if *a == "EMPTY" { "x" } else { a });
                let named: Vec<&str> = std::iter::once("redtail").chain(named).collect();
                assert!(Cli::try_parse_from(&named).is_ok(), "{named:?} is fine");
            }
        }
    }

    #[test]
    fn thresholds_take_seconds_minutes_and_hours() {
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("5min"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_age("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_age("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_age("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_age("5").unwrap_err().contains("needs a unit"));
        assert!(parse_age("5 parsecs").is_err());
        assert!(parse_age("min").is_err());
        let cli = Cli::try_parse_from(["redtail", "doctor", "--zombie-after", "1s"]).unwrap();
        let Some(Command::Doctor(d)) = cli.command else {
            panic!("doctor expected")
        };
        assert_eq!(d.zombie_after, Duration::from_secs(1));
        assert_eq!(d.poison_deliveries, 5);
        assert!(Cli::try_parse_from(["redtail", "doctor", "--poison-deliveries", "0"]).is_err());
        assert!(
            Cli::try_parse_from(["redtail", "metrics"]).is_err(),
            "--listen is required"
        );
    }

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

    #[test]
    fn global_flags_go_anywhere_but_tui_flags_only_without_a_subcommand() {
        let parse =
            |args: &[&str]| Cli::try_parse_from(args).and_then(|cli| cli.validate().map(|()| cli));
        let cli = parse(&[
            "redtail", "--config", "c.toml", "-P", "s", "config", "--check",
        ]);
        assert!(matches!(
            cli.map(|c| (c.command, c.config.profile)),
            Ok((Some(Command::Config(_)), Some(p))) if p == "s"
        ));
        assert!(parse(&["redtail", "tail", "-c", "x", "--config", "c.toml"]).is_ok());
        assert!(parse(&["redtail", "--fps", "5", "demo"]).is_ok());
        assert!(parse(&["redtail", "-c", "x", "tail"]).is_err());
        assert!(parse(&["redtail", "redis://h", "stats"]).is_err());
        let tui = parse(&["redtail", "redis://h", "-c", "x", "--max-bytes", "1MiB"]);
        assert!(tui.is_ok_and(|c| c.tui.max_bytes == Some(1 << 20) && c.command.is_none()));
    }
}
