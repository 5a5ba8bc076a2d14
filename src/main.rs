//! The `synod` command line: parses arguments (clap) and dispatches; nothing else.

use clap::{Args, Parser, Subcommand, ValueEnum};
use mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use synod::catalog::{self, RawSettings};
use synod::check::{CheckOptions, Report, Strategy};
use synod::explore;

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
