//! Runnable examples for the ASTA workspace.
//!
//! This package holds no library code: its examples live beside this
//! directory and run from the workspace root with
//! `cargo run --example NAME`, for instance `cargo run --example core_tour`.
