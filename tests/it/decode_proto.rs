//! Protobuf WITH a schema: a real `.proto` compiled by a real protoc (grpcio-tools'
//! `python3 -m grpc_tools.protoc`, or `protoc` — `scripts/ensure-deps.sh` installs
//! them) into a descriptor set, messages encoded by Python's `protobuf` package and
//! published through a real server into `redtail tail --decode protobuf:shop.Order
//! --proto set.pb`; what tail decodes is compared with `json_format.MessageToDict`.

use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{redtail_bin, wait_subscribed, Proc, Server};
use redis::Commands;
use serde_json::Value;

const T: Duration = Duration::from_secs(10);

/// Nested message, enum, repeated packed ints, a map, int64s, bytes, a oneof, and a type
/// from an imported file (so the set needs `--include_imports`): the same file the unit
/// tests compile (`src/decode/schema_tests_shop.proto`).
pub const SHOP_PROTO: &str = include_str!("../../src/decode/schema_tests_shop.proto");

pub const MONEY_PROTO: &str = r#"
syntax = "proto3";
package shop;
message Money {
  string currency = 1;
  int64 units = 2;
}
"#;

/// A folder with the two `.proto` files, `set.pb` (the descriptor set) and `shop_pb2.py`.
pub struct Protos {
    pub dir: tempfile::TempDir,
}

impl Protos {
    pub fn compile() -> Protos {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        write("shop.proto", SHOP_PROTO);
        write("money.proto", MONEY_PROTO);
        let output = Command::new("python3")
            .current_dir(dir.path())
            .args([
                "-m",
                "grpc_tools.protoc",
                "-I.",
                "--include_imports",
                "--descriptor_set_out=set.pb",
                "--python_out=.",
                "shop.proto",
                "money.proto",
            ])
            .output()
            .unwrap_or_else(|e| panic!("python3: {e}"));
        assert!(
            output.status.success(),
            "grpc_tools.protoc failed (run scripts/ensure-deps.sh for protobuf and \
             grpcio-tools): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Protos { dir }
    }

    pub fn set(&self) -> PathBuf {
        self.dir.path().join("set.pb")
    }

    pub fn set_arg(&self) -> String {
        self.set().display().to_string()
    }

    /// Run `script` with `shop_pb2`/`money_pb2` importable; each `out(bytes)` prints a
    /// payload, each `dict(msg)` its `MessageToDict` (proto field names) as JSON.
    pub fn python(&self, script: &str) -> Vec<String> {
        let prelude = "import json, gzip, sys\n\
                       sys.path.insert(0, '.')\n\
                       import shop_pb2, money_pb2\n\
                       from google.protobuf import json_format\n\
                       def out(b): print('hex:' + b.hex())\n\
                       def dict(m): print('json:' + json.dumps(json_format.MessageToDict(m, \
                       preserving_proto_field_name=True)))\n";
        let output = Command::new("python3")
            .current_dir(self.dir.path())
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .output()
            .unwrap_or_else(|e| panic!("python3: {e}"));
        assert!(
            output.status.success(),
            "python3 failed (run scripts/ensure-deps.sh for protobuf): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

pub fn unhex(line: &str) -> Vec<u8> {
    let hex = line.strip_prefix("hex:").unwrap_or(line);
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_default())
        .collect()
}

fn json_line(line: &str) -> Value {
    let text = line.strip_prefix("json:").unwrap_or(line);
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad json {text:?}: {e}"))
}

/// Orders built by Python: every field kind, negative and > 2^53 int64s, a oneof each
/// way. Each is printed as its bytes and its MessageToDict.
pub const ORDERS: &str = r#"
o = shop_pb2.Order(id=-9007199254740993, customer="ada \u202eevil", status=shop_pb2.Order.PAID,
    codes=[1, -2, 300], blob=b"\x00\xff\x10", card="visa", ratio=0.25, big=2**64 - 1,
    notes=["a", "b"])
o.lines.add(sku="X-1", qty=3, delta=-5)
o.lines.add(sku="Y-2", qty=1, delta=7)
o.totals["eur"] = 1250
o.totals["usd"] = -3
o.by_slot[2].sku = "Z"
out(o.SerializeToString()); dict(o)
p = shop_pb2.Order(id=7, status=shop_pb2.Order.SHIPPED)
p.cash.currency = "EUR"
p.cash.units = 12
out(p.SerializeToString()); dict(p)
out(gzip.compress(o.SerializeToString(), mtime=0)); dict(o)
"#;

/// MessageToDict's value with redtail's conventions: bytes as `{"b64": …}` (a bare
/// base64 string in MessageToDict). Everything else must already be equal.
fn redtail_form(mut dict: Value) -> Value {
    if let Some(blob) = dict.get_mut("blob") {
        *blob = serde_json::json!({ "b64": blob.take() });
    }
    dict
}

fn tail(server: &Server, extra: &[&str]) -> Proc {
    let mut args = vec!["-c", "orders.eu"];
    args.extend_from_slice(extra);
    common::tail_jsonl(server, &args, 1)
}

fn publish_all(server: &Server, payloads: &[Vec<u8>]) {
    let mut c = server.conn();
    for payload in payloads {
        let _: i64 = c.publish("orders.eu", payload).unwrap_or_default();
    }
}

/// Payloads and MessageToDict values from the `out`/`dict` pairs of a script.
fn pairs(lines: &[String]) -> Vec<(Vec<u8>, Value)> {
    lines
        .chunks(2)
        .map(|pair| (unhex(&pair[0]), json_line(&pair[1])))
        .collect()
}

#[test]
fn tail_decode_protobuf_type_equals_message_to_dict() {
    let protos = Protos::compile();
    let orders = pairs(&protos.python(ORDERS));
    assert_eq!(orders.len(), 3);
    let server = Server::start();
    let set = protos.set_arg();
    let p = tail(
        &server,
        &["--decode", "protobuf:shop.Order", "--proto", &set],
    );
    publish_all(
        &server,
        &orders.iter().map(|(b, _)| b.clone()).collect::<Vec<_>>(),
    );
    let chains = [
        "protobuf:shop.Order",
        "protobuf:shop.Order",
        "gzip+protobuf:shop.Order",
    ];
    for ((payload, dict), chain) in orders.iter().zip(chains) {
        let v = p.json_line(T);
        assert_eq!(v["decoded_as"], chain, "{v}");
        let expected = redtail_form(dict.clone());
        let got = &v["decoded"];
        // Field by field first, for a readable failure; then the whole value.
        for (name, want) in expected.as_object().into_iter().flatten() {
            assert_eq!(&got[name], want, "field {name} of {v}");
        }
        assert_eq!(got, &expected, "{v}");
        // The raw payload is still there, byte for byte.
        let raw = match (v["payload_b64"].as_str(), v["payload"].as_str()) {
            (Some(b), _) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(b).ok()
            }
            (None, text) => text.map(|t| t.as_bytes().to_vec()),
        };
        assert_eq!(raw.as_deref(), Some(payload.as_slice()), "{v}");
    }
    // Hostile text in a decoded string never reaches stdout raw.
    assert!(orders[0].1["customer"]
        .as_str()
        .is_some_and(|c| c.contains('\u{202e}')));
}

#[test]
fn a_proto_file_without_protoc_decodes_the_same() {
    let protos = Protos::compile();
    let orders = pairs(&protos.python(ORDERS));
    let server = Server::start();
    let shop = protos.dir.path().join("shop.proto").display().to_string();
    let p = tail(
        &server,
        &["--decode", "protobuf:shop.Order", "--proto", &shop],
    );
    publish_all(
        &server,
        &orders.iter().map(|(b, _)| b.clone()).collect::<Vec<_>>(),
    );
    for (_, dict) in &orders {
        let v = p.json_line(T);
        assert_eq!(v["decoded"], redtail_form(dict.clone()), "{v}");
    }
}

/// `--filter` JSON-field tests read a typed channel by its field names, as printed: the
/// order with status SHIPPED (Python's second) passes, the PAID one does not, and a
/// test on the schemaless field number no longer matches.
#[test]
fn tail_filter_reads_a_protobuf_type_by_its_field_names() {
    let protos = Protos::compile();
    let orders = pairs(&protos.python(ORDERS));
    let server = Server::start();
    let set = protos.set_arg();
    let filtered = |filter: &str| {
        let args = [
            "--decode",
            "protobuf:shop.Order",
            "--proto",
            &set,
            "--filter",
            filter,
        ];
        tail(&server, &args)
    };
    let shipped = filtered(".status == \"SHIPPED\" and .cash.currency == \"EUR\"");
    let numbered = filtered(".\"3\" == 2");
    wait_subscribed(&server, 2);
    publish_all(
        &server,
        &orders.iter().map(|(b, _)| b.clone()).collect::<Vec<_>>(),
    );
    let v = shipped.json_line(T);
    assert_eq!(v["decoded"], redtail_form(orders[1].1.clone()), "{v}");
    assert!(
        shipped.line(Duration::from_millis(500)).is_none(),
        "one match only"
    );
    assert!(
        numbered.line(Duration::from_millis(500)).is_none(),
        "typed, not numbered"
    );
}

#[test]
fn a_payload_of_another_type_stays_raw_with_the_reason() {
    let protos = Protos::compile();
    let lines = protos.python(
        "out(money_pb2.Money(currency='EUR', units=5).SerializeToString())\n\
         out(b'\\x08\\x96\\x01\\x50\\x01')\n",
    );
    let payloads: Vec<Vec<u8>> = lines.iter().map(|l| unhex(l)).collect();
    let server = Server::start();
    let set = protos.set_arg();
    let p = tail(
        &server,
        &["--decode", "protobuf:shop.Order", "--proto", &set],
    );
    publish_all(&server, &payloads);
    let money = p.json_line(T);
    assert!(money.get("decoded").is_none(), "{money}");
    assert_eq!(
        money["decode_error"],
        "protobuf:shop.Order: field id (1) is int64 but arrives as length-delimited",
        "{money}"
    );
    // Field 1 fits (id = 150); field 10 (ratio, a double) arrives as a varint.
    let odd = p.json_line(T);
    assert_eq!(
        odd["decode_error"],
        "protobuf:shop.Order: field ratio (10) is double but arrives as varint",
        "{odd}"
    );
}

#[test]
fn config_maps_channel_globs_to_a_protobuf_type() {
    let protos = Protos::compile();
    let orders = pairs(&protos.python(ORDERS));
    // A relative set path is taken from the config file's folder.
    let config = protos.dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[decode]\n\"orders.*\" = \"protobuf:shop.Order\"\n\n[protobuf]\nproto = [\"set.pb\"]\n",
    )
    .unwrap_or_else(|e| panic!("config: {e}"));
    let server = Server::start();
    let config_arg = config.display().to_string();
    let p = tail(&server, &["--config", &config_arg]);
    publish_all(&server, &[orders[1].0.clone()]);
    let v = p.json_line(T);
    assert_eq!(v["decoded_as"], "protobuf:shop.Order", "{v}");
    assert_eq!(v["decoded"], redtail_form(orders[1].1.clone()), "{v}");
}

/// `redtail ARGS` against a closed port: the errors tested here come before connecting.
fn fails(args: &[&str]) -> String {
    let output = Command::new(redtail_bin())
        .args(args)
        .env_remove("REDTAIL_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("redtail: {e}"));
    assert!(!output.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn tail_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["tail", "redis://127.0.0.1:1", "-c", "x"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn an_unknown_type_is_a_startup_error_listing_close_names() {
    let protos = Protos::compile();
    let set = protos.set_arg();
    let err = fails(&tail_args(&[
        "--decode",
        "protobuf:shop.Ordr",
        "--proto",
        &set,
    ]));
    assert!(
        err.contains("no message type shop.Ordr") && err.contains("did you mean shop.Order"),
        "{err}"
    );
    let err = fails(&tail_args(&["--decode", "protobuf:Order", "--proto", &set]));
    assert!(err.contains("did you mean shop.Order"), "{err}");
    let err = fails(&tail_args(&["--decode", "protobuf:shop.Order"]));
    assert!(
        err.contains("needs a descriptor set") && err.contains("--proto"),
        "{err}"
    );
}

#[test]
fn a_corrupt_descriptor_set_is_an_error_naming_the_file() {
    let protos = Protos::compile();
    let good = std::fs::read(protos.set()).unwrap_or_else(|e| panic!("set: {e}"));
    let cases: [(&str, Vec<u8>); 3] = [
        ("truncated.pb", good[..good.len() / 2].to_vec()),
        ("text.pb", b"syntax = \"proto3\";\n".to_vec()),
        ("empty.pb", Vec::new()),
    ];
    for (name, bytes) in cases {
        let path = protos.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let arg = path.display().to_string();
        let err = fails(&tail_args(&[
            "--decode",
            "protobuf:shop.Order",
            "--proto",
            &arg,
        ]));
        assert!(
            err.contains(&arg) && err.contains("not a readable descriptor set"),
            "{name}: {err}"
        );
    }
    let missing = protos.dir.path().join("missing.pb");
    let arg = missing.display().to_string();
    let err = fails(&tail_args(&["--proto", &arg]));
    assert!(
        err.contains(&arg) && err.contains("--descriptor_set_out"),
        "{err}"
    );
}

mod tui {
    //! The detail view of a message on a channel the config maps to `protobuf:shop.Order`:
    //! the typed value first, then the decoder cycle (schemaless protobuf, text, hex).

    use super::{pairs, Protos, ORDERS};
    use crate::common::screen;

    use std::path::PathBuf;

    use bytes::Bytes;
    use chrono::{DateTime, TimeDelta, Utc};
    use crossterm::event::{KeyCode, KeyModifiers};

    use redtail::config::{DecodeRules, DecodeSection};
    use redtail::redis::message::{Delivery, Kind, Message};
    use redtail::redis::subscriber::Subscriptions;
    use redtail::state::status::{ConnView, StatusUpdate};
    use redtail::state::{AppState, Config, Event};

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .map(|d| d.to_utc())
            .expect("fixed test time")
            + TimeDelta::milliseconds(millis)
    }

    fn now() -> DateTime<Utc> {
        at(5_000)
    }

    fn typed_state(payload: &[u8]) -> AppState {
        let section: DecodeSection =
            toml::from_str("\"orders.*\" = \"protobuf:shop.Order\"\n").expect("valid section");
        let mut subs = Subscriptions::default();
        subs.patterns.insert(Bytes::from_static(b"*"));
        let config = Config {
            target: "redis://10.0.0.5:6380".into(),
            export_dir: PathBuf::from("/data/exports"),
            size: (100, 30),
            decode: DecodeRules::new(&section),
            ..Config::default()
        };
        let mut s = AppState::new(config, subs.clone(), now());
        let status = StatusUpdate {
            conn: ConnView::Connected { since: at(-60_000) },
            wanted: subs,
        };
        s.update(Event::Status(status), now());
        let message = Delivery::Message(Message {
            seq: 1,
            received: at(100),
            kind: Kind::PMessage,
            pattern: Some(Bytes::from_static(b"*")),
            channel: Bytes::from_static(b"orders.eu"),
            payload: Bytes::copy_from_slice(payload),
        });
        s.update(Event::Deliveries(vec![message]), now());
        s
    }

    fn key(s: &mut AppState, code: KeyCode) {
        screen::press(s, code, KeyModifiers::NONE, now());
    }

    #[test]
    fn detail_view_shows_a_typed_protobuf_decode_at_every_size() {
        let protos = Protos::compile();
        let orders = pairs(&protos.python(ORDERS));
        let schema =
            redtail::decode::load_schemas(&[protos.set()]).unwrap_or_else(|e| panic!("{e}"));
        // The process-wide schema; no other test in this binary uses a typed decoder.
        redtail::decode::schema::install(schema);
        let mut s = typed_state(&orders[0].0);
        let expect = screen::Expect::default();
        // The feed row: the type as its tag, the compact typed value.
        for size in screen::SIZES {
            let buf = screen::draw_at(&mut s, size, now());
            screen::check_screen(&buf, &expect);
        }
        let feed = screen::text(&screen::draw_at(&mut s, (250, 70), now()));
        assert!(
            feed.contains(r#"[protobuf:shop.Order] {"big":"18446744073709551615","#),
            "{feed}"
        );
        key(&mut s, KeyCode::Enter);
        for size in screen::SIZES {
            let buf = screen::draw_at(&mut s, size, now());
            insta::assert_snapshot!(
                format!("decoded_protobuf_typed_detail_{}x{}", size.0, size.1),
                screen::text(&buf)
            );
            screen::check_screen(&buf, &expect);
        }
        let rows = screen::rows(&screen::draw_at(&mut s, (250, 70), now()));
        let rule = rows
            .iter()
            .find(|r| r.starts_with("── protobuf:shop.Order ·"))
            .unwrap_or_else(|| panic!("no typed rule:\n{}", rows.join("\n")));
        assert!(rule.contains("d decoder"), "{rule}");
        let body = rows.join("\n");
        for line in [
            r#""id": "-9007199254740993","#,
            r#""status": "PAID","#,
            r#""big": "18446744073709551615","#,
            r#""customer": "ada \u202eevil","#,
        ] {
            assert!(body.contains(line), "{line} missing:\n{body}");
        }
        // The cycle goes on to the schemaless wire format (field numbers).
        key(&mut s, KeyCode::Char('d'));
        let next = screen::rows(&screen::draw_at(&mut s, (100, 30), now()));
        assert!(
            next.iter().any(|r| r.starts_with("── protobuf ·")),
            "{}",
            next.join("\n")
        );
    }

    #[test]
    fn detail_view_says_why_a_payload_is_not_the_type_and_offers_the_wire_format() {
        let protos = Protos::compile();
        let schema =
            redtail::decode::load_schemas(&[protos.set()]).unwrap_or_else(|e| panic!("{e}"));
        redtail::decode::schema::install(schema);
        let money =
            protos.python("out(money_pb2.Money(currency='EUR', units=5).SerializeToString())\n");
        let mut s = typed_state(&super::unhex(&money[0]));
        key(&mut s, KeyCode::Enter);
        let mut labels = Vec::new();
        for _ in 0..4 {
            let rows = screen::rows(&screen::draw_at(&mut s, (250, 70), now()));
            let rule = rows
                .iter()
                .find(|r| r.starts_with("── "))
                .cloned()
                .unwrap_or_else(|| panic!("no rule:\n{}", rows.join("\n")));
            labels.push(rule);
            key(&mut s, KeyCode::Char('d'));
        }
        assert!(
            labels.iter().any(|l| l.contains(
                "not decoded: protobuf:shop.Order: field id (1) is int64 but arrives as \
                 length-delimited"
            )),
            "{labels:#?}"
        );
        // The schemaless wire format is still offered.
        assert!(
            labels
                .iter()
                .any(|l| l.starts_with("── protobuf (not decoded")),
            "{labels:#?}"
        );
    }
}
