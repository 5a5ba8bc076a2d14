//! Nothing the user asks for is silently ignored: the command line is built from each protocol's
//! descriptor, so a flag the protocol does not have is an exit-2 error naming the valid ones; a
//! bug alone shows itself (the settings it needs are applied and reported); `--refines` honours
//! the search options it can and rejects the rest; a simulation says what it did not prove and
//! which seed it used; `--max-memory` stops a search cleanly.

use serde_json::Value;
use std::process::{Command, Output};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

fn synod(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(args)
        .output()
        .expect("the synod binary runs");
    Run {
        code: status.code().expect("not killed by a signal"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn expect(args: &[&str], code: i32) -> Run {
    let run = synod(args);
    assert_eq!(
        run.code, code,
        "synod {args:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

/// Exit 2, nothing on stdout, and every needle on stderr.
fn usage_error(args: &[&str], needles: &[&str]) {
    let run = expect(args, 2);
    assert!(run.stdout.is_empty(), "{args:?} printed:\n{}", run.stdout);
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "synod {args:?}: stderr should contain {needle:?}:\n{}",
            run.stderr
        );
    }
}

fn verdict<'a>(report: &'a Value, name: &str) -> &'a str {
    report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no property {name}"))["verdict"]
        .as_str()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Each protocol's own flags

#[test]
fn help_of_a_protocol_lists_its_parameters_properties_and_bugs() {
    let help = expect(&["check", "paxos", "--help"], 0).stdout;
    for needle in [
        "--servers",
        "--clients",
        "--crashes",
        "--retry-rounds",
        "agreement",
        "value chosen",
        "volatile-promise",
        "needs --crashes 1",
    ] {
        assert!(
            help.contains(needle),
            "check paxos --help lacks {needle}:\n{help}"
        );
    }
    assert!(!help.contains("--rms"), "paxos has no --rms:\n{help}");
    let spec = expect(&["check", "spec-paxos", "--help"], 0).stdout;
    for needle in ["--acceptors", "--max-ballot", "V!C!Inv", "3,921"] {
        assert!(
            spec.contains(needle),
            "check spec-paxos --help lacks {needle}:\n{spec}"
        );
    }
    assert!(
        !spec.contains("--network"),
        "a spec has no network:\n{spec}"
    );
    assert!(!spec.contains("--servers"), "{spec}");
    // The network commands list only parameters that shape the servers.
    let run = expect(&["run", "paxos", "--help"], 0).stdout;
    assert!(run.contains("--tell-laggards"), "{run}");
    assert!(!run.contains("--clients"), "{run}");
}

#[test]
fn a_parameter_the_protocol_does_not_have_names_the_valid_ones() {
    usage_error(
        &["check", "paxos", "--rms", "3"],
        &[
            "paxos has no parameter --rms",
            "servers",
            "clients",
            "tell-laggards",
        ],
    );
    usage_error(
        &["check", "paxos", "--server", "3"],
        &["paxos has no parameter --server (did you mean --servers?)"],
    );
    usage_error(
        &["check", "spec-tcommit", "--servers", "3"],
        &["spec-tcommit has no parameter --servers", "rms"],
    );
    usage_error(
        &["check", "spec-paxos", "--network", "ordered"],
        &["spec-paxos has no parameter --network"],
    );
    usage_error(
        &["check", "two-phase-commit", "--symmetry"],
        &["two-phase-commit has no parameter --symmetry"],
    );
    usage_error(
        &["run", "paxos", "--clients", "3"],
        &[
            "--clients is a model-checking parameter of paxos",
            "tell-laggards",
        ],
    );
    usage_error(
        &["check", "nosuch"],
        &["unknown protocol 'nosuch'", "paxos", "spec-paxos"],
    );
    usage_error(
        &["run", "two-phase-commit"],
        &[
            "two-phase-commit cannot run on the network",
            "paxos",
            "single-copy-kv",
        ],
    );
}

#[test]
fn search_options_go_before_or_after_the_protocol() {
    let a = expect(
        &["check", "--max-depth", "3", "paxos", "--format", "json"],
        3,
    )
    .json();
    let b = expect(
        &["check", "paxos", "--max-depth", "3", "--format", "json"],
        3,
    )
    .json();
    assert_eq!(a["unique_states"], b["unique_states"]);
    assert_eq!(a["stopped"], "max-depth");
}

#[test]
fn seed_without_simulation_is_an_error() {
    usage_error(
        &["check", "paxos", "--seed", "3"],
        &["--seed", "simulation"],
    );
}

// ---------------------------------------------------------------------------------------------
// --bug NAME alone shows the bug

#[test]
fn a_bug_alone_gets_the_settings_it_needs_and_says_so() {
    for (protocol, bug, property, param, value) in [
        ("paxos", "read-proposes-placeholder", "validity", "reads", 2),
        (
            "single-copy-kv",
            "volatile-store",
            "linearizable",
            "crashes",
            1,
        ),
    ] {
        let run = expect(&["check", protocol, "--bug", bug, "--format", "json"], 1);
        let report = run.json();
        assert_eq!(verdict(&report, property), "violated", "{bug}");
        assert_eq!(report["parameters"][param], value, "{bug}");
        let notes: Vec<&str> = report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let want = format!("{bug} needs {param}={value}: set");
        assert!(
            notes.iter().any(|n| n.contains(&want)),
            "{want:?} in {notes:?}"
        );
        let text = expect(&["check", protocol, "--bug", bug], 1).stdout;
        assert!(text.contains(&want), "{text}");
    }
    // A network need.
    let report = expect(
        &[
            "check",
            "single-copy-kv",
            "--bug",
            "no-dedup",
            "--format",
            "json",
        ],
        1,
    )
    .json();
    assert_eq!(report["parameters"]["network"], "unordered-duplicating");
    assert_eq!(verdict(&report, "linearizable"), "violated");
}

#[test]
fn a_conflicting_explicit_setting_is_kept_with_a_warning() {
    let run = expect(
        &[
            "check",
            "single-copy-kv",
            "--bug",
            "volatile-store",
            "--crashes",
            "0",
            "--format",
            "json",
        ],
        0,
    );
    let report = run.json();
    assert_eq!(report["parameters"]["crashes"], 0);
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("warning: volatile-store needs crashes=1") && notes.contains("crashes=0"),
        "{notes}"
    );
}

// ---------------------------------------------------------------------------------------------
// --refines honours the search options

#[test]
fn refines_honours_depth_and_json_and_rejects_what_does_not_apply() {
    let run = expect(
        &[
            "check",
            "paxos",
            "--refines",
            "--max-depth",
            "3",
            "--format",
            "json",
        ],
        3,
    );
    let report = run.json();
    assert_eq!(report["complete"], false, "{report}");
    assert_eq!(report["stopped"], "max-depth");
    assert!(report["states"].as_u64().unwrap() < 98_653, "{report}");
    let text = expect(&["check", "paxos", "--refines", "--max-depth", "3"], 3).stdout;
    assert!(text.contains("max-depth"), "{text}");

    usage_error(
        &["check", "paxos", "--refines", "--strategy", "dfs"],
        &["--refines", "--strategy"],
    );
    usage_error(
        &["check", "paxos", "--refines", "--symmetry"],
        &["--refines", "--symmetry"],
    );
    usage_error(&["check", "paxos", "--refines", "--seed", "1"], &["--seed"]);
    usage_error(
        &["check", "spec-paxos", "--refines"],
        &["defines no refinement", "paxos", "two-phase-commit"],
    );
}

#[test]
fn refines_stops_at_its_timeout() {
    let started = std::time::Instant::now();
    let report = expect(
        &[
            "check",
            "paxos",
            "--refines",
            "--crashes",
            "1",
            "--timeout",
            "2",
            "--format",
            "json",
        ],
        3,
    )
    .json();
    assert_eq!(report["stopped"], "timeout", "{report}");
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

#[test]
fn refines_writes_its_failing_trace() {
    let dir = std::env::temp_dir().join(format!("synod-refines-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    expect(
        &[
            "check",
            "two-phase-commit",
            "--refines",
            "--bug",
            "majority-commit",
            "--threads",
            "2",
            "--trace-out",
            path.to_str().unwrap(),
        ],
        1,
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(!written["trace"]["steps"].as_array().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Simulation proves nothing, and says which seed it used

#[test]
fn simulation_reports_its_seed_runs_and_steps() {
    let run = expect(
        &[
            "check",
            "paxos",
            "--strategy",
            "simulation",
            "--timeout",
            "1",
            "--format",
            "json",
        ],
        0,
    );
    let report = run.json();
    let seed = report["seed"].as_u64().expect("the seed drawn is reported");
    assert!(report["runs"].as_u64().unwrap() > 0, "{report}");
    assert!(report["steps"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["unique_states"].is_null(),
        "a simulation counts no distinct states"
    );
    assert_eq!(report["complete"], false);
    assert_eq!(verdict(&report, "agreement"), "unknown");
    let text = expect(
        &[
            "check",
            "paxos",
            "--strategy",
            "simulation",
            "--timeout",
            "1",
            "--seed",
            &seed.to_string(),
        ],
        0,
    )
    .stdout;
    assert!(text.contains("proves nothing"), "{text}");
    assert!(text.contains(&format!("seed {seed}")), "{text}");
    assert!(!text.contains("unique"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Memory: stop cleanly

#[test]
fn max_memory_stops_the_search_like_a_timeout() {
    // 1 MiB is below what the process already holds: the search stops at once, cleanly.
    let run = expect(
        &["check", "paxos", "--max-memory", "1M", "--format", "json"],
        3,
    );
    let report = run.json();
    assert_eq!(report["stopped"], "max-memory", "{report}");
    assert_eq!(report["complete"], false);
    assert_eq!(verdict(&report, "agreement"), "unknown");
    let text = expect(&["check", "paxos", "--max-memory", "1M"], 3).stdout;
    assert!(text.contains("--max-memory"), "{text}");
    assert!(text.contains("--symmetry"), "the hint: {text}");
    usage_error(
        &["check", "paxos", "--max-memory", "lots"],
        &["--max-memory", "lots"],
    );
    let report = expect(
        &[
            "check",
            "paxos",
            "--refines",
            "--max-memory",
            "1M",
            "--format",
            "json",
        ],
        3,
    )
    .json();
    assert_eq!(report["stopped"], "max-memory", "{report}");
}

#[test]
fn a_pinned_configuration_shows_its_known_count() {
    let text = expect(&["check", "spec-twophase"], 0).stdout;
    assert!(
        text.contains("Known count for this configuration: 288"),
        "{text}"
    );
    assert!(text.contains("this run agrees"), "{text}");
    let report = expect(&["check", "spec-twophase", "--format", "json"], 0).json();
    assert_eq!(report["known_unique_states"], 288);
    let other = expect(
        &["check", "spec-twophase", "--rms", "2", "--format", "json"],
        0,
    )
    .json();
    assert!(other["known_unique_states"].is_null());
}

#[test]
fn bench_flags_that_do_not_apply_are_errors() {
    usage_error(
        &["bench", "paxos", "--no-check", "--check-timeout", "5"],
        &["--check-timeout", "--no-check"],
    );
    usage_error(
        &["bench", "--target", "127.0.0.1:9", "--nodes", "3"],
        &["--nodes", "--target"],
    );
    usage_error(
        &[
            "bench",
            "paxos",
            "--target",
            "127.0.0.1:9",
            "--bug",
            "minority-quorum",
        ],
        &["--bug", "--target"],
    );
    usage_error(&["bench", "paxos", "--clients", "0"], &["clients"]);
    usage_error(&["bench"], &["name a protocol", "--target", "paxos"]);
    usage_error(
        &["bench", "paxos", "--store", "register"],
        &["--store", "write-once"],
    );
}
