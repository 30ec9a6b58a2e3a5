use std::io::Write;

use clap::{CommandFactory, Parser};

use redtail::cli::{Cli, Command, ConfigCommandArgs, StreamSelect};
use redtail::config;
use redtail::redis::route::Route;
use redtail::redis::sentinel::SentinelSpec;
use redtail::text::escape::{escape_lines, escape_str};
use std::sync::Arc;

fn main() {
    one_malloc_arena();
    let cli = match Cli::try_parse().and_then(|cli| cli.validate().map(|()| cli)) {
        Ok(cli) => cli,
        Err(e) => usage_exit(e),
    };
    // Commands that only print something about redtail itself run before the config is
    // read, so they work even when the config file is broken.
    if let Some(result) = run_offline(&cli) {
        std::process::exit(match result {
            Ok(code) => code,
            Err(e) => {
                print_error(&e);
                1
            }
        });
    }
    // `tail` runs engine and consumer on one thread (its stdout has a writer thread of
    // its own): no cross-thread wake-up per socket read. Everything else gets two workers.
    let mut builder = if matches!(cli.command, Some(Command::Tail(_))) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("redtail: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    // doctor's 1 means "problems found": its errors exit 3 (exit::code_for_check).
    let doctor = matches!(cli.command, Some(Command::Doctor(_)));
    let code = runtime.block_on(async {
        match run(cli).await {
            Ok(code) => code,
            Err(e) => {
                print_error(&e);
                if doctor {
                    redtail::exit::code_for_check(&e)
                } else {
                    redtail::exit::code_for(&e)
                }
            }
        }
    });
    // Don't wait for blocked reader threads (e.g. stdin) at shutdown.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::exit(code);
}

/// The one place a command's error reaches stderr. Its text quotes what came from outside
/// (a config file's keys and values, a URL, a filter, a name typed on the command line):
/// every line is escaped, so no control, C1 or bidi character reaches the terminal raw,
/// while the message's own line breaks (a filter error's caret line) stay. Escaping is
/// idempotent (a backslash is left alone), so text escaped where it was quoted passes
/// unchanged; a line break inside quoted text must be escaped there, where it is known.
fn print_error(e: &anyhow::Error) {
    let lines = escape_lines(format!("{e:#}").as_bytes());
    eprintln!("redtail: {}", lines.join("\n"));
}

/// `--help` and `--version` print to stdout and exit 0; a usage mistake is explained on
/// stderr and exits with the usage code (64), distinct from "some ids skipped" (2).
fn usage_exit(e: clap::Error) -> ! {
    if !e.use_stderr() {
        e.exit();
    }
    let _ = escape_usage_error(e).print();
    std::process::exit(redtail::exit::USAGE);
}

/// clap quotes what was typed (an unknown flag, a bad value, and a value parser's reason
/// may repeat it) as it was, and on a terminal passes it through raw. Each quoted piece is
/// replaced by its escaped form, in the context values and in the styled tips that repeat
/// them; a reason (the error's source) cannot be replaced, so an error whose reason needs
/// escaping is rebuilt as a plain message.
fn escape_usage_error(mut e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    let mut typed: Vec<String> = Vec::new();
    for (_, value) in e.context() {
        match value {
            ContextValue::String(s) => typed.push(s.clone()),
            ContextValue::Strings(v) => typed.extend(v.iter().cloned()),
            _ => {}
        }
    }
    typed.retain(|s| escape_str(s) != s.as_str());
    // Longest first, so a value that contains another is replaced whole.
    typed.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let fix = |text: &str| {
        typed.iter().fold(text.to_string(), |acc, raw| {
            acc.replace(raw, &escape_str(raw))
        })
    };
    let styled =
        |s: &clap::builder::StyledStr| clap::builder::StyledStr::from(fix(&s.ansi().to_string()));
    let fixes: Vec<(ContextKind, ContextValue)> = e
        .context()
        .filter_map(|(kind, value)| {
            let fixed = match value {
                ContextValue::String(s) => ContextValue::String(escape_str(s).into_owned()),
                ContextValue::Strings(v) => {
                    ContextValue::Strings(v.iter().map(|s| escape_str(s).into_owned()).collect())
                }
                ContextValue::StyledStr(s) => ContextValue::StyledStr(styled(s)),
                ContextValue::StyledStrs(v) => {
                    ContextValue::StyledStrs(v.iter().map(styled).collect())
                }
                _ => return None,
            };
            (fixed != *value).then_some((kind, fixed))
        })
        .collect();
    for (kind, value) in fixes {
        e.insert(kind, value);
    }
    let reason = std::error::Error::source(&e).map(ToString::to_string);
    if let Some(reason) = reason.filter(|r| escape_str(r) != r.as_str()) {
        let quoted = |kind| match e.get(kind) {
            Some(ContextValue::String(s)) => s.clone(),
            _ => String::new(),
        };
        let reason = escape_str(&reason);
        let message = match e.kind() {
            clap::error::ErrorKind::ValueValidation => format!(
                "invalid value '{}' for '{}': {reason}",
                quoted(ContextKind::InvalidValue),
                quoted(ContextKind::InvalidArg),
            ),
            _ => reason.into_owned(),
        };
        let message = format!("{message}\n\nFor more information, try '--help'.\n");
        return clap::Error::raw(e.kind(), message).with_cmd(&Cli::command());
    }
    e
}

/// glibc gives threads their own malloc arenas (up to 8 per core). The engine allocates
/// each message on a runtime worker and the UI frees it on another thread; as the engine
/// task moves between workers, freed memory piles up in arenas it no longer allocates
/// from: the TUI's RSS grew by 30–50 % after the feed's caps were reached. With one
/// arena it stays flat (`cargo bench --bench memory`), at no measurable throughput cost.
/// MALLOC_ARENA_MAX in the environment still wins.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: first thing in main, before any other thread exists; it only tunes
        // the allocator.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// `completions`, `man`, `config --print-default` and `config --path`.
fn run_offline(cli: &Cli) -> Option<anyhow::Result<i32>> {
    let mut out = std::io::stdout().lock();
    let result = match &cli.command {
        Some(Command::Completions(args)) => {
            // Built in memory first: clap_complete panics when a write fails (a reader
            // that stopped early).
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "redtail", &mut script);
            out.write_all(&script)
        }
        Some(Command::Man) => clap_mangen::Man::new(Cli::command()).render(&mut out),
        Some(Command::Config(ConfigCommandArgs {
            print_default: true,
            ..
        })) => out.write_all(config::DEFAULT_CONFIG.as_bytes()),
        Some(Command::Config(ConfigCommandArgs { path: true, .. })) => {
            let explicit = cli.config.config.as_deref();
            let line = match explicit.map(Into::into).or_else(config::default_path) {
                Some(path) => {
                    let state = match (path.exists(), explicit.is_some()) {
                        (true, _) => "exists",
                        (false, true) => "does not exist",
                        (false, false) => "does not exist: built-in defaults apply",
                    };
                    format!("{} ({state})", path.display())
                }
                None => "none: this system has no config directory; use --config FILE".into(),
            };
            writeln!(out, "{line}")
        }
        _ => return None,
    };
    // A reader that stops early (`redtail man | head`) is not an error.
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Some(Err(anyhow::anyhow!("cannot write to stdout: {e}")))
        }
        _ => Some(Ok(0)),
    }
}

/// How long `tail`, `metrics` and the TUI wait for the deployment probe before going on
/// as if the server were a single one (their engines then connect, report and retry).
const PROBE_FALLBACK: std::time::Duration = std::time::Duration::from_secs(3);

/// How a command uses the server, for what [`route_for`] does when the deployment probe
/// cannot reach it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    /// `metrics`, the TUI: a server that cannot be reached or does not answer within
    /// [`PROBE_FALLBACK`] is taken for a single one, and the engines report and retry
    /// with their backoff; a refused login is theirs to report too.
    Watch,
    /// `tail`: as `Watch`, but a server that does not answer within the connect timeout
    /// ends it with the probe's error. `tail` ends at its first failed connect anyway;
    /// after a 3 s probe its engine waited 5 s more (8 s, saying "within 5 s").
    Tail,
    /// Every other command: ends with the probe's error (or a refused login). One
    /// deadline, the connect timeout, for the whole connect: not the probe's and then
    /// the command's own.
    Once,
    /// `publish` in read-only mode: the action layer refuses it (audited) before it
    /// connects, so a server that cannot be reached must not answer for it.
    SendsNothing,
}

impl Run {
    /// `publish` sends nothing in read-only mode.
    fn publish(read_only: &redtail::redis::actions::ReadOnly) -> Run {
        if read_only.is_on() {
            Run::SendsNothing
        } else {
            Run::Once
        }
    }
}

/// Where connections go: through the Sentinels when `--sentinel` is given, to every node
/// when the server turns out to be a cluster node, else to the one server.
async fn route_for(
    conn: &redtail::cli::ConnArgs,
    target: redtail::redis::conn::Target,
    run: Run,
) -> anyhow::Result<Arc<Route>> {
    if !conn.sentinel.is_empty() {
        let Some(master) = conn.master.as_deref() else {
            anyhow::bail!(
                "--sentinel needs --master NAME: the primary's name as the Sentinels know it"
            );
        };
        let spec = SentinelSpec::parse(&conn.sentinel, master)?;
        return Ok(Route::sentinel(target, spec));
    }
    if conn.master.is_some() {
        anyhow::bail!("--master needs --sentinel HOST:PORT (a Sentinel that monitors it)");
    }
    let t = target.clone();
    let route = match run {
        Run::Once => Route::probe(target, redtail::redis::conn::CONNECT_TIMEOUT).await?,
        Run::Tail => match Route::probe(target, redtail::redis::conn::CONNECT_TIMEOUT).await {
            Err(e) if e.is::<redtail::redis::route::Unanswered>() => return Err(e),
            probed => probed.unwrap_or_else(|_| Route::single(t)),
        },
        Run::Watch | Run::SendsNothing => Route::probe(target, PROBE_FALLBACK)
            .await
            .unwrap_or_else(|_| Route::single(t)),
    };
    // A refused login (or not a Redis server) is said once, here, instead of again by
    // each command's own connect (each a failed AUTH in the server's ACL LOG). The TUI
    // and `tail` report it through their engines, which wait on the route.
    if matches!(run, Run::Once | Run::SendsNothing) {
        route.check_refusal()?;
    }
    if route.is_cluster() && route.template().db != 0 {
        anyhow::bail!(
            "{} is a Redis Cluster node, and a cluster has only database 0: drop the /{} \
             from the URL (or --db)",
            route.template(),
            route.template().db
        );
    }
    Ok(route)
}

/// A `redis+sentinel://` URL becomes `--sentinel`/`--master` plus a plain URL that
/// carries the credentials, TLS and database.
fn take_sentinel_url(
    conn: &mut redtail::cli::ConnArgs,
    url: &mut Option<String>,
) -> anyhow::Result<()> {
    if let Some(s) = url
        .as_deref()
        .map(redtail::redis::route::split_sentinel_url)
        .transpose()?
        .flatten()
    {
        if conn.master.as_deref().is_some_and(|m| m != s.master) {
            anyhow::bail!(
                "the Sentinel URL names primary {:?} but --master says another",
                s.master
            );
        }
        conn.sentinel.extend(s.sentinels);
        conn.master = Some(s.master);
        *url = Some(s.template);
    }
    Ok(())
}

/// Every place a URL may be given (the positional one, `--url`, a command's own
/// positional one): a `redis+sentinel://` URL there becomes the Sentinel settings.
fn take_sentinel_urls(cli: &mut Cli) -> anyhow::Result<()> {
    take_sentinel_url(&mut cli.conn, &mut cli.url_pos)?;
    let mut conn_url = cli.conn.url.take();
    take_sentinel_url(&mut cli.conn, &mut conn_url)?;
    cli.conn.url = conn_url;
    match &mut cli.command {
        Some(Command::Tail(args)) => take_sentinel_url(&mut cli.conn, &mut args.url_pos)?,
        Some(Command::Stats(args)) => take_sentinel_url(&mut cli.conn, &mut args.url_pos)?,
        Some(Command::Doctor(args)) => take_sentinel_url(&mut cli.conn, &mut args.url_pos)?,
        Some(Command::Metrics(args)) => take_sentinel_url(&mut cli.conn, &mut args.url_pos)?,
        _ => {}
    }
    Ok(())
}

/// Load the Protobuf descriptor sets (the config's `[protobuf] proto`, then `--proto`)
/// for the typed decoders, and check every `protobuf:TYPE` the config and `--decode`
/// name: a missing type stops here, with close names, not on the first message.
fn load_protobuf(
    flags: &[std::path::PathBuf],
    loaded: &config::Loaded,
    rules: &config::DecodeRules,
    flag: Option<redtail::decode::Choice>,
) -> anyhow::Result<()> {
    use redtail::decode::schema;
    let config_dir = loaded.path.as_deref().and_then(std::path::Path::parent);
    let mut paths = loaded.file.protobuf.paths(config_dir);
    paths.extend(flags.iter().cloned());
    let schema = if paths.is_empty() {
        None
    } else {
        Some(redtail::decode::load_schemas(&paths).map_err(|e| anyhow::anyhow!(e))?)
    };
    let mut choices = rules.choices();
    choices.extend(flag);
    redtail::decode::check_types(schema.as_ref(), &choices).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(schema) = schema {
        schema::install(schema);
    }
    Ok(())
}

/// No streams named on the command line: the profile's, if any.
fn profile_streams(streams: &mut StreamSelect, profile: Option<config::SelectedProfile<'_>>) {
    if streams.is_empty() {
        if let Some(p) = profile {
            streams.stream_globs = p.profile.stream_globs.clone();
            streams.stream_keys = p.profile.streams.clone();
        }
    }
}

async fn run(mut cli: Cli) -> anyhow::Result<i32> {
    take_sentinel_urls(&mut cli)?;
    let loaded = config::load(cli.config.config.as_deref())?;
    let profile = loaded.profile(cli.config.profile.as_deref())?;
    let env = |name: &str| std::env::var(name).ok();
    let target = |url_pos: Option<&str>| {
        config::resolve_connection(profile, &cli.conn, url_pos, &env)?.require()
    };
    // Decided once, here, for every command and the TUI (flag, environment, profile,
    // [defaults]); the action layer checks it for every mutation.
    let read_only = loaded.read_only_mode(profile, cli.config.read_only, &env);
    match cli.command {
        Some(Command::Tail(mut args)) => {
            redtail::commands::tail::validate(&args)?;
            args.read_only = read_only;
            args.keyspace.db = cli.conn.db.and_then(|d| u32::try_from(d).ok());
            if args.subs.is_empty() {
                if let Some(p) = profile {
                    args.subs.channels = p.profile.channels.clone();
                    args.subs.patterns = p.profile.patterns.clone();
                    args.subs.shard_channels = p.profile.shard_channels.clone();
                }
            }
            let decode = config::DecodeRules::new(&loaded.file.decode);
            load_protobuf(&cli.proto, &loaded, &decode, args.decode)?;
            let route = route_for(&cli.conn, target(args.url_pos.as_deref())?, Run::Tail).await?;
            redtail::commands::tail::run(args, route, decode).await
        }
        Some(Command::Stats(mut args)) => {
            profile_streams(&mut args.streams, profile);
            let route = route_for(&cli.conn, target(args.url_pos.as_deref())?, Run::Once).await?;
            redtail::commands::stats::run_stats(args, route).await
        }
        Some(Command::Doctor(mut args)) => {
            profile_streams(&mut args.streams, profile);
            let route = route_for(&cli.conn, target(args.url_pos.as_deref())?, Run::Once).await?;
            redtail::commands::doctor::run(args, route, &cli.conn).await
        }
        Some(Command::Metrics(mut args)) => {
            profile_streams(&mut args.streams, profile);
            let route = route_for(&cli.conn, target(args.url_pos.as_deref())?, Run::Watch).await?;
            redtail::commands::metrics::run(args, route, &cli.conn).await
        }
        Some(Command::Publish(args)) => {
            let route = route_for(&cli.conn, target(None)?, Run::publish(&read_only)).await?;
            redtail::commands::publish::run(args, route, read_only).await
        }
        Some(Command::Pending(args)) => {
            redtail::commands::pending::run_pending(
                args,
                route_for(&cli.conn, target(None)?, Run::Once).await?,
            )
            .await
        }
        Some(Command::Ack(args)) => {
            let route = route_for(&cli.conn, target(None)?, Run::Once).await?;
            redtail::commands::pending::run_ack(args, route, read_only).await
        }
        Some(Command::Claim(args)) => {
            let route = route_for(&cli.conn, target(None)?, Run::Once).await?;
            redtail::commands::pending::run_claim(args, route, read_only).await
        }
        Some(Command::DeadLetter(args)) => {
            let route = route_for(&cli.conn, target(None)?, Run::Once).await?;
            redtail::commands::pending::run_dead_letter(args, route, read_only).await
        }
        Some(Command::Demo(args)) => {
            if cli.config.profile.is_some() {
                anyhow::bail!(
                    "the demo runs its own private server, so --profile does not apply; \
                     run `redtail demo` without it"
                );
            }
            let c = &cli.conn;
            let server_given = c.url.is_some()
                || c.host.is_some()
                || c.port.is_some()
                || c.db.is_some()
                || c.tls
                || !c.sentinel.is_empty();
            if server_given {
                anyhow::bail!(
                    "the demo runs its own private server on a free port and never connects \
                     to another, so a server (-u/--url, --host, --port, --db, --tls, \
                     --sentinel) does not apply; run `redtail demo` without it, or \
                     `redtail URL` to watch that server"
                );
            }
            if !cli.proto.is_empty() {
                anyhow::bail!(
                    "the demo decodes its own Protobuf channel ({}) with its built-in schema, \
                     so --proto does not apply; run `redtail demo` without it",
                    redtail::commands::demo::DEMO_PROTO_CHANNEL
                );
            }
            let mut settings = loaded.tui_settings(None, &cli.tui, &env);
            settings.read_only = read_only;
            redtail::commands::demo::run(args, settings).await
        }
        Some(Command::Config(_)) => {
            // --print-default and --path were handled before the config was read.
            print!(
                "{}",
                config::check_report(&loaded, profile, &cli.conn, &env)?
            );
            Ok(0)
        }
        Some(Command::Completions(_) | Command::Man) => Ok(0),
        None => {
            let decode = config::DecodeRules::new(&loaded.file.decode);
            load_protobuf(&cli.proto, &loaded, &decode, None)?;
            let mut settings = loaded.tui_settings(profile, &cli.tui, &env);
            settings.read_only = read_only;
            settings.keyspace.db = cli.conn.db.and_then(|d| u32::try_from(d).ok());
            let route = route_for(&cli.conn, target(cli.url_pos.as_deref())?, Run::Watch).await?;
            redtail::app::run(settings, route).await
        }
    }
}
