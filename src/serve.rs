//! `synod run`, `synod node` and `synod client`: the runtime and the client as commands.
//!
//! `run` starts a local cluster (every node a thread of this process, on loopback by default),
//! prints the nodes' addresses and serves until Ctrl-C or `--duration`, then stops every node
//! cleanly and prints the counters. `node` runs one node of a cluster whose other nodes are other
//! processes, possibly on other machines. `client` sends one request to a node named by address
//! or host name and prints the whole reply (or, with `--json`, the reply datagram itself): a
//! lin-kv `read K`, `write K V`, `cas K FROM TO`, or a g-counter `add DELTA` or keyless `read`.

use crate::client::{self, ReplyBody, Request};
use crate::lincheck::OpKind;
use crate::net::cluster::ClusterReport;
use crate::net::runnable::Runnable;
use crate::net::{self, Cluster, ClusterConfig, Counters, FaultConfig, FsyncPolicy, NodeEvent};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
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
    /// Record the run here (`--record`).
    pub record: Option<crate::bench::RecordTo>,
}

/// A flag set by Ctrl-C (SIGINT) or SIGTERM.
fn interrupted() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // Fails only if a handler is already installed, which this process never does twice.
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    flag
}

/// Waits for `stop` (set by a signal: SIGINT, SIGTERM, SIGHUP), the end of `duration`, or a node
/// of `cluster` failing on its own; returns the failure (node, address, error), if that is what
/// ended it.
pub(crate) fn wait(
    stop: &AtomicBool,
    duration: Option<Duration>,
    cluster: &Cluster,
) -> Option<(usize, String, String)> {
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && duration.is_none_or(|d| start.elapsed() < d) {
        if let Some(failure) = cluster.failure() {
            return Some(failure);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
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
    // The handler goes in before anything is printed: a supervisor that signals as soon as it
    // reads the banner must get a clean stop, not the default action of the signal.
    let stop = interrupted();
    let (data_dir, temporary) = match &cfg.data_dir {
        Some(d) => (d.clone(), false),
        None => (temp_data_dir("run"), true),
    };
    let recorder = cfg
        .record
        .as_ref()
        .map(|r| net::record::Recorder::new(r.max_events));
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
        record: recorder.clone(),
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
    let example = match cfg.protocol.model {
        Some(crate::lincheck::Model::Counter) => {
            "Serving a g-counter over UDP (Maelstrom's add and read), e.g. `synod client {} add 3`."
        }
        Some(_) => "Serving lin-kv JSON over UDP, e.g. `synod client {} write 3 7`.",
        None => "No clients: the nodes act on their own and report what they checked when stopped.",
    };
    println!(
        "{} {}",
        example.replace("{}", &cluster.addrs()[0].to_string()),
        match cfg.duration {
            Some(d) => format!("Stopping after {} s.", d.as_secs_f64()),
            None => "Ctrl-C to stop.".to_string(),
        }
    );
    let failure = wait(&stop, cfg.duration, &cluster);
    if let Some((node, addr, error)) = &failure {
        eprintln!("error: node {node} ({addr}) stopped: {error}; stopping the cluster");
    }
    let nodes: Vec<std::net::SocketAddr> = cluster.addrs().iter().map(|a| (*a).into()).collect();
    let report = cluster.stop();
    print!("{}", counters_text(&report));
    let violated = print_verdict(&cfg.protocol, &report.total.protocol);
    let mut record_failed = false;
    if let (Some(to), Some(r)) = (&cfg.record, &recorder) {
        match write_nodes_recording(r, to, cfg.protocol.name, nodes) {
            Ok(w) => println!("{}", record_text(&w)),
            Err(e) => {
                eprintln!("error: {e}");
                record_failed = true;
            }
        }
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    if failure.is_some()
        || record_failed
        || violated
        || report.nodes.iter().any(|n| n.error.is_some())
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints the protocol's verdict on its summed tallies, if it gives one; whether it is a
/// violation.
fn print_verdict(protocol: &Runnable, totals: &[u64; synod_models::protocol::MAX_TALLIES]) -> bool {
    let judged = (protocol.judge)(totals);
    if let Some(j) = &judged {
        print!("{}", crate::unloaded::judged_text(j));
    }
    matches!(judged, Some(synod_models::protocol::Judged::Violated(_)))
}

/// Writes a recording of a run without clients (`run`, an unloaded `bench`): the nodes'
/// datagrams, timers, crashes and restarts, no history.
pub(crate) fn write_nodes_recording(
    recorder: &net::record::Recorder,
    to: &crate::bench::RecordTo,
    protocol: &'static str,
    nodes: Vec<std::net::SocketAddr>,
) -> Result<net::record::Written, String> {
    let ctx = net::record::Context {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        protocol: Some(protocol),
        nodes,
        history: None,
        lincheck: None,
    };
    recorder
        .write(&to.path, &ctx)
        .map_err(|e| format!("cannot write the recording to {}: {e}", to.path.display()))
}

/// `Recorded 1,234 events to FILE (56 KB); 10 later ones dropped (--record-limit 1000)`.
pub fn record_text(w: &net::record::Written) -> String {
    let mut s = format!(
        "Recorded {} events to {} ({} KB); open it in synod ui",
        crate::util::thousands(w.events as u64),
        w.path,
        w.bytes.div_ceil(1024)
    );
    if w.dropped > 0 {
        s.push_str(&format!(
            "; {} later events were dropped (--record-limit {})",
            crate::util::thousands(w.dropped),
            w.max_events
        ));
    }
    s
}

/// One line per configured fault, so a run's output says how it was run.
pub fn print_faults(faults: &FaultConfig, crashes: &[NodeEvent], restarts: &[NodeEvent]) {
    if let Some(line) = faults_text(faults, crashes, restarts) {
        println!("{line}");
    }
}

/// `Faults (seed 9): loss 0.1, dup 0.5, partition 0@2-5, crash 1@3`, or `None` without faults.
pub fn faults_text(
    faults: &FaultConfig,
    crashes: &[NodeEvent],
    restarts: &[NodeEvent],
) -> Option<String> {
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
    (!parts.is_empty()).then(|| format!("Faults (seed {}): {}", faults.seed, parts.join(", ")))
}

/// The counters of every node, nonzero ones only, and what the cluster did to its nodes.
pub fn counters_text(report: &ClusterReport) -> String {
    let mut out = String::from("Counters:\n");
    for n in &report.nodes {
        let nonzero: Vec<String> = n
            .counters
            .named()
            .into_iter()
            .chain(n.protocol.iter().map(|(k, v)| (*k, *v)))
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
        if let Some(t) = n.leading_term {
            out.push_str(&format!("  node {} led in term {t} at the end\n", n.node));
        }
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
    if !report.protocol.is_empty() {
        let all: Vec<String> = report
            .protocol
            .iter()
            .map(|(name, v)| format!("{name} {}", crate::util::thousands(*v)))
            .collect();
        out.push_str(&format!("  all nodes: {}\n", all.join(", ")));
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
    // Installed before the banner is printed, as in `run`.
    let ctrl_c = interrupted();
    if cfg.listen.ip().is_unspecified() || cfg.listen.port() == 0 {
        eprintln!(
            "error: --listen {}: a node sends from the address it listens on, and its peers know it \
             by its --peers entry, so listen on that exact address and port (e.g. 10.0.0.5:7000), \
             not 0.0.0.0 or port 0",
            cfg.listen
        );
        return ExitCode::from(2);
    }
    if let Some(p) = cfg
        .peers
        .iter()
        .find(|p| p.ip().is_unspecified() || p.port() == 0)
    {
        eprintln!(
            "error: --peers lists {p}: every peer needs a routable address and a port (0.0.0.0 and \
             port 0 name no node)"
        );
        return ExitCode::from(2);
    }
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
    if let Err(e) = cfg
        .faults
        .validate(cfg.peers.len())
        .and_then(|()| (cfg.protocol.fits)(&cfg.protocol.settings, cfg.peers.len()))
    {
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
    let leading = Arc::new(std::sync::atomic::AtomicU64::new(0));
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
        leading: leading.clone(),
        record: None,
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
    let start = Instant::now();
    while !ctrl_c.load(Ordering::SeqCst)
        && !thread.is_finished()
        && cfg.duration.is_none_or(|d| start.elapsed() < d)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let term = leading.load(Ordering::SeqCst);
    let leading_term = (!thread.is_finished() && term > 0).then(|| term - 1);
    stop.store(true, Ordering::SeqCst);
    let result = thread.join();
    let values = counters.values();
    let tallies = cfg.protocol.tallies;
    let report = ClusterReport {
        nodes: vec![net::cluster::NodeReport {
            node: index,
            addr: cfg.listen.to_string(),
            counters: values,
            error: match &result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("the node's thread panicked".into()),
            },
            leading_term,
            protocol: tallies.iter().copied().zip(values.protocol).collect(),
        }],
        protocol: tallies.iter().copied().zip(values.protocol).collect(),
        total: values,
        events: Vec::new(),
    };
    print!("{}", counters_text(&report));
    let violated = print_verdict(&cfg.protocol, &values.protocol);
    if report.nodes[0].error.is_some() || violated {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Parses `read K`, `write K V`, `cas K FROM TO` (lin-kv), `add DELTA` and `read` with no key
/// (g-counter: [`Wire::Counter`](client::Wire::Counter), key 0), and returns the wire to send the
/// request on; the error says which part is wrong.
pub fn parse_request(words: &[String]) -> Result<(client::Wire, Request), String> {
    let num = |what: &str, s: &str| {
        s.parse::<u64>().map_err(|_| {
            format!("{what} {s:?} is not an unsigned integer (0 to 18446744073709551615)")
        })
    };
    let usage = "expected one of: read K | write K V | cas K FROM TO | add DELTA | read";
    let (op, args) = words.split_first().ok_or(usage)?;
    let (shape, wanted) = match op.as_str() {
        "read" => (
            "read K, or read alone for a counter",
            "at most one argument",
        ),
        "write" => ("write K V", "two arguments"),
        "cas" => ("cas K FROM TO", "three arguments"),
        "add" => ("add DELTA", "one argument"),
        other => return Err(format!("unknown operation {other:?}: {usage}")),
    };
    let lin_kv = |req| Ok((client::Wire::LinKv, req));
    let counter = |kind| Ok((client::Wire::Counter, Request { key: 0, kind }));
    match (op.as_str(), args) {
        ("read", []) => counter(OpKind::Read),
        ("add", [delta]) => counter(OpKind::Add(num("delta", delta)?)),
        ("read", [k]) => lin_kv(Request {
            key: num("key", k)?,
            kind: OpKind::Read,
        }),
        ("write", [k, v]) => lin_kv(Request {
            key: num("key", k)?,
            kind: OpKind::Write(num("value", v)?),
        }),
        ("cas", [k, from, to]) => lin_kv(Request {
            key: num("key", k)?,
            kind: OpKind::Cas {
                from: num("from", from)?,
                to: num("to", to)?,
            },
        }),
        _ => Err(format!(
            "bad request {:?}: {op} takes {wanted} ({shape}); {usage}",
            words.join(" ")
        )),
    }
}

/// What `synod client` does: one request to one node, its reply printed ([`client`]'s arguments).
#[derive(Clone, Debug)]
pub struct ClientCommand {
    /// The node to ask, `HOST:PORT` (`127.0.0.1:7000`, `localhost:7000`); resolved once, IPv4
    /// first.
    pub addr: String,
    /// `LinKv`, or `Counter` for an `add` and a keyless `read` ([`parse_request`] says which).
    pub wire: client::Wire,
    pub request: Request,
    /// How long each attempt waits for its reply.
    pub timeout: Duration,
    /// Re-sends of the same request (same `msg_id`) after a timeout.
    pub retries: u32,
    /// Print the reply datagram exactly as received (one JSON object) instead of the human line.
    pub json: bool,
}

/// Sends one request and prints the reply on stdout: the human line (`read_ok 7`, `add_ok`,
/// `error 22 (precondition failed); current value 7`, `error 11 (temporarily unavailable): not the
/// leader; leader 127.0.0.1:7001`), or with `json` the reply datagram as received. Leader hints the
/// request followed are noted on stderr. Exit 0 for an `_ok` reply, 1 for an error reply or no
/// reply (`no reply from ADDR after N attempts in T ms: is a node listening there?` on stderr), 2
/// for an address that does not resolve or a zero timeout.
pub fn client(
    addr: &str,
    wire: client::Wire,
    request: Request,
    timeout: Duration,
    retries: u32,
    json: bool,
) -> ExitCode {
    let cmd = ClientCommand {
        addr: addr.to_string(),
        wire,
        request,
        timeout,
        retries,
        json,
    };
    let code = client_to(
        &cmd,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}

/// [`client`], writing to `out` and `err` instead of stdout and stderr; returns the exit code.
pub fn client_to(cmd: &ClientCommand, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    // What cannot be printed (a closed pipe) changes nothing about the exit code.
    let server = match client::resolve(&cmd.addr) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return 2;
        }
    };
    match client::exchange(cmd.wire, server, cmd.request, cmd.timeout, cmd.retries) {
        Ok(x) => {
            for (from, leader) in &x.redirects {
                let _ = writeln!(
                    err,
                    "{from} is not the leader and named {leader}; sent the request there"
                );
            }
            if cmd.json {
                let _ = writeln!(out, "{}", String::from_utf8_lossy(&x.datagram).trim_end());
            } else {
                let _ = writeln!(out, "{}", x.reply);
            }
            match x.reply.body {
                ReplyBody::Error { .. } => 1,
                _ => 0,
            }
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            match e {
                client::ClientError::Resolve { .. } | client::ClientError::ZeroTimeout => 2,
                _ => 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Request, String> {
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let (wire, req) = parse_request(&words)?;
        let counter = matches!(req.kind, OpKind::Add(_)) || line.trim() == "read";
        let want = if counter {
            client::Wire::Counter
        } else {
            client::Wire::LinKv
        };
        assert_eq!(wire, want, "{line}");
        Ok(req)
    }

    #[test]
    fn requests_parse_and_errors_say_what_is_wrong() {
        assert_eq!(
            parse("cas 1 2 3"),
            Ok(Request {
                key: 1,
                kind: OpKind::Cas { from: 2, to: 3 }
            })
        );
        assert_eq!(parse("read 4").unwrap().kind, OpKind::Read);
        assert_eq!(parse("write 4 5").unwrap().kind, OpKind::Write(5));
        let e = parse("cas 1 2").unwrap_err();
        assert!(
            e.contains("cas takes three arguments (cas K FROM TO)")
                && e.contains("expected one of"),
            "{e}"
        );
        let e = parse("read 1 2").unwrap_err();
        assert!(e.contains("read takes at most one argument"), "{e}");
        // A counter's add and keyless read.
        assert_eq!(
            parse("add 3"),
            Ok(Request {
                key: 0,
                kind: OpKind::Add(3)
            })
        );
        assert_eq!(
            parse("read"),
            Ok(Request {
                key: 0,
                kind: OpKind::Read
            })
        );
        let e = parse("add").unwrap_err();
        assert!(e.contains("add takes one argument (add DELTA)"), "{e}");
        let e = parse("add x").unwrap_err();
        assert!(
            e.starts_with("delta \"x\" is not an unsigned integer"),
            "{e}"
        );
        let e = parse("get 1").unwrap_err();
        assert!(e.starts_with("unknown operation \"get\""), "{e}");
        let e = parse("write 1 -2").unwrap_err();
        assert!(
            e.starts_with("value \"-2\" is not an unsigned integer"),
            "{e}"
        );
        assert!(parse("").unwrap_err().contains("expected one of"));
    }
}
