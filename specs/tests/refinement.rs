//! The implementation theorems of the TLA+ modules, checked over every reachable transition:
//!
//! - TwoPhase.tla: `THEOREM TPSpec => TC!TCSpec` (TwoPhase implements TCommit under `rmState`);
//! - Voting.tla:   `THEOREM Spec => C!Spec` (Voting implements Consensus under `chosen`);
//! - Paxos.tla:    `THEOREM Spec => V!Spec` (Paxos implements Voting under `votes`, `maxBal`),
//!   which MCPaxos has TLC check as a PROPERTY.
//!
//! Each concrete initial state must map to an abstract initial state, and each concrete step
//! to an abstract step (a successor under the abstract model's `next_state`) or a stutter.
//! The broken variants must fail their theorem.

mod common;

use common::reachable;
use stateright::Model;
use std::hash::Hash;
use synod_specs::consensus::ConsensusState;
use synod_specs::*;

/// Whether every reachable step of `concrete`, mapped through `abstraction`, is an `abstract_`
/// step or a stutter, and the initial states map to initial states.
fn refines<C, A>(concrete: &C, abstract_: &A, abstraction: impl Fn(&C::State) -> A::State) -> bool
where
    C: Model,
    C::State: Hash + Eq + Clone,
    A: Model,
    A::State: PartialEq,
{
    let abstract_init = abstract_.init_states();
    if !concrete
        .init_states()
        .iter()
        .all(|s| abstract_init.contains(&abstraction(s)))
    {
        return false;
    }
    reachable(concrete).iter().all(|s| {
        let from = abstraction(s);
        let abstract_next = abstract_.next_states(&from);
        concrete.next_states(s).iter().all(|t| {
            let to = abstraction(t);
            to == from || abstract_next.contains(&to)
        })
    })
}

fn two_phase_refines_tcommit(rms: usize, bug: Option<TwoPhaseBug>) -> bool {
    let two_phase = TwoPhase::new(TwoPhaseConfig {
        rms,
        symmetric: false,
        bug,
    })
    .unwrap();
    let tcommit = TCommit::new(TCommitConfig {
        rms,
        ..Default::default()
    })
    .unwrap();
    refines(&two_phase, &tcommit, |s| TCommitState {
        rmState: s.rmState,
    })
}

#[test]
fn two_phase_implements_tcommit() {
    assert!(two_phase_refines_tcommit(3, None));
    assert!(two_phase_refines_tcommit(4, None));
    // RMRcvCommitMsg before every RM prepared is no TCommit step (canCommit is false).
    assert!(!two_phase_refines_tcommit(
        3,
        Some(TwoPhaseBug::CommitWithoutAllPrepared)
    ));
}

fn voting_refines_consensus(config: VotingConfig) -> bool {
    let consensus = Consensus::new(ConsensusConfig {
        values: config.values,
        ..Default::default()
    })
    .unwrap();
    let voting = Voting::new(config).unwrap();
    refines(&voting, &consensus, |s| ConsensusState {
        chosen: voting.chosen(s),
    })
}

#[test]
fn voting_implements_consensus() {
    assert!(voting_refines_consensus(VotingConfig::default()));
    assert!(voting_refines_consensus(VotingConfig {
        values: 3,
        ..Default::default()
    }));
    assert!(!voting_refines_consensus(VotingConfig {
        bug: Some(VotingBug::QuorumsDoNotIntersect),
        ..Default::default()
    }));
}

fn paxos_refines_voting(config: PaxosConfig) -> bool {
    let paxos = Paxos::new(config).unwrap();
    refines(&paxos, paxos.voting(), PaxosState::voting_state)
}

#[test]
fn paxos_implements_voting() {
    assert!(paxos_refines_voting(PaxosConfig::default()));
    assert!(paxos_refines_voting(PaxosConfig {
        values: 3,
        ..Default::default()
    }));
    // A vote for a value no quorum shows safe is no VoteFor step.
    assert!(!paxos_refines_voting(PaxosConfig {
        bug: Some(PaxosBug::Phase2aIgnoresVotes),
        ..Default::default()
    }));
    // Paxos.tla: the intersection ASSUME is not needed for Paxos to implement Voting.
    assert!(paxos_refines_voting(PaxosConfig {
        bug: Some(PaxosBug::QuorumsDoNotIntersect),
        ..Default::default()
    }));
}
