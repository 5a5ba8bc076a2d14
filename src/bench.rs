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

use crate::client::{self, EchoServer, LoadConfig, LoadReport, Wire};
use crate::lincheck::{self, CheckReport, Verdict};
use crate::net::cluster::ClusterReport;
use crate::net::protocols::{self, Runnable};
use crate::net::{Cluster, ClusterConfig, FaultConfig, FsyncPolicy, NodeEvent};
use crate::serve::temp_data_dir;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
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
    /// Also measure the baselines.
    pub compare: bool,
}

/// One baseline's figures.
#[derive(Clone, Debug)]
pub struct Baseline {
    pub name: &'static str,
    pub what: String,
    pub load: Result<LoadReport, String>,
}

/// What `synod bench` reports.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub protocol: &'static str,
    /// The sequential object the history was checked against.
    pub model: lincheck::Model,
    pub bug: Option<String>,
    pub nodes: usize,
    pub fsync: FsyncPolicy,
    pub faults: FaultConfig,
    pub crashes: Vec<NodeEvent>,
    pub restarts: Vec<NodeEvent>,
    pub load: LoadReport,
    pub cluster: ClusterReport,
    pub lincheck: Option<CheckReport>,
    pub baselines: Vec<Baseline>,
}

impl BenchReport {
    /// 0: linearizable (or not checked); 1: not linearizable; 3: the checker ran out of time.
    pub fn exit_code(&self) -> u8 {
        match self.lincheck.as_ref().map(|c| &c.verdict) {
            Some(Verdict::NotLinearizable { .. }) => 1,
            Some(Verdict::Unknown { .. }) => 3,
            _ => 0,
        }
    }
}

/// Starts a cluster of `protocol`, runs `load` against it, stops it.
fn measure(
    protocol: &Runnable,
    nodes: usize,
    mut load: LoadConfig,
    fsync: FsyncPolicy,
    faults: &FaultConfig,
    crashes: &[NodeEvent],
    restarts: &[NodeEvent],
) -> Result<(LoadReport, ClusterReport), String> {
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
    })?;
    load.targets = cluster.addrs().iter().map(|a| SocketAddr::V4(*a)).collect();
    let result = client::run(&load).map_err(|e| e.to_string());
    let report = cluster.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((result?, report))
}

/// Runs the benchmark (and the baselines, if asked).
pub fn bench(cfg: &BenchConfig) -> Result<BenchReport, String> {
    let mut load = cfg.load.clone();
    load.record_history = cfg.check;
    if !cfg.protocol.cas && load.cas > 0.0 {
        return Err(format!(
            "{} does not support cas (error 10); use --cas 0",
            cfg.protocol.name
        ));
    }
    let (mut report, cluster) = measure(
        &cfg.protocol,
        cfg.nodes,
        load.clone(),
        cfg.fsync,
        &cfg.faults,
        &cfg.crashes,
        &cfg.restarts,
    )?;
    let lincheck = match report.history.take() {
        Some(history) if cfg.check => Some(lincheck::check(
            &history,
            cfg.protocol.model,
            cfg.check_budget,
        )),
        _ => None,
    };
    let mut baselines = Vec::new();
    if cfg.compare {
        let mut base = load.clone();
        base.record_history = false;
        baselines.push(Baseline {
            name: "spawn",
            what: format!(
                "{} on stateright::actor::spawn, {} nodes",
                cfg.protocol.name, cfg.nodes
            ),
            load: spawn_baseline(cfg, base.clone()),
        });
        if let Ok(single) = protocols::runnable("single-copy-kv", None) {
            let mut l = base.clone();
            if !single.cas {
                l.cas = 0.0;
            }
            baselines.push(Baseline {
                name: "single-copy-kv",
                what: "single-copy-kv on Synod's runtime, 1 node".into(),
                load: measure(&single, 1, l, cfg.fsync, &FaultConfig::default(), &[], &[])
                    .map(|(l, _)| l),
            });
        }
        baselines.push(Baseline {
            name: "echo",
            what: "bare UDP echo loop, 1 thread".into(),
            load: echo_baseline(base),
        });
    }
    Ok(BenchReport {
        protocol: cfg.protocol.name,
        model: cfg.protocol.model,
        bug: cfg.bug.clone(),
        nodes: cfg.nodes,
        fsync: cfg.fsync,
        faults: cfg.faults.clone(),
        crashes: cfg.crashes.clone(),
        restarts: cfg.restarts.clone(),
        load: report,
        cluster,
        lincheck,
        baselines,
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

/// `synod spawn-baseline`: runs `protocol`'s actors under `stateright::actor::spawn` on `addrs`
/// until killed (the child process of a `--compare`).
pub fn spawn_baseline_main(protocol: &str, addrs: Vec<SocketAddrV4>) -> Result<(), String> {
    use stateright::actor::{spawn, Id};
    use synod_models::paxos::PaxosServer;
    let ids: Vec<Id> = addrs.iter().map(|a| Id::from(*a)).collect();
    match protocol {
        "paxos" => {
            let actors: Vec<(Id, PaxosServer)> = ids
                .iter()
                .enumerate()
                .map(|(index, id)| {
                    (
                        *id,
                        PaxosServer {
                            index,
                            servers: ids.clone(),
                            bug: None,
                            retry_rounds: u32::MAX,
                            tell_laggards: true,
                        },
                    )
                })
                .collect();
            spawn(
                serde_json::to_vec,
                |b| serde_json::from_slice(b),
                serde_json::to_vec,
                |b| serde_json::from_slice(b),
                actors,
            )
            .map_err(|_| "an actor panicked under spawn".to_string())
        }
        "single-copy-kv" => {
            use synod_models::single_copy_kv::SingleCopyServer;
            let actors: Vec<(Id, SingleCopyServer)> = ids
                .iter()
                .enumerate()
                .map(|(index, id)| (*id, SingleCopyServer::new(index, ids.clone())))
                .collect();
            spawn(
                serde_json::to_vec,
                |b| serde_json::from_slice(b),
                serde_json::to_vec,
                |b| serde_json::from_slice(b),
                actors,
            )
            .map_err(|_| "an actor panicked under spawn".to_string())
        }
        other => Err(format!("no spawn baseline for {other}")),
    }
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

impl BenchReport {
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}{} on {} node{} (fsync {})\n",
            self.protocol,
            self.bug
                .as_ref()
                .map(|b| format!(" --bug {b}"))
                .unwrap_or_default(),
            self.nodes,
            if self.nodes == 1 { "" } else { "s" },
            match self.fsync {
                FsyncPolicy::Always => "always",
                FsyncPolicy::Never => "never",
            }
        );
        out.push_str(&self.load.to_string());
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&crate::serve::counters_text(&self.cluster));
        match &self.lincheck {
            None => out.push_str("Linearizability: not checked\n"),
            Some(c) => out.push_str(&lincheck_text(c, self.model)),
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
                        self.protocol,
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
            if let (Some(s), Some(e)) = (get("single-copy-kv"), get("echo")) {
                if e > 0.0 {
                    out.push_str(&format!("  single-copy-kv / echo: {}\n", pct(s / e)));
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
        serde_json::json!({
            "protocol": self.protocol,
            "bug": self.bug,
            "nodes": self.nodes,
            "fsync": match self.fsync { FsyncPolicy::Always => "always", FsyncPolicy::Never => "never" },
            "faults": {
                "seed": self.faults.seed,
                "loss": self.faults.loss,
                "dup": self.faults.dup,
                "delay_ms": self.faults.delay_ms,
                "jitter_ms": self.faults.jitter_ms,
                "partitions": self.faults.partitions.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "crashes": self.crashes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "restarts": self.restarts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            },
            "load": self.load.to_json(),
            "cluster": serde_json::to_value(&self.cluster).expect("counters serialise"),
            "lincheck": self.lincheck.as_ref().map(|c| lincheck_json(c, self.model)),
            "baselines": baselines,
        })
    }
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
    let (verdict, detail) = match &c.verdict {
        Verdict::Linearizable => ("linearizable", serde_json::Value::Null),
        Verdict::Unknown { key, reason } => {
            ("unknown", serde_json::json!({"key": key, "reason": reason}))
        }
        Verdict::NotLinearizable { key, ops } => {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let prefix = lincheck::shortest_failing_prefix(ops, model, deadline).map(|(t, p)| {
                serde_json::json!({
                    "at_ms": t as f64 / 1e6,
                    "ops": p.iter().map(op_text).collect::<Vec<_>>(),
                })
            });
            (
                "not linearizable",
                serde_json::json!({
                    "key": key,
                    "ops": ops.iter().map(op_text).collect::<Vec<_>>(),
                    "shortest_failing_prefix": prefix,
                }),
            )
        }
    };
    serde_json::json!({
        "verdict": verdict,
        "detail": detail,
        "ops": c.ops,
        "indeterminate": c.indeterminate,
        "keys": c.keys,
        "seconds": c.seconds,
    })
}
