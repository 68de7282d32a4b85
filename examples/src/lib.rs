//! Runnable examples for the ASTA workspace.
//!
//! This package holds no library code: its examples live in `examples/` inside
//! it and run from the workspace root with `cargo run --example NAME`, for
//! instance `cargo run --example core_tour`.
