//! The config file through the real binary: print-default round trip, errors with line
//! numbers, profiles, secrets kept out of output, completions, man page, and configured
//! keys and profile subscriptions reaching the TUI.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use redis::Commands;
use redtail::cli::TuiFlags;
use redtail::config::values::{
    parse_key, EnvName, Fps, Interval, KeyList, MessageCap, ProfileUrl, Size, ThemeChoice,
};
use redtail::config::{
    parse, ConfigFile, DecoderName, Defaults, KeysSection, Profile, TuiSettings,
};
use redtail::decode::{Choice, Format};
use redtail::keymap::{Command as KeyCommand, Keymap, Scope};
use toml::Spanned;

/// Run the binary with no config from the developer's machine leaking in: the config dir
/// is a fresh temp dir unless a test passes `--config`.
fn redtail(args: &[&str], env: &[(&str, &str)]) -> (Output, String, String) {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let mut cmd = Command::new(common::redtail_bin());
    cmd.args(args)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove("REDTAIL_CONFIG")
        .env_remove("REDISCLI_AUTH")
        .env_remove("COLORFGBG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running redtail: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

fn table_keys(text: &str, table: &str) -> BTreeSet<String> {
    let doc: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    doc.get(table)
        .and_then(toml::Value::as_table)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn print_default_round_trips_to_the_builtin_defaults() {
    let (out, printed, stderr) = redtail(&["config", "--print-default"], &[]);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(printed, redtail::config::DEFAULT_CONFIG);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(dir.path(), "config.toml", &printed);

    let loaded = parse(&path, &printed).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.file.defaults, Defaults::builtin());
    assert_eq!(loaded.keymap, Keymap::default());
    let settings = loaded.tui_settings(None, &TuiFlags::default(), &|_| None);
    assert_eq!(settings, TuiSettings::default());

    // Every option is present: [defaults] has every key the schema has, and [keys]
    // names every command of the key table.
    let all_defaults = toml::to_string(&ConfigFile {
        defaults: Defaults::builtin(),
        ..ConfigFile::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        table_keys(&printed, "defaults"),
        table_keys(&all_defaults, "defaults")
    );
    let places: BTreeSet<String> = Keymap::default()
        .bindings()
        .iter()
        .filter(|b| b.scope != Scope::Always)
        .map(|b| redtail::config::place_name(b.scope))
        .collect();
    assert_eq!(table_keys(&printed, "keys"), places);
    for b in Keymap::default().bindings() {
        let place = redtail::config::place_name(b.scope);
        let listed = loaded
            .file
            .keys
            .places
            .get(&b.scope)
            .is_some_and(|t| t.contains_key(&b.command));
        assert!(
            listed || b.scope == Scope::Always,
            "[keys.{place}] lacks {:?}",
            b.command
        );
    }

    // The real binary accepts the file it printed.
    let file = path.to_string_lossy();
    let (out, report, stderr) = redtail(&["--config", &file, "config", "--check"], &[]);
    assert!(out.status.success(), "{stderr}");
    assert!(report.contains("(valid)"), "{report}");
    assert!(report.contains("max_bytes:      64MiB"), "{report}");
}

/// The commented-out example profile in the default file is valid and shows every key.
#[test]
fn the_documented_example_profile_is_complete_and_valid() {
    let text = redtail::config::DEFAULT_CONFIG;
    let start = text
        .find("# [profiles.staging]")
        .unwrap_or_else(|| panic!("example profile missing"));
    let example: String = text[start..]
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .collect::<Vec<_>>()
        .join("\n");
    let loaded = parse(Path::new("example.toml"), &example).unwrap_or_else(|e| panic!("{e}"));
    let profile = loaded
        .file
        .profiles
        .get("staging")
        .cloned()
        .unwrap_or_default();
    let written = toml::to_string(&ConfigFile {
        profiles: [("staging".to_string(), profile)].into(),
        ..ConfigFile::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let full = toml::to_string(&ConfigFile {
        profiles: [("staging".to_string(), full_profile())].into(),
        ..ConfigFile::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let profile_keys = |t: &str| -> BTreeSet<String> {
        let doc: toml::Table = toml::from_str(t).unwrap_or_default();
        doc.get("profiles")
            .and_then(|p| p.get("staging"))
            .and_then(toml::Value::as_table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(profile_keys(&written), profile_keys(&full));
}

fn full_profile() -> Profile {
    Profile {
        url: ProfileUrl::try_from("rediss://watcher@db.example:6380/3".to_string()).ok(),
        host: Some("10.1.2.3".into()),
        port: Some(7000),
        user: Some("reader".into()),
        password_env: EnvName::try_from("PROD_PASS".to_string()).ok(),
        db: Some(4),
        tls: Some(true),
        read_only: Some(true),
        channels: vec!["orders".into(), "odd \"name\"".into()],
        patterns: vec!["ai:*".into()],
        shard_channels: vec!["cart:{1}".into()],
        stream_globs: vec!["ev:*".into()],
        streams: vec!["orders:events".into()],
        password: None,
    }
}

#[test]
fn a_fully_populated_config_round_trips_through_serialize_and_parse() {
    let keys = |list: &[&str]| {
        Spanned::new(
            0..0,
            KeyList(list.iter().filter_map(|k| parse_key(k).ok()).collect()),
        )
    };
    let file = ConfigFile {
        defaults: Defaults {
            max_messages: Some(MessageCap(5000)),
            max_bytes: Some(Size(1536)),
            fps: Some(Fps(60)),
            poll_interval: Some(Interval(Duration::from_millis(250))),
            theme: Some(ThemeChoice::Auto),
            read_only: Some(true),
            default_profile: Some(Spanned::new(0..0, "prod".into())),
        },
        keys: KeysSection {
            all: [
                (KeyCommand::Quit, keys(&["Q", "ctrl-q"])),
                (KeyCommand::Filter, keys(&["f"])),
                (KeyCommand::PageDown, keys(&["pgdn", "ctrl-d"])),
                (KeyCommand::Export, keys(&[])),
            ]
            .into(),
            places: [
                (
                    Scope::Feed,
                    [(KeyCommand::TogglePause, keys(&["p", "space"]))].into(),
                ),
                (
                    Scope::Input,
                    [(KeyCommand::Cancel, keys(&["ctrl-g"]))].into(),
                ),
            ]
            .into(),
        },
        profiles: [
            ("prod".to_string(), full_profile()),
            ("empty".to_string(), Profile::default()),
        ]
        .into(),
        decode: [
            (
                "socket.io#*".to_string(),
                DecoderName(Choice::Only(Format::Msgpack)),
            ),
            ("*".to_string(), DecoderName(Choice::Auto)),
            (
                "orders.*".to_string(),
                DecoderName(Choice::parse("protobuf:shop.Order").unwrap_or(Choice::Auto)),
            ),
        ]
        .into(),
        protobuf: redtail::config::ProtobufSection {
            proto: vec!["sets/shop.pb".into()],
        },
    };
    let text = toml::to_string(&file).unwrap_or_else(|e| panic!("{e}"));
    let loaded = parse(Path::new("full.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(loaded.file, file, "{text}");
}

/// Each bad file is rejected by the binary with its line number in the message.
#[test]
fn invalid_configs_are_rejected_with_the_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "unknown_field.toml",
            "[defaults]\nfps = 30\nmax_mesages = 5\n",
            3,
            "unknown field `max_mesages`",
        ),
        (
            "wrong_type.toml",
            "[defaults]\n\n\nfps = \"fast\"\n",
            4,
            "invalid type",
        ),
        (
            "bad_key.toml",
            "[keys]\nquit = \"q\"\nfilter = [\"/\", \"ctl-f\"]\n",
            3,
            "\"ctl-f\" is not a key",
        ),
        (
            "unknown_command.toml",
            "[keys]\nquit = \"q\"\nfliter = \"/\"\n",
            3,
            "unknown command or place `fliter`",
        ),
        (
            "password.toml",
            "[profiles.prod]\nurl = \"redis://db:6379\"\npassword = \"hunter2\"\n",
            3,
            "password_env",
        ),
        (
            "stolen_key.toml",
            "[keys]\n\nfilter = \"e\"\n",
            3,
            "to another key",
        ),
    ];
    for (name, text, line, needle) in cases {
        let path = write(dir.path(), name, text);
        let file = path.to_string_lossy();
        let (out, stdout, stderr) = redtail(&["--config", &file, "config", "--check"], &[]);
        assert!(!out.status.success(), "{name} accepted: {stdout}");
        let expected = format!("{file} line {line}, column ");
        assert!(stderr.contains(&expected), "{name}: {stderr}");
        assert!(stderr.contains(needle), "{name}: {stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "{name} echoed the password: {stderr}"
        );
        // Every command refuses a broken config, not only `config --check`.
        let (out, _, stderr) = redtail(&["--config", &file, "stats"], &[]);
        assert!(
            !out.status.success() && stderr.contains(&expected),
            "{stderr}"
        );
    }
}

const PROFILES: &str = r#"
[profiles.staging]
url = "redis://watcher@staging.example:6380/2"
password_env = "STAGING_PASS"
read_only = true
channels = ["orders"]
patterns = ["ai:*"]
stream_globs = ["events:*"]

[profiles.local]
host = "127.0.0.1"
"#;

#[test]
fn a_profile_supplies_server_and_subscriptions_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(dir.path(), "profiles.toml", PROFILES);
    let file = path.to_string_lossy();
    let env = [("STAGING_PASS", "s3cret-value")];

    let (out, report, stderr) = redtail(
        &["--config", &file, "-P", "staging", "config", "--check"],
        &env,
    );
    assert!(out.status.success(), "{stderr}");
    assert!(report.contains("profile:        staging"), "{report}");
    assert!(
        report.contains("server:         redis://watcher@staging.example:6380/2"),
        "{report}"
    );
    assert!(report.contains("channels:       orders"), "{report}");
    assert!(report.contains("patterns:       ai:*"), "{report}");
    assert!(report.contains("stream_globs:   events:*"), "{report}");
    assert!(report.contains("read_only:      true"), "{report}");
    assert!(
        report.contains("password:       from $STAGING_PASS"),
        "{report}"
    );
    assert!(!report.contains("s3cret") && !stderr.contains("s3cret"));

    // Flags override single fields of the profile.
    let (out, report, stderr) = redtail(
        &[
            "--config", &file, "-P", "staging", "--port", "7001", "--user", "admin", "config",
            "--check",
        ],
        &env,
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        report.contains("server:         redis://admin@staging.example:7001/2"),
        "{report}"
    );

    // REDTAIL_CONFIG works like --config.
    let (out, report, stderr) = redtail(
        &["-P", "local", "config", "--check"],
        &[("REDTAIL_CONFIG", &file)],
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        report.contains("server:         redis://127.0.0.1:6379"),
        "{report}"
    );

    // An unknown profile is an error that lists the defined ones.
    let (out, _, stderr) = redtail(&["--config", &file, "-P", "prod", "config", "--check"], &[]);
    assert!(!out.status.success());
    assert!(stderr.contains("local, staging"), "{stderr}");

    // A missing password variable is shown by --check and stops a real connection.
    let (out, report, _) = redtail(
        &["--config", &file, "-P", "staging", "config", "--check"],
        &[],
    );
    assert!(out.status.success());
    assert!(report.contains("NOT SET"), "{report}");
    let (out, _, stderr) = redtail(&["--config", &file, "-P", "staging", "stats"], &[]);
    assert!(!out.status.success());
    assert!(stderr.contains("export STAGING_PASS"), "{stderr}");

    // The profile is read-only: publishing is refused before any connection is made.
    let (out, _, stderr) = redtail(
        &["--config", &file, "-P", "staging", "publish", "orders", "x"],
        &env,
    );
    assert!(!out.status.success());
    assert!(stderr.contains("read-only"), "{stderr}");
}

/// `config --check` shows the read-only mode the commands will use: `[defaults]
/// read_only = true` stays on under a profile that says `false`.
#[test]
fn config_check_shows_read_only_kept_when_a_profile_says_false() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let profile = "[profiles.p]\nurl = \"redis://127.0.0.1:7630\"\nread_only = false\n";
    let picked = write(
        dir.path(),
        "picked.toml",
        &format!("[defaults]\nread_only = true\n{profile}"),
    );
    let default = write(
        dir.path(),
        "default.toml",
        &format!("[defaults]\nread_only = true\ndefault_profile = \"p\"\n{profile}"),
    );
    let env = [("REDTAIL_READ_ONLY", "0")];
    for args in [
        vec![
            "--config",
            &*picked.to_string_lossy(),
            "-P",
            "p",
            "config",
            "--check",
        ],
        vec!["--config", &*default.to_string_lossy(), "config", "--check"],
    ] {
        let (out, report, stderr) = redtail(&args, &env);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(report.contains("profile:        p"), "{report}");
        assert!(
            report
                .contains("read_only:      true ([defaults] read_only = true in the config file)"),
            "{args:?}: {report}"
        );
    }
}

#[test]
fn config_locations() {
    // No file at the default place: built-in defaults, not an error.
    let (out, report, stderr) = redtail(&["config", "--check"], &[]);
    assert!(out.status.success(), "{stderr}");
    assert!(report.contains("not found: built-in defaults"), "{report}");
    let (out, path, _) = redtail(&["config", "--path"], &[]);
    assert!(out.status.success());
    assert!(
        path.contains("redtail") && path.contains("config.toml"),
        "{path}"
    );

    // A missing file named explicitly is an error.
    let (out, _, stderr) = redtail(
        &["--config", "/nonexistent/redtail.toml", "config", "--check"],
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr.contains("/nonexistent/redtail.toml"), "{stderr}");

    // --path and --print-default still work while the config is broken.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bad = write(dir.path(), "bad.toml", "nonsense = [\n");
    let bad = bad.to_string_lossy();
    let (out, path, _) = redtail(&["--config", &bad, "config", "--path"], &[]);
    assert!(
        out.status.success() && path.contains("bad.toml (exists)"),
        "{path}"
    );
    let (out, _, _) = redtail(&["--config", &bad, "config", "--print-default"], &[]);
    assert!(out.status.success());
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let (out, script, stderr) = redtail(&["completions", "bash"], &[]);
    assert!(out.status.success(), "{stderr}");
    assert!(
        script.contains("redtail") && script.contains("tail"),
        "{script}"
    );
    assert!(script.contains("--profile") && script.contains("dead-letter"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (out, script, stderr) = redtail(&["completions", shell], &[]);
        assert!(
            out.status.success() && script.contains("redtail"),
            "{shell}: {stderr}"
        );
    }
    let (out, man, stderr) = redtail(&["man"], &[]);
    assert!(out.status.success(), "{stderr}");
    assert!(
        man.starts_with('.'),
        "not roff: {}",
        &man[..man.len().min(200)]
    );
    assert!(
        man.contains(".TH redtail 1"),
        "{}",
        &man[..man.len().min(400)]
    );
    assert!(
        man.contains("\\-\\-config") || man.contains("config"),
        "{man}"
    );
}

/// A profile's subscriptions and configured keys reach the real TUI: the footer shows the
/// configured key, the key works, and the remapped quit key quits.
#[test]
fn configured_keys_and_profile_reach_the_tui() {
    let server = common::Server::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "[defaults]\ndefault_profile = \"here\"\n\n[keys]\nfilter = \"f\"\nquit = \"Q\"\n\n\
         [profiles.here]\nurl = \"{}\"\nchannels = [\"orders\"]\n",
        server.url()
    );
    let path = write(dir.path(), "tui.toml", &text);
    let file = path.to_string_lossy();
    let t = Duration::from_secs(15);
    let mut tui = common::pty::Tui::spawn(&["--config", &file], 160, 30);
    tui.wait_for("connected", t);
    common::wait_subscribed(&server, 1);
    tui.wait_until("the configured keys in the footer", t, |s| {
        s.contains("f filter") && s.contains("Q quit")
    });
    let _: i64 = server
        .conn()
        .publish("orders", "from-the-profile")
        .unwrap_or_default();
    tui.wait_for("from-the-profile", t);
    // The default `/` no longer filters; `f` does.
    tui.send(b"f");
    tui.wait_for("filter ›", t);
    tui.send(b"\x1b");
    tui.send(b"Q");
    assert_eq!(tui.wait_exit(t), Some(0));
}

/// `redtail man | head -1` and the like: a reader that closes early is not an error
/// (exit 0, nothing on stderr), as for every command's output.
#[test]
fn offline_output_to_a_reader_that_stops_early_is_not_an_error() {
    for args in [
        &["man"][..],
        &["completions", "bash"],
        &["config", "--print-default"],
    ] {
        let mut child = Command::new(common::redtail_bin())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // The reader goes away before the first byte.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}
