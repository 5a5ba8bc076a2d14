//! # Paxos: the Paxos consensus algorithm
//!
//! Mirrors `specifications/PaxosHowToWinATuringAward/Paxos.tla` of tlaplus/Examples (Lamport,
//! *How to Win a Turing Award*), as TLC checks it with `MCPaxos.tla` and `MCPaxosTiny.cfg`:
//! `Acceptor = {a1, a2, a3}`, `Value = {v1, v2}`, `Quorum = {{a1, a2}, {a1, a3}, {a2, a3}}`,
//! `MaxBallot = 1` (`Ballot` overridden to `0..MaxBallot`, here and in the instantiated
//! Voting); invariant `Inv`, property `V!Spec`. (`MCPaxosSmall.cfg` is `MaxBallot = 2`.)
//!
//! Paxos implements [`crate::voting`] with messages. The leader of ballot `b` sends a 1a
//! message; an acceptor with `maxBal < b` answers with a 1b message reporting its latest vote
//! (`maxVBal`, `maxVal`) and so promises not to vote below `b` (that is Voting's
//! `IncreaseMaxBal`). Once a quorum's 1b messages for `b` are in, the leader sends one 2a
//! message for `b`, with the value of the highest vote they report, or any value if they report
//! none: this is exactly Voting's `ShowsSafeAt`. An acceptor with `maxBal <= b` votes by
//! sending a 2b message (Voting's `VoteFor`). Messages are a set that only grows.
//!
//! ```text
//! VARIABLES maxBal,   \* as in Voting
//!           maxVBal,  \* <<maxVBal[a], maxVal[a]>> is a's highest vote, <<-1, None>> if none
//!           maxVal,
//!           msgs      \* every message sent: 1a(bal), 1b(acc, bal, mbal, mval),
//!                     \*   2a(bal, val), 2b(acc, bal, val)
//!   votes == [a \in Acceptor |-> {<<m.bal, m.val>> : m a 2b message from a}]
//!   TypeOK, and Inv == TypeOK /\ maxBal[a] >= maxVBal[a]
//!                      /\ <<maxVBal[a], maxVal[a]>> \in votes[a] (or <<-1, None>>)
//!                      /\ a 1b message tells the truth about its sender's votes
//!                      /\ a 2a message has V!ShowsSafeAt for some quorum, one per ballot
//!                      /\ a 2b message follows a 2a message of its ballot and value
//!   V!Inv, V!VotesSafe, V!OneValuePerBallot   Voting's invariants, of maxBal and votes
//!   V!C!Inv == Cardinality(V!chosen) <= 1
//!
//! Phase1a(b)    == send [type |-> "1a", bal |-> b]
//! Phase1b(a)    == \E m \in msgs : m.type = "1a" /\ m.bal > maxBal[a]
//!                  /\ maxBal'[a] = m.bal /\ send 1b(a, m.bal, maxVBal[a], maxVal[a])
//! Phase2a(b, v) == no 2a message for b yet
//!                  /\ \E Q \in Quorum : 1b messages for b from all of Q, and the one among
//!                     them with the highest mbal >= 0 (if any) has mval = v
//!                  /\ send [type |-> "2a", bal |-> b, val |-> v]
//! Phase2b(a)    == \E m \in msgs : m.type = "2a" /\ m.bal >= maxBal[a]
//!                  /\ maxBal'[a] = maxVBal'[a] = m.bal /\ maxVal'[a] = m.val
//!                  /\ send 2b(a, m.bal, m.val)
//! ```
//!
//! `Phase1b(a)` and `Phase2b(a)` pick a message `m`; the action prints it:
//! `Phase1b(a1) \* m = [type |-> "1a", bal |-> 0]`. `V!Spec` (refinement of Voting) is checked
//! by the crate's tests, which map every step onto a Voting step or a stutter.
//!
//! **Counts.** TLC: 3,921 distinct states, depth 17, for `MCPaxosTiny` (the manifest).
//!
//! **Symmetry.** Acceptors and values are interchangeable; ballots are not. Every message that
//! names an acceptor is filed under that acceptor (`msgs.m1b[a]`, `msgs.m2b[a]`), so an
//! acceptor is the tuple (`maxBal[a]`, `maxVBal[a]`, `maxVal[a]`, its 1b messages, its 2b
//! messages) and refers to no other acceptor: for a fixed naming of the values, sorting the
//! tuples is exact. [`Paxos::canonical`] takes the least such form over every permutation of
//! `Value`, a function of the orbit.
//!
//! **Bugs.** [`PaxosBug::Phase2aIgnoresVotes`] lets the leader propose any value once it has a
//! quorum of 1b messages; [`PaxosBug::Phase2aWithoutPhase1b`] does not wait for them at all;
//! [`PaxosBug::QuorumsDoNotIntersect`] breaks the ASSUME. Each lets two values be chosen.

use crate::consensus::ValueSet;
use crate::util::{
    majorities, minorities, permutations, Acceptor, Ballot, ByAcceptor, PairSet, Value,
    MAX_ACCEPTORS, MAX_VALUES,
};
use crate::voting::{Voting, VotingBug, VotingConfig, VotingState};
use crate::ConfigError;
use stateright::{Model, Property};
use std::fmt;

/// The largest `MaxBallot` a Paxos model accepts (1b messages are packed into a `u128`).
pub const MAX_PAXOS_BALLOT: usize = 4;

/// `Value \cup {None}`, the type of `maxVal[a]` and of a 1b message's `mval`.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ValueOrNone(pub Option<Value>);

impl ValueOrNone {
    fn code(self) -> u32 {
        self.0.map_or(0, |v| v.0 as u32 + 1)
    }

    fn from_code(code: u32) -> Self {
        ValueOrNone(code.checked_sub(1).map(|v| Value(v as u8)))
    }

    fn permuted(self, perm: &[u8]) -> Self {
        ValueOrNone(self.0.map(|v| Value(perm[v.0 as usize])))
    }
}

impl fmt::Debug for ValueOrNone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("None"),
            Some(v) => write!(f, "{v:?}"),
        }
    }
}

/// A set of ballots: the `bal` fields of the 1a messages.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct BallotSet(pub u16);

impl BallotSet {
    /// `b \in S`.
    pub fn contains(&self, b: Ballot) -> bool {
        self.0 & (1 << b) != 0
    }

    /// `S \cup {b}`.
    pub fn insert(&mut self, b: Ballot) {
        self.0 |= 1 << b;
    }

    /// The ballots in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = Ballot> {
        let bits = self.0;
        (0..16).filter(move |b| bits & (1 << b) != 0)
    }
}

/// The 1b messages of one acceptor, as a set of (`bal`, `mbal`, `mval`), one bit each.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct OneBSet(pub u128);

impl OneBSet {
    const MBAL_STRIDE: u32 = MAX_VALUES as u32 + 1;
    const BAL_STRIDE: u32 = (MAX_PAXOS_BALLOT as u32 + 2) * Self::MBAL_STRIDE;

    fn bit(bal: Ballot, mbal: Ballot, mval: ValueOrNone) -> u128 {
        debug_assert!((0..=MAX_PAXOS_BALLOT as Ballot).contains(&bal));
        debug_assert!((-1..=MAX_PAXOS_BALLOT as Ballot).contains(&mbal));
        let index =
            bal as u32 * Self::BAL_STRIDE + (mbal + 1) as u32 * Self::MBAL_STRIDE + mval.code();
        1 << index
    }

    /// `[type |-> "1b", acc |-> a, bal |-> bal, mbal |-> mbal, mval |-> mval] \in msgs`.
    pub fn contains(&self, bal: Ballot, mbal: Ballot, mval: ValueOrNone) -> bool {
        self.0 & Self::bit(bal, mbal, mval) != 0
    }

    /// Adds a 1b message.
    pub fn insert(&mut self, bal: Ballot, mbal: Ballot, mval: ValueOrNone) {
        self.0 |= Self::bit(bal, mbal, mval);
    }

    /// The messages as (`bal`, `mbal`, `mval`), in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = (Ballot, Ballot, ValueOrNone)> {
        let bits = self.0;
        (0..128u32).filter(move |i| bits & (1 << i) != 0).map(|i| {
            (
                (i / Self::BAL_STRIDE) as Ballot,
                ((i % Self::BAL_STRIDE) / Self::MBAL_STRIDE) as Ballot - 1,
                ValueOrNone::from_code(i % Self::MBAL_STRIDE),
            )
        })
    }

    /// The set with every value renamed: value `v` becomes `perm[v]`.
    pub fn permuted_values(&self, perm: &[u8]) -> Self {
        let mut out = OneBSet(0);
        for (bal, mbal, mval) in self.iter() {
            out.insert(bal, mbal, mval.permuted(perm));
        }
        out
    }
}

/// The variable `msgs`, filed by type, and the 1b and 2b messages by sender.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PaxosMsgs {
    /// `{m.bal : m \in msgs /\ m.type = "1a"}`.
    pub m1a: BallotSet,
    /// `m1b[a]`: the 1b messages with `acc = a`.
    pub m1b: ByAcceptor<OneBSet>,
    /// `{<<m.bal, m.val>> : m \in msgs /\ m.type = "2a"}`.
    pub m2a: PairSet,
    /// `m2b[a]`: `{<<m.bal, m.val>>}` of the 2b messages with `acc = a`; this is `votes[a]`.
    pub m2b: ByAcceptor<PairSet>,
}

impl fmt::Debug for PaxosMsgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        for b in self.m1a.iter() {
            items.push(format!("[type |-> \"1a\", bal |-> {b}]"));
        }
        for (a, ms) in self.m1b.iter() {
            for (bal, mbal, mval) in ms.iter() {
                items.push(format!(
                    "[type |-> \"1b\", acc |-> {a:?}, bal |-> {bal}, mbal |-> {mbal}, \
                     mval |-> {mval:?}]"
                ));
            }
        }
        for (b, v) in self.m2a.iter() {
            items.push(format!("[type |-> \"2a\", bal |-> {b}, val |-> {v:?}]"));
        }
        for (a, ms) in self.m2b.iter() {
            for (b, v) in ms.iter() {
                items.push(format!(
                    "[type |-> \"2b\", acc |-> {a:?}, bal |-> {b}, val |-> {v:?}]"
                ));
            }
        }
        write!(f, "{{{}}}", items.join(", "))
    }
}

/// A Paxos state: the four variables of Paxos.tla.
#[allow(non_snake_case)]
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PaxosState {
    pub maxBal: ByAcceptor<Ballot>,
    pub maxVBal: ByAcceptor<Ballot>,
    pub maxVal: ByAcceptor<ValueOrNone>,
    pub msgs: PaxosMsgs,
}

impl PaxosState {
    /// `votes`, as Paxos.tla defines it from the 2b messages.
    pub fn votes(&self) -> ByAcceptor<PairSet> {
        self.msgs.m2b
    }

    /// The state of the Voting instance `V`: `votes` and `maxBal`.
    pub fn voting_state(&self) -> VotingState {
        VotingState {
            votes: self.votes(),
            maxBal: self.maxBal,
        }
    }

    /// The state with acceptor `a` renamed `acceptor_perm[a]` and value `v` renamed
    /// `value_perm[v]`.
    pub fn permuted(&self, acceptor_perm: &[u8], value_perm: &[u8]) -> Self {
        PaxosState {
            maxBal: self.maxBal.permuted(acceptor_perm),
            maxVBal: self.maxVBal.permuted(acceptor_perm),
            maxVal: self
                .maxVal
                .map(|v| v.permuted(value_perm))
                .permuted(acceptor_perm),
            msgs: PaxosMsgs {
                m1a: self.msgs.m1a,
                m1b: self
                    .msgs
                    .m1b
                    .map(|s| s.permuted_values(value_perm))
                    .permuted(acceptor_perm),
                m2a: self.msgs.m2a.permuted_values(value_perm),
                m2b: self
                    .msgs
                    .m2b
                    .map(|s| s.permuted_values(value_perm))
                    .permuted(acceptor_perm),
            },
        }
    }
}

impl fmt::Debug for PaxosState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaxosState")
            .field("maxBal", &self.maxBal)
            .field("maxVBal", &self.maxVBal)
            .field("maxVal", &self.maxVal)
            .field("msgs", &self.msgs)
            .finish()
    }
}

/// The actions of `Next`, with their witnesses (`b`, `v`, and the message `m` received).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaxosAction {
    /// `Phase1a(b)`.
    Phase1a(Ballot),
    /// `Phase2a(b, v)`.
    Phase2a(Ballot, Value),
    /// `Phase1b(a)` receiving `[type |-> "1a", bal |-> b]`.
    Phase1b(Acceptor, Ballot),
    /// `Phase2b(a)` receiving `[type |-> "2a", bal |-> b, val |-> v]`.
    Phase2b(Acceptor, Ballot, Value),
}

impl fmt::Debug for PaxosAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaxosAction::Phase1a(b) => write!(f, "Phase1a({b})"),
            PaxosAction::Phase2a(b, v) => write!(f, "Phase2a({b}, {v:?})"),
            PaxosAction::Phase1b(a, b) => {
                write!(f, "Phase1b({a:?}) \\* m = [type |-> \"1a\", bal |-> {b}]")
            }
            PaxosAction::Phase2b(a, b, v) => write!(
                f,
                "Phase2b({a:?}) \\* m = [type |-> \"2a\", bal |-> {b}, val |-> {v:?}]"
            ),
        }
    }
}

/// A deliberately broken Paxos, to show that the checker catches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaxosBug {
    /// `Phase2a(b, v)` keeps "1b messages for b from a quorum" but drops the condition on
    /// their reported votes: the leader proposes its own value even when an earlier value may
    /// have been chosen, the classic mistake Paxos' phase 1 exists to prevent.
    Phase2aIgnoresVotes,
    /// `Phase2a(b, v)` drops the whole `\E Q \in Quorum` conjunct: no phase 1 at all.
    Phase2aWithoutPhase1b,
    /// Quorums of `n / 2` acceptors, two of which are disjoint (Paxos.tla notes that Voting,
    /// and Paxos, do not satisfy consensus without the intersection ASSUME).
    QuorumsDoNotIntersect,
}

/// The constants of a Paxos model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PaxosConfig {
    /// `Cardinality(Acceptor)`: 3 in `MCPaxos.tla`.
    pub acceptors: usize,
    /// `Cardinality(Value)`: 2 in `MCPaxos.tla`.
    pub values: usize,
    /// `MaxBallot`, with `Ballot == 0..MaxBallot`: 1 in `MCPaxosTiny.cfg`, 2 in
    /// `MCPaxosSmall.cfg`.
    pub max_ballot: usize,
    /// Return canonical states (see [`Paxos::canonical`]): one state per orbit.
    pub symmetric: bool,
    /// A deliberately broken variant, or `None` for the spec itself.
    pub bug: Option<PaxosBug>,
}

impl Default for PaxosConfig {
    /// `MCPaxosTiny`.
    fn default() -> Self {
        PaxosConfig {
            acceptors: 3,
            values: 2,
            max_ballot: 1,
            symmetric: false,
            bug: None,
        }
    }
}

/// The Paxos spec as a stateright [`Model`].
#[derive(Clone, Debug)]
pub struct Paxos {
    config: PaxosConfig,
    /// `Quorum`, each quorum a bitset of acceptors.
    quorums: Vec<u32>,
    /// `V == INSTANCE Voting`, with the same constants.
    v: Voting,
    /// Every permutation of `Value`, for the canonical form.
    value_perms: Vec<Vec<u8>>,
}

fn members(q: u32) -> impl Iterator<Item = Acceptor> {
    (0..MAX_ACCEPTORS as u8)
        .filter(move |a| q & (1 << a) != 0)
        .map(Acceptor)
}

impl Paxos {
    /// Builds the model; fails if a constant is outside the supported range.
    pub fn new(config: PaxosConfig) -> Result<Self, ConfigError> {
        let disjoint = config.bug == Some(PaxosBug::QuorumsDoNotIntersect);
        let min_acceptors = if disjoint { 2 } else { 1 };
        ConfigError::check_range("acceptors", config.acceptors, min_acceptors, MAX_ACCEPTORS)?;
        ConfigError::check_range("values", config.values, 1, MAX_VALUES)?;
        ConfigError::check_range("max_ballot", config.max_ballot, 0, MAX_PAXOS_BALLOT)?;
        let quorums = if disjoint {
            minorities(config.acceptors)
        } else {
            majorities(config.acceptors)
        };
        let v = Voting::new(VotingConfig {
            acceptors: config.acceptors,
            values: config.values,
            max_ballot: config.max_ballot,
            symmetric: false,
            bug: disjoint.then_some(VotingBug::QuorumsDoNotIntersect),
        })?;
        debug_assert_eq!(v.quorums(), &quorums[..]);
        let value_perms = permutations(config.values);
        Ok(Paxos {
            config,
            quorums,
            v,
            value_perms,
        })
    }

    /// The constants this model was built with.
    pub fn config(&self) -> &PaxosConfig {
        &self.config
    }

    /// `V`: the Voting model with the same constants, whose operators define `V!Inv` etc.
    pub fn voting(&self) -> &Voting {
        &self.v
    }

    fn acceptors(&self) -> impl Iterator<Item = Acceptor> {
        (0..self.config.acceptors as u8).map(Acceptor)
    }

    fn ballots(&self) -> impl Iterator<Item = Ballot> {
        0..=self.config.max_ballot as Ballot
    }

    fn values(&self) -> impl Iterator<Item = Value> {
        (0..self.config.values as u8).map(Value)
    }

    /// The second conjunct of `Phase2a(b, v)` for one quorum `Q`:
    /// ```text
    /// LET Q1b  == {m \in msgs : m.type = "1b" /\ m.acc \in Q /\ m.bal = b}
    ///     Q1bv == {m \in Q1b : m.mbal >= 0}
    /// IN  /\ \A a \in Q : \E m \in Q1b : m.acc = a
    ///     /\ \/ Q1bv = {}
    ///        \/ \E m \in Q1bv : m.mval = v /\ \A mm \in Q1bv : m.mbal >= mm.mbal
    /// ```
    fn phase2a_quorum_ok(&self, s: &PaxosState, q: u32, b: Ballot, v: Value) -> bool {
        let q1b = || {
            members(q).flat_map(move |a| {
                s.msgs
                    .m1b
                    .get(a)
                    .iter()
                    .filter(move |&(bal, _, _)| bal == b)
            })
        };
        let q1bv = || q1b().filter(|&(_, mbal, _)| mbal >= 0);
        let every_member_answered =
            members(q).all(|a| s.msgs.m1b.get(a).iter().any(|(bal, _, _)| bal == b));
        let ignores_votes = self.config.bug == Some(PaxosBug::Phase2aIgnoresVotes);
        every_member_answered
            && (ignores_votes
                || q1bv().next().is_none()
                || q1bv().any(|(_, mbal, mval)| {
                    mval == ValueOrNone(Some(v)) && q1bv().all(|(_, mm_bal, _)| mbal >= mm_bal)
                }))
    }

    /// `TypeOK`: every variable within its type, messages within `Message`.
    pub fn type_ok(&self, s: &PaxosState) -> bool {
        let n = self.config.acceptors;
        let max_ballot = self.config.max_ballot as Ballot;
        let bal_ok = |b: Ballot| (-1..=max_ballot).contains(&b);
        let values = self.config.values;
        let val_ok = |v: ValueOrNone| !matches!(v.0, Some(v) if v.0 as usize >= values);
        let pair_ok =
            |(b, v): (Ballot, Value)| b <= max_ballot && (v.0 as usize) < self.config.values;
        s.maxBal.len() == n
            && s.maxVBal.len() == n
            && s.maxVal.len() == n
            && s.msgs.m1b.len() == n
            && s.msgs.m2b.len() == n
            && s.maxBal.values().iter().all(|&b| bal_ok(b))
            && s.maxVBal.values().iter().all(|&b| bal_ok(b))
            && s.maxVal.values().iter().all(|&v| val_ok(v))
            && s.msgs.m1a.iter().all(|b| b <= max_ballot)
            && s.msgs.m1b.values().iter().all(|ms| {
                ms.iter()
                    .all(|(bal, mbal, mval)| bal <= max_ballot && bal_ok(mbal) && val_ok(mval))
            })
            && s.msgs.m2a.iter().all(pair_ok)
            && s.msgs.m2b.values().iter().all(|ms| ms.iter().all(pair_ok))
    }

    /// Paxos.tla's `Inv`.
    pub fn inv(&self, s: &PaxosState) -> bool {
        let votes = s.votes();
        let vs = s.voting_state();
        self.type_ok(s)
            && self.acceptors().all(|a| {
                s.maxBal.get(a) >= s.maxVBal.get(a)
                    && match (s.maxVBal.get(a), s.maxVal.get(a).0) {
                        (-1, mval) => mval.is_none(),
                        (mbal, Some(v)) => votes.get(a).contains(mbal, v),
                        (_, None) => false,
                    }
            })
            // \A m \in msgs : (m.type = "1b") => ...
            && self.acceptors().all(|a| {
                s.msgs.m1b.get(a).iter().all(|(bal, mbal, mval)| {
                    s.maxBal.get(a) >= bal
                        && (mbal < 0 || mval.0.is_some_and(|v| votes.get(a).contains(mbal, v)))
                })
            })
            // (m.type = "2a") => /\ \E Q \in Quorum : V!ShowsSafeAt(Q, m.bal, m.val)
            //                    /\ \A mm 2a : mm.bal = m.bal => mm.val = m.val
            && s.msgs.m2a.iter().all(|(b, v)| {
                self.quorums.iter().any(|&q| Voting::shows_safe_at(&vs, q, b, v))
                    && s.msgs.m2a.iter().all(|(bb, vv)| bb != b || vv == v)
            })
            // (m.type = "2b") => /\ maxVBal[m.acc] >= m.bal
            //                    /\ \E mm 2a : mm.bal = m.bal /\ mm.val = m.val
            && self.acceptors().all(|a| {
                s.msgs.m2b.get(a).iter().all(|(b, v)| {
                    s.maxVBal.get(a) >= b && s.msgs.m2a.contains(b, v)
                })
            })
    }

    /// `V!chosen`.
    pub fn chosen(&self, s: &PaxosState) -> ValueSet {
        self.v.chosen(&s.voting_state())
    }

    /// The canonical member of the state's orbit under permutations of `Acceptor` and of
    /// `Value`: the least (by the derived order), over every value permutation, of the state
    /// with its acceptors sorted by their whole tuple (see the module doc).
    pub fn canonical(&self, s: &PaxosState) -> PaxosState {
        type Row = (Ballot, Ballot, ValueOrNone, OneBSet, PairSet);
        let n = self.config.acceptors;
        let mut best: Option<PaxosState> = None;
        for perm in &self.value_perms {
            let mut rows: Vec<Row> = (0..n)
                .map(|i| {
                    let a = Acceptor(i as u8);
                    (
                        s.maxBal.get(a),
                        s.maxVBal.get(a),
                        s.maxVal.get(a).permuted(perm),
                        s.msgs.m1b.get(a).permuted_values(perm),
                        s.msgs.m2b.get(a).permuted_values(perm),
                    )
                })
                .collect();
            rows.sort_unstable();
            let mut candidate = *s;
            candidate.msgs.m2a = s.msgs.m2a.permuted_values(perm);
            for (i, (max_bal, max_vbal, max_val, m1b, m2b)) in rows.into_iter().enumerate() {
                let a = Acceptor(i as u8);
                candidate.maxBal.set(a, max_bal);
                candidate.maxVBal.set(a, max_vbal);
                candidate.maxVal.set(a, max_val);
                candidate.msgs.m1b.set(a, m1b);
                candidate.msgs.m2b.set(a, m2b);
            }
            best = match best {
                Some(b) if b <= candidate => Some(b),
                _ => Some(candidate),
            };
        }
        best.expect("Value is not empty")
    }

    fn finish(&self, state: PaxosState) -> PaxosState {
        if self.config.symmetric {
            self.canonical(&state)
        } else {
            state
        }
    }
}

impl Model for Paxos {
    type State = PaxosState;
    type Action = PaxosAction;

    /// `Init`.
    fn init_states(&self) -> Vec<PaxosState> {
        let n = self.config.acceptors;
        vec![self.finish(PaxosState {
            maxBal: ByAcceptor::constant(n, -1),
            maxVBal: ByAcceptor::constant(n, -1),
            maxVal: ByAcceptor::constant(n, ValueOrNone(None)),
            msgs: PaxosMsgs {
                m1a: BallotSet(0),
                m1b: ByAcceptor::constant(n, OneBSet(0)),
                m2a: PairSet(0),
                m2b: ByAcceptor::constant(n, PairSet(0)),
            },
        })]
    }

    /// `Next == \/ \E b \in Ballot : Phase1a(b) \/ \E v \in Value : Phase2a(b, v)
    ///          \/ \E a \in Acceptor : Phase1b(a) \/ Phase2b(a)`, with every message `m` the
    /// receiving actions might pick.
    fn actions(&self, _state: &PaxosState, actions: &mut Vec<PaxosAction>) {
        for b in self.ballots() {
            actions.push(PaxosAction::Phase1a(b));
            for v in self.values() {
                actions.push(PaxosAction::Phase2a(b, v));
            }
        }
        for a in self.acceptors() {
            for b in self.ballots() {
                actions.push(PaxosAction::Phase1b(a, b));
            }
            for b in self.ballots() {
                for v in self.values() {
                    actions.push(PaxosAction::Phase2b(a, b, v));
                }
            }
        }
    }

    fn next_state(&self, s: &PaxosState, action: PaxosAction) -> Option<PaxosState> {
        let mut next = *s;
        match action {
            PaxosAction::Phase1a(b) => {
                next.msgs.m1a.insert(b);
            }
            PaxosAction::Phase1b(a, b) => {
                if !s.msgs.m1a.contains(b) || b <= s.maxBal.get(a) {
                    return None;
                }
                next.maxBal.set(a, b);
                let mut m1b = s.msgs.m1b.get(a);
                m1b.insert(b, s.maxVBal.get(a), s.maxVal.get(a));
                next.msgs.m1b.set(a, m1b);
            }
            PaxosAction::Phase2a(b, v) => {
                let enabled = !s.msgs.m2a.has_ballot(b)
                    && (self.config.bug == Some(PaxosBug::Phase2aWithoutPhase1b)
                        || self
                            .quorums
                            .iter()
                            .any(|&q| self.phase2a_quorum_ok(s, q, b, v)));
                if !enabled {
                    return None;
                }
                next.msgs.m2a.insert(b, v);
            }
            PaxosAction::Phase2b(a, b, v) => {
                if !s.msgs.m2a.contains(b, v) || b < s.maxBal.get(a) {
                    return None;
                }
                next.maxBal.set(a, b);
                next.maxVBal.set(a, b);
                next.maxVal.set(a, ValueOrNone(Some(v)));
                let mut m2b = s.msgs.m2b.get(a);
                m2b.insert(b, v);
                next.msgs.m2b.set(a, m2b);
            }
        }
        // Pair assertion: maxBal only grows, in every variant.
        debug_assert!(self
            .acceptors()
            .all(|a| next.maxBal.get(a) >= s.maxBal.get(a)));
        Some(self.finish(next))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("TypeOK", |m: &Paxos, s: &PaxosState| m.type_ok(s)),
            Property::always("Inv", |m: &Paxos, s: &PaxosState| m.inv(s)),
            Property::always("V!Inv", |m: &Paxos, s: &PaxosState| {
                m.v.inv(&s.voting_state())
            }),
            Property::always("V!VotesSafe", |m: &Paxos, s: &PaxosState| {
                m.v.votes_safe(&s.voting_state())
            }),
            Property::always("V!OneValuePerBallot", |m: &Paxos, s: &PaxosState| {
                m.v.one_value_per_ballot(&s.voting_state())
            }),
            Property::always("V!C!Inv", |m: &Paxos, s: &PaxosState| {
                m.chosen(s).len() <= 1
            }),
            Property::sometimes("value chosen", |m: &Paxos, s: &PaxosState| {
                !m.chosen(s).is_empty()
            }),
            Property::sometimes(
                "value chosen in a later ballot",
                |m: &Paxos, s: &PaxosState| {
                    let vs = s.voting_state();
                    (1..=m.config.max_ballot as Ballot)
                        .any(|b| m.values().any(|v| m.v.chosen_at(&vs, b, v)))
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_b_sets_round_trip() {
        let mut s = OneBSet::default();
        s.insert(1, -1, ValueOrNone(None));
        s.insert(4, 3, ValueOrNone(Some(Value(2))));
        let items: Vec<_> = s.iter().collect();
        assert_eq!(
            items,
            vec![
                (1, -1, ValueOrNone(None)),
                (4, 3, ValueOrNone(Some(Value(2))))
            ]
        );
        assert!(s.contains(4, 3, ValueOrNone(Some(Value(2)))));
    }

    #[test]
    fn states_and_actions_print_as_tla() {
        let m = Paxos::new(PaxosConfig::default()).unwrap();
        let s = m.init_states()[0];
        let s = m.next_state(&s, PaxosAction::Phase1a(0)).unwrap();
        let s = m
            .next_state(&s, PaxosAction::Phase1b(Acceptor(1), 0))
            .unwrap();
        assert_eq!(
            format!("{s:?}"),
            "PaxosState { maxBal: [a1 |-> -1, a2 |-> 0, a3 |-> -1], \
             maxVBal: [a1 |-> -1, a2 |-> -1, a3 |-> -1], \
             maxVal: [a1 |-> None, a2 |-> None, a3 |-> None], \
             msgs: {[type |-> \"1a\", bal |-> 0], \
             [type |-> \"1b\", acc |-> a2, bal |-> 0, mbal |-> -1, mval |-> None]} }"
        );
        assert_eq!(
            format!("{:?}", PaxosAction::Phase2b(Acceptor(0), 1, Value(1))),
            "Phase2b(a1) \\* m = [type |-> \"2a\", bal |-> 1, val |-> v2]"
        );
        assert_eq!(
            format!("{:?}", PaxosAction::Phase2a(0, Value(0))),
            "Phase2a(0, v1)"
        );
    }
}
