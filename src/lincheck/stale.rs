//! How stale the reads of a recorded register history were: a measure, next to the yes-or-no
//! verdict of the linearizability check, of *how far* a run strayed.
//!
//! A read R returned the value of some write W: the write that carried that value (values are
//! unique per run), or, for a read that found the key absent (`NotFound`), the key's initial
//! state, taken as a write invoked and completed at time 0. R is *stale* when some other write
//! W' on the same key satisfies `W.complete_ns < W'.invoke_ns` and `W'.complete_ns <
//! R.invoke_ns`: W' began after W finished and finished before R began, so every linearization
//! orders W' between W and R, and R should not have seen W. Its *staleness* is `R.invoke_ns`
//! minus the earliest `complete_ns` of such a W': how long a newer value had been acknowledged
//! when the read began. A read of a linearizable history is never stale, so a linearizable
//! history has no stale read; the converse does not hold (a read may also return a value never
//! written, or one written only after it completed, which this measure does not look at).
//!
//! Only writes acknowledged with `write_ok` can be W': an indeterminate write completes at
//! infinity, so nothing finishes after it. A read whose value matches no recorded write, matches
//! more than one, or matches a write that is indeterminate (with no meaningful completion time)
//! cannot be judged: it is counted as `unjudged`, never as stale. An operation that completes
//! before it is invoked is malformed: such a read is unjudged, and such a write is never W' and
//! leaves the reads of its value unjudged. Cas operations are ignored entirely (a read of a value
//! a cas wrote is therefore unjudged), as are reads and writes with other outcomes (a refused
//! write of a write-once key, a read that got no reply).
//!
//! The cost is O(n log n) for n operations: the writes are grouped by key and, per key, sorted
//! by invocation with a suffix minimum of their completion times. For a read of W, a binary
//! search finds the first write invoked after W completed, and the suffix minimum there is the
//! earliest completion of any W' candidate, compared with the read's invocation.

use super::{Key, Op, OpKind, Outcome, Value};
use std::collections::HashMap;

/// The staleness of a history's reads; see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Staleness {
    /// Reads judged (stale or not).
    pub reads: u64,
    /// Reads that could not be judged: an unknown, ambiguous or indeterminate write, or malformed
    /// timing.
    pub unjudged: u64,
    /// Judged reads that were stale (`stale <= reads`).
    pub stale: u64,
    /// One staleness per stale read, microseconds (rounded down), sorted ascending.
    pub staleness_us: Vec<u64>,
}

impl Staleness {
    /// The staleness at quantile `q` (clamped to 0..=1) over the stale reads, microseconds, by
    /// nearest rank (the smallest value with at least `q` of them at or below it). `None` with no
    /// stale read or a NaN `q`.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        if q.is_nan() || self.staleness_us.is_empty() {
            return None;
        }
        let n = self.staleness_us.len();
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
        self.staleness_us.get(rank - 1).copied()
    }

    /// The largest staleness, microseconds; `None` with no stale read.
    pub fn max_us(&self) -> Option<u64> {
        self.staleness_us.last().copied()
    }
}

/// What a read's value says about the write it saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// A single write acknowledged at this time (0 for the initial state).
    Completed(u64),
    /// Indeterminate, malformed, or more than one write carried the value: cannot be judged.
    Unjudgeable,
}

/// One key's acknowledged writes, ordered by invocation, with the suffix minimum of completions.
#[derive(Debug, Default)]
struct KeyWrites {
    /// `(invoke_ns, complete_ns)`, sorted by `invoke_ns` once built.
    writes: Vec<(u64, u64)>,
    /// `suffix_min[i]` is the smallest `complete_ns` of `writes[i..]`.
    suffix_min: Vec<u64>,
}

impl KeyWrites {
    fn build(&mut self) {
        self.writes.sort_unstable();
        self.suffix_min = vec![u64::MAX; self.writes.len()];
        let mut min = u64::MAX;
        for (i, &(_, complete_ns)) in self.writes.iter().enumerate().rev() {
            min = min.min(complete_ns);
            self.suffix_min[i] = min;
        }
    }

    /// The earliest completion of a write invoked strictly after `after_ns`, if any.
    fn earliest_completion_invoked_after(&self, after_ns: u64) -> Option<u64> {
        let first = self
            .writes
            .partition_point(|&(invoke_ns, _)| invoke_ns <= after_ns);
        debug_assert!(first == self.writes.len() || self.writes[first].0 > after_ns);
        self.suffix_min.get(first).copied()
    }
}

/// Measures the staleness of the reads of `ops` (a register history, keys in any order); see
/// the module documentation for the definition.
pub fn staleness(ops: &[Op]) -> Staleness {
    let malformed = |op: &Op| op.complete_ns < op.invoke_ns;
    let mut by_key: HashMap<Key, KeyWrites> = HashMap::new();
    let mut sources: HashMap<(Key, Value), Source> = HashMap::new();
    for op in ops {
        let OpKind::Write(value) = op.kind else {
            continue;
        };
        let source = match op.outcome {
            Outcome::WriteOk if !malformed(op) => {
                by_key
                    .entry(op.key)
                    .or_default()
                    .writes
                    .push((op.invoke_ns, op.complete_ns));
                Source::Completed(op.complete_ns)
            }
            Outcome::WriteOk | Outcome::Indeterminate => Source::Unjudgeable,
            _ => continue,
        };
        sources
            .entry((op.key, value))
            .and_modify(|s| *s = Source::Unjudgeable)
            .or_insert(source);
    }
    for writes in by_key.values_mut() {
        writes.build();
    }

    let mut out = Staleness::default();
    for read in ops.iter().filter(|op| op.kind == OpKind::Read) {
        let source = match read.outcome {
            Outcome::ReadOk(value) => sources
                .get(&(read.key, value))
                .copied()
                .unwrap_or(Source::Unjudgeable),
            Outcome::NotFound => Source::Completed(0),
            _ => continue,
        };
        let w_complete_ns = match source {
            Source::Completed(t) if !malformed(read) => t,
            _ => {
                out.unjudged += 1;
                continue;
            }
        };
        out.reads += 1;
        let newer = by_key
            .get(&read.key)
            .and_then(|w| w.earliest_completion_invoked_after(w_complete_ns));
        if let Some(newer_complete_ns) = newer.filter(|&t| t < read.invoke_ns) {
            // W' completed after it was invoked, which is after W completed: never W itself.
            debug_assert!(newer_complete_ns > w_complete_ns);
            out.stale += 1;
            out.staleness_us
                .push((read.invoke_ns - newer_complete_ns) / 1_000);
        }
    }
    out.staleness_us.sort_unstable();
    debug_assert!(out.stale <= out.reads);
    debug_assert_eq!(out.staleness_us.len() as u64, out.stale);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lincheck::{check_key, Model};

    const US: u64 = 1_000;

    fn op(key: Key, kind: OpKind, invoke_ns: u64, complete_ns: u64, outcome: Outcome) -> Op {
        Op {
            client: 0,
            key,
            kind,
            invoke_ns,
            complete_ns,
            outcome,
        }
    }

    fn write(value: Value, invoke_us: u64, complete_us: u64) -> Op {
        op(
            0,
            OpKind::Write(value),
            invoke_us * US,
            complete_us * US,
            Outcome::WriteOk,
        )
    }

    fn read(outcome: Outcome, invoke_us: u64, complete_us: u64) -> Op {
        op(0, OpKind::Read, invoke_us * US, complete_us * US, outcome)
    }

    fn is_linearizable(ops: &[Op]) -> bool {
        check_key(ops, Model::Register, None) == Ok(true)
    }

    #[test]
    fn a_sequential_history_has_no_stale_read() {
        let ops = [
            read(Outcome::NotFound, 1, 2),
            write(1, 3, 4),
            read(Outcome::ReadOk(1), 5, 6),
            write(2, 7, 8),
            read(Outcome::ReadOk(2), 9, 10),
            read(Outcome::ReadOk(2), 11, 12),
        ];
        assert!(is_linearizable(&ops));
        let s = staleness(&ops);
        assert_eq!((s.reads, s.unjudged, s.stale), (4, 0, 0));
        assert!(s.staleness_us.is_empty());
        assert_eq!(s.max_us(), None);
    }

    #[test]
    fn a_read_of_an_overwritten_value_is_stale_by_the_newer_acknowledgement() {
        let ops = [
            write(1, 0, 10),
            write(2, 20, 30),
            write(3, 35, 50),
            read(Outcome::ReadOk(1), 75, 80), // 2 acknowledged at 30, 3 at 50
        ];
        assert!(!is_linearizable(&ops));
        let s = staleness(&ops);
        assert_eq!((s.reads, s.unjudged, s.stale), (1, 0, 1));
        assert_eq!(s.staleness_us, vec![45]);
    }

    #[test]
    fn a_read_of_not_found_after_a_completed_write_is_stale() {
        let ops = [write(1, 5, 10), read(Outcome::NotFound, 17, 20)];
        let s = staleness(&ops);
        assert_eq!((s.reads, s.unjudged, s.stale), (1, 0, 1));
        assert_eq!(s.staleness_us, vec![7]);
        // Another key's write does not make it stale.
        let mut other = ops;
        other[0].key = 1;
        assert_eq!(staleness(&other).stale, 0);
    }

    #[test]
    fn a_concurrent_newer_write_does_not_make_a_read_stale() {
        // The newer write overlaps the read.
        let overlapping_read = [
            write(1, 0, 10),
            write(2, 20, 40),
            read(Outcome::ReadOk(1), 30, 50),
        ];
        // The newer write overlaps the old one.
        let overlapping_write = [
            write(1, 0, 10),
            write(2, 5, 15),
            read(Outcome::ReadOk(1), 30, 50),
        ];
        // The newer write completes at the very nanosecond the read begins: concurrent.
        let touching = [
            write(1, 0, 10),
            write(2, 20, 30),
            read(Outcome::ReadOk(1), 30, 50),
        ];
        for ops in [overlapping_read, overlapping_write, touching] {
            assert!(is_linearizable(&ops), "{ops:?}");
            let s = staleness(&ops);
            assert_eq!((s.reads, s.stale), (1, 0), "{ops:?}");
        }
    }

    #[test]
    fn an_indeterminate_newer_write_does_not_make_a_read_stale() {
        let ops = [
            write(1, 0, 10),
            op(
                0,
                OpKind::Write(2),
                20 * US,
                30 * US,
                Outcome::Indeterminate,
            ),
            read(Outcome::ReadOk(1), 40, 50),
        ];
        assert!(is_linearizable(&ops));
        let s = staleness(&ops);
        assert_eq!((s.reads, s.unjudged, s.stale), (1, 0, 0));
    }

    #[test]
    fn a_read_of_an_unknown_or_indeterminate_value_is_unjudged() {
        let ops = [
            write(1, 0, 10),
            op(
                0,
                OpKind::Write(2),
                20 * US,
                30 * US,
                Outcome::Indeterminate,
            ),
            write(3, 40, 50),
            read(Outcome::ReadOk(99), 60, 70), // never written
            read(Outcome::ReadOk(2), 60, 70),  // indeterminate write
            op(
                0,
                OpKind::Cas { from: 3, to: 4 },
                80 * US,
                90 * US,
                Outcome::CasOk,
            ),
            read(Outcome::ReadOk(4), 95, 99), // written by a cas: ignored
            read(Outcome::ReadOk(3), 95, 99),
            read(Outcome::Indeterminate, 95, 99), // no reply: ignored
        ];
        let s = staleness(&ops);
        assert_eq!((s.reads, s.unjudged, s.stale), (1, 3, 0));
    }

    #[test]
    fn quantiles_and_max_by_nearest_rank() {
        let s = Staleness {
            reads: 10,
            unjudged: 0,
            stale: 4,
            staleness_us: vec![1, 2, 5, 100],
        };
        assert_eq!(s.quantile_us(0.0), Some(1));
        assert_eq!(s.quantile_us(0.25), Some(1));
        assert_eq!(s.quantile_us(0.5), Some(2));
        assert_eq!(s.quantile_us(0.51), Some(5));
        assert_eq!(s.quantile_us(0.99), Some(100));
        assert_eq!(s.quantile_us(1.0), Some(100));
        assert_eq!(s.quantile_us(7.0), Some(100));
        assert_eq!(s.quantile_us(f64::NAN), None);
        assert_eq!(s.max_us(), Some(100));
        let empty = Staleness::default();
        assert_eq!(empty.quantile_us(0.5), None);
        assert_eq!(empty.max_us(), None);
    }

    #[test]
    fn a_large_sequential_history_has_no_stale_read() {
        // 200k operations over 1,000 keys, one at a time, reads always seeing the latest value.
        const OPS: u64 = 200_000;
        const KEYS: u64 = 1_000;
        let mut latest: Vec<Option<Value>> = vec![None; KEYS as usize];
        let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut ops = Vec::with_capacity(OPS as usize);
        for i in 0..OPS {
            // xorshift64
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let key = rng % KEYS;
            let (t0, t1) = (i * 10 * US, i * 10 * US + 5 * US);
            if rng >> 62 == 0 {
                let value = i + 1;
                latest[key as usize] = Some(value);
                ops.push(op(key, OpKind::Write(value), t0, t1, Outcome::WriteOk));
            } else {
                let outcome = latest[key as usize].map_or(Outcome::NotFound, Outcome::ReadOk);
                ops.push(op(key, OpKind::Read, t0, t1, outcome));
            }
        }
        let writes = ops
            .iter()
            .filter(|o| matches!(o.kind, OpKind::Write(_)))
            .count() as u64;
        let s = staleness(&ops);
        assert_eq!((s.reads, s.unjudged, s.stale), (OPS - writes, 0, 0));
    }
}
