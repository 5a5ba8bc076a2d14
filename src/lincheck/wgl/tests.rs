//! Tests of the checker: hand-made histories for both models, a randomized cross-check of the
//! search (and its reductions) against a brute-force enumeration of linearizations, and large
//! histories simulated from a linearizable register, then mutated into violations.

use super::spec;
use super::*;
use crate::lincheck::{OpKind, Value};
use std::collections::HashMap;

const KEY: Key = 7;
const BUDGET: Duration = Duration::from_secs(60);

fn op(client: u32, kind: OpKind, invoke_ns: u64, complete_ns: u64, outcome: Outcome) -> Op {
    Op {
        client,
        key: KEY,
        kind,
        invoke_ns,
        complete_ns,
        outcome,
    }
}
fn w(c: u32, v: Value, i: u64, e: u64) -> Op {
    op(c, OpKind::Write(v), i, e, Outcome::WriteOk)
}
fn r(c: u32, v: Value, i: u64, e: u64) -> Op {
    op(c, OpKind::Read, i, e, Outcome::ReadOk(v))
}
fn r_none(c: u32, i: u64, e: u64) -> Op {
    op(c, OpKind::Read, i, e, Outcome::NotFound)
}
fn cas(c: u32, from: Value, to: Value, i: u64, e: u64, outcome: Outcome) -> Op {
    op(c, OpKind::Cas { from, to }, i, e, outcome)
}
/// The same operation, timed out: no reply, completes at infinity.
fn timed_out(mut o: Op) -> Op {
    o.outcome = Outcome::Indeterminate;
    o.complete_ns = u64::MAX;
    o
}
fn lin(ops: &[Op], model: Model) -> bool {
    check_key(ops, model, None).expect("decided")
}
fn reg(ops: &[Op]) -> bool {
    lin(ops, Model::Register)
}
fn once(ops: &[Op]) -> bool {
    lin(ops, Model::WriteOnce)
}

#[test]
fn empty_and_trivial_histories() {
    assert!(reg(&[]));
    assert!(reg(&[r_none(0, 0, 1)]));
    assert!(reg(&[w(0, 1, 0, 1), r(0, 1, 2, 3)]));
    assert!(!reg(&[r(0, 1, 0, 1)]), "read of a value never written");
    let report = check(&[], Model::Register, BUDGET);
    assert_eq!(report.verdict, Verdict::Linearizable);
    assert_eq!((report.ops, report.keys, report.indeterminate), (0, 0, 0));
}

#[test]
fn stale_read_after_completed_write() {
    let h = [w(0, 1, 0, 10), w(0, 2, 20, 30), r(1, 1, 40, 50)];
    assert!(!reg(&h));
    // The same read, concurrent with the second write, may see either value.
    assert!(reg(&[w(0, 1, 0, 10), w(0, 2, 20, 30), r(1, 1, 25, 50)]));
    assert!(reg(&[w(0, 1, 0, 10), w(0, 2, 20, 30), r(1, 2, 25, 50)]));
}

#[test]
fn concurrent_write_and_read_both_orders() {
    // The read overlaps the write: old value (absent) or new one.
    assert!(reg(&[w(0, 1, 0, 10), r_none(1, 5, 15)]));
    assert!(reg(&[w(0, 1, 0, 10), r(1, 1, 5, 15)]));
    // Two reads inside one write, the later read seeing the old value after the earlier saw the
    // new one: not linearizable.
    assert!(!reg(&[w(0, 1, 0, 100), r(1, 1, 10, 20), r_none(2, 30, 40)]));
    assert!(reg(&[w(0, 1, 0, 100), r_none(1, 10, 20), r(2, 1, 30, 40)]));
    // Concurrent writes, observed in either order.
    let ws = [w(0, 1, 0, 10), w(1, 2, 0, 10)];
    assert!(reg(&[ws[0], ws[1], r(2, 1, 20, 30)]));
    assert!(reg(&[ws[0], ws[1], r(2, 2, 20, 30)]));
    assert!(!reg(&[ws[0], ws[1], r(2, 2, 20, 30), r(3, 1, 40, 50)]));
}

#[test]
fn precedence_is_strict() {
    // Invoked at the nanosecond the write completed: concurrent, so absent is allowed.
    assert!(reg(&[w(0, 1, 0, 10), r_none(1, 10, 20)]));
    // One nanosecond later: the write precedes it.
    assert!(!reg(&[w(0, 1, 0, 10), r_none(1, 11, 20)]));
}

#[test]
fn not_found_reads() {
    assert!(reg(&[
        r_none(0, 0, 1),
        r_none(1, 0, 5),
        w(0, 3, 2, 3),
        r(0, 3, 4, 6)
    ]));
    assert!(!reg(&[w(0, 3, 0, 1), r_none(1, 2, 3)]));
    // Once present a key never becomes absent again.
    assert!(!reg(&[w(0, 3, 0, 10), r(1, 3, 0, 20), r_none(2, 25, 30)]));
}

#[test]
fn indeterminate_write_observed_later() {
    // Timed out, then read much later: it took effect after its invocation.
    let h = [
        timed_out(w(0, 5, 0, 0)),
        r_none(1, 10, 20),
        w(1, 6, 30, 40),
        r(1, 6, 50, 60),
        r(2, 5, 70, 80),
        r(1, 5, 90, 100),
    ];
    assert!(reg(&h));
    // ... but not before its invocation.
    let h = [r(1, 5, 10, 20), timed_out(w(0, 5, 30, 30)), r(2, 5, 40, 50)];
    assert!(!reg(&h));
    // ... and only once: after the value is overwritten and the write observed, it cannot come
    // back.
    let h = [
        timed_out(w(0, 5, 0, 0)),
        r(2, 5, 10, 20),
        w(1, 6, 30, 40),
        r(2, 5, 50, 60),
    ];
    assert!(!reg(&h));
}

#[test]
fn indeterminate_write_never_observed() {
    let h = [
        w(0, 1, 0, 10),
        timed_out(w(1, 2, 5, 5)),
        r(0, 1, 20, 30),
        w(0, 3, 40, 50),
        r(2, 3, 60, 70),
    ];
    assert!(reg(&h));
    // Many unobserved timeouts: the search must not try their power set.
    let mut h = vec![w(0, 1, 0, 10)];
    for c in 0..200u32 {
        h.push(timed_out(w(
            c + 10,
            1000 + u64::from(c),
            5 + u64::from(c),
            0,
        )));
    }
    for i in 0..100u64 {
        h.push(r(1, 1, 300 + 10 * i, 305 + 10 * i));
    }
    h.push(r(2, 7, 5000, 5010)); // never written: not linearizable, found by the search too
    assert!(reg(&h[..h.len() - 1]));
    assert!(!reg(&h));
    // An indeterminate read is dropped whatever it "returned".
    assert!(reg(&[timed_out(r(0, 9, 0, 0)), w(0, 1, 5, 6)]));
}

#[test]
fn indeterminate_cas() {
    // Took effect: observed.
    let h = [
        w(0, 1, 0, 10),
        timed_out(cas(1, 1, 2, 20, 0, Outcome::CasOk)),
        r(0, 2, 30, 40),
    ];
    assert!(reg(&h));
    // Did not (or not yet).
    let h = [
        w(0, 1, 0, 10),
        timed_out(cas(1, 1, 2, 20, 0, Outcome::CasOk)),
        r(0, 1, 30, 40),
        r(0, 2, 50, 60),
    ];
    assert!(reg(&h));
    // Its precondition never held: cannot have produced 2.
    let h = [
        w(0, 3, 0, 10),
        timed_out(cas(1, 1, 2, 20, 0, Outcome::CasOk)),
        r(0, 2, 30, 40),
    ];
    assert!(!reg(&h));
    // A chain of two timed-out ops: write 1, then cas 1 -> 2, observed as 2.
    let h = [
        w(0, 0, 0, 5),
        timed_out(w(1, 1, 10, 0)),
        timed_out(cas(2, 1, 2, 10, 0, Outcome::CasOk)),
        r(0, 2, 30, 40),
    ];
    assert!(reg(&h));
    // A timed-out write makes a later cas fail its precondition (the only way it can).
    let h = [
        w(0, 1, 0, 5),
        timed_out(w(1, 9, 10, 0)),
        cas(0, 1, 2, 20, 30, Outcome::PreconditionFailed),
    ];
    assert!(reg(&h));
    assert!(!reg(&h[..1]
        .iter()
        .chain(&h[2..])
        .copied()
        .collect::<Vec<_>>()));
}

#[test]
fn cas_chains() {
    let ok = Outcome::CasOk;
    let pf = Outcome::PreconditionFailed;
    // Absent: cas fails with not found.
    assert!(reg(&[cas(0, 1, 2, 0, 10, Outcome::NotFound)]));
    assert!(!reg(&[cas(0, 1, 2, 0, 10, ok)]));
    assert!(!reg(&[cas(0, 1, 2, 0, 10, pf)]));
    // 1 -> 2 -> 3 in sequence.
    let chain = [
        w(0, 1, 0, 10),
        cas(1, 1, 2, 20, 30, ok),
        cas(2, 2, 3, 40, 50, ok),
        r(0, 3, 60, 70),
    ];
    assert!(reg(&chain));
    // Two concurrent cas from the same value: exactly one may win.
    let race = |o1, o2| {
        [
            w(0, 1, 0, 10),
            cas(1, 1, 2, 20, 30, o1),
            cas(2, 1, 3, 20, 30, o2),
        ]
    };
    assert!(reg(&race(ok, pf)));
    assert!(reg(&race(pf, ok)));
    assert!(!reg(&race(ok, ok)));
    assert!(!reg(&race(pf, pf)), "one of them saw 1");
    // A failed cas after the value moved on; a stale success is not linearizable.
    assert!(reg(&[
        w(0, 1, 0, 10),
        w(0, 2, 20, 30),
        cas(1, 1, 5, 40, 50, pf)
    ]));
    assert!(!reg(&[
        w(0, 1, 0, 10),
        w(0, 2, 20, 30),
        cas(1, 1, 5, 40, 50, ok)
    ]));
    // cas with from == to leaves the state as it is.
    assert!(reg(&[
        w(0, 1, 0, 10),
        cas(1, 1, 1, 20, 30, ok),
        r(0, 1, 40, 50)
    ]));
}

#[test]
fn write_once_two_writers() {
    let pf = Outcome::PreconditionFailed;
    // Concurrent writers: the first wins, the other is told the key holds another value.
    let h = [
        w(0, 1, 0, 10),
        op(1, OpKind::Write(2), 0, 10, pf),
        r(2, 1, 20, 30),
    ];
    assert!(once(&h));
    // Both told ok with different values: impossible.
    assert!(!once(&[w(0, 1, 0, 10), w(1, 2, 0, 10)]));
    // Writing the same value again succeeds.
    assert!(once(&[w(0, 1, 0, 10), w(1, 1, 20, 30), r(2, 1, 40, 50)]));
    // The loser is read: the winner must then have failed.
    assert!(!once(&[
        w(0, 1, 0, 10),
        op(1, OpKind::Write(2), 0, 10, pf),
        r(2, 2, 20, 30)
    ]));
    // A precondition failure on an absent key.
    assert!(!once(&[op(1, OpKind::Write(2), 0, 10, pf)]));
    // Once written, forever: a second value is never read.
    assert!(!once(&[w(0, 1, 0, 10), r(1, 1, 20, 30), r(1, 2, 40, 50)]));
    // A timed-out write that won.
    let h = [
        timed_out(w(0, 1, 0, 0)),
        op(1, OpKind::Write(2), 5, 10, pf),
        r(2, 1, 20, 30),
    ];
    assert!(once(&h));
}

#[test]
fn malformed_histories_are_errors() {
    let h = [cas(0, 1, 2, 0, 10, Outcome::CasOk)];
    let err = check_key(&h, Model::WriteOnce, None).unwrap_err();
    assert!(err.contains("cas"), "{err}");
    let err = check_key(&[w(0, 1, 10, 5)], Model::Register, None).unwrap_err();
    assert!(err.contains("before its invocation"), "{err}");
    // An add is no register operation, in any model (a counter history is checked elsewhere).
    for model in [Model::Register, Model::WriteOnce, Model::Counter] {
        let h = [op(0, OpKind::Add(3), 0, 10, Outcome::WriteOk)];
        let err = check_key(&h, model, None).unwrap_err();
        assert!(err.contains("is an add"), "{err}");
    }
    // An outcome impossible for the operation: not linearizable (not an error).
    assert!(!reg(&[op(0, OpKind::Read, 0, 10, Outcome::WriteOk)]));
    assert!(!reg(&[op(0, OpKind::Write(1), 0, 10, Outcome::CasOk)]));
    assert!(!reg(&[op(
        0,
        OpKind::Write(1),
        0,
        10,
        Outcome::PreconditionFailed
    )]));
    // In a whole history a malformed key is undecided.
    let report = check(&h, Model::WriteOnce, BUDGET);
    assert!(
        matches!(report.verdict, Verdict::Unknown { key: KEY, ref reason } if reason.contains("malformed")),
        "{:?}",
        report.verdict
    );
}

fn on_key(key: Key, ops: &[Op]) -> Vec<Op> {
    ops.iter().map(|&o| Op { key, ..o }).collect()
}

#[test]
fn smallest_failing_key_is_reported() {
    let stale = [w(0, 1, 0, 10), w(0, 2, 20, 30), r(1, 1, 40, 50)];
    let mut big = stale.to_vec();
    big.extend([r(1, 2, 60, 70), r(2, 2, 80, 90)]);
    let fine = [w(0, 3, 0, 10), r(1, 3, 20, 30)];
    let mut history = Vec::new();
    history.extend(on_key(1, &big));
    history.extend(on_key(2, &fine));
    history.extend(on_key(3, &stale));
    history.extend(on_key(4, &stale));
    history.reverse(); // the report sorts by invocation
    let report = check(&history, Model::Register, BUDGET);
    let Verdict::NotLinearizable { key, ops } = report.verdict else {
        panic!("{:?}", report.verdict)
    };
    assert_eq!(key, 3, "smallest sub-history, then smallest key");
    assert_eq!(ops, on_key(3, &stale));
    assert_eq!((report.ops, report.keys, report.indeterminate), (13, 4, 0));
}

#[test]
fn budget_exhaustion_is_unknown_unless_something_failed() {
    let fine = [w(0, 3, 0, 10), r(1, 3, 20, 30)];
    let report = check(&fine, Model::Register, Duration::ZERO);
    assert!(
        matches!(report.verdict, Verdict::Unknown { key: KEY, .. }),
        "{:?}",
        report.verdict
    );
    assert!(check_key(&fine, Model::Register, Some(Instant::now())).is_err());
    // A definite failure (found before any search) wins over an undecided key.
    let mut history = on_key(1, &fine);
    history.extend(on_key(2, &[op(0, OpKind::Read, 0, 10, Outcome::WriteOk)]));
    let report = check(&history, Model::Register, Duration::ZERO);
    assert!(
        matches!(report.verdict, Verdict::NotLinearizable { key: 2, .. }),
        "{:?}",
        report.verdict
    );
}

// ---------------------------------------------------------------------------------------------
// Randomized cross-check against brute force.

/// SplitMix64: a small deterministic generator for tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Tries every order of the definite operations (and every placement of every subset of the
/// indeterminate ones) that respects real time. Exponential: for a handful of operations.
fn brute_force(ops: &[Op], model: Model) -> bool {
    fn go(ops: &[Op], model: Model, used: &mut Vec<bool>, state: spec::State) -> bool {
        let pending =
            |used: &[bool], i: usize| !used[i] && ops[i].outcome != Outcome::Indeterminate;
        if !(0..ops.len()).any(|i| pending(used, i)) {
            return true;
        }
        for i in 0..ops.len() {
            if used[i] {
                continue;
            }
            let blocked =
                (0..ops.len()).any(|p| pending(used, p) && ops[p].complete_ns < ops[i].invoke_ns);
            if blocked {
                continue;
            }
            let Some(next) = spec::step(model, state, ops[i].kind, ops[i].outcome) else {
                continue;
            };
            used[i] = true;
            if go(ops, model, used, next) {
                return true;
            }
            used[i] = false;
        }
        false
    }
    go(ops, model, &mut vec![false; ops.len()], None)
}

/// A small random history on one key: random intervals, tiny value domain (so values repeat),
/// outcomes from a random sequential run (mostly linearizable) or perturbed.
fn small_history(rng: &mut Rng, model: Model) -> Vec<Op> {
    let n = 1 + rng.below(7) as usize;
    let mut ops: Vec<Op> = Vec::new();
    for c in 0..n as u32 {
        let invoke = rng.below(12);
        let complete = invoke + rng.below(8);
        let kind = match (model, rng.below(3)) {
            (_, 0) => OpKind::Read,
            (Model::Register, 2) => OpKind::Cas {
                from: rng.below(3),
                to: rng.below(3),
            },
            _ => OpKind::Write(rng.below(3)),
        };
        ops.push(op(c, kind, invoke, complete, Outcome::WriteOk));
    }
    // Outcomes from a sequential run in the order of random points inside the intervals.
    let mut points: Vec<(u64, usize)> = ops
        .iter()
        .enumerate()
        .map(|(i, o)| {
            (
                o.invoke_ns * 2 + rng.below(2 * (o.complete_ns - o.invoke_ns) + 1),
                i,
            )
        })
        .collect();
    points.sort_unstable();
    let mut state: spec::State = None;
    for (_, i) in points {
        let o = &mut ops[i];
        o.outcome = match (o.kind, state) {
            (OpKind::Read, Some(v)) => Outcome::ReadOk(v),
            (OpKind::Read, None) => Outcome::NotFound,
            (OpKind::Write(v), s) if model == Model::WriteOnce && s.is_some_and(|x| x != v) => {
                Outcome::PreconditionFailed
            }
            (OpKind::Write(_), _) => Outcome::WriteOk,
            (OpKind::Cas { from, .. }, Some(x)) if x == from => Outcome::CasOk,
            (OpKind::Cas { .. }, Some(_)) => Outcome::PreconditionFailed,
            (OpKind::Cas { .. }, None) => Outcome::NotFound,
            (OpKind::Add(_), _) => unreachable!("register histories have no add"),
        };
        state = spec::effect(model, state, o.kind);
    }
    for o in &mut ops {
        if rng.chance(0.2) {
            o.outcome = Outcome::Indeterminate;
        } else if rng.chance(0.15) {
            o.outcome = match rng.below(5) {
                0 => Outcome::ReadOk(rng.below(3)),
                1 => Outcome::NotFound,
                2 => Outcome::WriteOk,
                3 => Outcome::CasOk,
                _ => Outcome::PreconditionFailed,
            };
        }
    }
    ops
}

#[test]
fn agrees_with_brute_force() {
    for model in [Model::Register, Model::WriteOnce] {
        let mut rng = Rng(u64::from(model == Model::Register) + 17);
        let (mut yes, mut no) = (0, 0);
        for round in 0..20_000 {
            let h = small_history(&mut rng, model);
            let expected = brute_force(&h, model);
            assert_eq!(lin(&h, model), expected, "round {round} {model:?}: {h:#?}");
            if expected {
                yes += 1;
            } else {
                no += 1;
            }
        }
        assert!(yes > 2_000 && no > 2_000, "{model:?}: {yes} / {no}");
    }
}

// ---------------------------------------------------------------------------------------------
// Large simulated histories.

/// Simulates `clients` closed-loop clients of a linearizable store of `keys` keys for
/// `duration_ns`: each operation takes effect at a random point inside its interval; written
/// values are unique; a fraction `timeout` of the operations get no reply (half of those take
/// effect anyway, possibly after the client gave up).
fn simulate(
    model: Model,
    clients: u32,
    keys: u64,
    duration_ns: u64,
    timeout: f64,
    seed: u64,
) -> Vec<Op> {
    const GIVE_UP_NS: u64 = 5_000_000;
    let mut rng = Rng(seed);
    let mut ops = Vec::new();
    let mut points = Vec::new();
    let mut next_value: Value = 1;
    for client in 0..clients {
        let mut t = rng.below(100_000);
        while t < duration_ns {
            let invoke = t + rng.below(50_000);
            let latency = 50_000 + rng.below(400_000) + rng.below(8) / 7 * rng.below(2_000_000);
            let key = rng.below(keys);
            let kind = match rng.below(10) {
                0..=4 => OpKind::Read,
                5..=7 => OpKind::Write(0),
                _ if model == Model::Register => OpKind::Cas { from: 0, to: 0 },
                _ => OpKind::Write(0),
            };
            let kind = match kind {
                OpKind::Write(_) => OpKind::Write(next_value),
                OpKind::Cas { .. } => OpKind::Cas {
                    from: 0,
                    to: next_value,
                },
                k => k,
            };
            next_value += 1;
            let timed_out = rng.chance(timeout);
            let (complete, point) = if timed_out {
                let point = (!rng.chance(0.5)).then(|| invoke + rng.below(2 * GIVE_UP_NS));
                (invoke + GIVE_UP_NS, point)
            } else {
                (invoke + latency, Some(invoke + rng.below(latency + 1)))
            };
            let outcome = if timed_out {
                Outcome::Indeterminate
            } else {
                Outcome::WriteOk
            };
            if let Some(p) = point {
                points.push((p, ops.len()));
            }
            ops.push(Op {
                client,
                key,
                kind,
                invoke_ns: invoke,
                complete_ns: complete,
                outcome,
            });
            t = complete;
        }
    }
    points.sort_unstable();
    let mut state: HashMap<Key, Value> = HashMap::new();
    for (_, i) in points {
        let o = &mut ops[i];
        let current = state.get(&o.key).copied();
        if let OpKind::Cas { to, .. } = o.kind {
            // Half the cas ops are issued with the current value (and succeed).
            let from = match current {
                Some(x) if rng.chance(0.5) => x,
                Some(x) => x + 1_000_000_000,
                None => 0,
            };
            o.kind = OpKind::Cas { from, to };
        }
        let outcome = match (o.kind, current) {
            (OpKind::Read, Some(v)) => Outcome::ReadOk(v),
            (OpKind::Read, None) => Outcome::NotFound,
            (OpKind::Write(v), Some(x)) if model == Model::WriteOnce && x != v => {
                Outcome::PreconditionFailed
            }
            (OpKind::Write(_), _) => Outcome::WriteOk,
            (OpKind::Cas { from, .. }, Some(x)) if x == from => Outcome::CasOk,
            (OpKind::Cas { .. }, Some(_)) => Outcome::PreconditionFailed,
            (OpKind::Cas { .. }, None) => Outcome::NotFound,
            (OpKind::Add(_), _) => unreachable!("register histories have no add"),
        };
        if let Some(s) = spec::effect(model, current, o.kind) {
            state.insert(o.key, s);
        }
        if o.outcome != Outcome::Indeterminate {
            o.outcome = outcome;
        }
    }
    ops
}

/// A definite read that a stale value would make non-linearizable: on `key`, a definite write
/// `w1` strictly before a definite write `w2` strictly before the read; returns (read index,
/// w1's value). Values are unique, so nothing else can bring w1's value back.
fn stale_read_site(ops: &[Op], key: Key) -> Option<(usize, Value)> {
    let on_key: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].key == key && ops[i].outcome != Outcome::Indeterminate)
        .collect();
    let is_write = |i: usize| matches!(ops[i].kind, OpKind::Write(_));
    let w1 = *on_key.iter().find(|&&i| is_write(i))?;
    let w2 = *on_key
        .iter()
        .find(|&&i| is_write(i) && ops[i].invoke_ns > ops[w1].complete_ns)?;
    let read = *on_key.iter().rev().find(|&&i| {
        ops[i].kind == OpKind::Read
            && ops[i].invoke_ns > ops[w2].complete_ns
            && matches!(ops[i].outcome, Outcome::ReadOk(_))
    })?;
    let OpKind::Write(v) = ops[w1].kind else {
        return None;
    };
    Some((read, v))
}

#[test]
fn large_register_history_and_mutations() {
    // 64 clients on 20 keys for 1 s (about 70k operations), 1% timeouts.
    let h = simulate(Model::Register, 64, 20, 1_000_000_000, 0.01, 1);
    assert!(h.len() > 50_000, "{}", h.len());
    let report = check(&h, Model::Register, BUDGET);
    assert_eq!(report.verdict, Verdict::Linearizable, "{report:?}");
    assert_eq!(report.ops, h.len());
    assert_eq!(report.keys, 20);
    assert!(report.indeterminate > 100, "{report:?}");

    // A read of a value never written.
    let mut bad = h.clone();
    let i = bad
        .iter()
        .position(|o| o.key == 3 && matches!(o.outcome, Outcome::ReadOk(_)))
        .unwrap();
    bad[i].outcome = Outcome::ReadOk(u64::MAX);
    let report = check(&bad, Model::Register, BUDGET);
    assert!(
        matches!(report.verdict, Verdict::NotLinearizable { key: 3, ref ops } if ops.contains(&bad[i])),
        "{:?}",
        report.verdict
    );

    // A stale read late in the history: the search itself must exhaust every alternative.
    let mut bad = h.clone();
    let (i, v) = stale_read_site(&bad, 5).unwrap();
    bad[i].outcome = Outcome::ReadOk(v);
    let sub: Vec<Op> = bad.iter().filter(|o| o.key == 5).copied().collect();
    assert_eq!(check_key(&sub, Model::Register, None), Ok(false));
    let report = check(&bad, Model::Register, BUDGET);
    assert!(
        matches!(report.verdict, Verdict::NotLinearizable { key: 5, .. }),
        "{:?}",
        report.verdict
    );
}

#[test]
fn large_write_once_history() {
    let h = simulate(Model::WriteOnce, 64, 50, 500_000_000, 0.01, 2);
    let report = check(&h, Model::WriteOnce, BUDGET);
    assert_eq!(report.verdict, Verdict::Linearizable, "{report:?}");
    // A loser read as the winner.
    let mut bad = h.clone();
    let i = bad
        .iter()
        .position(|o| o.outcome == Outcome::PreconditionFailed)
        .unwrap();
    let OpKind::Write(v) = bad[i].kind else {
        unreachable!()
    };
    let key = bad[i].key;
    let read = bad
        .iter()
        .rposition(|o| o.key == key && matches!(o.outcome, Outcome::ReadOk(_)))
        .unwrap();
    bad[read].outcome = Outcome::ReadOk(v);
    let sub: Vec<Op> = bad.iter().filter(|o| o.key == key).copied().collect();
    assert_eq!(check_key(&sub, Model::WriteOnce, None), Ok(false));
}

#[test]
fn one_hot_key_with_16_clients() {
    // Everything on one key: the concurrency the search faces is 16, not 16 / keys.
    let h = simulate(Model::Register, 16, 1, 200_000_000, 0.005, 3);
    assert!(h.len() > 5_000, "{}", h.len());
    assert_eq!(check_key(&h, Model::Register, None), Ok(true));
    let mut bad = h.clone();
    let (i, v) = stale_read_site(&bad, 0).unwrap();
    bad[i].outcome = Outcome::ReadOk(v);
    assert_eq!(check_key(&bad, Model::Register, None), Ok(false));
}

#[test]
fn a_key_too_hard_for_the_budget_is_unknown_in_time() {
    // 48 clients writing one key: beyond what the search decides in a second (see the module
    // doc of `search`), so the verdict is Unknown, and it comes when the budget says.
    let h = simulate(Model::Register, 48, 1, 200_000_000, 0.005, 3);
    let budget = Duration::from_millis(500);
    let report = check(&h, Model::Register, budget);
    assert!(
        matches!(report.verdict, Verdict::Unknown { key: 0, ref reason } if reason.contains("budget")),
        "{:?}",
        report.verdict
    );
    assert!(report.seconds < 2.0, "{}", report.seconds);
}
