//! Unit tests of descriptor sets and typed Protobuf decoding. `schema_tests.pb` is a
//! real descriptor set: `python3 -m grpc_tools.protoc -I. --include_imports
//! --descriptor_set_out=schema_tests.pb shop.proto money.proto` on SHOP_PROTO and
//! MONEY_PROTO of tests/it/decode_proto.rs. The message bytes below were encoded by
//! Python's protobuf from that schema (the script is in each test's comment).

use proptest::prelude::*;
use serde_json::json;

use super::schema::{Kind, Schema};
use super::{protobuf_typed, Choice, Format, TypeName};

const SET: &[u8] = include_bytes!("schema_tests.pb");

fn schema() -> Schema {
    let mut schema = Schema::default();
    schema.add_set(SET).expect("the fixture set reads");
    schema
}

/// `Order(id=-5, customer="ada", status=SHIPPED, codes=[1,-2,300], blob=b"\x00\xff",
/// ratio=nan, big=7, notes=["x"]); lines.add(sku="X", qty=2, delta=-3);
/// totals["eur"]=10; by_slot[4].qty=9; cash.units=-1`
const ORDER_HEX: &str = "08fbffffffffffffffff011203616461180222070a0158100218052a0d01feffff\
                         ffffffffffff01ac0232070a03657572100a3a0200ff4a0b10ffffffffffffffff\
                         ff0151000000000000f87f5907000000000000006201786a06080412021009";

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn order() -> (Schema, usize) {
    let schema = schema();
    let index = schema.message("shop.Order").expect("shop.Order");
    (schema, index)
}

#[test]
fn a_descriptor_set_reads_into_messages_fields_enums_and_map_entries() {
    let schema = schema();
    let order = &schema.messages[schema.message(".shop.Order").expect("leading dot ok")];
    let names: Vec<&str> = order.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "id", "customer", "status", "lines", "codes", "totals", "blob", "card", "cash",
            "ratio", "big", "notes", "by_slot"
        ]
    );
    let codes = order.field(5).expect("codes");
    assert_eq!((codes.kind, codes.repeated), (Kind::Int32, true));
    let Kind::Message(line) = order.field(4).expect("lines").kind else {
        panic!("lines is a message field")
    };
    assert_eq!(schema.messages[line].full_name, "shop.Order.Line");
    let Kind::Message(entry) = order.field(6).expect("totals").kind else {
        panic!("a map is a repeated entry message")
    };
    assert!(schema.messages[entry].map_entry);
    let Kind::Enum(status) = order.field(3).expect("status").kind else {
        panic!("status is an enum")
    };
    assert_eq!(schema.enums[status].full_name, "shop.Order.Status");
    assert_eq!(schema.enums[status].name_of(2), Some("SHIPPED"));
    // The imported file's type is there (the set was made with --include_imports).
    assert!(schema.message("shop.Money").is_some());
    assert_eq!(schema.close_names("shop.Ordr"), ["shop.Order"]);
    assert_eq!(schema.close_names("order"), ["shop.Order"]);
}

#[test]
fn typed_decode_gives_names_enum_names_string_int64s_b64_bytes_and_maps() {
    let (schema, index) = order();
    let value = protobuf_typed::decode(&unhex(ORDER_HEX), &schema, index).expect("decodes");
    assert_eq!(
        value,
        json!({
            "id": "-5",
            "customer": "ada",
            "status": "SHIPPED",
            "lines": [{"sku": "X", "qty": 2, "delta": "-3"}],
            "codes": [1, -2, 300],
            "totals": {"eur": "10"},
            "blob": {"b64": "AP8="},
            "cash": {"units": "-1"},
            "ratio": "NaN",
            "big": "7",
            "notes": ["x"],
            "by_slot": {"4": {"qty": 9}}
        })
    );
}

#[test]
fn unknown_fields_stay_under_their_numbers_and_unpacked_repeats_are_accepted() {
    let (schema, index) = order();
    // id=1, codes sent unpacked twice (5: varint), field 99 unknown (varint 7).
    let payload = [0x08, 0x01, 0x28, 0x03, 0x28, 0x04, 0x98, 0x06, 0x07];
    let value = protobuf_typed::decode(&payload, &schema, index).expect("decodes");
    assert_eq!(value, json!({"id": "1", "codes": [3, 4], "99": 7}));
}

#[test]
fn a_payload_of_another_type_is_rejected_with_the_reason() {
    let (schema, index) = order();
    // Money(currency="EUR"): field 1 length-delimited where Order.id is an int64.
    let money = [0x0a, 0x03, b'E', b'U', b'R'];
    let err = protobuf_typed::decode(&money, &schema, index).expect_err("not an Order");
    assert_eq!(
        err.0,
        "field id (1) is int64 but arrives as length-delimited"
    );
    // Only undeclared fields: not this type.
    let err = protobuf_typed::decode(&[0xf8, 0x06, 0x01], &schema, index).expect_err("none");
    assert!(
        err.0.starts_with("no field of shop.Order found"),
        "{}",
        err.0
    );
    // A string that is not UTF-8.
    let err = protobuf_typed::decode(&[0x12, 0x01, 0xff], &schema, index).expect_err("utf8");
    assert!(
        err.0.contains("customer (string) is not UTF-8"),
        "{}",
        err.0
    );
}

#[test]
fn corrupt_sets_are_errors_not_panics() {
    assert!(Schema::default().add_set(&[]).is_err());
    assert!(Schema::default().add_set(&SET[..SET.len() / 2]).is_err());
    assert!(Schema::default().add_set(b"syntax = \"proto3\";").is_err());
    // A field naming a type the set lacks (made without --include_imports): the set
    // minus its money.proto file.
    let mut schema = Schema::default();
    let err = schema
        .add_set(&without_file(SET, "money.proto"))
        .expect_err("Money is missing");
    assert!(
        err.contains(".shop.Money") && err.contains("--include_imports"),
        "{err}"
    );
}

/// `set` without the file descriptor named `name`.
fn without_file(set: &[u8], name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < set.len() {
        let start = pos;
        let (_, wire) = super::protobuf::next_field(set, &mut pos).expect("valid set");
        let super::protobuf::Wire::Bytes(file) = wire else {
            continue;
        };
        let needle = name.as_bytes();
        if !file.windows(needle.len()).take(16).any(|w| w == needle) {
            out.extend_from_slice(&set[start..pos]);
        }
    }
    out
}

#[test]
fn typed_decoder_names_parse_and_keep_the_type_case() {
    let Some(Choice::Only(Format::Typed(t))) = Choice::parse(" Protobuf:.shop.Order ") else {
        panic!("typed name")
    };
    assert_eq!(
        (t.decoder(), t.type_name()),
        ("protobuf:shop.Order", "shop.Order")
    );
    assert_eq!(Format::Typed(t).name(), "protobuf:shop.Order");
    assert_eq!(TypeName::parse("pb:a.B"), TypeName::parse("proto:a.B"));
    for bad in ["protobuf:", "protobuf:a..b", "protobuf:a b", "yaml:x"] {
        assert_eq!(TypeName::parse(bad), None, "{bad}");
    }
    assert_eq!(
        Choice::parse("protobuf"),
        Some(Choice::Only(Format::Protobuf))
    );
}

#[test]
fn check_types_lists_close_names_or_asks_for_a_set() {
    let schema = schema();
    let wanted = |name: &str| vec![Choice::parse(name).expect("typed")];
    assert!(super::check_types(Some(&schema), &wanted("protobuf:shop.Order")).is_ok());
    let err = super::check_types(Some(&schema), &wanted("protobuf:shop.Line")).expect_err("x");
    assert!(err.contains("did you mean shop.Order.Line"), "{err}");
    let err = super::check_types(None, &wanted("protobuf:shop.Order")).expect_err("no set");
    assert!(err.contains("--proto"), "{err}");
    assert!(super::check_types(None, &[Choice::Auto]).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random bytes with a schema never panic: a value or "not this type".
    #[test]
    fn random_bytes_with_a_schema_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (schema, index) = order();
        let _ = protobuf_typed::decode(&bytes, &schema, index);
    }

    /// A valid order with random bytes spliced in: still no panic.
    #[test]
    fn mutated_orders_never_panic(at in 0usize..120, junk in proptest::collection::vec(any::<u8>(), 1..8)) {
        let (schema, index) = order();
        let mut payload = unhex(ORDER_HEX);
        let at = at.min(payload.len());
        payload.splice(at..at, junk);
        let _ = protobuf_typed::decode(&payload, &schema, index);
    }

    /// Random and mutated descriptor sets never panic.
    #[test]
    fn random_descriptor_sets_never_panic(at in 0usize..800, junk in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut set = SET.to_vec();
        let at = at.min(set.len());
        set.splice(at..at, junk.iter().copied());
        let mut schema = Schema::default();
        if schema.add_set(&set).is_ok() {
            if let Some(index) = schema.message("shop.Order") {
                let _ = protobuf_typed::decode(&unhex(ORDER_HEX), &schema, index);
            }
        }
        let _ = Schema::default().add_set(&junk);
    }
}
