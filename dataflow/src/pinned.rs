//! Property tests with pinned input: a fixed seed, so every run (and every
//! CI run) tries the same cases. A failure found another way (a wider local
//! run) is kept in `proptest-regressions/` and replayed first.

use proptest::test_runner::{Config, RngSeed};

/// `cases` cases from a fixed seed.
pub fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x5eed_0f_3e1e),
        ..Config::default()
    }
}
