//! Recovery of a node's data directory (issue 9, items 1-3), through the storage and data
//! directory API with a concrete storage type: a torn tail is cut and reported; any other damage
//! (a flipped byte with data after it, a record cut short in the middle, a deleted snapshot or
//! write-ahead file, a garbage snapshot, a foreign generation, an unknown file) is refused,
//! naming the file and offset, with the directory unchanged byte for byte; what a crash during a
//! compaction leaves is accepted; the directory is locked and records what wrote it.

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use synod::net::datadir::{self, DataDir, DataDirError, LockState, Meta};
use synod::net::storage::{DiskStore, FsyncPolicy, Recovery, RecoveryError};
use synod_models::kv::KeyMap;

type Map = Arc<KeyMap<u64>>;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("synod-test-recovery-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn addrs(n: u16) -> Vec<SocketAddrV4> {
    (0..n)
        .map(|i| SocketAddrV4::new([127, 0, 0, 1].into(), 7000 + i))
        .collect()
}

fn meta() -> Meta {
    Meta::new("single-copy-kv", 0, addrs(1))
}

fn open(dir: &Path) -> Result<(DiskStore<Map>, Option<Map>, Recovery), RecoveryError> {
    let data = DataDir::open(dir, &meta()).unwrap_or_else(|e| panic!("{e}"));
    DiskStore::recover(data, FsyncPolicy::Never)
}

fn refused(dir: &Path) -> RecoveryError {
    match open(dir) {
        Ok(_) => panic!("{} was accepted", dir.display()),
        Err(e) => e,
    }
}

/// A directory whose snapshot (generation 1) holds `{0: 0}`, followed by `writes` records
/// `k := k` for k in 1..=writes. Returns the value.
fn populate(dir: &Path, writes: u64) -> Map {
    let (mut store, init, _) = open(dir).unwrap();
    assert_eq!(init, None);
    let mut m = KeyMap::default();
    *m.entry_or_default(0) = 0;
    store.stage(Arc::new(m.clone()));
    assert_eq!(store.commit().unwrap().snapshots, 1);
    for k in 1..=writes {
        *m.entry_or_default(k) = k;
        store.stage(Arc::new(m.clone()));
        assert_eq!(store.commit().unwrap().snapshots, 0);
    }
    Arc::new(m)
}

fn map(pairs: impl IntoIterator<Item = (u64, u64)>) -> Map {
    Arc::new(pairs.into_iter().collect())
}

/// Every file of the directory and its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The (offset, length) of each record of a write-ahead file, walking the length fields.
fn records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        out.push((at, 8 + len));
        at += 8 + len;
    }
    out
}

/// Opening must fail naming `file` (and `offset`), and change nothing.
fn assert_refused(dir: &Path, file: &Path, offset: Option<u64>, needles: &[&str]) -> RecoveryError {
    let before = files(dir);
    let err = refused(dir);
    assert_eq!(err.file, file, "{err}");
    assert_eq!(err.offset, offset, "{err}");
    assert!(err.is_damage(), "{err}");
    let text = err.to_string();
    assert!(text.starts_with(&format!("{}: ", file.display())), "{text}");
    assert!(
        text.contains("refusing to start; nothing was changed"),
        "{text}"
    );
    assert!(
        text.contains("Restore the directory from a backup"),
        "{text}"
    );
    for n in needles {
        assert!(text.contains(n), "{n:?} not in {text}");
    }
    assert_eq!(files(dir), before, "the refusal changed the directory");
    // `synod check-data` sees the same damage, without the protocol's types.
    let check = datadir::verify(dir).expect_err("verify accepts damage");
    assert_eq!(
        (check.file.as_path(), check.offset),
        (file, offset),
        "{check}"
    );
    assert_eq!(files(dir), before, "verify changed the directory");
    err
}

#[test]
fn a_byte_flipped_mid_wal_with_data_after_it_is_refused_and_nothing_changes() {
    let d = TempDir::new("flip");
    populate(&d.0, 20);
    let wal = d.file("wal.1");
    let mut bytes = fs::read(&wal).unwrap();
    let (at, len) = records(&bytes)[5];
    bytes[at + len - 1] ^= 0x40;
    fs::write(&wal, &bytes).unwrap();
    let data_after = records(&bytes)[19].0 + records(&bytes)[19].1 - (at + len);
    let err = assert_refused(
        &d.0,
        &wal,
        Some(at as u64),
        &[&format!(
            "bad record at byte {at} (CRC mismatch) followed by {data_after} bytes of data"
        )],
    );
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn a_flipped_length_field_that_hides_later_records_is_refused() {
    let d = TempDir::new("flip-length");
    populate(&d.0, 20);
    let wal = d.file("wal.1");
    let mut bytes = fs::read(&wal).unwrap();
    let (at, _) = records(&bytes)[19];
    // Record 18's length grows: it swallows record 19 and ends in the zeros written ahead, so
    // only zeros follow it, yet a whole record hides inside it.
    let (at18, _) = records(&bytes)[18];
    bytes[at18] = 30;
    fs::write(&wal, &bytes).unwrap();
    assert_refused(
        &d.0,
        &wal,
        Some(at18 as u64),
        &[&format!("followed by a valid record at byte {at}")],
    );
}

#[test]
fn truncation_inside_the_last_record_is_a_torn_tail_cut_and_reported() {
    let d = TempDir::new("truncate-tail");
    let full = populate(&d.0, 10);
    let wal = d.file("wal.1");
    let bytes = fs::read(&wal).unwrap();
    let (at, len) = records(&bytes)[9];
    // The file ends inside the last record (its zeros written ahead gone too).
    fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len((at + len - 1) as u64)
        .unwrap();
    let (mut store, got, rec) = open(&d.0).unwrap();
    let mut want = (*full).clone();
    want.remove(&10);
    assert_eq!(got, Some(Arc::new(want.clone())));
    let cut = rec.torn_tail.clone().expect("the cut is reported");
    assert_eq!((cut.file.as_path(), cut.offset), (wal.as_path(), at as u64));
    assert!(cut.what.contains("runs past the end of the file"), "{cut}");
    assert!(
        cut.to_string()
            .starts_with(&format!("{}: torn record at byte {at} (", wal.display())),
        "{cut}"
    );
    assert_eq!(
        fs::metadata(&wal).unwrap().len(),
        at as u64,
        "cut at the record"
    );
    assert_eq!(rec.records, 9);
    // Writing goes on after the last whole record, and a reopen is clean.
    *want.entry_or_default(11) = 11;
    store.stage(Arc::new(want.clone()));
    store.commit().unwrap();
    drop(store);
    let (_, got, rec) = open(&d.0).unwrap();
    assert_eq!(got, Some(Arc::new(want)));
    assert_eq!((rec.records, rec.torn_tail), (10, None));
}

#[test]
fn a_last_record_torn_into_the_zeros_written_ahead_is_cut() {
    let d = TempDir::new("torn-zeros");
    populate(&d.0, 10);
    let wal = d.file("wal.1");
    let mut bytes = fs::read(&wal).unwrap();
    let (at, len) = records(&bytes)[9];
    bytes[at + len - 1] = 0; // its last byte never reached the disk
    fs::write(&wal, &bytes).unwrap();
    // verify reports the cut a node would make, and makes none.
    let report = datadir::verify(&d.0).unwrap();
    let storage = report.storage.as_ref().unwrap();
    assert_eq!(storage.torn_tail.as_ref().unwrap().offset, at as u64);
    assert_eq!(storage.wal_records, 9);
    assert!(
        report
            .to_string()
            .contains("torn tail, which a node would cut"),
        "{report}"
    );
    assert_eq!(fs::read(&wal).unwrap(), bytes);
    let (_, got, rec) = open(&d.0).unwrap();
    assert_eq!(got, Some(map((0..10).map(|k| (k, k)))));
    let cut = rec.torn_tail.unwrap();
    assert_eq!((cut.offset, cut.what.as_str()), (at as u64, "CRC mismatch"));
}

#[test]
fn truncation_inside_a_record_in_the_middle_is_refused() {
    let d = TempDir::new("truncate-middle");
    populate(&d.0, 20);
    let wal = d.file("wal.1");
    let bytes = fs::read(&wal).unwrap();
    let (at, len) = records(&bytes)[7];
    // Three bytes of record 7 vanish: every later record is misaligned.
    let mut cut = bytes[..at + len - 3].to_vec();
    cut.extend_from_slice(&bytes[at + len..]);
    fs::write(&wal, &cut).unwrap();
    assert_refused(
        &d.0,
        &wal,
        Some(at as u64),
        &[&format!("bad record at byte {at} (")],
    );
}

#[test]
fn a_deleted_snapshot_with_its_wal_present_is_refused() {
    let d = TempDir::new("no-snapshot");
    populate(&d.0, 5);
    fs::remove_file(d.file("snapshot")).unwrap();
    assert_refused(
        &d.0,
        &d.file("snapshot"),
        None,
        &["missing, although the directory was initialised (meta.json, wal.1)"],
    );
}

#[test]
fn a_deleted_snapshot_before_any_write_ahead_record_is_refused_too() {
    // The snapshot of the first commit has no records after it yet: without it, the directory
    // would look fresh if creation had not written meta.json last.
    let d = TempDir::new("no-snapshot-2");
    populate(&d.0, 0);
    fs::remove_file(d.file("snapshot")).unwrap();
    assert_refused(&d.0, &d.file("snapshot"), None, &["missing"]);
}

#[test]
fn a_deleted_wal_is_refused() {
    let d = TempDir::new("no-wal");
    populate(&d.0, 5);
    fs::remove_file(d.file("wal.1")).unwrap();
    assert_refused(
        &d.0,
        &d.file("wal.1"),
        None,
        &["missing: the snapshot is of generation 1"],
    );
}

#[test]
fn a_garbage_snapshot_is_refused() {
    let d = TempDir::new("garbage-snapshot");
    populate(&d.0, 5);
    fs::write(d.file("snapshot"), b"\x13\x37 this is not a snapshot").unwrap();
    assert_refused(&d.0, &d.file("snapshot"), Some(0), &["bad magic number"]);
}

#[test]
fn a_snapshot_with_a_flipped_byte_is_refused() {
    let d = TempDir::new("snapshot-crc");
    populate(&d.0, 5);
    let mut bytes = fs::read(d.file("snapshot")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(d.file("snapshot"), &bytes).unwrap();
    let err = refused(&d.0);
    assert_eq!(err.file, d.file("snapshot"));
    assert!(err.what.contains("CRC mismatch"), "{err}");
}

#[test]
fn a_snapshot_of_another_format_version_is_refused() {
    let d = TempDir::new("snapshot-version");
    populate(&d.0, 5);
    let mut bytes = fs::read(d.file("snapshot")).unwrap();
    bytes[4] = 1; // the format version follows the magic number
    fs::write(d.file("snapshot"), &bytes).unwrap();
    assert_refused(
        &d.0,
        &d.file("snapshot"),
        Some(4),
        &["snapshot format version 1 at byte 4 (this build reads version 2)"],
    );
}

#[test]
fn a_wal_of_a_foreign_generation_is_refused() {
    let d = TempDir::new("foreign-generation");
    populate(&d.0, 5);
    fs::copy(d.file("wal.1"), d.file("wal.7")).unwrap();
    assert_refused(
        &d.0,
        &d.file("wal.7"),
        None,
        &["a write-ahead file of generation 7, but the snapshot is of generation 1"],
    );
}

#[test]
fn an_unknown_file_is_refused() {
    let d = TempDir::new("unknown-file");
    populate(&d.0, 5);
    fs::write(d.file("wal.01"), b"").unwrap();
    let before = files(&d.0);
    let err = DataDir::open(&d.0, &meta()).unwrap_err();
    let DataDirError::Contents(e) = &err else {
        panic!("{err}")
    };
    assert_eq!(e.file, d.file("wal.01"));
    assert!(err.to_string().contains("wal.01: unknown file"), "{err}");
    assert_eq!(files(&d.0), before);
}

#[test]
fn a_record_that_passes_its_crc_but_does_not_decode_is_refused() {
    let d = TempDir::new("undecodable");
    populate(&d.0, 3);
    // Another storage type reads the same files: its snapshot decodes (an empty-ish map of
    // another value type would not), its records do not.
    let data = DataDir::open(&d.0, &meta()).unwrap();
    let Err(err) = DiskStore::<Arc<KeyMap<String>>>::recover(data, FsyncPolicy::Never) else {
        panic!("another protocol's records were accepted")
    };
    assert_eq!(err.file, d.file("wal.1"));
    assert_eq!(err.offset, Some(0));
    assert!(
        err.what.contains("passes its CRC but does not decode"),
        "{err}"
    );
}

#[test]
fn a_crash_after_a_compactions_rename_leaves_the_old_wal_which_is_deleted() {
    let d = TempDir::new("leftover-old");
    populate(&d.0, 5);
    let old_wal = fs::read(d.file("wal.1")).unwrap();
    // A key disappears: not expressible as records, so the commit writes a snapshot (generation 2).
    let (mut store, _, _) = open(&d.0).unwrap();
    let want = map((2..=5).map(|k| (k, k)));
    store.stage(want.clone());
    assert_eq!(store.commit().unwrap().snapshots, 1);
    drop(store);
    assert!(!d.file("wal.1").exists() && d.file("wal.2").exists());
    // The crash came before step 4 (deleting the old generation).
    fs::write(d.file("wal.1"), &old_wal).unwrap();
    let (_, got, rec) = open(&d.0).unwrap();
    assert_eq!(got, Some(want));
    assert_eq!(rec.removed, [d.file("wal.1")]);
    assert_eq!(rec.torn_tail, None);
    assert!(!d.file("wal.1").exists());
}

#[test]
fn a_crash_before_a_compactions_rename_leaves_an_unborn_wal_which_is_deleted() {
    let d = TempDir::new("leftover-new");
    let before = populate(&d.0, 5);
    let (old_snapshot, old_wal) = (
        fs::read(d.file("snapshot")).unwrap(),
        fs::read(d.file("wal.1")).unwrap(),
    );
    let (mut store, _, _) = open(&d.0).unwrap();
    store.stage(map((2..=5).map(|k| (k, k))));
    assert_eq!(store.commit().unwrap().snapshots, 1);
    drop(store);
    // Back to the moment between steps 2 and 3: the new snapshot is still snapshot.tmp, wal.2
    // exists (empty), the old snapshot and wal.1 are in place.
    fs::rename(d.file("snapshot"), d.file("snapshot.tmp")).unwrap();
    fs::write(d.file("snapshot"), &old_snapshot).unwrap();
    fs::write(d.file("wal.1"), &old_wal).unwrap();
    let crashed = files(&d.0);

    // Without snapshot.tmp, an empty wal.2 is not what a crash leaves.
    fs::remove_file(d.file("snapshot.tmp")).unwrap();
    assert_refused(
        &d.0,
        &d.file("wal.2"),
        None,
        &["generation 2, but the snapshot is of generation 1"],
    );
    // Nor is a wal.2 with data in it.
    fs::write(d.file("snapshot.tmp"), &crashed["snapshot.tmp"]).unwrap();
    fs::write(d.file("wal.2"), &old_wal).unwrap();
    assert_refused(&d.0, &d.file("wal.2"), None, &["generation 2"]);

    fs::write(d.file("wal.2"), b"").unwrap();
    assert_eq!(files(&d.0), crashed);
    let (mut store, got, rec) = open(&d.0).unwrap();
    assert_eq!(
        got,
        Some(before.clone()),
        "the interrupted commit was never acknowledged"
    );
    let mut removed = rec.removed.clone();
    removed.sort();
    assert_eq!(removed, [d.file("snapshot.tmp"), d.file("wal.2")]);
    // The store goes on from generation 1: its next compaction makes generation 2 again.
    store.stage(map([(9, 9)]));
    assert_eq!(store.commit().unwrap().snapshots, 1);
    drop(store);
    let (_, got, rec) = open(&d.0).unwrap();
    assert_eq!((got, rec.generation), (Some(map([(9, 9)])), 2));
}

#[test]
fn an_interrupted_snapshot_write_leaves_snapshot_tmp_which_is_deleted() {
    let d = TempDir::new("snapshot-tmp");
    let want = populate(&d.0, 5);
    fs::write(d.file("snapshot.tmp"), b"SYNS\x02 half a snapsh").unwrap();
    let (_, got, rec) = open(&d.0).unwrap();
    assert_eq!(got, Some(want));
    assert_eq!(rec.removed, [d.file("snapshot.tmp")]);
    assert!(!d.file("snapshot.tmp").exists());
}

#[test]
fn a_zeros_only_tail_is_accepted_silently() {
    let d = TempDir::new("zeros");
    let want = populate(&d.0, 10);
    let wal = d.file("wal.1");
    let len = fs::metadata(&wal).unwrap().len();
    assert!(
        len >= synod::net::storage::WAL_CHUNK_BYTES,
        "zeros written ahead"
    );
    let (_, got, rec) = open(&d.0).unwrap();
    assert_eq!(got, Some(want.clone()));
    assert_eq!(rec.torn_tail, None, "zeros are not a cut");
    assert_eq!(fs::metadata(&wal).unwrap().len(), len, "and are kept");
    // A file that ends right after its last record is clean too.
    let bytes = fs::read(&wal).unwrap();
    let (at, n) = *records(&bytes).last().unwrap();
    fs::write(&wal, &bytes[..at + n]).unwrap();
    let (_, got, rec) = open(&d.0).unwrap();
    assert_eq!((got, rec.torn_tail), (Some(want), None));
}

#[test]
fn a_fresh_directory_starts_empty_and_data_without_meta_is_refused() {
    let d = TempDir::new("fresh");
    let report = datadir::verify(&d.0);
    assert!(report.is_err(), "no directory yet");
    let (_, got, rec) = open(&d.0).unwrap();
    assert_eq!((got, rec), (None, Recovery::default()));
    let report = datadir::verify(&d.0).unwrap();
    assert_eq!(report.meta, Some(meta()));
    assert!(!report.storage.as_ref().unwrap().holds_value);
    drop(populate(&d.0, 2));
    // Data whose owner is unknown (an older Synod's directory, or meta.json deleted).
    fs::remove_file(d.file("meta.json")).unwrap();
    let before = files(&d.0);
    let err = DataDir::open(&d.0, &meta()).unwrap_err();
    assert!(
        err.to_string()
            .contains("meta.json: missing, but the directory holds snapshot, wal.1"),
        "{err}"
    );
    assert_eq!(files(&d.0), before);
}

#[test]
fn a_second_open_in_one_process_is_refused_with_the_pid_and_the_lock_is_released_on_drop() {
    let d = TempDir::new("lock");
    let first = DataDir::open(&d.0, &meta()).unwrap();
    // flock belongs to an open file: a second open in the same process conflicts too.
    let err = DataDir::open(&d.0, &meta()).unwrap_err();
    let pid = std::process::id();
    assert!(
        matches!(&err, DataDirError::Locked { dir, pid: Some(p) } if *dir == d.0 && *p == pid),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{} is in use by this process (pid {pid})",
            d.0.display()
        )),
        "{text}"
    );
    let report = datadir::verify(&d.0).unwrap();
    assert_eq!(report.lock, LockState::Held { pid: Some(pid) });
    assert!(
        report
            .to_string()
            .contains(&format!("held by process {pid}")),
        "{report}"
    );
    drop(first);
    // A store holds its directory's lock for as long as it lives.
    let (store, _, _) = open(&d.0).unwrap();
    assert!(matches!(
        DataDir::open(&d.0, &meta()),
        Err(DataDirError::Locked { .. })
    ));
    drop(store);
    let again = DataDir::open(&d.0, &meta()).unwrap();
    drop(again);
    assert_eq!(
        datadir::verify(&d.0).unwrap().lock,
        LockState::Free {
            last_pid: Some(pid)
        }
    );
}

#[test]
fn a_directory_of_another_protocol_or_shape_is_refused_with_both_shapes() {
    let d = TempDir::new("meta");
    let paxos = Meta::new("paxos", 0, addrs(3));
    drop(DataDir::open(&d.0, &paxos).unwrap());
    let before = files(&d.0);
    let cases = [
        (
            meta(),
            "was written by paxos node 0 of 3 [127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002]; \
             this is single-copy-kv node 0 of 1 [127.0.0.1:7000]: refusing (a different \
             protocol would misread its files; changing the number of nodes without \
             reconfiguration breaks quorum intersection)",
        ),
        (
            Meta::new("paxos", 0, addrs(5)),
            "this is paxos node 0 of 5 [127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002,\
             127.0.0.1:7003,127.0.0.1:7004]: refusing (changing the number of nodes",
        ),
        (
            Meta::new("paxos", 2, addrs(3)),
            "this is paxos node 2 of 3 [127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002]: \
             refusing (another index",
        ),
    ];
    for (wanted, needle) in cases {
        let err = DataDir::open(&d.0, &wanted).unwrap_err();
        assert!(
            matches!(&err, DataDirError::Mismatch { found, .. } if **found == paxos),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.starts_with(&d.0.display().to_string()), "{text}");
        assert!(text.contains(needle), "{needle:?} not in {text}");
        assert_eq!(files(&d.0), before);
    }
    assert!(DataDir::open(&d.0, &paxos).is_ok());
}

#[test]
fn verify_describes_a_healthy_directory_without_changing_it() {
    let d = TempDir::new("verify");
    populate(&d.0, 4);
    let before = files(&d.0);
    let report = datadir::verify(&d.0).unwrap();
    assert_eq!(files(&d.0), before);
    let s = report.storage.as_ref().unwrap();
    assert_eq!((s.generation, s.wal_records, s.holds_value), (1, 4, true));
    assert_eq!(s.torn_tail, None);
    let text = report.to_string();
    for needle in [
        "a consistent data directory of single-copy-kv node 0 of 1 [127.0.0.1:7000]",
        "snapshot: generation 1",
        "wal.1: 4 records",
        "no torn tail",
        "lock: free",
        "framing and CRC only",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
}
