//! Paxos on real sockets (issue 9, items 5 and 6): a round stuck by a partition recovers for a
//! fresh request once the partition heals (the retry timer); a flood of fresh requests at one
//! stuck key is refused with error 11 beyond the waiter bound and does not slow other keys; reads
//! of keys nobody wrote keep the nodes' memory and disk bounded (the promise floor).
//!
//! Each test starts a 3-node cluster as threads of this process with the protocol's network
//! defaults (`--retry-timer 1 --fold-promises 1024`). The tests take a lock so that they run one
//! at a time: the memory test reads this process's resident size, and the latency bounds assume
//! the nodes are not competing with another test's cluster for the CPU.

use serde_json::Value;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use synod::catalog::{self, Mode, RawSettings};
use synod::client::{self, Request};
use synod::lincheck::OpKind;
use synod::net::{Cluster, ClusterConfig, FaultConfig, FsyncPolicy, Partition};
use synod_models::paxos::MAX_WAITERS;

/// One test at a time (see the module docs).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn data_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "synod-test-paxos-runtime-{tag}-{}",
        std::process::id()
    ))
}

/// A 3-node Paxos cluster with the network defaults, overridden by `params`.
fn cluster(tag: &str, faults: FaultConfig, fsync: FsyncPolicy, params: &[(&str, u64)]) -> Cluster {
    let entry = catalog::find_runnable("paxos").unwrap();
    let raw = RawSettings {
        params: params.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        ..RawSettings::default()
    };
    let settings = entry.resolve(&raw, Mode::Run).unwrap().settings;
    Cluster::start(ClusterConfig {
        protocol: entry.runnable(settings),
        nodes: 3,
        host: Ipv4Addr::LOCALHOST,
        port: 0,
        data_dir: {
            let dir = data_dir(tag);
            let _ = std::fs::remove_dir_all(&dir);
            dir
        },
        fsync,
        faults,
        crashes: vec![],
        restarts: vec![],
        record: None,
    })
    .unwrap()
}

fn partitioned(spec: &str) -> FaultConfig {
    FaultConfig {
        partitions: vec![Partition::parse(spec).unwrap()],
        ..FaultConfig::default()
    }
}

fn addr(c: &Cluster, i: usize) -> SocketAddr {
    SocketAddr::V4(c.addrs()[i])
}

/// One fresh request (a new socket and `msg_id`), no retries: the reply as `synod client`
/// prints it, or `None` on timeout; and how long it took.
fn ask(to: SocketAddr, key: u64, kind: OpKind, timeout: Duration) -> (Option<String>, Duration) {
    let start = Instant::now();
    let reply = client::request(to, Request { key, kind }, timeout, 0)
        .ok()
        .map(|r| r.to_string());
    (reply, start.elapsed())
}

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// A pipelining client on one socket: fresh reads (each its own `msg_id`), at most `window`
/// unanswered, replies tallied by `msg_id` and error code (0 for `read_ok`).
struct Pipe {
    socket: UdpSocket,
    to: SocketAddr,
    next_id: u64,
    /// msg_id -> code of the reply (0: read_ok).
    replies: HashMap<u64, u64>,
    sent: u64,
}

impl Pipe {
    fn new(to: SocketAddr) -> Pipe {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        Pipe {
            socket,
            to,
            next_id: client::msg_id_base(),
            replies: HashMap::new(),
            sent: 0,
        }
    }

    fn send_read(&mut self, key: u64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let body = format!(r#"{{"type":"read","msg_id":{id},"key":{key}}}"#);
        self.socket.send_to(body.as_bytes(), self.to).unwrap();
        self.sent += 1;
        id
    }

    /// Takes replies off the socket until none arrives for the read timeout.
    fn drain(&mut self) {
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
            let v: Value = serde_json::from_slice(&buf[..n]).expect("a JSON reply");
            let id = v["in_reply_to"].as_u64().expect("in_reply_to");
            let code = v["code"].as_u64().unwrap_or(0);
            self.replies.insert(id, code);
        }
    }

    /// Receives until at most `window` sent requests are unanswered, apart from `stuck` ones
    /// known to wait; panics if no reply comes for 5 s.
    fn wait_window(&mut self, window: u64, stuck: u64) {
        let mut deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 2048];
        while self.sent - self.replies.len() as u64 > window + stuck {
            let unanswered = self.sent - self.replies.len() as u64;
            assert!(
                Instant::now() < deadline,
                "no reply from {} for 5 s: {unanswered} of {} requests unanswered",
                self.to,
                self.sent
            );
            if let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                let v: Value = serde_json::from_slice(&buf[..n]).expect("a JSON reply");
                let id = v["in_reply_to"].as_u64().expect("in_reply_to");
                self.replies.insert(id, v["code"].as_u64().unwrap_or(0));
                deadline = Instant::now() + Duration::from_secs(5);
            }
        }
    }

    fn count(&self, code: u64) -> usize {
        self.replies.values().filter(|c| **c == code).count()
    }
}

/// The resident memory of this process (VmRSS), in kB.
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            dir_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

// ---------------------------------------------------------------------------------------------
// Item 5: stuck rounds
// ---------------------------------------------------------------------------------------------

/// The bound stated for a fresh request on a key whose round a partition stuck, once it heals.
const RECOVERY_BOUND: Duration = Duration::from_secs(3);

#[test]
fn a_stuck_round_recovers_for_a_fresh_request_after_the_partition_heals() {
    let _serial = serial();
    // Node 0 is cut off from its peers from 0.2 s to 1.2 s after the start.
    let c = cluster("stuck", partitioned("0@0.2-1.2"), FsyncPolicy::Always, &[]);
    let start = Instant::now();
    let a0 = addr(&c, 0);
    sleep_until(start + Duration::from_millis(300));
    // During the partition, fresh requests via node 0 cannot gather a quorum.
    let (w, _) = ask(a0, 5, OpKind::Write(50), Duration::from_millis(400));
    assert_eq!(w, None, "a write via the cut-off node times out");
    let (r, _) = ask(a0, 6, OpKind::Read, Duration::from_millis(300));
    assert_eq!(r, None, "a read via the cut-off node times out");
    // Healed at 1.2 s. Fresh requests (new sockets, new msg_ids: not retries of the stuck ones)
    // for the same keys via node 0 complete: the retry timer restarts the stuck rounds.
    sleep_until(start + Duration::from_millis(1_300));
    let (r5, t5) = ask(a0, 5, OpKind::Read, RECOVERY_BOUND);
    let (r6, t6) = ask(a0, 6, OpKind::Read, RECOVERY_BOUND);
    eprintln!("after the partition healed: a fresh read of the stuck written key took {t5:?}, of the stuck absent key {t6:?}");
    assert_eq!(
        r5.as_deref(),
        Some("read_ok 50"),
        "the stuck write's round completed"
    );
    assert!(
        r6.as_deref().is_some_and(|r| r.starts_with("error 20")),
        "{r6:?}"
    );
    assert!(t5 < RECOVERY_BOUND && t6 < RECOVERY_BOUND);
    // The whole cluster agrees on the value.
    let (r, _) = ask(addr(&c, 2), 5, OpKind::Read, Duration::from_secs(1));
    assert_eq!(r.as_deref(), Some("read_ok 50"));
    let (w, _) = ask(a0, 5, OpKind::Write(50), Duration::from_secs(1));
    assert_eq!(w.as_deref(), Some("write_ok"));
    let report = c.stop();
    assert!(report.total.fault_dropped > 0);
    assert!(
        report.nodes[0].counters.timeouts > 0,
        "node 0's retry timer fired"
    );
    assert!(report.nodes.iter().all(|n| n.error.is_none()));
    let _ = std::fs::remove_dir_all(data_dir("stuck"));
}

/// The bound stated for a request on another key while one key is flooded.
const OTHER_KEY_BOUND: Duration = Duration::from_millis(500);

#[test]
fn a_flood_at_one_stuck_key_gets_error_11_and_other_keys_stay_fast() {
    let _serial = serial();
    const FLOOD: u64 = 20_000;
    const WINDOW: u64 = 64;
    let c = cluster("flood", partitioned("0@0.5-2.5"), FsyncPolicy::Always, &[]);
    let start = Instant::now();
    let a0 = addr(&c, 0);
    // Before the partition: key 1 is written through node 0, which so learns its value.
    let (w, _) = ask(a0, 1, OpKind::Write(10), Duration::from_millis(400));
    assert_eq!(w.as_deref(), Some("write_ok"));
    sleep_until(start + Duration::from_millis(600));

    // During the partition: fresh reads of key 2 (which nobody wrote) from one socket. The first
    // MAX_WAITERS wait on node 0's stuck round; every later one is refused at once.
    let flooding = Arc::new(AtomicBool::new(true));
    let flood = {
        let flooding = flooding.clone();
        std::thread::spawn(move || {
            let mut pipe = Pipe::new(a0);
            let stuck: Vec<u64> = (0..MAX_WAITERS).map(|_| pipe.send_read(2)).collect();
            std::thread::sleep(Duration::from_millis(100));
            let started = Instant::now();
            for _ in 0..FLOOD {
                pipe.send_read(2);
                pipe.wait_window(WINDOW, MAX_WAITERS as u64);
            }
            pipe.wait_window(0, MAX_WAITERS as u64);
            let took = started.elapsed();
            flooding.store(false, Ordering::Relaxed);
            (pipe, stuck, took)
        })
    };
    // Meanwhile a key node 0 knows is answered promptly.
    let mut worst = Duration::ZERO;
    let mut samples = 0;
    while flooding.load(Ordering::Relaxed) {
        let (r, t) = ask(a0, 1, OpKind::Read, Duration::from_secs(1));
        assert_eq!(r.as_deref(), Some("read_ok 10"));
        worst = worst.max(t);
        samples += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut pipe, stuck, took) = flood.join().unwrap();
    eprintln!(
        "{FLOOD} fresh reads of one stuck key answered in {took:?}; meanwhile {samples} reads of another key, the slowest {worst:?}"
    );
    assert!(
        Instant::now() < start + Duration::from_millis(2_500),
        "the flood ran within the partition"
    );
    assert_eq!(
        pipe.count(11),
        FLOOD as usize,
        "every request over the waiter bound got error 11"
    );
    assert_eq!(
        pipe.replies.len(),
        FLOOD as usize,
        "and nothing else was answered"
    );
    assert!(
        stuck.iter().all(|id| !pipe.replies.contains_key(id)),
        "the waiters wait"
    );
    assert!(samples > 0 && worst < OTHER_KEY_BOUND, "{worst:?}");

    // Healed at 2.5 s: the stuck round is restarted by the timer and its waiters are answered
    // (nothing was written: error 20). Meanwhile another flood at key 2 runs, and a fresh write
    // to another key via node 0 completes within the bound.
    sleep_until(start + Duration::from_millis(2_600));
    let flooding = Arc::new(AtomicBool::new(true));
    let flood = {
        let flooding = flooding.clone();
        std::thread::spawn(move || {
            let mut second = Pipe::new(a0);
            while flooding.load(Ordering::Relaxed) {
                second.send_read(2);
                second.wait_window(WINDOW, 0);
            }
            second.drain();
            second
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let (w, t) = ask(a0, 3, OpKind::Write(30), Duration::from_secs(2));
    let (r, tr) = ask(a0, 4, OpKind::Read, Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(2);
    while pipe.replies.len() < (FLOOD + MAX_WAITERS as u64) as usize && Instant::now() < deadline {
        pipe.drain();
    }
    flooding.store(false, Ordering::Relaxed);
    let second = flood.join().unwrap();
    eprintln!(
        "after healing, under a second flood ({} requests: {} error 11, {} error 20): a fresh write of another key took {t:?}, a fresh read of an absent key {tr:?}",
        second.sent,
        second.count(11),
        second.count(20)
    );
    assert_eq!(w.as_deref(), Some("write_ok"));
    assert!(
        r.as_deref().is_some_and(|r| r.starts_with("error 20")),
        "{r:?}"
    );
    assert!(t < OTHER_KEY_BOUND && tr < OTHER_KEY_BOUND, "{t:?} {tr:?}");
    assert!(
        stuck.iter().all(|id| pipe.replies.get(id) == Some(&20)),
        "the stuck waiters were answered once the round could complete"
    );
    assert!(second.count(11) > 0 && second.count(20) > 0);
    let report = c.stop();
    assert!(report.nodes.iter().all(|n| n.error.is_none()));
    let _ = std::fs::remove_dir_all(data_dir("flood"));
}

// ---------------------------------------------------------------------------------------------
// Item 6: reads of absent keys
// ---------------------------------------------------------------------------------------------

/// Fresh reads of `count` distinct keys nobody wrote, from `first` on, spread over the nodes,
/// pipelined; asserts each is answered error 20.
fn absent_reads(c: &Cluster, first: u64, count: u64) {
    let mut pipes: Vec<Pipe> = (0..3).map(|i| Pipe::new(addr(c, i))).collect();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for k in first..first + count {
            let p = &mut pipes[(k % 3) as usize];
            p.send_read(k);
            p.wait_window(64, 0);
        }
        for p in &mut pipes {
            p.wait_window(0, 0);
        }
    }));
    if let Err(e) = run {
        let what = e.downcast_ref::<String>().cloned().unwrap_or_default();
        panic!("{what}; a node failed: {:?}", c.failure());
    }
    for p in &pipes {
        let answered = p.count(20) as u64;
        assert_eq!(
            answered, p.sent,
            "every read of an absent key gets error 20"
        );
    }
}

/// The bounds stated for 60,000 reads of absent keys after a warm-up of 6,000.
const RSS_GROWTH_BOUND_KB: u64 = 16 << 10;
const DISK_BOUND_BYTES: u64 = 30 << 20;

fn absent_reads_figures(tag: &str, params: &[(&str, u64)]) -> (u64, u64, u64, u64) {
    let c = cluster(tag, FaultConfig::default(), FsyncPolicy::Never, params);
    let dir = data_dir(tag);
    absent_reads(&c, 1_000_000, 6_000);
    let (rss0, disk0) = (rss_kb(), dir_bytes(&dir));
    let start = Instant::now();
    absent_reads(&c, 2_000_000, 60_000);
    let (rss1, disk1) = (rss_kb(), dir_bytes(&dir));
    eprintln!(
        "{tag}: 60,000 reads of absent keys in {:?}: resident {} -> {} MB, data directory {:.1} -> {:.1} MB",
        start.elapsed(),
        rss0 >> 10,
        rss1 >> 10,
        disk0 as f64 / (1 << 20) as f64,
        disk1 as f64 / (1 << 20) as f64
    );
    let report = c.stop();
    assert!(report.nodes.iter().all(|n| n.error.is_none()));
    let _ = std::fs::remove_dir_all(&dir);
    (rss0, rss1, disk0, disk1)
}

#[test]
fn reads_of_absent_keys_keep_memory_and_disk_bounded() {
    let _serial = serial();
    // fsync is off: it costs time and changes nothing about what the nodes keep.
    let (rss0, rss1, _, disk1) = absent_reads_figures("absent", &[]);
    assert!(
        rss1.saturating_sub(rss0) < RSS_GROWTH_BOUND_KB,
        "resident memory grew {} kB",
        rss1.saturating_sub(rss0)
    );
    assert!(disk1 < DISK_BOUND_BYTES, "{disk1} bytes on disk");
}

/// For comparison: the same reads without folding (`--fold-promises 0`), as before the promise
/// floor (`cargo test --release --test paxos_runtime -- --ignored`).
#[test]
#[ignore]
fn reads_of_absent_keys_without_folding_for_comparison() {
    let _serial = serial();
    absent_reads_figures("absent-nofold", &[("fold-promises", 0)]);
}
