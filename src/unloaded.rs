//! `synod bench PROTOCOL` for a protocol that serves no clients (`clocks`): its cluster runs on
//! its own for `--duration` seconds, faults and all, and is judged by what its servers checked
//! and counted ([`Runnable::judge`] over the tallies summed across nodes and incarnations).
//!
//! There is no load generator and no history, so the client flags (`--clients`, `--keys`,
//! `--compare`, ...) are refused by the command line rather than ignored.

use crate::bench::RecordTo;
use crate::net::cluster::ClusterReport;
use crate::net::record::{Recorder, Written};
use crate::net::runnable::Runnable;
use crate::net::{Cluster, ClusterConfig, FaultConfig, FsyncPolicy, NodeEvent};
use crate::serve::temp_data_dir;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use synod_models::protocol::Judged;

/// How to run a protocol without clients.
#[derive(Clone)]
pub struct UnloadedConfig {
    pub protocol: Runnable,
    pub bug: Option<String>,
    pub nodes: usize,
    pub duration: Duration,
    pub fsync: FsyncPolicy,
    pub faults: FaultConfig,
    pub crashes: Vec<NodeEvent>,
    pub restarts: Vec<NodeEvent>,
    pub record: Option<RecordTo>,
}

/// What such a run reports.
#[derive(Clone, Debug)]
pub struct UnloadedReport {
    pub protocol: &'static str,
    pub bug: Option<String>,
    pub nodes: usize,
    /// How long the cluster ran.
    pub seconds: f64,
    pub fsync: FsyncPolicy,
    pub faults: FaultConfig,
    pub crashes: Vec<NodeEvent>,
    pub restarts: Vec<NodeEvent>,
    pub cluster: ClusterReport,
    /// The verdict from the summed tallies; `None` if the protocol gives none.
    pub judged: Option<Judged>,
    /// A node that stopped on its own (its disk, say), which ends the run early.
    pub failure: Option<String>,
    pub record: Option<Result<Written, String>>,
}

/// Starts the cluster, lets it run, stops it, and judges its counts.
pub fn bench_unloaded(cfg: &UnloadedConfig) -> Result<UnloadedReport, String> {
    let dir = temp_data_dir("bench");
    let recorder = cfg.record.as_ref().map(|r| Recorder::new(r.max_events));
    let cluster = Cluster::start(ClusterConfig {
        protocol: cfg.protocol.clone(),
        nodes: cfg.nodes,
        host: Ipv4Addr::LOCALHOST,
        port: 0,
        data_dir: dir.clone(),
        fsync: cfg.fsync,
        faults: cfg.faults.clone(),
        crashes: cfg.crashes.clone(),
        restarts: cfg.restarts.clone(),
        record: recorder.clone(),
    })?;
    let start = Instant::now();
    // No signal ends a bench early: only the duration, or a node failing.
    let failure = crate::serve::wait(&AtomicBool::new(false), Some(cfg.duration), &cluster)
        .map(|(node, addr, error)| format!("node {node} ({addr}) stopped: {error}"));
    let seconds = start.elapsed().as_secs_f64();
    let nodes: Vec<SocketAddr> = cluster.addrs().iter().map(|a| (*a).into()).collect();
    let report = cluster.stop();
    let _ = std::fs::remove_dir_all(&dir);
    let record = match (&cfg.record, &recorder) {
        (Some(to), Some(r)) => Some(crate::serve::write_nodes_recording(
            r,
            to,
            cfg.protocol.name,
            nodes,
        )),
        _ => None,
    };
    Ok(UnloadedReport {
        protocol: cfg.protocol.name,
        bug: cfg.bug.clone(),
        nodes: cfg.nodes,
        seconds,
        fsync: cfg.fsync,
        faults: cfg.faults.clone(),
        crashes: cfg.crashes.clone(),
        restarts: cfg.restarts.clone(),
        judged: (cfg.protocol.judge)(&report.total.protocol),
        cluster: report,
        failure,
        record,
    })
}

/// `Verdict: holds: ...`, one line.
pub fn judged_text(j: &Judged) -> String {
    match j {
        Judged::Holds(what) => format!("Verdict: holds: {what}\n"),
        Judged::Violated(what) => format!("Verdict: VIOLATED: {what}\n"),
        Judged::Unjudged(why) => format!("Verdict: not judged: {why}\n"),
    }
}

fn judged_json(j: &Judged) -> serde_json::Value {
    let (verdict, detail) = match j {
        Judged::Holds(d) => ("holds", d),
        Judged::Violated(d) => ("violated", d),
        Judged::Unjudged(d) => ("unjudged", d),
    };
    serde_json::json!({"verdict": verdict, "detail": detail})
}

impl UnloadedReport {
    /// 0: held; 1: violated, or a node failed; 3: could not be judged.
    pub fn exit_code(&self) -> u8 {
        let failed = self.failure.is_some() || self.cluster.nodes.iter().any(|n| n.error.is_some());
        match (&self.judged, failed) {
            (Some(Judged::Violated(_)), _) | (_, true) => 1,
            (Some(Judged::Unjudged(_)), _) => 3,
            _ => 0,
        }
    }

    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}{} on {} nodes for {:.1} s (fsync {}; no clients: the nodes act on their own)\n",
            self.protocol,
            self.bug
                .as_ref()
                .map(|b| format!(" --bug {b}"))
                .unwrap_or_default(),
            self.nodes,
            self.seconds,
            crate::bench::fsync_name(self.fsync),
        );
        match crate::serve::faults_text(&self.faults, &self.crashes, &self.restarts) {
            Some(line) => out.push_str(&format!("{line}\n")),
            None => out.push_str(&format!(
                "Seed {} (timers and random choices; no faults injected)\n",
                self.faults.seed
            )),
        }
        out.push_str(&crate::serve::counters_text(&self.cluster));
        if let Some(f) = &self.failure {
            out.push_str(&format!("Failure: {f}; the run ended early\n"));
        }
        if let Some(j) = &self.judged {
            out.push_str(&judged_text(j));
        }
        match &self.record {
            Some(Ok(w)) => out.push_str(&format!("{}\n", crate::serve::record_text(w))),
            Some(Err(e)) => out.push_str(&format!("Recording: {e}\n")),
            None => {}
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "protocol": self.protocol,
            "bug": self.bug,
            "nodes": self.nodes,
            "seconds": self.seconds,
            "fsync": crate::bench::fsync_name(self.fsync),
            "faults": crate::bench::faults_json(&self.faults, &self.crashes, &self.restarts),
            "cluster": serde_json::to_value(&self.cluster).expect("counters serialise"),
            "failure": self.failure,
            "verdict": self.judged.as_ref().map(judged_json),
            "record": match &self.record {
                Some(Ok(w)) => serde_json::to_value(w).expect("figures serialise"),
                Some(Err(e)) => serde_json::json!({"error": e}),
                None => serde_json::Value::Null,
            },
        })
    }
}
