//! # Voting: the algorithm Paxos refines
//!
//! Mirrors `specifications/PaxosHowToWinATuringAward/Voting.tla` of tlaplus/Examples (Lamport,
//! *How to Win a Turing Award*), as TLC checks it with `MCVoting.tla` (the toolbox's
//! `SmallModel`): `Acceptor = {a1, a2, a3}`, `Value = {v1, v2}`,
//! `Quorum = {{a1, a2}, {a1, a3}, {a2, a3}}`, `Ballot` overridden to `0..2`; invariant `Inv`,
//! property `C!Spec`; deadlock not checked.
//!
//! Acceptors cast votes `<<b, v>>` in numbered ballots; a value is chosen when a quorum has
//! voted for it in one ballot. Any two quorums intersect. An acceptor promises, by raising
//! `maxBal[a]`, never to vote in a lower ballot. It votes for `v` in ballot `b` only if nobody
//! voted for another value in `b`, and a quorum `Q` *shows* `v` safe at `b`: every member of `Q`
//! has `maxBal >= b`, and among `Q`'s votes below `b` the highest is for `v` (or there is none).
//! That keeps `Inv` true, and `Inv` implies that at most one value is ever chosen.
//!
//! ```text
//! VARIABLES votes,    \* votes[a] \subseteq Ballot \X Value: the votes cast by a
//!           maxBal    \* maxBal[a] \in Ballot \cup {-1}: a never votes below it again
//!   TypeOK            == votes \in [Acceptor -> SUBSET (Ballot \X Value)]
//!                        /\ maxBal \in [Acceptor -> Ballot \cup {-1}]
//!   VotesSafe         == \A a, b, v : VotedFor(a, b, v) => SafeAt(b, v)
//!   OneValuePerBallot == \A a1, a2, b, v1, v2 :
//!                          VotedFor(a1, b, v1) /\ VotedFor(a2, b, v2) => (v1 = v2)
//!   Inv               == TypeOK /\ VotesSafe /\ OneValuePerBallot
//!   C!Inv             == Cardinality(chosen) <= 1, chosen == {v : \E b : ChosenAt(b, v)}
//!
//! IncreaseMaxBal(a, b) == b > maxBal[a] /\ maxBal'[a] = b
//! VoteFor(a, b, v)     == /\ maxBal[a] =< b
//!                         /\ a has not voted in b
//!                         /\ every other acceptor's vote in b is for v
//!                         /\ \E Q \in Quorum : ShowsSafeAt(Q, b, v)
//!                         /\ votes'[a] = votes[a] \cup {<<b, v>>} /\ maxBal'[a] = b
//! ```
//!
//! `C!Spec` (chosen starts empty, may become one value, then never changes) is checked as the
//! state invariant `C!Inv`: votes are never retracted, so `chosen` can only grow, and a growing
//! set with at most one element takes exactly the steps `C!Spec` allows. The crate's tests also
//! check the refinement directly, mapping every step onto a Consensus step or a stutter.
//!
//! **Counts.** TLC: 6,752 distinct states, depth 16, for `MCVoting` (the manifest).
//!
//! **Symmetry.** Acceptors are interchangeable, and so are values; ballots are ordered and are
//! not. An acceptor is the pair (`maxBal[a]`, `votes[a]`) and refers to no other acceptor, so for
//! a fixed naming of the values, sorting acceptors by that pair is exact. Values appear inside
//! the votes, so [`Voting::canonical`] takes the least, over every permutation of `Value`, of
//! the acceptor-sorted state: a function of the orbit, hence exact.
//!
//! **Bugs.** [`VotingBug::VoteWithoutShowsSafeAt`] drops the `ShowsSafeAt` conjunct;
//! [`VotingBug::QuorumsDoNotIntersect`] is the exercise at the end of Voting.tla (quorums that
//! break the ASSUME). Both let two values be chosen.

use crate::consensus::ValueSet;
use crate::util::{
    majorities, minorities, permutations, Acceptor, Ballot, ByAcceptor, PairSet, Value,
    MAX_ACCEPTORS, MAX_VALUES,
};
use crate::ConfigError;
use stateright::{Model, Property};
use std::fmt;

/// A Voting state: the two variables of Voting.tla.
#[allow(non_snake_case)]
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct VotingState {
    pub votes: ByAcceptor<PairSet>,
    pub maxBal: ByAcceptor<Ballot>,
}

impl VotingState {
    /// The state with acceptor `a` renamed `acceptor_perm[a]` and value `v` renamed
    /// `value_perm[v]`.
    pub fn permuted(&self, acceptor_perm: &[u8], value_perm: &[u8]) -> Self {
        VotingState {
            votes: self
                .votes
                .map(|s| s.permuted_values(value_perm))
                .permuted(acceptor_perm),
            maxBal: self.maxBal.permuted(acceptor_perm),
        }
    }
}

impl fmt::Debug for VotingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VotingState")
            .field("votes", &self.votes)
            .field("maxBal", &self.maxBal)
            .finish()
    }
}

/// The actions of `Next`, with their `\E a, b, v` witnesses.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum VotingAction {
    IncreaseMaxBal(Acceptor, Ballot),
    VoteFor(Acceptor, Ballot, Value),
}

impl fmt::Debug for VotingAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VotingAction::IncreaseMaxBal(a, b) => write!(f, "IncreaseMaxBal({a:?}, {b})"),
            VotingAction::VoteFor(a, b, v) => write!(f, "VoteFor({a:?}, {b}, {v:?})"),
        }
    }
}

/// A deliberately broken Voting, to show that the checker catches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VotingBug {
    /// `VoteFor` without `\E Q \in Quorum : ShowsSafeAt(Q, b, v)`: an acceptor votes for a
    /// value that is not safe, so `VotesSafe` fails and a second value can be chosen.
    VoteWithoutShowsSafeAt,
    /// Quorums of `n / 2` acceptors, two of which are disjoint: the exercise closing
    /// Voting.tla ("show why the assumption that any pair of quorums has an element in common
    /// is necessary"). Two values get chosen. Needs at least 2 acceptors.
    QuorumsDoNotIntersect,
}

/// The constants of a Voting model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VotingConfig {
    /// `Cardinality(Acceptor)`: 3 in `MCVoting.tla`.
    pub acceptors: usize,
    /// `Cardinality(Value)`: 2 in `MCVoting.tla`.
    pub values: usize,
    /// `Ballot == 0..max_ballot`: 2 in `MCVoting.tla`.
    pub max_ballot: usize,
    /// Return canonical states (see [`Voting::canonical`]): one state per orbit.
    pub symmetric: bool,
    /// A deliberately broken variant, or `None` for the spec itself.
    pub bug: Option<VotingBug>,
}

impl Default for VotingConfig {
    fn default() -> Self {
        VotingConfig {
            acceptors: 3,
            values: 2,
            max_ballot: 2,
            symmetric: false,
            bug: None,
        }
    }
}

/// The Voting spec as a stateright [`Model`]. Its operators (`VotedFor`, `ChosenAt`, `SafeAt`,
/// `ShowsSafeAt`, ...) are public so that Paxos can use them as `V!` does.
#[derive(Clone, Debug)]
pub struct Voting {
    config: VotingConfig,
    /// `Quorum`, each quorum a bitset of acceptors.
    quorums: Vec<u32>,
    /// Every permutation of `Value`, for the canonical form.
    value_perms: Vec<Vec<u8>>,
}

fn members(q: u32) -> impl Iterator<Item = Acceptor> {
    (0..MAX_ACCEPTORS as u8)
        .filter(move |a| q & (1 << a) != 0)
        .map(Acceptor)
}

impl Voting {
    /// Builds the model; fails if a constant is outside the supported range.
    pub fn new(config: VotingConfig) -> Result<Self, ConfigError> {
        let min_acceptors = match config.bug {
            Some(VotingBug::QuorumsDoNotIntersect) => 2,
            _ => 1,
        };
        ConfigError::check_range("acceptors", config.acceptors, min_acceptors, MAX_ACCEPTORS)?;
        ConfigError::check_range("values", config.values, 1, MAX_VALUES)?;
        ConfigError::check_range("max_ballot", config.max_ballot, 0, PairSet::MAX_BALLOT)?;
        let quorums = match config.bug {
            Some(VotingBug::QuorumsDoNotIntersect) => minorities(config.acceptors),
            _ => majorities(config.acceptors),
        };
        let value_perms = permutations(config.values);
        Ok(Voting {
            config,
            quorums,
            value_perms,
        })
    }

    /// The constants this model was built with.
    pub fn config(&self) -> &VotingConfig {
        &self.config
    }

    /// `Quorum`, each quorum a bitset of acceptors.
    pub fn quorums(&self) -> &[u32] {
        &self.quorums
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

    /// `VotedFor(a, b, v) == <<b, v>> \in votes[a]`.
    pub fn voted_for(s: &VotingState, a: Acceptor, b: Ballot, v: Value) -> bool {
        s.votes.get(a).contains(b, v)
    }

    /// `ChosenAt(b, v) == \E Q \in Quorum : \A a \in Q : VotedFor(a, b, v)`.
    pub fn chosen_at(&self, s: &VotingState, b: Ballot, v: Value) -> bool {
        self.quorums
            .iter()
            .any(|&q| members(q).all(|a| Self::voted_for(s, a, b, v)))
    }

    /// `chosen == {v \in Value : \E b \in Ballot : ChosenAt(b, v)}`.
    pub fn chosen(&self, s: &VotingState) -> ValueSet {
        let mut chosen = ValueSet::default();
        for v in self.values() {
            if self.ballots().any(|b| self.chosen_at(s, b, v)) {
                chosen.insert(v);
            }
        }
        chosen
    }

    /// `DidNotVoteAt(a, b) == \A v \in Value : ~ VotedFor(a, b, v)`.
    pub fn did_not_vote_at(s: &VotingState, a: Acceptor, b: Ballot) -> bool {
        !s.votes.get(a).has_ballot(b)
    }

    /// `CannotVoteAt(a, b) == maxBal[a] > b /\ DidNotVoteAt(a, b)`.
    pub fn cannot_vote_at(s: &VotingState, a: Acceptor, b: Ballot) -> bool {
        s.maxBal.get(a) > b && Self::did_not_vote_at(s, a, b)
    }

    /// `NoneOtherChoosableAt(b, v) ==
    ///     \E Q \in Quorum : \A a \in Q : VotedFor(a, b, v) \/ CannotVoteAt(a, b)`.
    pub fn none_other_choosable_at(&self, s: &VotingState, b: Ballot, v: Value) -> bool {
        self.quorums.iter().any(|&q| {
            members(q).all(|a| Self::voted_for(s, a, b, v) || Self::cannot_vote_at(s, a, b))
        })
    }

    /// `SafeAt(b, v) == \A c \in 0..(b-1) : NoneOtherChoosableAt(c, v)`.
    pub fn safe_at(&self, s: &VotingState, b: Ballot, v: Value) -> bool {
        (0..b).all(|c| self.none_other_choosable_at(s, c, v))
    }

    /// `OneValuePerBallot`.
    pub fn one_value_per_ballot(&self, s: &VotingState) -> bool {
        self.ballots().all(|b| {
            let mut voted = self
                .acceptors()
                .flat_map(|a| self.values().filter(move |&v| Self::voted_for(s, a, b, v)));
            match voted.next() {
                None => true,
                Some(v1) => voted.all(|v2| v1 == v2),
            }
        })
    }

    /// `VotesSafe == \A a, b, v : VotedFor(a, b, v) => SafeAt(b, v)`.
    pub fn votes_safe(&self, s: &VotingState) -> bool {
        self.acceptors()
            .all(|a| s.votes.get(a).iter().all(|(b, v)| self.safe_at(s, b, v)))
    }

    /// `TypeOK`: the domains are `Acceptor`, votes lie in `Ballot \X Value`, and `maxBal` in
    /// `Ballot \cup {-1}`.
    pub fn type_ok(&self, s: &VotingState) -> bool {
        let max_ballot = self.config.max_ballot as Ballot;
        s.votes.len() == self.config.acceptors
            && s.maxBal.len() == self.config.acceptors
            && s.votes.values().iter().all(|votes| {
                votes
                    .iter()
                    .all(|(b, v)| b <= max_ballot && (v.0 as usize) < self.config.values)
            })
            && s.maxBal
                .values()
                .iter()
                .all(|&b| (-1..=max_ballot).contains(&b))
    }

    /// `Inv == TypeOK /\ VotesSafe /\ OneValuePerBallot`.
    pub fn inv(&self, s: &VotingState) -> bool {
        self.type_ok(s) && self.votes_safe(s) && self.one_value_per_ballot(s)
    }

    /// `ShowsSafeAt(Q, b, v) ==
    ///   /\ \A a \in Q : maxBal[a] >= b
    ///   /\ \E c \in -1..(b-1) :
    ///       /\ (c /= -1) => \E a \in Q : VotedFor(a, c, v)
    ///       /\ \A d \in (c+1)..(b-1), a \in Q : DidNotVoteAt(a, d)`.
    pub fn shows_safe_at(s: &VotingState, q: u32, b: Ballot, v: Value) -> bool {
        members(q).all(|a| s.maxBal.get(a) >= b)
            && (-1..b).any(|c| {
                (c == -1 || members(q).any(|a| Self::voted_for(s, a, c, v)))
                    && (c + 1..b).all(|d| members(q).all(|a| Self::did_not_vote_at(s, a, d)))
            })
    }

    /// The canonical member of the state's orbit under permutations of `Acceptor` and of
    /// `Value`: the least (by the derived order), over every value permutation, of the state
    /// with its acceptors sorted by (`maxBal[a]`, `votes[a]`).
    pub fn canonical(&self, s: &VotingState) -> VotingState {
        let n = self.config.acceptors;
        let mut best: Option<VotingState> = None;
        for perm in &self.value_perms {
            let mut rows: Vec<(Ballot, PairSet)> = (0..n)
                .map(|i| {
                    let a = Acceptor(i as u8);
                    (s.maxBal.get(a), s.votes.get(a).permuted_values(perm))
                })
                .collect();
            rows.sort_unstable();
            let mut candidate = *s;
            for (i, (max_bal, votes)) in rows.into_iter().enumerate() {
                candidate.maxBal.set(Acceptor(i as u8), max_bal);
                candidate.votes.set(Acceptor(i as u8), votes);
            }
            best = match best {
                Some(b) if b <= candidate => Some(b),
                _ => Some(candidate),
            };
        }
        best.expect("Value is not empty")
    }

    fn finish(&self, state: VotingState) -> VotingState {
        if self.config.symmetric {
            self.canonical(&state)
        } else {
            state
        }
    }
}

impl Model for Voting {
    type State = VotingState;
    type Action = VotingAction;

    /// `Init == votes = [a \in Acceptor |-> {}] /\ maxBal = [a \in Acceptor |-> -1]`.
    fn init_states(&self) -> Vec<VotingState> {
        let n = self.config.acceptors;
        vec![self.finish(VotingState {
            votes: ByAcceptor::constant(n, PairSet::default()),
            maxBal: ByAcceptor::constant(n, -1),
        })]
    }

    /// `Next == \E a \in Acceptor, b \in Ballot :
    ///            IncreaseMaxBal(a, b) \/ \E v \in Value : VoteFor(a, b, v)`.
    fn actions(&self, _state: &VotingState, actions: &mut Vec<VotingAction>) {
        for a in self.acceptors() {
            for b in self.ballots() {
                actions.push(VotingAction::IncreaseMaxBal(a, b));
                for v in self.values() {
                    actions.push(VotingAction::VoteFor(a, b, v));
                }
            }
        }
    }

    fn next_state(&self, s: &VotingState, action: VotingAction) -> Option<VotingState> {
        let mut next = *s;
        match action {
            VotingAction::IncreaseMaxBal(a, b) => {
                if b <= s.maxBal.get(a) {
                    return None;
                }
                next.maxBal.set(a, b);
            }
            VotingAction::VoteFor(a, b, v) => {
                let enabled = s.maxBal.get(a) <= b
                    && !s.votes.get(a).has_ballot(b)
                    && self
                        .acceptors()
                        .filter(|&c| c != a)
                        .all(|c| s.votes.get(c).iter().all(|(vb, vv)| vb != b || vv == v))
                    && (self.config.bug == Some(VotingBug::VoteWithoutShowsSafeAt)
                        || self
                            .quorums
                            .iter()
                            .any(|&q| Self::shows_safe_at(s, q, b, v)));
                if !enabled {
                    return None;
                }
                let mut votes = s.votes.get(a);
                votes.insert(b, v);
                next.votes.set(a, votes);
                next.maxBal.set(a, b);
            }
        }
        Some(self.finish(next))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("TypeOK", |m: &Voting, s: &VotingState| m.type_ok(s)),
            Property::always("VotesSafe", |m: &Voting, s: &VotingState| m.votes_safe(s)),
            Property::always("OneValuePerBallot", |m: &Voting, s: &VotingState| {
                m.one_value_per_ballot(s)
            }),
            Property::always("Inv", |m: &Voting, s: &VotingState| m.inv(s)),
            Property::always("C!Inv", |m: &Voting, s: &VotingState| {
                m.chosen(s).len() <= 1
            }),
            Property::sometimes("value chosen", |m: &Voting, s: &VotingState| {
                !m.chosen(s).is_empty()
            }),
            Property::sometimes(
                "value chosen in a later ballot",
                |m: &Voting, s: &VotingState| {
                    (1..=m.config.max_ballot as Ballot)
                        .any(|b| m.values().any(|v| m.chosen_at(s, b, v)))
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_print_as_tla() {
        assert_eq!(
            format!("{:?}", VotingAction::VoteFor(Acceptor(0), 2, Value(1))),
            "VoteFor(a1, 2, v2)"
        );
        assert_eq!(
            format!("{:?}", VotingAction::IncreaseMaxBal(Acceptor(2), 0)),
            "IncreaseMaxBal(a3, 0)"
        );
    }

    #[test]
    fn first_vote_needs_no_history() {
        let m = Voting::new(VotingConfig::default()).unwrap();
        let s = m.init_states()[0];
        // At ballot 0 every quorum shows every value safe (c = -1, no d to check), once its
        // members have maxBal >= 0, which VoteFor itself does not require of the others.
        assert!(!Voting::shows_safe_at(&s, 0b011, 0, Value(0)));
        let s = m
            .next_state(&s, VotingAction::IncreaseMaxBal(Acceptor(0), 0))
            .unwrap();
        let s = m
            .next_state(&s, VotingAction::IncreaseMaxBal(Acceptor(1), 0))
            .unwrap();
        let s = m
            .next_state(&s, VotingAction::VoteFor(Acceptor(2), 0, Value(1)))
            .unwrap();
        assert_eq!(
            format!("{s:?}"),
            "VotingState { votes: [a1 |-> {}, a2 |-> {}, a3 |-> {<<0, v2>>}], \
             maxBal: [a1 |-> 0, a2 |-> 0, a3 |-> 0] }"
        );
        assert!(m.inv(&s));
    }
}
