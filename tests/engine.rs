//! Synod's own breadth-first engine (`check --engine synod`) against stateright's on the same
//! configurations: the same generated and unique state counts, the same verdicts, the same
//! depth as stateright's single-threaded BFS (with more threads stateright's depth can exceed
//! the true BFS depth: a state may first be reached by a longer path), and counterexamples of
//! the shortest length on any number of threads.

use serde_json::Value;
use std::process::Command;

/// `synod check ARGS --engine ENGINE --threads N --format json`: exit code and report.
fn check(args: &[&str], engine: &str, threads: usize) -> (i32, Value) {
    check_with(args, engine, threads, &[])
}

fn check_with(args: &[&str], engine: &str, threads: usize, more: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .arg("check")
        .args(args)
        .args(["--engine", engine, "--format", "json", "--threads"])
        .arg(threads.to_string())
        .args(more)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} --engine {engine}: {e}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

/// `synod check ARGS` is a usage error (exit 2) whose message contains `needle`.
fn refused(args: &[&str], needle: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

fn verdicts(r: &Value) -> Vec<(String, String)> {
    r["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn trace_len(r: &Value, property: &str) -> Option<usize> {
    let p = r["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == property)?;
    Some(p["trace"]["steps"].as_array()?.len())
}

/// Where a search completes (or stops at the same depth bound), everything agrees. Where a
/// property fails, each engine stops soon after (stateright at the end of a block of states,
/// Synod at the end of the level), so the counts differ; the verdicts and the length of each
/// counterexample agree. Synod's engine also runs with every unit of every level spilled to
/// disk (`--frontier-states 1`), so each state is read back from its serialized form.
fn assert_same(args: &[&str]) {
    let (code_s, s) = check(args, "stateright", 1);
    let spill: &[&str] = &["--frontier-states", "1"];
    for (threads, more) in [(1, &[][..]), (2, &[][..]), (2, spill)] {
        let (code, r) = check_with(args, "synod", threads, more);
        assert_eq!(
            code, code_s,
            "{args:?} {more:?} on {threads} threads: exit code"
        );
        assert_eq!(verdicts(&r), verdicts(&s), "{args:?}");
        if code_s == 1 {
            for p in s["properties"].as_array().unwrap() {
                if p["verdict"] != "violated" {
                    continue;
                }
                let name = p["name"].as_str().unwrap();
                let (ours, theirs) = (trace_len(&r, name).unwrap(), trace_len(&s, name).unwrap());
                if p["expectation"] == "eventually" {
                    // stateright keeps the last terminal state its block found, Synod the first
                    // (a shortest path to a state where the property can no longer hold).
                    assert!(ours <= theirs, "{args:?} {name}: {ours} > {theirs}");
                } else {
                    assert_eq!(ours, theirs, "{args:?} {name}");
                }
            }
            continue;
        }
        for field in ["states", "unique_states", "max_depth", "complete"] {
            assert_eq!(
                r[field], s[field],
                "{args:?} {more:?} on {threads} threads: {field}"
            );
        }
    }
}

#[test]
fn the_engines_agree_on_the_protocols() {
    for args in [
        &["paxos"][..],
        &["paxos", "--symmetry"],
        &["paxos", "--crashes", "1", "--max-depth", "10"],
        &["raft"],
        &["single-copy-kv"],
        &["single-copy-kv", "--symmetry"],
        &["multi-paxos", "--ops", "1"],
    ] {
        assert_same(args);
    }
}

#[test]
fn the_engines_agree_on_the_specifications_and_eventually_properties() {
    for args in [
        &["spec-tcommit"][..],
        &["spec-twophase"],
        &["spec-paxos"],
        // "every RM decides" (eventually) holds with a TM that stays up, and fails with one that
        // may crash: the path-based check reports it at the terminal state where 2PC blocks.
        &["two-phase-commit"],
        &["two-phase-commit", "--crashes", "1"],
    ] {
        assert_same(args);
    }
}

#[test]
fn counterexamples_are_shortest_on_any_number_of_threads() {
    for (args, property) in [
        (&["paxos", "--bug", "accept-lower-ballot"][..], "agreement"),
        (
            &["two-phase-commit", "--bug", "majority-commit"],
            "consistency",
        ),
        (&["raft", "--bug", "stale-leader-read"], "linearizable"),
    ] {
        let (code_s, s) = check(args, "stateright", 1);
        let shortest = trace_len(&s, property).expect("stateright finds it");
        let spill: &[&str] = &["--frontier-states", "1"];
        for (threads, more) in [(1, &[][..]), (2, &[][..]), (2, spill)] {
            let (code, r) = check_with(args, "synod", threads, more);
            assert_eq!(code, code_s, "{args:?}");
            assert_eq!(
                trace_len(&r, property),
                Some(shortest),
                "{args:?} {more:?} on {threads} threads"
            );
        }
    }
}

#[test]
fn the_engine_is_chosen_for_breadth_first_search_only() {
    for (args, needle) in [
        (
            &["paxos", "--engine", "synod", "--strategy", "dfs"][..],
            "--strategy dfs has one engine",
        ),
        (&["paxos", "--engine", "tlc"], "tlc"),
        (
            &["two-phase-commit", "--refines", "--engine", "synod"],
            "drop --engine",
        ),
        (
            &["paxos", "--engine", "stateright", "--frontier-states", "10"],
            "--frontier-states applies to Synod's breadth-first engine",
        ),
        (
            &[
                "paxos",
                "--strategy",
                "simulation",
                "--frontier-states",
                "10",
            ],
            "--frontier-states applies to Synod's breadth-first engine",
        ),
        (
            &["paxos", "--engine", "synod", "--frontier-states", "0"],
            "--frontier-states must be at least 1",
        ),
    ] {
        refused(args, needle);
    }
}

/// The parent records live in a directory of their own under `$TMPDIR`, removed when the search
/// ends; a directory that cannot be made stops the search with the reason, exit 3.
#[test]
fn parent_records_go_to_disk_and_are_cleaned_up() {
    let dir = std::env::temp_dir().join(format!("synod-engine-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args([
            "check",
            "paxos",
            "--bug",
            "accept-lower-ballot",
            "--engine",
            "synod",
        ])
        .env("TMPDIR", &dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("10 steps"),
        "the trace was rebuilt from disk: {stdout}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);

    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["check", "paxos", "--engine", "synod"])
        .env("TMPDIR", "/proc/synod-cannot-be-here")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("the search stopped: cannot create a directory for the search /proc/synod-cannot-be-here/"),
        "{stdout}"
    );
}

/// A search killed with SIGKILL leaves its directory (nothing runs to remove it); the next search
/// removes it and says so, and leaves alone the directory of a search still running.
#[test]
fn the_next_search_removes_what_a_killed_search_left() {
    let dir = std::env::temp_dir().join(format!("synod-engine-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut long = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["check", "paxos", "--clients", "3", "--engine", "synod"])
        .env("TMPDIR", &dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let listed = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    let started = std::time::Instant::now();
    while listed().is_empty() {
        assert!(started.elapsed().as_secs() < 60, "no search directory");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A directory named after a running process (this test's) is not touched.
    let live = dir.join(format!("synod-bfs-{}-7", std::process::id()));
    std::fs::create_dir_all(&live).unwrap();
    long.kill().unwrap();
    long.wait().unwrap();
    assert_eq!(listed().len(), 2, "the killed search's directory stays");
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(["check", "paxos", "--engine", "synod"])
        .env("TMPDIR", &dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("removed 1 directory of searches that were killed"),
        "{stderr}"
    );
    assert_eq!(listed(), vec![live]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--compare`: the same configuration on stateright's own checker, both sides exploring only,
/// each in a child process with its peak memory.
#[test]
fn compare_runs_stateright_on_the_same_configuration() {
    let compare = |args: &[&str]| -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_synod"))
            .arg("check")
            .args(args)
            .args(["--compare", "--format", "json"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        r["compare"].clone()
    };
    let c = compare(&["paxos"]);
    assert_eq!(c["engine"], "stateright");
    assert_eq!(c["model"], "ActorModel");
    // Paxos without crashes or timers: the very same state graph.
    assert_eq!(c["unique_states"], 98_653, "{c}");
    assert_eq!(c["synod"]["unique_states"], 98_653, "{c}");
    assert_eq!(c["same_unique_states"], true);
    for side in [&c, &c["synod"]] {
        assert!(side["max_rss_bytes"].as_u64().unwrap() > 1 << 20, "{c}");
        assert!(side["seconds"].as_f64().unwrap() > 0.0, "{c}");
    }
    // Two-phase commit: its crashed TM never recovers, ActorModel's would; the counts differ and
    // the report says where the forms differ.
    let c = compare(&["two-phase-commit"]);
    assert_eq!(c["synod"]["unique_states"], 2_968, "{c}");
    assert_eq!(c["unique_states"], 2_689, "{c}");
    assert_eq!(c["same_unique_states"], false, "{c}");
    assert!(
        c["differences"].to_string().contains("never recovers"),
        "{c}"
    );
    // A TLA+ mirror: stateright checks the same model, with its properties.
    let c = compare(&["spec-twophase", "--rms", "3"]);
    assert_eq!(c["model"], "the same model");
    assert_eq!(c["unique_states"], c["synod"]["unique_states"]);

    for (args, needle) in [
        (&["paxos", "--compare", "--symmetry"][..], "drop --symmetry"),
        (
            &["paxos", "--compare", "--strategy", "dfs"],
            "drop --strategy",
        ),
        (&["paxos", "--compare", "--refines"], "drop --refines"),
        (
            &["paxos", "--compare", "--checkpoint", "/tmp/synod-never"],
            "drop --checkpoint and --resume",
        ),
    ] {
        refused(args, needle);
    }
}
