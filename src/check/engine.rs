//! Synod's own breadth-first search (`synod check`, `--engine synod`, the default), the first
//! part of the checker at scale (issue 13).
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
//! for stateright's checkers.
//!
//! **The frontier** (the states of one depth and the next) stays in memory while the process is
//! under half of `--max-memory` ([`Frontier`]); past that, chunks are serialized (postcard, what
//! their states share written once: `synod_models::batch`) to a file per level with a CRC-32
//! each, so memory holds little beyond the visited set. A disk that fails the search stops it
//! with the reason ([`Engine::error`]). At level boundaries the search can write a checkpoint
//! and later resume from it (`super::checkpoint`).

use super::checkpoint::{self, FileSum, Meta, UnitAt};
use super::lock;
use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::{Checker, Expectation, HasDiscoveries, Model};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;
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
pub(crate) struct Identity(u64);

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
        let new = lock(&self.shards[shard]).insert(fp);
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

/// The engine's files: the parent records (one file per depth, 20 bytes per state, read back
/// to rebuild a trace, or the visited set on a resume) and the frontier's spilled units (one
/// file per level, removed once the level is expanded unless a checkpoint names it). In a
/// directory of their own under `$TMPDIR`, removed at the end; or in the `--checkpoint`
/// directory, kept while a resume may need them.
struct WorkDir {
    dir: PathBuf,
    /// Per depth, from 1: the file of its parent records, its length and CRC-32.
    parents: Vec<FileSum>,
    /// A checkpoint directory (not removed on drop), with its lock held.
    checkpoint: Option<File>,
    /// A temporary directory's lock, held while the search runs.
    _lock: Option<File>,
}

/// The lock file in a temporary search directory.
const TEMP_LOCK_FILE: &str = "search.lock";

/// Removes the temporary directories of searches that were killed (SIGKILL, SIGTERM, a crash)
/// before they could remove their own: a spilled frontier can be tens of gigabytes. A directory
/// is abandoned when the process its name carries is gone, or nobody has held its lock for a
/// minute. Linux only, where `/proc` and locks say so reliably. Says what it removed on stderr.
fn sweep_stale(tmp: &Path) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let mut removed = 0u64;
    let mut bytes = 0u64;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("synod-bfs-") else {
            continue;
        };
        let dir = e.path();
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let gone = pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists());
        // The process id may have been reused: then an unheld lock, older than the moment
        // between a search creating its lock file and taking the lock, says it.
        let unheld = || {
            let path = dir.join(TEMP_LOCK_FILE);
            let old = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() >= 60));
            old && File::open(&path)
                .and_then(|f| crate::net::datadir::try_flock(&f, false))
                .unwrap_or(false)
        };
        let abandoned = pid != Some(std::process::id()) && (gone || unheld());
        if !abandoned {
            continue;
        }
        let size: u64 = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|f| f.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        if std::fs::remove_dir_all(&dir).is_ok() {
            removed += 1;
            bytes += size;
        }
    }
    if removed > 0 {
        eprintln!(
            "removed {removed} director{} of searches that were killed ({:.1} MB) from {}",
            if removed == 1 { "y" } else { "ies" },
            bytes as f64 / 1e6,
            tmp.display()
        );
    }
}

impl WorkDir {
    fn temporary() -> io::Result<WorkDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        sweep_stale(&std::env::temp_dir());
        let dir = std::env::temp_dir().join(format!("synod-bfs-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| with_path(e, "cannot create a directory for the search", &dir))?;
        // Held until the process ends, however it ends: a later search that can take the lock
        // knows this directory is abandoned.
        let path = dir.join(TEMP_LOCK_FILE);
        let lock = File::create(&path).map_err(|e| with_path(e, "cannot lock", &path))?;
        crate::net::datadir::try_flock(&lock, false)
            .map_err(|e| with_path(e, "cannot lock", &path))?;
        Ok(WorkDir {
            dir,
            parents: Vec::new(),
            checkpoint: None,
            _lock: Some(lock),
        })
    }

    /// The `--checkpoint` directory, locked for this search.
    fn checkpoint(dir: &Path) -> io::Result<WorkDir> {
        std::fs::create_dir_all(dir)
            .map_err(|e| with_path(e, "cannot create the checkpoint directory", dir))?;
        let path = dir.join(checkpoint::LOCK_FILE);
        let lock = File::options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| with_path(e, "cannot lock", &path))?;
        if !crate::net::datadir::try_flock(&lock, false)
            .map_err(|e| with_path(e, "cannot lock", &path))?
        {
            return Err(io::Error::other(format!(
                "{} is in use by another search",
                dir.display()
            )));
        }
        Ok(WorkDir {
            dir: dir.to_path_buf(),
            parents: Vec::new(),
            checkpoint: Some(lock),
            _lock: None,
        })
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// A writer for the parent records of the next depth.
    fn next_parents(&self) -> io::Result<ParentWriter> {
        let name = format!("parents-{}.bin", self.parents.len() + 1);
        let path = self.path(&name);
        let file = File::create(&path)
            .map_err(|e| with_path(e, "cannot write parent records to", &path))?;
        Ok(ParentWriter {
            out: Mutex::new(Written {
                file: io::BufWriter::with_capacity(1 << 16, file),
                crc: crc32fast::Hasher::new(),
                bytes: 0,
            }),
            name,
            path,
        })
    }

    /// Ends the depth `w` wrote (synced, when the directory is a checkpoint's).
    fn push_parents(&mut self, w: ParentWriter) -> io::Result<()> {
        let ParentWriter { out, path, name } = w;
        let out = out.into_inner().unwrap_or_else(|e| e.into_inner());
        let file = out
            .file
            .into_inner()
            .map_err(|e| with_path(e.into_error(), "cannot write parent records to", &path))?;
        if self.checkpoint.is_some() {
            file.sync_all()
                .map_err(|e| with_path(e, "cannot sync", &path))?;
        }
        self.parents.push(FileSum {
            file: name,
            bytes: out.bytes,
            crc32: out.crc.finalize(),
        });
        Ok(())
    }

    /// Reads every parent record of depth `depth` (1-based), checking the file against its sum.
    fn each_record(&self, depth: usize, mut f: impl FnMut(Parent) -> bool) -> io::Result<()> {
        use io::Read;
        let sum = &self.parents[depth - 1];
        let path = self.path(&sum.file);
        let mut file = io::BufReader::with_capacity(
            1 << 16,
            File::open(&path).map_err(|e| with_path(e, "cannot read", &path))?,
        );
        let mut crc = crc32fast::Hasher::new();
        let mut rec = [0u8; RECORD_BYTES];
        let records = sum.bytes / RECORD_BYTES as u64;
        for i in 0..records {
            file.read_exact(&mut rec).map_err(|e| {
                with_path(
                    e,
                    &format!(
                        "cannot read record {i} (offset {})",
                        i * RECORD_BYTES as u64
                    ),
                    &path,
                )
            })?;
            crc.update(&rec);
            let at = |r: std::ops::Range<usize>| u64::from_le_bytes(rec[r].try_into().unwrap());
            let parent = Parent {
                fp: at(0..8),
                parent: at(8..16),
                action: u32::from_le_bytes(rec[16..20].try_into().expect("4 bytes")),
            };
            if !f(parent) {
                return Ok(());
            }
        }
        if crc.finalize() != sum.crc32 {
            return Err(io::Error::other(format!(
                "{} is damaged: its {} bytes do not match their CRC-32",
                path.display(),
                sum.bytes
            )));
        }
        Ok(())
    }

    /// The record of `fp` at `depth` (1-based).
    fn find(&self, depth: usize, fp: u64) -> io::Result<Option<Parent>> {
        let mut found = None;
        self.each_record(depth, |p| {
            if p.fp == fp {
                found = Some(p);
            }
            found.is_none()
        })?;
        Ok(found)
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
                    self.path(&self.parents[d - 1].file).display()
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
        let name = format!("frontier-{depth}.bin");
        let path = self.path(&name);
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| with_path(e, "cannot write the frontier to", &path))?;
        Ok(SpillFile {
            file,
            name,
            path,
            end: Mutex::new(0),
            bytes: AtomicU64::new(0),
            keep: AtomicBool::new(false),
        })
    }

    /// A checkpoint's spill file, to read back.
    fn reopen_spill(&self, name: &str) -> io::Result<SpillFile> {
        let path = self.path(name);
        let file = File::open(&path).map_err(|e| with_path(e, "cannot read", &path))?;
        let end = file
            .metadata()
            .map_err(|e| with_path(e, "cannot read", &path))?
            .len();
        Ok(SpillFile {
            file,
            name: name.to_string(),
            path,
            end: Mutex::new(end),
            bytes: AtomicU64::new(0),
            keep: AtomicBool::new(true),
        })
    }

    /// Removes the engine's files from a checkpoint directory (the search ended: nothing to
    /// resume), leaving the directory and whatever else is in it.
    fn clear_checkpoint(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let ours = engine_file(&name)
                || name == checkpoint::META_FILE
                || name == checkpoint::LOCK_FILE;
            if ours {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.checkpoint.is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether a file name is one of the engine's data files (parent records, a spilled frontier).
fn engine_file(name: &str) -> bool {
    (name.starts_with("parents-") || name.starts_with("frontier-")) && name.ends_with(".bin")
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    checkpoint::with_path(e, what, path)
}

/// The parent records of one depth being written, by every worker in turn.
struct ParentWriter {
    out: Mutex<Written>,
    name: String,
    path: PathBuf,
}

/// A file being written, with the sum of what went in.
struct Written {
    file: io::BufWriter<File>,
    crc: crc32fast::Hasher,
    bytes: u64,
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
        let mut out = lock(&self.out);
        out.crc.update(&bytes);
        out.bytes += bytes.len() as u64;
        out.file
            .write_all(&bytes)
            .map_err(|e| with_path(e, "cannot write parent records to", &self.path))
    }
}

/// The spilled units of one level: each unit's states serialized (postcard) one after another,
/// at an offset a writer reserves, so workers write side by side and read back by position.
struct SpillFile {
    file: File,
    name: String,
    path: PathBuf,
    end: Mutex<u64>,
    /// Bytes written, for the report.
    bytes: AtomicU64,
    /// A checkpoint names it: not removed when the level is done.
    keep: AtomicBool,
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        if !self.keep.load(Relaxed) {
            let _ = std::fs::remove_file(&self.path);
        }
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
            let mut end = lock(&self.end);
            let at = *end;
            *end += buf.len() as u64;
            at
        };
        self.file
            .write_all_at(&buf, offset)
            .map_err(|e| with_path(e, "cannot write the frontier to", &self.path))?;
        self.bytes.fetch_add(buf.len() as u64, Relaxed);
        Ok(Unit::Disk(UnitAt {
            offset,
            bytes: buf.len() as u64,
            states: states.len() as u64,
            crc32: crc32fast::hash(&buf),
        }))
    }

    /// Reads a unit's bytes back, checked against its CRC-32.
    fn bytes_of(&self, at: &UnitAt) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; at.bytes as usize];
        self.file
            .read_exact_at(&mut buf, at.offset)
            .map_err(|e| with_path(e, "cannot read the frontier from", &self.path))?;
        if crc32fast::hash(&buf) != at.crc32 {
            return Err(io::Error::other(format!(
                "the frontier in {} is damaged: the {} bytes at offset {} do not match their CRC-32",
                self.path.display(),
                at.bytes,
                at.offset
            )));
        }
        Ok(buf)
    }

    /// Reads a unit back.
    fn get<S: DeserializeOwned>(&self, at: &UnitAt) -> io::Result<Vec<Queued<S>>> {
        let buf = self.bytes_of(at)?;
        let damaged = |what: String| {
            io::Error::other(format!(
                "the frontier in {} is damaged at offset {}: {what}",
                self.path.display(),
                at.offset
            ))
        };
        let mut rest = &buf[..];
        let mut out = Vec::with_capacity(at.states as usize);
        let _batch = synod_models::batch::Batch::start();
        for _ in 0..at.states {
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

    fn sync(&self) -> io::Result<()> {
        self.file
            .sync_all()
            .map_err(|e| with_path(e, "cannot sync", &self.path))
    }
}

/// A unit of a level's frontier: in memory, or spilled to that level's [`SpillFile`].
enum Unit<S> {
    Memory(Vec<Queued<S>>),
    Disk(UnitAt),
}

impl<S> Unit<S> {
    fn len(&self) -> usize {
        match self {
            Unit::Memory(v) => v.len(),
            Unit::Disk(at) => at.states as usize,
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
    /// Checkpoints written; the depth a resume started from; the directory a stopped search
    /// left a checkpoint in.
    checkpoints: AtomicUsize,
    resumed: Mutex<Option<usize>>,
    kept: Mutex<Option<String>>,
}

impl Shared {
    /// The names of the properties discovered so far.
    fn discovered(&self) -> BTreeSet<&'static str> {
        lock(&self.discoveries).keys().copied().collect()
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

/// Starts a breadth-first search of `model` as `plan` says.
pub fn spawn_bfs<M>(model: Checked<M>, plan: Plan) -> Engine<M>
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
                search(&model, &visited, &shared, &plan);
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
    /// The thread that made `next`.
    producer: usize,
}

/// Where a worker puts what it did with one unit.
type Slot<S> = Mutex<Option<io::Result<Done<S>>>>;

/// How to search: everything but the model.
pub struct Plan {
    pub threads: usize,
    /// Expand no state at this depth or deeper (the initial states are at depth 1).
    pub max_depth: Option<usize>,
    pub frontier: Frontier,
    pub checkpoint: Option<checkpoint::Spec>,
    pub finish_when: HasDiscoveries,
}

fn search<M>(model: &Checked<M>, visited: &Visited, shared: &Shared, plan: &Plan)
where
    M: Model + Sync,
    M::State: Hash + Clone + Send + Sync + Serialize + DeserializeOwned,
    M::Action: Clone + Send + Sync,
{
    if let Err(e) = levels(model, visited, shared, plan) {
        *lock(&shared.error) = Some(e.to_string());
    }
}

/// Where a search is at a level boundary: the frontier of `depth` and the file its spilled
/// units are in.
struct Boundary<S> {
    dir: WorkDir,
    frontier: Vec<Unit<S>>,
    /// Per unit of the frontier: the thread that made it.
    owners: Vec<usize>,
    spilled: Option<SpillFile>,
    depth: usize,
}

/// A fresh search: the initial states are the frontier of depth 1.
fn start<M>(
    model: &Checked<M>,
    visited: &Visited,
    shared: &Shared,
    plan: &Plan,
    all_ebits: u16,
) -> io::Result<Boundary<M::State>>
where
    M: Model,
    M::State: Hash + Clone,
    M::Action: Clone,
{
    let init: Vec<M::State> = model
        .init_states()
        .into_iter()
        .filter(|s| model.within_boundary(s))
        .collect();
    shared.states.store(init.len(), Relaxed);
    let mut dir = match &plan.checkpoint {
        Some(c) => WorkDir::checkpoint(&c.dir)?,
        None => WorkDir::temporary()?,
    };
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
    Ok(Boundary {
        dir,
        frontier: vec![Unit::Memory(first)],
        owners: vec![0],
        spilled: None,
        depth: 1,
    })
}

/// A resumed search: the visited set rebuilt from the parent records, the frontier where the
/// checkpoint left it, every file checked against its CRC-32 first.
fn resume<S>(
    spec: &checkpoint::Spec,
    meta: Meta,
    visited: &Visited,
    shared: &Shared,
) -> io::Result<Boundary<S>> {
    let mut dir = WorkDir::checkpoint(&spec.dir)?;
    dir.parents = meta.parents.clone();
    for depth in 1..=meta.depth {
        dir.each_record(depth, |p| {
            visited.insert(p.fp);
            true
        })?;
    }
    if visited.len.load(Relaxed) != meta.unique_states {
        return Err(io::Error::other(format!(
            "{}: the parent records hold {} states, the checkpoint says {}",
            spec.dir.display(),
            visited.len.load(Relaxed),
            meta.unique_states
        )));
    }
    // The frontier's units were checked by `checkpoint::open`, and are again as they are read.
    let spilled = dir.reopen_spill(&meta.frontier)?;
    // Files of later depths are what the search did after its checkpoint: gone over again.
    if let Ok(entries) = std::fs::read_dir(&spec.dir) {
        let named: Vec<&str> = meta
            .parents
            .iter()
            .map(|p| p.file.as_str())
            .chain([meta.frontier.as_str()])
            .collect();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if engine_file(&name) && !named.contains(&name.as_str()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    shared.states.store(meta.states, Relaxed);
    shared.max_depth.store(meta.max_depth, Relaxed);
    shared.spilled.store(meta.spilled_states, Relaxed);
    shared.spilled_bytes.store(meta.spilled_bytes, Relaxed);
    {
        let mut found = lock(&shared.discoveries);
        for (name, path) in meta.discoveries {
            // Property names are the model's own `&'static str`s.
            found.insert(Box::leak(name.into_boxed_str()), path);
        }
    }
    *lock(&shared.resumed) = Some(meta.depth);
    Ok(Boundary {
        dir,
        owners: vec![0; meta.units.len()],
        frontier: meta.units.into_iter().map(Unit::Disk).collect(),
        spilled: Some(spilled),
        depth: meta.depth,
    })
}

/// Writes a checkpoint at a level boundary: the frontier's units all on disk and synced (the
/// parent records were synced as each depth ended), then `checkpoint.json`; then the previous
/// checkpoint's frontier file goes.
fn write_checkpoint<S: Serialize>(
    spec: &checkpoint::Spec,
    b: &mut Boundary<S>,
    shared: &Shared,
    visited: &Visited,
    pinned: &mut Option<PathBuf>,
) -> io::Result<()> {
    if b.spilled.is_none() {
        b.spilled = Some(b.dir.spill(b.depth)?);
    }
    let file = b.spilled.as_ref().expect("just made");
    let mut units = Vec::with_capacity(b.frontier.len());
    for unit in b.frontier.iter_mut() {
        if let Unit::Memory(states) = unit {
            *unit = file.put(states)?;
        }
        match unit {
            Unit::Disk(at) => units.push(*at),
            Unit::Memory(_) => unreachable!("written just above"),
        }
    }
    file.sync()?;
    file.keep.store(true, Relaxed);
    let discoveries = lock(&shared.discoveries)
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let meta = Meta {
        depth: b.depth,
        states: shared.states.load(Relaxed),
        unique_states: visited.len.load(Relaxed),
        max_depth: shared.max_depth.load(Relaxed),
        spilled_states: shared.spilled.load(Relaxed),
        spilled_bytes: shared.spilled_bytes.load(Relaxed),
        discoveries,
        parents: b.dir.parents.clone(),
        frontier: file.name.clone(),
        units,
        ..Meta::new(spec.identity.clone())
    };
    checkpoint::sync_dir(&spec.dir)?;
    checkpoint::write(&spec.dir, &meta)?;
    if let Some(old) = pinned.replace(file.path.clone()) {
        if old != file.path {
            let _ = std::fs::remove_file(old);
        }
    }
    shared.checkpoints.fetch_add(1, Relaxed);
    Ok(())
}

fn levels<M>(model: &Checked<M>, visited: &Visited, shared: &Shared, plan: &Plan) -> io::Result<()>
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
    let mut b = match &plan.checkpoint {
        Some(spec) if spec.resume => {
            let meta = checkpoint::load(&spec.dir, &spec.identity).map_err(io::Error::other)?;
            resume(spec, meta, visited, shared)?
        }
        _ => start(model, visited, shared, plan, all_ebits)?,
    };
    // The frontier file the last checkpoint names (kept until the next one).
    let mut pinned: Option<PathBuf> = b.spilled.as_ref().map(|f| f.path.clone());
    let mut last_checkpoint = Instant::now();
    // Whether the search ended (complete, or what it was asked to find found).
    let mut ended = true;
    while b.frontier.iter().any(|u| u.len() > 0) {
        shared.max_depth.fetch_max(b.depth, Relaxed);
        if plan.max_depth.is_some_and(|m| b.depth >= m) {
            // A resume may go deeper: the boundary is kept.
            if let Some(spec) = &plan.checkpoint {
                write_checkpoint(spec, &mut b, shared, visited, &mut pinned)?;
            }
            ended = false;
            break;
        }
        let depth = b.depth;
        let discovered = shared.discovered();
        let parents = b.dir.next_parents()?;
        let spill = b.dir.spill(depth + 1)?;
        let in_memory = AtomicUsize::new(0);
        // Each unit is taken by one thread, expanded, and dropped there.
        let units: Vec<Mutex<Option<Unit<M::State>>>> = std::mem::take(&mut b.frontier)
            .into_iter()
            .map(|u| Mutex::new(Some(u)))
            .collect();
        // Each thread first takes the units it made (their states are in its caches and its
        // allocator's pages), then helps with the others'.
        let threads = plan.threads.max(1);
        let mut queues: Vec<Vec<usize>> = vec![Vec::new(); threads];
        for (u, &o) in b.owners.iter().enumerate() {
            queues[o % threads].push(u);
        }
        b.owners.clear();
        let cursors: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
        let outs: Vec<Slot<M::State>> = (0..units.len()).map(|_| Mutex::new(None)).collect();
        let spilled = &b.spilled;
        let one = |unit: Unit<M::State>| -> io::Result<Done<M::State>> {
            let states = match unit {
                Unit::Memory(v) => v,
                Unit::Disk(at) => spilled
                    .as_ref()
                    .expect("spilled units have a file")
                    .get(&at)?,
            };
            let out = expand(model, &properties, &discovered, visited, &states, shared);
            drop(states);
            parents.write(&out.parents)?;
            let mut next = Vec::with_capacity(out.next.len());
            for chunk in out.next {
                // The first states of a level stay in memory; past the limit, units go to disk.
                let n = chunk.len();
                let keep = match plan.frontier {
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
                producer: 0,
            })
        };
        let stop = AtomicBool::new(false);
        let work = |t: usize| loop {
            // A stop request or the deadline ends the level where it is: it is incomplete.
            if stop.load(Relaxed) || model.was_cut() {
                return;
            }
            let taken = (0..threads).find_map(|k| {
                let q = (t + k) % threads;
                let i = cursors[q].fetch_add(1, Relaxed);
                queues[q].get(i).copied()
            });
            let Some(u) = taken else { return };
            let unit = lock(&units[u]).take().expect("each unit is taken once");
            let done = one(unit).map(|d| Done { producer: t, ..d });
            if done.is_err() {
                stop.store(true, Relaxed);
            }
            *lock(&outs[u]) = Some(done);
        };
        if threads == 1 || units.len() == 1 {
            work(0);
        } else {
            std::thread::scope(|s| {
                for t in 0..threads {
                    s.spawn(move || work(t));
                }
            });
        }
        // In unit order: each property's first discovery is in the first unit that has one.
        let mut found: Vec<Option<u64>> = vec![None; properties.len()];
        for out in outs {
            let Some(done) = out.into_inner().unwrap_or_else(|e| e.into_inner()) else {
                // Not run: another unit failed, or the search was stopped.
                continue;
            };
            let done = done?;
            b.owners
                .extend(std::iter::repeat_n(done.producer, done.next.len()));
            b.frontier.extend(done.next);
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
            let known = lock(&shared.discoveries).contains_key(name);
            if !known {
                let path = b.dir.path_to(depth, *fp)?;
                lock(&shared.discoveries).insert(name, path);
            }
        }
        if model.was_cut() {
            // The level is incomplete: the last checkpoint stands.
            ended = false;
            break;
        }
        b.dir.push_parents(parents)?;
        shared
            .spilled_bytes
            .fetch_add(spill.bytes.load(Relaxed), Relaxed);
        // The level just expanded is done with: its file goes (unless a checkpoint names it),
        // the next level's comes.
        b.spilled = Some(spill);
        b.depth += 1;
        let names = shared.discovered();
        if plan.finish_when.matches(&names, &properties) {
            break;
        }
        if let Some(spec) = &plan.checkpoint {
            if last_checkpoint.elapsed() >= spec.every {
                write_checkpoint(spec, &mut b, shared, visited, &mut pinned)?;
                last_checkpoint = Instant::now();
            }
        }
    }
    if plan.checkpoint.is_some() {
        if ended {
            b.dir.clear_checkpoint();
        } else if shared.checkpoints.load(Relaxed) > 0 || lock(&shared.resumed).is_some() {
            *lock(&shared.kept) = Some(b.dir.dir.display().to_string());
        }
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
        let mut notes = Vec::new();
        let resumed = *lock(&self.shared.resumed);
        if let Some(depth) = resumed {
            notes.push(format!(
                "resumed from a checkpoint at depth {depth}: counts include the search before it"
            ));
        }
        let kept = lock(&self.shared.kept).clone();
        if let Some(dir) = kept {
            notes.push(format!(
                "checkpoint kept in {dir}: go on with the same command and --resume {dir}"
            ));
        }
        let states = self.shared.spilled.load(Relaxed);
        if states == 0 {
            return notes;
        }
        let bytes = self.shared.spilled_bytes.load(Relaxed);
        notes.push(format!(
            "frontier: {states} states spilled to disk ({:.1} MB, {} bytes per state)",
            bytes as f64 / 1e6,
            bytes / states
        ));
        notes
    }

    /// What stopped the search early, if its disk failed it; call after it is done.
    pub fn error(&self) -> Option<String> {
        lock(&self.shared.error).clone()
    }
}

impl<M> Engine<M>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
{
    /// Replays a path of indices into states and actions.
    fn replay(&self, indices: &[usize]) -> Option<stateright::Path<M::State, M::Action>> {
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
        stateright::Path::from_actions(&*self.model, init, taken.iter())
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

    fn discoveries(&self) -> HashMap<&'static str, stateright::Path<M::State, M::Action>> {
        let found = lock(&self.shared.discoveries).clone();
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
