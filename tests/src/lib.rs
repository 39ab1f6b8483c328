//! Drives the platform's real processes against the real local stack: the harness
//! shared by the end-to-end suite (`tests/it`) and the benchmarks (`src/bin`).

pub mod catalogue;
pub mod cpu;
pub mod harness;
