//! How a protocol's storage is written to disk incrementally: the pure half of durability.
//!
//! An actor hands the runtime its whole durable value (`Out::save`); the model checker keeps that
//! value as the actor's `Storage`. Writing the whole value on every step would make a step cost as
//! much as the state is large, so the runtime (`src/net/storage.rs`, which does the file I/O)
//! appends *entries* to a write-ahead file instead, and [`Durable`] says, per storage type, which
//! entries turn the previously committed value into the new one and how to apply one on recovery.
//! The encoding belongs to the protocol, next to its storage type; the files belong to the runtime.

use crate::kv::{Key, KeyMap};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// A storage type the runtime can persist incrementally.
pub trait Durable: Clone + Serialize + DeserializeOwned + Send + 'static {
    /// One change, appended to the write-ahead file.
    type Entry: Serialize + DeserializeOwned;

    /// The entries that turn `prev` into `self`, or `None` when only a whole snapshot can say it
    /// (the default).
    fn delta(&self, _prev: &Self) -> Option<Vec<Self::Entry>> {
        None
    }

    /// Applies one recovered entry.
    fn apply(&mut self, entry: Self::Entry);
}

/// The delta of a small storage value written whole: no entry if it did not change, else the
/// new value as the one entry (for a `Durable` whose `Entry` is itself, applied by replacing).
pub fn whole<T: Clone + PartialEq>(next: &T, prev: &T) -> Option<Vec<T>> {
    Some(if next == prev {
        Vec::new()
    } else {
        vec![next.clone()]
    })
}

/// A per-key map whose entries are only ever inserted or overwritten (Paxos acceptors, a KV
/// store): an entry is a `(key, value)` assignment, so a delta is the assignments that differ.
impl<V> Durable for Arc<KeyMap<V>>
where
    V: Clone + Default + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Entry = (Key, V);

    fn delta(&self, prev: &Self) -> Option<Vec<(Key, V)>> {
        if Arc::ptr_eq(self, prev) {
            return Some(Vec::new());
        }
        if let Some(keys) = self.changed_since(prev) {
            // The map's journal names what changed: O(change) rather than O(keys).
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                match (self.get(&k), prev.get(&k)) {
                    (Some(v), Some(old)) if v == old => {}
                    (Some(v), _) => out.push((k, v.clone())),
                    (None, _) => return None,
                }
            }
            return Some(out);
        }
        keymap_delta(self.iter(), prev.iter())
    }

    fn apply(&mut self, (key, value): (Key, V)) {
        *Arc::make_mut(self).entry_or_default(key) = value;
    }
}

/// The assignments that turn `old` into `new` (both in key order), or `None` if a key
/// disappeared.
pub fn keymap_delta<'a, V: Clone + PartialEq + 'a>(
    new: impl Iterator<Item = (&'a Key, &'a V)>,
    old: impl Iterator<Item = (&'a Key, &'a V)>,
) -> Option<Vec<(Key, V)>> {
    let mut out = Vec::new();
    let mut prev = old.peekable();
    for (k, v) in new {
        // Both maps iterate in key order: walk them together.
        if prev.peek().is_some_and(|(ok, _)| *ok < k) {
            return None; // a key disappeared: not expressible as assignments
        }
        match prev.peek() {
            Some((ok, ov)) if *ok == k => {
                if *ov != v {
                    out.push((*k, v.clone()));
                }
                prev.next();
            }
            _ => out.push((*k, v.clone())),
        }
    }
    if prev.next().is_some() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(u64, u64)]) -> Arc<KeyMap<u64>> {
        Arc::new(pairs.iter().copied().collect())
    }

    #[test]
    fn delta_is_the_changed_assignments() {
        let a = map(&[(1, 10), (3, 30)]);
        let b = map(&[(1, 10), (2, 20), (3, 31)]);
        assert_eq!(b.delta(&a), Some(vec![(2, 20), (3, 31)]));
        assert_eq!(a.delta(&b), None, "a removed key needs a snapshot");
        assert_eq!(a.delta(&a.clone()), Some(vec![]));
    }

    #[test]
    fn large_maps_log_what_their_journal_names_and_agree_with_a_full_diff() {
        let mut m: KeyMap<u64> = KeyMap::default();
        for k in 0..1000 {
            *m.entry_or_default(k) = k;
        }
        let mut prev = Arc::new(m);
        let mut journal_deltas = 0;
        for step in 0..2000u64 {
            let mut next = prev.clone();
            // One to three changes per commit, some rewriting the same value.
            for j in 0..=(step % 3) {
                let k = (step * 7919 + j * 104_729) % 1200; // some new keys too
                *Arc::make_mut(&mut next).entry_or_default(k) = step % 5;
            }
            let fast = next.delta(&prev).expect("keys are only added");
            let full = keymap_delta(next.iter(), prev.iter()).expect("keys are only added");
            assert_eq!(fast, full, "step {step}");
            journal_deltas += usize::from(next.changed_since(&prev).is_some());
            prev = next;
        }
        // The journal restarts every 256 keys; every other delta came from it.
        assert!(journal_deltas > 1900, "{journal_deltas}");
    }
}
