//! Every catalog entry through the real binary: its listing is honest (the properties `list`
//! names are the ones `check` reports), its default configuration passes, and every bug variant
//! the catalog lists is caught with a trace, violating the property the catalog says. Paxos's
//! bugs are covered in depth by tests/check_paxos.rs; here every other entry is, and
//! two-phase commit's blocking scenario.
//!
//! The TLA+ mirrors' counts are TLC's distinct-state counts from the tlaplus/Examples manifest
//! (also pinned, without the CLI, in specs/tests/counts.rs): TCommit.cfg (3 RMs) 34;
//! TwoPhase.cfg (3 RMs) 288 and 8,832 with 5 RMs; MCConsensus (3 values) 4; MCVoting (3
//! acceptors, 2 values, Ballot 0..2) 6,752; MCPaxosTiny (3 acceptors, 2 values, MaxBallot 1)
//! 3,921. With --symmetry the counts are the orbit counts (80 and 443).

use serde_json::Value;
use std::process::Command;

fn synod(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(args)
        .output()
        .expect("the synod binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn catalog() -> Vec<Value> {
    let (code, json, err) = synod(&["list", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    json.as_array().expect("a JSON array").clone()
}

fn check(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json", "--threads", "1"]);
    let (code, json, err) = synod(&all);
    assert!(json.is_object(), "check {args:?} printed no report: {err}");
    (code, json)
}

fn names(list: &Value, field: &str) -> Vec<(String, String)> {
    list.as_array()
        .expect("an array")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p[field].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn every_entry_lists_its_real_properties_and_passes_its_defaults() {
    let entries = catalog();
    assert!(entries.len() >= 6, "paxos and five specifications");
    for entry in &entries {
        let name = entry["name"].as_str().unwrap();
        if name == "paxos" {
            // Its default check is larger than a test should search: it is pinned in
            // tests/check_paxos.rs and tests/cli.rs.
            continue;
        }
        let (code, report) = check(&[name]);
        assert_eq!(code, 0, "{name}: {report}");
        assert_eq!(report["complete"], true, "{name}");
        // A property listed `when` a parameter has a value is not checked by default.
        let by_default: Value = entry["properties"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p.get("when").is_none())
            .cloned()
            .collect();
        assert_eq!(
            names(&by_default, "expectation"),
            names(&report["properties"], "expectation"),
            "{name}: `synod list` must name the properties the model checks"
        );
    }
}

#[test]
fn specifications_reproduce_tlc_counts() {
    for (args, unique) in [
        (&["spec-tcommit"][..], 34),
        (&["spec-twophase"][..], 288),
        (&["spec-twophase", "--rms", "5"][..], 8_832),
        (&["spec-consensus"][..], 4),
        (&["spec-voting"][..], 6_752),
        (&["spec-paxos"][..], 3_921),
        (&["spec-twophase", "--symmetry"][..], 80),
        (&["spec-paxos", "--symmetry"][..], 443),
    ] {
        let (code, report) = check(args);
        assert_eq!(code, 0, "{args:?}");
        assert_eq!(report["unique_states"], unique, "{args:?}");
    }
}

/// `synod check NAME --bug BUG`, nothing else: the settings the bug needs are applied (and said),
/// and the checker finds the property the catalog names violated, with a shortest trace.
#[test]
fn every_listed_bug_alone_is_caught_with_a_trace() {
    for entry in catalog() {
        let name = entry["name"].as_str().unwrap().to_string();
        for bug in entry["bugs"].as_array().unwrap() {
            let bug_name = bug["name"].as_str().unwrap();
            if (name.as_str(), bug_name) == ("raft", "commit-previous-term") {
                // Four terms on the defaults: a BFS of about 45 s. tests/check_raft.rs finds
                // it without the client (`--ops 0`) in seconds.
                continue;
            }
            let violates = bug["violates"].as_str().unwrap();
            let args = vec![name.as_str(), "--bug", bug_name];
            let (code, report) = check(&args);
            assert_eq!(code, 1, "{args:?}");
            for need in bug["needs"].as_array().unwrap() {
                match (need.get("param"), need.get("network")) {
                    (Some(p), None) => assert_eq!(
                        report["parameters"][p.as_str().unwrap()],
                        need["value"],
                        "{args:?}: the need {need} is applied"
                    ),
                    (None, Some(n)) => assert_eq!(report["parameters"]["network"], *n),
                    _ => panic!("a need is a param or a network: {need}"),
                }
                let said = report["notes"].as_array().unwrap();
                assert!(
                    said.iter().any(|n| n
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("{bug_name} needs"))),
                    "{args:?}: the report says what it set: {said:?}"
                );
            }
            let property = report["properties"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == violates)
                .unwrap_or_else(|| panic!("{name}: no property {violates}"));
            assert_eq!(property["verdict"], "violated", "{args:?}: {report}");
            let steps = property["trace"]["steps"].as_array().expect("a trace");
            assert!(!steps.is_empty(), "{args:?}");
            // Specifications step by TLA+ actions; actor models by deliveries and choices.
            assert!(
                steps
                    .iter()
                    .all(|s| s["message"].is_string() || s["actor"].is_string()),
                "{args:?}: every step says what happened"
            );
            assert_eq!(property["trace"]["shortest"], true, "{args:?}");
        }
    }
}

#[test]
fn specification_parameters_are_validated() {
    for args in [
        &["spec-twophase", "--rms", "0"][..],
        &["spec-paxos", "--acceptors", "9"][..],
        &["spec-paxos", "--servers", "3"][..],
        &["spec-voting", "--bug", "nosuch"][..],
        &["paxos", "--rms", "3"][..],
    ] {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        let (code, _, err) = synod(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("error:"), "{args:?}: {err}");
    }
}

/// Gray and Lamport's blocking scenario: RMs prepare, the TM crashes before deciding, and the
/// prepared RMs can neither commit nor abort on their own. The eventually property must fail,
/// with the trace that shows it; without TM crashes every RM decides.
#[test]
fn two_phase_commit_blocks_when_the_tm_crashes() {
    let (code, report) = check(&["two-phase-commit"]);
    assert_eq!(code, 0, "{report}");
    // 1 TM and 3 RMs on an unordered network: a change to the model shows up here.
    assert_eq!(report["unique_states"], 2_968);
    let (_, four) = check(&["two-phase-commit", "--rms", "4"]);
    assert_eq!(four["unique_states"], 39_728);

    let (code, report) = check(&["two-phase-commit", "--crashes", "1"]);
    assert_eq!(code, 1, "{report}");
    let decides = report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "every RM decides")
        .unwrap();
    assert_eq!(decides["expectation"], "eventually");
    assert_eq!(decides["verdict"], "violated");
    let steps = decides["trace"]["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["kind"] == "crash" && s["actor"] == "tm"),
        "the TM crashes: {steps:?}"
    );
    assert!(
        steps
            .iter()
            .all(|s| s["kind"] != "crash" || s["actor"] == "tm"),
        "only the TM crashes"
    );
    // At the end some RM is prepared: it may neither commit nor abort on its own, and the TM
    // that could tell it is down. (Which RM, and whether it prepared before or after the crash,
    // depends on which blocked state the search reaches first.)
    let mut last_state = std::collections::BTreeMap::new();
    for s in steps {
        if let Some(actor) = s["actor"].as_str() {
            last_state.insert(
                actor.to_string(),
                s["state"].as_str().unwrap_or("").to_string(),
            );
        }
    }
    assert!(
        last_state
            .iter()
            .any(|(actor, state)| actor.starts_with("rm") && state == "Prepared"),
        "a prepared RM is blocked: {steps:?}"
    );
}

/// `--refines`: the actors implement TwoPhase.tla under the mapping of
/// `two_phase_commit::to_two_phase` (with and without TM crashes), and the majority-commit bug
/// does not: its TM commits in a state where TwoPhase's `TMCommit` is not enabled.
#[test]
fn two_phase_commit_refines_two_phase_tla() {
    for args in [
        &["two-phase-commit", "--refines"][..],
        &["two-phase-commit", "--refines", "--crashes", "1"][..],
        &["two-phase-commit", "--refines", "--rms", "4"][..],
    ] {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        let (code, report, err) = synod(&all);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(report["holds"], true, "{args:?}");
        assert_eq!(report["spec"], "TwoPhase.tla");
        assert!(
            report["states"].as_u64().unwrap() > 500,
            "{args:?}: {report}"
        );
    }

    let (code, report, err) = synod(&[
        "check",
        "two-phase-commit",
        "--refines",
        "--bug",
        "majority-commit",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(report["holds"], false);
    let steps = report["trace"]["steps"].as_array().expect("a trace");
    let last = steps.last().unwrap();
    assert_eq!(last["actor"], "tm");
    assert!(
        last["message"].as_str().unwrap().contains("TmCommit"),
        "{last}"
    );
    assert!(report["failure"].as_str().unwrap().contains("committed"));

    let (code, _, err) = synod(&["check", "spec-twophase", "--refines"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("two-phase-commit") && err.contains("paxos"),
        "{err}"
    );
}

/// `--refines` for Paxos: the actor model implements Consensus.tla, `chosen` being the values
/// decided or announced. Every reachable state of the default configuration is examined (the
/// same 98,653 as `check`); the agreement bugs choose a second value, which no Consensus step
/// does, and the placeholder bug chooses a value outside `Value`.
#[test]
fn paxos_refines_consensus_tla() {
    let json = |args: &[&str]| {
        let mut all = vec!["check", "paxos", "--refines", "--format", "json"];
        all.extend_from_slice(args);
        synod(&all)
    };
    let (code, report, err) = json(&[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(report["holds"], true);
    assert_eq!(report["spec"], "Consensus.tla");
    assert_eq!(report["states"], 98_653);

    for args in [
        &["--bug", "ignore-promised-value"][..],
        &["--bug", "accept-lower-ballot"][..],
        &["--bug", "read-proposes-placeholder", "--reads", "2"][..],
    ] {
        let (code, report, err) = json(args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert_eq!(report["holds"], false, "{args:?}");
        assert!(!report["trace"]["steps"].as_array().unwrap().is_empty());
        assert!(report["failure"].as_str().unwrap().contains("chosen"));
    }

    let (code, _, err) = json(&["--servers", "1"]);
    assert_eq!(code, 2, "{err}");
}

/// Every entry is explorable: `synod explore` serves the UI for it, and stepping from its first
/// state lists actions, each described, and every property's condition there.
#[test]
fn every_entry_is_explorable() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};
    use synod::catalog::{self, Mode, RawSettings};

    fn get(port: u16, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).ok()?;
        Some(body)
    }

    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    for entry in catalog::catalog() {
        let name = entry.name();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let _child = Kill(
            Command::new(env!("CARGO_BIN_EXE_synod"))
                .args(["explore", name, "--addr", &format!("127.0.0.1:{port}")])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("explore starts"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let page = loop {
            if let Some(body) = get(port, "/") {
                break body;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: the explorer never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/1.0 200"),
            "{name}: {page}"
        );
        let resolved = entry
            .resolve(&RawSettings::default(), Mode::Check)
            .expect("defaults are valid");
        let v = entry
            .step(&resolved.settings, &[0])
            .expect("the first state");
        assert!(
            !v["actions"].as_array().unwrap().is_empty(),
            "{name}: something can happen first: {v}"
        );
        assert_eq!(
            v["properties"].as_array().unwrap().len(),
            entry
                .descriptor
                .properties
                .iter()
                .filter(|p| p.applies(&resolved.settings))
                .count(),
            "{name}"
        );
    }
}

/// Every count a descriptor pins (and `check` prints as known) is what the checker finds, except
/// the few that take minutes (they are pinned by their own tests).
#[test]
fn every_pinned_count_is_reproduced() {
    use synod::catalog::{self, RawSettings};
    use synod::check::{CheckOptions, Strategy};
    const LARGEST_CHECKED_HERE: u64 = 400_000;
    let mut checked = 0;
    for entry in catalog::catalog() {
        for pinned in entry.descriptor.pinned {
            if pinned.unique_states > LARGEST_CHECKED_HERE {
                continue;
            }
            let raw = RawSettings {
                params: pinned
                    .params
                    .iter()
                    .map(|(n, v)| (n.to_string(), *v))
                    .collect(),
                symmetry: pinned.symmetry,
                ..RawSettings::default()
            };
            let settings = entry
                .settings(&raw)
                .expect("a pinned configuration is valid");
            assert_eq!(
                entry.known_count(&settings).map(|(n, _)| n),
                Some(pinned.unique_states),
                "{} {pinned:?}: known_count finds it",
                entry.name()
            );
            let opts = CheckOptions {
                strategy: Strategy::Bfs,
                threads: 2,
                ..CheckOptions::default()
            };
            let report = entry.check(&settings, &opts);
            assert!(report.complete, "{} {pinned:?}", entry.name());
            assert_eq!(
                report.unique_states as u64,
                pinned.unique_states,
                "{} {pinned:?} ({})",
                entry.name(),
                pinned.source
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "{checked} pinned counts checked");
}

/// The command line built from the catalog is consistent (clap's own assertions: no two flags of
/// a protocol share a name, every default is a possible value, ...).
#[test]
fn the_command_line_is_well_formed() {
    synod::cli::command().debug_assert();
}

/// The properties a descriptor lists are the model's, in order, with the same expectations.
#[test]
fn descriptors_list_the_models_properties() {
    use synod::catalog::{self, RawSettings};
    for entry in catalog::catalog() {
        let settings = entry.settings(&RawSettings::default()).unwrap();
        let report = entry.check(
            &settings,
            &synod::check::CheckOptions {
                max_depth: Some(1),
                ..Default::default()
            },
        );
        let from_model: Vec<(String, &str)> = report
            .properties
            .iter()
            .map(|p| (p.name.clone(), p.expectation.as_str()))
            .collect();
        let listed: Vec<(String, &str)> = entry
            .descriptor
            .properties
            .iter()
            .filter(|p| p.applies(&settings))
            .map(|p| (p.name.to_string(), p.expectation.as_str()))
            .collect();
        assert_eq!(from_model, listed, "{}", entry.name());
    }
}

/// Every parameter of every protocol refuses a value past its bound: exit 2, naming the
/// parameter (`--parallel-append 2` is a typo, never a silent clamp).
#[test]
fn every_parameter_refuses_a_value_past_its_bound() {
    for entry in catalog() {
        let name = entry["name"].as_str().unwrap();
        for p in entry["parameters"].as_array().unwrap() {
            let param = p["name"].as_str().unwrap();
            let past = (p["max"].as_u64().unwrap() + 1).to_string();
            let flag = format!("--{param}");
            let (code, _, err) = synod(&["check", name, &flag, &past]);
            assert_eq!(code, 2, "{name} {flag} {past}: {err}");
            assert!(err.contains(&flag), "{name} {flag} {past}: {err}");
        }
    }
}
