//! The command line, built from the catalog: `check`, `explore`, `run`, `node` and `bench` have one
//! subcommand per registered protocol, whose flags are that protocol's own parameters (with
//! their defaults and bounds), its bugs and networks, so `synod check paxos --help` lists exactly
//! what applies and anything else is an error (exit 2) that names what is valid.
//!
//! Options that belong to the command rather than the protocol (`--strategy`, `--threads`,
//! `--nodes`, ...) are clap "global" arguments of the command: they may come before or after the
//! protocol's name. A flag that does not apply in a combination (`--seed` without simulation,
//! `--symmetry` with `--refines`, a cluster flag with `--target`) is rejected, never ignored.

use crate::catalog::{self, Entry, Mode, RawSettings, Resolved};
use crate::check::refine::RefineOptions;
use crate::check::{memory, CheckOptions, Report, Strategy};
use crate::{explore, net, serve};
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use std::ffi::OsString;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The commands whose subcommands are protocols, and which protocols each offers.
const PROTOCOL_COMMANDS: [(&str, Mode); 5] = [
    ("check", Mode::Check),
    ("explore", Mode::Check),
    ("run", Mode::Run),
    ("node", Mode::Run),
    ("bench", Mode::Run),
];

/// The whole command line.
pub fn command() -> Command {
    Command::new("synod")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A workbench for distributed consensus protocols: model-check, explore and run one actor implementation.")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("list")
                .about("Lists every protocol with its parameters, properties and bug variants.")
                .arg(format_arg()),
        )
        .subcommand(check_command())
        .subcommand(explore_command())
        .subcommand(run_command())
        .subcommand(node_command())
        .subcommand(client_command())
        .subcommand(bench_command())
        .subcommand(
            Command::new("spawn-baseline")
                .about("(internal) Runs a protocol under stateright::actor::spawn for `bench --compare`.")
                .hide(true)
                .arg(Arg::new("protocol").required(true))
                .arg(
                    Arg::new("addrs")
                        .long("addrs")
                        .required(true)
                        .value_delimiter(',')
                        .value_parser(value_parser!(SocketAddrV4)),
                ),
        )
}

fn format_arg() -> Arg {
    Arg::new("format")
        .long("format")
        .value_name("FORMAT")
        .value_parser(["text", "json"])
        .default_value("text")
        .help("Output format")
}

fn param_id(name: &str) -> String {
    format!("param:{name}")
}

/// A protocol as a subcommand of a command in `mode`: its parameters, networks, bugs, symmetry.
fn protocol_command(e: &Entry, mode: Mode, command: &str) -> Command {
    let d = e.descriptor;
    let heading = format!("Parameters of {}", d.name);
    let mut c = Command::new(d.name)
        .about(d.summary)
        .after_help(protocol_help(e, mode, command))
        .next_help_heading(heading);
    for p in e.params(mode) {
        let default = match mode {
            Mode::Check => p.default,
            Mode::Run => p.run.unwrap_or(p.default),
        };
        c = c.arg(
            Arg::new(param_id(p.name))
                .long(p.name)
                .value_name("N")
                .value_parser(value_parser!(u64))
                .help(format!(
                    "{} [default: {default}; {}..={}]",
                    p.help, p.min, p.max
                )),
        );
    }
    if mode == Mode::Check && !d.networks.is_empty() {
        c = c.arg(
            Arg::new("network")
                .long("network")
                .value_name("NAME")
                .value_parser(
                    d.networks
                        .iter()
                        .map(|k| {
                            clap::builder::PossibleValue::new(k.name())
                                .alias(k.name().replace('-', "_"))
                        })
                        .collect::<Vec<_>>(),
                )
                .help(format!(
                    "Network semantics [default: {}]",
                    d.networks[0].name()
                )),
        );
    }
    if !d.bugs.is_empty() {
        c = c.arg(
            Arg::new("bug")
                .long("bug")
                .value_name("NAME")
                .value_parser(d.bugs.iter().map(|b| b.name).collect::<Vec<_>>())
                .hide_possible_values(true)
                .help(match mode {
                    Mode::Check => "A deliberately broken variant (listed below); the settings it needs are applied unless you set them",
                    Mode::Run => "A deliberately broken variant (listed below)",
                }),
        );
    }
    if mode == Mode::Check {
        if let Some(over) = d.symmetry {
            c = c.arg(
                Arg::new("symmetry")
                    .long("symmetry")
                    .action(ArgAction::SetTrue)
                    .help(format!("Reduce the state space by symmetry over {over}")),
            );
        }
    }
    c
}

/// What `--help` of a protocol subcommand says after the flags.
fn protocol_help(e: &Entry, mode: Mode, command: &str) -> String {
    let d = e.descriptor;
    let mut out = String::new();
    if mode == Mode::Check {
        out.push_str("Properties:\n");
        for p in d.properties {
            out.push_str(&format!("  {:<10} {}\n", p.expectation.as_str(), p.name));
        }
    }
    if !d.bugs.is_empty() {
        out.push_str("Bugs (--bug NAME):\n");
        for b in d.bugs {
            let needs: Vec<String> = b.needs.iter().map(|n| n.flag()).collect();
            out.push_str(&format!("  {:<28} {}\n", b.name, b.summary));
            out.push_str(&format!(
                "  {:<28} violates {}{}; {}\n",
                "",
                b.violates,
                if needs.is_empty() || mode == Mode::Run {
                    String::new()
                } else {
                    format!(", needs {} (applied unless you set it)", needs.join(" "))
                },
                b.source
            ));
        }
    }
    if mode == Mode::Check {
        if let Some(spec) = e.spec_name() {
            if command == "check" {
                out.push_str(&format!(
                    "Refinement: --refines checks that it implements {spec}.\n"
                ));
            }
        }
        if !d.pinned.is_empty() {
            out.push_str("Known unique-state counts:\n");
            for p in d.pinned {
                let mut args: Vec<String> =
                    p.params.iter().map(|(n, v)| format!("--{n} {v}")).collect();
                if p.symmetry {
                    args.push("--symmetry".into());
                }
                let args = if args.is_empty() {
                    "(defaults)".to_string()
                } else {
                    args.join(" ")
                };
                out.push_str(&format!(
                    "  {:<32} {:>12}  {}\n",
                    args,
                    crate::check::report::thousands(p.unique_states),
                    p.source
                ));
            }
        }
    }
    out
}

/// The protocols a command in `mode` offers, as subcommands.
fn protocol_subcommands(mut c: Command, mode: Mode, command: &str) -> Command {
    for e in catalog::catalog() {
        if mode == Mode::Run && !e.is_runnable() {
            continue;
        }
        c = c.subcommand(protocol_command(e, mode, command));
    }
    c.allow_external_subcommands(true)
        .subcommand_value_name("PROTOCOL")
        .subcommand_help_heading("Protocols")
}

fn global(arg: Arg) -> Arg {
    arg.global(true)
}

fn check_command() -> Command {
    let c = Command::new("check")
        .about("Model-checks a protocol. Exit codes: 0 every expectation met; 1 a property failed; 2 usage or configuration error; 3 an exhaustive search stopped early with nothing failed.")
        .subcommand_required(true)
        .next_help_heading("Search options")
        .arg(global(
            Arg::new("strategy")
                .long("strategy")
                .value_name("NAME")
                .value_parser(["bfs", "dfs", "simulation"])
                .default_value("bfs")
                .help("Search strategy"),
        ))
        .arg(global(
            Arg::new("threads")
                .long("threads")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .help("Checker threads [default: the number of cores]"),
        ))
        .arg(global(
            Arg::new("timeout")
                .long("timeout")
                .value_name("SECS")
                .allow_negative_numbers(true)
                .value_parser(value_parser!(f64))
                .help("Stop after this many seconds (simulation: default 10)"),
        ))
        .arg(global(
            Arg::new("max-depth")
                .long("max-depth")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .help("Explore no deeper than this many steps (the initial state is depth 1)"),
        ))
        .arg(global(
            Arg::new("max-memory")
                .long("max-memory")
                .value_name("SIZE")
                .help("Stop cleanly (exit 3) when resident memory reaches SIZE: 12G, 800MiB, 75% [default: 75% of physical memory]"),
        ))
        .arg(global(
            Arg::new("seed")
                .long("seed")
                .value_name("N")
                .value_parser(value_parser!(u64))
                .help("Seed of --strategy simulation [default: drawn from the clock, and reported]"),
        ))
        .arg(global(format_arg()))
        .arg(global(
            Arg::new("refines")
                .long("refines")
                .action(ArgAction::SetTrue)
                .help("Check that the protocol refines its TLA+ specification (every step maps to a spec step or a stutter) instead of checking its properties"),
        ))
        .arg(global(
            Arg::new("trace-out")
                .long("trace-out")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Write the counterexample (or, if none, the first example) to FILE.json or FILE.mmd (a Mermaid sequenceDiagram)"),
        ));
    protocol_subcommands(c, Mode::Check, "check")
}

fn explore_command() -> Command {
    let c = Command::new("explore")
        .about("Serves stateright's Explorer web UI for a protocol.")
        .subcommand_required(true)
        .next_help_heading("Explorer options")
        .arg(global(
            Arg::new("addr")
                .long("addr")
                .value_name("ADDR")
                .default_value(explore::DEFAULT_ADDR)
                .help("Address to serve on (loopback by default)"),
        ))
        .arg(global(
            Arg::new("threads")
                .long("threads")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .help("Checker threads behind the explorer [default: the number of cores]"),
        ));
    protocol_subcommands(c, Mode::Check, "explore")
}

/// Fault-injection flags (run, node, bench).
fn fault_args(c: Command) -> Command {
    c.next_help_heading("Faults")
        .arg(global(
            Arg::new("loss")
                .long("loss")
                .value_name("P")
                .value_parser(value_parser!(f64))
                .default_value("0")
                .help("Probability that a datagram is lost"),
        ))
        .arg(global(
            Arg::new("dup")
                .long("dup")
                .value_name("P")
                .value_parser(value_parser!(f64))
                .default_value("0")
                .help("Probability that a datagram is sent twice"),
        ))
        .arg(global(
            Arg::new("delay-ms")
                .long("delay-ms")
                .value_name("MS")
                .value_parser(value_parser!(f64))
                .default_value("0")
                .help("Mean extra delay of a datagram, in milliseconds (normally distributed)"),
        ))
        .arg(global(
            Arg::new("jitter-ms")
                .long("jitter-ms")
                .value_name("MS")
                .value_parser(value_parser!(f64))
                .default_value("0")
                .help("Standard deviation of the delay, in milliseconds"),
        ))
        .arg(global(
            Arg::new("partition")
                .long("partition")
                .value_name("NODES@START-END")
                .action(ArgAction::Append)
                .help("Cut NODES off from the others from START to END seconds, e.g. 0@2-5 (repeatable)"),
        ))
        .arg(global(
            Arg::new("seed")
                .long("seed")
                .value_name("N")
                .value_parser(value_parser!(u64))
                .default_value("0")
                .help("Seed of every random choice (faults, timers, workload)"),
        ))
}

fn crash_args(c: Command) -> Command {
    c.arg(global(
        Arg::new("crash")
            .long("crash")
            .value_name("NODE@SECS")
            .action(ArgAction::Append)
            .help("Crash node NODE SECS seconds after the start, e.g. 1@3 (repeatable)"),
    ))
    .arg(global(
        Arg::new("restart")
            .long("restart")
            .value_name("NODE@SECS")
            .action(ArgAction::Append)
            .help("Restart node NODE from its disk SECS seconds after the start (repeatable)"),
    ))
}

fn fsync_arg() -> Arg {
    global(
        Arg::new("fsync")
            .long("fsync")
            .value_name("WHEN")
            .value_parser(["always", "never"])
            .default_value("always")
            .help("Whether saves are fsynced before the messages of their step leave"),
    )
}

fn duration_arg() -> Arg {
    global(
        Arg::new("duration")
            .long("duration")
            .value_name("SECS")
            .value_parser(value_parser!(f64))
            .help("Stop after this many seconds instead of waiting for Ctrl-C"),
    )
}

fn run_command() -> Command {
    let c = Command::new("run")
        .about("Runs a local cluster of a protocol on loopback UDP until Ctrl-C (or --duration).")
        .subcommand_required(true)
        .next_help_heading("Cluster options")
        .arg(global(
            Arg::new("nodes")
                .long("nodes")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .default_value("3")
                .help("Number of nodes"),
        ))
        .arg(global(
            Arg::new("port")
                .long("port")
                .value_name("P")
                .value_parser(value_parser!(u16))
                .default_value("7000")
                .help("Node i listens on PORT + i (0: any free ports)"),
        ))
        .arg(global(
            Arg::new("host")
                .long("host")
                .value_name("IPV4")
                .value_parser(value_parser!(std::net::Ipv4Addr))
                .default_value("127.0.0.1")
                .help("The IPv4 address the nodes listen on"),
        ))
        .arg(global(
            Arg::new("data-dir")
                .long("data-dir")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("Where nodes keep what they save [default: a fresh temporary directory, removed on exit]"),
        ))
        .arg(fsync_arg())
        .arg(duration_arg());
    let c = crash_args(fault_args(c));
    protocol_subcommands(c, Mode::Run, "run")
}

fn node_command() -> Command {
    let c = Command::new("node")
        .about("Runs one node of a cluster in this process (a cluster can span machines).")
        .subcommand_required(true)
        .next_help_heading("Node options")
        .arg(global(
            Arg::new("listen")
                .long("listen")
                .value_name("ADDR")
                .value_parser(value_parser!(SocketAddrV4))
                .help("This node's address, e.g. 10.0.0.5:7000; it must be one of --peers [required]"),
        ))
        .arg(global(
            Arg::new("peers")
                .long("peers")
                .value_name("ADDR,ADDR,...")
                .value_delimiter(',')
                .value_parser(value_parser!(SocketAddrV4))
                .help("Every node's address, this one included, in the same order on every node [required]"),
        ))
        .arg(global(
            Arg::new("data-dir")
                .long("data-dir")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .default_value("synod-data")
                .help("Where this node keeps what it saves"),
        ))
        .arg(fsync_arg())
        .arg(duration_arg());
    protocol_subcommands(fault_args(c), Mode::Run, "node")
}

fn client_command() -> Command {
    Command::new("client")
        .about(
            "Sends one lin-kv request (read K | write K V | cas K FROM TO) and prints the reply.",
        )
        .arg(
            Arg::new("addr")
                .required(true)
                .value_name("ADDR")
                .help("The node to ask, e.g. 127.0.0.1:7000 or localhost:7000"),
        )
        .arg(
            Arg::new("op")
                .required(true)
                .num_args(2..=4)
                .value_name("OP ARGS")
                .help("read K | write K V | cas K FROM TO"),
        )
        .arg(
            Arg::new("timeout-ms")
                .long("timeout-ms")
                .value_name("MS")
                .value_parser(value_parser!(u64))
                .default_value("1000")
                .help("How long to wait for each attempt, in milliseconds"),
        )
        .arg(
            Arg::new("retries")
                .long("retries")
                .value_name("N")
                .value_parser(value_parser!(u32))
                .default_value("3")
                .help("How many times to resend (same msg_id) after a timeout"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the reply as the JSON object received"),
        )
}

fn bench_command() -> Command {
    let c = Command::new("bench")
        .about("Runs a local cluster of a protocol (or drives an existing one: --target) under load and checks what the clients saw. Exit codes: 0 the history is linearizable (or not checked); 1 it is not; 2 usage error; 3 the checker ran out of time.")
        .subcommand_required(false)
        .next_help_heading("Cluster options")
        .arg(global(
            Arg::new("target")
                .long("target")
                .value_name("ADDR,ADDR,...")
                .value_delimiter(',')
                .help("Drive these existing lin-kv servers instead of starting a cluster (names resolve, e.g. localhost:7000)"),
        ))
        .arg(global(
            Arg::new("store")
                .long("store")
                .value_name("KIND")
                .value_parser(["register", "write-once"])
                .help("With --target and no protocol: what each key is, for the history check [default: register, Maelstrom's lin-kv]"),
        ))
        .arg(global(
            Arg::new("nodes")
                .long("nodes")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .default_value("3")
                .help("Number of nodes"),
        ))
        .arg(fsync_arg())
        .next_help_heading("Load")
        .arg(global(
            Arg::new("clients")
                .long("clients")
                .value_name("K")
                .value_parser(value_parser!(usize))
                .default_value("64")
                .help("Closed loop: this many clients, each with one request outstanding"),
        ))
        .arg(global(
            Arg::new("rate")
                .long("rate")
                .value_name("OPS")
                .value_parser(value_parser!(f64))
                .help("Open loop: issue this many operations per second (latency from the intended send time); --clients is then the pool serving the schedule"),
        ))
        .arg(global(
            Arg::new("duration")
                .long("duration")
                .value_name("SECS")
                .value_parser(value_parser!(f64))
                .default_value("10")
                .help("Measured seconds"),
        ))
        .arg(global(
            Arg::new("warmup")
                .long("warmup")
                .value_name("SECS")
                .value_parser(value_parser!(f64))
                .default_value("0")
                .help("Seconds of load before the measurement (their operations are still checked)"),
        ))
        .arg(global(
            Arg::new("keys")
                .long("keys")
                .value_name("N")
                .value_parser(value_parser!(u64))
                .help("Keys are drawn uniformly from 0..N [default: 1000; write-once stores: every write to a fresh key]"),
        ))
        .arg(global(
            Arg::new("reads")
                .long("reads")
                .value_name("FRACTION")
                .value_parser(value_parser!(f64))
                .default_value("0.5")
                .help("Fraction of reads"),
        ))
        .arg(global(
            Arg::new("cas")
                .long("cas")
                .value_name("FRACTION")
                .value_parser(value_parser!(f64))
                .default_value("0")
                .help("Fraction of cas (the rest are writes)"),
        ))
        .arg(global(
            Arg::new("timeout-ms")
                .long("timeout-ms")
                .value_name("MS")
                .value_parser(value_parser!(u64))
                .default_value("500")
                .help("Per-attempt timeout in milliseconds; a timed-out request is resent with the same msg_id"),
        ))
        .arg(global(
            Arg::new("retries")
                .long("retries")
                .value_name("N")
                .value_parser(value_parser!(u32))
                .default_value("3")
                .help("Resends after timeouts before an operation is given up as indeterminate"),
        ))
        .arg(global(
            Arg::new("client-threads")
                .long("client-threads")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .default_value("1")
                .help("Load-generator threads"),
        ))
        .next_help_heading("Report")
        .arg(global(
            Arg::new("check")
                .long("check")
                .action(ArgAction::SetTrue)
                .overrides_with("no-check")
                .help("Check the recorded history for linearizability (the default)"),
        ))
        .arg(global(
            Arg::new("no-check")
                .long("no-check")
                .action(ArgAction::SetTrue)
                .overrides_with("check")
                .help("Skip the linearizability check of the recorded history"),
        ))
        .arg(global(
            Arg::new("check-timeout")
                .long("check-timeout")
                .value_name("SECS")
                .value_parser(value_parser!(f64))
                .default_value("60")
                .help("The history checker's time budget in seconds"),
        ))
        .arg(global(
            Arg::new("history-out")
                .long("history-out")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Write the recorded history: JSON lines, or Jepsen's EDN for FILE.edn"),
        ))
        .arg(global(
            Arg::new("compare")
                .long("compare")
                .action(ArgAction::SetTrue)
                .help("Also measure, in this invocation, the protocol under stateright::actor::spawn, single-copy-kv on Synod's runtime, and a bare UDP echo loop, and print the ratios"),
        ))
        .arg(global(format_arg()));
    let c = crash_args(fault_args(c));
    protocol_subcommands(c, Mode::Run, "bench")
}

/// A usage error: the message on stderr, exit 2.
fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Parses `args` (the program name first) and runs the command.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let matches = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return clap_error(e, &args),
    };
    match matches.subcommand() {
        Some(("list", m)) => {
            match m.get_one::<String>("format").map(String::as_str) {
                Some("json") => println!(
                    "{}",
                    serde_json::to_string_pretty(&catalog::to_json()).expect("catalog serialises")
                ),
                _ => print!("{}", catalog::to_text()),
            }
            ExitCode::SUCCESS
        }
        Some(("check", m)) => with_protocol(m, Mode::Check, check),
        Some(("explore", m)) => with_protocol(m, Mode::Check, explore),
        Some(("run", m)) => with_protocol(m, Mode::Run, run),
        Some(("node", m)) => with_protocol(m, Mode::Run, node),
        Some(("bench", m)) => bench(m),
        Some(("client", m)) => client(m),
        Some(("spawn-baseline", m)) => {
            let name = m.get_one::<String>("protocol").expect("required");
            let addrs: Vec<SocketAddrV4> = m
                .get_many::<SocketAddrV4>("addrs")
                .expect("required")
                .copied()
                .collect();
            let result = catalog::find_runnable(name)
                .map_err(|e| e.to_string())
                .and_then(|e| {
                    let settings = e
                        .resolve(&RawSettings::default(), Mode::Run)
                        .map_err(|e| e.to_string())?
                        .settings;
                    e.spawn_baseline(&settings, addrs)
                });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => usage_error(e),
            }
        }
        _ => unreachable!("subcommand_required"),
    }
}

/// Clap's errors, with what clap cannot know: which parameters the named protocol has.
fn clap_error(e: clap::Error, args: &[OsString]) -> ExitCode {
    let kind = e.kind();
    if matches!(
        kind,
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(
            if kind == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                2
            } else {
                0
            },
        );
    }
    if kind == ErrorKind::UnknownArgument {
        // `synod check paxos --rms 3`: name the protocol's parameters.
        let words: Vec<String> = args
            .iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let command = words.first().map(String::as_str);
        if let Some(mode) = PROTOCOL_COMMANDS
            .iter()
            .find(|(c, _)| Some(*c) == command)
            .map(|(_, m)| *m)
        {
            let protocol = words[1..].iter().find_map(|w| catalog::find(w).ok());
            let flag = e
                .get(clap::error::ContextKind::InvalidArg)
                .map(|v| v.to_string())
                .unwrap_or_default();
            let name = flag.trim_start_matches('-').split('=').next().unwrap_or("");
            if let (Some(entry), false) = (protocol, name.is_empty()) {
                eprintln!(
                    "error: {}; see `synod {} {} --help` for its other options",
                    entry.unknown_param(name, mode),
                    command.unwrap_or(""),
                    entry.name()
                );
                return ExitCode::from(2);
            }
        }
    }
    let _ = e.print();
    ExitCode::from(2)
}

/// Resolves the protocol subcommand of `m` and runs `f` with its entry and matches.
fn with_protocol(
    m: &ArgMatches,
    mode: Mode,
    f: fn(&'static Entry, &ArgMatches) -> ExitCode,
) -> ExitCode {
    let Some((name, pm)) = m.subcommand() else {
        return usage_error("name a protocol (see `synod list`)");
    };
    let found = match mode {
        Mode::Check => catalog::find(name),
        Mode::Run => catalog::find_runnable(name),
    };
    match found {
        Ok(entry) => f(entry, pm),
        Err(e) => usage_error(e),
    }
}

/// The raw protocol settings in a protocol subcommand's matches.
fn raw_settings(entry: &Entry, pm: &ArgMatches, mode: Mode) -> RawSettings {
    let mut raw = RawSettings::default();
    for p in entry.params(mode) {
        if let Ok(Some(v)) = pm.try_get_one::<u64>(&param_id(p.name)) {
            raw.params.insert(p.name.to_string(), *v);
        }
    }
    raw.network = pm.try_get_one::<String>("network").ok().flatten().cloned();
    raw.bug = pm.try_get_one::<String>("bug").ok().flatten().cloned();
    raw.symmetry = matches!(pm.try_get_one::<bool>("symmetry"), Ok(Some(true)));
    raw
}

/// Whether the user gave `id` on the command line (not a default).
fn given(m: &ArgMatches, id: &str) -> bool {
    matches!(m.value_source(id), Some(ValueSource::CommandLine))
}

fn positive_secs(flag: &str, s: f64) -> Result<Duration, String> {
    if s.is_finite() && s > 0.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(format!("{flag} {s} must be a positive number of seconds"))
    }
}

/// A seed for a simulation the user gave none: the clock's nanoseconds (reported, so a run can be
/// replayed).
fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

fn check(entry: &'static Entry, m: &ArgMatches) -> ExitCode {
    let resolved = match entry.resolve(&raw_settings(entry, m, Mode::Check), Mode::Check) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let setup = || -> Result<(CheckOptions, Option<(PathBuf, TraceKind)>), String> {
        let threads = m.get_one::<usize>("threads").copied();
        if threads == Some(0) {
            return Err("--threads must be at least 1".into());
        }
        let timeout = m
            .get_one::<f64>("timeout")
            .map(|t| positive_secs("--timeout", *t))
            .transpose()?;
        let max_depth = m.get_one::<usize>("max-depth").copied();
        if max_depth == Some(0) {
            return Err("--max-depth must be at least 1".into());
        }
        let max_memory = match m.get_one::<String>("max-memory") {
            Some(text) => memory::parse_size(text).map_err(|e| format!("--max-memory: {e}"))?,
            None => memory::default_budget(),
        };
        let strategy = match m.get_one::<String>("strategy").map(String::as_str) {
            Some("dfs") => Strategy::Dfs,
            Some("simulation") => Strategy::Simulation,
            _ => Strategy::Bfs,
        };
        let seed = m.get_one::<u64>("seed").copied();
        if seed.is_some() && strategy != Strategy::Simulation {
            return Err(
                "--seed applies to --strategy simulation only (BFS and DFS are deterministic)"
                    .into(),
            );
        }
        let trace = match m.get_one::<PathBuf>("trace-out") {
            None => None,
            Some(path) => {
                let kind = match path.extension().and_then(|e| e.to_str()) {
                    Some("json") => TraceKind::Json,
                    Some("mmd") => TraceKind::Mermaid,
                    _ => {
                        return Err(format!(
                            "--trace-out {}: the file name must end in .json or .mmd",
                            path.display()
                        ))
                    }
                };
                Some((path.clone(), kind))
            }
        };
        Ok((
            CheckOptions {
                strategy,
                threads: threads.unwrap_or(cores()),
                timeout,
                max_depth,
                seed: seed.unwrap_or_else(clock_seed),
                progress: true,
                max_memory: Some(max_memory),
            },
            trace,
        ))
    };
    let (opts, trace) = match setup() {
        Ok(x) => x,
        Err(e) => return usage_error(e),
    };
    let json = m.get_one::<String>("format").map(String::as_str) == Some("json");
    // Fail on an unwritable trace file now, not after a long check.
    if let Some((path, _)) = &trace {
        if let Err(e) = std::fs::File::create(path) {
            return usage_error(format!("cannot write --trace-out {}: {e}", path.display()));
        }
    }
    if m.get_flag("refines") {
        return refine(entry, m, &resolved, &opts, json, trace);
    }
    let report = entry.check_resolved(&resolved, &opts);
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if let Some((path, kind)) = &trace {
        if let Err(e) = write_trace(&report, path, *kind) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(report.exit_code() as u8)
}

/// `check --refines`: every search option that means something for the refinement BFS is
/// honoured; the others are errors.
fn refine(
    entry: &Entry,
    m: &ArgMatches,
    resolved: &Resolved,
    opts: &CheckOptions,
    json: bool,
    trace: Option<(PathBuf, TraceKind)>,
) -> ExitCode {
    if opts.strategy != Strategy::Bfs {
        return usage_error(
            "--refines searches breadth-first (its failing trace is a shortest one); drop --strategy",
        );
    }
    if resolved.settings.symmetry {
        return usage_error(
            "--refines checks every concrete state (the mapping need not respect symmetry); drop --symmetry",
        );
    }
    if given(m, "seed") {
        return usage_error("--seed applies to --strategy simulation only");
    }
    for note in &resolved.notes {
        eprintln!("{note}");
    }
    let ropts = RefineOptions {
        threads: opts.threads,
        timeout: opts.timeout,
        max_depth: opts.max_depth,
        progress: true,
        max_memory: opts.max_memory,
    };
    let report = match entry.refine(&resolved.settings, &ropts) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a report serialises")
        );
    } else {
        print!("{}", report.to_text());
    }
    if let Some((path, kind)) = &trace {
        match &report.trace {
            None => eprintln!(
                "note: no trace to write to {}: the refinement holds",
                path.display()
            ),
            Some(t) => {
                let title = format!("{}: refinement of {}", report.protocol, report.spec);
                let text = match kind {
                    TraceKind::Json => serde_json::to_string_pretty(&serde_json::json!({
                        "protocol": report.protocol,
                        "spec": report.spec,
                        "failure": report.failure,
                        "trace": t,
                    }))
                    .expect("a trace serialises"),
                    TraceKind::Mermaid => t.to_mermaid(&title),
                };
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                eprintln!("wrote the failing refinement trace to {}", path.display());
            }
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

fn explore(entry: &'static Entry, m: &ArgMatches) -> ExitCode {
    let resolved = match entry.resolve(&raw_settings(entry, m, Mode::Check), Mode::Check) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let threads = m.get_one::<usize>("threads").copied();
    if threads == Some(0) {
        return usage_error("--threads must be at least 1");
    }
    let addr = m.get_one::<String>("addr").expect("has a default");
    let addr = match explore::check_addr(addr) {
        Ok(a) => a,
        Err(e) => return usage_error(e),
    };
    for note in &resolved.notes {
        println!("{note}");
    }
    println!(
        "Exploring {} on http://{addr}/ (Ctrl-C to stop)",
        entry.name()
    );
    entry.explore(
        &resolved.settings,
        &addr.to_string(),
        threads.unwrap_or(cores()),
    );
    ExitCode::SUCCESS
}

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

fn run(entry: &'static Entry, m: &ArgMatches) -> ExitCode {
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
        })
    };
    match setup() {
        Ok(cfg) => serve::run(cfg),
        Err(e) => usage_error(e),
    }
}

fn node(entry: &'static Entry, m: &ArgMatches) -> ExitCode {
    let setup = || -> Result<serve::NodeConfig, String> {
        let listen = *m
            .get_one::<SocketAddrV4>("listen")
            .ok_or("--listen ADDR is required: this node's address, one of --peers")?;
        let peers: Vec<SocketAddrV4> = m
            .get_many::<SocketAddrV4>("peers")
            .ok_or("--peers ADDR,ADDR,... is required: every node's address, in the same order on every node")?
            .copied()
            .collect();
        Ok(serve::NodeConfig {
            protocol: runnable(entry, m)?,
            listen,
            peers,
            data_dir: m.get_one::<PathBuf>("data-dir").expect("default").clone(),
            fsync: fsync(m),
            faults: faults(m)?,
            duration: duration(m)?,
        })
    };
    match setup() {
        Ok(cfg) => serve::node(cfg),
        Err(e) => usage_error(e),
    }
}

fn client(m: &ArgMatches) -> ExitCode {
    let words: Vec<String> = m
        .get_many::<String>("op")
        .expect("required")
        .cloned()
        .collect();
    let addr = m.get_one::<String>("addr").expect("required");
    match serve::parse_request(&words) {
        Ok(req) => serve::client(
            addr,
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
fn bench(m: &ArgMatches) -> ExitCode {
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
        (Some((entry, _)), None) => bench_cluster(entry, m),
        (protocol, Some(targets)) => bench_targets(protocol.map(|(e, _)| e), targets, m),
    };
    match result {
        Ok(report) => {
            if m.get_one::<String>("format").map(String::as_str) == Some("json") {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report.to_json()).expect("a report serialises")
                );
            } else {
                print!("{}", report.to_text());
            }
            ExitCode::from(report.exit_code())
        }
        Err(e) => usage_error(e),
    }
}

/// The load generator's configuration from the bench flags; `write_once` stores get fresh keys
/// for every write unless `--keys` says otherwise.
fn load_config(m: &ArgMatches, write_once: bool) -> Result<crate::client::LoadConfig, String> {
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
        retries: *m.get_one::<u32>("retries").expect("default"),
        seed: *m.get_one::<u64>("seed").expect("default"),
        record_history: !m.get_flag("no-check") || m.get_one::<PathBuf>("history-out").is_some(),
        threads: *m.get_one::<usize>("client-threads").expect("default"),
        fresh_writes: write_once && keys.is_none(),
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

fn bench_cluster(entry: &Entry, m: &ArgMatches) -> Result<crate::bench::BenchReport, String> {
    if given(m, "store") {
        return Err(format!(
            "--store applies with --target and no protocol; {} keys are {}",
            entry.name(),
            store_name(entry_store(entry))
        ));
    }
    let protocol = runnable(entry, m)?;
    let write_once = protocol.model == crate::lincheck::Model::WriteOnce;
    let (crashes, restarts) = crash_events(m)?;
    let cfg = crate::bench::BenchConfig {
        bug: protocol.settings.bug.map(str::to_string),
        protocol,
        nodes: *m.get_one::<usize>("nodes").expect("default"),
        load: load_config(m, write_once)?,
        fsync: fsync(m),
        faults: faults(m)?,
        crashes,
        restarts,
        check: !m.get_flag("no-check"),
        check_budget: check_budget(m)?,
        compare: m.get_flag("compare"),
        history_out: m.get_one::<PathBuf>("history-out").cloned(),
    };
    crate::bench::bench(&cfg)
}

fn entry_store(entry: &Entry) -> crate::lincheck::Model {
    entry
        .runnable(
            entry
                .resolve(&RawSettings::default(), Mode::Run)
                .expect("the defaults are valid")
                .settings,
        )
        .model
}

fn store_name(model: crate::lincheck::Model) -> &'static str {
    match model {
        crate::lincheck::Model::Register => "register",
        crate::lincheck::Model::WriteOnce => "write-once",
    }
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
    ] {
        if given(m, flag) {
            return Err(format!(
                "--{flag} shapes a local cluster and does not apply with --target (the servers run elsewhere)"
            ));
        }
    }
    if let Some(entry) = entry {
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
                store_name(entry_store(entry))
            ));
        }
    }
    let model = match entry {
        Some(e) => entry_store(e),
        None => match m.get_one::<String>("store").map(String::as_str) {
            Some("write-once") => crate::lincheck::Model::WriteOnce,
            _ => crate::lincheck::Model::Register,
        },
    };
    let cfg = crate::bench::TargetBenchConfig {
        targets,
        load: load_config(m, model == crate::lincheck::Model::WriteOnce)?,
        model,
        check: !m.get_flag("no-check"),
        check_budget: check_budget(m)?,
        history_out: m.get_one::<PathBuf>("history-out").cloned(),
    };
    crate::bench::bench_targets(&cfg)
}
