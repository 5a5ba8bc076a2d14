//! Single-decree Paxos, one instance per key: a write-once key-value store.
//!
//! # The algorithm
//!
//! Lamport's Paxos ("The Part-Time Parliament", "Paxos Made Simple") lets a set of servers choose
//! one value although servers crash and restart and messages are lost, reordered and duplicated.
//! Every server plays the three roles of the paper:
//!
//! - as a **proposer** it tries to get a value chosen under a *ballot* `(round, server)`, unique
//!   per proposer and totally ordered;
//! - as an **acceptor** it keeps two durable variables, `promised` (the highest ballot it has
//!   promised not to undercut) and `accepted` (the last proposal it accepted, with its ballot);
//! - as a **learner** it remembers the value it knows to be chosen (`decided`).
//!
//! A value is *chosen* once a quorum (a strict majority) of acceptors has accepted it in one
//! ballot. The proposer runs two phases:
//!
//! 1. **Prepare / Promise.** The proposer picks a ballot `b` above every ballot it has promised
//!    and sends `Prepare(b)`. An acceptor whose `promised < b` sets `promised := b` (on disk) and
//!    answers `Promise(b, accepted)`. Once a quorum has promised, no smaller ballot can ever gather
//!    a quorum of accepts, and any value chosen in a smaller ballot is reported by at least one
//!    member of the quorum (quorums intersect).
//! 2. **Accept / Accepted.** The proposer proposes the value of the highest-ballot proposal
//!    reported in the promises, or its own client's value if none was reported, with
//!    `Accept(b, v)`. An acceptor whose `promised <= b` accepts (on disk) and answers
//!    `Accepted(b)`. A quorum of `Accepted(b)` means `v` is chosen; the proposer learns it and
//!    tells the others with `Decided(v)`.
//!
//! # The store
//!
//! Clients speak `lin-kv` (see [`crate::kv`]). A `write` of an undecided key makes the server
//! propose the client's value; when the instance decides, the server answers `write_ok` if the
//! decided value is the client's and error 22 (carrying the decided value) otherwise. A `read` of
//! a key the server has not learned runs phase 1 only: if a quorum promises and none of them has
//! accepted anything, no value can have been chosen before the earliest of those promises, so the
//! read is linearizable as "does not exist" (error 20); if some acceptor reports a value, the
//! server completes the instance with it (phase 2) and returns the decided value. Clients waiting
//! on an instance are answered when it decides. `cas` is not supported (error 10).
//!
//! # Invariants (properties checked)
//!
//! - `agreement`: no two servers ever decide (or announce) different values for a key;
//! - `validity`: a decided value was written by some client;
//! - `linearizable`: the clients' history is linearizable against a write-once register per key;
//! - `value chosen` (sometimes): some server decides, so the model is not vacuous.
//!
//! In the code: `accepted.ballot <= promised` at every acceptor, and a proposer's ballot is never
//! reused, because the proposer promises its own ballot first and that promise is durable.
//!
//! # Stuck rounds and bounded waiters
//!
//! A round whose messages were lost (or whose acceptors promised a higher ballot meanwhile) never
//! completes by itself. With `--retry-timer` on, a proposer arms a timer `Retry(key)` whenever it
//! starts a round; when it fires and the key's round has still not completed, the proposer starts
//! phase 1 again with a higher ballot (the same thing a retried request does). On the network the
//! timer backs off: 100-200 ms, doubling per restart up to 800-1600 ms; a *fresh* request for a
//! key whose round the timer already restarted brings the timer back to 100-200 ms (at most once
//! per firing, so a flood of requests cannot postpone it forever). In the checker a timer may fire
//! at any moment, so restarts are bounded there: a proposer restarts only while its promise for the
//! key is at round `--retry-timer N` or below, as TLC's MCPaxos bounds its ballots. One timer per
//! key with a round in progress, cancelled when the round ends: O(1) work per request and per
//! firing.
//!
//! Clients waiting on one key are bounded ([`MAX_WAITERS`]), and so are the rounds one server leads
//! at once ([`MAX_ROUNDS`]): a request over either bound is answered at once with error 11
//! (temporarily unavailable, definite: nothing was started for it). Finding a retried request
//! among a key's waiters scans at most [`MAX_WAITERS`] entries: O(1) per request.
//!
//! # Reads of absent keys: the promise floor
//!
//! A read of a key nobody wrote runs phase 1, which leaves a durable promise for that key at a
//! quorum of acceptors, and an instance in memory: one entry per key ever read, forever. With
//! `--fold-promises N`, each server keeps a **promise floor** `floor`: for every key, its
//! effective promise is `max(floor, promised)` (just `floor` for a key without an entry). Once N
//! keys hold an *idle promise* (an instance with nothing accepted, nothing decided, no round in
//! progress and no client waiting), the server **folds** them: `floor := max(floor, their
//! promises)`, and their instances and saved entries are removed. What remains per server is the
//! floor, at most N idle promises, and the keys that carry data (accepted or decided values).
//!
//! Why folding is safe: Paxos needs of an acceptor only that it never acts against a promise it
//! gave (no `Promise` or `Accepted` for a ballot below it) and never forgets an accepted proposal.
//! Folding removes only entries without an accepted proposal, and the floor it sets is at least
//! each removed promise, so every key's effective promise after the fold is at least what it was
//! before: every promise is kept (strengthened), no accepted proposal is touched. Promising *more*
//! than asked never breaks safety: an acceptor may always ignore a message (indistinguishable from
//! its loss), which is all a higher promise makes it do; quorum intersection, which carries the
//! proof, is about what acceptors *did* promise and accept, and that is only ever more
//! restrictive. On disk a fold is one record, the new floor with the keys it removed
//! ([`PaxosEntry::Fold`]), so no torn write keeps a removal without its floor. A proposer's
//! ballots stay unique because a new ballot is above the proposer's own effective promise, floor
//! included.
//!
//! The cost is liveness: a floor raised by other keys' promises makes the acceptor ignore a
//! lower-ballot round of an unrelated key. So an acceptor that refuses a ballot *because of its
//! floor* answers `Nack(key, ballot, promised)`, and the proposer restarts above `promised` at once
//! (an automatic restart, bounded like the timer's). Floors rise by about one round per fold (a
//! proposer's new ballot for a fresh key is its floor plus one), so ballots stay small.

use crate::checked::{
    canonical_clients, servers_only_crash, view_servers, Checked, KvModel, KvSystemState,
};
use crate::kv::{
    record_invocations, record_returns, ClientPerm, ErrorCode, History, Key, KeyMap, KvActor,
    KvClient, KvConfig, KvMsg, KvState, MsgId, Permute, Step, Value,
};
use crate::protocol::{
    always, eventually, sometimes, BugInfo, Descriptor, KeySemantics, Need, Param, Pinned,
    Protocol, Refine, Serve, Settings, ALL_NETWORKS,
};
use crate::system::System;
use crate::trace::{crashed_row, view_columns, ViewCell, ViewTable};
use crate::NetworkKind;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A ballot: ordered by round, then by the proposing server's index, so unique per proposer.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ballot {
    pub round: u32,
    pub server: u8,
}

impl fmt::Debug for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}.{}", self.round, self.server)
    }
}

/// An accepted proposal: the ballot it was accepted in, and its value.
pub type Proposal = (Ballot, Value);

/// Node-to-node messages, named as in "Paxos Made Simple".
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PaxosMsg {
    Prepare {
        key: Key,
        ballot: Ballot,
    },
    Promise {
        key: Key,
        ballot: Ballot,
        accepted: Option<Proposal>,
    },
    Accept {
        key: Key,
        ballot: Ballot,
        value: Value,
    },
    Accepted {
        key: Key,
        ballot: Ballot,
    },
    Decided {
        key: Key,
        value: Value,
    },
    /// An acceptor refused `ballot` because its promise floor is above it: it has promised
    /// `promised` for `key`. Sent only for refusals the floor causes (see the module docs).
    Nack {
        key: Key,
        ballot: Ballot,
        promised: Ballot,
    },
}

impl fmt::Debug for PaxosMsg {
    /// Paper style: `Prepare(k0, b1.0)`, `Promise(k0, b1.0, accepted 1@b1.0)`, `Accept(k0, b1.0, 1)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return self.fields(f);
        }
        match self {
            PaxosMsg::Prepare { key, ballot } => write!(f, "Prepare(k{key}, {ballot:?})"),
            PaxosMsg::Promise {
                key,
                ballot,
                accepted,
            } => match accepted {
                Some((b, v)) => write!(f, "Promise(k{key}, {ballot:?}, accepted {v}@{b:?})"),
                None => write!(f, "Promise(k{key}, {ballot:?}, nothing accepted)"),
            },
            PaxosMsg::Accept { key, ballot, value } => {
                write!(f, "Accept(k{key}, {ballot:?}, {value})")
            }
            PaxosMsg::Accepted { key, ballot } => write!(f, "Accepted(k{key}, {ballot:?})"),
            PaxosMsg::Decided { key, value } => write!(f, "Decided(k{key}, {value})"),
            PaxosMsg::Nack {
                key,
                ballot,
                promised,
            } => write!(f, "Nack(k{key}, {ballot:?}, promised {promised:?})"),
        }
    }
}

impl PaxosMsg {
    /// `{:#?}`: every field by name, for the UI's message trees (the plain form above is
    /// the paper-style one-liner of diagrams and step lists).
    fn fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaxosMsg::Prepare { key, ballot } => f
                .debug_struct("Prepare")
                .field("key", key)
                .field("ballot", ballot)
                .finish(),
            PaxosMsg::Promise {
                key,
                ballot,
                accepted,
            } => f
                .debug_struct("Promise")
                .field("key", key)
                .field("ballot", ballot)
                .field("accepted", accepted)
                .finish(),
            PaxosMsg::Accept { key, ballot, value } => f
                .debug_struct("Accept")
                .field("key", key)
                .field("ballot", ballot)
                .field("value", value)
                .finish(),
            PaxosMsg::Accepted { key, ballot } => f
                .debug_struct("Accepted")
                .field("key", key)
                .field("ballot", ballot)
                .finish(),
            PaxosMsg::Decided { key, value } => f
                .debug_struct("Decided")
                .field("key", key)
                .field("value", value)
                .finish(),
            PaxosMsg::Nack {
                key,
                ballot,
                promised,
            } => f
                .debug_struct("Nack")
                .field("key", key)
                .field("ballot", ballot)
                .field("promised", promised)
                .finish(),
        }
    }
}

impl PaxosMsg {
    /// The key of a phase 1 or phase 2 message (not of `Decided`).
    fn key_if_active(&self) -> Option<Key> {
        match *self {
            PaxosMsg::Prepare { key, .. }
            | PaxosMsg::Promise { key, .. }
            | PaxosMsg::Accept { key, .. }
            | PaxosMsg::Accepted { key, .. }
            | PaxosMsg::Nack { key, .. } => Some(key),
            PaxosMsg::Decided { .. } => None,
        }
    }
}

/// Deliberately broken variants, each from a classic mistake in the literature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaxosBug {
    /// The proposer ignores the proposals reported in `Promise` replies and proposes its own
    /// client's value: the mistake phase 1 exists to prevent ("Paxos Made Simple", section 2.2,
    /// the derivation of P2c).
    IgnorePromisedValue,
    /// The acceptor accepts a ballot lower than the one it promised, breaking the promise that
    /// makes phase 1 meaningful ("Paxos Made Simple", P1a).
    AcceptLowerBallot,
    /// The acceptor keeps its promise in volatile memory only, so a restart forgets it; the paper
    /// requires acceptors to remember promises across failures ("Paxos Made Simple", section 2.3;
    /// "Paxos Made Live", section 5.1 on disk corruption).
    VolatilePromise,
    /// Quorums of `n/2` (at least 1) instead of a strict majority: two quorums need not intersect
    /// (with 4 servers, two disjoint halves; with 3, single servers), so two values can be chosen.
    /// Quorum intersection is the heart of the proof.
    MinorityQuorum,
    /// A read of an undecided key proposes a placeholder value (0) instead of only running phase
    /// 1, so a value no client wrote gets chosen (validity, "Paxos Made Simple" section 2.1).
    ReadProposesPlaceholder,
}

impl PaxosBug {
    pub const ALL: [(&'static str, PaxosBug); 5] = [
        ("ignore-promised-value", PaxosBug::IgnorePromisedValue),
        ("accept-lower-ballot", PaxosBug::AcceptLowerBallot),
        ("volatile-promise", PaxosBug::VolatilePromise),
        ("minority-quorum", PaxosBug::MinorityQuorum),
        (
            "read-proposes-placeholder",
            PaxosBug::ReadProposesPlaceholder,
        ),
    ];
}

/// The durable state of an acceptor for one key.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Acceptor {
    pub promised: Ballot,
    pub accepted: Option<Proposal>,
}

/// What a server saves: its promise floor and its acceptor state per key (shared, so that the
/// checker's state clones do not copy it). A key without an entry has promised `floor` and
/// accepted nothing; a key with one has promised `max(floor, promised)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PaxosStorage {
    pub floor: Ballot,
    pub acceptors: Arc<KeyMap<Acceptor>>,
}

/// One change to [`PaxosStorage`] in the write-ahead file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaxosEntry {
    /// A key's acceptor.
    Assign(Key, Acceptor),
    /// A fold: the floor rises to `floor` and the `removed` keys' entries go, in one record, so
    /// that no prefix of the write-ahead file removes a promise without the floor that covers it.
    Fold { floor: Ballot, removed: Vec<Key> },
}

/// The write-ahead form of a server's storage: O(change) entries per save; a fold is one entry
/// (its floor and the keys it removed).
impl crate::durable::Durable for PaxosStorage {
    type Entry = PaxosEntry;

    fn delta(&self, prev: &Self) -> Option<Vec<PaxosEntry>> {
        let mut out = Vec::new();
        let mut removed = Vec::new();
        let (now, then) = (&self.acceptors, &prev.acceptors);
        if !Arc::ptr_eq(now, then) {
            match now.changed_since(then) {
                // The map's journal names what changed: O(change) rather than O(keys).
                Some(keys) => {
                    for k in keys {
                        match (now.get(&k), then.get(&k)) {
                            (Some(v), Some(old)) if v == old => {}
                            (Some(v), _) => out.push(PaxosEntry::Assign(k, *v)),
                            (None, Some(_)) => removed.push(k),
                            (None, None) => {}
                        }
                    }
                }
                // A small map, or a journal that restarted: walk both maps in key order.
                None => {
                    let mut old = then.iter().peekable();
                    for (&k, v) in now.iter() {
                        while let Some((&ok, _)) = old.next_if(|(ok, _)| **ok < k) {
                            removed.push(ok);
                        }
                        match old.next_if(|(ok, _)| **ok == k) {
                            Some((_, ov)) if ov == v => {}
                            _ => out.push(PaxosEntry::Assign(k, *v)),
                        }
                    }
                    removed.extend(old.map(|(&ok, _)| ok));
                }
            }
        }
        if self.floor != prev.floor || !removed.is_empty() {
            // Removed keys are absent from `self`, assigned ones present: the order of the
            // entries does not matter, but the fold goes first anyway.
            out.insert(
                0,
                PaxosEntry::Fold {
                    floor: self.floor,
                    removed,
                },
            );
        }
        Some(out)
    }

    fn apply(&mut self, entry: PaxosEntry) {
        match entry {
            PaxosEntry::Assign(k, a) => *Arc::make_mut(&mut self.acceptors).entry_or_default(k) = a,
            PaxosEntry::Fold { floor, removed } => {
                self.floor = floor;
                let acceptors = Arc::make_mut(&mut self.acceptors);
                for k in removed {
                    acceptors.remove(&k);
                }
            }
        }
    }
}

/// A proposer's phase in the round it leads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Phase 1: the servers that promised (a bit set by server index), and the highest-ballot
    /// proposal they reported.
    Preparing {
        promises: u64,
        highest: Option<Proposal>,
    },
    /// Phase 2: the value proposed and the servers that accepted it.
    Accepting { value: Value, accepts: u64 },
}

/// A round this server leads for one key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Round {
    pub ballot: Ballot,
    /// The value of the first client write waiting on this round, if any.
    pub own: Option<Value>,
    pub phase: Phase,
    /// How many times the retry timer restarted this key's round since a fresh request last
    /// arrived (at most [`RETRY_MAX_DOUBLINGS`]): the timer's backoff. Always 0 without the timer.
    pub retries: u8,
}

/// A client request waiting for its instance to decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Waiter {
    pub client: Id,
    pub msg_id: MsgId,
    /// `Some(v)` for a write of `v`, `None` for a read.
    pub write: Option<Value>,
}

/// One key's single-decree instance at one server.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Instance {
    pub acceptor: Acceptor,
    pub decided: Option<Value>,
    pub round: Option<Round>,
    /// Clients waiting for the outcome: at most [`MAX_WAITERS`].
    pub waiting: smallvec::SmallVec<[Waiter; 2]>,
}

impl Instance {
    /// Whether this instance holds nothing but a promise: nothing accepted, nothing decided, no
    /// round in progress, nobody waiting. Such an instance may be folded into the promise floor.
    pub fn idle_promise(&self) -> bool {
        self.acceptor.accepted.is_none()
            && self.decided.is_none()
            && self.round.is_none()
            && self.waiting.is_empty()
    }
}

impl fmt::Debug for Instance {
    /// `promised b2.1 accepted 1@b1.0 decided 1 round b2.1 ... waiting [write 1 #1 of 3]`, where
    /// `of 3` names the client's actor id. Alternate (`{:#?}`): a struct of its fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("Instance")
                .field("acceptor", &self.acceptor)
                .field("decided", &self.decided)
                .field("round", &self.round)
                .field("waiting", &self.waiting)
                .finish();
        }
        write!(f, "promised {:?}", self.acceptor.promised)?;
        if let Some((b, v)) = self.acceptor.accepted {
            write!(f, " accepted {v}@{b:?}")?;
        }
        if let Some(v) = self.decided {
            write!(f, " decided {v}")?;
        }
        if let Some(r) = &self.round {
            write!(f, " round {:?}", r.ballot)?;
            if r.retries > 0 {
                write!(f, " (retry {})", r.retries)?;
            }
            if let Some(v) = r.own {
                write!(f, " own {v}")?;
            }
            match r.phase {
                Phase::Preparing { promises, highest } => {
                    write!(f, " preparing, promises from {}", Bits(promises))?;
                    if let Some((b, v)) = highest {
                        write!(f, " highest {v}@{b:?}")?;
                    }
                }
                Phase::Accepting { value, accepts } => {
                    write!(f, " accepting {value}, accepted by {}", Bits(accepts))?;
                }
            }
        }
        if !self.waiting.is_empty() {
            write!(f, " waiting [")?;
            for (i, w) in self.waiting.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                match w.write {
                    Some(v) => write!(
                        f,
                        "{sep}write {v} #{} of {}",
                        w.msg_id,
                        usize::from(w.client)
                    )?,
                    None => write!(f, "{sep}read #{} of {}", w.msg_id, usize::from(w.client))?,
                }
            }
            write!(f, "]")?;
        }
        Ok(())
    }
}

/// A set of server indices, printed as `{0,2}`.
struct Bits(u64);

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let members: Vec<String> = (0..64)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| i.to_string())
            .collect();
        write!(f, "{{{}}}", members.join(","))
    }
}

/// A Paxos server's state: an instance per key it has heard of (except keys folded into the
/// promise floor).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PaxosState {
    pub keys: KeyMap<Instance>,
    /// What this server last saved: each key's acceptor as it went to disk. Kept here so that a
    /// save updates one key (a server on the network holds many) instead of rebuilding the map.
    pub saved: PaxosStorage,
    /// The promise floor: every key's effective promise is at least this (see the module docs).
    /// Stays at its default unless `fold_promises` is on.
    pub floor: Ballot,
    /// Keys whose instance became an idle promise since the last fold: candidates for the next
    /// one (a key may appear twice, or no longer qualify; the fold checks). At most
    /// `fold_promises` long; empty unless `fold_promises` is on.
    pub idle: Vec<Key>,
    /// How many instances have a round in progress (at most [`MAX_ROUNDS`]); a function of `keys`.
    pub rounds: u32,
}

impl fmt::Debug for PaxosState {
    /// `floor b1.0; k0: promised b1.0 ...; k1: ...`; alternate (`{:#?}`): a struct of its fields,
    /// `keys` a map from key to instance.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("PaxosState")
                .field("keys", &self.keys)
                .field("saved", &self.saved)
                .field("floor", &self.floor)
                .field("idle", &self.idle)
                .field("rounds", &self.rounds)
                .finish();
        }
        if self.floor != Ballot::default() {
            write!(f, "floor {:?}; ", self.floor)?;
        }
        if self.keys.is_empty() {
            return write!(f, "(no keys)");
        }
        for (i, (k, inst)) in self.keys.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            write!(f, "{sep}k{k}: {inst:?}")?;
        }
        Ok(())
    }
}

/// A Paxos server's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PaxosTimer {
    /// The round for this key may be stuck: restart it if it has not completed.
    Retry(Key),
}

/// The most clients waiting on one key at one server; a request over it gets error 11.
pub const MAX_WAITERS: usize = 64;
/// The most rounds one server leads at once; a request that would start another gets error 11.
pub const MAX_ROUNDS: u32 = 4096;
/// The retry timer's first range on the network: `RETRY_MS..2 * RETRY_MS` milliseconds.
pub const RETRY_MS: u64 = 100;
/// The retry timer doubles its range per restart, at most this many times (800-1600 ms).
pub const RETRY_MAX_DOUBLINGS: u8 = 3;

/// The retry timer's range after `retries` restarts.
fn retry_backoff(retries: u8) -> std::ops::Range<std::time::Duration> {
    let ms = RETRY_MS << retries.min(RETRY_MAX_DOUBLINGS);
    std::time::Duration::from_millis(ms)..std::time::Duration::from_millis(2 * ms)
}

/// A Paxos server: its index among `servers`, which lists every server's id in index order.
#[derive(Clone, Debug)]
pub struct PaxosServer {
    pub index: usize,
    pub servers: Vec<Id>,
    pub bug: Option<PaxosBug>,
    /// A retried request (same client and `msg_id`) that finds its instance undecided restarts
    /// the round with a higher ballot (the round may be stuck: a lost message, a crashed peer, a
    /// competing proposer) while the ballot round stays at most this. The network runtime allows
    /// `u32::MAX`; the checker's clients never retry, but a duplicating network redelivers, so
    /// the checker bounds it (0 by default: no restarts) to keep ballots finite, as TLC's MCPaxos
    /// bounds `Ballots`.
    pub retry_rounds: u32,
    /// Whether a server that knows a key's outcome answers a `Prepare` or `Accept` for it with
    /// `Decided` (on the network: yes; in the checker off by default, because the extra messages
    /// multiply the interleavings about 24-fold and the checker has no liveness property for
    /// Paxos; `--tell-laggards 1` checks it).
    pub tell_laggards: bool,
    /// Automatic restarts of a round that has not completed: by the retry timer, or on a `Nack`
    /// from an acceptor whose promise floor is above the round's ballot. 0: never (no timer is
    /// set, `Nack`s are ignored); otherwise while this server's effective promise for the key is
    /// at round `retry_timer` or below. The network runtime allows `u32::MAX` (`--retry-timer 1`,
    /// its default); the checker bounds it, and leaves it off by default, because a timer is an
    /// action at every state with a round in progress.
    pub retry_timer: u32,
    /// Fold idle promises into the promise floor once this many have accumulated; 0: never (the
    /// checker's default; the network runtime's is 1024). With 1 a server folds at once, which is
    /// how the checker exercises folding.
    pub fold_promises: usize,
}

type PaxosOut = Out<PaxosServer>;

impl PaxosServer {
    fn quorum(&self) -> usize {
        let n = self.servers.len();
        match self.bug {
            Some(PaxosBug::MinorityQuorum) => (n / 2).max(1),
            _ => n / 2 + 1,
        }
    }

    fn me(&self) -> u64 {
        1 << self.index
    }

    fn index_of(&self, id: Id) -> Option<usize> {
        self.servers.iter().position(|s| *s == id)
    }

    fn peers(&self) -> impl Iterator<Item = &Id> {
        let me = self.servers[self.index];
        self.servers.iter().filter(move |s| **s != me)
    }

    fn broadcast(&self, msg: PaxosMsg, o: &mut PaxosOut) {
        o.broadcast(self.peers(), &KvMsg::Internal(msg));
    }

    /// The effective promise for a key whose instance is `inst` (`None`: a key without one):
    /// its own promise, but never below the floor.
    fn promised(state: &PaxosState, inst: Option<&Instance>) -> Ballot {
        inst.map_or(state.floor, |i| i.acceptor.promised.max(state.floor))
    }

    /// Whether an automatic restart (timer, `Nack`) may start a round above `promised`.
    fn may_restart(&self, promised: Ballot) -> bool {
        self.retry_timer > 0 && promised.round <= self.retry_timer
    }

    /// Saves `key`'s acceptor (the only part of the state that must survive a crash, with the
    /// floor).
    fn save(&self, state: &mut PaxosState, key: Key, o: &mut PaxosOut) {
        let mut a = state.keys.get(&key).map(|i| i.acceptor).unwrap_or_default();
        if self.bug == Some(PaxosBug::VolatilePromise) {
            // Only the accepted proposal reaches the disk.
            a.promised = a.accepted.map(|(b, _)| b).unwrap_or_default();
        }
        *Arc::make_mut(&mut state.saved.acceptors).entry_or_default(key) = a;
        o.save(state.saved.clone());
    }

    /// Starts (or restarts) a round for `key` with the next ballot above everything this server
    /// promised for it (floor included) and above `above` (what a `Nack` reported). `retries`
    /// is the timer's backoff for the new round.
    fn start_round(
        &self,
        state: &mut PaxosState,
        key: Key,
        own: Option<Value>,
        above: Ballot,
        retries: u8,
        o: &mut PaxosOut,
    ) {
        let floor = state.floor;
        let inst = state.keys.entry_or_default(key);
        let base = inst.acceptor.promised.max(floor).max(above);
        let Some(round) = base.round.checked_add(1) else {
            return; // 2^32 ballot rounds used up: the key cannot get a new ballot
        };
        let ballot = Ballot {
            round,
            server: self.index as u8,
        };
        debug_assert!(ballot > base);
        let started = inst.round.is_none();
        inst.acceptor.promised = ballot; // the proposer's own promise
        inst.round = Some(Round {
            ballot,
            own,
            phase: Phase::Preparing {
                promises: self.me(),
                highest: inst.acceptor.accepted,
            },
            retries,
        });
        if started {
            state.rounds += 1;
            debug_assert!(state.rounds <= MAX_ROUNDS);
        }
        self.save(state, key, o);
        self.arm_retry(key, ballot, retries, o);
        self.broadcast(PaxosMsg::Prepare { key, ballot }, o);
        self.after_promise(state, key, o);
    }

    /// Sets `key`'s retry timer, for the round whose proposer promised `promised`, if the timer
    /// could restart it; cancels it otherwise (a timer that could do nothing would still be an
    /// action in the checker).
    fn arm_retry(&self, key: Key, promised: Ballot, retries: u8, o: &mut PaxosOut) {
        if self.retry_timer == 0 {
            return;
        }
        if self.may_restart(promised) {
            o.set_timer(PaxosTimer::Retry(key), retry_backoff(retries));
        } else {
            o.cancel_timer(PaxosTimer::Retry(key));
        }
    }

    /// Bookkeeping when `key`'s round ends (decided, or a read found nothing).
    fn round_ended(&self, state: &mut PaxosState, key: Key, o: &mut PaxosOut) {
        debug_assert!(state.rounds > 0);
        state.rounds -= 1;
        if self.retry_timer > 0 {
            o.cancel_timer(PaxosTimer::Retry(key));
        }
    }

    /// Moves to phase 2 once a quorum has promised.
    fn after_promise(&self, state: &mut PaxosState, key: Key, o: &mut PaxosOut) {
        let floor = state.floor;
        let inst = state.keys.get_mut(&key).expect("instance exists");
        let Some(round) = &inst.round else { return };
        let Phase::Preparing { promises, highest } = round.phase else {
            return;
        };
        if (promises.count_ones() as usize) < self.quorum() {
            return;
        }
        let ballot = round.ballot;
        let reported = match self.bug {
            Some(PaxosBug::IgnorePromisedValue) if round.own.is_some() => None,
            _ => highest.map(|(_, v)| v),
        };
        let value = match (reported, round.own, self.bug) {
            (Some(v), _, _) => v,
            (None, Some(own), _) => own,
            (None, None, Some(PaxosBug::ReadProposesPlaceholder)) => 0,
            (None, None, _) => {
                // A read-only round found nothing accepted at a quorum: nothing is chosen.
                inst.round = None;
                for w in std::mem::take(&mut inst.waiting) {
                    debug_assert!(w.write.is_none(), "a waiting write sets the round's value");
                    o.send(w.client, KvMsg::error(w.msg_id, ErrorCode::KeyDoesNotExist));
                }
                self.round_ended(state, key, o);
                return;
            }
        };
        let mut accepts = 0;
        if inst.acceptor.promised.max(floor) <= ballot {
            inst.acceptor.promised = ballot;
            inst.acceptor.accepted = Some((ballot, value));
            accepts = self.me();
        }
        inst.round = Some(Round {
            ballot,
            own: round.own,
            phase: Phase::Accepting { value, accepts },
            retries: round.retries,
        });
        if accepts != 0 {
            self.save(state, key, o);
        }
        self.broadcast(PaxosMsg::Accept { key, ballot, value }, o);
        self.after_accept(state, key, o);
    }

    /// Decides once a quorum has accepted.
    fn after_accept(&self, state: &mut PaxosState, key: Key, o: &mut PaxosOut) {
        let inst = state.keys.get_mut(&key).expect("instance exists");
        let Some(Round {
            phase: Phase::Accepting { value, accepts },
            ..
        }) = inst.round
        else {
            return;
        };
        if (accepts.count_ones() as usize) >= self.quorum() {
            self.broadcast(PaxosMsg::Decided { key, value }, o);
            self.learn(state, key, value, o);
        }
    }

    /// Learns the decided value and answers every waiting client.
    fn learn(&self, state: &mut PaxosState, key: Key, value: Value, o: &mut PaxosOut) {
        let inst = state.keys.entry_or_default(key);
        inst.decided = Some(value);
        let ended = inst.round.take().is_some();
        for w in std::mem::take(&mut inst.waiting) {
            o.send(w.client, reply(w, value));
        }
        if ended {
            self.round_ended(state, key, o);
        }
    }

    /// Notes `key` as a candidate for folding if its instance is now an idle promise, and folds
    /// once `fold_promises` candidates have accumulated. Called after the steps that can leave an
    /// idle promise behind: a `Promise` given, a round that ended without a decision.
    fn settle(&self, state: &mut Cow<PaxosState>, key: Key, o: &mut PaxosOut) {
        if self.fold_promises == 0 || !state.keys.get(&key).is_some_and(Instance::idle_promise) {
            return;
        }
        let state = state.to_mut();
        state.idle.push(key);
        if state.idle.len() >= self.fold_promises {
            self.fold(state, o);
        }
    }

    /// Folds every candidate that is still an idle promise into the floor: the floor rises to
    /// the highest of their promises, and their instances and saved entries go. Safe because
    /// every key's effective promise, `max(floor, promised)`, can only rise, and no accepted
    /// proposal is touched (see the module docs). O(candidates), at most `fold_promises`.
    fn fold(&self, state: &mut PaxosState, o: &mut PaxosOut) {
        let mut floor = state.floor;
        let acceptors = Arc::make_mut(&mut state.saved.acceptors);
        for key in std::mem::take(&mut state.idle) {
            if !state.keys.get(&key).is_some_and(Instance::idle_promise) {
                continue; // folded already, or no longer idle
            }
            let inst = state.keys.remove(&key).expect("checked above");
            floor = floor.max(inst.acceptor.promised);
            acceptors.remove(&key);
        }
        debug_assert!(floor >= state.floor, "the floor never falls");
        state.floor = floor;
        if self.bug != Some(PaxosBug::VolatilePromise) {
            state.saved.floor = floor;
        }
        o.save(state.saved.clone());
    }
}

/// The answer to a request on a decided key.
fn reply(w: Waiter, decided: Value) -> KvMsg<PaxosMsg> {
    match w.write {
        None => KvMsg::ReadOk {
            in_reply_to: w.msg_id,
            value: decided,
        },
        Some(v) if v == decided => KvMsg::WriteOk {
            in_reply_to: w.msg_id,
        },
        Some(_) => KvMsg::Error {
            in_reply_to: w.msg_id,
            code: ErrorCode::PreconditionFailed,
            value: Some(decided),
            leader: None,
        },
    }
}

impl Actor for PaxosServer {
    type Msg = KvMsg<PaxosMsg>;
    type State = PaxosState;
    type Timer = PaxosTimer;
    type Random = ();
    type Storage = PaxosStorage;

    fn name(&self) -> String {
        format!("server {}", self.index)
    }

    fn on_start(&self, _id: Id, storage: &Option<Self::Storage>, o: &mut Out<Self>) -> Self::State {
        let saved = storage.clone().unwrap_or_default();
        let keys = saved
            .acceptors
            .iter()
            .map(|(k, a)| {
                (
                    *k,
                    Instance {
                        acceptor: *a,
                        ..Instance::default()
                    },
                )
            })
            .collect();
        let mut state = PaxosState {
            keys,
            floor: saved.floor,
            saved,
            idle: Vec::new(),
            rounds: 0,
        };
        if self.fold_promises > 0 {
            // Every recovered instance is idle (rounds and waiters are volatile).
            state.idle = (state.keys.iter())
                .filter(|(_, i)| i.idle_promise())
                .map(|(k, _)| *k)
                .collect();
            if state.idle.len() >= self.fold_promises {
                self.fold(&mut state, o);
            }
        }
        state
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<Self::State>,
        src: Id,
        msg: Self::Msg,
        o: &mut Out<Self>,
    ) {
        match msg {
            KvMsg::Write { msg_id, key, value } => {
                self.on_request(state, src, msg_id, key, Some(value), o)
            }
            KvMsg::Read { msg_id, key } => self.on_request(state, src, msg_id, key, None, o),
            KvMsg::Cas { msg_id, .. } => o.send(src, KvMsg::error(msg_id, ErrorCode::NotSupported)),
            KvMsg::Internal(m) => {
                let Some(from) = self.index_of(src) else {
                    return; // not a peer
                };
                if let Some(key) = m.key_if_active() {
                    if let Some(value) = state.keys.get(&key).and_then(|i| i.decided) {
                        // A learner that knows the outcome takes no further part: ignoring a
                        // message is always safe (it is indistinguishable from its loss), and the
                        // deciding proposer tells every server with `Decided`. A server that
                        // missed that (a lost `Decided`, a restart) and proposes again would
                        // then wait forever, so with `tell_laggards` its proposal is answered
                        // with the outcome.
                        if self.tell_laggards
                            && matches!(m, PaxosMsg::Prepare { .. } | PaxosMsg::Accept { .. })
                        {
                            o.send(src, KvMsg::Internal(PaxosMsg::Decided { key, value }));
                        }
                        return;
                    }
                }
                self.on_internal(state, src, from, m, o)
            }
            _ => {}
        }
    }

    /// The retry timer: the round for the key has not completed since it was armed; restart it
    /// with a higher ballot (and a longer backoff).
    fn on_timeout(
        &self,
        _id: Id,
        state: &mut Cow<Self::State>,
        timer: &Self::Timer,
        o: &mut Out<Self>,
    ) {
        let PaxosTimer::Retry(key) = *timer;
        let Some(inst) = state.keys.get(&key) else {
            return;
        };
        let Some(round) = &inst.round else {
            return; // completed meanwhile
        };
        if !self.may_restart(Self::promised(state, Some(inst))) {
            return;
        }
        let own = round.own;
        let retries = round.retries.saturating_add(1).min(RETRY_MAX_DOUBLINGS);
        self.start_round(state.to_mut(), key, own, Ballot::default(), retries, o);
        self.settle(state, key, o);
    }
}

impl PaxosServer {
    fn on_request(
        &self,
        state: &mut Cow<PaxosState>,
        client: Id,
        msg_id: MsgId,
        key: Key,
        write: Option<Value>,
        o: &mut PaxosOut,
    ) {
        let waiter = Waiter {
            client,
            msg_id,
            write,
        };
        let inst = state.keys.get(&key);
        if let Some(decided) = inst.and_then(|i| i.decided) {
            o.send(client, reply(waiter, decided));
            return;
        }
        // At most MAX_WAITERS entries to compare: O(1) per request.
        if let Some(inst) = inst.filter(|i| i.waiting.contains(&waiter)) {
            // A retry of a request already waiting: its round may be stuck, so start another.
            if Self::promised(state, Some(inst)).round <= self.retry_rounds {
                let round = inst.round.as_ref();
                let own = round.and_then(|r| r.own).or(write);
                let retries = round.map_or(0, |r| r.retries);
                self.start_round(state.to_mut(), key, own, Ballot::default(), retries, o);
                self.settle(state, key, o);
            }
            return;
        }
        let waiting = inst.map_or(0, |i| i.waiting.len());
        let in_round = inst.is_some_and(|i| i.round.is_some());
        if waiting >= MAX_WAITERS || (!in_round && state.rounds >= MAX_ROUNDS) {
            // Definite: nothing was started for this request.
            o.send(
                client,
                KvMsg::error(msg_id, ErrorCode::TemporarilyUnavailable),
            );
            return;
        }
        let floor = state.floor;
        let s = state.to_mut();
        let inst = s.keys.entry_or_default(key);
        inst.waiting.push(waiter);
        match &mut inst.round {
            None => {
                self.start_round(s, key, write, Ballot::default(), 0, o);
                self.settle(state, key, o);
            }
            Some(round) => {
                if round.own.is_none() {
                    round.own = write;
                }
                if round.retries > 0 && self.retry_timer > 0 {
                    // A fresh request for a key whose round the timer has restarted: bring the
                    // timer back to its first range. Once per firing (`retries` is 0 until the
                    // timer restarts the round again), so a flood cannot postpone it forever.
                    round.retries = 0;
                    let promised = inst.acceptor.promised.max(floor);
                    self.arm_retry(key, promised, 0, o);
                }
            }
        }
    }

    fn on_internal(
        &self,
        state: &mut Cow<PaxosState>,
        src: Id,
        from: usize,
        msg: PaxosMsg,
        o: &mut PaxosOut,
    ) {
        match msg {
            PaxosMsg::Prepare { key, ballot } => {
                let inst = state.keys.get(&key);
                let promised = Self::promised(state, inst);
                if ballot > promised {
                    let accepted = inst.and_then(|i| i.acceptor.accepted);
                    let s = state.to_mut();
                    s.keys.entry_or_default(key).acceptor.promised = ballot;
                    self.save(s, key, o);
                    o.send(
                        src,
                        KvMsg::Internal(PaxosMsg::Promise {
                            key,
                            ballot,
                            accepted,
                        }),
                    );
                    self.settle(state, key, o);
                } else if ballot <= state.floor {
                    // Refused because of the floor, which other keys raised: say so, or a
                    // proposer far below it would creep up one round per retry.
                    o.send(
                        src,
                        KvMsg::Internal(PaxosMsg::Nack {
                            key,
                            ballot,
                            promised,
                        }),
                    );
                }
            }
            PaxosMsg::Promise {
                key,
                ballot,
                accepted,
            } => {
                let Some(inst) = state.keys.get(&key) else {
                    return;
                };
                let Some(Round {
                    ballot: b,
                    phase: Phase::Preparing { promises, highest },
                    ..
                }) = inst.round
                else {
                    return;
                };
                let bit = 1 << from;
                if b != ballot || promises & bit != 0 || inst.acceptor.promised != b {
                    return;
                }
                let s = state.to_mut();
                let inst = s.keys.get_mut(&key).expect("checked above");
                let round = inst.round.as_mut().expect("checked above");
                round.phase = Phase::Preparing {
                    promises: promises | bit,
                    highest: highest.max(accepted),
                };
                self.after_promise(s, key, o);
                self.settle(state, key, o);
            }
            PaxosMsg::Accept { key, ballot, value } => {
                let inst = state.keys.get(&key);
                let promised = Self::promised(state, inst);
                let accepted = inst.and_then(|i| i.acceptor.accepted);
                let allowed = ballot >= promised || self.bug == Some(PaxosBug::AcceptLowerBallot);
                if allowed && accepted != Some((ballot, value)) {
                    let s = state.to_mut();
                    let acceptor = &mut s.keys.entry_or_default(key).acceptor;
                    acceptor.promised = acceptor.promised.max(ballot);
                    acceptor.accepted = Some((ballot, value));
                    self.save(s, key, o);
                    o.send(src, KvMsg::Internal(PaxosMsg::Accepted { key, ballot }));
                } else if !allowed && ballot < state.floor {
                    o.send(
                        src,
                        KvMsg::Internal(PaxosMsg::Nack {
                            key,
                            ballot,
                            promised,
                        }),
                    );
                }
            }
            PaxosMsg::Accepted { key, ballot } => {
                let Some(inst) = state.keys.get(&key) else {
                    return;
                };
                let Some(Round {
                    ballot: b,
                    phase: Phase::Accepting { value, accepts },
                    ..
                }) = inst.round
                else {
                    return;
                };
                let bit = 1 << from;
                if b != ballot || accepts & bit != 0 || inst.acceptor.promised != b {
                    return;
                }
                let s = state.to_mut();
                let inst = s.keys.get_mut(&key).expect("checked above");
                inst.round.as_mut().expect("checked above").phase = Phase::Accepting {
                    value,
                    accepts: accepts | bit,
                };
                self.after_accept(s, key, o);
            }
            PaxosMsg::Decided { key, value } => {
                if state.keys.get(&key).is_some_and(|i| i.decided.is_some()) {
                    return;
                }
                self.learn(state.to_mut(), key, value, o);
            }
            PaxosMsg::Nack {
                key,
                ballot,
                promised,
            } => {
                // An acceptor's floor is above our round: restart above it at once, if the
                // Nack is about the round in progress (a restart is always safe; later Nacks
                // for the same round find a new ballot and are ignored).
                let Some(inst) = state.keys.get(&key) else {
                    return;
                };
                let Some(round) = &inst.round else { return };
                if round.ballot != ballot || promised <= ballot || !self.may_restart(promised) {
                    return;
                }
                let (own, retries) = (round.own, round.retries);
                self.start_round(state.to_mut(), key, own, promised, retries, o);
                self.settle(state, key, o);
            }
        }
    }
}

/// What each client does. Every request after the first goes to the next server, so reads also
/// exercise learners that have not heard the decision yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// Write the client's own value.
    Write,
    /// Write, then read the key back.
    WriteRead,
    /// Read (possibly racing the first writes: a read of an undecided key), then write.
    ReadWrite,
}

impl Script {
    pub fn steps(self) -> Vec<Step> {
        match self {
            Script::Write => vec![Step::WriteOwn],
            Script::WriteRead => vec![Step::WriteOwn, Step::Read],
            Script::ReadWrite => vec![Step::Read, Step::WriteOwn],
        }
    }
}

/// The configuration of a Paxos model check.
#[derive(Clone, Debug, PartialEq)]
pub struct PaxosConfig {
    pub servers: usize,
    pub clients: usize,
    /// How many servers may be crashed at once (stateright's `max_crashes`).
    pub crashes: usize,
    /// The clients' script: write only, write then read, or read then write.
    pub script: Script,
    pub network: NetworkKind,
    pub bug: Option<PaxosBug>,
    /// Reduce by client symmetry.
    pub symmetry: bool,
    /// The highest ballot round a redelivered request may restart at (see
    /// [`PaxosServer::retry_rounds`]).
    pub retry_rounds: u32,
    /// See [`PaxosServer::tell_laggards`].
    pub tell_laggards: bool,
    /// See [`PaxosServer::retry_timer`] (0: off).
    pub retry_timer: u32,
    /// See [`PaxosServer::fold_promises`] (0: never).
    pub fold_promises: usize,
    /// Also check `value eventually chosen` (see [`eventually_chosen`]).
    pub liveness: bool,
}

impl Default for PaxosConfig {
    fn default() -> Self {
        PaxosConfig {
            servers: 3,
            clients: 2,
            crashes: 0,
            script: Script::WriteRead,
            network: NetworkKind::default(),
            bug: None,
            symmetry: false,
            retry_rounds: 0,
            tell_laggards: false,
            retry_timer: 0,
            fold_promises: 0,
            liveness: false,
        }
    }
}

impl KvConfig for PaxosConfig {
    fn server_count(&self) -> usize {
        self.servers
    }
    fn client_count(&self) -> usize {
        self.clients
    }
}

impl Permute for Acceptor {
    fn permute(&self, p: &ClientPerm) -> Self {
        Acceptor {
            promised: self.promised,
            accepted: self.accepted.map(|(b, v)| (b, p.value(v))),
        }
    }
}

impl Permute for PaxosStorage {
    fn permute(&self, p: &ClientPerm) -> Self {
        PaxosStorage {
            floor: self.floor,
            acceptors: Arc::new(
                self.acceptors
                    .iter()
                    .map(|(k, a)| (*k, a.permute(p)))
                    .collect(),
            ),
        }
    }
}

impl Permute for PaxosState {
    fn permute(&self, p: &ClientPerm) -> Self {
        let keys = self
            .keys
            .iter()
            .map(|(k, inst)| {
                let round = inst.round.as_ref().map(|r| Round {
                    ballot: r.ballot,
                    retries: r.retries,
                    own: r.own.map(|v| p.value(v)),
                    phase: match r.phase {
                        Phase::Preparing { promises, highest } => Phase::Preparing {
                            promises,
                            highest: highest.map(|(b, v)| (b, p.value(v))),
                        },
                        Phase::Accepting { value, accepts } => Phase::Accepting {
                            value: p.value(value),
                            accepts,
                        },
                    },
                });
                let inst = Instance {
                    acceptor: inst.acceptor.permute(p),
                    decided: inst.decided.map(|v| p.value(v)),
                    round,
                    waiting: inst
                        .waiting
                        .iter()
                        .map(|w| Waiter {
                            client: p.id(w.client),
                            msg_id: w.msg_id,
                            write: w.write.map(|v| p.value(v)),
                        })
                        .collect(),
                };
                (*k, inst)
            })
            .collect();
        PaxosState {
            keys,
            saved: self.saved.permute(p),
            floor: self.floor,
            idle: self.idle.clone(),
            rounds: self.rounds,
        }
    }
}

impl Permute for PaxosMsg {
    fn permute(&self, p: &ClientPerm) -> Self {
        match *self {
            PaxosMsg::Promise {
                key,
                ballot,
                accepted,
            } => PaxosMsg::Promise {
                key,
                ballot,
                accepted: accepted.map(|(b, v)| (b, p.value(v))),
            },
            PaxosMsg::Accept { key, ballot, value } => PaxosMsg::Accept {
                key,
                ballot,
                value: p.value(value),
            },
            PaxosMsg::Decided { key, value } => PaxosMsg::Decided {
                key,
                value: p.value(value),
            },
            ref other => other.clone(),
        }
    }
}

/// The checked model of a Paxos configuration.
pub type PaxosModel = Checked<KvModel<PaxosServer, PaxosConfig>>;
type PaxosSystem = KvSystemState<PaxosServer>;

fn servers_of(state: &PaxosSystem) -> impl Iterator<Item = &PaxosState> {
    state.actors.iter().filter_map(|a| a.state.server())
}

/// `agreement`: per key, every decided and every announced value is the same.
fn agreement(m: &KvModel<PaxosServer, PaxosConfig>, state: &PaxosSystem) -> bool {
    let announced = &state.history.announced;
    // Announcements are sorted by (key, value): two for one key disagree.
    if announced.windows(2).any(|w| w[0].0 == w[1].0) {
        return false;
    }
    // The first decision seen, checked against every other (one key in the usual case).
    let mut first: Option<(Key, Value)> = None;
    for slot in &state.actors[..m.cfg.servers] {
        let KvState::Server(server) = &*slot.state else {
            continue;
        };
        for (&k, inst) in server.keys.iter() {
            let Some(v) = inst.decided else { continue };
            if announced.iter().any(|&(ak, av)| ak == k && av != v) {
                return false;
            }
            match first {
                None => first = Some((k, v)),
                Some((fk, fv)) if fk == k => {
                    if fv != v {
                        return false;
                    }
                }
                Some(_) => {
                    if !other_servers_agree(state, k, v) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

fn other_servers_agree(state: &PaxosSystem, key: Key, value: Value) -> bool {
    servers_of(state).all(|s| {
        s.keys
            .get(&key)
            .and_then(|i| i.decided)
            .is_none_or(|v| v == value)
    })
}

/// `validity`: a decided value is one some client wrote.
fn validity(m: &KvModel<PaxosServer, PaxosConfig>, state: &PaxosSystem) -> bool {
    let written = |v: Value| v >= 1 && v as usize <= m.cfg.clients;
    state.history.announced.iter().all(|&(_, v)| written(v))
        && servers_of(state).all(|s| s.keys.values().all(|i| i.decided.is_none_or(written)))
}

fn linearizable(_: &KvModel<PaxosServer, PaxosConfig>, state: &PaxosSystem) -> bool {
    state.history.linearizable_wo()
}

fn value_chosen(_: &KvModel<PaxosServer, PaxosConfig>, state: &PaxosSystem) -> bool {
    servers_of(state).any(|s| s.keys.values().any(|i| i.decided.is_some()))
}

/// `value eventually chosen` (with `--liveness 1`): a value is chosen, in Lamport's sense (a
/// majority of acceptors has accepted one ballot's proposal for a key), or some server has
/// decided one. Checked as `eventually` under weak fairness (see `synod_models::liveness`).
///
/// Paxos guarantees safety only: by FLP no asynchronous protocol guarantees progress. Two
/// proposers can preempt each other forever: each one's `Prepare` with a higher ballot makes
/// the acceptors refuse the other's `Accept`, and the other retries higher still. With one
/// proposer (one client, or all clients on one server: a stable leader) and fair delivery, its
/// first ballot is accepted by every acceptor and the value is chosen. In the model, ballots
/// are bounded (`--retry-timer N`), so the duel ends when they run out, with nothing chosen and
/// nothing left to do: the checker shows it as a deadlock after the duel.
fn eventually_chosen(m: &KvModel<PaxosServer, PaxosConfig>, state: &PaxosSystem) -> bool {
    if value_chosen(m, state) {
        return true;
    }
    let majority = m.cfg.servers / 2 + 1;
    let mut accepted: Vec<(Key, Ballot)> = servers_of(state)
        .flat_map(|s| {
            s.keys
                .iter()
                .filter_map(|(k, i)| i.acceptor.accepted.map(|(b, _)| (*k, b)))
        })
        .collect();
    accepted.sort_unstable();
    accepted
        .chunk_by(|a, b| a == b)
        .any(|same| same.len() >= majority)
}

/// `record_msg_out`: client invocations, and the decisions servers announce.
fn record_out(
    cfg: &PaxosConfig,
    history: &History,
    env: stateright::actor::Envelope<&KvMsg<PaxosMsg>>,
) -> Option<History> {
    if let KvMsg::Internal(PaxosMsg::Decided { key, value }) = env.msg {
        return history.announce(*key, *value);
    }
    record_invocations(cfg, history, env)
}

/// Per key, per server: the ballot it promised, the proposal it accepted (coloured by ballot),
/// and the value it knows decided.
fn view(state: &PaxosSystem) -> Vec<ViewTable> {
    let servers = view_servers(state);
    let mut keys: Vec<Key> = servers
        .iter()
        .filter_map(|(_, s)| *s)
        .flat_map(|s| s.keys.iter().map(|(k, _)| *k))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let rows = servers
                .iter()
                .map(|(i, s)| {
                    let Some(s) = s else {
                        return crashed_row(format!("server {i}"));
                    };
                    let name = ViewCell::text(format!("server {i}"));
                    let colour = |b: Ballot| u64::from(b.round) * 8 + u64::from(b.server);
                    let (promised, accepted, decided) = match s.keys.get(&key) {
                        Some(inst) => (
                            inst.acceptor.promised.max(s.floor),
                            inst.acceptor.accepted,
                            inst.decided,
                        ),
                        None => (s.floor, None, None),
                    };
                    vec![
                        name,
                        ViewCell::text(format!("{promised:?}")).colour(colour(promised)),
                        match accepted {
                            Some((b, v)) => {
                                ViewCell::text(format!("{v} in {b:?}")).colour(colour(b))
                            }
                            None => ViewCell::text("-"),
                        },
                        match decided {
                            Some(v) => ViewCell::text(v.to_string()).mark("committed"),
                            None => ViewCell::text("-"),
                        },
                    ]
                })
                .collect();
            ViewTable {
                title: format!("key {key}"),
                columns: view_columns(&["server", "promised", "accepted", "decided"], 0),
                rows,
            }
        })
        .collect()
}

/// Builds the checked model: servers `0..servers`, then clients, each writing its own value and
/// reading it back.
pub fn model(cfg: PaxosConfig) -> PaxosModel {
    let servers: Vec<Id> = (0..cfg.servers).map(Id::from).collect();
    let actor_model = System::new(cfg.clone(), History::new(cfg.clients))
        .actors((0..cfg.servers).map(|index| {
            KvActor::Server(PaxosServer {
                index,
                servers: servers.clone(),
                bug: cfg.bug,
                retry_rounds: cfg.retry_rounds,
                tell_laggards: cfg.tell_laggards,
                retry_timer: cfg.retry_timer,
                fold_promises: cfg.fold_promises,
            })
        }))
        .actors((0..cfg.clients).map(|index| {
            KvActor::Client(KvClient {
                start: None,
                index,
                servers: servers.clone(),
                script: cfg.script.steps(),
                rotate: true,
            })
        }))
        .network(cfg.network)
        .max_crashes(cfg.crashes)
        .view(view)
        .property(Expectation::Always, "agreement", agreement)
        .property(Expectation::Always, "validity", validity)
        .property(Expectation::Always, "linearizable", linearizable)
        .property(Expectation::Sometimes, "value chosen", value_chosen);
    let actor_model = if cfg.liveness {
        actor_model.property(
            Expectation::Eventually,
            "value eventually chosen",
            eventually_chosen,
        )
    } else {
        actor_model
    };
    let actor_model = actor_model
        .record_msg_out(record_out)
        .record_msg_in(record_returns);
    let mut checked = Checked::new(actor_model);
    checked.allow = servers_only_crash;
    if cfg.symmetry {
        checked.canonical = Some(canonical_clients);
    }
    checked
}

/// Client ids in the model are `servers..servers + clients`; a helper for tests and traces.
pub fn is_client(cfg: &PaxosConfig, id: Id) -> bool {
    usize::from(id) >= cfg.servers
}

/// The refinement mapping to Consensus.tla (single key): `chosen` is the set of values some
/// server decided or announced for key 0. Client value `v` is the spec's value `v - 1`; a value
/// no client wrote (the placeholder bug's 0) maps outside the spec's `Value` set, so choosing it
/// is no step of the spec. Announcements are a history, so `chosen` never shrinks when a learner
/// crashes (with one server nothing is announced: check refinement with two or more).
pub fn to_consensus(state: &PaxosSystem) -> synod_specs::ConsensusState {
    let clients = state.history.clients.len() as u32;
    let bit = |v: Value| -> u32 {
        match (v as u32).checked_sub(1) {
            Some(i) if i < clients => 1 << i,
            _ => 1 << clients.min(31), // not a client's value: outside `Value`
        }
    };
    let mut chosen = 0u32;
    for &(k, v) in state.history.announced.iter() {
        if k == 0 {
            chosen |= bit(v);
        }
    }
    for s in servers_of(state) {
        if let Some(v) = s.keys.get(&0).and_then(|i| i.decided) {
            chosen |= bit(v);
        }
    }
    synod_specs::ConsensusState {
        chosen: synod_specs::consensus::ValueSet(chosen),
    }
}

/// The catalog entry: `synod check paxos`, `synod run paxos`, `synod check paxos --refines`.
pub struct Paxos;

impl Protocol for Paxos {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "paxos",
        summary: "Single-decree Paxos per key: a write-once lin-kv store (Lamport, Paxos Made Simple)",
        params: &[
            Param::model("servers", "servers, each proposer, acceptor and learner", 3, 1, 7),
            Param::model(
                "clients",
                "clients; client i writes value i+1 via server i mod servers",
                2,
                1,
                4,
            ),
            Param::model(
                "crashes",
                "servers that may be crashed at once (they restart from saved state)",
                0,
                0,
                7,
            ),
            Param::model(
                "reads",
                "0: clients only write; 1: write, then read from the next server; 2: read first, then write",
                1,
                0,
                2,
            ),
            Param::model(
                "retry-rounds",
                "highest ballot round a redelivered (retried) request may restart its instance at; 0: never (use with a duplicating network); unbounded on the network",
                0,
                0,
                3,
            ),
            Param {
                name: "tell-laggards",
                help: "1: a server that knows a key's outcome answers Prepare/Accept with Decided; 0: it ignores them",
                default: 0,
                min: 0,
                max: 1,
                run: Some(1),
                names: &[],
            },
            Param {
                name: "retry-timer",
                help: "N>0: a proposer's retry timer (and a Nack from an acceptor whose promise floor is higher) restarts a round that has not completed with a higher ballot, while its promise is at round N or below (on the network 1 turns it on, unbounded, backoff 100 ms doubling to 1.6 s); 0: only a retried request restarts a round",
                default: 0,
                min: 0,
                max: 3,
                run: Some(1),
                names: &[],
            },
            Param::model(
                "liveness",
                "1: also check `value eventually chosen` under weak fairness (--fairness): it fails with dueling proposers and holds with one (--clients 1)",
                0,
                0,
                1,
            ),
            Param {
                name: "fold-promises",
                help: "N>0: once N keys hold only a promise (nothing accepted, nothing pending), a server folds them into a per-server promise floor and forgets them (bounded memory and disk for reads of absent keys; 1 folds at once); 0: never",
                default: 0,
                min: 0,
                max: 1_000_000,
                run: Some(1024),
                names: &[],
            },
        ],
        properties: &[
            always("agreement"),
            always("validity"),
            always("linearizable"),
            sometimes("value chosen"),
            eventually("value eventually chosen").when("liveness", 1),
        ],
        bugs: &[
            BugInfo {
                name: "ignore-promised-value",
                summary: "the proposer ignores values reported in Promise replies and proposes its own",
                source: "Lamport, Paxos Made Simple (2001), section 2.2: why P2c needs phase 1",
                violates: "agreement",
                needs: &[],
            },
            BugInfo {
                name: "accept-lower-ballot",
                summary: "an acceptor accepts a ballot lower than the one it promised",
                source: "Lamport, Paxos Made Simple (2001), P1a",
                violates: "agreement",
                needs: &[],
            },
            BugInfo {
                name: "volatile-promise",
                summary: "an acceptor does not persist its promise, so a restart forgets it",
                source: "Lamport, Paxos Made Simple (2001), section 2.3; Chandra et al., Paxos Made Live (2007), 5.1",
                violates: "agreement",
                needs: &[Need::Param("crashes", 1)],
            },
            BugInfo {
                name: "minority-quorum",
                summary: "quorums of n/2 servers instead of a strict majority (with 3 servers: single servers; with 4: two disjoint halves)",
                source: "Lamport, The Part-Time Parliament (1998): any two quorums must intersect",
                violates: "agreement",
                needs: &[],
            },
            BugInfo {
                name: "read-proposes-placeholder",
                summary: "a read of an undecided key proposes a placeholder value instead of running phase 1 only",
                source: "Lamport, Paxos Made Simple (2001), section 2.1: only a proposed value may be chosen",
                violates: "validity",
                needs: &[Need::Param("reads", 2)],
            },
        ],
        symmetry: Some("clients"),
        networks: ALL_NETWORKS,
        validate: crate::protocol::crashes_at_most_servers,
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 98_653,
                source: "tests/check_paxos.rs",
            },
            Pinned {
                params: &[("reads", 0)],
                symmetry: false,
                unique_states: 10_045,
                source: "tests/check_paxos.rs",
            },
            Pinned {
                params: &[("clients", 3), ("reads", 0)],
                symmetry: false,
                unique_states: 834_569,
                source: "tests/check_paxos.rs",
            },
            Pinned {
                params: &[("crashes", 1), ("reads", 0)],
                symmetry: false,
                unique_states: 1_085_188,
                source: "tests/check_paxos.rs",
            },
            Pinned {
                params: &[("clients", 1), ("crashes", 1)],
                symmetry: false,
                unique_states: 221_092,
                source: "tests/check_paxos.rs",
            },
            Pinned {
                params: &[("servers", 2), ("reads", 0), ("crashes", 1), ("retry-timer", 1)],
                symmetry: false,
                unique_states: 12_943,
                source: "tests/check_paxos.rs",
            },
            Pinned {
                params: &[("clients", 1), ("retry-timer", 1)],
                symmetry: false,
                unique_states: 14_773,
                source: "tests/check_paxos.rs",
            },
            Pinned {
                params: &[("reads", 0), ("fold-promises", 1)],
                symmetry: false,
                unique_states: 14_729,
                source: "tests/check_paxos.rs",
            },
            Pinned {
                params: &[
                    ("servers", 2),
                    ("reads", 2),
                    ("crashes", 1),
                    ("retry-timer", 1),
                    ("fold-promises", 1),
                ],
                symmetry: false,
                unique_states: 152_805,
                source: "tests/check_paxos.rs",
            },
        ],
    };
    type Model = KvModel<PaxosServer, PaxosConfig>;

    fn model(s: &Settings) -> Checked<Self::Model> {
        model(config(s))
    }
}

/// The model-checking configuration for validated settings.
pub fn config(s: &Settings) -> PaxosConfig {
    PaxosConfig {
        servers: s.count("servers"),
        clients: s.count("clients"),
        crashes: s.count("crashes"),
        script: match s.get("reads") {
            0 => Script::Write,
            1 => Script::WriteRead,
            _ => Script::ReadWrite,
        },
        network: s.network,
        bug: s.bug_of(&PaxosBug::ALL),
        symmetry: s.symmetry,
        retry_rounds: s.get("retry-rounds") as u32,
        tell_laggards: s.flag("tell-laggards"),
        retry_timer: s.get("retry-timer") as u32,
        fold_promises: s.count("fold-promises"),
        liveness: s.flag("liveness"),
    }
}

impl Serve for Paxos {
    type Internal = PaxosMsg;
    type Server = PaxosServer;
    type Storage = PaxosStorage;
    const KEYS: KeySemantics = KeySemantics::WriteOnce;

    /// On the network a retried request may always restart a stuck round, and by default
    /// decided servers tell laggards, the retry timer restarts stuck rounds without bound, and
    /// idle promises are folded every 1024 (see [`PaxosServer`]).
    fn server(s: &Settings, index: usize, servers: Vec<Id>) -> PaxosServer {
        PaxosServer {
            index,
            servers,
            bug: s.bug_of(&PaxosBug::ALL),
            retry_rounds: u32::MAX,
            tell_laggards: s.flag("tell-laggards"),
            retry_timer: if s.get("retry-timer") > 0 {
                u32::MAX
            } else {
                0
            },
            fold_promises: s.count("fold-promises"),
        }
    }
}

impl Refine for Paxos {
    type Spec = synod_specs::Consensus;
    const SPEC_NAME: &'static str = "Consensus.tla";

    fn spec(s: &Settings) -> Result<synod_specs::Consensus, String> {
        if s.get("servers") < 2 {
            return Err(
                "--refines for paxos needs --servers 2 or more (one server announces nothing)"
                    .into(),
            );
        }
        synod_specs::Consensus::new(synod_specs::ConsensusConfig {
            values: s.count("clients"),
            symmetric: false,
            bug: None,
        })
        .map_err(|e| e.to_string())
    }

    fn map(state: &PaxosSystem) -> synod_specs::ConsensusState {
        to_consensus(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::Durable;
    use stateright::actor::Command;
    use std::collections::{BTreeSet, VecDeque};
    use std::time::Duration;

    /// Client ids in these tests start here (servers are `0..n`).
    const CLIENT: usize = 100;

    fn server(index: usize, n: usize, fold: usize, timer: u32) -> PaxosServer {
        PaxosServer {
            index,
            servers: (0..n).map(Id::from).collect(),
            bug: None,
            retry_rounds: u32::MAX,
            tell_laggards: true,
            retry_timer: timer,
            fold_promises: fold,
        }
    }

    /// A deterministic network of servers: FIFO delivery, replies to clients collected, a server
    /// that is down loses what is sent to it.
    struct Sim {
        actors: Vec<PaxosServer>,
        states: Vec<PaxosState>,
        saved: Vec<Option<PaxosStorage>>,
        timers: Vec<BTreeSet<PaxosTimer>>,
        up: Vec<bool>,
        queue: VecDeque<(Id, Id, KvMsg<PaxosMsg>)>,
        replies: Vec<(Id, KvMsg<PaxosMsg>)>,
    }

    impl Sim {
        fn new(n: usize, fold: usize, timer: u32) -> Sim {
            let mut sim = Sim {
                actors: (0..n).map(|i| server(i, n, fold, timer)).collect(),
                states: Vec::new(),
                saved: vec![None; n],
                timers: vec![BTreeSet::new(); n],
                up: vec![true; n],
                queue: VecDeque::new(),
                replies: Vec::new(),
            };
            for i in 0..n {
                let mut out = Out::new();
                let s = sim.actors[i].on_start(Id::from(i), &None, &mut out);
                sim.states.push(s);
                sim.absorb(i, out);
            }
            sim
        }

        fn absorb(&mut self, i: usize, out: PaxosOut) {
            for c in out {
                match c {
                    Command::Send(dst, msg) if usize::from(dst) < self.actors.len() => {
                        self.queue.push_back((Id::from(i), dst, msg))
                    }
                    Command::Send(dst, msg) => self.replies.push((dst, msg)),
                    Command::Save(s) => self.saved[i] = Some(s),
                    Command::SetTimer(t, _) => {
                        self.timers[i].insert(t);
                    }
                    Command::CancelTimer(t) => {
                        self.timers[i].remove(&t);
                    }
                    Command::ChooseRandom(..) => {}
                }
            }
        }

        fn step(
            &mut self,
            i: usize,
            f: impl FnOnce(&PaxosServer, &mut Cow<PaxosState>, &mut PaxosOut),
        ) {
            if !self.up[i] {
                return;
            }
            let mut out = Out::new();
            let mut cow = Cow::Owned(std::mem::take(&mut self.states[i]));
            f(&self.actors[i], &mut cow, &mut out);
            self.states[i] = cow.into_owned();
            self.absorb(i, out);
        }

        fn deliver(&mut self, src: Id, dst: Id, msg: KvMsg<PaxosMsg>) {
            self.step(usize::from(dst), |a, s, o| a.on_msg(dst, s, src, msg, o));
        }

        fn run(&mut self) {
            while let Some((src, dst, msg)) = self.queue.pop_front() {
                self.deliver(src, dst, msg);
            }
        }

        /// Sends a client request to server `i`, runs to quiescence, returns the replies to it.
        fn ask(&mut self, i: usize, client: usize, msg: KvMsg<PaxosMsg>) -> Vec<KvMsg<PaxosMsg>> {
            let c = Id::from(CLIENT + client);
            self.deliver(c, Id::from(i), msg);
            self.run();
            let (mine, rest) = std::mem::take(&mut self.replies)
                .into_iter()
                .partition(|(dst, _)| *dst == c);
            self.replies = rest;
            mine.into_iter().map(|(_, m)| m).collect()
        }

        fn fire(&mut self, i: usize, t: PaxosTimer) {
            assert!(self.timers[i].remove(&t), "timer {t:?} is set at {i}");
            self.step(i, |a, s, o| a.on_timeout(Id::from(i), s, &t, o));
        }

        /// A crash and restart from what the server saved.
        fn restart(&mut self, i: usize) {
            let mut out = Out::new();
            self.states[i] = self.actors[i].on_start(Id::from(i), &self.saved[i], &mut out);
            self.timers[i].clear();
            self.absorb(i, out);
        }
    }

    fn read(msg_id: MsgId, key: Key) -> KvMsg<PaxosMsg> {
        KvMsg::Read { msg_id, key }
    }

    fn write(msg_id: MsgId, key: Key, value: Value) -> KvMsg<PaxosMsg> {
        KvMsg::Write { msg_id, key, value }
    }

    fn code(m: &KvMsg<PaxosMsg>) -> Option<u32> {
        match m {
            KvMsg::Error { code, .. } => Some(code.code()),
            _ => None,
        }
    }

    /// Per key: the effective promise and the accepted proposal.
    fn view(s: &PaxosState, keys: u64) -> Vec<(Ballot, Option<Proposal>)> {
        (0..keys)
            .map(|k| {
                let inst = s.keys.get(&k);
                (
                    PaxosServer::promised(s, inst),
                    inst.and_then(|i| i.acceptor.accepted),
                )
            })
            .collect()
    }

    /// The same view of a saved storage (what a restart would start from).
    fn view_saved(s: &PaxosStorage, keys: u64) -> Vec<(Ballot, Option<Proposal>)> {
        (0..keys)
            .map(|k| match s.acceptors.get(&k) {
                Some(a) => (a.promised.max(s.floor), a.accepted),
                None => (s.floor, None),
            })
            .collect()
    }

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn folding_never_lowers_a_promise_nor_touches_an_accepted_value() {
        // Server 0 of 3 takes random Prepares and Accepts from its peers, client reads (whose
        // rounds start, and some end when a peer's Promise arrives) and restarts, folding every
        // 3 idle promises. After every step: no key's effective promise fell, no accepted value
        // changed except by an Accept it took, what is on disk says the same as memory, the
        // saved delta replays, and at most 2 idle promises are left unfolded.
        const KEYS: u64 = 48; // past KeyMap::SMALL, so the journal's deltas are exercised too
        let mut sim = Sim::new(3, 3, 0);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut disk = PaxosStorage::default();
        let mut folds = 0;
        for step in 0..20_000u64 {
            let before = view(&sim.states[0], KEYS);
            let floor_before = sim.states[0].floor;
            let key = rng.below(KEYS);
            let peer = Id::from(1 + rng.below(2) as usize);
            let ballot = Ballot {
                round: 1 + rng.below(12) as u32 + step as u32 / 1000,
                server: usize::from(peer) as u8,
            };
            // An accepted value changes only by an Accept taken, or by server 0's own phase 2.
            let mut accepted_now = None;
            let mut own_phase2 = None;
            match rng.below(10) {
                0..=3 => sim.deliver(
                    peer,
                    Id::from(0),
                    KvMsg::Internal(PaxosMsg::Prepare { key, ballot }),
                ),
                4..=5 => {
                    let value = 1 + rng.below(3);
                    accepted_now = Some((key, (ballot, value)));
                    sim.deliver(
                        peer,
                        Id::from(0),
                        KvMsg::Internal(PaxosMsg::Accept { key, ballot, value }),
                    );
                }
                6..=7 => sim.deliver(Id::from(CLIENT), Id::from(0), read(step, key)),
                8 => {
                    // A peer answers server 0's round for the key, if there is one: a read
                    // that finds nothing accepted ends, leaving an idle promise.
                    if let Some(r) = sim.states[0].keys.get(&key).and_then(|i| i.round.clone()) {
                        own_phase2 = Some((key, r.ballot));
                        for from in [1, 2] {
                            sim.deliver(
                                Id::from(from),
                                Id::from(0),
                                KvMsg::Internal(PaxosMsg::Promise {
                                    key,
                                    ballot: r.ballot,
                                    accepted: None,
                                }),
                            );
                        }
                    }
                }
                _ => {
                    if rng.below(20) == 0 {
                        sim.restart(0);
                    }
                }
            }
            sim.queue.clear(); // what server 0 sends goes nowhere
            sim.replies.clear();
            let s = &sim.states[0];
            let after = view(s, KEYS);
            for k in 0..KEYS as usize {
                assert!(
                    after[k].0 >= before[k].0,
                    "step {step}: key {k}'s promise fell: {:?} -> {:?}",
                    before[k],
                    after[k]
                );
                match accepted_now {
                    Some((ak, p)) if ak == k as u64 => {
                        assert!(
                            after[k].1 == before[k].1 || after[k].1 == Some(p),
                            "step {step}"
                        )
                    }
                    _ if own_phase2.is_some_and(|(ok, b)| {
                        ok == k as u64 && after[k].1.is_some_and(|(ab, _)| ab == b)
                    }) => {}
                    _ => assert_eq!(
                        after[k].1, before[k].1,
                        "step {step}: key {k}'s accepted value"
                    ),
                }
            }
            assert!(s.floor >= floor_before, "step {step}: the floor fell");
            folds += usize::from(s.floor > floor_before);
            // Memory and disk agree: a restart now keeps every promise and accepted value.
            let saved = sim.saved[0].clone().unwrap_or_default();
            assert_eq!(
                view_saved(&saved, KEYS),
                after,
                "step {step}: disk and memory differ"
            );
            // The write-ahead entries turn the previous disk into this one, one fold at most.
            let delta = saved.delta(&disk).expect("always expressible");
            let folds_logged = (delta.iter())
                .filter(|e| matches!(e, PaxosEntry::Fold { .. }))
                .count();
            assert!(folds_logged <= 1, "step {step}: {delta:?}");
            for e in delta {
                disk.apply(e);
            }
            assert_eq!(disk, saved, "step {step}: the delta replays");
            // Every idle promise is a fold candidate, and there are fewer than 3 of them.
            let idle = s.keys.values().filter(|i| i.idle_promise()).count();
            assert!(
                idle < 3 && s.idle.len() < 3,
                "step {step}: {idle} idle promises"
            );
            let rounds = s.keys.values().filter(|i| i.round.is_some()).count();
            assert_eq!(s.rounds as usize, rounds, "step {step}: the round count");
        }
        assert!(folds > 100, "folds raised the floor {folds} times");
    }

    #[test]
    fn absent_key_reads_leave_bounded_state_and_a_lagging_floor_catches_up() {
        // 3 servers folding every 64 idle promises; server 2 is down while 5,000 reads of keys
        // nobody wrote go through servers 0 and 1.
        const FOLD: usize = 64;
        let mut sim = Sim::new(3, FOLD, u32::MAX);
        sim.up[2] = false;
        for i in 0..5_000u64 {
            let replies = sim.ask((i % 2) as usize, 0, read(i, 1_000 + i));
            assert_eq!(replies.len(), 1);
            assert_eq!(code(&replies[0]), Some(20), "read {i}: {:?}", replies[0]);
        }
        for s in &sim.states[..2] {
            assert!(s.keys.len() < FOLD, "{} instances", s.keys.len());
            assert!(s.saved.acceptors.len() < FOLD);
            // About one round per fold, not one per read.
            assert!(s.floor.round > 10 && s.floor.round < 300, "{:?}", s.floor);
        }
        for i in 0..2 {
            let saved = sim.saved[i].clone().unwrap();
            assert!(saved.acceptors.len() < FOLD && saved.floor == sim.states[i].floor);
        }
        // Server 2 comes back with its floor at 0: its first ballot is far below the others'
        // floors. Their Nacks move it above them at once; the write is chosen.
        sim.up[2] = true;
        assert_eq!(sim.states[2].floor, Ballot::default());
        let replies = sim.ask(2, 1, write(1, 7, 70));
        assert_eq!(replies, vec![KvMsg::WriteOk { in_reply_to: 1 }]);
        let replies = sim.ask(0, 1, read(2, 7));
        assert_eq!(
            replies,
            vec![KvMsg::ReadOk {
                in_reply_to: 2,
                value: 70
            }]
        );
        // Without automatic restarts (no Nack handling) the same write is stuck.
        let mut stuck = Sim::new(3, FOLD, 0);
        stuck.up[2] = false;
        for i in 0..1_000u64 {
            stuck.ask((i % 2) as usize, 0, read(i, 1_000 + i));
        }
        stuck.up[2] = true;
        assert_eq!(stuck.ask(2, 1, write(1, 7, 70)), vec![]);
        // Restarts recover the floor and drop nothing that was accepted.
        sim.restart(0);
        assert_eq!(
            sim.states[0]
                .keys
                .get(&7)
                .and_then(|i| i.acceptor.accepted)
                .map(|p| p.1),
            Some(70)
        );
        assert!(sim.states[0].floor.round > 10);
    }

    #[test]
    fn waiters_and_rounds_are_bounded() {
        // Server 0 of 3, whose peers never answer: every round stays in progress.
        let mut sim = Sim::new(3, 0, 0);
        sim.up[1] = false;
        sim.up[2] = false;
        for c in 0..MAX_WAITERS {
            assert_eq!(sim.ask(0, c, read(1, 5)), vec![]);
        }
        let over = sim.ask(0, MAX_WAITERS, read(1, 5));
        assert_eq!(over.len(), 1);
        assert_eq!(code(&over[0]), Some(11));
        assert_eq!(
            sim.states[0].keys.get(&5).unwrap().waiting.len(),
            MAX_WAITERS
        );
        // A retry of a waiting request is recognised (not refused): it restarts the round.
        let ballot = sim.states[0]
            .keys
            .get(&5)
            .unwrap()
            .round
            .as_ref()
            .unwrap()
            .ballot;
        assert_eq!(sim.ask(0, 3, read(1, 5)), vec![]);
        let again = sim.states[0]
            .keys
            .get(&5)
            .unwrap()
            .round
            .as_ref()
            .unwrap()
            .ballot;
        assert!(again > ballot);
        // Rounds: MAX_ROUNDS keys in progress, then a new key is refused, an existing one joins.
        for k in 1..MAX_ROUNDS as u64 {
            assert_eq!(sim.ask(0, 0, read(2, 1_000 + k)), vec![]);
        }
        assert_eq!(sim.states[0].rounds, MAX_ROUNDS);
        let refused = sim.ask(0, 0, read(3, 99_999));
        assert_eq!(code(&refused[0]), Some(11));
        assert_eq!(sim.ask(0, 1, read(3, 1_001)), vec![]);
        assert_eq!(sim.states[0].keys.get(&1_001).unwrap().waiting.len(), 2);
    }

    #[test]
    fn the_retry_timer_restarts_a_stuck_round_with_backoff() {
        let a = server(0, 3, 0, u32::MAX);
        let mut out = Out::new();
        let mut state = Cow::Owned(a.on_start(Id::from(0), &None, &mut out));
        let timers = |out: PaxosOut| -> Vec<(PaxosTimer, std::ops::Range<Duration>)> {
            out.into_iter()
                .filter_map(|c| match c {
                    Command::SetTimer(t, r) => Some((t, r)),
                    _ => None,
                })
                .collect()
        };
        let ms = Duration::from_millis;
        let mut out = Out::new();
        a.on_msg(
            Id::from(0),
            &mut state,
            Id::from(CLIENT),
            write(1, 4, 40),
            &mut out,
        );
        assert_eq!(timers(out), vec![(PaxosTimer::Retry(4), ms(100)..ms(200))]);
        // Each firing restarts phase 1 with a higher ballot and doubles the range, up to 800 ms.
        let mut last = Ballot::default();
        for want in [200, 400, 800, 800] {
            let mut out = Out::new();
            a.on_timeout(Id::from(0), &mut state, &PaxosTimer::Retry(4), &mut out);
            let round = state.keys.get(&4).unwrap().round.clone().unwrap();
            assert!(round.ballot > last && round.own == Some(40));
            last = round.ballot;
            let prepares = out
                .iter()
                .filter(|c| {
                    matches!(
                        c,
                        Command::Send(_, KvMsg::Internal(PaxosMsg::Prepare { .. }))
                    )
                })
                .count();
            assert_eq!(prepares, 2);
            assert_eq!(
                timers(out),
                vec![(PaxosTimer::Retry(4), ms(want)..ms(2 * want))]
            );
        }
        // A fresh request brings the timer back to its first range, once per firing.
        let mut out = Out::new();
        a.on_msg(
            Id::from(0),
            &mut state,
            Id::from(CLIENT + 1),
            read(1, 4),
            &mut out,
        );
        assert_eq!(timers(out), vec![(PaxosTimer::Retry(4), ms(100)..ms(200))]);
        let mut out = Out::new();
        a.on_msg(
            Id::from(0),
            &mut state,
            Id::from(CLIENT + 2),
            read(1, 4),
            &mut out,
        );
        assert_eq!(timers(out), vec![]);
        // The decision cancels the timer; a late firing does nothing.
        let mut out = Out::new();
        let decided = KvMsg::Internal(PaxosMsg::Decided { key: 4, value: 40 });
        a.on_msg(Id::from(0), &mut state, Id::from(1), decided, &mut out);
        assert!(out
            .iter()
            .any(|c| matches!(c, Command::CancelTimer(PaxosTimer::Retry(4)))));
        assert_eq!(state.rounds, 0);
        let mut out = Out::new();
        let before = state.clone().into_owned();
        a.on_timeout(Id::from(0), &mut state, &PaxosTimer::Retry(4), &mut out);
        assert!(out.is_empty() && *state == before);
    }

    #[test]
    fn a_stuck_round_completes_after_the_timer_fires() {
        // Server 0's Prepare to both peers is lost; the timer's restart gets the write chosen.
        let mut sim = Sim::new(3, 0, u32::MAX);
        sim.deliver(Id::from(CLIENT), Id::from(0), write(1, 9, 90));
        sim.queue.clear();
        assert!(sim.replies.is_empty());
        sim.fire(0, PaxosTimer::Retry(9));
        sim.run();
        assert_eq!(
            sim.replies,
            vec![(Id::from(CLIENT), KvMsg::WriteOk { in_reply_to: 1 })]
        );
        assert!(sim.timers[0].is_empty(), "the decision cancelled the timer");
    }

    #[test]
    fn storage_deltas_name_removals_and_the_floor() {
        // Small maps (a full diff) here; large ones (the journal) in the folding test above.
        let small = |pairs: &[(Key, u32)], floor: u32| PaxosStorage {
            floor: Ballot {
                round: floor,
                server: 0,
            },
            acceptors: Arc::new(
                pairs
                    .iter()
                    .map(|&(k, r)| {
                        (
                            k,
                            Acceptor {
                                promised: Ballot {
                                    round: r,
                                    server: 1,
                                },
                                accepted: None,
                            },
                        )
                    })
                    .collect(),
            ),
        };
        let a = small(&[(1, 1), (2, 2), (3, 3)], 0);
        let b = small(&[(2, 2), (3, 4), (5, 5)], 2);
        let d = b.delta(&a).unwrap();
        let fold = PaxosEntry::Fold {
            floor: Ballot {
                round: 2,
                server: 0,
            },
            removed: vec![1],
        };
        assert_eq!(d[0], fold);
        assert_eq!(d.len(), 3, "{d:?}");
        let mut c = a.clone();
        d.into_iter().for_each(|e| c.apply(e));
        assert_eq!(c, b);
        assert_eq!(b.delta(&b.clone()), Some(vec![]));
        // Postcard round trip of the storage and of an entry.
        let bytes = postcard::to_stdvec(&b).unwrap();
        assert_eq!(postcard::from_bytes::<PaxosStorage>(&bytes).unwrap(), b);
        let e = fold;
        assert_eq!(
            postcard::from_bytes::<PaxosEntry>(&postcard::to_stdvec(&e).unwrap()).unwrap(),
            e
        );
    }
}
