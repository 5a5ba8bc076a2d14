//! Which catalog protocols run on real sockets, and how a node's actor is built for each.
//!
//! A runnable protocol serves the `lin-kv` client interface, so the load generator and the
//! history checker apply to it. Its actor is the very one the checker explores: here it is only
//! given its peers' addresses as ids.

use super::NodeContext;
use crate::lincheck;
use stateright::actor::Id;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use synod_models::paxos::{PaxosBug, PaxosServer};
use synod_models::single_copy_kv::{SingleCopyBug, SingleCopyServer};

/// Starts one node's thread.
pub type Launcher =
    Arc<dyn Fn(NodeContext) -> io::Result<JoinHandle<io::Result<()>>> + Send + Sync>;

/// A protocol that can run, with what the harness needs to know about it.
#[derive(Clone)]
pub struct Runnable {
    pub name: &'static str,
    /// The sequential object a key of this store is, for the history checker.
    pub model: lincheck::Model,
    /// Whether clients may send `cas`.
    pub cas: bool,
    pub launch: Launcher,
}

/// The protocols `synod run`, `node` and `bench` accept.
pub const RUNNABLE: [&str; 2] = ["paxos", "single-copy-kv"];

fn spawn_thread(
    ctx: NodeContext,
    body: impl FnOnce(NodeContext) -> io::Result<()> + Send + 'static,
) -> io::Result<JoinHandle<io::Result<()>>> {
    std::thread::Builder::new()
        .name(format!("synod-node-{}", ctx.index))
        .spawn(move || body(ctx))
}

fn parse_bug<B: Copy>(
    protocol: &str,
    bug: Option<&str>,
    all: &[(&'static str, B)],
) -> Result<Option<B>, String> {
    let Some(bug) = bug else { return Ok(None) };
    match all.iter().find(|(n, _)| *n == bug) {
        Some((_, b)) => Ok(Some(*b)),
        None => {
            let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
            Err(format!(
                "{protocol} has no bug variant {bug:?}; choose one of: {}",
                names.join(", ")
            ))
        }
    }
}

/// The runnable protocol `name`, built with bug variant `bug` if given.
pub fn runnable(name: &str, bug: Option<&str>) -> Result<Runnable, String> {
    match name {
        "paxos" => {
            let bug = parse_bug(name, bug, &PaxosBug::ALL)?;
            Ok(Runnable {
                name: "paxos",
                model: lincheck::Model::WriteOnce,
                cas: false,
                launch: Arc::new(move |ctx| {
                    let actor = PaxosServer {
                        index: ctx.index,
                        servers: ctx.addrs.iter().map(|a| Id::from(*a)).collect(),
                        bug,
                        retry_rounds: u32::MAX,
                        tell_laggards: true,
                    };
                    spawn_thread(ctx, move |ctx| super::node::run(actor, ctx))
                }),
            })
        }
        "single-copy-kv" => {
            let bug = parse_bug(name, bug, &SingleCopyBug::ALL)?;
            Ok(Runnable {
                name: "single-copy-kv",
                model: lincheck::Model::Register,
                cas: true,
                launch: Arc::new(move |ctx| {
                    let mut actor = SingleCopyServer::new(
                        ctx.index,
                        ctx.addrs.iter().map(|a| Id::from(*a)).collect(),
                    );
                    actor.bug = bug;
                    spawn_thread(ctx, move |ctx| super::node::run(actor, ctx))
                }),
            })
        }
        _ => Err(format!(
            "{name:?} cannot run on the network; runnable protocols: {}",
            RUNNABLE.join(", ")
        )),
    }
}
