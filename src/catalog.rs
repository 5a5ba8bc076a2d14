//! Every protocol Synod knows: its name, a one-line summary, its parameters with defaults and
//! bounds, its properties, its bug variants, and the functions that build and check it.
//!
//! Adding a protocol means one module in `models/` and one [`Protocol`] entry in [`CATALOG`].
//! Command-line settings are validated here, so every protocol reports bad input the same way:
//! a precise message, the valid choices, and exit code 2 (see `main.rs`).

use crate::check::{self, CheckOptions, Header, Report};
use serde::Serialize;
use stateright::Model;
use std::collections::BTreeMap;
use std::fmt;
use synod_models::paxos::{self, PaxosBug, PaxosConfig, Script};
use synod_models::NetworkKind;

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
    validate: validate_paxos,
    check: check_paxos,
    explore: explore_paxos,
}];

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
    }
}

fn validate_paxos(s: &Settings) -> Result<(), ConfigError> {
    if s.get("crashes") > s.get("servers") {
        return Err(ConfigError(format!(
            "--crashes {} exceeds --servers {}: at most every server can be down",
            s.get("crashes"),
            s.get("servers")
        )));
    }
    Ok(())
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

/// Property names and expectations as the model itself declares them (for tests that the
/// catalog's listing is honest).
pub fn model_properties(protocol: &str) -> Vec<(&'static str, &'static str)> {
    match protocol {
        "paxos" => paxos::model(PaxosConfig::default())
            .properties()
            .into_iter()
            .map(|p| {
                let e: check::report::ExpectationName = p.expectation.into();
                (p.name, e.as_str())
            })
            .collect(),
        _ => Vec::new(),
    }
}
