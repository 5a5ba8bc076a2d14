//! Exhaustive model-checking throughput of the TLA+ mirrors in `synod-specs`: stateright's BFS
//! checker on the specs' own models, to completion, asserting the pinned state counts so that a
//! faster run that explores less cannot pass unnoticed.
//!
//! Run with `cargo bench --bench specs`. The machine this was tuned on has 2 cores, hence
//! 2 checker threads.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use stateright::{Checker, Model};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;
use synod_specs::{Paxos, PaxosConfig, TwoPhase, TwoPhaseConfig, Voting, VotingConfig};

/// Checks `model` exhaustively with BFS and returns the number of unique states.
fn check<M>(model: M, threads: usize) -> usize
where
    M: Model + Send + Sync + 'static,
    M::State: Hash + Send + Sync + Clone + PartialEq + Debug + 'static,
    M::Action: Clone + PartialEq + Debug,
{
    let checker = model.checker().threads(threads).spawn_bfs().join();
    assert!(checker.is_done());
    checker.unique_state_count()
}

fn two_phase(rms: usize, symmetric: bool) -> TwoPhase {
    TwoPhase::new(TwoPhaseConfig {
        rms,
        symmetric,
        bug: None,
    })
    .expect("valid configuration")
}

/// Runs of about a second each: flat sampling, ten samples.
fn slow(c: &mut Criterion) {
    let mut group = c.benchmark_group("specs");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(12));

    // TwoPhase.tla, 7 RMs: 4^7 + 2^7 + 6^7 = 296,448 distinct states.
    group.bench_function("two_phase_7_rms_bfs_2_threads", |b| {
        b.iter(|| assert_eq!(check(two_phase(7, false), 2), 296_448))
    });

    // Paxos.tla with MCPaxosSmall.cfg (3 acceptors, 2 values, MaxBallot = 2): 185,369 states.
    group.bench_function("paxos_small_bfs_2_threads", |b| {
        b.iter(|| {
            let model = Paxos::new(PaxosConfig {
                max_ballot: 2,
                ..Default::default()
            })
            .expect("valid configuration");
            assert_eq!(check(model, 2), 185_369)
        })
    });
    group.finish();
}

/// Runs of milliseconds: criterion's default sampling, ten samples.
fn fast(c: &mut Criterion) {
    let mut group = c.benchmark_group("specs");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    // TwoPhase.tla, 10 RMs with exact symmetry: 61,515,776 states in 3,300 orbits.
    group.bench_function("two_phase_10_rms_symmetric_bfs_2_threads", |b| {
        b.iter(|| assert_eq!(check(two_phase(10, true), 2), 3_300))
    });

    // Paxos.tla with MCPaxosTiny.cfg: 3,921 states (TLC's count).
    group.bench_function("paxos_tiny_bfs_1_thread", |b| {
        b.iter(|| {
            let model = Paxos::new(PaxosConfig::default()).expect("valid configuration");
            assert_eq!(check(model, 1), 3_921)
        })
    });

    // Voting.tla with MCVoting.tla: 6,752 states (TLC's count).
    group.bench_function("voting_mc_bfs_1_thread", |b| {
        b.iter(|| {
            let model = Voting::new(VotingConfig::default()).expect("valid configuration");
            assert_eq!(check(model, 1), 6_752)
        })
    });
    group.finish();
}

criterion_group!(benches, slow, fast);
criterion_main!(benches);
