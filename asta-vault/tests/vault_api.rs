//! Public-API tests: permissions, key sources, API keys, .env import, the
//! canary (no secret in Debug, errors or logs), and proptest robustness.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use asta_core::{ManualClock, PublicCode};
use asta_vault::{
    ApiKeyPolicy, Argon2Params, DotenvImport, EntryKind, EntryOptions, ExpiryState, FieldSealer,
    KeyFile, KeyProtection, KeySource, MasterKey, Scope, Totp, TotpConfig, TotpError, Vault,
    VaultError, VaultOptions, open_stream, read_dotenv, seal_stream,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};

const CANARY: &str = "CANARY-7f3a9c-secret-value";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap()
}

fn weak() -> Argon2Params {
    Argon2Params::dangerous_weak_for_tests(8, 1, 1).unwrap()
}

fn opts(clock: &ManualClock) -> VaultOptions {
    VaultOptions::new()
        .with_clock(Arc::new(clock.clone()))
        .with_argon2(weak())
}

#[test]
fn create_open_get_set_remove_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    let key = KeySource::Raw(MasterKey::generate().unwrap());
    let clock = ManualClock::new(t0());
    let mut vault = Vault::create(&path, &key, opts(&clock)).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    vault
        .set_with(
            "shoonya.password",
            SecretString::from("pw1"),
            EntryOptions::new().note("broker login"),
        )
        .unwrap();
    vault
        .set("shoonya.password", SecretString::from("pw2"))
        .unwrap();
    let info = vault.info("shoonya.password").unwrap();
    assert_eq!((info.version, info.kind), (2, EntryKind::Secret));
    let vault2 = Vault::open_with(&path, &key, opts(&clock)).unwrap();
    assert_eq!(
        vault2.get("shoonya.password").unwrap().expose_secret(),
        "pw2"
    );
    assert_eq!(vault2.list().len(), 1);
    vault.remove("shoonya.password").unwrap();
    assert!(matches!(
        vault.get("shoonya.password"),
        Err(VaultError::NotFound { .. })
    ));
    assert!(matches!(
        vault.remove("nope"),
        Err(VaultError::NotFound { .. })
    ));
    assert!(matches!(
        vault.set("bad name", SecretString::from("x")),
        Err(VaultError::InvalidName { .. })
    ));
}

#[test]
fn expiring_plain_secret_is_refused_by_get() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let key = KeySource::Raw(MasterKey::generate().unwrap());
    let mut vault = Vault::create(dir.path().join("v"), &key, opts(&clock)).unwrap();
    vault
        .set_with(
            "session.token",
            SecretString::from("tok"),
            EntryOptions::new().expires(t0() + TimeDelta::hours(8)),
        )
        .unwrap();
    assert!(vault.get("session.token").is_ok());
    clock.advance(TimeDelta::hours(9));
    assert!(matches!(
        vault.get("session.token"),
        Err(VaultError::Expired { .. })
    ));
}

#[test]
fn key_file_and_vault_permissions_are_enforced_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("master.key");
    let vault_path = dir.path().join("v");
    let source = KeyFile::generate(&key_path).unwrap();
    let clock = ManualClock::new(t0());
    Vault::create(&vault_path, &source, opts(&clock)).unwrap();
    assert!(Vault::open(&vault_path, &source).is_ok());

    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Vault::open(&vault_path, &source).unwrap_err();
    assert!(
        matches!(err, VaultError::InsecurePermissions { mode: 0o644, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("chmod 600 '{}'", key_path.display())),
        "{err}"
    );
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();

    std::fs::set_permissions(&vault_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Vault::open(&vault_path, &source).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("chmod 600 '{}'", vault_path.display())),
        "{err}"
    );
    std::fs::set_permissions(&vault_path, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(
        Vault::open(&vault_path, &source).is_ok(),
        "stricter than 0600 is fine"
    );

    let link = dir.path().join("link.key");
    std::os::unix::fs::symlink(&key_path, &link).unwrap();
    assert!(matches!(
        Vault::open(&vault_path, &KeySource::KeyFile(link)),
        Err(VaultError::NotRegularFile { .. })
    ));
}

#[test]
fn passphrase_vault_with_default_owasp_params() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    let pass = KeySource::Passphrase(SecretString::from("a long operator passphrase"));
    let mut vault = Vault::create(&path, &pass, VaultOptions::default()).unwrap();
    assert_eq!(
        vault.protection(),
        KeyProtection::Passphrase(Argon2Params::new(19_456, 2, 1).unwrap())
    );
    vault.set("x", SecretString::from("y")).unwrap();
    let reopened = Vault::open(&path, &pass).unwrap();
    assert_eq!(reopened.get("x").unwrap().expose_secret(), "y");
}

/// Child half of `env_key_source_reads_asta_master_key`: runs only when the
/// parent sets the variables (setting them in-process would need `unsafe`).
#[test]
fn env_child() {
    let Some(path) = std::env::var_os("ASTA_VAULT_TEST_CHILD_PATH") else {
        return;
    };
    let vault = Vault::open(&path, &KeySource::Env).unwrap();
    assert_eq!(vault.get("from.env").unwrap().expose_secret(), "ok");
    let vault = Vault::open(&path, &KeySource::EnvVar("ASTA_VAULT_TEST_OTHER".into())).unwrap();
    assert_eq!(vault.get("from.env").unwrap().expose_secret(), "ok");
    println!("ENV-CHILD-PASSED");
}

#[test]
fn env_key_source_reads_asta_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    let key = MasterKey::generate().unwrap();
    let b64 = key.to_base64();
    let mut vault = Vault::create(&path, &KeySource::Raw(key), VaultOptions::default()).unwrap();
    vault.set("from.env", SecretString::from("ok")).unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "env_child", "--nocapture", "--test-threads=1"])
        .env("ASTA_VAULT_TEST_CHILD_PATH", &path)
        .env("ASTA_MASTER_KEY", b64.as_str())
        .env("ASTA_VAULT_TEST_OTHER", b64.as_str())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("ENV-CHILD-PASSED"),
        "{stdout}"
    );
}

#[test]
fn api_keys_scopes_expiry_rotation_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let key = KeySource::Raw(MasterKey::generate().unwrap());
    let mut vault = Vault::create(dir.path().join("v"), &key, opts(&clock)).unwrap();
    let policy = ApiKeyPolicy::new([Scope::read(), Scope::trade()]);
    vault
        .add_api_key("openalgo.api_key", SecretString::from(CANARY), &policy)
        .unwrap();
    assert!(matches!(
        vault.add_api_key("openalgo.api_key", SecretString::from("x"), &policy),
        Err(VaultError::EntryExists { .. })
    ));
    let now = t0() + TimeDelta::days(1);
    let got = vault
        .api_key("openalgo.api_key", &Scope::trade(), now)
        .unwrap();
    assert_eq!(got.expose_secret(), CANARY);
    let denied = vault
        .api_key("openalgo.api_key", &Scope::admin(), now)
        .unwrap_err();
    assert!(matches!(denied, VaultError::ScopeDenied { .. }), "{denied}");
    assert!(matches!(
        vault.get("openalgo.api_key"),
        Err(VaultError::WrongKind { .. })
    ));

    let near = t0() + TimeDelta::days(80);
    let status = vault.status(near);
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].state, ExpiryState::ExpiringSoon { days_left: 10 });

    let late = t0() + TimeDelta::days(93);
    let expired = vault
        .api_key("openalgo.api_key", &Scope::read(), late)
        .unwrap_err();
    let text = expired.to_string();
    assert!(
        matches!(
            expired,
            VaultError::Expired {
                age_days: 93,
                expired_days: 3,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("openalgo.api_key") && text.contains("93 day"),
        "{text}"
    );
    assert!(!text.contains(CANARY));
    assert!(vault.status(late)[0].state.needs_attention());

    clock.set(late);
    let version = vault
        .rotate("openalgo.api_key", SecretString::from("new-key"))
        .unwrap();
    assert_eq!(version, 2);
    let fresh = vault
        .api_key("openalgo.api_key", &Scope::read(), late)
        .unwrap();
    assert_eq!(fresh.expose_secret(), "new-key");
    assert_eq!(vault.status(late)[0].state, ExpiryState::Valid);
}

#[test]
fn dotenv_import_leaves_the_environment_alone() {
    let dir = tempfile::tempdir().unwrap();
    let env_path = dir.path().join(".env");
    std::fs::write(
        &env_path,
        format!("# comment\nASTA_TEST_IMPORT_ONLY_KEY={CANARY}\nBROKER_USER=\"trader one\"\nexport PIN=1234\n"),
    )
    .unwrap();
    std::fs::set_permissions(&env_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let entries = read_dotenv(&env_path).unwrap();
    assert_eq!(entries.len(), 3);
    assert!(!format!("{entries:?}").contains(CANARY));
    assert!(std::env::var_os("ASTA_TEST_IMPORT_ONLY_KEY").is_none());

    let clock = ManualClock::new(t0());
    let key = KeySource::Raw(MasterKey::generate().unwrap());
    let mut vault = Vault::create(dir.path().join("v"), &key, opts(&clock)).unwrap();
    vault.set("env.PIN", SecretString::from("old")).unwrap();
    let report = vault
        .import_dotenv(&env_path, &DotenvImport::new().prefix("env."))
        .unwrap();
    assert_eq!(
        report.imported,
        ["env.ASTA_TEST_IMPORT_ONLY_KEY", "env.BROKER_USER"]
    );
    assert_eq!(report.skipped_existing, ["env.PIN"]);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("readable by other users"))
    );
    assert_eq!(
        vault.get("env.BROKER_USER").unwrap().expose_secret(),
        "trader one"
    );
    assert_eq!(vault.get("env.PIN").unwrap().expose_secret(), "old");
    assert!(std::env::var_os("ASTA_TEST_IMPORT_ONLY_KEY").is_none());
    let report = vault
        .import_dotenv(
            &env_path,
            &DotenvImport::new().prefix("env.").overwrite(true),
        )
        .unwrap();
    assert_eq!(report.imported.len(), 3);
    assert_eq!(vault.get("env.PIN").unwrap().expose_secret(), "1234");
}

#[test]
fn sealed_backup_of_a_vault_round_trips_with_a_vault_key() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let key = KeySource::Raw(MasterKey::generate().unwrap());
    let mut vault = Vault::create(dir.path().join("v"), &key, opts(&clock)).unwrap();
    let seal_key = vault.create_seal_key("backup.key").unwrap();
    let again = vault.seal_key("backup.key").unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut sealed = Vec::new();
    seal_stream(&data[..], &mut sealed, &seal_key).unwrap();
    let mut opened = Vec::new();
    open_stream(&sealed[..], &mut opened, &again).unwrap();
    assert_eq!(opened, data);
    let sealer = FieldSealer::new(&again).unwrap();
    let cell = sealer.seal("orders", "notes", "1", b"n").unwrap();
    assert!(sealer.open("orders", "notes", "2", &cell).is_err());
}

// ----- canary: no secret in Debug, errors or logs ---------------------------

/// A minimal tracing subscriber that records every field of every span and event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Visitor<'a>(&'a mut String);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut Visitor(&mut self.0.lock().unwrap()));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Visitor(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut log = self.0.lock().unwrap();
        log.push('\n');
        event.record(&mut Visitor(&mut log));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn check(shown: &mut Vec<String>, text: String) {
    shown.push(text);
}

#[test]
fn canary_never_appears_in_debug_errors_or_logs() {
    let capture = Capture::default();
    let mut shown = Vec::new();
    tracing::subscriber::with_default(capture.clone(), || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let clock = ManualClock::new(t0());
        let pass = KeySource::Passphrase(SecretString::from(CANARY));
        let mut vault = Vault::create(&path, &pass, opts(&clock)).unwrap();
        vault.set("canary", SecretString::from(CANARY)).unwrap();
        vault
            .add_api_key(
                "canary.key",
                SecretString::from(CANARY),
                &ApiKeyPolicy::new([Scope::read()]),
            )
            .unwrap();
        let enrollment = vault
            .enroll_totp("totp.op", "ASTA", "op", TotpConfig::default())
            .unwrap();
        check(&mut shown, format!("{enrollment:?}"));
        check(
            &mut shown,
            format!("{vault:?} {:?} {:?}", vault.list(), vault.status(t0())),
        );
        check(&mut shown, format!("{:?}", vault.get("canary").unwrap()));
        check(&mut shown, format!("{pass:?}"));
        for err in [
            vault
                .api_key("canary.key", &Scope::trade(), t0())
                .unwrap_err(),
            vault
                .api_key("canary.key", &Scope::read(), t0() + TimeDelta::days(400))
                .unwrap_err(),
            Vault::open(&path, &KeySource::Passphrase("wrong".into())).unwrap_err(),
            vault.get("totp.op").unwrap_err(),
            Vault::open(&path, &KeySource::EnvVar("ASTA_TEST_UNSET_VAR_X".into())).unwrap_err(),
            MasterKey::from_base64(CANARY, "test").unwrap_err(),
        ] {
            check(&mut shown, format!("{err} {err:?} {:?}", err.public_code()));
        }
        for code in ["000000", CANARY, "12345x"] {
            let err: TotpError = vault.verify_totp("totp.op", code, t0()).unwrap_err();
            check(&mut shown, format!("{err} {err:?}"));
        }
        // A malformed .env line holding the canary.
        let env_path = dir.path().join(".env");
        std::fs::write(&env_path, format!("GOOD=1\nBAD LINE {CANARY}\n")).unwrap();
        let err = read_dotenv(&env_path).unwrap_err();
        check(&mut shown, format!("{err} {err:?}"));
        let key = vault.create_seal_key("seal").unwrap();
        check(
            &mut shown,
            format!("{key:?} {:?}", FieldSealer::new(&key).unwrap()),
        );
        let totp = Totp::generate(TotpConfig::default()).unwrap();
        check(&mut shown, format!("{totp:?}"));
        vault
            .rotate("canary", SecretString::from(format!("{CANARY}-2")))
            .unwrap();
        vault.remove("canary").unwrap();
    });
    let log = capture.0.lock().unwrap().clone();
    assert!(
        log.contains("TOTP code refused"),
        "the capture works: {log}"
    );
    for text in shown.iter().chain(std::iter::once(&log)) {
        assert!(!text.contains(CANARY), "canary leaked: {text}");
    }
}

// ----- proptest: arbitrary input never panics --------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_as_a_vault_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        std::fs::write(&path, &bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = KeySource::Raw(MasterKey::generate().unwrap());
        prop_assert!(Vault::open(&path, &key).is_err());
    }

    #[test]
    fn vault_prefix_with_arbitrary_tail_never_panics(
        tail in proptest::collection::vec(any::<u8>(), 0..300),
        cut in 0usize..400,
    ) {
        let mut bytes = b"ASTAVLT\0\x00\x01".to_vec();
        bytes.extend_from_slice(&tail);
        bytes.truncate(cut.max(1));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        std::fs::write(&path, &bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        prop_assert!(Vault::open(&path, &KeySource::Raw(MasterKey::generate().unwrap())).is_err());
    }

    #[test]
    fn arbitrary_totp_codes_never_panic(code in ".{0,40}") {
        let totp = Totp::generate(TotpConfig::default()).unwrap();
        let result = totp.check(&code, t0(), None);
        if let Ok(step) = result {
            let expected = totp.code_at_step(step);
            prop_assert_eq!(expected.as_str(), code.as_str());
        }
    }
}

#[test]
fn arbitrary_totp_codes_through_the_vault_are_refused_or_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let key = KeySource::Raw(MasterKey::generate().unwrap());
    let mut vault = Vault::create(dir.path().join("v"), &key, opts(&clock)).unwrap();
    vault
        .enroll_totp("totp.op", "ASTA", "op", TotpConfig::default())
        .unwrap();
    let vault = std::cell::RefCell::new(vault);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(32));
    runner
        .run(&".{0,24}", |code| {
            let result = vault.borrow_mut().verify_totp("totp.op", &code, t0());
            if let Err(err) = &result {
                prop_assert!(err.is_refusal(), "{err}");
            }
            Ok(())
        })
        .unwrap();
    assert!(matches!(
        vault.borrow_mut().verify_totp("totp.op", "000000", t0()),
        Err(TotpError::Throttled { .. })
    ));
}
