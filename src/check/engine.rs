//! Synod's own breadth-first search (`synod check --engine synod`), the first part of the
//! checker at scale (issue 13).
//!
//! **Level by level.** The search expands the states of one depth (the *frontier*) in parallel,
//! then the next: every state is first reached by a shortest path, so a counterexample found at
//! depth `d` is a shortest one whatever the number of threads (stateright's BFS hands work to
//! threads in blocks, so with several threads it may find a longer one first and `check` has to
//! search again on one thread to shorten it). Within a level the frontier is cut into fixed
//! chunks whose successors are gathered in chunk order, so on one thread the order of states,
//! and with it every trace, is the same run after run.
//!
//! **What is kept per state.** A 64-bit fingerprint in a sharded hash set (the visited set), and
//! a parent record `(fingerprint, parent's fingerprint, action index)` in the file of its depth
//! (20 bytes, under `$TMPDIR`, removed at the end).
//! No path travels with a state, as it does in stateright (a vector of action indices per queued
//! state). A trace is rebuilt as TLC does: walk the parent records back from the state that
//! broke a property to an initial state, then replay the action indices forward.
//!
//! **The same semantics as stateright's BFS**, so that counts and verdicts agree: a state counts
//! as generated once per transition within the model's boundary (initial states included), as
//! unique once per fingerprint (stateright's own hash: ahash with its fixed keys); properties are
//! evaluated when a state is expanded; states at `--max-depth` are counted but neither evaluated
//! nor expanded; an `eventually` property is tracked per path (bits that a state passes to its
//! first-reached successors) and reported at a terminal state whose path never satisfied it.
//!
//! The model is [`Checked`]: symmetry reduction, the deadline and stop requests work as they do
//! for stateright's checkers. Memory beyond the visited set is the frontier itself (the states
//! of one depth and the next); keeping those on disk is the next part. A disk that fails the
//! parent records stops the search ([`Engine::error`]).

use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use synod_models::checked::Checked;

/// States per unit of work within a level.
const CHUNK: usize = 512;
/// Which units of the next level stay in memory; the others are serialized to disk, so that
/// memory does not grow with the frontier.
#[derive(Clone, Copy, Debug)]
pub enum Frontier {
    /// While the process's resident memory is under this many bytes (by default half of
    /// `--max-memory`): a search that fits runs at full speed, one that does not spills.
    Auto { spill_at: u64 },
    /// At most this many states of a level (`--frontier-states`).
    States(usize),
}
/// Shards of the visited set (a power of two): two threads rarely meet on one lock.
const SHARDS: usize = 1024;

/// A state's fingerprint: stateright's (ahash with its fixed keys), so both engines see the same
/// collisions, if any, and count alike.
pub fn fingerprint<T: Hash>(value: &T) -> u64 {
    FINGERPRINT.hash_one(value)
}

static FINGERPRINT: std::sync::LazyLock<ahash::RandomState> = std::sync::LazyLock::new(|| {
    ahash::RandomState::with_seeds(123_456_789_987_654_321, 98_765_432_123_456_789, 0, 0)
});

/// Hashes a fingerprint as itself (it is already a hash).
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only fingerprints are hashed")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The visited set: fingerprints in shards, each behind its own lock.
struct Visited {
    shards: Vec<Mutex<HashSet<u64, BuildHasherDefault<Identity>>>>,
    len: AtomicUsize,
}

impl Visited {
    fn new() -> Self {
        Visited {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashSet::default()))
                .collect(),
            len: AtomicUsize::new(0),
        }
    }

    /// Adds `fp`; true if it was new.
    fn insert(&self, fp: u64) -> bool {
        // Middle bits pick the shard: the set itself places a key by its low bits and tags it
        // by its top 7 (hashbrown), which must vary within a shard.
        let shard = (fp >> 32) as usize % SHARDS;
        let new = self.shards[shard]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fp);
        if new {
            self.len.fetch_add(1, Relaxed);
        }
        new
    }
}

/// How a state was first reached: from `parent` by the action at `action` in its action list
/// (for an initial state: no parent, `action` its index among the initial states).
#[derive(Clone, Copy)]
struct Parent {
    fp: u64,
    parent: u64,
    action: u32,
}

/// Bytes of one parent record on disk: fingerprint, parent's fingerprint, action index
/// (little-endian).
const RECORD_BYTES: usize = 20;

/// The engine's files, in a directory of their own under `$TMPDIR`, removed at the end: the
/// parent records (one file per depth, 20 bytes per state, read back only to rebuild a trace)
/// and the frontier's spilled units (one file per level, removed once the level is expanded).
struct WorkDir {
    dir: PathBuf,
    /// Per depth, from 1: the file of its parent records.
    parents: Vec<PathBuf>,
}

impl WorkDir {
    fn create() -> io::Result<WorkDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("synod-bfs-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| with_path(e, "cannot create a directory for the search", &dir))?;
        Ok(WorkDir {
            dir,
            parents: Vec::new(),
        })
    }

    /// A writer for the parent records of the next depth.
    fn next_parents(&self) -> io::Result<ParentWriter> {
        let path = self
            .dir
            .join(format!("parents-{}.bin", self.parents.len() + 1));
        let file = File::create(&path)
            .map_err(|e| with_path(e, "cannot write parent records to", &path))?;
        Ok(ParentWriter {
            out: Mutex::new(io::BufWriter::with_capacity(1 << 16, file)),
            path,
        })
    }

    /// Ends the depth `w` wrote.
    fn push_parents(&mut self, w: ParentWriter) -> io::Result<()> {
        use io::Write;
        let ParentWriter { out, path } = w;
        out.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
            .map_err(|e| with_path(e, "cannot write parent records to", &path))?;
        self.parents.push(path);
        Ok(())
    }

    /// The record of `fp` at `depth` (1-based).
    fn find(&self, depth: usize, fp: u64) -> io::Result<Option<Parent>> {
        use io::Read;
        let path = &self.parents[depth - 1];
        let mut file = io::BufReader::with_capacity(
            1 << 16,
            File::open(path).map_err(|e| with_path(e, "cannot read", path))?,
        );
        let mut rec = [0u8; RECORD_BYTES];
        loop {
            match file.read_exact(&mut rec) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(with_path(e, "cannot read", path)),
            }
            let at = |r: std::ops::Range<usize>| u64::from_le_bytes(rec[r].try_into().unwrap());
            if at(0..8) == fp {
                return Ok(Some(Parent {
                    fp,
                    parent: at(8..16),
                    action: u32::from_le_bytes(rec[16..20].try_into().expect("4 bytes")),
                }));
            }
        }
    }

    /// The path to the state `fp` at `depth` (1-based): an initial state's index, then action
    /// indices.
    fn path_to(&self, depth: usize, fp: u64) -> io::Result<Vec<usize>> {
        let mut indices = Vec::with_capacity(depth);
        let mut want = fp;
        for d in (1..=depth).rev() {
            let p = self.find(d, want)?.ok_or_else(|| {
                io::Error::other(format!(
                    "no parent record for a state at depth {d} in {}",
                    self.parents[d - 1].display()
                ))
            })?;
            indices.push(p.action as usize);
            want = p.parent;
        }
        indices.reverse();
        Ok(indices)
    }

    /// The file the units of `depth` spill to.
    fn spill(&self, depth: usize) -> io::Result<SpillFile> {
        let path = self.dir.join(format!("frontier-{depth}.bin"));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| with_path(e, "cannot write the frontier to", &path))?;
        Ok(SpillFile {
            file,
            path,
            end: Mutex::new(0),
            bytes: AtomicU64::new(0),
        })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn with_path(e: io::Error, what: &str, path: &std::path::Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// The parent records of one depth being written, by every worker in turn.
struct ParentWriter {
    out: Mutex<io::BufWriter<File>>,
    path: PathBuf,
}

impl ParentWriter {
    fn write(&self, records: &[Parent]) -> io::Result<()> {
        use io::Write;
        let mut bytes = Vec::with_capacity(records.len() * RECORD_BYTES);
        for p in records {
            bytes.extend_from_slice(&p.fp.to_le_bytes());
            bytes.extend_from_slice(&p.parent.to_le_bytes());
            bytes.extend_from_slice(&p.action.to_le_bytes());
        }
        self.out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(&bytes)
            .map_err(|e| with_path(e, "cannot write parent records to", &self.path))
    }
}

/// The spilled units of one level: each unit's states serialized (postcard) one after another,
/// at an offset a writer reserves, so workers write side by side and read back by position.
struct SpillFile {
    file: File,
    path: PathBuf,
    end: Mutex<u64>,
    /// Bytes written, for the report.
    bytes: AtomicU64,
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl SpillFile {
    /// Writes `states` out; returns where they are.
    fn put<S: Serialize>(&self, states: &[Queued<S>]) -> io::Result<Unit<S>> {
        use std::os::unix::fs::FileExt;
        let mut buf = Vec::with_capacity(states.len() * 256);
        // What the unit's states share is written once.
        let batch = synod_models::batch::Batch::start();
        for q in states {
            buf = postcard::to_extend(&(q.fp, q.ebits, &q.state), buf).map_err(|e| {
                io::Error::other(format!("cannot serialize a state for the frontier: {e}"))
            })?;
        }
        drop(batch);
        let offset = {
            let mut end = self.end.lock().unwrap_or_else(|e| e.into_inner());
            let at = *end;
            *end += buf.len() as u64;
            at
        };
        self.file
            .write_all_at(&buf, offset)
            .map_err(|e| with_path(e, "cannot write the frontier to", &self.path))?;
        self.bytes.fetch_add(buf.len() as u64, Relaxed);
        Ok(Unit::Disk {
            offset,
            bytes: buf.len(),
            states: states.len(),
        })
    }

    /// Reads a unit back.
    fn get<S: DeserializeOwned>(
        &self,
        offset: u64,
        bytes: usize,
        states: usize,
    ) -> io::Result<Vec<Queued<S>>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; bytes];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| with_path(e, "cannot read the frontier from", &self.path))?;
        let damaged = |what: String| {
            io::Error::other(format!(
                "the frontier in {} is damaged at offset {offset}: {what}",
                self.path.display()
            ))
        };
        let mut rest = &buf[..];
        let mut out = Vec::with_capacity(states);
        let _batch = synod_models::batch::Batch::start();
        for _ in 0..states {
            let ((fp, ebits, state), r) = postcard::take_from_bytes::<(u64, u16, S)>(rest)
                .map_err(|e| damaged(e.to_string()))?;
            rest = r;
            out.push(Queued { state, fp, ebits });
        }
        if !rest.is_empty() {
            return Err(damaged(format!("{} bytes past its last state", rest.len())));
        }
        Ok(out)
    }
}

/// A unit of a level's frontier: in memory, or spilled to that level's [`SpillFile`].
enum Unit<S> {
    Memory(Vec<Queued<S>>),
    Disk {
        offset: u64,
        bytes: usize,
        states: usize,
    },
}

impl<S> Unit<S> {
    fn len(&self) -> usize {
        match self {
            Unit::Memory(v) => v.len(),
            Unit::Disk { states, .. } => *states,
        }
    }
}

/// A state waiting to be expanded.
struct Queued<S> {
    state: S,
    fp: u64,
    /// The `eventually` properties its path has not yet satisfied.
    ebits: u16,
}

/// Counters other threads read while the search runs.
#[derive(Default)]
struct Shared {
    states: AtomicUsize,
    max_depth: AtomicUsize,
    done: AtomicBool,
    /// Discoveries so far: property name and the path as indices (the first an initial state's,
    /// then action indices).
    discoveries: Mutex<HashMap<&'static str, Vec<usize>>>,
    /// What stopped the search, if its disk failed it.
    error: Mutex<Option<String>>,
    /// States written to disk as part of a frontier, and their bytes, so far.
    spilled: AtomicU64,
    spilled_bytes: AtomicU64,
}

impl Shared {
    /// The names of the properties discovered so far.
    fn discovered(&self) -> BTreeSet<&'static str> {
        self.discoveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }
}

/// A running search; implements stateright's [`Checker`] so that `check` drives it (progress,
/// memory budget, stop) as it drives stateright's.
pub struct Engine<M: Model> {
    model: Arc<Checked<M>>,
    visited: Arc<Visited>,
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

/// Starts a breadth-first search of `model` on `threads` threads, expanding no state at depth
/// `max_depth` or deeper (the initial states are at depth 1), ending once `finish_when` holds.
pub fn spawn_bfs<M>(
    model: Checked<M>,
    threads: usize,
    max_depth: Option<usize>,
    policy: Frontier,
    finish_when: HasDiscoveries,
) -> Engine<M>
where
    M: Model + Send + Sync + 'static,
    M::State: Hash + Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    M::Action: Clone + Send + Sync + 'static,
{
    let model = Arc::new(model);
    let visited = Arc::new(Visited::new());
    let shared = Arc::new(Shared::default());
    let handle = {
        let (model, visited, shared) = (model.clone(), visited.clone(), shared.clone());
        std::thread::Builder::new()
            .name("synod-bfs".into())
            .spawn(move || {
                search(
                    &model,
                    &visited,
                    &shared,
                    threads.max(1),
                    max_depth,
                    policy,
                    &finish_when,
                );
                shared.done.store(true, Relaxed);
            })
            .expect("spawn the search thread")
    };
    Engine {
        model,
        visited,
        shared,
        handles: vec![handle],
    }
}

/// What one unit of the frontier produced: its successors not seen before, in units of at most
/// [`CHUNK`] states (the next level's units, so nothing is copied between levels), their parent
/// records, and its discoveries.
struct UnitOut<S> {
    next: Vec<Vec<Queued<S>>>,
    parents: Vec<Parent>,
    generated: usize,
    /// Per property: the fingerprint of the first state of this unit that discovered it.
    found: Vec<Option<u64>>,
}

/// What a worker hands back for one unit: the next level's units it made, and its discoveries.
struct Done<S> {
    next: Vec<Unit<S>>,
    generated: usize,
    found: Vec<Option<u64>>,
}

/// Where a worker puts what it did with one unit.
type Slot<S> = Mutex<Option<io::Result<Done<S>>>>;

fn search<M>(
    model: &Checked<M>,
    visited: &Visited,
    shared: &Shared,
    threads: usize,
    max_depth: Option<usize>,
    policy: Frontier,
    finish_when: &HasDiscoveries,
) where
    M: Model + Sync,
    M::State: Hash + Clone + Send + Sync + Serialize + DeserializeOwned,
    M::Action: Clone + Send + Sync,
{
    let fail = |e: io::Error| {
        *shared.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    };
    if let Err(e) = levels(
        model,
        visited,
        shared,
        threads,
        max_depth,
        policy,
        finish_when,
    ) {
        fail(e);
    }
}

fn levels<M>(
    model: &Checked<M>,
    visited: &Visited,
    shared: &Shared,
    threads: usize,
    max_depth: Option<usize>,
    policy: Frontier,
    finish_when: &HasDiscoveries,
) -> io::Result<()>
where
    M: Model + Sync,
    M::State: Hash + Clone + Send + Sync + Serialize + DeserializeOwned,
    M::Action: Clone + Send + Sync,
{
    let properties = model.properties();
    assert!(properties.len() <= 16, "at most 16 properties");
    let mut all_ebits = 0u16;
    for (i, p) in properties.iter().enumerate() {
        if p.expectation == Expectation::Eventually {
            all_ebits |= 1 << i;
        }
    }
    let init: Vec<M::State> = model
        .init_states()
        .into_iter()
        .filter(|s| model.within_boundary(s))
        .collect();
    shared.states.store(init.len(), Relaxed);
    let mut dir = WorkDir::create()?;
    let mut level0 = Vec::new();
    let mut first = Vec::new();
    for (i, s) in init.into_iter().enumerate() {
        let fp = fingerprint(&s);
        visited.insert(fp);
        level0.push(Parent {
            fp,
            parent: 0,
            action: i as u32,
        });
        first.push(Queued {
            state: s,
            fp,
            ebits: all_ebits,
        });
    }
    let w = dir.next_parents()?;
    w.write(&level0)?;
    dir.push_parents(w)?;
    let mut frontier: Vec<Unit<M::State>> = vec![Unit::Memory(first)];
    // The file the frontier's spilled units are in.
    let mut spilled: Option<SpillFile> = None;
    let mut depth = 1usize;
    while frontier.iter().any(|u| u.len() > 0) {
        shared.max_depth.fetch_max(depth, Relaxed);
        if max_depth.is_some_and(|m| depth >= m) {
            break;
        }
        let discovered = shared.discovered();
        let parents = dir.next_parents()?;
        let spill = dir.spill(depth + 1)?;
        let in_memory = AtomicUsize::new(0);
        // Each unit is taken by one thread, expanded, and dropped there.
        let units: Vec<Mutex<Option<Unit<M::State>>>> = std::mem::take(&mut frontier)
            .into_iter()
            .map(|u| Mutex::new(Some(u)))
            .collect();
        let next_unit = AtomicUsize::new(0);
        let outs: Vec<Slot<M::State>> = (0..units.len()).map(|_| Mutex::new(None)).collect();
        let one = |unit: Unit<M::State>| -> io::Result<Done<M::State>> {
            let states = match unit {
                Unit::Memory(v) => v,
                Unit::Disk {
                    offset,
                    bytes,
                    states,
                } => spilled
                    .as_ref()
                    .expect("spilled units have a file")
                    .get(offset, bytes, states)?,
            };
            let out = expand(model, &properties, &discovered, visited, &states, shared);
            drop(states);
            parents.write(&out.parents)?;
            let mut next = Vec::with_capacity(out.next.len());
            for chunk in out.next {
                // The first states of a level stay in memory; past the limit, units go to disk.
                let n = chunk.len();
                let keep = match policy {
                    Frontier::States(limit) => {
                        let kept = in_memory.fetch_add(n, Relaxed) + n <= limit;
                        if !kept {
                            in_memory.fetch_sub(n, Relaxed);
                        }
                        kept
                    }
                    Frontier::Auto { spill_at } => {
                        crate::check::memory::resident_bytes_now().is_none_or(|r| r < spill_at)
                    }
                };
                if keep {
                    next.push(Unit::Memory(chunk));
                } else {
                    next.push(spill.put(&chunk)?);
                    shared.spilled.fetch_add(n as u64, Relaxed);
                }
            }
            Ok(Done {
                next,
                generated: out.generated,
                found: out.found,
            })
        };
        let stop = AtomicBool::new(false);
        let work = || loop {
            let u = next_unit.fetch_add(1, Relaxed);
            if u >= units.len() || stop.load(Relaxed) {
                return;
            }
            let unit = units[u]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("each unit is taken once");
            let done = one(unit);
            if done.is_err() {
                stop.store(true, Relaxed);
            }
            *outs[u].lock().unwrap_or_else(|e| e.into_inner()) = Some(done);
        };
        if threads == 1 || units.len() == 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }
        // In unit order: each property's first discovery is in the first unit that has one.
        let mut found: Vec<Option<u64>> = vec![None; properties.len()];
        for out in outs {
            let Some(done) = out.into_inner().unwrap_or_else(|e| e.into_inner()) else {
                // Not run: another unit failed.
                continue;
            };
            let done = done?;
            frontier.extend(done.next);
            shared.states.fetch_add(done.generated, Relaxed);
            for (f, o) in found.iter_mut().zip(done.found) {
                if f.is_none() {
                    *f = o;
                }
            }
        }
        for (i, fp) in found.iter().enumerate() {
            let name = properties[i].name;
            let Some(fp) = fp else { continue };
            let known = shared
                .discoveries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(name);
            if !known {
                let path = dir.path_to(depth, *fp)?;
                shared
                    .discoveries
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name, path);
            }
        }
        dir.push_parents(parents)?;
        shared
            .spilled_bytes
            .fetch_add(spill.bytes.load(Relaxed), Relaxed);
        // The level just expanded is done with: its file goes, the next level's comes.
        spilled = Some(spill);
        let names = shared.discovered();
        if finish_when.matches(&names, &properties) {
            break;
        }
        depth += 1;
    }
    Ok(())
}

/// Expands one unit of the frontier: evaluates the properties on each state, generates its
/// successors, keeps the new ones.
fn expand<M>(
    model: &Checked<M>,
    properties: &[stateright::Property<Checked<M>>],
    discovered: &BTreeSet<&'static str>,
    visited: &Visited,
    unit: &[Queued<M::State>],
    shared: &Shared,
) -> UnitOut<M::State>
where
    M: Model,
    M::State: Hash + Clone,
    M::Action: Clone,
{
    let mut out = UnitOut {
        next: Vec::new(),
        parents: Vec::new(),
        generated: 0,
        found: vec![None; properties.len()],
    };
    let mut current: Vec<Queued<M::State>> = Vec::new();
    let mut actions = Vec::new();
    for (k, q) in unit.iter().enumerate() {
        let mut ebits = q.ebits;
        let mut awaiting = false;
        for (i, p) in properties.iter().enumerate() {
            let bit = 1u16 << i;
            if p.expectation == Expectation::Eventually
                && discovered.contains(p.name)
                && ebits & bit == 0
            {
                continue;
            }
            match p.expectation {
                Expectation::Always => {
                    if (p.condition)(model, &q.state) {
                        awaiting = true;
                    } else if out.found[i].is_none() {
                        out.found[i] = Some(q.fp);
                    }
                }
                Expectation::Sometimes => {
                    if !(p.condition)(model, &q.state) {
                        awaiting = true;
                    } else if out.found[i].is_none() {
                        out.found[i] = Some(q.fp);
                    }
                }
                Expectation::Eventually => {
                    awaiting = true;
                    if (p.condition)(model, &q.state) {
                        ebits &= !bit;
                    }
                }
            }
        }
        if !awaiting {
            // As stateright: a state with nothing left to discover is not expanded.
            continue;
        }
        let mut terminal = true;
        model.actions(&q.state, &mut actions);
        for (ai, action) in actions.drain(..).enumerate() {
            let Some(next) = model.next_state(&q.state, action) else {
                continue;
            };
            if !model.within_boundary(&next) {
                continue;
            }
            terminal = false;
            out.generated += 1;
            let fp = fingerprint(&next);
            if visited.insert(fp) {
                out.parents.push(Parent {
                    fp,
                    parent: q.fp,
                    action: ai as u32,
                });
                if current.len() == CHUNK {
                    out.next.push(std::mem::take(&mut current));
                }
                current.push(Queued {
                    state: next,
                    fp,
                    ebits,
                });
            }
        }
        if terminal {
            for (i, f) in out.found.iter_mut().enumerate() {
                if ebits & (1 << i) != 0 && f.is_none() {
                    *f = Some(q.fp);
                }
            }
        }
        if k % 64 == 0 {
            // Progress within a level, for the live line and the memory poll.
            shared.states.fetch_add(out.generated, Relaxed);
            out.generated = 0;
        }
    }
    if !current.is_empty() {
        out.next.push(current);
    }
    out
}

impl<M: Model> Engine<M> {
    /// What the search did beyond the counts: how much of the frontier went to disk.
    pub fn notes(&self) -> Vec<String> {
        let states = self.shared.spilled.load(Relaxed);
        if states == 0 {
            return Vec::new();
        }
        let bytes = self.shared.spilled_bytes.load(Relaxed);
        vec![format!(
            "frontier: {states} states spilled to disk ({:.1} MB, {} bytes per state)",
            bytes as f64 / 1e6,
            bytes / states
        )]
    }

    /// What stopped the search early, if its disk failed it; call after it is done.
    pub fn error(&self) -> Option<String> {
        self.shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl<M> Engine<M>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
{
    /// Replays a path of indices into states and actions.
    fn replay(&self, indices: &[usize]) -> Option<Path<M::State, M::Action>> {
        let (first, rest) = indices.split_first()?;
        let init = self.model.init_states().into_iter().nth(*first)?;
        let mut state = init.clone();
        let mut taken = Vec::new();
        let mut actions = Vec::new();
        for &ai in rest {
            self.model.actions(&state, &mut actions);
            let action = actions.drain(..).nth(ai)?;
            state = self.model.next_state(&state, action.clone())?;
            taken.push(action);
        }
        Path::from_actions(&*self.model, init, taken.iter())
    }
}

impl<M> Checker<Checked<M>> for Engine<M>
where
    M: Model,
    M::State: Clone + PartialEq + Hash,
    M::Action: Clone + PartialEq,
{
    fn model(&self) -> &Checked<M> {
        &self.model
    }

    fn state_count(&self) -> usize {
        self.shared.states.load(Relaxed)
    }

    fn unique_state_count(&self) -> usize {
        self.visited.len.load(Relaxed)
    }

    fn max_depth(&self) -> usize {
        self.shared.max_depth.load(Relaxed)
    }

    fn discoveries(&self) -> HashMap<&'static str, Path<M::State, M::Action>> {
        let found = self
            .shared
            .discoveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        found
            .into_iter()
            .filter_map(|(name, indices)| Some((name, self.replay(&indices)?)))
            .collect()
    }

    fn handles(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.handles)
    }

    fn is_done(&self) -> bool {
        self.shared.done.load(Relaxed)
    }
}
