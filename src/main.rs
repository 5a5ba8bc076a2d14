//! The `synod` command line: parses arguments (clap) and dispatches; nothing else.

use clap::{Args, Parser, Subcommand, ValueEnum};
use mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod::catalog::{self, RawSettings};
use synod::check::{CheckOptions, Report, Strategy};
use synod::explore;
use synod::net;
use synod::serve;

/// The checker allocates and frees a few small blocks per state; mimalloc does that markedly
/// faster than glibc's allocator (see docs/decisions.md).
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

#[derive(Parser)]
#[command(
    name = "synod",
    version,
    about = "A workbench for distributed consensus protocols: model-check, explore and run one actor implementation."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lists every protocol with its parameters, properties and bug variants.
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Model-checks a protocol. Exit codes: 0 every expectation met; 1 a property failed;
    /// 2 usage or configuration error; 3 an exhaustive search stopped early with nothing failed.
    Check(CheckArgs),
    /// Serves stateright's Explorer web UI for a protocol.
    Explore(ExploreArgs),
    /// Runs a local cluster of a protocol on loopback UDP until Ctrl-C (or --duration).
    Run(RunArgs),
    /// Runs one node of a cluster in this process (a cluster can span machines).
    Node(NodeArgs),
    /// Sends one lin-kv request (read K | write K V | cas K FROM TO) and prints the reply.
    Client(ClientArgs),
    /// Runs a local cluster under load and checks what the clients saw. Exit codes: 0 the
    /// history is linearizable (or not checked); 1 it is not; 2 usage error; 3 the checker ran
    /// out of time.
    Bench(BenchArgs),
    /// (internal) Runs a protocol under stateright::actor::spawn for `bench --compare`.
    #[command(hide = true)]
    SpawnBaseline {
        protocol: String,
        #[arg(long, value_delimiter = ',', required = true)]
        addrs: Vec<std::net::SocketAddrV4>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum StrategyArg {
    Bfs,
    Dfs,
    Simulation,
}

/// The protocol and its configuration, shared by `check` and `explore`.
#[derive(Args)]
struct ProtocolArgs {
    /// The protocol's name (see `synod list`).
    protocol: String,
    /// Number of servers.
    #[arg(long, value_name = "N")]
    servers: Option<u64>,
    /// Number of clients.
    #[arg(long, value_name = "N")]
    clients: Option<u64>,
    /// How many servers may be crashed at once.
    #[arg(long, value_name = "N")]
    crashes: Option<u64>,
    /// Client script: 0 write only, 1 write then read, 2 read then write.
    #[arg(long, value_name = "0|1|2")]
    reads: Option<u64>,
    /// Paxos: the highest ballot round a redelivered request may restart its instance at.
    #[arg(long, value_name = "N")]
    retry_rounds: Option<u64>,
    /// Paxos: 1 if a server that knows an outcome answers Prepare/Accept with Decided.
    #[arg(long, value_name = "0|1")]
    tell_laggards: Option<u64>,
    /// Resource managers (spec-tcommit, spec-twophase).
    #[arg(long, value_name = "N")]
    rms: Option<u64>,
    /// Acceptors (spec-voting, spec-paxos).
    #[arg(long, value_name = "N")]
    acceptors: Option<u64>,
    /// Values (spec-consensus, spec-voting, spec-paxos).
    #[arg(long, value_name = "N")]
    values: Option<u64>,
    /// Largest ballot (spec-voting, spec-paxos).
    #[arg(long, value_name = "N")]
    max_ballot: Option<u64>,
    /// Network semantics: unordered-nonduplicating (default), unordered-duplicating, ordered,
    /// or a lossy- variant of each.
    #[arg(long, value_name = "NAME")]
    network: Option<String>,
    /// A deliberately broken variant of the protocol (see `synod list`).
    #[arg(long, value_name = "NAME")]
    bug: Option<String>,
    /// Reduce the state space by the protocol's symmetry.
    #[arg(long)]
    symmetry: bool,
}

impl ProtocolArgs {
    /// The catalog entry and its validated settings.
    fn resolve(
        &self,
    ) -> Result<(&'static catalog::Protocol, catalog::Settings), catalog::ConfigError> {
        let protocol = catalog::find(&self.protocol)?;
        Ok((protocol, protocol.settings(&self.raw())?))
    }

    fn raw(&self) -> RawSettings {
        let mut params = std::collections::BTreeMap::new();
        for (name, value) in [
            ("servers", self.servers),
            ("clients", self.clients),
            ("crashes", self.crashes),
            ("reads", self.reads),
            ("retry-rounds", self.retry_rounds),
            ("tell-laggards", self.tell_laggards),
            ("rms", self.rms),
            ("acceptors", self.acceptors),
            ("values", self.values),
            ("max-ballot", self.max_ballot),
        ] {
            if let Some(v) = value {
                params.insert(name.to_string(), v);
            }
        }
        RawSettings {
            params,
            network: self.network.clone(),
            bug: self.bug.clone(),
            symmetry: self.symmetry,
        }
    }
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Search strategy.
    #[arg(long, value_enum, default_value_t = StrategyArg::Bfs)]
    strategy: StrategyArg,
    /// Checker threads (default: the number of cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Stop after this many seconds (simulation defaults to 10).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    timeout: Option<f64>,
    /// Explore no deeper than this many steps.
    #[arg(long, value_name = "N")]
    max_depth: Option<usize>,
    /// Seed of the simulation strategy.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Check that the protocol refines its TLA+ specification (every reachable state maps to a
    /// spec state, every step to a spec step or a stutter) instead of checking its properties.
    #[arg(long)]
    refines: bool,
    /// Write the counterexample (or, if none, the first example) to FILE.json or FILE.mmd
    /// (a Mermaid sequenceDiagram).
    #[arg(long, value_name = "FILE")]
    trace_out: Option<PathBuf>,
}

#[derive(Args)]
struct ExploreArgs {
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Address to serve on (loopback by default).
    #[arg(long, default_value = explore::DEFAULT_ADDR)]
    addr: String,
    /// Checker threads behind the explorer.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Network faults, injected into every datagram a node sends.
#[derive(Args)]
struct NetFaultArgs {
    /// Probability that a datagram is lost.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    loss: f64,
    /// Probability that a datagram is sent twice.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    dup: f64,
    /// Mean extra delay of a datagram, in milliseconds (normally distributed).
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    delay_ms: f64,
    /// Standard deviation of the delay, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    jitter_ms: f64,
    /// Cut NODES off from the others from START to END seconds, e.g. 0@2-5 (repeatable).
    #[arg(long, value_name = "NODES@START-END")]
    partition: Vec<String>,
    /// Seed of every random choice (faults, timers, workload).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl NetFaultArgs {
    fn config(&self) -> Result<net::FaultConfig, String> {
        Ok(net::FaultConfig {
            loss: self.loss,
            dup: self.dup,
            delay_ms: self.delay_ms,
            jitter_ms: self.jitter_ms,
            partitions: self
                .partition
                .iter()
                .map(|p| net::Partition::parse(p))
                .collect::<Result<_, _>>()?,
            seed: self.seed,
        })
    }
}

/// Crashes and restarts of a local cluster's nodes.
#[derive(Args)]
struct CrashArgs {
    /// Crash node NODE SECS seconds after the start, e.g. 1@3 (repeatable).
    #[arg(long, value_name = "NODE@SECS")]
    crash: Vec<String>,
    /// Restart node NODE from its disk SECS seconds after the start (repeatable).
    #[arg(long, value_name = "NODE@SECS")]
    restart: Vec<String>,
}

impl CrashArgs {
    fn events(&self) -> Result<(Vec<net::NodeEvent>, Vec<net::NodeEvent>), String> {
        let parse = |flag: &str, list: &[String]| {
            list.iter()
                .map(|t| net::NodeEvent::parse(flag, t))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok((
            parse("--crash", &self.crash)?,
            parse("--restart", &self.restart)?,
        ))
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FsyncArg {
    Always,
    Never,
}

impl From<FsyncArg> for net::FsyncPolicy {
    fn from(f: FsyncArg) -> Self {
        match f {
            FsyncArg::Always => net::FsyncPolicy::Always,
            FsyncArg::Never => net::FsyncPolicy::Never,
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// The protocol's name (runnable: paxos, single-copy-kv).
    protocol: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Node i listens on PORT + i (0: any free ports).
    #[arg(long, default_value_t = 7000)]
    port: u16,
    /// The IPv4 address the nodes listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::Ipv4Addr,
    /// Where nodes keep what they save (default: a fresh temporary directory, removed on exit).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Whether saves are fsynced before the messages of their step leave.
    #[arg(long, value_enum, default_value_t = FsyncArg::Always)]
    fsync: FsyncArg,
    /// Run a deliberately broken variant (see `synod list`).
    #[arg(long, value_name = "NAME")]
    bug: Option<String>,
    /// Stop after this many seconds instead of waiting for Ctrl-C.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    #[command(flatten)]
    faults: NetFaultArgs,
    #[command(flatten)]
    crashes: CrashArgs,
}

#[derive(Args)]
struct NodeArgs {
    /// The protocol's name (runnable: paxos, single-copy-kv).
    protocol: String,
    /// This node's address, e.g. 10.0.0.5:7000; it must be one of --peers.
    #[arg(long, value_name = "ADDR")]
    listen: std::net::SocketAddrV4,
    /// Every node's address, this one included, in the same order on every node.
    #[arg(
        long,
        value_name = "ADDR,ADDR,...",
        value_delimiter = ',',
        required = true
    )]
    peers: Vec<std::net::SocketAddrV4>,
    /// Where this node keeps what it saves.
    #[arg(long, value_name = "DIR", default_value = "synod-data")]
    data_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = FsyncArg::Always)]
    fsync: FsyncArg,
    #[arg(long, value_name = "NAME")]
    bug: Option<String>,
    /// Stop after this many seconds instead of waiting for Ctrl-C.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    #[command(flatten)]
    faults: NetFaultArgs,
}

#[derive(Args)]
struct ClientArgs {
    /// The node to ask, e.g. 127.0.0.1:7000.
    addr: std::net::SocketAddr,
    /// read K | write K V | cas K FROM TO
    #[arg(num_args = 2..=4, value_name = "OP ARGS", required = true)]
    op: Vec<String>,
    /// How long to wait for each attempt, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// How many times to resend (same msg_id) after a timeout.
    #[arg(long, default_value_t = 3)]
    retries: u32,
}

#[derive(Args)]
struct BenchArgs {
    /// The protocol's name (runnable: paxos, single-copy-kv).
    protocol: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Closed loop: this many clients, each with one request outstanding.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Open loop: issue this many operations per second (latency from the intended send time);
    /// --clients is then the pool of clients serving the schedule.
    #[arg(long, value_name = "OPS")]
    rate: Option<f64>,
    /// Measured seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measurement (their operations are still checked).
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    warmup: f64,
    /// Keys are drawn uniformly from 0..KEYS.
    #[arg(long, default_value_t = 1000)]
    keys: u64,
    /// Fraction of reads.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5)]
    reads: f64,
    /// Fraction of cas (the rest are writes).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    cas: f64,
    /// Per-attempt timeout in milliseconds; a timed-out request is resent with the same msg_id.
    #[arg(long, default_value_t = 500)]
    timeout_ms: u64,
    /// Resends after timeouts before an operation is given up as indeterminate.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Load-generator threads.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    #[arg(long, value_enum, default_value_t = FsyncArg::Always)]
    fsync: FsyncArg,
    #[arg(long, value_name = "NAME")]
    bug: Option<String>,
    /// Check the recorded history for linearizability (the default).
    #[arg(long, overrides_with = "no_check")]
    check: bool,
    /// Skip the linearizability check of the recorded history.
    #[arg(long, overrides_with = "check")]
    no_check: bool,
    /// The history checker's time budget in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    check_timeout: f64,
    /// Also measure, in this invocation, the protocol under stateright::actor::spawn,
    /// single-copy-kv on Synod's runtime, and a bare UDP echo loop, and print the ratios.
    #[arg(long)]
    compare: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    faults: NetFaultArgs,
    #[command(flatten)]
    crashes: CrashArgs,
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List { format } => {
            match format {
                Format::Text => print!("{}", catalog::to_text()),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&catalog::to_json()).expect("catalog serialises")
                ),
            }
            ExitCode::SUCCESS
        }
        Command::Check(args) => check(args),
        Command::Run(args) => run(args),
        Command::Node(args) => node(args),
        Command::Client(args) => client(args),
        Command::Bench(args) => bench(args),
        Command::SpawnBaseline { protocol, addrs } => {
            match synod::bench::spawn_baseline_main(&protocol, addrs) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => usage_error(e),
            }
        }
        Command::Explore(args) => {
            let (protocol, settings) = match args.protocol.resolve() {
                Ok(found) => found,
                Err(e) => return usage_error(e),
            };
            let addr = match explore::check_addr(&args.addr) {
                Ok(a) => a,
                Err(e) => return usage_error(e),
            };
            println!(
                "Exploring {} on http://{addr}/ (Ctrl-C to stop)",
                protocol.name
            );
            (protocol.explore)(
                &settings,
                &addr.to_string(),
                args.threads.unwrap_or(cores()),
            );
            ExitCode::SUCCESS
        }
    }
}

fn check(args: CheckArgs) -> ExitCode {
    let (protocol, settings) = match args.protocol.resolve() {
        Ok(found) => found,
        Err(e) => return usage_error(e),
    };
    if args.threads == Some(0) {
        return usage_error("--threads must be at least 1");
    }
    let timeout = match args.timeout {
        None => None,
        Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
        Some(t) => {
            return usage_error(format!(
                "--timeout {t} must be a positive number of seconds"
            ))
        }
    };
    if args.max_depth == Some(0) {
        return usage_error("--max-depth must be at least 1");
    }
    let trace_kind = match &args.trace_out {
        None => None,
        Some(path) => match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Some(TraceKind::Json),
            Some("mmd") => Some(TraceKind::Mermaid),
            _ => {
                return usage_error(format!(
                    "--trace-out {}: the file name must end in .json or .mmd",
                    path.display()
                ))
            }
        },
    };
    if args.refines {
        let Some(refines) = protocol.refines else {
            let with: Vec<&str> = catalog::CATALOG
                .iter()
                .filter(|p| p.refines.is_some())
                .map(|p| p.name)
                .collect();
            return usage_error(format!(
                "{} defines no refinement mapping; --refines works with: {}",
                protocol.name,
                with.join(", ")
            ));
        };
        let report = match refines(&settings) {
            Ok(report) => report,
            Err(e) => return usage_error(e),
        };
        match args.format {
            Format::Text => print!("{}", report.to_text()),
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("a report serialises")
            ),
        }
        return ExitCode::from(report.exit_code() as u8);
    }
    // Fail on an unwritable trace file now, not after a long check.
    if let Some(path) = &args.trace_out {
        if let Err(e) = std::fs::File::create(path) {
            return usage_error(format!("cannot write --trace-out {}: {e}", path.display()));
        }
    }
    let opts = CheckOptions {
        strategy: match args.strategy {
            StrategyArg::Bfs => Strategy::Bfs,
            StrategyArg::Dfs => Strategy::Dfs,
            StrategyArg::Simulation => Strategy::Simulation,
        },
        threads: args.threads.unwrap_or(cores()),
        timeout,
        max_depth: args.max_depth,
        seed: args.seed,
        progress: true,
    };
    let report = protocol.check(&settings, &opts);
    match args.format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", report.to_json()),
    }
    if let (Some(path), Some(kind)) = (&args.trace_out, trace_kind) {
        if let Err(e) = write_trace(&report, path, kind) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(report.exit_code() as u8)
}

#[derive(Clone, Copy)]
enum TraceKind {
    Json,
    Mermaid,
}

/// Writes the first counterexample, or failing that the first example, to `path`.
fn write_trace(report: &Report, path: &std::path::Path, kind: TraceKind) -> Result<(), String> {
    let with_trace = || report.properties.iter().filter(|p| p.trace.is_some());
    let chosen = with_trace()
        .find(|p| p.verdict.is_failure())
        .or_else(|| with_trace().next());
    let Some(property) = chosen else {
        eprintln!(
            "note: no trace to write to {}: nothing was found",
            path.display()
        );
        return Ok(());
    };
    let trace = property.trace.as_ref().expect("filtered above");
    let text = match kind {
        TraceKind::Json => serde_json::to_string_pretty(&serde_json::json!({
            "protocol": report.protocol,
            "parameters": report.parameters,
            "property": property.name,
            "verdict": property.verdict,
            "trace": trace,
        }))
        .expect("a trace serialises"),
        TraceKind::Mermaid => trace.to_mermaid(&format!(
            "{}: {} {}",
            report.protocol,
            property.name,
            property.verdict.as_str()
        )),
    };
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!(
        "wrote the trace of \"{}\" ({}) to {}",
        property.name,
        property.verdict.as_str(),
        path.display()
    );
    Ok(())
}

/// Parses `--duration SECS` (absent: until Ctrl-C).
fn duration_arg(secs: Option<f64>) -> Result<Option<Duration>, String> {
    match secs {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(format!(
            "--duration {s} must be a positive number of seconds"
        )),
    }
}

fn run(args: RunArgs) -> ExitCode {
    let setup = || -> Result<serve::RunConfig, String> {
        let protocol = net::protocols::runnable(&args.protocol, args.bug.as_deref())?;
        let (crashes, restarts) = args.crashes.events()?;
        Ok(serve::RunConfig {
            protocol,
            nodes: args.nodes,
            host: args.host,
            port: args.port,
            data_dir: args.data_dir.clone(),
            fsync: args.fsync.into(),
            faults: args.faults.config()?,
            crashes,
            restarts,
            duration: duration_arg(args.duration)?,
        })
    };
    match setup() {
        Ok(cfg) => serve::run(cfg),
        Err(e) => usage_error(e),
    }
}

fn node(args: NodeArgs) -> ExitCode {
    let setup = || -> Result<serve::NodeConfig, String> {
        Ok(serve::NodeConfig {
            protocol: net::protocols::runnable(&args.protocol, args.bug.as_deref())?,
            listen: args.listen,
            peers: args.peers.clone(),
            data_dir: args.data_dir.clone(),
            fsync: args.fsync.into(),
            faults: args.faults.config()?,
            duration: duration_arg(args.duration)?,
        })
    };
    match setup() {
        Ok(cfg) => serve::node(cfg),
        Err(e) => usage_error(e),
    }
}

fn client(args: ClientArgs) -> ExitCode {
    match serve::parse_request(&args.op) {
        Ok(req) => serve::client(
            args.addr,
            req,
            Duration::from_millis(args.timeout_ms),
            args.retries,
        ),
        Err(e) => usage_error(e),
    }
}

fn bench(args: BenchArgs) -> ExitCode {
    let setup = || -> Result<synod::bench::BenchConfig, String> {
        let protocol = net::protocols::runnable(&args.protocol, args.bug.as_deref())?;
        let (crashes, restarts) = args.crashes.events()?;
        let secs = |flag: &str, s: f64, zero_ok: bool| {
            if s.is_finite() && (s > 0.0 || (zero_ok && s == 0.0)) {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(format!("{flag} {s} must be a positive number of seconds"))
            }
        };
        let load = synod::client::LoadConfig {
            targets: Vec::new(),
            wire: synod::client::Wire::LinKv,
            clients: args.clients,
            rate: args.rate,
            duration: secs("--duration", args.duration, false)?,
            warmup: secs("--warmup", args.warmup, true)?,
            keys: args.keys,
            reads: args.reads,
            cas: args.cas,
            timeout: Duration::from_millis(args.timeout_ms),
            retries: args.retries,
            seed: args.faults.seed,
            record_history: !args.no_check,
            threads: args.client_threads,
        };
        // Validated with a stand-in target; the cluster's addresses replace it.
        synod::client::LoadConfig {
            targets: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 1))],
            ..load.clone()
        }
        .validate()
        .map_err(|e| e.to_string())?;
        Ok(synod::bench::BenchConfig {
            protocol,
            bug: args.bug.clone(),
            nodes: args.nodes,
            load,
            fsync: args.fsync.into(),
            faults: args.faults.config()?,
            crashes,
            restarts,
            check: !args.no_check,
            check_budget: secs("--check-timeout", args.check_timeout, false)?,
            compare: args.compare,
        })
    };
    let cfg = match setup() {
        Ok(cfg) => cfg,
        Err(e) => return usage_error(e),
    };
    let report = match synod::bench::bench(&cfg) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    match args.format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("a report serialises")
        ),
    }
    ExitCode::from(report.exit_code())
}
