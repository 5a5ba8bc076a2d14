//! A protocol ready to run on real sockets: what the harness needs to start its nodes, built from
//! the protocol's [`Serve`] registration.
//!
//! A runnable protocol serves the `lin-kv` client interface, so the load generator and the
//! history checker apply to it. Its actor is the very one the checker explores: here it is only
//! given its peers' addresses as ids. Nothing in this module names a protocol.

use super::NodeContext;
use crate::lincheck;
use stateright::actor::Id;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use synod_models::protocol::{Judged, KeySemantics, Serve, Settings, MAX_TALLIES};

/// Opens one node's data directory and starts its thread (an error: the node cannot start).
pub type Launcher =
    Arc<dyn Fn(NodeContext) -> io::Result<JoinHandle<io::Result<()>>> + Send + Sync>;

/// A protocol that can run, with what the harness needs to know about it.
#[derive(Clone)]
pub struct Runnable {
    pub name: &'static str,
    /// The sequential object a key of this store is, for the history checker; `None`: the
    /// protocol serves no clients, and its run is judged by [`Self::judge`].
    pub model: Option<lincheck::Model>,
    /// Whether clients may send `cas`.
    pub cas: bool,
    /// The settings its servers were built with (the bug variant, runtime parameters).
    pub settings: Settings,
    /// Whether it has a leader (for `--crash leader@SECS`).
    pub leader: bool,
    /// Whether clients may retry a request at another server ([`Serve::RETRY_ELSEWHERE`]).
    pub retry_elsewhere: bool,
    /// The names of the counts its servers keep ([`Serve::TALLIES`]).
    pub tallies: &'static [&'static str],
    /// The run's verdict from those counts summed ([`Serve::judge`]).
    pub judge: fn(&[u64; MAX_TALLIES]) -> Option<Judged>,
    /// Round trips an operation waits for, each for a quorum ([`Serve::QUORUM_ROUND_TRIPS`]).
    pub quorum_round_trips: u32,
    /// Whether its settings make sense on a cluster of this many nodes ([`Serve::fits`]).
    pub fits: fn(&Settings, usize) -> Result<(), String>,
    pub launch: Launcher,
}

impl Runnable {
    /// Protocol `P`'s servers under `settings` (validated by the catalog).
    pub fn of<P: Serve>(settings: Settings) -> Runnable {
        assert!(
            P::TALLIES.len() <= synod_models::protocol::MAX_TALLIES,
            "{} declares more tallies than a node reports",
            P::DESCRIPTOR.name
        );
        let model = lincheck::Model::of(P::KEYS);
        let for_nodes = settings.clone();
        Runnable {
            name: P::DESCRIPTOR.name,
            model,
            cas: P::KEYS == KeySemantics::Register && P::CAS,
            settings,
            leader: P::LEADER,
            retry_elsewhere: P::RETRY_ELSEWHERE,
            tallies: P::TALLIES,
            judge: P::judge,
            fits: P::fits,
            quorum_round_trips: P::QUORUM_ROUND_TRIPS,
            launch: Arc::new(move |ctx: NodeContext| {
                let servers = ctx.addrs.iter().map(|a| Id::from(*a)).collect();
                let actor = P::server(&for_nodes, ctx.index, servers);
                let hooks = super::node::Hooks {
                    leading: P::leading,
                    early: P::early(&actor),
                    tallies: (!P::TALLIES.is_empty()).then_some(P::tallies as fn(&_) -> _),
                    clients: match P::KEYS {
                        KeySemantics::Counter => super::codec::Clients::Counter,
                        KeySemantics::NoClients => super::codec::Clients::NoClients,
                        KeySemantics::Register | KeySemantics::WriteOnce => {
                            super::codec::Clients::LinKv
                        }
                    },
                };
                super::node::start(actor, P::DESCRIPTOR.name, hooks, ctx)
            }),
        }
    }
}
