//! Pre-trade risk engine for ASTA (work in progress: see the asta-risk issue).
//!
//! This crate will decide whether an order may go out: instrument rules,
//! price collars, size and exposure caps, daily loss, exact sliding-window
//! rate limits, trading hours and duplicate detection; latched breakers and
//! the Active / Reducing / Halted trading state; and a security monitor.
//!
//! It exposes no API yet.
