//! Run with: cargo run --example audit_trail
//!
//! Writes a tamper-evident audit trail in a temporary directory (a risk
//! decision, an order intent carrying a secret that is redacted, an error
//! under a public reference), verifies it against an exported checkpoint,
//! then edits one line on disk and shows the verifier catching it.

use std::error::Error;
use std::fs;
use std::sync::Arc;

use asta_audit::{
    AuditConfig, AuditEvent, AuditLog, ChainKey, Checkpoint, RiskDecision, Verification, verify,
};
use asta_core::{ErrorCode, ErrorReference, ManualClock, PublicError};
use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::json;

fn main() -> Result<(), Box<dyn Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("audit");
    // In production the key comes from the vault, `ChainKey::from_env("ASTA_AUDIT_KEY")`
    // or `ChainKey::from_key_file(..)`; it is never stored next to the trail.
    let key = ChainKey::generate()?;
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 27, 3, 45, 0)
            .single()
            .ok_or("bad start time")?,
    );
    let log = AuditLog::open(
        &dir,
        key.clone(),
        AuditConfig::default(),
        Arc::new(clock.clone()),
    )?;

    println!("== Writing the trail in {}", dir.display());
    log.append(AuditEvent::system(
        "session_start",
        json!({"mode": "SANDBOX"}),
    ))?;
    clock.advance(TimeDelta::milliseconds(1500));
    log.append(AuditEvent::risk_decision(
        "pre_trade",
        "momentum",
        RiskDecision::Approved,
        json!({"symbol": "SBIN", "qty": 10, "price": "801.05"}),
    ))?;
    let intent = log.append(AuditEvent::order(
        "place_intent",
        "momentum",
        json!({
            "symbol": "SBIN",
            "side": "BUY",
            "qty": 10,
            "price": "801.05",
            "apikey": "5f2b7c9d1e3a4b6c8d0e2f4a6b8c0d1e3f5a7b9c1d3e5f7a9b0c2d4e6f8a0b1c",
            "request": "POST /api/v1/placeorder Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0cmFkZXIifQ.c2ln",
        }),
    ))?;
    println!(
        "order intent is durable as seq {} (mac {}…)",
        intent.seq,
        &intent.mac.to_string()[..16]
    );
    clock.advance(TimeDelta::milliseconds(40));
    let reference = ErrorReference::generate();
    log.append(AuditEvent::error(
        reference.clone(),
        "broker_call_failed",
        json!({"detail": "connection reset by 10.0.0.5:5000 (password=hunter2 in retry URL)"}),
    ))?;
    let public = PublicError::with_reference(ErrorCode::BrokerUnavailable, reference);
    println!("the user sees only: {public}");
    log.append(AuditEvent::risk_decision(
        "pre_trade",
        "momentum",
        RiskDecision::rejected("price 901.05 above band 880.10 for SBIN"),
        json!({"symbol": "SBIN", "qty": 10}),
    ))?;

    let checkpoint = log.checkpoint().ok_or("no durable record")?;
    let exported = checkpoint.to_string();
    println!("checkpoint to keep elsewhere:\n  {exported}");
    log.close()?;

    let segment = fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .ok_or("no segment")?;
    let text = fs::read_to_string(&segment)?;
    println!("\n== The records on disk (secrets redacted before writing)");
    for line in text.lines() {
        println!("{line}");
    }
    if text.contains("hunter2") || text.contains("5f2b7c9d") || text.contains("eyJ") {
        return Err("a secret reached the file".into());
    }

    println!("\n== Verifying against the checkpoint");
    let checkpoint: Checkpoint = exported.parse()?;
    match verify(&dir, &key, Some(&checkpoint))? {
        Verification::Intact(v) => println!(
            "intact: {} records, head seq {}",
            v.records,
            v.head.map_or(0, |h| h.seq)
        ),
        Verification::Broken(f) => return Err(format!("unexpected: {f}").into()),
    }

    println!("\n== Tampering: changing the order quantity from 10 to 1000 on disk");
    let tampered = text.replacen("\"qty\":10,\"request\"", "\"qty\":1000,\"request\"", 1);
    if tampered == text {
        return Err("the edit did not change the file".into());
    }
    fs::write(&segment, tampered)?;
    match verify(&dir, &key, Some(&checkpoint))? {
        Verification::Broken(f) => println!("caught: {f}"),
        Verification::Intact(_) => return Err("tampering was not detected".into()),
    }

    println!("\n== Truncating: deleting the last record");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    fs::write(&segment, lines.join("\n") + "\n")?;
    match verify(&dir, &key, Some(&checkpoint))? {
        Verification::Broken(f) => println!("caught: {f}"),
        Verification::Intact(_) => return Err("truncation was not detected".into()),
    }
    Ok(())
}
