//! Synod's protocol actors. Each module tells one protocol: prose first, then the messages, the
//! state, the actor, its properties and its deliberately broken variants, a builder that returns
//! the checked model, and its catalog descriptor ([`protocol::Protocol`]): the one file a
//! protocol costs. Everything here is pure and deterministic: no sockets, files, clocks
//! or threads, so the model checker, the explorer and the UDP runtime all drive the same code.

pub mod abd;
pub mod baseline;
pub mod batch;
pub mod checked;
pub mod clocks;
pub mod durable;
pub mod gossip;
pub mod kv;
pub mod liveness;
pub mod multi_paxos;
pub mod paxos;
pub mod primary_backup;
pub mod protocol;
pub mod quorum_kv;
pub mod raft;
pub mod single_copy_kv;
pub mod system;
pub mod tla;
pub mod trace;
pub mod two_phase_commit;

use stateright::actor::{LossyNetwork, Network};
use std::fmt;
use std::hash::Hash;

/// The network semantics a model is checked under (stateright's, plus message loss).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NetworkKind {
    /// Messages race one another and are delivered at most once.
    #[default]
    UnorderedNonDuplicating,
    /// Messages race one another and may be delivered again and again.
    UnorderedDuplicating,
    /// Messages between a pair of actors arrive in the order sent (per direction).
    Ordered,
    /// Unordered, at most once, and any message may be lost.
    LossyUnorderedNonDuplicating,
    /// Unordered, duplicating, and any message may be lost.
    LossyUnorderedDuplicating,
    /// Ordered per channel, and any message may be lost.
    LossyOrdered,
}

impl NetworkKind {
    /// Every kind with its command-line name.
    pub const ALL: [(&'static str, NetworkKind); 6] = [
        (
            "unordered-nonduplicating",
            NetworkKind::UnorderedNonDuplicating,
        ),
        ("unordered-duplicating", NetworkKind::UnorderedDuplicating),
        ("ordered", NetworkKind::Ordered),
        (
            "lossy-unordered-nonduplicating",
            NetworkKind::LossyUnorderedNonDuplicating,
        ),
        (
            "lossy-unordered-duplicating",
            NetworkKind::LossyUnorderedDuplicating,
        ),
        ("lossy-ordered", NetworkKind::LossyOrdered),
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .expect("every kind is listed")
    }

    /// Parses a command-line name (stateright's underscore spellings are accepted too).
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.replace('_', "-");
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    pub fn lossy(self) -> LossyNetwork {
        match self {
            NetworkKind::LossyUnorderedNonDuplicating
            | NetworkKind::LossyUnorderedDuplicating
            | NetworkKind::LossyOrdered => LossyNetwork::Yes,
            _ => LossyNetwork::No,
        }
    }

    /// An empty stateright network of this kind.
    pub fn network<M: Eq + Hash + Clone + Ord>(self) -> Network<M> {
        match self {
            NetworkKind::UnorderedNonDuplicating | NetworkKind::LossyUnorderedNonDuplicating => {
                Network::new_unordered_nonduplicating([])
            }
            NetworkKind::UnorderedDuplicating | NetworkKind::LossyUnorderedDuplicating => {
                Network::new_unordered_duplicating([])
            }
            NetworkKind::Ordered | NetworkKind::LossyOrdered => Network::new_ordered([]),
        }
    }
}

impl fmt::Display for NetworkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
