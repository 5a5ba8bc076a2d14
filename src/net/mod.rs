//! The UDP runtime: the same actors the checker explores, on real sockets, clocks and disks.
//!
//! - [`node`]: one actor on one socket: the step loop, timers, group commit, the outbox.
//! - [`codec`]: binary (postcard behind a version byte) between nodes, JSON `lin-kv` with clients.
//! - [`storage`]: what actors `save`: a snapshot plus an incremental write-ahead file, fsynced.
//! - [`datadir`]: a node's data directory: locked, recording what wrote it, checked ([`datadir::verify`]).
//! - [`faults`]: loss, duplication, delay, partitions; seeded.
//! - [`cluster`]: a local cluster of nodes on loopback, crash and restart, counters.
//! - [`runnable`]: a registered protocol ready to run: how its actors are built for a node.
//!
//! Nothing here knows a protocol: the runtime drives `stateright::actor::Actor`s whose messages
//! are [`synod_models::kv::KvMsg`]s and whose storage is [`storage::Durable`].

pub mod cluster;
pub mod codec;
pub mod datadir;
pub mod faults;
pub mod node;
pub mod record;
pub mod runnable;
pub mod storage;

use serde::Serialize;
use std::net::{SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Instant;
use synod_models::protocol::MAX_TALLIES;

pub use cluster::{Cluster, ClusterConfig};
pub use faults::{FaultConfig, NodeEvent, Partition, Target};
pub use storage::FsyncPolicy;

/// Everything a node needs besides its actor.
pub struct NodeContext {
    /// This node's index in `addrs`.
    pub index: usize,
    /// Every node's address, in index order (a node's peers are the others).
    pub addrs: Arc<Vec<SocketAddrV4>>,
    /// The bound socket (bound by the caller, so a cluster learns ephemeral ports up front).
    pub socket: UdpSocket,
    /// This node's data directory.
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub faults: FaultConfig,
    /// When the cluster started (partition schedules count from here).
    pub epoch: Instant,
    /// Set to stop the node (a clean stop, or a crash: volatile state is dropped either way).
    pub stop: Arc<AtomicBool>,
    pub counters: Arc<Counters>,
    /// How many times this node has been started before (varies the timer seed on restart).
    pub incarnation: u64,
    /// The term this node leads in, plus one; 0 while it does not lead (for `--crash leader`).
    pub leading: Arc<AtomicU64>,
    /// The run's recording (`--record`), if any.
    pub record: Option<Arc<record::Recorder>>,
}

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        /// A node's counters, shared with whoever reports them. Relaxed atomics: each is
        /// written by its node's thread only.
        #[derive(Debug, Default)]
        pub struct Counters {
            $($(#[doc = $doc])* pub $name: AtomicU64,)*
            /// The protocol's own counts ([`Serve::TALLIES`](synod_models::protocol::Serve)), as
            /// its state last said.
            pub protocol: [AtomicU64; MAX_TALLIES],
        }

        /// A copy of [`Counters`] at one moment, for reports.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct CounterValues {
            $($(#[doc = $doc])* pub $name: u64,)*
            /// Reported with their names ([`cluster::NodeReport::protocol`]).
            #[serde(skip)]
            pub protocol: [u64; MAX_TALLIES],
        }

        impl Counters {
            pub fn values(&self) -> CounterValues {
                CounterValues {
                    $($name: self.$name.load(std::sync::atomic::Ordering::Relaxed),)*
                    protocol: std::array::from_fn(|i| {
                        self.protocol[i].load(std::sync::atomic::Ordering::Relaxed)
                    }),
                }
            }
        }

        impl CounterValues {
            /// Every counter with its name, in declaration order.
            pub fn named(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }

            /// The sum of two nodes' counters.
            pub fn add(&self, other: &CounterValues) -> CounterValues {
                CounterValues {
                    $($name: self.$name + other.$name,)*
                    protocol: std::array::from_fn(|i| self.protocol[i] + other.protocol[i]),
                }
            }
        }
    };
}

counters! {
    /// Datagrams taken off the socket.
    received,
    /// Client requests decoded (JSON).
    requests,
    /// Datagrams sent (each copy of a duplicated one counts).
    sent,
    /// Datagrams that were neither a valid binary message nor JSON with a `msg_id` (dropped).
    undecodable,
    /// Binary datagrams from an address that is not a peer (dropped).
    non_peer,
    /// JSON requests answered with error 10 or 12.
    malformed,
    /// Messages with no wire form for their destination, or too large (dropped).
    unsendable,
    /// Socket receive errors (e.g. an ICMP error of an earlier send).
    recv_errors,
    /// Socket send errors (a full send buffer: UDP's own loss).
    send_errors,
    /// Actor steps run (on_start, on_msg, on_timeout, on_random).
    steps,
    /// Timers that fired.
    timeouts,
    /// Group commits (batches that saved).
    commits,
    /// fsync calls.
    fsyncs,
    /// Bytes written to disk.
    disk_bytes,
    /// Snapshots written.
    snapshots,
    /// Starts that recovered saved state from disk.
    recoveries,
    /// Torn write-ahead tails cut on recovery (the last write of a crash, never acknowledged).
    torn_tails,
    /// Datagrams dropped by injected loss or a partition.
    fault_dropped,
    /// Datagrams sent twice, or client requests delivered twice, by injected duplication.
    fault_duplicated,
    /// Datagrams held back by injected delay.
    fault_delayed,
    /// Delayed datagrams dropped because the delay queue was full (or a node's notes to itself
    /// past their bound).
    queue_full,
    /// Messages the protocol let leave before the saves made ahead of them were durable
    /// (`Serve::early`: Raft's parallel append).
    sent_early,
    /// Messages a node sent itself (delivered in memory at its next batch).
    to_self,
}
