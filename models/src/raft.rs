//! Raft: a replicated log with a strong leader (Ongaro and Ousterhout, *In Search of an
//! Understandable Consensus Algorithm*, USENIX ATC 2014; Ongaro, *Consensus: Bridging Theory and
//! Practice*, PhD thesis, Stanford, 2014), serving the lin-kv store of [`crate::kv`].
//!
//! # The algorithm
//!
//! Time is divided into **terms**, numbered with consecutive integers. Each term begins with an
//! election; at most one server wins it and is **leader** for the rest of the term. Every server
//! is a **follower**, a **candidate** or the leader. Servers keep three pieces of durable state,
//! saved before they answer anything: `currentTerm`, `votedFor` (whom they voted for in that
//! term) and the **log**, a sequence of entries each holding a command and the term in which a
//! leader received it. Indices start at 1.
//!
//! - **Election.** A follower that hears nothing from a leader for an election timeout (a random
//!   duration: the runtime draws it from the timer's range) increments its term, votes for itself
//!   and asks every other server with `RequestVote(term, lastLogIndex, lastLogTerm)`. A server
//!   grants at most one vote per term, first come first served, and only to a candidate whose log
//!   is at least as **up to date** as its own (a later last term, or the same last term and a log
//!   at least as long: paper section 5.4.1). A candidate that gathers votes from a majority
//!   becomes leader; one that sees a higher term steps down.
//! - **Replication.** The leader appends each client command to its log and sends
//!   `AppendEntries(term, prevLogIndex, prevLogTerm, entries, leaderCommit)`. A follower accepts
//!   only if its log holds an entry at `prevLogIndex` with `prevLogTerm`; then, entry by entry, it
//!   skips entries it already has and **truncates only at the first conflicting entry** (same
//!   index, different term), never on a delayed, reordered message that carries entries it holds.
//!   The leader keeps, per follower, `nextIndex` (the next entry to send) and `matchIndex` (the
//!   highest entry known replicated). On a rejection the follower returns the dissertation's
//!   conflict hint (section 5.3: the conflicting term and the first index it holds for it, or its
//!   log's length), so the leader backs up a whole term per round trip, not one entry.
//! - **Commitment.** The leader commits index `N` once a majority's `matchIndex` is at least `N`
//!   **and** `log[N].term` is its current term (section 5.4.2). Entries of earlier terms commit
//!   only indirectly, by an entry of the current term after them: counting replicas of an old
//!   entry is the bug of the paper's Figure 8. Each new leader appends a **no-op** entry at once
//!   (section 8), so that everything committed before it becomes known committed quickly.
//! - **Safety argument.** Election safety (one vote per term, majorities intersect), the log
//!   matching property (a leader creates one entry per index and term; the `prevLogIndex` check
//!   is an induction step), and the up-to-date restriction give leader completeness: a committed
//!   entry is in the log of every later leader. State machine safety follows.
//!
//! # What this implementation adds, as the dissertation describes it
//!
//! - **Pre-vote** (section 9.6, `--prevote 1`): before incrementing its term, a would-be candidate
//!   asks whether it could win; servers that still hear from a leader (or whose log is more up to
//!   date) say no. A server that was partitioned away then returns without disrupting a healthy
//!   leader: its term never ran ahead.
//! - **Check-quorum** (section 6.2, `--check-quorum 1`): a leader that has not heard from a
//!   majority within an election timeout steps down, so clients on its side of a partition are
//!   redirected instead of waiting on a leader that cannot commit.
//! - **Linearizable reads by ReadIndex** (section 6.4): the leader records its commit index as the
//!   read index (at least its term's no-op, so that everything committed before is included),
//!   confirms it is still leader by a heartbeat round acknowledged by a majority, waits until it
//!   has applied up to the read index, and answers from its state machine. Writes and cas go
//!   through the log.
//! - **Client sessions** (section 6.3): the state machine ([`KvStore`]) deduplicates retried
//!   requests by (client, `msg_id`) as part of the replicated state, so a retry after a leader
//!   change applies at most once. A non-leader answers error 11 and names the leader it knows.
//! - **Log compaction** (chapter 5): once `--snapshot N` entries are applied beyond the last
//!   snapshot, a server snapshots its state machine and drops that prefix of its log; a follower
//!   whose `nextIndex` falls inside the dropped prefix gets the snapshot by `InstallSnapshot`.
//! - **Batching and pipelining**: up to `--batch` entries per `AppendEntries`, up to
//!   `--inflight` messages in flight per follower (the leader advances `nextIndex` optimistically
//!   and falls back on a rejection). Both are 1 in the checker by default, so that its state
//!   spaces stay small, and larger on the network.
//!
//! # Durability
//!
//! `currentTerm`, `votedFor` and the log (with its snapshot) are saved through stateright
//! `Storage` in the step that changes them, so before any message of that step leaves (the runtime
//! writes storage to disk first). The runtime stores a delta ([`RaftRecord`]): a step that appends
//! `k` entries writes `k` records, never the whole log; only a compaction writes a snapshot.
//!
//! **Parallel append** (thesis section 10.2.1, `--parallel-append 1`, the network's default):
//! the leader's disk write need not come before replication. A leader that appends entries
//! sends them at once and saves them in a step of its own, on a `Persist` note it sends itself;
//! that step sends it a `Persisted` note, which the runtime releases only once the save is on
//! disk, and only then does the leader count its own copy toward a commit. So a commit always
//! rests on a majority of durable copies, possibly without the leader's. Because the save is a
//! separate step, the checker explores a leader crashing after its followers received entries
//! it never saved, which is what can happen on the network. The runtime lets `AppendEntries`,
//! `Persist` and client replies leave before earlier saves are durable (`Serve::early`); votes
//! and acknowledgements always wait. `count-unsaved-self` is the bug of counting the leader's
//! copy before `Persisted`.
//!
//! # Bounds in the checker
//!
//! Elections can happen at any moment (a timer fires whenever the checker chooses), so the model
//! bounds terms (`--terms`): a server at the last term does not time out again. Each client runs
//! a short script (`--ops`). Everything the runtime bounds is bounded here too: pending reads,
//! uncommitted entries, sessions. Three reductions keep the default search to about a second,
//! and none changes a verdict: messages that can no longer change anything are dropped from the
//! network (the function `obsolete` lists the rules); a crash restarts the server in the same step
//! (a message to a down server waits for its restart anyway, so being down is being idle, then
//! rebooting), with `--crashes` bounding crash-restarts per run; and a vote request of a term
//! its receiver has left is ignored (etcd does the same) rather than answered.
//!
//! # Properties (the paper's Figure 3, plus what clients see)
//!
//! - `election safety`: at most one leader per term (among servers that are up);
//! - `leader append-only`: a leader's log still holds every entry it appended in its term;
//! - `log matching`: two logs with an entry of the same index and term are identical up to it;
//! - `leader completeness`: a leader's log holds every entry some server marked committed while
//!   at a lower term than the leader's;
//! - `state machine safety`: two servers that applied the same index hold the same entry there
//!   and, having applied the same prefix, equal state machines;
//! - `linearizable`: the clients' history (reads included) against a lin-kv register per key.
//!
//! `sometimes`: `leader elected`, `entry committed after a leader change` (a leader committed
//! its term's no-op on top of entries of an earlier term), `snapshot installed`.

use crate::checked::{
    canonical_servers_and_clients, servers_only_crash, stale_client_reply, view_servers, Checked,
    KvModel, KvSystemState,
};
use crate::durable::Durable;
use crate::kv::{
    record_invocations, record_returns, ClientPerm, Command, History, Key, KvActor, KvClient,
    KvConfig, KvMsg, KvStore, MsgId, Permute, PermuteServers, ServerPerm, Step, MAX_CLIENTS,
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

/// A term number.
pub type Term = u64;
/// A log index (1-based; 0 is "before the first entry").
pub type Index = u64;

/// What an entry asks the state machine to do.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Cmd {
    /// The entry a new leader appends at the start of its term (section 8).
    Noop,
    /// A client's `write` or `cas`, with the client's session key (client, `msg_id`).
    Op {
        client: Id,
        msg_id: MsgId,
        cmd: Command,
    },
}

/// A log entry: a command and the term in which a leader received it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub cmd: Cmd,
}

impl fmt::Debug for Entry {
    /// `t2:noop`, `t1:c3#1 k0=1`, `t1:c3#2 k0 1->10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}:", self.term)?;
        match self.cmd {
            Cmd::Noop => write!(f, "noop"),
            Cmd::Op {
                client,
                msg_id,
                cmd,
            } => {
                write!(f, "c{}#{msg_id} ", usize::from(client))?;
                match cmd {
                    Command::Write { key, value } => write!(f, "k{key}={value}"),
                    Command::Cas { key, from, to } => write!(f, "k{key} {from}->{to}"),
                }
            }
        }
    }
}

/// The log, with the snapshot that replaced its prefix: entries `start + 1 ..= last_index()`
/// are in `entries`; `snapshot` is the state machine after applying `1..=start` (`None` while
/// `start` is 0), and `start_term` the term of entry `start`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Log {
    pub start: Index,
    pub start_term: Term,
    pub snapshot: Option<Arc<KvStore>>,
    pub entries: im::Vector<Entry>,
}

impl Log {
    pub fn last_index(&self) -> Index {
        self.start + self.entries.len() as Index
    }

    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.start_term, |e| e.term)
    }

    /// The term of entry `index`, if the log still knows it (the snapshot's last entry included).
    pub fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.start {
            Some(self.start_term)
        } else {
            self.get(index).map(|e| e.term)
        }
    }

    /// Entry `index`, if it is in the log (not compacted, not beyond the end).
    pub fn get(&self, index: Index) -> Option<&Entry> {
        if index <= self.start {
            return None;
        }
        self.entries.get((index - self.start - 1) as usize)
    }

    /// Drops entries after `index` (at least `start`).
    fn truncate_after(&mut self, index: Index) {
        debug_assert!(index >= self.start, "never truncate into the snapshot");
        self.entries.truncate((index - self.start) as usize);
    }

    /// The first index this log holds with term `term` (the conflict hint, section 5.3).
    fn first_index_of(&self, term: Term, at_or_below: Index) -> Index {
        let mut i = at_or_below;
        while i > self.start + 1 && self.term_at(i - 1) == Some(term) {
            i -= 1;
        }
        i
    }

    /// The last index this log holds with term `term`, if any (for the leader's side of the
    /// conflict hint).
    fn last_index_of(&self, term: Term) -> Option<Index> {
        let mut i = self.last_index();
        while i > self.start {
            match self.term_at(i) {
                Some(t) if t == term => return Some(i),
                Some(t) if t < term => return None,
                _ => i -= 1,
            }
        }
        None
    }
}

impl fmt::Debug for Log {
    /// `[snapshot..2 t1 | t1:c3#1 k0=1, t2:noop]`; alternate (`{:#?}`): a struct of its fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("Log")
                .field("start", &self.start)
                .field("start_term", &self.start_term)
                .field("snapshot", &self.snapshot)
                .field("entries", &self.entries)
                .finish();
        }
        write!(f, "[")?;
        if self.start > 0 {
            write!(f, "snapshot..{} t{}", self.start, self.start_term)?;
            if !self.entries.is_empty() {
                write!(f, " | ")?;
            }
        }
        for (i, e) in self.entries.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{e:?}")?;
        }
        write!(f, "]")
    }
}

/// A server's durable state: what it saves, and what a restart resumes from.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Persistent {
    pub term: Term,
    pub voted_for: Option<Id>,
    pub log: Log,
}

impl fmt::Debug for Persistent {
    /// `term 2 voted 1 log [...]`; alternate (`{:#?}`): a struct of its fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("Persistent")
                .field("term", &self.term)
                .field("voted_for", &self.voted_for)
                .field("log", &self.log)
                .finish();
        }
        write!(f, "term {}", self.term)?;
        if let Some(v) = self.voted_for {
            write!(f, " voted {}", usize::from(v))?;
        }
        write!(f, " log {:?}", self.log)
    }
}

/// What a Raft server saves (shared: saving costs a reference count, not a copy).
pub type RaftStorage = Arc<Persistent>;

/// One change to [`Persistent`] as the runtime appends it to its write-ahead file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RaftRecord {
    /// `currentTerm` and `votedFor` changed.
    Vote { term: Term, voted_for: Option<Id> },
    /// The log was cut after this index (a conflicting suffix removed).
    TruncateAfter(Index),
    /// An entry appended at the end.
    Append(Entry),
}

/// A step that appends `k` entries yields `k` records; a vote one; a truncation one. A
/// compaction (a new snapshot) yields `None`: the runtime then writes a whole snapshot, which
/// is what compaction is for.
impl Durable for RaftStorage {
    type Entry = RaftRecord;

    fn delta(&self, prev: &Self) -> Option<Vec<RaftRecord>> {
        if Arc::ptr_eq(self, prev) {
            return Some(Vec::new());
        }
        let (new, old) = (&self.log, &prev.log);
        if new.start != old.start || new.snapshot != old.snapshot {
            return None;
        }
        let mut out = Vec::new();
        if (self.term, self.voted_for) != (prev.term, prev.voted_for) {
            out.push(RaftRecord::Vote {
                term: self.term,
                voted_for: self.voted_for,
            });
        }
        // By the log matching property the two logs agree up to the last index where they hold
        // the same entry; walking back to it costs one step per removed or changed entry.
        let mut common = new.last_index().min(old.last_index());
        while common > new.start && new.get(common) != old.get(common) {
            common -= 1;
        }
        if common < old.last_index() {
            out.push(RaftRecord::TruncateAfter(common));
        }
        for i in common + 1..=new.last_index() {
            out.push(RaftRecord::Append(*new.get(i).expect("within the log")));
        }
        Some(out)
    }

    fn apply(&mut self, record: RaftRecord) {
        let p = Arc::make_mut(self);
        match record {
            RaftRecord::Vote { term, voted_for } => {
                p.term = term;
                p.voted_for = voted_for;
            }
            RaftRecord::TruncateAfter(index) => {
                let index = index.max(p.log.start);
                p.log.truncate_after(index)
            }
            RaftRecord::Append(entry) => p.log.entries.push_back(entry),
        }
    }
}

/// Node-to-node messages, named as in the paper's Figure 2 (and section 5 of the thesis for
/// `InstallSnapshot`). `round` is the ReadIndex heartbeat round a leader's message carries and a
/// reply echoes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RaftMsg {
    /// A vote request; with `pre`, a pre-vote for `term` (the candidate's term plus one), which
    /// changes nobody's term.
    RequestVote {
        term: Term,
        last_index: Index,
        last_term: Term,
        pre: bool,
    },
    /// The answer to a vote request: the voter's term and whether it grants the vote.
    RequestVoteReply { term: Term, granted: bool },
    /// The answer to a pre-vote: the voter's term, the term the pre-vote was for, and whether
    /// it would grant a vote in it.
    PreVoteReply {
        term: Term,
        asked: Term,
        granted: bool,
    },
    AppendEntries {
        term: Term,
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: Index,
        round: u64,
    },
    /// On success, `index` is the last index known to match the leader's log. On a rejection it
    /// is the hint: the first index the follower holds of `conflict_term`, or (without a
    /// conflicting term) its log's length plus one.
    AppendEntriesReply {
        term: Term,
        success: bool,
        index: Index,
        conflict_term: Option<Term>,
        round: u64,
    },
    /// The leader's snapshot: the state machine after entries `1..=index`, entry `index` of term
    /// `last_term`. Answered by an `AppendEntriesReply` with `index`.
    InstallSnapshot {
        term: Term,
        index: Index,
        last_term: Term,
        store: Arc<KvStore>,
        round: u64,
    },
    /// `--parallel-append`: a leader's note to itself to save the entries it appended in `term`
    /// (and already sent to its followers).
    Persist { term: Term },
    /// `--parallel-append`: a leader's note to itself that its log up to `index` is saved. It
    /// leaves only once that save is on disk, so only then does the leader count itself as
    /// holding those entries.
    Persisted { term: Term, index: Index },
}

impl fmt::Debug for RaftMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return self.fields(f);
        }
        match self {
            RaftMsg::RequestVote {
                term,
                last_index,
                last_term,
                pre,
            } => {
                let kind = if *pre { "PreVote" } else { "RequestVote" };
                write!(f, "{kind}(t{term} last {last_index}/t{last_term})")
            }
            RaftMsg::RequestVoteReply { term, granted } => {
                let g = if *granted { "granted" } else { "denied" };
                write!(f, "RequestVoteReply(t{term} {g})")
            }
            RaftMsg::PreVoteReply {
                term,
                asked,
                granted,
            } => {
                let g = if *granted { "granted" } else { "denied" };
                write!(f, "PreVoteReply(t{asked} {g}, voter at t{term})")
            }
            RaftMsg::AppendEntries {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                round,
            } => {
                write!(
                    f,
                    "AppendEntries(t{term} prev {prev_index}/t{prev_term} {entries:?} commit {commit}"
                )?;
                if *round > 0 {
                    write!(f, " round {round}")?;
                }
                write!(f, ")")
            }
            RaftMsg::AppendEntriesReply {
                term,
                success,
                index,
                conflict_term,
                round,
            } => {
                if *success {
                    write!(f, "AppendEntriesReply(t{term} ok match {index}")?;
                } else {
                    write!(f, "AppendEntriesReply(t{term} rejected next {index}")?;
                    if let Some(c) = conflict_term {
                        write!(f, " conflict t{c}")?;
                    }
                }
                if *round > 0 {
                    write!(f, " round {round}")?;
                }
                write!(f, ")")
            }
            RaftMsg::InstallSnapshot {
                term,
                index,
                last_term,
                store,
                ..
            } => write!(
                f,
                "InstallSnapshot(t{term} ..{index}/t{last_term} {store:?})"
            ),
            RaftMsg::Persist { term } => write!(f, "Persist(t{term})"),
            RaftMsg::Persisted { term, index } => write!(f, "Persisted(t{term} ..{index})"),
        }
    }
}

impl RaftMsg {
    /// `{:#?}`: every field by name, for the UI's message trees (the plain form above is
    /// the paper-style one-liner of diagrams and step lists).
    fn fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RaftMsg::RequestVote {
                term,
                last_index,
                last_term,
                pre,
            } => f
                .debug_struct(if *pre { "PreVote" } else { "RequestVote" })
                .field("term", term)
                .field("last_index", last_index)
                .field("last_term", last_term)
                .field("pre", pre)
                .finish(),
            RaftMsg::RequestVoteReply { term, granted } => f
                .debug_struct("RequestVoteReply")
                .field("term", term)
                .field("granted", granted)
                .finish(),
            RaftMsg::PreVoteReply {
                term,
                asked,
                granted,
            } => f
                .debug_struct("PreVoteReply")
                .field("term", term)
                .field("asked", asked)
                .field("granted", granted)
                .finish(),
            RaftMsg::AppendEntries {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                round,
            } => f
                .debug_struct("AppendEntries")
                .field("term", term)
                .field("prev_index", prev_index)
                .field("prev_term", prev_term)
                .field("entries", entries)
                .field("commit", commit)
                .field("round", round)
                .finish(),
            RaftMsg::AppendEntriesReply {
                term,
                success,
                index,
                conflict_term,
                round,
            } => f
                .debug_struct("AppendEntriesReply")
                .field("term", term)
                .field("success", success)
                .field("index", index)
                .field("conflict_term", conflict_term)
                .field("round", round)
                .finish(),
            RaftMsg::InstallSnapshot {
                term,
                index,
                last_term,
                store,
                round,
            } => f
                .debug_struct("InstallSnapshot")
                .field("term", term)
                .field("index", index)
                .field("last_term", last_term)
                .field("store", store)
                .field("round", round)
                .finish(),
            RaftMsg::Persist { term } => f.debug_struct("Persist").field("term", term).finish(),
            RaftMsg::Persisted { term, index } => f
                .debug_struct("Persisted")
                .field("term", term)
                .field("index", index)
                .finish(),
        }
    }
}

/// Raft's timers: the election timeout (also a leader's check-quorum period) and the leader's
/// heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RaftTimer {
    Election,
    Heartbeat,
}

/// The election timeout's range on the network: the runtime draws a uniformly random duration
/// from it each time the timer is set (the paper's randomized timeouts, section 5.2).
pub const ELECTION_MS: Range<u64> = 150..300;
/// The leader's heartbeat period on the network.
pub const HEARTBEAT_MS: u64 = 50;

/// A read waiting for its ReadIndex confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PendingRead {
    pub client: Id,
    pub msg_id: MsgId,
    pub key: Key,
    /// Answer once the state machine has applied at least this index...
    pub index: Index,
    /// ...and a majority has acknowledged a message of this heartbeat round or a later one.
    pub round: u64,
}

/// The leader's view of one follower.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Peer {
    /// The next entry to send (the paper's `nextIndex`).
    pub next: Index,
    /// The highest entry known replicated (`matchIndex`).
    pub matched: Index,
    /// Messages sent and not yet answered.
    pub inflight: u8,
    /// The highest heartbeat round the follower acknowledged in this term.
    pub acked_round: u64,
    /// The round and commit index the last message to it carried.
    pub sent_round: u64,
    pub sent_commit: Index,
    /// Heard from since the last heartbeat (the runtime resends to a follower that was not).
    pub heard: bool,
}

/// A leader's volatile state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaderState {
    /// Per server, by index (the leader's own slot is unused).
    pub peers: Vec<Peer>,
    /// The index of this term's no-op: reads wait until it is committed.
    pub noop: Index,
    /// The last index this leader appended (a ghost for `leader append-only`).
    pub appended: Index,
    /// The current heartbeat round (0: no read has asked for one yet).
    pub round: u64,
    pub reads: Vec<PendingRead>,
    /// Servers heard from since the last check-quorum tick, as a bit set by index.
    pub contact: u64,
    /// `--parallel-append`: the highest index this leader knows is on its own disk (what it
    /// counts for itself when it commits), and whether a `Persist` to itself is on its way.
    pub durable: Index,
    pub persisting: bool,
}

/// Follower, (pre-)candidate or leader. Votes are bit sets of server indices.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Follower,
    /// `denied`: the servers that refused a pre-vote in this pre-election.
    PreCandidate {
        votes: u64,
        denied: u64,
    },
    Candidate {
        votes: u64,
    },
    Leader(Box<LeaderState>),
}

/// A server's state: the durable part (shared with what it saved) and the volatile part.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RaftState {
    pub p: Arc<Persistent>,
    pub role: Role,
    /// The leader of the current term, if known (for redirecting clients and for pre-vote).
    pub leader: Option<Id>,
    /// The highest index known committed, and the highest applied to `sm`.
    pub commit: Index,
    pub applied: Index,
    /// The state machine after applying `1..=applied`.
    pub sm: Arc<KvStore>,
    /// Whether this server ever installed a leader's snapshot (a ghost for `snapshot installed`).
    pub installed: bool,
}

impl fmt::Debug for RaftState {
    /// One line, `LEADER s1:next 2 match 1, term 1 ..., commit 1 applied 1 sm k0=1, leader 0`;
    /// alternate (`{:#?}`): a struct of all its fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("RaftState")
                .field("p", &self.p)
                .field("role", &self.role)
                .field("leader", &self.leader)
                .field("commit", &self.commit)
                .field("applied", &self.applied)
                .field("sm", &self.sm)
                .field("installed", &self.installed)
                .finish();
        }
        let role = match &self.role {
            Role::Follower => "follower".to_string(),
            Role::PreCandidate { votes, denied } => {
                format!(
                    "pre-candidate ({} pre-votes, {} refused)",
                    votes.count_ones(),
                    denied.count_ones()
                )
            }
            Role::Candidate { votes } => format!("candidate ({} votes)", votes.count_ones()),
            Role::Leader(l) => {
                let mut s = "LEADER".to_string();
                for (i, p) in l.peers.iter().enumerate().filter(|(_, p)| p.next > 0) {
                    s.push_str(&format!(" s{i}:next {} match {}", p.next, p.matched));
                }
                if !l.reads.is_empty() {
                    s.push_str(&format!(" reads {:?}", l.reads));
                }
                s
            }
        };
        write!(
            f,
            "{role}, {:?}, commit {} applied {} sm {:?}",
            self.p, self.commit, self.applied, self.sm
        )?;
        if let Some(l) = self.leader {
            write!(f, ", leader {}", usize::from(l))?;
        }
        if self.installed {
            write!(f, ", installed a snapshot")?;
        }
        Ok(())
    }
}

impl RaftState {
    pub fn term(&self) -> Term {
        self.p.term
    }

    pub fn log(&self) -> &Log {
        &self.p.log
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    fn leader_state(&mut self) -> Option<&mut LeaderState> {
        match &mut self.role {
            Role::Leader(l) => Some(l),
            _ => None,
        }
    }
}

/// Deliberately broken variants from the literature (see the descriptor for sources).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RaftBug {
    /// The leader commits an entry of an earlier term once a majority stores it (Figure 8).
    CommitPreviousTerm,
    /// Votes are granted without the up-to-date-log restriction (section 5.4.1).
    VoteWithoutLogCheck,
    /// `votedFor` is not persisted: a restarted server votes again in the same term.
    VolatileVote,
    /// A follower truncates its log after `prevLogIndex` on every `AppendEntries` with entries,
    /// also on a delayed one whose entries it already holds (Figure 2, receiver rule 3).
    TruncateOnStaleAppend,
    /// A leader answers reads from its own state machine without confirming it is still leader.
    StaleLeaderRead,
    /// A candidate counts granted votes from replies of an earlier term.
    CountStaleVotes,
    /// With `--parallel-append`, the leader counts its own copy of new entries toward a commit
    /// before they are on its disk (thesis section 10.2.1 counts only durable copies).
    CountUnsavedSelf,
}

impl RaftBug {
    pub const ALL: [(&'static str, RaftBug); 7] = [
        ("commit-previous-term", RaftBug::CommitPreviousTerm),
        ("vote-without-log-check", RaftBug::VoteWithoutLogCheck),
        ("volatile-vote", RaftBug::VolatileVote),
        ("truncate-on-stale-append", RaftBug::TruncateOnStaleAppend),
        ("stale-leader-read", RaftBug::StaleLeaderRead),
        ("count-stale-votes", RaftBug::CountStaleVotes),
        ("count-unsaved-self", RaftBug::CountUnsavedSelf),
    ];
}

/// A Raft server: its index among `servers` and its configuration.
#[derive(Clone, Debug)]
pub struct RaftServer {
    pub index: usize,
    pub servers: Vec<Id>,
    pub bug: Option<RaftBug>,
    /// Pre-vote (section 9.6) and check-quorum (section 6.2).
    pub prevote: bool,
    pub check_quorum: bool,
    /// Entries per `AppendEntries` and messages in flight per follower (at least 1 each).
    pub batch: usize,
    pub inflight: u8,
    /// Applied entries beyond the last snapshot that trigger a new one (0: never compact).
    pub snapshot: u64,
    /// The leader sends new entries before it saves them, and counts itself as holding them
    /// only once they are on its disk (thesis section 10.2.1): its disk write runs in parallel
    /// with its followers' instead of before them. The save is a step of its own (a `Persist`
    /// the leader sends itself), so a crash can lose entries the followers already have, in
    /// the checker as on the network; the count waits for `Persisted`, which the runtime
    /// releases only after that save is durable.
    pub parallel_append: bool,
    /// A server at this term does not start another election (the checker's bound;
    /// `Term::MAX` on the network).
    pub max_term: Term,
    /// On each heartbeat, send to every follower (an empty `AppendEntries` keeps it from
    /// starting an election) and resend to a follower not heard from since the last heartbeat
    /// (its message or the reply may be lost). Off in the checker, where timers fire at will and
    /// an election can happen anyway: there a heartbeat only carries what a follower lacks.
    pub keepalive: bool,
    /// Session table bound of the state machine.
    pub max_sessions: usize,
    /// Whether a follower that has heard from the leader of its term may still time out and
    /// start an election (a leader slowed down or cut off after it was heard). Always on the
    /// network; in the checker `--timeouts 1`, while `--timeouts 0` lets only servers without a
    /// known leader time out (leaders are still deposed, by servers they had not reached yet,
    /// and by crashes with `--crashes`).
    pub timeout_with_leader: bool,
}

/// Reads waiting for confirmation beyond this are refused with error 11.
pub const MAX_PENDING_READS: usize = 4096;
/// Uncommitted entries beyond this make the leader refuse new writes with error 11.
pub const MAX_UNCOMMITTED: u64 = 4096;
/// The most servers a cluster may have (vote sets are bit sets).
pub const MAX_SERVERS: usize = 64;

type RaftOut = Out<RaftServer>;

impl RaftServer {
    /// Server `index` of `servers` with the network's defaults.
    pub fn new(index: usize, servers: Vec<Id>) -> Self {
        assert!(index < servers.len() && servers.len() <= MAX_SERVERS);
        RaftServer {
            index,
            servers,
            bug: None,
            prevote: true,
            check_quorum: true,
            batch: 64,
            inflight: 2,
            snapshot: 10_000,
            parallel_append: true,
            max_term: Term::MAX,
            keepalive: true,
            max_sessions: crate::single_copy_kv::SingleCopyServer::DEFAULT_MAX_SESSIONS,
            timeout_with_leader: true,
        }
    }

    fn majority(&self) -> usize {
        self.servers.len() / 2 + 1
    }

    fn index_of(&self, id: Id) -> Option<usize> {
        self.servers.iter().position(|s| *s == id)
    }

    fn peers(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.servers.len()).filter(move |i| *i != self.index)
    }

    fn bug(&self, bug: RaftBug) -> bool {
        self.bug == Some(bug)
    }

    /// Saves the durable state (its `Arc` is shared with the state: no copy).
    fn save(&self, state: &RaftState, o: &mut RaftOut) {
        o.save(Arc::clone(&state.p));
    }

    /// Arms the election timer, unless this server has reached the checker's term bound.
    fn arm_election(&self, state: &RaftState, o: &mut RaftOut) {
        if state.term() < self.max_term {
            o.set_timer(RaftTimer::Election, ms(ELECTION_MS));
        } else {
            o.cancel_timer(RaftTimer::Election);
        }
    }

    /// Moves to `term` as a follower (a higher term seen), forgetting the vote.
    fn step_down(&self, state: &mut RaftState, term: Term, o: &mut RaftOut) {
        debug_assert!(term >= state.term());
        if term > state.term() {
            let p = Arc::make_mut(&mut state.p);
            p.term = term;
            p.voted_for = None;
            state.leader = None;
            self.save(state, o);
        }
        self.become_follower(state, o);
    }

    fn become_follower(&self, state: &mut RaftState, o: &mut RaftOut) {
        if let Role::Leader(l) = &state.role {
            // Reads that were waiting can no longer be confirmed by this server: definite
            // failures (a read changes nothing).
            for r in &l.reads {
                o.send(r.client, KvMsg::not_leader(r.msg_id, None));
            }
            o.cancel_timer(RaftTimer::Heartbeat);
        }
        state.role = Role::Follower;
        self.arm_election(state, o);
    }

    /// The election timeout: a follower or candidate starts a (pre-)election; a leader with
    /// check-quorum steps down unless it heard from a majority during the last period.
    fn on_election_timeout(&self, state: &mut RaftState, o: &mut RaftOut) {
        if let Role::Leader(l) = &mut state.role {
            if !self.check_quorum {
                return;
            }
            let heard = l.contact.count_ones() as usize + 1;
            l.contact = 0;
            if heard < self.majority() {
                state.leader = None;
                self.become_follower(state, o);
            } else {
                o.set_timer(RaftTimer::Election, ms(ELECTION_MS));
            }
            return;
        }
        if state.term() >= self.max_term {
            return;
        }
        if state.leader.is_some() && !self.timeout_with_leader {
            return; // the checker's reduction: a follower that hears its leader waits for it
        }
        state.leader = None;
        if self.prevote {
            state.role = Role::PreCandidate {
                votes: 1 << self.index,
                denied: 0,
            };
            if self.keepalive {
                self.arm_election(state, o); // answers may be lost: ask again after a while
            } else {
                // In the checker nothing is lost: the pre-election ends by its answers (won, or
                // refused by too many), so a repeated timeout would only pile up copies of the
                // same requests.
                o.cancel_timer(RaftTimer::Election);
            }
            if !self.won(state) {
                self.ask_votes(state, true, o);
                return;
            }
        }
        self.start_election(state, o);
    }

    /// Becomes a candidate in the next term, votes for itself, asks for votes.
    fn start_election(&self, state: &mut RaftState, o: &mut RaftOut) {
        let p = Arc::make_mut(&mut state.p);
        p.term += 1;
        p.voted_for = Some(self.servers[self.index]);
        state.leader = None;
        state.role = Role::Candidate {
            votes: 1 << self.index,
        };
        self.save(state, o);
        self.arm_election(state, o);
        if self.won(state) {
            self.become_leader(state, o);
        } else {
            self.ask_votes(state, false, o);
        }
    }

    fn ask_votes(&self, state: &RaftState, pre: bool, o: &mut RaftOut) {
        let log = state.log();
        let msg = RaftMsg::RequestVote {
            term: state.term() + u64::from(pre),
            last_index: log.last_index(),
            last_term: log.last_term(),
            pre,
        };
        for i in self.peers() {
            o.send(self.servers[i], KvMsg::Internal(msg.clone()));
        }
    }

    /// Whether the current (pre-)candidacy holds a majority.
    fn won(&self, state: &RaftState) -> bool {
        match state.role {
            Role::PreCandidate { votes, .. } | Role::Candidate { votes } => {
                votes.count_ones() as usize >= self.majority()
            }
            _ => false,
        }
    }

    fn become_leader(&self, state: &mut RaftState, o: &mut RaftOut) {
        let last = state.log().last_index();
        let noop = Entry {
            term: state.term(),
            cmd: Cmd::Noop,
        };
        Arc::make_mut(&mut state.p).log.entries.push_back(noop);
        let mut peers = vec![Peer::default(); self.servers.len()];
        for i in self.peers() {
            peers[i].next = last + 1;
        }
        state.role = Role::Leader(Box::new(LeaderState {
            peers,
            noop: last + 1,
            appended: last + 1,
            round: 0,
            reads: Vec::new(),
            contact: 0,
            // Everything before the no-op was saved when this server became a candidate.
            durable: last,
            persisting: false,
        }));
        state.leader = Some(self.servers[self.index]);
        self.appended(state, o);
        if self.check_quorum {
            o.set_timer(RaftTimer::Election, ms(ELECTION_MS));
        } else {
            o.cancel_timer(RaftTimer::Election);
        }
        o.set_timer(RaftTimer::Heartbeat, ms(HEARTBEAT_MS..HEARTBEAT_MS + 1));
        self.advance_commit(state, o); // a one-server cluster commits at once
        self.broadcast(state, o);
    }

    /// The leader appended entries: it saves them now, or with `--parallel-append` in a step
    /// of its own (a `Persist` to itself, unless one is on its way and will cover them).
    fn appended(&self, state: &mut RaftState, o: &mut RaftOut) {
        if !self.parallel_append {
            self.save(state, o);
            return;
        }
        let term = state.term();
        let me = self.servers[self.index];
        if let Some(l) = state.leader_state() {
            if !l.persisting {
                l.persisting = true;
                o.send(me, KvMsg::Internal(RaftMsg::Persist { term }));
            }
        }
    }

    /// `Persist`: saves the log as it is now and tells itself, through a message that leaves
    /// only once the save is durable, up to which index.
    fn on_persist(&self, state: &mut RaftState, term: Term, o: &mut RaftOut) {
        let index = state.log().last_index();
        let me = self.servers[self.index];
        if term != state.term() {
            return;
        }
        let Some(l) = state.leader_state() else {
            return;
        };
        l.persisting = false;
        self.save(state, o);
        o.send(me, KvMsg::Internal(RaftMsg::Persisted { term, index }));
    }

    /// `Persisted`: the leader's own copy up to `index` is durable and now counts.
    fn on_persisted(&self, state: &mut RaftState, term: Term, index: Index, o: &mut RaftOut) {
        if term != state.term() {
            return;
        }
        let Some(l) = state.leader_state() else {
            return;
        };
        if index > l.durable {
            l.durable = index;
            self.advance_commit(state, o);
        }
    }

    /// Sends every follower what it lacks.
    fn broadcast(&self, state: &mut RaftState, o: &mut RaftOut) {
        for i in self.peers() {
            self.send_to(state, i, false, o);
        }
    }

    /// Sends follower `i` the next entries (or the snapshot, or a heartbeat carrying the commit
    /// index and read round), if the pipeline to it has room and it lacks something; `force`
    /// sends even an empty heartbeat.
    fn send_to(&self, state: &mut RaftState, i: usize, force: bool, o: &mut RaftOut) {
        let term = state.term();
        let commit = state.commit;
        let p = Arc::clone(&state.p);
        let log = &p.log;
        let Some(l) = state.leader_state() else {
            return;
        };
        let round = l.round;
        let peer = &mut l.peers[i];
        if peer.inflight >= self.inflight {
            return;
        }
        // The snapshot to a follower behind the log's start; otherwise the next entries, or a
        // heartbeat with the read round (and, with keepalive, the commit index).
        let (next, msg) = if peer.next <= log.start {
            let store = Arc::clone(
                log.snapshot
                    .as_ref()
                    .expect("a compacted log has a snapshot"),
            );
            let msg = RaftMsg::InstallSnapshot {
                term,
                index: log.start,
                last_term: log.start_term,
                store,
                round,
            };
            (log.start + 1, msg)
        } else {
            // A newer commit index alone is worth a message only with keepalive (the network);
            // in the checker followers learn it with the next entries or read round, which
            // keeps the search small (the safety properties do not depend on when followers
            // apply).
            let lacks = peer.next <= log.last_index()
                || peer.sent_round < round
                || (self.keepalive && peer.sent_commit < commit);
            if !lacks && !force {
                return;
            }
            let prev_index = peer.next - 1;
            let prev_term = log.term_at(prev_index).expect("next is within the log");
            let end = log.last_index().min(prev_index + self.batch as Index);
            let entries: Vec<Entry> = (prev_index + 1..=end)
                .map(|k| *log.get(k).expect("within the log"))
                .collect();
            let msg = RaftMsg::AppendEntries {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                round,
            };
            (end + 1, msg)
        };
        peer.next = next;
        peer.inflight += 1;
        peer.sent_round = round;
        if self.keepalive {
            peer.sent_commit = commit;
        }
        o.send(self.servers[i], KvMsg::Internal(msg));
    }

    fn on_heartbeat(&self, state: &mut RaftState, o: &mut RaftOut) {
        let Some(l) = state.leader_state() else {
            return;
        };
        if self.keepalive {
            for i in self.peers() {
                let peer = &mut l.peers[i];
                if !peer.heard {
                    peer.inflight = 0; // its messages or their replies may be lost: resend
                }
                peer.heard = false;
            }
        }
        for i in self.peers() {
            self.send_to(state, i, self.keepalive, o);
        }
        o.set_timer(RaftTimer::Heartbeat, ms(HEARTBEAT_MS..HEARTBEAT_MS + 1));
    }

    /// Commits the highest index a majority stores, if it is of the current term (unless the
    /// Figure 8 bug is on), then applies.
    fn advance_commit(&self, state: &mut RaftState, o: &mut RaftOut) {
        let Role::Leader(l) = &state.role else {
            return;
        };
        let log = state.log();
        let own = if self.parallel_append && !self.bug(RaftBug::CountUnsavedSelf) {
            l.durable
        } else {
            log.last_index()
        };
        let mut matched: Vec<Index> = self
            .peers()
            .map(|i| l.peers[i].matched)
            .chain(std::iter::once(own))
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let n = matched[self.majority() - 1];
        if n > state.commit
            && (log.term_at(n) == Some(state.term()) || self.bug(RaftBug::CommitPreviousTerm))
        {
            state.commit = n;
            self.apply(state, o);
            self.broadcast(state, o);
        }
    }

    /// Applies committed entries in order; the leader answers the clients whose commands they
    /// are, answers reads that became ready, and snapshots past the threshold.
    fn apply(&self, state: &mut RaftState, o: &mut RaftOut) {
        let upto = state.commit.min(state.log().last_index());
        if state.applied < upto {
            let p = Arc::clone(&state.p);
            let sm = Arc::make_mut(&mut state.sm);
            let leader = matches!(state.role, Role::Leader(_));
            for i in state.applied + 1..=upto {
                if let Some(Entry {
                    cmd:
                        Cmd::Op {
                            client,
                            msg_id,
                            cmd,
                        },
                    ..
                }) = p.log.get(i)
                {
                    let outcome = sm.execute(*client, *msg_id, *cmd, self.max_sessions);
                    if let (true, Some(outcome)) = (leader, outcome) {
                        o.send(*client, outcome.reply(*msg_id));
                    }
                }
            }
            state.applied = upto;
            self.maybe_compact(state, o);
        }
        self.answer_reads(state, o);
    }

    fn maybe_compact(&self, state: &mut RaftState, o: &mut RaftOut) {
        if self.snapshot == 0 || state.applied < state.log().start + self.snapshot {
            return;
        }
        let applied = state.applied;
        let sm = Arc::clone(&state.sm);
        let log = &mut Arc::make_mut(&mut state.p).log;
        let term = log
            .term_at(applied)
            .expect("applied entries are in the log");
        let drop = (applied - log.start) as usize;
        log.entries = log.entries.skip(drop);
        log.start = applied;
        log.start_term = term;
        log.snapshot = Some(sm);
        self.save(state, o);
    }

    /// Answers the reads whose round a majority acknowledged and whose index is applied.
    fn answer_reads(&self, state: &mut RaftState, o: &mut RaftOut) {
        let majority = self.majority();
        let applied = state.applied;
        let sm = Arc::clone(&state.sm);
        let me = self.index;
        let Some(l) = state.leader_state() else {
            return;
        };
        if l.reads.is_empty() {
            return;
        }
        let peers = &l.peers;
        let confirmed = |round: u64| {
            1 + (0..peers.len())
                .filter(|i| *i != me && peers[*i].acked_round >= round)
                .count()
                >= majority
        };
        l.reads.retain(|r| {
            if applied >= r.index && confirmed(r.round) {
                o.send(r.client, sm.read(r.msg_id, r.key));
                false
            } else {
                true
            }
        });
    }

    fn on_client(&self, state: &mut RaftState, src: Id, msg: KvMsg<RaftMsg>, o: &mut RaftOut) {
        let (msg_id, request) = match msg {
            KvMsg::Read { msg_id, key } => (msg_id, Err(key)),
            KvMsg::Write { msg_id, key, value } => (msg_id, Ok(Command::Write { key, value })),
            KvMsg::Cas {
                msg_id,
                key,
                from,
                to,
            } => (msg_id, Ok(Command::Cas { key, from, to })),
            _ => return, // replies are not requests
        };
        if !state.is_leader() {
            o.send(src, KvMsg::not_leader(msg_id, state.leader));
            return;
        }
        match request {
            Err(key) => self.on_read(state, src, msg_id, key, o),
            Ok(cmd) => {
                if state.sm.sessions.settled(src, msg_id, o) {
                    return;
                }
                if state.log().last_index() - state.commit >= MAX_UNCOMMITTED {
                    o.send(src, KvMsg::not_leader(msg_id, state.leader));
                    return;
                }
                let entry = Entry {
                    term: state.term(),
                    cmd: Cmd::Op {
                        client: src,
                        msg_id,
                        cmd,
                    },
                };
                Arc::make_mut(&mut state.p).log.entries.push_back(entry);
                let last = state.log().last_index();
                if let Some(l) = state.leader_state() {
                    l.appended = last;
                }
                self.appended(state, o);
                self.advance_commit(state, o);
                self.broadcast(state, o);
            }
        }
    }

    /// ReadIndex (section 6.4), or with the bug an unconfirmed read of the local state.
    fn on_read(&self, state: &mut RaftState, client: Id, msg_id: MsgId, key: Key, o: &mut RaftOut) {
        if self.bug(RaftBug::StaleLeaderRead) {
            o.send(client, state.sm.read(msg_id, key));
            return;
        }
        let commit = state.commit;
        let l = state.leader_state().expect("checked by the caller");
        if l.reads.len() >= MAX_PENDING_READS {
            o.send(client, KvMsg::not_leader(msg_id, None));
            return;
        }
        l.round += 1;
        let read = PendingRead {
            client,
            msg_id,
            key,
            index: commit.max(l.noop),
            round: l.round,
        };
        l.reads.push(read);
        self.answer_reads(state, o); // a one-server cluster confirms at once
        self.broadcast(state, o);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_request_vote(
        &self,
        state: &mut RaftState,
        src: Id,
        term: Term,
        last_index: Index,
        last_term: Term,
        pre: bool,
        o: &mut RaftOut,
    ) {
        if !pre && term < state.term() {
            // A vote request of a term this server has left is ignored, as etcd does: the
            // candidate has moved on (its timer restarts the election in a later term) or will
            // learn the term from the leader. Answering it with our term, as Figure 2 allows,
            // changes nothing for safety.
            return;
        }
        if !pre && term > state.term() {
            self.step_down(state, term, o);
        }
        let log = state.log();
        let up_to_date = (last_term, last_index) >= (log.last_term(), log.last_index())
            || self.bug(RaftBug::VoteWithoutLogCheck);
        let granted = if pre {
            // A pre-vote is granted to a log at least as up to date, for a term ahead of ours,
            // by a server that has no leader it still hears from.
            term > state.term() && up_to_date && state.leader.is_none()
        } else {
            term == state.term() && up_to_date && state.p.voted_for.is_none_or(|v| v == src)
        };
        if granted && !pre && state.p.voted_for.is_none() {
            Arc::make_mut(&mut state.p).voted_for = Some(src);
            self.save(state, o);
            self.arm_election(state, o);
        }
        // A pre-vote is always answered, so that a pre-candidate refused by too many gives
        // up; a vote denial is not sent: at the candidate's own term it counts for nothing (a
        // vote request of an earlier term was ignored above).
        let reply = if pre {
            RaftMsg::PreVoteReply {
                term: state.term(),
                asked: term,
                granted,
            }
        } else if granted {
            RaftMsg::RequestVoteReply {
                term: state.term(),
                granted,
            }
        } else {
            return;
        };
        o.send(src, KvMsg::Internal(reply));
    }

    /// A pre-vote answer counts in the pre-election for the term it was asked for (an earlier
    /// pre-election at the same term included, as in etcd: pre-votes only advise); a refusal
    /// from a voter at a higher term makes this server adopt that term.
    fn on_pre_vote_reply(
        &self,
        state: &mut RaftState,
        src: Id,
        term: Term,
        asked: Term,
        granted: bool,
        o: &mut RaftOut,
    ) {
        if !granted && term > state.term() {
            self.step_down(state, term, o);
            return;
        }
        let Some(from) = self.index_of(src) else {
            return;
        };
        if asked != state.term() + 1 {
            return;
        }
        let (n, majority) = (self.servers.len(), self.majority());
        match &mut state.role {
            Role::PreCandidate { votes, .. } if granted => {
                *votes |= 1 << from;
                if self.won(state) {
                    self.start_election(state, o);
                }
            }
            Role::PreCandidate { denied, .. } => {
                *denied |= 1 << from;
                if denied.count_ones() as usize > n - majority {
                    self.become_follower(state, o); // lost: wait a timeout and try again
                }
            }
            _ => {}
        }
    }

    fn on_vote_reply(
        &self,
        state: &mut RaftState,
        src: Id,
        term: Term,
        granted: bool,
        o: &mut RaftOut,
    ) {
        if term > state.term() {
            self.step_down(state, term, o);
            return;
        }
        let Some(from) = self.index_of(src) else {
            return;
        };
        let current = state.term();
        match &mut state.role {
            Role::Candidate { votes }
                if granted && (term == current || self.bug(RaftBug::CountStaleVotes)) =>
            {
                *votes |= 1 << from;
                if self.won(state) {
                    self.become_leader(state, o);
                }
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append_entries(
        &self,
        state: &mut RaftState,
        src: Id,
        term: Term,
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: Index,
        round: u64,
        o: &mut RaftOut,
    ) {
        let reply = |state: &RaftState, success: bool, index: Index, conflict_term| {
            KvMsg::Internal(RaftMsg::AppendEntriesReply {
                term: state.term(),
                success,
                index,
                conflict_term,
                round,
            })
        };
        if term < state.term() {
            o.send(src, reply(state, false, 0, None));
            return;
        }
        self.follow(state, src, term, o);
        let log = state.log();
        let sent_end = prev_index + entries.len() as Index;
        // Entries inside our snapshot are committed, hence equal to the leader's: skip them.
        let skip = log.start.saturating_sub(prev_index) as usize;
        let (prev_index, prev_term, new) = if skip > 0 {
            if skip > entries.len() {
                o.send(src, reply(state, true, sent_end, None));
                return;
            }
            let base_term = if skip == 0 {
                prev_term
            } else {
                entries[skip - 1].term
            };
            (log.start, base_term, &entries[skip..])
        } else {
            (prev_index, prev_term, &entries[..])
        };
        if prev_index > log.last_index() {
            let hint = log.last_index() + 1;
            o.send(src, reply(state, false, hint, None));
            return;
        }
        let have = log
            .term_at(prev_index)
            .expect("prev_index is within the log");
        if have != prev_term {
            let hint = log.first_index_of(have, prev_index);
            o.send(src, reply(state, false, hint, Some(have)));
            return;
        }
        // Receiver rule 3: truncate only at the first conflicting entry; rule 4: append what
        // is new.
        let mut changed = false;
        let p = Arc::make_mut(&mut state.p);
        if self.bug(RaftBug::TruncateOnStaleAppend)
            && !new.is_empty()
            && prev_index < p.log.last_index()
        {
            p.log.truncate_after(prev_index);
            changed = true;
        }
        for (k, e) in new.iter().enumerate() {
            let index = prev_index + 1 + k as Index;
            match p.log.term_at(index) {
                Some(t) if t == e.term => continue,
                Some(_) => {
                    debug_assert!(
                        index > state.commit || self.bug.is_some(),
                        "never truncate a committed entry"
                    );
                    p.log.truncate_after(index - 1);
                    p.log.entries.push_back(*e);
                }
                None => p.log.entries.push_back(*e),
            }
            changed = true;
        }
        if changed {
            self.save(state, o);
        }
        let matched = prev_index + new.len() as Index;
        if commit > state.commit {
            state.commit = state.commit.max(commit.min(matched));
        }
        self.apply(state, o);
        o.send(src, reply(state, true, sent_end.max(matched), None));
    }

    /// A message from the leader of `term` (at least ours): follow it.
    fn follow(&self, state: &mut RaftState, leader: Id, term: Term, o: &mut RaftOut) {
        if term > state.term() || !matches!(state.role, Role::Follower) {
            self.step_down(state, term, o);
        }
        state.leader = Some(leader);
        self.arm_election(state, o);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_install_snapshot(
        &self,
        state: &mut RaftState,
        src: Id,
        term: Term,
        index: Index,
        last_term: Term,
        store: Arc<KvStore>,
        round: u64,
        o: &mut RaftOut,
    ) {
        let reply = |state: &RaftState, success: bool, index: Index| {
            KvMsg::Internal(RaftMsg::AppendEntriesReply {
                term: state.term(),
                success,
                index,
                conflict_term: None,
                round,
            })
        };
        if term < state.term() {
            o.send(src, reply(state, false, 0));
            return;
        }
        self.follow(state, src, term, o);
        if index > state.commit {
            let p = Arc::make_mut(&mut state.p);
            let log = &mut p.log;
            if log.term_at(index) == Some(last_term) && index >= log.start {
                // Keep the entries that follow the snapshot (section 5.1 of the thesis).
                let drop = (index - log.start) as usize;
                log.entries = log.entries.skip(drop);
            } else {
                log.entries = im::Vector::new();
            }
            log.start = index;
            log.start_term = last_term;
            log.snapshot = Some(Arc::clone(&store));
            state.commit = index;
            state.applied = index;
            state.sm = store;
            state.installed = true;
            self.save(state, o);
            self.apply(state, o);
        }
        o.send(src, reply(state, true, index));
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append_reply(
        &self,
        state: &mut RaftState,
        src: Id,
        term: Term,
        success: bool,
        index: Index,
        conflict_term: Option<Term>,
        round: u64,
        o: &mut RaftOut,
    ) {
        if term > state.term() {
            self.step_down(state, term, o);
            return;
        }
        if term < state.term() {
            return; // an answer to an earlier term's leader
        }
        let Some(i) = self.index_of(src) else {
            return;
        };
        let p = Arc::clone(&state.p);
        let Some(l) = state.leader_state() else {
            return;
        };
        if !success && index == 0 {
            // The answer to a message of an earlier term (this server was its leader then),
            // carrying the follower's term, which is ours: nothing about this term's pipeline.
            return;
        }
        // What only keepalive or check-quorum reads is tracked only with them: in the checker
        // a field nobody reads would split states that behave alike.
        if self.check_quorum {
            l.contact |= 1 << i;
        }
        let peer = &mut l.peers[i];
        peer.inflight = peer.inflight.saturating_sub(1);
        if self.keepalive {
            peer.heard = true;
        }
        peer.acked_round = peer.acked_round.max(round);
        if success {
            peer.matched = peer.matched.max(index);
            peer.next = peer.next.max(peer.matched + 1);
        } else {
            let next = match conflict_term.and_then(|t| p.log.last_index_of(t)) {
                Some(last_of_term) => last_of_term + 1,
                None => index.max(1),
            };
            peer.next = next.clamp(peer.matched + 1, p.log.last_index() + 1);
        }
        self.advance_commit(state, o);
        self.answer_reads(state, o);
        self.send_to(state, i, false, o);
    }
}

impl Actor for RaftServer {
    type Msg = KvMsg<RaftMsg>;
    type State = RaftState;
    type Timer = RaftTimer;
    type Random = ();
    type Storage = RaftStorage;

    fn name(&self) -> String {
        format!("server {}", self.index)
    }

    /// Starts as a follower from what was saved (term, vote, log and snapshot); the state
    /// machine starts from the snapshot and catches up as the commit index becomes known.
    fn on_start(&self, _id: Id, storage: &Option<RaftStorage>, o: &mut RaftOut) -> RaftState {
        let mut p = storage.clone().unwrap_or_default();
        if self.bug(RaftBug::VolatileVote) && p.voted_for.is_some() {
            Arc::make_mut(&mut p).voted_for = None;
        }
        let start = p.log.start;
        let sm = p.log.snapshot.clone().unwrap_or_default();
        let state = RaftState {
            p,
            role: Role::Follower,
            leader: None,
            commit: start,
            applied: start,
            sm,
            installed: false,
        };
        self.arm_election(&state, o);
        state
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<RaftState>,
        src: Id,
        msg: Self::Msg,
        o: &mut RaftOut,
    ) {
        let KvMsg::Internal(m) = msg else {
            return self.on_client(state.to_mut(), src, msg, o);
        };
        if self.index_of(src).is_none() {
            return; // internal messages come from servers only
        }
        let s = state.to_mut();
        match m {
            RaftMsg::RequestVote {
                term,
                last_index,
                last_term,
                pre,
            } => self.on_request_vote(s, src, term, last_index, last_term, pre, o),
            RaftMsg::RequestVoteReply { term, granted } => {
                self.on_vote_reply(s, src, term, granted, o)
            }
            RaftMsg::PreVoteReply {
                term,
                asked,
                granted,
            } => self.on_pre_vote_reply(s, src, term, asked, granted, o),
            RaftMsg::AppendEntries {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                round,
            } => self.on_append_entries(
                s, src, term, prev_index, prev_term, entries, commit, round, o,
            ),
            RaftMsg::AppendEntriesReply {
                term,
                success,
                index,
                conflict_term,
                round,
            } => self.on_append_reply(s, src, term, success, index, conflict_term, round, o),
            RaftMsg::InstallSnapshot {
                term,
                index,
                last_term,
                store,
                round,
            } => self.on_install_snapshot(s, src, term, index, last_term, store, round, o),
            // Notes to itself only: from anyone else, ignored.
            RaftMsg::Persist { term } if src == self.servers[self.index] => {
                self.on_persist(s, term, o)
            }
            RaftMsg::Persisted { term, index } if src == self.servers[self.index] => {
                self.on_persisted(s, term, index, o)
            }
            RaftMsg::Persist { .. } | RaftMsg::Persisted { .. } => {}
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<RaftState>, timer: &RaftTimer, o: &mut RaftOut) {
        match timer {
            RaftTimer::Election => self.on_election_timeout(state.to_mut(), o),
            RaftTimer::Heartbeat => self.on_heartbeat(state.to_mut(), o),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Symmetry over clients
// ---------------------------------------------------------------------------------------------

impl Permute for Entry {
    fn permute(&self, p: &ClientPerm) -> Self {
        match self.cmd {
            Cmd::Noop => *self,
            Cmd::Op {
                client,
                msg_id,
                cmd,
            } => Entry {
                term: self.term,
                cmd: Cmd::Op {
                    client: p.id(client),
                    msg_id,
                    cmd: cmd.permute(p),
                },
            },
        }
    }
}

impl Permute for Log {
    fn permute(&self, p: &ClientPerm) -> Self {
        Log {
            start: self.start,
            start_term: self.start_term,
            snapshot: self.snapshot.as_ref().map(|s| s.permute(p)),
            entries: self.entries.iter().map(|e| e.permute(p)).collect(),
        }
    }
}

impl Permute for RaftStorage {
    fn permute(&self, p: &ClientPerm) -> Self {
        Arc::new(Persistent {
            log: self.log.permute(p),
            ..(**self).clone()
        })
    }
}

impl Permute for RaftState {
    fn permute(&self, p: &ClientPerm) -> Self {
        let role = match &self.role {
            Role::Leader(l) => {
                let mut l = l.clone();
                for r in &mut l.reads {
                    r.client = p.id(r.client);
                }
                Role::Leader(l)
            }
            other => other.clone(),
        };
        RaftState {
            p: self.p.permute(p),
            role,
            sm: self.sm.permute(p),
            ..self.clone()
        }
    }
}

impl Permute for RaftMsg {
    fn permute(&self, p: &ClientPerm) -> Self {
        match self {
            RaftMsg::AppendEntries {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                round,
            } => RaftMsg::AppendEntries {
                term: *term,
                prev_index: *prev_index,
                prev_term: *prev_term,
                entries: entries.iter().map(|e| e.permute(p)).collect(),
                commit: *commit,
                round: *round,
            },
            RaftMsg::InstallSnapshot {
                term,
                index,
                last_term,
                store,
                round,
            } => RaftMsg::InstallSnapshot {
                term: *term,
                index: *index,
                last_term: *last_term,
                store: store.permute(p),
                round: *round,
            },
            other => other.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Symmetry over servers: Raft's servers are interchangeable
// ---------------------------------------------------------------------------------------------

impl PermuteServers for RaftStorage {
    fn permute_servers(&self, p: &ServerPerm) -> Self {
        match self.voted_for {
            None => Arc::clone(self),
            Some(v) => Arc::new(Persistent {
                voted_for: Some(p.id(v)),
                ..(**self).clone()
            }),
        }
    }
}

impl PermuteServers for RaftState {
    fn permute_servers(&self, p: &ServerPerm) -> Self {
        let role = match &self.role {
            Role::Follower => Role::Follower,
            Role::PreCandidate { votes, denied } => Role::PreCandidate {
                votes: p.bits(*votes),
                denied: p.bits(*denied),
            },
            Role::Candidate { votes } => Role::Candidate {
                votes: p.bits(*votes),
            },
            Role::Leader(l) => {
                let mut peers = l.peers.clone();
                for (i, peer) in l.peers.iter().enumerate() {
                    peers[p.index(i)] = *peer;
                }
                Role::Leader(Box::new(LeaderState {
                    peers,
                    contact: p.bits(l.contact),
                    ..(**l).clone()
                }))
            }
        };
        RaftState {
            p: self.p.permute_servers(p),
            role,
            leader: self.leader.map(|l| p.id(l)),
            ..self.clone()
        }
    }
}

/// Raft's messages name no server (the envelope does).
impl PermuteServers for RaftMsg {
    fn permute_servers(&self, _: &ServerPerm) -> Self {
        self.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// The checked model
// ---------------------------------------------------------------------------------------------

/// The configuration of a Raft model check.
#[derive(Clone, Debug, PartialEq)]
pub struct RaftConfig {
    pub servers: usize,
    pub clients: usize,
    /// Each client's script.
    pub script: Vec<Step>,
    /// Crash-restarts in a run (a crashed server restarts at once from what it saved).
    pub crashes: usize,
    pub max_term: Term,
    pub prevote: bool,
    pub check_quorum: bool,
    pub batch: usize,
    pub inflight: u8,
    pub snapshot: u64,
    pub parallel_append: bool,
    pub timeout_with_leader: bool,
    pub network: NetworkKind,
    pub bug: Option<RaftBug>,
    pub symmetry: bool,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            servers: 3,
            clients: 1,
            script: vec![Step::WriteOwn, Step::Read],
            crashes: 0,
            max_term: 2,
            prevote: false,
            check_quorum: false,
            batch: 1,
            inflight: 1,
            snapshot: 0,
            parallel_append: false,
            timeout_with_leader: true,
            network: NetworkKind::default(),
            bug: None,
            symmetry: false,
        }
    }
}

impl KvConfig for RaftConfig {
    fn server_count(&self) -> usize {
        self.servers
    }
    fn client_count(&self) -> usize {
        self.clients
    }
}

/// RaftScope's picture: per server its role, term, vote and commit index, and its log with each
/// entry coloured by its term (entries up to the commit index marked committed).
fn view(state: &RaftSystem) -> Vec<ViewTable> {
    let servers = view_servers(state);
    let last = servers
        .iter()
        .filter_map(|(_, s)| s.map(|s| s.log().last_index()))
        .max()
        .unwrap_or(0);
    let columns = view_columns(&["server", "role", "term", "voted for", "commit"], last);
    let rows = servers
        .iter()
        .map(|(i, s)| {
            let Some(s) = s else {
                return crashed_row(format!("server {i}"));
            };
            let name = ViewCell::text(format!("server {i}"));
            let role = match &s.role {
                Role::Leader(_) => ViewCell::text("leader").mark("leader"),
                Role::Candidate { .. } => ViewCell::text("candidate").mark("candidate"),
                Role::PreCandidate { .. } => ViewCell::text("pre-candidate").mark("candidate"),
                Role::Follower => ViewCell::text("follower"),
            };
            let log = s.log();
            let mut row = vec![
                name,
                role,
                ViewCell::text(s.term().to_string()).colour(s.term()),
                ViewCell::text(
                    s.p.voted_for
                        .map_or("-".to_string(), |v| format!("server {}", usize::from(v))),
                ),
                ViewCell::text(s.commit.to_string()),
            ];
            for index in 1..=last {
                let cell = if index <= log.start {
                    ViewCell::text("snap").colour(log.start_term).title(format!(
                        "in the snapshot (up to {}, term {})",
                        log.start, log.start_term
                    ))
                } else if let Some(e) = log.entries.get((index - log.start - 1) as usize) {
                    ViewCell::text(e.term.to_string())
                        .colour(e.term)
                        .title(format!("{e:?}"))
                } else {
                    ViewCell::text("")
                };
                row.push(if index <= s.commit && !cell.text.is_empty() {
                    cell.mark("committed")
                } else {
                    cell
                });
            }
            row
        })
        .collect();
    vec![ViewTable {
        title: "Servers and logs (entries coloured by term)".into(),
        columns,
        rows,
    }]
}

/// The checked model of a Raft configuration.
pub type RaftModel = Checked<KvModel<RaftServer, RaftConfig>>;
pub type RaftSystem = KvSystemState<RaftServer>;
type Inner = KvModel<RaftServer, RaftConfig>;

/// The servers' states, with their indices, for those that are up.
fn up_servers(state: &RaftSystem) -> impl Iterator<Item = (usize, &RaftState)> {
    state
        .actors
        .iter()
        .enumerate()
        .filter(move |(i, _)| !state.is_crashed(*i))
        .filter_map(|(i, slot)| slot.state.server().map(|s| (i, s)))
}

fn election_safety(_: &Inner, state: &RaftSystem) -> bool {
    let mut terms: Vec<Term> = up_servers(state)
        .filter(|(_, s)| s.is_leader())
        .map(|(_, s)| s.term())
        .collect();
    terms.sort_unstable();
    terms.windows(2).all(|w| w[0] != w[1])
}

fn leader_append_only(_: &Inner, state: &RaftSystem) -> bool {
    up_servers(state).all(|(_, s)| match &s.role {
        // The last entry the leader appended is still there, of its term (or compacted into its
        // own snapshot, which only ever covers committed entries): a leader never overwrites or
        // deletes its entries.
        Role::Leader(l) => {
            let log = s.log();
            log.last_index() >= l.appended
                && (l.appended <= log.start || log.term_at(l.appended) == Some(s.term()))
        }
        _ => true,
    })
}

fn log_matching(_: &Inner, state: &RaftSystem) -> bool {
    let servers: Vec<&RaftState> = up_servers(state).map(|(_, s)| s).collect();
    for (a, x) in servers.iter().enumerate() {
        for y in &servers[a + 1..] {
            let (lx, ly) = (x.log(), y.log());
            let from = lx.start.max(ly.start) + 1;
            let to = lx.last_index().min(ly.last_index());
            // The highest index where both hold an entry of the same term...
            let Some(top) = (from..=to).rev().find(|&i| lx.term_at(i) == ly.term_at(i)) else {
                continue;
            };
            // ...and everything below it that both still hold must be equal.
            if (from..=top).any(|i| lx.get(i) != ly.get(i)) {
                return false;
            }
        }
    }
    true
}

fn leader_completeness(_: &Inner, state: &RaftSystem) -> bool {
    let servers: Vec<&RaftState> = up_servers(state).map(|(_, s)| s).collect();
    servers.iter().filter(|l| l.is_leader()).all(|leader| {
        servers
            .iter()
            .filter(|s| s.term() < leader.term())
            .all(|s| {
                let (log, theirs) = (s.log(), leader.log());
                let committed = s.commit.min(log.last_index());
                // Entries the leader compacted are committed in its own view; compare the rest:
                // the entries both still hold, and the last entry of the server's snapshot by
                // its term (by log matching that covers the snapshot's prefix).
                (log.start.max(theirs.start) + 1..=committed).all(|i| log.get(i) == theirs.get(i))
                    && (log.start == 0
                        || log.start < theirs.start
                        || theirs.term_at(log.start) == Some(log.start_term))
                    && (committed <= theirs.start || committed <= theirs.last_index())
            })
    })
}

fn state_machine_safety(_: &Inner, state: &RaftSystem) -> bool {
    let servers: Vec<&RaftState> = up_servers(state).map(|(_, s)| s).collect();
    for (a, x) in servers.iter().enumerate() {
        for y in &servers[a + 1..] {
            if x.applied == y.applied && x.sm != y.sm {
                return false;
            }
            let from = x.log().start.max(y.log().start) + 1;
            let to = x.applied.min(y.applied);
            if (from..=to).any(|i| x.log().get(i) != y.log().get(i)) {
                return false;
            }
        }
    }
    true
}

fn linearizable(_: &Inner, state: &RaftSystem) -> bool {
    state.history.linearizable_cas()
}

/// The messages in flight that can no longer change anything (see [`System::obsolete`]):
/// removing them keeps the checker from telling apart states that differ only in dead
/// messages. Each rule holds from then on, because terms never decrease (also across a
/// restart: the term is saved in the step that changes it) and the checker bounds them by
/// `max_term`.
///
/// - A vote reply for a term the candidate has left, or for its current term when it is no
///   longer a candidate, is a denial, or its vote is already counted (with `count-stale-votes`
///   a granted reply of an earlier term still counts).
/// - An `AppendEntriesReply` of an earlier term, or of the current term to a server that is not
///   its leader (only the leader of a term sends in it, and a server leads a term at most once),
///   or a rejection of an earlier term's request (index 0, which a leader ignores).
/// - A `RequestVote` of a term its receiver has left (ignored), or of the receiver's term when
///   it voted for another candidate (no denial is sent at the candidate's own term), or for
///   this one but the candidate is no longer a candidate in that term (the repeated grant
///   would count for nothing). Not with `volatile-vote`, where a restart forgets the vote.
/// - An `AppendEntries` or `InstallSnapshot` of a term its receiver has left, whose sender is
///   at the last term: the receiver would only answer with its own term, which cannot exceed
///   the sender's.
/// - A client reply to a request the client no longer waits for (request ids only grow).
/// - A leader's `Persist` or `Persisted` to itself once it no longer leads in their term (it
///   never leads in that term again), and a `Persisted` that adds nothing to what it knows
///   durable (`durable` only grows while it leads).
fn obsolete(m: &Inner, state: &RaftSystem, env: &Envelope<KvMsg<RaftMsg>>) -> bool {
    let server_at = |id: Id| {
        state
            .actors
            .get(usize::from(id))
            .and_then(|slot| slot.state.server())
            .map(|s| (s.term(), s))
    };
    let bug = m.cfg.bug;
    match &env.msg {
        KvMsg::Internal(msg) => {
            let Some((dst_term, dst)) = server_at(env.dst) else {
                return false;
            };
            match *msg {
                RaftMsg::RequestVoteReply { term, granted } => {
                    if term > dst_term {
                        return false;
                    }
                    if term < dst_term {
                        return !(granted && bug == Some(RaftBug::CountStaleVotes));
                    }
                    let from = usize::from(env.src);
                    if from >= m.cfg.servers {
                        return true; // ignored: internal messages come from servers only
                    }
                    !matches!(dst.role, Role::Candidate { votes } if granted && votes & (1 << from) == 0)
                }
                RaftMsg::AppendEntriesReply {
                    term,
                    success,
                    index,
                    ..
                } => {
                    term < dst_term
                        || (term == dst_term && (!dst.is_leader() || (!success && index == 0)))
                }
                RaftMsg::RequestVote {
                    term, pre: false, ..
                } => {
                    if dst_term > term {
                        return true; // ignored
                    }
                    if dst_term < term || bug == Some(RaftBug::VolatileVote) {
                        return false;
                    }
                    // The receiver is at the candidate's term: it grants only to the candidate
                    // it voted for (a repeated reply), and says nothing otherwise.
                    match dst.p.voted_for {
                        None => false,
                        Some(v) if v != env.src => true,
                        Some(_) => {
                            let candidate = server_at(env.src).is_some_and(|(t, s)| {
                                t == term && matches!(s.role, Role::Candidate { .. })
                            });
                            !candidate && bug != Some(RaftBug::CountStaleVotes)
                        }
                    }
                }
                RaftMsg::AppendEntries { term, .. } | RaftMsg::InstallSnapshot { term, .. } => {
                    let Some((src_term, _)) = server_at(env.src) else {
                        return false;
                    };
                    src_term >= m.cfg.max_term && dst_term > term
                }
                // A pre-vote answer counts only while its receiver is at the term before the
                // one asked for; a refusal makes it step down only from a lower term.
                RaftMsg::PreVoteReply {
                    term,
                    asked,
                    granted,
                } => asked <= dst_term && (granted || term <= dst_term),
                // A pre-vote request changes nobody; its answer is obsolete once the sender
                // reached the term it asked for and the last term (no voter is ahead of it).
                RaftMsg::RequestVote {
                    term, pre: true, ..
                } => server_at(env.src).is_some_and(|(t, _)| t >= term && t >= m.cfg.max_term),
                // A leader's notes to itself count only while it leads in their term, which it
                // never does again once it stopped; `Persisted` also only while it adds to what
                // the leader knows durable.
                RaftMsg::Persist { .. } | RaftMsg::Persisted { .. } if env.src != env.dst => true,
                RaftMsg::Persist { term } => !(dst_term == term && dst.is_leader()),
                RaftMsg::Persisted { term, index } => match &dst.role {
                    Role::Leader(l) if dst_term == term => index <= l.durable,
                    _ => true,
                },
            }
        }
        _ => stale_client_reply(state, env).unwrap_or(false),
    }
}

fn leader_elected(_: &Inner, state: &RaftSystem) -> bool {
    up_servers(state).any(|(_, s)| s.is_leader())
}

fn committed_after_leader_change(_: &Inner, state: &RaftSystem) -> bool {
    // A leader's no-op is the first entry of its term; entries before it are of earlier terms.
    // So a leader whose commit index covers its no-op at index 2 or later has committed an
    // entry on top of an earlier leader's log (this needs no log contents: compaction may have
    // dropped them).
    up_servers(state).any(|(_, s)| match &s.role {
        Role::Leader(l) => l.noop >= 2 && s.commit >= l.noop,
        _ => false,
    })
}

fn snapshot_installed(_: &Inner, state: &RaftSystem) -> bool {
    up_servers(state).any(|(_, s)| s.installed)
}

/// Builds the checked model: servers `0..servers`, then clients running the script on key 0.
pub fn model(cfg: RaftConfig) -> RaftModel {
    let servers: Vec<Id> = (0..cfg.servers).map(Id::from).collect();
    let server = |index: usize| RaftServer {
        bug: cfg.bug,
        prevote: cfg.prevote,
        check_quorum: cfg.check_quorum,
        batch: cfg.batch,
        inflight: cfg.inflight,
        snapshot: cfg.snapshot,
        parallel_append: cfg.parallel_append,
        max_term: cfg.max_term,
        keepalive: false,
        max_sessions: MAX_CLIENTS,
        timeout_with_leader: cfg.timeout_with_leader,
        ..RaftServer::new(index, servers.clone())
    };
    let system = System::new(cfg.clone(), History::new(cfg.clients))
        .actors((0..cfg.servers).map(|i| KvActor::Server(server(i))))
        .actors((0..cfg.clients).map(|index| {
            KvActor::Client(KvClient {
                start: None,
                index,
                servers: servers.clone(),
                script: cfg.script.clone(),
                // Every request starts at the client's first server and follows leader hints
                // (a fixed target keeps the model symmetric in the servers).
                rotate: false,
            })
        }))
        .network(cfg.network)
        .max_crashes(cfg.crashes)
        .reboot(true)
        .property(Expectation::Always, "election safety", election_safety)
        .property(
            Expectation::Always,
            "leader append-only",
            leader_append_only,
        )
        .property(Expectation::Always, "log matching", log_matching)
        .property(
            Expectation::Always,
            "leader completeness",
            leader_completeness,
        )
        .property(
            Expectation::Always,
            "state machine safety",
            state_machine_safety,
        )
        .property(Expectation::Always, "linearizable", linearizable)
        .property(Expectation::Sometimes, "leader elected", leader_elected)
        .property(
            Expectation::Sometimes,
            "entry committed after a leader change",
            committed_after_leader_change,
        )
        .property(
            Expectation::Sometimes,
            "snapshot installed",
            snapshot_installed,
        )
        .record_msg_out(record_invocations)
        .record_msg_in(record_returns)
        .obsolete(obsolete)
        .view(view);
    let mut checked = Checked::new(system);
    checked.allow = servers_only_crash;
    if cfg.symmetry {
        checked.canonical = Some(canonical_servers_and_clients);
    }
    checked
}

/// The catalog entry: `synod check raft`, `synod run raft`, ...
pub struct Raft;

impl Protocol for Raft {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "raft",
        summary: "Raft (Ongaro and Ousterhout, 2014): leader election, log replication, ReadIndex reads, snapshots, client sessions",
        params: &[
            Param::model("servers", "servers in the cluster", 3, 1, 5),
            Param::model("clients", "clients; client i writes i+1 to key 0, then reads it", 1, 1, 3),
            Param::model(
                "ops",
                "each client's script: 0 nothing (elections only); 1 write; 2 write, read; 3 write, cas, read",
                2,
                0,
                3,
            ),
            Param::model(
                "terms",
                "the highest term: a server at it starts no election (bounds the search)",
                2,
                1,
                6,
            ),
            Param::model(
                "timeouts",
                "1: a follower may time out even while it hears from its leader (a slow or cut-off leader); 0: only one without a known leader",
                1,
                0,
                1,
            ),
            Param::model(
                "crashes",
                "crash-restarts in a run (a crashed server restarts at once from its saved term, vote and log)",
                0,
                0,
                3,
            ),
            Param {
                name: "prevote",
                help: "1: pre-vote before an election (thesis 9.6)",
                default: 0,
                min: 0,
                max: 1,
                run: Some(1),
                names: &[],
            },
            Param {
                name: "check-quorum",
                help: "1: a leader that has not heard from a majority for an election timeout steps down (thesis 6.2)",
                default: 0,
                min: 0,
                max: 1,
                run: Some(1),
                names: &[],
            },
            Param {
                name: "batch",
                help: "entries per AppendEntries",
                default: 1,
                min: 1,
                max: 4096,
                run: Some(256),
                names: &[],
            },
            Param {
                name: "inflight",
                help: "AppendEntries in flight per follower",
                default: 1,
                min: 1,
                max: 64,
                run: Some(2),
                names: &[],
            },
            Param {
                name: "snapshot",
                help: "snapshot the state machine and drop the log prefix after this many applied entries (0: never)",
                default: 2,
                min: 0,
                max: 1_000_000,
                run: Some(100_000),
                names: &[],
            },
            Param {
                name: "parallel-append",
                help: "1: the leader sends new entries before its own disk write and counts itself once they are durable (thesis 10.2.1)",
                default: 0,
                min: 0,
                max: 1,
                run: Some(1),
                names: &[],
            },
        ],
        properties: &[
            always("election safety"),
            always("leader append-only"),
            always("log matching"),
            always("leader completeness"),
            always("state machine safety"),
            always("linearizable"),
            sometimes("leader elected"),
            sometimes("entry committed after a leader change"),
            sometimes("snapshot installed"),
        ],
        bugs: &[
            BugInfo {
                name: "commit-previous-term",
                summary: "the leader commits an entry of an earlier term by counting its replicas",
                source: "Ongaro and Ousterhout, In Search of an Understandable Consensus Algorithm (2014), section 5.4.2 and Figure 8",
                violates: "leader completeness",
                needs: &[Need::Param("terms", 4)],
            },
            BugInfo {
                name: "vote-without-log-check",
                summary: "votes are granted without the up-to-date-log restriction",
                source: "Ongaro and Ousterhout (2014), section 5.4.1: election restriction",
                violates: "leader completeness",
                needs: &[Need::Param("terms", 3)],
            },
            BugInfo {
                name: "volatile-vote",
                summary: "votedFor is not persisted: a restarted server votes twice in one term",
                source: "Ongaro and Ousterhout (2014), Figure 2: persistent state on all servers",
                violates: "election safety",
                needs: &[Need::Param("crashes", 1)],
            },
            BugInfo {
                name: "truncate-on-stale-append",
                summary: "a follower truncates entries it already holds on a delayed, reordered AppendEntries",
                source: "Ongaro and Ousterhout (2014), Figure 2, AppendEntries receiver rule 3: truncate only on a conflict",
                violates: "leader completeness",
                needs: &[Need::Param("inflight", 2)],
            },
            BugInfo {
                name: "stale-leader-read",
                summary: "a leader answers reads from its own state without confirming leadership",
                source: "Ongaro, Consensus: Bridging Theory and Practice (2014), section 6.4",
                violates: "linearizable",
                needs: &[],
            },
            BugInfo {
                name: "count-stale-votes",
                summary: "a candidate counts votes granted in an earlier term",
                source: "Ongaro and Ousterhout (2014), Figure 2, RequestVote RPC and Rules for Servers: a reply with another term is not a vote",
                violates: "election safety",
                needs: &[Need::Param("terms", 3)],
            },
            BugInfo {
                name: "count-unsaved-self",
                summary: "with parallel append, the leader counts its own entries toward a commit before they are on its disk",
                source: "Ongaro, Consensus: Bridging Theory and Practice (2014), section 10.2.1 (a commit needs a majority of durable copies); deventlab/d-engine issue #329 (leader commits on its in-memory index)",
                violates: "leader completeness",
                needs: &[Need::Param("parallel-append", 1), Need::Param("crashes", 1)],
            },
        ],
        symmetry: Some("servers and clients"),
        networks: ALL_NETWORKS,
        validate: crate::protocol::crashes_at_most_servers,
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 148_167,
                source: "tests/check_raft.rs",
            },
            Pinned {
                params: &[],
                symmetry: true,
                unique_states: 74_236,
                source: "tests/check_raft.rs",
            },
            Pinned {
                params: &[("crashes", 1)],
                symmetry: false,
                unique_states: 782_613,
                source: "tests/check_raft.rs",
            },
            Pinned {
                params: &[("terms", 1)],
                symmetry: false,
                unique_states: 5_300,
                source: "tests/check_raft.rs",
            },
            Pinned {
                params: &[("parallel-append", 1)],
                symmetry: false,
                unique_states: 718_056,
                source: "tests/check_raft.rs",
            },
            Pinned {
                params: &[("parallel-append", 1), ("crashes", 1), ("ops", 1)],
                symmetry: false,
                unique_states: 1_075_621,
                source: "tests/check_raft.rs",
            },
            Pinned {
                params: &[("servers", 2), ("ops", 1)],
                symmetry: false,
                unique_states: 315,
                source: "tests/check_raft.rs",
            },
        ],
    };
    type Model = KvModel<RaftServer, RaftConfig>;

    fn model(s: &Settings) -> RaftModel {
        let script = match s.get("ops") {
            0 => vec![],
            1 => vec![Step::WriteOwn],
            2 => vec![Step::WriteOwn, Step::Read],
            _ => vec![Step::WriteOwn, Step::CasOwn, Step::Read],
        };
        model(RaftConfig {
            servers: s.count("servers"),
            clients: s.count("clients"),
            script,
            crashes: s.count("crashes"),
            max_term: s.get("terms"),
            prevote: s.flag("prevote"),
            check_quorum: s.flag("check-quorum"),
            batch: s.count("batch"),
            inflight: s.get("inflight") as u8,
            snapshot: s.get("snapshot"),
            parallel_append: s.flag("parallel-append"),
            timeout_with_leader: s.flag("timeouts"),
            network: s.network,
            bug: s.bug_of(&RaftBug::ALL),
            symmetry: s.symmetry,
        })
    }
}

impl Serve for Raft {
    type Internal = RaftMsg;
    type Server = RaftServer;
    type Storage = RaftStorage;
    const KEYS: KeySemantics = KeySemantics::Register;

    /// On the network terms are unbounded and heartbeats keep followers quiet and resend what
    /// may be lost.
    fn server(s: &Settings, index: usize, servers: Vec<Id>) -> RaftServer {
        RaftServer {
            bug: s.bug_of(&RaftBug::ALL),
            prevote: s.flag("prevote"),
            check_quorum: s.flag("check-quorum"),
            batch: s.count("batch"),
            inflight: s.get("inflight") as u8,
            snapshot: s.get("snapshot"),
            parallel_append: s.flag("parallel-append"),
            ..RaftServer::new(index, servers)
        }
    }

    const LEADER: bool = true;

    fn leading(state: &RaftState) -> Option<u64> {
        state.is_leader().then(|| state.term())
    }

    /// With `--parallel-append`: `AppendEntries` (new entries go out before the leader's own
    /// write; its commit index counts only durable copies), the leader's `Persist` note (it
    /// asks for a save, it claims none), and replies to clients (a leader answers only from
    /// what a majority holds durably, or says it cannot). Everything else, votes and
    /// acknowledgements above all, waits for the disk.
    fn early(server: &RaftServer) -> Option<fn(&RaftServer, &KvMsg<RaftMsg>) -> bool> {
        server.parallel_append.then_some(|_, msg| match msg {
            KvMsg::Internal(m) => {
                matches!(m, RaftMsg::AppendEntries { .. } | RaftMsg::Persist { .. })
            }
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

    fn op(term: Term, msg_id: MsgId, value: u64) -> Entry {
        Entry {
            term,
            cmd: Cmd::Op {
                client: Id::from(9),
                msg_id,
                cmd: Command::Write { key: 0, value },
            },
        }
    }

    fn storage(term: Term, entries: &[Entry]) -> RaftStorage {
        Arc::new(Persistent {
            term,
            voted_for: None,
            log: Log {
                entries: entries.iter().copied().collect(),
                ..Log::default()
            },
        })
    }

    fn replay(base: &RaftStorage, records: Vec<RaftRecord>) -> RaftStorage {
        let mut s = Arc::clone(base);
        for r in records {
            s.apply(r);
        }
        s
    }

    #[test]
    fn appending_k_entries_writes_k_records() {
        let long: Vec<Entry> = (1..=1000).map(|i| op(1, i, i)).collect();
        let before = storage(1, &long);
        let mut after = (*before).clone();
        after.log.entries.push_back(op(1, 1001, 7));
        after.log.entries.push_back(op(1, 1002, 8));
        let after = Arc::new(after);
        let delta = after.delta(&before).expect("expressible as records");
        assert_eq!(delta.len(), 2, "{delta:?}");
        assert_eq!(replay(&before, delta), after);
    }

    #[test]
    fn a_conflict_truncates_then_appends_and_a_vote_is_one_record() {
        let before = storage(1, &[op(1, 1, 1), op(1, 2, 2), op(1, 3, 3)]);
        let after = Arc::new(Persistent {
            term: 2,
            voted_for: Some(Id::from(1)),
            log: Log {
                entries: [op(1, 1, 1), op(2, 4, 4)].into_iter().collect(),
                ..Log::default()
            },
        });
        let delta = after.delta(&before).unwrap();
        assert_eq!(
            delta,
            vec![
                RaftRecord::Vote {
                    term: 2,
                    voted_for: Some(Id::from(1))
                },
                RaftRecord::TruncateAfter(1),
                RaftRecord::Append(op(2, 4, 4)),
            ]
        );
        assert_eq!(replay(&before, delta), after);
        assert_eq!(after.delta(&after), Some(vec![]));
    }

    #[test]
    fn a_compaction_needs_a_whole_snapshot() {
        let before = storage(1, &[op(1, 1, 1), op(1, 2, 2)]);
        let mut after = (*before).clone();
        after.log.entries = after.log.entries.skip(1);
        after.log.start = 1;
        after.log.start_term = 1;
        after.log.snapshot = Some(Arc::new(KvStore::default()));
        assert_eq!(Arc::new(after).delta(&before), None);
    }

    #[test]
    fn log_indexing_across_a_snapshot() {
        let log = Log {
            start: 5,
            start_term: 2,
            snapshot: Some(Arc::new(KvStore::default())),
            entries: [op(2, 1, 1), op(3, 2, 2), op(3, 3, 3)]
                .into_iter()
                .collect(),
        };
        assert_eq!(log.last_index(), 8);
        assert_eq!(log.term_at(5), Some(2));
        assert_eq!(log.term_at(4), None);
        assert_eq!(log.term_at(7), Some(3));
        assert_eq!(log.get(5), None);
        assert_eq!(log.first_index_of(3, 8), 7);
        assert_eq!(log.last_index_of(2), Some(6));
        assert_eq!(log.last_index_of(1), None);
    }

    #[test]
    fn storage_round_trips_through_postcard() {
        let s = storage(
            3,
            &[
                op(1, 1, 1),
                Entry {
                    term: 2,
                    cmd: Cmd::Noop,
                },
            ],
        );
        let bytes = postcard::to_allocvec(&s).unwrap();
        let back: RaftStorage = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, s);
    }
}
