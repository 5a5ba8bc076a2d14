//! Linearizability-checker throughput on the history the issue sets as the target: a 10-second
//! run of 64 closed-loop clients over 100 keys of a register store, 477,917 operations
//! (half reads, 30% writes of unique values, 20% cas), 1% of them timed out (half of those took
//! effect anyway, some after the client gave up). The history is simulated from a linearizable
//! register (each operation takes effect at a random point inside its interval), so the verdict
//! is known; a second bench plants one stale read late in one key, so the search must exhaust
//! that key's alternatives before it can say no.
//!
//! Run with `cargo bench --bench lincheck`. The target: well under 10 s on two cores.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use mimalloc::MiMalloc;
use std::collections::HashMap;
use std::time::Duration;
use synod::lincheck::{self, Key, Model, Op, OpKind, Outcome, Value, Verdict};

/// The same allocator as the `synod` binary.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

const CLIENTS: u32 = 64;
const KEYS: u64 = 100;
const DURATION_NS: u64 = 10_000_000_000;
const TIMEOUT_FRACTION: f64 = 0.01;
/// How long a client waits for a reply before it gives up on an operation.
const GIVE_UP_NS: u64 = 20_000_000;

/// SplitMix64.
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

/// Closed-loop clients of a linearizable register store (see the module doc).
fn simulate(seed: u64) -> Vec<Op> {
    let mut rng = Rng(seed);
    let mut ops = Vec::new();
    let mut points = Vec::new();
    let mut next_value: Value = 1;
    for client in 0..CLIENTS {
        let mut t = rng.below(100_000);
        while t < DURATION_NS {
            let invoke = t + rng.below(50_000);
            // 0.3 to 1.7 ms, and one in eight up to 2 ms slower.
            let latency = 300_000 + rng.below(1_400_000) + rng.below(8) / 7 * rng.below(2_000_000);
            let key = rng.below(KEYS);
            let kind = match rng.below(10) {
                0..=4 => OpKind::Read,
                5..=7 => OpKind::Write(next_value),
                _ => OpKind::Cas {
                    from: 0,
                    to: next_value,
                },
            };
            next_value += 1;
            let timed_out = rng.chance(TIMEOUT_FRACTION);
            let (complete, point) = if timed_out {
                let point = (!rng.chance(0.5)).then(|| invoke + rng.below(2 * GIVE_UP_NS));
                (invoke + GIVE_UP_NS, point)
            } else {
                (invoke + latency, Some(invoke + rng.below(latency + 1)))
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
                outcome: if timed_out {
                    Outcome::Indeterminate
                } else {
                    Outcome::WriteOk
                },
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
            // Half the cas ops carry the current value, and succeed.
            let from = match current {
                Some(x) if rng.chance(0.5) => x,
                Some(x) => x + 1_000_000_000,
                None => 0,
            };
            o.kind = OpKind::Cas { from, to };
        }
        let (outcome, next) = match (o.kind, current) {
            (OpKind::Read, Some(v)) => (Outcome::ReadOk(v), current),
            (OpKind::Read, None) => (Outcome::NotFound, None),
            (OpKind::Write(v), _) => (Outcome::WriteOk, Some(v)),
            (OpKind::Cas { from, to }, Some(x)) if x == from => (Outcome::CasOk, Some(to)),
            (OpKind::Cas { .. }, Some(_)) => (Outcome::PreconditionFailed, current),
            (OpKind::Cas { .. }, None) => (Outcome::NotFound, None),
            (OpKind::Add(_), _) => unreachable!("a register history has no add"),
        };
        if let Some(v) = next {
            state.insert(o.key, v);
        }
        if o.outcome != Outcome::Indeterminate {
            o.outcome = outcome;
        }
    }
    ops
}

/// Plants a stale read late in `key`'s sub-history: the last definite read after a write `w2`
/// that strictly follows a write `w1` returns `w1`'s value (unique, so nothing restores it).
fn plant_stale_read(ops: &mut [Op], key: Key) {
    let on_key: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].key == key && ops[i].outcome != Outcome::Indeterminate)
        .collect();
    let is_write = |i: usize| matches!(ops[i].kind, OpKind::Write(_));
    let w1 = *on_key.iter().find(|&&i| is_write(i)).expect("a write");
    let w2 = *on_key
        .iter()
        .find(|&&i| is_write(i) && ops[i].invoke_ns > ops[w1].complete_ns)
        .expect("a later write");
    let read = *on_key
        .iter()
        .rev()
        .find(|&&i| {
            ops[i].kind == OpKind::Read
                && ops[i].invoke_ns > ops[w2].complete_ns
                && matches!(ops[i].outcome, Outcome::ReadOk(_))
        })
        .expect("a later read");
    let OpKind::Write(v) = ops[w1].kind else {
        unreachable!()
    };
    ops[read].outcome = Outcome::ReadOk(v);
}

fn lincheck(c: &mut Criterion) {
    let history = simulate(1);
    let report = lincheck::check(&history, Model::Register, Duration::from_secs(600));
    assert_eq!(report.verdict, Verdict::Linearizable, "{report:?}");
    eprintln!(
        "history: {} ops, {} indeterminate, {} keys; first check {:.3} s",
        report.ops, report.indeterminate, report.keys, report.seconds
    );
    let mut stale = history.clone();
    plant_stale_read(&mut stale, 42);
    let report = lincheck::check(&stale, Model::Register, Duration::from_secs(600));
    assert!(
        matches!(report.verdict, Verdict::NotLinearizable { key: 42, .. }),
        "{report:?}"
    );

    let mut group = c.benchmark_group("lincheck");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(history.len() as u64))
        .measurement_time(Duration::from_secs(20));
    group.bench_function("register_10s_64_clients_100_keys", |b| {
        b.iter(|| {
            let report = lincheck::check(&history, Model::Register, Duration::from_secs(600));
            assert_eq!(report.verdict, Verdict::Linearizable);
        })
    });
    group.bench_function("register_10s_64_clients_100_keys_one_stale_read", |b| {
        b.iter(|| {
            let report = lincheck::check(&stale, Model::Register, Duration::from_secs(600));
            assert!(matches!(report.verdict, Verdict::NotLinearizable { .. }));
        })
    });
    group.finish();
}

criterion_group!(benches, lincheck);
criterion_main!(benches);
