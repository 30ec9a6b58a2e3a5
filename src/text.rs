//! Engine-independent formatting of figures a person reads: durations and sizes. One
//! formatter per kind, used by the TUI, the headless commands and the JSON-free text
//! outputs alike, so a unit reads the same everywhere.
//!
//! Units are never ambiguous: `ms`, `s`, `min`, `h`, `d` — never a bare `m`, which
//! reads as minutes to some and metres or milli- to others (`699m` was 699 ms).
//!
//! [`escape`] turns untrusted bytes into text that is safe on a terminal: the one escaper.

pub mod escape;

/// A duration in milliseconds, compact for table cells:
/// `850ms`, `4.2s`, `12s`, `5min03s`, `2h05min`, `3d04h`.
pub fn duration_ms(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0 => format!("{ms}ms"),
        1..=9 => format!("{secs}.{}s", (ms % 1000) / 100),
        10..=59 => format!("{secs}s"),
        60..=3599 => format!("{}min{:02}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h{:02}min", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{:02}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

/// [`duration_ms`] for a signed time difference; negative (clock skew) reads as 0.
pub fn duration(delta: chrono::TimeDelta) -> String {
    duration_ms(u64::try_from(delta.num_milliseconds()).unwrap_or(0))
}

/// Whole seconds (CLIENT LIST counts no finer): `7s`, `5min03s`.
pub fn duration_secs(secs: u64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else {
        duration_ms(secs.saturating_mul(1000))
    }
}

/// Seconds with one decimal, for countdowns: `2.1s`.
pub fn seconds_tenths(delta: chrono::TimeDelta) -> String {
    let ms = delta.num_milliseconds().max(0);
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

/// 4404019 → `4.2 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// 1284 → "1,284".
/// A count with its noun, singular for one: "1 consumer", "3 consumers", "1,204 entries".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_have_unambiguous_units() {
        assert_eq!(duration_ms(0), "0ms");
        assert_eq!(duration_ms(699), "699ms");
        assert_eq!(duration_ms(4_250), "4.2s");
        assert_eq!(duration_ms(12_345), "12s");
        assert_eq!(duration_ms(303_000), "5min03s");
        assert_eq!(duration_ms(7_500_000), "2h05min");
        assert_eq!(duration_ms(273_600_000), "3d04h");
        assert_eq!(duration(chrono::TimeDelta::seconds(-3)), "0ms");
        assert_eq!(duration_secs(7), "7s");
        assert_eq!(duration_secs(303), "5min03s");
        assert_eq!(
            seconds_tenths(chrono::TimeDelta::milliseconds(2_150)),
            "2.1s"
        );
        // No formatter output ever ends a number with a bare "m".
        for ms in [
            1, 999, 1_000, 59_999, 60_000, 3_599_999, 3_600_000, 86_400_000,
        ] {
            let s = duration_ms(ms);
            assert!(
                !s.ends_with('m') && !s.contains("m0") || s.contains("min"),
                "{s}"
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(4_404_019), "4.2 MiB");
    }
}
