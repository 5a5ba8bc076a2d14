//! `synod run`, `node`, `client` and `bench`: the network commands' options turned into the
//! runtime's, the load generator's and the bench's configurations.

use super::{given, param_id, positive_secs, raw_settings, usage_error};
use crate::catalog::{self, Entry, Mode};
use crate::{net, serve};
use clap::ArgMatches;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn faults(m: &ArgMatches) -> Result<net::FaultConfig, String> {
    let f = |id: &str| *m.get_one::<f64>(id).expect("has a default");
    Ok(net::FaultConfig {
        loss: f("loss"),
        dup: f("dup"),
        delay_ms: f("delay-ms"),
        jitter_ms: f("jitter-ms"),
        partitions: m
            .get_many::<String>("partition")
            .into_iter()
            .flatten()
            .map(|p| net::Partition::parse(p))
            .collect::<Result<_, _>>()?,
        seed: *m.get_one::<u64>("seed").expect("has a default"),
    })
}

fn crash_events(m: &ArgMatches) -> Result<(Vec<net::NodeEvent>, Vec<net::NodeEvent>), String> {
    let parse = |flag: &str, id: &str| {
        m.get_many::<String>(id)
            .into_iter()
            .flatten()
            .map(|t| net::NodeEvent::parse(flag, t))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok((parse("--crash", "crash")?, parse("--restart", "restart")?))
}

fn fsync(m: &ArgMatches) -> net::FsyncPolicy {
    match m.get_one::<String>("fsync").map(String::as_str) {
        Some("never") => net::FsyncPolicy::Never,
        _ => net::FsyncPolicy::Always,
    }
}

/// `--duration SECS` (absent: until Ctrl-C).
fn duration(m: &ArgMatches) -> Result<Option<Duration>, String> {
    m.get_one::<f64>("duration")
        .map(|s| positive_secs("--duration", *s))
        .transpose()
}

/// The protocol ready to run with the run-mode settings in `m`.
fn runnable(entry: &Entry, m: &ArgMatches) -> Result<net::runnable::Runnable, String> {
    let resolved = entry
        .resolve(&raw_settings(entry, m, Mode::Run), Mode::Run)
        .map_err(|e| e.to_string())?;
    Ok(entry.runnable(resolved.settings))
}

pub(super) fn run(entry: &'static Entry, m: &ArgMatches) -> ExitCode {
    let setup = || -> Result<serve::RunConfig, String> {
        let (crashes, restarts) = crash_events(m)?;
        Ok(serve::RunConfig {
            protocol: runnable(entry, m)?,
            nodes: *m.get_one::<usize>("nodes").expect("has a default"),
            host: *m.get_one("host").expect("has a default"),
            port: *m.get_one::<u16>("port").expect("has a default"),
            data_dir: m.get_one::<PathBuf>("data-dir").cloned(),
            fsync: fsync(m),
            faults: faults(m)?,
            crashes,
            restarts,
            duration: duration(m)?,
            record: record(m)?,
        })
    };
    match setup() {
        Ok(cfg) => serve::run(cfg),
        Err(e) => usage_error(e),
    }
}

/// `--record FILE` with its `--record-limit`; the file is created now, so that a typo fails
/// before the run rather than after it.
fn record(m: &ArgMatches) -> Result<Option<crate::bench::RecordTo>, String> {
    let limit = *m.get_one::<usize>("record-limit").expect("has a default");
    let Some(path) = m.get_one::<PathBuf>("record") else {
        if given(m, "record-limit") {
            return Err("--record-limit bounds a recording; give --record FILE too".into());
        }
        return Ok(None);
    };
    if limit == 0 {
        return Err("--record-limit 0 would record nothing; give at least 1".into());
    }
    if path.extension().is_none_or(|e| e != "json") {
        return Err(format!(
            "--record {}: a recording is JSON and its name ends in .json (the UI opens .json files)",
            path.display()
        ));
    }
    std::fs::File::create(path)
        .map_err(|e| format!("--record {}: cannot write it: {e}", path.display()))?;
    Ok(Some(crate::bench::RecordTo {
        path: path.clone(),
        max_events: limit,
    }))
}

pub(super) fn node(entry: &'static Entry, m: &ArgMatches) -> ExitCode {
    let setup = || -> Result<serve::NodeConfig, String> {
        let listen = *m
            .get_one::<SocketAddrV4>("listen")
            .ok_or("--listen ADDR is required: this node's address, one of --peers")?;
        let peers: Vec<SocketAddrV4> = m
            .get_many::<SocketAddrV4>("peers")
            .ok_or("--peers ADDR,ADDR,... is required: every node's address, in the same order on every node")?
            .copied()
            .collect();
        let faults = faults(m)?;
        if let Some(p) = faults.partitions.iter().find(|p| p.leader.is_some()) {
            return Err(format!(
                "--partition {p}: a single node cannot tell which node leads; name the nodes, or use run/bench"
            ));
        }
        Ok(serve::NodeConfig {
            protocol: runnable(entry, m)?,
            listen,
            peers,
            data_dir: m
                .get_one::<PathBuf>("data-dir")
                .ok_or(
                    "--data-dir DIR is required: each node keeps its acceptor state in a directory of \
                     its own (nodes sharing one would overwrite each other)",
                )?
                .clone(),
            fsync: fsync(m),
            faults,
            duration: duration(m)?,
        })
    };
    match setup() {
        Ok(cfg) => serve::node(cfg),
        Err(e) => usage_error(e),
    }
}

pub(super) fn client(m: &ArgMatches) -> ExitCode {
    let words: Vec<String> = m
        .get_many::<String>("op")
        .expect("required")
        .cloned()
        .collect();
    let addr = m.get_one::<String>("addr").expect("required");
    match serve::parse_request(&words) {
        Ok((wire, req)) => serve::client(
            addr,
            wire,
            req,
            Duration::from_millis(*m.get_one::<u64>("timeout-ms").expect("default")),
            *m.get_one::<u32>("retries").expect("default"),
            m.get_flag("json"),
        ),
        Err(e) => usage_error(e),
    }
}

/// `synod bench PROTOCOL` (a local cluster), `synod bench --target ADDR,...` (existing lin-kv
/// servers), or both (existing servers of that protocol: its key semantics and workload).
pub(super) fn bench(m: &ArgMatches) -> ExitCode {
    let protocol = match m.subcommand() {
        None => None,
        Some((name, pm)) => match catalog::find_runnable(name) {
            Ok(entry) => Some((entry, pm)),
            Err(e) => return usage_error(e),
        },
    };
    // Options of the bench command are global: read them from the deepest matches.
    let m = protocol.map(|(_, pm)| pm).unwrap_or(m);
    let targets: Option<Vec<String>> = m.get_many::<String>("target").map(|t| t.cloned().collect());
    let result = match (protocol, targets) {
        (None, None) => {
            return usage_error(format!(
                "name a protocol to benchmark a local cluster (runnable: {}), or --target ADDR,... to drive running servers",
                catalog::catalog()
                    .iter()
                    .filter(|e| e.is_runnable())
                    .map(|e| e.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
        (Some((entry, _)), None) if entry.store().is_none() => return bench_unloaded(entry, m),
        (Some((entry, _)), None) if m.contains_id("sweep-nodes") => {
            return bench_sweep(entry, m)
        }
        (Some((entry, _)), None) => bench_cluster(entry, m),
        (protocol, Some(targets)) => bench_targets(protocol.map(|(e, _)| e), targets, m),
    };
    match result {
        Ok(r) => print_report(m, || r.to_text(), || r.to_json(), r.exit_code()),
        Err(e) => usage_error(e),
    }
}

/// The load generator's configuration from the bench flags for a store of `model`: write-once
/// stores get fresh keys for every write unless `--keys` says otherwise; a counter's adds are
/// not retried unless `--retries` says so (an add is not idempotent across replicas: a retry
/// elsewhere would count twice, so, as Maelstrom's g-counter clients, a timed-out add is given
/// up as indeterminate).
fn load_config(
    m: &ArgMatches,
    model: crate::lincheck::Model,
) -> Result<crate::client::LoadConfig, String> {
    let write_once = model == crate::lincheck::Model::WriteOnce;
    let counter = model == crate::lincheck::Model::Counter;
    let secs = |flag: &str, id: &str, zero_ok: bool| {
        let s = *m.get_one::<f64>(id).expect("has a default");
        if s.is_finite() && (s > 0.0 || (zero_ok && s == 0.0)) {
            Ok(Duration::from_secs_f64(s))
        } else {
            Err(format!("{flag} {s} must be a positive number of seconds"))
        }
    };
    let keys = m.get_one::<u64>("keys").copied();
    let load = crate::client::LoadConfig {
        targets: Vec::new(),
        wire: crate::client::Wire::LinKv,
        clients: *m.get_one::<usize>("clients").expect("default"),
        rate: m.get_one::<f64>("rate").copied(),
        duration: secs("--duration", "duration", false)?,
        warmup: secs("--warmup", "warmup", true)?,
        keys: keys.unwrap_or(1000),
        key_base: 0,
        reads: *m.get_one::<f64>("reads").expect("default"),
        cas: *m.get_one::<f64>("cas").expect("default"),
        timeout: Duration::from_millis(*m.get_one::<u64>("timeout-ms").expect("default")),
        retries: match m.get_one::<u32>("retries") {
            _ if counter && !given(m, "retries") => 0,
            r => *r.expect("default"),
        },
        seed: *m.get_one::<u64>("seed").expect("default"),
        record_history: !m.get_flag("no-check") || m.get_one::<PathBuf>("history-out").is_some(),
        threads: *m.get_one::<usize>("client-threads").expect("default"),
        fresh_writes: write_once && keys.is_none(),
        record: None,
        retry_elsewhere: true,
    };
    // Validated with a stand-in target; the real addresses replace it.
    crate::client::LoadConfig {
        targets: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 1))],
        ..load.clone()
    }
    .validate()
    .map_err(|e| e.to_string())?;
    Ok(load)
}

/// The flags a counter service refuses: it serves one counter (add and read), and its bench is
/// judged by convergence, which needs the history.
fn counter_flags(m: &ArgMatches, name: &str) -> Result<(), String> {
    for flag in ["keys", "cas"] {
        if given(m, flag) {
            return Err(format!(
                "--{flag} does not apply to {name}: it serves one counter (add and read)"
            ));
        }
    }
    if m.get_flag("no-check") {
        return Err(format!(
            "--no-check: {name}'s bench judges convergence, which needs the history"
        ));
    }
    Ok(())
}

/// `bench PROTOCOL` for a protocol without clients: the cluster alone for `--duration`, with
/// faults, judged by what its nodes checked. The load generator's and checker's flags are
/// refused.
fn bench_unloaded(entry: &Entry, m: &ArgMatches) -> ExitCode {
    let setup = || -> Result<crate::unloaded::UnloadedConfig, String> {
        let name = entry.name();
        for flag in [
            "clients",
            "rate",
            "keys",
            "reads",
            "cas",
            "warmup",
            "timeout-ms",
            "retries",
            "client-threads",
            "check",
            "check-timeout",
            "history-out",
            "compare",
            "sweep-nodes",
            "plot",
            "store",
        ] {
            if given(m, flag) {
                return Err(format!(
                    "--{flag} does not apply to {name}: it serves no clients (its nodes act on their own and are judged by what they check)"
                ));
            }
        }
        if m.get_flag("no-check") {
            return Err(format!(
                "--no-check does not apply to {name}: its nodes check as they run, and that check is the bench's verdict"
            ));
        }
        let protocol = runnable(entry, m)?;
        let (crashes, restarts) = crash_events(m)?;
        Ok(crate::unloaded::UnloadedConfig {
            bug: protocol.settings.bug.map(str::to_string),
            protocol,
            nodes: *m.get_one::<usize>("nodes").expect("default"),
            duration: positive_secs(
                "--duration",
                *m.get_one::<f64>("duration").expect("default"),
            )?,
            fsync: fsync(m),
            faults: faults(m)?,
            crashes,
            restarts,
            record: record(m)?,
        })
    };
    match setup().and_then(|cfg| crate::unloaded::bench_unloaded(&cfg)) {
        Ok(r) => print_report(m, || r.to_text(), || r.to_json(), r.exit_code()),
        Err(e) => usage_error(e),
    }
}

fn check_budget(m: &ArgMatches) -> Result<Duration, String> {
    if m.get_flag("no-check") && given(m, "check-timeout") {
        return Err(
            "--check-timeout is the history checker's budget, and --no-check skips the check"
                .into(),
        );
    }
    positive_secs(
        "--check-timeout",
        *m.get_one::<f64>("check-timeout").expect("default"),
    )
}

/// `bench PROTOCOL --sweep-nodes N,...`: the same bench on each cluster size and quorum.
fn bench_sweep(entry: &Entry, m: &ArgMatches) -> ExitCode {
    if given(m, &param_id("quorum")) {
        return usage_error(
            "--quorum does not apply with --sweep-nodes: the sweep runs both majority and all",
        );
    }
    for flag in [
        "nodes",
        "compare",
        "history-out",
        "record",
        "crash",
        "restart",
        "partition",
    ] {
        if given(m, flag) {
            return usage_error(format!(
                "--{flag} does not apply with --sweep-nodes (the sweep sets the cluster size and the quorum of each run, and runs no baselines, recordings or node schedules)"
            ));
        }
    }
    let plot = m.get_one::<PathBuf>("plot").cloned();
    if let Some(Err(e)) = plot.as_deref().map(crate::sweep::plot_path_ok) {
        return usage_error(e);
    }
    let base = match bench_config(entry, m) {
        Ok(b) => b,
        Err(e) => return usage_error(e),
    };
    let cfg = crate::sweep::SweepConfig {
        base,
        nodes: m
            .get_many::<usize>("sweep-nodes")
            .into_iter()
            .flatten()
            .copied()
            .collect(),
        plot,
    };
    match crate::sweep::sweep(&cfg) {
        Ok(r) => print_report(m, || r.to_text(), || r.to_json(), r.exit_code()),
        Err(e) => usage_error(e),
    }
}

/// Prints a report as `--format` asks and exits with its code.
fn print_report(
    m: &ArgMatches,
    text: impl FnOnce() -> String,
    json: impl FnOnce() -> serde_json::Value,
    code: u8,
) -> ExitCode {
    if m.get_one::<String>("format").map(String::as_str) == Some("json") {
        println!(
            "{}",
            serde_json::to_string_pretty(&json()).expect("a report serialises")
        );
    } else {
        print!("{}", text());
    }
    ExitCode::from(code)
}

fn bench_cluster(entry: &Entry, m: &ArgMatches) -> Result<crate::bench::BenchReport, String> {
    if given(m, "plot") {
        return Err("--plot draws the figure of --sweep-nodes; add --sweep-nodes N,...".into());
    }
    let cfg = bench_config(entry, m)?;
    crate::bench::bench(&cfg)
}

fn bench_config(entry: &Entry, m: &ArgMatches) -> Result<crate::bench::BenchConfig, String> {
    if given(m, "store") {
        return Err(format!(
            "--store applies with --target and no protocol; {} keys are {}",
            entry.name(),
            entry.store().expect("runnable").name()
        ));
    }
    let protocol = runnable(entry, m)?;
    let model = protocol
        .model
        .expect("a protocol without clients is benched unloaded");
    if model == crate::lincheck::Model::Counter {
        counter_flags(m, entry.name())?;
    }
    let (crashes, restarts) = crash_events(m)?;
    let load = load_config(m, model)?;
    let cfg = crate::bench::BenchConfig {
        bug: protocol.settings.bug.map(str::to_string),
        protocol,
        nodes: *m.get_one::<usize>("nodes").expect("default"),
        load,
        fsync: fsync(m),
        faults: faults(m)?,
        crashes,
        restarts,
        check: !m.get_flag("no-check"),
        check_budget: check_budget(m)?,
        compare: compare_names(m)?,
        history_out: m.get_one::<PathBuf>("history-out").cloned(),
        record: record(m)?,
    };
    Ok(cfg)
}

/// `--compare [NAME,...]`: every name is `spawn`, `echo` or a runnable protocol, each once.
fn compare_names(m: &ArgMatches) -> Result<Vec<String>, String> {
    let Some(names) = m.get_many::<String>("compare") else {
        return Ok(Vec::new());
    };
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        if name != "spawn" && name != "echo" {
            let other = crate::catalog::runnable(name, None).map_err(|e| {
                format!("--compare {name}: not spawn, echo or a runnable protocol ({e})")
            })?;
            if other.model.is_none() {
                return Err(format!(
                    "--compare {name}: it serves no clients, so the same load cannot run against it"
                ));
            }
        }
        if out.iter().any(|n| n == name) {
            return Err(format!("--compare names {name} twice"));
        }
        out.push(name.to_string());
    }
    Ok(out)
}

/// `--target`: the servers run elsewhere, so what shapes a local cluster does not apply.
fn bench_targets(
    entry: Option<&Entry>,
    targets: Vec<String>,
    m: &ArgMatches,
) -> Result<crate::bench::BenchReport, String> {
    for flag in [
        "nodes",
        "fsync",
        "loss",
        "dup",
        "delay-ms",
        "jitter-ms",
        "partition",
        "crash",
        "restart",
        "compare",
        "sweep-nodes",
        "plot",
    ] {
        if given(m, flag) {
            return Err(format!(
                "--{flag} shapes a local cluster and does not apply with --target (the servers run elsewhere)"
            ));
        }
    }
    if let Some(entry) = entry {
        if entry.store().is_none() {
            return Err(format!(
                "{} serves no clients, so there is nothing to drive at --target; bench it as a local cluster (synod bench {})",
                entry.name(),
                entry.name()
            ));
        }
        if let Some(bug) = m.try_get_one::<String>("bug").ok().flatten() {
            return Err(format!(
                "--bug {bug} builds {}'s servers and does not apply with --target",
                entry.name()
            ));
        }
        for p in entry.params(Mode::Run) {
            if given(m, &param_id(p.name)) {
                return Err(format!(
                    "--{} builds {}'s servers and does not apply with --target",
                    p.name,
                    entry.name()
                ));
            }
        }
        if given(m, "store") {
            return Err(format!(
                "--store applies with --target and no protocol; {} keys are {}",
                entry.name(),
                entry.store().expect("runnable").name()
            ));
        }
    }
    let model = match entry {
        Some(e) => e.store().expect("runnable"),
        None => match m.get_one::<String>("store").map(String::as_str) {
            Some("write-once") => crate::lincheck::Model::WriteOnce,
            _ => crate::lincheck::Model::Register,
        },
    };
    if let (crate::lincheck::Model::Counter, Some(e)) = (model, entry) {
        counter_flags(m, e.name())?;
    }
    let mut load = load_config(m, model)?;
    if let Some(e) = entry {
        load.retry_elsewhere = crate::catalog::runnable(e.name(), None)
            .map_err(|e| e.to_string())?
            .retry_elsewhere;
    }
    let cfg = crate::bench::TargetBenchConfig {
        targets,
        load,
        model,
        check: !m.get_flag("no-check"),
        check_budget: check_budget(m)?,
        history_out: m.get_one::<PathBuf>("history-out").cloned(),
        record: record(m)?,
    };
    crate::bench::bench_targets(&cfg)
}
