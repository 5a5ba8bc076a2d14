//! Runs stateright's checkers on a catalog model and turns what they find into a [`Report`].
//!
//! The strategy is stateright's BFS, DFS or seeded simulation. Every model is wrapped in
//! [`Checked`] (action filter, symmetry, first-discovery-wins), so `--symmetry` works with every
//! strategy and traces are the first ones found. A BFS run with more than one thread may find a
//! longer path than the shortest; when it finds anything, the run is repeated single-threaded up to
//! the depth found, which yields shortest traces. Progress goes to stderr, only on a terminal.

pub mod checkpoint;
pub mod engine;
pub mod liveness;
pub mod memory;
pub mod refine;
pub mod report;
pub mod trace;

pub use report::{PropertyReport, Report, Verdict};

use report::thousands;
use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::report::ReportData;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path, UniformChooser};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::Hash;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synod_models::checked::Checked;
use synod_models::liveness::{Fairness, Liveness};
use trace::Traceable;

/// A search strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Bfs,
    Dfs,
    Simulation,
}

impl Strategy {
    pub const ALL: [(&'static str, Strategy); 3] = [
        ("bfs", Strategy::Bfs),
        ("dfs", Strategy::Dfs),
        ("simulation", Strategy::Simulation),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Bfs => "bfs",
            Strategy::Dfs => "dfs",
            Strategy::Simulation => "simulation",
        }
    }
}

/// Which breadth-first search runs (`--engine`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineKind {
    /// stateright's `BfsChecker`.
    Stateright,
    /// Synod's own level-by-level search ([`engine`]).
    #[default]
    Synod,
}

impl EngineKind {
    pub const ALL: [(&'static str, EngineKind); 2] = [
        ("stateright", EngineKind::Stateright),
        ("synod", EngineKind::Synod),
    ];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Stateright => "stateright",
            EngineKind::Synod => "synod",
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (each is set in one go).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A simulation without `--timeout` runs this long.
pub const DEFAULT_SIMULATION_TIMEOUT: Duration = Duration::from_secs(10);

/// How to search.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub strategy: Strategy,
    pub threads: usize,
    pub timeout: Option<Duration>,
    pub max_depth: Option<usize>,
    /// The simulation's seed (exhaustive strategies have none).
    pub seed: u64,
    /// Print a live progress line on stderr (only honoured when stderr is a terminal).
    pub progress: bool,
    /// Stop the search (as a timeout does) once the process's resident memory reaches this many
    /// bytes.
    pub max_memory: Option<u64>,
    /// Where another thread reads the search's progress and asks it to stop (the web UI).
    pub watch: Option<Arc<Watch>>,
    /// The breadth-first engine (`Strategy::Bfs` only).
    pub engine: EngineKind,
    /// States of one level Synod's engine keeps in memory, the rest of the level spilled to
    /// disk (`--frontier-states`); by default, as many as fit in half of `max_memory`.
    pub frontier_states: Option<usize>,
    /// Synod's engine: checkpoint to (or resume from) a directory. [`run`] fills in the
    /// identity from the header.
    pub checkpoint: Option<checkpoint::Spec>,
    /// Which actions are weakly fair when liveness properties are checked (`--fairness`).
    pub fairness: Fairness,
}

/// A search's progress as another thread sees it, and that thread's way to stop it.
#[derive(Debug, Default)]
pub struct Watch {
    progress: Mutex<Progressed>,
    stop: AtomicBool,
}

/// How far a search has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Progressed {
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    /// States generated per second so far.
    pub states_per_sec: f64,
    /// The search is the single-threaded re-run that shortens a counterexample.
    pub minimising: bool,
}

impl Watch {
    /// The latest progress.
    pub fn progress(&self) -> Progressed {
        *lock(&self.progress)
    }

    /// Asks the search to stop; it reports what it found so far, `stopped: interrupted`.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn update(&self, data: &ReportData, minimising: bool) {
        let seconds = data.duration.as_secs_f64();
        *lock(&self.progress) = Progressed {
            states: data.total_states,
            unique_states: data.unique_states,
            max_depth: data.max_depth,
            seconds,
            states_per_sec: data.total_states as f64 / seconds.max(1e-9),
            minimising,
        };
    }
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            strategy: Strategy::Bfs,
            threads: 1,
            timeout: None,
            max_depth: None,
            seed: 0,
            progress: false,
            max_memory: None,
            watch: None,
            engine: EngineKind::Synod,
            frontier_states: None,
            checkpoint: None,
            fairness: Fairness::default(),
        }
    }
}

/// What the report says about the configuration (everything but the search results).
#[derive(Clone, Debug, Default)]
pub struct Header {
    pub protocol: String,
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// What the catalog did on the user's behalf (settings a bug needs), or warns about.
    pub notes: Vec<String>,
    /// The configuration's unique-state count where a test or TLC pins it, and where.
    pub known_unique_states: Option<(u64, String)>,
}

/// Checks the model `build` returns (called more than once: the search, the report and the
/// liveness pass each take their own copy).
pub fn run<M>(build: &dyn Fn() -> Checked<M>, opts: &CheckOptions, header: Header) -> Report
where
    M: Traceable + Liveness + Send + Sync + 'static,
    M::State:
        Debug + Hash + Clone + PartialEq + Send + Sync + Serialize + DeserializeOwned + 'static,
    M::Action: Debug + Clone + PartialEq + Send + Sync + 'static,
{
    let started = Instant::now();
    let mut opts = opts.clone();
    if let Some(c) = &mut opts.checkpoint {
        c.identity = checkpoint::identity(&header.protocol, &header.parameters);
    }
    let opts = &opts;
    let timeout = match (opts.strategy, opts.timeout) {
        (Strategy::Simulation, None) => Some(DEFAULT_SIMULATION_TIMEOUT),
        (_, t) => t,
    };
    // A model of its own for reading properties and replaying paths (the search's copy holds
    // its stop flags and discoveries).
    let model = &build();
    let live = liveness::properties(&model.inner);
    // Liveness properties are decided by their own pass over the whole graph (below): the
    // search does not stop at what stateright's acyclic check calls an `eventually` failure.
    let finish_when = if live.is_empty() || opts.strategy == Strategy::Simulation {
        HasDiscoveries::AnyFailures
    } else {
        HasDiscoveries::AnyOf(
            model
                .properties()
                .iter()
                .filter(|p| p.expectation == Expectation::Always)
                .map(|p| p.name)
                .collect(),
        )
    };
    let mut found = search(build(), opts, timeout, finish_when, opts.threads);
    let seconds = started.elapsed().as_secs_f64();
    if found.cut {
        // Past the deadline states were given no successors, so they looked terminal: an
        // `eventually` counterexample ending there proves nothing.
        let eventually: Vec<&'static str> = model
            .properties()
            .iter()
            .filter(|p| p.expectation == Expectation::Eventually)
            .map(|p| p.name)
            .collect();
        found
            .discoveries
            .retain(|name, _| !eventually.contains(name));
    }

    let depth_bounded = opts.max_depth.is_some_and(|d| found.max_depth >= d);
    let simulation = opts.strategy == Strategy::Simulation;

    // Liveness (`eventually`, `leads-to`) on the whole graph, under weak fairness: a pass of its
    // own after the search, unless the search was cut short (the graph would be partial).
    let mut live_notes = Vec::new();
    let mut lassos: HashMap<&'static str, trace::Trace> = HashMap::new();
    let mut live_stopped = None;
    let mut live_report = None;
    let mut live_done = live.is_empty();
    let limited = found.cut
        || found.out_of_memory
        || found.interrupted
        || found.error.is_some()
        || opts.max_depth.is_some();
    if !live.is_empty() && simulation {
        live_notes.push(
            "eventually and leads-to properties are checked on the whole state graph; a simulation samples runs, so they are UNKNOWN here (stateright's acyclic check may still find a run that ends without them)".to_string(),
        );
    } else if !live.is_empty() && limited {
        live_notes.push(format!(
            "liveness needs the whole state graph: {} not checked because the search {}",
            if live.len() == 1 {
                "it was"
            } else {
                "they were"
            },
            if opts.max_depth.is_some() {
                "was bounded by --max-depth"
            } else {
                "stopped early"
            }
        ));
    } else if !live.is_empty() {
        let mut unreduced = build();
        unreduced.canonical = None;
        let plan = liveness::Plan {
            fairness: opts.fairness,
            deadline: timeout.map(|t| started + t),
            max_memory: opts.max_memory.unwrap_or_else(memory::default_budget),
            watch: opts.watch.clone(),
        };
        let out = liveness::check(&unreduced, &plan);
        let fair = opts.fairness.names();
        live_report = Some(report::LivenessReport {
            fairness: fair.clone(),
            unique_states: out.unique_states,
            transitions: out.edges,
            seconds: out.seconds,
            complete: out.complete,
        });
        live_notes.push(format!(
            "liveness: {} states and {} transitions{}, {:.2} s; weakly fair: {}",
            thousands(out.unique_states as u64),
            thousands(out.edges as u64),
            if model.is_symmetric() {
                " (without symmetry: fairness names actors)"
            } else {
                ""
            },
            out.seconds,
            if fair.is_empty() {
                "nothing (--fairness none)".to_string()
            } else {
                fair.join(", ")
            }
        ));
        if out.complete {
            live_done = true;
            // The whole-graph verdicts replace stateright's acyclic-path ones.
            found
                .discoveries
                .retain(|name, _| !live.iter().any(|(n, _)| n == name));
            lassos = out.violations;
        } else if out.bounded && out.stopped.is_none() {
            live_notes.push(
                "the model's boundary (within_boundary) cut the liveness graph: a state cut there looks stuck, so its verdicts are UNKNOWN".to_string(),
            );
        } else {
            live_stopped = out.stopped;
            live_notes.push(format!(
                "the liveness pass stopped early after {} states: its verdicts are UNKNOWN",
                thousands(out.unique_states as u64)
            ));
        }
    }

    // A failed safety property stops the search; a failed liveness property does not.
    let safety_failed = model
        .properties()
        .iter()
        .any(|p| p.expectation != Expectation::Sometimes && found.discoveries.contains_key(p.name));
    let failed = safety_failed || !lassos.is_empty();
    // The liveness pass ran over the whole graph: its verdicts stand on their own.
    let live_proven = !live.is_empty() && live_done;
    let stopped = if found.error.is_some() {
        Some(Stopped::Error)
    } else if found.interrupted {
        Some(Stopped::Interrupted)
    } else if found.out_of_memory {
        Some(Stopped::MaxMemory)
    } else if found.cut {
        Some(Stopped::Timeout)
    } else if depth_bounded {
        Some(Stopped::MaxDepth)
    } else {
        live_stopped
    };
    let complete = !simulation && stopped.is_none() && !safety_failed && live_done;

    // With several BFS threads the first counterexample is not necessarily a shortest one: search
    // again on one thread, no deeper than the longest, for exactly those properties, within what
    // is left of the time budget. (Examples of `sometimes` properties are not minimised.)
    let mut discoveries = found.discoveries;
    // Synod's engine searches level by level: its first discovery is a shortest one on any
    // number of threads.
    let own = opts.strategy == Strategy::Bfs && opts.engine == EngineKind::Synod;
    let single_bfs = opts.strategy == Strategy::Bfs && (opts.threads == 1 || own);
    let mut minimised: BTreeSet<&'static str> = BTreeSet::new();
    let failures: BTreeSet<&'static str> = model
        .properties()
        .iter()
        .filter(|p| p.expectation != Expectation::Sometimes && discoveries.contains_key(p.name))
        .map(|p| p.name)
        .collect();
    let remaining = timeout.map(|t| t.saturating_sub(started.elapsed()));
    let has_time = remaining.is_none_or(|r| !r.is_zero());
    if opts.strategy == Strategy::Bfs
        && !own
        && opts.threads > 1
        && !failures.is_empty()
        && has_time
    {
        let names = failures;
        let deepest = names
            .iter()
            .map(|n| discoveries[n].clone().into_actions().len())
            .max()
            .unwrap_or(0);
        let mut again = opts.clone();
        // stateright counts the initial state as depth 1 and expands states shallower than the bound.
        again.max_depth = Some(deepest + 2);
        again.progress = false;
        let all = HasDiscoveries::AllOf(names.clone());
        let rerun = search(build(), &again, remaining, all, 1);
        if names.iter().all(|n| rerun.discoveries.contains_key(n)) {
            for (name, path) in rerun.discoveries {
                if names.contains(name) {
                    discoveries.insert(name, path);
                    minimised.insert(name);
                }
            }
        }
    }

    let mut properties: Vec<PropertyReport> = model
        .properties()
        .iter()
        .map(|p| {
            if live_proven && p.expectation == Expectation::Eventually {
                let trace = lassos.remove(p.name);
                return PropertyReport {
                    name: p.name.to_string(),
                    expectation: p.expectation.clone().into(),
                    verdict: if trace.is_some() {
                        Verdict::Violated
                    } else {
                        Verdict::Holds
                    },
                    trace,
                };
            }
            let found = discoveries.get(p.name);
            let verdict = match (&p.expectation, found.is_some()) {
                (Expectation::Sometimes, true) => Verdict::Reached,
                (Expectation::Sometimes, false) if complete => Verdict::Unreached,
                (_, true) => Verdict::Violated,
                (_, false) if complete => Verdict::Holds,
                _ => Verdict::Unknown,
            };
            let trace = found.and_then(|path| {
                let (init, steps) = model.concretize(path)?;
                let shortest = single_bfs || minimised.contains(p.name);
                Some(trace::build(&model.inner, &init, &steps, shortest))
            });
            PropertyReport {
                name: p.name.to_string(),
                expectation: p.expectation.clone().into(),
                verdict,
                trace,
            }
        })
        .collect();
    for (name, kind) in &live {
        if *kind != liveness::Kind::LeadsTo {
            continue;
        }
        let trace = lassos.remove(name);
        properties.push(PropertyReport {
            name: name.to_string(),
            expectation: report::ExpectationName::LeadsTo,
            verdict: match (&trace, live_proven) {
                (Some(_), _) => Verdict::Violated,
                (None, true) => Verdict::Holds,
                (None, false) => Verdict::Unknown,
            },
            trace,
        });
    }

    let mut notes = header.notes;
    notes.extend(live_notes);
    if let Some(e) = &found.error {
        notes.push(format!("the search stopped: {e}"));
    }
    notes.extend(found.engine_notes);
    Report {
        protocol: header.protocol,
        parameters: header.parameters,
        notes,
        strategy: opts.strategy.name().to_string(),
        engine: (opts.strategy == Strategy::Bfs).then(|| opts.engine.name().to_string()),
        threads: opts.threads,
        seed: simulation.then_some(opts.seed),
        runs: simulation.then_some(found.runs),
        states: found.states,
        unique_states: found.unique_states,
        known_unique_states: header.known_unique_states.filter(|_| !simulation),
        max_depth: found.max_depth,
        seconds,
        complete,
        // Failing stops a search too, but that is not an early stop: the verdict is proven.
        stopped: if failed || simulation { None } else { stopped },
        memory_peak_bytes: found.memory_peak,
        compare: None,
        liveness: live_report,
        max_memory_bytes: opts.max_memory,
        symmetry: model.is_symmetric(),
        properties,
    }
}

/// Why an exhaustive search ended before it was complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stopped {
    /// `--timeout` passed.
    Timeout,
    /// `--max-depth` was reached.
    MaxDepth,
    /// The process's resident memory reached `--max-memory`.
    MaxMemory,
    /// Someone asked it to stop (the web UI's Stop button).
    Interrupted,
    /// The search could not go on: its disk failed it (the message is among the notes).
    Error,
}

impl Stopped {
    pub fn as_str(self) -> &'static str {
        match self {
            Stopped::Timeout => "timeout",
            Stopped::MaxDepth => "max-depth",
            Stopped::MaxMemory => "max-memory",
            Stopped::Interrupted => "interrupted",
            Stopped::Error => "error",
        }
    }
}

struct Search<M: Model> {
    /// The deadline passed (or a stop was requested) with states left to explore.
    cut: bool,
    /// The stop was the memory budget.
    out_of_memory: bool,
    /// The stop was asked for through the watch.
    interrupted: bool,
    /// The search could not go on (its disk failed it).
    error: Option<String>,
    /// What the engine says about its run (Synod's: the frontier it spilled).
    engine_notes: Vec<String>,
    /// The highest resident memory seen while polling, bytes.
    memory_peak: Option<u64>,
    /// Runs started (simulation).
    runs: usize,
    states: usize,
    unique_states: usize,
    max_depth: usize,
    discoveries: HashMap<&'static str, Path<M::State, M::Action>>,
}

fn search<M>(
    model: Checked<M>,
    opts: &CheckOptions,
    timeout: Option<Duration>,
    finish_when: HasDiscoveries,
    threads: usize,
) -> Search<M>
where
    M: Model + Send + Sync + 'static,
    M::State:
        Debug + Hash + Clone + PartialEq + Send + Sync + Serialize + DeserializeOwned + 'static,
    M::Action: Debug + Clone + PartialEq + Send + Sync + 'static,
{
    let mut model = match opts.strategy {
        Strategy::Simulation => model.enabled_only(),
        _ => model,
    };
    if let Some(t) = timeout {
        model = model.deadline(Instant::now() + t);
    }
    let progress = Progress::new(
        opts.progress && std::io::stderr().is_terminal(),
        opts.strategy == Strategy::Simulation,
    );
    let budget = opts.max_memory;
    // The single-threaded re-run of a multi-threaded BFS shortens what was found.
    let minimising = matches!(finish_when, HasDiscoveries::AllOf(_));
    let watch = opts.watch.clone().map(|w| (w, minimising));
    if opts.strategy == Strategy::Bfs && opts.engine == EngineKind::Synod {
        // Its properties are evaluated as they are (no sticky wrapper): it keeps each
        // property's first discovery itself.
        let search = engine::spawn_bfs(
            model,
            engine::Plan {
                threads: threads.max(1),
                max_depth: opts.max_depth,
                frontier: match opts.frontier_states {
                    Some(n) => engine::Frontier::States(n),
                    None => engine::Frontier::Auto {
                        spill_at: opts.max_memory.unwrap_or_else(memory::default_budget) / 2,
                    },
                },
                checkpoint: opts.checkpoint.clone(),
                finish_when,
            },
        );
        return finish(search, progress, budget, watch, &|e: &engine::Engine<M>| {
            (e.error(), e.notes())
        });
    }
    let mut builder = model
        .sticky()
        .checker()
        .threads(threads.max(1))
        .finish_when(finish_when.clone());
    if let (Strategy::Simulation, Some(t)) = (opts.strategy, timeout) {
        // Simulation restarts runs forever; its own timeout ends the loop.
        builder = builder.timeout(t);
    }
    if let Some(d) = opts.max_depth {
        builder = builder.target_max_depth(d);
    }
    match opts.strategy {
        Strategy::Bfs => finish(builder.spawn_bfs(), progress, budget, watch, &|_| {
            (None, Vec::new())
        }),
        Strategy::Dfs => finish(builder.spawn_dfs(), progress, budget, watch, &|_| {
            (None, Vec::new())
        }),
        Strategy::Simulation => finish(
            builder.spawn_simulation(opts.seed, UniformChooser),
            progress,
            budget,
            watch,
            &|_| (None, Vec::new()),
        ),
    }
}

/// What an engine says after its search: what stopped it early if its disk failed it, and notes.
type EngineSays = (Option<String>, Vec<String>);

/// Waits for the checker (drawing progress, watching memory), then ends the search and collects
/// what it found.
fn finish<M, C>(
    checker: C,
    mut progress: Progress,
    max_memory: Option<u64>,
    watch: Option<(Arc<Watch>, bool)>,
    // What stopped the search early if its disk failed it, and what the engine has to say.
    engine: &dyn Fn(&C) -> EngineSays,
) -> Search<M>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
    C: Checker<Checked<M>>,
    Checked<M>: Model<State = M::State, Action = M::Action>,
{
    let started = Instant::now();
    let data = |c: &C, done: bool| ReportData {
        total_states: c.state_count(),
        unique_states: c.unique_state_count(),
        max_depth: c.max_depth(),
        duration: started.elapsed(),
        done,
    };
    let mut out_of_memory = false;
    let mut interrupted = false;
    let mut memory_peak = memory::resident_bytes();
    while !checker.is_done() {
        progress.draw(data(&checker, false));
        if let Some((w, minimising)) = &watch {
            w.update(&data(&checker, false), *minimising);
            if w.stop_requested() && !interrupted && !out_of_memory {
                interrupted = true;
                checker.model().request_stop();
            }
        }
        // A short search is noticed soon after it ends: the poll steps grow with the search's
        // age, up to the progress line's interval.
        let until = Instant::now() + progress.delay();
        while !checker.is_done() && Instant::now() < until {
            let step = (started.elapsed() / 10).clamp(Duration::from_millis(1), progress.delay());
            std::thread::sleep(step.min(until.saturating_duration_since(Instant::now())));
        }
        let rss = memory::resident_bytes();
        memory_peak = memory_peak.max(rss);
        if let (Some(rss), Some(budget)) = (rss, max_memory) {
            if rss >= budget && !out_of_memory {
                out_of_memory = true;
                checker.model().request_stop();
            }
        }
    }
    let checker = checker.join();
    progress.draw(data(&checker, true));
    if let Some((w, minimising)) = &watch {
        w.update(&data(&checker, true), *minimising);
    }
    checker.model().end_search();
    let discoveries = checker.discoveries();
    let (error, engine_notes) = engine(&checker);
    Search {
        error,
        engine_notes,
        out_of_memory,
        interrupted,
        memory_peak,
        runs: checker.model().runs(),
        cut: checker.model().was_cut(),
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        discoveries,
    }
}

/// The live progress line (stderr, only on a terminal).
struct Progress {
    enabled: bool,
    /// A simulation counts steps, not distinct states.
    simulation: bool,
}

impl Progress {
    fn new(enabled: bool, simulation: bool) -> Self {
        Progress {
            enabled,
            simulation,
        }
    }

    fn draw(&mut self, data: ReportData) {
        if !self.enabled {
            return;
        }
        let secs = data.duration.as_secs_f64().max(1e-9);
        let mut err = std::io::stderr().lock();
        if self.simulation {
            let _ = write!(
                err,
                "\r\x1b[2K{} steps sampled, deepest run {}, {:.0} steps/s, {:.1} s",
                data.total_states,
                data.max_depth,
                data.total_states as f64 / secs,
                secs
            );
        } else {
            let _ = write!(
                err,
                "\r\x1b[2K{} states, {} unique, depth {}, {:.0} states/s, {:.1} s",
                data.total_states,
                data.unique_states,
                data.max_depth,
                data.total_states as f64 / secs,
                secs
            );
        }
        if data.done {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }

    /// How long to wait between polls: the search is not over until the poll notices.
    fn delay(&self) -> Duration {
        Duration::from_millis(if self.enabled { 250 } else { 20 })
    }
}
