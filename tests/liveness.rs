//! Liveness under weak fairness through the real binary: `eventually` and `leads-to` verdicts on
//! the whole state graph, lasso counterexamples (deadlock, stuttering, cycle) in text, JSON and
//! Mermaid, the `--fairness` flag and its refusals. The algorithm itself is pinned on hand-made
//! graphs in tests/liveness_graphs.rs.

mod common;

use common::{check_json, property};
use serde_json::Value;
use std::process::Command;

fn synod(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(args)
        .output()
        .expect("the synod binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn steps(trace: &Value) -> &Vec<Value> {
    trace["steps"].as_array().expect("steps")
}

/// Two-phase commit without crashes: every RM decides, and a commit reaches every RM, on
/// every behaviour fair in delivery and choices. The liveness pass explores the same graph as
/// the search (2,968 states) and keeps its 8,413 transitions.
#[test]
fn two_phase_commit_is_live_without_crashes() {
    let (code, r) = check_json("two-phase-commit", &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["complete"], true);
    assert_eq!(property(&r, "every RM decides")["verdict"], "holds");
    let leads = property(&r, "commit reaches every RM");
    assert_eq!(leads["expectation"], "leads-to");
    assert_eq!(leads["verdict"], "holds");
    let live = &r["liveness"];
    assert_eq!(live["unique_states"], 2_968);
    assert_eq!(live["unique_states"], r["unique_states"]);
    assert_eq!(live["transitions"], 8_413);
    assert_eq!(live["complete"], true);
    assert_eq!(
        live["fairness"],
        serde_json::json!(["deliver", "timeout", "random"])
    );
}

/// The blocking scenario as a liveness counterexample: the TM crashes (crash-stop), a prepared
/// RM waits forever, and nothing is enabled any more: a deadlock, said as such. The commit
/// still reaches every RM once decided (its messages are on their way), and the safety
/// property is proven on the whole graph.
#[test]
fn a_crashed_tm_blocks_two_phase_commit_in_a_deadlock() {
    let (code, r) = check_json("two-phase-commit", &["--crashes", "1"]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(
        r["complete"], true,
        "a liveness failure does not cut the search"
    );
    assert_eq!(r["unique_states"], 5_936);
    assert_eq!(property(&r, "consistency")["verdict"], "holds");
    assert_eq!(property(&r, "commit reaches every RM")["verdict"], "holds");
    let decides = property(&r, "every RM decides");
    assert_eq!(decides["verdict"], "violated");
    let trace = &decides["trace"];
    assert_eq!(trace["lasso"]["kind"], "deadlock");
    assert!(trace["lasso"].get("loop_from").is_none());
    let steps = steps(trace);
    assert!(
        steps
            .iter()
            .any(|s| s["kind"] == "crash" && s["actor"] == "tm"),
        "{steps:?}"
    );
    let last_rm_states: Vec<&str> = ["rm0", "rm1", "rm2"]
        .iter()
        .filter_map(|rm| {
            steps
                .iter()
                .rev()
                .find(|s| s["actor"] == *rm)
                .and_then(|s| s["state"].as_str())
        })
        .collect();
    assert!(
        last_rm_states.contains(&"Prepared"),
        "a prepared RM is left waiting: {steps:?}"
    );
}

/// On a lossy network a lost `Commit` leaves its RM prepared forever: `commit reaches every RM`
/// fails, with the TM's commit before the loss.
#[test]
fn a_lost_commit_breaks_leads_to() {
    let (code, r) = check_json(
        "two-phase-commit",
        &["--network", "lossy-unordered-nonduplicating"],
    );
    assert_eq!(code, 1, "{r}");
    let leads = property(&r, "commit reaches every RM");
    assert_eq!(leads["verdict"], "violated");
    let steps = steps(&leads["trace"]);
    let commit = steps
        .iter()
        .position(|s| {
            s["actor"] == "tm" && s["state"].as_str().unwrap_or("").starts_with("Committed")
        })
        .expect("the TM commits");
    let lost = steps
        .iter()
        .position(|s| s["kind"] == "drop" && s["message"] == "Commit")
        .expect("a Commit is lost");
    assert!(commit < lost, "{steps:?}");
    assert_eq!(leads["trace"]["lasso"]["kind"], "deadlock");
}

/// Without fairness a behaviour may stop at once: in the initial state the TM's `Prepare`
/// messages are in flight, but nothing obliges the network to deliver them. Without fair
/// choices, an RM that was asked may never decide whether to prepare.
#[test]
fn liveness_needs_fairness() {
    let (code, r) = check_json("two-phase-commit", &["--fairness", "none"]);
    assert_eq!(code, 1, "{r}");
    let t = &property(&r, "every RM decides")["trace"];
    assert_eq!(t["lasso"]["kind"], "stuttering");
    assert_eq!(steps(t).len(), 0, "it stops in the initial state");
    assert_eq!(t["lasso"]["fairness"], serde_json::json!([]));
    assert_eq!(r["liveness"]["fairness"], serde_json::json!([]));

    let (code, r) = check_json("two-phase-commit", &["--fairness", "deliver"]);
    assert_eq!(code, 1, "{r}");
    let t = &property(&r, "every RM decides")["trace"];
    assert_eq!(t["lasso"]["kind"], "stuttering");
    assert!(
        steps(t).iter().all(|s| s["kind"] == "deliver"),
        "only deliveries are fair, so the behaviour stops before a choice: {t}"
    );
}

/// Paxos with one proposer (one client) and fair delivery: a value is eventually chosen. With
/// two proposers it holds too in the model, whose ballots are bounded: the highest ballot can
/// never be preempted, so the duel ends with it (`--retry-timer 1` lets the proposers restart).
#[test]
fn paxos_chooses_a_value_with_fair_delivery() {
    for args in [
        &["--liveness", "1", "--clients", "1"][..],
        &[
            "--liveness",
            "1",
            "--clients",
            "2",
            "--reads",
            "0",
            "--retry-timer",
            "1",
        ][..],
    ] {
        let (code, r) = check_json("paxos", args);
        assert_eq!(code, 0, "{args:?}: {r}");
        assert_eq!(
            property(&r, "value eventually chosen")["verdict"],
            "holds",
            "{args:?}"
        );
        assert_eq!(
            r["liveness"]["unique_states"], r["unique_states"],
            "{args:?}"
        );
    }
}

/// A leader that keeps crashing: server 0, the only proposer, crashes and restarts forever
/// while the client's request waits for it. Weak fairness of delivery does not exclude this
/// behaviour (the request is not deliverable while server 0 is down, so it is not continuously
/// enabled), not even with fair restarts: a lasso whose cycle is the crash and the restart.
#[test]
fn a_crashing_leader_is_a_fair_cycle() {
    for fairness in ["deliver,timeout,random", "deliver,timeout,random,recover"] {
        let (code, r) = check_json(
            "paxos",
            &[
                "--liveness",
                "1",
                "--clients",
                "1",
                "--crashes",
                "1",
                "--fairness",
                fairness,
            ],
        );
        assert_eq!(code, 1, "{fairness}: {r}");
        let t = &property(&r, "value eventually chosen")["trace"];
        assert_eq!(t["lasso"]["kind"], "cycle", "{fairness}");
        let from = t["lasso"]["loop_from"].as_u64().expect("loop_from") as usize;
        let cycle = &steps(t)[from - 1..];
        let kinds: Vec<&str> = cycle.iter().map(|s| s["kind"].as_str().unwrap()).collect();
        assert!(
            kinds.contains(&"crash") && kinds.contains(&"recover"),
            "{fairness}: {kinds:?}"
        );
        // The state after the last step is the state before the cycle's first one.
        let states = t["states"].as_array().expect("states");
        assert_eq!(states.len(), steps(t).len() + 1);
        assert_eq!(states[from - 1], states[states.len() - 1], "{fairness}");
    }
}

/// Every exhaustive search gets the same liveness verdicts: the pass is the engine's own.
#[test]
fn every_exhaustive_strategy_checks_liveness_alike() {
    let mut verdicts = Vec::new();
    for args in [
        &["--crashes", "1"][..],
        &["--crashes", "1", "--engine", "stateright"][..],
        &["--crashes", "1", "--strategy", "dfs"][..],
    ] {
        let (code, r) = check_json("two-phase-commit", args);
        assert_eq!(code, 1, "{args:?}");
        verdicts.push((
            property(&r, "every RM decides")["verdict"].clone(),
            property(&r, "every RM decides")["trace"]["lasso"]["kind"].clone(),
            property(&r, "commit reaches every RM")["verdict"].clone(),
            r["liveness"]["transitions"].clone(),
        ));
    }
    assert!(verdicts.windows(2).all(|w| w[0] == w[1]), "{verdicts:?}");
}

/// A depth bound leaves liveness unknown (a partial graph proves nothing about cycles), and
/// says why; a simulation cannot check it either.
#[test]
fn a_partial_graph_leaves_liveness_unknown() {
    let (code, r) = check_json("two-phase-commit", &["--max-depth", "5"]);
    assert_eq!(code, 3, "{r}");
    assert_eq!(
        property(&r, "commit reaches every RM")["verdict"],
        "unknown"
    );
    assert_eq!(property(&r, "every RM decides")["verdict"], "unknown");
    assert!(r.get("liveness").is_none());
    let notes = r["notes"].to_string();
    assert!(notes.contains("--max-depth"), "{notes}");
}

/// The text report marks where the cycle starts and how the behaviour goes on; the Mermaid
/// export ends with a note saying the same; the JSON export carries the lasso.
#[test]
fn lassos_are_printed_and_exported() {
    let dir = std::env::temp_dir().join(format!("synod-liveness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let args = ["--liveness", "1", "--clients", "1", "--crashes", "1"];
    let mut all = vec!["check", "paxos"];
    all.extend_from_slice(&args);
    let (code, text, _) = synod(&all);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("-- the cycle starts here --"), "{text}");
    assert!(text.contains("repeat forever"), "{text}");

    let mmd = dir.join("t.mmd");
    let json = dir.join("t.json");
    for out in [&mmd, &json] {
        let mut all = all.clone();
        all.extend_from_slice(&["--trace-out", out.to_str().unwrap()]);
        let (code, _, err) = synod(&all);
        assert_eq!(code, 1, "{err}");
    }
    let diagram = std::fs::read_to_string(&mmd).unwrap();
    assert!(
        diagram.lines().last().unwrap().contains("repeat forever"),
        "{diagram}"
    );
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(exported["property"], "value eventually chosen");
    assert_eq!(exported["trace"]["lasso"]["kind"], "cycle");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--fairness` where it cannot apply, or with a kind it does not know: exit 2, naming why.
#[test]
fn fairness_is_refused_where_it_does_not_apply() {
    for (args, says) in [
        (
            &["check", "paxos", "--fairness", "deliver"][..],
            "--liveness 1",
        ),
        (
            &["check", "spec-paxos", "--fairness", "deliver"][..],
            "has none",
        ),
        (
            &[
                "check",
                "two-phase-commit",
                "--fairness",
                "deliver,timeouts",
            ][..],
            "\"timeouts\"",
        ),
        (
            &[
                "check",
                "two-phase-commit",
                "--fairness",
                "deliver",
                "--strategy",
                "simulation",
            ][..],
            "simulation",
        ),
        (
            &[
                "check",
                "two-phase-commit",
                "--fairness",
                "deliver",
                "--compare",
            ][..],
            "drop --fairness",
        ),
        (
            &[
                "check",
                "two-phase-commit",
                "--fairness",
                "deliver",
                "--refines",
            ][..],
            "drop --fairness",
        ),
    ] {
        let (code, _, err) = synod(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
