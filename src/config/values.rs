//! Value types of the config file that check themselves while they are parsed, so a bad
//! value is reported by the TOML parser with its line, like a syntax error.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::keymap::KeySpec;
use crate::redis::conn::Target;

/// A byte count: `64MiB`-style text (as `--max-bytes` takes) or a plain integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub usize);

impl Size {
    /// The shortest exact text: `64MiB` rather than 67108864.
    pub fn text(self) -> String {
        const UNITS: [(usize, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        UNITS
            .iter()
            .find(|(unit, _)| self.0 >= *unit && self.0.is_multiple_of(*unit))
            .map(|(unit, name)| format!("{}{name}", self.0 / unit))
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as \"64MiB\", \"512KiB\" or a number of bytes")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Size, E> {
                match usize::try_from(n) {
                    Ok(n) if n > 0 => Ok(Size(n)),
                    _ => Err(E::custom("the size must be at least 1 byte")),
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Size, E> {
                self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Size, E> {
                match parse_size(text) {
                    Ok(0) => Err(E::custom("the size must be at least 1 byte")),
                    Ok(n) => Ok(Size(n)),
                    Err(e) => Err(E::custom(e)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Shortest and longest poll interval: faster would load the server for no visible gain
/// (the screen shows seconds), slower would make the panes look frozen.
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// A time span written `500ms`, `2s` or `1m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Duration);

/// Parse `500ms`, `2s` or `1m` (also used by `--poll-interval`).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a time span: write e.g. \"500ms\", \"2s\" or \"1m\"")
    })?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        "" => {
            return Err(format!(
                "{text:?} needs a unit: write \"{n}ms\" or \"{n}s\""
            ))
        }
        other => return Err(format!("unknown time unit {other:?}: use ms, s or m")),
    };
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&duration) {
        return Err(format!("{text:?} is out of range: use 50ms to 1h"));
    }
    Ok(duration)
}

impl Interval {
    pub fn text(self) -> String {
        let ms = self.0.as_millis();
        if ms >= 60_000 && ms.is_multiple_of(60_000) {
            format!("{}m", ms / 60_000)
        } else if ms >= 1000 && ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            format!("{ms}ms")
        }
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Interval, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Interval;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a time span such as \"500ms\", \"2s\" or \"1m\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Interval, E> {
                parse_interval(text).map(Interval).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// An integer setting with a range, whose errors name the setting rather than `i64`.
fn bounded<'de, D: Deserializer<'de>>(
    d: D,
    what: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, D::Error> {
    struct V {
        what: &'static str,
        range: std::ops::RangeInclusive<i64>,
    }
    impl V {
        fn limits(&self) -> String {
            if *self.range.end() == i64::MAX {
                format!("at least {}", self.range.start())
            } else {
                format!("from {} to {}", self.range.start(), self.range.end())
            }
        }
    }
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "{}: a whole number ({})", self.what, self.limits())
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<i64, E> {
            if self.range.contains(&n) {
                Ok(n)
            } else {
                Err(E::custom(format!(
                    "{} must be {}, got {n}",
                    self.what,
                    self.limits()
                )))
            }
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<i64, E> {
            self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
        }
    }
    d.deserialize_i64(V { what, range })
}

/// Frames per second, 1 to 240 (the event loop clamps to the same range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fps(pub u32);

impl<'de> Deserialize<'de> for Fps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fps, D::Error> {
        let n = bounded(d, "fps", 1..=240)?;
        Ok(Fps(u32::try_from(n).unwrap_or(240)))
    }
}

/// How many messages the feed keeps; at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MessageCap(pub usize);

impl<'de> Deserialize<'de> for MessageCap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MessageCap, D::Error> {
        let n = bounded(d, "max_messages", 1..=i64::MAX)?;
        Ok(MessageCap(usize::try_from(n).unwrap_or(usize::MAX)))
    }
}

/// The `theme` setting and `--theme` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ThemeChoice {
    #[default]
    Dark,
    Light,
    /// Light when `$COLORFGBG` says the background is light.
    Auto,
}

/// The palette the TUI draws with, for a dark or a light terminal background: the
/// resolved `theme` setting. Only data here; `ui::theme` maps it to colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

impl ThemeChoice {
    pub fn name(self) -> &'static str {
        match self {
            ThemeChoice::Dark => "dark",
            ThemeChoice::Light => "light",
            ThemeChoice::Auto => "auto",
        }
    }

    /// `auto` reads `$COLORFGBG` ("fg;bg", set by rxvt, Konsole, iTerm2 and others): its
    /// last field is the background's colour index, 7 and 9–15 being light ones. Without
    /// it we cannot tell, and most terminals are dark.
    pub fn resolve(self, colorfgbg: Option<&str>) -> Theme {
        match self {
            ThemeChoice::Dark => Theme::Dark,
            ThemeChoice::Light => Theme::Light,
            ThemeChoice::Auto => {
                let background = colorfgbg
                    .and_then(|v| v.rsplit(';').next())
                    .and_then(|bg| bg.trim().parse::<u8>().ok());
                match background {
                    Some(7 | 9..=15) => Theme::Light,
                    _ => Theme::Dark,
                }
            }
        }
    }
}

/// `password_env`: the name of an environment variable, never a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvName(pub String);

impl TryFrom<String> for EnvName {
    type Error = String;
    fn try_from(name: String) -> Result<EnvName, String> {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(EnvName(name))
        } else {
            // The value is not repeated: if someone pasted the password here, this error
            // must not print it.
            Err(
                "password_env must be the NAME of an environment variable (letters, digits \
                 and _, e.g. \"STAGING_REDIS_PASSWORD\"), not the password itself"
                    .into(),
            )
        }
    }
}

impl From<EnvName> for String {
    fn from(e: EnvName) -> String {
        e.0
    }
}

/// A profile's `url`: checked like a command-line URL, and refused if it holds a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProfileUrl(pub String);

impl TryFrom<String> for ProfileUrl {
    type Error = String;
    fn try_from(url: String) -> Result<ProfileUrl, String> {
        let target = Target::parse_url(&url).map_err(|e| format!("{e:#}"))?;
        if target.password.is_some() {
            return Err(
                "this URL contains a password, and the config file must not hold \
                        secrets: remove it from the URL, put it in an environment variable \
                        and name that variable with password_env (or use REDISCLI_AUTH)"
                    .into(),
            );
        }
        Ok(ProfileUrl(url))
    }
}

impl From<ProfileUrl> for String {
    fn from(u: ProfileUrl) -> String {
        u.0
    }
}

/// A `password = …` key in a profile. It always fails to parse, with an error that says
/// what to do instead; the value is never looked at, so it cannot end up in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForbiddenPassword;

impl<'de> Deserialize<'de> for ForbiddenPassword {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<ForbiddenPassword, D::Error> {
        Err(de::Error::custom(
            "passwords are not read from the config file: put the password in an \
             environment variable and name it with password_env = \"VARIABLE_NAME\", or \
             set REDISCLI_AUTH",
        ))
    }
}

/// One key or a list of keys bound to a command in `[keys]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyList(pub Vec<KeySpec>);

/// The named keys a config file can use, in the words `KeySpec::parse` accepts.
const NAMED_KEYS: &str =
    "enter, esc, tab, shift-tab, space, backspace, up, down, left, right, pgup, pgdn, home, end";

pub fn parse_key(text: &str) -> Result<KeySpec, String> {
    KeySpec::parse(text.trim()).ok_or_else(|| {
        format!(
            "{text:?} is not a key: use one character (\"q\"), a named key ({NAMED_KEYS}) \
             or a chord (\"ctrl-x\", \"alt-x\")"
        )
    })
}

/// The config-file spelling of a key: `ctrl-b`, `pgup`, `G`, `space` (what
/// [`parse_key`] reads back).
pub fn key_name(key: &KeySpec) -> String {
    use crossterm::event::{KeyCode, KeyModifiers};
    let mut out = String::new();
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        out.push_str("ctrl-");
    }
    if key.modifiers.contains(KeyModifiers::ALT) {
        out.push_str("alt-");
    }
    match key.code {
        KeyCode::Char(' ') => out.push_str("space"),
        KeyCode::Char(c) => out.push(c),
        KeyCode::Enter => out.push_str("enter"),
        KeyCode::Esc => out.push_str("esc"),
        KeyCode::Tab => out.push_str("tab"),
        KeyCode::BackTab => out.push_str("shift-tab"),
        KeyCode::Up => out.push_str("up"),
        KeyCode::Down => out.push_str("down"),
        KeyCode::Left => out.push_str("left"),
        KeyCode::Right => out.push_str("right"),
        KeyCode::PageUp => out.push_str("pgup"),
        KeyCode::PageDown => out.push_str("pgdn"),
        KeyCode::Home => out.push_str("home"),
        KeyCode::End => out.push_str("end"),
        KeyCode::Backspace => out.push_str("backspace"),
        // Not parseable from a config file; shown as the keymap shows it.
        _ => out.push_str(&key.to_string()),
    }
    out
}

impl Serialize for KeyList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let [one] = self.0.as_slice() {
            return s.serialize_str(&key_name(one));
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for key in &self.0 {
            seq.serialize_element(&key_name(key))?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for KeyList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyList, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key such as \"q\" or \"ctrl-c\", or a list of keys")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<KeyList, E> {
                parse_key(text).map(|k| KeyList(vec![k])).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyList, A::Error> {
                let mut keys = Vec::new();
                while let Some(text) = seq.next_element::<String>()? {
                    let key = parse_key(&text).map_err(de::Error::custom)?;
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                Ok(KeyList(keys))
            }
        }
        d.deserialize_any(V)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_print_back() {
        for (text, ms) in [
            ("500ms", 500),
            ("2s", 2000),
            ("1m", 60_000),
            ("1500ms", 1500),
        ] {
            let d = parse_interval(text);
            assert_eq!(d, Ok(Duration::from_millis(ms)), "{text}");
            assert_eq!(Interval(Duration::from_millis(ms)).text(), text);
        }
        assert!(parse_interval("5").is_err_and(|e| e.contains("needs a unit")));
        assert!(parse_interval("10ms").is_err_and(|e| e.contains("50ms to 1h")));
        assert!(parse_interval("2h").is_err());
        assert!(parse_interval("1.5s").is_err());
    }

    #[test]
    fn sizes_print_in_the_largest_exact_unit() {
        assert_eq!(Size(64 << 20).text(), "64MiB");
        assert_eq!(Size(1536).text(), "1536");
        assert_eq!(Size(3 << 10).text(), "3KiB");
        assert_eq!(Size(1 << 30).text(), "1GiB");
    }

    #[test]
    fn env_names_refuse_what_looks_like_a_password() {
        assert!(EnvName::try_from("STAGING_PASS".to_string()).is_ok());
        assert!(EnvName::try_from("_x1".to_string()).is_ok());
        for bad in ["", "1ABC", "hunter2!", "p@ss word"] {
            let err = EnvName::try_from(bad.to_string());
            assert!(err.is_err(), "{bad}");
            if !bad.is_empty() {
                assert!(!err.unwrap_err().contains(bad), "{bad} must not be echoed");
            }
        }
    }

    #[test]
    fn profile_urls_must_not_hold_passwords() {
        assert!(ProfileUrl::try_from("redis://user@h:1/2".to_string()).is_ok());
        let err = ProfileUrl::try_from("redis://user:hunter2@h:1".to_string());
        assert!(err.is_err_and(|e| e.contains("password_env") && !e.contains("hunter2")));
        assert!(ProfileUrl::try_from("http://h".to_string()).is_err());
    }

    #[test]
    fn key_names_round_trip_through_the_parser() {
        for text in [
            "q",
            "G",
            "?",
            "ctrl-b",
            "alt-x",
            "space",
            "enter",
            "esc",
            "tab",
            "shift-tab",
            "up",
            "pgdn",
            "home",
            "ctrl-pgup",
        ] {
            let key = parse_key(text);
            assert_eq!(key.as_ref().map(key_name).as_deref(), Ok(text), "{text}");
        }
        assert!(parse_key("ctl-x").is_err_and(|e| e.contains("not a key")));
    }

    #[test]
    fn auto_theme_reads_colorfgbg() {
        assert_eq!(ThemeChoice::Auto.resolve(Some("0;15")), Theme::Light);
        assert_eq!(ThemeChoice::Auto.resolve(Some("15;default;0")), Theme::Dark);
        assert_eq!(ThemeChoice::Auto.resolve(None), Theme::Dark);
        assert_eq!(ThemeChoice::Light.resolve(Some("15;0")), Theme::Light);
    }
}
