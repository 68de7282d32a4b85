//! Secret redaction, applied to every event before anything is written.
//!
//! Two layers:
//!
//! 1. **By field name.** In `details`, at any depth (inside objects and
//!    arrays), the value of any key whose name contains `key`, `secret`,
//!    `password`, `passwd`, `passphrase`, `token`, `pin`, `otp`, `apikey`,
//!    `authorization`, `cookie` or `credential` (any case, anywhere in the
//!    name), or that has `pass` or `pwd` as a whole word of the name
//!    (`pass`, `broker_pass`, `userPwd`; but not `passed` or `bypass`),
//!    becomes `"[REDACTED]"`. Only `null` and booleans are kept: they cannot carry a
//!    secret. Matching anywhere in the name is deliberate and errs on the
//!    side of hiding: `tokens`, `pinned` or `keyword` are hidden too.
//! 2. **By pattern, in every string** (values, object keys, the action,
//!    actor and strategy): `name=value` and `name: value` pairs for those
//!    names (quoted or bare values, also inside JSON embedded in text, even
//!    escaped JSON; an object or array value hides the rest of the line),
//!    `Cookie:` / `Authorization:` header lines,
//!    `Bearer ...` / `Basic ...` credentials, JWTs, PEM private-key blocks
//!    (an unterminated block is hidden to the end of the text), passwords in
//!    URLs (`scheme://user:pass@host`), runs of 64 or more hex digits
//!    (API keys), ASTA client keys (`asta_ck_` and what follows it, shown
//!    as `asta_ck_[REDACTED]`), and base32 TOTP seeds under any name: a whole word of 16
//!    or more characters of the RFC 4648 alphabet (`A`-`Z`, `2`-`7`, with
//!    optional `=` padding) holding at least one digit and one letter.
//!    (Seeds written in lower case or in groups with spaces are not
//!    recognised; exchange symbols never match, since derivative symbols
//!    hold `0`, `1`, `8` or `9` and equity symbols are short.)
//!
//! **Cost.** Every string first goes through a cheap literal prefilter: a
//! single pass that looks for the literals each pattern needs (`-----BEGIN`,
//! `eyJ`, 64 hex digits in a row, `bearer`, `basic`, `://`, `asta_ck_`, or one of the
//! sensitive name words together with a `:` or `=`; ASCII text only, any
//! non-ASCII text is always fully scanned). Text with none of them cannot
//! match any pattern and is returned as is; the rest gets the full scan.
//! Events whose details were built from typed values
//! ([`AuditEvent::typed_unchecked`]) skip the pattern scan of `details`
//! altogether; field-name redaction still applies to them, and their
//! action, actor and strategy are still scanned.
//!
//! Redaction is idempotent: it repeats the rules until nothing changes, and
//! if that does not happen within a few rounds the whole string is replaced
//! (fail closed). Ordinary text such as symbols (`SBIN`, `M&M`), prices and
//! reasons is left alone. If a pattern failed to compile (a bug caught by
//! the tests), every string is replaced rather than passed through.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::{Map, Value};

use crate::record::AuditEvent;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Substrings that make a field name sensitive (compared in lower case).
const SENSITIVE_WORDS: [&str; 12] = [
    "key",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "credential",
    "token",
    "pin",
    "otp",
    "apikey",
    "authorization",
    "cookie",
];

/// Whether a field name marks its value as secret (see the module docs).
///
/// ```
/// use asta_audit::is_sensitive_name;
/// assert!(is_sensitive_name("X-Api-Key"));
/// assert!(is_sensitive_name("broker_PASSWORD"));
/// assert!(!is_sensitive_name("symbol"));
/// ```
pub fn is_sensitive_name(name: &str) -> bool {
    has_sensitive_word(name) || has_sensitive_token(name)
}

/// Names that are sensitive only as a whole word of the name: `pass` as a
/// substring would hide `passed`, `bypass` and `compass`.
const SENSITIVE_TOKENS: [&str; 2] = ["pass", "pwd"];

/// Whether a word of `name` (split at non-alphanumerics and at lower-to-upper
/// camel-case steps) is one of [`SENSITIVE_TOKENS`].
fn has_sensitive_token(name: &str) -> bool {
    if name.is_ascii() {
        return has_sensitive_token_ascii(name.as_bytes());
    }
    has_sensitive_token_unicode(name)
}

/// [`has_sensitive_token`] for ASCII text, on bytes: the same boundaries
/// (for ASCII, `char::is_alphanumeric`, `is_lowercase` and `is_uppercase`
/// are their `is_ascii_*` forms) without decoding characters.
fn has_sensitive_token_ascii(name: &[u8]) -> bool {
    let is_token = |word: &[u8]| {
        SENSITIVE_TOKENS
            .iter()
            .any(|t| word.eq_ignore_ascii_case(t.as_bytes()))
    };
    let mut start = 0;
    let mut prev: Option<u8> = None;
    for (at, &c) in name.iter().enumerate() {
        let alnum = c.is_ascii_alphanumeric();
        let boundary =
            !alnum || prev.is_some_and(|p| p.is_ascii_lowercase() && c.is_ascii_uppercase());
        if boundary {
            if name.get(start..at).is_some_and(is_token) {
                return true;
            }
            start = if alnum { at } else { at + 1 };
        }
        prev = Some(c);
    }
    name.get(start..).is_some_and(is_token)
}

fn has_sensitive_token_unicode(name: &str) -> bool {
    let mut start = 0;
    let mut prev: Option<char> = None;
    let mut check = |word: &str| {
        SENSITIVE_TOKENS
            .iter()
            .any(|t| word.eq_ignore_ascii_case(t))
    };
    for (at, c) in name.char_indices() {
        let boundary =
            !c.is_alphanumeric() || prev.is_some_and(|p| p.is_lowercase() && c.is_uppercase());
        if boundary {
            if name.get(start..at).is_some_and(&mut check) {
                return true;
            }
            start = if c.is_alphanumeric() {
                at
            } else {
                at + c.len_utf8()
            };
        }
        prev = Some(c);
    }
    name.get(start..).is_some_and(check)
}

fn has_sensitive_word(name: &str) -> bool {
    if name.is_ascii() {
        // Same answer as the Unicode path for ASCII text, without allocating:
        // one pass, comparing only the words that start with the letter at
        // hand (most letters start none).
        let bytes = name.as_bytes();
        return bytes.iter().enumerate().any(|(at, b)| {
            words_starting_with(b.to_ascii_lowercase()).iter().any(|w| {
                bytes
                    .get(at..at.saturating_add(w.len()))
                    .is_some_and(|here| here.eq_ignore_ascii_case(w.as_bytes()))
            })
        });
    }
    let lower = name.to_lowercase();
    SENSITIVE_WORDS.iter().any(|w| lower.contains(w))
}

/// The [`SENSITIVE_WORDS`] that start with `letter` (lower-case ASCII).
fn words_starting_with(letter: u8) -> &'static [&'static str] {
    match letter {
        b'k' => &["key"],
        b's' => &["secret"],
        b'p' => &["password", "passwd", "passphrase", "pin"],
        b't' => &["token"],
        b'o' => &["otp"],
        b'a' => &["apikey", "authorization"],
        b'c' => &["cookie", "credential"],
        _ => &[],
    }
}

/// Whether `hay` contains `needle` (lower-case ASCII) in any ASCII case.
fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Words one of which every `name=value` pair, header and cookie pattern
/// needs in its name (compared ignoring ASCII case).
const PAIR_WORDS: [&[u8]; 10] = [
    b"key",
    b"secret",
    b"passw",
    b"passphrase",
    b"credential",
    b"token",
    b"pin",
    b"otp",
    b"authorization",
    b"cookie",
];

/// The cheap literal prefilter: `false` only if no pattern can match.
///
/// Each pattern needs a literal that is checked here: PEM blocks
/// `-----BEGIN`, JWTs `eyJ`, hex keys a run of 64 hex digits, credentials
/// `bearer`/`basic`, ASTA client keys `asta_ck_`, pairs and headers one of [`PAIR_WORDS`] and a `:` or
/// `=`, URLs `://`. Matching is ignoring ASCII case only, so any non-ASCII
/// text (where Unicode case folding could make e.g. `K` (Kelvin) match `k`)
/// always goes to the full scan.
fn may_match(text: &str) -> bool {
    if !text.is_ascii() {
        return true;
    }
    let bytes = text.as_bytes();
    let mut hex_run = 0usize;
    let mut base32_run = 0usize;
    let mut separator = false;
    for &b in bytes {
        if b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b) {
            base32_run += 1;
            if base32_run >= 16 {
                return true;
            }
        } else {
            base32_run = 0;
        }
        if b.is_ascii_hexdigit() {
            hex_run += 1;
            if hex_run >= 64 {
                return true;
            }
        } else {
            hex_run = 0;
        }
        separator |= b == b':' || b == b'=';
    }
    if contains_ignore_ascii_case(bytes, b"-----begin")
        || bytes.windows(3).any(|w| w == b"eyJ")
        || bytes
            .windows(CLIENT_KEY_PREFIX.len())
            .any(|w| w == CLIENT_KEY_PREFIX)
        || contains_ignore_ascii_case(bytes, b"bearer")
        || contains_ignore_ascii_case(bytes, b"basic")
    {
        return true;
    }
    separator
        && (bytes.windows(3).any(|w| w == b"://")
            || PAIR_WORDS
                .iter()
                .any(|w| contains_ignore_ascii_case(bytes, w)))
}

/// The prefix of ASTA client keys (`asta keys issue`), matched exactly.
const CLIENT_KEY_PREFIX: &[u8] = b"asta_ck_";

struct Rules {
    client_key: Regex,
    pem: Regex,
    header: Regex,
    url: Regex,
    jwt: Regex,
    hex: Regex,
    base32: Regex,
    pair: Regex,
    bearer: Regex,
}

const NAME_WORDS: &str =
    "key|secret|passw(?:or)?d|passphrase|credential|token|pin|otp|authorization|cookie";

fn compile() -> Option<Rules> {
    let pair = format!(
        r#"(?i)(?P<name>[A-Za-z0-9_.\-]*(?:{NAME_WORDS})[A-Za-z0-9_.\-]*)(?P<q>\\*["']?)(?P<sep>[ \t]*[:=][ \t]*)(?P<val>\[REDACTED\]|[{{\[][^\r\n]*|(?:bearer|basic|digest|negotiate|token)[ \t]+[^\s,;&'"\\]+|\\+".*?\\+"|"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&}}]+)"#
    );
    Some(Rules {
        client_key: Regex::new(r"asta_ck_[A-Za-z0-9]+").ok()?,
        pem: Regex::new(
            r"(?is)-----BEGIN[ A-Z0-9]*PRIVATE KEY-----.*?(?:-----END[ A-Z0-9]*PRIVATE KEY-----|\z)",
        )
        .ok()?,
        header: Regex::new(
            r#"(?im)\b((?:set-)?cookie|(?:proxy-)?authorization)[ \t]*:[ \t]*([^"'\\\s\[][^\r\n]*)"#,
        )
        .ok()?,
        url: Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s:@\[\]]*):([^/\s@]+)@").ok()?,
        jwt: Regex::new(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*").ok()?,
        hex: Regex::new(r"[0-9A-Fa-f]{64,}").ok()?,
        base32: Regex::new(r"\b[A-Z2-7]{16,}\b=*").ok()?,
        pair: Regex::new(&pair).ok()?,
        bearer: Regex::new(r"(?i)\b(bearer|basic)[ \t]+([A-Za-z0-9\-._~+/]+=*)").ok()?,
    })
}

static RULES: LazyLock<Option<Rules>> = LazyLock::new(compile);

fn redact_pair(caps: &Captures<'_>) -> String {
    let get = |name: &str| caps.name(name).map_or("", |m| m.as_str());
    let val = get("val");
    let hidden = if val.starts_with('\\') {
        let open_len = val.find('"').map_or(0, |i| i + 1);
        let open = val.get(..open_len).unwrap_or("\"");
        let close_start = val
            .get(..val.len().saturating_sub(1))
            .map_or(0, |s| s.trim_end_matches('\\').len());
        let close = val.get(close_start..).unwrap_or("\"");
        format!("{open}{REDACTED}{close}")
    } else if val.starts_with('"') {
        format!("\"{REDACTED}\"")
    } else if val.starts_with('\'') {
        format!("'{REDACTED}'")
    } else {
        REDACTED.to_owned()
    };
    format!("{}{}{}{}", get("name"), get("q"), get("sep"), hidden)
}

fn looks_like_credential(scheme: &str, token: &str) -> bool {
    let special = token
        .chars()
        .any(|c| c.is_ascii_digit() || "-._~+/=".contains(c));
    if scheme.eq_ignore_ascii_case("bearer") {
        token.len() >= 8
    } else {
        token.len() >= 8 && (special || token.len() >= 16)
    }
}

fn one_round<'a>(rules: &Rules, text: &'a str) -> Cow<'a, str> {
    let mut out: Cow<'a, str> = Cow::Borrowed(text);
    macro_rules! step {
        ($re:expr, $rep:expr) => {
            let next = $re.replace_all(&out, $rep);
            if let Cow::Owned(s) = next {
                // A replacement may reproduce the same text (already redacted).
                if s != *out {
                    out = Cow::Owned(s);
                }
            }
        };
    }
    // The prefix stays, so a reader sees a client key leaked (and which kind).
    step!(rules.client_key, "asta_ck_[REDACTED]");
    step!(rules.pem, REDACTED);
    step!(rules.header, |c: &Captures<'_>| format!(
        "{}: {REDACTED}",
        c.get(1).map_or("", |m| m.as_str())
    ));
    step!(rules.url, |c: &Captures<'_>| format!(
        "{}{}:{REDACTED}@",
        c.get(1).map_or("", |m| m.as_str()),
        c.get(2).map_or("", |m| m.as_str())
    ));
    step!(rules.jwt, REDACTED);
    step!(rules.hex, REDACTED);
    step!(rules.base32, |c: &Captures<'_>| {
        let word = c.get(0).map_or("", |m| m.as_str());
        let digit = word.bytes().any(|b| b.is_ascii_digit());
        let letter = word.bytes().any(|b| b.is_ascii_uppercase());
        if digit && letter {
            REDACTED.to_owned()
        } else {
            word.to_owned()
        }
    });
    step!(rules.pair, redact_pair);
    step!(rules.bearer, |c: &Captures<'_>| {
        let scheme = c.get(1).map_or("", |m| m.as_str());
        let token = c.get(2).map_or("", |m| m.as_str());
        if looks_like_credential(scheme, token) {
            format!("{scheme} {REDACTED}")
        } else {
            c.get(0).map_or(String::new(), |m| m.as_str().to_owned())
        }
    });
    out
}

/// Redacts secrets found by pattern in `text` (see the module docs).
///
/// Returns the text borrowed when nothing was found, owned otherwise.
///
/// ```
/// use asta_audit::redact_text;
/// assert_eq!(redact_text("login ok password=hunter2 user=ab"), "login ok password=[REDACTED] user=ab");
/// assert_eq!(redact_text("BUY 10 SBIN @ 801.05"), "BUY 10 SBIN @ 801.05");
/// ```
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let Some(rules) = RULES.as_ref() else {
        return Cow::Owned(REDACTED.to_owned());
    };
    if !may_match(text) {
        return Cow::Borrowed(text);
    }
    redact_with(rules, text)
}

/// The full scan, without the prefilter.
fn redact_with<'a>(rules: &Rules, text: &'a str) -> Cow<'a, str> {
    const MAX_ROUNDS: usize = 4;
    let first = one_round(rules, text);
    let mut current = match first {
        Cow::Borrowed(_) => return Cow::Borrowed(text),
        Cow::Owned(s) => s,
    };
    for _ in 1..MAX_ROUNDS {
        match one_round(rules, &current) {
            Cow::Borrowed(_) => return Cow::Owned(current),
            Cow::Owned(next) => current = next,
        }
    }
    // Did not settle: hide everything rather than risk a leak.
    Cow::Owned(REDACTED.to_owned())
}

/// Redacts a JSON value in place: sensitive field names at any depth, then
/// patterns in every remaining string (object keys included).
pub fn redact_value(value: &mut Value) {
    redact_value_with(value, Scan::Patterns);
}

/// Whether strings are scanned for patterns or only field names apply.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    Patterns,
    NamesOnly,
}

fn redact_value_with(value: &mut Value, scan: Scan) {
    match value {
        Value::String(s) => {
            if scan == Scan::Patterns
                && let Cow::Owned(redacted) = redact_text(s)
            {
                *s = redacted;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value_with(v, scan)),
        Value::Object(map) => redact_map(map, scan),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn redact_entry(name: &str, value: &mut Value, scan: Scan) {
    if is_sensitive_name(name) {
        if !matches!(value, Value::Null | Value::Bool(_)) {
            *value = Value::String(REDACTED.to_owned());
        }
    } else {
        redact_value_with(value, scan);
    }
}

fn redact_map(map: &mut Map<String, Value>, scan: Scan) {
    // The common case: no key needs redacting, so the map is kept and only
    // its values are visited.
    let keys_change = scan == Scan::Patterns
        && map
            .keys()
            .any(|name| matches!(redact_text(name), Cow::Owned(_)));
    if !keys_change {
        for (name, value) in map.iter_mut() {
            redact_entry(name, value, scan);
        }
        return;
    }
    let old = std::mem::take(map);
    for (name, mut value) in old {
        redact_entry(&name, &mut value, scan);
        let mut key = redact_text(&name).into_owned();
        // Two keys may redact to the same text: keep both values.
        let mut n = 2u32;
        while map.contains_key(&key) {
            key = format!("{}#{n}", redact_text(&name));
            n = n.saturating_add(1);
        }
        map.insert(key, value);
    }
}

impl AuditEvent {
    /// The event's fields exactly as the trail will write them (redacted,
    /// canonical), without the `seq`, `ts`, `prev` and `mac` the log adds:
    /// `"category":..,"action":..,..,"details":{..}`. For tests and for
    /// tools that show a record before appending it.
    ///
    /// ```
    /// use asta_audit::AuditEvent;
    /// use serde_json::json;
    /// let event = AuditEvent::system("start", json!({"b": 1, "a": "x", "token": "s3cr3t"}));
    /// assert_eq!(
    ///     event.canonical_preview(),
    ///     r#""category":"SYSTEM","action":"start","details":{"a":"x","b":1,"token":"[REDACTED]"}"#
    /// );
    /// ```
    pub fn canonical_preview(&self) -> String {
        crate::canonical::EncodedEvent::new(&self.clone().redacted()).middle
    }

    /// The event with every secret removed: what is actually written.
    pub fn redacted(mut self) -> AuditEvent {
        if let Cow::Owned(s) = redact_text(&self.action) {
            self.action = s;
        }
        for field in [&mut self.actor, &mut self.strategy].into_iter().flatten() {
            if let Cow::Owned(s) = redact_text(field) {
                *field = s;
            }
        }
        let scan = if self.typed {
            Scan::NamesOnly
        } else {
            Scan::Patterns
        };
        redact_map(&mut self.details, scan);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// The scan without the prefilter, to compare against.
    fn unfiltered(text: &str) -> Cow<'_, str> {
        match RULES.as_ref() {
            Some(rules) => redact_with(rules, text),
            None => Cow::Owned(REDACTED.to_owned()),
        }
    }

    /// Pieces of every secret shape (and near misses) to build text from.
    const PIECES: &[&str] = &[
        "password",
        "PassWd",
        "api_key",
        "apikey",
        "x-api-KEY",
        "secret",
        "token",
        "Token",
        "pin",
        "PIN",
        "otp",
        "Authorization",
        "authorization",
        "cookie",
        "Set-Cookie",
        "Bearer",
        "bearer",
        "BASIC",
        "basic",
        "Digest",
        "=",
        ":",
        ": ",
        " = ",
        "\"",
        "'",
        "\\\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ";",
        "&",
        " ",
        "\t",
        "\n",
        "://",
        "https://",
        "user",
        "@",
        "host",
        "eyJ",
        "eyJhbGciOiJIUzI1NiJ9",
        ".",
        "-----BEGIN",
        "-----begin rsa PRIVATE KEY-----",
        "-----END PRIVATE KEY-----",
        "PRIVATE KEY-----",
        "0123456789abcdef",
        "0123456789ABCDEF",
        "deadbeef",
        "SBIN",
        "801.05",
        "qty",
        "M&M",
        "CANARY",
        "abc.def-ghi",
        "x=1",
        "Q0FOQVJZMTp4",
        "dXNlcjpwYXNzd29yZA==",
        "s3cr3t-Value_1",
        "\u{212A}ey",
        "\u{17F}ecret",
        "é",
        "Ｋ",
        "asta_ck_",
        "asta_CK_",
        "k2lmvqz7b4ja",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(PIECES).prop_map(str::to_owned),
                1 => "[ -~]{0,12}",
                1 => "[0-9a-fA-F]{1,70}",
            ],
            0..14,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn prefilter_never_changes_the_result(text in text()) {
            let with = redact_text(&text);
            let without = unfiltered(&text);
            prop_assert_eq!(&*with, &*without, "text {:?}", text);
            if !may_match(&text) {
                prop_assert!(matches!(without, Cow::Borrowed(_)), "skipped a match: {:?}", text);
            }
        }
    }

    #[test]
    fn prefilter_skips_plain_text_and_catches_every_canary() {
        for plain in [
            "BUY 75 NIFTY28NOV2424000CE @ 120.05",
            "M&M",
            "SBIN",
            "801.05",
            "A1B2",
        ] {
            assert!(!may_match(plain), "{plain}");
        }
        for case in [
            "password=x",
            "a: b token",
            "Bearer abc",
            "eyJ",
            "https://a:b@c",
            "-----BEGIN",
            &"a".repeat(64),
            "\u{212A}ey=1",
            "asta_ck_x",
        ] {
            assert!(may_match(case), "{case}");
        }
    }

    #[test]
    fn typed_details_skip_patterns_but_not_field_names() {
        let event = AuditEvent::order(
            "place password=CANARY-ACTION",
            "s",
            json!({"symbol": "SBIN", "note": "password=VISIBLE", "api_key": "CANARY-NAME"}),
        )
        .typed_unchecked()
        .redacted();
        assert_eq!(event.details()["note"], "password=VISIBLE");
        assert_eq!(event.details()["api_key"], REDACTED);
        assert!(!event.action().contains("CANARY"));
        let scanned = AuditEvent::order("a", "s", json!({"note": "password=HIDDEN"})).redacted();
        assert_eq!(scanned.details()["note"], "password=[REDACTED]");
    }

    #[test]
    fn the_first_letter_table_lists_every_sensitive_word() {
        for word in SENSITIVE_WORDS {
            let first = word.as_bytes().first().copied().unwrap_or_default();
            assert!(words_starting_with(first).contains(&word), "{word}");
        }
        let listed: usize = (0..=u8::MAX).map(|b| words_starting_with(b).len()).sum();
        assert_eq!(listed, SENSITIVE_WORDS.len());
    }

    #[test]
    fn sensitive_names_ascii_fast_path_agrees() {
        for name in [
            "X-Api-Key",
            "SYMBOL",
            "pinned",
            "Otp",
            "qty",
            "\u{212A}EY",
            "kéy",
        ] {
            let lower = name.to_lowercase();
            let slow = SENSITIVE_WORDS.iter().any(|w| lower.contains(w));
            assert_eq!(is_sensitive_name(name), slow, "{name}");
        }
    }

    proptest! {
        #[test]
        fn ascii_token_split_agrees_with_the_unicode_one(name in "[a-zA-Z0-9_ .-]{0,16}", word in prop::sample::select(&["pass", "PWD", "Pass", "pwd", "x", "passed"][..])) {
            for candidate in [name.clone(), format!("{name}{word}"), format!("{word}{name}"), format!("a{word}_b")] {
                prop_assert_eq!(
                    has_sensitive_token_ascii(candidate.as_bytes()),
                    has_sensitive_token_unicode(&candidate),
                    "{:?}", candidate
                );
            }
        }
    }

    #[test]
    fn rules_compile() {
        assert!(RULES.is_some());
    }

    #[test]
    fn patterns_hide_canaries() {
        let cases = [
            "password=CANARY1 done",
            "api_key: CANARY1",
            "passwd='CANARY1 two'",
            "token=\"CANARY1\"",
            "resp {\"access_token\":\"CANARY1\",\"symbol\":\"SBIN\"}",
            "escaped {\\\"apikey\\\":\\\"CANARY1\\\"}",
            "Authorization: Bearer CANARY1xyz",
            "authorization: Basic Q0FOQVJZMTp4",
            "header Cookie: session=CANARY1; theme=dark",
            "sent Bearer CANARY1-abcdef",
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJDQU5BUlkxIn0.c2lnbmF0dXJlQ0FOQVJZMQ",
            "-----BEGIN RSA PRIVATE KEY-----\nCANARY1\n-----END RSA PRIVATE KEY----- tail",
            "-----BEGIN PRIVATE KEY-----\nCANARY1 unterminated",
            "db https://trader:CANARY1@db.example.com/x",
            "key 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "otp=CANARY1",
            "login pin: CANARY1",
            "resp {\"token\": {\"access\": \"CANARY1\"}, \"symbol\": \"SBIN\"}",
            "resp {\\\"secret\\\":[\\\"CANARY1\\\"]}",
            "client sent asta_ck_CANARY1k2lmvqz7b4jacanary1k2lmvqz7b4jacanary1k2lmvqz7b4 ok",
            "{\"apikey\":\"asta_ck_CANARY1aaaa\"}",
            "truncated asta_ck_CANARY1",
        ];
        for case in cases {
            let out = redact_text(case);
            assert!(!out.contains("CANARY1"), "{case} -> {out}");
            assert!(
                !out.contains("0123456789abcdef0123456789abcdef"),
                "{case} -> {out}"
            );
            assert_eq!(redact_text(&out), out, "not idempotent: {case}");
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for text in [
            "BUY 75 NIFTY28NOV2424000CE @ 120.05 LIMIT NRML",
            "rejected: quantity 70 is not a multiple of lot size 75",
            "M&M BAJAJ-AUTO L&TFH SBIN",
            "price: 801.05, reason: price above band 880.10",
            "Basic checks passed",
            "https://api.example.com/orders?symbol=SBIN",
            "09:15:00 session open",
            "sha 0123456789abcdef",
        ] {
            assert_eq!(redact_text(text), text);
        }
    }

    #[test]
    fn field_names_at_any_depth() {
        let mut v = json!({
            "symbol": "SBIN",
            "price": "801.05",
            "BrokerApiKey": "CANARY",
            "nested": [{"auth": {"Session_Token": 12345, "otp_ok": true}}],
            "tokens": ["a", "b"],
            "note": "password=CANARY",
        });
        redact_value(&mut v);
        let text = v.to_string();
        assert!(!text.contains("CANARY"), "{text}");
        assert!(!text.contains("12345"), "{text}");
        assert_eq!(v["symbol"], "SBIN");
        assert_eq!(v["price"], "801.05");
        assert_eq!(v["tokens"], REDACTED);
        assert_eq!(v["nested"][0]["auth"]["otp_ok"], true);
        assert_eq!(v["nested"][0]["auth"]["Session_Token"], REDACTED);
    }

    #[test]
    fn keys_are_redacted_by_pattern_too() {
        let mut v = json!({"password=CANARY": 1, "x": 2});
        redact_value(&mut v);
        assert!(!v.to_string().contains("CANARY"));
    }
}
