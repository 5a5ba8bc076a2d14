//! Helpers shared by the integration tests: checker runs, a plain reference BFS, and a slow,
//! obviously correct orbit canonicaliser.

#![allow(dead_code)] // each test binary uses its own subset

use stateright::{Checker, Model, Path};
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;

/// Runs stateright's BFS checker to completion. One thread gives an exact breadth-first order,
/// so `max_depth` is TLC's depth.
pub fn bfs<M>(model: M, threads: usize) -> impl Checker<M>
where
    M: Model + Send + Sync + 'static,
    M::State: Hash + Send + Sync + Clone + PartialEq + Debug + 'static,
    M::Action: Clone + PartialEq + Debug,
{
    model.checker().threads(threads).spawn_bfs().join()
}

/// The names of the properties with a discovery (a counterexample for `always`, an example for
/// `sometimes`).
pub fn discovered<M, C>(checker: &C) -> BTreeSet<&'static str>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
    C: Checker<M>,
{
    checker.discoveries().keys().copied().collect()
}

/// Every reachable state, by a plain BFS over the `Model` API with a `HashSet` of whole states
/// (no fingerprints), in breadth-first order.
pub fn reachable<M>(model: &M) -> Vec<M::State>
where
    M: Model,
    M::State: Hash + Eq + Clone,
{
    let mut seen = HashSet::new();
    let mut queue = VecDeque::new();
    let mut order = Vec::new();
    for s in model.init_states() {
        if seen.insert(s.clone()) {
            queue.push_back(s);
        }
    }
    while let Some(s) = queue.pop_front() {
        for next in model.next_states(&s) {
            if seen.insert(next.clone()) {
                queue.push_back(next);
            }
        }
        order.push(s);
    }
    order
}

/// Every permutation of `0..n`, by the textbook recursion (independent of the crate's own).
pub fn all_permutations(n: usize) -> Vec<Vec<u8>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for smaller in all_permutations(n - 1) {
        for slot in 0..n {
            let mut p = smaller.clone();
            p.insert(slot, (n - 1) as u8);
            out.push(p);
        }
    }
    out
}

/// The number of orbits among `states`: the number of distinct least images, where the image
/// set of a state is `images(state)` (the state under every permutation of the group).
pub fn orbit_count<S>(states: &[S], images: impl Fn(&S) -> Vec<S>) -> usize
where
    S: Ord + Clone + Hash,
{
    let minima: HashSet<S> = states
        .iter()
        .map(|s| {
            images(s)
                .into_iter()
                .min()
                .expect("the group has an identity")
        })
        .collect();
    minima.len()
}

/// The shortest counterexample (or example) for `property`, found by stateright's BFS.
///
/// Stateright 0.31 keeps, per property, the *last* discovery it makes (each violating state
/// overwrites the stored path) and keeps searching until every property has one, so one full
/// run does not return a shortest path. Bounding the depth does: with `target_max_depth(k + 2)`
/// only paths of at most `k` steps are examined, so the first `k` with a discovery is the
/// length of a shortest counterexample, and the path found then has exactly `k` steps.
pub fn shortest_discovery<M>(
    model: &M,
    property: &'static str,
    max_steps: usize,
) -> Option<Path<M::State, M::Action>>
where
    M: Model + Clone + Send + Sync + 'static,
    M::State: Hash + Send + Sync + Clone + PartialEq + Debug + 'static,
    M::Action: Clone + PartialEq + Debug,
{
    (0..=max_steps).find_map(|steps| {
        let checker = model
            .clone()
            .checker()
            .target_max_depth(steps + 2)
            .spawn_bfs()
            .join();
        let path = checker.discovery(property)?;
        assert_eq!(path.clone().into_actions().len(), steps);
        Some(path)
    })
}

/// Replays a path's actions from its first state and checks that every step is enabled and
/// reaches the recorded state: the counterexample is a behaviour of the model.
pub fn assert_replays<M>(model: &M, path: &Path<M::State, M::Action>)
where
    M: Model,
    M::State: Clone + PartialEq + Debug,
    M::Action: Clone + PartialEq + Debug,
{
    let steps = path.clone().into_vec();
    let mut state = steps[0].0.clone();
    assert!(model.init_states().contains(&state));
    for window in steps.windows(2) {
        let action = window[0].1.clone().expect("a step has an action");
        state = model.next_state(&state, action).expect("enabled");
        assert_eq!(state, window[1].0);
    }
}
