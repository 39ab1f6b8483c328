//! The consumer-group runtime lives in `platform::consumer`, because command-api runs
//! a consumer group too (the catalogue commands); this module keeps the short path
//! for this binary's groups.

pub use platform::consumer::*;
