//! Code generated from `proto/ingest.proto` and the dataflow's
//! `reading.proto` (see `build.rs`), in modules that follow the packages.
#![allow(missing_docs, clippy::all, clippy::pedantic, unreachable_pub)]

/// `weir.*` packages.
pub mod weir {
    /// `weir.reading.*`.
    pub mod reading {
        /// `weir.reading.v1`: the reading message.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/weir.reading.v1.rs"));
        }
    }
    /// `weir.ingest.*`.
    pub mod ingest {
        /// `weir.ingest.v1`: the ingest service.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/weir.ingest.v1.rs"));
        }
    }
}

pub use weir::ingest::v1 as ingest;
pub use weir::reading::v1 as reading;
