//! Criterion benchmarks for the ASTA workspace.
//!
//! This package holds no library code: its benches live beside this
//! directory and run from the workspace root with `cargo bench`.
