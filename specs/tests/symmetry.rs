//! Exact symmetry: with `symmetric: true`, BFS finds exactly one state per orbit of the
//! reachable states under the permutations of the symmetric sets (what TLC reports with
//! `SYMMETRY Permutations(...)`), and every property verdict is unchanged.
//!
//! The expected orbit counts are computed here, independently of the crate's canonicalisers:
//! a plain BFS of the unreduced space, then the least image of each state over every
//! permutation of the group, counted.

mod common;

use common::{all_permutations, bfs, discovered, orbit_count, reachable};
use stateright::Checker;
use synod_specs::*;

#[test]
fn two_phase_orbits() {
    // TwoPhase.tla, 3 and 5 RMs. Closed form C(n+3,3) + (n+1) + C(n+5,5): 80 and 314.
    for (rms, closed_form) in [(3, 80), (5, 314)] {
        let config = TwoPhaseConfig {
            rms,
            ..Default::default()
        };
        let model = TwoPhase::new(config.clone()).unwrap();
        let states = reachable(&model);
        let perms = all_permutations(rms);
        let orbits = orbit_count(&states, |s| perms.iter().map(|p| s.permuted(p)).collect());
        assert_eq!(orbits, closed_form, "{rms} RMs");

        // The canonical form is a function of the orbit, and a member of it.
        for s in &states {
            let c = model.canonical(s);
            assert!(perms.iter().any(|p| s.permuted(p) == c));
            for p in &perms {
                assert_eq!(model.canonical(&s.permuted(p)), c);
            }
        }

        let full = bfs(model, 1);
        let symmetric = bfs(
            TwoPhase::new(TwoPhaseConfig {
                symmetric: true,
                ..config
            })
            .unwrap(),
            1,
        );
        assert_eq!(symmetric.unique_state_count(), orbits, "{rms} RMs");
        assert_eq!(symmetric.max_depth(), full.max_depth());
        assert_eq!(discovered(&symmetric), discovered(&full));
        symmetric.assert_properties();
    }
}

#[test]
fn two_phase_10_rms_symmetric() {
    // 4^10 + 2^10 + 6^10 = 61,515,776 states collapse to C(13,3) + 11 + C(15,5) = 3,300 orbits.
    let checker = bfs(
        TwoPhase::new(TwoPhaseConfig {
            rms: 10,
            symmetric: true,
            bug: None,
        })
        .unwrap(),
        2,
    );
    assert_eq!(checker.unique_state_count(), 3_300);
    checker.assert_properties();
}

#[test]
fn tcommit_orbits() {
    // TCommit.tla, 3 and 4 RMs. Closed form C(n+2,2) + n: 13 and 19.
    for (rms, closed_form) in [(3, 13), (4, 19)] {
        let config = TCommitConfig {
            rms,
            ..Default::default()
        };
        let model = TCommit::new(config.clone()).unwrap();
        let states = reachable(&model);
        let perms = all_permutations(rms);
        let orbits = orbit_count(&states, |s| perms.iter().map(|p| s.permuted(p)).collect());
        assert_eq!(orbits, closed_form);
        let full = bfs(model, 1);
        let symmetric = bfs(
            TCommit::new(TCommitConfig {
                symmetric: true,
                ..config
            })
            .unwrap(),
            1,
        );
        assert_eq!(symmetric.unique_state_count(), orbits, "{rms} RMs");
        assert_eq!(discovered(&symmetric), discovered(&full));
        symmetric.assert_properties();
    }
}

#[test]
fn consensus_orbits() {
    let full = bfs(Consensus::new(ConsensusConfig::default()).unwrap(), 1);
    let symmetric = bfs(
        Consensus::new(ConsensusConfig {
            symmetric: true,
            ..Default::default()
        })
        .unwrap(),
        1,
    );
    // {} and {v}.
    assert_eq!(symmetric.unique_state_count(), 2);
    assert_eq!(discovered(&symmetric), discovered(&full));
}

#[test]
fn voting_orbits() {
    // MCVoting: acceptors and values permuted together (3! * 2! = 12 permutations).
    let config = VotingConfig::default();
    let model = Voting::new(config.clone()).unwrap();
    let states = reachable(&model);
    assert_eq!(states.len(), 6_752);
    let acceptor_perms = all_permutations(config.acceptors);
    let value_perms = all_permutations(config.values);
    let images = |s: &VotingState| {
        let mut images = Vec::new();
        for pa in &acceptor_perms {
            for pv in &value_perms {
                images.push(s.permuted(pa, pv));
            }
        }
        images
    };
    let orbits = orbit_count(&states, images);
    for s in &states {
        let c = model.canonical(s);
        assert!(images(s).contains(&c));
        assert!(images(s).iter().all(|t| model.canonical(t) == c));
    }
    let full = bfs(model, 1);
    let symmetric = bfs(
        Voting::new(VotingConfig {
            symmetric: true,
            ..config
        })
        .unwrap(),
        1,
    );
    assert_eq!(orbits, 686);
    assert_eq!(symmetric.unique_state_count(), orbits);
    assert_eq!(symmetric.max_depth(), full.max_depth());
    assert_eq!(discovered(&symmetric), discovered(&full));
    symmetric.assert_properties();
}

#[test]
fn paxos_tiny_orbits() {
    // MCPaxosTiny: acceptors and values permuted together (3! * 2! = 12 permutations).
    let config = PaxosConfig::default();
    let model = Paxos::new(config.clone()).unwrap();
    let states = reachable(&model);
    assert_eq!(states.len(), 3_921);
    let acceptor_perms = all_permutations(config.acceptors);
    let value_perms = all_permutations(config.values);
    let images = |s: &PaxosState| {
        let mut images = Vec::new();
        for pa in &acceptor_perms {
            for pv in &value_perms {
                images.push(s.permuted(pa, pv));
            }
        }
        images
    };
    let orbits = orbit_count(&states, images);
    for s in &states {
        let c = model.canonical(s);
        assert!(images(s).contains(&c));
        assert!(images(s).iter().all(|t| model.canonical(t) == c));
    }
    let full = bfs(model, 1);
    let symmetric = bfs(
        Paxos::new(PaxosConfig {
            symmetric: true,
            ..config
        })
        .unwrap(),
        1,
    );
    assert_eq!(orbits, 443);
    assert_eq!(symmetric.unique_state_count(), orbits);
    assert_eq!(symmetric.max_depth(), full.max_depth());
    assert_eq!(discovered(&symmetric), discovered(&full));
    symmetric.assert_properties();
}

#[test]
fn paxos_small_orbits() {
    // MCPaxosSmall (MaxBallot = 2): 185,369 states, counted into orbits by brute force.
    let config = PaxosConfig {
        max_ballot: 2,
        ..Default::default()
    };
    let model = Paxos::new(config.clone()).unwrap();
    let states = reachable(&model);
    assert_eq!(states.len(), 185_369);
    let acceptor_perms = all_permutations(config.acceptors);
    let value_perms = all_permutations(config.values);
    let orbits = orbit_count(&states, |s| {
        let mut images = Vec::new();
        for pa in &acceptor_perms {
            for pv in &value_perms {
                images.push(s.permuted(pa, pv));
            }
        }
        images
    });
    let symmetric = bfs(
        Paxos::new(PaxosConfig {
            symmetric: true,
            ..config
        })
        .unwrap(),
        2,
    );
    assert_eq!(orbits, 17_153);
    assert_eq!(symmetric.unique_state_count(), orbits);
    symmetric.assert_properties();
}
