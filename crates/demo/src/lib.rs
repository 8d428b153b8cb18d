//! The order-pipeline demo (`kafka-eos-demo`) and the pieces the crash suites share with it.
//!
//! - [`orders`]: the domain: order events keyed by order id, the pipeline's function
//!   `f(event) -> result`, and the [`orders::OrderProcessor`] the workers run.
//! - [`topics`]: the topic and group names of one run.
//! - [`worker`]: one worker process of the pipeline (`kafka-eos-demo worker`).
//! - [`process`]: starting, watching, stopping and killing worker processes.
//! - [`exit`]: the exit statuses of the binary.
//! - [`run`] and [`report`]: the demo itself: input written, workers killed and restarted,
//!   output verified.
//! - [`broker_process`]: `--broker-kills` (the broker in a child process with a data dir,
//!   killed with SIGKILL and restarted during the run).
//! - [`failovers`]: `--nodes` and `--node-failovers` (a node of the embedded cluster fails
//!   and comes back during the run).
//! - [`schedule`]: when the injected faults happen.
//! - [`security`]: `--secure` (TLS + SCRAM on the embedded broker) and the security
//!   variables for an external cluster.
//! - [`verify`]: re-reads a run's topics and checks output = f(input).
//! - [`database`]: the demo into PostgreSQL or MariaDB (`--sink`): the tables, the workers'
//!   processor, the check of the tables against the input.
//!
//! Not published: it shows the library at work and drives the end-to-end suites.

pub mod broker_process;
pub mod database;
pub mod effects;
pub mod error;
pub mod exit;
pub mod failovers;
pub mod orders;
pub mod process;
pub mod report;
pub mod run;
pub mod schedule;
pub mod security;
pub mod topics;
pub mod verify;
pub mod worker;

pub use error::DemoError;
