//! Raft on real UDP sockets: the same actor the checker drives, as a 3-node cluster under the
//! load generator, with and without faults; every recorded history must be linearizable.

use serde_json::Value;
use std::process::Command;

fn bench(args: &[&str]) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .arg("bench")
        .arg("raft")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

fn assert_linearizable_with_progress(args: &[&str]) -> Value {
    let (code, r) = bench(args);
    assert_eq!(code, Some(0), "{args:?}: {r}");
    assert_eq!(r["lincheck"]["verdict"], "linearizable", "{args:?}: {r}");
    assert!(r["load"]["ops_ok"].as_u64().unwrap() > 100, "{args:?}: {r}");
    r
}

#[test]
fn a_three_node_cluster_serves_reads_writes_and_cas_linearizably() {
    let r =
        assert_linearizable_with_progress(&["--clients", "8", "--duration", "1.5", "--cas", "0.2"]);
    // Clients that reach a follower are redirected to the leader it names.
    assert!(r["load"]["redirects"].as_u64().unwrap() > 0, "{r}");
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
