//! `synod run`, `synod node` and `synod client`: the runtime and the client as commands.
//!
//! `run` starts a local cluster (every node a thread of this process, on loopback by default),
//! prints the nodes' addresses and serves until Ctrl-C or `--duration`, then stops every node
//! cleanly and prints the counters. `node` runs one node of a cluster whose other nodes are other
//! processes, possibly on other machines. `client` sends one request and prints the reply.

use crate::client::{self, ReplyBody, Request};
use crate::lincheck::OpKind;
use crate::net::cluster::ClusterReport;
use crate::net::protocols::Runnable;
use crate::net::{self, Cluster, ClusterConfig, Counters, FaultConfig, FsyncPolicy, NodeEvent};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How `synod run` starts its cluster.
pub struct RunConfig {
    pub protocol: Runnable,
    pub nodes: usize,
    pub host: Ipv4Addr,
    pub port: u16,
    /// `None`: a fresh temporary directory, removed on exit.
    pub data_dir: Option<PathBuf>,
    pub fsync: FsyncPolicy,
    pub faults: FaultConfig,
    pub crashes: Vec<NodeEvent>,
    pub restarts: Vec<NodeEvent>,
    /// `None`: until Ctrl-C.
    pub duration: Option<Duration>,
}

/// A flag set by Ctrl-C (SIGINT) or SIGTERM.
fn interrupted() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // Fails only if a handler is already installed, which this process never does twice.
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    flag
}

/// Waits for Ctrl-C or the end of `duration`.
fn wait(duration: Option<Duration>) {
    let stop = interrupted();
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && duration.is_none_or(|d| start.elapsed() < d) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh directory under the system's temporary directory.
pub fn temp_data_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("synod-{tag}-{}-{nanos}", std::process::id()))
}

pub fn run(cfg: RunConfig) -> ExitCode {
    let (data_dir, temporary) = match &cfg.data_dir {
        Some(d) => (d.clone(), false),
        None => (temp_data_dir("run"), true),
    };
    let cluster = Cluster::start(ClusterConfig {
        protocol: cfg.protocol.clone(),
        nodes: cfg.nodes,
        host: cfg.host,
        port: cfg.port,
        data_dir: data_dir.clone(),
        fsync: cfg.fsync,
        faults: cfg.faults.clone(),
        crashes: cfg.crashes.clone(),
        restarts: cfg.restarts.clone(),
    });
    let cluster = match cluster {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "{}: {} node{} (data in {}{})",
        cfg.protocol.name,
        cfg.nodes,
        if cfg.nodes == 1 { "" } else { "s" },
        data_dir.display(),
        if temporary { ", removed on exit" } else { "" }
    );
    for (i, a) in cluster.addrs().iter().enumerate() {
        println!("  node {i}  {a}");
    }
    print_faults(&cfg.faults, &cfg.crashes, &cfg.restarts);
    println!(
        "Serving lin-kv JSON over UDP, e.g. `synod client {} write 3 7`. {}",
        cluster.addrs()[0],
        match cfg.duration {
            Some(d) => format!("Stopping after {} s.", d.as_secs_f64()),
            None => "Ctrl-C to stop.".to_string(),
        }
    );
    wait(cfg.duration);
    let report = cluster.stop();
    print!("{}", counters_text(&report));
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    if report.nodes.iter().any(|n| n.error.is_some()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One line per configured fault, so a run's output says how it was run.
pub fn print_faults(faults: &FaultConfig, crashes: &[NodeEvent], restarts: &[NodeEvent]) {
    let mut parts = Vec::new();
    if faults.loss > 0.0 {
        parts.push(format!("loss {}", faults.loss));
    }
    if faults.dup > 0.0 {
        parts.push(format!("dup {}", faults.dup));
    }
    if faults.delay_ms > 0.0 || faults.jitter_ms > 0.0 {
        parts.push(format!(
            "delay {} ms ± {} ms",
            faults.delay_ms, faults.jitter_ms
        ));
    }
    for p in &faults.partitions {
        parts.push(format!("partition {p}"));
    }
    for c in crashes {
        parts.push(format!("crash {c}"));
    }
    for r in restarts {
        parts.push(format!("restart {r}"));
    }
    if !parts.is_empty() {
        println!("Faults (seed {}): {}", faults.seed, parts.join(", "));
    }
}

/// The counters of every node, nonzero ones only, and what the cluster did to its nodes.
pub fn counters_text(report: &ClusterReport) -> String {
    let mut out = String::from("Counters:\n");
    for n in &report.nodes {
        let nonzero: Vec<String> = n
            .counters
            .named()
            .into_iter()
            .filter(|(_, v)| *v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        out.push_str(&format!(
            "  node {} {}: {}\n",
            n.node,
            n.addr,
            if nonzero.is_empty() {
                "nothing happened".to_string()
            } else {
                nonzero.join(", ")
            }
        ));
        if let Some(e) = &n.error {
            out.push_str(&format!("  node {} failed: {e}\n", n.node));
        }
    }
    for e in &report.events {
        out.push_str(&format!(
            "  at {:.2} s node {} {}\n",
            e.at_secs, e.node, e.what
        ));
    }
    out
}

/// How `synod node` runs its one node.
pub struct NodeConfig {
    pub protocol: Runnable,
    pub listen: SocketAddrV4,
    pub peers: Vec<SocketAddrV4>,
    pub data_dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub faults: FaultConfig,
    pub duration: Option<Duration>,
}

pub fn node(cfg: NodeConfig) -> ExitCode {
    let Some(index) = cfg.peers.iter().position(|p| *p == cfg.listen) else {
        eprintln!(
            "error: --listen {} is not one of --peers; list every node, this one included, in \
             the same order on every node",
            cfg.listen
        );
        return ExitCode::from(2);
    };
    let mut seen = std::collections::HashSet::new();
    if let Some(d) = cfg.peers.iter().find(|p| !seen.insert(**p)) {
        eprintln!("error: --peers lists {d} twice");
        return ExitCode::from(2);
    }
    if let Err(e) = cfg.faults.validate(cfg.peers.len()) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let socket = match net::cluster::bind_udp(cfg.listen) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot bind {}: {e}", cfg.listen);
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let ctx = net::NodeContext {
        index,
        addrs: Arc::new(cfg.peers.clone()),
        socket,
        dir: cfg.data_dir.clone(),
        fsync: cfg.fsync,
        faults: cfg.faults.clone(),
        epoch: Instant::now(),
        stop: stop.clone(),
        counters: counters.clone(),
        incarnation: 0,
    };
    let thread = match (cfg.protocol.launch)(ctx) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot start the node: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{} node {index} of {} listening on {} (data in {})",
        cfg.protocol.name,
        cfg.peers.len(),
        cfg.listen,
        cfg.data_dir.display()
    );
    print_faults(&cfg.faults, &[], &[]);
    // Stop on Ctrl-C, on --duration, or when the node fails on its own.
    let ctrl_c = interrupted();
    let start = Instant::now();
    while !ctrl_c.load(Ordering::SeqCst)
        && !thread.is_finished()
        && cfg.duration.is_none_or(|d| start.elapsed() < d)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    let result = thread.join();
    let report = ClusterReport {
        nodes: vec![net::cluster::NodeReport {
            node: index,
            addr: cfg.listen.to_string(),
            counters: counters.values(),
            error: match &result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("the node's thread panicked".into()),
            },
        }],
        total: counters.values(),
        events: Vec::new(),
    };
    print!("{}", counters_text(&report));
    if report.nodes[0].error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Parses `read K`, `write K V`, `cas K FROM TO`.
pub fn parse_request(words: &[String]) -> Result<Request, String> {
    let num = |what: &str, s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("{what} {s:?} is not an unsigned integer"))
    };
    let usage = "expected one of: read K | write K V | cas K FROM TO";
    let (op, args) = words.split_first().ok_or(usage)?;
    match (op.as_str(), args) {
        ("read", [k]) => Ok(Request {
            key: num("key", k)?,
            kind: OpKind::Read,
        }),
        ("write", [k, v]) => Ok(Request {
            key: num("key", k)?,
            kind: OpKind::Write(num("value", v)?),
        }),
        ("cas", [k, from, to]) => Ok(Request {
            key: num("key", k)?,
            kind: OpKind::Cas {
                from: num("from", from)?,
                to: num("to", to)?,
            },
        }),
        _ => Err(format!("bad request {:?}: {usage}", words.join(" "))),
    }
}

/// Sends one request and prints the reply: exit 0 for an `_ok`, 1 for an error reply or no reply.
pub fn client(addr: SocketAddr, req: Request, timeout: Duration, retries: u32) -> ExitCode {
    match client::request(addr, req, timeout, retries) {
        Ok(reply) => {
            println!("{reply}");
            match reply.body {
                ReplyBody::Error { .. } => ExitCode::FAILURE,
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
