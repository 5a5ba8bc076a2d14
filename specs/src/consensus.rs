//! # Consensus: the specification of choosing a value
//!
//! Mirrors `specifications/PaxosHowToWinATuringAward/Consensus.tla` of tlaplus/Examples
//! (Lamport's lecture *How to Win a Turing Award*), as TLC checks it with `MCConsensus.tla` /
//! `MCConsensus.cfg`: `Value = {a, b, c}` (here `v1, v2, v3`), invariant `Inv`, deadlock not
//! checked.
//!
//! The processes are abstracted away: the spec describes only the set `chosen` of chosen values.
//! It starts empty, may become a single value, and then never changes. Liveness is ignored.
//!
//! ```text
//! VARIABLE chosen          \* the set of all values that have been chosen
//!   TypeOK == chosen \subseteq Value /\ IsFiniteSet(chosen)
//!   Inv    == TypeOK /\ Cardinality(chosen) \leq 1
//!
//! Init == chosen = {}
//! Next == chosen = {} /\ \E v \in Value : chosen' = {v}
//! ```
//!
//! `Next` has no name for its witness, so the action prints as `Next(v1)`.
//!
//! **Counts.** TLC: 4 distinct states, depth 2, for 3 values (the manifest's `MCConsensus.cfg`
//! entry); `n + 1` in general. **Symmetry.** Values are interchangeable: 2 orbits.
//!
//! **Bug.** [`ConsensusBug::ChooseAgain`] drops the guard `chosen = {}` and adds to `chosen`
//! (`chosen' = chosen \cup {v}`), so a second value can be chosen: `Inv` fails.

use crate::util::{fmt_bitset, Value};
use crate::ConfigError;
use stateright::{Model, Property};
use std::fmt;

/// The most values a Consensus model accepts (`chosen` is a bitset).
pub const MAX_CONSENSUS_VALUES: usize = 16;

/// A set of values, one bit per value.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ValueSet(pub u32);

impl ValueSet {
    /// `v \in S`.
    pub fn contains(&self, v: Value) -> bool {
        self.0 & (1 << v.0) != 0
    }

    /// `S \cup {v}`.
    pub fn insert(&mut self, v: Value) {
        self.0 |= 1 << v.0;
    }

    /// `Cardinality(S)`.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// `S = {}`.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for ValueSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_bitset(f, "v", self.0)
    }
}

/// A Consensus state: the spec's single variable.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ConsensusState {
    pub chosen: ValueSet,
}

impl fmt::Debug for ConsensusState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsensusState")
            .field("chosen", &self.chosen)
            .finish()
    }
}

/// `Next`, with its `\E v \in Value` witness.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsensusAction {
    Next(Value),
}

impl fmt::Debug for ConsensusAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsensusAction::Next(v) => write!(f, "Next({v:?})"),
        }
    }
}

/// A deliberately broken Consensus, to show that the checker catches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsensusBug {
    /// `Next == \E v \in Value : chosen' = chosen \cup {v}`: without the guard `chosen = {}`, a
    /// second value is chosen (the "naive" reading Consensus.tla's opening comment warns of).
    ChooseAgain,
}

/// The constants of a Consensus model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsensusConfig {
    /// `Cardinality(Value)`: 3 in `MCConsensus.tla`.
    pub values: usize,
    /// Return canonical states (the chosen value renamed `v1`), one state per orbit.
    pub symmetric: bool,
    /// A deliberately broken variant, or `None` for the spec itself.
    pub bug: Option<ConsensusBug>,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            values: 3,
            symmetric: false,
            bug: None,
        }
    }
}

/// The Consensus spec as a stateright [`Model`].
#[derive(Clone, Debug)]
pub struct Consensus {
    config: ConsensusConfig,
}

impl Consensus {
    /// Builds the model; fails if `values` is outside `1..=MAX_CONSENSUS_VALUES`.
    pub fn new(config: ConsensusConfig) -> Result<Self, ConfigError> {
        ConfigError::check_range("values", config.values, 1, MAX_CONSENSUS_VALUES)?;
        Ok(Consensus { config })
    }

    /// The constants this model was built with.
    pub fn config(&self) -> &ConsensusConfig {
        &self.config
    }

    /// The canonical member of the state's orbit under permutations of `Value`: a set of `k`
    /// values becomes `{v1, ..., vk}`. Exact: the size is all a permutation preserves.
    pub fn canonical(&self, state: &ConsensusState) -> ConsensusState {
        ConsensusState {
            chosen: ValueSet((1u32 << state.chosen.len()) - 1),
        }
    }

    fn finish(&self, state: ConsensusState) -> ConsensusState {
        if self.config.symmetric {
            self.canonical(&state)
        } else {
            state
        }
    }
}

impl Model for Consensus {
    type State = ConsensusState;
    type Action = ConsensusAction;

    /// `Init`.
    fn init_states(&self) -> Vec<ConsensusState> {
        vec![self.finish(ConsensusState {
            chosen: ValueSet(0),
        })]
    }

    fn actions(&self, _state: &ConsensusState, actions: &mut Vec<ConsensusAction>) {
        for v in 0..self.config.values as u8 {
            actions.push(ConsensusAction::Next(Value(v)));
        }
    }

    fn next_state(
        &self,
        state: &ConsensusState,
        action: ConsensusAction,
    ) -> Option<ConsensusState> {
        let ConsensusAction::Next(v) = action;
        let mut next = *state;
        if self.config.bug == Some(ConsensusBug::ChooseAgain) {
            next.chosen.insert(v);
        } else {
            if !state.chosen.is_empty() {
                return None;
            }
            next.chosen = ValueSet(0);
            next.chosen.insert(v);
        }
        Some(self.finish(next))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("TypeOK", |m: &Consensus, s: &ConsensusState| {
                s.chosen.0 >> m.config.values == 0
            }),
            Property::always("Inv", |m: &Consensus, s: &ConsensusState| {
                s.chosen.0 >> m.config.values == 0 && s.chosen.len() <= 1
            }),
            Property::sometimes("value chosen", |_, s: &ConsensusState| !s.chosen.is_empty()),
        ]
    }
}
