//! Criterion benchmarks for the ASTA workspace.
//!
//! This package holds no library code: its benches live in `benches/` inside
//! it and run from the workspace root with `cargo bench`.
