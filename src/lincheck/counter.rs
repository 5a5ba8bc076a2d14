//! The check of a grow-only counter's history: Maelstrom's `g-counter` workload, where clients
//! `add` deltas to one counter and `read` its total.
//!
//! A gossiped counter is not linearizable, and is not meant to be: a replica answers a read from
//! what it has heard so far, so a read may miss adds that were acknowledged long before it began.
//! What it may never do is show more than anyone had added. So there are two rules, as in
//! Maelstrom's g-counter checker:
//!
//! - **During the run, an upper bound** ([`check_reads`]). A read that returned `v` is *in
//!   bounds* when `v` is at most the sum of the deltas of every add invoked before the read
//!   completed, acknowledged (`add_ok`, recorded as `Outcome::WriteOk`) or indeterminate (no
//!   reply: it may have been applied). A counter cannot show adds nobody had sent yet. There is
//!   no lower bound while the run lasts (`v >= 0` holds trivially): gossip is eventually
//!   consistent, and a read may lag. An add invoked at the very nanosecond a read completed is
//!   concurrent with it, so it counts towards the bound, as in the linearizability checker's
//!   precedence rule.
//! - **After the run, convergence** ([`CounterCheck::bounds`]). Once every replica has every add (the
//!   run is over and gossip has settled), a read must land in `[low, high]`: `low` is the sum of
//!   the acknowledged adds (each was applied), `high` that plus the indeterminate adds (each may
//!   have been). Taking those final reads is the caller's business; this module gives the bounds.
//!
//! Only reads answered `read_ok` are judged; a read with no reply says nothing. Adds with any
//! other outcome are left out (a definite failure was not applied, and the recorder leaves those
//! out of the history anyway). Keys are not looked at: the workload has one counter. Sums
//! saturate at `u64::MAX` rather than wrap. The cost is O(n log n) for n operations: the adds are
//! sorted by invocation with prefix sums of their deltas, and each read's bound is a binary search.

use super::{Op, OpKind, Outcome};

/// What [`check_reads`] found about a counter history; see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterCheck {
    /// Adds acknowledged with `add_ok` (a count).
    pub adds_ok: u64,
    /// The sum of the acknowledged adds' deltas.
    pub sum_ok: u64,
    /// The sum of the indeterminate adds' deltas (no reply: they may or may not have been applied).
    pub sum_indeterminate: u64,
    /// Reads judged: those answered `read_ok`.
    pub reads: u64,
    /// Of `reads`, those that showed more than every add invoked before they completed.
    pub reads_out_of_bounds: u64,
    /// The out-of-bounds read that completed first (ties: the one invoked first), if any.
    pub first_bad: Option<Op>,
}

impl CounterCheck {
    /// Whether every judged read was in bounds.
    pub fn ok(&self) -> bool {
        self.reads_out_of_bounds == 0
    }

    /// `(low, high)`: the sum of the acknowledged adds, and that plus the indeterminate adds
    /// (the run's own, without the base). Once every replica has every add, a read must land
    /// in `base + low ..= base + high` (Maelstrom's g-counter rule).
    pub fn bounds(&self) -> (u64, u64) {
        (
            self.sum_ok,
            self.sum_ok.saturating_add(self.sum_indeterminate),
        )
    }
}

/// Whether an add may have taken effect: acknowledged, or no reply.
fn counts(op: &Op) -> bool {
    matches!(op.outcome, Outcome::WriteOk | Outcome::Indeterminate)
}

/// Checks every read of a counter history (operations in any order) against the upper bound of
/// the module documentation, for a counter that read `base` before the history began (0 for a
/// fresh one), and sums the adds.
pub fn check_reads(ops: &[Op], base: u64) -> CounterCheck {
    let mut out = CounterCheck::default();
    // (invoke_ns, delta) of every add that may have taken effect, by invocation.
    let mut adds: Vec<(u64, u64)> = Vec::new();
    for op in ops {
        let OpKind::Add(delta) = op.kind else {
            continue;
        };
        match op.outcome {
            Outcome::WriteOk => {
                out.adds_ok += 1;
                out.sum_ok = out.sum_ok.saturating_add(delta);
            }
            Outcome::Indeterminate => {
                out.sum_indeterminate = out.sum_indeterminate.saturating_add(delta);
            }
            _ => {}
        }
        if counts(op) {
            adds.push((op.invoke_ns, delta));
        }
    }
    adds.sort_unstable();
    // sent[i]: the sum of the deltas of adds[..i].
    let mut sent = Vec::with_capacity(adds.len() + 1);
    sent.push(0u64);
    for &(_, delta) in &adds {
        let last = *sent.last().expect("starts with 0");
        sent.push(last.saturating_add(delta));
    }
    debug_assert_eq!(
        sent.last().copied(),
        Some(out.sum_ok.saturating_add(out.sum_indeterminate))
    );

    for read in ops.iter().filter(|op| op.kind == OpKind::Read) {
        let Outcome::ReadOk(value) = read.outcome else {
            continue;
        };
        out.reads += 1;
        let invoked = adds.partition_point(|&(invoke_ns, _)| invoke_ns <= read.complete_ns);
        if value <= base.saturating_add(sent[invoked]) {
            continue;
        }
        out.reads_out_of_bounds += 1;
        let when = |o: &Op| (o.complete_ns, o.invoke_ns);
        if out
            .first_bad
            .as_ref()
            .is_none_or(|bad| when(read) < when(bad))
        {
            out.first_bad = Some(*read);
        }
    }
    debug_assert!(out.reads_out_of_bounds <= out.reads);
    debug_assert_eq!(out.first_bad.is_some(), out.reads_out_of_bounds > 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u32, kind: OpKind, invoke_ns: u64, complete_ns: u64, outcome: Outcome) -> Op {
        Op {
            client,
            key: 0,
            kind,
            invoke_ns,
            complete_ns,
            outcome,
        }
    }
    fn add(c: u32, delta: u64, i: u64, e: u64) -> Op {
        op(c, OpKind::Add(delta), i, e, Outcome::WriteOk)
    }
    fn lost_add(c: u32, delta: u64, i: u64) -> Op {
        op(c, OpKind::Add(delta), i, 0, Outcome::Indeterminate)
    }
    fn read(c: u32, v: u64, i: u64, e: u64) -> Op {
        op(c, OpKind::Read, i, e, Outcome::ReadOk(v))
    }

    #[test]
    fn an_empty_history_is_in_bounds() {
        assert_eq!(check_reads(&[], 0), CounterCheck::default());
        assert!(check_reads(&[], 0).ok());
        assert_eq!(check_reads(&[], 0).bounds(), (0, 0));
    }

    #[test]
    fn lagging_reads_are_fine_and_sums_count_both_kinds_of_add() {
        let h = [
            add(0, 3, 0, 10),
            add(1, 4, 5, 20),
            lost_add(2, 5, 30),
            // Gossip has not reached this replica: it still shows 0, long after both acks.
            read(3, 0, 100, 110),
            read(3, 7, 120, 130),
            // The lost add may have landed.
            read(4, 12, 140, 150),
            // A read with no reply, a refused add: neither is judged nor summed.
            op(4, OpKind::Read, 160, 0, Outcome::Indeterminate),
            op(1, OpKind::Add(100), 170, 180, Outcome::PreconditionFailed),
        ];
        let c = check_reads(&h, 0);
        assert_eq!(
            c,
            CounterCheck {
                adds_ok: 2,
                sum_ok: 7,
                sum_indeterminate: 5,
                reads: 3,
                reads_out_of_bounds: 0,
                first_bad: None,
            }
        );
        assert!(c.ok());
        assert_eq!(check_reads(&h, 0).bounds(), (7, 12));
    }

    #[test]
    fn a_read_of_adds_not_yet_sent_is_out_of_bounds() {
        let h = [
            add(0, 3, 0, 10),
            // 5 is more than the 3 sent before this read completed: the add of 2 starts later.
            read(1, 5, 20, 30),
            add(0, 2, 40, 50),
            read(1, 5, 60, 70),
            // Out of bounds again, and earlier than the first one only by invocation: the
            // earliest *completion* is reported.
            read(2, 9, 15, 35),
        ];
        let c = check_reads(&h, 0);
        assert_eq!(c.reads, 3);
        assert_eq!(c.reads_out_of_bounds, 2);
        assert_eq!(c.first_bad, Some(h[1]));
        assert!(!c.ok());
    }

    #[test]
    fn an_add_concurrent_with_a_read_counts_towards_its_bound() {
        // Invoked while the read ran (even after it was invoked, even at the nanosecond it
        // completed), not yet acknowledged: the read may have seen it.
        for invoke_ns in [25, 30] {
            let h = [read(1, 4, 20, 30), add(0, 4, invoke_ns, 90)];
            assert!(check_reads(&h, 0).ok(), "add invoked at {invoke_ns}");
        }
        let h = [read(1, 4, 20, 30), add(0, 4, 31, 90)];
        assert_eq!(check_reads(&h, 0).first_bad, Some(h[0]));
        // An indeterminate add counts the same way.
        let h = [lost_add(0, 4, 10), read(1, 4, 20, 30)];
        assert!(check_reads(&h, 0).ok());
        // Sums saturate rather than wrap.
        let h = [
            add(0, u64::MAX, 0, 1),
            add(1, 2, 0, 1),
            read(2, u64::MAX, 5, 6),
        ];
        assert!(check_reads(&h, 0).ok());
        assert_eq!(check_reads(&h, 0).bounds(), (u64::MAX, u64::MAX));
    }

    #[test]
    fn a_counter_that_held_adds_before_the_run_shifts_the_read_bound() {
        let h = [add(0, 3, 0, 10), read(1, 103, 20, 30)];
        assert!(check_reads(&h, 100).ok());
        assert!(
            !check_reads(&h, 0).ok(),
            "103 is above 3 sent in this run alone"
        );
        let h = [add(0, 3, 0, 10), read(1, 104, 20, 30)];
        assert_eq!(check_reads(&h, 100).reads_out_of_bounds, 1);
        assert_eq!(
            check_reads(&h, 100).bounds(),
            (3, 3),
            "bounds are the run's own"
        );
    }

    #[test]
    fn operations_may_come_in_any_order_and_keys_are_ignored() {
        let mut h = vec![
            read(2, 6, 50, 60),
            add(0, 1, 0, 10),
            op(3, OpKind::Add(5), 20, 30, Outcome::WriteOk),
            read(2, 7, 70, 80),
        ];
        h[2].key = 9;
        let c = check_reads(&h, 0);
        assert_eq!((c.reads, c.reads_out_of_bounds), (2, 1));
        assert_eq!(c.first_bad, Some(h[3]));
        h.reverse();
        assert_eq!(check_reads(&h, 0).first_bad, Some(h[0]));
    }
}
