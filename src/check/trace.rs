//! Counterexample and example traces: one step per action, told in the model's own words, and
//! exported as JSON or as a Mermaid `sequenceDiagram` (the notation of the consensus literature).
//!
//! A model says how to describe its steps by implementing [`Traceable`]; every stateright
//! `ActorModel` does (messages, timeouts, crashes), and plain models fall back on `Debug`.

use serde::Serialize;
use stateright::actor::{Actor, ActorModelAction};
use stateright::Model;
use std::fmt::{Debug, Write as _};
use std::hash::Hash;
use synod_models::system::System;

/// One step of a trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceStep {
    /// 1-based position in the trace.
    pub step: usize,
    /// `deliver`, `drop`, `timeout`, `crash`, `recover`, `random` or `action` (plain models).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<String>,
    /// The message delivered or dropped, the timer that fired, or the action taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The actor whose state the step changed, if the model has actors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The state after the step: the changed actor's state, or the whole state.
    pub state: String,
}

/// A trace: the initial state and the steps from it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trace {
    /// Participants, in id order (actor names), for diagrams; empty for plain models.
    pub participants: Vec<String>,
    pub initial_state: String,
    pub steps: Vec<TraceStep>,
    /// True when the trace is known to be a shortest one (single-threaded BFS).
    pub shortest: bool,
}

/// How a model describes its steps.
pub trait Traceable: Model {
    /// Actor names in id order; empty for a model without actors.
    fn participants(&self) -> Vec<String> {
        Vec::new()
    }
    /// The initial state, as a reader should see it.
    fn describe_init(&self, state: &Self::State) -> String;
    /// One step: the action taken from `last` and the state `next` it led to.
    fn describe_step(
        &self,
        last: &Self::State,
        action: &Self::Action,
        next: &Self::State,
    ) -> TraceStep;
}

impl<A, C, H> Traceable for System<A, C, H>
where
    A: Actor,
    A::Msg: Ord + Debug,
    A::Timer: Ord + Debug,
    A::State: Debug,
    A::Random: Debug,
    H: Clone + Debug + Hash,
{
    fn participants(&self) -> Vec<String> {
        self.actors.iter().map(|a| a.name()).collect()
    }

    fn describe_init(&self, state: &Self::State) -> String {
        let mut out = String::new();
        for (i, slot) in state.actors.iter().enumerate() {
            let _ = writeln!(out, "{}: {:?}", self.actors[i].name(), slot.state);
        }
        out.trim_end().to_string()
    }

    fn describe_step(
        &self,
        _last: &Self::State,
        action: &Self::Action,
        next: &Self::State,
    ) -> TraceStep {
        let name = |id: stateright::actor::Id| {
            self.actors
                .get(usize::from(id))
                .map(|a| a.name())
                .unwrap_or_else(|| format!("{id:?}"))
        };
        let state_of = |id: stateright::actor::Id| {
            next.actors
                .get(usize::from(id))
                .map(|a| format!("{:?}", a.state))
                .unwrap_or_default()
        };
        let blank = TraceStep {
            step: 0,
            kind: "action",
            src: None,
            dst: None,
            message: None,
            actor: None,
            state: String::new(),
        };
        match action {
            ActorModelAction::Deliver { src, dst, msg } => TraceStep {
                kind: "deliver",
                src: Some(name(*src)),
                dst: Some(name(*dst)),
                message: Some(format!("{msg:?}")),
                actor: Some(name(*dst)),
                state: state_of(*dst),
                ..blank
            },
            ActorModelAction::Drop(env) => TraceStep {
                kind: "drop",
                src: Some(name(env.src)),
                dst: Some(name(env.dst)),
                message: Some(format!("{:?}", env.msg)),
                state: String::new(),
                ..blank
            },
            ActorModelAction::Timeout(id, timer) => TraceStep {
                kind: "timeout",
                message: Some(format!("{timer:?}")),
                actor: Some(name(*id)),
                state: state_of(*id),
                ..blank
            },
            ActorModelAction::Crash(id) => TraceStep {
                kind: "crash",
                actor: Some(name(*id)),
                state: "(crashed: volatile state lost)".to_string(),
                ..blank
            },
            ActorModelAction::Recover(id) => TraceStep {
                kind: "recover",
                actor: Some(name(*id)),
                state: state_of(*id),
                ..blank
            },
            ActorModelAction::SelectRandom { actor, random, .. } => TraceStep {
                kind: "random",
                message: Some(format!("{random:?}")),
                actor: Some(name(*actor)),
                state: state_of(*actor),
                ..blank
            },
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
    for (i, (action, next)) in steps.iter().enumerate() {
        let mut step = model.describe_step(last, action, next);
        step.step = i + 1;
        out.push(step);
        last = next;
    }
    Trace {
        participants: model.participants(),
        initial_state: model.describe_init(init),
        steps: out,
        shortest,
    }
}

/// Traces of a plain model (no actors): each step is the action taken, in the model's own words
/// (the TLA+ action with its arguments for the specs), and the whole state after it.
macro_rules! plain_traceable {
    ($($model:ty),* $(,)?) => {$(
        impl Traceable for $model {
            fn describe_init(&self, state: &Self::State) -> String {
                format!("{state:?}")
            }

            fn describe_step(
                &self,
                _last: &Self::State,
                action: &Self::Action,
                next: &Self::State,
            ) -> TraceStep {
                TraceStep {
                    step: 0,
                    kind: "action",
                    src: None,
                    dst: None,
                    message: Some(format!("{action:?}")),
                    actor: None,
                    state: format!("{next:?}"),
                }
            }
        }
    )*};
}

plain_traceable!(
    synod_specs::TCommit,
    synod_specs::TwoPhase,
    synod_specs::Consensus,
    synod_specs::Voting,
    synod_specs::Paxos,
);
