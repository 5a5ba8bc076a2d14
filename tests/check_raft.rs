//! Raft (models/src/raft.rs) through the real binary: pinned state counts of small
//! configurations, the properties they prove and reach, and the bug variants caught with a
//! shortest trace. The default configuration (three servers, terms up to 2, one client that
//! writes and reads) is larger than a test should search; these configurations bound terms,
//! operations or servers instead.

use serde_json::Value;
use std::process::Command;

fn check(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check", "raft"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json", "--threads", "2"]);
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(&all)
        .output()
        .expect("the synod binary runs");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        json.is_object(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), json)
}

fn verdict<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no property {name}"))
}

const SAFETY: [&str; 6] = [
    "election safety",
    "leader append-only",
    "log matching",
    "leader completeness",
    "state machine safety",
    "linearizable",
];

/// One term, three servers, a write and a read, snapshots after two entries: every safety
/// property holds, a leader is elected, a lagging follower installs a snapshot; no second
/// leader can exist, so "entry committed after a leader change" is unreachable (exit 1).
#[test]
fn one_term_three_servers() {
    let (code, report) = check(&["--terms", "1"]);
    assert_eq!(report["complete"], true);
    assert_eq!(report["unique_states"], 18_110);
    for p in SAFETY {
        assert_eq!(verdict(&report, p)["verdict"], "holds", "{p}");
    }
    assert_eq!(verdict(&report, "leader elected")["verdict"], "reached");
    assert_eq!(verdict(&report, "snapshot installed")["verdict"], "reached");
    assert_eq!(
        verdict(&report, "entry committed after a leader change")["verdict"],
        "unreached"
    );
    assert_eq!(
        code, 1,
        "a sometimes property unreached in a complete search"
    );
}

/// Two servers, two terms, one write: a leader change commits on top of the first leader's
/// log, and everything holds.
#[test]
fn two_terms_two_servers() {
    let (_, report) = check(&["--servers", "2", "--ops", "1"]);
    assert_eq!(report["complete"], true);
    assert_eq!(report["unique_states"], 988);
    for p in SAFETY {
        assert_eq!(verdict(&report, p)["verdict"], "holds", "{p}");
    }
    assert_eq!(
        verdict(&report, "entry committed after a leader change")["verdict"],
        "reached"
    );
}

/// One term with a crash: a server restarts from its saved term, vote and log.
#[test]
fn one_term_with_a_crash() {
    let (_, report) = check(&["--terms", "1", "--crashes", "1"]);
    assert_eq!(report["complete"], true);
    assert_eq!(report["unique_states"], 662_108);
    for p in SAFETY {
        assert_eq!(verdict(&report, p)["verdict"], "holds", "{p}");
    }
}

/// A bug is caught with a shortest trace of `steps` steps violating `property`.
fn caught(bug: &str, extra: &[&str], property: &str, steps: usize) {
    let mut args = vec!["--bug", bug, "--ops", "1", "--snapshot", "0"];
    args.extend_from_slice(extra);
    let (code, report) = check(&args);
    assert_eq!(code, 1, "{args:?}");
    let p = verdict(&report, property);
    assert_eq!(p["verdict"], "violated", "{args:?}: {report}");
    assert_eq!(p["trace"]["shortest"], true);
    assert_eq!(
        p["trace"]["steps"].as_array().unwrap().len(),
        steps,
        "{args:?}"
    );
}

/// votedFor not persisted: a server votes, crashes, restarts and votes for another candidate
/// in the same term; two leaders of one term.
#[test]
fn volatile_vote_elects_two_leaders_in_one_term() {
    caught("volatile-vote", &[], "election safety", 8);
}

/// A vote from an earlier term counted: two leaders of one term.
#[test]
fn counting_stale_votes_elects_two_leaders_in_one_term() {
    caught("count-stale-votes", &[], "election safety", 7);
}

/// Without the up-to-date restriction a server missing a committed entry becomes leader.
#[test]
fn voting_without_the_log_check_loses_a_committed_entry() {
    caught("vote-without-log-check", &[], "leader completeness", 8);
}
