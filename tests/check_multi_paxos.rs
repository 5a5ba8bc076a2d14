//! Multi-Paxos (models/src/multi_paxos.rs) through the real binary: pinned state counts of the
//! default configuration (three replicas, ballots up to round 2, one client that writes then
//! cas-es) and of smaller ones, reads confirmed by a heartbeat round, the configuration with two clients and a crash, the
//! properties they prove and reach, every bug variant caught with a shortest trace, and client
//! symmetry counting exactly the orbits.

use serde_json::Value;

fn check(args: &[&str]) -> (i32, Value) {
    common::check_json("multi-paxos", args)
}

fn verdict<'a>(report: &'a Value, name: &str) -> &'a Value {
    common::property(report, name)
}

const SAFETY: [&str; 3] = ["slot agreement", "log prefix", "linearizable"];

/// A complete search with `unique_states` states in which every safety property holds.
#[track_caller]
fn assert_safe(args: &[&str], unique_states: u64) -> (i32, Value) {
    let (code, report) = check(args);
    assert_eq!(report["complete"], true, "{args:?}");
    assert_eq!(report["unique_states"], unique_states, "{args:?}");
    for p in SAFETY {
        assert_eq!(verdict(&report, p)["verdict"], "holds", "{args:?}: {p}");
    }
    (code, report)
}

/// `synod check multi-paxos` on its defaults: elections in two rounds, a leader that
/// re-proposes a command an earlier ballot proposed, a write and a cas through the log.
#[test]
fn the_default_check_passes() {
    let (code, report) = assert_safe(&[], 896_100);
    for p in ["leader change completes a command", "cas committed"] {
        assert_eq!(verdict(&report, p)["verdict"], "reached", "{p}");
    }
    assert_eq!(code, 0);
}

/// Only replicas without a known leader time out: leaders change by racing campaigns alone.
#[test]
fn followers_of_a_known_leader_do_not_time_out() {
    let (code, report) = assert_safe(&["--timeouts", "0"], 60_620);
    assert_eq!(
        verdict(&report, "leader change completes a command")["verdict"],
        "reached"
    );
    assert_eq!(code, 0);
}

/// One round: each replica may still campaign once (ballots `(1, r)` are ordered by replica),
/// so leaders can change and complete their predecessor's command.
#[test]
fn one_ballot_round() {
    let (code, report) = assert_safe(&["--ballots", "1"], 8_592);
    for p in ["leader change completes a command", "cas committed"] {
        assert_eq!(verdict(&report, p)["verdict"], "reached", "{p}");
    }
    assert_eq!(code, 0);
}

/// Parallel accept (the network's default): the leader sends a proposal before its own
/// acceptance is on disk, saves it in a step of its own and counts it once durable.
#[test]
fn parallel_accept_passes() {
    let (code, _) = assert_safe(&["--parallel-accept", "1"], 1_322_981);
    assert_eq!(code, 0);
}

/// Parallel accept with a crash: a leader that crashes before its own save loses acceptances
/// its followers may have matched, and nothing decided is lost.
#[test]
fn parallel_accept_with_a_crash_is_safe() {
    assert_safe(
        &["--parallel-accept", "1", "--crashes", "1", "--ops", "1"],
        375_034,
    );
}

/// Reads (the third step of each script) are answered by the leader once a majority has
/// acknowledged a heartbeat round that started after the read arrived, and once the slots
/// phase 1 covered are applied. (Answering on a round already under way, or before those
/// slots are applied, is caught here in 19 and 20 steps.)
#[test]
fn reads_are_confirmed_by_a_heartbeat_round() {
    let (code, _) = assert_safe(&["--ops", "3", "--timeouts", "0"], 322_200);
    assert_eq!(code, 0);
}

/// The configuration: three replicas, two clients with one write each, one crash
/// (followers of a known leader do not time out; with them it does not fit in memory here).
#[test]
fn two_clients_one_write_each_and_a_crash() {
    let (_, report) = assert_safe(
        &[
            "--clients",
            "2",
            "--ops",
            "1",
            "--crashes",
            "1",
            "--timeouts",
            "0",
        ],
        3_596_115,
    );
    assert_eq!(
        verdict(&report, "leader change completes a command")["verdict"],
        "reached"
    );
}

/// A bug is caught with a shortest trace of `steps` steps violating `property` (the catalog
/// applies the settings the bug needs).
fn caught(bug: &str, property: &str, steps: usize) -> Value {
    let args = ["--bug", bug];
    let (code, report) = check(&args);
    assert_eq!(code, 1, "{args:?}");
    let p = verdict(&report, property);
    assert_eq!(p["verdict"], "violated", "{args:?}: {report}");
    assert_eq!(p["trace"]["shortest"], true);
    let trace = p["trace"]["steps"].as_array().unwrap();
    assert_eq!(trace.len(), steps, "{args:?}");
    p["trace"].clone()
}

fn steps_text(trace: &Value) -> String {
    common::steps_text(trace)
}

/// A new leader that ignores what phase 1 reported puts a no-op in a slot that already holds
/// the client's decided write.
#[test]
fn skipping_the_repropose_overwrites_a_decided_slot() {
    let text = steps_text(&caught("skip-repropose", "slot agreement", 11));
    assert!(text.contains("Promise"), "{text}");
}

/// An acceptor that accepts below its promise lets an old leader decide over a new one.
#[test]
fn accepting_below_the_promise_decides_twice() {
    caught("accept-below-promise", "slot agreement", 14);
}

/// A leader refused by a higher ballot that moves past it without phase 1 overwrites what the
/// higher ballot decided.
#[test]
fn a_stale_leader_in_phase_2_decides_twice() {
    let text = steps_text(&caught("stale-leader-phase2", "slot agreement", 14));
    assert!(text.contains("Reject"), "{text}");
}

/// Two slots in flight, the second decided first: a replica that applies it at once applies
/// the slots in another order than a replica that waits.
#[test]
fn applying_out_of_order_breaks_the_log_prefix() {
    caught("apply-out-of-order", "log prefix", 12);
}

/// A leader that answers a read from its own state, after a newer leader decided a cas it
/// never heard of, returns the value the cas replaced.
#[test]
fn an_unconfirmed_read_returns_a_stale_value() {
    let text = steps_text(&caught("unconfirmed-read", "linearizable", 17));
    assert!(text.contains("Read(") && text.contains("CasOk"), "{text}");
}

/// With one acceptance fewer than a majority (here: the leader's own), two leaders decide
/// different values for a slot.
#[test]
fn a_quorum_minus_one_decides_twice() {
    caught("quorum-minus-one", "slot agreement", 10);
}

// ---------------------------------------------------------------------------------------------
// Symmetry: the reduced count is the number of orbits under permutations of clients
// ---------------------------------------------------------------------------------------------

mod common;
use common::{permutations, reachable};
use std::collections::HashSet;
use synod_models::checked::permute_system;
use synod_models::kv::{ClientPerm, Step};
use synod_models::multi_paxos::{model, MpConfig, MpSystem};

fn orbit_key(state: &MpSystem, servers: usize, clients: usize) -> u64 {
    permutations(clients)
        .into_iter()
        .map(|c| {
            let p = ClientPerm { servers, map: c };
            common::fingerprint(&permute_system(state, &p))
        })
        .min()
        .expect("at least one permutation")
}

/// Client symmetry is exact: one state per orbit of the unreduced reachable set, and every
/// orbit. (Clients start at different replicas, so few states share an orbit: the reduction
/// is small, the count exact.)
#[test]
fn symmetry_counts_exactly_the_orbits() {
    let c = MpConfig {
        clients: 2,
        script: vec![Step::WriteOwn],
        max_round: 1,
        ..MpConfig::default()
    };
    let full = reachable(&model(c.clone()));
    let orbits: HashSet<u64> = full
        .iter()
        .map(|s| orbit_key(s, c.servers, c.clients))
        .collect();
    let reduced = reachable(&model(MpConfig {
        symmetry: true,
        ..c.clone()
    }));
    let keys: Vec<u64> = reduced
        .iter()
        .map(|s| orbit_key(s, c.servers, c.clients))
        .collect();
    let distinct: HashSet<u64> = keys.iter().copied().collect();
    assert_eq!(distinct.len(), keys.len(), "one state per orbit");
    assert_eq!(distinct, orbits, "every orbit");
}
