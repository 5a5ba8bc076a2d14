//! The ABD check matrix: pinned state counts (the small ones cross-checked by a plain search of
//! our own), linearizability holding with crashes and on every network it accepts, and the
//! read without write-back caught with the new/old inversion.
//!
//! Pinned counts are exact on purpose: when a change to the model is intended, re-measure and
//! update the pin in the same commit, saying why.

use std::sync::Arc;
use synod::check::{Report, Strategy, Verdict};
use synod_models::abd::{model, AbdBug, AbdConfig, Script};
use synod_models::kv::KvRet;
use synod_models::NetworkKind;

mod common;
use common::{assert_counts, check_json, reachable, verdict};

fn cfg() -> AbdConfig {
    AbdConfig {
        servers: 3,
        clients: 2,
        crashes: 0,
        script: Script { reads: 1 },
        network: NetworkKind::UnorderedNonDuplicating,
        bug: None,
        all: false,
        shared: false,
    }
}

fn bfs(cfg: &AbdConfig) -> Arc<Report> {
    common::memo_check(cfg, Strategy::Bfs, 2, model)
}

#[track_caller]
fn assert_passes(r: &Report, what: &str) {
    assert_eq!(verdict(r, "linearizable"), Verdict::Holds, "{what}");
    assert_eq!(verdict(r, "read sees a write"), Verdict::Reached, "{what}");
    assert_eq!(
        verdict(r, "read sees another client's write"),
        Verdict::Reached,
        "{what}"
    );
    assert!(r.complete, "{what}");
    assert_eq!(r.exit_code(), 0, "{what}");
}

#[test]
fn pinned_counts_hold() {
    let cases: Vec<(AbdConfig, usize, usize, bool)> = vec![
        (cfg(), 38_813, 169_543, true),
        (
            AbdConfig {
                network: NetworkKind::Ordered,
                ..cfg()
            },
            18_309,
            61_159,
            true,
        ),
        (
            AbdConfig {
                crashes: 1,
                ..cfg()
            },
            231_236,
            1_080_913,
            false,
        ),
        (
            AbdConfig {
                network: NetworkKind::LossyUnorderedNonDuplicating,
                ..cfg()
            },
            349_458,
            2_149_019,
            false,
        ),
        (
            AbdConfig {
                servers: 1,
                network: NetworkKind::UnorderedDuplicating,
                ..cfg()
            },
            499,
            2_263,
            true,
        ),
        (
            AbdConfig {
                servers: 1,
                crashes: 1,
                network: NetworkKind::UnorderedDuplicating,
                ..cfg()
            },
            998,
            3_627,
            true,
        ),
        (
            AbdConfig {
                servers: 1,
                clients: 3,
                network: NetworkKind::UnorderedDuplicating,
                ..cfg()
            },
            121_465,
            833_350,
            false,
        ),
        // Every client's requests through the same coordinators: its writes meet the others'.
        (
            AbdConfig {
                shared: true,
                ..cfg()
            },
            39_973,
            174_426,
            true,
        ),
        // Phases that wait for every server: fewer interleavings, the same guarantees.
        (AbdConfig { all: true, ..cfg() }, 7_641, 21_411, true),
        (
            AbdConfig {
                script: Script { reads: 2 },
                ..cfg()
            },
            1_137_401,
            6_353_733,
            false,
        ),
    ];
    for (c, unique, generated, plain) in cases {
        let what = format!("{c:?}");
        let r = bfs(&c);
        assert_counts(&r, unique, generated, &what);
        assert_passes(&r, &what);
        if plain {
            assert_eq!(
                reachable(&model(c.clone())).len(),
                unique,
                "{what}: plain BFS"
            );
        }
    }
}

/// One server is its own majority; one client never reads another's value (exit 1).
#[test]
fn degenerate_configurations() {
    let one = bfs(&AbdConfig {
        servers: 1,
        ..cfg()
    });
    assert_counts(&one, 93, 121, "one server");
    assert_eq!(verdict(&one, "linearizable"), Verdict::Holds);
    let alone = bfs(&AbdConfig {
        clients: 1,
        ..cfg()
    });
    assert_eq!(
        verdict(&alone, "read sees another client's write"),
        Verdict::Unreached
    );
    assert_eq!(alone.exit_code(), 1);
}

/// Without the write-back a client reads the other client's write from the one replica it has
/// reached, then reads the older value from a majority that has not seen it: new, then old.
#[test]
fn no_write_back_shows_the_new_old_inversion() {
    let c = AbdConfig {
        script: Script { reads: 2 },
        bug: Some(AbdBug::NoWriteBack),
        ..cfg()
    };
    let r = bfs(&c);
    assert_eq!(verdict(&r, "linearizable"), Verdict::Violated);
    let trace = r.property("linearizable").unwrap().trace.as_ref().unwrap();
    assert_eq!(trace.steps.len(), 17, "{}", trace.to_text());
    let states = common::replay_on(&model(c), trace);
    let last = states.last().unwrap().first().unwrap();
    // Some client's two reads returned two different values, the later one the older write.
    let inverted = last.history.clients.iter().any(|ops| {
        let reads: Vec<_> = ops
            .done
            .iter()
            .filter_map(|d| match d.ret {
                KvRet::ReadOk(Some(v)) => Some(v),
                _ => None,
            })
            .collect();
        reads.len() == 2 && reads[0] != reads[1]
    });
    assert!(inverted, "{}", trace.to_text());
    // The correct protocol, same settings: holds (pinned above).
}

/// A network that duplicates hands a coordinator a client's write again after it answered it.
/// The replicas' records of their clients' writes make the second delivery finish the first
/// (same tag) or be dropped as stale; without them it runs again under a newer tag, and the
/// write overtakes a later one.
#[test]
fn a_write_delivered_again_runs_once() {
    let c = AbdConfig {
        servers: 1,
        network: NetworkKind::UnorderedDuplicating,
        bug: Some(AbdBug::NoWriteRecords),
        ..cfg()
    };
    let r = bfs(&c);
    assert_eq!(verdict(&r, "linearizable"), Verdict::Violated);
    let trace = r.property("linearizable").unwrap().trace.as_ref().unwrap();
    assert_eq!(trace.steps.len(), 9, "{}", trace.to_text());
    // The same write request is delivered twice, the second time after its write_ok.
    let text = trace.to_text();
    let first_write = text
        .find("client 0 -> server 0: Write(#1")
        .expect("delivered");
    let ok = text.find("WriteOk(#1").expect("answered");
    let again = text.rfind("client 0 -> server 0: Write(#1").unwrap();
    assert!(first_write < ok && ok < again, "{text}");
    common::replay_on(&model(c), trace);
}

/// Two concurrent writes at one coordinator: with the coordinator as the tag's tie-breaker
/// they take the same tag with different values, replicas keep whichever arrived first, and
/// two later reads return the two values in the wrong order. With the writer as tie-breaker
/// (the protocol) the same settings hold (pinned above).
#[test]
fn two_writes_at_one_coordinator_need_the_writer_in_the_tag() {
    let c = AbdConfig {
        shared: true,
        bug: Some(AbdBug::CoordinatorTags),
        ..cfg()
    };
    let r = bfs(&c);
    assert_eq!(verdict(&r, "linearizable"), Verdict::Violated);
    let trace = r.property("linearizable").unwrap().trace.as_ref().unwrap();
    let text = trace.to_text();
    assert_eq!(trace.steps.len(), 24, "{text}");
    // Both writes are coordinated by server 0 and stored under one tag, (1, server 0).
    assert!(text.contains("client 0 -> server 0: Write(#1"), "{text}");
    assert!(text.contains("client 1 -> server 0: Write(#1"), "{text}");
    assert!(
        text.contains("k0=1@(1,c0) write)") && text.contains("k0=2@(1,c0) write)"),
        "{text}"
    );
    common::replay_on(&model(c), trace);
}

#[test]
fn through_the_binary_the_bugs_fail() {
    let (code, r) = check_json("abd", &["--bug", "coordinator-tags"]);
    assert_eq!(code, 1, "{r}");
    assert!(r.to_string().contains("shared-coordinator"), "{r}");
    let (code, r) = check_json("abd", &["--bug", "no-write-back"]);
    assert_eq!(code, 1, "{r}");
    let (code, r) = check_json("abd", &["--bug", "no-write-records"]);
    assert_eq!(code, 1, "{r}");
    assert!(r.to_string().contains("unordered-duplicating"), "{r}");
}
