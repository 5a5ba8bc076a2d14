//! Checkpoints of Synod's engine (`--checkpoint DIR`, `--resume DIR`): a search stopped by its
//! depth bound, its deadline or `kill -9` goes on from its last checkpoint to the same counts
//! as a search that was never stopped; a checkpoint of another check, or a damaged one, is
//! refused before anything runs.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn synod(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(args)
        .output()
        .unwrap()
}

/// `synod check ARGS --engine synod --format json`: exit code and report.
fn check(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--engine", "synod", "--format", "json"]);
    let out = synod(&all);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{args:?}: {e}\n{}", String::from_utf8_lossy(&out.stderr));
    });
    (out.status.code().unwrap(), report)
}

fn notes(r: &Value) -> String {
    r["notes"]
        .as_array()
        .map(|n| {
            n.iter()
                .map(|x| x.as_str().unwrap_or(""))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .join("\n")
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synod-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The engine's files left in `dir`.
fn engine_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn same_counts(a: &Value, b: &Value, what: &str) {
    for field in ["states", "unique_states", "max_depth"] {
        assert_eq!(a[field], b[field], "{what}: {field}");
    }
}

#[test]
fn a_search_stopped_at_its_depth_bound_goes_on_to_the_same_counts() {
    let dir = fresh_dir("depth");
    let d = dir.to_str().unwrap();
    let (code, first) = check(&[
        "raft",
        "--checkpoint",
        d,
        "--max-depth",
        "12",
        "--checkpoint-every",
        "0",
    ]);
    assert_eq!(code, 3, "{first}");
    assert!(
        notes(&first).contains(&format!("--resume {d}")),
        "{}",
        notes(&first)
    );
    assert!(dir.join("checkpoint.json").exists());
    let (code, resumed) = check(&["raft", "--resume", d, "--threads", "1"]);
    assert_eq!(code, 0, "{}", notes(&resumed));
    assert!(notes(&resumed).contains("resumed from a checkpoint at depth 12"));
    let (_, whole) = check(&["raft"]);
    same_counts(&resumed, &whole, "raft resumed at depth 12");
    assert_eq!(resumed["unique_states"], 148_167, "the pinned count");
    // The search ended: its files are gone, the directory stays.
    assert!(engine_files(&dir).is_empty(), "{:?}", engine_files(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// As an operator would: `kill -9` in the middle of a level, then `--resume`.
#[test]
fn a_search_killed_mid_level_goes_on_to_the_same_counts() {
    let dir = fresh_dir("kill");
    let d = dir.to_str().unwrap();
    let args = ["paxos", "--clients", "3", "--max-depth", "16"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_synod"))
        .arg("check")
        .args(args)
        .args(["--engine", "synod", "--threads", "1", "--checkpoint", d])
        .args(["--checkpoint-every", "0", "--format", "json"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for a checkpoint a few levels in, then kill the search without warning.
    let started = Instant::now();
    loop {
        let depth = std::fs::read(dir.join("checkpoint.json"))
            .ok()
            .and_then(|t| serde_json::from_slice::<Value>(&t).ok())
            .and_then(|m| m["depth"].as_u64())
            .unwrap_or(0);
        if depth >= 12 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut resume = args.to_vec();
    resume.extend_from_slice(&["--resume", d]);
    let (code, resumed) = check(&resume);
    assert_eq!(code, 3, "the depth bound again: {}", notes(&resumed));
    let (_, whole) = check(&args);
    same_counts(&resumed, &whole, "paxos --clients 3 killed and resumed");
    assert_eq!(resumed["unique_states"], 777_013);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A deadline cuts a level short: the checkpoint before it stands.
#[test]
fn a_search_stopped_by_its_deadline_goes_on_from_its_last_checkpoint() {
    let dir = fresh_dir("timeout");
    let d = dir.to_str().unwrap();
    let args = ["paxos", "--clients", "3", "--max-depth", "16"];
    let mut first = args.to_vec();
    first.extend_from_slice(&[
        "--checkpoint",
        d,
        "--checkpoint-every",
        "0",
        "--timeout",
        "1",
        "--threads",
        "1",
    ]);
    let (code, stopped) = check(&first);
    assert_eq!(code, 3);
    assert_eq!(stopped["stopped"], "timeout", "{stopped}");
    assert!(
        notes(&stopped).contains("checkpoint kept"),
        "{}",
        notes(&stopped)
    );
    let mut resume = args.to_vec();
    resume.extend_from_slice(&["--resume", d]);
    let (_, resumed) = check(&resume);
    let (_, whole) = check(&args);
    same_counts(&resumed, &whole, "paxos --clients 3 after a timeout");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_counterexample_found_after_a_resume_is_the_shortest() {
    let dir = fresh_dir("bug");
    let d = dir.to_str().unwrap();
    let bug = ["paxos", "--bug", "accept-lower-ballot"];
    let mut first = bug.to_vec();
    first.extend_from_slice(&["--checkpoint", d, "--max-depth", "6"]);
    assert_eq!(check(&first).0, 3);
    let mut resume = bug.to_vec();
    resume.extend_from_slice(&["--resume", d]);
    let (code, r) = check(&resume);
    assert_eq!(code, 1);
    let agreement = r["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "agreement")
        .unwrap();
    assert_eq!(agreement["trace"]["steps"].as_array().unwrap().len(), 10);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn checkpoints_of_another_check_or_damaged_ones_are_refused() {
    let dir = fresh_dir("refuse");
    let d = dir.to_str().unwrap();
    let (code, _) = check(&["raft", "--checkpoint", d, "--max-depth", "10"]);
    assert_eq!(code, 3);
    let refused = |args: &[&str], needle: &str| {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        let out = synod(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    };
    refused(
        &["raft", "--engine", "synod", "--resume", d, "--prevote", "1"],
        "the checkpoint is of another check: raft (",
    );
    refused(
        &["paxos", "--engine", "synod", "--resume", d],
        "this command is paxos (",
    );
    refused(
        &["raft", "--engine", "synod", "--checkpoint", d],
        "holds a checkpoint already",
    );
    refused(
        &["raft", "--engine", "stateright", "--checkpoint", "/tmp/x"],
        "--checkpoint applies to Synod's breadth-first engine",
    );
    refused(
        &["raft", "--strategy", "dfs", "--resume", d],
        "--resume applies to Synod's breadth-first engine",
    );
    refused(
        &["raft", "--engine", "synod", "--checkpoint-every", "5"],
        "--checkpoint-every applies with",
    );
    refused(
        &[
            "raft",
            "--engine",
            "synod",
            "--checkpoint",
            "/tmp/x",
            "--resume",
            d,
        ],
        "drop --checkpoint",
    );
    let empty = fresh_dir("empty");
    std::fs::create_dir_all(&empty).unwrap();
    refused(
        &[
            "raft",
            "--engine",
            "synod",
            "--resume",
            empty.to_str().unwrap(),
        ],
        "no checkpoint there",
    );

    // One flipped bit in a parent file, and the resume is refused naming it; nothing deleted.
    let parents = dir.join("parents-7.bin");
    let mut bytes = std::fs::read(&parents).unwrap();
    bytes[3] ^= 0x10;
    std::fs::write(&parents, &bytes).unwrap();
    let before = engine_files(&dir);
    refused(
        &["raft", "--engine", "synod", "--resume", d],
        "parents-7.bin is damaged: the",
    );
    assert_eq!(engine_files(&dir), before);
    bytes[3] ^= 0x10;
    std::fs::write(&parents, &bytes).unwrap();

    // A frontier cut short (a disk that filled up).
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join("checkpoint.json")).unwrap()).unwrap();
    let frontier = dir.join(meta["frontier"].as_str().unwrap());
    let len = std::fs::metadata(&frontier).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&frontier)
        .unwrap();
    f.set_len(len / 2).unwrap();
    refused(
        &["raft", "--engine", "synod", "--resume", d],
        "it was cut short",
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}
