//! Encrypted credential vault for ASTA (work in progress: see the asta-vault issue).
//!
//! This crate will hold named secrets (broker API keys, passwords, TOTP
//! seeds) in one AES-256-GCM encrypted file whose data key is wrapped by a key
//! from the environment, a 0600 key file or an Argon2id passphrase; track
//! API-key scopes and expiry; verify RFC 6238 TOTP codes with replay
//! protection; and seal database fields and backup files.
//!
//! It exposes no API yet.
