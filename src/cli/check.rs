//! `synod check` (properties, or refinement with `--refines`), trace export, and `synod explore`
//! (the web UI at a configuration's first state).

use super::{cores, given, positive_secs, raw_settings, usage_error};
use crate::catalog::{Compared, Entry, Mode, Resolved};
use crate::check::refine::RefineOptions;
use crate::check::{checkpoint, memory, CheckOptions, EngineKind, Report, Strategy};
use clap::ArgMatches;
use std::path::PathBuf;
use std::process::ExitCode;
use synod_models::liveness::Fairness;

pub(super) fn check(entry: &'static Entry, m: &ArgMatches) -> ExitCode {
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
        let engine = match m.get_one::<String>("engine").map(String::as_str) {
            Some("stateright") => EngineKind::Stateright,
            _ => EngineKind::Synod,
        };
        // Synod's engine searches breadth-first only; depth-first and simulation are stateright's.
        let own = engine == EngineKind::Synod && strategy == Strategy::Bfs;
        if given(m, "engine") && strategy != Strategy::Bfs {
            return Err(format!(
                "--engine chooses the breadth-first search; --strategy {} has one engine (stateright's)",
                strategy.name()
            ));
        }
        let frontier_states = match m.get_one::<usize>("frontier-states").copied() {
            None => None,
            Some(_) if !own => {
                return Err(
                    "--frontier-states applies to Synod's breadth-first engine (--strategy bfs --engine synod) only"
                        .into(),
                )
            }
            Some(0) => return Err("--frontier-states must be at least 1".into()),
            Some(n) => Some(n),
        };
        let checkpoint = checkpoint_spec(m, own)?;
        let fairness = match m.get_one::<String>("fairness") {
            None => Fairness::default(),
            Some(_) if strategy == Strategy::Simulation => {
                return Err(
                    "--fairness applies to liveness checked on the whole state graph; a simulation samples runs: use --strategy bfs or dfs"
                        .into(),
                )
            }
            Some(list) => {
                let live = entry.liveness_properties(&resolved.settings);
                if live.is_empty() {
                    let opt_in: Vec<String> = entry
                        .descriptor
                        .properties
                        .iter()
                        .filter_map(|p| {
                            let (param, value) = p.when?;
                            Some(format!("\"{}\" needs --{param} {value}", p.name))
                        })
                        .collect();
                    return Err(format!(
                        "--fairness applies to eventually and leads-to properties, and {} has none in this configuration{}",
                        entry.name(),
                        if opt_in.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", opt_in.join("; "))
                        }
                    ));
                }
                Fairness::parse(list).map_err(|e| format!("--fairness {list}: {e}"))?
            }
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
                watch: None,
                engine,
                frontier_states,
                checkpoint,
                fairness,
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
    if let Some(side) = m.get_one::<String>("compare-child") {
        // One side of a parent's --compare: its figures as one JSON line.
        let done = entry.compare(&resolved.settings, &opts, side == "stateright");
        println!("{}", serde_json::to_string(&done).expect("serializable"));
        return ExitCode::SUCCESS;
    }
    let compare = m.get_flag("compare");
    if compare {
        let refused = if opts.strategy != Strategy::Bfs {
            Some("--compare compares breadth-first searches; drop --strategy")
        } else if resolved.settings.symmetry {
            Some("--compare: stateright's BfsChecker ignores symmetry (0.31 applies CheckerBuilder::symmetry in its DFS only), so the two sides would explore different graphs; drop --symmetry")
        } else if m.get_flag("refines") {
            Some("--compare compares checks, not refinement; drop --refines")
        } else if opts.checkpoint.is_some() {
            Some("--compare runs whole searches in child processes; drop --checkpoint and --resume")
        } else if given(m, "fairness") {
            Some("--compare explores only (no property is checked on either side); drop --fairness")
        } else {
            None
        };
        if let Some(e) = refused {
            return usage_error(e);
        }
    }
    if m.get_flag("refines") {
        return refine(entry, m, &resolved, &opts, json, trace);
    }
    if let Some(c) = opts.checkpoint.as_ref().filter(|c| c.resume) {
        // Refused before the search starts: another check's checkpoint, or missing files.
        let header = entry.header(&resolved);
        let identity = checkpoint::identity(&header.protocol, &header.parameters);
        if let Err(e) = checkpoint::open(&c.dir, &identity) {
            return usage_error(e);
        }
    }
    let mut report = entry.check_resolved(&resolved, &opts);
    if compare {
        match compare_children() {
            Ok(c) => report.compare = Some(c),
            Err(e) => {
                eprintln!("error: --compare: {e}");
                return ExitCode::from(2);
            }
        }
    }
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
    for flag in [
        "engine",
        "fairness",
        "frontier-states",
        "checkpoint",
        "resume",
        "checkpoint-every",
    ] {
        if given(m, flag) {
            return usage_error(format!(
                "--refines has its own breadth-first search; drop --{flag}"
            ));
        }
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

/// `synod explore`: the web UI, with a link to step through this configuration by hand.
pub(super) fn explore(entry: &'static Entry, m: &ArgMatches) -> ExitCode {
    let resolved = match entry.resolve(&raw_settings(entry, m, Mode::Check), Mode::Check) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    if resolved.settings.symmetry {
        return usage_error(
            "explore steps through real states, never reduced ones: drop --symmetry",
        );
    }
    let addr = m.get_one::<String>("addr").expect("has a default");
    let listener = match crate::ui::bind(addr) {
        Ok(l) => l,
        Err(e) => return usage_error(e),
    };
    for note in &resolved.notes {
        println!("{note}");
    }
    let s = &resolved.settings;
    let mut query = format!("protocol={}", entry.name());
    for (name, value) in &s.params {
        query.push_str(&format!("&p.{name}={value}"));
    }
    if !entry.descriptor.networks.is_empty() {
        query.push_str(&format!("&network={}", s.network.name()));
    }
    if let Some(bug) = s.bug {
        query.push_str(&format!("&bug={bug}"));
    }
    super::serve_ui(listener, &format!("#/explore?{query}&path=0"))
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

/// `--checkpoint DIR`, `--resume DIR`, `--checkpoint-every SECS`: Synod's engine only; a new
/// checkpoint refuses a directory that holds one, a resume needs one (its identity is checked
/// when the search starts, against the header).
fn checkpoint_spec(m: &ArgMatches, own: bool) -> Result<Option<checkpoint::Spec>, String> {
    let new = m.get_one::<PathBuf>("checkpoint");
    let resume = m.get_one::<PathBuf>("resume");
    let every = m.get_one::<f64>("checkpoint-every").copied();
    let (dir, resuming) = match (new, resume) {
        (Some(_), Some(_)) => {
            return Err("--resume DIR goes on checkpointing into DIR: drop --checkpoint".into())
        }
        (Some(d), None) => (d, false),
        (None, Some(d)) => (d, true),
        (None, None) => {
            if every.is_some() {
                return Err(
                    "--checkpoint-every applies with --checkpoint DIR or --resume DIR".into(),
                );
            }
            return Ok(None);
        }
    };
    let flag = if resuming { "--resume" } else { "--checkpoint" };
    if !own {
        return Err(format!(
            "{flag} applies to Synod's breadth-first engine (--strategy bfs --engine synod) only"
        ));
    }
    let every = match every {
        None => checkpoint::DEFAULT_EVERY,
        Some(s) if s.is_finite() && s >= 0.0 => std::time::Duration::from_secs_f64(s),
        Some(s) => {
            return Err(format!(
                "--checkpoint-every {s}: expected seconds, 0 or more"
            ))
        }
    };
    if resuming {
        if !dir.join(checkpoint::META_FILE).exists() {
            return Err(format!(
                "--resume {}: no checkpoint there ({} is missing)",
                dir.display(),
                checkpoint::META_FILE
            ));
        }
    } else {
        checkpoint::prepare_new(dir)?;
    }
    Ok(Some(checkpoint::Spec {
        dir: dir.clone(),
        resume: resuming,
        every,
        identity: serde_json::Value::Null,
    }))
}

/// Runs both sides of `--compare` (Synod's, then stateright's), each a child process of this
/// command's own arguments, for its figures and its peak resident memory.
fn compare_children() -> Result<crate::check::report::CompareReport, String> {
    use crate::check::report::{CompareReport, CompareSide};
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut skip_value = false;
    for a in std::env::args_os().skip(1) {
        if skip_value {
            skip_value = false;
            continue;
        }
        let text = a.to_string_lossy();
        if text == "--compare" || text.starts_with("--format=") || text.starts_with("--trace-out=")
        {
            continue;
        }
        if text == "--format" || text == "--trace-out" {
            skip_value = true;
            continue;
        }
        args.push(a);
    }
    let run = |side: &str| -> Result<(Compared, Option<u64>), String> {
        let mut all = args.clone();
        all.push("--compare-child".into());
        all.push(side.into());
        child_with_rusage(&all)
    };
    let (synod, synod_rss) = run("synod")?;
    let (theirs, their_rss) = run("stateright")?;
    let work = if theirs.form == "ActorModel" {
        "exploration only: both sides expand every state and evaluate one property that always \
         holds instead of the protocol's; each in its own process"
    } else {
        "the same model with its own properties on both sides; each in its own process"
    };
    Ok(CompareReport {
        engine: "stateright".into(),
        model: theirs.form.clone(),
        seconds: theirs.run.seconds,
        states: theirs.run.states,
        unique_states: theirs.run.unique_states,
        max_rss_bytes: their_rss,
        synod: CompareSide {
            seconds: synod.run.seconds,
            states: synod.run.states,
            unique_states: synod.run.unique_states,
            max_rss_bytes: synod_rss,
        },
        work: work.into(),
        same_unique_states: synod.run.unique_states == theirs.run.unique_states,
        differences: theirs.differences,
    })
}

/// Runs this program with `args`; its one JSON line, and its peak resident memory (`wait4`).
fn child_with_rusage(args: &[std::ffi::OsString]) -> Result<(Compared, Option<u64>), String> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start a child process: {e}"))?;
    let (mut out, mut err) = (String::new(), String::new());
    let _ = child.stdout.take().expect("piped").read_to_string(&mut out);
    let _ = child.stderr.take().expect("piped").read_to_string(&mut err);
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 writes it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped != pid {
        return Err(format!(
            "waiting for the child process: {}",
            std::io::Error::last_os_error()
        ));
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!(
            "the child process failed ({status}): {}",
            err.trim()
        ));
    }
    let done: Compared = serde_json::from_str(out.trim())
        .map_err(|e| format!("the child process said {out:?}: {e}"))?;
    // Linux reports ru_maxrss in KiB.
    let rss = u64::try_from(usage.ru_maxrss).ok().map(|k| k * 1024);
    Ok((done, rss))
}
