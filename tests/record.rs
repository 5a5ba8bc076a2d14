//! Recorded runs (`synod run|bench --record FILE.json`): every datagram at both ends, timers,
//! crashes and restarts, the clients' history and the checker's verdict, in the file the web UI
//! opens. Each test runs the real binary on real sockets and reads the file back.

mod common;

use common::{bench_json, SPLIT_BRAIN};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synod-record-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.json"))
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn lane_names(rec: &Value) -> Vec<String> {
    rec["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

/// Every matched pair is a send and a receipt of the same message, on the same path in opposite
/// directions, the receipt no earlier than the send; returns how many pairs there are.
fn assert_pairs_are_consistent(rec: &Value) -> usize {
    let events = rec["events"].as_array().unwrap();
    let mut pairs = 0;
    let mut last = 0.0;
    for (i, e) in events.iter().enumerate() {
        let at = e["at_us"].as_f64().unwrap();
        assert!(at >= last, "events are in time order: {e}");
        last = at;
        if let Some(r) = e.get("received_as") {
            let r = &events[r.as_u64().unwrap() as usize];
            assert_eq!(e["kind"], "send", "{e}");
            assert_eq!(r["kind"], "receive", "{r}");
            assert_eq!(r["sent_as"], i, "{r}");
            assert_eq!(e["message"], r["message"], "both ends read alike");
            assert_eq!((&e["lane"], &e["peer"]), (&r["peer"], &r["lane"]));
            assert!(r["at_us"].as_f64().unwrap() >= at);
            pairs += 1;
        }
    }
    pairs
}

#[test]
fn a_recorded_bench_holds_both_ends_of_every_datagram_and_the_clusters_faults() {
    let path = temp("raft");
    let (code, r) = bench_json(&[
        "raft",
        "--clients",
        "2",
        "--duration",
        "0.8",
        "--loss",
        "0.02",
        "--crash",
        "2@0.3",
        "--restart",
        "2@0.45",
        "--timeout-ms",
        "100",
        "--record",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{r}");
    let rec = read(&path);
    assert_eq!(rec["kind"], "synod-recording");
    assert_eq!(rec["protocol"], "raft");
    assert_eq!(lane_names(&rec), ["n0", "n1", "n2", "c0", "c1"]);
    let types: Vec<&str> = rec["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in [
        "AppendEntries",
        "AppendEntriesReply",
        "RequestVote",
        "Read",
        "Write",
        "timeout",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let pairs = assert_pairs_are_consistent(&rec);
    let events = rec["events"].as_array().unwrap();
    assert!(pairs > 100, "{pairs} matched datagrams");
    // Client requests pair with the node's receipt: the load generator's side is recorded too.
    assert!(events
        .iter()
        .any(|e| e["kind"] == "send" && e["lane"] == 3 && e.get("received_as").is_some()));
    // Injected loss is recorded where it happened, and never received.
    let lost: Vec<&Value> = events.iter().filter(|e| e["kind"] == "lost").collect();
    assert!(!lost.is_empty(), "2% loss over {} events", events.len());
    assert!(lost.iter().all(|e| e.get("received_as").is_none()));
    // The crash and the restart, on node 2's lane.
    let marks: Vec<(u64, &str)> = rec["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["lane"].as_u64().unwrap(), m["what"].as_str().unwrap()))
        .collect();
    assert_eq!(marks, [(2, "crashed"), (2, "restarted from disk")]);
    // The history is the one the bench checked, and the verdict is its verdict.
    assert_eq!(
        rec["history"].as_array().unwrap().len() as u64,
        r["load"]["history_ops"].as_u64().unwrap()
    );
    assert_eq!(rec["linearizability"]["verdict"], "linearizable");
    assert_eq!(r["record"]["events"], rec["recorded_events"]);
    assert_eq!(r["record"]["dropped"], 0);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn a_non_linearizable_bench_records_the_failing_keys_shortest_prefix() {
    // Two single-copy servers that never talk: clients spread over them see writes vanish.
    let path = temp("split");
    let record = ["--duration", "0.3", "--record", path.to_str().unwrap()];
    let (code, r) = bench_json(&[&SPLIT_BRAIN[..], &record].concat());
    assert_eq!(code, Some(1), "{r}");
    let rec = read(&path);
    let lin = &rec["linearizability"];
    assert_eq!(lin["verdict"], "not linearizable", "{lin}");
    let key = &lin["detail"]["key"];
    assert_eq!(key, &r["lincheck"]["detail"]["key"]);
    let prefix = lin["detail"]["prefix"].as_array().unwrap();
    assert_eq!(
        prefix.len(),
        r["lincheck"]["detail"]["shortest_failing_prefix"]["ops"]
            .as_array()
            .unwrap()
            .len(),
        "the same prefix as the report's"
    );
    assert!(prefix.iter().all(|o| &o["key"] == key));
    // The prefix ends at the operation no linearization explains: one returned at that time.
    let at = lin["detail"]["at_us"].as_f64().unwrap();
    assert!(prefix.iter().any(|o| o["complete_us"].as_f64() == Some(at)));
    // The history in the file is on the recording's clock: it lies among the datagrams.
    let first_send = rec["events"][0]["at_us"].as_f64().unwrap();
    let first_op = rec["history"][0]["invoke_us"].as_f64().unwrap();
    assert!(
        (first_op - first_send).abs() < 1000.0,
        "{first_op} vs {first_send}"
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn a_full_recording_keeps_the_first_events_and_counts_the_rest() {
    let path = temp("limit");
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["bench", "single-copy-kv", "--nodes", "1", "--clients", "2"])
        .args(["--duration", "0.3", "--record-limit", "50", "--record"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("Recorded 50 events") && stdout.contains("later events were dropped"),
        "{stdout}"
    );
    let rec = read(&path);
    assert_eq!(rec["recorded_events"], 50);
    assert_eq!(rec["events"].as_array().unwrap().len(), 50);
    assert!(rec["dropped_events"].as_u64().unwrap() > 100);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn run_records_what_outside_clients_sent() {
    let path = temp("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["run", "single-copy-kv", "--nodes", "1", "--port", "0"])
        .args(["--duration", "2", "--record"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the banner").unwrap();
        if let Some(rest) = line.trim().strip_prefix("node 0") {
            break rest.trim().to_string();
        }
    };
    let client = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["client", &addr, "write", "3", "7"])
        .output()
        .unwrap();
    assert!(client.status.success());
    let start = Instant::now();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success());
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(rest.iter().any(|l| l.starts_with("Recorded ")), "{rest:?}");
    let rec = read(&path);
    assert_eq!(lane_names(&rec)[0], "n0");
    let events = rec["events"].as_array().unwrap();
    let write = events
        .iter()
        .find(|e| e["kind"] == "receive" && e["type"] == "Write")
        .expect("the client's write, as the node received it");
    assert!(
        write["message"].as_str().unwrap().contains("k3=7"),
        "{write}"
    );
    assert_eq!(
        rec["lanes"][write["peer"].as_u64().unwrap() as usize]["node"],
        false
    );
    assert!(events
        .iter()
        .any(|e| e["kind"] == "send" && e["type"] == "WriteOk" && e["peer"] == write["peer"]));
    // No load generator ran: there is no history.
    assert!(rec["history"].is_null());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn recording_flags_are_checked_before_the_run() {
    let ok_path = temp("flags");
    for (args, needle) in [
        (vec!["--record-limit", "10"], "give --record FILE too"),
        (vec!["--record", "/tmp/synod-run.txt"], "ends in .json"),
        (
            vec!["--record", "/no/such/dir/run.json"],
            "--record /no/such/dir/run.json: cannot write it",
        ),
        (
            vec!["--record", ok_path.to_str().unwrap(), "--record-limit", "0"],
            "--record-limit 0",
        ),
    ] {
        for command in ["run", "bench"] {
            let out = Command::new(env!("CARGO_BIN_EXE_synod"))
                .args([command, "single-copy-kv", "--duration", "0.1"])
                .args(&args)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command} {args:?}: {stderr}");
            assert!(stderr.contains(needle), "{command} {args:?}: {stderr}");
        }
    }
    let _ = std::fs::remove_dir_all(ok_path.parent().unwrap());
}
