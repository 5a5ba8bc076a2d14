//! Refinement checking: an implementation (an actor model) implements a specification (a TLA+
//! mirror) under a refinement mapping from implementation states to specification states.
//!
//! The check is the standard step-simulation proof obligation, over every reachable
//! implementation state (breadth first, so a failure comes with a shortest trace):
//! - every initial state maps to an initial state of the spec;
//! - every step `s -> s'` maps to a spec step `f(s) -> f(s')` or to a stutter (`f(s) = f(s')`).
//!
//! By induction every reachable implementation state then maps to a reachable spec state, so
//! the spec's invariants hold of the implementation (TLA+'s `Impl => Spec` for safety).

use super::trace::{self, Trace, Traceable};
use serde::Serialize;
use stateright::Model;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;
use synod_models::checked::Checked;
use synod_models::system::digest;

/// The outcome of a refinement check.
#[derive(Clone, Debug, Serialize)]
pub struct RefinementReport {
    pub protocol: String,
    /// The specification, e.g. `TwoPhase.tla`.
    pub spec: String,
    pub holds: bool,
    /// Implementation states and steps examined.
    pub states: usize,
    pub steps: usize,
    pub seconds: f64,
    /// Why it fails, in words, with the mapped states.
    pub failure: Option<String>,
    /// A shortest implementation trace ending in the step that does not refine.
    pub trace: Option<Trace>,
}

impl RefinementReport {
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Refinement of {} by {}: {} ({} states, {} steps, {:.2} s).\n",
            self.spec,
            self.protocol,
            if self.holds { "HOLDS" } else { "VIOLATED" },
            self.states,
            self.steps,
            self.seconds
        );
        if let Some(f) = &self.failure {
            out.push_str(&format!("{f}\n"));
        }
        if let Some(t) = &self.trace {
            out.push_str(&format!(
                "Implementation trace ({} steps):\n",
                t.steps.len()
            ));
            out.push_str(&t.to_text());
        }
        out
    }

    pub fn exit_code(&self) -> i32 {
        if self.holds {
            0
        } else {
            1
        }
    }
}

/// A state found, with its parent's index and the action from the parent.
type Found<M> = (<M as Model>::State, Option<(usize, <M as Model>::Action)>);

/// Checks that `imp` refines `spec` under `map`.
pub fn refines<M, S>(
    protocol: &str,
    spec_name: &str,
    imp: &Checked<M>,
    spec: &S,
    map: impl Fn(&M::State) -> S::State,
) -> RefinementReport
where
    M: Traceable,
    M::State: Clone + Hash + PartialEq + Debug,
    M::Action: Clone + Debug,
    S: Model,
    S::State: PartialEq + Debug,
{
    let started = Instant::now();
    // Every state found, with its parent and the action from it.
    let mut states: Vec<Found<M>> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    let spec_inits = spec.init_states();
    let mut steps = 0;
    let mut failure: Option<(usize, String)> = None;
    for init in imp.init_states() {
        let mapped = map(&init);
        if failure.is_none() && !spec_inits.contains(&mapped) {
            failure = Some((
                states.len(),
                format!("initial state maps to {mapped:?}, not an initial state of the spec"),
            ));
        }
        index.insert(digest(&init), states.len());
        states.push((init, None));
    }
    let mut next = 0;
    while next < states.len() && failure.is_none() {
        let current = states[next].0.clone();
        let from = map(&current);
        let spec_next = spec.next_states(&from);
        let mut actions = Vec::new();
        imp.actions(&current, &mut actions);
        for action in actions {
            let Some(after) = imp.next_state(&current, action.clone()) else {
                continue;
            };
            steps += 1;
            let to = map(&after);
            if to != from && !spec_next.contains(&to) {
                states.push((after, Some((next, action))));
                failure = Some((
                    states.len() - 1,
                    format!(
                        "the last step maps\n  from {from:?}\n  to   {to:?}\n\
                         which is neither a step of the spec nor a stutter"
                    ),
                ));
                break;
            }
            let key = digest(&after);
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(key) {
                e.insert(states.len());
                states.push((after, Some((next, action))));
            }
        }
        next += 1;
    }
    let trace = failure.as_ref().map(|(at, _)| {
        let mut path = Vec::new();
        let mut i = *at;
        while let Some((parent, action)) = &states[i].1 {
            path.push((action.clone(), states[i].0.clone()));
            i = *parent;
        }
        path.reverse();
        trace::build(&imp.inner, &states[i].0, &path, true)
    });
    RefinementReport {
        protocol: protocol.to_string(),
        spec: spec_name.to_string(),
        holds: failure.is_none(),
        states: states.len(),
        steps,
        seconds: started.elapsed().as_secs_f64(),
        failure: failure.map(|(_, f)| f),
        trace,
    }
}
