//! The tamper matrix: every kind of change is detected and located.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use asta_audit::{
    AuditError, AuditEvent, AuditLog, ChainKey, Checkpoint, Finding, FindingKind, Verification,
    verify,
};
use common::*;
use serde_json::json;

fn broken(dir: &Path, checkpoint: Option<&Checkpoint>) -> Finding {
    match verify(dir, &key(), checkpoint).unwrap() {
        Verification::Broken(f) => f,
        Verification::Intact(v) => panic!("tampering not detected: {v:?}"),
    }
}

#[test]
fn untouched_trail_verifies_across_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 60, "a");
    assert!(segments(&dir).len() >= 3);
    let v = verify(&dir, &key(), None).unwrap().into_result().unwrap();
    assert_eq!(v.records, 60);
    assert_eq!(v.head.unwrap().seq, 60);
    assert_eq!(v.first_seq, 1);
}

#[test]
fn modified_field_is_a_mac_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 30, "a");
    let seg = &segments(&dir)[0];
    let mut lines = read_lines(seg);
    assert!(lines[4].contains("\"qty\":5"));
    lines[4] = lines[4].replace("\"qty\":5", "\"qty\":500");
    write_lines(seg, &lines);
    let f = broken(&dir, None);
    assert_eq!(
        (f.segment.as_str(), f.line, f.seq),
        (file_name(seg).as_str(), 5, Some(5))
    );
    assert_eq!(f.kind, FindingKind::MacMismatch);
    // The writer refuses to open a damaged trail (fail closed) when the
    // damage is in the newest segment.
    let last = segments(&dir).pop().unwrap();
    let mut lines = read_lines(&last);
    lines[0] = lines[0].replace("SBIN", "SBIM");
    write_lines(&last, &lines);
    let err = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())).unwrap_err();
    assert!(matches!(err, AuditError::Tampered(_)), "{err}");
}

#[test]
fn deleted_record_is_a_missing_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 30, "a");
    let seg = &segments(&dir)[0];
    let mut lines = read_lines(seg);
    lines.remove(4);
    write_lines(seg, &lines);
    let f = broken(&dir, None);
    assert_eq!((f.line, f.seq), (5, Some(6)));
    assert_eq!(
        f.kind,
        FindingKind::MissingSeq {
            expected: 5,
            found: 6
        }
    );
}

#[test]
fn inserted_forged_record_is_a_mac_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 30, "a");
    let seg = &segments(&dir)[0];
    let mut lines = read_lines(seg);
    // A forger copies the shape of a real record, renumbers the rest and
    // invents a MAC.
    let forged = lines[3]
        .replace("\"seq\":4", "\"seq\":5")
        .replace("\"qty\":4", "\"qty\":9999");
    lines.insert(4, forged);
    write_lines(seg, &lines);
    let f = broken(&dir, None);
    assert_eq!((f.line, f.seq), (5, Some(5)));
    assert_eq!(f.kind, FindingKind::MacMismatch);
}

#[test]
fn replayed_record_is_reordered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 30, "a");
    let seg = &segments(&dir)[0];
    let mut lines = read_lines(seg);
    let copy = lines[2].clone();
    lines.insert(4, copy);
    write_lines(seg, &lines);
    let f = broken(&dir, None);
    assert_eq!(f.line, 5);
    assert_eq!(
        f.kind,
        FindingKind::Reordered {
            expected: 5,
            found: 3
        }
    );
}

#[test]
fn swapped_records_are_reordered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 30, "a");
    let seg = &segments(&dir)[0];
    let mut lines = read_lines(seg);
    lines.swap(4, 5);
    write_lines(seg, &lines);
    let f = broken(&dir, None);
    assert_eq!((f.line, f.seq), (5, Some(6)));
    assert_eq!(
        f.kind,
        FindingKind::Reordered {
            expected: 5,
            found: 6
        }
    );
}

#[test]
fn dropped_segment_is_a_missing_seq_at_the_next_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 60, "a");
    let segs = segments(&dir);
    assert!(segs.len() >= 3);
    let first: serde_json::Value = serde_json::from_str(&read_lines(&segs[2])[0]).unwrap();
    let first_of_third = first["seq"].as_u64().unwrap();
    let first_of_second = first_of_third - read_lines(&segs[1]).len() as u64;
    fs::remove_file(&segs[1]).unwrap();
    let f = broken(&dir, None);
    assert_eq!(f.segment, file_name(&segs[2]));
    assert_eq!(f.line, 1);
    assert_eq!(
        f.kind,
        FindingKind::MissingSeq {
            expected: first_of_second,
            found: first_of_third
        }
    );
}

#[test]
fn dropped_first_segment_is_a_missing_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 60, "a");
    let segs = segments(&dir);
    fs::remove_file(&segs[0]).unwrap();
    let f = broken(&dir, None);
    assert_eq!((f.segment.clone(), f.line), (file_name(&segs[1]), 1));
    assert!(
        matches!(f.kind, FindingKind::MissingSeq { expected: 1, .. }),
        "{f}"
    );
}

#[test]
fn truncated_tail_is_caught_by_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 60, "a");
    let v = verify(&dir, &key(), None).unwrap().into_result().unwrap();
    let checkpoint: Checkpoint = Checkpoint::new(v.head.unwrap())
        .to_string()
        .parse()
        .unwrap();

    // Cut three records off the end: the rest still verifies without the
    // checkpoint (this is why checkpoints exist) but not with it.
    let last = segments(&dir).pop().unwrap();
    let mut lines = read_lines(&last);
    lines.truncate(lines.len() - 3);
    write_lines(&last, &lines);
    assert!(verify(&dir, &key(), None).unwrap().is_intact());
    let f = broken(&dir, Some(&checkpoint));
    assert_eq!(f.segment, file_name(&last));
    assert_eq!(f.line, lines.len() as u64 + 1);
    assert_eq!(
        f.kind,
        FindingKind::TruncatedVsCheckpoint {
            checkpoint_seq: 60,
            head_seq: 57
        }
    );

    // Dropping the whole newest segment is caught the same way.
    fs::remove_file(&last).unwrap();
    assert!(matches!(
        broken(&dir, Some(&checkpoint)).kind,
        FindingKind::TruncatedVsCheckpoint {
            checkpoint_seq: 60,
            ..
        }
    ));
}

#[test]
fn rollback_and_rewrite_is_caught_by_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 20, "a");
    let v = verify(&dir, &key(), None).unwrap().into_result().unwrap();
    let checkpoint = Checkpoint::new(v.head.unwrap());
    // A key holder rolls back five records and writes different ones.
    let last = segments(&dir).pop().unwrap();
    let mut lines = read_lines(&last);
    lines.truncate(lines.len() - 5);
    write_lines(&last, &lines);
    let log = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())).unwrap();
    for _ in 0..6 {
        log.append(AuditEvent::system("rewritten", json!({})))
            .unwrap();
    }
    log.close().unwrap();
    assert!(verify(&dir, &key(), None).unwrap().is_intact());
    let f = broken(&dir, Some(&checkpoint));
    assert_eq!(f.seq, Some(20));
    assert_eq!(f.kind, FindingKind::CheckpointMismatch);
}

#[test]
fn spliced_chain_is_a_broken_link() {
    let tmp = tempfile::tempdir().unwrap();
    let a = trail(tmp.path(), "a", 10, "one");
    let b = trail(tmp.path(), "b", 10, "two");
    let seg_a = &segments(&a)[0];
    let mut lines = read_lines(seg_a);
    lines[6] = read_lines(&segments(&b)[0])[6].clone();
    write_lines(seg_a, &lines);
    let f = broken(&a, None);
    assert_eq!((f.line, f.seq), (7, Some(7)));
    assert_eq!(f.kind, FindingKind::BrokenLink);
}

#[test]
fn garbage_line_is_malformed_and_wrong_key_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 10, "a");
    let other = ChainKey::from_bytes(&[1u8; 32]).unwrap();
    match verify(&dir, &other, None).unwrap() {
        Verification::Broken(f) => {
            assert_eq!(
                (f.line, f.seq, f.kind),
                (1, Some(1), FindingKind::MacMismatch)
            );
        }
        Verification::Intact(_) => panic!("wrong key accepted"),
    }
    let seg = &segments(&dir)[0];
    let mut lines = read_lines(seg);
    lines[2] = "{not json at all".to_owned();
    write_lines(seg, &lines);
    let f = broken(&dir, None);
    assert_eq!(f.line, 3);
    assert!(matches!(f.kind, FindingKind::Malformed(_)), "{f}");
    // The report is readable and locates the record.
    assert!(f.to_string().contains("line 3"), "{f}");
}
