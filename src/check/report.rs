//! The result of a check, printed as text for people or as one JSON object for scripts (the
//! schema is documented in README.md and is a contract), and the exit code it implies.

use super::trace::Trace;
pub use crate::util::thousands;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What a property was expected to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectationName {
    Always,
    Sometimes,
    Eventually,
    /// `P ~> Q`: whenever P holds, Q holds then or later.
    #[serde(rename = "leads-to")]
    LeadsTo,
}

impl From<stateright::Expectation> for ExpectationName {
    fn from(e: stateright::Expectation) -> Self {
        match e {
            stateright::Expectation::Always => ExpectationName::Always,
            stateright::Expectation::Sometimes => ExpectationName::Sometimes,
            stateright::Expectation::Eventually => ExpectationName::Eventually,
        }
    }
}

impl ExpectationName {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectationName::Always => "always",
            ExpectationName::Sometimes => "sometimes",
            ExpectationName::Eventually => "eventually",
            ExpectationName::LeadsTo => "leads-to",
        }
    }
}

/// A property's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// `always`/`eventually`: no counterexample in a complete search.
    Holds,
    /// `always`/`eventually`: a counterexample was found.
    Violated,
    /// `sometimes`: an example was found.
    Reached,
    /// `sometimes`: no example in a complete search.
    Unreached,
    /// The search was not complete and found nothing.
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "violated",
            Verdict::Reached => "reached",
            Verdict::Unreached => "unreached",
            Verdict::Unknown => "unknown",
        }
    }

    /// Whether this verdict fails the check.
    pub fn is_failure(self) -> bool {
        matches!(self, Verdict::Violated | Verdict::Unreached)
    }
}

/// One property's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyReport {
    pub name: String,
    pub expectation: ExpectationName,
    pub verdict: Verdict,
    /// The counterexample (violated) or example (reached).
    pub trace: Option<Trace>,
}

/// The outcome of `synod check`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub protocol: String,
    /// Every protocol parameter, plus `network`, `bug` and `symmetry`.
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Settings applied on the user's behalf (what a bug needs), and warnings.
    pub notes: Vec<String>,
    pub strategy: String,
    /// The breadth-first engine (`synod` or `stateright`); `None` for the other strategies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    pub threads: usize,
    /// The seed a simulation used (`--seed`, or one drawn from the clock); `None` otherwise.
    pub seed: Option<u64>,
    /// Random runs a simulation started; `None` for exhaustive searches.
    pub runs: Option<usize>,
    /// States generated, counting repeats (a simulation: steps taken).
    pub states: usize,
    /// Distinct states (orbits, with symmetry). A simulation does not count them: JSON `null`.
    pub unique_states: usize,
    /// The pinned count of this configuration, if known, and where it is pinned.
    #[serde(serialize_with = "known_count")]
    pub known_unique_states: Option<(u64, String)>,
    pub max_depth: usize,
    pub seconds: f64,
    /// Whether the whole state space was explored.
    pub complete: bool,
    /// Why an exhaustive search stopped before it was complete with nothing failed.
    pub stopped: Option<super::Stopped>,
    /// The highest resident memory of the process seen during the search, bytes.
    pub memory_peak_bytes: Option<u64>,
    /// `--max-memory`, bytes.
    pub max_memory_bytes: Option<u64>,
    pub symmetry: bool,
    pub properties: Vec<PropertyReport>,
    /// `--compare`: the same configuration on stateright's own checker, and on Synod's, both
    /// exploring only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareReport>,
    /// The liveness pass (`eventually`, `leads-to`), when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessReport>,
}

/// The liveness pass: the whole graph, unreduced, with every transition kept.
#[derive(Clone, Debug, Serialize)]
pub struct LivenessReport {
    /// The kinds of steps assumed weakly fair (`--fairness`).
    pub fairness: Vec<&'static str>,
    pub unique_states: usize,
    pub transitions: usize,
    pub seconds: f64,
    /// Whether it explored the whole graph (else its verdicts are unknown).
    pub complete: bool,
}

/// One side of `--compare`.
#[derive(Clone, Debug, Serialize)]
pub struct CompareSide {
    pub seconds: f64,
    pub states: usize,
    pub unique_states: usize,
    /// The peak resident memory of its process (`getrusage`).
    pub max_rss_bytes: Option<u64>,
}

/// `--compare`: stateright's figures (`engine`, `seconds`, `unique_states`, `max_rss_bytes`),
/// Synod's for the same work (`synod`), and what makes them comparable or not.
#[derive(Clone, Debug, Serialize)]
pub struct CompareReport {
    pub engine: String,
    /// stateright's form of the model: `ActorModel`, or the same model (a TLA+ mirror).
    pub model: String,
    pub seconds: f64,
    pub states: usize,
    pub unique_states: usize,
    pub max_rss_bytes: Option<u64>,
    pub synod: CompareSide,
    /// What both sides did.
    pub work: String,
    pub same_unique_states: bool,
    /// How stateright's form differs in semantics, where it does.
    pub differences: Vec<String>,
}

fn known_count<S: serde::Serializer>(v: &Option<(u64, String)>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some((n, _)) => s.serialize_u64(*n),
        None => s.serialize_none(),
    }
}

impl Report {
    /// 0 every expectation met; 1 a property failed; 3 an exhaustive search stopped early with
    /// nothing failed. (2, usage errors, never reaches a report.)
    pub fn exit_code(&self) -> i32 {
        if self.properties.iter().any(|p| p.verdict.is_failure()) {
            1
        } else if !self.complete && self.strategy != "simulation" {
            3
        } else {
            0
        }
    }

    pub fn property(&self, name: &str) -> Option<&PropertyReport> {
        self.properties.iter().find(|p| p.name == name)
    }

    fn is_simulation(&self) -> bool {
        self.strategy == "simulation"
    }

    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(self).expect("a report always serialises");
        if self.is_simulation() {
            // A simulation visits states without remembering them: it has no distinct count.
            v["unique_states"] = serde_json::Value::Null;
            v["steps"] = self.states.into();
        }
        serde_json::to_string_pretty(&v).expect("a report always serialises")
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let params: Vec<String> = self
            .parameters
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        let _ = writeln!(
            out,
            "Checked {} ({}) with {}{}, {} thread{}.",
            self.protocol,
            params.join(" "),
            self.strategy,
            match &self.engine {
                Some(e) => format!(" ({e}'s engine)"),
                None => String::new(),
            },
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        );
        for note in &self.notes {
            let _ = writeln!(out, "{note}");
        }
        let rate = self.states as f64 / self.seconds.max(1e-9);
        if self.is_simulation() {
            let _ = writeln!(
                out,
                "Sampled {} random runs, {} steps, deepest {} steps, {:.2} s ({:.0} steps/s), seed {}.",
                thousands(self.runs.unwrap_or(0) as u64),
                thousands(self.states as u64),
                self.max_depth.saturating_sub(1),
                self.seconds,
                rate,
                self.seed.unwrap_or(0),
            );
            let _ = writeln!(
                out,
                "A simulation proves nothing: a property it did not see violated is UNKNOWN. Replay with --seed {} --threads 1.",
                self.seed.unwrap_or(0)
            );
        } else {
            let _ = writeln!(
                out,
                "{}: {} states, {} unique{}, depth {}, {:.2} s ({:.0} states/s).",
                if self.complete {
                    "Complete"
                } else {
                    "Incomplete"
                },
                thousands(self.states as u64),
                thousands(self.unique_states as u64),
                if self.symmetry {
                    " (up to symmetry)"
                } else {
                    ""
                },
                self.max_depth,
                self.seconds,
                rate
            );
        }
        if let Some((n, source)) = &self.known_unique_states {
            let agrees = if !self.complete || self.is_simulation() {
                String::new()
            } else if *n == self.unique_states as u64 {
                ": this run agrees".to_string()
            } else {
                ": THIS RUN DIFFERS".to_string()
            };
            let _ = writeln!(
                out,
                "Known count for this configuration: {} unique states ({source}){agrees}.",
                thousands(*n)
            );
        }
        let width = self
            .properties
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(0);
        let _ = writeln!(out, "Properties:");
        for p in &self.properties {
            let extra = match &p.trace {
                Some(t) => format!(" ({} steps)", t.steps.len()),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<10} {:<width$}  {}{}",
                p.expectation.as_str(),
                p.name,
                p.verdict.as_str().to_uppercase(),
                extra
            );
        }
        for p in &self.properties {
            let Some(t) = &p.trace else { continue };
            if p.verdict != Verdict::Violated {
                continue;
            }
            let _ = writeln!(
                out,
                "\nCounterexample to \"{}\" in {} steps ({}):",
                p.name,
                t.steps.len(),
                if t.shortest {
                    "a shortest one: single-threaded BFS"
                } else {
                    "not necessarily shortest"
                }
            );
            if t.lasso.is_some() {
                let _ = writeln!(
                    out,
                    "  (a behaviour that is fair and never satisfies it: a prefix, then how it goes on forever)"
                );
            }
            let _ = writeln!(out, "  initial state:");
            for line in t.initial_state.lines() {
                let _ = writeln!(out, "    {line}");
            }
            out.push_str(&t.to_text());
        }
        if let Some(stopped) = self.stopped {
            let why = match stopped {
                super::Stopped::Timeout => "--timeout passed".to_string(),
                super::Stopped::MaxDepth => format!("--max-depth {} reached", self.max_depth),
                super::Stopped::MaxMemory => format!(
                    "resident memory reached --max-memory {}",
                    super::memory::format_bytes(self.max_memory_bytes.unwrap_or(0))
                ),
                super::Stopped::Interrupted => "stopped on request".to_string(),
                super::Stopped::Error => "its disk failed it: see the note above".to_string(),
            };
            let _ = writeln!(
                out,
                "\nThe search stopped early ({why}) after {} unique states: verdicts marked UNKNOWN are not proven.",
                thousands(self.unique_states as u64)
            );
            if stopped == super::Stopped::MaxMemory {
                let _ = writeln!(
                    out,
                    "To finish within memory: --symmetry (if the protocol has one), fewer clients or servers, --max-depth N, or --strategy dfs; or raise --max-memory."
                );
            }
        }
        if let Some(c) = &self.compare {
            let mb = |b: Option<u64>| b.map_or("?".to_string(), super::memory::format_bytes);
            let _ = writeln!(out, "\nCompared with stateright ({}):", c.work);
            let _ = writeln!(
                out,
                "  synod       this model, Synod's engine      {:>9.2} s  {:>12} unique  {:>10}",
                c.synod.seconds,
                thousands(c.synod.unique_states as u64),
                mb(c.synod.max_rss_bytes)
            );
            let _ = writeln!(
                out,
                "  stateright  {:<31} {:>9.2} s  {:>12} unique  {:>10}",
                format!("{}, its BfsChecker", c.model),
                c.seconds,
                thousands(c.unique_states as u64),
                mb(c.max_rss_bytes)
            );
            let memory = match (c.max_rss_bytes, c.synod.max_rss_bytes) {
                (Some(s), Some(o)) if o > 0 => format!(", {:.2}x the memory", s as f64 / o as f64),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  stateright / synod: {:.2}x the time{memory}.",
                c.seconds / c.synod.seconds.max(1e-9)
            );
            if c.same_unique_states {
                let _ = writeln!(out, "  The same number of unique states.");
            } else {
                let _ = writeln!(
                    out,
                    "  The unique counts differ: the two forms are not the same model. Where they differ:"
                );
                for d in &c.differences {
                    let _ = writeln!(out, "  - {d}");
                }
            }
        }
        out
    }
}
