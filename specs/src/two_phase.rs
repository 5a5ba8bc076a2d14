//! # TwoPhase: the two-phase commit protocol
//!
//! Mirrors `specifications/transaction_commit/TwoPhase.tla` of tlaplus/Examples (Gray and
//! Lamport, *Consensus on Transaction Commit*), as TLC checks it with `TwoPhase.cfg`:
//! `RM = {r1, r2, r3}`, invariant `TPTypeOK`.
//!
//! A transaction manager (TM) coordinates the resource managers (RMs) to implement
//! [`crate::tcommit`]. RMs prepare spontaneously and send `"Prepared"`; the TM collects them
//! in `tmPrepared` and, once it has all of them, commits by broadcasting `"Commit"`; it may
//! instead abort at any time before that, broadcasting `"Abort"`. An RM may also abort on its
//! own while still working. Messages are a set that only grows: receiving is being enabled by a
//! message's presence, so loss and duplication need no modelling.
//!
//! ```text
//! VARIABLES
//!   rmState      \* rmState[r] \in {"working", "prepared", "committed", "aborted"}
//!   tmState      \* \in {"init", "committed", "aborted"}
//!   tmPrepared   \* the RMs from which the TM has received "Prepared"
//!   msgs         \* \subseteq [type : {"Prepared"}, rm : RM] \cup [type : {"Commit", "Abort"}]
//!
//!   TPTypeOK     == the four "types" above
//!   TCConsistent == TC!TCConsistent: no RM aborted while another committed
//!
//! TMRcvPrepared(r) == tmState = "init" /\ [type |-> "Prepared", rm |-> r] \in msgs
//!                     /\ tmPrepared' = tmPrepared \cup {r}
//! TMCommit         == tmState = "init" /\ tmPrepared = RM
//!                     /\ tmState' = "committed" /\ msgs' = msgs \cup {[type |-> "Commit"]}
//! TMAbort          == tmState = "init"
//!                     /\ tmState' = "aborted" /\ msgs' = msgs \cup {[type |-> "Abort"]}
//! RMPrepare(r)     == rmState[r] = "working" /\ rmState'[r] = "prepared"
//!                     /\ msgs' = msgs \cup {[type |-> "Prepared", rm |-> r]}
//! RMChooseToAbort(r) == rmState[r] = "working" /\ rmState'[r] = "aborted"
//! RMRcvCommitMsg(r)  == [type |-> "Commit"] \in msgs /\ rmState'[r] = "committed"
//! RMRcvAbortMsg(r)   == [type |-> "Abort"] \in msgs  /\ rmState'[r] = "aborted"
//! ```
//!
//! **Counts.** TLC: 288 distinct states, depth 11, for 3 RMs (the manifest's `TwoPhase.cfg`
//! entry); 50,816 for 6 RMs (the closing comment of TwoPhase.tla). In general
//! `4^n + 2^n + 6^n`: while the TM is in `"init"` each RM is working, aborted, or prepared with
//! or without the TM having its message (4 kinds); after a commit each RM is prepared or
//! committed (2); after an abort each RM is working, aborted without having prepared, or
//! prepared or aborted after preparing, each with or without the TM having its message (6).
//! That gives 1,568 for 4 RMs, 8,832 for 5, and 296,448 for 7.
//!
//! **Symmetry.** An RM is the triple (`rmState[r]`, `r \in tmPrepared`,
//! `[type |-> "Prepared", rm |-> r] \in msgs`), and no RM refers to another, so sorting RMs by
//! the whole triple is an exact canonical form. The orbits are the multisets of the kinds above:
//! `C(n+3, 3) + (n+1) + C(n+5, 5)`, 80 for 3 RMs and 314 for 5. Stateright's own 2PC example
//! sorts by `rmState` alone and carries `tmPrepared` and the messages along, which is not a
//! function of the orbit: its DFS with `.symmetry()` finds 107 states for 3 RMs and 665 for 5.
//!
//! **Bug.** [`TwoPhaseBug::CommitWithoutAllPrepared`] drops `tmPrepared = RM` from `TMCommit`;
//! then `TMCommit, RMRcvCommitMsg(r1), RMChooseToAbort(r2)` violates `TCConsistent`.

use crate::tcommit::{Rm, RmSet, RmState, RmStates, MAX_RMS};
use crate::ConfigError;
use stateright::{Model, Property};
use std::fmt;

/// The TM's state, `{"init", "committed", "aborted"}`.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum TmState {
    Init,
    Committed,
    Aborted,
}

impl fmt::Debug for TmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TmState::Init => "\"init\"",
            TmState::Committed => "\"committed\"",
            TmState::Aborted => "\"aborted\"",
        })
    }
}

/// The variable `msgs`: the set of messages sent so far, packed as the set of RMs that sent
/// `"Prepared"` plus the presence of the TM's `"Commit"` and `"Abort"`.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Messages {
    /// `{m.rm : m \in {m \in msgs : m.type = "Prepared"}}`.
    pub prepared: RmSet,
    /// `[type |-> "Commit"] \in msgs`.
    pub commit: bool,
    /// `[type |-> "Abort"] \in msgs`.
    pub abort: bool,
}

impl fmt::Debug for Messages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = (0..32)
            .filter(|&r| self.prepared.contains(Rm(r)))
            .map(|r| format!("[type |-> \"Prepared\", rm |-> {:?}]", Rm(r)))
            .collect();
        if self.commit {
            items.push("[type |-> \"Commit\"]".into());
        }
        if self.abort {
            items.push("[type |-> \"Abort\"]".into());
        }
        write!(f, "{{{}}}", items.join(", "))
    }
}

/// A TwoPhase state: the four variables of TwoPhase.tla.
#[allow(non_snake_case)]
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct TwoPhaseState {
    pub rmState: RmStates,
    pub tmState: TmState,
    pub tmPrepared: RmSet,
    pub msgs: Messages,
}

impl TwoPhaseState {
    /// The state with its RMs renamed: RM `r` becomes `perm[r]`.
    pub fn permuted(&self, perm: &[u8]) -> Self {
        TwoPhaseState {
            rmState: self.rmState.permuted(perm),
            tmState: self.tmState,
            tmPrepared: self.tmPrepared.permuted(perm),
            msgs: Messages {
                prepared: self.msgs.prepared.permuted(perm),
                ..self.msgs
            },
        }
    }
}

impl fmt::Debug for TwoPhaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwoPhaseState")
            .field("rmState", &self.rmState)
            .field("tmState", &self.tmState)
            .field("tmPrepared", &self.tmPrepared)
            .field("msgs", &self.msgs)
            .finish()
    }
}

/// The actions of `TPNext`, with their `\E rm \in RM` witness.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum TwoPhaseAction {
    TMRcvPrepared(Rm),
    TMCommit,
    TMAbort,
    RMPrepare(Rm),
    RMChooseToAbort(Rm),
    RMRcvCommitMsg(Rm),
    RMRcvAbortMsg(Rm),
}

impl fmt::Debug for TwoPhaseAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TwoPhaseAction::TMRcvPrepared(r) => write!(f, "TMRcvPrepared({r:?})"),
            TwoPhaseAction::TMCommit => f.write_str("TMCommit"),
            TwoPhaseAction::TMAbort => f.write_str("TMAbort"),
            TwoPhaseAction::RMPrepare(r) => write!(f, "RMPrepare({r:?})"),
            TwoPhaseAction::RMChooseToAbort(r) => write!(f, "RMChooseToAbort({r:?})"),
            TwoPhaseAction::RMRcvCommitMsg(r) => write!(f, "RMRcvCommitMsg({r:?})"),
            TwoPhaseAction::RMRcvAbortMsg(r) => write!(f, "RMRcvAbortMsg({r:?})"),
        }
    }
}

/// A deliberately broken TwoPhase, to show that the checker catches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TwoPhaseBug {
    /// `TMCommit` without `tmPrepared = RM`: the TM commits before every RM has prepared, the
    /// failure the "Prepared" phase exists to prevent (Gray and Lamport, section 3).
    CommitWithoutAllPrepared,
}

/// The constants of a TwoPhase model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TwoPhaseConfig {
    /// `Cardinality(RM)`: 3 in `TwoPhase.cfg`.
    pub rms: usize,
    /// Return canonical states (see [`TwoPhase::canonical`]), so that BFS explores one state per
    /// orbit of the RM permutations, as TLC does with `SYMMETRY Permutations(RM)`.
    pub symmetric: bool,
    /// A deliberately broken variant, or `None` for the spec itself.
    pub bug: Option<TwoPhaseBug>,
}

impl Default for TwoPhaseConfig {
    fn default() -> Self {
        TwoPhaseConfig {
            rms: 3,
            symmetric: false,
            bug: None,
        }
    }
}

/// The TwoPhase spec as a stateright [`Model`].
#[derive(Clone, Debug)]
pub struct TwoPhase {
    config: TwoPhaseConfig,
    /// The set `RM`, as a bitset.
    all_rms: RmSet,
}

impl TwoPhase {
    /// Builds the model; fails if `rms` is outside `1..=MAX_RMS`.
    pub fn new(config: TwoPhaseConfig) -> Result<Self, ConfigError> {
        ConfigError::check_range("rms", config.rms, 1, MAX_RMS)?;
        let all_rms = RmSet((1u32 << config.rms) - 1);
        Ok(TwoPhase { config, all_rms })
    }

    /// The constants this model was built with.
    pub fn config(&self) -> &TwoPhaseConfig {
        &self.config
    }

    /// An RM's whole part of the state as a 4-bit key: `rmState[r]` (2 bits), then
    /// `r \in tmPrepared`, then `"Prepared"` from `r` in `msgs`.
    fn rm_key(state: &TwoPhaseState, r: Rm) -> u8 {
        (state.rmState.get(r) as u8 - 1)
            | (state.tmPrepared.contains(r) as u8) << 2
            | (state.msgs.prepared.contains(r) as u8) << 3
    }

    /// The canonical member of the state's orbit under permutations of `RM`: RMs sorted by
    /// their whole triple (see the module doc), by a counting sort over the 16 possible keys.
    pub fn canonical(&self, state: &TwoPhaseState) -> TwoPhaseState {
        let mut counts = [0u8; 16];
        for r in self.rms() {
            counts[Self::rm_key(state, r) as usize] += 1;
        }
        let mut out = TwoPhaseState {
            rmState: state.rmState,
            tmState: state.tmState,
            tmPrepared: RmSet(0),
            msgs: Messages {
                prepared: RmSet(0),
                ..state.msgs
            },
        };
        let mut r = 0u8;
        for (key, &count) in counts.iter().enumerate() {
            let rm_state = match key & 3 {
                0 => RmState::Working,
                1 => RmState::Prepared,
                2 => RmState::Committed,
                _ => RmState::Aborted,
            };
            for _ in 0..count {
                out.rmState.set(Rm(r), rm_state);
                if key & 4 != 0 {
                    out.tmPrepared.insert(Rm(r));
                }
                if key & 8 != 0 {
                    out.msgs.prepared.insert(Rm(r));
                }
                r += 1;
            }
        }
        out
    }

    fn finish(&self, state: TwoPhaseState) -> TwoPhaseState {
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

impl Model for TwoPhase {
    type State = TwoPhaseState;
    type Action = TwoPhaseAction;

    /// `TPInit`.
    fn init_states(&self) -> Vec<TwoPhaseState> {
        vec![self.finish(TwoPhaseState {
            rmState: RmStates::constant(self.config.rms, RmState::Working),
            tmState: TmState::Init,
            tmPrepared: RmSet(0),
            msgs: Messages::default(),
        })]
    }

    /// Every instance of `TPNext`'s disjuncts, in its order; `next_state` evaluates their
    /// enabling conditions.
    fn actions(&self, _state: &TwoPhaseState, actions: &mut Vec<TwoPhaseAction>) {
        actions.push(TwoPhaseAction::TMCommit);
        actions.push(TwoPhaseAction::TMAbort);
        for r in self.rms() {
            actions.push(TwoPhaseAction::TMRcvPrepared(r));
            actions.push(TwoPhaseAction::RMPrepare(r));
            actions.push(TwoPhaseAction::RMChooseToAbort(r));
            actions.push(TwoPhaseAction::RMRcvCommitMsg(r));
            actions.push(TwoPhaseAction::RMRcvAbortMsg(r));
        }
    }

    fn next_state(&self, state: &TwoPhaseState, action: TwoPhaseAction) -> Option<TwoPhaseState> {
        let mut next = *state;
        match action {
            TwoPhaseAction::TMRcvPrepared(r) => {
                if state.tmState != TmState::Init || !state.msgs.prepared.contains(r) {
                    return None;
                }
                next.tmPrepared.insert(r);
            }
            TwoPhaseAction::TMCommit => {
                let all_prepared = state.tmPrepared == self.all_rms
                    || self.config.bug == Some(TwoPhaseBug::CommitWithoutAllPrepared);
                if state.tmState != TmState::Init || !all_prepared {
                    return None;
                }
                next.tmState = TmState::Committed;
                next.msgs.commit = true;
            }
            TwoPhaseAction::TMAbort => {
                if state.tmState != TmState::Init {
                    return None;
                }
                next.tmState = TmState::Aborted;
                next.msgs.abort = true;
            }
            TwoPhaseAction::RMPrepare(r) => {
                if state.rmState.get(r) != RmState::Working {
                    return None;
                }
                next.rmState.set(r, RmState::Prepared);
                next.msgs.prepared.insert(r);
            }
            TwoPhaseAction::RMChooseToAbort(r) => {
                if state.rmState.get(r) != RmState::Working {
                    return None;
                }
                next.rmState.set(r, RmState::Aborted);
            }
            TwoPhaseAction::RMRcvCommitMsg(r) => {
                if !state.msgs.commit {
                    return None;
                }
                next.rmState.set(r, RmState::Committed);
            }
            TwoPhaseAction::RMRcvAbortMsg(r) => {
                if !state.msgs.abort {
                    return None;
                }
                next.rmState.set(r, RmState::Aborted);
            }
        }
        // Pair assertions: the TM only learns of prepares that were sent, and messages are
        // never removed.
        debug_assert!(next.tmPrepared.0 & !next.msgs.prepared.0 == 0);
        debug_assert!(next.msgs.prepared.0 & state.msgs.prepared.0 == state.msgs.prepared.0);
        Some(self.finish(next))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("TPTypeOK", |m: &TwoPhase, s: &TwoPhaseState| {
                s.rmState.len() == m.config.rms
                    && s.tmPrepared.within(m.config.rms)
                    && s.msgs.prepared.within(m.config.rms)
            }),
            Property::always("TCConsistent", |_, s: &TwoPhaseState| {
                !(s.rmState.any(RmState::Aborted) && s.rmState.any(RmState::Committed))
            }),
            Property::sometimes("committed", |_, s: &TwoPhaseState| {
                s.rmState.all(&[RmState::Committed])
            }),
            Property::sometimes("aborted", |_, s: &TwoPhaseState| {
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
        let m = TwoPhase::new(TwoPhaseConfig::default()).unwrap();
        let s = m.init_states()[0];
        let s = m.next_state(&s, TwoPhaseAction::RMPrepare(Rm(1))).unwrap();
        let s = m.next_state(&s, TwoPhaseAction::TMAbort).unwrap();
        assert_eq!(
            format!("{s:?}"),
            "TwoPhaseState { rmState: [r1 |-> \"working\", r2 |-> \"prepared\", r3 |-> \
             \"working\"], tmState: \"aborted\", tmPrepared: {}, msgs: {[type |-> \"Prepared\", \
             rm |-> r2], [type |-> \"Abort\"]} }"
        );
        assert_eq!(
            format!("{:?}", TwoPhaseAction::RMPrepare(Rm(1))),
            "RMPrepare(r2)"
        );
        assert_eq!(format!("{:?}", TwoPhaseAction::TMCommit), "TMCommit");
    }

    #[test]
    fn disabled_actions_have_no_successor() {
        let m = TwoPhase::new(TwoPhaseConfig::default()).unwrap();
        let s = m.init_states()[0];
        assert_eq!(m.next_state(&s, TwoPhaseAction::TMCommit), None);
        assert_eq!(m.next_state(&s, TwoPhaseAction::TMRcvPrepared(Rm(0))), None);
        assert_eq!(m.next_state(&s, TwoPhaseAction::RMRcvAbortMsg(Rm(0))), None);
    }
}
