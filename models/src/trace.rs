//! How a model tells its steps to a reader: one [`TraceStep`] per action, in the model's own
//! words. The harness turns steps into counterexample traces (text, JSON, Mermaid); a model says
//! what happened by implementing [`Traceable`]. Every [`System`] of actors does (messages,
//! timeouts, crashes, random choices); a plain model (a specification) implements it with
//! [`plain_step`], the action and the whole state after it.

use crate::system::System;
use serde::Serialize;
use stateright::actor::{Actor, ActorModelAction};
use stateright::Model;
use std::fmt::{Debug, Write as _};
use std::hash::Hash;

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
    /// The message with every field named (its `{:#?}` form on one line), where that says more
    /// than `message`: what the UI shows when a message is hovered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<String>,
    /// The actor whose state the step changed, if the model has actors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The state after the step: the changed actor's state, or the whole state.
    pub state: String,
}

/// A whole state as the trace viewer shows it: each actor's state (Rust's pretty `Debug`
/// form, which the viewer reads as a tree), the messages in flight, and the recorded history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot {
    pub actors: Vec<ActorSnapshot>,
    /// Messages sent and not yet delivered (or dropped), in the network's order.
    pub in_flight: Vec<InFlight>,
    /// The clients' history as the properties see it, if the model records one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<String>,
    /// The protocol's own picture of the state (empty when it has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub view: Vec<ViewTable>,
}

/// A table of a protocol's view: the UI draws it as it is, colouring cells by `colour`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ViewTable {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<ViewCell>>,
}

/// One cell: its text, a colour key (cells with the same key share a colour: a term, a ballot
/// round), a mark (`"leader"`, `"commit"`, `"crashed"`, ...) and a longer text on hover.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ViewCell {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colour: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A view's columns: the fixed ones, then `1..=last` (log indices, slots).
pub fn view_columns(fixed: &[&str], last: u64) -> Vec<String> {
    fixed
        .iter()
        .map(|c| c.to_string())
        .chain((1..=last).map(|i| i.to_string()))
        .collect()
}

/// A view's row for a crashed server.
pub fn crashed_row(name: String) -> Vec<ViewCell> {
    vec![
        ViewCell::text(name).mark("crashed"),
        ViewCell::text("crashed").mark("crashed"),
    ]
}

impl ViewCell {
    pub fn text(text: impl Into<String>) -> ViewCell {
        ViewCell {
            text: text.into(),
            ..ViewCell::default()
        }
    }

    pub fn colour(mut self, key: u64) -> ViewCell {
        self.colour = Some(key);
        self
    }

    pub fn mark(mut self, mark: &'static str) -> ViewCell {
        self.mark = Some(mark);
        self
    }

    pub fn title(mut self, title: impl Into<String>) -> ViewCell {
        self.title = Some(title.into());
        self
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActorSnapshot {
    pub name: String,
    /// Down (it crashed and has not restarted).
    pub crashed: bool,
    /// `{:#?}` of its state.
    pub state: String,
    /// Its timers that are set, `{:?}` each.
    pub timers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InFlight {
    pub src: String,
    pub dst: String,
    pub message: String,
    /// As [`TraceStep::fields`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<String>,
}

/// Rust's pretty `Debug` form (`{:#?}`) on one line: `Prepare { key: 0, ballot: b1.0 }`.
/// (Strings in `Debug` output escape their newlines, so every line break is the formatter's.)
pub fn one_line(pretty: &str) -> String {
    let mut out = String::with_capacity(pretty.len());
    for line in pretty.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let closes = t.starts_with(['}', ']', ')']);
        if closes && out.ends_with(',') {
            out.pop();
        }
        // A space between pieces, except inside brackets and parentheses: `Some(3)`, `[1, 2]`.
        let tight = out.ends_with(['(', '[']) || t.starts_with([')', ']']);
        if !out.is_empty() && !tight {
            out.push(' ');
        }
        out.push_str(t);
    }
    out
}

/// `x`'s fields by name ([`one_line`] of `{:#?}`), or `None` when that reads as `{:?}` does.
pub fn fields_of(x: &impl Debug) -> Option<String> {
    let named = one_line(&format!("{x:#?}"));
    (named != format!("{x:?}")).then_some(named)
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
    /// The whole state, actor by actor, for the trace viewer; `None` for a model without
    /// actors (the step's `state` already holds all of it).
    fn snapshot(&self, _state: &Self::State) -> Option<Snapshot> {
        None
    }
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

    fn snapshot(&self, state: &Self::State) -> Option<Snapshot> {
        let name = |id: stateright::actor::Id| {
            self.actors
                .get(usize::from(id))
                .map(|a| a.name())
                .unwrap_or_else(|| format!("{id:?}"))
        };
        let actors = state
            .actors
            .iter()
            .enumerate()
            .map(|(i, slot)| ActorSnapshot {
                name: self.actors[i].name(),
                crashed: state.is_crashed(i),
                state: format!("{:#?}", slot.state),
                timers: slot.timers.iter().map(|t| format!("{t:?}")).collect(),
            })
            .collect();
        let in_flight = state
            .network
            .iter_all()
            .map(|env| InFlight {
                src: name(env.src),
                dst: name(env.dst),
                message: format!("{:?}", env.msg),
                fields: fields_of(&env.msg),
            })
            .collect();
        Some(Snapshot {
            actors,
            in_flight,
            history: Some(format!("{:?}", state.history)),
            view: self.view.map(|f| f(state)).unwrap_or_default(),
        })
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
            fields: None,
            actor: None,
            state: String::new(),
        };
        match action {
            ActorModelAction::Deliver { src, dst, msg } => TraceStep {
                kind: "deliver",
                src: Some(name(*src)),
                dst: Some(name(*dst)),
                message: Some(format!("{msg:?}")),
                fields: fields_of(msg),
                actor: Some(name(*dst)),
                state: state_of(*dst),
                ..blank
            },
            ActorModelAction::Drop(env) => TraceStep {
                kind: "drop",
                src: Some(name(env.src)),
                dst: Some(name(env.dst)),
                message: Some(format!("{:?}", env.msg)),
                fields: fields_of(&env.msg),
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

/// A plain model's step: the action taken, in the model's own words (the TLA+ action with its
/// arguments for the specs), and the whole state after it.
pub fn plain_step(action: &impl Debug, next: &impl Debug) -> TraceStep {
    TraceStep {
        step: 0,
        kind: "action",
        src: None,
        dst: None,
        message: Some(format!("{action:?}")),
        fields: None,
        actor: None,
        state: format!("{next:?}"),
    }
}

#[cfg(test)]
mod one_line_tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Msg {
        term: u64,
        entries: Vec<(u8, String)>,
        leader: Option<u8>,
        empty: Vec<u8>,
    }

    #[test]
    fn pretty_debug_reads_back_on_one_line() {
        let m = Msg {
            term: 3,
            entries: vec![(1, "a\nb".into())],
            leader: Some(2),
            empty: vec![],
        };
        assert_eq!(
            one_line(&format!("{m:#?}")),
            r#"Msg { term: 3, entries: [(1, "a\nb")], leader: Some(2), empty: [] }"#
        );
        assert_eq!(fields_of(&3u8), None);
    }
}
