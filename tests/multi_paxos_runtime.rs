//! Multi-Paxos on real UDP sockets: the actor the checker drives, as a 3-node cluster under the
//! load generator, with each kind of fault; every recorded history must be linearizable.

use serde_json::Value;

mod common;

fn bench(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["multi-paxos"];
    all.extend_from_slice(args);
    common::bench_json(&all)
}

fn assert_linearizable_with_progress(args: &[&str]) -> Value {
    let mut all = vec!["multi-paxos"];
    all.extend_from_slice(args);
    common::assert_linearizable_with_progress(&all)
}

#[test]
fn a_three_node_cluster_serves_reads_writes_and_cas_linearizably() {
    let r =
        assert_linearizable_with_progress(&["--clients", "8", "--duration", "1.5", "--cas", "0.2"]);
    // Clients that reach a follower are redirected to the leader it names.
    assert!(r["load"]["redirects"].as_u64().unwrap() > 0, "{r}");
    let leaders = r["cluster"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| !n["leading_term"].is_null())
        .count();
    assert_eq!(leaders, 1, "{r}");
}

#[test]
fn a_crashed_and_restarted_node_and_a_partition_keep_the_history_linearizable() {
    assert_linearizable_with_progress(&[
        "--clients",
        "8",
        "--duration",
        "3",
        "--crash",
        "0@0.8",
        "--restart",
        "0@1.6",
        "--partition",
        "1@2-2.5",
        "--seed",
        "7",
    ]);
}

#[test]
fn loss_duplication_and_delay_keep_the_history_linearizable() {
    let (code, r) = bench(&[
        "--clients",
        "8",
        "--duration",
        "2",
        "--loss",
        "0.05",
        "--dup",
        "0.05",
        "--delay-ms",
        "1",
        "--jitter-ms",
        "1",
        "--seed",
        "3",
    ]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["lincheck"]["verdict"], "linearizable", "{r}");
    // Lost client datagrams cost their clients a 500 ms timeout each: progress, not speed.
    assert!(r["load"]["ops_ok"].as_u64().unwrap() > 50, "{r}");
}

/// The leader crashes and comes back: another replica runs phase 1 and takes over, and the
/// history stays linearizable.
#[test]
fn crashing_the_leader_fails_over() {
    let r = assert_linearizable_with_progress(&[
        "--clients",
        "8",
        "--duration",
        "2.5",
        "--crash",
        "leader@0.8",
        "--restart",
        "leader@1.6",
        "--seed",
        "5",
    ]);
    let events = r["cluster"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{r}");
    assert!(
        events[0]["what"]
            .as_str()
            .unwrap()
            .starts_with("crashed (the leader"),
        "{r}"
    );
    let gap = r["load"]["longest_gap_ms"].as_u64().unwrap();
    assert!(gap > 0 && gap < 2500, "{gap}");
}

/// The leader is cut off from the others for a second: they elect another, and when the
/// partition heals the old leader learns the higher ballot and follows.
#[test]
fn a_partitioned_leader_is_replaced_and_follows_when_it_returns() {
    let r = assert_linearizable_with_progress(&[
        "--clients",
        "8",
        "--duration",
        "3",
        "--partition",
        "leader@0.8-1.8",
        "--seed",
        "2",
    ]);
    let nodes = r["cluster"]["nodes"].as_array().unwrap();
    let leading: Vec<&Value> = nodes
        .iter()
        .filter(|n| !n["leading_term"].is_null())
        .collect();
    assert_eq!(leading.len(), 1, "one leader at the end: {r}");
    assert!(leading[0]["leading_term"].as_u64().unwrap() >= 2, "{r}");
}

/// Parallel accept is on by default on the network: the leader's proposals leave before its
/// own acceptance is on disk, which it saves in a step of its own (a `Persist` note to
/// itself). `--parallel-accept 0` saves in the proposing step and sends no notes. Both are
/// linearizable; heartbeats, their acknowledgements and client replies leave early in both.
#[test]
fn parallel_accept_can_be_turned_off() {
    let counter = |r: &Value, name: &str| -> u64 {
        r["cluster"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["counters"][name].as_u64().unwrap())
            .sum()
    };
    let r = assert_linearizable_with_progress(&["--clients", "8", "--duration", "1"]);
    assert!(counter(&r, "to_self") > 100, "{r}");
    assert!(counter(&r, "sent_early") > 100, "{r}");
    let r = assert_linearizable_with_progress(&[
        "--clients",
        "8",
        "--duration",
        "1",
        "--parallel-accept",
        "0",
    ]);
    assert_eq!(counter(&r, "to_self"), 0, "{r}");
    assert!(counter(&r, "sent_early") > 100, "{r}");
}

/// A replica restarted under load lags by thousands of slots; it catches up through `Learn`
/// messages that each fit in a datagram (none is dropped as unsendable).
#[test]
fn a_restarted_replica_catches_up_in_datagram_sized_pieces() {
    let r = assert_linearizable_with_progress(&[
        "--clients",
        "32",
        "--duration",
        "3",
        "--crash",
        "2@1",
        "--restart",
        "2@2",
    ]);
    for n in r["cluster"]["nodes"].as_array().unwrap() {
        assert_eq!(n["counters"]["unsendable"], 0, "{n}");
    }
    let restarted = &r["cluster"]["nodes"][2]["counters"];
    assert_eq!(restarted["recoveries"], 1, "{restarted}");
}

/// A follower cut off for 2 s campaigns with ever higher ballots; back, it wins phase 1 while
/// thousands of slots behind (no snapshots here, so the others hold every slot). Its promises
/// carry the others' state machines instead of those slots, so every one fits in a datagram.
#[test]
fn a_lagging_candidate_gets_promises_that_fit_in_a_datagram() {
    let r = assert_linearizable_with_progress(&[
        "--clients",
        "32",
        "--duration",
        "3.5",
        "--snapshot",
        "0",
        "--partition",
        "0@0.5-2.5",
        "--seed",
        "1",
    ]);
    for n in r["cluster"]["nodes"].as_array().unwrap() {
        assert_eq!(n["counters"]["unsendable"], 0, "{n}");
    }
}
