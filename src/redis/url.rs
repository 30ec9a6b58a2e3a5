//! `redis://[user[:pass]@]host[:port][/db][?query]` taken apart by hand.
//!
//! A general URL parser ends the authority at the first `/`, `?` or `#`, so a pasted
//! password such as `K9x/Qz+Ab3Pw==` becomes a "port" and part of it ends up in the
//! error. Like Python's urllib we take the userinfo as everything up to the *last* `@`
//! and accept it when what follows is a valid host part. Nothing here ever puts the
//! password into an error message.

use anyhow::Result;

/// The parts of a connection URL, decoded.
#[derive(Debug, PartialEq, Eq)]
pub struct Parts {
    pub tls: bool,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
}

const EXPECTED: &str = "expected redis://[user:pass@]host[:port][/db] or rediss://…";

const ENCODE_HINT: &str = "if the password contains characters such as / # ? @ : % or spaces, \
     percent-encode them (/ → %2F, @ → %40, # → %23, ? → %3F, : → %3A, % → %25, space → %20), \
     or leave the password out of the URL and set REDISCLI_AUTH (or --pass)";

pub fn parse(input: &str) -> Result<Parts> {
    let fail = |what: &str| -> anyhow::Error {
        let hint = if input.contains('@') {
            format!("; {ENCODE_HINT}")
        } else {
            String::new()
        };
        // Escaped: a pasted URL may hold anything, a line break included.
        anyhow::anyhow!(
            "cannot parse connection URL {}: {what} ({EXPECTED}){hint}",
            crate::text::escape::escape_str(&redact(input))
        )
    };
    let Some((scheme, rest)) = input.split_once("://") else {
        return Err(fail("no scheme"));
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "redis" => false,
        "rediss" => true,
        _ => {
            // The scheme is everything before "://"; it cannot hold the password.
            return Err(fail(&format!(
                "unsupported scheme {scheme:?}: use redis:// or rediss://"
            )));
        }
    };
    let (userinfo, hostpart) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (host, port, db) = parse_host_part(hostpart).map_err(|what| fail(&what))?;
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (user, pass) = match u.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (u, None),
            };
            let user = Some(decode(user).ok_or_else(|| fail("the user name is not valid UTF-8"))?)
                .filter(|u| !u.is_empty());
            let pass = match pass.filter(|p| !p.is_empty()) {
                None => None,
                Some(p) => Some(decode(p).ok_or_else(|| {
                    fail("the password's percent-escapes do not decode to UTF-8")
                })?),
            };
            (user, pass)
        }
    };
    Ok(Parts {
        tls,
        host,
        port,
        username,
        password,
        db,
    })
}

/// Decode percent-escapes once. A `%` that does not start a valid escape stays as it is,
/// so a raw `%` in a pasted password works.
fn decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

type HostPart = (Option<String>, Option<u16>, i64);

/// `host[:port][/db][?query][#fragment]`; the query and fragment are ignored. The error
/// text quotes only parts of this string, which never holds the password.
fn parse_host_part(s: &str) -> Result<HostPart, String> {
    let s = s.split_once('#').map_or(s, |(before, _)| before);
    let s = s.split_once('?').map_or(s, |(before, _)| before);
    let (hostport, path) = s.split_once('/').unwrap_or((s, ""));
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return Err("an IPv6 address needs a closing ]".into());
        };
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || ":.%".contains(c))
        {
            return Err(format!("{addr:?} is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("text after the IPv6 address ]")?),
        };
        (Some(addr.to_string()), port)
    } else {
        let (host, port) = match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        };
        let valid = |c: char| c.is_alphanumeric() || "-._".contains(c);
        if !host.chars().all(valid) {
            return Err(format!("{host:?} is not a host name"));
        }
        (Some(host.to_string()).filter(|h| !h.is_empty()), port)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("the port must be a number from 1 to 65535, got {p:?}"))?,
        ),
    };
    let db = match path.trim_end_matches('/') {
        "" => 0,
        d => d
            .parse::<i64>()
            .map_err(|_| format!("the database must be a number, got {d:?}"))?,
    };
    Ok((host, port, db))
}

/// `input` with the password replaced by `***`, for messages about URLs. Takes the
/// userinfo as everything up to the last `@`, like [`parse`], so whatever the password
/// holds it is never shown.
pub fn redact(input: &str) -> String {
    let (scheme, rest) = match input.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, input),
    };
    let Some((userinfo, after)) = rest.rsplit_once('@') else {
        return input.to_string();
    };
    let userinfo = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => userinfo.to_string(),
    };
    match scheme {
        Some(s) => format!("{s}://{userinfo}@{after}"),
        None => format!("{userinfo}@{after}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ODD: &[&str] = &[
        "K9x/Qz+Ab3Pw==",
        "a#b",
        "a?b=c",
        "Pq3@Zx7@Wv5",
        "Kc1:Lm2:Nb4",
        "100%",
        "%zz%4",
        "Hs8 a Tq6",
        "Al9/#?@:% Gr7 Jw3",
        "/",
        "@",
    ];

    #[test]
    fn raw_odd_passwords_are_accepted_up_to_the_last_at() {
        for pw in ODD {
            let url = format!("redis://app:{pw}@cache.example.com:6380/2");
            let p = parse(&url).unwrap_or_else(|e| panic!("{pw:?}: {e}"));
            assert_eq!(p.password.as_deref(), Some(*pw), "{url}");
            assert_eq!(p.username.as_deref(), Some("app"));
            assert_eq!(p.host.as_deref(), Some("cache.example.com"));
            assert_eq!((p.port, p.db), (Some(6380), 2));
        }
    }

    #[test]
    fn percent_encoded_passwords_are_decoded_once() {
        let p = parse("redis://:K9x%2FQz%2BAb3Pw%3D%3D@h").unwrap();
        assert_eq!(p.password.as_deref(), Some("K9x/Qz+Ab3Pw=="));
        let p = parse("redis://u:a%2540b@h").unwrap();
        assert_eq!(p.password.as_deref(), Some("a%40b"));
        let p = parse("redis://u:has%20a%20space@h").unwrap();
        assert_eq!(p.password.as_deref(), Some("has a space"));
    }

    #[test]
    fn hosts_ports_queries_and_ipv6() {
        let p = parse("rediss://[::1]:7000/3?protocol=resp3").unwrap();
        assert!(p.tls);
        assert_eq!(p.host.as_deref(), Some("::1"));
        assert_eq!((p.port, p.db), (Some(7000), 3));
        let p = parse("redis://").unwrap();
        assert_eq!((p.host, p.port, p.password), (None, None, None));
        let p = parse("redis://alice@h").unwrap();
        assert_eq!((p.username.as_deref(), p.password), (Some("alice"), None));
    }

    #[test]
    fn password_is_never_printed_for_any_character() {
        for pw in ODD {
            for tail in [
                "h:notaport",
                "h:99999",
                "h/x",
                "bad host",
                "[::1",
                "h:1/0/1",
            ] {
                let url = format!("redis://app:{pw}@{tail}");
                let err = format!("{:#}", parse(&url).unwrap_err());
                assert!(err.contains("redis://app:***@"), "{err}");
                assert!(
                    err.contains("%2F") && err.contains("REDISCLI_AUTH"),
                    "{err}"
                );
                // Every piece of the password that is long enough to mean anything.
                for piece in pw.split(|c: char| "/#?@:% ".contains(c)) {
                    if piece.len() >= 3 {
                        let shown = err.replace(&format!("redis://app:***@{tail}"), "");
                        assert!(!shown.contains(piece), "{pw:?} leaked in {err}");
                    }
                }
            }
        }
        let err = parse("http://u:topsecret@h").unwrap_err().to_string();
        assert!(
            !err.contains("topsecret") && err.contains("redis://"),
            "{err}"
        );
        let err = parse("u:topsecret@h").unwrap_err().to_string();
        assert!(!err.contains("topsecret"), "{err}");
    }

    #[test]
    fn redact_replaces_the_password_whatever_it_holds() {
        assert_eq!(
            redact("redis://app:K9x/Qz+Ab3Pw==@host:6379"),
            "redis://app:***@host:6379"
        );
        assert_eq!(redact("redis://u:a@b@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        assert_eq!(redact("redis://:p@h"), "redis://:***@h");
    }
}
