//! Gossip on real UDP sockets: the replicas the checker drives serve Maelstrom's `g-counter`
//! (`add`, keyless `read`), and `bench` judges what Maelstrom judges: after the load, every
//! replica reads the same value, between the acknowledged adds and all of them.

use serde_json::Value;
use std::process::Command;

mod common;

fn bench(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["gossip"];
    all.extend_from_slice(args);
    common::bench_json(&all)
}

#[track_caller]
fn assert_converged(code: Option<i32>, r: &Value) {
    assert_eq!(code, Some(0), "{r}");
    let c = &r["convergence"];
    assert_eq!(c["verdict"], "converged", "{r}");
    let values: Vec<u64> = c["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().expect("every replica answered"))
        .collect();
    assert!(values.windows(2).all(|w| w[0] == w[1]), "{r}");
    let (low, high) = (
        c["acknowledged_sum"].as_u64().unwrap(),
        c["upper_bound"].as_u64().unwrap(),
    );
    assert!(low > 0 && low <= values[0] && values[0] <= high, "{r}");
    assert_eq!(c["reads_out_of_bounds"], 0, "{r}");
    assert!(
        r["lincheck"].is_null(),
        "a counter is not checked for linearizability: {r}"
    );
}

#[test]
fn replicas_converge_to_the_acknowledged_adds() {
    let (code, r) = bench(&["--clients", "8", "--duration", "1.5"]);
    assert_converged(code, &r);
    assert!(r["convergence"]["adds_ok"].as_u64().unwrap() > 100, "{r}");
    // Every replica served clients: no leader.
    for n in r["cluster"]["nodes"].as_array().unwrap() {
        assert!(n["counters"]["requests"].as_u64().unwrap() > 0, "{r}");
    }
}

/// Loss, duplication and delay, and a replica crashed and restarted from its disk: anti-entropy
/// repairs what was lost, a duplicated add is applied once, and the acknowledged adds survive.
#[test]
fn faults_and_a_restart_do_not_lose_or_double_adds() {
    let (code, r) = bench(&[
        "--clients",
        "8",
        "--duration",
        "2.5",
        "--loss",
        "0.1",
        "--dup",
        "0.1",
        "--delay-ms",
        "1",
        "--jitter-ms",
        "0.5",
        "--timeout-ms",
        "100",
        "--crash",
        "1@0.6",
        "--restart",
        "1@1.2",
    ]);
    assert_converged(code, &r);
    assert_eq!(r["cluster"]["total"]["recoveries"], 1, "{r}");
    assert!(
        r["cluster"]["total"]["fault_duplicated"].as_u64().unwrap() > 0,
        "{r}"
    );
}

/// The merge that adds entries instead of taking the maximum counts each gossip again: the
/// replicas overshoot every add that was sent (and, re-gossiping, keep growing), and the bench
/// says so (exit 1).
#[test]
fn the_adding_merge_is_caught_on_sockets() {
    let (code, r) = bench(&["--bug", "add-merge", "--clients", "4", "--duration", "1"]);
    assert_eq!(code, Some(1), "{r}");
    assert_ne!(r["convergence"]["verdict"], "converged", "{r}");
}

#[test]
fn register_flags_do_not_apply_to_a_counter() {
    for (args, says) in [
        (
            vec!["bench", "gossip", "--keys", "5"],
            "--keys does not apply to gossip",
        ),
        (
            vec!["bench", "gossip", "--cas", "0.1"],
            "--cas does not apply to gossip",
        ),
        (
            vec!["bench", "gossip", "--compare", "single-copy-kv"],
            "gossip serves a counter",
        ),
        (vec!["bench", "gossip", "--no-check"], "needs the history"),
        // The same against servers running elsewhere.
        (
            vec!["bench", "gossip", "--target", "127.0.0.1:9", "--keys", "5"],
            "--keys does not apply to gossip",
        ),
        (
            vec!["bench", "gossip", "--target", "127.0.0.1:9", "--no-check"],
            "needs the history",
        ),
        (
            vec!["bench", "gossip", "--nodes", "1"],
            "gossip runs on 2 to 32 replicas",
        ),
        (
            vec!["bench", "gossip", "--updates", "2"],
            "model-checking parameter",
        ),
        (
            vec!["check", "gossip", "--anti-entropy", "1"],
            "no bound; it applies on the network",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_synod"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
