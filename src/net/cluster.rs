//! A local cluster: N nodes of one protocol on one host, each on its own thread and socket, with
//! scheduled crashes and restarts.
//!
//! Sockets are bound before any node starts, so every node knows every address (ephemeral ports
//! included). A crash stops a node's thread between batches (its volatile state and unsent
//! delayed datagrams are lost; what it committed to disk is kept); a restart binds the same
//! address again and starts the actor from its disk, as a rebooted machine would.

use super::faults::{NodeEvent, Target};
use super::record::Recorder;
use super::runnable::Runnable;
use super::storage::FsyncPolicy;
use super::{CounterValues, Counters, FaultConfig, NodeContext};
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How to start a cluster.
#[derive(Clone)]
pub struct ClusterConfig {
    pub protocol: Runnable,
    pub nodes: usize,
    pub host: Ipv4Addr,
    /// Node `i` listens on `port + i`; 0 picks free ports.
    pub port: u16,
    /// Node `i` keeps its disk in `data_dir/node<i>`.
    pub data_dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub faults: FaultConfig,
    pub crashes: Vec<NodeEvent>,
    pub restarts: Vec<NodeEvent>,
    /// Record every datagram, timer, crash and restart here (`--record`).
    pub record: Option<Arc<Recorder>>,
}

/// Binds a UDP socket with large kernel buffers, non-blocking (as mio wants it).
pub fn bind_udp(addr: SocketAddrV4) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // The kernel caps these at net.core.{r,w}mem_max; a smaller grant is not an error.
    let _ = socket.set_recv_buffer_size(super::node::SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(super::node::SOCKET_BUFFER_BYTES);
    socket.bind(&SocketAddr::V4(addr).into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

struct Slot {
    stop: Arc<AtomicBool>,
    /// What the running node publishes: the term it leads in plus one, or 0.
    leading: Arc<AtomicU64>,
    thread: Option<JoinHandle<io::Result<()>>>,
    /// Counters of every incarnation (a restart starts fresh ones).
    counters: Vec<Arc<Counters>>,
    error: Option<String>,
}

struct Inner {
    slots: Vec<Slot>,
    events: Vec<ClusterEvent>,
}

/// Something the cluster did to a node, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterEvent {
    pub at_secs: f64,
    pub node: usize,
    pub what: String,
}

/// One node's figures at the end of a run.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    pub node: usize,
    pub addr: String,
    pub counters: CounterValues,
    /// What stopped the node, if it failed (its disk, say).
    pub error: Option<String>,
    /// The term it led in when the run ended, if it was running and leading (protocols with a
    /// leader only).
    pub leading_term: Option<u64>,
    /// The protocol's own counts ([`Runnable::tallies`]), every incarnation added up, in the
    /// protocol's order (a JSON object).
    #[serde(serialize_with = "as_object")]
    pub protocol: Vec<(&'static str, u64)>,
}

/// What a cluster reports when it stops.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterReport {
    pub nodes: Vec<NodeReport>,
    pub total: CounterValues,
    /// The protocol's counts ([`Runnable::tallies`]) over every node, in the protocol's order
    /// (a JSON object).
    #[serde(serialize_with = "as_object")]
    pub protocol: Vec<(&'static str, u64)>,
    pub events: Vec<ClusterEvent>,
}

fn as_object<S: serde::Serializer>(pairs: &[(&str, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// A running local cluster.
pub struct Cluster {
    cfg: ClusterConfig,
    addrs: Arc<Vec<SocketAddrV4>>,
    epoch: Instant,
    inner: Arc<Mutex<Inner>>,
    scheduler: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Cluster {
    /// Binds every node's socket, starts every node, and arms the crash/restart schedule.
    pub fn start(cfg: ClusterConfig) -> Result<Cluster, String> {
        if cfg.nodes == 0 {
            return Err("a cluster needs at least one node".into());
        }
        if cfg.host.is_unspecified() {
            return Err(format!(
                "--host {}: nodes send from the address they bind and know each other by it; \
                 give a routable address (127.0.0.1 for a local cluster)",
                cfg.host
            ));
        }
        cfg.faults.validate(cfg.nodes)?;
        (cfg.protocol.fits)(&cfg.protocol.settings, cfg.nodes)?;
        for e in cfg.crashes.iter().chain(&cfg.restarts) {
            match e.target {
                Target::Node(n) if n >= cfg.nodes => {
                    return Err(format!(
                        "--crash/--restart {e}: there is no node {n} (nodes are 0..{})",
                        cfg.nodes - 1
                    ));
                }
                Target::Leader if !cfg.protocol.leader => {
                    return Err(format!(
                        "--crash/--restart {e}: {} has no leader; name a node (NODE@SECS)",
                        cfg.protocol.name
                    ));
                }
                _ => {}
            }
        }
        if let Some(p) = cfg.faults.partitions.iter().find(|p| p.leader.is_some()) {
            if !cfg.protocol.leader {
                return Err(format!(
                    "--partition {p}: {} has no leader; name the nodes (NODES@START-END)",
                    cfg.protocol.name
                ));
            }
        }
        for r in cfg.restarts.iter().filter(|r| r.target == Target::Leader) {
            if !cfg
                .crashes
                .iter()
                .any(|c| c.target == Target::Leader && c.at <= r.at)
            {
                return Err(format!(
                    "--restart {r}: restarts the node a --crash leader@SECS took down, and none comes before it"
                ));
            }
        }
        let mut sockets = Vec::new();
        let mut addrs = Vec::new();
        for i in 0..cfg.nodes {
            let port = if cfg.port == 0 {
                0
            } else {
                cfg.port
                    .checked_add(i as u16)
                    .ok_or_else(|| format!("--port {} + {i} is past 65535", cfg.port))?
            };
            let want = SocketAddrV4::new(cfg.host, port);
            let socket = bind_udp(want).map_err(|e| format!("cannot bind {want}: {e}"))?;
            let addr = match socket.local_addr() {
                Ok(SocketAddr::V4(a)) => a,
                _ => return Err(format!("{want}: not an IPv4 socket")),
            };
            sockets.push(socket);
            addrs.push(addr);
        }
        let addrs = Arc::new(addrs);
        let epoch = Instant::now();
        let mut slots = Vec::new();
        for (i, socket) in sockets.into_iter().enumerate() {
            let mut slot = Slot {
                stop: Arc::new(AtomicBool::new(false)),
                leading: Arc::new(AtomicU64::new(0)),
                thread: None,
                counters: Vec::new(),
                error: None,
            };
            launch(&cfg, &addrs, epoch, i, socket, &mut slot)
                .map_err(|e| format!("cannot start node {i}: {e}"))?;
            slots.push(slot);
        }
        let inner = Arc::new(Mutex::new(Inner {
            slots,
            events: Vec::new(),
        }));
        let mut cluster = Cluster {
            cfg,
            addrs,
            epoch,
            inner,
            scheduler: None,
        };
        cluster.arm_schedule();
        Ok(cluster)
    }

    /// Every node's address, in index order.
    pub fn addrs(&self) -> &[SocketAddrV4] {
        &self.addrs
    }

    fn arm_schedule(&mut self) {
        /// What the schedule does at a time, in this order among equal times.
        enum Step {
            Crash(Target),
            Restart(Target),
            /// Resolve a `--partition leader@START-END` to the node leading at START.
            Isolate(Arc<AtomicUsize>, Duration),
        }
        let rank = |s: &Step| match s {
            Step::Crash(_) => 0,
            Step::Isolate(..) => 1,
            Step::Restart(_) => 2,
        };
        let mut plan: Vec<(Duration, Step)> = self
            .cfg
            .crashes
            .iter()
            .map(|e| (e.at, Step::Crash(e.target)))
            .chain(
                self.cfg
                    .restarts
                    .iter()
                    .map(|e| (e.at, Step::Restart(e.target))),
            )
            .chain(self.cfg.faults.partitions.iter().filter_map(|p| {
                p.leader
                    .as_ref()
                    .map(|r| (p.start, Step::Isolate(r.clone(), p.end)))
            }))
            .collect();
        if plan.is_empty() {
            return;
        }
        plan.sort_by(|a, b| a.0.cmp(&b.0).then(rank(&a.1).cmp(&rank(&b.1))));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = stop.clone();
            let inner = self.inner.clone();
            let (cfg, addrs, epoch) = (self.cfg.clone(), self.addrs.clone(), self.epoch);
            std::thread::spawn(move || {
                // The leader now, or the first one after (an election may be on); None once
                // the cluster stops.
                let leader = || loop {
                    if let Some(n) = leader_of(&inner.lock().expect("cluster lock")) {
                        return Some(n);
                    }
                    if stop.load(Ordering::Relaxed) {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                };
                // The node the last `--crash leader` took down.
                let mut crashed_leader: Option<usize> = None;
                for (at, step) in plan {
                    while epoch.elapsed() < at {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let left = at.saturating_sub(epoch.elapsed());
                        std::thread::sleep(left.min(Duration::from_millis(20)));
                    }
                    match step {
                        Step::Crash(target) => {
                            // The term is the one the node led in when it was chosen (it may
                            // step down before the crash; it is still the node meant).
                            let (node, led) = match target {
                                Target::Node(n) => (n, None),
                                Target::Leader => match leader() {
                                    Some((n, term)) => (n, Some(term)),
                                    None => return,
                                },
                            };
                            let mut inner = inner.lock().expect("cluster lock");
                            let what = match led {
                                Some(term) => {
                                    crashed_leader = Some(node);
                                    format!("crashed (the leader, term {term})")
                                }
                                None => "crashed".to_string(),
                            };
                            crash_node(&mut inner, node, epoch, what, cfg.record.as_deref());
                        }
                        Step::Restart(target) => {
                            let node = match (target, crashed_leader) {
                                (Target::Node(n), _) => n,
                                (Target::Leader, Some(n)) => n,
                                (Target::Leader, None) => continue, // validated: a crash first
                            };
                            let mut inner = inner.lock().expect("cluster lock");
                            restart_node(&cfg, &addrs, epoch, &mut inner, node);
                        }
                        Step::Isolate(resolved, end) => {
                            let Some((node, term)) = leader() else {
                                return;
                            };
                            let mut inner = inner.lock().expect("cluster lock");
                            resolved.store(node, Ordering::Relaxed);
                            inner.events.push(ClusterEvent {
                                at_secs: epoch.elapsed().as_secs_f64(),
                                node,
                                what: format!(
                                    "partitioned from the others until {} s (the leader, term {})",
                                    end.as_secs_f64(),
                                    term
                                ),
                            });
                        }
                    }
                }
            })
        };
        self.scheduler = Some((stop, handle));
    }

    /// Whether node `i` is running.
    pub fn is_up(&self, i: usize) -> bool {
        let inner = self.inner.lock().expect("cluster lock");
        inner.slots[i]
            .thread
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// The first node whose thread ended on its own (not stopped or crashed by the schedule),
    /// with its address and error: a node only ends by itself when it cannot go on (its disk).
    pub fn failure(&self) -> Option<(usize, String, String)> {
        let mut inner = self.inner.lock().expect("cluster lock");
        for (i, slot) in inner.slots.iter_mut().enumerate() {
            let ended = slot.thread.as_ref().is_some_and(|t| t.is_finished());
            if ended && !slot.stop.load(Ordering::Relaxed) {
                join(slot);
                let error = slot
                    .error
                    .get_or_insert_with(|| "the node's loop ended unexpectedly".into())
                    .clone();
                return Some((i, self.addrs[i].to_string(), error));
            }
        }
        None
    }

    /// Stops every node cleanly (each finishes its batch: commits, sends) and reports.
    pub fn stop(mut self) -> ClusterReport {
        if let Some((stop, handle)) = self.scheduler.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
        let mut inner = self.inner.lock().expect("cluster lock");
        let leading: Vec<Option<u64>> = inner
            .slots
            .iter()
            .map(|s| {
                let running = s.thread.as_ref().is_some_and(|t| !t.is_finished());
                let term = s.leading.load(Ordering::Relaxed);
                (running && term > 0).then(|| term - 1)
            })
            .collect();
        for slot in &inner.slots {
            slot.stop.store(true, Ordering::Relaxed);
        }
        for slot in inner.slots.iter_mut() {
            join(slot);
        }
        let tallies = self.cfg.protocol.tallies;
        let nodes: Vec<NodeReport> = inner
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let counters = s
                    .counters
                    .iter()
                    .fold(CounterValues::default(), |acc, c| acc.add(&c.values()));
                NodeReport {
                    node: i,
                    addr: self.addrs[i].to_string(),
                    protocol: tallies.iter().copied().zip(counters.protocol).collect(),
                    counters,
                    error: s.error.clone(),
                    leading_term: leading[i],
                }
            })
            .collect();
        let total = nodes
            .iter()
            .fold(CounterValues::default(), |acc, n| acc.add(&n.counters));
        ClusterReport {
            nodes,
            protocol: tallies.iter().copied().zip(total.protocol).collect(),
            total,
            events: std::mem::take(&mut inner.events),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some((stop, _)) = &self.scheduler {
            stop.store(true, Ordering::Relaxed);
        }
        if let Ok(inner) = self.inner.lock() {
            for slot in &inner.slots {
                slot.stop.store(true, Ordering::Relaxed);
            }
        }
    }
}

fn launch(
    cfg: &ClusterConfig,
    addrs: &Arc<Vec<SocketAddrV4>>,
    epoch: Instant,
    index: usize,
    socket: UdpSocket,
    slot: &mut Slot,
) -> io::Result<()> {
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let leading = Arc::new(AtomicU64::new(0));
    let ctx = NodeContext {
        index,
        addrs: addrs.clone(),
        socket,
        dir: cfg.data_dir.join(format!("node{index}")),
        fsync: cfg.fsync,
        faults: cfg.faults.clone(),
        epoch,
        stop: stop.clone(),
        counters: counters.clone(),
        incarnation: slot.counters.len() as u64,
        leading: leading.clone(),
        record: cfg.record.clone(),
    };
    let thread = (cfg.protocol.launch)(ctx)?;
    slot.stop = stop;
    slot.leading = leading;
    slot.thread = Some(thread);
    slot.counters.push(counters);
    Ok(())
}

/// Waits for a stopped node's thread and keeps its error, if any.
fn join(slot: &mut Slot) {
    if let Some(t) = slot.thread.take() {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => slot.error = Some(e.to_string()),
            Err(_) => slot.error = Some("the node's thread panicked".into()),
        }
    }
}

/// The running node that leads in the highest term, and that term, if any says it leads.
fn leader_of(inner: &Inner) -> Option<(usize, u64)> {
    inner
        .slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.thread.as_ref().is_some_and(|t| !t.is_finished()))
        .map(|(i, s)| (s.leading.load(Ordering::Relaxed), i))
        .filter(|(term, _)| *term > 0)
        .max()
        .map(|(term, i)| (i, term - 1))
}

fn crash_node(
    inner: &mut Inner,
    i: usize,
    epoch: Instant,
    what: String,
    record: Option<&Recorder>,
) {
    let slot = &mut inner.slots[i];
    if slot.thread.is_none() {
        return;
    }
    slot.stop.store(true, Ordering::Relaxed);
    join(slot);
    slot.leading.store(0, Ordering::Relaxed);
    if let Some(r) = record {
        r.mark(i, &what);
    }
    inner.events.push(ClusterEvent {
        at_secs: epoch.elapsed().as_secs_f64(),
        node: i,
        what,
    });
}

fn restart_node(
    cfg: &ClusterConfig,
    addrs: &Arc<Vec<SocketAddrV4>>,
    epoch: Instant,
    inner: &mut Inner,
    i: usize,
) {
    let slot = &mut inner.slots[i];
    if slot.thread.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
    }
    join(slot);
    let what = match bind_udp(addrs[i]) {
        Ok(socket) => match launch(cfg, addrs, epoch, i, socket, slot) {
            Ok(()) => "restarted from disk".to_string(),
            Err(e) => format!("restart failed: {e}"),
        },
        Err(e) => format!("restart failed: cannot bind {}: {e}", addrs[i]),
    };
    if let Some(r) = &cfg.record {
        r.mark(i, &what);
    }
    inner.events.push(ClusterEvent {
        at_secs: epoch.elapsed().as_secs_f64(),
        node: i,
        what,
    });
}
