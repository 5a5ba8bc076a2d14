//! The clap commands: `check`, `explore`, `run`, `node`, `client`, `bench`, each command's own
//! options as global arguments, and one subcommand per protocol built from its descriptor.

use crate::catalog::{self, Entry, Mode};
use clap::{value_parser, Arg, ArgAction, Command};
use std::net::SocketAddrV4;
use std::path::PathBuf;

pub(super) fn format_arg() -> Arg {
    Arg::new("format")
        .long("format")
        .value_name("FORMAT")
        .value_parser(["text", "json"])
        .default_value("text")
        .help("Output format")
}

pub(super) fn param_id(name: &str) -> String {
    format!("param:{name}")
}

/// A protocol as a subcommand of a command in `mode`: its parameters, networks, bugs, symmetry.
pub(super) fn protocol_command(e: &Entry, mode: Mode, command: &str) -> Command {
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
        let words: Vec<String> = p.names.iter().map(|(n, v)| format!("{n} = {v}")).collect();
        let words = if words.is_empty() {
            String::new()
        } else {
            format!("; {}", words.join(", "))
        };
        c = c.arg(
            Arg::new(param_id(p.name))
                .long(p.name)
                .value_name("N")
                .value_parser(move |v: &str| p.parse(v))
                .help(format!(
                    "{} [default: {default}; {}..={}{words}]",
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
pub(super) fn protocol_help(e: &Entry, mode: Mode, command: &str) -> String {
    let d = e.descriptor;
    let mut out = String::new();
    if mode == Mode::Check {
        out.push_str("Properties:\n");
        for p in d.properties {
            let when = match p.when {
                Some((param, value)) => format!(" (with --{param} {value})"),
                None => String::new(),
            };
            out.push_str(&format!(
                "  {:<10} {}{when}\n",
                p.expectation.as_str(),
                p.name
            ));
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
    if mode == Mode::Run && e.is_runnable() && e.store().is_none() {
        out.push_str(&format!(
            "No clients: {} serves no store, so its nodes act on their own and answer every client request with error 10.\n",
            d.name
        ));
        if command == "bench" {
            out.push_str("The bench runs the cluster for --duration with the faults given and is judged by what the nodes checked (exit 0 held, 1 violated, 3 nothing to judge); the load generator's options (--clients, --rate, --keys, --reads, --cas, --warmup, --timeout-ms, --retries, --client-threads), the history's (--check, --no-check, --check-timeout, --history-out) and --compare, --sweep-nodes, --plot, --target, --store are refused.\n");
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
            let rows: Vec<(String, &str, String)> = d
                .pinned
                .iter()
                .map(|p| {
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
                    let count = crate::check::report::thousands(p.unique_states);
                    (args, p.source, count)
                })
                .collect();
            let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
            for (args, source, count) in rows {
                out.push_str(&format!("  {args:<width$} {count:>12}  {source}\n"));
            }
        }
    }
    out
}

/// The protocols a command in `mode` offers, as subcommands.
pub(super) fn protocol_subcommands(mut c: Command, mode: Mode, command: &str) -> Command {
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

pub(super) fn global(arg: Arg) -> Arg {
    arg.global(true)
}

pub(super) fn check_command() -> Command {
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
            Arg::new("engine")
                .long("engine")
                .value_name("NAME")
                .value_parser(["stateright", "synod"])
                .default_value("synod")
                .help("The breadth-first search: Synod's own (level by level: a shortest trace on any number of threads; fingerprints in memory, parents and the frontier on disk; checkpoints), or stateright's BfsChecker"),
        ))
        .arg(global(
            Arg::new("compare")
                .long("compare")
                .action(ArgAction::SetTrue)
                .help("Also explore the same configuration on stateright's own checker (its ActorModel of the same actors, or the same TLA+ mirror) and on Synod's, each in its own process, and report both: time, unique states, peak memory"),
        ))
        .arg(global(
            Arg::new("compare-child")
                .long("compare-child")
                .value_name("ENGINE")
                .value_parser(["synod", "stateright"])
                .hide(true),
        ))
        .arg(global(
            Arg::new("fairness")
                .long("fairness")
                .value_name("KINDS")
                .help("Liveness (eventually, leads-to): the kinds of steps that are weakly fair, comma-separated: deliver (a message that stays deliverable is delivered), timeout (a timer that stays set fires), random (a pending choice is made), recover (a crashed actor restarts); or none [default: deliver,timeout,random]"),
        ))
        .arg(global(
            Arg::new("frontier-states")
                .long("frontier-states")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .help("--engine synod: states of one level kept in memory; the rest of the level is serialized to disk [default: as many as fit in half of --max-memory]"),
        ))
        .arg(global(
            Arg::new("checkpoint")
                .long("checkpoint")
                .value_name("DIR")
                .value_parser(value_parser!(std::path::PathBuf))
                .help("--engine synod: keep the search in DIR, with a checkpoint at level boundaries, so that an interrupted search goes on with --resume DIR"),
        ))
        .arg(global(
            Arg::new("resume")
                .long("resume")
                .value_name("DIR")
                .value_parser(value_parser!(std::path::PathBuf))
                .help("--engine synod: go on from the checkpoint in DIR (the same check: protocol and parameters must match)"),
        ))
        .arg(global(
            Arg::new("checkpoint-every")
                .long("checkpoint-every")
                .value_name("SECS")
                .allow_negative_numbers(true)
                .value_parser(value_parser!(f64))
                .help("Seconds between checkpoints, each at a level boundary [default: 60]"),
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

pub(super) fn ui_command() -> Command {
    Command::new("ui")
        .about("Serves Synod's web UI: the catalog, checks with live progress, counterexample traces.")
        .arg(
            Arg::new("addr")
                .long("addr")
                .value_name("ADDR")
                .default_value(crate::ui::DEFAULT_ADDR)
                .help("Address to serve on (loopback by default: whoever reaches it can run checks here)"),
        )
}

pub(super) fn explore_command() -> Command {
    let c = Command::new("explore")
        .about("Serves the web UI (as `synod ui`) and prints a link that steps through this configuration by hand.")
        .subcommand_required(true)
        .next_help_heading("Explorer options")
        .arg(global(
            Arg::new("addr")
                .long("addr")
                .value_name("ADDR")
                .default_value(crate::ui::DEFAULT_ADDR)
                .help("Address to serve on (loopback by default)"),
        ));
    protocol_subcommands(c, Mode::Check, "explore")
}

/// Fault-injection flags (run, node, bench).
pub(super) fn fault_args(c: Command) -> Command {
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

pub(super) fn crash_args(c: Command) -> Command {
    c.arg(global(
        Arg::new("crash")
            .long("crash")
            .value_name("NODE@SECS")
            .action(ArgAction::Append)
            .help("Crash node NODE SECS seconds after the start, e.g. 1@3; leader@3 crashes the node leading then (repeatable)"),
    ))
    .arg(global(
        Arg::new("restart")
            .long("restart")
            .value_name("NODE@SECS")
            .action(ArgAction::Append)
            .help("Restart node NODE from its disk SECS seconds after the start; leader@SECS restarts the last leader crashed (repeatable)"),
    ))
}

/// `--record FILE` and `--record-limit N` (run, bench).
pub(super) fn record_args(c: Command) -> Command {
    c.arg(global(
        Arg::new("record")
            .long("record")
            .value_name("FILE")
            .value_parser(value_parser!(PathBuf))
            .help("Record every datagram sent and received (node, peer, decoded message, time), every timer, crash and restart, and the clients' operations, as JSON for `synod ui` (Open a file)"),
    ))
    .arg(global(
        Arg::new("record-limit")
            .long("record-limit")
            .value_name("N")
            .value_parser(value_parser!(usize))
            .default_value("200000")
            .help("Keep the first N events of a recording; later ones are counted as dropped"),
    ))
}

pub(super) fn fsync_arg() -> Arg {
    global(
        Arg::new("fsync")
            .long("fsync")
            .value_name("WHEN")
            .value_parser(["always", "never"])
            .default_value("always")
            .help("Whether saves are fsynced before the messages of their step leave"),
    )
}

pub(super) fn duration_arg() -> Arg {
    global(
        Arg::new("duration")
            .long("duration")
            .value_name("SECS")
            .value_parser(value_parser!(f64))
            .help("Stop after this many seconds instead of waiting for Ctrl-C"),
    )
}

pub(super) fn run_command() -> Command {
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
    let c = record_args(crash_args(fault_args(c)));
    protocol_subcommands(c, Mode::Run, "run")
}

pub(super) fn node_command() -> Command {
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
                .help("Where this node keeps what it saves: its own directory, locked while it runs [required]"),
        ))
        .arg(fsync_arg())
        .arg(duration_arg());
    protocol_subcommands(fault_args(c), Mode::Run, "node")
}

pub(super) fn client_command() -> Command {
    Command::new("client")
        .about(
            "Sends one request (lin-kv: read K | write K V | cas K FROM TO; g-counter: add DELTA | read) and prints the reply.",
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
                .num_args(1..=4)
                .value_name("OP ARGS")
                .help("read K | write K V | cas K FROM TO (lin-kv); add DELTA | read (g-counter: one counter, no key)"),
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

pub(super) fn bench_command() -> Command {
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
                .value_name("NAME,...")
                .num_args(0..=1)
                .value_delimiter(',')
                .default_missing_value("spawn,single-copy-kv,echo")
                .help("Also measure, in this invocation, baselines by name: a runnable protocol (on as many nodes; single-copy-kv on one), spawn (this protocol under stateright::actor::spawn) or echo (a bare UDP echo loop); alone: spawn,single-copy-kv,echo. Prints each one's ratio"),
        ))
        .arg(global(
            Arg::new("sweep-nodes")
                .long("sweep-nodes")
                .value_name("N,...")
                .value_parser(value_parser!(usize))
                .value_delimiter(',')
                .help("Instead of one run: run the protocol on each of these cluster sizes with --quorum majority and with --quorum all, and print mean latency against N next to its prediction from normal order statistics (use with --delay-ms and --jitter-ms; protocols with a --quorum parameter)"),
        ))
        .arg(global(
            Arg::new("plot")
                .long("plot")
                .value_name("FILE.svg")
                .value_parser(value_parser!(PathBuf))
                .help("With --sweep-nodes: also draw latency against N (measured and predicted) to this SVG file"),
        ))
        .arg(global(format_arg()));
    let c = record_args(crash_args(fault_args(c)));
    protocol_subcommands(c, Mode::Run, "bench")
}
