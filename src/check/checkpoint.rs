//! Checkpoints of Synod's engine (`check --engine synod --checkpoint DIR`, `--resume DIR`): a
//! long search that is interrupted (Ctrl-C, `--timeout`, `--max-memory`, `kill -9`, a reboot)
//! goes on from its last level boundary instead of from the start.
//!
//! **What a checkpoint is.** At a level boundary the engine's state is: the visited set, the
//! frontier (the next level's states), the parent records, the counters and the discoveries.
//! The parent records are already files, one per depth, and together they hold every visited
//! fingerprint (a record's first 8 bytes), so the visited set is not written again: a resume
//! rebuilds it from them. The frontier's units go to the level's spill file (the units still in
//! memory are written there too). `checkpoint.json` then names the files with their lengths and
//! CRC-32s, the frontier's units with theirs, and the counters; it is written to a temporary
//! file, synced and renamed, after the data it names is synced. A crash at any moment leaves
//! the previous checkpoint whole: files of later depths are ignored (and removed) on resume.
//!
//! **When.** At the first level boundary once `--checkpoint-every` seconds (default 60) have
//! passed since the last one, and at the depth bound (`--max-depth`: a resume may go deeper). A
//! search that ends (complete, or a property failed) removes its files; one that stopped early
//! keeps them and says how to resume.
//!
//! **Refusing.** A checkpoint is resumed only by the same check: protocol and every parameter
//! (symmetry, network, bug included) must match, or the command is refused naming what differs.
//! A file that is missing, short or fails its CRC stops the resume with the file and offset;
//! nothing is ever resumed from a damaged checkpoint, and nothing is deleted.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The checkpoint's own file in its directory.
pub const META_FILE: &str = "checkpoint.json";
/// The lock a running search holds on its directory.
pub const LOCK_FILE: &str = "lock";
const KIND: &str = "synod-checkpoint";
const VERSION: u32 = 1;

/// The default `--checkpoint-every`.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(60);

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct Spec {
    pub dir: PathBuf,
    /// Go on from the checkpoint in `dir` (else start one there).
    pub resume: bool,
    pub every: Duration,
    /// What the checkpoint must have been made by: protocol and parameters.
    pub identity: serde_json::Value,
}

/// A file the checkpoint names: its length and CRC-32 when the checkpoint was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub file: String,
    pub bytes: u64,
    pub crc32: u32,
}

/// A spilled unit of the frontier: where it is in the frontier file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitAt {
    pub offset: u64,
    pub bytes: u64,
    pub states: u64,
    pub crc32: u32,
}

/// `checkpoint.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    pub kind: String,
    pub version: u32,
    pub identity: serde_json::Value,
    /// The depth of the frontier's states (1: the initial states).
    pub depth: usize,
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    pub spilled_states: u64,
    pub spilled_bytes: u64,
    /// Property name to path (an initial state's index, then action indices).
    pub discoveries: BTreeMap<String, Vec<usize>>,
    /// The parent records of depths 1 to `depth`.
    pub parents: Vec<FileSum>,
    /// The frontier's file, and its units in order.
    pub frontier: String,
    pub units: Vec<UnitAt>,
}

impl Meta {
    pub fn new(identity: serde_json::Value) -> Meta {
        Meta {
            kind: KIND.into(),
            version: VERSION,
            identity,
            depth: 0,
            states: 0,
            unique_states: 0,
            max_depth: 0,
            spilled_states: 0,
            spilled_bytes: 0,
            discoveries: BTreeMap::new(),
            parents: Vec::new(),
            frontier: String::new(),
            units: Vec::new(),
        }
    }
}

/// What a checkpoint is of: the protocol and every parameter.
pub fn identity(
    protocol: &str,
    parameters: &BTreeMap<String, serde_json::Value>,
) -> serde_json::Value {
    serde_json::json!({ "protocol": protocol, "parameters": parameters })
}

/// Writes `meta` into `dir` atomically: a temporary file, synced, renamed, the directory synced.
pub fn write(dir: &Path, meta: &Meta) -> io::Result<()> {
    let tmp = dir.join(format!("{META_FILE}.tmp"));
    let path = dir.join(META_FILE);
    let text = serde_json::to_vec_pretty(meta).map_err(io::Error::other)?;
    let mut f = File::create(&tmp).map_err(|e| with_path(e, "cannot write", &tmp))?;
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .map_err(|e| with_path(e, "cannot write", &tmp))?;
    fs::rename(&tmp, &path).map_err(|e| with_path(e, "cannot write", &path))?;
    sync_dir(dir)
}

/// Syncs a directory, so that files created or renamed in it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| with_path(e, "cannot sync", dir))
}

/// Checks that `--checkpoint DIR` can start a checkpoint there (the search creates it if
/// missing): refuses a file, or a directory that already holds a checkpoint.
pub fn prepare_new(dir: &Path) -> Result<(), String> {
    if dir.join(META_FILE).exists() {
        return Err(format!(
            "--checkpoint {}: the directory holds a checkpoint already ({META_FILE}); go on \
             from it with --resume {0}, or remove it",
            dir.display()
        ));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(format!("--checkpoint {}: not a directory", dir.display()));
    }
    Ok(())
}

/// Reads the checkpoint in `dir` for `--resume`, refusing one another check made or one whose
/// files are missing, short or damaged (every byte it names is checked against its CRC-32).
pub fn open(dir: &Path, identity: &serde_json::Value) -> Result<Meta, String> {
    let meta = load(dir, identity)?;
    verify(dir, &meta)?;
    Ok(meta)
}

/// Reads `checkpoint.json` and checks what it says (its files' bytes are not read).
pub fn load(dir: &Path, identity: &serde_json::Value) -> Result<Meta, String> {
    let path = dir.join(META_FILE);
    let text = fs::read(&path).map_err(|e| {
        format!(
            "--resume {}: cannot read {}: {e}",
            dir.display(),
            path.display()
        )
    })?;
    let meta: Meta = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "--resume {}: {} is damaged: {e}",
            dir.display(),
            path.display()
        )
    })?;
    if meta.kind != KIND || meta.version != VERSION {
        return Err(format!(
            "--resume {}: {} is a {} version {}, not a {KIND} version {VERSION}",
            dir.display(),
            path.display(),
            meta.kind,
            meta.version
        ));
    }
    if &meta.identity != identity {
        return Err(format!(
            "--resume {}: the checkpoint is of another check: {}; this command is {}",
            dir.display(),
            describe(&meta.identity),
            describe(identity)
        ));
    }
    if meta.parents.len() != meta.depth || meta.depth == 0 {
        return Err(format!(
            "--resume {}: {} names {} parent files for depth {}",
            dir.display(),
            path.display(),
            meta.parents.len(),
            meta.depth
        ));
    }
    let mut files: Vec<(&str, u64)> = meta
        .parents
        .iter()
        .map(|p| (p.file.as_str(), p.bytes))
        .collect();
    let frontier_end = meta.units.iter().map(|u| u.offset + u.bytes).max();
    if let Some(end) = frontier_end {
        files.push((meta.frontier.as_str(), end));
    }
    for (file, bytes) in files {
        let p = dir.join(file);
        if file.contains('/') || file.contains("..") {
            return Err(format!(
                "--resume {}: {} names a file outside it: {file}",
                dir.display(),
                path.display()
            ));
        }
        let len = fs::metadata(&p)
            .map_err(|e| format!("--resume {}: {}: {e}", dir.display(), p.display()))?
            .len();
        if len < bytes {
            return Err(format!(
                "--resume {}: {} is {len} bytes, the checkpoint needs {bytes}: it was cut short",
                dir.display(),
                p.display()
            ));
        }
    }
    Ok(meta)
}

/// Reads every byte the checkpoint names back against its CRC-32.
fn verify(dir: &Path, meta: &Meta) -> Result<(), String> {
    let damaged = |p: &Path, offset: u64, bytes: u64| {
        format!(
            "--resume {}: {} is damaged: the {bytes} bytes at offset {offset} do not match \
             their CRC-32; nothing was resumed or deleted",
            dir.display(),
            p.display()
        )
    };
    let read_err =
        |p: &Path, e: io::Error| format!("--resume {}: {}: {e}", dir.display(), p.display());
    for sum in &meta.parents {
        let p = dir.join(&sum.file);
        let mut f = File::open(&p).map_err(|e| read_err(&p, e))?;
        let mut crc = crc32fast::Hasher::new();
        let mut left = sum.bytes;
        let mut buf = vec![0u8; 1 << 16];
        while left > 0 {
            let n = (left as usize).min(buf.len());
            io::Read::read_exact(&mut f, &mut buf[..n]).map_err(|e| read_err(&p, e))?;
            crc.update(&buf[..n]);
            left -= n as u64;
        }
        if crc.finalize() != sum.crc32 {
            return Err(damaged(&p, 0, sum.bytes));
        }
    }
    if !meta.units.is_empty() {
        use std::os::unix::fs::FileExt;
        let p = dir.join(&meta.frontier);
        let f = File::open(&p).map_err(|e| read_err(&p, e))?;
        for u in &meta.units {
            let mut buf = vec![0u8; u.bytes as usize];
            f.read_exact_at(&mut buf, u.offset)
                .map_err(|e| read_err(&p, e))?;
            if crc32fast::hash(&buf) != u.crc32 {
                return Err(damaged(&p, u.offset, u.bytes));
            }
        }
    }
    Ok(())
}

/// `paxos (clients=3 symmetry=false ...)`.
fn describe(identity: &serde_json::Value) -> String {
    let protocol = identity["protocol"].as_str().unwrap_or("?");
    let params: Vec<String> = identity["parameters"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .unwrap_or_default();
    format!("{protocol} ({})", params.join(" "))
}

pub fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}
