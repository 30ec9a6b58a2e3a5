//! The config file: `[defaults]`, connection `[profiles.NAME]` and `[keys]`, read from
//! the platform config dir (or `--config` / `REDTAIL_CONFIG`).
//!
//! Precedence, later wins: built-in defaults → `[defaults]` → the selected profile →
//! environment (`REDISCLI_AUTH`) → command-line flags. Resolution is in `resolve.rs`.
//!
//! Every table denies unknown fields and every value checks itself while parsing, so a
//! typo is reported with its file, line and column instead of being silently ignored.
//! The file never holds secrets: a profile names the environment variable that does.

mod decode;
mod keys;
mod resolve;
pub mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::keymap::Keymap;
use crate::text::escape::escape_str;
pub use decode::{DecodeRules, DecodeSection, DecoderName, ProtobufSection};
pub use keys::{command_name, place_name, places, KeyTable, KeysSection};
pub use resolve::{
    check_report, resolve_connection, Connection, PasswordSource, SelectedProfile, TuiSettings,
};
use values::{
    EnvName, ForbiddenPassword, Fps, Interval, MessageCap, ProfileUrl, Size, ThemeChoice,
};

/// The documented default config; `redtail config --print-default` prints exactly this.
pub const DEFAULT_CONFIG: &str = include_str!("../../assets/default-config.toml");

/// Alternative to `--config PATH`.
pub const CONFIG_ENV: &str = "REDTAIL_CONFIG";

pub const BUILTIN_MAX_MESSAGES: usize = 100_000;
pub const BUILTIN_MAX_BYTES: usize = 64 << 20;
pub const BUILTIN_FPS: u32 = 30;
pub const BUILTIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The whole file as written. Absent keys are `None`/empty: resolution fills them from
/// the built-in defaults, so "not set" and "set to the default" stay distinguishable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default, skip_serializing_if = "KeysSection::is_empty")]
    pub keys: KeysSection,
    /// Channel glob → decoder (`[decode] "socket.io#*" = "msgpack"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub decode: DecodeSection,
    /// Protobuf descriptor sets for `protobuf:TYPE` decoders (`[protobuf] proto = […]`).
    #[serde(default, skip_serializing_if = "ProtobufSection::is_empty")]
    pub protobuf: ProtobufSection,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<MessageCap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<Size>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<Fps>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<Interval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<ThemeChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// `""` means none (so the documented default file can list the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<Spanned<String>>,
}

impl Defaults {
    /// Every option set to its built-in value: what `assets/default-config.toml` says.
    pub fn builtin() -> Defaults {
        Defaults {
            max_messages: Some(MessageCap(BUILTIN_MAX_MESSAGES)),
            max_bytes: Some(Size(BUILTIN_MAX_BYTES)),
            fps: Some(Fps(BUILTIN_FPS)),
            poll_interval: Some(Interval(BUILTIN_POLL_INTERVAL)),
            theme: Some(ThemeChoice::Dark),
            read_only: Some(false),
            default_profile: Some(Spanned::new(0..0, String::new())),
        }
    }

    fn default_profile(&self) -> Option<&Spanned<String>> {
        self.default_profile
            .as_ref()
            .filter(|name| !name.get_ref().is_empty())
    }
}

/// Where to connect and what to watch, chosen with `-P NAME`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<ProfileUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<EnvName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shard_channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream_globs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    /// Only here to refuse `password = …` with advice instead of "unknown field".
    #[serde(default, skip_serializing)]
    pub password: Option<ForbiddenPassword>,
}

/// A config file that cannot be used, with the place to fix. The message never repeats
/// the offending line: it could be a pasted password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} line {}, column {}: {}",
            shown_path(&self.path),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// The config in force: the parsed file (empty when there is none) and its keymap.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Where the file is read from; `None` when this system has no config directory.
    pub path: Option<PathBuf>,
    /// False when there was no file and the built-in defaults apply.
    pub found: bool,
    pub file: ConfigFile,
    pub keymap: Keymap,
}

impl Loaded {
    /// No file: built-in defaults only.
    pub fn builtin(path: Option<PathBuf>) -> Loaded {
        Loaded {
            path,
            found: false,
            file: ConfigFile::default(),
            keymap: Keymap::default(),
        }
    }
}

/// `<platform config dir>/config.toml`, e.g. `~/.config/redtail/config.toml` on Linux.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "redtail", "redtail")
        .map(|dirs| dirs.config_dir().join("config.toml"))
}

/// Read the config: `explicit` (from `--config` or `REDTAIL_CONFIG`) must exist; the
/// default file may be missing, and then the built-in defaults apply.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Loaded> {
    if let Some(path) = explicit {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the config file {} (given with --config or {CONFIG_ENV}); \
                 check the path, or run `redtail config --print-default > FILE` to start one",
                shown_path(path)
            )
        })?;
        return Ok(parse(path, &text)?);
    }
    let Some(path) = default_path() else {
        return Ok(Loaded::builtin(None));
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(parse(&path, &text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Loaded::builtin(Some(path))),
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot read the config file {}; fix its permissions, or point --config at \
                 another file",
                shown_path(&path)
            )
        }),
    }
}

/// Parse and check a config file's text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, ConfigError> {
    let error = |span: Range<usize>, message: String| {
        let (line, column) = position(text, span.start);
        ConfigError {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let file: ConfigFile = toml::from_str(text).map_err(|e| {
        // Multi-line parser messages ("invalid table header\nexpected …") fit one line.
        let mut message = e.message().trim().replace('\n', "; ");
        if message.starts_with("unknown field") || message.starts_with("unknown variant") {
            message.push_str(" (`redtail config --print-default` shows every option)");
        }
        error(e.span().unwrap_or(0..0), message)
    })?;
    if let Some(name) = file.defaults.default_profile() {
        if !file.profiles.contains_key(name.get_ref()) {
            return Err(error(
                name.span(),
                format!(
                    "default_profile names `{}`, which is not defined: {}",
                    escape_str(name.get_ref()),
                    profile_list(&file.profiles)
                ),
            ));
        }
    }
    let keymap = keys::build(&file.keys).map_err(|e| error(e.span, e.message))?;
    Ok(Loaded {
        path: Some(path.to_path_buf()),
        found: true,
        file,
        keymap,
    })
}

/// "defined profiles: a, b" or advice on adding one, for errors about a missing profile.
fn profile_list(profiles: &BTreeMap<String, Profile>) -> String {
    if profiles.is_empty() {
        "no profiles are defined; add a [profiles.NAME] table".into()
    } else {
        let names: Vec<_> = profiles.keys().map(|n| escape_str(n)).collect();
        format!("defined profiles: {}", names.join(", "))
    }
}

/// A path as an error message shows it: escaped like every quoted name, so a line break
/// in it (from `--config` or the environment) cannot start a line of its own.
fn shown_path(path: &Path) -> String {
    escape_str(&path.display().to_string()).into_owned()
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Loaded, ConfigError> {
        parse(Path::new("/x/config.toml"), text)
    }

    /// `--help`, the README and the default config file all name the real default theme.
    #[test]
    fn the_documented_theme_default_is_the_real_one() {
        let builtin = Defaults::builtin().theme.map(ThemeChoice::name);
        assert_eq!(builtin, Some(ThemeChoice::default().name()));
        let name = ThemeChoice::default().name();
        let readme = include_str!("../../README.md");
        assert!(readme.contains(&format!("theme = \"{name}\"            # the default")));
        let config = include_str!("../../assets/default-config.toml");
        assert!(config.contains(&format!("theme = \"{name}\"")));
        let help = include_str!("../cli.rs");
        assert!(help.contains(&format!("background is light [default: {name}]")));
    }

    fn line_of(text: &str) -> Option<usize> {
        parse_text(text).err().map(|e| e.line)
    }

    #[test]
    fn the_default_file_is_the_builtin_defaults() {
        let loaded = parse_text(DEFAULT_CONFIG);
        let loaded = loaded.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.file.defaults, Defaults::builtin());
        assert_eq!(loaded.keymap, Keymap::default());
        assert!(loaded.file.profiles.is_empty());
    }

    #[test]
    fn errors_point_at_the_line_and_column() {
        let text = "[defaults]\nfps = 30\n\n[profiles.a]\nhost = \"h\"\n  pasword = \"x\"\n";
        let err = parse_text(text).err();
        let err = err.as_ref();
        assert_eq!(err.map(|e| (e.line, e.column)), Some((6, 3)), "{err:?}");
        assert!(err.is_some_and(|e| e.message.contains("unknown field `pasword`")));
        assert!(err.is_some_and(|e| e
            .to_string()
            .starts_with("/x/config.toml line 6, column 3: ")));
    }

    #[test]
    fn wrong_types_and_ranges_are_reported_where_they_are() {
        assert_eq!(line_of("[defaults]\n\nfps = \"fast\"\n"), Some(3));
        assert_eq!(line_of("[defaults]\nfps = 0\n"), Some(2));
        assert_eq!(line_of("[defaults]\nmax_bytes = \"12 parsecs\"\n"), Some(2));
        assert_eq!(line_of("[defaults]\npoll_interval = \"5\"\n"), Some(2));
        assert_eq!(line_of("[defaults]\ntheme = \"pink\"\n"), Some(2));
        assert_eq!(
            line_of("[keys]\nquit = \"q\"\nfilter = \"ctl-f\"\n"),
            Some(3)
        );
        assert_eq!(line_of("[keys]\n\nquitt = \"q\"\n"), Some(3));
        assert_eq!(line_of("[defaults]\ndefault_profile = \"nope\"\n"), Some(2));
        assert_eq!(line_of("[profiles.p]\nport = 70000\n"), Some(2));
        assert_eq!(line_of("[defaults\n"), Some(1));
    }

    #[test]
    fn a_password_in_a_profile_is_refused_without_echoing_it() {
        let text = "[profiles.p]\nurl = \"redis://h\"\npassword = \"hunter2\"\n";
        let err = parse_text(text).err();
        assert_eq!(err.as_ref().map(|e| e.line), Some(3));
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("password_env"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        let in_url = parse_text("[profiles.p]\n\nurl = \"redis://u:hunter2@h\"\n").err();
        assert_eq!(in_url.as_ref().map(|e| e.line), Some(3));
        assert!(!in_url
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("hunter2"));
    }

    #[test]
    fn key_conflicts_name_the_line_of_the_entry() {
        let text = "[keys]\nquit = \"q\"\nfilter = \"e\"\n";
        let err = parse_text(text).err();
        assert_eq!(err.as_ref().map(|e| e.line), Some(3), "{err:?}");
    }

    /// Every (place, command) of the key table is documented in the default config.
    #[test]
    fn the_default_file_lists_every_key() {
        let loaded = parse_text(DEFAULT_CONFIG).unwrap_or_else(|e| panic!("{e}"));
        for b in Keymap::default().bindings() {
            if b.scope == crate::keymap::Scope::Always {
                continue;
            }
            let listed = loaded
                .file
                .keys
                .places
                .get(&b.scope)
                .is_some_and(|t| t.contains_key(&b.command));
            assert!(
                listed,
                "assets/default-config.toml lacks `{}` in [keys.{}]: regenerate its [keys.*] \
                 tables with `cargo test --lib default_keys_tables -- --ignored --nocapture`",
                command_name(b.command),
                place_name(b.scope)
            );
        }
    }

    /// Prints the `[keys.*]` tables of `assets/default-config.toml` from the key table.
    #[test]
    #[ignore = "a generator, run by hand when the key table changes"]
    fn default_keys_tables() {
        let keymap = Keymap::default();
        for scope in places() {
            println!("\n# {}", scope.title());
            println!("[keys.{}]", place_name(scope));
            let mut seen = Vec::new();
            for b in keymap.bindings().iter().filter(|b| b.scope == scope) {
                if seen.contains(&b.command) {
                    continue;
                }
                seen.push(b.command);
                let keys: Vec<String> = keymap
                    .keys_for(scope, b.command)
                    .iter()
                    .map(|k| format!("{:?}", values::key_name(k)))
                    .collect();
                let keys = match keys.as_slice() {
                    [one] => one.clone(),
                    _ => format!("[{}]", keys.join(", ")),
                };
                let entry = format!("{} = {keys}", command_name(b.command));
                println!("{entry:<32} # {}", b.command.describe());
            }
        }
    }

    #[test]
    fn positions_count_characters() {
        assert_eq!(position("ab\ncé d", 7), (2, 4));
        assert_eq!(position("", 5), (1, 1));
    }
}
