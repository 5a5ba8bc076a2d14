//! Multi-Paxos: a replicated log of Paxos instances, one per slot, with a stable leader that runs
//! phase 1 once for every slot and then only phase 2 ("Paxos Made Simple", section 3; van Renesse
//! and Altinbuken, *Paxos Made Moderately Complex*, 2015), serving the lin-kv store of
//! [`crate::kv`].
//!
//! # The algorithm
//!
//! Every replica is a **proposer**, an **acceptor** and a **learner**. Ballots are pairs
//! `(round, replica)`, totally ordered and unique per replica. An acceptor keeps, durably, the
//! highest ballot it has promised and, per slot, the last proposal it accepted with its ballot.
//!
//! - **Phase 1, once for all slots.** A replica that suspects the leader (its election timer
//!   fires) picks a ballot above every ballot it has seen, promises it to itself and sends
//!   `Prepare(b, from)`, where `from` is the first slot it has not applied. An acceptor whose
//!   promise is lower promises `b` (on disk) and answers `Promise(b)` with every proposal it
//!   accepted at `from` or above (and its snapshot if it compacted past `from`); otherwise it
//!   answers `Reject` naming its promise.
//! - **Becoming leader.** With promises from a majority the candidate leads. For every slot from
//!   `from` to the highest slot any promise mentions it re-proposes the value accepted with the
//!   highest ballot, and a no-op where no promise reports anything (a gap), all in its own
//!   ballot: a value that may have been chosen in an earlier ballot is the only one it can
//!   propose there, because every majority intersects the majority that accepted it.
//! - **Phase 2 only, while the ballot stands.** Each new client command (or batch, `--batch`)
//!   goes into the next free slot with `Accept(b, slot, value)`; up to `--inflight` slots are
//!   open at once. An acceptor whose promise is not higher accepts (on disk) and answers
//!   `Accepted(b, slot)`. A majority of acceptances (the leader's own included) decides the slot.
//! - **Learning.** The leader applies decided slots in slot order and answers the clients whose
//!   commands they are. Every `Accept` and heartbeat carries the leader's commit point; a
//!   replica that accepted a slot's value in that same ballot knows it is the decided one. A
//!   replica missing decided slots (it accepted in another ballot, lost messages, or restarted)
//!   asks the leader (`CatchUp`) and gets the values, or the leader's snapshot (`Learn`).
//! - **Stepping down.** A leader or candidate that sees a higher ballot (a `Reject`, a `Prepare`,
//!   an `Accept`) stops and follows it. Followers redirect clients (error 11 naming the leader).
//!
//! # The store
//!
//! Writes and cas go through the log. **Reads do not**: the leader answers them from its state
//! machine once it has confirmed that its ballot still stands, the ReadIndex idea of the Raft
//! dissertation (section 6.4) in Paxos terms. A read waits for a heartbeat round that starts
//! after it arrived: `Heartbeat(b, round)` to every replica, answered `HeartbeatOk(b, round)`
//! by each one that has promised nothing above `b`. A majority of acknowledgements shows that
//! no higher ballot had finished phase 1 when the read arrived, so nothing was decided that
//! this leader will not apply; the leader also waits until it has applied every slot phase 1
//! covered (what earlier ballots may have decided). One round is out at a time and the reads
//! that arrive meanwhile share the next, so a round costs one message per replica whatever the
//! load. The acknowledgement needs no disk: it claims only the absence of a higher promise.
//! A leader that steps down answers its waiting reads with error 11.
//!
//! Client sessions live in the replicated state machine ([`KvStore`]), so a retry after a
//! leader change applies at most once. Once `--snapshot N` slots are applied past the last
//! snapshot, a replica snapshots its state machine and drops those slots from its acceptor and
//! learner state.
//!
//! # Durability
//!
//! The acceptor's promise and accepted proposals (and its snapshot) are saved through stateright
//! `Storage` in the step that changes them, before any message of that step leaves. The runtime
//! writes a delta: a promise is one record, an acceptance one record, never the whole state. A
//! restarted replica resumes from its acceptor state and its snapshot and learns the rest again.
//!
//! # Properties
//!
//! - `slot agreement`: no two replicas decide different values for a slot;
//! - `log prefix`: the slots the replicas applied, in the order they applied them, are prefixes
//!   of one another;
//! - `linearizable`: the clients' history against a lin-kv register per key;
//! - `sometimes`: `leader change completes a command` (a leader decides a client command that
//!   an earlier ballot had proposed), `cas committed`.
//!
//! # Bounds in the checker
//!
//! Elections happen whenever the checker fires a timer, so rounds are bounded (`--ballots`): a
//! replica does not start phase 1 past that round. Each client runs a short script (`--ops`).
//! Periodic heartbeats, catch-up and retransmission are for the network (`keepalive`); in the
//! checker heartbeats go out only for reads, nothing is lost unless a lossy network is chosen,
//! and followers learn decisions with the next `Accept` or heartbeat. Messages that can no
//! longer change anything are dropped (`obsolete`), and a crash restarts the replica in the
//! same step, as for Raft.

use crate::checked::{
    canonical_clients, servers_only_crash, stale_client_reply, view_servers, Checked, KvModel,
    KvSystemState,
};
use crate::durable::Durable;
use crate::kv::{
    record_invocations, record_returns, request_op, ClientPerm, Command, History, Key, KeyMap,
    KvActor, KvClient, KvConfig, KvMsg, KvOp, KvStore, MsgId, Outcome, Permute, Step, MAX_CLIENTS,
};
use crate::protocol::{
    always, ms, sometimes, BugInfo, Descriptor, KeySemantics, Need, Param, Pinned, Protocol, Serve,
    Settings, ALL_NETWORKS,
};
use crate::system::System;
use crate::trace::{crashed_row, view_columns, ViewCell, ViewTable};
use crate::NetworkKind;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Envelope, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A log position (1-based; 0 is "before the first slot").
pub type Slot = u64;

/// A ballot: a round and the replica that owns it, ordered by round first.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ballot {
    pub round: u64,
    pub leader: u8,
}

impl fmt::Debug for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}.{}", self.round, self.leader)
    }
}

/// What a slot holds: one command of a batch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Cmd {
    /// Fills a slot no earlier ballot proposed anything for.
    Noop,
    Op {
        client: Id,
        msg_id: MsgId,
        cmd: Command,
    },
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cmd::Noop => write!(f, "noop"),
            Cmd::Op {
                client,
                msg_id,
                cmd: Command::Write { key, value },
            } => write!(f, "c{}#{msg_id} k{key}={value}", usize::from(*client)),
            Cmd::Op {
                client,
                msg_id,
                cmd: Command::Cas { key, from, to },
            } => write!(
                f,
                "c{}#{msg_id} cas k{key} {from}->{to}",
                usize::from(*client)
            ),
        }
    }
}

/// A slot's value: the commands batched into it (at least one). Shared: the leader's proposal,
/// its acceptance, its messages and its log hold one allocation, and comparing two copies of
/// it (the write-ahead delta does) is a pointer comparison.
pub type Batch = Arc<Vec<Cmd>>;

/// An acceptor's durable state.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Acceptor {
    /// The highest ballot promised.
    pub promised: Ballot,
    /// Per slot above `start`, the last proposal accepted and its ballot.
    pub accepted: KeyMap<(Ballot, Batch)>,
    /// Slots up to `start` are decided, applied and compacted into `snapshot`.
    pub start: Slot,
    pub snapshot: Option<Arc<KvStore>>,
}

impl fmt::Debug for Acceptor {
    /// `promised b2.1 snapshot ..3 4:b2.1[c3#1 k0=1]`; alternate (`{:#?}`): a struct of its
    /// fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("Acceptor")
                .field("promised", &self.promised)
                .field("accepted", &self.accepted)
                .field("start", &self.start)
                .field("snapshot", &self.snapshot)
                .finish();
        }
        write!(f, "promised {:?}", self.promised)?;
        if self.start > 0 {
            write!(f, " snapshot ..{}", self.start)?;
        }
        for (s, (b, v)) in self.accepted.iter() {
            write!(f, " {s}:{b:?}{v:?}")?;
        }
        Ok(())
    }
}

/// What a replica saves (shared with its state: saving costs a reference count).
pub type MpStorage = Arc<Acceptor>;

/// One change to [`Acceptor`] as the runtime appends it to its write-ahead file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MpRecord {
    Promise(Ballot),
    Accept(Slot, Ballot, Batch),
}

/// A promise is one record, an acceptance one record; a compaction (a new snapshot) has no
/// incremental form and is written as a whole snapshot.
impl Durable for MpStorage {
    type Entry = MpRecord;

    fn delta(&self, prev: &Self) -> Option<Vec<MpRecord>> {
        if Arc::ptr_eq(self, prev) {
            return Some(Vec::new());
        }
        if self.start != prev.start || self.snapshot != prev.snapshot {
            return None;
        }
        let mut out = Vec::new();
        if self.promised != prev.promised {
            out.push(MpRecord::Promise(self.promised));
        }
        let (now, then) = (&self.accepted, &prev.accepted);
        let changed: Vec<Slot> = match now.changed_since(then) {
            Some(slots) => slots,
            None => now.iter().map(|(s, _)| *s).collect(),
        };
        for s in changed {
            match (now.get(&s), then.get(&s)) {
                (Some(v), Some(old)) if v == old => {}
                (Some((b, v)), _) => out.push(MpRecord::Accept(s, *b, v.clone())),
                // Slots only leave the map by compaction, which changes `start`.
                (None, Some(_)) => return None,
                (None, None) => {}
            }
        }
        if now.len() < then.len() {
            return None;
        }
        Some(out)
    }

    fn apply(&mut self, record: MpRecord) {
        let a = Arc::make_mut(self);
        match record {
            MpRecord::Promise(b) => a.promised = a.promised.max(b),
            MpRecord::Accept(s, b, v) => {
                if s > a.start {
                    *a.accepted.entry_or_default(s) = (b, v);
                }
            }
        }
    }
}

/// Node-to-node messages, named as in "Paxos Made Simple" (phase 1: `Prepare`/`Promise`,
/// phase 2: `Accept`/`Accepted`) plus the learning a log needs.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MpMsg {
    /// Phase 1a: promise `ballot` and report what you accepted at `from` or above.
    Prepare { ballot: Ballot, from: Slot },
    /// Phase 1b: the acceptor's proposals at `from` or above, and its snapshot when it
    /// compacted past `from` (the slots up to `start`, decided).
    Promise {
        ballot: Ballot,
        accepted: Vec<(Slot, Ballot, Batch)>,
        snapshot: Option<(Slot, Arc<KvStore>)>,
    },
    /// Phase 2a, with the leader's commit point (every slot up to `commit` is decided).
    Accept {
        ballot: Ballot,
        slot: Slot,
        batch: Batch,
        commit: Slot,
    },
    /// Phase 2b.
    Accepted { ballot: Ballot, slot: Slot },
    /// The answer to a `Prepare` or `Accept` of a ballot below the acceptor's promise.
    Reject { ballot: Ballot, promised: Ballot },
    /// The leader is alive and every slot up to `commit` is decided; answer with `round` (the
    /// leader's read confirmations). Periodic on the network; in the checker, only for reads.
    Heartbeat {
        ballot: Ballot,
        commit: Slot,
        round: u64,
    },
    /// The sender had promised no ballot above `ballot` when the heartbeat of `round` came.
    HeartbeatOk { ballot: Ballot, round: u64 },
    /// A replica asks the leader for the decided slots from `from` (network only).
    CatchUp { from: Slot },
    /// Decided slots `from..` (and before them, when `snapshot` is set, the state machine after
    /// every slot up to its slot).
    Learn {
        snapshot: Option<(Slot, Arc<KvStore>)>,
        from: Slot,
        batches: Vec<Batch>,
    },
    /// `--parallel-accept`: a leader's note to itself to save the proposals it sent in `ballot`.
    Persist { ballot: Ballot },
    /// `--parallel-accept`: a leader's note to itself that its acceptances of the slots up to
    /// `upto` are on disk (the runtime releases it only then), so they count.
    Persisted { ballot: Ballot, upto: Slot },
}

impl fmt::Debug for MpMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return self.fields(f);
        }
        match self {
            MpMsg::Prepare { ballot, from } => write!(f, "Prepare({ballot:?} from {from})"),
            MpMsg::Promise {
                ballot,
                accepted,
                snapshot,
            } => {
                write!(f, "Promise({ballot:?}")?;
                for (s, b, v) in accepted {
                    write!(f, " {s}:{b:?}{v:?}")?;
                }
                if let Some((s, sm)) = snapshot {
                    write!(f, " snapshot ..{s} {sm:?}")?;
                }
                write!(f, ")")
            }
            MpMsg::Accept {
                ballot,
                slot,
                batch,
                commit,
            } => write!(f, "Accept({ballot:?} {slot}:{batch:?} commit {commit})"),
            MpMsg::Accepted { ballot, slot } => write!(f, "Accepted({ballot:?} {slot})"),
            MpMsg::Reject { ballot, promised } => {
                write!(f, "Reject({ballot:?}, promised {promised:?})")
            }
            MpMsg::Heartbeat {
                ballot,
                commit,
                round,
            } => write!(f, "Heartbeat({ballot:?} commit {commit} round {round})"),
            MpMsg::HeartbeatOk { ballot, round } => {
                write!(f, "HeartbeatOk({ballot:?} round {round})")
            }
            MpMsg::CatchUp { from } => write!(f, "CatchUp(from {from})"),
            MpMsg::Learn {
                snapshot,
                from,
                batches,
            } => {
                write!(f, "Learn(")?;
                if let Some((s, sm)) = snapshot {
                    write!(f, "snapshot ..{s} {sm:?}, ")?;
                }
                write!(f, "{from}: {batches:?})")
            }
            MpMsg::Persist { ballot } => write!(f, "Persist({ballot:?})"),
            MpMsg::Persisted { ballot, upto } => write!(f, "Persisted({ballot:?} ..{upto})"),
        }
    }
}

impl MpMsg {
    /// `{:#?}`: every field by name, for the UI's message trees (the plain form above is
    /// the paper-style one-liner of diagrams and step lists).
    fn fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MpMsg::Prepare { ballot, from } => f
                .debug_struct("Prepare")
                .field("ballot", ballot)
                .field("from", from)
                .finish(),
            MpMsg::Promise {
                ballot,
                accepted,
                snapshot,
            } => f
                .debug_struct("Promise")
                .field("ballot", ballot)
                .field("accepted", accepted)
                .field("snapshot", snapshot)
                .finish(),
            MpMsg::Accept {
                ballot,
                slot,
                batch,
                commit,
            } => f
                .debug_struct("Accept")
                .field("ballot", ballot)
                .field("slot", slot)
                .field("batch", batch)
                .field("commit", commit)
                .finish(),
            MpMsg::Accepted { ballot, slot } => f
                .debug_struct("Accepted")
                .field("ballot", ballot)
                .field("slot", slot)
                .finish(),
            MpMsg::Reject { ballot, promised } => f
                .debug_struct("Reject")
                .field("ballot", ballot)
                .field("promised", promised)
                .finish(),
            MpMsg::Heartbeat {
                ballot,
                commit,
                round,
            } => f
                .debug_struct("Heartbeat")
                .field("ballot", ballot)
                .field("commit", commit)
                .field("round", round)
                .finish(),
            MpMsg::HeartbeatOk { ballot, round } => f
                .debug_struct("HeartbeatOk")
                .field("ballot", ballot)
                .field("round", round)
                .finish(),
            MpMsg::CatchUp { from } => f.debug_struct("CatchUp").field("from", from).finish(),
            MpMsg::Learn {
                snapshot,
                from,
                batches,
            } => f
                .debug_struct("Learn")
                .field("snapshot", snapshot)
                .field("from", from)
                .field("batches", batches)
                .finish(),
            MpMsg::Persist { ballot } => f.debug_struct("Persist").field("ballot", ballot).finish(),
            MpMsg::Persisted { ballot, upto } => f
                .debug_struct("Persisted")
                .field("ballot", ballot)
                .field("upto", upto)
                .finish(),
        }
    }
}

/// The election timer (a follower suspecting the leader) and the leader's heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MpTimer {
    Election,
    Heartbeat,
}

/// The election timeout's range on the network.
pub const ELECTION_MS: Range<u64> = 150..300;
/// The leader's heartbeat period on the network.
pub const HEARTBEAT_MS: u64 = 50;

/// A slot the leader proposed and has not seen decided.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Proposal {
    pub batch: Batch,
    /// The replicas that accepted it in the leader's ballot, as a bit set.
    pub acks: u64,
    /// Re-proposed from phase 1: an earlier ballot had proposed this value.
    pub inherited: bool,
}

/// A read waiting for the leader to confirm its ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PendingRead {
    pub client: Id,
    pub msg_id: MsgId,
    pub key: Key,
    /// Answer once a majority acknowledged a heartbeat of this round or a later one.
    pub round: u64,
}

/// A leader's volatile state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaderState {
    pub ballot: Ballot,
    /// The next free slot.
    pub next: Slot,
    /// The last slot phase 1 covered: every slot decided before this ballot is at or below
    /// it, so reads wait until it is applied (0 once it is: states that differ only in a
    /// floor already passed behave alike).
    pub floor: Slot,
    /// The latest heartbeat round sent for reads (0: none yet).
    pub round: u64,
    /// Per replica (by index), the highest round it acknowledged in this ballot.
    pub acked: Vec<u64>,
    /// Reads waiting for their round (bounded by [`MAX_PENDING_READS`]).
    pub reads: Vec<PendingRead>,
    /// Open slots, by slot.
    pub proposals: im::OrdMap<Slot, Proposal>,
    /// Client commands waiting for a free slot (bounded by [`MAX_QUEUED`]).
    pub queue: Vec<Cmd>,
    /// `--parallel-accept`: a `Persist` to itself is on its way.
    pub persisting: bool,
}

/// Follower, candidate (phase 1 under way) or leader.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate {
        ballot: Ballot,
        /// Promises received, as a bit set (its own included).
        votes: u64,
        /// The first slot phase 1 covers.
        from: Slot,
        /// The highest-ballot proposal reported per slot so far.
        learned: im::OrdMap<Slot, (Ballot, Batch)>,
        /// The most advanced snapshot reported, if it is past `from - 1`.
        snapshot: Option<(Slot, Arc<KvStore>)>,
    },
    Leader(Box<LeaderState>),
}

/// A replica's state: its acceptor (shared with what it saved) and its volatile part.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MpState {
    pub a: Arc<Acceptor>,
    pub role: Role,
    /// The leader this replica follows, if it knows one (for redirecting clients).
    pub leader: Option<Id>,
    /// Decided slots above `applied` that this replica has learned.
    pub decided: im::OrdMap<Slot, Batch>,
    /// Decided slots from `a.start + 1` up to `applied`, kept to answer `CatchUp` (network).
    pub log: im::OrdMap<Slot, Batch>,
    /// Slots `1..=applied` are applied to `sm`.
    pub applied: Slot,
    pub sm: Arc<KvStore>,
    /// Ghosts for the properties (the checker only; empty on the network): the slots applied,
    /// in the order applied, and whether this replica decided a command an earlier ballot had
    /// proposed, and applied a successful cas.
    pub history: im::Vector<(Slot, Batch)>,
    pub completed_inherited: bool,
    pub cas_ok: bool,
}

impl fmt::Debug for MpState {
    /// One line, `LEADER b1.0 next 2 ..., promised b1.0, applied 1 sm k0=1, leader 0`;
    /// alternate (`{:#?}`): a struct of all its fields, ghosts included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("MpState")
                .field("a", &self.a)
                .field("role", &self.role)
                .field("leader", &self.leader)
                .field("decided", &self.decided)
                .field("log", &self.log)
                .field("applied", &self.applied)
                .field("sm", &self.sm)
                .field("history", &self.history)
                .field("completed_inherited", &self.completed_inherited)
                .field("cas_ok", &self.cas_ok)
                .finish();
        }
        match &self.role {
            Role::Follower => write!(f, "follower")?,
            Role::Candidate { ballot, votes, .. } => {
                write!(f, "candidate {ballot:?} ({} promises)", votes.count_ones())?
            }
            Role::Leader(l) => {
                write!(f, "LEADER {:?} next {}", l.ballot, l.next)?;
                for (s, p) in l.proposals.iter() {
                    write!(f, " open {s}:{:?} ({} acks)", p.batch, p.acks.count_ones())?;
                }
                if !l.queue.is_empty() {
                    write!(f, " queued {:?}", l.queue)?;
                }
            }
        }
        write!(
            f,
            ", {:?}, applied {} sm {:?}",
            self.a, self.applied, self.sm
        )?;
        if !self.decided.is_empty() {
            write!(f, ", decided")?;
            for (s, v) in self.decided.iter() {
                write!(f, " {s}:{v:?}")?;
            }
        }
        if let Some(l) = self.leader {
            write!(f, ", leader {}", usize::from(l))?;
        }
        Ok(())
    }
}

impl MpState {
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The ballot this replica campaigns or leads with, if it does.
    pub fn ballot_in_use(&self) -> Option<Ballot> {
        match &self.role {
            Role::Leader(l) => Some(l.ballot),
            Role::Candidate { ballot, .. } => Some(*ballot),
            Role::Follower => None,
        }
    }

    /// The ballot this replica leads with, if it leads.
    pub fn leading(&self) -> Option<Ballot> {
        match &self.role {
            Role::Leader(l) => Some(l.ballot),
            _ => None,
        }
    }
}

/// Deliberately broken variants (see the descriptor for sources).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MpBug {
    /// A new leader ignores the proposals reported in phase 1 and fills those slots with no-ops.
    SkipRepropose,
    /// An acceptor accepts a proposal of a ballot below its promise.
    AcceptBelowPromise,
    /// A leader refused by a higher ballot moves past it and keeps proposing, without phase 1.
    StaleLeaderPhase2,
    /// A replica applies a decided slot before every lower slot is decided.
    ApplyOutOfOrder,
    /// A slot counts as decided with one acceptance fewer than a majority.
    QuorumMinusOne,
    /// A leader answers a read from its state machine without confirming its ballot.
    UnconfirmedRead,
}

impl MpBug {
    pub const ALL: [(&'static str, MpBug); 6] = [
        ("skip-repropose", MpBug::SkipRepropose),
        ("accept-below-promise", MpBug::AcceptBelowPromise),
        ("stale-leader-phase2", MpBug::StaleLeaderPhase2),
        ("apply-out-of-order", MpBug::ApplyOutOfOrder),
        ("quorum-minus-one", MpBug::QuorumMinusOne),
        ("unconfirmed-read", MpBug::UnconfirmedRead),
    ];
}

/// A Multi-Paxos replica: its index among `servers` and its configuration.
#[derive(Clone, Debug)]
pub struct MpServer {
    pub index: usize,
    pub servers: Vec<Id>,
    pub bug: Option<MpBug>,
    /// Commands per slot and open slots at once (at least 1 each).
    pub batch: usize,
    pub inflight: usize,
    /// Applied slots past the last snapshot that trigger a new one (0: never compact).
    pub snapshot: u64,
    /// The leader sends a new proposal before it saves its own acceptance, and counts that
    /// acceptance only once it is on disk (as Raft's parallel append, thesis 10.2.1): the save
    /// is a step of its own (a `Persist` note to itself), the count waits for `Persisted`,
    /// which the runtime releases after the fsync.
    pub parallel_accept: bool,
    /// A replica at this round does not start phase 1 again (the checker's bound; `u64::MAX`
    /// on the network).
    pub max_round: u64,
    /// Heartbeats, catch-up and retransmission of open slots (the network).
    pub keepalive: bool,
    /// Keep the ghost state the properties read (the checker).
    pub ghosts: bool,
    /// Whether a follower that knows a leader may still time out and start phase 1 (always on
    /// the network; `--timeouts 0` in the checker lets only replicas without a known leader
    /// time out: leaders then change by crashes and by campaigns that raced them).
    pub timeout_with_leader: bool,
    /// Session table bound of the state machine.
    pub max_sessions: usize,
}

/// Client commands waiting for a slot beyond this are refused with error 11.
pub const MAX_QUEUED: usize = 65_536;
/// Reads waiting for a confirmation beyond this are refused with error 11.
pub const MAX_PENDING_READS: usize = 4096;
/// The most replicas (promise and acceptance sets are bit sets).
pub const MAX_SERVERS: usize = 64;
/// The most commands one `Learn` carries (about 25 bytes each on the wire: the message stays
/// well inside a datagram); at least one slot's batch, whatever its size. A `Promise` that
/// would report more sends the state machine of its applied slots instead.
pub const MAX_LEARN_CMDS: usize = 1536;

type MpOut = Out<MpServer>;

impl MpServer {
    /// Replica `index` of `servers` with the network's defaults.
    pub fn new(index: usize, servers: Vec<Id>) -> Self {
        assert!(index < servers.len() && servers.len() <= MAX_SERVERS);
        MpServer {
            index,
            servers,
            bug: None,
            batch: 256,
            inflight: 2,
            snapshot: 1_000,
            parallel_accept: true,
            max_round: u64::MAX,
            keepalive: true,
            ghosts: false,
            timeout_with_leader: true,
            max_sessions: crate::single_copy_kv::SingleCopyServer::DEFAULT_MAX_SESSIONS,
        }
    }

    fn me(&self) -> Id {
        self.servers[self.index]
    }

    fn majority(&self) -> usize {
        self.servers.len() / 2 + 1
    }

    /// Acceptances that decide a slot (one fewer with `quorum-minus-one`).
    fn quorum(&self) -> usize {
        if self.bug == Some(MpBug::QuorumMinusOne) {
            (self.majority() - 1).max(1)
        } else {
            self.majority()
        }
    }

    fn index_of(&self, id: Id) -> Option<usize> {
        self.servers.iter().position(|s| *s == id)
    }

    fn peers(&self) -> impl Iterator<Item = Id> + '_ {
        self.servers
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != self.index)
            .map(|(_, id)| *id)
    }

    fn bug(&self, bug: MpBug) -> bool {
        self.bug == Some(bug)
    }

    fn save(&self, state: &MpState, o: &mut MpOut) {
        o.save(Arc::clone(&state.a));
    }

    fn arm_election(&self, state: &MpState, o: &mut MpOut) {
        if state.a.promised.round < self.max_round {
            o.set_timer(MpTimer::Election, ms(ELECTION_MS));
        } else {
            o.cancel_timer(MpTimer::Election);
        }
    }

    /// Follows `ballot`'s owner: stops leading or campaigning.
    fn follow(&self, state: &mut MpState, ballot: Ballot, o: &mut MpOut) {
        if let Role::Leader(l) = &state.role {
            // Open slots may yet be decided by the next leader (they are in acceptors' state)
            // or not, and queued commands are dropped: their clients time out and retry, and
            // sessions apply a command at most once. Waiting reads can no longer be confirmed
            // by this replica: definite failures (a read changes nothing).
            for r in &l.reads {
                o.send(r.client, KvMsg::not_leader(r.msg_id, None));
            }
            o.cancel_timer(MpTimer::Heartbeat);
        }
        state.role = Role::Follower;
        state.leader = self.servers.get(ballot.leader as usize).copied();
        self.arm_election(state, o);
    }

    /// Promises `ballot` (durably) if it is above the current promise, and stops leading or
    /// campaigning: a higher ballot is another replica's.
    fn promise(&self, state: &mut MpState, ballot: Ballot, o: &mut MpOut) {
        if ballot > state.a.promised {
            Arc::make_mut(&mut state.a).promised = ballot;
            self.save(state, o);
            if !matches!(state.role, Role::Follower) {
                self.follow(state, ballot, o);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Phase 1
    // -----------------------------------------------------------------------------------------

    fn on_election_timeout(&self, state: &mut MpState, o: &mut MpOut) {
        if state.is_leader() || (state.leader.is_some() && !self.timeout_with_leader) {
            return;
        }
        let round = state.a.promised.round + 1;
        if round > self.max_round {
            return;
        }
        let ballot = Ballot {
            round,
            leader: self.index as u8,
        };
        Arc::make_mut(&mut state.a).promised = ballot;
        self.save(state, o);
        let from = state.applied + 1;
        let learned: im::OrdMap<Slot, (Ballot, Batch)> = state
            .a
            .accepted
            .iter()
            .filter(|(s, _)| **s >= from)
            .map(|(s, v)| (*s, v.clone()))
            .collect();
        state.leader = None;
        state.role = Role::Candidate {
            ballot,
            votes: 1 << self.index,
            from,
            learned,
            snapshot: None,
        };
        if self.keepalive {
            self.arm_election(state, o); // answers may be lost: try again after a while
        } else {
            // In the checker nothing is lost: phase 1 ends by its answers (a majority of
            // promises, or a refusal naming a higher ballot), so another timeout would only
            // start a higher ballot over the same ground.
            o.cancel_timer(MpTimer::Election);
        }
        if self.majority() <= 1 {
            self.become_leader(state, o);
            return;
        }
        for p in self.peers() {
            o.send(p, KvMsg::Internal(MpMsg::Prepare { ballot, from }));
        }
    }

    fn on_prepare(&self, state: &mut MpState, src: Id, ballot: Ballot, from: Slot, o: &mut MpOut) {
        if ballot < state.a.promised {
            let promised = state.a.promised;
            o.send(src, KvMsg::Internal(MpMsg::Reject { ballot, promised }));
            return;
        }
        if ballot == state.a.promised && !matches!(state.role, Role::Follower) {
            return; // its own ballot, or a duplicate to the candidate itself: nothing to say
        }
        self.promise(state, ballot, o);
        let a = &state.a;
        let mut accepted: Vec<(Slot, Ballot, Batch)> = a
            .accepted
            .iter()
            .filter(|(s, _)| **s >= from)
            .map(|(s, (b, v))| (*s, *b, v.clone()))
            .collect();
        let mut snapshot = (a.start >= from)
            .then(|| a.snapshot.clone().map(|sm| (a.start, sm)))
            .flatten();
        let cmds: usize = accepted.iter().map(|(_, _, v)| v.len()).sum();
        if cmds > MAX_LEARN_CMDS && state.applied >= from {
            // A candidate far behind would get more than a datagram holds. The slots this
            // replica applied are decided, and its state machine carries them in fewer bytes:
            // report it as the snapshot of those slots, and only the proposals above them.
            let applied = state.applied;
            accepted.retain(|(s, _, _)| *s > applied);
            snapshot = Some((applied, Arc::clone(&state.sm)));
        }
        o.send(
            src,
            KvMsg::Internal(MpMsg::Promise {
                ballot,
                accepted,
                snapshot,
            }),
        );
    }

    #[allow(clippy::type_complexity)]
    fn on_promise(
        &self,
        state: &mut MpState,
        src: Id,
        ballot: Ballot,
        accepted: Vec<(Slot, Ballot, Batch)>,
        snapshot: Option<(Slot, Arc<KvStore>)>,
        o: &mut MpOut,
    ) {
        let Some(i) = self.index_of(src) else {
            return;
        };
        let Role::Candidate {
            ballot: mine,
            votes,
            learned,
            snapshot: best,
            ..
        } = &mut state.role
        else {
            return;
        };
        if ballot != *mine || *votes & (1 << i) != 0 {
            return;
        }
        *votes |= 1 << i;
        for (s, b, v) in accepted {
            match learned.get(&s) {
                Some((have, _)) if *have >= b => {}
                _ => {
                    learned.insert(s, (b, v));
                }
            }
        }
        if let Some((s, sm)) = snapshot {
            if best.as_ref().is_none_or(|(have, _)| *have < s) {
                *best = Some((s, sm));
            }
        }
        if votes.count_ones() as usize >= self.majority() {
            self.become_leader(state, o);
        }
    }

    /// Phase 1 is done: install the most advanced snapshot reported, re-propose every slot from
    /// `from` to the highest reported (the highest-ballot value, or a no-op in a gap), then
    /// serve clients with phase 2 alone.
    fn become_leader(&self, state: &mut MpState, o: &mut MpOut) {
        let Role::Candidate {
            ballot,
            learned,
            snapshot,
            ..
        } = std::mem::replace(&mut state.role, Role::Follower)
        else {
            return;
        };
        if let Some((s, sm)) = snapshot {
            self.install(state, s, sm, o);
        }
        let from = state.applied + 1;
        let top = learned.keys().next_back().copied().unwrap_or(0);
        let next = from.max(top + 1);
        let mut l = LeaderState {
            ballot,
            next,
            floor: if next - 1 > state.applied {
                next - 1
            } else {
                0
            },
            round: 0,
            acked: vec![0; self.servers.len()],
            reads: Vec::new(),
            proposals: im::OrdMap::new(),
            queue: Vec::new(),
            persisting: false,
        };
        let me = self.index;
        let mut proposed = Vec::new();
        for s in from..=top {
            if state.decided.contains_key(&s) {
                continue; // already known decided: re-proposing changes nothing
            }
            let (batch, inherited) = match learned.get(&s) {
                Some((_, v)) if !self.bug(MpBug::SkipRepropose) => (v.clone(), true),
                _ => (Arc::new(vec![Cmd::Noop]), false),
            };
            l.proposals.insert(
                s,
                Proposal {
                    batch: batch.clone(),
                    acks: 1 << me,
                    inherited,
                },
            );
            proposed.push((s, batch));
        }
        {
            let a = Arc::make_mut(&mut state.a);
            for (s, batch) in &proposed {
                if *s > a.start {
                    *a.accepted.entry_or_default(*s) = (ballot, batch.clone());
                }
            }
        }
        if !proposed.is_empty() {
            self.save(state, o);
        }
        state.role = Role::Leader(Box::new(l));
        state.leader = Some(self.me());
        o.cancel_timer(MpTimer::Election);
        if self.keepalive {
            o.set_timer(MpTimer::Heartbeat, ms(HEARTBEAT_MS..HEARTBEAT_MS + 1));
        }
        for (s, batch) in proposed {
            self.send_accept(state, s, batch, o);
        }
        self.check_decided(state, o); // a one-replica cluster decides at once
    }

    // -----------------------------------------------------------------------------------------
    // Phase 2
    // -----------------------------------------------------------------------------------------

    fn send_accept(&self, state: &MpState, slot: Slot, batch: Batch, o: &mut MpOut) {
        let Some(ballot) = state.leading() else {
            return;
        };
        let msg = MpMsg::Accept {
            ballot,
            slot,
            batch,
            commit: state.applied,
        };
        for p in self.peers() {
            o.send(p, KvMsg::Internal(msg.clone()));
        }
    }

    /// Opens slots for queued commands while the pipeline has room.
    fn propose(&self, state: &mut MpState, o: &mut MpOut) {
        loop {
            let me = self.index;
            let Role::Leader(l) = &mut state.role else {
                return;
            };
            if l.queue.is_empty() || l.proposals.len() >= self.inflight {
                return;
            }
            let take = l.queue.len().min(self.batch);
            let batch: Batch = Arc::new(l.queue.drain(..take).collect());
            let slot = l.next;
            l.next += 1;
            let parallel = self.parallel_accept;
            l.proposals.insert(
                slot,
                Proposal {
                    batch: batch.clone(),
                    acks: if parallel { 0 } else { 1 << me },
                    inherited: false,
                },
            );
            let ballot = l.ballot;
            let persist = parallel && !l.persisting;
            if persist {
                l.persisting = true;
            }
            let a = Arc::make_mut(&mut state.a);
            if slot > a.start {
                *a.accepted.entry_or_default(slot) = (ballot, batch.clone());
            }
            if !parallel {
                self.save(state, o);
            } else if persist {
                o.send(self.me(), KvMsg::Internal(MpMsg::Persist { ballot }));
            }
            self.send_accept(state, slot, batch, o);
            self.check_decided(state, o); // a one-replica cluster decides at once
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_accept(
        &self,
        state: &mut MpState,
        src: Id,
        ballot: Ballot,
        slot: Slot,
        batch: Batch,
        commit: Slot,
        o: &mut MpOut,
    ) {
        if ballot < state.a.promised && !self.bug(MpBug::AcceptBelowPromise) {
            let promised = state.a.promised;
            o.send(src, KvMsg::Internal(MpMsg::Reject { ballot, promised }));
            return;
        }
        if ballot > state.a.promised {
            self.promise(state, ballot, o);
        }
        if matches!(state.role, Role::Follower) {
            state.leader = Some(src);
            self.arm_election(state, o);
        }
        if slot > state.a.start && slot > state.applied {
            let a = Arc::make_mut(&mut state.a);
            if a.accepted.get(&slot) != Some(&(ballot, batch.clone())) {
                *a.accepted.entry_or_default(slot) = (ballot, batch);
                self.save(state, o);
            }
        }
        o.send(src, KvMsg::Internal(MpMsg::Accepted { ballot, slot }));
        self.learn_commit(state, src, ballot, commit, false, o);
    }

    /// Slots up to `commit` are decided in `ballot`: those this replica accepted in that ballot
    /// hold the decided value. With `ask` (a heartbeat's, so at most one request per heartbeat
    /// period), a replica missing some asks the leader for them.
    #[allow(clippy::too_many_arguments)]
    fn learn_commit(
        &self,
        state: &mut MpState,
        src: Id,
        ballot: Ballot,
        commit: Slot,
        ask: bool,
        o: &mut MpOut,
    ) {
        if commit <= state.applied {
            return;
        }
        let mut missing = false;
        for s in state.applied + 1..=commit {
            if state.decided.contains_key(&s) {
                continue;
            }
            match state.a.accepted.get(&s) {
                Some((b, v)) if *b == ballot => {
                    let v = v.clone();
                    state.decided.insert(s, v);
                }
                _ => missing = true,
            }
        }
        self.apply(state, o);
        if missing && ask && self.keepalive && !state.is_leader() {
            let from = state.applied + 1;
            o.send(src, KvMsg::Internal(MpMsg::CatchUp { from }));
        }
    }

    fn on_accepted(&self, state: &mut MpState, src: Id, ballot: Ballot, slot: Slot, o: &mut MpOut) {
        let Some(i) = self.index_of(src) else {
            return;
        };
        let Role::Leader(l) = &mut state.role else {
            return;
        };
        if ballot != l.ballot {
            return;
        }
        if let Some(p) = l.proposals.get_mut(&slot) {
            p.acks |= 1 << i;
        }
        self.check_decided(state, o);
    }

    /// Moves every open slot with a quorum of acceptances to `decided`, applies, and opens
    /// slots for what is queued.
    fn check_decided(&self, state: &mut MpState, o: &mut MpOut) {
        let quorum = self.quorum();
        let Role::Leader(l) = &mut state.role else {
            return;
        };
        let done: Vec<Slot> = l
            .proposals
            .iter()
            .filter(|(_, p)| p.acks.count_ones() as usize >= quorum)
            .map(|(s, _)| *s)
            .collect();
        if done.is_empty() {
            return;
        }
        let mut inherited_op = false;
        let mut newly = Vec::new();
        for s in done {
            let p = l.proposals.remove(&s).expect("listed above");
            inherited_op |= p.inherited && p.batch.iter().any(|c| !matches!(c, Cmd::Noop));
            newly.push((s, p.batch));
        }
        for (s, batch) in newly {
            state.decided.insert(s, batch);
        }
        if inherited_op && self.ghosts {
            state.completed_inherited = true;
        }
        self.apply(state, o);
        self.propose(state, o);
    }

    /// `Persist`: saves the acceptances made so far and tells itself, through a message that
    /// leaves only once the save is durable, up to which slot.
    fn on_persist(&self, state: &mut MpState, ballot: Ballot, o: &mut MpOut) {
        let Role::Leader(l) = &mut state.role else {
            return;
        };
        if l.ballot != ballot {
            return;
        }
        l.persisting = false;
        let upto = l.next - 1;
        self.save(state, o);
        o.send(
            self.me(),
            KvMsg::Internal(MpMsg::Persisted { ballot, upto }),
        );
    }

    /// `Persisted`: the leader's acceptances up to `upto` are durable and count.
    fn on_persisted(&self, state: &mut MpState, ballot: Ballot, upto: Slot, o: &mut MpOut) {
        let me = self.index;
        let Role::Leader(l) = &mut state.role else {
            return;
        };
        if l.ballot != ballot {
            return;
        }
        let open: Vec<Slot> = l.proposals.keys().copied().filter(|s| *s <= upto).collect();
        for s in open {
            if let Some(p) = l.proposals.get_mut(&s) {
                p.acks |= 1 << me;
            }
        }
        self.check_decided(state, o);
    }

    fn on_reject(&self, state: &mut MpState, ballot: Ballot, promised: Ballot, o: &mut MpOut) {
        let Some(mine) = state.ballot_in_use() else {
            return;
        };
        if ballot != mine || promised <= mine {
            return;
        }
        if self.bug(MpBug::StaleLeaderPhase2) && state.is_leader() {
            // The bug: move past the higher ballot and carry on with phase 2, as if phase 1
            // had been run for the new ballot.
            let next = Ballot {
                round: promised.round + 1,
                leader: self.index as u8,
            };
            if next.round > self.max_round {
                return;
            }
            Arc::make_mut(&mut state.a).promised = next;
            let Role::Leader(l) = &mut state.role else {
                unreachable!("checked above");
            };
            l.ballot = next;
            let me = self.index;
            let open: Vec<(Slot, Batch)> = l
                .proposals
                .iter()
                .map(|(s, p)| (*s, p.batch.clone()))
                .collect();
            for (s, _) in &open {
                if let Some(p) = l.proposals.get_mut(s) {
                    p.acks = 1 << me;
                }
            }
            let a = Arc::make_mut(&mut state.a);
            for (s, batch) in &open {
                if *s > a.start {
                    *a.accepted.entry_or_default(*s) = (next, batch.clone());
                }
            }
            self.save(state, o);
            for (s, batch) in open {
                self.send_accept(state, s, batch, o);
            }
            return;
        }
        self.promise(state, promised, o);
        if !matches!(state.role, Role::Follower) {
            self.follow(state, promised, o);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Learning and applying
    // -----------------------------------------------------------------------------------------

    /// Applies decided slots in slot order (with `apply-out-of-order`, as soon as decided), and
    /// snapshots past the threshold.
    fn apply(&self, state: &mut MpState, o: &mut MpOut) {
        loop {
            let next = if self.bug(MpBug::ApplyOutOfOrder) {
                state.decided.keys().next().copied()
            } else {
                Some(state.applied + 1).filter(|s| state.decided.contains_key(s))
            };
            let Some(s) = next else {
                break;
            };
            let batch = state.decided.remove(&s).expect("chosen above");
            let leader = state.is_leader();
            let sm = Arc::make_mut(&mut state.sm);
            for c in batch.iter() {
                match *c {
                    Cmd::Noop => {}
                    Cmd::Op {
                        client,
                        msg_id,
                        cmd,
                    } => {
                        let outcome = sm.execute(client, msg_id, cmd, self.max_sessions);
                        if outcome == Some(Outcome::CasOk) && self.ghosts {
                            state.cas_ok = true;
                        }
                        if let (true, Some(outcome)) = (leader, outcome) {
                            o.send(client, outcome.reply(msg_id));
                        }
                    }
                }
            }
            if self.ghosts {
                state.history.push_back((s, batch.clone()));
            }
            state.applied = state.applied.max(s);
            if self.keepalive {
                state.log.insert(s, batch); // kept to answer `CatchUp`
            }
        }
        if let Role::Leader(l) = &mut state.role {
            if l.floor <= state.applied {
                l.floor = 0;
            }
        }
        self.answer_reads(state, o);
        self.maybe_compact(state, o);
    }

    fn maybe_compact(&self, state: &mut MpState, o: &mut MpOut) {
        if self.snapshot == 0 || state.applied < state.a.start + self.snapshot {
            return;
        }
        let upto = state.applied;
        let sm = Arc::clone(&state.sm);
        let a = Arc::make_mut(&mut state.a);
        let keep: KeyMap<(Ballot, Batch)> = a
            .accepted
            .iter()
            .filter(|(s, _)| **s > upto)
            .map(|(s, v)| (*s, v.clone()))
            .collect();
        a.accepted = keep;
        a.start = upto;
        a.snapshot = Some(sm);
        state.log = state.log.split(&upto).1;
        self.save(state, o);
    }

    /// Installs a snapshot of the slots up to `slot` taken elsewhere, if it is ahead.
    fn install(&self, state: &mut MpState, slot: Slot, sm: Arc<KvStore>, o: &mut MpOut) {
        if slot <= state.applied {
            return;
        }
        state.applied = slot;
        state.sm = Arc::clone(&sm);
        state.decided = state.decided.split(&slot).1;
        state.log = im::OrdMap::new();
        let a = Arc::make_mut(&mut state.a);
        let keep: KeyMap<(Ballot, Batch)> = a
            .accepted
            .iter()
            .filter(|(s, _)| **s > slot)
            .map(|(s, v)| (*s, v.clone()))
            .collect();
        a.accepted = keep;
        a.start = slot;
        a.snapshot = Some(sm);
        self.save(state, o);
        self.apply(state, o);
    }

    fn on_catch_up(&self, state: &mut MpState, src: Id, from: Slot, o: &mut MpOut) {
        if !state.is_leader() || from > state.applied {
            return;
        }
        let snapshot = (from <= state.a.start)
            .then(|| state.a.snapshot.clone().map(|sm| (state.a.start, sm)))
            .flatten();
        let first = from.max(state.a.start + 1);
        let mut cmds = 0;
        let batches: Vec<Batch> = (first..=state.applied)
            .map_while(|s| state.log.get(&s).cloned())
            .take_while(|b| {
                let fits = cmds == 0 || cmds + b.len() <= MAX_LEARN_CMDS;
                cmds += b.len();
                fits
            })
            .collect();
        o.send(
            src,
            KvMsg::Internal(MpMsg::Learn {
                snapshot,
                from: first,
                batches,
            }),
        );
    }

    fn on_learn(
        &self,
        state: &mut MpState,
        snapshot: Option<(Slot, Arc<KvStore>)>,
        from: Slot,
        batches: Vec<Batch>,
        o: &mut MpOut,
    ) {
        if let Some((s, sm)) = snapshot {
            self.install(state, s, sm, o);
        }
        for (k, batch) in batches.into_iter().enumerate() {
            let s = from + k as Slot;
            if s > state.applied {
                state.decided.insert(s, batch);
            }
        }
        self.apply(state, o);
    }

    fn on_heartbeat(&self, state: &mut MpState, o: &mut MpOut) {
        if !state.is_leader() {
            return;
        }
        self.send_heartbeat(state, o);
        // Open slots whose messages may have been lost: propose them again.
        if let Role::Leader(l) = &state.role {
            let open: Vec<(Slot, Batch)> = l
                .proposals
                .iter()
                .map(|(s, p)| (*s, p.batch.clone()))
                .collect();
            for (s, batch) in open {
                self.send_accept(state, s, batch, o);
            }
        }
        o.set_timer(MpTimer::Heartbeat, ms(HEARTBEAT_MS..HEARTBEAT_MS + 1));
    }

    /// Sends the current read round (and the commit point) to every peer.
    fn send_heartbeat(&self, state: &MpState, o: &mut MpOut) {
        let Role::Leader(l) = &state.role else {
            return;
        };
        let msg = MpMsg::Heartbeat {
            ballot: l.ballot,
            commit: state.applied,
            round: l.round,
        };
        for p in self.peers() {
            o.send(p, KvMsg::Internal(msg.clone()));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_heartbeat_msg(
        &self,
        state: &mut MpState,
        src: Id,
        ballot: Ballot,
        commit: Slot,
        round: u64,
        o: &mut MpOut,
    ) {
        if ballot < state.a.promised {
            // A leader that was cut off learns that a higher ballot took over.
            let promised = state.a.promised;
            o.send(src, KvMsg::Internal(MpMsg::Reject { ballot, promised }));
            return;
        }
        self.promise(state, ballot, o);
        if matches!(state.role, Role::Follower) {
            state.leader = Some(src);
            self.arm_election(state, o);
        }
        // The acknowledgement needs no disk: it says that no higher ballot was promised when
        // it left, and a promise that a crash forgets was never sent to anyone.
        o.send(src, KvMsg::Internal(MpMsg::HeartbeatOk { ballot, round }));
        self.learn_commit(state, src, ballot, commit, self.keepalive, o);
    }

    fn on_heartbeat_ok(
        &self,
        state: &mut MpState,
        src: Id,
        ballot: Ballot,
        round: u64,
        o: &mut MpOut,
    ) {
        let Some(i) = self.index_of(src) else {
            return;
        };
        let Role::Leader(l) = &mut state.role else {
            return;
        };
        if l.ballot != ballot || round <= l.acked[i] {
            return;
        }
        l.acked[i] = round;
        self.answer_reads(state, o);
        self.start_round(state, o);
    }

    // -----------------------------------------------------------------------------------------
    // Reads
    // -----------------------------------------------------------------------------------------

    /// Whether a majority (the leader included) acknowledged `round` or a later one.
    fn confirmed(&self, l: &LeaderState, round: u64) -> bool {
        let me = self.index;
        let others = l
            .acked
            .iter()
            .enumerate()
            .filter(|(i, r)| *i != me && **r >= round)
            .count();
        1 + others >= self.majority()
    }

    /// A read waits for a round that starts after it arrived: the acknowledgements then show
    /// that no higher ballot had finished phase 1 when it arrived, so no command was decided
    /// beyond what this leader will have applied. One round is out at a time; the reads that
    /// arrive meanwhile share the next.
    fn on_read(&self, state: &mut MpState, client: Id, msg_id: MsgId, key: Key, o: &mut MpOut) {
        if self.bug(MpBug::UnconfirmedRead) {
            o.send(client, state.sm.read(msg_id, key));
            return;
        }
        let Role::Leader(l) = &mut state.role else {
            return;
        };
        if l.reads.len() >= MAX_PENDING_READS {
            o.send(client, KvMsg::not_leader(msg_id, state.leader));
            return;
        }
        let round = l.round + 1;
        l.reads.push(PendingRead {
            client,
            msg_id,
            key,
            round,
        });
        self.start_round(state, o);
        self.answer_reads(state, o); // a one-replica cluster confirms at once
    }

    /// Starts the next round if a read waits for it and the current one is confirmed.
    fn start_round(&self, state: &mut MpState, o: &mut MpOut) {
        let Role::Leader(l) = &mut state.role else {
            return;
        };
        let waiting = l.reads.iter().any(|r| r.round > l.round);
        if !waiting || (l.round > 0 && !self.confirmed(l, l.round)) {
            return;
        }
        l.round += 1;
        self.send_heartbeat(state, o);
    }

    /// Answers the reads whose round is confirmed, once phase 1's slots are applied.
    fn answer_reads(&self, state: &mut MpState, o: &mut MpOut) {
        let applied = state.applied;
        let Role::Leader(l) = &state.role else {
            return;
        };
        if l.reads.is_empty() || applied < l.floor {
            return;
        }
        let ready: Vec<bool> = l.reads.iter().map(|r| self.confirmed(l, r.round)).collect();
        if !ready.contains(&true) {
            return;
        }
        let sm = Arc::clone(&state.sm);
        let Role::Leader(l) = &mut state.role else {
            unreachable!("matched above");
        };
        let mut ready = ready.into_iter();
        l.reads.retain(|r| {
            if ready.next() == Some(true) {
                o.send(r.client, sm.read(r.msg_id, r.key));
                false
            } else {
                true
            }
        });
    }

    // -----------------------------------------------------------------------------------------
    // Clients
    // -----------------------------------------------------------------------------------------

    fn on_client(&self, state: &mut MpState, src: Id, msg: KvMsg<MpMsg>, o: &mut MpOut) {
        let Some((msg_id, op)) = request_op(&msg) else {
            return; // replies are not requests
        };
        let client = src;
        let cmd = match op {
            KvOp::Read(key) => {
                if !state.is_leader() {
                    o.send(src, KvMsg::not_leader(msg_id, state.leader));
                } else {
                    self.on_read(state, src, msg_id, key, o);
                }
                return;
            }
            KvOp::Write(key, value) => Cmd::Op {
                client,
                msg_id,
                cmd: Command::Write { key, value },
            },
            KvOp::Cas(key, from, to) => Cmd::Op {
                client,
                msg_id,
                cmd: Command::Cas { key, from, to },
            },
        };
        let Role::Leader(l) = &mut state.role else {
            o.send(src, KvMsg::not_leader(msg_id, state.leader));
            return;
        };
        if state.sm.sessions.settled(src, msg_id, o) {
            return;
        }
        if l.queue.len() >= MAX_QUEUED {
            o.send(src, KvMsg::not_leader(msg_id, state.leader));
            return;
        }
        l.queue.push(cmd);
        self.propose(state, o);
    }
}

impl Actor for MpServer {
    type Msg = KvMsg<MpMsg>;
    type State = MpState;
    type Timer = MpTimer;
    type Random = ();
    type Storage = MpStorage;

    fn name(&self) -> String {
        format!("replica {}", self.index)
    }

    /// Starts as a follower from its acceptor state; the state machine starts from the
    /// snapshot and learns the rest again.
    fn on_start(&self, _id: Id, storage: &Option<MpStorage>, o: &mut MpOut) -> MpState {
        let a = storage.clone().unwrap_or_default();
        let sm = a.snapshot.clone().unwrap_or_default();
        let state = MpState {
            applied: a.start,
            a,
            role: Role::Follower,
            leader: None,
            decided: im::OrdMap::new(),
            log: im::OrdMap::new(),
            sm,
            history: im::Vector::new(),
            completed_inherited: false,
            cas_ok: false,
        };
        self.arm_election(&state, o);
        state
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<MpState>, src: Id, msg: Self::Msg, o: &mut MpOut) {
        let KvMsg::Internal(m) = msg else {
            return self.on_client(state.to_mut(), src, msg, o);
        };
        if self.index_of(src).is_none() {
            return; // internal messages come from replicas only
        }
        let s = state.to_mut();
        match m {
            MpMsg::Prepare { ballot, from } => self.on_prepare(s, src, ballot, from, o),
            MpMsg::Promise {
                ballot,
                accepted,
                snapshot,
            } => self.on_promise(s, src, ballot, accepted, snapshot, o),
            MpMsg::Accept {
                ballot,
                slot,
                batch,
                commit,
            } => self.on_accept(s, src, ballot, slot, batch, commit, o),
            MpMsg::Accepted { ballot, slot } => self.on_accepted(s, src, ballot, slot, o),
            MpMsg::Reject { ballot, promised } => self.on_reject(s, ballot, promised, o),
            MpMsg::Heartbeat {
                ballot,
                commit,
                round,
            } => self.on_heartbeat_msg(s, src, ballot, commit, round, o),
            MpMsg::HeartbeatOk { ballot, round } => self.on_heartbeat_ok(s, src, ballot, round, o),
            MpMsg::CatchUp { from } => self.on_catch_up(s, src, from, o),
            MpMsg::Learn {
                snapshot,
                from,
                batches,
            } => self.on_learn(s, snapshot, from, batches, o),
            // Notes to itself only: from anyone else, ignored.
            MpMsg::Persist { ballot } if src == self.me() => self.on_persist(s, ballot, o),
            MpMsg::Persisted { ballot, upto } if src == self.me() => {
                self.on_persisted(s, ballot, upto, o)
            }
            MpMsg::Persist { .. } | MpMsg::Persisted { .. } => {}
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<MpState>, timer: &MpTimer, o: &mut MpOut) {
        match timer {
            MpTimer::Election => self.on_election_timeout(state.to_mut(), o),
            MpTimer::Heartbeat => self.on_heartbeat(state.to_mut(), o),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Symmetry over clients
// ---------------------------------------------------------------------------------------------

impl Permute for Cmd {
    fn permute(&self, p: &ClientPerm) -> Self {
        match *self {
            Cmd::Noop => Cmd::Noop,
            Cmd::Op {
                client,
                msg_id,
                cmd,
            } => Cmd::Op {
                client: p.id(client),
                msg_id,
                cmd: cmd.permute(p),
            },
        }
    }
}

fn permute_batch(b: &Batch, p: &ClientPerm) -> Batch {
    Arc::new(b.iter().map(|c| c.permute(p)).collect())
}

fn permute_snapshot(
    s: &Option<(Slot, Arc<KvStore>)>,
    p: &ClientPerm,
) -> Option<(Slot, Arc<KvStore>)> {
    s.as_ref().map(|(slot, sm)| (*slot, sm.permute(p)))
}

impl Permute for MpStorage {
    fn permute(&self, p: &ClientPerm) -> Self {
        Arc::new(Acceptor {
            promised: self.promised,
            accepted: self
                .accepted
                .iter()
                .map(|(s, (b, v))| (*s, (*b, permute_batch(v, p))))
                .collect(),
            start: self.start,
            snapshot: self.snapshot.as_ref().map(|sm| sm.permute(p)),
        })
    }
}

impl Permute for MpState {
    fn permute(&self, p: &ClientPerm) -> Self {
        let role = match &self.role {
            Role::Follower => Role::Follower,
            Role::Candidate {
                ballot,
                votes,
                from,
                learned,
                snapshot,
            } => Role::Candidate {
                ballot: *ballot,
                votes: *votes,
                from: *from,
                learned: learned
                    .iter()
                    .map(|(s, (b, v))| (*s, (*b, permute_batch(v, p))))
                    .collect(),
                snapshot: permute_snapshot(snapshot, p),
            },
            Role::Leader(l) => Role::Leader(Box::new(LeaderState {
                ballot: l.ballot,
                next: l.next,
                proposals: l
                    .proposals
                    .iter()
                    .map(|(s, pr)| {
                        (
                            *s,
                            Proposal {
                                batch: permute_batch(&pr.batch, p),
                                ..pr.clone()
                            },
                        )
                    })
                    .collect(),
                queue: l.queue.iter().map(|c| c.permute(p)).collect(),
                reads: l
                    .reads
                    .iter()
                    .map(|r| PendingRead {
                        client: p.id(r.client),
                        ..*r
                    })
                    .collect(),
                ..(**l).clone()
            })),
        };
        MpState {
            a: self.a.permute(p),
            role,
            leader: self.leader,
            decided: self
                .decided
                .iter()
                .map(|(s, v)| (*s, permute_batch(v, p)))
                .collect(),
            log: self
                .log
                .iter()
                .map(|(s, v)| (*s, permute_batch(v, p)))
                .collect(),
            applied: self.applied,
            sm: self.sm.permute(p),
            history: self
                .history
                .iter()
                .map(|(s, v)| (*s, permute_batch(v, p)))
                .collect(),
            completed_inherited: self.completed_inherited,
            cas_ok: self.cas_ok,
        }
    }
}

impl Permute for MpMsg {
    fn permute(&self, p: &ClientPerm) -> Self {
        match self {
            MpMsg::Promise {
                ballot,
                accepted,
                snapshot,
            } => MpMsg::Promise {
                ballot: *ballot,
                accepted: accepted
                    .iter()
                    .map(|(s, b, v)| (*s, *b, permute_batch(v, p)))
                    .collect(),
                snapshot: permute_snapshot(snapshot, p),
            },
            MpMsg::Accept {
                ballot,
                slot,
                batch,
                commit,
            } => MpMsg::Accept {
                ballot: *ballot,
                slot: *slot,
                batch: permute_batch(batch, p),
                commit: *commit,
            },
            MpMsg::Learn {
                snapshot,
                from,
                batches,
            } => MpMsg::Learn {
                snapshot: permute_snapshot(snapshot, p),
                from: *from,
                batches: batches.iter().map(|b| permute_batch(b, p)).collect(),
            },
            other => other.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The checked model
// ---------------------------------------------------------------------------------------------

/// The configuration of a Multi-Paxos model check.
#[derive(Clone, Debug, PartialEq)]
pub struct MpConfig {
    pub servers: usize,
    pub clients: usize,
    /// Each client's script.
    pub script: Vec<Step>,
    /// Crash-restarts in a run.
    pub crashes: usize,
    pub max_round: u64,
    pub batch: usize,
    pub inflight: usize,
    pub snapshot: u64,
    pub parallel_accept: bool,
    pub timeout_with_leader: bool,
    pub network: NetworkKind,
    pub bug: Option<MpBug>,
    pub symmetry: bool,
}

impl Default for MpConfig {
    fn default() -> Self {
        MpConfig {
            servers: 3,
            clients: 1,
            script: vec![Step::WriteOwn, Step::CasOwn],
            crashes: 0,
            max_round: 2,
            batch: 1,
            inflight: 1,
            snapshot: 0,
            parallel_accept: false,
            timeout_with_leader: true,
            network: NetworkKind::default(),
            bug: None,
            symmetry: false,
        }
    }
}

impl KvConfig for MpConfig {
    fn server_count(&self) -> usize {
        self.servers
    }
    fn client_count(&self) -> usize {
        self.clients
    }
}

/// The checked model of a Multi-Paxos configuration.
pub type MpModel = Checked<KvModel<MpServer, MpConfig>>;
pub type MpSystem = KvSystemState<MpServer>;
type Inner = KvModel<MpServer, MpConfig>;

/// The replicas' states, for those that are up.
fn up_replicas(state: &MpSystem) -> impl Iterator<Item = &MpState> {
    state
        .actors
        .iter()
        .enumerate()
        .filter(move |(i, _)| !state.is_crashed(*i))
        .filter_map(|(_, slot)| slot.state.server())
}

/// Every value a replica knows decided: applied (its ghost history) or learned.
fn known_decided(s: &MpState) -> impl Iterator<Item = (Slot, &Batch)> {
    s.history
        .iter()
        .map(|(slot, v)| (*slot, v))
        .chain(s.decided.iter().map(|(slot, v)| (*slot, v)))
}

fn slot_agreement(_: &Inner, state: &MpSystem) -> bool {
    let replicas: Vec<&MpState> = up_replicas(state).collect();
    let mut seen: std::collections::BTreeMap<Slot, &Batch> = Default::default();
    for r in &replicas {
        for (slot, v) in known_decided(r) {
            match seen.get(&slot) {
                Some(w) if *w != v => return false,
                Some(_) => {}
                None => {
                    seen.insert(slot, v);
                }
            }
        }
    }
    true
}

fn log_prefix(_: &Inner, state: &MpSystem) -> bool {
    let replicas: Vec<&MpState> = up_replicas(state).collect();
    for (i, x) in replicas.iter().enumerate() {
        for y in &replicas[i + 1..] {
            let n = x.history.len().min(y.history.len());
            if x.history.iter().take(n).ne(y.history.iter().take(n)) {
                return false;
            }
        }
    }
    true
}

fn linearizable(_: &Inner, state: &MpSystem) -> bool {
    state.history.linearizable_cas()
}

fn leader_change_completes(_: &Inner, state: &MpSystem) -> bool {
    up_replicas(state).any(|s| s.completed_inherited)
}

fn cas_committed(_: &Inner, state: &MpSystem) -> bool {
    up_replicas(state).any(|s| s.cas_ok)
}

/// Messages whose delivery can no longer change anything, dropped after each step:
/// - a `Promise` to a replica no longer campaigning with that ballot, or from a replica
///   whose promise it already counted;
/// - an `Accepted` to a replica no longer leading with that ballot, or for a slot no longer
///   open;
/// - a `Reject` of a ballot its receiver no longer campaigns or leads with;
/// - a `HeartbeatOk` to a replica no longer leading with that ballot, or of a round its sender
///   already acknowledged (acknowledged rounds only grow);
/// - a `Prepare`, `Accept` or `Heartbeat` below its receiver's promise (it would only be
///   refused) whose sender no longer campaigns or leads with that ballot (promises only grow,
///   and a replica never uses a ballot again);
/// - a client reply to a request the client no longer waits for (request ids only grow).
fn obsolete(m: &Inner, state: &MpSystem, env: &Envelope<KvMsg<MpMsg>>) -> bool {
    let bug = m.cfg.bug;
    let replica = |id: Id| {
        state
            .actors
            .get(usize::from(id))
            .and_then(|slot| slot.state.server())
    };
    match &env.msg {
        KvMsg::Internal(msg) => {
            let Some(dst) = replica(env.dst) else {
                return false;
            };
            match msg {
                MpMsg::Promise { ballot, .. } => match &dst.role {
                    Role::Candidate {
                        ballot: mine,
                        votes,
                        ..
                    } => {
                        let from = usize::from(env.src);
                        mine != ballot || (from < 64 && votes & (1 << from) != 0)
                    }
                    _ => true,
                },
                MpMsg::Accepted { ballot, slot } => match &dst.role {
                    Role::Leader(l) => l.ballot != *ballot || !l.proposals.contains_key(slot),
                    _ => true,
                },
                MpMsg::Reject { ballot, .. } => dst.ballot_in_use() != Some(*ballot),
                MpMsg::HeartbeatOk { ballot, round } => match &dst.role {
                    Role::Leader(l) if l.ballot == *ballot => {
                        let from = usize::from(env.src);
                        l.acked.get(from).is_none_or(|acked| round <= acked)
                    }
                    _ => true,
                },
                // A leader's notes to itself count only while it leads with their ballot;
                // `Persisted` only while an open slot it covers lacks the leader's own count.
                MpMsg::Persist { .. } | MpMsg::Persisted { .. } if env.src != env.dst => true,
                MpMsg::Persist { ballot } => dst.leading() != Some(*ballot),
                MpMsg::Persisted { ballot, upto } => match &dst.role {
                    Role::Leader(l) if l.ballot == *ballot => {
                        let me = usize::from(env.dst);
                        !l.proposals
                            .iter()
                            .any(|(s, p)| *s <= *upto && p.acks & (1 << me) == 0)
                    }
                    _ => true,
                },
                // Below the receiver's promise it is only refused, and the refusal counts only
                // while its sender still campaigns or leads with that ballot.
                MpMsg::Prepare { ballot, .. }
                | MpMsg::Accept { ballot, .. }
                | MpMsg::Heartbeat { ballot, .. }
                    if *ballot < dst.a.promised && bug != Some(MpBug::AcceptBelowPromise) =>
                {
                    replica(env.src).is_none_or(|src| src.ballot_in_use() != Some(*ballot))
                }
                _ => false,
            }
        }
        _ => stale_client_reply(state, env).unwrap_or(false),
    }
}

/// Per replica its role and ballot, what it applied, and per slot what it accepted, coloured by
/// the ballot's round (slots it knows decided marked; compacted slots shown as the snapshot).
fn view(state: &MpSystem) -> Vec<ViewTable> {
    let replicas = view_servers(state);
    let last = replicas
        .iter()
        .filter_map(|(_, s)| {
            s.map(|s| {
                let accepted =
                    s.a.accepted
                        .iter()
                        .map(|(slot, _)| *slot)
                        .max()
                        .unwrap_or(0);
                accepted.max(s.applied).max(s.a.start)
            })
        })
        .max()
        .unwrap_or(0);
    let columns = view_columns(&["replica", "role", "promised", "applied"], last);
    let rows = replicas
        .iter()
        .map(|(i, s)| {
            let Some(s) = s else {
                return crashed_row(format!("replica {i}"));
            };
            let name = ViewCell::text(format!("replica {i}"));
            let role = match &s.role {
                Role::Leader(l) => ViewCell::text(format!("leader {:?}", l.ballot))
                    .colour(l.ballot.round)
                    .mark("leader"),
                Role::Candidate { ballot, .. } => ViewCell::text(format!("candidate {ballot:?}"))
                    .colour(ballot.round)
                    .mark("candidate"),
                Role::Follower => ViewCell::text("follower"),
            };
            let mut row = vec![
                name,
                role,
                ViewCell::text(format!("{:?}", s.a.promised)).colour(s.a.promised.round),
                ViewCell::text(s.applied.to_string()),
            ];
            for slot in 1..=last {
                let decided = slot <= s.applied || s.decided.contains_key(&slot);
                let cell = if slot <= s.a.start {
                    ViewCell::text("snap").title(format!("in the snapshot (up to {})", s.a.start))
                } else if let Some((b, batch)) = s.a.accepted.get(&slot) {
                    ViewCell::text(format!("{b:?}"))
                        .colour(b.round)
                        .title(format!("accepted {batch:?} in {b:?}"))
                } else if let Some(batch) = s.decided.get(&slot).or_else(|| s.log.get(&slot)) {
                    ViewCell::text("learned").title(format!("{batch:?}"))
                } else {
                    ViewCell::text("")
                };
                row.push(if decided && !cell.text.is_empty() {
                    cell.mark("committed")
                } else {
                    cell
                });
            }
            row
        })
        .collect();
    vec![ViewTable {
        title: "Replicas and slots (accepted ballots coloured by round; decided slots marked)"
            .into(),
        columns,
        rows,
    }]
}

/// The checked model of `cfg`.
pub fn model(cfg: MpConfig) -> MpModel {
    let servers: Vec<Id> = (0..cfg.servers).map(Id::from).collect();
    let server = |index: usize| MpServer {
        bug: cfg.bug,
        batch: cfg.batch,
        inflight: cfg.inflight,
        snapshot: cfg.snapshot,
        parallel_accept: cfg.parallel_accept,
        max_round: cfg.max_round,
        keepalive: false,
        ghosts: true,
        timeout_with_leader: cfg.timeout_with_leader,
        max_sessions: MAX_CLIENTS,
        ..MpServer::new(index, servers.clone())
    };
    let system = System::new(cfg.clone(), History::new(cfg.clients))
        .actors((0..cfg.servers).map(|i| KvActor::Server(server(i))))
        .actors((0..cfg.clients).map(|index| {
            KvActor::Client(KvClient {
                start: None,
                index,
                servers: servers.clone(),
                script: cfg.script.clone(),
                rotate: false,
            })
        }))
        .network(cfg.network)
        .max_crashes(cfg.crashes)
        .reboot(true)
        .property(Expectation::Always, "slot agreement", slot_agreement)
        .property(Expectation::Always, "log prefix", log_prefix)
        .property(Expectation::Always, "linearizable", linearizable)
        .property(
            Expectation::Sometimes,
            "leader change completes a command",
            leader_change_completes,
        )
        .property(Expectation::Sometimes, "cas committed", cas_committed)
        .record_msg_out(record_invocations)
        .record_msg_in(record_returns)
        .obsolete(obsolete)
        .view(view);
    let mut checked = Checked::new(system);
    checked.allow = servers_only_crash;
    if cfg.symmetry {
        checked.canonical = Some(canonical_clients);
    }
    checked
}

/// Multi-Paxos in the catalog.
pub struct MultiPaxos;

impl Protocol for MultiPaxos {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "multi-paxos",
        summary: "Multi-Paxos (Lamport 2001; van Renesse and Altinbuken 2015): a log of Paxos slots, a stable leader running phase 2 only, reads confirmed by a heartbeat round",
        params: &[
            Param::model("servers", "replicas (each proposer, acceptor and learner)", 3, 1, 5),
            Param::model("clients", "clients; client i writes i+1 to key 0, then cas to 10(i+1), then reads", 1, 1, 3),
            Param::model(
                "ops",
                "each client's script: 0 nothing (elections only); 1 write; 2 write, cas; 3 write, cas, read",
                2,
                0,
                3,
            ),
            Param::model(
                "ballots",
                "the highest ballot round: a replica at it starts no phase 1 (bounds the search)",
                2,
                1,
                6,
            ),
            Param::model(
                "timeouts",
                "1: a follower may time out even while it knows a leader (a slow or cut-off leader); 0: only one without a known leader",
                1,
                0,
                1,
            ),
            Param::model(
                "crashes",
                "crash-restarts in a run (a crashed replica restarts at once from its acceptor state)",
                0,
                0,
                3,
            ),
            Param {
                name: "batch",
                help: "client commands per slot",
                default: 1,
                min: 1,
                max: 4096,
                run: Some(256),
                names: &[],
            },
            Param {
                name: "inflight",
                help: "slots open at once (pipelining)",
                default: 1,
                min: 1,
                max: 64,
                run: Some(2),
                names: &[],
            },
            Param {
                name: "snapshot",
                help: "snapshot the state machine and drop applied slots after this many (0: never)",
                default: 0,
                min: 0,
                max: 1_000_000,
                run: Some(1_000),
                names: &[],
            },
            Param {
                name: "parallel-accept",
                help: "1: the leader sends a proposal before its own acceptance is on disk and counts that acceptance once it is (as Raft's parallel append)",
                default: 0,
                min: 0,
                max: 1,
                run: Some(1),
                names: &[],
            },
        ],
        properties: &[
            always("slot agreement"),
            always("log prefix"),
            always("linearizable"),
            sometimes("leader change completes a command"),
            sometimes("cas committed"),
        ],
        bugs: &[
            BugInfo {
                name: "skip-repropose",
                summary: "a new leader ignores the values accepted in phase 1 and proposes no-ops in those slots",
                source: "Lamport, Paxos Made Simple (2001), section 3: the leader must propose the value of the highest-numbered proposal reported",
                violates: "slot agreement",
                needs: &[],
            },
            BugInfo {
                name: "accept-below-promise",
                summary: "an acceptor accepts a proposal of a ballot below the one it promised",
                source: "Lamport, Paxos Made Simple (2001), section 2.2, P1a: accept unless it promised a higher number",
                violates: "slot agreement",
                needs: &[],
            },
            BugInfo {
                name: "stale-leader-phase2",
                summary: "a leader refused by a higher ballot moves past it and keeps running phase 2 without a new phase 1",
                source: "van Renesse and Altinbuken, Paxos Made Moderately Complex (2015): a preempted leader must run phase 1 (scouts) again",
                violates: "slot agreement",
                needs: &[
                    Need::Param("ballots", 3),
                    Need::Param("clients", 2),
                    Need::Param("ops", 1),
                ],
            },
            BugInfo {
                name: "apply-out-of-order",
                summary: "a replica applies a decided slot before every lower slot is decided",
                source: "Paxos Made Moderately Complex (2015): replicas perform decisions in slot order",
                violates: "log prefix",
                needs: &[Need::Param("clients", 2), Need::Param("inflight", 2)],
            },
            BugInfo {
                name: "unconfirmed-read",
                summary: "a leader answers reads from its own state machine without confirming with a majority that its ballot still stands",
                source: "Chandra, Griesemer and Redstone, Paxos Made Live (2007): a master serves local reads only while it holds a lease, since another replica may have become master",
                violates: "linearizable",
                needs: &[Need::Param("ops", 3)],
            },
            BugInfo {
                name: "quorum-minus-one",
                summary: "a slot counts as decided with one acceptance fewer than a majority",
                source: "tlaplus/Examples, specifications/MultiPaxos-SMR README: shrink the quorum to check the invariants catch it",
                violates: "slot agreement",
                needs: &[],
            },
        ],
        symmetry: Some("clients"),
        networks: ALL_NETWORKS,
        validate: crate::protocol::crashes_at_most_servers,
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 896_100,
                source: "tests/check_multi_paxos.rs",
            },
            Pinned {
                params: &[("timeouts", 0)],
                symmetry: false,
                unique_states: 60_620,
                source: "tests/check_multi_paxos.rs",
            },
            Pinned {
                params: &[("ballots", 1)],
                symmetry: false,
                unique_states: 8_592,
                source: "tests/check_multi_paxos.rs",
            },
            Pinned {
                params: &[("parallel-accept", 1)],
                symmetry: false,
                unique_states: 1_322_981,
                source: "tests/check_multi_paxos.rs",
            },
            Pinned {
                params: &[("parallel-accept", 1), ("crashes", 1), ("ops", 1)],
                symmetry: false,
                unique_states: 375_034,
                source: "tests/check_multi_paxos.rs",
            },
            Pinned {
                params: &[("ops", 3), ("timeouts", 0)],
                symmetry: false,
                unique_states: 322_200,
                source: "tests/check_multi_paxos.rs",
            },
            Pinned {
                params: &[("clients", 2), ("ops", 1), ("crashes", 1), ("timeouts", 0)],
                symmetry: false,
                unique_states: 3_596_115,
                source: "tests/check_multi_paxos.rs",
            },
        ],
    };
    type Model = KvModel<MpServer, MpConfig>;

    fn model(s: &Settings) -> MpModel {
        let script = match s.get("ops") {
            0 => vec![],
            1 => vec![Step::WriteOwn],
            2 => vec![Step::WriteOwn, Step::CasOwn],
            _ => vec![Step::WriteOwn, Step::CasOwn, Step::Read],
        };
        model(MpConfig {
            servers: s.count("servers"),
            clients: s.count("clients"),
            script,
            crashes: s.count("crashes"),
            max_round: s.get("ballots"),
            batch: s.count("batch"),
            inflight: s.count("inflight"),
            snapshot: s.get("snapshot"),
            parallel_accept: s.flag("parallel-accept"),
            timeout_with_leader: s.flag("timeouts"),
            network: s.network,
            bug: s.bug_of(&MpBug::ALL),
            symmetry: s.symmetry,
        })
    }
}

impl Serve for MultiPaxos {
    type Internal = MpMsg;
    type Server = MpServer;
    type Storage = MpStorage;
    const KEYS: KeySemantics = KeySemantics::Register;

    /// On the network rounds are unbounded, heartbeats keep followers quiet, open slots are
    /// proposed again and lagging replicas catch up.
    fn server(s: &Settings, index: usize, servers: Vec<Id>) -> MpServer {
        MpServer {
            bug: s.bug_of(&MpBug::ALL),
            batch: s.count("batch"),
            inflight: s.count("inflight"),
            snapshot: s.get("snapshot"),
            parallel_accept: s.flag("parallel-accept"),
            ..MpServer::new(index, servers)
        }
    }

    const LEADER: bool = true;

    fn leading(state: &MpState) -> Option<u64> {
        state.leading().map(|b| b.round)
    }

    /// Heartbeats, their acknowledgements (which claim only that no higher ballot was
    /// promised, see `on_heartbeat_msg`) and replies to clients (of decided commands, and of
    /// confirmed reads) leave before earlier saves are durable; with `--parallel-accept`,
    /// proposals (`Accept`) and the leader's `Persist` note too: none claims a durable
    /// acceptance (a decision counts the leader's own only after `Persisted`). Promises,
    /// acceptances and refusals always wait.
    fn early(_: &MpServer) -> Option<fn(&MpServer, &KvMsg<MpMsg>) -> bool> {
        Some(|server, msg| match msg {
            KvMsg::Internal(m) => match m {
                MpMsg::Heartbeat { .. } | MpMsg::HeartbeatOk { .. } => true,
                MpMsg::Accept { .. } | MpMsg::Persist { .. } => server.parallel_accept,
                _ => false,
            },
            KvMsg::ReadOk { .. }
            | KvMsg::WriteOk { .. }
            | KvMsg::CasOk { .. }
            | KvMsg::Error { .. } => true,
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(msg_id: MsgId, value: u64) -> Batch {
        Arc::new(vec![Cmd::Op {
            client: Id::from(9),
            msg_id,
            cmd: Command::Write { key: 0, value },
        }])
    }

    fn replay(base: &MpStorage, records: Vec<MpRecord>) -> MpStorage {
        let mut s = Arc::clone(base);
        for r in records {
            s.apply(r);
        }
        s
    }

    #[test]
    fn a_promise_and_an_acceptance_are_one_record_each() {
        let b1 = Ballot {
            round: 1,
            leader: 0,
        };
        let mut before = Acceptor::default();
        for s in 1..=100 {
            *before.accepted.entry_or_default(s) = (b1, op(s, s));
        }
        let before = Arc::new(before);
        let mut after = (*before).clone();
        let b2 = Ballot {
            round: 2,
            leader: 1,
        };
        after.promised = b2;
        *after.accepted.entry_or_default(101) = (b2, op(101, 7));
        *after.accepted.entry_or_default(50) = (b2, op(50, 8));
        let after = Arc::new(after);
        let delta = after.delta(&before).expect("incremental");
        assert_eq!(delta.len(), 3, "{delta:?}");
        assert_eq!(replay(&before, delta), after);
        assert_eq!(after.delta(&after), Some(vec![]));
    }

    #[test]
    fn a_compaction_needs_a_whole_snapshot() {
        let b1 = Ballot {
            round: 1,
            leader: 0,
        };
        let mut before = Acceptor::default();
        *before.accepted.entry_or_default(1) = (b1, op(1, 1));
        let before = Arc::new(before);
        let mut after = (*before).clone();
        after.accepted = KeyMap::default();
        after.start = 1;
        after.snapshot = Some(Arc::new(KvStore::default()));
        assert_eq!(Arc::new(after).delta(&before), None);
    }

    /// A replica that applied 3,000 slots promises a candidate that asks from slot 1 with its
    /// state machine and the proposals above what it applied, not 3,000 proposals; a
    /// candidate asking for a few slots gets them as they are.
    #[test]
    fn a_promise_to_a_lagging_candidate_fits_in_a_datagram() {
        let ids: Vec<Id> = (0..3).map(Id::from).collect();
        let server = MpServer::new(0, ids.clone());
        let b1 = Ballot {
            round: 1,
            leader: 0,
        };
        let mut a = Acceptor {
            promised: b1,
            ..Acceptor::default()
        };
        for s in 1..=3_005 {
            *a.accepted.entry_or_default(s) = (b1, op(s, s));
        }
        let mut out = MpOut::new();
        let mut state = server.on_start(ids[0], &Some(Arc::new(a)), &mut out);
        let mut sm = KvStore::default();
        for s in 1..=3_000 {
            sm.execute(Id::from(9), s, Command::Write { key: 0, value: s }, 8);
        }
        state.applied = 3_000;
        state.sm = Arc::new(sm);
        let promise = |from: Slot, state: &mut MpState| {
            let mut out = MpOut::new();
            let b2 = Ballot {
                round: 2,
                leader: 1,
            };
            server.on_prepare(state, ids[1], b2, from, &mut out);
            let sent = out.into_iter().find_map(|c| match c {
                stateright::actor::Command::Send(_, KvMsg::Internal(m @ MpMsg::Promise { .. })) => {
                    Some(m)
                }
                _ => None,
            });
            let bytes = postcard::to_allocvec(sent.as_ref().expect("a promise")).unwrap();
            (sent.unwrap(), bytes.len())
        };
        let (m, bytes) = promise(1, &mut state.clone());
        let MpMsg::Promise {
            accepted, snapshot, ..
        } = m
        else {
            unreachable!()
        };
        let slots: Vec<Slot> = accepted.iter().map(|(s, _, _)| *s).collect();
        assert_eq!(slots, (3_001..=3_005).collect::<Vec<_>>());
        let (at, sm) = snapshot.expect("a snapshot");
        assert_eq!(at, 3_000);
        assert_eq!(
            sm.read::<MpMsg>(1, 0),
            KvMsg::ReadOk {
                in_reply_to: 1,
                value: 3_000
            }
        );
        assert!(bytes < 1_000, "{bytes} bytes");
        let (m, _) = promise(2_990, &mut state);
        let MpMsg::Promise {
            accepted, snapshot, ..
        } = m
        else {
            unreachable!()
        };
        assert_eq!(accepted.len(), 16);
        assert!(snapshot.is_none());
    }

    #[test]
    fn storage_round_trips_through_postcard() {
        let b1 = Ballot {
            round: 3,
            leader: 2,
        };
        let mut a = Acceptor {
            promised: b1,
            ..Acceptor::default()
        };
        *a.accepted.entry_or_default(4) = (b1, Arc::new(vec![Cmd::Noop]));
        let a = Arc::new(a);
        let bytes = postcard::to_allocvec(&a).unwrap();
        let back: MpStorage = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, a);
    }
}
