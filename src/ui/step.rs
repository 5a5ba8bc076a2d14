//! Interactive stepping for `GET /api/step`: the state reached from an initial state by a path
//! of action indices, every action enabled there (deliver, drop, timeout, crash, restart) with
//! what it would do, and each property evaluated at that state. The same model as `check`
//! (its action filter included, no symmetry reduction: the user sees real states).

use crate::check::trace::{self, Traceable};
use serde_json::{json, Value};
use stateright::{Expectation, Model};
use synod_models::checked::Checked;
use synod_models::liveness::Liveness;

/// The longest path accepted (a path is typed or linked by a person).
pub const MAX_PATH: usize = 10_000;

/// Follows `path` (`[initial state, action, action, ...]`, each an index into the listing of
/// the step before) and describes where it ends.
pub fn explore<M: Traceable + Liveness>(model: &Checked<M>, path: &[usize]) -> Result<Value, String>
where
    M::State: Clone,
    M::Action: Clone,
{
    if path.len() > MAX_PATH {
        return Err(format!("a path has at most {MAX_PATH} steps"));
    }
    let m = &model.inner;
    let inits = m.init_states();
    let first = path.first().copied().unwrap_or(0);
    let init = inits.get(first).cloned().ok_or_else(|| {
        format!(
            "initial state {first} does not exist (there are {})",
            inits.len()
        )
    })?;
    let mut state = init.clone();
    let mut steps: Vec<(M::Action, M::State)> = Vec::new();
    for (depth, &index) in path.iter().enumerate().skip(1) {
        let enabled = enabled(model, &state);
        let Some((action, next)) = enabled.into_iter().nth(index) else {
            return Err(format!(
                "step {depth} of the path: action {index} is not enabled there"
            ));
        };
        steps.push((action, next.clone()));
        state = next;
    }
    let actions: Vec<Value> = enabled(model, &state)
        .into_iter()
        .enumerate()
        .map(|(i, (action, next))| {
            let mut step = m.describe_step(&state, &action, &next);
            step.step = i;
            json!(step)
        })
        .collect();
    let mut properties: Vec<Value> = m
        .properties()
        .iter()
        .map(|p| {
            let holds = (p.condition)(m, &state);
            let expectation = match p.expectation {
                Expectation::Always => "always",
                Expectation::Sometimes => "sometimes",
                Expectation::Eventually => "eventually",
            };
            json!({ "name": p.name, "expectation": expectation, "condition": holds })
        })
        .collect();
    // `P ~> Q`: both sides at this state (`from`: P, `condition`: Q).
    properties.extend(m.leads_to().iter().map(|p| {
        json!({
            "name": p.name,
            "expectation": "leads-to",
            "from": (p.from)(m, &state),
            "condition": (p.to)(m, &state),
        })
    }));
    Ok(json!({
        "path": path,
        "initial_states": inits.len(),
        "trace": trace::build(m, &init, &steps, false),
        "actions": actions,
        "properties": properties,
    }))
}

/// The actions enabled in `state` (those the checker's filter allows and that change the
/// state), with the state each leads to.
fn enabled<M: Model>(model: &Checked<M>, state: &M::State) -> Vec<(M::Action, M::State)>
where
    M::State: Clone,
    M::Action: Clone,
{
    let mut actions = Vec::new();
    model.inner.actions(state, &mut actions);
    actions
        .into_iter()
        .filter(|a| (model.allow)(&model.inner, a))
        .filter_map(|a| {
            let next = model.inner.next_state(state, a.clone())?;
            Some((a, next))
        })
        .collect()
}
