//! The gossip check matrix: state-based CRDTs converge under any delivery order; a merge that is
//! not a join, and an OR-Set without tags, are caught with their traces.
//!
//! Pinned counts are exact on purpose: when a change to the model is intended, re-measure and
//! update the pin in the same commit, saying why.

use synod::check::{Strategy, Verdict};
use synod_models::gossip::{model, GossipBug, GossipConfig};
use synod_models::NetworkKind;

mod common;
use common::{assert_counts, check_json, reachable, verdict};

fn cfg() -> GossipConfig {
    GossipConfig {
        replicas: 3,
        updates: 1,
        network: NetworkKind::UnorderedNonDuplicating,
        bug: None,
        anti_entropy: false,
    }
}

fn bfs(cfg: &GossipConfig) -> std::sync::Arc<synod::check::Report> {
    common::memo_check(cfg, Strategy::Bfs, 2, model)
}

#[test]
fn replicas_converge() {
    let cases: Vec<(GossipConfig, usize, usize, bool)> = vec![
        (cfg(), 410_251, 3_109_810, false),
        (
            GossipConfig {
                network: NetworkKind::Ordered,
                ..cfg()
            },
            410_251,
            2_762_076,
            false,
        ),
        (
            GossipConfig {
                replicas: 2,
                ..cfg()
            },
            49,
            154,
            true,
        ),
        (
            GossipConfig {
                replicas: 2,
                updates: 2,
                ..cfg()
            },
            892,
            3_753,
            true,
        ),
    ];
    for (c, unique, generated, plain) in cases {
        let what = format!("{c:?}");
        let r = bfs(&c);
        assert_counts(&r, unique, generated, &what);
        for p in ["convergence", "add wins"] {
            assert_eq!(verdict(&r, p), Verdict::Holds, "{what}: {p}");
        }
        for p in ["replicas differ", "converged after every update"] {
            assert_eq!(verdict(&r, p), Verdict::Reached, "{what}: {p}");
        }
        assert_eq!(r.exit_code(), 0, "{what}");
        if plain {
            assert_eq!(
                reachable(&model(c.clone())).len(),
                unique,
                "{what}: plain BFS"
            );
        }
    }
    // Nothing to gossip: the replicas never differ.
    let idle = bfs(&GossipConfig {
        updates: 0,
        ..cfg()
    });
    assert_eq!(verdict(&idle, "replicas differ"), Verdict::Unreached);
    assert_eq!(idle.exit_code(), 1);
}

/// Merging by adding: replica 0's increment goes to replica 1 and comes back, and counts twice.
#[test]
fn a_merge_that_adds_counts_an_update_twice() {
    let c = GossipConfig {
        replicas: 2,
        bug: Some(GossipBug::AddMerge),
        ..cfg()
    };
    let r = bfs(&c);
    assert_eq!(verdict(&r, "convergence"), Verdict::Violated);
    let trace = r.property("convergence").unwrap().trace.as_ref().unwrap();
    assert_eq!(trace.steps.len(), 12, "{}", trace.to_text());
    let states = common::replay_on(&model(c), trace);
    let last = states.last().unwrap().first().unwrap();
    let total: u64 = last.actors.iter().map(|a| u64::from(a.state.updates)).sum();
    assert!(
        last.actors.iter().all(|a| a.state.crdts.g.value() > total),
        "{}",
        trace.to_text()
    );
}

/// Without tags a remove that never saw the add still removes the element.
#[test]
fn an_untagged_remove_wins_over_a_concurrent_add() {
    let c = GossipConfig {
        replicas: 2,
        bug: Some(GossipBug::UntaggedSet),
        ..cfg()
    };
    let r = bfs(&c);
    assert_eq!(verdict(&r, "add wins"), Verdict::Violated);
    let trace = r.property("add wins").unwrap().trace.as_ref().unwrap();
    assert_eq!(trace.steps.len(), 10, "{}", trace.to_text());
    common::replay_on(&model(c), trace);
}

#[test]
fn through_the_binary() {
    for bug in ["add-merge", "untagged-set"] {
        let (code, r) = check_json("gossip", &["--bug", bug]);
        assert_eq!(code, 1, "{bug}: {r}");
        assert_eq!(r["parameters"]["replicas"], 2, "{r}");
    }
    for network in ["unordered-duplicating", "lossy-unordered-nonduplicating"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
            .args(["check", "gossip", "--network", network])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{network}");
    }
}
