//! Distinct-state counts pinned against TLC's, as the tlaplus/Examples manifests report them
//! (`specifications/*/manifest.json`: `distinctStates`, `totalStates`, `stateDepth`). A count
//! that disagrees means the mirror is not faithful: fix the mirror, never the number.
//!
//! Stateright's `unique_state_count` is the number of fingerprints of initial and reachable
//! states, TLC's "distinct states". Its `state_count` is the initial states plus every successor
//! generated, TLC's "states generated" for these specs (see tlc_totals.rs for Voting and Paxos,
//! where TLC generates one successor per existential witness). Its `max_depth` on one thread is
//! TLC's depth: both count the initial state as depth 1.

mod common;

use common::{bfs, discovered};
use stateright::Checker;
use synod_specs::*;

const TCOMMIT_PROPERTIES: [&str; 2] = ["aborted", "committed"];

fn two_phase(rms: usize) -> TwoPhase {
    TwoPhase::new(TwoPhaseConfig {
        rms,
        ..Default::default()
    })
    .unwrap()
}

fn tcommit(rms: usize) -> TCommit {
    TCommit::new(TCommitConfig {
        rms,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn tcommit_3_rms_matches_tlc() {
    // TCommit.tla with TCommit.cfg, RM = {r1, r2, r3}: TLC reports 34 distinct states,
    // 94 states generated, depth 7.
    let checker = bfs(tcommit(3), 1);
    assert_eq!(checker.unique_state_count(), 34);
    assert_eq!(checker.state_count(), 94);
    assert_eq!(checker.max_depth(), 7);
    checker.assert_properties();
    assert_eq!(discovered(&checker), TCOMMIT_PROPERTIES.into());
}

#[test]
fn tcommit_4_and_5_rms() {
    // TCommit.tla with 4 and 5 RMs: no TLC run in the manifest; 3^n + 2^n - 1 (see tcommit.rs).
    for (rms, expected) in [(4, 96), (5, 274)] {
        let checker = bfs(tcommit(rms), 1);
        assert_eq!(checker.unique_state_count(), expected, "{rms} RMs");
        assert_eq!(checker.max_depth(), 2 * rms + 1, "{rms} RMs");
        checker.assert_properties();
    }
}

#[test]
fn two_phase_3_rms_matches_tlc() {
    // TwoPhase.tla with TwoPhase.cfg, RM = {r1, r2, r3}: TLC reports 288 distinct states,
    // 1,146 states generated, depth 11 (3 RMPrepare, 3 TMRcvPrepared, TMCommit,
    // 3 RMRcvCommitMsg: 10 steps after the initial state).
    let checker = bfs(two_phase(3), 1);
    assert_eq!(checker.unique_state_count(), 288);
    assert_eq!(checker.state_count(), 1_146);
    assert_eq!(checker.max_depth(), 11);
    checker.assert_properties();
    assert_eq!(discovered(&checker), TCOMMIT_PROPERTIES.into());
}

#[test]
fn two_phase_4_and_5_rms() {
    // TwoPhase.tla with 4 RMs: 4^n + 2^n + 6^n = 1,568 (no TLC run in the manifest).
    // With 5 RMs: 8,832, the count stateright's own 2PC example pins for the same spec.
    for (rms, expected) in [(4, 1_568), (5, 8_832)] {
        let checker = bfs(two_phase(rms), 1);
        assert_eq!(checker.unique_state_count(), expected, "{rms} RMs");
        assert_eq!(checker.max_depth(), 3 * rms + 2, "{rms} RMs");
        checker.assert_properties();
    }
}

#[test]
fn two_phase_6_rms_matches_tlc() {
    // TwoPhase.tla, closing comment: "checked with TLC for six RMs, a configuration with 50816
    // reachable states".
    let checker = bfs(two_phase(6), 2);
    assert_eq!(checker.unique_state_count(), 50_816);
    checker.assert_properties();
}

#[test]
fn two_phase_7_rms() {
    // TwoPhase.tla with 7 RMs: 4^7 + 2^7 + 6^7 = 296,448 (the benchmark's configuration).
    let checker = bfs(two_phase(7), 2);
    assert_eq!(checker.unique_state_count(), 296_448);
    checker.assert_properties();
}

#[test]
fn consensus_matches_tlc() {
    // Consensus.tla with MCConsensus.tla/.cfg, Value = {a, b, c}: TLC reports 4 distinct
    // states, 4 generated, depth 2.
    let checker = bfs(Consensus::new(ConsensusConfig::default()).unwrap(), 1);
    assert_eq!(checker.unique_state_count(), 4);
    assert_eq!(checker.state_count(), 4);
    assert_eq!(checker.max_depth(), 2);
    checker.assert_properties();
    assert_eq!(discovered(&checker), ["value chosen"].into());
}

#[test]
fn voting_matches_tlc() {
    // Voting.tla with MCVoting.tla (toolbox SmallModel): Acceptor = {a1, a2, a3},
    // Value = {v1, v2}, Quorum = the three pairs, Ballot <- 0..2. TLC reports 6,752 distinct
    // states, depth 16.
    let checker = bfs(Voting::new(VotingConfig::default()).unwrap(), 1);
    assert_eq!(checker.unique_state_count(), 6_752);
    assert_eq!(checker.max_depth(), 16);
    checker.assert_properties();
    assert_eq!(
        discovered(&checker),
        ["value chosen", "value chosen in a later ballot"].into()
    );
}

#[test]
fn paxos_tiny_matches_tlc() {
    // Paxos.tla with MCPaxos.tla and MCPaxosTiny.cfg: Acceptor = {a1, a2, a3},
    // Value = {v1, v2}, Quorum = the three pairs, MaxBallot = 1 (Ballot <- 0..MaxBallot).
    // TLC reports 3,921 distinct states, depth 17.
    let checker = bfs(Paxos::new(PaxosConfig::default()).unwrap(), 1);
    assert_eq!(checker.unique_state_count(), 3_921);
    assert_eq!(checker.max_depth(), 17);
    checker.assert_properties();
    assert_eq!(
        discovered(&checker),
        ["value chosen", "value chosen in a later ballot"].into()
    );
}

#[test]
fn paxos_small() {
    // Paxos.tla with MCPaxosSmall.cfg (MaxBallot = 2). The manifest gives no TLC count for this
    // model; 185,369 is stateright's, pinned against regressions only.
    let checker = bfs(
        Paxos::new(PaxosConfig {
            max_ballot: 2,
            ..Default::default()
        })
        .unwrap(),
        2,
    );
    assert_eq!(checker.unique_state_count(), 185_369);
    checker.assert_properties();
}

#[test]
fn invalid_configurations_are_refused() {
    let err = TwoPhase::new(TwoPhaseConfig {
        rms: 0,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "rms = 0 is outside 1..=16");
    assert!(Paxos::new(PaxosConfig {
        max_ballot: 5,
        ..Default::default()
    })
    .is_err());
    assert!(Voting::new(VotingConfig {
        acceptors: 6,
        ..Default::default()
    })
    .is_err());
}
