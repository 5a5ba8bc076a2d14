//! The result of a check, printed as text for people or as one JSON object for scripts (the
//! schema is documented in README.md and is a contract), and the exit code it implies.

use super::trace::Trace;
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
    pub strategy: String,
    pub threads: usize,
    /// States generated, counting repeats.
    pub states: usize,
    /// Distinct states (orbits, with symmetry).
    pub unique_states: usize,
    pub max_depth: usize,
    pub seconds: f64,
    /// Whether the whole state space was explored.
    pub complete: bool,
    pub symmetry: bool,
    pub properties: Vec<PropertyReport>,
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

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
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
            "Checked {} ({}) with {}, {} thread{}.",
            self.protocol,
            params.join(" "),
            self.strategy,
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        );
        let rate = self.states as f64 / self.seconds.max(1e-9);
        let _ = writeln!(
            out,
            "{}: {} states, {} unique{}, depth {}, {:.2} s ({:.0} states/s).",
            if self.complete {
                "Complete"
            } else if self.strategy == "simulation" {
                "Sampled"
            } else {
                "Incomplete"
            },
            self.states,
            self.unique_states,
            if self.symmetry {
                " (up to symmetry)"
            } else {
                ""
            },
            self.max_depth,
            self.seconds,
            rate
        );
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
            let _ = writeln!(out, "  initial state:");
            for line in t.initial_state.lines() {
                let _ = writeln!(out, "    {line}");
            }
            out.push_str(&t.to_text());
        }
        if !self.complete && self.strategy != "simulation" && self.exit_code() != 1 {
            let _ = writeln!(
                out,
                "\nThe search stopped early (timeout or depth bound): verdicts marked UNKNOWN are not proven."
            );
        }
        out
    }
}
