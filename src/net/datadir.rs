//! A node's data directory: locked by the node that uses it, and recording what wrote it.
//!
//! A data directory holds a node's durable state ([`super::storage`]: `snapshot`, `wal.N`) and
//! two files of its own:
//!
//! - `lock`: `flock`ed (exclusive, non-blocking) by the [`DataDir`] that opened the directory,
//!   for as long as that handle lives, and holding its process id. A second opener, in another
//!   process or in the same one (flock locks belong to an open file, not to a process), is
//!   refused with that pid: two nodes writing one directory lose each other's writes. The lock
//!   is the kernel's: it is released when the handle is dropped (a node's thread ending) or its
//!   process dies, so a stale `lock` file never blocks anyone.
//! - `meta.json`: what the directory belongs to ([`Meta`]: protocol, node index, every node's
//!   address, and the storage format), written once, atomically, when the directory is created.
//!   Every later open compares it with what the caller is about to run and refuses a difference:
//!   another protocol would misread the files; another node count changes the quorums without a
//!   reconfiguration (Paxos' agreement rests on any two quorums intersecting); another index
//!   would make this node speak for another node's promises and votes. Changed peer addresses,
//!   with the same count and index, are refused too: the addresses are the actors' ids, and the
//!   state refers to them (ballots, client sessions), and a directory copied into another
//!   cluster is a different node. Moving a cluster to new addresses means new directories.
//!
//! **Creation.** A directory with nothing in it (or only what an interrupted creation leaves) is
//! fresh: [`DataDir::open`] writes an empty snapshot of generation 0 and `wal.0`, then
//! `meta.json` last, so that a directory with `meta.json` has always had its snapshot: from
//! then on a missing snapshot is damage, never "fresh". A directory with data files but no
//! `meta.json` (an older Synod's, or one whose `meta.json` was deleted) is refused.
//!
//! [`verify`] checks a directory without changing it and without the protocol's types (for
//! `synod check-data DIR`).

use super::storage::{self, Inspection, RecoveryError, FORMAT_VERSION};
use crate::check::report::thousands;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddrV4;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub(crate) const LOCK_FILE: &str = "lock";
pub(crate) const META_FILE: &str = "meta.json";
pub(crate) const META_TMP_FILE: &str = "meta.json.tmp";

/// What a data directory belongs to: compared on every open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The protocol's name, as `synod list` spells it.
    pub protocol: String,
    /// This node's index in `peers`.
    pub index: usize,
    /// Every node's address, this one included, in index order.
    pub peers: Vec<SocketAddrV4>,
}

impl Meta {
    /// Panics unless `index` is an index of `peers`.
    pub fn new(protocol: impl Into<String>, index: usize, peers: Vec<SocketAddrV4>) -> Meta {
        let meta = Meta {
            protocol: protocol.into(),
            index,
            peers,
        };
        meta.assert_valid();
        meta
    }

    fn assert_valid(&self) {
        assert!(
            self.index < self.peers.len(),
            "node {} of {} peers",
            self.index,
            self.peers.len()
        );
    }
}

impl fmt::Display for Meta {
    /// `paxos node 0 of 3 [127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peers: Vec<String> = self.peers.iter().map(|p| p.to_string()).collect();
        write!(
            f,
            "{} node {} of {} [{}]",
            self.protocol,
            self.index,
            self.peers.len(),
            peers.join(",")
        )
    }
}

/// `meta.json`.
#[derive(Serialize, Deserialize)]
struct MetaFile {
    /// [`FORMAT_VERSION`] of the build that created the directory.
    format_version: u8,
    protocol: String,
    nodes: usize,
    index: usize,
    peers: Vec<SocketAddrV4>,
}

/// An open, locked data directory. Dropping it releases the lock;
/// [`DiskStore::recover`](super::storage::DiskStore::recover) takes it over, so a store lives
/// under its lock.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    meta: Meta,
    created: bool,
    /// Holds the flock.
    _lock: File,
}

/// Why a data directory cannot be opened.
#[derive(Debug)]
pub enum DataDirError {
    /// Another [`DataDir`] holds the lock: another process (`pid`), or this one.
    Locked { dir: PathBuf, pid: Option<u32> },
    /// `meta.json` records another protocol, storage format or cluster shape.
    Mismatch {
        dir: PathBuf,
        found: Box<Meta>,
        found_format: u8,
        wanted: Box<Meta>,
    },
    /// The directory's contents are damaged or not a data directory (nothing was changed), or
    /// could not be read or written.
    Contents(RecoveryError),
}

impl From<RecoveryError> for DataDirError {
    fn from(e: RecoveryError) -> Self {
        DataDirError::Contents(e)
    }
}

impl fmt::Display for DataDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataDirError::Locked { dir, pid } => {
                let holder = match pid {
                    Some(p) if *p == std::process::id() => format!("this process (pid {p})"),
                    Some(p) => format!("process {p}"),
                    None => "another process (its pid is not written yet)".into(),
                };
                write!(
                    f,
                    "{} is in use by {holder}, which holds {}: refusing to run a second node on \
                     one data directory (they would overwrite each other's files); stop that \
                     node, or give each node its own --data-dir",
                    dir.display(),
                    dir.join(LOCK_FILE).display()
                )
            }
            DataDirError::Mismatch {
                dir,
                found,
                found_format,
                wanted,
            } => {
                let mut why = Vec::new();
                if found.protocol != wanted.protocol {
                    why.push("a different protocol would misread its files");
                }
                if found.peers.len() != wanted.peers.len() {
                    why.push(
                        "changing the number of nodes without reconfiguration breaks quorum \
                         intersection",
                    );
                } else if found.index != wanted.index {
                    why.push(
                        "another index would make this node speak for another node's promises \
                         and votes",
                    );
                } else if found.peers != wanted.peers {
                    why.push(
                        "the addresses are the nodes' ids in the protocol's state, so a cluster \
                         on other addresses needs new data directories",
                    );
                }
                let format = if *found_format != FORMAT_VERSION {
                    why.push(
                        "this build reads another storage format: use the Synod that wrote it",
                    );
                    format!(" (storage format {found_format})")
                } else {
                    String::new()
                };
                write!(
                    f,
                    "{} was written by {found}{format}; this is {wanted}{}: refusing ({}). Start \
                     the node as its directory records, or give it a new --data-dir",
                    dir.display(),
                    if format.is_empty() {
                        String::new()
                    } else {
                        format!(" (storage format {FORMAT_VERSION})")
                    },
                    why.join("; ")
                )
            }
            DataDirError::Contents(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DataDirError {}

impl From<DataDirError> for io::Error {
    fn from(e: DataDirError) -> io::Error {
        match e {
            DataDirError::Contents(e) => e.into(),
            DataDirError::Locked { .. } => io::Error::other(e.to_string()),
            DataDirError::Mismatch { .. } => {
                io::Error::new(io::ErrorKind::InvalidData, e.to_string())
            }
        }
    }
}

impl DataDir {
    /// Opens the data directory `dir` for the node `meta` describes: creates it if need be,
    /// locks it (for the life of the returned handle), creates or compares `meta.json`. Its
    /// storage is opened next with [`DiskStore::recover`](super::storage::DiskStore::recover).
    ///
    /// Refuses, changing nothing: a directory locked by another handle; a `meta.json` for
    /// another protocol, format or cluster shape; files that are not a data directory's;
    /// data files without `meta.json`. Panics unless `meta.index` is an index of `meta.peers`.
    pub fn open(dir: &Path, meta: &Meta) -> Result<DataDir, DataDirError> {
        meta.assert_valid();
        let io_err = |path: &Path, doing: &str, e: io::Error| {
            DataDirError::Contents(RecoveryError::io(dir, path, doing, &e))
        };
        if dir.is_dir() {
            // Refuse a directory of other files before leaving a lock file in it.
            storage::list(dir)?;
        } else {
            fs::create_dir_all(dir).map_err(|e| io_err(dir, "create the directory", e))?;
            let parent = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            sync_dir(parent).map_err(|e| io_err(parent, "fsync", e))?;
        }
        let lock = lock(dir)?;
        let listing = storage::list(dir)?;
        let mut created = false;
        if listing.meta {
            let (found, found_format) = read_meta(dir)?;
            if found != *meta || found_format != FORMAT_VERSION {
                return Err(DataDirError::Mismatch {
                    dir: dir.to_path_buf(),
                    found: Box::new(found),
                    found_format,
                    wanted: Box::new(meta.clone()),
                });
            }
        } else if storage::is_pristine(dir, &listing)? {
            // Fresh, or a creation was interrupted: (re)create. `meta.json` goes last.
            if listing.meta_tmp {
                let tmp = dir.join(META_TMP_FILE);
                fs::remove_file(&tmp).map_err(|e| io_err(&tmp, "delete", e))?;
            }
            storage::create_empty(dir).map_err(|e| io_err(dir, "initialise", e))?;
            write_meta(dir, meta).map_err(|e| io_err(&dir.join(META_FILE), "write", e))?;
            created = true;
        } else {
            return Err(no_meta(dir, &listing).into());
        }
        Ok(DataDir {
            path: dir.to_path_buf(),
            meta: meta.clone(),
            created,
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it belongs to.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Whether this open created it (it held no data before).
    pub fn created(&self) -> bool {
        self.created
    }
}

fn no_meta(dir: &Path, listing: &storage::Listing) -> RecoveryError {
    RecoveryError::damaged(
        dir,
        &dir.join(META_FILE),
        None,
        format!(
            "missing, but the directory holds {}: written by a Synod from before data \
             directories recorded their owner, or {META_FILE} was deleted, so what wrote it is \
             unknown",
            listing.data_files().join(", ")
        ),
    )
}

/// Takes the directory's lock and writes this process's id into it.
fn lock(dir: &Path) -> Result<File, DataDirError> {
    let path = dir.join(LOCK_FILE);
    let io_err = |doing: &str, e: io::Error| {
        DataDirError::Contents(RecoveryError::io(dir, &path, doing, &e))
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_err("open", e))?;
    if !try_flock(&file, false).map_err(|e| io_err("lock", e))? {
        return Err(DataDirError::Locked {
            dir: dir.to_path_buf(),
            pid: read_pid(&path),
        });
    }
    file.set_len(0).map_err(|e| io_err("write", e))?;
    file.write_all_at(format!("{}\n", std::process::id()).as_bytes(), 0)
        .map_err(|e| io_err("write", e))?;
    Ok(file)
}

fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `flock(LOCK_EX | LOCK_NB)` (or `LOCK_SH` when `shared`): whether it was granted.
#[cfg(target_os = "linux")]
pub(crate) fn try_flock(file: &File, shared: bool) -> io::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    let op = if shared {
        FlockOperation::NonBlockingLockShared
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    match flock(file, op) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Elsewhere the directory is not locked (the runtime is developed and deployed on Linux).
#[cfg(not(target_os = "linux"))]
pub(crate) fn try_flock(_file: &File, _shared: bool) -> io::Result<bool> {
    Ok(true)
}

fn read_meta(dir: &Path) -> Result<(Meta, u8), RecoveryError> {
    let path = dir.join(META_FILE);
    let bytes = fs::read(&path).map_err(|e| RecoveryError::io(dir, &path, "read", &e))?;
    let bad = |what: String| RecoveryError::damaged(dir, &path, None, what);
    let m: MetaFile =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid ({e})")))?;
    if m.nodes != m.peers.len() || m.index >= m.nodes {
        return Err(bad(format!(
            "inconsistent: node {} of {} with {} peers",
            m.index,
            m.nodes,
            m.peers.len()
        )));
    }
    let meta = Meta {
        protocol: m.protocol,
        index: m.index,
        peers: m.peers,
    };
    Ok((meta, m.format_version))
}

/// Writes `meta.json` atomically: a temporary file, fsync, rename, fsync of the directory.
fn write_meta(dir: &Path, meta: &Meta) -> io::Result<()> {
    let file = MetaFile {
        format_version: FORMAT_VERSION,
        protocol: meta.protocol.clone(),
        nodes: meta.peers.len(),
        index: meta.index,
        peers: meta.peers.clone(),
    };
    let mut text = serde_json::to_string_pretty(&file).map_err(io::Error::other)?;
    text.push('\n');
    let tmp = dir.join(META_TMP_FILE);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(META_FILE))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

// ----- Checking a directory -------------------------------------------------------------------

/// The state of a directory's lock, as [`verify`] saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockState {
    /// No `lock` file: no node has opened the directory since it was created by this build.
    NoLockFile,
    /// Nobody holds it; `last_pid` is the last holder's.
    Free { last_pid: Option<u32> },
    /// A node holds it: the files may change while they are read.
    Held { pid: Option<u32> },
}

/// What [`verify`] found in a directory a node would start on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub dir: PathBuf,
    pub lock: LockState,
    /// `None`: the directory is fresh (a node would create it).
    pub meta: Option<Meta>,
    /// `None`: fresh.
    pub storage: Option<Inspection>,
}

/// Checks the data directory `dir` without changing anything and without the protocol's types:
/// its files, `meta.json`, the snapshot's framing and CRC, the generations, the write-ahead
/// records' framing and CRCs, its tail. `Ok` means a node of the recorded shape would start on
/// it (cutting the torn tail the report names, if any), provided its records decode, which only
/// the node can check; `Err` names what makes a node refuse it.
pub fn verify(dir: &Path) -> Result<VerifyReport, RecoveryError> {
    let md = fs::metadata(dir).map_err(|e| RecoveryError::io(dir, dir, "read", &e))?;
    if !md.is_dir() {
        return Err(RecoveryError::damaged(dir, dir, None, "not a directory"));
    }
    let listing = storage::list(dir)?;
    let lock = if listing.lock {
        let path = dir.join(LOCK_FILE);
        let file = File::open(&path).map_err(|e| RecoveryError::io(dir, &path, "open", &e))?;
        let free = try_flock(&file, true).map_err(|e| RecoveryError::io(dir, &path, "lock", &e))?;
        drop(file);
        let pid = read_pid(&path);
        if free {
            LockState::Free { last_pid: pid }
        } else {
            LockState::Held { pid }
        }
    } else {
        LockState::NoLockFile
    };
    if !listing.meta {
        if storage::is_pristine(dir, &listing)? {
            return Ok(VerifyReport {
                dir: dir.to_path_buf(),
                lock,
                meta: None,
                storage: None,
            });
        }
        return Err(no_meta(dir, &listing));
    }
    let (meta, format) = read_meta(dir)?;
    if format != FORMAT_VERSION {
        return Err(RecoveryError::damaged(
            dir,
            &dir.join(META_FILE),
            None,
            format!(
                "storage format {format} (this build reads format {FORMAT_VERSION}): use the \
                 Synod that wrote it"
            ),
        ));
    }
    let storage = storage::inspect(dir, &listing)?;
    Ok(VerifyReport {
        dir: dir.to_path_buf(),
        lock,
        meta: Some(meta),
        storage: Some(storage),
    })
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |p: &Path| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        };
        match (&self.meta, &self.storage) {
            (Some(meta), Some(s)) => {
                writeln!(
                    f,
                    "{}: a consistent data directory of {meta} (storage format {FORMAT_VERSION})",
                    self.dir.display()
                )?;
                writeln!(
                    f,
                    "  snapshot: generation {}, {} bytes, {}",
                    s.generation,
                    thousands(s.snapshot_bytes),
                    if s.holds_value {
                        "holds a value"
                    } else {
                        "holds no value yet (nothing was committed)"
                    }
                )?;
                writeln!(
                    f,
                    "  {}: {} records, {} bytes of records ({} bytes with the zeros written ahead)",
                    name(&s.wal),
                    thousands(s.wal_records),
                    thousands(s.wal_record_bytes),
                    thousands(s.wal_file_bytes)
                )?;
                match &s.torn_tail {
                    Some(t) => writeln!(f, "  torn tail, which a node would cut: {t}")?,
                    None => writeln!(f, "  no torn tail")?,
                }
                if !s.leftovers.is_empty() {
                    let names: Vec<String> = s.leftovers.iter().map(|p| name(p)).collect();
                    writeln!(
                        f,
                        "  leftovers of an interrupted write, which a node would delete: {}",
                        names.join(", ")
                    )?;
                }
            }
            _ => writeln!(
                f,
                "{}: a fresh data directory (no data yet): a node would create it",
                self.dir.display()
            )?,
        }
        match &self.lock {
            LockState::NoLockFile => writeln!(f, "  lock: none (no node has opened it)")?,
            LockState::Free { last_pid } => writeln!(
                f,
                "  lock: free{}",
                last_pid.map_or(String::new(), |p| format!(" (last held by process {p})"))
            )?,
            LockState::Held { pid } => writeln!(
                f,
                "  lock: held by {} (a node is running: its files may change while they are read)",
                pid.map_or("a process".to_string(), |p| format!("process {p}"))
            )?,
        }
        if self.storage.is_some() {
            write!(
                f,
                "  records were checked for framing and CRC only: decoding them needs the \
                 protocol's types, which a node does when it starts (and refuses a record that \
                 does not decode)"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "synod-datadir-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn peers(n: u16) -> Vec<SocketAddrV4> {
        (0..n)
            .map(|i| SocketAddrV4::new([127, 0, 0, 1].into(), 7000 + i))
            .collect()
    }

    #[test]
    fn creation_writes_meta_last_and_a_reopen_compares_it() {
        let dir = tempdir("create");
        let meta = Meta::new("paxos", 1, peers(3));
        let d = DataDir::open(&dir, &meta).unwrap();
        assert!(d.created());
        assert_eq!(d.meta(), &meta);
        let text = fs::read_to_string(dir.join(META_FILE)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["protocol"], "paxos");
        assert_eq!(json["nodes"], 3);
        assert_eq!(json["index"], 1);
        assert_eq!(json["peers"][2], "127.0.0.1:7002");
        assert_eq!(json["format_version"], FORMAT_VERSION);
        assert_eq!(
            read_pid(&dir.join(LOCK_FILE)),
            Some(std::process::id()),
            "the holder's pid"
        );
        drop(d);
        let d = DataDir::open(&dir, &meta).unwrap();
        assert!(!d.created());
        drop(d);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_changed_peer_address_is_refused() {
        let dir = tempdir("peers");
        drop(DataDir::open(&dir, &Meta::new("paxos", 0, peers(3))).unwrap());
        let mut moved = peers(3);
        moved[2].set_port(9000);
        let err = DataDir::open(&dir, &Meta::new("paxos", 0, moved)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("127.0.0.1:7002]; this is paxos node 0 of 3"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1:9000]"), "{text}");
        assert!(text.contains("ids"), "{text}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_broken_meta_is_refused_and_kept() {
        let dir = tempdir("broken-meta");
        drop(DataDir::open(&dir, &Meta::new("paxos", 0, peers(1))).unwrap());
        fs::write(dir.join(META_FILE), b"{\"protocol\": 3").unwrap();
        let err = DataDir::open(&dir, &Meta::new("paxos", 0, peers(1))).unwrap_err();
        assert!(err.to_string().contains("meta.json: not valid"), "{err}");
        assert_eq!(fs::read(dir.join(META_FILE)).unwrap(), b"{\"protocol\": 3");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_directory_of_other_files_gets_no_lock_file() {
        let dir = tempdir("foreign");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("notes.txt"), b"mine").unwrap();
        let err = DataDir::open(&dir, &Meta::new("paxos", 0, peers(1))).unwrap_err();
        assert!(err.to_string().contains("notes.txt: unknown file"), "{err}");
        assert!(!dir.join(LOCK_FILE).exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    #[should_panic(expected = "node 3 of 3 peers")]
    fn a_meta_whose_index_is_not_a_peer_is_a_bug() {
        Meta::new("paxos", 3, peers(3));
    }
}
