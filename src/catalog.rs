//! Every protocol Synod knows, registered with one line each, and the validation of what a user
//! asks of one.
//!
//! A protocol declares itself in its own module (`synod_models::protocol::Protocol`: a descriptor
//! of plain data and a model builder; `Serve` to run on sockets; `Refine` to be checked against a
//! TLA+ specification). [`catalog`] registers it, and everything else (the command line, `list`,
//! `check`, `explore`, `run`, `node`, `bench`) is built from the registrations, so adding a
//! protocol edits no generic module. Command-line settings are validated here, so every protocol
//! reports bad input the same way: a precise message, the valid choices, exit code 2.

use crate::check::refine::{self, RefineOptions, RefinementReport};
use crate::check::{self, CheckOptions, Header, Report};
use crate::net::runnable::Runnable;
use serde::Serialize;
use stateright::actor::Id;
use stateright::Model;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddrV4;
use std::sync::LazyLock;
use synod_models::abd::Abd;
use synod_models::checked::Checked;
use synod_models::clocks::Clocks;
use synod_models::gossip::Gossip;
use synod_models::multi_paxos::MultiPaxos;
use synod_models::paxos::Paxos;
use synod_models::primary_backup::PrimaryBackup;
use synod_models::protocol::{
    Descriptor, Need, Param, Protocol, Refine, Serve, Settings, StateBounds,
};
use synod_models::quorum_kv::QuorumKv;
use synod_models::raft::Raft;
use synod_models::single_copy_kv::SingleCopyKv;
use synod_models::tla::{ConsensusSpec, PaxosSpec, TCommitSpec, TwoPhaseSpec, VotingSpec};
use synod_models::trace::Traceable;
use synod_models::two_phase_commit::TwoPhaseCommit;
use synod_models::NetworkKind;

/// Every protocol, in the order `synod list` shows them.
pub fn catalog() -> &'static [Entry] {
    static CATALOG: LazyLock<Vec<Entry>> = LazyLock::new(|| {
        vec![
            register::<Paxos>().serves().refines().into(),
            register::<Raft>().serves().into(),
            register::<MultiPaxos>().serves().into(),
            register::<SingleCopyKv>().serves().into(),
            register::<TwoPhaseCommit>().refines().into(),
            register::<Clocks>().serves().into(),
            register::<Abd>().serves().into(),
            register::<PrimaryBackup>().serves().into(),
            register::<Gossip>().serves().into(),
            register::<QuorumKv>().serves().into(),
            register::<TCommitSpec>().into(),
            register::<TwoPhaseSpec>().into(),
            register::<ConsensusSpec>().into(),
            register::<VotingSpec>().into(),
            register::<PaxosSpec>().into(),
        ]
    });
    &CATALOG
}

/// The unreplicated reference `bench --compare` measures beside any protocol.
pub const REFERENCE: &str = "single-copy-kv";

/// A configuration error: the message says what is wrong and what is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Checks a protocol under validated settings.
type CheckFn = fn(&Settings, &CheckOptions, Header) -> Report;
/// One side of `check --compare`, exploring only: Synod's model and engine, or stateright's form
/// of the model on its own BFS (true); with stateright's form and how it differs.
type CompareFn = fn(&Settings, &CheckOptions, bool) -> Compared;

/// What one side of `check --compare` ran.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Compared {
    pub run: synod_models::baseline::BaselineRun,
    /// stateright's form of the model (`ActorModel`, or the same model).
    pub form: String,
    pub differences: Vec<String>,
}

/// Follows a path of action indices (the web UI's interactive stepping).
type StepFn = fn(&Settings, &[usize]) -> Result<serde_json::Value, String>;
/// Checks refinement of the protocol's specification; an error when the settings admit none.
type RefineFn = fn(&Settings, &RefineOptions) -> Result<RefinementReport, ConfigError>;
/// Runs the protocol's servers under `stateright::actor::spawn` (for `bench --compare`).
type SpawnFn = fn(&Settings, Vec<SocketAddrV4>) -> Result<(), String>;

/// A registered protocol: its descriptor and what the harness can do with it.
pub struct Entry {
    pub descriptor: Descriptor,
    check: CheckFn,
    /// The names of the configured model's `eventually` and `leads-to` properties.
    liveness: fn(&Settings) -> Vec<&'static str>,
    compare: CompareFn,
    step: StepFn,
    runnable: Option<fn(Settings) -> Runnable>,
    /// What each key of a runnable protocol's store is, for checking histories.
    store: Option<crate::lincheck::Model>,
    spawn: Option<SpawnFn>,
    refines: Option<(&'static str, RefineFn)>,
}

/// A registration in progress: `register::<P>()`, then `.serves()` and `.refines()` for what `P`
/// implements, then `.into()` an [`Entry`].
pub struct Registration<P> {
    entry: Entry,
    protocol: std::marker::PhantomData<P>,
}

/// Registers protocol `P` for `check`, `explore` and `list`.
pub fn register<P>() -> Registration<P>
where
    P: Protocol,
    P::Model: Traceable + Send + Sync + 'static,
    P::Model: synod_models::baseline::Baseline + synod_models::liveness::Liveness,
    <P::Model as Model>::State: StateBounds + Serialize + serde::de::DeserializeOwned,
    <P::Model as Model>::Action: StateBounds,
{
    Registration {
        entry: Entry {
            descriptor: P::DESCRIPTOR,
            check: |s, o, header| check::run(&|| P::model(s), o, header),
            liveness: |s| {
                check::liveness::properties(&P::model(s).inner)
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect()
            },
            compare: compare::<P>,
            step: |s, path| crate::ui::step::explore(&P::model(s), path),
            runnable: None,
            store: None,
            spawn: None,
            refines: None,
        },
        protocol: std::marker::PhantomData,
    }
}

impl<P: Protocol> Registration<P> {
    /// `P` also runs on real sockets (`run`, `node`, `bench`).
    pub fn serves(mut self) -> Self
    where
        P: Serve,
        <P::Server as stateright::actor::Actor>::State: fmt::Debug,
        P::Storage: fmt::Debug,
    {
        self.entry.runnable = Some(Runnable::of::<P>);
        self.entry.store = crate::lincheck::Model::of(P::KEYS);
        self.entry.spawn = Some(spawn_baseline::<P>);
        self
    }

    /// `P` is checked against its TLA+ specification by `check --refines`.
    pub fn refines(mut self) -> Self
    where
        P: Refine,
        P::Spec: Sync,
        P::Model: Traceable + Sync,
        <P::Model as Model>::State: StateBounds,
        <P::Model as Model>::Action: StateBounds,
        <P::Spec as Model>::State: PartialEq + fmt::Debug,
    {
        self.entry.refines = Some((P::SPEC_NAME, |s, opts| {
            let spec = P::spec(s).map_err(ConfigError)?;
            let model: Checked<P::Model> = P::model(s);
            Ok(refine::refines(
                P::DESCRIPTOR.name,
                P::SPEC_NAME,
                &model,
                &spec,
                P::map,
                opts,
            ))
        }));
        self
    }
}

impl<P> From<Registration<P>> for Entry {
    fn from(r: Registration<P>) -> Entry {
        r.entry
    }
}

/// `synod spawn-baseline`: protocol `P`'s servers under `stateright::actor::spawn` on `addrs`,
/// JSON for every message, until the process is killed (the child process of `bench --compare`).
fn spawn_baseline<P: Serve>(settings: &Settings, addrs: Vec<SocketAddrV4>) -> Result<(), String>
where
    <P::Server as stateright::actor::Actor>::State: fmt::Debug,
    P::Storage: fmt::Debug,
{
    let ids: Vec<Id> = addrs.iter().map(|a| Id::from(*a)).collect();
    let actors: Vec<(Id, P::Server)> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, P::server(settings, index, ids.clone())))
        .collect();
    stateright::actor::spawn(
        serde_json::to_vec,
        |b| serde_json::from_slice(b),
        serde_json::to_vec,
        |b| serde_json::from_slice(b),
        actors,
    )
    .map_err(|_| "an actor panicked under spawn".to_string())
}

/// Looks a protocol up by name.
pub fn find(name: &str) -> Result<&'static Entry, ConfigError> {
    catalog()
        .iter()
        .find(|p| p.descriptor.name == name)
        .ok_or_else(|| {
            ConfigError(format!(
                "unknown protocol '{name}'; valid protocols: {}",
                names(catalog().iter().map(|p| p.descriptor.name))
            ))
        })
}

/// Looks a runnable protocol up by name; the error names the runnable ones.
pub fn find_runnable(name: &str) -> Result<&'static Entry, ConfigError> {
    let runnable = || {
        names(
            catalog()
                .iter()
                .filter(|e| e.is_runnable())
                .map(|e| e.name()),
        )
    };
    match find(name) {
        Ok(e) if e.is_runnable() => Ok(e),
        Ok(_) => Err(ConfigError(format!(
            "{name} cannot run on the network (it serves no lin-kv clients); runnable protocols: {}",
            runnable()
        ))),
        Err(_) => Err(ConfigError(format!(
            "unknown protocol '{name}'; runnable protocols: {}",
            runnable()
        ))),
    }
}

/// The runnable protocol `name` with its run-time defaults and bug variant `bug`, if given.
pub fn runnable(name: &str, bug: Option<&str>) -> Result<Runnable, ConfigError> {
    let entry = find_runnable(name)?;
    let raw = RawSettings {
        bug: bug.map(str::to_string),
        ..RawSettings::default()
    };
    let resolved = entry.resolve(&raw, Mode::Run)?;
    Ok(entry.runnable(resolved.settings))
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

/// Raw settings as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct RawSettings {
    pub params: BTreeMap<String, u64>,
    pub network: Option<String>,
    pub bug: Option<String>,
    pub symmetry: bool,
}

/// Which command the settings are for: the model (`check`, `explore`) or the network (`run`,
/// `node`, `bench`), where only parameters with a run-time default exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Check,
    Run,
}

/// Validated settings and what the validation did on the user's behalf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub settings: Settings,
    /// Lines for the report: settings a bug needs that were applied, or that conflict.
    pub notes: Vec<String>,
}

impl Entry {
    pub fn name(&self) -> &'static str {
        self.descriptor.name
    }

    pub fn is_runnable(&self) -> bool {
        self.runnable.is_some()
    }

    /// What each key of a runnable protocol's store is (`None`: not runnable, or no clients).
    pub fn store(&self) -> Option<crate::lincheck::Model> {
        self.store
    }

    /// The name of the specification `--refines` checks, if any.
    pub fn spec_name(&self) -> Option<&'static str> {
        self.refines.map(|(name, _)| name)
    }

    /// The parameters a command accepts in `mode`.
    pub fn params(&self, mode: Mode) -> impl Iterator<Item = &'static Param> + '_ {
        let d = self.descriptor;
        d.params
            .iter()
            .filter(move |p| mode == Mode::Check || p.run.is_some())
    }

    /// Validates command-line settings for model checking (the bug's needs applied).
    pub fn settings(&self, raw: &RawSettings) -> Result<Settings, ConfigError> {
        Ok(self.resolve(raw, Mode::Check)?.settings)
    }

    /// Validates command-line settings for `mode`. For model checking, the settings a bug needs
    /// (its descriptor's `needs`) are applied unless the user set them; a conflicting explicit
    /// value is kept, with a warning note.
    pub fn resolve(&self, raw: &RawSettings, mode: Mode) -> Result<Resolved, ConfigError> {
        let d = self.descriptor;
        let accepted: Vec<&Param> = self.params(mode).collect();
        for name in raw.params.keys() {
            if !accepted.iter().any(|p| p.name == name) {
                return Err(ConfigError(self.unknown_param(name, mode)));
            }
        }
        let bug = match &raw.bug {
            None => None,
            Some(name) => Some(d.bug(name).ok_or_else(|| {
                ConfigError(format!(
                    "unknown bug '{name}' for {}; valid bugs: {}",
                    d.name,
                    names(d.bugs.iter().map(|b| b.name))
                ))
            })?),
        };
        let mut notes = Vec::new();
        let mut params = BTreeMap::new();
        for p in d.params {
            let default = match mode {
                Mode::Check => p.default,
                Mode::Run => p.run.unwrap_or(p.default),
            };
            let v = raw.params.get(p.name).copied().unwrap_or(default);
            if v < p.min || v > p.max {
                return Err(ConfigError(format!(
                    "--{} {v} is out of range for {}: {} must be between {} and {} ({})",
                    p.name, d.name, p.name, p.min, p.max, p.help
                )));
            }
            params.insert(p.name, v);
        }
        let mut network = match &raw.network {
            None => d.networks.first().copied().unwrap_or_default(),
            Some(name) => NetworkKind::parse(name)
                .filter(|k| d.networks.contains(k))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "unknown network '{name}' for {}; valid networks: {}",
                        d.name,
                        names(d.networks.iter().map(|k| k.name()))
                    ))
                })?,
        };
        if raw.symmetry && d.symmetry.is_none() {
            return Err(ConfigError(format!(
                "{} defines no symmetry; drop --symmetry",
                d.name
            )));
        }
        if let (Some(bug), Mode::Check) = (bug, mode) {
            for need in bug.needs {
                let (user_set, current) = match need {
                    Need::Param(name, _) => (
                        raw.params.contains_key(*name),
                        Need::Param(name, params[name]),
                    ),
                    Need::Network(_) => (raw.network.is_some(), Need::Network(network)),
                };
                if current == *need {
                    continue;
                }
                if user_set {
                    notes.push(format!(
                        "warning: {} needs {} to show; you set {}, so the checker may not find it",
                        bug.name,
                        need.describe(),
                        current.describe()
                    ));
                    continue;
                }
                match need {
                    Need::Param(name, value) => {
                        params.insert(name, *value);
                    }
                    Need::Network(kind) => network = *kind,
                }
                notes.push(format!(
                    "{} needs {}: set (give {} to override)",
                    bug.name,
                    need.describe(),
                    current.flag()
                ));
            }
        }
        let settings = Settings {
            params,
            network,
            bug: bug.map(|b| b.name),
            symmetry: raw.symmetry,
        };
        if mode == Mode::Check {
            (d.validate)(&settings).map_err(ConfigError)?;
        }
        Ok(Resolved { settings, notes })
    }

    /// The message for a flag `--name` the protocol does not have in `mode`.
    pub fn unknown_param(&self, name: &str, mode: Mode) -> String {
        let d = self.descriptor;
        let valid = names(self.params(mode).map(|p| p.name));
        match (mode, d.param(name)) {
            (Mode::Run, Some(_)) => format!(
                "--{name} is a model-checking parameter of {} (it shapes the checked environment, not the servers); on the network {} accepts: {}",
                d.name,
                d.name,
                if valid.is_empty() { "none".to_string() } else { valid }
            ),
            _ => {
                let guess = self
                    .params(mode)
                    .map(|p| p.name)
                    .filter(|p| edit_distance(p, name) <= 2)
                    .min_by_key(|p| edit_distance(p, name))
                    .map(|p| format!(" (did you mean --{p}?)"))
                    .unwrap_or_default();
                format!(
                    "{} has no parameter --{name}{guess}; its parameters: {}",
                    d.name,
                    if valid.is_empty() { "none".to_string() } else { valid }
                )
            }
        }
    }

    /// The report's header: protocol, every parameter, network, bug, symmetry, notes.
    pub fn header(&self, resolved: &Resolved) -> Header {
        let s = &resolved.settings;
        let mut parameters: BTreeMap<String, serde_json::Value> = s
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        if !self.descriptor.networks.is_empty() {
            parameters.insert("network".into(), s.network.name().into());
        }
        parameters.insert(
            "bug".into(),
            s.bug
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::Null),
        );
        parameters.insert("symmetry".into(), s.symmetry.into());
        Header {
            protocol: self.name().to_string(),
            parameters,
            notes: resolved.notes.clone(),
            known_unique_states: self.known_count(s).map(|(n, src)| (n, src.to_string())),
        }
    }

    /// Checks the protocol under validated settings.
    pub fn check(&self, settings: &Settings, opts: &CheckOptions) -> Report {
        let resolved = Resolved {
            settings: settings.clone(),
            notes: Vec::new(),
        };
        self.check_resolved(&resolved, opts)
    }

    /// Checks the protocol with the notes of its resolution in the report.
    /// The names of the `eventually` and `leads-to` properties of the model these settings
    /// configure (`--fairness` applies only where there is one).
    pub fn liveness_properties(&self, settings: &Settings) -> Vec<&'static str> {
        (self.liveness)(settings)
    }

    pub fn check_resolved(&self, resolved: &Resolved, opts: &CheckOptions) -> Report {
        (self.check)(&resolved.settings, opts, self.header(resolved))
    }

    /// One side of `check --compare` (see [`synod_models::baseline`]).
    pub fn compare(&self, settings: &Settings, opts: &CheckOptions, stateright: bool) -> Compared {
        (self.compare)(settings, opts, stateright)
    }

    /// The state at the end of `path` and what can happen next (see [`crate::ui::step`]).
    pub fn step(&self, settings: &Settings, path: &[usize]) -> Result<serde_json::Value, String> {
        (self.step)(settings, path)
    }

    /// Checks refinement, if the protocol has a specification; the error says which do.
    pub fn refine(
        &self,
        settings: &Settings,
        opts: &RefineOptions,
    ) -> Result<RefinementReport, ConfigError> {
        let Some((_, refine)) = self.refines else {
            return Err(ConfigError(format!(
                "{} defines no refinement mapping; --refines works with: {}",
                self.name(),
                names(
                    catalog()
                        .iter()
                        .filter(|p| p.refines.is_some())
                        .map(|p| p.name())
                )
            )));
        };
        refine(settings, opts)
    }

    /// The protocol ready to run with these (run-mode) settings.
    ///
    /// # Panics
    /// If the protocol is not runnable (use [`find_runnable`]).
    pub fn runnable(&self, settings: Settings) -> Runnable {
        (self.runnable.expect("find_runnable checked this"))(settings)
    }

    /// Runs the servers under `stateright::actor::spawn` (never returns while they run).
    pub fn spawn_baseline(
        &self,
        settings: &Settings,
        addrs: Vec<SocketAddrV4>,
    ) -> Result<(), String> {
        match self.spawn {
            Some(spawn) => spawn(settings, addrs),
            None => Err(format!("{} cannot run on the network", self.name())),
        }
    }

    /// The pinned unique-state count of these settings, if a test or TLC pins it.
    pub fn known_count(&self, s: &Settings) -> Option<(u64, &'static str)> {
        let default_network = self
            .descriptor
            .networks
            .first()
            .copied()
            .unwrap_or_default();
        if s.bug.is_some() || s.network != default_network {
            return None;
        }
        self.descriptor
            .pinned
            .iter()
            .find(|p| {
                p.symmetry == s.symmetry
                    && self.descriptor.params.iter().all(|param| {
                        let want = p
                            .params
                            .iter()
                            .find(|(n, _)| *n == param.name)
                            .map(|(_, v)| *v)
                            .unwrap_or(param.default);
                        s.params.get(param.name) == Some(&want)
                    })
            })
            .map(|p| (p.unique_states, p.source))
    }
}

/// Levenshtein distance, for "did you mean" (names are a few bytes long).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// What `synod list --format json` prints for one entry.
#[derive(Serialize)]
struct Listing {
    name: &'static str,
    summary: &'static str,
    parameters: &'static [Param],
    properties: &'static [synod_models::protocol::PropertyInfo],
    bugs: &'static [synod_models::protocol::BugInfo],
    symmetry: Option<&'static str>,
    networks: Vec<&'static str>,
    runnable: bool,
    /// What a runnable protocol's keys are checked as (`register`, `write-once`, `counter`);
    /// null when it is not runnable or serves no clients.
    store: Option<&'static str>,
    refines: Option<&'static str>,
    pinned: &'static [synod_models::protocol::Pinned],
}

/// The catalog as `synod list --format json` prints it.
pub fn to_json() -> serde_json::Value {
    let list: Vec<Listing> = catalog()
        .iter()
        .map(|e| {
            let d = e.descriptor;
            Listing {
                name: d.name,
                summary: d.summary,
                parameters: d.params,
                properties: d.properties,
                bugs: d.bugs,
                symmetry: d.symmetry,
                networks: d.networks.iter().map(|k| k.name()).collect(),
                runnable: e.is_runnable(),
                store: e.store().map(crate::lincheck::Model::name),
                refines: e.spec_name(),
                pinned: d.pinned,
            }
        })
        .collect();
    serde_json::to_value(list).expect("the catalog serialises")
}

/// The catalog as a table.
pub fn to_text() -> String {
    let mut out = String::new();
    for e in catalog() {
        out.push_str(&describe(e, true));
    }
    out
}

/// One entry: summary, parameters, properties, bugs, symmetry (for `list` and `--help`).
pub fn describe(e: &Entry, with_params: bool) -> String {
    use std::fmt::Write as _;
    let d = e.descriptor;
    let mut out = String::new();
    let _ = writeln!(out, "{:<16} {}", d.name, d.summary);
    if with_params {
        for param in d.params {
            let run = match param.run {
                Some(r) if r != param.default => format!(" [run: default {r}]"),
                Some(_) => " [run too]".to_string(),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "    --{:<14} default {:<3} ({}..={}) {}{run}",
                param.name, param.default, param.min, param.max, param.help
            );
        }
    }
    let props: Vec<String> = d
        .properties
        .iter()
        .map(|q| match q.when {
            Some((param, value)) => format!(
                "{} ({}, with --{param} {value})",
                q.name,
                q.expectation.as_str()
            ),
            None => format!("{} ({})", q.name, q.expectation.as_str()),
        })
        .collect();
    let _ = writeln!(out, "    properties: {}", props.join(", "));
    for b in d.bugs {
        let needs: Vec<String> = b.needs.iter().map(Need::flag).collect();
        let needs = if needs.is_empty() {
            String::new()
        } else {
            format!(" [needs {}]", needs.join(" "))
        };
        let _ = writeln!(out, "    --bug {:<28} {}{needs}", b.name, b.summary);
        let _ = writeln!(
            out,
            "          violates {}; source: {}",
            b.violates, b.source
        );
    }
    if let Some(s) = d.symmetry {
        let _ = writeln!(out, "    --symmetry over {s}");
    }
    let mut can = Vec::new();
    match (e.is_runnable(), e.store()) {
        (true, Some(store)) => can.push(format!(
            "runs on the network (run, node, bench), serving {}",
            match store {
                crate::lincheck::Model::Register => "lin-kv clients (registers)",
                crate::lincheck::Model::WriteOnce => "lin-kv clients (write-once registers)",
                crate::lincheck::Model::Counter => "a g-counter (add, read)",
            }
        )),
        (true, None) => can.push(
            "runs on the network (run, node, bench) without clients, judged by its nodes' own checks"
                .to_string(),
        ),
        (false, _) => {}
    }
    if let Some(spec) = e.spec_name() {
        can.push(format!("--refines {spec}"));
    }
    if !can.is_empty() {
        let _ = writeln!(out, "    {}", can.join("; "));
    }
    out
}

/// One side of `check --compare` for protocol `P`.
fn compare<P>(settings: &Settings, opts: &CheckOptions, stateright: bool) -> Compared
where
    P: Protocol,
    P::Model: Traceable
        + synod_models::baseline::Baseline
        + synod_models::liveness::Liveness
        + Send
        + Sync
        + 'static,
    <P::Model as Model>::State: StateBounds + Serialize + serde::de::DeserializeOwned,
    <P::Model as Model>::Action: StateBounds,
{
    use synod_models::baseline::{Baseline, BaselineRun};
    let model = P::model(settings);
    let (form, differences) = (
        <P::Model as Baseline>::FORM.to_string(),
        model.inner.differences(),
    );
    let run = if stateright {
        model.inner.stateright_bfs(opts.threads)
    } else {
        let report = check::run(
            &|| P::model(settings).explore_only(),
            opts,
            Header::default(),
        );
        BaselineRun {
            seconds: report.seconds,
            states: report.states,
            unique_states: report.unique_states,
            max_depth: report.max_depth,
        }
    };
    Compared {
        run,
        form,
        differences,
    }
}
