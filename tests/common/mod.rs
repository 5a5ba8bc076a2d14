//! Helpers shared by the integration tests: brute-force orbit counting for the symmetry tests
//! of the KV protocols' check matrices, memoised checks, and `synod bench --format json`.

#![allow(dead_code)]

pub mod web;

use stateright::Model;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

/// Every permutation of `0..n`.
pub fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn go(prefix: &mut Vec<usize>, n: usize, out: &mut Vec<Vec<usize>>) {
        if prefix.len() == n {
            out.push(prefix.clone());
            return;
        }
        for i in 0..n {
            if !prefix.contains(&i) {
                prefix.push(i);
                go(prefix, n, out);
                prefix.pop();
            }
        }
    }
    let mut out = Vec::new();
    go(&mut Vec::new(), n, &mut out);
    out
}

pub fn fingerprint<T: Hash>(value: &T) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// Every state reachable in `m`, by a plain breadth-first search of our own.
pub fn reachable<M: Model>(m: &M) -> Vec<M::State>
where
    M::State: Clone + Eq + Hash,
{
    let mut seen: HashSet<M::State> = HashSet::new();
    let mut order = Vec::new();
    let mut queue: VecDeque<M::State> = VecDeque::new();
    for s in m.init_states() {
        if seen.insert(s.clone()) {
            queue.push_back(s);
        }
    }
    let mut actions = Vec::new();
    while let Some(s) = queue.pop_front() {
        actions.clear();
        m.actions(&s, &mut actions);
        for a in actions.drain(..) {
            if let Some(next) = m.next_state(&s, a) {
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
        order.push(s);
    }
    order
}

/// The orbit key of a state: the least fingerprint of `permute(state, map)` over all `perms`.
pub fn orbit_key<S, T: Hash>(
    state: &S,
    perms: &[Vec<usize>],
    permute: impl Fn(&S, &[usize]) -> T,
) -> u64 {
    perms
        .iter()
        .map(|map| fingerprint(&permute(state, map)))
        .min()
        .expect("at least the identity")
}

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};
use synod::check::trace::Traceable;
use synod::check::{self, CheckOptions, Header, Report, Strategy, Verdict};
use synod_models::checked::Checked;

pub fn opts(strategy: Strategy, threads: usize) -> CheckOptions {
    CheckOptions {
        strategy,
        threads,
        ..CheckOptions::default()
    }
}

/// Runs `check::run` on the model `build(cfg)`, memoised by the configuration's `Debug` form,
/// strategy and threads: several tests read the same (large) search.
pub fn memo_check<C, M>(
    cfg: &C,
    strategy: Strategy,
    threads: usize,
    build: fn(C) -> Checked<M>,
) -> Arc<Report>
where
    C: Debug + Clone,
    M: Traceable + synod_models::liveness::Liveness + Send + Sync + 'static,
    M::State: Debug
        + Hash
        + Clone
        + PartialEq
        + Send
        + Sync
        + serde::Serialize
        + serde::de::DeserializeOwned
        + 'static,
    M::Action: Debug + Clone + PartialEq + Send + Sync + 'static,
{
    type Cell = Arc<OnceLock<Arc<Report>>>;
    static CACHE: OnceLock<Mutex<HashMap<String, Cell>>> = OnceLock::new();
    let key = format!("{cfg:?} {strategy:?} {threads}");
    let cell = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(key)
        .or_default()
        .clone();
    cell.get_or_init(|| {
        Arc::new(check::run(
            &|| build(cfg.clone()),
            &opts(strategy, threads),
            Header::default(),
        ))
    })
    .clone()
}

pub fn verdict(r: &Report, name: &str) -> Verdict {
    r.property(name)
        .unwrap_or_else(|| panic!("the report has no property {name:?}"))
        .verdict
}

pub fn verdicts(r: &Report) -> Vec<(String, Verdict)> {
    r.properties
        .iter()
        .map(|p| (p.name.clone(), p.verdict))
        .collect()
}

/// Pins a complete search's counts (distinct states and states generated).
#[track_caller]
pub fn assert_counts(r: &Report, unique: usize, generated: usize, what: &str) {
    assert_eq!(
        (r.unique_states, r.states),
        (unique, generated),
        "{what}: (unique states, states generated); a change to the model shows up here"
    );
}

/// Replays a reported trace on the (unreduced) model `m`: for each step, every state reachable
/// from the previous step's candidates by an action the trace describes identically. Panics if a
/// step is not a step of the model. Returns the candidates after each step, initial first.
pub fn replay_on<M>(m: &Checked<M>, trace: &synod::check::trace::Trace) -> Vec<Vec<M::State>>
where
    M: Traceable,
    M::State: Clone + PartialEq,
    M::Action: Clone,
{
    assert_eq!(trace.participants, m.inner.participants(), "participants");
    let mut frontier: Vec<M::State> = m
        .init_states()
        .into_iter()
        .filter(|s| m.inner.describe_init(s) == trace.initial_state)
        .collect();
    assert!(
        !frontier.is_empty(),
        "the trace's initial state is the model's"
    );
    let mut states = vec![frontier.clone()];
    for (i, step) in trace.steps.iter().enumerate() {
        assert_eq!(step.step, i + 1, "steps are numbered from 1");
        let mut next_frontier: Vec<M::State> = Vec::new();
        for s in &frontier {
            let mut actions = Vec::new();
            m.actions(s, &mut actions);
            for a in actions {
                let Some(next) = m.next_state(s, a.clone()) else {
                    continue;
                };
                let mut described = m.inner.describe_step(s, &a, &next);
                described.step = step.step;
                if described == *step && !next_frontier.contains(&next) {
                    next_frontier.push(next);
                }
            }
        }
        assert!(
            !next_frontier.is_empty(),
            "step {} of the trace is not a step of the model: {step:?}\n{}",
            step.step,
            trace.to_text()
        );
        frontier = next_frontier;
        states.push(frontier.clone());
    }
    states
}

/// Runs `synod bench ARGS --format json` and returns its exit code and report.
/// Bench arguments for two single-copy servers that never talk, clients spread over both: their
/// writes vanish, so the history is not linearizable (the checker's split-brain counterexample on
/// real sockets). Append `--duration SECS`.
#[allow(dead_code)]
pub const SPLIT_BRAIN: [&str; 7] = [
    "single-copy-kv",
    "--nodes",
    "2",
    "--clients",
    "4",
    "--keys",
    "4",
];

pub fn bench_json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
        .arg("bench")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

/// `synod check PROTOCOL ARGS --format json --threads 2`: the exit code and the report.
pub fn check_json(protocol: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["check", protocol];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json", "--threads", "2"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(&all)
        .output()
        .expect("the synod binary runs");
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    assert!(
        json.is_object(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), json)
}

/// The entry of property `name` in a `check` JSON report.
pub fn property<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no property {name}"))
}

/// The text of every step of a trace in a `check` JSON report, one per line.
pub fn steps_text(trace: &serde_json::Value) -> String {
    trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `synod ARGS`: the exit code, stdout and stderr.
#[allow(dead_code)] // not every test binary runs the command line this way
pub fn synod(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(args)
        .output()
        .expect("the synod binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `synod bench ARGS --format json` that must exit 0 with a linearizable history and more
/// than 100 successful operations; the report.
pub fn assert_linearizable_with_progress(args: &[&str]) -> serde_json::Value {
    let (code, r) = bench_json(args);
    assert_eq!(code, Some(0), "{args:?}: {r}");
    assert_eq!(r["lincheck"]["verdict"], "linearizable", "{args:?}: {r}");
    assert!(r["load"]["ops_ok"].as_u64().unwrap() > 100, "{args:?}: {r}");
    r
}
