//! The clocks check matrix: pinned state counts (cross-checked by a plain search of our own),
//! both deliberately broken clocks caught with their two-step traces, the `sometimes` property
//! that a too-small configuration cannot reach, and the settings the entry refuses.
//!
//! Pinned counts are exact on purpose: any change to the model (an event's fields, the steps a
//! process may take) shows up here. When a change is intended, re-measure and update the pin in
//! the same commit, saying why.

use std::sync::Arc;
use synod::check::{Report, Strategy, Verdict};
use synod_models::clocks::{model, ClockBug, ClockConfig, EventKind};
use synod_models::NetworkKind;

mod common;
use common::{assert_counts, check_json, property, reachable, steps_text, verdict};

const ALWAYS: [&str; 2] = [
    "clock condition",
    "vector clocks characterise happened-before",
];

fn cfg(processes: usize, steps: u8) -> ClockConfig {
    ClockConfig {
        processes,
        steps,
        network: NetworkKind::UnorderedNonDuplicating,
        bug: None,
    }
}

fn bfs(cfg: &ClockConfig) -> Arc<Report> {
    common::memo_check(cfg, Strategy::Bfs, 1, model)
}

#[track_caller]
fn assert_holds(r: &Report, what: &str) {
    for name in ALWAYS {
        assert_eq!(verdict(r, name), Verdict::Holds, "{what}: {name}");
    }
    assert_eq!(verdict(r, "message received"), Verdict::Reached, "{what}");
    assert!(r.complete, "{what}: complete");
}

/// (processes, steps, network, unique states, states generated).
const PINNED: &[(usize, u8, NetworkKind, usize, usize)] = &[
    (2, 1, NetworkKind::UnorderedNonDuplicating, 22, 27),
    (2, 2, NetworkKind::UnorderedNonDuplicating, 749, 1_037),
    (3, 1, NetworkKind::UnorderedNonDuplicating, 480, 802),
    (4, 1, NetworkKind::UnorderedNonDuplicating, 15_128, 32_225),
    (2, 3, NetworkKind::UnorderedNonDuplicating, 44_171, 66_997),
    (
        2,
        2,
        NetworkKind::LossyUnorderedNonDuplicating,
        1_548,
        2_829,
    ),
    (2, 2, NetworkKind::Ordered, 451, 657),
];

#[test]
fn pinned_counts_hold_and_match_a_plain_search() {
    for &(processes, steps, network, unique, generated) in PINNED {
        let c = ClockConfig {
            network,
            ..cfg(processes, steps)
        };
        let what = format!("{c:?}");
        let r = bfs(&c);
        assert_counts(&r, unique, generated, &what);
        assert_holds(&r, &what);
        assert_eq!(
            reachable(&model(c.clone())).len(),
            unique,
            "{what}: plain BFS"
        );
    }
}

/// The default configuration (3 processes, 2 steps each): `synod check clocks` exits 0.
#[test]
fn the_default_holds_and_lamport_time_orders_concurrent_events() {
    let (code, r) = check_json("clocks", &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["unique_states"], 802_806);
    assert_eq!(r["complete"], true);
    let p = property(&r, "concurrent events ordered by Lamport time");
    assert_eq!(p["verdict"], "reached");
    // The shortest example: two local events at one process, one at another.
    assert_eq!(p["trace"]["steps"].as_array().unwrap().len(), 3, "{p}");
}

/// With two processes of one step each, no two concurrent events get ordered times: every
/// concurrent pair is two first events (time 1 each) or two receipts of crossing messages
/// (time 2 each). The `sometimes` property is unreached and the check exits 1.
#[test]
fn too_small_a_system_never_orders_concurrent_events() {
    let r = bfs(&cfg(2, 1));
    assert_eq!(
        verdict(&r, "concurrent events ordered by Lamport time"),
        Verdict::Unreached
    );
    assert_eq!(r.exit_code(), 1);
    let (code, _) = check_json("clocks", &["--processes", "2", "--events", "1"]);
    assert_eq!(code, 1);
}

/// IR2 without the maximum: p0 sends (time 1), p1 receives as its first event and gets time 1
/// too, and vector [0,1,..] that does not include the send. Both properties fail in 2 steps.
#[test]
fn receive_without_max_breaks_both_clocks() {
    let c = ClockConfig {
        bug: Some(ClockBug::ReceiveWithoutMax),
        ..cfg(2, 2)
    };
    let r = bfs(&c);
    for name in ALWAYS {
        assert_eq!(verdict(&r, name), Verdict::Violated, "{name}");
        let trace = r.property(name).unwrap().trace.as_ref().unwrap();
        assert_eq!(trace.steps.len(), 2, "{name}: a send, then its receipt");
    }
    // Replay the counterexample's last state and read the events themselves.
    let m = model(c);
    let trace = r
        .property("clock condition")
        .unwrap()
        .trace
        .as_ref()
        .unwrap();
    let states = common::replay_on(&m, trace);
    let last = states.last().unwrap().first().unwrap();
    let events: Vec<_> = last
        .actors
        .iter()
        .flat_map(|a| a.state.events.iter().cloned())
        .collect();
    let send = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Send { .. }))
        .unwrap();
    let receipt = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Receive { .. }))
        .unwrap();
    assert!(send.happened_before(receipt));
    assert!(send.lamport >= receipt.lamport, "{send:?} {receipt:?}");
    assert!(!send.vector.happened_before(&receipt.vector));
}

/// IR1 broken for sends: a local event then a send at one process share time 1 and vector
/// [1,0,..]; found through the binary, with the trace saying so.
#[test]
fn send_without_increment_is_caught_through_the_binary() {
    let (code, r) = check_json("clocks", &["--bug", "send-without-increment"]);
    assert_eq!(code, 1, "{r}");
    for name in ALWAYS {
        let p = property(&r, name);
        assert_eq!(p["verdict"], "violated", "{name}");
        let text = steps_text(&p["trace"]);
        assert_eq!(p["trace"]["steps"].as_array().unwrap().len(), 2, "{text}");
        assert!(text.contains("local event"), "{text}");
        assert!(text.contains("to send to"), "{text}");
    }
}

#[test]
fn refused_settings_name_the_reason() {
    let synod = env!("CARGO_BIN_EXE_synod");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(synod)
            .args(["check", "clocks"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--network", "unordered-duplicating"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unordered-duplicating"), "{err}");
    let (code, err) = run(&["--events", "4"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--events 4"), "{err}");
    let (code, err) = run(&["--symmetry"]);
    assert_eq!(code, Some(2), "{err}");
}
