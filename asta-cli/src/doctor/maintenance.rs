//! The seed's maintenance schedule as facts: daily, review (verify) the
//! audit trail; weekly, test a backup; monthly, rotate keys. Every command
//! leaves a record in the trail, so the trail itself says when each was
//! last done. Overdue is a WARN, not a FAIL: the machine is still safe,
//! the routine has slipped.

use asta_audit::{AuditRecord, ChainKey};
use chrono::{DateTime, TimeDelta, Utc};

use super::CheckResult;
use crate::config::Config;

/// How often the trail should be verified.
pub const TRAIL_REVIEW_EVERY: TimeDelta = TimeDelta::days(1);
/// How often a backup should be verified or restored.
pub const BACKUP_TEST_EVERY: TimeDelta = TimeDelta::days(7);
/// How often API keys and passwords should be rotated.
pub const KEY_ROTATION_EVERY: TimeDelta = TimeDelta::days(30);

/// When each routine last succeeded, read from the trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceFacts {
    /// The newest `asta audit verify` that exited 0.
    pub trail_verified: Option<DateTime<Utc>>,
    /// The newest `asta backup verify` or `restore` that exited 0.
    pub backup_tested: Option<DateTime<Utc>>,
}

impl MaintenanceFacts {
    /// The facts in `records` (any order).
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Self {
        let mut facts = Self::default();
        for record in records {
            let succeeded = record.details.get("exit").and_then(|e| e.as_u64()) == Some(0);
            if !succeeded {
                continue;
            }
            let slot = match record.action.as_str() {
                "cli.audit.verify" => &mut facts.trail_verified,
                "cli.backup.verify" | "cli.backup.restore" => &mut facts.backup_tested,
                _ => continue,
            };
            if slot.is_none_or(|t| t < record.ts) {
                *slot = Some(record.ts);
            }
        }
        facts
    }

    /// Reads the facts from the configured trail.
    pub fn read(config: &Config, key: &ChainKey) -> Result<Self, String> {
        let records =
            asta_audit::read_records(&config.audit_dir(), key).map_err(|e| e.to_string())?;
        let mut all = Vec::new();
        for record in records {
            all.push(record.map_err(|e| e.to_string())?);
        }
        Ok(Self::from_records(&all))
    }
}

fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let hours = now.signed_duration_since(then).num_hours();
    if hours < 48 {
        format!("{hours} h ago")
    } else {
        format!("{} days ago", hours / 24)
    }
}

fn routine(
    id: &'static str,
    what: &str,
    last: Option<DateTime<Utc>>,
    every: TimeDelta,
    now: DateTime<Utc>,
    fix: &str,
) -> CheckResult {
    match last {
        Some(t) if now.signed_duration_since(t) <= every => CheckResult::pass(
            id,
            format!("{what} last done {} ({})", t.to_rfc3339(), age(now, t)),
        ),
        Some(t) => CheckResult::warn(
            id,
            format!(
                "{what} is overdue: last done {} ({}); due every {} days",
                t.to_rfc3339(),
                age(now, t),
                every.num_days()
            ),
            fix,
        ),
        None => CheckResult::warn(
            id,
            format!("{what}: never done (no record in the trail)"),
            fix,
        ),
    }
}

/// Daily: the trail verified.
pub fn check_trail_review(facts: &MaintenanceFacts, now: DateTime<Utc>) -> CheckResult {
    routine(
        "trail-review",
        "audit trail verification",
        facts.trail_verified,
        TRAIL_REVIEW_EVERY,
        now,
        "run `asta audit verify` (daily) and read `asta audit tail`",
    )
}

/// Weekly: a backup verified or restored.
pub fn check_backup_test(facts: &MaintenanceFacts, now: DateTime<Utc>) -> CheckResult {
    routine(
        "backup-test",
        "backup test",
        facts.backup_tested,
        BACKUP_TEST_EVERY,
        now,
        "run `asta backup verify FILE` on the newest backup (weekly), or a test restore",
    )
}

/// Monthly: API keys and passwords whose value is older than 30 days. The
/// audit chain key is never due (rotating it would break the trail), nor
/// are TOTP and sealing keys.
pub fn check_key_rotation(
    vault: Result<&asta_vault::Vault, &str>,
    chain_key_entry: &str,
    now: DateTime<Utc>,
) -> CheckResult {
    const ID: &str = "key-rotation";
    let vault = match vault {
        Ok(vault) => vault,
        Err(why) => {
            return CheckResult::warn(
                ID,
                format!("cannot tell which keys are due: {why}"),
                "create the vault with `asta vault init`",
            );
        }
    };
    let due: Vec<String> = vault
        .list()
        .into_iter()
        .filter(|e| {
            matches!(
                e.kind,
                asta_vault::EntryKind::ApiKey | asta_vault::EntryKind::Secret
            )
        })
        .filter(|e| e.name != chain_key_entry)
        .filter(|e| now.signed_duration_since(e.updated) > KEY_ROTATION_EVERY)
        .map(|e| format!("{} (last changed {})", e.name, age(now, e.updated)))
        .collect();
    if due.is_empty() {
        CheckResult::pass(ID, "no API key or password is older than 30 days")
    } else {
        CheckResult::warn(
            ID,
            format!("due for rotation: {}", due.join(", ")),
            "rotate each one: asta vault rotate NAME (monthly)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;
    use chrono::TimeZone;

    fn record(seq: u64, action: &str, exit: u64, ts: DateTime<Utc>) -> AuditRecord {
        serde_json::from_value(serde_json::json!({
            "seq": seq, "ts": ts, "category": "SYSTEM", "action": action,
            "details": {"exit": exit}, "prev": "00", "mac": "00",
        }))
        .unwrap()
    }

    #[test]
    fn facts_come_from_successful_records_and_overdue_is_a_warning() {
        let t = |d| Utc.with_ymd_and_hms(2026, 11, d, 4, 0, 0).unwrap();
        let records = [
            record(1, "cli.audit.verify", 0, t(20)),
            record(2, "cli.audit.verify", 1, t(26)), // tampering found: not a review done
            record(3, "cli.backup.verify", 0, t(10)),
            record(4, "cli.vault.list", 0, t(27)),
        ];
        let facts = MaintenanceFacts::from_records(&records);
        assert_eq!(facts.trail_verified, Some(t(20)));
        assert_eq!(facts.backup_tested, Some(t(10)));

        let now = t(20) + TimeDelta::hours(3);
        assert_eq!(check_trail_review(&facts, now).status, Status::Pass);
        assert_eq!(check_backup_test(&facts, now).status, Status::Warn);
        let later = t(27);
        let overdue = check_trail_review(&facts, later);
        assert_eq!(overdue.status, Status::Warn);
        assert!(overdue.detail.contains("overdue"), "{}", overdue.detail);
        let never = check_trail_review(&MaintenanceFacts::default(), later);
        assert_eq!(never.status, Status::Warn);
        assert!(never.detail.contains("never"), "{}", never.detail);
    }

    #[test]
    fn keys_older_than_a_month_are_due_but_never_the_chain_key() {
        use std::sync::Arc;
        let t0 = Utc.with_ymd_and_hms(2026, 10, 1, 4, 0, 0).unwrap();
        let clock = asta_core::ManualClock::new(t0);
        let dir = tempfile::tempdir().unwrap();
        let key = asta_vault::KeySource::Raw(asta_vault::MasterKey::generate().unwrap());
        let options = asta_vault::VaultOptions::new().with_clock(Arc::new(clock.clone()));
        let mut vault = asta_vault::Vault::create(dir.path().join("v"), &key, options).unwrap();
        for name in ["broker.password", "audit.chain_key"] {
            vault
                .set(name, asta_vault::SecretString::from("x-value"))
                .unwrap();
        }
        let soon = t0 + TimeDelta::days(10);
        assert_eq!(
            check_key_rotation(Ok(&vault), "audit.chain_key", soon).status,
            Status::Pass
        );
        let due = check_key_rotation(Ok(&vault), "audit.chain_key", t0 + TimeDelta::days(31));
        assert_eq!(due.status, Status::Warn);
        assert!(due.detail.contains("broker.password"), "{}", due.detail);
        assert!(!due.detail.contains("audit.chain_key"), "{}", due.detail);
    }
}
