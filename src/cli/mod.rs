//! The command line, built from the catalog: `check`, `explore`, `run`, `node` and `bench` have one
//! subcommand per registered protocol, whose flags are that protocol's own parameters (with
//! their defaults and bounds), its bugs and networks, so `synod check paxos --help` lists exactly
//! what applies and anything else is an error (exit 2) that names what is valid.
//!
//! Options that belong to the command rather than the protocol (`--strategy`, `--threads`,
//! `--nodes`, ...) are clap "global" arguments of the command: they may come before or after the
//! protocol's name. A flag that does not apply in a combination (`--seed` without simulation,
//! `--symmetry` with `--refines`, a cluster flag with `--target`) is rejected, never ignored.
//!
//! - this file: the entry point, dispatch, and the errors clap cannot word alone;
//! - [`args`]: the clap commands, built from the catalog;
//! - [`check`]: `check` (and `--refines`), trace export, `explore`;
//! - [`net`]: `run`, `node`, `client`, `bench`.

mod args;
mod check;
mod net;

use crate::catalog::{self, Entry, Mode, RawSettings};
use args::{
    bench_command, check_command, client_command, explore_command, format_arg, node_command,
    param_id, run_command, ui_command,
};
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{value_parser, Arg, ArgMatches, Command};
use std::ffi::OsString;
use std::net::SocketAddrV4;
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
        .subcommand(ui_command())
        .subcommand(explore_command())
        .subcommand(run_command())
        .subcommand(node_command())
        .subcommand(client_command())
        .subcommand(bench_command())
        .subcommand(
            Command::new("check-data")
                .about("Verifies a node's data directory without starting a node or changing anything. Exit codes: 0 a node would start on it; 1 a node would refuse it (damage, named with file and offset); 2 it cannot be read.")
                .arg(
                    Arg::new("dir")
                        .required(true)
                        .value_name("DIR")
                        .value_parser(value_parser!(std::path::PathBuf)),
                ),
        )
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
        Some(("check", m)) => with_protocol(m, Mode::Check, check::check),
        Some(("explore", m)) => with_protocol(m, Mode::Check, check::explore),
        Some(("ui", m)) => ui(m),
        Some(("run", m)) => with_protocol(m, Mode::Run, net::run),
        Some(("node", m)) => with_protocol(m, Mode::Run, net::node),
        Some(("bench", m)) => net::bench(m),
        Some(("client", m)) => net::client(m),
        Some(("check-data", m)) => {
            let dir = m.get_one::<std::path::PathBuf>("dir").expect("required");
            match crate::net::datadir::verify(dir) {
                Ok(report) => {
                    print!("{report}");
                    if !report.to_string().ends_with('\n') {
                        println!();
                    }
                    ExitCode::SUCCESS
                }
                Err(e) if e.is_damage() => {
                    eprintln!(
                        "{}\na node would refuse to start on {}; nothing was changed",
                        e.summary(),
                        dir.display()
                    );
                    ExitCode::FAILURE
                }
                Err(e) => usage_error(e),
            }
        }
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

/// `synod ui`: serves the web UI until interrupted.
fn ui(m: &ArgMatches) -> ExitCode {
    let addr = m.get_one::<String>("addr").expect("has a default");
    let listener = match crate::ui::bind(addr) {
        Ok(l) => l,
        Err(e) => return usage_error(e),
    };
    serve_ui(listener, "")
}

/// Serves the UI, printing its URL (with `fragment`, a page to open) once it listens.
fn serve_ui(listener: std::net::TcpListener, fragment: &str) -> ExitCode {
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return usage_error(format!("cannot read the listening address: {e}")),
    };
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: serving on {addr}, which is not a loopback address: anyone who can reach it \
             can run checks on this machine"
        );
    }
    println!("Synod UI on http://{addr}/{fragment} (Ctrl-C to stop)");
    match crate::ui::serve(listener) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(e),
    }
}
