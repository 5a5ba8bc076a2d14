//! Durable storage for a node: what an actor `save`s survives a crash, and damage is never
//! mistaken for a crash.
//!
//! An actor hands the runtime its whole durable value ([`stateright::actor::Out::save`]); the model
//! checker keeps that value as the actor's `Storage`. Writing the whole value to disk on every
//! step would make a step cost as much as the state is large, so the runtime keeps two files in
//! the node's data directory ([`DataDir`], which also holds its lock and `meta.json`):
//!
//! - `snapshot`: the whole value at some point (or, from the directory's creation until the first
//!   commit, "no value yet"), written atomically (a temporary file, fsync, rename, fsync of the
//!   directory), headed by a magic number, a format version, its *generation* and a CRC;
//! - `wal.<generation>`: the changes since the snapshot of that generation, appended as records
//!   `[length u32][crc32 u32][postcard entry]`, into a file filled with zeros a chunk ahead (so an
//!   fsync flushes data, not the file's growing size; a zero length ends the records).
//!
//! [`Durable`] (in `synod_models::durable`, next to each protocol's storage type) says how to
//! express a new value as entries appended to the old one. A type without an incremental form is
//! written as a fresh snapshot each time.
//!
//! **Group commit.** The node calls [`DiskStore::stage`] for every `save` of a batch of steps and
//! [`DiskStore::write`] once per batch: one write covers them all, and one fsync (by the node's
//! disk thread, see [`super::node`]) covers every write made before it; only then are the
//! messages that followed those saves sent. [`DiskStore::commit`] is write and fsync in one. When the write-ahead file outgrows [`COMPACT_WAL_BYTES`] (and twice
//! the snapshot), the next commit writes a new snapshot and starts a new generation.
//!
//! **What the writer guarantees.** A snapshot of generation G is always accompanied by `wal.G`.
//! A compaction from generation G to G+1 (and the directory's creation, G+1 = 0) goes:
//! 1. write `snapshot.tmp` (generation G+1), fsync it;
//! 2. create an empty `wal.{G+1}`, fsync the directory;
//! 3. rename `snapshot.tmp` to `snapshot`, fsync the directory;
//! 4. delete `wal.G` (not fsynced: a `wal.G` that reappears is the leftover of rule 3 below).
//!
//! **Recovery is strict.** It accepts what a crash can leave, and nothing else:
//! 1. a *torn tail* of `wal.G`: a last record that is incomplete or fails its CRC, after which the
//!    file holds only zeros or ends, and after which no valid record starts. It was written by the
//!    commit the crash interrupted, so it was never acknowledged (messages of a step leave only
//!    after its records are on disk). It is cut, and the cut is reported ([`Recovery`]);
//! 2. `snapshot.tmp` (a crash in step 1 or 2), and with it an all-zero `wal.{G+1}` when
//!    `snapshot.tmp` is a whole snapshot of generation G+1 (a crash between steps 2 and 3):
//!    deleted;
//! 3. `wal.{G-1}` (a crash between steps 3 and 4): deleted, the snapshot covers it.
//!
//! Anything else is damage, and the node refuses to start with a [`RecoveryError`] naming the
//! file, the byte offset and what is wrong, having changed nothing: a bad record followed by data
//! or by a valid record, a record that passes its CRC but does not decode, a missing snapshot, a
//! missing `wal.G`, a write-ahead file of any other generation, a snapshot with a bad magic
//! number, format version, length or CRC, a file the directory should not hold. Only when every
//! check has passed does recovery change anything (the cut, the deletions).
//!
//! A power loss may persist the pages of one write out of order; a torn batch whose later record
//! reached the disk before an earlier one is then refused (not cut), the safe side: nothing
//! acknowledged is lost, and [`verify`](super::datadir::verify) shows the offsets.
//!
//! `--fsync never` skips the fsyncs (the data still reaches the page cache): for measuring what
//! durability costs, never for a deployment; after a power loss such a directory may be refused.

use super::datadir::{DataDir, LOCK_FILE, META_FILE, META_TMP_FILE};
use crate::check::report::thousands;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use synod_models::durable::Durable;

/// When the write-ahead file exceeds this many bytes (and twice the snapshot's size), the next
/// commit writes a snapshot instead.
pub const COMPACT_WAL_BYTES: u64 = 8 << 20;

/// The on-disk format this build writes and reads (snapshot header and `meta.json`). Version 2:
/// the snapshot's body is an `Option` (a directory is created with an empty snapshot), and a
/// snapshot of generation G always has its `wal.G`.
pub const FORMAT_VERSION: u8 = 2;
/// How far ahead of its records the write-ahead file is filled with zeros (bytes).
pub const WAL_CHUNK_BYTES: u64 = 1 << 20;

pub(crate) const SNAPSHOT_FILE: &str = "snapshot";
pub(crate) const SNAPSHOT_TMP_FILE: &str = "snapshot.tmp";
const WAL_PREFIX: &str = "wal.";
const SNAPSHOT_MAGIC: &[u8; 4] = b"SYNS";
/// The largest single write-ahead record accepted on recovery (bytes).
const MAX_RECORD_BYTES: u32 = 64 << 20;
/// After a bad record, recovery looks for a valid record further on (which would make it damage,
/// not a torn tail); this bounds the bytes it hashes doing so. Past it, the file is refused.
const RESYNC_BUDGET_BYTES: u64 = 256 << 20;

/// Whether commits reach the disk before messages leave (`always`) or only the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    #[default]
    Always,
    Never,
}

/// What one commit did, for the node's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub bytes: u64,
    pub fsyncs: u64,
    pub snapshots: u64,
}

/// What [`DiskStore::write`] did, and what must be synced before it is durable.
#[derive(Debug, Default)]
pub struct Written {
    pub stats: CommitStats,
    /// The write-ahead file to fsync (`None`: durable already, or `--fsync never`).
    pub sync: Option<Arc<File>>,
}

/// Why a data directory cannot be opened: damage (the node must not start on it; nothing was
/// changed), or an I/O error reading it. Names the file and, where it applies, the byte offset.
///
/// Converts into an [`io::Error`] of kind `InvalidData` (damage) or the I/O error's own kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryError {
    /// The file at fault (or the directory itself).
    pub file: PathBuf,
    /// The byte offset in `file` where the problem starts, when there is one.
    pub offset: Option<u64>,
    /// What is wrong, in words (it names the offset too).
    pub what: String,
    /// The data directory, for the advice.
    dir: PathBuf,
    /// `Some` for an I/O error (not damage).
    io: Option<io::ErrorKind>,
}

impl RecoveryError {
    pub(crate) fn damaged(
        dir: &Path,
        file: &Path,
        offset: Option<u64>,
        what: impl Into<String>,
    ) -> Self {
        RecoveryError {
            file: file.to_path_buf(),
            offset,
            what: what.into(),
            dir: dir.to_path_buf(),
            io: None,
        }
    }

    pub(crate) fn io(dir: &Path, file: &Path, doing: &str, e: &io::Error) -> Self {
        RecoveryError {
            file: file.to_path_buf(),
            offset: None,
            what: format!("cannot {doing}: {e}"),
            dir: dir.to_path_buf(),
            io: Some(e.kind()),
        }
    }

    /// Whether this is damage (the directory's contents), rather than an I/O error reading it.
    pub fn is_damage(&self) -> bool {
        self.io.is_none()
    }

    /// `FILE: WHAT`, without the consequence and the advice (for `synod check-data`).
    pub fn summary(&self) -> String {
        format!("{}: {}", self.file.display(), self.what)
    }
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary())?;
        if self.is_damage() {
            write!(
                f,
                ": refusing to start; nothing was changed. Restore the directory from a backup, \
                 or read \"When a node refuses its data directory\" in README.md before wiping it \
                 (`synod check-data {}` checks it without starting a node)",
                self.dir.display()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for RecoveryError {}

impl From<RecoveryError> for io::Error {
    fn from(e: RecoveryError) -> io::Error {
        io::Error::new(e.io.unwrap_or(io::ErrorKind::InvalidData), e.to_string())
    }
}

/// A torn tail: the end of a write-ahead file that a crash interrupted, cut on recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub file: PathBuf,
    /// Where the torn record starts (the file is cut there).
    pub offset: u64,
    /// How many bytes of data (not counting the zeros written ahead) were cut.
    pub bytes: u64,
    /// What is wrong with the record.
    pub what: String,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: torn record at byte {} ({}): {} bytes cut, written by a commit a crash \
             interrupted (never acknowledged with --fsync always)",
            self.file.display(),
            thousands(self.offset),
            self.what,
            thousands(self.bytes)
        )
    }
}

/// What recovery found and did, besides the value: for the node to report (stderr, counters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The snapshot's generation.
    pub generation: u64,
    /// Write-ahead records replayed on top of the snapshot.
    pub records: u64,
    /// The torn tail cut from the write-ahead file, if any.
    pub torn_tail: Option<TornTail>,
    /// Leftovers of interrupted writes that were deleted (`snapshot.tmp`, `wal.{G-1}`, ...).
    pub removed: Vec<PathBuf>,
}

/// A node's durable store in its own (locked) data directory.
pub struct DiskStore<S: Durable> {
    data: DataDir,
    fsync: FsyncPolicy,
    /// The value as of the last commit (what recovery would return).
    committed: Option<S>,
    /// The latest value staged in this batch.
    staged: Option<S>,
    generation: u64,
    /// Shared with the node's disk thread, which syncs it ([`Written::sync`]).
    wal: Option<Arc<File>>,
    wal_bytes: u64,
    /// The write-ahead file's length: zeros written ahead of `wal_bytes` (see [`WAL_CHUNK_BYTES`]).
    wal_prepared: u64,
    snapshot_bytes: u64,
    buf: Vec<u8>,
}

/// The snapshot file's header, followed by the postcard-encoded `Option` of the value.
#[derive(Serialize, Deserialize)]
struct SnapshotHeader {
    version: u8,
    generation: u64,
    crc: u32,
    len: u64,
}

impl<S: Durable> DiskStore<S> {
    /// Recovers the value stored in `data` (`None`: nothing was committed yet) under the rules
    /// of this module: a torn tail is cut and reported in the [`Recovery`]; any other damage is a
    /// [`RecoveryError`] and nothing is changed. The store owns `data` (and so its lock) from
    /// here on: dropping the store unlocks the directory.
    pub fn recover(
        data: DataDir,
        fsync: FsyncPolicy,
    ) -> Result<(Self, Option<S>, Recovery), RecoveryError> {
        let dir = data.path().to_path_buf();
        let listing = list(&dir)?;
        let layout = check_layout(&dir, &listing)?;
        let snap_path = dir.join(SNAPSHOT_FILE);
        let mut value: Option<S> = match postcard::take_from_bytes::<Option<S>>(&layout.body) {
            Ok((v, [])) => v,
            Ok((_, rest)) => {
                return Err(RecoveryError::damaged(
                    &dir,
                    &snap_path,
                    None,
                    format!(
                        "the snapshot passes its CRC but has {} bytes after this protocol's \
                         storage: written by another protocol or version",
                        thousands(rest.len() as u64)
                    ),
                ))
            }
            Err(e) => {
                return Err(RecoveryError::damaged(
                    &dir,
                    &snap_path,
                    None,
                    format!(
                        "the snapshot passes its CRC but does not decode as this protocol's \
                         storage ({e}): written by another protocol or version"
                    ),
                ))
            }
        };
        let wal_path = layout.wal_path.clone();
        let bytes = read(&dir, &wal_path)?;
        let scan = scan_wal(&dir, &wal_path, &bytes, |_, body| {
            let entry = match postcard::take_from_bytes::<S::Entry>(body) {
                Ok((e, [])) => e,
                Ok((_, rest)) => {
                    return Err(format!("{} bytes after this protocol's entry", rest.len()))
                }
                Err(e) => return Err(format!("not this protocol's entry ({e})")),
            };
            match value.as_mut() {
                Some(v) => {
                    v.apply(entry);
                    Ok(())
                }
                None => Err("the snapshot holds no value yet, so no record may follow it".into()),
            }
        })?;

        // Every check passed: only now change the directory.
        let mut wal_prepared = bytes.len() as u64;
        if let Some(torn) = &scan.torn {
            let f = OpenOptions::new()
                .write(true)
                .open(&wal_path)
                .map_err(|e| RecoveryError::io(&dir, &wal_path, "open to cut its torn tail", &e))?;
            f.set_len(torn.offset)
                .map_err(|e| RecoveryError::io(&dir, &wal_path, "cut its torn tail", &e))?;
            if fsync == FsyncPolicy::Always {
                f.sync_all()
                    .map_err(|e| RecoveryError::io(&dir, &wal_path, "fsync", &e))?;
            }
            wal_prepared = torn.offset;
        }
        for p in &layout.leftovers {
            match fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(RecoveryError::io(&dir, p, "delete this leftover", &e)),
            }
        }
        if !layout.leftovers.is_empty() && fsync == FsyncPolicy::Always {
            sync_dir(&dir).map_err(|e| RecoveryError::io(&dir, &dir, "fsync", &e))?;
        }
        let recovery = Recovery {
            generation: layout.generation,
            records: scan.records,
            torn_tail: scan.torn,
            removed: layout.leftovers,
        };
        let store = DiskStore {
            data,
            fsync,
            committed: value.clone(),
            staged: None,
            generation: layout.generation,
            wal: None,
            wal_bytes: scan.end,
            wal_prepared,
            snapshot_bytes: layout.snapshot_bytes,
            buf: Vec::new(),
        };
        Ok((store, value, recovery))
    }

    /// The data directory this store lives in (and holds locked).
    pub fn data_dir(&self) -> &DataDir {
        &self.data
    }

    fn dir(&self) -> &Path {
        self.data.path()
    }

    fn wal_path(&self, generation: u64) -> PathBuf {
        self.dir().join(format!("{WAL_PREFIX}{generation}"))
    }

    /// Notes a value the actor saved; it reaches the disk at the next [`commit`](Self::commit).
    pub fn stage(&mut self, value: S) {
        self.staged = Some(value);
    }

    /// Whether a staged value awaits a commit.
    pub fn dirty(&self) -> bool {
        self.staged.is_some()
    }

    /// Writes the staged value (entries appended, or a snapshot), then one fsync.
    pub fn commit(&mut self) -> io::Result<CommitStats> {
        let Written { mut stats, sync } = self.write()?;
        if let Some(wal) = sync {
            wal.sync_data()
                .map_err(|e| with_path(&self.wal_path(self.generation), e))?;
            stats.fsyncs += 1;
        }
        Ok(stats)
    }

    /// Writes the staged value like [`commit`](Self::commit), but leaves the write-ahead
    /// file's fsync to the caller: what it wrote is durable once [`Written::sync`] (when
    /// `Some`) has been synced. A compaction is durable when this returns (its snapshot is
    /// fsynced, and covers every earlier write, synced or not).
    pub fn write(&mut self) -> io::Result<Written> {
        let Some(next) = self.staged.take() else {
            return Ok(Written::default());
        };
        let delta = match &self.committed {
            Some(prev) if self.wal_bytes < COMPACT_WAL_BYTES.max(2 * self.snapshot_bytes) => {
                next.delta(prev)
            }
            _ => None,
        };
        let written = match delta {
            Some(entries) if entries.is_empty() => Written::default(),
            Some(entries) => self.append(&entries)?,
            None => Written {
                stats: self.snapshot(&next)?,
                sync: None,
            },
        };
        self.committed = Some(next);
        Ok(written)
    }

    fn append(&mut self, entries: &[S::Entry]) -> io::Result<Written> {
        self.buf.clear();
        for e in entries {
            let start = self.buf.len();
            self.buf.extend_from_slice(&[0; 8]);
            postcard::to_io(e, &mut self.buf).map_err(io::Error::other)?;
            let body = &self.buf[start + 8..];
            let len = body.len() as u32;
            let crc = crc32fast::hash(body);
            self.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
            self.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        }
        let path = self.wal_path(self.generation);
        if self.wal.is_none() {
            // It exists: created (and its directory entry fsynced) with its snapshot.
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| with_path(&path, e))?;
            self.wal = Some(Arc::new(f));
        }
        let wal = self.wal.as_ref().expect("opened above");
        let end = self.wal_bytes + self.buf.len() as u64;
        if end > self.wal_prepared {
            // Write zeros ahead, so that the fsyncs of the next commits flush data only: an
            // append that grows the file also makes fdatasync commit the inode's new size (on
            // this machine 170 us against 105 us per fsync).
            let target = end.max(self.wal_prepared + WAL_CHUNK_BYTES);
            let zeros = [0u8; 64 << 10];
            let mut at = self.wal_prepared;
            while at < target {
                let n = (target - at).min(zeros.len() as u64) as usize;
                wal.write_all_at(&zeros[..n], at)
                    .map_err(|e| with_path(&path, e))?;
                at += n as u64;
            }
            self.wal_prepared = target;
        }
        wal.write_all_at(&self.buf, self.wal_bytes)
            .map_err(|e| with_path(&path, e))?;
        self.wal_bytes += self.buf.len() as u64;
        Ok(Written {
            stats: CommitStats {
                bytes: self.buf.len() as u64,
                fsyncs: 0,
                snapshots: 0,
            },
            sync: (self.fsync == FsyncPolicy::Always).then(|| Arc::clone(wal)),
        })
    }

    /// A compaction: the four steps of the module's doc, in that order.
    fn snapshot(&mut self, value: &S) -> io::Result<CommitStats> {
        let generation = self.generation + 1;
        let body = postcard::to_stdvec(&Some(value)).map_err(io::Error::other)?;
        let always = self.fsync == FsyncPolicy::Always;
        let dir = self.dir().to_path_buf();
        let fsyncs = write_snapshot(&dir, generation, &body, always)?;
        // Step 4: the new snapshot covers everything; the old generation's entries are obsolete.
        self.wal = None;
        let old = self.wal_path(self.generation);
        match fs::remove_file(&old) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(with_path(&old, e)),
        }
        self.generation = generation;
        self.wal_bytes = 0;
        self.wal_prepared = 0;
        let bytes = snapshot_len(&body);
        self.snapshot_bytes = bytes;
        Ok(CommitStats {
            bytes,
            fsyncs,
            snapshots: 1,
        })
    }
}

/// The length of a snapshot file with this body.
fn snapshot_len(body: &[u8]) -> u64 {
    encode_snapshot(0, body).len() as u64
}

fn encode_snapshot(generation: u64, body: &[u8]) -> Vec<u8> {
    let header = SnapshotHeader {
        version: FORMAT_VERSION,
        generation,
        crc: crc32fast::hash(body),
        len: body.len() as u64,
    };
    let mut bytes = SNAPSHOT_MAGIC.to_vec();
    postcard::to_io(&header, &mut bytes).expect("a header encodes");
    bytes.extend_from_slice(body);
    bytes
}

/// Steps 1-3 of a compaction to `generation` (its snapshot body given): returns the fsyncs done.
fn write_snapshot(dir: &Path, generation: u64, body: &[u8], fsync: bool) -> io::Result<u64> {
    let bytes = encode_snapshot(generation, body);
    let tmp = dir.join(SNAPSHOT_TMP_FILE);
    let mut fsyncs = 0;
    {
        let mut f = File::create(&tmp).map_err(|e| with_path(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| with_path(&tmp, e))?;
        if fsync {
            f.sync_all().map_err(|e| with_path(&tmp, e))?;
            fsyncs += 1;
        }
    }
    let wal = dir.join(format!("{WAL_PREFIX}{generation}"));
    File::create(&wal).map_err(|e| with_path(&wal, e))?;
    if fsync {
        sync_dir(dir)?;
        fsyncs += 1;
    }
    let snap = dir.join(SNAPSHOT_FILE);
    fs::rename(&tmp, &snap).map_err(|e| with_path(&snap, e))?;
    if fsync {
        sync_dir(dir)?;
        fsyncs += 1;
    }
    Ok(fsyncs)
}

/// Initialises a fresh data directory: an empty snapshot of generation 0 and `wal.0`, fsynced.
pub(crate) fn create_empty(dir: &Path) -> io::Result<()> {
    let none: Option<()> = None;
    let body = postcard::to_stdvec(&none).map_err(io::Error::other)?;
    write_snapshot(dir, 0, &body, true).map(|_| ())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| with_path(dir, e))
}

/// The error, its message prefixed with the path it concerns.
pub(crate) fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn read(dir: &Path, path: &Path) -> Result<Vec<u8>, RecoveryError> {
    fs::read(path).map_err(|e| RecoveryError::io(dir, path, "read", &e))
}

// ----- The directory's files ------------------------------------------------------------------

/// The files of a data directory, by role. Anything else in it is refused.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub lock: bool,
    pub meta: bool,
    pub meta_tmp: bool,
    pub snapshot: bool,
    pub snapshot_tmp: bool,
    pub wals: BTreeSet<u64>,
}

impl Listing {
    /// The data files present, by name, for messages.
    pub fn data_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.snapshot {
            out.push(SNAPSHOT_FILE.to_string());
        }
        if self.snapshot_tmp {
            out.push(SNAPSHOT_TMP_FILE.to_string());
        }
        out.extend(self.wals.iter().map(|g| format!("{WAL_PREFIX}{g}")));
        out
    }
}

/// Lists `dir`, refusing a file a data directory does not hold.
pub(crate) fn list(dir: &Path) -> Result<Listing, RecoveryError> {
    let mut listing = Listing::default();
    let entries = fs::read_dir(dir).map_err(|e| RecoveryError::io(dir, dir, "list", &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| RecoveryError::io(dir, dir, "list", &e))?;
        let path = entry.path();
        let name = entry.file_name();
        let is_file = entry
            .file_type()
            .map_err(|e| RecoveryError::io(dir, &path, "stat", &e))?
            .is_file();
        let unknown = || {
            RecoveryError::damaged(
                dir,
                &path,
                None,
                format!(
                    "{} (a data directory holds only the files {LOCK_FILE}, {META_FILE}, \
                     {SNAPSHOT_FILE}, {WAL_PREFIX}N, and {SNAPSHOT_TMP_FILE} or {META_TMP_FILE} \
                     after a crash): not written by Synod, so this may not be a data directory",
                    if is_file {
                        "unknown file"
                    } else {
                        "not a regular file"
                    }
                ),
            )
        };
        let Some(name) = name.to_str() else {
            return Err(unknown());
        };
        if !is_file {
            return Err(unknown());
        }
        match name {
            LOCK_FILE => listing.lock = true,
            META_FILE => listing.meta = true,
            META_TMP_FILE => listing.meta_tmp = true,
            SNAPSHOT_FILE => listing.snapshot = true,
            SNAPSHOT_TMP_FILE => listing.snapshot_tmp = true,
            _ => match name.strip_prefix(WAL_PREFIX).and_then(parse_generation) {
                Some(g) => {
                    listing.wals.insert(g);
                }
                None => return Err(unknown()),
            },
        }
    }
    Ok(listing)
}

/// A generation as the writer spells it (decimal, no sign, no leading zero).
fn parse_generation(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// Whether the directory holds nothing but what an interrupted creation leaves (no `meta.json`,
/// at most an empty generation-0 snapshot, an all-zero `wal.0`, temporary files): then it is
/// fresh, and creating it again loses nothing.
pub(crate) fn is_pristine(dir: &Path, listing: &Listing) -> Result<bool, RecoveryError> {
    if listing.meta || listing.wals.iter().any(|&g| g != 0) {
        return Ok(false);
    }
    if listing.wals.contains(&0) && !all_zero(&read(dir, &dir.join(format!("{WAL_PREFIX}0")))?) {
        return Ok(false);
    }
    if listing.snapshot {
        let path = dir.join(SNAPSHOT_FILE);
        match parse_snapshot(dir, &path, &read(dir, &path)?) {
            Ok((0, body)) if !holds_value(dir, &path, body)? => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

// ----- The snapshot ---------------------------------------------------------------------------

/// Checks a snapshot's framing; returns its generation and body.
fn parse_snapshot<'a>(
    dir: &Path,
    path: &Path,
    bytes: &'a [u8],
) -> Result<(u64, &'a [u8]), RecoveryError> {
    let bad = |offset: u64, what: String| RecoveryError::damaged(dir, path, Some(offset), what);
    let Some(rest) = bytes.strip_prefix(SNAPSHOT_MAGIC) else {
        return Err(bad(
            0,
            format!(
                "not a Synod snapshot: bad magic number at byte 0 ({} bytes, starting {:02x?})",
                thousands(bytes.len() as u64),
                &bytes[..bytes.len().min(4)]
            ),
        ));
    };
    if rest.first().is_some_and(|&v| v != FORMAT_VERSION) {
        return Err(bad(
            4,
            format!(
                "snapshot format version {} at byte 4 (this build reads version {FORMAT_VERSION}): \
                 written by another version of Synod",
                rest[0]
            ),
        ));
    }
    let (header, body): (SnapshotHeader, &[u8]) = postcard::take_from_bytes(rest)
        .map_err(|e| bad(4, format!("bad snapshot header at byte 4 ({e})")))?;
    let body_at = (bytes.len() - body.len()) as u64;
    if body.len() as u64 != header.len {
        return Err(bad(
            body_at,
            format!(
                "the snapshot's header says {} bytes of value from byte {}, but the file holds {}",
                thousands(header.len),
                thousands(body_at),
                thousands(body.len() as u64)
            ),
        ));
    }
    if crc32fast::hash(body) != header.crc {
        return Err(bad(
            body_at,
            format!(
                "CRC mismatch in the snapshot's {} bytes of value from byte {}",
                thousands(header.len),
                thousands(body_at)
            ),
        ));
    }
    Ok((header.generation, body))
}

/// Whether a snapshot body holds a value (`Some`) or not yet (`None`), without its type.
fn holds_value(dir: &Path, path: &Path, body: &[u8]) -> Result<bool, RecoveryError> {
    match body {
        [0] => Ok(false),
        [1, ..] => Ok(true),
        _ => Err(RecoveryError::damaged(
            dir,
            path,
            None,
            "the snapshot passes its CRC but its value is neither empty nor present: written by \
             another version of Synod",
        )),
    }
}

/// A directory whose files are where the rules want them.
struct Layout {
    generation: u64,
    /// The snapshot's body (postcard `Option` of the value).
    body: Vec<u8>,
    snapshot_bytes: u64,
    wal_path: PathBuf,
    /// Leftovers of interrupted writes, to delete once recovery has checked everything.
    leftovers: Vec<PathBuf>,
}

/// Applies the rules on which files may exist (module doc), reading the snapshot.
fn check_layout(dir: &Path, listing: &Listing) -> Result<Layout, RecoveryError> {
    let snap_path = dir.join(SNAPSHOT_FILE);
    if !listing.snapshot {
        let files = listing.data_files();
        return Err(RecoveryError::damaged(
            dir,
            &snap_path,
            None,
            format!(
                "missing, although the directory was initialised ({META_FILE}{}{}): it was \
                 deleted or lost, and starting empty would forget what this node stored and \
                 promised",
                if files.is_empty() { "" } else { ", " },
                files.join(", ")
            ),
        ));
    }
    let bytes = read(dir, &snap_path)?;
    let (generation, body) = parse_snapshot(dir, &snap_path, &bytes)?;
    holds_value(dir, &snap_path, body)?;
    let wal_name = |g: u64| format!("{WAL_PREFIX}{g}");
    let wal_path = dir.join(wal_name(generation));
    if !listing.wals.contains(&generation) {
        return Err(RecoveryError::damaged(
            dir,
            &wal_path,
            None,
            format!(
                "missing: the snapshot is of generation {generation}, and a snapshot is always \
                 written with its write-ahead file, so {} was deleted or lost (with whatever \
                 was committed after the snapshot)",
                wal_name(generation)
            ),
        ));
    }
    let mut leftovers = Vec::new();
    for &g in &listing.wals {
        let path = dir.join(wal_name(g));
        if g == generation {
            continue;
        }
        if generation.checked_sub(1) == Some(g) {
            leftovers.push(path); // a compaction crashed before deleting the old generation
            continue;
        }
        if generation.checked_add(1) == Some(g) {
            let unborn = all_zero(&read(dir, &path)?) && listing.snapshot_tmp && {
                let tmp = dir.join(SNAPSHOT_TMP_FILE);
                let tmp_bytes = read(dir, &tmp)?;
                matches!(parse_snapshot(dir, &tmp, &tmp_bytes), Ok((t, _)) if t == g)
            };
            if unborn {
                leftovers.push(path); // a compaction crashed before its rename
                continue;
            }
        }
        return Err(RecoveryError::damaged(
            dir,
            &path,
            None,
            format!(
                "a write-ahead file of generation {g}, but the snapshot is of generation \
                 {generation}: an interrupted compaction leaves only {} (the old generation) \
                 or an all-zero {} with a whole {SNAPSHOT_TMP_FILE} of that generation, so this \
                 file belongs to another state of this directory (or another directory)",
                if generation == 0 {
                    "nothing older".to_string()
                } else {
                    wal_name(generation - 1)
                },
                wal_name(generation + 1)
            ),
        ));
    }
    if listing.snapshot_tmp {
        leftovers.push(dir.join(SNAPSHOT_TMP_FILE));
    }
    if listing.meta_tmp {
        leftovers.push(dir.join(META_TMP_FILE));
    }
    Ok(Layout {
        generation,
        body: body.to_vec(),
        snapshot_bytes: bytes.len() as u64,
        wal_path,
        leftovers,
    })
}

// ----- The write-ahead file -------------------------------------------------------------------

/// What a write-ahead file holds.
struct WalScan {
    /// Valid records.
    records: u64,
    /// Where the valid records end.
    end: u64,
    torn: Option<TornTail>,
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Walks the records of a write-ahead file, handing each body to `on_record` (which may refuse
/// it), and classifies what ends them: zeros or the file's end (clean), a torn tail, or damage.
fn scan_wal(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    mut on_record: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<WalScan, RecoveryError> {
    let n = bytes.len();
    let mut at = 0usize;
    let mut records = 0u64;
    // The first bad record: where its bytes end (as far as its length can be trusted) and why.
    let bad: Option<(usize, String)> = loop {
        if n - at < 8 {
            if all_zero(&bytes[at..]) {
                break None;
            }
            break Some((n, format!("an incomplete header of {} bytes", n - at)));
        }
        let len = u32_at(bytes, at);
        let crc = u32_at(bytes, at + 4);
        if len == 0 {
            // The zeros written ahead of the records (no entry encodes to nothing).
            if all_zero(&bytes[at..]) {
                break None;
            }
            break Some((at + 8, "a zero length".into()));
        }
        if len > MAX_RECORD_BYTES || len as usize > n - at - 8 {
            break Some((
                n,
                format!(
                    "its length, {} bytes, runs past the end of the file",
                    thousands(len.into())
                ),
            ));
        }
        let body = &bytes[at + 8..at + 8 + len as usize];
        if crc32fast::hash(body) != crc {
            break Some((at + 8 + len as usize, "CRC mismatch".into()));
        }
        if let Err(e) = on_record(at as u64, body) {
            return Err(RecoveryError::damaged(
                dir,
                path,
                Some(at as u64),
                format!(
                    "record {} at byte {} passes its CRC but does not decode: {e}; written by \
                     another protocol or version",
                    thousands(records + 1),
                    thousands(at as u64)
                ),
            ));
        }
        records += 1;
        at += 8 + len as usize;
    };
    let torn = match bad {
        None => None,
        Some((extent, why)) => Some(torn_tail(dir, path, bytes, at, extent, why)?),
    };
    Ok(WalScan {
        records,
        end: at as u64,
        torn,
    })
}

/// Decides whether the bad record at `at` (whose bytes end at `extent`) is a torn tail, or damage.
fn torn_tail(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    at: usize,
    extent: usize,
    why: String,
) -> Result<TornTail, RecoveryError> {
    let bad = |what: String| RecoveryError::damaged(dir, path, Some(at as u64), what);
    if let Some(last) = bytes[extent..].iter().rposition(|&b| b != 0) {
        return Err(bad(format!(
            "bad record at byte {} ({why}) followed by {} bytes of data (up to byte {}): not a \
             torn tail, which only zeros or the file's end may follow",
            thousands(at as u64),
            thousands(last as u64 + 1),
            thousands((extent + last + 1) as u64)
        )));
    }
    // Only zeros after it; yet its length may be wrong and hide whole records: look for one.
    let mut budget = RESYNC_BUDGET_BYTES;
    for y in at + 1..bytes.len().saturating_sub(8) {
        let len = u32_at(bytes, y);
        if len == 0 || len > MAX_RECORD_BYTES || len as usize > bytes.len() - y - 8 {
            continue;
        }
        if budget < u64::from(len) {
            return Err(bad(format!(
                "bad record at byte {} ({why}), and too much data after it to tell whether valid \
                 records follow",
                thousands(at as u64)
            )));
        }
        budget -= u64::from(len);
        if crc32fast::hash(&bytes[y + 8..y + 8 + len as usize]) == u32_at(bytes, y + 4) {
            return Err(bad(format!(
                "bad record at byte {} ({why}) followed by a valid record at byte {}: not a \
                 torn tail",
                thousands(at as u64),
                thousands(y as u64)
            )));
        }
    }
    let data = bytes[at..]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    Ok(TornTail {
        file: path.to_path_buf(),
        offset: at as u64,
        bytes: data as u64,
        what: why,
    })
}

// ----- Checking without the storage type ------------------------------------------------------

/// What a structural check of a data directory's storage found (for `synod check-data`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    pub generation: u64,
    pub snapshot_bytes: u64,
    /// Whether the snapshot holds a value (`false`: nothing was committed before it).
    pub holds_value: bool,
    pub wal: PathBuf,
    pub wal_records: u64,
    /// Bytes of valid records.
    pub wal_record_bytes: u64,
    /// The write-ahead file's length (records, then zeros written ahead).
    pub wal_file_bytes: u64,
    /// A torn tail recovery would cut.
    pub torn_tail: Option<TornTail>,
    /// Leftovers recovery would delete.
    pub leftovers: Vec<PathBuf>,
}

/// Checks the storage of an initialised directory without changing it and without its type:
/// files, snapshot framing and CRC, record framing and CRCs, generations, the tail.
pub(crate) fn inspect(dir: &Path, listing: &Listing) -> Result<Inspection, RecoveryError> {
    let layout = check_layout(dir, listing)?;
    let holds = holds_value(dir, &dir.join(SNAPSHOT_FILE), &layout.body)?;
    let bytes = read(dir, &layout.wal_path)?;
    let scan = scan_wal(dir, &layout.wal_path, &bytes, |_, _| {
        if holds {
            Ok(())
        } else {
            Err("the snapshot holds no value yet, so no record may follow it".into())
        }
    })?;
    Ok(Inspection {
        generation: layout.generation,
        snapshot_bytes: layout.snapshot_bytes,
        holds_value: holds,
        wal: layout.wal_path,
        wal_records: scan.records,
        wal_record_bytes: scan.end,
        wal_file_bytes: bytes.len() as u64,
        torn_tail: scan.torn,
        leftovers: layout.leftovers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::datadir::Meta;
    use stateright::actor::Id;
    use std::sync::Arc;
    use synod_models::kv::KeyMap;
    use synod_models::single_copy_kv::{Session, SingleCopyStorage};

    type Map = Arc<KeyMap<u64>>;

    fn map(pairs: &[(u64, u64)]) -> Map {
        Arc::new(pairs.iter().copied().collect())
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "synod-storage-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn open<S: Durable>(
        dir: &Path,
        fsync: FsyncPolicy,
    ) -> Result<(DiskStore<S>, Option<S>, Recovery), RecoveryError> {
        let meta = Meta::new("test", 0, vec!["127.0.0.1:7000".parse().unwrap()]);
        let data = DataDir::open(dir, &meta).map_err(|e| match e {
            crate::net::datadir::DataDirError::Contents(e) => e,
            e => panic!("{e}"),
        })?;
        DiskStore::recover(data, fsync)
    }

    fn commit(store: &mut DiskStore<Map>, pairs: &[(u64, u64)]) -> CommitStats {
        store.stage(map(pairs));
        store.commit().unwrap()
    }

    #[test]
    fn commits_survive_reopen_and_compaction() {
        let dir = tempdir("reopen");
        let (mut store, init, rec) = open::<Map>(&dir, FsyncPolicy::Always).unwrap();
        assert!(init.is_none());
        assert_eq!(rec, Recovery::default());
        let mut want = map(&[]);
        for i in 0..50u64 {
            let mut m = (*want).clone();
            *m.entry_or_default(i % 7) = i;
            want = Arc::new(m);
            store.stage(want.clone());
            let stats = store.commit().unwrap();
            assert_eq!(stats.snapshots, u64::from(i == 0), "step {i}");
        }
        drop(store);
        let (_, got, rec) = open::<Map>(&dir, FsyncPolicy::Always).unwrap();
        assert_eq!(got, Some(want));
        assert_eq!((rec.generation, rec.records, rec.torn_tail), (1, 49, None));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_record_is_cut_reported_and_later_commits_follow_the_last_whole_one() {
        let dir = tempdir("torn");
        let (mut store, _, _) = open::<Map>(&dir, FsyncPolicy::Never).unwrap();
        commit(&mut store, &[(1, 1)]);
        commit(&mut store, &[(1, 2)]);
        commit(&mut store, &[(1, 3)]);
        drop(store);
        let wal = dir.join("wal.1");
        let bytes = fs::read(&wal).unwrap();
        assert!(bytes.len() as u64 >= WAL_CHUNK_BYTES, "zeros written ahead");
        let mut offsets = Vec::new();
        let scan = scan_wal(&dir, &wal, &bytes, |at, _| {
            offsets.push(at);
            Ok(())
        })
        .unwrap();
        assert_eq!((scan.records, scan.torn), (2, None));
        // Tear the last record: its last byte never reached the disk (zeros follow).
        let last = offsets[1];
        let mut torn = bytes.clone();
        torn[scan.end as usize - 1] = 0;
        fs::write(&wal, &torn).unwrap();
        let (mut store, got, rec) = open::<Map>(&dir, FsyncPolicy::Never).unwrap();
        assert_eq!(got, Some(map(&[(1, 2)])));
        let cut = rec.torn_tail.expect("reported");
        assert_eq!((cut.offset, cut.what.as_str()), (last, "CRC mismatch"));
        assert!(cut.bytes > 8 && cut.bytes < scan.end - last, "{cut}");
        assert_eq!(fs::metadata(&wal).unwrap().len(), last, "cut there");
        commit(&mut store, &[(1, 4)]);
        drop(store);
        let (_, got, rec) = open::<Map>(&dir, FsyncPolicy::Never).unwrap();
        assert_eq!(got, Some(map(&[(1, 4)])));
        assert_eq!(rec.torn_tail, None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn single_copy_state_is_logged_incrementally_and_recovered() {
        use synod_models::single_copy_kv::{Outcome, SingleCopyState};
        let dir = tempdir("single-copy");
        let (mut store, _, _) = open::<SingleCopyStorage>(&dir, FsyncPolicy::Never).unwrap();
        let mut state = SingleCopyState::default();
        let mut snapshots = 0;
        for i in 1..=40u64 {
            state.data.insert(i % 5, i);
            let session = Session {
                client: Id::from((i % 3) as usize),
                msg_id: i,
                reply: Outcome::WriteOk,
            };
            // A bound of 2 sessions for 3 clients: evictions force snapshots now and then.
            state.sessions.record(session, 2);
            store.stage(Arc::new(state.clone()));
            snapshots += store.commit().unwrap().snapshots;
        }
        assert!(snapshots > 1 && snapshots < 40, "{snapshots} snapshots");
        drop(store);
        let (_, got, rec) = open::<SingleCopyStorage>(&dir, FsyncPolicy::Never).unwrap();
        assert_eq!(got.as_deref(), Some(&state));
        assert_eq!(rec.generation, snapshots);
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("wal."))
            .collect();
        assert_eq!(
            names,
            [format!("wal.{snapshots}")],
            "old generations deleted"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_snapshot_is_a_clear_error_and_is_kept() {
        let dir = tempdir("corrupt");
        drop(open::<Map>(&dir, FsyncPolicy::Never).unwrap());
        fs::write(dir.join("snapshot"), b"SYNSgarbage").unwrap();
        let err = open::<Map>(&dir, FsyncPolicy::Never)
            .err()
            .expect("corrupt snapshot");
        assert_eq!(err.file, dir.join("snapshot"));
        assert!(err.to_string().contains("nothing was changed"), "{err}");
        assert_eq!(fs::read(dir.join("snapshot")).unwrap(), b"SYNSgarbage");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn generations_are_spelt_one_way() {
        assert_eq!(parse_generation("0"), Some(0));
        assert_eq!(parse_generation("17"), Some(17));
        for bad in ["", "01", "+1", "-1", "1a", "x", "99999999999999999999999"] {
            assert_eq!(parse_generation(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_record_whose_length_hides_later_records_is_damage() {
        let dir = Path::new("/d");
        let path = dir.join("wal.1");
        let record = |body: &[u8]| {
            let mut r = (body.len() as u32).to_le_bytes().to_vec();
            r.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
            r.extend_from_slice(body);
            r
        };
        let mut bytes = record(b"abc");
        let second = bytes.len();
        bytes.extend(record(b"defg"));
        bytes.extend(record(b"hi"));
        bytes.extend(vec![0; 64]);
        // The second record's length grows to swallow the third, still inside the file.
        bytes[second] = 30;
        let err = scan_wal(dir, &path, &bytes, |_, _| Ok(())).err().unwrap();
        assert_eq!(err.offset, Some(second as u64));
        assert!(
            err.what.contains("followed by a valid record at byte 23"),
            "{err}"
        );
        // A length past the end of the file, with a valid record after: damage too.
        bytes[second + 3] = 0x7f;
        let err = scan_wal(dir, &path, &bytes, |_, _| Ok(())).err().unwrap();
        assert!(err.what.contains("runs past the end"), "{err}");
        assert!(err.what.contains("valid record at byte 23"), "{err}");
        // The last record torn mid-length, nothing after: a torn tail.
        let mut tail = record(b"abc");
        tail.extend(&record(b"defg")[..2]);
        let scan = scan_wal(dir, &path, &tail, |_, _| Ok(())).unwrap();
        assert_eq!(scan.records, 1);
        let torn = scan.torn.unwrap();
        assert_eq!((torn.offset, torn.bytes), (11, 1));
        assert!(torn.what.contains("incomplete header"), "{}", torn.what);
    }
}
