//! Arbitrary bytes given to the verifier (and to recovery) never panic.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::fs;
use std::sync::Arc;

use asta_audit::{AuditLog, Verification, verify};
use common::*;
use proptest::prelude::*;

fn lines() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        "\\{\"seq\":[0-9]{1,3},\"ts\":\"[ -~]{0,40}\",\"mac\":\"[0-9a-f]{64}\"\\}"
            .prop_map(String::into_bytes),
        "[ -~]{0,120}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(line, 0..6).prop_map(|ls| ls.join(&b'\n'))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn arbitrary_lines_never_panic(content in lines(), valid_prefix in 0u64..4) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = trail(tmp.path(), "t", valid_prefix, "a");
        let seg = dir.join("audit-00000000000000000001.jsonl");
        let mut bytes = fs::read(&seg).unwrap_or_default();
        bytes.extend_from_slice(&content);
        fs::write(&seg, &bytes).unwrap();
        let result = verify(&dir, &key(), None).unwrap();
        if !content.is_empty() {
            prop_assert!(matches!(result, Verification::Broken(_)));
        }
        // Opening must not panic either: it recovers or refuses.
        let _ = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock()));
    }
}
