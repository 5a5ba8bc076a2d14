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

use crate::checked::{canonical_clients, servers_only_crash, Checked, KvModel, KvSystemState};
use crate::kv::{
    record_invocations, record_returns, ClientPerm, ErrorCode, History, Key, KeyMap, KvActor,
    KvClient, KvConfig, KvMsg, KvState, MsgId, Permute, Step, Value,
};
use crate::protocol::{
    always, sometimes, BugInfo, Descriptor, KeySemantics, Need, Param, Pinned, Protocol, Refine,
    Serve, Settings, ALL_NETWORKS,
};
use crate::system::System;
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
}

impl fmt::Debug for PaxosMsg {
    /// Paper style: `Prepare(k0, b1.0)`, `Promise(k0, b1.0, accepted 1@b1.0)`, `Accept(k0, b1.0, 1)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            | PaxosMsg::Accepted { key, .. } => Some(key),
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

/// What a server saves: its acceptor state per key (shared, so that the checker's state clones
/// do not copy it).
pub type PaxosStorage = Arc<KeyMap<Acceptor>>;

/// A proposer's phase in the round it leads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Round {
    pub ballot: Ballot,
    /// The value of the first client write waiting on this round, if any.
    pub own: Option<Value>,
    pub phase: Phase,
}

/// A client request waiting for its instance to decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Waiter {
    pub client: Id,
    pub msg_id: MsgId,
    /// `Some(v)` for a write of `v`, `None` for a read.
    pub write: Option<Value>,
}

/// One key's single-decree instance at one server.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instance {
    pub acceptor: Acceptor,
    pub decided: Option<Value>,
    pub round: Option<Round>,
    pub waiting: smallvec::SmallVec<[Waiter; 2]>,
}

impl fmt::Debug for Instance {
    /// `promised b2.1 accepted 1@b1.0 decided 1 round b2.1 ... waiting [write 1 #1 of 3]`, where
    /// `of 3` names the client's actor id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "promised {:?}", self.acceptor.promised)?;
        if let Some((b, v)) = self.acceptor.accepted {
            write!(f, " accepted {v}@{b:?}")?;
        }
        if let Some(v) = self.decided {
            write!(f, " decided {v}")?;
        }
        if let Some(r) = &self.round {
            write!(f, " round {:?}", r.ballot)?;
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

/// A Paxos server's state: an instance per key it has heard of.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PaxosState {
    pub keys: KeyMap<Instance>,
    /// What this server last saved: each key's acceptor as it went to disk. Kept here so that a
    /// save updates one key (a server on the network holds many) instead of rebuilding the map.
    pub saved: PaxosStorage,
}

impl fmt::Debug for PaxosState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

    /// Saves `key`'s acceptor (the only part of the state that must survive a crash).
    fn save(&self, state: &mut PaxosState, key: Key, o: &mut PaxosOut) {
        let mut a = state.keys.get(&key).map(|i| i.acceptor).unwrap_or_default();
        if self.bug == Some(PaxosBug::VolatilePromise) {
            // Only the accepted proposal reaches the disk.
            a.promised = a.accepted.map(|(b, _)| b).unwrap_or_default();
        }
        *Arc::make_mut(&mut state.saved).entry_or_default(key) = a;
        o.save(state.saved.clone());
    }

    /// Starts a round for `key` with the next ballot above everything this server promised.
    fn start_round(&self, state: &mut PaxosState, key: Key, own: Option<Value>, o: &mut PaxosOut) {
        let inst = state.keys.entry_or_default(key);
        let ballot = Ballot {
            round: inst.acceptor.promised.round + 1,
            server: self.index as u8,
        };
        debug_assert!(ballot > inst.acceptor.promised);
        inst.acceptor.promised = ballot; // the proposer's own promise
        inst.round = Some(Round {
            ballot,
            own,
            phase: Phase::Preparing {
                promises: self.me(),
                highest: inst.acceptor.accepted,
            },
        });
        self.save(state, key, o);
        self.broadcast(PaxosMsg::Prepare { key, ballot }, o);
        self.after_promise(state, key, o);
    }

    /// Moves to phase 2 once a quorum has promised.
    fn after_promise(&self, state: &mut PaxosState, key: Key, o: &mut PaxosOut) {
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
                return;
            }
        };
        let mut accepts = 0;
        if inst.acceptor.promised <= ballot {
            inst.acceptor.promised = ballot;
            inst.acceptor.accepted = Some((ballot, value));
            accepts = self.me();
        }
        inst.round = Some(Round {
            ballot,
            own: round.own,
            phase: Phase::Accepting { value, accepts },
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
            self.learn(inst, value, o);
        }
    }

    /// Learns the decided value and answers every waiting client.
    fn learn(&self, inst: &mut Instance, value: Value, o: &mut PaxosOut) {
        inst.decided = Some(value);
        inst.round = None;
        for w in std::mem::take(&mut inst.waiting) {
            o.send(w.client, reply(w, value));
        }
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
        },
    }
}

impl Actor for PaxosServer {
    type Msg = KvMsg<PaxosMsg>;
    type State = PaxosState;
    type Timer = ();
    type Random = ();
    type Storage = PaxosStorage;

    fn name(&self) -> String {
        format!("server {}", self.index)
    }

    fn on_start(
        &self,
        _id: Id,
        storage: &Option<Self::Storage>,
        _o: &mut Out<Self>,
    ) -> Self::State {
        let keys = storage
            .iter()
            .flat_map(|s| s.iter())
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
        PaxosState {
            keys,
            saved: storage.clone().unwrap_or_default(),
        }
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
        if let Some(inst) = inst.filter(|i| i.waiting.contains(&waiter)) {
            // A retry of a request already waiting: its round may be stuck, so start another.
            if inst.acceptor.promised.round <= self.retry_rounds {
                let own = inst.round.as_ref().and_then(|r| r.own).or(write);
                self.start_round(state.to_mut(), key, own, o);
            }
            return;
        }
        let state = state.to_mut();
        let inst = state.keys.entry_or_default(key);
        inst.waiting.push(waiter);
        match &mut inst.round {
            None => self.start_round(state, key, write, o),
            Some(round) => {
                if round.own.is_none() {
                    round.own = write;
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
                let current = state.keys.get(&key).map(|i| i.acceptor).unwrap_or_default();
                if ballot > current.promised {
                    let state = state.to_mut();
                    state.keys.entry_or_default(key).acceptor.promised = ballot;
                    self.save(state, key, o);
                    let accepted = current.accepted;
                    o.send(
                        src,
                        KvMsg::Internal(PaxosMsg::Promise {
                            key,
                            ballot,
                            accepted,
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
                let state = state.to_mut();
                let inst = state.keys.get_mut(&key).expect("checked above");
                let round = inst.round.as_mut().expect("checked above");
                round.phase = Phase::Preparing {
                    promises: promises | bit,
                    highest: highest.max(accepted),
                };
                self.after_promise(state, key, o);
            }
            PaxosMsg::Accept { key, ballot, value } => {
                let current = state.keys.get(&key).map(|i| i.acceptor).unwrap_or_default();
                let allowed =
                    ballot >= current.promised || self.bug == Some(PaxosBug::AcceptLowerBallot);
                if allowed && current.accepted != Some((ballot, value)) {
                    let state = state.to_mut();
                    let acceptor = &mut state.keys.entry_or_default(key).acceptor;
                    acceptor.promised = acceptor.promised.max(ballot);
                    acceptor.accepted = Some((ballot, value));
                    self.save(state, key, o);
                    o.send(src, KvMsg::Internal(PaxosMsg::Accepted { key, ballot }));
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
                let state = state.to_mut();
                let inst = state.keys.get_mut(&key).expect("checked above");
                inst.round.as_mut().expect("checked above").phase = Phase::Accepting {
                    value,
                    accepts: accepts | bit,
                };
                self.after_accept(state, key, o);
            }
            PaxosMsg::Decided { key, value } => {
                if state.keys.get(&key).is_some_and(|i| i.decided.is_some()) {
                    return;
                }
                let state = state.to_mut();
                let inst = state.keys.entry_or_default(key);
                self.learn(inst, value, o);
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
        Arc::new(self.iter().map(|(k, a)| (*k, a.permute(p))).collect())
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
            })
        }))
        .actors((0..cfg.clients).map(|index| {
            KvActor::Client(KvClient {
                index,
                servers: servers.clone(),
                script: cfg.script.steps(),
                rotate: true,
            })
        }))
        .network(cfg.network)
        .max_crashes(cfg.crashes)
        .property(Expectation::Always, "agreement", agreement)
        .property(Expectation::Always, "validity", validity)
        .property(Expectation::Always, "linearizable", linearizable)
        .property(Expectation::Sometimes, "value chosen", value_chosen)
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
            },
        ],
        properties: &[
            always("agreement"),
            always("validity"),
            always("linearizable"),
            sometimes("value chosen"),
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
    }
}

impl Serve for Paxos {
    type Internal = PaxosMsg;
    type Server = PaxosServer;
    type Storage = PaxosStorage;
    const KEYS: KeySemantics = KeySemantics::WriteOnce;

    /// On the network a retried request may always restart a stuck round, and decided servers
    /// tell laggards by default (see [`PaxosServer::retry_rounds`]).
    fn server(s: &Settings, index: usize, servers: Vec<Id>) -> PaxosServer {
        PaxosServer {
            index,
            servers,
            bug: s.bug_of(&PaxosBug::ALL),
            retry_rounds: u32::MAX,
            tell_laggards: s.flag("tell-laggards"),
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
