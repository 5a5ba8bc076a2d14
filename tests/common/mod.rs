//! Helpers shared by the KV protocols' check matrices (`check_paxos.rs`, `check_single_copy_kv.rs`):
//! brute-force orbit counting for the symmetry tests.

#![allow(dead_code)]

use stateright::Model;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

/// Every permutation of `0..n`.
pub fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn go(prefix: &mut Vec<usize>, n: usize, out: &mut Vec<Vec<usize>>) {
        if prefix.len() == n {
            out.push(prefix.clone());
            return;
        }
        for i in 0..n {
            if !prefix.contains(&i) {
                prefix.push(i);
                go(prefix, n, out);
                prefix.pop();
            }
        }
    }
    let mut out = Vec::new();
    go(&mut Vec::new(), n, &mut out);
    out
}

pub fn fingerprint<T: Hash>(value: &T) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// Every state reachable in `m`, by a plain breadth-first search of our own.
pub fn reachable<M: Model>(m: &M) -> Vec<M::State>
where
    M::State: Clone + Eq + Hash,
{
    let mut seen: HashSet<M::State> = HashSet::new();
    let mut order = Vec::new();
    let mut queue: VecDeque<M::State> = VecDeque::new();
    for s in m.init_states() {
        if seen.insert(s.clone()) {
            queue.push_back(s);
        }
    }
    let mut actions = Vec::new();
    while let Some(s) = queue.pop_front() {
        actions.clear();
        m.actions(&s, &mut actions);
        for a in actions.drain(..) {
            if let Some(next) = m.next_state(&s, a) {
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
        order.push(s);
    }
    order
}

/// The orbit key of a state: the least fingerprint of `permute(state, map)` over all `perms`.
pub fn orbit_key<S, T: Hash>(
    state: &S,
    perms: &[Vec<usize>],
    permute: impl Fn(&S, &[usize]) -> T,
) -> u64 {
    perms
        .iter()
        .map(|map| fingerprint(&permute(state, map)))
        .min()
        .expect("at least the identity")
}
