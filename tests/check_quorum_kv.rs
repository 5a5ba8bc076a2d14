//! The quorum store's check matrix: with R + W > N every read covers the writes completed before
//! it, with R + W <= N the checker finds a stale read, and in either case quorums alone are not
//! linearizable (the new/old inversion is reached).
//!
//! Pinned counts are exact on purpose: when a change to the model is intended, re-measure and
//! update the pin in the same commit, saying why.

use synod::check::{Strategy, Verdict};
use synod_models::clocks::VectorClock;
use synod_models::kv::KvRet;
use synod_models::quorum_kv::{add, model, QuorumConfig, Version};
use synod_models::NetworkKind;

mod common;
use common::{assert_counts, check_json, reachable, verdict};

fn cfg() -> QuorumConfig {
    QuorumConfig {
        replicas: 3,
        r: 2,
        w: 2,
        clients: 2,
        reads: 2,
        read_repair: true,
        network: NetworkKind::UnorderedNonDuplicating,
    }
}

fn bfs(cfg: &QuorumConfig) -> std::sync::Arc<synod::check::Report> {
    common::memo_check(cfg, Strategy::Bfs, 2, model)
}

#[test]
fn overlapping_quorums_cover_completed_writes_but_are_not_linearizable() {
    let cases: Vec<(QuorumConfig, usize, usize, bool, bool)> = vec![
        (cfg(), 129_976, 608_524, true, false),
        (
            QuorumConfig {
                read_repair: false,
                ..cfg()
            },
            78_524,
            317_166,
            true,
            false,
        ),
        (
            QuorumConfig {
                network: NetworkKind::Ordered,
                ..cfg()
            },
            44_404,
            143_693,
            false,
            false,
        ),
        (
            QuorumConfig { reads: 1, ..cfg() },
            14_778,
            59_131,
            false,
            true,
        ),
        (
            QuorumConfig {
                r: 1,
                w: 3,
                ..cfg()
            },
            1_341,
            2_348,
            true,
            true,
        ),
    ];
    for (c, unique, generated, inversion, plain) in cases {
        let what = format!("{c:?}");
        let r = bfs(&c);
        assert_counts(&r, unique, generated, &what);
        assert_eq!(verdict(&r, "read your quorum"), Verdict::Holds, "{what}");
        assert_eq!(verdict(&r, "siblings"), Verdict::Reached, "{what}");
        assert_eq!(verdict(&r, "replicas agree"), Verdict::Reached, "{what}");
        let expected = if inversion {
            Verdict::Reached
        } else {
            Verdict::Unreached
        };
        assert_eq!(verdict(&r, "new/old inversion"), expected, "{what}");
        if plain {
            assert_eq!(
                reachable(&model(c.clone())).len(),
                unique,
                "{what}: plain BFS"
            );
        }
    }
}

/// The inversion with R + W > N: a read at the replica holding an unfinished write returns it, a
/// later read from two replicas without it returns the older value.
#[test]
fn quorums_alone_show_the_new_old_inversion() {
    let r = bfs(&cfg());
    let trace = r
        .property("new/old inversion")
        .unwrap()
        .trace
        .as_ref()
        .unwrap();
    assert_eq!(trace.steps.len(), 13, "{}", trace.to_text());
    let states = common::replay_on(&model(cfg()), trace);
    let last = states.last().unwrap().first().unwrap();
    let reads: Vec<_> = last.history.clients[0]
        .done
        .iter()
        .filter_map(|d| match d.ret {
            KvRet::ReadOk(Some(v)) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(
        reads,
        vec![2, 1],
        "new (client 1's write in progress), then old"
    );
}

/// R + W <= N: a read quorum can miss the write quorum entirely.
#[test]
fn disjoint_quorums_give_a_stale_read() {
    for (r, w, steps) in [(1, 1, 3), (2, 1, 5), (1, 2, 5)] {
        let c = QuorumConfig { r, w, ..cfg() };
        let report = bfs(&c);
        assert_eq!(
            verdict(&report, "read your quorum"),
            Verdict::Violated,
            "r {r} w {w}"
        );
        let trace = report
            .property("read your quorum")
            .unwrap()
            .trace
            .as_ref()
            .unwrap();
        assert_eq!(trace.steps.len(), steps, "r {r} w {w}: {}", trace.to_text());
        common::replay_on(&model(c), trace);
    }
}

#[test]
fn siblings_keep_only_versions_nothing_descends_from() {
    let v = |e: &[u32], value| Version {
        clock: VectorClock::from_entries(e),
        value,
    };
    let mut s = Vec::new();
    assert!(add(&mut s, &v(&[1, 0], 1)));
    assert!(add(&mut s, &v(&[0, 1], 2)), "concurrent: a sibling");
    assert_eq!(s.len(), 2);
    assert!(!add(&mut s, &v(&[1, 0], 1)), "already there");
    assert!(add(&mut s, &v(&[1, 1], 3)), "descends from both");
    assert_eq!(s, vec![v(&[1, 1], 3)]);
    assert!(!add(&mut s, &v(&[0, 1], 2)), "an ancestor is dropped");
}

#[test]
fn through_the_binary() {
    let (code, r) = check_json("quorum-kv", &[]);
    assert_eq!(code, 0, "{r}");
    let (code, r) = check_json("quorum-kv", &["--r", "1", "--w", "1"]);
    assert_eq!(code, 1, "{r}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["check", "quorum-kv", "--r", "4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--r 4 exceeds --replicas 3"));
}
