//! The `synod` command line as users' scripts and CI see it: the real binary, its exit codes
//! (0 every expectation met; 1 a property failed; 2 usage or configuration error; 3 an exhaustive
//! search stopped early with nothing failed), the JSON report schema, trace export, and the error
//! messages for bad input. The contract is DESIGN.md's "Command line" section and README.md's
//! JSON schema.
//!
//! State counts are pinned elsewhere (tests/check_paxos.rs); here only their relations are.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const ALWAYS_PROPERTIES: [&str; 3] = ["agreement", "validity", "linearizable"];
const SOMETIMES_PROPERTY: &str = "value chosen";

/// The result of one run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    /// The stdout as the one JSON object `--format json` promises.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON value ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

fn synod(args: &[&str]) -> Run {
    let started = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(args)
        .output()
        .expect("the synod binary runs");
    Run {
        code: status
            .code()
            .unwrap_or_else(|| panic!("synod {args:?} was killed by a signal: {status:?}")),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
        elapsed: started.elapsed(),
    }
}

/// Runs `synod args` and asserts its exit code, showing everything it printed when it differs.
fn synod_expect(args: &[&str], code: i32) -> Run {
    let run = synod(args);
    assert_eq!(
        run.code,
        code,
        "synod {} exited {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        run.code,
        run.stdout,
        run.stderr
    );
    run
}

/// A usage error: exit 2, nothing on stdout, and every `needle` in the message on stderr.
fn usage_error(args: &[&str], needles: &[&str]) -> Run {
    let run = synod_expect(args, 2);
    assert!(
        run.stdout.is_empty(),
        "synod {}: a usage error prints nothing on stdout, got:\n{}",
        args.join(" "),
        run.stdout
    );
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "synod {}: stderr should contain {needle:?}:\n{}",
            args.join(" "),
            run.stderr
        );
    }
    run
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{key:?} is not a string in {v}"))
}

fn u64_field(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{key:?} is not a non-negative integer in {v}"))
}

fn property<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["properties"]
        .as_array()
        .expect("properties is an array")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no property {name:?} in {}", report["properties"]))
}

fn verdict<'a>(report: &'a Value, name: &str) -> &'a str {
    str_field(property(report, name), "verdict")
}

/// Asserts the documented schema of a trace and returns its steps.
fn assert_trace_schema(trace: &Value) -> &Vec<Value> {
    let steps = trace["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("a trace has steps[]: {trace}"));
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(
            u64_field(step, "step"),
            i as u64 + 1,
            "steps are numbered from 1: {step}"
        );
        let kind = str_field(step, "kind");
        assert!(
            ["deliver", "drop", "timeout", "crash", "recover", "random", "action"].contains(&kind),
            "unknown step kind {kind:?}"
        );
        if kind == "deliver" || kind == "drop" {
            for key in ["src", "dst", "message"] {
                assert!(
                    !str_field(step, key).is_empty(),
                    "a {kind} step names its {key}: {step}"
                );
            }
        }
        str_field(step, "state");
    }
    steps
}

/// Asserts the documented schema of a `check --format json` report.
fn assert_report_schema(report: &Value) {
    assert!(report.is_object(), "the report is one JSON object");
    assert!(!str_field(report, "protocol").is_empty());
    assert!(
        report["parameters"].is_object(),
        "parameters is an object: {}",
        report["parameters"]
    );
    assert!(["bfs", "dfs", "simulation"].contains(&str_field(report, "strategy")));
    let states = u64_field(report, "states");
    if report["strategy"] == "simulation" {
        // A simulation remembers no states: it reports runs and steps, and no distinct count.
        assert!(report["unique_states"].is_null(), "{report}");
        assert_eq!(u64_field(report, "steps"), states);
        u64_field(report, "runs");
        u64_field(report, "seed");
    } else {
        let unique = u64_field(report, "unique_states");
        assert!(
            states >= unique,
            "states {states} >= unique_states {unique}"
        );
    }
    u64_field(report, "max_depth");
    let seconds = report["seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("seconds is a number: {}", report["seconds"]));
    assert!(seconds >= 0.0);
    assert!(report["complete"].is_boolean(), "complete is a boolean");
    let properties = report["properties"]
        .as_array()
        .expect("properties is an array");
    assert!(!properties.is_empty());
    for p in properties {
        assert!(!str_field(p, "name").is_empty());
        let expectation = str_field(p, "expectation");
        assert!(
            ["always", "sometimes", "eventually"].contains(&expectation),
            "expectation {expectation:?}"
        );
        let verdict = str_field(p, "verdict");
        let allowed: &[&str] = if expectation == "sometimes" {
            &["reached", "unreached", "unknown"]
        } else {
            &["holds", "violated", "unknown"]
        };
        assert!(
            allowed.contains(&verdict),
            "verdict {verdict:?} for a {expectation} property"
        );
        match &p["trace"] {
            Value::Null => {}
            trace @ Value::Object(_) => {
                assert_trace_schema(trace);
            }
            other => panic!("trace is null or an object, got {other}"),
        }
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("synod-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

// ---------------------------------------------------------------------------------------------
// synod list

#[test]
fn list_json_describes_every_protocol() {
    let run = synod_expect(&["list", "--format", "json"], 0);
    let list = run.json();
    let entries = list.as_array().expect("the catalog is a JSON array");
    assert!(!entries.is_empty());
    for e in entries {
        assert!(!str_field(e, "name").is_empty());
        assert!(!str_field(e, "summary").is_empty());
        for p in e["parameters"].as_array().expect("parameters[]") {
            str_field(p, "name");
            let (default, min, max) = (
                u64_field(p, "default"),
                u64_field(p, "min"),
                u64_field(p, "max"),
            );
            assert!(
                min <= default && default <= max,
                "min <= default <= max: {p}"
            );
        }
        for p in e["properties"].as_array().expect("properties[]") {
            str_field(p, "name");
            assert!(["always", "sometimes", "eventually", "leads-to"]
                .contains(&str_field(p, "expectation")));
        }
        for b in e["bugs"].as_array().expect("bugs[]") {
            assert!(!str_field(b, "name").is_empty());
            assert!(!str_field(b, "summary").is_empty());
        }
    }

    let paxos = entries
        .iter()
        .find(|e| e["name"] == "paxos")
        .expect("paxos is listed");
    let params: Vec<&str> = paxos["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| str_field(p, "name"))
        .collect();
    for name in ["servers", "clients", "crashes", "reads"] {
        assert!(params.contains(&name), "paxos has --{name}: {params:?}");
    }
    let props: Vec<(&str, &str)> = paxos["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (str_field(p, "name"), str_field(p, "expectation")))
        .collect();
    for name in ALWAYS_PROPERTIES {
        assert!(props.contains(&(name, "always")), "{name} in {props:?}");
    }
    assert!(props.contains(&(SOMETIMES_PROPERTY, "sometimes")));
    let bugs: Vec<&str> = paxos["bugs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| str_field(b, "name"))
        .collect();
    assert!(bugs.contains(&"accept-lower-ballot"), "{bugs:?}");
}

#[test]
fn list_text_names_protocol_parameters_properties_and_bugs() {
    let text = synod_expect(&["list"], 0).stdout;
    let json = synod_expect(&["list", "--format", "json"], 0).json();
    let paxos = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "paxos")
        .expect("paxos is listed");
    assert!(text.contains("paxos"), "{text}");
    for p in paxos["parameters"].as_array().unwrap() {
        let flag = format!("--{}", str_field(p, "name"));
        assert!(
            text.contains(&flag),
            "the text listing names {flag}:\n{text}"
        );
    }
    for p in paxos["properties"].as_array().unwrap() {
        let name = str_field(p, "name");
        assert!(
            text.contains(name),
            "the text listing names {name:?}:\n{text}"
        );
    }
    for b in paxos["bugs"].as_array().unwrap() {
        let name = str_field(b, "name");
        assert!(
            text.contains(name),
            "the text listing names bug {name}:\n{text}"
        );
    }
}

/// Every bug and network the catalog lists is accepted by `check` (a depth-1 search: exit 3).
#[test]
fn every_listed_bug_and_network_is_accepted() {
    let json = synod_expect(&["list", "--format", "json"], 0).json();
    for e in json.as_array().unwrap() {
        let name = str_field(e, "name");
        for b in e["bugs"].as_array().unwrap() {
            let bug = str_field(b, "name");
            synod_expect(&["check", name, "--bug", bug, "--max-depth", "1"], 3);
        }
        for n in e["networks"].as_array().into_iter().flatten() {
            let network = n.as_str().expect("network names are strings");
            synod_expect(
                &["check", name, "--network", network, "--max-depth", "1"],
                3,
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// synod check: the default run, a bug run, trace export

#[test]
fn check_default_json_meets_every_expectation() {
    let run = synod_expect(&["check", "paxos", "--format", "json"], 0);
    let report = run.json();
    assert_report_schema(&report);
    assert_eq!(report["protocol"], "paxos");
    assert_eq!(report["strategy"], "bfs");
    assert_eq!(report["complete"], true);
    let params = &report["parameters"];
    assert_eq!(params["servers"], 3, "{params}");
    assert_eq!(params["clients"], 2, "{params}");
    assert_eq!(params["network"], "unordered-nonduplicating", "{params}");
    assert_eq!(params["bug"], Value::Null, "{params}");
    assert_eq!(params["symmetry"], false, "{params}");
    assert!(u64_field(&report, "unique_states") > 0);
    assert!(u64_field(&report, "max_depth") > 0);

    for name in ALWAYS_PROPERTIES {
        let p = property(&report, name);
        assert_eq!(p["expectation"], "always");
        assert_eq!(p["verdict"], "holds", "{p}");
        assert_eq!(
            p["trace"],
            Value::Null,
            "a property that holds has no trace"
        );
    }
    let chosen = property(&report, SOMETIMES_PROPERTY);
    assert_eq!(chosen["expectation"], "sometimes");
    assert_eq!(chosen["verdict"], "reached");
    let steps = assert_trace_schema(&chosen["trace"]);
    assert!(!steps.is_empty(), "a reached property has its example");
}

#[test]
fn check_bug_json_reports_a_counterexample() {
    let run = synod_expect(
        &[
            "check",
            "paxos",
            "--bug",
            "accept-lower-ballot",
            "--format",
            "json",
        ],
        1,
    );
    let report = run.json();
    assert_report_schema(&report);
    assert_eq!(report["parameters"]["bug"], "accept-lower-ballot");
    assert_eq!(
        report["complete"], false,
        "a search that found a violation is not complete"
    );
    let agreement = property(&report, "agreement");
    assert_eq!(agreement["verdict"], "violated");
    let steps = assert_trace_schema(&agreement["trace"]);
    assert!(!steps.is_empty(), "a counterexample has steps");
    for step in steps {
        assert_eq!(step["kind"], "deliver", "{step}");
        for key in ["src", "dst", "message", "state"] {
            assert!(step[key].is_string(), "{key} in {step}");
        }
    }
    // Nothing else may be claimed to hold: the search stopped at the violation.
    for name in ["validity", "linearizable"] {
        assert_ne!(verdict(&report, name), "holds", "{name}");
    }
}

#[test]
fn check_bug_text_prints_a_numbered_trace() {
    let run = synod_expect(&["check", "paxos", "--bug", "accept-lower-ballot"], 1);
    let text = &run.stdout;
    assert!(text.contains("Counterexample to \"agreement\""), "{text}");
    assert!(text.contains("VIOLATED"), "{text}");
    // Numbered deliveries `  n. src -> dst: Message`, numbered 1, 2, ... in order.
    let numbered: Vec<u64> = text
        .lines()
        .filter(|l| l.contains(" -> "))
        .filter_map(|l| l.trim_start().split_once(". "))
        .filter_map(|(n, _)| n.parse().ok())
        .collect();
    assert!(
        numbered.len() >= 2,
        "a numbered trace with -> arrows:\n{text}"
    );
    assert_eq!(
        numbered,
        (1..=numbered.len() as u64).collect::<Vec<_>>(),
        "steps are numbered 1..n:\n{text}"
    );
}

#[test]
fn trace_out_json_writes_the_counterexample() {
    let dir = TempDir::new("trace_out_json");
    let file = dir.file("cex.json");
    let run = synod_expect(
        &[
            "check",
            "paxos",
            "--bug",
            "accept-lower-ballot",
            "--trace-out",
            path_str(&file),
        ],
        1,
    );
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("--trace-out wrote no file ({e}); stderr:\n{}", run.stderr));
    let written: Value = serde_json::from_str(&text).expect("the trace file is JSON");
    assert_eq!(written["protocol"], "paxos", "{written}");
    assert_eq!(written["property"], "agreement", "{written}");
    assert_eq!(written["verdict"], "violated", "{written}");
    let steps = assert_trace_schema(&written["trace"]);
    assert!(!steps.is_empty());
}

#[test]
fn trace_out_mermaid_writes_a_sequence_diagram() {
    let dir = TempDir::new("trace_out_mmd");
    let file = dir.file("cex.mmd");
    synod_expect(
        &[
            "check",
            "paxos",
            "--bug",
            "accept-lower-ballot",
            "--trace-out",
            path_str(&file),
        ],
        1,
    );
    let text = std::fs::read_to_string(&file).expect("--trace-out wrote the .mmd file");
    assert!(text.starts_with("sequenceDiagram"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("participant ")),
        "{text}"
    );
    assert!(text.contains("->>"), "{text}");
}

#[test]
fn trace_out_other_extension_is_rejected_before_checking() {
    let dir = TempDir::new("trace_out_txt");
    let file = dir.file("cex.txt");
    let run = usage_error(
        &["check", "paxos", "--trace-out", path_str(&file)],
        &[".json", ".mmd"],
    );
    assert!(!file.exists(), "nothing is written");
    // Rejected before checking: no report, and much faster than the default check.
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

// ---------------------------------------------------------------------------------------------
// Bad input: exit 2 with a message naming the valid choices

#[test]
fn unknown_protocol_lists_the_protocols() {
    usage_error(&["check", "nosuch"], &["nosuch", "paxos"]);
}

#[test]
fn unknown_bug_lists_the_bugs() {
    let json = synod_expect(&["list", "--format", "json"], 0).json();
    let paxos = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "paxos")
        .unwrap();
    let bugs: Vec<&str> = paxos["bugs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| str_field(b, "name"))
        .collect();
    let mut needles = vec!["nope"];
    needles.extend(bugs);
    usage_error(&["check", "paxos", "--bug", "nope"], &needles);
}

#[test]
fn parameter_out_of_range_states_the_range() {
    usage_error(
        &["check", "paxos", "--servers", "0"],
        &["--servers 0", "1", "7"],
    );
    usage_error(
        &["check", "paxos", "--clients", "9"],
        &["--clients 9", "1", "4"],
    );
}

#[test]
fn unknown_network_lists_the_networks() {
    usage_error(
        &["check", "paxos", "--network", "nope"],
        &[
            "nope",
            "unordered-nonduplicating",
            "unordered-duplicating",
            "ordered",
            "lossy-unordered-nonduplicating",
        ],
    );
}

#[test]
fn unknown_strategy_lists_the_strategies() {
    usage_error(
        &["check", "paxos", "--strategy", "nope"],
        &["nope", "bfs", "dfs", "simulation"],
    );
}

#[test]
fn zero_threads_is_rejected() {
    usage_error(&["check", "paxos", "--threads", "0"], &["--threads"]);
}

#[test]
fn non_positive_timeout_is_rejected() {
    usage_error(
        &["check", "paxos", "--timeout", "0"],
        &["--timeout", "positive"],
    );
    usage_error(
        &["check", "paxos", "--timeout=-1"],
        &["--timeout", "positive"],
    );
    // `--timeout -1` (a separate word) is taken for a flag by clap; still a usage error.
    usage_error(&["check", "paxos", "--timeout", "-1"], &["-1"]);
    usage_error(&["check", "paxos", "--timeout", "soon"], &["soon"]);
}

#[test]
fn more_crashes_than_servers_is_rejected() {
    usage_error(
        &["check", "paxos", "--crashes", "4", "--servers", "3"],
        &["--crashes 4", "--servers 3"],
    );
}

#[test]
fn unknown_flag_is_rejected() {
    usage_error(&["check", "paxos", "--bogus"], &["--bogus"]);
    usage_error(&["list", "--format", "yaml"], &["yaml", "text", "json"]);
}

// ---------------------------------------------------------------------------------------------
// Bounded searches: exit 3

#[test]
fn timeout_stops_an_exhaustive_search_with_exit_3() {
    for threads in ["1", "2"] {
        timeout_stops_search(threads);
    }
}

/// stateright 0.31 only reads its timeout when a worker runs dry, which one thread never does;
/// the harness enforces the deadline itself, so both thread counts must stop.
fn timeout_stops_search(threads: &str) {
    let run = synod_expect(
        &[
            "check",
            "paxos",
            "--clients",
            "3",
            "--threads",
            threads,
            "--timeout",
            "0.5",
            "--format",
            "json",
        ],
        3,
    );
    let report = run.json();
    assert_report_schema(&report);
    assert_eq!(report["complete"], false);
    for name in ALWAYS_PROPERTIES {
        assert_eq!(verdict(&report, name), "unknown", "{name}");
    }
    assert!(
        ["reached", "unknown"].contains(&verdict(&report, SOMETIMES_PROPERTY)),
        "an unfinished search never says unreached"
    );
    let seconds = report["seconds"].as_f64().unwrap();
    assert!(seconds < 5.0, "a 0.5 s timeout reported {seconds} s");
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
}

#[test]
fn max_depth_stops_an_exhaustive_search_with_exit_3() {
    let run = synod_expect(
        &["check", "paxos", "--max-depth", "3", "--format", "json"],
        3,
    );
    let report = run.json();
    assert_report_schema(&report);
    assert_eq!(report["complete"], false);
    assert!(u64_field(&report, "max_depth") <= 3, "{report}");
    for p in report["properties"].as_array().unwrap() {
        assert_eq!(p["verdict"], "unknown", "{p}");
    }
    let text = synod_expect(&["check", "paxos", "--max-depth", "3"], 3).stdout;
    assert!(text.contains("UNKNOWN"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Strategies, symmetry, networks

#[test]
fn dfs_agrees_with_bfs() {
    let bfs = synod_expect(&["check", "paxos", "--format", "json"], 0).json();
    let dfs = synod_expect(
        &["check", "paxos", "--strategy", "dfs", "--format", "json"],
        0,
    )
    .json();
    assert_report_schema(&dfs);
    assert_eq!(dfs["strategy"], "dfs");
    assert_eq!(dfs["complete"], true);
    assert_eq!(dfs["unique_states"], bfs["unique_states"]);
    let verdicts = |r: &Value| -> Vec<(String, String)> {
        r["properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].to_string(), p["verdict"].to_string()))
            .collect()
    };
    assert_eq!(verdicts(&dfs), verdicts(&bfs));
}

#[test]
fn simulation_of_the_correct_protocol_finds_nothing() {
    let run = synod_expect(
        &[
            "check",
            "paxos",
            "--strategy",
            "simulation",
            "--timeout",
            "1",
            "--seed",
            "7",
            "--format",
            "json",
        ],
        0,
    );
    let report = run.json();
    assert_report_schema(&report);
    assert_eq!(report["strategy"], "simulation");
    assert_eq!(report["complete"], false, "a simulation proves nothing");
    for name in ALWAYS_PROPERTIES {
        assert_eq!(
            verdict(&report, name),
            "unknown",
            "a simulation cannot prove {name}"
        );
    }
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
}

#[test]
fn simulation_finds_the_bug_quickly() {
    let run = synod_expect(
        &[
            "check",
            "paxos",
            "--strategy",
            "simulation",
            "--timeout",
            "20",
            "--seed",
            "7",
            "--bug",
            "accept-lower-ballot",
            "--format",
            "json",
        ],
        1,
    );
    let report = run.json();
    assert_report_schema(&report);
    assert_eq!(verdict(&report, "agreement"), "violated");
    assert!(
        run.elapsed < Duration::from_secs(10),
        "a 20 s simulation should stop at the violation, took {:?}",
        run.elapsed
    );
}

/// DESIGN.md: every violated property carries its trace. stateright 0.31's simulation records a
/// discovery as the indices of the actions it chose, including actions the model ignores, in a
/// list it swap-removes from; `Checked::enabled_only` lists only actions that lead somewhere so
/// those indices replay exactly.
#[test]
fn simulation_violation_has_a_trace() {
    let report = synod_expect(
        &[
            "check",
            "paxos",
            "--strategy",
            "simulation",
            "--timeout",
            "20",
            "--seed",
            "7",
            "--bug",
            "accept-lower-ballot",
            "--format",
            "json",
        ],
        1,
    )
    .json();
    let steps = assert_trace_schema(&property(&report, "agreement")["trace"]);
    assert!(!steps.is_empty());
}

#[test]
fn symmetry_is_accepted_and_reported() {
    // One server: clients are then interchangeable, so the reduction is visible and quick.
    let plain = synod_expect(&["check", "paxos", "--servers", "1", "--format", "json"], 0).json();
    let run = synod_expect(
        &[
            "check",
            "paxos",
            "--servers",
            "1",
            "--symmetry",
            "--format",
            "json",
        ],
        0,
    );
    let reduced = run.json();
    assert_report_schema(&reduced);
    assert_eq!(
        reduced["parameters"]["symmetry"], true,
        "{}",
        reduced["parameters"]
    );
    assert_eq!(reduced["complete"], true);
    assert!(
        u64_field(&reduced, "unique_states") < u64_field(&plain, "unique_states"),
        "symmetry reduces the state space: {} vs {}",
        reduced["unique_states"],
        plain["unique_states"]
    );
    for name in ALWAYS_PROPERTIES {
        assert_eq!(verdict(&reduced, name), "holds");
    }
    assert_eq!(verdict(&reduced, SOMETIMES_PROPERTY), "reached");
}

#[test]
fn other_networks_complete_and_hold() {
    for network in [
        "ordered",
        "unordered-duplicating",
        "lossy-unordered-nonduplicating",
    ] {
        let run = synod_expect(
            &[
                "check",
                "paxos",
                "--clients",
                "1",
                "--network",
                network,
                "--format",
                "json",
            ],
            0,
        );
        let report = run.json();
        assert_report_schema(&report);
        assert_eq!(report["parameters"]["network"], network);
        assert_eq!(report["complete"], true, "{network}");
        for name in ALWAYS_PROPERTIES {
            assert_eq!(verdict(&report, name), "holds", "{name} on {network}");
        }
        assert_eq!(verdict(&report, SOMETIMES_PROPERTY), "reached", "{network}");
    }
}
