//! From the loaded file, the chosen profile, the environment and the flags to what the
//! commands run with. The environment is passed in as a function so tests never have to
//! change the process environment.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Result};

use super::values::Theme;
use super::values::{key_name, Interval, Size, ThemeChoice};
use super::{
    command_name, place_name, places, profile_list, DecodeRules, Loaded, Profile, BUILTIN_FPS,
    BUILTIN_MAX_BYTES, BUILTIN_MAX_MESSAGES, BUILTIN_POLL_INTERVAL,
};
use crate::cli::{ConnArgs, StreamSelect, SubArgs, TuiFlags};
use crate::keymap::{Command, Keymap, Scope};
use crate::redis::actions::ReadOnly;
use crate::redis::conn::{Overrides, Target};
use crate::text::escape::escape_str;

/// Environment switch for read-only mode (every command and the TUI).
pub const READ_ONLY_ENV: &str = "REDTAIL_READ_ONLY";

/// An environment switch is on unless empty, `0`, `false`, `no` or `off` (any case): an
/// unrecognised value errs on the side of safety.
fn env_switch_on(value: &str) -> bool {
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "false" | "no" | "off"
    )
}

/// Looks up an environment variable (`std::env::var(..).ok()` outside tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What the TUI runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct TuiSettings {
    pub subs: SubArgs,
    pub streams: StreamSelect,
    pub max_messages: usize,
    pub max_bytes: usize,
    pub fps: u32,
    /// Between polls of the Channels and Streams panes.
    pub poll_interval: Duration,
    pub theme: Theme,
    pub keymap: Keymap,
    /// With `--read-only` given, `main` replaces this with [`Loaded::read_only_mode`]'s
    /// answer for the flag.
    pub read_only: ReadOnly,
    /// Thresholds of the Problems list (`--poison-deliveries`, `--zombie-after`).
    pub doctor: crate::redis::doctor::DoctorConfig,
    /// `[decode]`: the decoder per channel glob.
    pub decode: DecodeRules,
    /// `--keyspace GLOB [--events LIST] [--enable-notifications]`: the Keyspace pane
    /// follows these at launch (`db` is set by main from `--db`).
    pub keyspace: crate::cli::KeyspaceArgs,
}

impl Default for TuiSettings {
    fn default() -> Self {
        TuiSettings {
            subs: SubArgs::default(),
            streams: StreamSelect::default(),
            max_messages: BUILTIN_MAX_MESSAGES,
            max_bytes: BUILTIN_MAX_BYTES,
            fps: BUILTIN_FPS,
            poll_interval: BUILTIN_POLL_INTERVAL,
            theme: Theme::Dark,
            keymap: Keymap::default(),
            read_only: ReadOnly::off(),
            doctor: Default::default(),
            decode: DecodeRules::default(),
            keyspace: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SelectedProfile<'a> {
    pub name: &'a str,
    pub profile: &'a Profile,
}

impl Loaded {
    /// The profile named by `-P`, else `default_profile`, else none.
    pub fn profile(&self, requested: Option<&str>) -> Result<Option<SelectedProfile<'_>>> {
        let name = match requested {
            Some(name) => name,
            None => match self.file.defaults.default_profile() {
                Some(name) => name.get_ref().as_str(),
                None => return Ok(None),
            },
        };
        if let Some((name, profile)) = self.file.profiles.get_key_value(name) {
            return Ok(Some(SelectedProfile { name, profile }));
        }
        let place = match (&self.path, self.found) {
            (Some(path), true) => format!("in {}", super::shown_path(path)),
            (Some(path), false) => format!("(no config file at {})", super::shown_path(path)),
            (None, _) => "(this system has no config directory; use --config FILE)".into(),
        };
        // The name was typed (`-P`) or read from the file: escaped, a line break included.
        bail!(
            "there is no profile `{}` {place}: {}",
            crate::text::escape::escape_str(name),
            profile_list(&self.file.profiles)
        )
    }

    /// Read-only mode, decided once for every command and the TUI: on when any source
    /// says so — the `--read-only` flag, `REDTAIL_READ_ONLY` (any value but empty, `0`,
    /// `false`, `no`, `off`), the selected profile's `read_only`, `[defaults]`'s. A
    /// `false` anywhere never switches off a `true` elsewhere: a profile saying `false`
    /// must not undo a `[defaults] read_only = true` meant to guard every server. The
    /// reason given is the first source that is on, in that order.
    pub fn read_only_mode(
        &self,
        profile: Option<SelectedProfile<'_>>,
        flag: bool,
        env: Env<'_>,
    ) -> ReadOnly {
        if flag {
            return ReadOnly::because("--read-only");
        }
        if let Some(value) = env(READ_ONLY_ENV).filter(|v| env_switch_on(v)) {
            return ReadOnly::because(format!("{READ_ONLY_ENV}={}", value.trim()));
        }
        if let Some(p) = profile.filter(|p| p.profile.read_only == Some(true)) {
            return ReadOnly::because(format!("profile `{}` has read_only = true", p.name));
        }
        if self.file.defaults.read_only == Some(true) {
            return ReadOnly::because("[defaults] read_only = true in the config file");
        }
        ReadOnly::off()
    }

    pub fn tui_settings(
        &self,
        profile: Option<SelectedProfile<'_>>,
        flags: &TuiFlags,
        env: Env<'_>,
    ) -> TuiSettings {
        let defaults = &self.file.defaults;
        let p = profile.map(|p| p.profile);
        // Flags replace the profile's lists rather than adding to them: `-c x` means
        // "watch x", and a profile's twenty channels mixed in would surprise.
        let subs = if flags.subs.is_empty() {
            p.map(profile_subs).unwrap_or_default()
        } else {
            flags.subs.clone()
        };
        let streams = if flags.streams.is_empty() {
            p.map(|p| StreamSelect {
                stream_globs: p.stream_globs.clone(),
                stream_keys: p.streams.clone(),
            })
            .unwrap_or_default()
        } else {
            flags.streams.clone()
        };
        let theme = flags
            .theme
            .or(defaults.theme)
            .unwrap_or_default()
            .resolve(env("COLORFGBG").as_deref());
        TuiSettings {
            subs,
            streams,
            max_messages: flags
                .max_messages
                .or(defaults.max_messages.map(|m| m.0))
                .unwrap_or(BUILTIN_MAX_MESSAGES),
            max_bytes: flags
                .max_bytes
                .or(defaults.max_bytes.map(|s| s.0))
                .unwrap_or(BUILTIN_MAX_BYTES),
            fps: flags
                .fps
                .or(defaults.fps.map(|f| f.0))
                .unwrap_or(BUILTIN_FPS),
            poll_interval: flags
                .poll_interval
                .or(defaults.poll_interval.map(|i| i.0))
                .unwrap_or(BUILTIN_POLL_INTERVAL),
            theme,
            keymap: self.keymap.clone(),
            read_only: self.read_only_mode(profile, false, env),
            doctor: doctor_config(flags),
            decode: DecodeRules::new(&self.file.decode),
            keyspace: flags.keyspace.clone(),
        }
    }
}

/// The Problems list's thresholds: the flags, else the doctor's defaults.
fn doctor_config(flags: &TuiFlags) -> crate::redis::doctor::DoctorConfig {
    let defaults = crate::redis::doctor::DoctorConfig::default();
    crate::redis::doctor::DoctorConfig {
        poison_deliveries: flags
            .poison_deliveries
            .unwrap_or(defaults.poison_deliveries),
        zombie_after_ms: flags.zombie_after.map_or(defaults.zombie_after_ms, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
        }),
    }
}

fn profile_subs(p: &Profile) -> SubArgs {
    SubArgs {
        channels: p.channels.clone(),
        patterns: p.patterns.clone(),
        shard_channels: p.shard_channels.clone(),
    }
}

/// Where the password came from; shown by `config --check` instead of the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    None,
    Flag,
    Url,
    /// The profile's `password_env` variable.
    Env(String),
    /// The profile names a variable that is not set: connecting would fail to log in.
    EnvUnset(String),
    RedisCliAuth,
}

impl PasswordSource {
    pub fn describe(&self) -> String {
        match self {
            PasswordSource::None => "none".into(),
            PasswordSource::Flag => "from --pass".into(),
            PasswordSource::Url => "from the URL".into(),
            PasswordSource::Env(name) => format!("from ${name}"),
            PasswordSource::EnvUnset(name) => {
                format!("from ${name}, which is NOT SET: export {name} before connecting")
            }
            PasswordSource::RedisCliAuth => "from $REDISCLI_AUTH".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Connection {
    pub target: Target,
    pub password: PasswordSource,
}

impl Connection {
    /// The target, or an error if the profile's password variable is missing (better
    /// than connecting without a password and getting NOAUTH from the server).
    pub fn require(self) -> Result<Target> {
        if let PasswordSource::EnvUnset(name) = &self.password {
            bail!(
                "the profile's password_env names ${name}, which is not set: export {name}=… \
                 (or pass --pass) and run again"
            );
        }
        Ok(self.target)
    }
}

/// Profile, then `REDISCLI_AUTH`, then flags. A URL on the command line names another
/// server, so the profile's whole connection (URL, host, user, password_env, …) is left
/// out; the other flags override single fields of the profile.
///
/// Passwords: `--pass` > a command-line URL's > the profile's `password_env` >
/// `REDISCLI_AUTH`. The variable the profile names explicitly is the more specific
/// choice, and `REDISCLI_AUTH` already only fills a missing password in redis-cli.
pub fn resolve_connection(
    profile: Option<SelectedProfile<'_>>,
    conn: &ConnArgs,
    url_pos: Option<&str>,
    env: Env<'_>,
) -> Result<Connection> {
    if let (Some(a), Some(b)) = (url_pos, conn.url.as_deref()) {
        if a != b {
            bail!("give the server URL once: either as an argument or with --url");
        }
    }
    let cli_url = url_pos.or(conn.url.as_deref());
    let p = if cli_url.is_some() {
        None
    } else {
        profile.map(|p| p.profile)
    };
    let url = cli_url.or(p.and_then(|p| p.url.as_ref()).map(|u| u.0.as_str()));
    let mut unset = None;
    let mut profile_pass = None;
    if let (Some(name), None) = (p.and_then(|p| p.password_env.as_ref()), &conn.pass) {
        match env(&name.0).filter(|v| !v.is_empty()) {
            Some(value) => profile_pass = Some(value),
            None => unset = Some(name.0.clone()),
        }
    }
    let target = Target::resolve(
        url,
        &Overrides {
            host: conn.host.clone().or_else(|| p.and_then(|p| p.host.clone())),
            port: conn.port.or(p.and_then(|p| p.port)),
            user: conn.user.clone().or_else(|| p.and_then(|p| p.user.clone())),
            pass: conn.pass.clone().or(profile_pass.clone()),
            db: conn.db.or(p.and_then(|p| p.db)),
            tls: conn.tls || p.and_then(|p| p.tls).unwrap_or(false),
            // An unset password_env must not be papered over by another password.
            env_pass: if unset.is_some() {
                None
            } else {
                env("REDISCLI_AUTH")
            },
            ca_cert: conn.cacert.clone(),
            client_cert: conn.cert.clone(),
            client_key: conn.key.clone(),
            insecure: conn.insecure,
        },
    )?;
    let url_has_password = match cli_url {
        Some(u) => Target::parse_url(u)?.password.is_some(),
        None => false,
    };
    let password = if conn.pass.is_some() {
        PasswordSource::Flag
    } else if url_has_password {
        PasswordSource::Url
    } else if let Some(name) = unset {
        PasswordSource::EnvUnset(name)
    } else if profile_pass.is_some() {
        let name = p.and_then(|p| p.password_env.as_ref());
        PasswordSource::Env(name.map(|n| n.0.clone()).unwrap_or_default())
    } else if target.password.is_some() {
        PasswordSource::RedisCliAuth
    } else {
        PasswordSource::None
    };
    Ok(Connection { target, password })
}

/// `redtail config --check`: the settings in force, without secrets.
pub fn check_report(
    loaded: &Loaded,
    profile: Option<SelectedProfile<'_>>,
    conn: &ConnArgs,
    env: Env<'_>,
) -> Result<String> {
    let connection = resolve_connection(profile, conn, None, env)?;
    let tui = loaded.tui_settings(profile, &TuiFlags::default(), env);
    let mut out = String::new();
    let file = match (&loaded.path, loaded.found) {
        (Some(path), true) => format!("{} (valid)", path.display()),
        (Some(path), false) => format!("{} (not found: built-in defaults)", path.display()),
        (None, _) => "none (no config directory on this system)".into(),
    };
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items
                .iter()
                .map(|i| escape_str(i).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    // `writeln!` to a String cannot fail.
    let _ = writeln!(out, "config file:    {file}");
    let _ = writeln!(
        out,
        "profile:        {}",
        profile.map_or("none".into(), |p| escape_str(p.name).into_owned())
    );
    let _ = writeln!(out, "server:         {}", connection.target);
    let _ = writeln!(out, "password:       {}", connection.password.describe());
    let read_only = match tui.read_only.reason() {
        Some(why) => format!("true ({why})"),
        None => "false".into(),
    };
    let _ = writeln!(out, "read_only:      {read_only}");
    let _ = writeln!(out, "channels:       {}", list(&tui.subs.channels));
    let _ = writeln!(out, "patterns:       {}", list(&tui.subs.patterns));
    let _ = writeln!(out, "shard_channels: {}", list(&tui.subs.shard_channels));
    if tui.subs.is_empty() {
        let _ = writeln!(
            out,
            "                (no subscriptions: the TUI follows every channel, pattern *)"
        );
    }
    let _ = writeln!(out, "stream_globs:   {}", list(&tui.streams.stream_globs));
    let _ = writeln!(out, "streams:        {}", list(&tui.streams.stream_keys));
    let _ = writeln!(out, "max_messages:   {}", tui.max_messages);
    let _ = writeln!(out, "max_bytes:      {}", Size(tui.max_bytes).text());
    let _ = writeln!(out, "fps:            {}", tui.fps);
    let _ = writeln!(
        out,
        "poll_interval:  {}",
        Interval(tui.poll_interval).text()
    );
    let theme = loaded.file.defaults.theme.unwrap_or_default();
    let resolved = match (theme, tui.theme) {
        (ThemeChoice::Auto, Theme::Dark) => " (dark here)",
        (ThemeChoice::Auto, Theme::Light) => " (light here)",
        _ => "",
    };
    let _ = writeln!(out, "theme:          {}{resolved}", theme.name());
    let _ = writeln!(out, "\nkeys (Ctrl-C always quits):");
    let defaults = Keymap::default();
    for scope in places() {
        let _ = writeln!(out, "[keys.{}]", place_name(scope));
        for (command, keys) in key_rows(&tui.keymap, scope) {
            let marker = if tui.keymap.keys_for(scope, command) != defaults.keys_for(scope, command)
            {
                "   # changed"
            } else {
                ""
            };
            let _ = writeln!(out, "{} = {keys}{marker}", command_name(command));
        }
    }
    Ok(out)
}

/// Each command of `scope` once, in table order, with its keys as `[keys]` spells them.
fn key_rows(keymap: &Keymap, scope: Scope) -> Vec<(Command, String)> {
    let mut commands: Vec<Command> = Vec::new();
    for b in Keymap::default().bindings().iter().chain(keymap.bindings()) {
        if b.scope == scope && !commands.contains(&b.command) {
            commands.push(b.command);
        }
    }
    commands
        .into_iter()
        .map(|command| {
            let keys: Vec<String> = keymap
                .keys_for(scope, command)
                .iter()
                .map(|k| format!("{:?}", key_name(k)))
                .collect();
            let text = match keys.as_slice() {
                [one] => one.clone(),
                _ => format!("[{}]", keys.join(", ")),
            };
            (command, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::path::Path;

    const PROFILES: &str = r#"
[defaults]
max_messages = 500
default_profile = "staging"

[profiles.staging]
url = "redis://watcher@staging.example:6380/2"
password_env = "STAGING_PASS"
read_only = true
channels = ["orders"]
patterns = ["ai:*"]
stream_globs = ["ai:*"]
streams = ["orders:events"]

[profiles.local]
host = "127.0.0.1"
port = 7000
"#;

    fn loaded() -> Loaded {
        parse(Path::new("c.toml"), PROFILES).unwrap_or_else(|e| panic!("{e}"))
    }

    fn env_with(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_default_profile_supplies_connection_and_subscriptions() {
        let l = loaded();
        let env = env_with(&[("STAGING_PASS", "s3cret")]);
        let profile = l.profile(None).ok().flatten();
        assert_eq!(profile.map(|p| p.name), Some("staging"));
        let c = resolve_connection(profile, &ConnArgs::default(), None, &env);
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.target.host, "staging.example");
        assert_eq!(c.target.port, 6380);
        assert_eq!(c.target.db, 2);
        assert_eq!(c.target.username.as_deref(), Some("watcher"));
        assert_eq!(c.target.password.as_deref(), Some("s3cret"));
        assert_eq!(c.password, PasswordSource::Env("STAGING_PASS".into()));
        let tui = l.tui_settings(profile, &TuiFlags::default(), &env);
        assert_eq!(tui.subs.channels, ["orders"]);
        assert_eq!(tui.subs.patterns, ["ai:*"]);
        assert_eq!(tui.streams.stream_globs, ["ai:*"]);
        assert_eq!(tui.streams.stream_keys, ["orders:events"]);
        assert_eq!(tui.max_messages, 500);
        assert!(tui.read_only.is_on());
    }

    #[test]
    fn flags_override_the_profile() {
        let l = loaded();
        let env = env_with(&[("STAGING_PASS", "s3cret"), ("REDISCLI_AUTH", "envpw")]);
        let profile = l.profile(Some("staging")).ok().flatten();
        let conn = ConnArgs {
            port: Some(7001),
            db: Some(0),
            ..ConnArgs::default()
        };
        let c = resolve_connection(profile, &conn, None, &env).map(|c| c.target);
        let t = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (t.host.as_str(), t.port, t.db),
            ("staging.example", 7001, 0)
        );
        assert_eq!(t.password.as_deref(), Some("s3cret"));

        // A URL on the command line is another server: nothing of the profile's applies.
        let c = resolve_connection(profile, &ConnArgs::default(), Some("redis://other:1"), &env);
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.target.host.as_str(), c.target.port), ("other", 1));
        assert_eq!(c.target.username, None);
        assert_eq!(c.password, PasswordSource::RedisCliAuth);

        let flags = TuiFlags {
            subs: SubArgs {
                patterns: vec!["x:*".into()],
                ..SubArgs::default()
            },
            max_messages: Some(9),
            fps: Some(5),
            ..TuiFlags::default()
        };
        let tui = l.tui_settings(profile, &flags, &env);
        assert_eq!(tui.subs.patterns, ["x:*"]);
        assert!(
            tui.subs.channels.is_empty(),
            "flags replace the profile's lists"
        );
        assert_eq!((tui.max_messages, tui.fps), (9, 5));
    }

    #[test]
    fn read_only_is_on_when_any_source_says_so_and_a_false_never_undoes_it() {
        let l = |text: &str| parse(Path::new("c.toml"), text).unwrap_or_else(|e| panic!("{e}"));
        let off = env_with(&[("REDTAIL_READ_ONLY", "0")]);
        let mode = |l: &Loaded, flag: bool, env: &dyn Fn(&str) -> Option<String>| {
            let profile = l.profile(None).unwrap_or_else(|e| panic!("{e}"));
            l.read_only_mode(profile, flag, env)
                .reason()
                .map(str::to_string)
        };
        // [defaults] says true, the selected profile says false: still on.
        let kept = l("[defaults]\nread_only = true\ndefault_profile = \"p\"\n\
                      [profiles.p]\nread_only = false\n");
        assert_eq!(
            mode(&kept, false, &off).as_deref(),
            Some("[defaults] read_only = true in the config file")
        );
        // The profile says true, [defaults] says false: on, and the profile is named.
        let profile_on = l("[defaults]\nread_only = false\ndefault_profile = \"p\"\n\
                            [profiles.p]\nread_only = true\n");
        assert_eq!(
            mode(&profile_on, false, &off).as_deref(),
            Some("profile `p` has read_only = true")
        );
        // Both false: the flag and the variable still switch it on.
        let none = l("[defaults]\nread_only = false\ndefault_profile = \"p\"\n\
                      [profiles.p]\nread_only = false\n");
        assert_eq!(mode(&none, false, &off), None);
        assert_eq!(mode(&none, true, &off).as_deref(), Some("--read-only"));
        let on = env_with(&[("REDTAIL_READ_ONLY", "yes")]);
        assert_eq!(
            mode(&none, false, &on).as_deref(),
            Some("REDTAIL_READ_ONLY=yes")
        );
        // The TUI's settings (and `config --check`) come from the same decision.
        let profile = kept.profile(None).ok().flatten();
        assert!(kept
            .tui_settings(profile, &TuiFlags::default(), &off)
            .read_only
            .is_on());
    }

    #[test]
    fn an_unset_password_variable_is_an_error_only_when_connecting() {
        let l = loaded();
        let env = env_with(&[("REDISCLI_AUTH", "envpw")]);
        let profile = l.profile(None).ok().flatten();
        let c = resolve_connection(profile, &ConnArgs::default(), None, &env);
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.password, PasswordSource::EnvUnset("STAGING_PASS".into()));
        assert_eq!(c.target.password, None, "REDISCLI_AUTH must not stand in");
        let err = c.require().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("export STAGING_PASS"), "{err}");
    }

    #[test]
    fn unknown_profiles_list_the_defined_ones() {
        let err = loaded().profile(Some("prod")).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(
            err.contains("`prod`") && err.contains("local, staging"),
            "{err}"
        );
        let none = Loaded::builtin(None).profile(Some("prod")).err();
        assert!(none.is_some_and(|e| e.to_string().contains("[profiles.NAME]")));
    }

    #[test]
    fn no_config_means_builtin_settings() {
        let l = Loaded::builtin(None);
        let tui = l.tui_settings(None, &TuiFlags::default(), &|_| None);
        assert_eq!(tui, TuiSettings::default());
    }

    #[test]
    fn check_report_never_shows_the_password() {
        let l = loaded();
        let env = env_with(&[("STAGING_PASS", "s3cret")]);
        let profile = l.profile(None).ok().flatten();
        let report = check_report(&l, profile, &ConnArgs::default(), &env);
        let report = report.unwrap_or_else(|e| panic!("{e}"));
        assert!(!report.contains("s3cret"), "{report}");
        assert!(
            report.contains("password:       from $STAGING_PASS"),
            "{report}"
        );
        assert!(report.contains("server:         redis://watcher@staging.example:6380/2"));
        assert!(report.contains("\nup = [\"up\", \"k\"]\n"), "{report}");
        assert!(report.contains("[keys.global]\nquit = \"q\"\n"), "{report}");
    }
}
