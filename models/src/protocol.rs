//! What a protocol says about itself, as plain data, and the traits through which the harness
//! checks, explores, runs and refines it.
//!
//! A protocol module ends with a unit struct (`pub struct Paxos;`) that implements [`Protocol`]:
//! its [`Descriptor`] (name, summary, parameters with defaults and bounds, properties, bug
//! variants with the settings each needs, symmetry, networks) and a builder from validated
//! [`Settings`] to the checkable model. A protocol that serves `lin-kv` clients on real sockets
//! also implements [`Serve`]; one that implements a TLA+ specification implements [`Refine`].
//! The harness registers each with one line (`src/catalog.rs`) and builds the command line, the
//! explorer and the runtime from these declarations, so a new protocol touches no generic module.
//!
//! Everything here is data and pure functions: no I/O, no harness types.

use crate::checked::Checked;
use crate::durable::Durable;
use crate::kv::KvMsg;
use crate::NetworkKind;
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use stateright::actor::{Actor, Id};
use stateright::Model;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

/// A numeric parameter (`--servers 3`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Param {
    pub name: &'static str,
    pub help: &'static str,
    /// The default when model checking.
    pub default: u64,
    pub min: u64,
    pub max: u64,
    /// `Some(default)` when the parameter also shapes the actor on the network (`run`, `node`,
    /// `bench`), with its default there; `None` for a parameter of the checked environment only
    /// (how many clients, crashes, what the clients do), which those commands reject.
    pub run: Option<u64>,
    /// Words the command line accepts for values (`--quorum all` for 1); empty for none.
    pub names: &'static [(&'static str, u64)],
}

impl Param {
    /// `value` as the command line gives it: a number, or one of the parameter's names.
    pub fn parse(&self, value: &str) -> Result<u64, String> {
        if let Some((_, v)) = self.names.iter().find(|(n, _)| *n == value) {
            return Ok(*v);
        }
        value.parse().map_err(|_| {
            let words: Vec<&str> = self.names.iter().map(|(n, _)| *n).collect();
            if words.is_empty() {
                format!("'{value}' is not a number")
            } else {
                format!(
                    "'{value}' is neither a number nor one of {}",
                    words.join(", ")
                )
            }
        })
    }

    /// A parameter of the checked model only.
    pub const fn model(
        name: &'static str,
        help: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Param {
        Param {
            name,
            help,
            default,
            min,
            max,
            run: None,
            names: &[],
        }
    }
}

/// What a property is expected to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Holds in every reachable state (a safety property).
    Always,
    /// Holds in some reachable state (proves the interesting states are reachable).
    Sometimes,
    /// Holds eventually on every fair behaviour (checked on the whole state graph, cycles
    /// included, under weak fairness: see [`crate::liveness`]).
    Eventually,
    /// `P ~> Q`: on every fair behaviour, whenever P holds Q holds then or later.
    #[serde(rename = "leads-to")]
    LeadsTo,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Always => "always",
            Expect::Sometimes => "sometimes",
            Expect::Eventually => "eventually",
            Expect::LeadsTo => "leads-to",
        }
    }
}

/// A property as the catalog lists it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PropertyInfo {
    pub name: &'static str,
    pub expectation: Expect,
    /// Checked only when this parameter has this value (an opt-in liveness property whose
    /// failure in the default configuration is the point of another one); `None`: always.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "when")]
    pub when: Option<(&'static str, u64)>,
}

fn when<S: serde::Serializer>(w: &Option<(&'static str, u64)>, s: S) -> Result<S::Ok, S::Error> {
    match w {
        Some((param, value)) => s.serialize_str(&format!("--{param} {value}")),
        None => s.serialize_none(),
    }
}

impl PropertyInfo {
    /// Whether the model these settings configure checks this property.
    pub fn applies(&self, settings: &Settings) -> bool {
        self.when
            .is_none_or(|(param, value)| settings.params.get(param) == Some(&value))
    }

    /// Checked only with `--param value`.
    pub const fn when(self, param: &'static str, value: u64) -> PropertyInfo {
        PropertyInfo {
            when: Some((param, value)),
            ..self
        }
    }
}

/// An `always` property.
pub const fn always(name: &'static str) -> PropertyInfo {
    PropertyInfo {
        name,
        expectation: Expect::Always,
        when: None,
    }
}

/// A `sometimes` property.
pub const fn sometimes(name: &'static str) -> PropertyInfo {
    PropertyInfo {
        name,
        expectation: Expect::Sometimes,
        when: None,
    }
}

/// An `eventually` property.
pub const fn eventually(name: &'static str) -> PropertyInfo {
    PropertyInfo {
        name,
        expectation: Expect::Eventually,
        when: None,
    }
}

/// A `leads-to` property.
pub const fn leads_to(name: &'static str) -> PropertyInfo {
    PropertyInfo {
        name,
        expectation: Expect::LeadsTo,
        when: None,
    }
}

/// A setting a bug variant needs before the checker can show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A parameter at a value (`crashes = 1`).
    Param(&'static str, u64),
    /// A network semantics (`unordered-duplicating`).
    Network(NetworkKind),
}

impl Need {
    /// `crashes=1`, `network=unordered-duplicating`.
    pub fn describe(&self) -> String {
        match self {
            Need::Param(name, value) => format!("{name}={value}"),
            Need::Network(kind) => format!("network={}", kind.name()),
        }
    }

    /// The command-line form: `--crashes 1`, `--network unordered-duplicating`.
    pub fn flag(&self) -> String {
        match self {
            Need::Param(name, value) => format!("--{name} {value}"),
            Need::Network(kind) => format!("--network {}", kind.name()),
        }
    }
}

/// As JSON: `{"param": "crashes", "value": 1}` or `{"network": "unordered-duplicating"}`.
impl Serialize for Need {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(if matches!(self, Need::Param(..)) {
            2
        } else {
            1
        }))?;
        match self {
            Need::Param(name, value) => {
                map.serialize_entry("param", name)?;
                map.serialize_entry("value", value)?;
            }
            Need::Network(kind) => map.serialize_entry("network", kind.name())?,
        }
        map.end()
    }
}

/// A deliberately broken variant (`--bug NAME`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BugInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// Where the mistake is described.
    pub source: &'static str,
    /// The property the checker finds violated.
    pub violates: &'static str,
    /// Settings (beyond the defaults) under which the checker finds it; `check --bug NAME`
    /// applies them unless the user set those settings.
    pub needs: &'static [Need],
}

/// A configuration whose unique-state count is pinned by a test: `check` prints the count when a
/// user asks for it, so a run can be compared with what is known.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Pinned {
    /// Parameter values that differ from the defaults (network default, no bug, no symmetry
    /// unless `symmetry`).
    pub params: &'static [(&'static str, u64)],
    pub symmetry: bool,
    pub unique_states: u64,
    /// Where the count is pinned (a test, or TLC's published count).
    pub source: &'static str,
}

/// Everything a protocol declares about itself, as data.
#[derive(Clone, Copy)]
pub struct Descriptor {
    /// The catalog name (`paxos`, `single-copy-kv`).
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [Param],
    pub properties: &'static [PropertyInfo],
    pub bugs: &'static [BugInfo],
    /// What `--symmetry` permutes, if the protocol defines a symmetry.
    pub symmetry: Option<&'static str>,
    /// The network semantics it can be checked under; the first is the default. Empty for a
    /// model without messages (a specification).
    pub networks: &'static [NetworkKind],
    /// Cross-parameter validation beyond per-parameter bounds; the message names the flags.
    pub validate: fn(&Settings) -> Result<(), String>,
    /// Configurations with known unique-state counts.
    pub pinned: &'static [Pinned],
}

impl Descriptor {
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn bug(&self, name: &str) -> Option<&'static BugInfo> {
        self.bugs.iter().find(|b| b.name == name)
    }
}

/// Accepts every combination of parameters that are each within bounds.
pub fn no_validation(_: &Settings) -> Result<(), String> {
    Ok(())
}

/// Every network semantics, the default (unordered, non-duplicating) first.
pub const ALL_NETWORKS: &[NetworkKind] = &[
    NetworkKind::UnorderedNonDuplicating,
    NetworkKind::UnorderedDuplicating,
    NetworkKind::Ordered,
    NetworkKind::LossyUnorderedNonDuplicating,
    NetworkKind::LossyUnorderedDuplicating,
    NetworkKind::LossyOrdered,
];

/// A model without a network (a specification): `--network` does not exist for it.
pub const NO_NETWORK: &[NetworkKind] = &[];

/// Validated settings: every parameter of the protocol with a value, the network, the bug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub params: BTreeMap<&'static str, u64>,
    pub network: NetworkKind,
    pub bug: Option<&'static str>,
    pub symmetry: bool,
}

impl Settings {
    /// The defaults of `d` (for model checking).
    pub fn defaults(d: &Descriptor) -> Settings {
        Settings {
            params: d.params.iter().map(|p| (p.name, p.default)).collect(),
            network: d.networks.first().copied().unwrap_or_default(),
            bug: None,
            symmetry: false,
        }
    }

    /// The value of parameter `name`; the catalog fills in every parameter, so a missing one
    /// is a bug in the protocol's descriptor.
    pub fn get(&self, name: &str) -> u64 {
        *self
            .params
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} is not in the descriptor"))
    }

    /// `get(name)` as a `usize`.
    pub fn count(&self, name: &str) -> usize {
        self.get(name) as usize
    }

    /// `get(name) == 1`, for 0|1 switches.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name) == 1
    }

    /// The bug variant, mapped through the protocol's own table of names.
    pub fn bug_of<B: Copy>(&self, table: &[(&'static str, B)]) -> Option<B> {
        let name = self.bug?;
        let found = table.iter().find(|(n, _)| *n == name);
        Some(
            found
                .unwrap_or_else(|| panic!("bug {name} is in the descriptor, not the table"))
                .1,
        )
    }
}

/// A protocol in the catalog: its descriptor and its checkable model.
pub trait Protocol: 'static {
    const DESCRIPTOR: Descriptor;
    /// The model the checker explores (wrapped in [`Checked`] for symmetry and action filters).
    type Model: Model;

    /// Builds the model for validated settings.
    fn model(settings: &Settings) -> Checked<Self::Model>;
}

/// The sequential object each key of a `lin-kv` store is, for checking histories of real runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySemantics {
    /// read/write/cas register, initially absent.
    Register,
    /// Write-once register, initially absent; no cas.
    WriteOnce,
    /// One grow-only counter, Maelstrom's `g-counter`: `add` a delta, `read` the total (no
    /// keys, no write, no cas). Not linearizable by design: histories are checked for
    /// convergence instead.
    Counter,
    /// No store and no clients: the servers act on their own (timers, random choices), answer
    /// every client request with error 10, and a run is judged by [`Serve::judge`] from the
    /// counts they keep.
    NoClients,
}

/// A run's verdict from its servers' counts ([`Serve::judge`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judged {
    /// What was checked, and that it held.
    Holds(String),
    /// What went wrong, and how often.
    Violated(String),
    /// Why the run could not tell (the check never had anything to look at).
    Unjudged(String),
}

/// How many counts a protocol's servers may report ([`Serve::TALLIES`]).
pub const MAX_TALLIES: usize = 5;

/// A protocol whose servers serve `lin-kv` clients on real sockets (`run`, `node`, `bench`).
pub trait Serve: Protocol {
    /// The node-to-node messages.
    type Internal: Clone + Debug + Serialize + DeserializeOwned + Send + 'static;
    /// The server actor: the very one the model contains.
    type Server: Actor<Msg = KvMsg<Self::Internal>, Storage = Self::Storage> + Send + 'static;
    /// What a server saves, with its incremental on-disk form.
    type Storage: Durable;
    /// What each key is, for the history checker.
    const KEYS: KeySemantics;
    /// Whether the servers implement `cas` (otherwise they answer it with error 10, and `bench`
    /// refuses `--cas`).
    const CAS: bool = true;

    /// Server `index` of a cluster whose servers have the ids `servers` (addresses on the
    /// network). `settings` carries the parameters whose descriptor has a `run` default.
    fn server(settings: &Settings, index: usize, servers: Vec<Id>) -> Self::Server;

    /// Whether the protocol has a leader (`--crash leader@SECS` needs one).
    const LEADER: bool = false;

    /// Whether a client may re-send a timed-out request to another server (the default), or
    /// must keep re-sending it to the same one and move on only once it gives the operation
    /// up: for a protocol whose servers each coordinate the requests they receive and cannot
    /// tell a retry elsewhere from a new operation while the first attempt runs (ABD).
    const RETRY_ELSEWHERE: bool = true;

    /// The node-to-node round trips one client operation waits for in sequence, each for a
    /// quorum of replies, when the protocol has a `quorum` parameter (`majority` or `all`):
    /// `bench --sweep-nodes` predicts latency from it. 0 (the default): no quorum sweep.
    const QUORUM_ROUND_TRIPS: u32 = 0;

    /// Whether `settings` make sense on a cluster of `nodes` servers (a quorum no larger than
    /// the cluster); the message names the flags. Any size by default.
    fn fits(_settings: &Settings, _nodes: usize) -> Result<(), String> {
        Ok(())
    }

    /// Names of counts a server keeps in its state for the run's report (`reads with
    /// siblings`), at most [`MAX_TALLIES`]. A server counts only when it runs on the network
    /// (the checked model's states must not differ by a counter). None by default.
    const TALLIES: &'static [&'static str] = &[];

    /// The values of [`Self::TALLIES`] in `state`, in order, since the server started (a
    /// restart starts from zero; the report adds up the incarnations).
    fn tallies(_state: &<Self::Server as Actor>::State) -> [u64; MAX_TALLIES] {
        [0; MAX_TALLIES]
    }

    /// The run's verdict from [`Self::TALLIES`] summed over every server and incarnation, for a
    /// protocol whose servers check something themselves; `None` (the default): the counts are
    /// figures, not a verdict.
    fn judge(_totals: &[u64; MAX_TALLIES]) -> Option<Judged> {
        None
    }

    /// The term in which this server state leads, if it does.
    fn leading(_state: &<Self::Server as Actor>::State) -> Option<u64> {
        None
    }

    /// Which messages may leave their node before what the node saved is on disk. The runtime's
    /// rule is that a message waits for every save made before it (DESIGN.md, "Runtime
    /// rules"); a protocol may exempt a message whose content no crash can contradict: one
    /// that claims nothing about what its sender stored (Raft's leader sending new entries
    /// before its own write, thesis 10.2.1; a reply computed from what a majority stored).
    /// The checker saves atomically with the step, so an exemption must be argued in the
    /// protocol's own model, as Raft does with `--parallel-append`. None by default.
    ///
    /// `None` (the default): nothing is exempt. `Some`: the node also syncs its disk in the
    /// background, so that exempt messages are not held up behind an fsync.
    #[allow(clippy::type_complexity)]
    fn early(_server: &Self::Server) -> Option<fn(&Self::Server, &KvMsg<Self::Internal>) -> bool> {
        None
    }
}

/// A protocol that implements a TLA+ specification under a refinement mapping (`--refines`).
pub trait Refine: Protocol {
    /// The specification as a model (a mirror in `synod-specs`).
    type Spec: Model;
    /// The specification's name, e.g. `Consensus.tla`.
    const SPEC_NAME: &'static str;

    /// The specification matching `settings`, or why there is none (a message naming flags).
    fn spec(settings: &Settings) -> Result<Self::Spec, String>;

    /// The refinement mapping.
    fn map(state: &<Self::Model as Model>::State) -> <Self::Spec as Model>::State;
}

/// Hash and equality of the state are what a checker needs; a helper bound for generic code.
pub trait StateBounds: Clone + Debug + Hash + PartialEq + Send + Sync + 'static {}
impl<T: Clone + Debug + Hash + PartialEq + Send + Sync + 'static> StateBounds for T {}

/// A timer range in milliseconds as the `Duration`s `Out::set_timer` takes.
pub fn ms(r: std::ops::Range<u64>) -> std::ops::Range<std::time::Duration> {
    std::time::Duration::from_millis(r.start)..std::time::Duration::from_millis(r.end)
}

/// `--crashes` at most `--servers` (for protocols with both parameters).
pub fn crashes_at_most_servers(s: &Settings) -> Result<(), String> {
    let (crashes, servers) = (s.get("crashes"), s.get("servers"));
    if crashes > servers {
        return Err(format!(
            "--crashes {crashes} exceeds --servers {servers}: at most every server can be down"
        ));
    }
    Ok(())
}
