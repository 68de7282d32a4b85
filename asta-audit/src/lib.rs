//! Tamper-evident audit trail for ASTA (work in progress: see the asta-audit issue).
//!
//! This crate will write an append-only, HMAC-chained JSON Lines trail that
//! is durable before `append` returns, redacts secrets before anything is
//! written, survives crashes, rotates and prunes segments safely, and
//! verifies against exported checkpoints.
//!
//! It exposes no API yet.
