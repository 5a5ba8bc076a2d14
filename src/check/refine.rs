//! Refinement checking: an implementation (an actor model) implements a specification (a TLA+
//! mirror) under a refinement mapping from implementation states to specification states.
//!
//! The check is the standard step-simulation proof obligation, over every reachable
//! implementation state:
//! - every initial state maps to an initial state of the spec;
//! - every step `s -> s'` maps to a spec step `f(s) -> f(s')` or to a stutter (`f(s) = f(s')`).
//!
//! By induction every reachable implementation state then maps to a reachable spec state, so
//! the spec's invariants hold of the implementation (TLA+'s `Impl => Spec` for safety).
//!
//! # The search
//!
//! A level-synchronous breadth-first search. Depth counts states as stateright does: initial
//! states are at depth 1, and a state reached in `k` steps is at depth `k + 1`. Level `d` (the
//! states at depth `d`) is expanded in batches; each batch is cut into chunks of 64 states that
//! `threads` threads (the caller's and scoped workers kept for the whole search) take in turn,
//! computing successors and checking the obligation for every step. The main thread then merges
//! the chunks *in frontier order* into the set of fingerprints seen, so states are numbered,
//! counted and deduplicated exactly as a sequential FIFO search would: the failure reported is the
//! first one in frontier order within the shallowest failing level (a shortest trace), and
//! reports do not depend on the thread count (only `seconds` and `memory_peak_bytes` do).
//!
//! Between batches the search checks its bounds, and stops cleanly with what it verified:
//! - `timeout`: the time budget;
//! - `max_depth` (as stateright's `target_max_depth`): states at depth `max_depth` are found and
//!   checked against the obligation but not expanded, so every behaviour of up to
//!   `max_depth - 1` steps is covered;
//! - `max_memory`: this process's resident memory (see [`super::memory`]).
//!
//! # Memory
//!
//! States are deduplicated by a 64-bit fingerprint ([`digest`]), as TLC does (two distinct states
//! with one fingerprint, unlikely below billions of states, would hide one of them). Full states are
//! kept only for the level being expanded and the next one; every state found is otherwise one
//! word (its parent's number and the index of the action from the parent), plus its fingerprint
//! in the seen set: about 20 bytes. A failing trace is rebuilt by replaying those action indices
//! from the initial state, which is why the implementation's `actions` must be deterministic (as
//! every stateright model is).

use super::memory::{self, MemoryWatch};
use super::trace::{self, Trace, Traceable};
use super::{lock, Stopped};
use crate::util::{thousands, IdHasher};
use serde::Serialize;
use stateright::Model;
use std::any::Any;
use std::collections::HashSet;
use std::fmt::{Debug, Write as _};
use std::hash::{BuildHasherDefault, Hash};
use std::io::{IsTerminal, Write as _};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};
use synod_models::checked::Checked;
use synod_models::system::digest;

/// How to search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefineOptions {
    /// Threads expanding each level (0 counts as 1).
    pub threads: usize,
    /// Stop after this long.
    pub timeout: Option<Duration>,
    /// Expand only states shallower than this (initial states are at depth 1; 0 counts as 1).
    pub max_depth: Option<usize>,
    /// Draw a live progress line on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Stop once this process's resident memory reaches this many bytes.
    pub max_memory: Option<u64>,
}

impl Default for RefineOptions {
    fn default() -> Self {
        RefineOptions {
            threads: 1,
            timeout: None,
            max_depth: None,
            progress: false,
            max_memory: None,
        }
    }
}

/// The outcome of a refinement check (printed as-is by `check --refines --format json`).
#[derive(Clone, Debug, Serialize)]
pub struct RefinementReport {
    pub protocol: String,
    /// The specification, e.g. `TwoPhase.tla`.
    pub spec: String,
    /// Every reachable state was examined and every step refines the spec.
    pub holds: bool,
    /// Every reachable state was examined (false when stopped early or failed).
    pub complete: bool,
    /// Why the search stopped before it was complete with nothing failed.
    pub stopped: Option<Stopped>,
    /// Distinct implementation states found (by fingerprint), and steps examined (successors
    /// computed, each checked against the obligation).
    pub states: usize,
    pub steps: usize,
    /// The depth of the deepest state found (initial states are at depth 1).
    pub max_depth: usize,
    /// Every state at this depth or shallower was found, and every step into one was checked:
    /// every behaviour of up to `verified_depth - 1` steps refines the spec. Equals `max_depth`
    /// when complete; 0 when an initial state fails.
    pub verified_depth: usize,
    pub seconds: f64,
    pub threads: usize,
    /// The largest resident set size seen, if it could be measured.
    pub memory_peak_bytes: Option<u64>,
    /// The memory budget (`--max-memory`), if any.
    pub max_memory_bytes: Option<u64>,
    /// Why it fails, in words, with the mapped states.
    pub failure: Option<String>,
    /// A shortest implementation trace ending in the step that does not refine.
    pub trace: Option<Trace>,
}

impl RefinementReport {
    pub fn to_text(&self) -> String {
        let verdict = if self.holds {
            "HOLDS"
        } else if self.failure.is_some() {
            "VIOLATED"
        } else {
            "UNKNOWN"
        };
        let mut out = format!(
            "Refinement of {} by {}: {verdict} ({} states, {} steps, depth {}, {:.2} s, {} thread{}).\n",
            self.spec,
            self.protocol,
            thousands(self.states as u64),
            thousands(self.steps as u64),
            self.max_depth,
            self.seconds,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
        );
        if let Some(stopped) = self.stopped {
            let why = match stopped {
                Stopped::Timeout => format!("stopped after {:.1} s (--timeout)", self.seconds),
                Stopped::MaxDepth => format!("stopped at depth {} (--max-depth)", self.max_depth),
                Stopped::MaxMemory => format!(
                    "stopped after {:.1} s at {} resident (--max-memory {})",
                    self.seconds,
                    memory::format_bytes(self.memory_peak_bytes.unwrap_or(0)),
                    memory::format_bytes(self.max_memory_bytes.unwrap_or(0)),
                ),
                Stopped::Interrupted => format!("stopped after {:.1} s on request", self.seconds),
                Stopped::Error => format!("stopped after {:.1} s by an error", self.seconds),
            };
            let _ = writeln!(
                out,
                "The search {why}: refinement UNKNOWN beyond depth {}; {} states examined.",
                self.verified_depth,
                thousands(self.states as u64)
            );
            if stopped == Stopped::MaxMemory {
                let _ = writeln!(
                    out,
                    "To finish within memory, try --max-depth {}, fewer clients/servers, or a larger --max-memory.",
                    self.verified_depth.max(1)
                );
            }
        }
        if let Some(f) = &self.failure {
            let _ = writeln!(out, "{f}");
        }
        if let Some(t) = &self.trace {
            let _ = writeln!(out, "Implementation trace ({} steps):", t.steps.len());
            out.push_str(&t.to_text());
        }
        out
    }

    /// 0 holds, 1 violated, 3 stopped early with nothing failed.
    pub fn exit_code(&self) -> i32 {
        if self.holds {
            0
        } else if self.failure.is_some() {
            1
        } else {
            3
        }
    }
}

/// Frontier states taken by one thread at a time.
const CHUNK_STATES: usize = 64;
/// At most this many chunks per thread in a batch (bounding the states in flight). Bounds are
/// checked, and progress drawn, between batches, so batches are sized to take about
/// [`BATCH_TARGET`]: the first has one chunk per thread, and each doubles or halves the next. The
/// batch size changes no result: chunks are merged in frontier order whatever the batches.
const MAX_CHUNKS_PER_THREAD: usize = 64;
const BATCH_TARGET: Duration = Duration::from_millis(50);
/// How often to read the resident set size and to redraw the progress line.
const MEMORY_POLL: Duration = Duration::from_millis(20);
const PROGRESS_REDRAW: Duration = Duration::from_millis(250);

/// Checks that `imp` refines `spec` under `map` (see the module docs).
///
/// `imp` must not have a deadline or a stop request of its own: bound the search with `opts`.
pub fn refines<M, S, F>(
    protocol: &str,
    spec_name: &str,
    imp: &Checked<M>,
    spec: &S,
    map: F,
    opts: &RefineOptions,
) -> RefinementReport
where
    M: Traceable + Sync,
    M::State: Clone + Hash + PartialEq + Debug + Send + Sync + 'static,
    M::Action: Clone + Debug,
    S: Model + Sync,
    S::State: PartialEq + Debug,
    F: Fn(&M::State) -> S::State + Sync,
{
    let started = Instant::now();
    let threads = opts.threads.max(1);
    let crew = Crew::new(threads);
    let expand = |seen: &FingerprintSet, chunk: &[(usize, M::State)]| {
        expand_chunk(imp, spec, &map, seen, chunk)
    };
    let mut found = std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| crew.serve(&expand));
        }
        // Releases the workers however the search ends (a panic included), so the scope can end.
        let _dismiss = Dismiss(&crew);
        search(imp, spec, &map, opts, &crew, &expand, started)
    });
    drop(crew);
    discard(std::mem::take(&mut found.leftovers));

    let trace = found
        .failure
        .as_ref()
        .map(|f| replay(imp, spec, &map, &found.links, f.link));
    let failed = found.failure.is_some();
    RefinementReport {
        protocol: protocol.to_string(),
        spec: spec_name.to_string(),
        holds: !failed && found.stopped.is_none(),
        complete: !failed && found.stopped.is_none(),
        stopped: if failed { None } else { found.stopped },
        states: found.links.len(),
        steps: found.steps,
        max_depth: found.max_depth,
        verified_depth: found.verified_depth,
        seconds: started.elapsed().as_secs_f64(),
        threads,
        memory_peak_bytes: found.memory_peak_bytes,
        max_memory_bytes: opts.max_memory,
        failure: found.failure.map(|f| f.message),
        trace,
    }
}

/// What a search found.
struct Found<S> {
    /// The states of the levels being expanded and found when the search stopped.
    leftovers: Vec<Chunk<S>>,
    /// How each state found was reached, by state number.
    links: Vec<Link>,
    steps: usize,
    failure: Option<Failure>,
    stopped: Option<Stopped>,
    max_depth: usize,
    verified_depth: usize,
    memory_peak_bytes: Option<u64>,
}

/// The search itself, on the main thread, with `crew` expanding each batch.
fn search<M, S, F, E>(
    imp: &Checked<M>,
    spec: &S,
    map: &F,
    opts: &RefineOptions,
    crew: &Crew<M::State>,
    expand: &E,
    started: Instant,
) -> Found<M::State>
where
    M: Traceable,
    M::State: Clone + Hash + PartialEq + Debug + Send + Sync,
    M::Action: Clone,
    S: Model,
    S::State: PartialEq + Debug,
    F: Fn(&M::State) -> S::State,
    E: Fn(&FingerprintSet, &[(usize, M::State)]) -> Expanded<M::State> + Sync,
{
    let depth_limit = opts.max_depth.map(|d| d.max(1));
    let mut watch = MemoryWatch::new(opts.max_memory);
    let mut last_poll: Option<Instant> = None;
    let mut progress = Progress::new(opts.progress && std::io::stderr().is_terminal());
    let mut links: Vec<Link> = Vec::new();
    let mut steps = 0;
    let mut failure: Option<Failure> = None;

    // Level 1: the initial states.
    let spec_inits = spec.init_states();
    let mut level = LevelBuilder::default();
    {
        let mut seen = crew.seen_mut();
        for (i, init) in imp.init_states().into_iter().enumerate() {
            let mapped = map(&init);
            if failure.is_none() && !spec_inits.contains(&mapped) {
                failure = Some(Failure {
                    link: Link::root(i),
                    message: format!(
                        "initial state maps to {mapped:?}, not an initial state of the spec"
                    ),
                    fingerprint: None,
                });
            }
            if seen.insert(digest(&init)) {
                level.push(links.len(), init);
                links.push(Link::root(i));
            }
        }
    }
    let mut frontier = level.finish();
    let mut depth = 1;
    let mut max_depth = usize::from(!frontier.is_empty());
    let mut verified_depth = if failure.is_some() { 0 } else { max_depth };
    let mut stopped = None;
    let mut batch_chunks = crew.threads;

    'levels: while failure.is_none() && !frontier.is_empty() {
        if depth_limit.is_some_and(|limit| depth >= limit) {
            stopped = Some(Stopped::MaxDepth);
            break;
        }
        let mut next = LevelBuilder::default();
        let mut pending = std::mem::take(&mut frontier).into_iter();
        while pending.len() > 0 {
            if opts.timeout.is_some_and(|t| started.elapsed() >= t) {
                stopped = Some(Stopped::Timeout);
            } else if !matches!(last_poll, Some(t) if t.elapsed() < MEMORY_POLL) {
                last_poll = Some(Instant::now());
                if watch.exceeded() {
                    stopped = Some(Stopped::MaxMemory);
                }
            }
            if stopped.is_some() {
                frontier = pending.chain(next.finish()).collect();
                break 'levels;
            }
            let batch: Vec<Chunk<M::State>> = pending.by_ref().take(batch_chunks).collect();
            let round = Instant::now();
            let expanded = crew.run(batch, expand);
            let took = round.elapsed();
            if took < BATCH_TARGET / 2 {
                batch_chunks = (batch_chunks * 2).min(crew.threads * MAX_CHUNKS_PER_THREAD);
            } else if took > BATCH_TARGET * 2 {
                batch_chunks = (batch_chunks / 2).max(crew.threads);
            }
            let mut seen = crew.seen_mut();
            for chunk in expanded {
                steps += chunk.steps;
                for fresh in chunk.fresh {
                    if seen.insert(fresh.fingerprint) {
                        next.push(links.len(), fresh.state);
                        links.push(fresh.link);
                        max_depth = depth + 1;
                    }
                }
                if let Some(f) = chunk.failure {
                    // The failing state counts as found, as in a sequential search.
                    if f.fingerprint.is_some_and(|fp| seen.insert(fp)) {
                        links.push(f.link);
                        max_depth = depth + 1;
                    }
                    failure = Some(f);
                    frontier = pending.chain(next.finish()).collect();
                    break 'levels;
                }
            }
            drop(seen);
            progress.draw(links.len(), steps, max_depth, started, false);
        }
        depth += 1;
        verified_depth = depth.min(max_depth);
        frontier = next.finish();
    }
    watch.poll();
    progress.draw(links.len(), steps, max_depth, started, true);
    Found {
        leftovers: frontier,
        links,
        steps,
        failure,
        stopped,
        max_depth,
        verified_depth,
        memory_peak_bytes: watch.peak_bytes(),
    }
}

/// Frees what a stopped search left (possibly gigabytes of states: seconds of work) on a thread
/// of its own, so that the answer comes at once; a process that exits meanwhile skips the work.
fn discard<T: Send + 'static>(leftovers: T) {
    let freeing = std::thread::Builder::new()
        .name("refine-free".into())
        .spawn(move || drop(leftovers));
    // Without a thread, the closure (and the leftovers) were dropped here already.
    drop(freeing);
}

/// How a state was found, in one word: its parent's number (none for an initial state) and the
/// index of the action from the parent in `actions` (for an initial state, its index in
/// `init_states`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link(u64);

impl Link {
    const ACTION_BITS: u32 = 24;
    const PARENT_BITS: u32 = 64 - Self::ACTION_BITS;

    fn root(init: usize) -> Self {
        Self::pack(0, init)
    }

    fn step(parent: usize, action: usize) -> Self {
        assert!(
            (parent as u64) < (1 << Self::PARENT_BITS) - 1,
            "at most 2^40 states"
        );
        Self::pack(parent as u64 + 1, action)
    }

    fn pack(parent_plus_one: u64, action: usize) -> Self {
        assert!(
            (action as u64) < 1 << Self::ACTION_BITS,
            "at most 2^24 actions per state"
        );
        Link(parent_plus_one << Self::ACTION_BITS | action as u64)
    }

    fn parent(self) -> Option<usize> {
        (self.0 >> Self::ACTION_BITS)
            .checked_sub(1)
            .map(|p| p as usize)
    }

    fn action(self) -> usize {
        (self.0 & ((1 << Self::ACTION_BITS) - 1)) as usize
    }
}

/// A step that does not refine the spec (or an initial state that maps outside it).
struct Failure {
    /// How the failing state is reached.
    link: Link,
    message: String,
    /// The failing state's fingerprint; none for an initial state (already counted).
    fingerprint: Option<u64>,
}

/// A successor not seen before its chunk was expanded.
struct Fresh<S> {
    fingerprint: u64,
    link: Link,
    state: S,
}

/// What expanding a chunk of the frontier found, in frontier order. After a failure the chunk
/// stops: `steps` and `fresh` cover the steps before it, and the failing one.
struct Expanded<S> {
    steps: usize,
    fresh: Vec<Fresh<S>>,
    failure: Option<Failure>,
}

/// Frontier states with their numbers, [`CHUNK_STATES`] at most: a level is a list of chunks, so
/// it grows without reallocating and the thread that expands a chunk also frees it.
type Chunk<S> = Vec<(usize, S)>;

/// The next level, built in frontier order.
struct LevelBuilder<S> {
    full: Vec<Chunk<S>>,
    open: Chunk<S>,
}

impl<S> Default for LevelBuilder<S> {
    fn default() -> Self {
        LevelBuilder {
            full: Vec::new(),
            open: Vec::new(),
        }
    }
}

impl<S> LevelBuilder<S> {
    fn push(&mut self, id: usize, state: S) {
        if self.open.len() == CHUNK_STATES {
            let full = std::mem::replace(&mut self.open, Vec::with_capacity(CHUNK_STATES));
            self.full.push(full);
        }
        self.open.push((id, state));
    }

    fn finish(mut self) -> Vec<Chunk<S>> {
        if !self.open.is_empty() {
            self.full.push(self.open);
        }
        self.full
    }
}

/// The threads expanding chunks, kept for the whole search (a thread's allocator heap stays warm,
/// and no thread is started per batch). Each batch is a round: the main thread publishes it,
/// every thread (the main one too) expands chunks until none is left, and the main thread merges
/// what they found while the others wait for the next round.
struct Crew<S> {
    /// Threads taking part in a round, the main thread included.
    threads: usize,
    /// Fingerprints of every state found: read during a round, written between rounds.
    seen: RwLock<FingerprintSet>,
    /// The current round; none at the start of a round dismisses the workers.
    round: Mutex<Option<Arc<Round<S>>>>,
    start: Barrier,
    end: Barrier,
    /// A worker's panic, resumed on the main thread at the end of its round.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl<S: Send + Sync> Crew<S> {
    fn new(threads: usize) -> Self {
        Crew {
            threads,
            seen: RwLock::new(FingerprintSet::default()),
            round: Mutex::new(None),
            start: Barrier::new(threads),
            end: Barrier::new(threads),
            panic: Mutex::new(None),
        }
    }

    /// The set of fingerprints, between rounds.
    fn seen_mut(&self) -> RwLockWriteGuard<'_, FingerprintSet> {
        self.seen.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// A worker's life: round after round until dismissed.
    fn serve<E>(&self, expand: &E)
    where
        E: Fn(&FingerprintSet, &[(usize, S)]) -> Expanded<S> + Sync,
    {
        loop {
            self.start.wait();
            let Some(round) = lock(&self.round).clone() else {
                return;
            };
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.take_part(&round, expand))) {
                round.abandoned.store(true, Ordering::Relaxed);
                lock(&self.panic).get_or_insert(panic);
            }
            drop(round);
            self.end.wait();
        }
    }

    fn take_part<E>(&self, round: &Round<S>, expand: &E)
    where
        E: Fn(&FingerprintSet, &[(usize, S)]) -> Expanded<S> + Sync,
    {
        let seen = self.seen.read().unwrap_or_else(PoisonError::into_inner);
        round.work(|chunk| expand(&seen, chunk));
    }

    /// Expands `batch` with the whole crew; returns what the chunks found in frontier order, up
    /// to and including the first chunk that fails.
    fn run<E>(&self, batch: Vec<Chunk<S>>, expand: &E) -> Vec<Expanded<S>>
    where
        E: Fn(&FingerprintSet, &[(usize, S)]) -> Expanded<S> + Sync,
    {
        let round = Arc::new(Round::new(batch));
        *lock(&self.round) = Some(Arc::clone(&round));
        self.start.wait();
        let mine = catch_unwind(AssertUnwindSafe(|| self.take_part(&round, expand)));
        if mine.is_err() {
            round.abandoned.store(true, Ordering::Relaxed);
        }
        self.end.wait();
        // Every worker is now on its way to the next start, having let go of the round.
        *lock(&self.round) = None;
        if let Err(panic) = mine {
            resume_unwind(panic);
        }
        if let Some(panic) = lock(&self.panic).take() {
            resume_unwind(panic);
        }
        Arc::into_inner(round)
            .expect("workers let go of the round before its end")
            .into_outputs()
    }
}

/// Dismisses the crew's workers when dropped: they are waiting for a round, and get none.
struct Dismiss<'a, S>(&'a Crew<S>);

impl<S> Drop for Dismiss<'_, S> {
    fn drop(&mut self) {
        *lock(&self.0.round) = None;
        self.0.start.wait();
    }
}

/// A batch being expanded: its chunks, taken in order by whichever thread is free.
struct Round<S> {
    inputs: Vec<Mutex<Option<Chunk<S>>>>,
    outputs: Vec<Mutex<Option<Expanded<S>>>>,
    taken: AtomicUsize,
    /// The first chunk known to fail: later chunks need not be expanded.
    first_failing: AtomicUsize,
    /// A thread panicked: the round is over.
    abandoned: AtomicBool,
}

impl<S> Round<S> {
    fn new(batch: Vec<Chunk<S>>) -> Self {
        Round {
            outputs: batch.iter().map(|_| Mutex::new(None)).collect(),
            inputs: batch.into_iter().map(|c| Mutex::new(Some(c))).collect(),
            taken: AtomicUsize::new(0),
            first_failing: AtomicUsize::new(usize::MAX),
            abandoned: AtomicBool::new(false),
        }
    }

    /// Takes chunks and expands them (then frees them) until none is left to do.
    fn work(&self, expand: impl Fn(&[(usize, S)]) -> Expanded<S>) {
        loop {
            let c = self.taken.fetch_add(1, Ordering::Relaxed);
            if c >= self.inputs.len()
                || c > self.first_failing.load(Ordering::Relaxed)
                || self.abandoned.load(Ordering::Relaxed)
            {
                return;
            }
            let chunk = lock(&self.inputs[c])
                .take()
                .expect("each chunk is taken once");
            let expanded = expand(&chunk);
            drop(chunk);
            if expanded.failure.is_some() {
                self.first_failing.fetch_min(c, Ordering::Relaxed);
            }
            *lock(&self.outputs[c]) = Some(expanded);
        }
    }

    /// What the chunks found, in order, up to and including the first that fails.
    fn into_outputs(self) -> Vec<Expanded<S>> {
        let mut out = Vec::with_capacity(self.outputs.len());
        for slot in self.outputs {
            // A chunk is skipped only after an earlier one failed, and the merge stops there.
            let expanded = slot
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .expect("chunks up to the first failing one are expanded");
            let failed = expanded.failure.is_some();
            out.push(expanded);
            if failed {
                break;
            }
        }
        out
    }
}

/// Expands a chunk of the frontier: every step from each of its states, checked against the
/// obligation, and the successors not in `seen` (nor found earlier in the chunk).
fn expand_chunk<M, S, F>(
    imp: &Checked<M>,
    spec: &S,
    map: &F,
    seen: &FingerprintSet,
    chunk: &[(usize, M::State)],
) -> Expanded<M::State>
where
    M: Traceable,
    M::State: Clone + Hash + PartialEq + Debug,
    M::Action: Clone + Debug,
    S: Model,
    S::State: PartialEq + Debug,
    F: Fn(&M::State) -> S::State,
{
    let mut out = Expanded {
        steps: 0,
        fresh: Vec::new(),
        failure: None,
    };
    let mut in_chunk = FingerprintSet::default();
    let mut actions = Vec::new();
    for (id, state) in chunk {
        let from = map(state);
        // Computed only when a step is not a stutter (most actor steps are).
        let mut spec_next: Option<Vec<S::State>> = None;
        actions.clear();
        imp.actions(state, &mut actions);
        for (a, action) in actions.drain(..).enumerate() {
            let Some(after) = imp.next_state(state, action) else {
                continue;
            };
            out.steps += 1;
            let fingerprint = digest(&after);
            let link = Link::step(*id, a);
            let to = map(&after);
            if to != from
                && !spec_next
                    .get_or_insert_with(|| spec.next_states(&from))
                    .contains(&to)
            {
                out.failure = Some(Failure {
                    link,
                    message: step_failure(&from, &to),
                    fingerprint: Some(fingerprint),
                });
                return out;
            }
            if !seen.contains(&fingerprint) && in_chunk.insert(fingerprint) {
                out.fresh.push(Fresh {
                    fingerprint,
                    link,
                    state: after,
                });
            }
        }
    }
    out
}

fn step_failure<T: Debug>(from: &T, to: &T) -> String {
    format!(
        "the last step maps\n  from {from:?}\n  to   {to:?}\n\
         which is neither a step of the spec nor a stutter"
    )
}

/// Rebuilds the trace to the failing state reached by `failing` by replaying action indices from
/// the initial state, and checks that its last step (or initial state) indeed fails.
fn replay<M, S, F>(imp: &Checked<M>, spec: &S, map: &F, links: &[Link], failing: Link) -> Trace
where
    M: Traceable,
    M::State: Clone + Hash + PartialEq + Debug,
    M::Action: Clone + Debug,
    S: Model,
    S::State: PartialEq + Debug,
    F: Fn(&M::State) -> S::State,
{
    // The search is over: a deadline must not hide the actions being replayed.
    imp.end_search();
    let mut indices = Vec::new();
    let mut link = failing;
    while let Some(parent) = link.parent() {
        indices.push(link.action());
        link = links[parent];
    }
    indices.reverse();
    let init = imp
        .init_states()
        .into_iter()
        .nth(link.action())
        .expect("the initial state replays");
    let mut path: Vec<(M::Action, M::State)> = Vec::with_capacity(indices.len());
    let mut actions = Vec::new();
    for a in indices {
        let last = path.last().map_or(&init, |(_, s)| s);
        actions.clear();
        imp.actions(last, &mut actions);
        assert!(
            a < actions.len(),
            "a recorded step replays (the model is deterministic)"
        );
        let action = actions.swap_remove(a);
        let next = imp
            .next_state(last, action.clone())
            .expect("a recorded step replays (the model is deterministic)");
        path.push((action, next));
    }
    let fails = match path.len() {
        0 => !spec.init_states().contains(&map(&init)),
        n => {
            let before = if n == 1 { &init } else { &path[n - 2].1 };
            let (from, to) = (map(before), map(&path[n - 1].1));
            from != to && !spec.next_states(&from).contains(&to)
        }
    };
    assert!(fails, "the replayed trace ends in the failure found");
    trace::build(&imp.inner, &init, &path, true)
}

type FingerprintSet = HashSet<u64, BuildHasherDefault<IdHasher>>;

/// The live progress line (stderr, only on a terminal).
struct Progress {
    enabled: bool,
    last_draw: Option<Instant>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Progress {
            enabled,
            last_draw: None,
        }
    }

    fn draw(&mut self, states: usize, steps: usize, depth: usize, started: Instant, done: bool) {
        let recent = matches!(self.last_draw, Some(t) if t.elapsed() < PROGRESS_REDRAW);
        if !self.enabled || (recent && !done) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{states} states, {steps} steps, depth {depth}, {:.0} states/s, {secs:.1} s",
            states as f64 / secs
        );
        if done {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use synod_models::paxos::{self, PaxosBug, PaxosConfig};
    use synod_models::two_phase_commit::{self, TpBug, TpConfig};
    use synod_models::NetworkKind;

    fn two_phase(rms: usize, bug: Option<TpBug>, opts: &RefineOptions) -> RefinementReport {
        let spec = synod_specs::TwoPhase::new(synod_specs::TwoPhaseConfig {
            rms,
            symmetric: false,
            bug: None,
        })
        .expect("a valid TwoPhase configuration");
        let imp = two_phase_commit::model(TpConfig {
            rms,
            tm_crashes: false,
            network: NetworkKind::default(),
            bug,
        });
        refines(
            "two-phase-commit",
            "TwoPhase.tla",
            &imp,
            &spec,
            two_phase_commit::to_two_phase,
            opts,
        )
    }

    fn paxos(bug: Option<PaxosBug>, opts: &RefineOptions) -> RefinementReport {
        let cfg = PaxosConfig {
            bug,
            ..PaxosConfig::default()
        };
        let spec = synod_specs::Consensus::new(synod_specs::ConsensusConfig {
            values: cfg.clients,
            symmetric: false,
            bug: None,
        })
        .expect("a valid Consensus configuration");
        refines(
            "paxos",
            "Consensus.tla",
            &paxos::model(cfg),
            &spec,
            paxos::to_consensus,
            opts,
        )
    }

    fn threads(n: usize) -> RefineOptions {
        RefineOptions {
            threads: n,
            ..RefineOptions::default()
        }
    }

    fn depth(d: usize) -> RefineOptions {
        RefineOptions {
            max_depth: Some(d),
            ..RefineOptions::default()
        }
    }

    /// The report as JSON, without what depends on the machine and the thread count.
    fn comparable(r: &RefinementReport) -> serde_json::Value {
        let mut json = serde_json::to_value(r).expect("a report serialises");
        for key in ["seconds", "threads", "memory_peak_bytes"] {
            json.as_object_mut().unwrap().remove(key);
        }
        json
    }

    /// The figures of the sequential search this one replaced: every state, every step.
    #[test]
    fn two_phase_commit_refines_two_phase_tla_over_every_state() {
        let r = two_phase(3, None, &RefineOptions::default());
        assert!(r.holds && r.complete, "{}", r.to_text());
        assert_eq!((r.states, r.steps), (2968, 8413));
        assert_eq!((r.max_depth, r.verified_depth), (14, 14));
        assert_eq!(r.stopped, None);
        assert_eq!(r.exit_code(), 0);
        assert!(r.failure.is_none() && r.trace.is_none());
        assert!(r.memory_peak_bytes.is_some());
        let text = r.to_text();
        assert!(
            text.starts_with(
                "Refinement of TwoPhase.tla by two-phase-commit: HOLDS (2,968 states, 8,413 steps, depth 14,"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&r).unwrap();
        for key in [
            "protocol",
            "spec",
            "threads",
            "states",
            "steps",
            "max_depth",
            "seconds",
            "complete",
            "stopped",
            "holds",
            "failure",
            "trace",
        ] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        assert_eq!(json["stopped"], serde_json::Value::Null);
    }

    /// The majority-commit TM commits before every RM has prepared: the same shortest trace (and
    /// the same counts) as the sequential search found, ending in the TM's commit.
    #[test]
    fn majority_commit_fails_with_a_shortest_trace() {
        let r = two_phase(3, Some(TpBug::MajorityCommit), &RefineOptions::default());
        assert!(!r.holds && !r.complete);
        assert_eq!(r.exit_code(), 1);
        assert_eq!(r.stopped, None);
        assert_eq!((r.states, r.steps), (1179, 3004));
        assert_eq!((r.max_depth, r.verified_depth), (8, 7));
        let trace = r.trace.as_ref().expect("a trace");
        assert_eq!(trace.steps.len(), 7);
        assert!(trace.shortest);
        let last = trace.steps.last().unwrap();
        assert!(
            last.message.as_deref().unwrap_or("").contains("TmCommit"),
            "{last:?}"
        );
        assert!(r.failure.as_deref().unwrap().contains("committed"));
        assert!(r.to_text().contains("VIOLATED"));
    }

    #[test]
    fn paxos_agreement_bugs_fail_with_the_same_traces_as_before() {
        for (bug, steps) in [
            (PaxosBug::IgnorePromisedValue, 10),
            (PaxosBug::AcceptLowerBallot, 10),
            (PaxosBug::MinorityQuorum, 2),
        ] {
            let r = paxos(Some(bug), &RefineOptions::default());
            assert_eq!(r.exit_code(), 1, "{bug:?}");
            assert_eq!(r.trace.as_ref().unwrap().steps.len(), steps, "{bug:?}");
            assert!(r.failure.as_deref().unwrap().contains("chosen"), "{bug:?}");
        }
        let r = paxos(Some(PaxosBug::MinorityQuorum), &RefineOptions::default());
        assert_eq!((r.states, r.steps), (11, 10));
    }

    /// Chunks are merged in frontier order, so the thread count changes nothing but the time.
    #[test]
    fn reports_do_not_depend_on_the_thread_count() {
        let runs: [&dyn Fn(&RefineOptions) -> RefinementReport; 5] = [
            &|o| two_phase(3, None, o),
            &|o| two_phase(3, Some(TpBug::MajorityCommit), o),
            &|o| paxos(Some(PaxosBug::IgnorePromisedValue), o),
            &|o| paxos(Some(PaxosBug::AcceptLowerBallot), o),
            &|o| {
                paxos(
                    None,
                    &RefineOptions {
                        max_depth: Some(12),
                        ..o.clone()
                    },
                )
            },
        ];
        for run in runs {
            let one = run(&threads(1));
            assert_eq!(one.threads, 1);
            for n in [2, 3] {
                let many = run(&threads(n));
                assert_eq!(many.threads, n);
                assert_eq!(comparable(&one), comparable(&many), "{n} threads");
                assert_eq!(one.to_text().lines().nth(1), many.to_text().lines().nth(1));
            }
        }
    }

    /// `max_depth: Some(n)` expands only states shallower than `n` (initial states are at depth
    /// 1), as stateright's `target_max_depth`: exactly the states reachable in fewer than `n`
    /// steps are found, and every behaviour of up to `n - 1` steps is checked.
    #[test]
    fn max_depth_counts_initial_states_as_depth_one() {
        let imp = two_phase_commit::model(TpConfig {
            rms: 3,
            tm_crashes: false,
            network: NetworkKind::default(),
            bug: None,
        });
        // Distinct states reachable in fewer than `n` steps, by a plain search.
        let reachable = |n: usize| {
            let mut seen: HashSet<_> = imp.init_states().into_iter().collect();
            let mut level: Vec<_> = seen.iter().cloned().collect();
            for _ in 1..n {
                let mut next = Vec::new();
                for s in &level {
                    let mut actions = Vec::new();
                    imp.actions(s, &mut actions);
                    for a in actions {
                        if let Some(t) = imp.next_state(s, a) {
                            if seen.insert(t.clone()) {
                                next.push(t);
                            }
                        }
                    }
                }
                level = next;
            }
            seen.len()
        };
        for n in [1, 2, 5, 14] {
            let r = two_phase(3, None, &depth(n));
            assert_eq!(r.stopped, Some(Stopped::MaxDepth), "{n}");
            assert!(!r.holds && !r.complete);
            assert_eq!(r.exit_code(), 3);
            assert_eq!((r.max_depth, r.verified_depth), (n, n));
            assert_eq!(r.states, reachable(n), "{n}");
            let text = r.to_text();
            assert!(text.contains("UNKNOWN"), "{text}");
            assert!(
                text.contains(&format!("stopped at depth {n} (--max-depth)"))
                    && text.contains(&format!("refinement UNKNOWN beyond depth {n}")),
                "{text}"
            );
        }
        assert_eq!(two_phase(3, None, &depth(1)).steps, 0);
        assert_eq!(two_phase(3, None, &depth(0)).states, 1, "0 counts as 1");
        // Depth 14 is the deepest: bounding the search below it finds every state.
        let r = two_phase(3, None, &depth(15));
        assert!(r.holds && r.complete && r.stopped.is_none());
        assert_eq!(r.states, 2968);
        // The majority-commit failure is the step from depth 7 to depth 8.
        let bug = |n| two_phase(3, Some(TpBug::MajorityCommit), &depth(n));
        assert_eq!(bug(7).exit_code(), 3);
        assert_eq!(bug(8).exit_code(), 1);
        assert_eq!(bug(8).stopped, None);
    }

    #[test]
    fn a_timeout_stops_the_search_with_what_it_verified() {
        let opts = RefineOptions {
            timeout: Some(Duration::from_nanos(1)),
            threads: 2,
            ..RefineOptions::default()
        };
        let r = paxos(None, &opts);
        assert_eq!(r.stopped, Some(Stopped::Timeout));
        assert!(!r.holds && !r.complete && r.failure.is_none());
        assert_eq!(r.exit_code(), 3);
        assert_eq!((r.states, r.steps, r.verified_depth), (1, 0, 1));
        let text = r.to_text();
        assert!(text.contains("UNKNOWN ("), "{text}");
        assert!(
            text.contains("The search stopped after ")
                && text.contains(
                    " s (--timeout): refinement UNKNOWN beyond depth 1; 1 states examined."
                ),
            "{text}"
        );
        assert_eq!(serde_json::to_value(&r).unwrap()["stopped"], "timeout");
    }

    #[test]
    fn a_memory_budget_stops_the_search_with_a_hint() {
        let opts = RefineOptions {
            max_memory: Some(1),
            ..RefineOptions::default()
        };
        let r = paxos(None, &opts);
        assert_eq!(r.stopped, Some(Stopped::MaxMemory));
        assert!(!r.holds && !r.complete && r.failure.is_none());
        assert_eq!(r.exit_code(), 3);
        assert_eq!(r.max_memory_bytes, Some(1));
        assert!(r.memory_peak_bytes.unwrap() > 1);
        let text = r.to_text();
        assert!(text.contains("(--max-memory 1 B)"), "{text}");
        assert!(
            text.contains("try --max-depth 1, fewer clients/servers, or a larger --max-memory"),
            "{text}"
        );
        assert_eq!(serde_json::to_value(&r).unwrap()["stopped"], "max-memory");
    }

    #[test]
    fn a_failure_is_reported_even_when_a_bound_is_also_reached() {
        // The failing level is expanded completely before any bound is looked at again.
        let r = two_phase(
            3,
            Some(TpBug::MajorityCommit),
            &RefineOptions {
                max_depth: Some(8),
                max_memory: Some(u64::MAX),
                ..RefineOptions::default()
            },
        );
        assert_eq!((r.exit_code(), r.stopped), (1, None));
    }

    /// A panic while expanding (a model's assertion) reaches the caller, whichever thread it
    /// happens on, and no thread is left waiting.
    fn panicking_map(on_main_thread: bool) {
        let main = std::thread::current().id();
        let spec = synod_specs::TwoPhase::new(synod_specs::TwoPhaseConfig {
            rms: 4,
            symmetric: false,
            bug: None,
        })
        .unwrap();
        let imp = two_phase_commit::model(TpConfig {
            rms: 4,
            tm_crashes: false,
            network: NetworkKind::default(),
            bug: None,
        });
        // Panics on the first state after the initial one that the chosen kind of thread
        // maps: both kinds take chunks in every round, so which states each maps depends on
        // scheduling, but over the whole search each maps some (a narrower condition made the
        // test fail when one thread happened to map every such state).
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let map = |s: &_| {
            let mapped = two_phase_commit::to_two_phase(s);
            let call = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if call > 0 && (std::thread::current().id() == main) == on_main_thread {
                panic!("the mapping panics");
            }
            mapped
        };
        refines(
            "two-phase-commit",
            "TwoPhase.tla",
            &imp,
            &spec,
            map,
            &threads(2),
        );
    }

    #[test]
    #[should_panic(expected = "the mapping panics")]
    fn a_panic_on_a_worker_thread_reaches_the_caller() {
        panicking_map(false);
    }

    #[test]
    #[should_panic(expected = "the mapping panics")]
    fn a_panic_on_the_main_thread_reaches_the_caller() {
        panicking_map(true);
    }

    #[test]
    fn links_pack_parent_and_action() {
        let root = Link::root(3);
        assert_eq!((root.parent(), root.action()), (None, 3));
        let step = Link::step(0, 0);
        assert_eq!((step.parent(), step.action()), (Some(0), 0));
        let far = Link::step((1 << 40) - 2, (1 << 24) - 1);
        assert_eq!(
            (far.parent(), far.action()),
            (Some((1 << 40) - 2), (1 << 24) - 1)
        );
    }

    #[test]
    #[should_panic(expected = "at most 2^24 actions per state")]
    fn too_many_actions_are_refused() {
        Link::step(1, 1 << 24);
    }
}
