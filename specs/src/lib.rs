//! Abstract specifications from the literature, as stateright `Model`s that mirror their TLA+
//! originals variable for variable, so that a reader can hold the two side by side.
//!
//! Each module mirrors one module of the tlaplus/Examples repository: the same variables
//! (`rmState`, `tmPrepared`, `maxBal`, `votes`, `msgs`, ...), the same actions (`RMPrepare(r2)`,
//! `VoteFor(a1, 0, v2)`, `Phase2a(1, v1)`, ...) and the same invariants, named as in TLA+
//! (`TCConsistent`, `VotesSafe`, `Inv`, ...). Breadth-first search with stateright's checker
//! finds exactly the distinct states TLC reports in the repository's manifests:
//!
//! | module          | TLA+ source (tlaplus/Examples)                  | constants                | TLC distinct states (depth) |
//! |-----------------|--------------------------------------------------|--------------------------|-----------------------------|
//! | [`tcommit`]     | `transaction_commit/TCommit.tla`                 | 3 RMs                    | 34 (7)                      |
//! | [`two_phase`]   | `transaction_commit/TwoPhase.tla`                | 3 RMs                    | 288 (11)                    |
//! | [`consensus`]   | `PaxosHowToWinATuringAward/MCConsensus.tla`      | 3 values                 | 4 (2)                       |
//! | [`voting`]      | `PaxosHowToWinATuringAward/MCVoting.tla`         | 3 acceptors, 2 values, `Ballot = 0..2` | 6,752 (16)    |
//! | [`paxos`]       | `PaxosHowToWinATuringAward/MCPaxosTiny.cfg`      | 3 acceptors, 2 values, `MaxBallot = 1` | 3,921 (17)    |
//!
//! Stateright's `max_depth` equals TLC's depth (both count the initial state as depth 1) when
//! BFS runs on one thread; with more threads the queue is split between workers, the search is
//! only approximately breadth-first, and the reported depth can be larger. Unique-state counts
//! do not depend on the thread count. Its `state_count` (initial states plus every successor
//! generated) equals TLC's "states generated" for TCommit, TwoPhase and Consensus; for Voting and
//! Paxos TLC generates one successor per witness of each `\E` in the action, and the crate's
//! tests reproduce those totals too (41,017 and 23,563).
//!
//! **Counterexamples.** Stateright 0.31 keeps, per property, the *last* discovery made (each
//! violating state overwrites the stored path) and searches on until every property has one, so
//! even a one-thread BFS does not return a shortest counterexample. Bounding the depth with
//! `target_max_depth` and raising it step by step does (see the tests' `shortest_discovery`).
//!
//! **Symmetry.** Every model with interchangeable elements has a `canonical(&self, &state)`
//! function whose result depends only on the state's orbit under those permutations (RMs;
//! acceptors and values; never ballots), and a `symmetric` flag in its configuration that makes
//! `init_states` and `next_state` return canonical states. Stateright 0.31's BFS checker ignores
//! `CheckerBuilder::symmetry()` (only DFS and simulation apply it), so the flag is how to check
//! with symmetry under BFS; it works with every strategy, and the number of unique states is
//! then the number of orbits, what TLC reports with `SYMMETRY Permutations(...)`.
//!
//! Every model is pure: no I/O, no threads, no clocks.

pub mod consensus;
pub mod paxos;
pub mod tcommit;
pub mod two_phase;
pub mod util;
pub mod voting;

pub use consensus::{Consensus, ConsensusAction, ConsensusBug, ConsensusConfig, ConsensusState};
pub use paxos::{Paxos, PaxosAction, PaxosBug, PaxosConfig, PaxosState};
pub use tcommit::{TCommit, TCommitAction, TCommitBug, TCommitConfig, TCommitState};
pub use two_phase::{TwoPhase, TwoPhaseAction, TwoPhaseBug, TwoPhaseConfig, TwoPhaseState};
pub use util::{Acceptor, Ballot, Value};
pub use voting::{Voting, VotingAction, VotingBug, VotingConfig, VotingState};

use std::fmt;

/// A configuration the specs cannot build a model from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A constant outside the range the state representation supports.
    OutOfRange {
        /// The configuration field, e.g. `"rms"`.
        parameter: &'static str,
        value: usize,
        min: usize,
        max: usize,
    },
}

impl ConfigError {
    pub(crate) fn check_range(
        parameter: &'static str,
        value: usize,
        min: usize,
        max: usize,
    ) -> Result<(), ConfigError> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(ConfigError::OutOfRange {
                parameter,
                value,
                min,
                max,
            })
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::OutOfRange {
                parameter,
                value,
                min,
                max,
            } => write!(f, "{parameter} = {value} is outside {min}..={max}"),
        }
    }
}

impl std::error::Error for ConfigError {}
