//! Broker abstraction and order guard for ASTA (work in progress: see the asta-broker issue).
//!
//! This crate will define the `Broker` trait, sandbox, paper and OpenAlgo
//! adapters, the guard that wraps any broker with validation, risk checks
//! and durable audit, the emergency stop, and alert sinks.
//!
//! It exposes no API yet.
