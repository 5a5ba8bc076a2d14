//! Counterexample and example traces: one step per action, told in the model's own words, and
//! exported as JSON or as a Mermaid `sequenceDiagram` (the notation of the consensus literature).
//!
//! A model says how to describe its steps by implementing [`Traceable`] (in `synod_models::trace`,
//! next to the models): every actor system does (messages, timeouts, crashes), and each
//! specification tells its TLA+ actions.

use serde::Serialize;
use std::fmt::Write as _;
pub use synod_models::trace::{Snapshot, TraceStep, Traceable};

/// A trace: the initial state and the steps from it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trace {
    /// Participants, in id order (actor names), for diagrams; empty for plain models.
    pub participants: Vec<String>,
    pub initial_state: String,
    pub steps: Vec<TraceStep>,
    /// True when the trace is known to be a shortest one (single-threaded BFS).
    pub shortest: bool,
    /// The whole state before the first step and after each one (the trace viewer's input);
    /// empty for a model without actors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<Snapshot>,
    /// A liveness counterexample: how the behaviour goes on after the last step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lasso: Option<Lasso>,
}

/// How a liveness counterexample goes on forever after its last step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lasso {
    /// `cycle`: the steps from `loop_from` on repeat forever (the state after the last step is
    /// the state before step `loop_from`); `deadlock`: no step is enabled after the last one;
    /// `stuttering`: only steps no fairness covers (crashes, losses) are enabled, and a fair
    /// behaviour may take none of them.
    pub kind: &'static str,
    /// The first step of the cycle (1-based), for `cycle`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loop_from: Option<usize>,
    /// The fairness the behaviour satisfies (the kinds of steps assumed fair).
    pub fairness: Vec<&'static str>,
}

impl Lasso {
    /// One sentence on how the behaviour goes on.
    pub fn describe(&self, steps: usize) -> String {
        let fair = if self.fairness.is_empty() {
            "no fairness assumed".to_string()
        } else {
            format!("weakly fair in {}", self.fairness.join(", "))
        };
        let at = if steps == 0 {
            "in the initial state".to_string()
        } else {
            format!("after step {steps}")
        };
        match (self.kind, self.loop_from) {
            ("cycle", Some(from)) => format!(
                "steps {from} to {steps} repeat forever: the state after step {steps} is the state before step {from} ({fair})"
            ),
            ("deadlock", _) => format!("{at} no step is enabled: deadlock"),
            _ => format!(
                "{at} only steps no fairness covers are enabled (crashes, losses), and the behaviour may stop here ({fair})"
            ),
        }
    }
}

impl Trace {
    /// Numbered steps, `src -> dst: Message`, each followed by the changed actor's state.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            let head = match s.kind {
                "deliver" => format!(
                    "{} -> {}: {}",
                    s.src.as_deref().unwrap_or("?"),
                    s.dst.as_deref().unwrap_or("?"),
                    s.message.as_deref().unwrap_or("")
                ),
                "drop" => format!(
                    "network loses {} -> {}: {}",
                    s.src.as_deref().unwrap_or("?"),
                    s.dst.as_deref().unwrap_or("?"),
                    s.message.as_deref().unwrap_or("")
                ),
                "timeout" => format!(
                    "{} times out: {}",
                    s.actor.as_deref().unwrap_or("?"),
                    s.message.as_deref().unwrap_or("")
                ),
                "crash" => format!("{} crashes", s.actor.as_deref().unwrap_or("?")),
                "recover" => format!(
                    "{} restarts from its saved state",
                    s.actor.as_deref().unwrap_or("?")
                ),
                "random" => format!(
                    "{} chooses {}",
                    s.actor.as_deref().unwrap_or("?"),
                    s.message.as_deref().unwrap_or("")
                ),
                _ => s.message.clone().unwrap_or_default(),
            };
            if self.lasso.as_ref().and_then(|l| l.loop_from) == Some(s.step) {
                let _ = writeln!(out, "       -- the cycle starts here --");
            }
            let _ = writeln!(out, "  {:>3}. {head}", s.step);
            if !s.state.is_empty() {
                match &s.actor {
                    Some(a) => {
                        let _ = writeln!(out, "       {a}: {}", s.state);
                    }
                    None => {
                        let _ = writeln!(out, "       state: {}", s.state);
                    }
                }
            }
        }
        if let Some(l) = &self.lasso {
            let _ = writeln!(out, "       -- {} --", l.describe(self.steps.len()));
        }
        out
    }

    /// A Mermaid `sequenceDiagram`: one arrow per delivered message, notes for the rest.
    pub fn to_mermaid(&self, title: &str) -> String {
        let alias = |name: &str| -> String {
            match self.participants.iter().position(|p| p == name) {
                Some(i) => format!("a{i}"),
                None => "net".to_string(),
            }
        };
        // Mermaid reads `#` and `;` as syntax: write them as its entity codes.
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| match c {
                    '#' => "#35;".to_string(),
                    ';' => "#59;".to_string(),
                    '\n' => " ".to_string(),
                    c => c.to_string(),
                })
                .collect()
        };
        let mut out = String::from("sequenceDiagram\n");
        let _ = writeln!(out, "    title {}", clean(title));
        if self.participants.is_empty() {
            // A specification: one lifeline, a note per action.
            let _ = writeln!(out, "    participant spec");
            for s in &self.steps {
                let msg = clean(s.message.as_deref().unwrap_or(""));
                let _ = writeln!(out, "    Note over spec: {}. {msg}", s.step);
            }
            return out;
        }
        for (i, p) in self.participants.iter().enumerate() {
            let _ = writeln!(out, "    participant a{i} as {}", clean(p));
        }
        for s in &self.steps {
            let msg = clean(s.message.as_deref().unwrap_or(""));
            match s.kind {
                "deliver" => {
                    let _ = writeln!(
                        out,
                        "    {}->>{}: {}. {msg}",
                        alias(s.src.as_deref().unwrap_or("")),
                        alias(s.dst.as_deref().unwrap_or("")),
                        s.step
                    );
                }
                "drop" => {
                    let _ = writeln!(
                        out,
                        "    {}-x{}: {}. lost: {msg}",
                        alias(s.src.as_deref().unwrap_or("")),
                        alias(s.dst.as_deref().unwrap_or("")),
                        s.step
                    );
                }
                "timeout" | "crash" | "recover" | "random" => {
                    let what = match s.kind {
                        "timeout" => format!("timeout {msg}"),
                        "crash" => "crash".to_string(),
                        "recover" => "restart from saved state".to_string(),
                        _ => format!("chooses {msg}"),
                    };
                    let _ = writeln!(
                        out,
                        "    Note over {}: {}. {what}",
                        alias(s.actor.as_deref().unwrap_or("")),
                        s.step
                    );
                }
                _ => {
                    let _ = writeln!(out, "    Note over a0: {}. {msg}", s.step);
                }
            }
        }
        if let Some(l) = &self.lasso {
            let over = if self.participants.len() > 1 {
                format!("a0,a{}", self.participants.len() - 1)
            } else {
                "a0".to_string()
            };
            let _ = writeln!(
                out,
                "    Note over {over}: {}",
                clean(&l.describe(self.steps.len()))
            );
        }
        out
    }
}

/// Builds a trace from an initial state and the (action, next state) steps after it.
pub fn build<M: Traceable>(
    model: &M,
    init: &M::State,
    steps: &[(M::Action, M::State)],
    shortest: bool,
) -> Trace {
    let mut last = init;
    let mut out = Vec::with_capacity(steps.len());
    let mut states: Vec<Snapshot> = model.snapshot(init).into_iter().collect();
    for (i, (action, next)) in steps.iter().enumerate() {
        let mut step = model.describe_step(last, action, next);
        step.step = i + 1;
        out.push(step);
        states.extend(model.snapshot(next));
        last = next;
    }
    Trace {
        participants: model.participants(),
        initial_state: model.describe_init(init),
        steps: out,
        shortest,
        states,
        lasso: None,
    }
}
