//! The primary/backup check matrix: fenced synchronous replication holds; without fencing the
//! checker shows split brain, without synchronous replication a lost acknowledged write; the
//! deposed primary's local read is caught.
//!
//! Pinned counts are exact on purpose: when a change to the model is intended, re-measure and
//! update the pin in the same commit, saying why.

use synod::check::{Strategy, Verdict};
use synod_models::kv::KvRet;
use synod_models::primary_backup::{model, PbBug, PbConfig};
use synod_models::NetworkKind;

mod common;
use common::{assert_counts, check_json, reachable, verdict};

fn cfg() -> PbConfig {
    PbConfig {
        backups: 2,
        clients: 2,
        sync: true,
        fencing: true,
        failovers: 1,
        reads: 1,
        crashes: 0,
        network: NetworkKind::UnorderedNonDuplicating,
        bug: None,
    }
}

fn bfs(cfg: &PbConfig) -> std::sync::Arc<synod::check::Report> {
    common::memo_check(cfg, Strategy::Bfs, 2, model)
}

#[test]
fn fenced_synchronous_replication_holds() {
    let cases: Vec<(PbConfig, usize, usize, bool)> = vec![
        (cfg(), 3_888_987, 15_140_414, false),
        (
            PbConfig {
                backups: 1,
                ..cfg()
            },
            52_473,
            142_185,
            true,
        ),
        // With one backup a new primary needs the old one's vote, and takes its store: even
        // asynchronous replication loses nothing.
        (
            PbConfig {
                backups: 1,
                sync: false,
                ..cfg()
            },
            139_657,
            483_621,
            true,
        ),
    ];
    for (c, unique, generated, plain) in cases {
        let what = format!("{c:?}");
        let r = bfs(&c);
        assert_counts(&r, unique, generated, &what);
        for p in ["linearizable", "single primary per epoch"] {
            assert_eq!(verdict(&r, p), Verdict::Holds, "{what}: {p}");
        }
        for p in ["failover", "read sees a write"] {
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
}

/// Without fencing, a primary that stops waiting for its backup and a backup that promotes
/// itself are both primaries: a write the first acknowledged is gone at the second.
#[test]
fn without_fencing_split_brain_loses_an_acknowledged_write() {
    let c = PbConfig {
        backups: 1,
        fencing: false,
        ..cfg()
    };
    let r = bfs(&c);
    assert_eq!(verdict(&r, "linearizable"), Verdict::Violated);
    let trace = r.property("linearizable").unwrap().trace.as_ref().unwrap();
    assert_eq!(trace.steps.len(), 12, "{}", trace.to_text());
    let states = common::replay_on(&model(c), trace);
    // At some step two servers were primary at once.
    let both = states.iter().any(|row| {
        let s = row.first().unwrap();
        s.actors
            .iter()
            .filter(|a| format!("{:?}", a.state).contains("PRIMARY"))
            .count()
            == 2
    });
    assert!(both, "{}", trace.to_text());
    // With two backups, both promote themselves into the same epoch.
    let r = bfs(&PbConfig {
        fencing: false,
        ..cfg()
    });
    assert_eq!(verdict(&r, "single primary per epoch"), Verdict::Violated);
    assert_eq!(
        r.property("single primary per epoch")
            .unwrap()
            .trace
            .as_ref()
            .unwrap()
            .steps
            .len(),
        2
    );
}

/// Asynchronous replication: the primary acknowledges a write no backup has; two backups elect
/// one of them, and the write is gone (a later read finds the key absent).
#[test]
fn asynchronous_replication_loses_an_acknowledged_write_on_failover() {
    let c = PbConfig {
        sync: false,
        ..cfg()
    };
    let r = bfs(&c);
    assert_eq!(verdict(&r, "linearizable"), Verdict::Violated);
    let trace = r.property("linearizable").unwrap().trace.as_ref().unwrap();
    assert_eq!(trace.steps.len(), 12, "{}", trace.to_text());
    let states = common::replay_on(&model(c), trace);
    let last = states.last().unwrap().first().unwrap();
    let acked = last
        .history
        .clients
        .iter()
        .any(|c| c.done.iter().any(|d| matches!(d.ret, KvRet::WriteOk)));
    let absent = last
        .history
        .clients
        .iter()
        .any(|c| c.done.iter().any(|d| matches!(d.ret, KvRet::ReadOk(None))));
    assert!(acked && absent, "{}", trace.to_text());
}

/// A deposed primary that answers reads from its own copy returns a value the new epoch has
/// overwritten.
#[test]
fn a_deposed_primary_reading_locally_is_caught() {
    let r = bfs(&PbConfig {
        bug: Some(PbBug::LocalReads),
        ..cfg()
    });
    assert_eq!(verdict(&r, "linearizable"), Verdict::Violated);
    let trace = r.property("linearizable").unwrap().trace.as_ref().unwrap();
    assert_eq!(trace.steps.len(), 24, "{}", trace.to_text());
    // With one backup the new primary needs the old one's vote, which deposes it first.
    let r = bfs(&PbConfig {
        backups: 1,
        bug: Some(PbBug::LocalReads),
        ..cfg()
    });
    assert_eq!(verdict(&r, "linearizable"), Verdict::Holds);
}

#[test]
fn through_the_binary() {
    let (code, r) = check_json("primary-backup", &["--backups", "1"]);
    assert_eq!(code, 0, "{r}");
    for args in [
        &["--fencing", "0"][..],
        &["--sync", "0"],
        &["--bug", "local-reads"],
        // The forgotten vote needs a crash: the bug turns on --crashes 1.
        &["--bug", "forget-vote"],
    ] {
        let (code, r) = check_json("primary-backup", args);
        assert_eq!(code, 1, "{args:?}: {r}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
        .args([
            "check",
            "primary-backup",
            "--network",
            "unordered-duplicating",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Crash-restarts: a server comes back as a backup of the epoch it saved, with its saved store,
/// and fenced synchronous replication still holds; a server whose vote is not durable votes
/// twice in one epoch, and two primaries share it.
#[test]
fn restarts_from_disk_hold_and_a_forgotten_vote_is_caught() {
    let c = PbConfig {
        backups: 1,
        crashes: 1,
        ..cfg()
    };
    let r = bfs(&c);
    assert_counts(&r, 234_013, 718_825, "backups 1, crashes 1");
    for p in ["linearizable", "single primary per epoch"] {
        assert_eq!(verdict(&r, p), Verdict::Holds, "{p}");
    }
    let r = bfs(&PbConfig {
        crashes: 1,
        bug: Some(PbBug::ForgetVote),
        ..cfg()
    });
    assert_eq!(verdict(&r, "single primary per epoch"), Verdict::Violated);
    let trace = r
        .property("single primary per epoch")
        .unwrap()
        .trace
        .as_ref()
        .unwrap();
    assert_eq!(trace.steps.len(), 9, "{}", trace.to_text());
    assert!(trace.to_text().contains("crashes"), "{}", trace.to_text());
}
