//! Client keys: issue, authenticate, rotate, revoke, expire, reopen, and
//! the canary (the key never in the vault file, a Debug or an error).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::sync::Arc;

use asta_core::{ManualClock, StrategyTag};
use asta_vault::{
    Argon2Params, ClientKeyRefusal, ClientKeyState, ClientScope, ExposeSecret, KeySource,
    MasterKey, Vault, VaultError, VaultOptions,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap()
}

fn opts(clock: &ManualClock) -> VaultOptions {
    VaultOptions::new()
        .with_clock(Arc::new(clock.clone()))
        .with_argon2(Argon2Params::dangerous_weak_for_tests(8, 1, 1).unwrap())
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    key: KeySource,
    clock: ManualClock,
}

fn fixture() -> (Fixture, Vault) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("asta.vault");
    let key = KeySource::Raw(MasterKey::generate().unwrap());
    let clock = ManualClock::new(t0());
    let vault = Vault::create(&path, &key, opts(&clock)).unwrap();
    (
        Fixture {
            _dir: dir,
            path,
            key,
            clock,
        },
        vault,
    )
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

#[test]
fn issue_and_authenticate() {
    let (_f, mut vault) = fixture();
    let tag = StrategyTag::new("scalper").unwrap();
    let issued = vault
        .issue_client_key("bot", ClientScope::Trade, Some(tag.clone()), days(90))
        .unwrap();
    let key = issued.key.expose_secret();
    assert!(key.starts_with("asta_ck_") && key.len() == 60, "{key}");
    assert_eq!(issued.info.name, "bot");
    assert_eq!(issued.info.expires, t0() + days(90));
    assert_eq!(issued.info.state(t0()), ClientKeyState::Active);

    let registry = vault.client_key_registry().unwrap();
    let info = registry.authenticate(key, t0()).unwrap();
    assert_eq!(info.name, "bot");
    assert_eq!(info.scope, ClientScope::Trade);
    assert_eq!(info.strategy.as_ref(), Some(&tag));
    assert!(info.may_use_strategy(&tag));
    assert!(!info.may_use_strategy(&StrategyTag::new("other").unwrap()));

    // A one-character change is unknown; a wrong shape is malformed.
    let mut other = key.to_owned();
    let last = if other.ends_with('a') { "b" } else { "a" };
    other.replace_range(59.., last);
    assert_eq!(
        registry.authenticate(&other, t0()),
        Err(ClientKeyRefusal::Unknown)
    );
    for bad in [
        "",
        "asta_ck_",
        &key.to_uppercase(),
        &key[..59],
        "x".repeat(60).as_str(),
    ] {
        assert_eq!(
            registry.authenticate(bad, t0()),
            Err(ClientKeyRefusal::Malformed),
            "{bad:?}"
        );
    }

    // A read key: separate record, unbound.
    let read = vault
        .issue_client_key("viewer", ClientScope::Read, None, days(1))
        .unwrap();
    let registry = vault.client_key_registry().unwrap();
    assert_eq!(registry.len(), 2);
    let info = registry
        .authenticate(read.key.expose_secret(), t0())
        .unwrap();
    assert_eq!(info.scope, ClientScope::Read);
    assert!(info.strategy.is_none());
    let names: Vec<String> = vault.client_keys().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["bot", "viewer"]);
}

#[test]
fn empty_registry_refuses_everything() {
    let (_f, vault) = fixture();
    let registry = vault.client_key_registry().unwrap();
    assert!(registry.is_empty());
    let key = format!("asta_ck_{}", "a".repeat(52));
    assert_eq!(
        registry.authenticate(&key, t0()),
        Err(ClientKeyRefusal::Unknown)
    );
}

#[test]
fn rotate_replaces_the_key() {
    let (f, mut vault) = fixture();
    let old = vault
        .issue_client_key("bot", ClientScope::Trade, None, days(30))
        .unwrap();
    f.clock.advance(days(10));
    let new = vault.rotate_client_key("bot").unwrap();
    assert_ne!(old.key.expose_secret(), new.key.expose_secret());
    assert_ne!(old.info.fingerprint, new.info.fingerprint);
    assert_eq!(new.info.scope, ClientScope::Trade);
    assert_eq!(new.info.created, t0() + days(10));
    assert_eq!(new.info.expires, t0() + days(40), "same lifetime, from now");

    let registry = vault.client_key_registry().unwrap();
    let now = t0() + days(10);
    assert_eq!(
        registry.authenticate(old.key.expose_secret(), now),
        Err(ClientKeyRefusal::Unknown)
    );
    assert_eq!(
        registry
            .authenticate(new.key.expose_secret(), now)
            .unwrap()
            .name,
        "bot"
    );
    assert!(matches!(
        vault.rotate_client_key("nobody"),
        Err(VaultError::ClientKeyNotFound { .. })
    ));
}

#[test]
fn revoke_is_final() {
    let (f, mut vault) = fixture();
    let issued = vault
        .issue_client_key("bot", ClientScope::Read, None, days(30))
        .unwrap();
    f.clock.advance(TimeDelta::hours(1));
    let info = vault.revoke_client_key("bot").unwrap();
    assert_eq!(info.revoked_at, Some(t0() + TimeDelta::hours(1)));
    assert_eq!(info.state(t0()), ClientKeyState::Revoked);
    let registry = vault.client_key_registry().unwrap();
    assert_eq!(
        registry.authenticate(issued.key.expose_secret(), t0()),
        Err(ClientKeyRefusal::Revoked { name: "bot".into() })
    );
    assert!(matches!(
        vault.rotate_client_key("bot"),
        Err(VaultError::ClientKeyRevoked { .. })
    ));
    // Revoking again changes nothing.
    let generation = vault.generation();
    assert_eq!(vault.revoke_client_key("bot").unwrap(), info);
    assert_eq!(vault.generation(), generation);
    assert!(matches!(
        vault.revoke_client_key("nobody"),
        Err(VaultError::ClientKeyNotFound { .. })
    ));
}

#[test]
fn expiry_by_the_clock() {
    let (f, mut vault) = fixture();
    let issued = vault
        .issue_client_key("bot", ClientScope::Trade, None, days(1))
        .unwrap();
    let registry = vault.client_key_registry().unwrap();
    let key = issued.key.expose_secret();
    assert!(
        registry
            .authenticate(key, t0() + days(1) - TimeDelta::seconds(1))
            .is_ok()
    );
    assert_eq!(
        registry.authenticate(key, t0() + days(1)),
        Err(ClientKeyRefusal::Expired { name: "bot".into() })
    );
    // An expired key may be rotated back into service.
    f.clock.advance(days(2));
    let new = vault.rotate_client_key("bot").unwrap();
    let registry = vault.client_key_registry().unwrap();
    assert!(
        registry
            .authenticate(new.key.expose_secret(), t0() + days(2))
            .is_ok()
    );
}

#[test]
fn names_duplicates_and_lifetimes() {
    let (_f, mut vault) = fixture();
    vault
        .issue_client_key("bot", ClientScope::Read, None, days(90))
        .unwrap();
    let generation = vault.generation();
    assert!(matches!(
        vault.issue_client_key("bot", ClientScope::Trade, None, days(90)),
        Err(VaultError::ClientKeyExists { .. })
    ));
    for bad in ["", "Bot", "1bot", "b t", "b/t", &"a".repeat(65)] {
        assert!(
            matches!(
                vault.issue_client_key(bad, ClientScope::Read, None, days(90)),
                Err(VaultError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    for bad in [TimeDelta::zero(), TimeDelta::hours(23), days(731), days(-1)] {
        assert!(matches!(
            vault.issue_client_key("other", ClientScope::Read, None, bad),
            Err(VaultError::InvalidInput(_))
        ));
    }
    assert!(
        vault
            .issue_client_key("max", ClientScope::Read, None, days(730))
            .is_ok()
    );
    assert_eq!(vault.generation(), generation + 1, "refusals write nothing");
}

#[test]
fn reopened_vault_authenticates_and_never_holds_the_key() {
    let (f, mut vault) = fixture();
    let issued = vault
        .issue_client_key("bot", ClientScope::Admin, None, days(90))
        .unwrap();
    let key = issued.key.expose_secret().to_owned();
    let body = key.trim_start_matches("asta_ck_").to_owned();
    drop(vault);

    let bytes = std::fs::read(&f.path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&key) && !text.contains(&body));
    assert!(!text.to_lowercase().contains(&body[..20]));

    let vault = Vault::open_with(&f.path, &f.key, opts(&f.clock)).unwrap();
    let registry = vault.client_key_registry().unwrap();
    assert_eq!(
        registry.authenticate(&key, t0()).unwrap().scope,
        ClientScope::Admin
    );

    // Canary: no Debug, record or error carries the key.
    let texts = [
        format!("{issued:?}"),
        format!("{registry:?}"),
        format!("{vault:?}"),
        format!("{:?}", vault.client_keys()),
        serde_json::to_string(&vault.client_keys()).unwrap(),
        format!("{:?}", vault.list()),
        format!("{:?}", registry.authenticate(&key, t0() + days(91))),
        format!(
            "{}",
            registry.authenticate(&key, t0() + days(91)).unwrap_err()
        ),
    ];
    for text in texts {
        assert!(!text.contains(&body[..16]), "{text}");
    }
    assert!(format!("{registry:?}").contains("bot"));
}

#[test]
fn old_entries_and_other_kinds_are_left_alone() {
    let (_f, mut vault) = fixture();
    vault
        .set("client_key.bot", asta_vault::SecretString::from("x"))
        .unwrap();
    // A plain secret that happens to use the prefix is no client key.
    assert!(vault.client_keys().is_empty());
    assert!(matches!(
        vault.revoke_client_key("bot"),
        Err(VaultError::ClientKeyNotFound { .. })
    ));
    assert!(vault.client_key_registry().unwrap().is_empty());
}

proptest! {
    #[test]
    fn random_text_never_authenticates(text in ".{0,80}", body in "[a-z2-7]{52}") {
        let (_f, mut vault) = fixture();
        vault.issue_client_key("bot", ClientScope::Trade, None, days(90)).unwrap();
        let registry = vault.client_key_registry().unwrap();
        prop_assert!(registry.authenticate(&text, t0()).is_err());
        let shaped = format!("asta_ck_{body}");
        prop_assert_eq!(registry.authenticate(&shaped, t0()), Err(ClientKeyRefusal::Unknown));
    }
}
