//! The `kafka-eos` command's building blocks: the demo (order events through worker
//! processes that get killed, verified end to end), the worker, `verify`, `offsets` and `lag`.

pub mod collector;
pub mod demo;
pub mod error;
mod group_client;
pub mod lag;
pub mod offsets;
pub mod orders;
pub mod verify;
pub mod worker;

pub use error::CliError;
