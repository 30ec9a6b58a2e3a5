//! "Untrusted bytes never reach the terminal raw" for the errors a person reads on stderr:
//! a config file's keys and values, a URL, a host, a filter, a profile name and values clap
//! rejects are quoted escaped (`\x1b`, `\u{202e}`), and the filter's caret still points at
//! the right column of the escaped expression.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

/// Run the binary with a fresh config dir (no file from the developer's machine).
fn redtail(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    Command::new(common::redtail_bin())
        .args(args)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove("REDTAIL_CONFIG")
        .env_remove("REDISCLI_AUTH")
        .output()
        .unwrap_or_else(|e| panic!("running redtail: {e}"))
}

/// What in `bytes` would act on a terminal instead of being shown: C0 controls other
/// than `\n` and `\t`, DEL, bytes that are not UTF-8 (a lone 0x9b is CSI in 8-bit mode),
/// C1 controls and bidi controls.
fn raw_controls(bytes: &[u8]) -> Vec<String> {
    let mut found: Vec<String> = bytes
        .iter()
        .filter(|&&b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f)
        .map(|b| format!("byte {b:#04x}"))
        .collect();
    match std::str::from_utf8(bytes) {
        Err(e) => found.push(format!("not UTF-8: {e}")),
        Ok(text) => found.extend(
            text.chars()
                .filter(
                    |c| matches!(u32::from(*c), 0x80..=0x9f | 0x202a..=0x202e | 0x2066..=0x2069),
                )
                .map(|c| format!("char {c:?}")),
        ),
    }
    found
}

/// Runs `args`, checks stdout and stderr hold nothing raw, and returns stderr.
fn stderr_of(args: &[&str]) -> String {
    let out = redtail(args);
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let raw = raw_controls(bytes);
        assert!(
            raw.is_empty(),
            "{args:?}: {name} holds {raw:?}: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert_ne!(out.status.code(), Some(0), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path.to_string_lossy().into_owned()
}

/// The error names the bad thing (escaped) on one line: a line break inside it was
/// escaped too, so it cannot start a line of its own.
fn assert_names(stderr: &str, escaped: &str) {
    let line = stderr.lines().find(|l| l.contains(escaped));
    assert!(
        line.is_some(),
        "stderr should quote {escaped:?}: {stderr:?}"
    );
}

#[test]
fn error_messages_never_print_control_bytes_raw() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let dir = dir.path();

    // A config key with ESC, BEL and a C1 CSI (TOML \u escapes: the file itself is clean).
    let key = write(
        dir,
        "key.toml",
        "[defaults]\n\"\\u001b]0;pwn\\u0007evil\\u009b\" = 1\n",
    );
    let err = stderr_of(&["--config", &key, "config", "--check"]);
    assert_names(&err, r"unknown field `\x1b]0;pwn\x07evil\u{9b}`");

    // A config value: default_profile naming an undefined profile.
    let value = write(
        dir,
        "value.toml",
        "[defaults]\ndefault_profile = \"\\u001b[31mp\\u202e\"\n",
    );
    let err = stderr_of(&["--config", &value, "config", "--check"]);
    assert_names(&err, r"default_profile names `\x1b[31mp\u{202e}`");
    let newline = write(dir, "nl.toml", "[defaults]\ndefault_profile = \"a\\nb\"\n");
    let err = stderr_of(&["--config", &newline, "config", "--check"]);
    assert_names(&err, r"default_profile names `a\nb`");
    assert_eq!(err.lines().count(), 1, "{err:?}");

    // A profile named on the command line, and the names the file defines.
    let profiles = write(dir, "profiles.toml", "[profiles.\"q\\u202er\\r\"]\n");
    let err = stderr_of(&[
        "--config",
        &profiles,
        "-P",
        "\x1b[31mzz\n",
        "config",
        "--check",
    ]);
    assert_names(&err, r"there is no profile `\x1b[31mzz\n`");
    assert_names(&err, r"defined profiles: q\u{202e}r\r");

    // A connection URL, with a line break too.
    let err = stderr_of(&["stats", "redis://\x1b]0;x\x07host:7510"]);
    assert_names(
        &err,
        r"cannot parse connection URL redis://\x1b]0;x\x07host:7510",
    );
    let err = stderr_of(&["stats", "redis://h\n:1"]);
    assert_names(&err, r"cannot parse connection URL redis://h\n:1");
    assert_eq!(err.lines().count(), 1, "{err:?}");

    // A host and user from flags, reported by the subscription engine as it gives up.
    let err = stderr_of(&["tail", "--host", "\x1b]0;x\x07h", "--user", "u\u{9b}"]);
    assert_names(&err, r"redis://u\u{9b}@\x1b]0;x\x07h:6379");

    // A filter, and a message quoting a character of it.
    let err = stderr_of(&["tail", "redis://127.0.0.1:1", "-f", "\x1b[31m("]);
    assert_names(&err, r"  \x1b[31m(");
    let err = stderr_of(&["tail", "redis://127.0.0.1:1", "-f", ".a\x1b == 1"]);
    assert_names(&err, r"unexpected '\x1b' after field path");

    // Values clap rejects: it quotes them (and the tips repeat them) as typed.
    let err = stderr_of(&["--db", "\u{202e}\u{9b}5"]);
    assert_names(&err, r"invalid value '\u{202e}\u{9b}5' for '--db <DB>'");
    let err = stderr_of(&["tail", "--decode", "x\u{202e}\x07"]);
    assert_names(
        &err,
        r"invalid value 'x\u{202e}\x07' for '--decode <DECODER>'",
    );
    assert_names(&err, r"unknown decoder `x\u{202e}\x07`");
    let err = stderr_of(&["--x\u{2066}\u{85}"]);
    assert_names(&err, r"unexpected argument '--x\u{2066}\u{85}' found");
    assert_names(&err, r"use '-- --x\u{2066}\u{85}'");
}

#[test]
fn filter_error_caret_points_under_the_escaped_character() {
    // A wide char (2 columns), a tab (`\t`, 2), ESC (`\x1b`, 4) and U+202E (`\u{202e}`,
    // 8) before the unmatched ')': the caret moves by what each takes on screen.
    let filter = "\u{65e5}\t\x1b\u{202e} )";
    let err = stderr_of(&["tail", "redis://127.0.0.1:1", "--filter", filter]);
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("unmatched ')'"))
        .unwrap_or_else(|| panic!("no filter error: {err:?}"));
    assert!(lines[at].contains("filter error at column 6"), "{err:?}");
    let source = lines.get(at + 1).copied().unwrap_or_default();
    let caret = lines.get(at + 2).copied().unwrap_or_default();
    assert_eq!(source, "  \u{65e5}\\t\\x1b\\u{202e} )", "{err:?}");
    let columns_before = |line: &str, end: usize| -> usize {
        line[..end]
            .chars()
            .map(|c| if c == '\u{65e5}' { 2 } else { 1 })
            .sum()
    };
    let paren = source.find(')').unwrap_or_default();
    assert_eq!(caret.trim_start(), "^", "{err:?}");
    assert_eq!(
        caret.len() - 1,
        columns_before(source, paren),
        "the caret is under the ')':\n{source}\n{caret}"
    );
}
