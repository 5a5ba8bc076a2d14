//! Synod: write a distributed protocol once, as a stateright actor, and model-check it, explore it
//! in a web UI, and (in later issues) run it over UDP.
//!
//! This crate is the harness: the catalog of protocols, the checker front end and reports, and the
//! explorer. The protocols themselves live in `synod-models`, the abstract specifications in
//! `synod-specs`. All I/O lives here.

pub mod bench;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod client;
pub mod convergence;
pub mod lincheck;
pub mod net;
pub mod order_stats;
pub mod serve;
pub mod sweep;
pub mod ui;
pub mod unloaded;
pub mod util;
