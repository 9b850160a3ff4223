//! Property tests with pinned input: a fixed seed, so every run (and every
//! CI run) tries the same cases. A failure found another way (a wider local
//! run) is kept in `proptest-regressions/` and replayed first.

use proptest::test_runner::{Config, RngSeed};

/// `cases` cases from a fixed seed.
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(20_261_207),
        ..Config::default()
    }
}
