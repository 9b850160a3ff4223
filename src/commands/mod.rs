//! One module per subcommand.

pub mod bench;
pub mod capacity;
pub mod run;
pub mod simulate;
pub mod topics;
