//! Every protocol Synod knows: its name, a one-line summary, its parameters with defaults and
//! bounds, its properties, its bug variants, and the functions that build and check it.
//!
//! Adding a protocol means one module in `models/` and one [`Protocol`] entry in [`CATALOG`].
//! Command-line settings are validated here, so every protocol reports bad input the same way:
//! a precise message, the valid choices, and exit code 2 (see `main.rs`).

use crate::check::refine::RefinementReport;
use crate::check::{self, CheckOptions, Header, Report};
use serde::Serialize;
use stateright::Model;
use std::collections::BTreeMap;
use std::fmt;
use synod_models::checked::Checked;
use synod_models::paxos::{self, PaxosBug, PaxosConfig, Script};
use synod_models::single_copy_kv::{self, SingleCopyBug, SingleCopyConfig};
use synod_models::two_phase_commit;
use synod_models::NetworkKind;
use synod_specs as specs;

/// A numeric protocol parameter (`--servers 3`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Param {
    pub name: &'static str,
    pub help: &'static str,
    pub default: u64,
    pub min: u64,
    pub max: u64,
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
    /// Settings (beyond the defaults) under which the checker finds it, e.g. `--crashes 1`.
    pub needs: &'static str,
}

/// A property as the catalog lists it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PropertyInfo {
    pub name: &'static str,
    pub expectation: &'static str,
}

/// A configuration error: the message says what is wrong and what is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Validated settings for one protocol.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Every parameter of the protocol, defaults filled in.
    pub params: BTreeMap<&'static str, u64>,
    pub network: NetworkKind,
    pub bug: Option<&'static str>,
    pub symmetry: bool,
}

impl Settings {
    pub fn get(&self, name: &str) -> u64 {
        *self
            .params
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} is validated by the catalog"))
    }

    fn header(&self, protocol: &str) -> Header {
        let mut parameters: BTreeMap<String, serde_json::Value> = self
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        parameters.insert("network".into(), self.network.name().into());
        parameters.insert(
            "bug".into(),
            self.bug
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::Null),
        );
        parameters.insert("symmetry".into(), self.symmetry.into());
        Header {
            protocol: protocol.to_string(),
            parameters,
        }
    }
}

/// Checks refinement of a protocol's specification; an error when the settings admit no mapping.
pub type Refines = fn(&Settings) -> Result<RefinementReport, ConfigError>;

/// A catalog entry.
pub struct Protocol {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [Param],
    pub properties: &'static [PropertyInfo],
    pub bugs: &'static [BugInfo],
    /// Whether `--symmetry` is defined for this protocol, and over what.
    pub symmetry: Option<&'static str>,
    pub networks: &'static [NetworkKind],
    /// Cross-parameter validation beyond per-parameter bounds.
    pub validate: fn(&Settings) -> Result<(), ConfigError>,
    pub check: fn(&Settings, &CheckOptions) -> Report,
    /// Serves the explorer; blocks.
    pub explore: fn(&Settings, &str, usize),
    /// Checks that the protocol refines its specification (`check --refines`), if it has one.
    pub refines: Option<Refines>,
}

const ALL_NETWORKS: &[NetworkKind] = &[
    NetworkKind::UnorderedNonDuplicating,
    NetworkKind::UnorderedDuplicating,
    NetworkKind::Ordered,
    NetworkKind::LossyUnorderedNonDuplicating,
    NetworkKind::LossyUnorderedDuplicating,
    NetworkKind::LossyOrdered,
];

/// Every protocol.
pub static CATALOG: &[Protocol] = &[Protocol {
    name: "paxos",
    summary: "Single-decree Paxos per key: a write-once lin-kv store (Lamport, Paxos Made Simple)",
    params: &[
        Param {
            name: "servers",
            help: "servers, each proposer, acceptor and learner",
            default: 3,
            min: 1,
            max: 7,
        },
        Param {
            name: "clients",
            help: "clients; client i writes value i+1 via server i mod servers",
            default: 2,
            min: 1,
            max: 4,
        },
        Param {
            name: "crashes",
            help: "servers that may be crashed at once (they restart from saved state)",
            default: 0,
            min: 0,
            max: 7,
        },
        Param {
            name: "reads",
            help: "0: clients only write; 1: write, then read from the next server; 2: read first, then write",
            default: 1,
            min: 0,
            max: 2,
        },
        Param {
            name: "retry-rounds",
            help: "highest ballot round a redelivered (retried) request may restart its instance at; 0: never (use with a duplicating network)",
            default: 0,
            min: 0,
            max: 3,
        },
        Param {
            name: "tell-laggards",
            help: "1: a server that knows a key's outcome answers Prepare/Accept with Decided (as on the network); 0: it ignores them",
            default: 0,
            min: 0,
            max: 1,
        },
    ],
    properties: &[
        PropertyInfo {
            name: "agreement",
            expectation: "always",
        },
        PropertyInfo {
            name: "validity",
            expectation: "always",
        },
        PropertyInfo {
            name: "linearizable",
            expectation: "always",
        },
        PropertyInfo {
            name: "value chosen",
            expectation: "sometimes",
        },
    ],
    bugs: &[
        BugInfo {
            name: "ignore-promised-value",
            summary: "the proposer ignores values reported in Promise replies and proposes its own",
            source: "Lamport, Paxos Made Simple (2001), section 2.2: why P2c needs phase 1",
            violates: "agreement",
            needs: "",
        },
        BugInfo {
            name: "accept-lower-ballot",
            summary: "an acceptor accepts a ballot lower than the one it promised",
            source: "Lamport, Paxos Made Simple (2001), P1a",
            violates: "agreement",
            needs: "",
        },
        BugInfo {
            name: "volatile-promise",
            summary: "an acceptor does not persist its promise, so a restart forgets it",
            source: "Lamport, Paxos Made Simple (2001), section 2.3; Chandra et al., Paxos Made Live (2007), 5.1",
            violates: "agreement",
            needs: "--crashes 1",
        },
        BugInfo {
            name: "minority-quorum",
            summary: "quorums of n/2 servers instead of a strict majority (with 4 servers: two disjoint halves)",
            source: "Lamport, The Part-Time Parliament (1998): any two quorums must intersect",
            violates: "agreement",
            needs: "",
        },
        BugInfo {
            name: "read-proposes-placeholder",
            summary: "a read of an undecided key proposes a placeholder value instead of running phase 1 only",
            source: "Lamport, Paxos Made Simple (2001), section 2.1: only a proposed value may be chosen",
            violates: "validity",
            needs: "--reads 2",
        },
    ],
    symmetry: Some("clients"),
    networks: ALL_NETWORKS,
    validate: validate_crashes,
    check: check_paxos,
    explore: explore_paxos,
    refines: Some(|s| {
        let cfg = paxos_config(s);
        if cfg.servers < 2 {
            return Err(ConfigError(
                "--refines for paxos needs --servers 2 or more (one server announces nothing)"
                    .into(),
            ));
        }
        let spec = specs::Consensus::new(specs::ConsensusConfig {
            values: cfg.clients,
            symmetric: false,
            bug: None,
        })
        .expect("1 to 4 clients are valid Consensus values");
        Ok(check::refine::refines(
            "paxos",
            "Consensus.tla",
            &paxos::model(cfg),
            &spec,
            paxos::to_consensus,
        ))
    }),
},
Protocol {
    name: "single-copy-kv",
    summary: "One unreplicated lin-kv server (read/write/cas, at-most-once sessions): the no-replication reference",
    params: &[
        Param {
            name: "servers",
            help: "servers, each with its own store; more than 1 shows why replication needs a protocol: linearizable fails",
            default: 1,
            min: 1,
            max: 3,
        },
        Param {
            name: "clients",
            help: "clients (2 so a cas can lose a race; 3: 365,599 states); client i writes i+1, then cas i+1 -> 10(i+1)",
            default: 2,
            min: 2,
            max: 3,
        },
        Param {
            name: "crashes",
            help: "servers that may be crashed at once (they restart from saved store and sessions)",
            default: 0,
            min: 0,
            max: 3,
        },
        Param {
            name: "reads",
            help: "1: write, cas, then read; 2: read first (may find no key), then write and cas",
            default: 1,
            min: 1,
            max: 2,
        },
    ],
    properties: &[
        always("linearizable"),
        sometimes("read sees a write"),
        sometimes("cas succeeds"),
        sometimes("cas fails"),
    ],
    bugs: &[
        BugInfo {
            name: "no-dedup",
            summary: "no client sessions: a duplicated or retried write/cas is applied again",
            source: "Ongaro, Consensus: Bridging Theory and Practice (2014), section 6.3: client sessions for at-most-once",
            violates: "linearizable",
            needs: "--network unordered-duplicating",
        },
        BugInfo {
            name: "volatile-store",
            summary: "the store and sessions are never saved, so a restart loses acknowledged writes",
            source: "Haerder and Reuter, Principles of Transaction-Oriented Database Recovery (1983): durability; Raft (2014), Figure 2",
            violates: "linearizable",
            needs: "--crashes 1",
        },
        BugInfo {
            name: "dedup-by-msg-id",
            summary: "retries recognised by msg_id alone: another client's request with that id is answered, not applied",
            source: "Birrell and Nelson, Implementing Remote Procedure Calls (1984), section 3.2: a call id is caller plus sequence number",
            violates: "linearizable",
            needs: "",
        },
    ],
    symmetry: Some("clients"),
    networks: ALL_NETWORKS,
    validate: validate_crashes,
    check: |s, o| {
        let cfg = single_copy_config(s);
        check::run(&|| single_copy_kv::model(cfg.clone()), o, s.header("single-copy-kv"))
    },
    explore: |s, a, t| crate::explore::serve(single_copy_kv::model(single_copy_config(s)), a, t),
    refines: None,
},
Protocol {
    name: "two-phase-commit",
    summary: "Two-phase commit as actors: a transaction manager and RMs (Gray and Lamport, 2006)",
    params: &[
        RMS,
        Param {
            name: "crashes",
            help: "1: the transaction manager may crash and stay down (2PC then blocks)",
            default: 0,
            min: 0,
            max: 1,
        },
    ],
    properties: &[
        always("consistency"),
        sometimes("committed"),
        sometimes("aborted"),
        PropertyInfo {
            name: "every RM decides",
            expectation: "eventually",
        },
    ],
    bugs: &[BugInfo {
        name: "majority-commit",
        summary: "the TM commits once a majority of RMs has prepared instead of all of them",
        source: "Gray and Lamport, Consensus on Transaction Commit (2006), section 3",
        violates: "consistency",
        needs: "",
    }],
    symmetry: None,
    networks: ALL_NETWORKS,
    validate: |_| Ok(()),
    check: |s, o| {
        let cfg = tp_config(s);
        check::run(&|| two_phase_commit::model(cfg.clone()), o, s.header("two-phase-commit"))
    },
    explore: |s, a, t| crate::explore::serve(two_phase_commit::model(tp_config(s)), a, t),
    refines: Some(|s| {
        let spec = specs::TwoPhase::new(specs::TwoPhaseConfig {
            rms: s.get("rms") as usize,
            symmetric: false,
            bug: None,
        })
        .expect("validated by the catalog");
        Ok(check::refine::refines(
            "two-phase-commit",
            "TwoPhase.tla",
            &two_phase_commit::model(tp_config(s)),
            &spec,
            two_phase_commit::to_two_phase,
        ))
    }),
},
Protocol {
    name: "spec-tcommit",
    summary: "TCommit.tla (Gray and Lamport, Consensus on Transaction Commit): the commit spec",
    params: &[RMS],
    properties: &[
        always("TCTypeOK"),
        always("TCConsistent"),
        sometimes("committed"),
        sometimes("aborted"),
    ],
    bugs: &[BugInfo {
        name: "abort-after-commit",
        summary: "Decide(r) aborts without notCommitted: an RM aborts after another committed",
        source: "TCommit.tla: the notCommitted conjunct of Decide",
        violates: "TCConsistent",
        needs: "",
    }],
    symmetry: Some("resource managers"),
    networks: SPEC_NETWORK,
    validate: |s| spec_config(specs::TCommit::new(tcommit_config(s)).map(|_| ())),
    check: |s, o| run_spec("spec-tcommit", s, o, || specs::TCommit::new(tcommit_config(s)), specs::TCommit::canonical),
    explore: |s, a, t| serve_spec(s, a, t, || specs::TCommit::new(tcommit_config(s)), specs::TCommit::canonical),
    refines: None,
},
Protocol {
    name: "spec-twophase",
    summary: "TwoPhase.tla (Gray and Lamport): two-phase commit with a transaction manager and messages",
    params: &[RMS],
    properties: &[
        always("TPTypeOK"),
        always("TCConsistent"),
        sometimes("committed"),
        sometimes("aborted"),
    ],
    bugs: &[BugInfo {
        name: "commit-without-all-prepared",
        summary: "TMCommit without tmPrepared = RM: the TM commits before every RM has prepared",
        source: "Gray and Lamport, Consensus on Transaction Commit (2006), section 3",
        violates: "TCConsistent",
        needs: "",
    }],
    symmetry: Some("resource managers"),
    networks: SPEC_NETWORK,
    validate: |s| spec_config(specs::TwoPhase::new(two_phase_config(s)).map(|_| ())),
    check: |s, o| run_spec("spec-twophase", s, o, || specs::TwoPhase::new(two_phase_config(s)), specs::TwoPhase::canonical),
    explore: |s, a, t| serve_spec(s, a, t, || specs::TwoPhase::new(two_phase_config(s)), specs::TwoPhase::canonical),
    refines: None,
},
Protocol {
    name: "spec-consensus",
    summary: "Consensus.tla (Lamport, Paxos: how to win a Turing award): at most one value is chosen",
    params: &[Param {
        name: "values",
        help: "the set Value (MCConsensus: 3)",
        default: 3,
        min: 1,
        max: 16,
    }],
    properties: &[always("TypeOK"), always("Inv"), sometimes("value chosen")],
    bugs: &[BugInfo {
        name: "choose-again",
        summary: "Next without chosen = {}: a second value can be chosen",
        source: "Consensus.tla, its opening comment",
        violates: "Inv",
        needs: "",
    }],
    symmetry: Some("values"),
    networks: SPEC_NETWORK,
    validate: |s| spec_config(specs::Consensus::new(consensus_config(s)).map(|_| ())),
    check: |s, o| run_spec("spec-consensus", s, o, || specs::Consensus::new(consensus_config(s)), specs::Consensus::canonical),
    explore: |s, a, t| serve_spec(s, a, t, || specs::Consensus::new(consensus_config(s)), specs::Consensus::canonical),
    refines: None,
},
Protocol {
    name: "spec-voting",
    summary: "Voting.tla (Lamport): ballots, votes and quorums, the abstraction Paxos implements",
    params: &[ACCEPTORS, VALUES, Param {
        name: "max-ballot",
        help: "ballots are 0..=max-ballot (MCVoting: 2)",
        default: 2,
        min: 0,
        max: 9,
    }],
    properties: &[
        always("TypeOK"),
        always("VotesSafe"),
        always("OneValuePerBallot"),
        always("Inv"),
        always("C!Inv"),
        sometimes("value chosen"),
        sometimes("value chosen in a later ballot"),
    ],
    bugs: &[
        BugInfo {
            name: "vote-without-shows-safe-at",
            summary: "VoteFor without ShowsSafeAt: an acceptor votes for a value that is not safe",
            source: "Voting.tla, VoteFor",
            violates: "VotesSafe",
            needs: "",
        },
        BugInfo {
            name: "quorums-do-not-intersect",
            summary: "quorums of n/2 acceptors, two of them disjoint",
            source: "Voting.tla, the closing exercise on the quorum assumption",
            violates: "C!Inv",
            needs: "",
        },
    ],
    symmetry: Some("acceptors and values"),
    networks: SPEC_NETWORK,
    validate: |s| spec_config(specs::Voting::new(voting_config(s)).map(|_| ())),
    check: |s, o| run_spec("spec-voting", s, o, || specs::Voting::new(voting_config(s)), specs::Voting::canonical),
    explore: |s, a, t| serve_spec(s, a, t, || specs::Voting::new(voting_config(s)), specs::Voting::canonical),
    refines: None,
},
Protocol {
    name: "spec-paxos",
    summary: "Paxos.tla (Lamport): the Paxos consensus algorithm with messages 1a/1b/2a/2b",
    params: &[ACCEPTORS, VALUES, Param {
        name: "max-ballot",
        help: "ballots are 0..=max-ballot (MCPaxosTiny: 1)",
        default: 1,
        min: 0,
        max: 4,
    }],
    properties: &[
        always("TypeOK"),
        always("Inv"),
        always("V!Inv"),
        always("V!VotesSafe"),
        always("V!OneValuePerBallot"),
        always("V!C!Inv"),
        sometimes("value chosen"),
        sometimes("value chosen in a later ballot"),
    ],
    bugs: &[
        BugInfo {
            name: "phase2a-ignores-votes",
            summary: "Phase2a keeps the 1b quorum but ignores the votes it reports",
            source: "Paxos.tla, Phase2a; Lamport, Paxos Made Simple 2.2",
            violates: "Inv",
            needs: "",
        },
        BugInfo {
            name: "phase2a-without-phase1b",
            summary: "Phase2a without any 1b quorum: no phase 1 at all",
            source: "Paxos.tla, Phase2a",
            violates: "Inv",
            needs: "",
        },
        BugInfo {
            name: "quorums-do-not-intersect",
            summary: "quorums of n/2 acceptors, two of them disjoint",
            source: "Paxos.tla and Voting.tla, the quorum assumption",
            violates: "V!C!Inv",
            needs: "",
        },
    ],
    symmetry: Some("acceptors and values"),
    networks: SPEC_NETWORK,
    validate: |s| spec_config(specs::Paxos::new(spec_paxos_config(s)).map(|_| ())),
    check: |s, o| run_spec("spec-paxos", s, o, || specs::Paxos::new(spec_paxos_config(s)), specs::Paxos::canonical),
    explore: |s, a, t| serve_spec(s, a, t, || specs::Paxos::new(spec_paxos_config(s)), specs::Paxos::canonical),
    refines: None,
}];

/// Specifications have no network: `--network` has one (ignored) value.
const SPEC_NETWORK: &[NetworkKind] = &[NetworkKind::UnorderedNonDuplicating];

const RMS: Param = Param {
    name: "rms",
    help: "resource managers, the set RM (TCommit.cfg/TwoPhase.cfg: 3)",
    default: 3,
    min: 1,
    max: 16,
};

const ACCEPTORS: Param = Param {
    name: "acceptors",
    help: "the set Acceptor (MC configurations: 3)",
    default: 3,
    min: 1,
    max: 5,
};

const VALUES: Param = Param {
    name: "values",
    help: "the set Value (MC configurations: 2)",
    default: 2,
    min: 1,
    max: 3,
};

const fn always(name: &'static str) -> PropertyInfo {
    PropertyInfo {
        name,
        expectation: "always",
    }
}

const fn sometimes(name: &'static str) -> PropertyInfo {
    PropertyInfo {
        name,
        expectation: "sometimes",
    }
}

fn tp_config(s: &Settings) -> two_phase_commit::TpConfig {
    two_phase_commit::TpConfig {
        rms: s.get("rms") as usize,
        tm_crashes: s.get("crashes") == 1,
        network: s.network,
        bug: s.bug.map(|_| two_phase_commit::TpBug::MajorityCommit),
    }
}

fn spec_config(r: Result<(), specs::ConfigError>) -> Result<(), ConfigError> {
    r.map_err(|e| ConfigError(e.to_string()))
}

fn tcommit_config(s: &Settings) -> specs::TCommitConfig {
    specs::TCommitConfig {
        rms: s.get("rms") as usize,
        symmetric: false,
        bug: s.bug.map(|_| specs::TCommitBug::AbortAfterCommit),
    }
}

fn two_phase_config(s: &Settings) -> specs::TwoPhaseConfig {
    specs::TwoPhaseConfig {
        rms: s.get("rms") as usize,
        symmetric: false,
        bug: s.bug.map(|_| specs::TwoPhaseBug::CommitWithoutAllPrepared),
    }
}

fn consensus_config(s: &Settings) -> specs::ConsensusConfig {
    specs::ConsensusConfig {
        values: s.get("values") as usize,
        symmetric: false,
        bug: s.bug.map(|_| specs::ConsensusBug::ChooseAgain),
    }
}

fn voting_config(s: &Settings) -> specs::VotingConfig {
    specs::VotingConfig {
        acceptors: s.get("acceptors") as usize,
        values: s.get("values") as usize,
        max_ballot: s.get("max-ballot") as usize,
        symmetric: false,
        bug: s.bug.map(|b| match b {
            "vote-without-shows-safe-at" => specs::VotingBug::VoteWithoutShowsSafeAt,
            _ => specs::VotingBug::QuorumsDoNotIntersect,
        }),
    }
}

fn spec_paxos_config(s: &Settings) -> specs::PaxosConfig {
    specs::PaxosConfig {
        acceptors: s.get("acceptors") as usize,
        values: s.get("values") as usize,
        max_ballot: s.get("max-ballot") as usize,
        symmetric: false,
        bug: s.bug.map(|b| match b {
            "phase2a-ignores-votes" => specs::PaxosBug::Phase2aIgnoresVotes,
            "phase2a-without-phase1b" => specs::PaxosBug::Phase2aWithoutPhase1b,
            _ => specs::PaxosBug::QuorumsDoNotIntersect,
        }),
    }
}

/// Checks a specification; `--symmetry` applies its exact canonical form through `Checked`.
fn run_spec<M>(
    name: &str,
    s: &Settings,
    opts: &CheckOptions,
    build: impl Fn() -> Result<M, specs::ConfigError>,
    canonical: fn(&M, &M::State) -> M::State,
) -> Report
where
    M: check::trace::Traceable + Send + Sync + 'static,
    M::State: fmt::Debug + std::hash::Hash + Clone + PartialEq + Send + Sync + 'static,
    M::Action: fmt::Debug + Clone + PartialEq + Send + Sync + 'static,
{
    let checked = || {
        let mut c = Checked::new(build().expect("validated by the catalog"));
        if s.symmetry {
            c.canonical = Some(canonical);
        }
        c
    };
    check::run(&checked, opts, s.header(name))
}

fn serve_spec<M>(
    s: &Settings,
    addr: &str,
    threads: usize,
    build: impl Fn() -> Result<M, specs::ConfigError>,
    canonical: fn(&M, &M::State) -> M::State,
) where
    M: Model + Send + Sync + 'static,
    M::State: fmt::Debug + std::hash::Hash + Clone + PartialEq + Send + Sync,
    M::Action: fmt::Debug + Clone + PartialEq + Send + Sync,
{
    let mut c = Checked::new(build().expect("validated by the catalog"));
    if s.symmetry {
        c.canonical = Some(canonical);
    }
    crate::explore::serve(c, addr, threads);
}

/// Looks a protocol up by name.
pub fn find(name: &str) -> Result<&'static Protocol, ConfigError> {
    CATALOG.iter().find(|p| p.name == name).ok_or_else(|| {
        ConfigError(format!(
            "unknown protocol '{name}'; valid protocols: {}",
            names(CATALOG.iter().map(|p| p.name))
        ))
    })
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

impl Protocol {
    /// Validates command-line settings against this protocol.
    pub fn settings(&self, raw: &RawSettings) -> Result<Settings, ConfigError> {
        for name in raw.params.keys() {
            if !self.params.iter().any(|p| p.name == name) {
                return Err(ConfigError(format!(
                    "{} has no parameter --{name}; its parameters: {}",
                    self.name,
                    self.param_list()
                )));
            }
        }
        let mut params = BTreeMap::new();
        for p in self.params {
            let v = raw.params.get(p.name).copied().unwrap_or(p.default);
            if v < p.min || v > p.max {
                return Err(ConfigError(format!(
                    "--{} {v} is out of range for {}: {} must be between {} and {} ({})",
                    p.name, self.name, p.name, p.min, p.max, p.help
                )));
            }
            params.insert(p.name, v);
        }
        let network = match &raw.network {
            None => self.networks[0],
            Some(name) => {
                let kind = NetworkKind::parse(name).filter(|k| self.networks.contains(k));
                kind.ok_or_else(|| {
                    ConfigError(format!(
                        "unknown network '{name}' for {}; valid networks: {}",
                        self.name,
                        names(self.networks.iter().map(|k| k.name()))
                    ))
                })?
            }
        };
        let bug = match &raw.bug {
            None => None,
            Some(name) => Some(
                self.bugs
                    .iter()
                    .find(|b| b.name == name)
                    .map(|b| b.name)
                    .ok_or_else(|| {
                        ConfigError(format!(
                            "unknown bug '{name}' for {}; valid bugs: {}",
                            self.name,
                            names(self.bugs.iter().map(|b| b.name))
                        ))
                    })?,
            ),
        };
        if raw.symmetry && self.symmetry.is_none() {
            return Err(ConfigError(format!(
                "{} defines no symmetry; drop --symmetry",
                self.name
            )));
        }
        let settings = Settings {
            params,
            network,
            bug,
            symmetry: raw.symmetry,
        };
        (self.validate)(&settings)?;
        Ok(settings)
    }

    fn param_list(&self) -> String {
        names(self.params.iter().map(|p| p.name))
    }

    /// Checks the protocol under validated settings.
    pub fn check(&self, settings: &Settings, opts: &CheckOptions) -> Report {
        (self.check)(settings, opts)
    }
}

fn paxos_config(s: &Settings) -> PaxosConfig {
    PaxosConfig {
        servers: s.get("servers") as usize,
        clients: s.get("clients") as usize,
        crashes: s.get("crashes") as usize,
        script: match s.get("reads") {
            0 => Script::Write,
            1 => Script::WriteRead,
            _ => Script::ReadWrite,
        },
        network: s.network,
        bug: s.bug.and_then(|b| {
            PaxosBug::ALL
                .iter()
                .find(|(n, _)| *n == b)
                .map(|(_, bug)| *bug)
        }),
        symmetry: s.symmetry,
        retry_rounds: s.get("retry-rounds") as u32,
        tell_laggards: s.get("tell-laggards") == 1,
    }
}

/// `--crashes` at most `--servers` (paxos, single-copy-kv).
fn validate_crashes(s: &Settings) -> Result<(), ConfigError> {
    if s.get("crashes") > s.get("servers") {
        return Err(ConfigError(format!(
            "--crashes {} exceeds --servers {}: at most every server can be down",
            s.get("crashes"),
            s.get("servers")
        )));
    }
    Ok(())
}

fn single_copy_config(s: &Settings) -> SingleCopyConfig {
    SingleCopyConfig {
        servers: s.get("servers") as usize,
        clients: s.get("clients") as usize,
        crashes: s.get("crashes") as usize,
        script: match s.get("reads") {
            1 => single_copy_kv::Script::WriteCasRead,
            _ => single_copy_kv::Script::ReadWriteCas,
        },
        sessions: SingleCopyConfig::default().sessions,
        network: s.network,
        bug: s.bug.and_then(|b| {
            SingleCopyBug::ALL
                .iter()
                .find(|(n, _)| *n == b)
                .map(|(_, bug)| *bug)
        }),
        symmetry: s.symmetry,
    }
}

fn check_paxos(s: &Settings, opts: &CheckOptions) -> Report {
    let cfg = paxos_config(s);
    check::run(&|| paxos::model(cfg.clone()), opts, s.header("paxos"))
}

fn explore_paxos(s: &Settings, addr: &str, threads: usize) {
    let model = paxos::model(paxos_config(s));
    crate::explore::serve(model, addr, threads);
}

/// The catalog as `synod list --format json` prints it.
pub fn to_json() -> serde_json::Value {
    serde_json::Value::Array(
        CATALOG
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "summary": p.summary,
                    "parameters": p.params,
                    "properties": p.properties,
                    "bugs": p.bugs,
                    "symmetry": p.symmetry,
                    "networks": p.networks.iter().map(|k| k.name()).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// The catalog as a table.
pub fn to_text() -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for p in CATALOG {
        let _ = writeln!(out, "{:<12} {}", p.name, p.summary);
        for param in p.params {
            let _ = writeln!(
                out,
                "    --{:<10} default {:<3} ({}..={}) {}",
                param.name, param.default, param.min, param.max, param.help
            );
        }
        let props: Vec<String> = p
            .properties
            .iter()
            .map(|q| format!("{} ({})", q.name, q.expectation))
            .collect();
        let _ = writeln!(out, "    properties: {}", props.join(", "));
        for b in p.bugs {
            let needs = if b.needs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", b.needs)
            };
            let _ = writeln!(out, "    --bug {:<26} {}{needs}", b.name, b.summary);
        }
        if let Some(s) = p.symmetry {
            let _ = writeln!(out, "    --symmetry over {s}");
        }
    }
    out
}
