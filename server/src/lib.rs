//! weir's serving layer: what people read.
//!
//! The REST history API, the WebSocket push server, the dashboard assets and
//! the Prometheus metrics arrive with the serve issue (#5). The crate exists
//! now so the workspace has its final shape and dependency direction
//! (dataflow ← connectors ← server ← weir) from the start.
#![warn(missing_docs)]
