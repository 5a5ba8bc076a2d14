//! Raft on real UDP sockets: the same actor the checker drives, as a 3-node cluster under the
//! load generator, with and without faults; every recorded history must be linearizable.

use serde_json::Value;
use std::process::Command;

mod common;

/// `synod bench raft ARGS --format json`.
fn bench(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["raft"];
    all.extend_from_slice(args);
    common::bench_json(&all)
}

fn assert_linearizable_with_progress(args: &[&str]) -> Value {
    let mut all = vec!["raft"];
    all.extend_from_slice(args);
    common::assert_linearizable_with_progress(&all)
}

#[test]
fn a_three_node_cluster_serves_reads_writes_and_cas_linearizably() {
    let r =
        assert_linearizable_with_progress(&["--clients", "8", "--duration", "1.5", "--cas", "0.2"]);
    // Clients that reach a follower are redirected to the leader it names.
    assert!(r["load"]["redirects"].as_u64().unwrap() > 0, "{r}");
}

/// The node that led at the end, and its counters.
fn leader_counters(r: &Value) -> &Value {
    let nodes = r["cluster"]["nodes"].as_array().unwrap();
    let leader = nodes
        .iter()
        .find(|n| !n["leading_term"].is_null())
        .unwrap_or_else(|| panic!("a leader at the end: {r}"));
    &leader["counters"]
}

/// Parallel append on the network (its default): the leader's AppendEntries and client replies
/// leave before its fsync, and its saves go through notes to itself; with
/// `--parallel-append 0` nothing leaves before the disk and nobody writes to itself. Both
/// histories are linearizable.
#[test]
fn parallel_append_sends_before_the_leaders_fsync_and_can_be_turned_off() {
    let r = assert_linearizable_with_progress(&["--clients", "8", "--duration", "1"]);
    let c = leader_counters(&r);
    assert!(c["sent_early"].as_u64().unwrap() > 100, "{c}");
    assert!(c["to_self"].as_u64().unwrap() > 10, "{c}");
    let r = assert_linearizable_with_progress(&[
        "--clients",
        "8",
        "--duration",
        "1",
        "--parallel-append",
        "0",
    ]);
    for n in r["cluster"]["nodes"].as_array().unwrap() {
        assert_eq!(n["counters"]["sent_early"], 0, "{n}");
        assert_eq!(n["counters"]["to_self"], 0, "{n}");
    }
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
    assert_linearizable_with_progress(&[
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
}

/// `--crash leader@SECS` crashes whichever node leads at that moment and `--restart leader@SECS`
/// brings that node back; the cluster elects another leader in between, the history stays
/// linearizable, and the load reports the longest stretch without a success (the failover).
#[test]
fn crashing_the_leader_fails_over_and_the_history_stays_linearizable() {
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
    let crashed = &events[0];
    assert!(
        crashed["what"]
            .as_str()
            .unwrap()
            .starts_with("crashed (the leader, term "),
        "{crashed}"
    );
    assert_eq!(
        events[1]["node"], crashed["node"],
        "the leader crashed is restarted"
    );
    assert_eq!(events[1]["what"], "restarted from disk");
    let gap = r["load"]["longest_gap_ms"].as_u64().unwrap();
    assert!(gap > 0 && gap < 2500, "{gap}");
    // Its clients were redirected to the new leader.
    assert!(r["load"]["redirects"].as_u64().unwrap() > 0, "{r}");
}

/// Only protocols with a leader accept `leader@SECS`, and a leader restart needs a leader crash
/// before it: both are usage errors (exit 2) naming the flag.
#[test]
fn leader_targets_are_refused_where_they_mean_nothing() {
    for (protocol, args) in [
        ("paxos", ["--crash", "leader@0.5"]),
        ("paxos", ["--partition", "leader@0.5-1"]),
        ("raft", ["--restart", "leader@0.5"]),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_synod"))
            .args(["bench", protocol, "--duration", "0.5"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{protocol} {args:?}: {err}");
        assert!(err.contains("leader@0.5"), "{err}");
    }
    // A lone node cannot know who leads, so it refuses a leader partition before it starts.
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["node", "raft", "--listen", "127.0.0.1:1"])
        .args(["--peers", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"])
        .args(["--data-dir", "/nonexistent/never-created"])
        .args(["--partition", "leader@1-2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--partition leader@1-2"), "{err}");
}

/// `--compare` takes protocol names (and `spawn`, `echo`): each baseline runs in the same
/// invocation with the same load and reports its name, its figures and the subject's ratio to
/// it; an unknown name is a usage error.
#[test]
fn compare_measures_named_protocols_beside_raft() {
    let (code, r) = bench(&[
        "--clients",
        "8",
        "--duration",
        "0.5",
        "--compare",
        "single-copy-kv,paxos,echo",
        "--no-check",
    ]);
    assert_eq!(code, Some(0), "{r}");
    let baselines = r["baselines"].as_array().unwrap();
    let names: Vec<&str> = baselines
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["single-copy-kv", "paxos", "echo"]);
    for b in baselines {
        assert!(b["load"]["ops_ok_per_sec"].as_f64().unwrap() > 0.0, "{b}");
        assert!(b["load"]["latency_us_p99"].as_u64().unwrap() > 0, "{b}");
        assert!(b["ratio"].as_f64().unwrap() > 0.0, "{b}");
    }
    assert!(baselines[1]["what"].as_str().unwrap().contains("3 nodes"));
    assert!(baselines[0]["what"].as_str().unwrap().contains("1 node"));
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args([
            "bench",
            "raft",
            "--duration",
            "0.5",
            "--compare",
            "single-copy,echo",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--compare single-copy"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args([
            "bench",
            "raft",
            "--duration",
            "0.5",
            "--compare",
            "echo,echo",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--compare names echo twice"), "{err}");
}

/// `--bug stale-leader-read` on real sockets: leaders answer reads from their own state
/// without a heartbeat round, so during elections (at the start, and as partitions isolate
/// each node in turn) a read returns a value older than a write that completed before it. The
/// history checker says so; the correct protocol under the same run is linearizable.
#[test]
fn a_stale_leader_read_is_caught_on_real_sockets() {
    let args = |bug: bool| {
        let mut a = vec![
            "--check-quorum",
            "0",
            "--rate",
            "2000",
            "--clients",
            "64",
            "--reads",
            "0.9",
            "--keys",
            "4",
            "--timeout-ms",
            "50",
            "--retries",
            "1",
            "--duration",
            "2",
            "--partition",
            "0@0.3-0.8",
            "--partition",
            "1@0.8-1.3",
            "--partition",
            "2@1.3-1.8",
            "--seed",
            "4",
            "--check-timeout",
            "30",
        ];
        if bug {
            a.extend_from_slice(&["--bug", "stale-leader-read"]);
        }
        a
    };
    let (code, r) = bench(&args(true));
    assert_eq!(r["lincheck"]["verdict"], "not linearizable", "{r}");
    assert_eq!(code, Some(1), "{r}");
    let (code, r) = bench(&args(false));
    assert_eq!(r["lincheck"]["verdict"], "linearizable", "{r}");
    assert_eq!(code, Some(0), "{r}");
}

/// `--partition leader@START-END` isolates whichever node leads at START. Without
/// check-quorum the old leader keeps believing it leads while cut off; when the partition
/// heals it hears the new leader's term and steps down: at the end exactly one node leads, in
/// a later term. Every recorded history stays linearizable.
#[test]
fn a_partitioned_old_leader_steps_down_when_the_partition_heals() {
    let r = assert_linearizable_with_progress(&[
        "--check-quorum",
        "0",
        "--clients",
        "8",
        "--duration",
        "2.5",
        "--partition",
        "leader@0.6-1.4",
        "--seed",
        "11",
    ]);
    let events = r["cluster"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{r}");
    let what = events[0]["what"].as_str().unwrap();
    let old_term: u64 = what
        .rsplit("term ")
        .next()
        .and_then(|t| t.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("{what}"));
    let leaders: Vec<(usize, u64)> = r["cluster"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n["leading_term"].as_u64().map(|t| (i, t)))
        .collect();
    assert_eq!(leaders.len(), 1, "one leader at the end: {r}");
    assert!(leaders[0].1 > old_term, "{leaders:?} after term {old_term}");
}
