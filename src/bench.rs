//! `synod bench`: a local cluster, the load generator against it, and the linearizability verdict
//! of what the clients saw; with `--compare`, baselines measured in the same invocation.
//!
//! The run: start the cluster (ephemeral loopback ports, a temporary data directory), drive it
//! with the load generator for `--duration` seconds (crashes, restarts and partitions are timed
//! from the cluster's start), stop it, then check the recorded history per key
//! ([`crate::lincheck`]). Figures are the load generator's (see [`LoadReport`]) plus the nodes'
//! counters.
//!
//! **Baselines** (`--compare`), each driven by the same load generator with the same clients,
//! keys, mix and duration, one after another on the same machine:
//! - `spawn`: the same protocol's actor under `stateright::actor::spawn`, stateright's own UDP
//!   runtime (JSON for every message, no fsync, no faults), run in a child process
//!   (`synod spawn-baseline`) because spawn never returns and writes its storage into the working
//!   directory;
//! - `single-copy-kv`: one unreplicated server on Synod's runtime, the "no replication" reference;
//! - `echo`: a bare UDP echo loop, the most any request/reply server could do here.
//!
//! **An existing cluster** ([`bench_targets`], `synod bench --target ADDR,...`): the same load
//! generator and checker against servers already running (any lin-kv JSON servers: Synod nodes on
//! other machines, or another implementation), their keys checked as the [`lincheck::Model`]
//! given. Nothing is started or stopped, so there are no node counters, faults or baselines.
//!
//! **History export** (`history_out`, `--history-out FILE`): after the run the recorded history
//! goes to a file, `.edn` as Jepsen's EDN, anything else as JSON lines ([`crate::client::history`]),
//! for Knossos, Elle or Porcupine. The history is recorded for it even when the check is off.

use crate::catalog;
use crate::client::{self, EchoServer, HistoryFormat, LoadConfig, LoadReport, Wire};
use crate::convergence::{CounterReport, Settled};
use crate::lincheck::stale::{staleness, Staleness};
use crate::lincheck::{self, CheckReport, Verdict};
use crate::net::cluster::ClusterReport;
use crate::net::record::{self, Recorder, Written};
use crate::net::runnable::Runnable;
use crate::net::{Cluster, ClusterConfig, FaultConfig, FsyncPolicy, NodeEvent};
use crate::serve::temp_data_dir;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to run a benchmark.
#[derive(Clone)]
pub struct BenchConfig {
    pub protocol: Runnable,
    pub bug: Option<String>,
    pub nodes: usize,
    /// The workload; its `targets` are filled in with the cluster's addresses.
    pub load: LoadConfig,
    pub fsync: FsyncPolicy,
    pub faults: FaultConfig,
    pub crashes: Vec<NodeEvent>,
    pub restarts: Vec<NodeEvent>,
    /// Check the history for linearizability.
    pub check: bool,
    /// The history checker's time budget.
    pub check_budget: Duration,
    /// The baselines to measure too (`--compare`): `spawn`, `echo`, or runnable protocols by
    /// name; empty for none.
    pub compare: Vec<String>,
    /// Write the recorded history here after the run: `.edn` Jepsen EDN, otherwise JSON lines.
    pub history_out: Option<PathBuf>,
    /// Record the run (`--record`): the nodes' and clients' datagrams, the history, the verdict.
    pub record: Option<RecordTo>,
}

/// Where a run's recording goes (`--record FILE`, `--record-limit N`).
#[derive(Clone, Debug)]
pub struct RecordTo {
    pub path: PathBuf,
    pub max_events: usize,
}

/// How to benchmark servers that are already running (`synod bench --target ADDR,...`).
#[derive(Clone, Debug)]
pub struct TargetBenchConfig {
    /// The servers, `HOST:PORT` each; host names are resolved once before the run (IPv4 first).
    /// Client `c` starts at target `c % targets.len()` and follows error 11's leader hints.
    pub targets: Vec<String>,
    /// The workload; its `targets` are replaced by the resolved `targets`. A `key_base` of 0
    /// becomes the clock's microseconds: the checker takes every key to start absent, and the
    /// store may hold the keys of earlier runs (a later run starts above them, unless it starts
    /// within `keys` microseconds of the last).
    pub load: LoadConfig,
    /// What a key of the store is, for the history checker (`register`: read/write/cas;
    /// `write-once`: Paxos-like, no cas).
    pub model: lincheck::Model,
    /// Check the history for linearizability.
    pub check: bool,
    /// The history checker's time budget.
    pub check_budget: Duration,
    /// Write the recorded history here after the run: `.edn` Jepsen EDN, otherwise JSON lines.
    pub history_out: Option<PathBuf>,
    /// Record the clients' side of the run (the servers run elsewhere: their datagrams are not
    /// seen), the history and the verdict.
    pub record: Option<RecordTo>,
}

/// Where a run's history went.
#[derive(Clone, Debug)]
pub struct HistoryOut {
    pub path: PathBuf,
    pub format: HistoryFormat,
    /// The operations written (two lines each: invocation and completion), or why none were.
    pub written: Result<usize, String>,
}

/// One baseline's figures.
#[derive(Clone, Debug)]
pub struct Baseline {
    pub name: String,
    pub what: String,
    pub load: Result<LoadReport, String>,
}

/// What `synod bench` reports: of a local cluster it started ([`bench`]), or of servers already
/// running ([`bench_targets`]: no protocol, fsync, node counters or baselines).
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// The protocol of the local cluster; `None` for an existing cluster.
    pub protocol: Option<&'static str>,
    /// The servers as given (`--target`); empty for a local cluster.
    pub targets: Vec<String>,
    /// The sequential object the history was checked against.
    pub model: lincheck::Model,
    pub bug: Option<String>,
    /// The local cluster's nodes, or the number of targets.
    pub nodes: usize,
    /// The local cluster's fsync policy; `None` for an existing cluster (not ours to know).
    pub fsync: Option<FsyncPolicy>,
    pub faults: FaultConfig,
    pub crashes: Vec<NodeEvent>,
    pub restarts: Vec<NodeEvent>,
    pub load: LoadReport,
    /// The local cluster's node counters; `None` for an existing cluster.
    pub cluster: Option<ClusterReport>,
    pub lincheck: Option<CheckReport>,
    /// How stale the reads were (register stores with a recorded history).
    pub staleness: Option<Staleness>,
    /// A counter's convergence after the load, and its reads' bounds (counter protocols).
    pub counter: Option<CounterReport>,
    pub baselines: Vec<Baseline>,
    /// Where the history was written, if asked.
    pub history_out: Option<HistoryOut>,
    /// Where the recording was written (`--record`), or why it was not.
    pub record: Option<Result<Written, String>>,
}

impl BenchReport {
    /// 0: linearizable (or not checked); 1: not linearizable; 3: the checker ran out of time.
    pub fn exit_code(&self) -> u8 {
        match &self.counter {
            Some(c) if !c.ok() => return 1,
            // A counter run whose history was dropped could not be judged.
            None if self.model == lincheck::Model::Counter => return 3,
            _ => {}
        }
        match self.lincheck.as_ref().map(|c| &c.verdict) {
            Some(Verdict::NotLinearizable { .. }) => 1,
            Some(Verdict::Unknown { .. }) => 3,
            _ => 0,
        }
    }
}

/// How long a counter's replicas may take to agree after the load stops.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// Starts a cluster of `protocol`, runs `load` against it (then, for a counter, waits up to
/// `settle` for its replicas to agree), stops it.
#[allow(clippy::too_many_arguments)]
fn measure(
    protocol: &Runnable,
    nodes: usize,
    mut load: LoadConfig,
    fsync: FsyncPolicy,
    faults: &FaultConfig,
    crashes: &[NodeEvent],
    restarts: &[NodeEvent],
    settle: Option<Duration>,
) -> Result<(LoadReport, ClusterReport, Option<Settled>), String> {
    // A recorded run records the nodes as well as the clients.
    let record = load.record.clone();
    let dir = temp_data_dir("bench");
    let cluster = Cluster::start(ClusterConfig {
        protocol: protocol.clone(),
        nodes,
        host: Ipv4Addr::LOCALHOST,
        port: 0,
        data_dir: dir.clone(),
        fsync,
        faults: faults.clone(),
        crashes: crashes.to_vec(),
        restarts: restarts.to_vec(),
        record,
    })?;
    load.targets = cluster.addrs().iter().map(|a| SocketAddr::V4(*a)).collect();
    let result = client::run(&load).map_err(|e| e.to_string());
    // A counter: do the replicas agree once the load stops (before they are stopped)?
    let settled = match (&result, settle) {
        (Ok(_), Some(limit)) => Some(crate::convergence::settle(&load.targets, limit)),
        _ => None,
    };
    let report = cluster.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((result?, report, settled))
}

/// Fails early if `path` cannot be written (a run may take minutes; its history should not be
/// lost to a typo). Creates or truncates the file.
fn history_writable(path: Option<&Path>) -> Result<(), String> {
    match path {
        Some(p) => std::fs::File::create(p)
            .map(drop)
            .map_err(|e| format!("cannot write the history to {}: {e}", p.display())),
        None => Ok(()),
    }
}

/// After a run: writes the history to `history_out` if asked, then checks it if asked. The
/// history leaves the load report either way.
fn finish(
    report: &mut LoadReport,
    check: bool,
    model: lincheck::Model,
    budget: Duration,
    history_out: Option<&Path>,
) -> (
    Option<CheckReport>,
    Option<HistoryOut>,
    Option<Vec<lincheck::Op>>,
    Option<Staleness>,
) {
    let history = report.history.take();
    let out = history_out.map(|path| HistoryOut {
        path: path.to_path_buf(),
        format: HistoryFormat::for_path(path),
        written: match &history {
            Some(ops) => client::write_history(path, ops, model == lincheck::Model::Counter)
                .map(|_| ops.len())
                .map_err(|e| format!("cannot write {}: {e}", path.display())),
            None if report.history_overflow => Err(format!(
                "not written: the history passed {} operations and was dropped",
                client::load::MAX_HISTORY_OPS
            )),
            None => Err("not written: no history was recorded".into()),
        },
    });
    let lincheck = match &history {
        // A counter is eventually consistent by design: it is judged by convergence instead.
        Some(ops) if check && model != lincheck::Model::Counter => {
            Some(lincheck::check(ops, model, budget))
        }
        _ => None,
    };
    let staleness = match &history {
        Some(ops) if model == lincheck::Model::Register => Some(staleness(ops)),
        _ => None,
    };
    (lincheck, out, history, staleness)
}

/// After a recorded run: writes the recording with the history and the verdict.
#[allow(clippy::too_many_arguments)]
fn write_record(
    to: &RecordTo,
    recorder: &Recorder,
    protocol: Option<&str>,
    nodes: Vec<SocketAddr>,
    report: &LoadReport,
    history: Option<&[lincheck::Op]>,
    lincheck: Option<&CheckReport>,
    model: lincheck::Model,
) -> Result<Written, String> {
    let ctx = record::Context {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        protocol,
        nodes,
        history: history.map(|h| (h, report.start)),
        lincheck: lincheck.map(|c| (c, model)),
    };
    recorder
        .write(&to.path, &ctx)
        .map_err(|e| format!("cannot write the recording to {}: {e}", to.path.display()))
}

/// Runs the load generator against servers that are already running, then writes and checks the
/// history as [`bench`] does. Errors: a target that does not resolve, a load configuration out of
/// range, cas against the write-once model, an unwritable `history_out`.
pub fn bench_targets(cfg: &TargetBenchConfig) -> Result<BenchReport, String> {
    if cfg.targets.is_empty() {
        return Err("no targets: give at least one server address (HOST:PORT)".into());
    }
    if cfg.model == lincheck::Model::WriteOnce && cfg.load.cas > 0.0 {
        return Err("the write-once model has no cas; use --cas 0".into());
    }
    let mut load = cfg.load.clone();
    load.targets = cfg
        .targets
        .iter()
        .map(|t| client::resolve(t).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    load.record_history = cfg.check || cfg.history_out.is_some() || cfg.record.is_some();
    let recorder = cfg.record.as_ref().map(|r| Recorder::new(r.max_events));
    load.record = recorder.clone();
    let is_counter = cfg.model == lincheck::Model::Counter;
    if is_counter {
        counter_load(&mut load);
    } else if load.key_base == 0 {
        load.key_base = client::msg_id_base();
    }
    load.validate().map_err(|e| e.to_string())?;
    history_writable(cfg.history_out.as_deref())?;
    // The counter may hold earlier runs' adds: what its replicas agree on before the run is
    // the base of this run's bounds.
    let base = if is_counter {
        let before = crate::convergence::settle(&load.targets, SETTLE_LIMIT);
        match before.converged_after.and(before.values[0]) {
            Some(v) => v,
            None => {
                return Err(format!(
                    "the counter's replicas do not agree before the run (they read {:?}): its bounds cannot be known",
                    before.values
                ))
            }
        }
    } else {
        0
    };
    let mut report = client::run(&load).map_err(|e| e.to_string())?;
    let settled = is_counter.then(|| crate::convergence::settle(&load.targets, SETTLE_LIMIT));
    let (lincheck, history_out, history, staleness) = finish(
        &mut report,
        cfg.check,
        cfg.model,
        cfg.check_budget,
        cfg.history_out.as_deref(),
    );
    let counter = match (settled, &history) {
        (Some(s), Some(h)) => Some(CounterReport::new(h, s, base)),
        _ => None,
    };
    let record = match (&cfg.record, &recorder) {
        (Some(to), Some(r)) => Some(write_record(
            to,
            r,
            None,
            Vec::new(),
            &report,
            history.as_deref(),
            lincheck.as_ref(),
            cfg.model,
        )),
        _ => None,
    };
    Ok(BenchReport {
        protocol: None,
        targets: cfg.targets.clone(),
        model: cfg.model,
        bug: None,
        nodes: cfg.targets.len(),
        fsync: None,
        faults: FaultConfig::default(),
        crashes: Vec::new(),
        restarts: Vec::new(),
        load: report,
        cluster: None,
        lincheck,
        staleness,
        counter,
        baselines: Vec::new(),
        history_out,
        record,
    })
}

/// The load against a counter service: its wire, one counter, and the history the convergence
/// verdict needs (its adds).
fn counter_load(load: &mut client::LoadConfig) {
    load.wire = Wire::Counter;
    load.keys = 1;
    load.key_base = 0;
    load.record_history = true;
}

/// Runs the benchmark (and the baselines, if asked).
pub fn bench(cfg: &BenchConfig) -> Result<BenchReport, String> {
    let Some(model) = cfg.protocol.model else {
        return Err(format!(
            "{} serves no clients, so there is no load to run (see unloaded::bench_unloaded)",
            cfg.protocol.name
        ));
    };
    let mut load = cfg.load.clone();
    load.record_history = cfg.check || cfg.history_out.is_some() || cfg.record.is_some();
    load.retry_elsewhere = cfg.protocol.retry_elsewhere;
    let is_counter = model == lincheck::Model::Counter;
    if is_counter {
        if !cfg.compare.is_empty() {
            return Err(format!(
                "--compare runs the same lin-kv load against each baseline; {} serves a counter (add and read), which they do not",
                cfg.protocol.name
            ));
        }
        counter_load(&mut load);
    }
    if !cfg.protocol.cas && load.cas > 0.0 {
        return Err(format!(
            "{} does not support cas (error 10); use --cas 0",
            cfg.protocol.name
        ));
    }
    history_writable(cfg.history_out.as_deref())?;
    let recorder = cfg.record.as_ref().map(|r| Recorder::new(r.max_events));
    load.record = recorder.clone();
    let (mut report, cluster, settled) = measure(
        &cfg.protocol,
        cfg.nodes,
        load.clone(),
        cfg.fsync,
        &cfg.faults,
        &cfg.crashes,
        &cfg.restarts,
        is_counter.then_some(SETTLE_LIMIT),
    )?;
    let (lincheck, history_out, history, staleness) = finish(
        &mut report,
        cfg.check,
        model,
        cfg.check_budget,
        cfg.history_out.as_deref(),
    );
    let record = match (&cfg.record, &recorder) {
        (Some(to), Some(r)) => Some(write_record(
            to,
            r,
            Some(cfg.protocol.name),
            cluster
                .nodes
                .iter()
                .filter_map(|n| n.addr.parse().ok())
                .collect(),
            &report,
            history.as_deref(),
            lincheck.as_ref(),
            model,
        )),
        _ => None,
    };
    let counter = match (settled, &history) {
        (Some(s), Some(h)) => Some(CounterReport::new(h, s, 0)),
        _ => None,
    };
    drop(history);
    let mut baselines = Vec::new();
    let mut base = load.clone();
    base.record_history = false;
    base.record = None;
    for name in &cfg.compare {
        let (what, load) = match name.as_str() {
            "spawn" => (
                format!(
                    "{} on stateright::actor::spawn, {} nodes",
                    cfg.protocol.name, cfg.nodes
                ),
                spawn_baseline(cfg, base.clone()),
            ),
            "echo" => (
                "bare UDP echo loop, 1 thread".to_string(),
                echo_baseline(base.clone()),
            ),
            protocol => match catalog::runnable(protocol, None) {
                Ok(other) => {
                    // The reference is one server by definition; a replicated protocol runs on
                    // as many nodes as the subject. Same clients, keys, mix and fsync; no
                    // faults; a write-once store gets a fresh key per write, as its own bench.
                    let nodes = if protocol == catalog::REFERENCE {
                        1
                    } else {
                        cfg.nodes
                    };
                    let mut l = base.clone();
                    if !other.cas {
                        l.cas = 0.0;
                    }
                    l.fresh_writes = other.model == Some(lincheck::Model::WriteOnce);
                    l.retry_elsewhere = other.retry_elsewhere;
                    let plural = if nodes == 1 { "" } else { "s" };
                    (
                        format!("{protocol} on Synod's runtime, {nodes} node{plural}"),
                        measure(
                            &other,
                            nodes,
                            l,
                            cfg.fsync,
                            &FaultConfig::default(),
                            &[],
                            &[],
                            None,
                        )
                        .map(|(l, _, _)| l),
                    )
                }
                Err(e) => (String::new(), Err(e.to_string())),
            },
        };
        baselines.push(Baseline {
            name: name.clone(),
            what,
            load,
        });
    }
    Ok(BenchReport {
        protocol: Some(cfg.protocol.name),
        targets: Vec::new(),
        model,
        bug: cfg.bug.clone(),
        nodes: cfg.nodes,
        fsync: Some(cfg.fsync),
        faults: cfg.faults.clone(),
        crashes: cfg.crashes.clone(),
        restarts: cfg.restarts.clone(),
        load: report,
        cluster: Some(cluster),
        lincheck,
        staleness,
        counter,
        baselines,
        history_out,
        record,
    })
}

fn echo_baseline(mut load: LoadConfig) -> Result<LoadReport, String> {
    let echo = EchoServer::spawn(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))
        .map_err(|e| format!("cannot start the echo server: {e}"))?;
    load.targets = vec![echo.local_addr()];
    load.wire = Wire::Echo;
    let result = client::run(&load).map_err(|e| e.to_string());
    let _ = echo.stop();
    result
}

/// Free loopback ports for `n` nodes (bound and released; a race with another process taking
/// one is possible and reported as the baseline's error).
fn free_ports(n: usize) -> Result<Vec<SocketAddrV4>, String> {
    let sockets: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot find free ports: {e}"))?;
    sockets
        .iter()
        .map(|s| match s.local_addr() {
            Ok(SocketAddr::V4(a)) => Ok(a),
            _ => Err("not an IPv4 socket".to_string()),
        })
        .collect()
}

fn spawn_baseline(cfg: &BenchConfig, mut load: LoadConfig) -> Result<LoadReport, String> {
    let addrs = free_ports(cfg.nodes)?;
    let dir = temp_data_dir("spawn");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find synod's binary: {e}"))?;
    let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let mut child = std::process::Command::new(exe)
        .arg("spawn-baseline")
        .arg(cfg.protocol.name)
        .arg("--addrs")
        .arg(list.join(","))
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the spawn baseline: {e}"))?;
    // Wait until every node answers (the child binds its sockets as it starts).
    let ready = addrs.iter().all(|a| {
        (0..100).any(|_| {
            let probe = client::request_wire(
                Wire::StaterightJson,
                SocketAddr::V4(*a),
                client::Request {
                    key: u64::MAX,
                    kind: lincheck::OpKind::Read,
                },
                Duration::from_millis(50),
                0,
            );
            probe.is_ok()
        })
    });
    let result = if ready {
        load.targets = addrs.iter().map(|a| SocketAddr::V4(*a)).collect();
        load.wire = Wire::StaterightJson;
        client::run(&load).map_err(|e| e.to_string())
    } else {
        Err("the spawn baseline's nodes did not answer".into())
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A local cluster's faults as the JSON reports give them.
pub(crate) fn faults_json(
    faults: &FaultConfig,
    crashes: &[NodeEvent],
    restarts: &[NodeEvent],
) -> serde_json::Value {
    serde_json::json!({
        "seed": faults.seed,
        "loss": faults.loss,
        "dup": faults.dup,
        "delay_ms": faults.delay_ms,
        "jitter_ms": faults.jitter_ms,
        "partitions": faults.partitions.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "crashes": crashes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "restarts": restarts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
    })
}

pub(crate) fn fsync_name(fsync: FsyncPolicy) -> &'static str {
    match fsync {
        FsyncPolicy::Always => "always",
        FsyncPolicy::Never => "never",
    }
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

impl BenchReport {
    /// The name the report gives what it measured: the protocol, or "the targets".
    fn subject(&self) -> &'static str {
        self.protocol.unwrap_or("the targets")
    }

    pub fn to_text(&self) -> String {
        let plural = if self.nodes == 1 { "" } else { "s" };
        let mut out = match self.protocol {
            Some(protocol) => format!(
                "{protocol}{} on {} node{plural} (fsync {})\n",
                self.bug
                    .as_ref()
                    .map(|b| format!(" --bug {b}"))
                    .unwrap_or_default(),
                self.nodes,
                self.fsync.map_or("unknown", fsync_name),
            ),
            None => format!(
                "existing cluster: {} target{plural} ({}), keys checked as {} registers\n",
                self.nodes,
                self.targets.join(", "),
                self.model
            ),
        };
        match crate::serve::faults_text(&self.faults, &self.crashes, &self.restarts) {
            Some(line) => out.push_str(&format!("{line}\n")),
            None => out.push_str(&format!(
                "Seed {} (workload and timers; no faults injected)\n",
                self.faults.seed
            )),
        }
        out.push_str(&self.load.to_string());
        if !out.ends_with('\n') {
            out.push('\n');
        }
        if self.protocol.is_none() && self.load.ops == 0 && self.load.timeouts > 0 {
            out.push_str("no target answered in time: are the nodes listening there?\n");
        }
        if let Some(cluster) = &self.cluster {
            out.push_str(&crate::serve::counters_text(cluster));
        }
        match (&self.lincheck, &self.counter) {
            (_, Some(c)) => out.push_str(&c.to_text()),
            (None, None) if self.model == lincheck::Model::Counter => out.push_str(
                "Convergence: not judged: the history passed its bound and was dropped (exit 3); run shorter\n",
            ),
            (None, None) => out.push_str("Linearizability: not checked\n"),
            (Some(c), None) => out.push_str(&lincheck_text(c, self.model)),
        }
        if let Some(s) = &self.staleness {
            out.push_str(&staleness_text(s));
        }
        if let Some(h) = &self.history_out {
            match &h.written {
                Ok(ops) => out.push_str(&format!(
                    "History: {ops} ops ({} lines, {}) written to {}\n",
                    2 * ops,
                    h.format.name(),
                    h.path.display()
                )),
                Err(e) => out.push_str(&format!("History: {e}\n")),
            }
        }
        match &self.record {
            Some(Ok(w)) => out.push_str(&format!("{}\n", crate::serve::record_text(w))),
            Some(Err(e)) => out.push_str(&format!("Recording: {e}\n")),
            None => {}
        }
        if !self.baselines.is_empty() {
            out.push_str("Baselines (same load generator, same machine, one after another):\n");
            let me = self.load.ops_per_sec;
            for b in &self.baselines {
                match &b.load {
                    Ok(l) => out.push_str(&format!(
                        "  {:<15} {:>10.0} ops/s  p50 {} us  p99 {} us  ({}; {} is {} of it)\n",
                        b.name,
                        l.ops_per_sec,
                        l.latency_us_at(0.5),
                        l.latency_us_at(0.99),
                        b.what,
                        self.subject(),
                        if l.ops_per_sec > 0.0 {
                            pct(me / l.ops_per_sec)
                        } else {
                            "n/a".into()
                        }
                    )),
                    Err(e) => out.push_str(&format!("  {:<15} failed: {e}\n", b.name)),
                }
            }
            let get = |n: &str| {
                self.baselines
                    .iter()
                    .find(|b| b.name == n)
                    .and_then(|b| b.load.as_ref().ok())
                    .map(|l| l.ops_per_sec)
            };
            if let (Some(s), Some(e)) = (get(catalog::REFERENCE), get("echo")) {
                if e > 0.0 {
                    out.push_str(&format!(
                        "  {} / echo: {}\n",
                        catalog::REFERENCE,
                        pct(s / e)
                    ));
                }
            }
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        let baselines: Vec<serde_json::Value> = self
            .baselines
            .iter()
            .map(|b| match &b.load {
                Ok(l) => serde_json::json!({
                    "name": b.name,
                    "what": b.what,
                    "load": l.to_json(),
                    "ratio": if l.ops_per_sec > 0.0 { Some(self.load.ops_per_sec / l.ops_per_sec) } else { None },
                }),
                Err(e) => serde_json::json!({"name": b.name, "what": b.what, "error": e}),
            })
            .collect();
        let history_out = self.history_out.as_ref().map(|h| match &h.written {
            Ok(ops) => serde_json::json!({
                "path": h.path.display().to_string(),
                "format": h.format.name(),
                "ops": ops,
                "lines": 2 * ops,
            }),
            Err(e) => serde_json::json!({
                "path": h.path.display().to_string(),
                "format": h.format.name(),
                "error": e,
            }),
        });
        // An existing cluster's faults are not ours to inject or know.
        let faults = self
            .protocol
            .map(|_| faults_json(&self.faults, &self.crashes, &self.restarts));
        serde_json::json!({
            "protocol": self.protocol,
            "targets": self.targets,
            "model": self.model.name(),
            "bug": self.bug,
            "nodes": self.nodes,
            "fsync": self.fsync.map(fsync_name),
            "faults": faults,
            "load": self.load.to_json(),
            "cluster": self.cluster.as_ref().map(|c| serde_json::to_value(c).expect("counters serialise")),
            "lincheck": self.lincheck.as_ref().map(|c| lincheck_json(c, self.model)),
            "convergence": self.counter.as_ref().map(|c| c.to_json()),
            "staleness": self.staleness.as_ref().map(|s| serde_json::json!({
                "reads": s.reads,
                "unjudged": s.unjudged,
                "stale": s.stale,
                "staleness_us_p50": s.quantile_us(0.5),
                "staleness_us_p99": s.quantile_us(0.99),
                "staleness_us_max": s.max_us(),
            })),
            "baselines": baselines,
            "history_out": history_out,
            "record": match &self.record {
                Some(Ok(w)) => serde_json::to_value(w).expect("figures serialise"),
                Some(Err(e)) => serde_json::json!({"error": e}),
                None => serde_json::Value::Null,
            },
        })
    }
}

/// `Staleness: 12 of 6,000 reads (0.20%) returned a value overwritten before they began, ...`
fn staleness_text(s: &Staleness) -> String {
    use crate::util::thousands;
    let unjudged = if s.unjudged > 0 {
        format!(" ({} more could not be judged)", thousands(s.unjudged))
    } else {
        String::new()
    };
    if s.stale == 0 {
        return format!(
            "Staleness: none of {} reads returned a value overwritten before it began{unjudged}\n",
            thousands(s.reads)
        );
    }
    let ms = |us: Option<u64>| us.map_or("-".into(), |us| format!("{:.1}", us as f64 / 1000.0));
    format!(
        "Staleness: {} of {} reads ({:.2}%) returned a value overwritten before they began{unjudged}; \
         the newer value had been acknowledged for p50 {} ms, p99 {} ms, max {} ms\n",
        thousands(s.stale),
        thousands(s.reads),
        100.0 * s.stale as f64 / s.reads.max(1) as f64,
        ms(s.quantile_us(0.5)),
        ms(s.quantile_us(0.99)),
        ms(s.max_us()),
    )
}

fn lincheck_text(c: &CheckReport, model: lincheck::Model) -> String {
    let head = format!(
        "Linearizability: {} ops ({} indeterminate) on {} keys checked in {:.2} s: ",
        c.ops, c.indeterminate, c.keys, c.seconds
    );
    match &c.verdict {
        Verdict::Linearizable => format!("{head}linearizable\n"),
        Verdict::Unknown { key, reason } => format!("{head}unknown (key {key}: {reason})\n"),
        Verdict::NotLinearizable { key, ops } => {
            let mut s = format!(
                "{head}NOT linearizable\n  key {key} (the failing key with the fewest operations: {}; --format json lists them all)\n",
                ops.len()
            );
            const SHOWN: usize = 30;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            match lincheck::shortest_failing_prefix(ops, model, deadline) {
                Some((t, prefix)) => {
                    s.push_str(&format!(
                        "  no linearization explains what was seen by {:.3} ms; the last {} of the {} operations invoked by then (ms from the start; ? = no reply by then):\n",
                        t as f64 / 1e6,
                        prefix.len().min(SHOWN),
                        prefix.len()
                    ));
                    let skip = prefix.len().saturating_sub(SHOWN);
                    for op in &prefix[skip..] {
                        s.push_str(&format!("    {}\n", op_text(op)));
                    }
                }
                None => {
                    for op in ops.iter().take(SHOWN) {
                        s.push_str(&format!("    {}\n", op_text(op)));
                    }
                }
            }
            s
        }
    }
}

fn op_text(op: &lincheck::Op) -> String {
    let kind = match op.kind {
        lincheck::OpKind::Read => "read".to_string(),
        lincheck::OpKind::Write(v) => format!("write {v}"),
        lincheck::OpKind::Cas { from, to } => format!("cas {from} -> {to}"),
        lincheck::OpKind::Add(d) => format!("add {d}"),
    };
    let end = match op.outcome {
        lincheck::Outcome::Indeterminate => "?".to_string(),
        _ => format!("{:.3}", op.complete_ns as f64 / 1e6),
    };
    format!(
        "client {:>3} [{:.3} .. {end}] {kind}: {:?}",
        op.client,
        op.invoke_ns as f64 / 1e6,
        op.outcome
    )
}

fn lincheck_json(c: &CheckReport, model: lincheck::Model) -> serde_json::Value {
    let detail = match &c.verdict {
        Verdict::Linearizable => serde_json::Value::Null,
        Verdict::Unknown { key, reason } => serde_json::json!({"key": key, "reason": reason}),
        Verdict::NotLinearizable { key, ops } => {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let prefix = lincheck::shortest_failing_prefix(ops, model, deadline).map(|(t, p)| {
                serde_json::json!({
                    "at_ms": t as f64 / 1e6,
                    "ops": p.iter().map(op_text).collect::<Vec<_>>(),
                })
            });
            serde_json::json!({
                "key": key,
                "ops": ops.iter().map(op_text).collect::<Vec<_>>(),
                "shortest_failing_prefix": prefix,
            })
        }
    };
    let verdict = c.verdict.name();
    serde_json::json!({
        "verdict": verdict,
        "detail": detail,
        "ops": c.ops,
        "indeterminate": c.indeterminate,
        "keys": c.keys,
        "seconds": c.seconds,
    })
}
