//! Raft (models/src/raft.rs) through the real binary: pinned state counts of the default
//! configuration (three servers, terms up to 2, one client that writes and reads), of it with
//! one crash, and of smaller ones; the properties they prove and reach; every bug variant
//! caught with a shortest trace; and server symmetry counting exactly the orbits.

use serde_json::Value;

fn check(args: &[&str]) -> (i32, Value) {
    common::check_json("raft", args)
}

fn verdict<'a>(report: &'a Value, name: &str) -> &'a Value {
    common::property(report, name)
}

const SAFETY: [&str; 6] = [
    "election safety",
    "leader append-only",
    "log matching",
    "leader completeness",
    "state machine safety",
    "linearizable",
];

const SOMETIMES: [&str; 3] = [
    "leader elected",
    "entry committed after a leader change",
    "snapshot installed",
];

/// A complete search in which every safety property holds and every `sometimes` property is
/// reached: `synod check` exits 0.
#[track_caller]
fn assert_passes(args: &[&str], unique_states: u64) {
    let (code, report) = check(args);
    assert_eq!(report["complete"], true, "{args:?}");
    assert_eq!(report["unique_states"], unique_states, "{args:?}");
    for p in SAFETY {
        assert_eq!(verdict(&report, p)["verdict"], "holds", "{args:?}: {p}");
    }
    for p in SOMETIMES {
        assert_eq!(verdict(&report, p)["verdict"], "reached", "{args:?}: {p}");
    }
    assert_eq!(code, 0, "{args:?}");
}

/// `synod check raft` on its defaults: an election, a leader change, a write, a ReadIndex
/// read, a snapshot installed on a lagging follower.
#[test]
fn the_default_check_passes() {
    assert_passes(&[], 148_167);
}

/// The defaults with one crash: a server loses its volatile state and restarts from its saved
/// term, vote and log, at any point of the run.
#[test]
fn the_default_check_with_a_crash_passes() {
    assert_passes(&["--crashes", "1"], 782_613);
}

/// Server symmetry halves the default space: the client sends to server 0 first, so only the
/// two other servers are interchangeable in the reachable states.
#[test]
fn the_default_check_with_symmetry_passes() {
    assert_passes(&["--symmetry"], 74_236);
}

/// Parallel append (thesis 10.2.1, the network's default): the leader sends new entries before
/// it saves them, saves them in a step of its own, and counts itself once they are durable.
#[test]
fn the_default_check_with_parallel_append_passes() {
    assert_passes(&["--parallel-append", "1"], 718_056);
}

/// Parallel append with a crash: a leader that crashes before its own save loses entries its
/// followers already hold, and nothing committed is lost (one write, to keep it to seconds).
#[test]
fn parallel_append_with_a_crash_passes() {
    assert_passes(
        &["--parallel-append", "1", "--crashes", "1", "--ops", "1"],
        1_075_621,
    );
}

/// One term, three servers, a write and a read, snapshots after two entries: every safety
/// property holds, a leader is elected, a lagging follower installs a snapshot; no second
/// leader can exist, so "entry committed after a leader change" is unreachable (exit 1).
#[test]
fn one_term_three_servers() {
    let (code, report) = check(&["--terms", "1"]);
    assert_eq!(report["complete"], true);
    assert_eq!(report["unique_states"], 5_300);
    for p in SAFETY {
        assert_eq!(verdict(&report, p)["verdict"], "holds", "{p}");
    }
    assert_eq!(verdict(&report, "leader elected")["verdict"], "reached");
    assert_eq!(verdict(&report, "snapshot installed")["verdict"], "reached");
    assert_eq!(
        verdict(&report, "entry committed after a leader change")["verdict"],
        "unreached"
    );
    assert_eq!(
        code, 1,
        "a sometimes property unreached in a complete search"
    );
}

/// Two servers, two terms, one write: a leader change commits on top of the first leader's
/// log, and everything holds.
#[test]
fn two_terms_two_servers() {
    let (_, report) = check(&["--servers", "2", "--ops", "1"]);
    assert_eq!(report["complete"], true);
    assert_eq!(report["unique_states"], 315);
    for p in SAFETY {
        assert_eq!(verdict(&report, p)["verdict"], "holds", "{p}");
    }
    assert_eq!(
        verdict(&report, "entry committed after a leader change")["verdict"],
        "reached"
    );
}

/// A bug is caught with a shortest trace of `steps` steps violating `property` (the catalog
/// applies the settings the bug needs: `synod check raft --bug NAME` finds it as is).
fn caught(bug: &str, extra: &[&str], property: &str, steps: usize) -> Value {
    let mut args = vec!["--bug", bug];
    args.extend_from_slice(extra);
    let (code, report) = check(&args);
    assert_eq!(code, 1, "{args:?}");
    let p = verdict(&report, property);
    assert_eq!(p["verdict"], "violated", "{args:?}: {report}");
    assert_eq!(p["trace"]["shortest"], true);
    let trace = p["trace"]["steps"].as_array().unwrap();
    assert_eq!(trace.len(), steps, "{args:?}");
    p["trace"].clone()
}

/// The text of every step of a trace, one per line.
fn steps_text(trace: &Value) -> String {
    common::steps_text(trace)
}

/// The paper's Figure 8 with three servers and four terms: a leader of term 3 commits an entry
/// of term 1 by counting its replicas; the server holding term 2's entry then wins term 4 and
/// lacks it. No client is needed (`--ops 0`), which keeps the search to seconds; on the
/// defaults it takes about 45 s.
#[test]
fn committing_an_earlier_terms_entry_by_counting_loses_it() {
    let trace = caught(
        "commit-previous-term",
        &["--ops", "0", "--snapshot", "0"],
        "leader completeness",
        18,
    );
    let text = steps_text(&trace);
    assert_eq!(text.matches(r#""kind":"timeout""#).count(), 4, "{text}");
}

/// Without the up-to-date restriction a server missing a committed entry becomes leader.
#[test]
fn voting_without_the_log_check_loses_a_committed_entry() {
    caught("vote-without-log-check", &[], "leader completeness", 8);
}

/// votedFor not persisted: a server votes, crashes, restarts and votes for another candidate
/// in the same term; two leaders of one term.
#[test]
fn volatile_vote_elects_two_leaders_in_one_term() {
    let trace = caught("volatile-vote", &[], "election safety", 7);
    assert!(steps_text(&trace).contains(r#""kind":"crash""#));
}

/// Two `AppendEntries` in flight: a delayed one that carries only the first entry arrives after
/// the second, the follower cuts the entry it acknowledged, and a new leader lacks it.
#[test]
fn truncating_on_a_stale_append_loses_a_committed_entry() {
    caught("truncate-on-stale-append", &[], "leader completeness", 14);
}

/// A leader that answers a read from its own state machine, without a heartbeat round and
/// without waiting for its term's no-op to commit: here a new leader that has not yet applied
/// the write its predecessor acknowledged says the key does not exist.
#[test]
fn a_stale_leader_read_is_not_linearizable() {
    let trace = caught("stale-leader-read", &[], "linearizable", 16);
    let last = &trace["steps"].as_array().unwrap()[15];
    assert_eq!(last["dst"], "client 0", "{last}");
    assert!(steps_text(&trace).contains("WriteOk"));
}

/// A vote from an earlier term counted: two leaders of one term.
#[test]
fn counting_stale_votes_elects_two_leaders_in_one_term() {
    caught("count-stale-votes", &[], "election safety", 7);
}

/// Parallel append, but the leader counts its own entries before they are on its disk: it
/// commits its no-op with one follower, crashes before its save, and wins the next term with
/// the vote of the other follower, without the entry the first follower marked committed.
#[test]
fn counting_the_leaders_unsaved_entries_loses_a_committed_entry() {
    let trace = caught("count-unsaved-self", &[], "leader completeness", 11);
    let text = steps_text(&trace);
    assert!(text.contains(r#""kind":"crash""#), "{text}");
    assert!(!text.contains("Persisted"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Symmetry: the reduced count is the number of orbits under servers x clients
// ---------------------------------------------------------------------------------------------

mod common;
use common::{permutations, reachable};
use std::collections::HashSet;
use synod_models::checked::{permute_servers_system, permute_system};
use synod_models::kv::{ClientPerm, ServerPerm, Step};
use synod_models::raft::{model, RaftConfig, RaftSystem};

/// The orbit key of a state: the least fingerprint over every permutation of the servers
/// and of the clients, computed without the checker's canonical form.
fn orbit_key(state: &RaftSystem, servers: usize, clients: usize) -> u64 {
    let mut best = u64::MAX;
    for s in permutations(servers) {
        let moved = permute_servers_system(state, &ServerPerm { map: s });
        for c in permutations(clients) {
            let p = ClientPerm { servers, map: c };
            best = best.min(common::fingerprint(&permute_system(&moved, &p)));
        }
    }
    best
}

/// Server symmetry is exact: with `--symmetry` the checker visits one state per orbit of the
/// unreduced reachable set, and every orbit.
#[test]
fn symmetry_counts_exactly_the_orbits() {
    let configs = [
        // Two terms, one write: elections, a leader change, replication.
        RaftConfig {
            script: vec![Step::WriteOwn],
            ..RaftConfig::default()
        },
        // Two clients, one term, snapshots.
        RaftConfig {
            clients: 2,
            max_term: 1,
            script: vec![Step::WriteOwn],
            snapshot: 1,
            ..RaftConfig::default()
        },
        // Four servers, one term.
        RaftConfig {
            servers: 4,
            max_term: 1,
            script: vec![Step::WriteOwn],
            ..RaftConfig::default()
        },
    ];
    for c in configs {
        let what = format!("{c:?}");
        let full = reachable(&model(c.clone()));
        let orbits: HashSet<u64> = full
            .iter()
            .map(|s| orbit_key(s, c.servers, c.clients))
            .collect();
        let reduced = reachable(&model(RaftConfig {
            symmetry: true,
            ..c.clone()
        }));
        let keys: Vec<u64> = reduced
            .iter()
            .map(|s| orbit_key(s, c.servers, c.clients))
            .collect();
        let distinct: HashSet<u64> = keys.iter().copied().collect();
        assert_eq!(distinct.len(), keys.len(), "{what}: one state per orbit");
        assert_eq!(distinct, orbits, "{what}: every orbit");
        assert!(orbits.len() < full.len(), "{what}: something to reduce");
        eprintln!("{what}: {} states, {} orbits", full.len(), orbits.len());
    }
}
