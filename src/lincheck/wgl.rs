//! Linearizability of a whole recorded history: split by key, check each key's sub-history with
//! the Wing-Gong-Lowe search (`search`), on up to two threads, within a time budget.
//!
//! Why per key: linearizability is local (Herlihy and Wing), so a history is linearizable iff
//! every key's sub-history is, and the search is exponential in the worst case in the length of
//! what it is given: 100 sub-histories of 5,000 operations are far cheaper than one of 500,000.
//!
//! Keys are checked smallest sub-history first. When one fails, larger ones are skipped (and
//! cancelled if running): the verdict names the failing key whose sub-history is smallest (ties:
//! the smaller key), the easiest counterexample to read.
//!
//! The budget is shared in two passes. In the first, a key that starts gets the slice of the
//! remaining time proportional to its share of the operations not yet started, times the number
//! of threads; easy keys finish far inside theirs and leave the rest to later ones. Keys that ran
//! out are retried in a second pass, each with an equal slice of what is left. A key still
//! undecided then is reported as `Verdict::Unknown`, unless some key failed definitely.
//!
//! Semantics (see `Model`): every key starts absent. An indeterminate operation (no reply) may
//! take effect at any point after its invocation or never, and any outcome is accepted for it.
//! Operation `a` precedes `b` iff `a.complete_ns < b.invoke_ns`: one invoked at the very
//! nanosecond another completed is concurrent with it. Malformed input (a cas in the write-once
//! model, an add in any model, a reply received before its request was sent) is never a panic:
//! `check_key` returns `Err` with the reason and `check` reports that key as `Unknown`.

mod search;
mod spec;

use self::search::{Limits, Stop};
use super::{CheckReport, Key, Model, Op, Outcome, Verdict};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Most memory one key's search may hold (its memo, stack and bookkeeping); with two threads
/// the checker stays under twice this.
const MAX_MEMO_BYTES: usize = 1 << 30;
/// The checker uses at most this many threads (the machine has two cores).
const MAX_THREADS: usize = 2;

/// Checks one key's sub-history (in any order; the key fields are not looked at) against
/// `model`, until `deadline` if one is given.
///
/// `Ok(true)`: linearizable. `Ok(false)`: not. `Err(reason)`: the search ran out of time or
/// memory before deciding, or the sub-history is malformed (a cas in the write-once model, an
/// add in any model, an operation that completes before it is invoked).
pub fn check_key(ops: &[Op], model: Model, deadline: Option<Instant>) -> Result<bool, String> {
    let limits = Limits {
        deadline,
        cancel: None,
        max_memo_bytes: MAX_MEMO_BYTES,
    };
    search::check_ops(ops, model, &limits).map_err(|stop| stop.to_string())
}

/// Checks a whole history against `model`, key by key, on up to two threads, in about `budget`
/// at most. See the module documentation for how the budget is shared and which failing key is
/// reported.
///
/// For registers only: a `Model::Counter` history is checked by
/// [`counter::check_reads`](crate::lincheck::counter::check_reads) (a debug build asserts it never
/// comes here; a release build checks it as a register, and a key with an add is `Unknown`,
/// malformed).
pub fn check(history: &[Op], model: Model, budget: Duration) -> CheckReport {
    debug_assert!(
        model != Model::Counter,
        "a counter history is checked by lincheck::counter, not for linearizability"
    );
    let start = Instant::now();
    let deadline = start.checked_add(budget);
    let indeterminate = history
        .iter()
        .filter(|op| op.outcome == Outcome::Indeterminate)
        .count();

    // Group by key; within a key by invocation (the stable sort keeps the recorded order for
    // ties), which is the order a counterexample is reported in.
    let mut sorted = history.to_vec();
    sorted.sort_by_key(|op| (op.key, op.invoke_ns, op.complete_ns));
    let mut groups: Vec<Group> = Vec::new();
    for (i, op) in sorted.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if g.key == op.key => g.end = i + 1,
            _ => groups.push(Group {
                key: op.key,
                start: i,
                end: i + 1,
            }),
        }
    }
    // Rank: smallest sub-history first, then smallest key.
    groups.sort_by_key(|g| (g.end - g.start, g.key));

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
        .min(groups.len().max(1));
    let runner = Runner {
        sorted: &sorted,
        groups: &groups,
        model,
        threads,
        best_fail: AtomicUsize::new(usize::MAX),
    };
    let mut results: Vec<Option<Result<bool, Stop>>> = vec![None; groups.len()];

    // Pass 1: every key, with a share proportional to its size.
    let all: Vec<usize> = (0..groups.len()).collect();
    let total_ops = sorted.len();
    let ops_started = AtomicUsize::new(0);
    runner.run(&all, &mut results, |rank, now| {
        let n = groups[rank].end - groups[rank].start;
        let before = ops_started.fetch_add(n, Ordering::Relaxed);
        let fraction = threads as f64 * n as f64 / total_ops.saturating_sub(before).max(1) as f64;
        share(now, deadline, fraction)
    });

    // Pass 2: the keys that ran out of time, with equal shares of what is left.
    let retry: Vec<usize> = (0..groups.len())
        .filter(|&r| matches!(results[r], Some(Err(Stop::Budget(_)))))
        .collect();
    if !retry.is_empty() && runner.best_fail.load(Ordering::Relaxed) == usize::MAX {
        let taken = AtomicUsize::new(0);
        runner.run(&retry, &mut results, |_, now| {
            let before = taken.fetch_add(1, Ordering::Relaxed);
            let fraction = threads as f64 / retry.len().saturating_sub(before).max(1) as f64;
            share(now, deadline, fraction)
        });
    }

    let verdict = verdict(&sorted, &groups, &results);
    CheckReport {
        verdict,
        ops: history.len(),
        indeterminate,
        keys: groups.len(),
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// One key's sub-history: `sorted[start..end]`.
#[derive(Clone, Copy, Debug)]
struct Group {
    key: Key,
    start: usize,
    end: usize,
}

/// `fraction` of the time left until `deadline`, from `now`, capped at the deadline.
fn share(now: Instant, deadline: Option<Instant>, fraction: f64) -> Option<Instant> {
    let deadline = deadline?;
    let left = deadline.saturating_duration_since(now);
    let slice = left.mul_f64(fraction.clamp(0.0, 1.0e6));
    Some(now.checked_add(slice).map_or(deadline, |d| d.min(deadline)))
}

struct Runner<'a> {
    sorted: &'a [Op],
    groups: &'a [Group],
    model: Model,
    threads: usize,
    /// The smallest rank that failed definitely (`usize::MAX`: none yet).
    best_fail: AtomicUsize,
}

impl Runner<'_> {
    /// Checks the keys of rank `ranks` (ascending) on `self.threads` threads, each until the
    /// deadline `slice(rank, now)` gives it; writes their results.
    fn run<F>(&self, ranks: &[usize], results: &mut [Option<Result<bool, Stop>>], slice: F)
    where
        F: Fn(usize, Instant) -> Option<Instant> + Sync,
    {
        let next = AtomicUsize::new(0);
        let worker = || {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&rank) = ranks.get(i) else { break };
                if self.best_fail.load(Ordering::Relaxed) < rank {
                    // A smaller key already failed: this one cannot be the answer.
                    continue;
                }
                let g = self.groups[rank];
                let limits = Limits {
                    deadline: slice(rank, Instant::now()),
                    cancel: Some((&self.best_fail, rank)),
                    max_memo_bytes: MAX_MEMO_BYTES,
                };
                let result = search::check_ops(&self.sorted[g.start..g.end], self.model, &limits);
                if result == Ok(false) {
                    self.best_fail.fetch_min(rank, Ordering::Relaxed);
                }
                out.push((rank, result));
            }
            out
        };
        let outputs: Vec<Vec<(usize, Result<bool, Stop>)>> = if self.threads <= 1 {
            vec![worker()]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..self.threads).map(|_| s.spawn(worker)).collect();
                // A worker that panicked (a bug) loses its keys' results: they are reported as
                // undecided, never as checked.
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_default())
                    .collect()
            })
        };
        for (rank, result) in outputs.into_iter().flatten() {
            results[rank] = Some(result);
        }
    }
}

fn verdict(sorted: &[Op], groups: &[Group], results: &[Option<Result<bool, Stop>>]) -> Verdict {
    if let Some(rank) = results.iter().position(|r| *r == Some(Ok(false))) {
        let g = groups[rank];
        return Verdict::NotLinearizable {
            key: g.key,
            ops: sorted[g.start..g.end].to_vec(),
        };
    }
    let undecided: Vec<usize> = (0..groups.len())
        .filter(|&r| !matches!(results[r], Some(Ok(true))))
        .collect();
    let Some(&first) = undecided.first() else {
        return Verdict::Linearizable;
    };
    let mut reason = match &results[first] {
        Some(Err(stop)) => stop.to_string(),
        _ => "not checked before the deadline".to_string(),
    };
    if undecided.len() > 1 {
        reason.push_str(&format!(" ({} keys undecided)", undecided.len()));
    }
    Verdict::Unknown {
        key: groups[first].key,
        reason,
    }
}

#[cfg(test)]
mod tests;
