//! The typed encoder against the `Value` path: byte-identical output.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use serde::Serialize;
use serde_json::{Map as JsonMap, Value, json};

use crate::canonical::EncodedEvent;
use crate::record::{AuditEvent, Category};

/// The bytes the older path writes: `Value` details, names-only
/// redaction, canonical encoding.
fn by_value(fields: &[(String, Value)]) -> String {
    let map: JsonMap<String, Value> = fields.iter().cloned().collect();
    let event = AuditEvent::new(Category::Order, "act", Value::Object(map))
        .with_strategy("s")
        .typed_unchecked()
        .redacted();
    EncodedEvent::new(&event).middle
}

/// The same fields through the typed encoder.
fn by_type<T: Serialize>(fields: &[(String, T)]) -> String {
    let mut event = AuditEvent::new(Category::Order, "act", Value::Null).with_strategy("s");
    for (name, value) in fields {
        event = event.with_typed_detail_unchecked(name.clone(), value);
    }
    EncodedEvent::new(&event.redacted()).middle
}

const KEYS: &[&str] = &[
    "symbol",
    "qty",
    "api_key",
    "ApiKey",
    "token",
    "tokens",
    "pass",
    "broker_pass",
    "passed",
    "userPwd",
    "otp_ok",
    "pin",
    "a",
    "b",
    "B",
    "aa",
    "",
    "é",
    "\u{212A}ey",
    "x\"y",
    "tab\tkey",
    "order",
    "order_id",
    "z",
    "ключ",
    "\u{1F600}",
    "risk_journal",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "\\PC{0,6}",
        1 => "[\\x00-\\x7f]{0,4}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::from),
        "[\\x00-\\x7f]{0,10}".prop_map(Value::from),
        prop::sample::select(KEYS).prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn typed_bytes_equal_value_bytes(
        pairs in prop::collection::vec((key(), value()), 0..8),
        reverse in any::<bool>(),
    ) {
        // One value per name, as in a details map.
        let map: BTreeMap<String, Value> = pairs.into_iter().collect();
        let mut fields: Vec<(String, Value)> = map.into_iter().collect();
        let expected = by_value(&fields);
        if reverse {
            fields.reverse();
        }
        prop_assert_eq!(by_type(&fields), expected);
    }

    #[test]
    fn mixed_plain_and_typed_fields_equal_value_bytes(
        pairs in prop::collection::vec((key(), value(), any::<bool>()), 0..8),
    ) {
        let map: BTreeMap<String, (Value, bool)> =
            pairs.into_iter().map(|(k, v, t)| (k, (v, t))).collect();
        let fields: Vec<(String, Value)> =
            map.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect();
        let mut event = AuditEvent::new(Category::Order, "act", Value::Null)
            .with_strategy("s")
            .typed_unchecked();
        for (name, (value, typed)) in &map {
            event = if *typed {
                event.with_typed_detail_unchecked(name.clone(), value)
            } else {
                event.with_detail(name.clone(), value.clone())
            };
        }
        prop_assert_eq!(EncodedEvent::new(&event.redacted()).middle, by_value(&fields));
    }
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
enum Tagged {
    Plain,
    WithFields {
        zeta: u32,
        alpha: Option<String>,
        secret_key: &'static str,
    },
}

#[derive(Serialize)]
enum External {
    Unit,
    Newtype(i32),
    Tuple(u8, String),
    Struct { b: bool, a: Vec<u8> },
    Token(String),
}

#[derive(Serialize)]
struct Newtype(String);

#[derive(Serialize)]
struct Unit;

#[derive(Serialize)]
struct Record {
    zulu: i128,
    alpha: u128,
    mid: f64,
    small: f32,
    letter: char,
    #[serde(with = "serde_bytes_like")]
    raw: Vec<u8>,
    unit: (),
    unit_struct: Unit,
    newtype: Newtype,
    tuple: (u8, &'static str, Option<bool>),
    tagged: Vec<Tagged>,
    external: Vec<External>,
    hash: HashMap<String, i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<u8>,
    #[serde(rename = "password")]
    hidden: String,
    #[serde(rename = "otp_enabled")]
    flag: bool,
    #[serde(flatten)]
    extra: BTreeMap<String, u8>,
}

mod serde_bytes_like {
    pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
}

#[test]
fn every_serde_shape_encodes_like_the_value_path() {
    let record = Record {
        zulu: -5,
        alpha: 7,
        mid: 0.1,
        small: 1.1,
        letter: '"',
        raw: vec![0, 255],
        unit: (),
        unit_struct: Unit,
        newtype: Newtype("n\u{7f}\n".into()),
        tuple: (1, "two", None),
        tagged: vec![
            Tagged::Plain,
            Tagged::WithFields {
                zeta: 1,
                alpha: None,
                secret_key: "CANARY",
            },
        ],
        external: vec![
            External::Unit,
            External::Newtype(-1),
            External::Tuple(3, "x".into()),
            External::Struct {
                b: true,
                a: vec![1, 2],
            },
            External::Token("CANARY".into()),
        ],
        hash: [
            ("b".to_owned(), 2),
            ("a".to_owned(), 1),
            ("pin".to_owned(), 3),
        ]
        .into_iter()
        .collect(),
        skipped: None,
        hidden: "CANARY".into(),
        flag: true,
        extra: [("aaa".to_owned(), 1), ("zzz".to_owned(), 2)]
            .into_iter()
            .collect(),
    };
    let fields = [("record".to_owned(), record)];
    let typed = by_type(&fields);
    let value = serde_json::to_value(&fields[0].1).unwrap();
    assert_eq!(typed, by_value(&[("record".to_owned(), value)]));
    assert!(!typed.contains("CANARY"), "{typed}");
}

#[test]
fn what_the_encoder_does_not_model_takes_the_value_path() {
    // Non-string map keys, an i128 out of range, too deep a nesting.
    let numeric_keys: BTreeMap<u32, &str> = [(2, "b"), (1, "a")].into_iter().collect();
    assert!(super::encode(&numeric_keys).is_err());
    assert_eq!(
        by_type(&[("m".to_owned(), numeric_keys.clone())]),
        by_value(&[("m".to_owned(), serde_json::to_value(&numeric_keys).unwrap())])
    );
    assert!(super::encode(&i128::MAX).is_err());
    let event = AuditEvent::new(Category::Order, "a", Value::Null)
        .with_typed_detail_unchecked("big", &i128::MAX);
    assert_eq!(event.details()["big"], Value::Null);
    let mut deep = json!(1);
    for _ in 0..crate::MAX_DETAILS_DEPTH {
        deep = json!([deep]);
    }
    assert!(super::encode(&deep).is_err());
    let event = AuditEvent::new(Category::Order, "a", Value::Null)
        .with_typed_detail_unchecked("deep", &deep);
    assert!(
        event.details().contains_key("deep"),
        "left to the depth check"
    );
}

#[test]
fn the_name_cache_answers_like_the_check() {
    let names = KEYS
        .iter()
        .map(|k| (*k).to_owned())
        .chain((0..400).map(|i| format!("field_{i}")))
        .chain(["x".repeat(30), format!("{}key", "y".repeat(30))]);
    for name in names.collect::<Vec<_>>().iter().cycle().take(2000) {
        assert_eq!(
            super::sensitive_cached(name),
            crate::redact::is_sensitive_name(name),
            "{name}"
        );
    }
}

#[test]
fn the_static_name_cache_answers_like_the_check() {
    // Literals (some sensitive, some sharing a slot by address) and
    // leaked strings at fresh addresses, looked up many times over.
    let mut names: Vec<&'static str> = vec![
        "password", "apikey", "api_key", "order", "symbol", "quantity", "token", "passed",
        "bypass", "secret", "ticket", "strategy", "totp", "pwd", "x",
    ];
    names.extend(KEYS.iter().copied());
    names.extend((0..600).map(|i| -> &'static str {
        Box::leak(format!("{}field_{i}", if i % 7 == 0 { "secret_" } else { "" }).into_boxed_str())
    }));
    for name in names.iter().cycle().take(5000) {
        assert_eq!(
            super::sensitive_static(name),
            crate::redact::is_sensitive_name(name),
            "{name}"
        );
    }
}

#[test]
fn plain_and_typed_details_replace_each_other() {
    let event = AuditEvent::new(Category::Order, "a", Value::Null)
        .with_typed_detail_unchecked("x", &1)
        .with_detail("x", 2)
        .with_typed_detail_unchecked("y", &1)
        .with_typed_detail_unchecked("y", &3);
    let middle = EncodedEvent::new(&event.redacted()).middle;
    assert!(
        middle.ends_with("\"details\":{\"x\":2,\"y\":3}"),
        "{middle}"
    );
}
