//! Logical clocks on real UDP sockets: the processes the checker drives step on a timer, send to
//! random peers, and check every happened-before edge they see (program order, and each
//! receipt against its send). `bench` has no clients here: it runs the cluster with faults and
//! judges it by the nodes' counts. Both broken clocks must be caught on sockets as in the model.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

mod common;

fn bench(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["clocks"];
    all.extend_from_slice(args);
    common::bench_json(&all)
}

fn total(r: &Value, tally: &str) -> u64 {
    r["cluster"]["protocol"][tally]
        .as_u64()
        .unwrap_or_else(|| panic!("no tally {tally}: {r}"))
}

/// Loss, duplication, delay, a partition and a crashed node restarted from its disk: the clocks
/// still grow along every edge, the restarted node's program order included.
#[test]
fn clocks_hold_under_faults_and_a_restart() {
    let (code, r) = bench(&[
        "--duration",
        "2",
        "--loss",
        "0.1",
        "--dup",
        "0.1",
        "--delay-ms",
        "1",
        "--jitter-ms",
        "0.5",
        "--partition",
        "0@0.2-0.6",
        "--crash",
        "1@0.7",
        "--restart",
        "1@1.1",
    ]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["verdict"]["verdict"], "holds", "{r}");
    assert_eq!(r["cluster"]["total"]["recoveries"], 1, "{r}");
    assert!(
        r["cluster"]["total"]["fault_duplicated"].as_u64().unwrap() > 0,
        "{r}"
    );
    assert!(total(&r, "receipts") > 100, "{r}");
    assert!(total(&r, "events") > total(&r, "receipts"), "{r}");
    assert_eq!(total(&r, "Lamport violations"), 0, "{r}");
    assert_eq!(total(&r, "vector violations"), 0, "{r}");
}

/// The model's two broken clocks, caught by the nodes' own checks on real traffic: a receipt
/// that ignores the message's stamps falls behind its send, and a send that does not advance
/// the clocks ties with its predecessor.
#[test]
fn both_broken_clocks_are_caught_on_sockets() {
    for bug in ["receive-without-max", "send-without-increment"] {
        let (code, r) = bench(&["--duration", "1", "--bug", bug]);
        assert_eq!(code, Some(1), "{bug}: {r}");
        assert_eq!(r["verdict"]["verdict"], "violated", "{bug}: {r}");
        assert_eq!(r["bug"], bug, "{r}");
        assert!(total(&r, "Lamport violations") > 0, "{bug}: {r}");
        assert!(total(&r, "vector violations") > 0, "{bug}: {r}");
    }
}

/// Two nodes cut apart for the whole run receive nothing: the receive rule went unchecked, and
/// the bench says so (exit 3) rather than calling it a pass.
#[test]
fn a_run_without_receipts_is_not_judged() {
    let (code, r) = bench(&["--nodes", "2", "--duration", "0.5", "--partition", "0@0-60"]);
    assert_eq!(code, Some(3), "{r}");
    assert_eq!(r["verdict"]["verdict"], "unjudged", "{r}");
    assert_eq!(total(&r, "receipts"), 0, "{r}");
    assert!(total(&r, "events") > 0, "{r}");
}

/// A bench without clients refuses the load generator's and checker's flags, and no other bench
/// can drive clocks as a baseline or a target.
#[test]
fn client_flags_are_refused() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["bench", "clocks", "--clients", "3"],
            "--clients does not apply to clocks",
        ),
        (&["bench", "clocks", "--keys", "3"], "--keys does not apply"),
        (
            &["bench", "clocks", "--history-out", "h.jsonl"],
            "--history-out does not apply",
        ),
        (
            &["bench", "clocks", "--no-check"],
            "--no-check does not apply",
        ),
        (&["bench", "clocks", "--check"], "--check does not apply"),
        (
            &["bench", "clocks", "--compare", "raft"],
            "--compare does not apply",
        ),
        (
            &["bench", "clocks", "--sweep-nodes", "3,5"],
            "--sweep-nodes does not apply",
        ),
        (
            &["bench", "raft", "--compare", "clocks"],
            "--compare clocks: it serves no clients",
        ),
        (
            &["bench", "clocks", "--target", "127.0.0.1:9"],
            "nothing to drive at --target",
        ),
        (&["bench", "clocks", "--nodes", "1"], "2 to 64 processes"),
        (
            &["bench", "clocks", "--processes", "3"],
            "model-checking parameter",
        ),
        (&["bench", "clocks", "--crash", "leader@1"], "no leader"),
    ];
    for (args, wanted) in cases {
        let (code, _, stderr) = common::synod(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    }
}

/// `synod run clocks`: a client's request gets error 10 (there is no store), and the run ends
/// with the verdict; a broken clock makes `run` exit 1.
#[test]
fn run_reports_its_verdict_and_clients_get_error_10() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["run", "clocks", "--port", "0", "--duration", "5"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("Stopping after") {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "{banner}");
        banner.push_str(&line);
    }
    let node0 = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("node 0"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("the banner names node 0: {banner}"))
        .to_string();
    let (code, out, _) = common::synod(&["client", &node0, "read", "1"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("error 10"), "{out}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{banner}{rest}");
    assert!(rest.contains("Verdict: holds"), "{rest}");

    let (code, out, _) = common::synod(&[
        "run",
        "clocks",
        "--port",
        "0",
        "--duration",
        "0.5",
        "--bug",
        "send-without-increment",
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Verdict: VIOLATED"), "{out}");
}

/// `synod list` says what each runnable protocol serves: clocks runs with no clients.
#[test]
fn the_catalog_says_clocks_serves_no_clients() {
    let (code, out, _) = common::synod(&["list", "--format", "json"]);
    assert_eq!(code, Some(0));
    let list: Value = serde_json::from_str(&out).unwrap();
    let entry = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} listed"))
            .clone()
    };
    let clocks = entry("clocks");
    assert_eq!(clocks["runnable"], true);
    assert!(clocks["store"].is_null(), "{clocks}");
    assert_eq!(entry("gossip")["store"], "counter");
    assert_eq!(entry("paxos")["store"], "write-once");
    assert!(entry("two-phase-commit")["store"].is_null());
    let (_, text, _) = common::synod(&["list"]);
    assert!(
        text.contains("runs on the network (run, node, bench) without clients"),
        "{text}"
    );
}
