//! Quorums on real UDP sockets: the Dynamo-style store (`quorum-kv`) with its sibling and
//! staleness figures, and `bench --sweep-nodes`, ABD's latency against cluster size with majority
//! and all-server quorums.

use serde_json::Value;

mod common;
use common::synod;

fn protocol_count(r: &Value, name: &str) -> u64 {
    r["cluster"]["protocol"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {name}: {}", r["cluster"]))
}

/// Concurrent writes to few keys at different coordinators leave concurrent versions: reads see
/// siblings, the nodes count them, and the report carries the staleness of the reads.
#[test]
fn the_quorum_store_serves_and_counts_reads_that_saw_siblings() {
    let (code, r) = common::bench_json(&[
        "quorum-kv",
        "--keys",
        "10",
        "--clients",
        "16",
        "--duration",
        "1.5",
    ]);
    assert!(matches!(code, Some(0) | Some(1)), "{r}");
    assert!(r["load"]["ops_ok"].as_u64().unwrap() > 100, "{r}");
    let reads = protocol_count(&r, "reads");
    assert!(reads > 50, "{r}");
    assert!(protocol_count(&r, "sibling_reads") > 0, "{r}");
    assert!(protocol_count(&r, "sibling_reads") <= reads, "{r}");
    assert!(r["staleness"]["reads"].as_u64().unwrap() > 0, "{r}");
}

/// R + W <= N on a network that delays: reads miss completed writes. The bench says how many
/// and by how long, and the history checker rejects the history.
#[test]
fn disjoint_quorums_give_stale_reads_on_sockets() {
    let mut last = Value::Null;
    for seed in ["1", "2", "3"] {
        let (code, r) = common::bench_json(&[
            "quorum-kv",
            "--r",
            "1",
            "--w",
            "1",
            "--keys",
            "10",
            "--clients",
            "16",
            "--duration",
            "1.5",
            "--delay-ms",
            "2",
            "--jitter-ms",
            "1",
            "--seed",
            seed,
        ]);
        let stale = r["staleness"]["stale"].as_u64().unwrap();
        if stale > 0 && code == Some(1) {
            assert_eq!(r["lincheck"]["verdict"], "not linearizable", "{r}");
            assert!(
                r["staleness"]["staleness_us_max"].as_u64().unwrap() > 0,
                "{r}"
            );
            return;
        }
        last = r;
    }
    panic!("three runs with R=W=1 showed no stale read: {last}");
}

/// A replica's versions are on disk: a node crashed and restarted recovers them and serves on.
#[test]
fn a_restarted_replica_recovers_its_versions() {
    let (code, r) = common::bench_json(&[
        "quorum-kv",
        "--clients",
        "8",
        "--duration",
        "2.5",
        "--crash",
        "1@0.8",
        "--restart",
        "1@1.4",
        "--retries",
        "0",
        "--timeout-ms",
        "100",
    ]);
    assert!(matches!(code, Some(0) | Some(1)), "{r}");
    assert!(r["load"]["ops_ok"].as_u64().unwrap() > 100, "{r}");
    assert_eq!(r["cluster"]["total"]["recoveries"], 1, "{r}");
    let node1 = &r["cluster"]["nodes"][1];
    assert!(node1["error"].is_null(), "{r}");
}

#[test]
fn a_quorum_larger_than_the_cluster_is_refused() {
    let (code, _, err) = synod(&["bench", "quorum-kv", "--nodes", "2", "--w", "3"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--w 3 exceeds --nodes 2"), "{err}");
    let (code, _, err) = synod(&["run", "quorum-kv", "--nodes", "3", "--r", "4"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--r 4 exceeds --nodes 3"), "{err}");
    // A model-checking parameter does not shape servers.
    let (code, _, err) = synod(&["bench", "quorum-kv", "--replicas", "3"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("model-checking parameter"), "{err}");
}

/// Waiting for every server costs more than waiting for a majority, by about what the normal
/// order statistics predict; both keep ABD linearizable.
#[test]
fn the_sweep_measures_majority_and_all_quorums_against_the_prediction() {
    let dir = std::env::temp_dir().join(format!("synod-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plot = dir.join("latency.svg");
    let (code, out, err) = synod(&[
        "bench",
        "abd",
        "--sweep-nodes",
        "3,5",
        "--delay-ms",
        "3",
        "--jitter-ms",
        "1",
        "--clients",
        "16",
        "--duration",
        "1",
        "--format",
        "json",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{r}");
    let mean = |i: usize| {
        rows[i]["bench"]["load"]["latency_us_mean"]
            .as_f64()
            .unwrap()
    };
    let predicted = |i: usize| rows[i]["predicted_latency_us_mean"].as_f64().unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["bench"]["lincheck"]["verdict"], "linearizable", "{row}");
        // Processing and fsync add to the prediction; they never make a run faster than it.
        assert!(mean(i) > 0.9 * predicted(i), "row {i}: {r}");
    }
    for (maj, all) in [(0, 1), (2, 3)] {
        assert_eq!(rows[maj]["quorum"], "majority");
        assert_eq!(rows[all]["quorum"], "all");
        assert!(mean(all) > mean(maj), "{r}");
        assert!(predicted(all) > predicted(maj), "{r}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sweep_flags_that_do_not_apply_are_refused() {
    for (args, says) in [
        (
            vec!["bench", "single-copy-kv", "--sweep-nodes", "3"],
            "single-copy-kv has no quorum to choose (protocols that do: abd)",
        ),
        (
            vec!["bench", "abd", "--sweep-nodes", "3", "--nodes", "5"],
            "--nodes does not apply with --sweep-nodes",
        ),
        (
            vec!["bench", "abd", "--sweep-nodes", "3", "--quorum", "all"],
            "--quorum does not apply with --sweep-nodes",
        ),
        (
            vec!["bench", "abd", "--sweep-nodes", "1"],
            "--sweep-nodes 1: a sweep compares quorums of 2 to 64 nodes",
        ),
        (
            vec!["bench", "abd", "--plot", "x.svg"],
            "--plot draws the figure of --sweep-nodes",
        ),
        (
            vec!["bench", "abd", "--sweep-nodes", "3", "--plot", "x.png"],
            "name a .svg file",
        ),
        (
            vec!["bench", "abd", "--quorum", "most"],
            "'most' is neither a number nor one of majority, all",
        ),
    ] {
        let (code, _, err) = synod(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
