//! # TCommit: the specification of transaction commit
//!
//! Mirrors `specifications/transaction_commit/TCommit.tla` of tlaplus/Examples (Gray and
//! Lamport, *Consensus on Transaction Commit*, and Lecture 5 of Lamport's TLA+ video course),
//! as TLC checks it with `TCommit.cfg`: `RM = {r1, r2, r3}`, invariants `TCTypeOK` and
//! `TCConsistent`, deadlock not checked.
//!
//! A transaction is carried out by a set `RM` of resource managers. Each starts *working*; it
//! may *prepare* (declare that it is able to commit), and eventually every RM decides: it may
//! *commit* only once every RM has prepared or committed (`canCommit`), and it may *abort*
//! only while no RM has committed (`notCommitted`). The spec says what may happen, not how the
//! RMs come to know it: [`crate::two_phase`] is a protocol that implements it.
//!
//! ```text
//! VARIABLE rmState      \* rmState[r] \in {"working", "prepared", "committed", "aborted"}
//!   TCTypeOK     == rmState \in [RM -> {"working", "prepared", "committed", "aborted"}]
//!   TCConsistent == \A r1, r2 \in RM : ~ /\ rmState[r1] = "aborted"
//!                                        /\ rmState[r2] = "committed"
//!
//! TCInit     == rmState = [r \in RM |-> "working"]
//! Prepare(r) == rmState[r] = "working"                              -> "prepared"
//! Decide(r)  == \/ rmState[r] = "prepared" /\ canCommit             -> "committed"
//!               \/ rmState[r] \in {"working","prepared"} /\ notCommitted -> "aborted"
//! TCNext     == \E r \in RM : Prepare(r) \/ Decide(r)
//! ```
//!
//! `Decide(r)` has two disjuncts, so the action enum carries the outcome:
//! `Decide(r1) \* "committed"`.
//!
//! **Counts.** TLC: 34 distinct states, depth 7, for 3 RMs (the manifest's `TCommit.cfg` entry).
//! In general `3^n + 2^n - 1`: every state without a commit (`{working, prepared, aborted}^n`),
//! plus every state over `{prepared, committed}` with at least one commit.
//!
//! **Symmetry.** RMs are interchangeable and carry no references to one another, so sorting the
//! RMs by their state is an exact canonical form: there are `C(n+2, 2) + n` orbits (13 for 3 RMs).
//!
//! **Bug.** [`TCommitBug::AbortAfterCommit`] drops `notCommitted` from the abort disjunct, so an
//! RM may abort after another committed: `TCConsistent` fails.

use crate::ConfigError;
use stateright::{Model, Property};
use std::fmt;

/// The most RMs a state can hold (`rmState` packs 4 bits per RM into a `u64`).
pub const MAX_RMS: usize = 16;

/// A resource manager, printed `r1`, `r2`, ... as in `TCommit.cfg`.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Rm(pub u8);

impl fmt::Debug for Rm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0 + 1)
    }
}

/// `{"working", "prepared", "committed", "aborted"}`. The codes start at 1 so that a packed
/// [`RmStates`] can tell an RM from an empty slot.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum RmState {
    Working = 1,
    Prepared = 2,
    Committed = 3,
    Aborted = 4,
}

impl RmState {
    fn from_code(code: u64) -> RmState {
        match code {
            1 => RmState::Working,
            2 => RmState::Prepared,
            3 => RmState::Committed,
            4 => RmState::Aborted,
            _ => unreachable!("not an RM state code: {code}"),
        }
    }
}

impl fmt::Debug for RmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RmState::Working => "\"working\"",
            RmState::Prepared => "\"prepared\"",
            RmState::Committed => "\"committed\"",
            RmState::Aborted => "\"aborted\"",
        })
    }
}

/// The function `rmState \in [RM -> RmState]`, packed 4 bits per RM (slot value 0 = no RM).
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RmStates(u64);

impl RmStates {
    /// `[r \in RM |-> s]` for `rms` RMs.
    pub fn constant(rms: usize, s: RmState) -> Self {
        assert!((1..=MAX_RMS).contains(&rms), "1..={MAX_RMS} RMs");
        let mut packed = 0;
        for r in 0..rms {
            packed |= (s as u64) << (4 * r);
        }
        RmStates(packed)
    }

    /// `Cardinality(DOMAIN rmState)`: the number of RMs.
    pub fn len(&self) -> usize {
        (64 - self.0.leading_zeros() as usize).div_ceil(4)
    }

    /// True when the function has no RM (never the case in a valid state).
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// `rmState[r]`.
    pub fn get(&self, r: Rm) -> RmState {
        RmState::from_code((self.0 >> (4 * r.0)) & 0xF)
    }

    /// `rmState' = [rmState EXCEPT ![r] = s]`.
    pub fn set(&mut self, r: Rm, s: RmState) {
        debug_assert!((r.0 as usize) < self.len());
        self.0 = (self.0 & !(0xF << (4 * r.0))) | ((s as u64) << (4 * r.0));
    }

    /// The pairs `<<r, rmState[r]>>` in RM order.
    pub fn iter(&self) -> impl Iterator<Item = (Rm, RmState)> + '_ {
        (0..self.len() as u8).map(|r| (Rm(r), self.get(Rm(r))))
    }

    /// `\A r \in RM : rmState[r] \in allowed`.
    pub fn all(&self, allowed: &[RmState]) -> bool {
        self.iter().all(|(_, s)| allowed.contains(&s))
    }

    /// `\E r \in RM : rmState[r] = s`.
    pub fn any(&self, s: RmState) -> bool {
        self.iter().any(|(_, t)| t == s)
    }

    /// The function with its RMs renamed: RM `r` becomes `perm[r]`.
    pub fn permuted(&self, perm: &[u8]) -> Self {
        debug_assert_eq!(perm.len(), self.len());
        let mut out = 0;
        for (r, &p) in perm.iter().enumerate() {
            out |= ((self.0 >> (4 * r)) & 0xF) << (4 * p as usize);
        }
        RmStates(out)
    }
}

impl fmt::Debug for RmStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (r, s) in self.iter() {
            if r.0 > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{r:?} |-> {s:?}")?;
        }
        f.write_str("]")
    }
}

/// A set of RMs (`tmPrepared`, the senders of `"Prepared"` messages), one bit per RM.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RmSet(pub u32);

impl RmSet {
    /// `r \in S`.
    pub fn contains(&self, r: Rm) -> bool {
        self.0 & (1 << r.0) != 0
    }

    /// `S \cup {r}`.
    pub fn insert(&mut self, r: Rm) {
        self.0 |= 1 << r.0;
    }

    /// `Cardinality(S)`.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// `S = {}`.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// `S \subseteq RM` for `rms` RMs.
    pub fn within(&self, rms: usize) -> bool {
        self.0 >> rms == 0
    }

    /// The set with its RMs renamed: RM `r` becomes `perm[r]`.
    pub fn permuted(&self, perm: &[u8]) -> Self {
        let mut out = RmSet(0);
        for (r, &p) in perm.iter().enumerate() {
            if self.contains(Rm(r as u8)) {
                out.insert(Rm(p));
            }
        }
        out
    }
}

impl fmt::Debug for RmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::util::fmt_bitset(f, "r", self.0)
    }
}

/// A deliberately broken TCommit, to show that the checker catches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TCommitBug {
    /// `Decide(r)` may abort without `notCommitted`: an RM aborts after another committed,
    /// exactly what the `notCommitted` conjunct of TCommit.tla is there to forbid.
    AbortAfterCommit,
}

/// The constants of a TCommit model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TCommitConfig {
    /// `Cardinality(RM)`: 3 in `TCommit.cfg`.
    pub rms: usize,
    /// Return canonical states (RMs sorted by state), so that BFS explores one state per orbit.
    pub symmetric: bool,
    /// A deliberately broken variant, or `None` for the spec itself.
    pub bug: Option<TCommitBug>,
}

impl Default for TCommitConfig {
    fn default() -> Self {
        TCommitConfig {
            rms: 3,
            symmetric: false,
            bug: None,
        }
    }
}

/// The TCommit spec as a stateright [`Model`].
#[derive(Clone, Debug)]
pub struct TCommit {
    config: TCommitConfig,
}

/// A TCommit state: the spec's single variable.
#[allow(non_snake_case)]
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct TCommitState {
    pub rmState: RmStates,
}

impl TCommitState {
    /// The state with its RMs renamed: RM `r` becomes `perm[r]`.
    pub fn permuted(&self, perm: &[u8]) -> Self {
        TCommitState {
            rmState: self.rmState.permuted(perm),
        }
    }
}

impl fmt::Debug for TCommitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TCommitState")
            .field("rmState", &self.rmState)
            .finish()
    }
}

/// The actions of `TCNext`, with their `\E r \in RM` witness.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TCommitAction {
    /// `Prepare(r)`.
    Prepare(Rm),
    /// `Decide(r)`, taking the disjunct that leads to the given state (committed or aborted).
    Decide(Rm, RmState),
}

impl fmt::Debug for TCommitAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TCommitAction::Prepare(r) => write!(f, "Prepare({r:?})"),
            TCommitAction::Decide(r, s) => write!(f, "Decide({r:?}) \\* {s:?}"),
        }
    }
}

impl TCommit {
    /// Builds the model; fails if `rms` is outside `1..=MAX_RMS`.
    pub fn new(config: TCommitConfig) -> Result<Self, ConfigError> {
        ConfigError::check_range("rms", config.rms, 1, MAX_RMS)?;
        Ok(TCommit { config })
    }

    /// The constants this model was built with.
    pub fn config(&self) -> &TCommitConfig {
        &self.config
    }

    /// `canCommit == \A r \in RM : rmState[r] \in {"prepared", "committed"}`.
    pub fn can_commit(state: &TCommitState) -> bool {
        state.rmState.all(&[RmState::Prepared, RmState::Committed])
    }

    /// `notCommitted == \A r \in RM : rmState[r] # "committed"`.
    pub fn not_committed(state: &TCommitState) -> bool {
        !state.rmState.any(RmState::Committed)
    }

    /// The canonical member of the state's orbit under permutations of `RM`: the RMs sorted by
    /// state (a counting sort over the four states). Exact, because an RM's state is all
    /// there is to it.
    pub fn canonical(&self, state: &TCommitState) -> TCommitState {
        let mut counts = [0usize; 5];
        for (_, s) in state.rmState.iter() {
            counts[s as usize] += 1;
        }
        let mut rm_state = state.rmState;
        let mut r = 0u8;
        for (code, &count) in counts.iter().enumerate().skip(1) {
            for _ in 0..count {
                rm_state.set(Rm(r), RmState::from_code(code as u64));
                r += 1;
            }
        }
        TCommitState { rmState: rm_state }
    }

    fn finish(&self, state: TCommitState) -> TCommitState {
        if self.config.symmetric {
            self.canonical(&state)
        } else {
            state
        }
    }

    fn rms(&self) -> impl Iterator<Item = Rm> {
        (0..self.config.rms as u8).map(Rm)
    }
}

impl Model for TCommit {
    type State = TCommitState;
    type Action = TCommitAction;

    /// `TCInit`.
    fn init_states(&self) -> Vec<TCommitState> {
        vec![self.finish(TCommitState {
            rmState: RmStates::constant(self.config.rms, RmState::Working),
        })]
    }

    /// Every instance of `TCNext`'s disjuncts; `next_state` evaluates their enabling conditions.
    fn actions(&self, _state: &TCommitState, actions: &mut Vec<TCommitAction>) {
        for r in self.rms() {
            actions.push(TCommitAction::Prepare(r));
            actions.push(TCommitAction::Decide(r, RmState::Committed));
            actions.push(TCommitAction::Decide(r, RmState::Aborted));
        }
    }

    fn next_state(&self, state: &TCommitState, action: TCommitAction) -> Option<TCommitState> {
        let mut next = *state;
        match action {
            TCommitAction::Prepare(r) => {
                // Prepare(r) == /\ rmState[r] = "working"
                //               /\ rmState' = [rmState EXCEPT ![r] = "prepared"]
                if state.rmState.get(r) != RmState::Working {
                    return None;
                }
                next.rmState.set(r, RmState::Prepared);
            }
            TCommitAction::Decide(r, RmState::Committed) => {
                // /\ rmState[r] = "prepared" /\ canCommit
                // /\ rmState' = [rmState EXCEPT ![r] = "committed"]
                if state.rmState.get(r) != RmState::Prepared || !Self::can_commit(state) {
                    return None;
                }
                next.rmState.set(r, RmState::Committed);
            }
            TCommitAction::Decide(r, RmState::Aborted) => {
                // /\ rmState[r] \in {"working", "prepared"} /\ notCommitted
                // /\ rmState' = [rmState EXCEPT ![r] = "aborted"]
                let deciding = matches!(state.rmState.get(r), RmState::Working | RmState::Prepared);
                let abort_after_commit = self.config.bug == Some(TCommitBug::AbortAfterCommit);
                if !deciding || !(Self::not_committed(state) || abort_after_commit) {
                    return None;
                }
                next.rmState.set(r, RmState::Aborted);
            }
            TCommitAction::Decide(_, _) => return None,
        }
        Some(self.finish(next))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            // TCTypeOK == rmState \in [RM -> {"working", "prepared", "committed", "aborted"}]
            // (the range holds by construction; the domain must be RM).
            Property::always("TCTypeOK", |m: &TCommit, s: &TCommitState| {
                s.rmState.len() == m.config.rms
            }),
            Property::always("TCConsistent", |_, s: &TCommitState| {
                !(s.rmState.any(RmState::Aborted) && s.rmState.any(RmState::Committed))
            }),
            Property::sometimes("committed", |_, s: &TCommitState| {
                s.rmState.all(&[RmState::Committed])
            }),
            Property::sometimes("aborted", |_, s: &TCommitState| {
                s.rmState.all(&[RmState::Aborted])
            }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_actions_print_as_tla() {
        let mut s = RmStates::constant(3, RmState::Working);
        s.set(Rm(1), RmState::Prepared);
        assert_eq!(
            format!("{:?}", TCommitState { rmState: s }),
            r#"TCommitState { rmState: [r1 |-> "working", r2 |-> "prepared", r3 |-> "working"] }"#
        );
        assert_eq!(s.len(), 3);
        assert_eq!(
            format!("{:?}", TCommitAction::Prepare(Rm(1))),
            "Prepare(r2)"
        );
        assert_eq!(
            format!("{:?}", TCommitAction::Decide(Rm(0), RmState::Aborted)),
            r#"Decide(r1) \* "aborted""#
        );
    }

    #[test]
    fn canonical_sorts_rms_by_state() {
        let m = TCommit::new(TCommitConfig::default()).unwrap();
        let mut s = RmStates::constant(3, RmState::Aborted);
        s.set(Rm(2), RmState::Working);
        let c = m.canonical(&TCommitState { rmState: s });
        assert_eq!(
            format!("{:?}", c.rmState),
            r#"[r1 |-> "working", r2 |-> "aborted", r3 |-> "aborted"]"#
        );
    }
}
