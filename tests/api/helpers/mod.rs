//! Test harness: a real server per test on its own fresh database (`harness`), the standard
//! catalog and requests (`fixtures`), what the server stored, read with the tests' own SQL
//! (`stored`), and an independent recomputation of the scores from it (`recompute`).

#[macro_use]
mod harness;
mod fixtures;
mod recompute;
mod stored;

pub use fixtures::*;
pub use harness::*;
pub use recompute::*;
pub use stored::*;
