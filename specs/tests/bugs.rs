//! Deliberately broken variants must be caught: the checker must find a counterexample to the
//! invariant the bug breaks, the counterexample must be a behaviour of the model, and BFS
//! bounded by depth must find a shortest one (see `common::shortest_discovery` for why a single
//! unbounded run does not).

mod common;

use common::{assert_replays, bfs, shortest_discovery};
use stateright::Checker;
use synod_specs::tcommit::RmState;
use synod_specs::*;

#[test]
fn two_phase_commit_without_all_prepared_violates_tc_consistent() {
    let model = TwoPhase::new(TwoPhaseConfig {
        rms: 3,
        symmetric: false,
        bug: Some(TwoPhaseBug::CommitWithoutAllPrepared),
    })
    .unwrap();
    let checker = bfs(model.clone(), 1);
    let path = checker.assert_any_discovery("TCConsistent");
    let last = *path.last_state();
    assert!(last.rmState.any(RmState::Committed) && last.rmState.any(RmState::Aborted));
    assert_replays(&model, &path);
    checker.assert_no_discovery("TPTypeOK");

    // Shortest: the TM commits at once, one RM learns it, another aborts on its own.
    let shortest = shortest_discovery(&model, "TCConsistent", 10).unwrap();
    let mut actions = shortest.into_actions();
    assert_eq!(actions.len(), 3);
    assert_eq!(actions.remove(0), TwoPhaseAction::TMCommit);
}

#[test]
fn two_phase_bug_is_caught_with_symmetry_too() {
    let model = TwoPhase::new(TwoPhaseConfig {
        rms: 5,
        symmetric: true,
        bug: Some(TwoPhaseBug::CommitWithoutAllPrepared),
    })
    .unwrap();
    let path = bfs(model.clone(), 2).assert_any_discovery("TCConsistent");
    assert_replays(&model, &path);
    let shortest = shortest_discovery(&model, "TCConsistent", 10).unwrap();
    assert_eq!(shortest.into_actions().len(), 3);
}

#[test]
fn tcommit_abort_after_commit_violates_tc_consistent() {
    let model = TCommit::new(TCommitConfig {
        rms: 3,
        symmetric: false,
        bug: Some(TCommitBug::AbortAfterCommit),
    })
    .unwrap();
    let checker = bfs(model.clone(), 1);
    let path = checker.assert_any_discovery("TCConsistent");
    assert_replays(&model, &path);
    checker.assert_no_discovery("TCTypeOK");
    // Shortest: every RM prepares, one commits, another aborts.
    let shortest = shortest_discovery(&model, "TCConsistent", 10).unwrap();
    assert_eq!(
        format!("{:?}", shortest.into_actions()),
        r#"[Prepare(r1), Prepare(r2), Prepare(r3), Decide(r3) \* "committed", Decide(r2) \* "aborted"]"#
    );
}

#[test]
fn consensus_choose_again_violates_inv() {
    let model = Consensus::new(ConsensusConfig {
        values: 3,
        symmetric: false,
        bug: Some(ConsensusBug::ChooseAgain),
    })
    .unwrap();
    let path = bfs(model.clone(), 1).assert_any_discovery("Inv");
    assert!(path.last_state().chosen.len() >= 2);
    assert_replays(&model, &path);
    let shortest = shortest_discovery(&model, "Inv", 5).unwrap();
    assert_eq!(shortest.into_actions().len(), 2);
}

#[test]
fn voting_without_shows_safe_at_violates_votes_safe_and_consensus() {
    let model = Voting::new(VotingConfig {
        bug: Some(VotingBug::VoteWithoutShowsSafeAt),
        ..Default::default()
    })
    .unwrap();
    let checker = bfs(model.clone(), 1);
    checker.assert_any_discovery("VotesSafe");
    checker.assert_any_discovery("Inv");
    let path = checker.assert_any_discovery("C!Inv");
    assert_eq!(model.chosen(path.last_state()).len(), 2);
    assert_replays(&model, &path);
    checker.assert_no_discovery("OneValuePerBallot");
    checker.assert_no_discovery("TypeOK");
    // One vote in ballot 1 is already unsafe: nothing yet rules out a choice in ballot 0.
    let shortest = shortest_discovery(&model, "VotesSafe", 5).unwrap();
    let actions = shortest.into_actions();
    assert_eq!(actions.len(), 1);
    assert!(matches!(actions[0], VotingAction::VoteFor(_, 1.., _)));
}

#[test]
fn voting_with_disjoint_quorums_chooses_two_values() {
    let model = Voting::new(VotingConfig {
        bug: Some(VotingBug::QuorumsDoNotIntersect),
        ..Default::default()
    })
    .unwrap();
    let path = bfs(model.clone(), 1).assert_any_discovery("C!Inv");
    assert_eq!(model.chosen(path.last_state()).len(), 2);
    assert_replays(&model, &path);
}

#[test]
fn paxos_ignoring_reported_votes_chooses_two_values() {
    let model = Paxos::new(PaxosConfig {
        bug: Some(PaxosBug::Phase2aIgnoresVotes),
        ..Default::default()
    })
    .unwrap();
    let checker = bfs(model.clone(), 1);
    let path = checker.assert_any_discovery("V!C!Inv");
    assert_eq!(model.chosen(path.last_state()).len(), 2);
    assert_replays(&model, &path);
    checker.assert_any_discovery("Inv");
    checker.assert_any_discovery("V!VotesSafe");
    checker.assert_no_discovery("TypeOK");
    // A 2a message that no quorum shows safe breaks Inv well before two values are chosen.
    let inv = shortest_discovery(&model, "Inv", 20).unwrap();
    let chosen_twice = shortest_discovery(&model, "V!C!Inv", 20).unwrap();
    assert!(inv.into_actions().len() < chosen_twice.into_actions().len());
}

#[test]
fn paxos_without_phase1b_chooses_two_values() {
    let model = Paxos::new(PaxosConfig {
        bug: Some(PaxosBug::Phase2aWithoutPhase1b),
        ..Default::default()
    })
    .unwrap();
    let checker = bfs(model.clone(), 1);
    let path = checker.assert_any_discovery("V!C!Inv");
    assert_eq!(model.chosen(path.last_state()).len(), 2);
    assert_replays(&model, &path);
    checker.assert_any_discovery("V!VotesSafe");
}

#[test]
fn paxos_with_disjoint_quorums_chooses_two_values() {
    let model = Paxos::new(PaxosConfig {
        bug: Some(PaxosBug::QuorumsDoNotIntersect),
        ..Default::default()
    })
    .unwrap();
    let path = bfs(model.clone(), 1).assert_any_discovery("V!C!Inv");
    assert_eq!(model.chosen(path.last_state()).len(), 2);
    assert_replays(&model, &path);
}
