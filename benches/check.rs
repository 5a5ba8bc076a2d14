//! Model-checking throughput of Synod's Paxos actor model, through the same front end as
//! `synod check` (the `Checked` wrapper, sticky discoveries, reports), so a regression anywhere on
//! that path shows here. Each run asserts its pinned unique-state count, so a faster run that
//! explores less cannot pass unnoticed.
//!
//! Run with `cargo bench --bench check`. Criterion prints time per full check; throughput is in
//! unique states per second (`Throughput::Elements`). The side-by-side comparison with stateright's
//! own `examples/paxos.rs` is in README.md ("Performance").

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use mimalloc::MiMalloc;
use std::time::Duration;
use synod::check::{self, CheckOptions, Header, Strategy};
use synod_models::paxos::{self, PaxosConfig, Script};

/// The same allocator as the `synod` binary.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn check_paxos(cfg: &PaxosConfig, threads: usize) -> usize {
    let opts = CheckOptions {
        strategy: Strategy::Bfs,
        threads,
        ..CheckOptions::default()
    };
    let report = check::run(&|| paxos::model(cfg.clone()), &opts, Header::default());
    assert!(report.complete && report.exit_code() == 0);
    report.unique_states
}

fn paxos(c: &mut Criterion) {
    let mut group = c.benchmark_group("paxos");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1));

    // The default check: 3 servers, 2 clients writing then reading.
    let default = PaxosConfig::default();
    let unique = check_paxos(&default, 2);
    group.throughput(Throughput::Elements(unique as u64));
    group.measurement_time(Duration::from_secs(15));
    for threads in [1, 2] {
        group.bench_function(format!("default_bfs_{threads}_threads"), |b| {
            b.iter(|| assert_eq!(check_paxos(&default, threads), unique))
        });
    }

    // The 3-server, 3-client configuration (clients write once), compared with stateright's
    // `examples/paxos.rs check 3`.
    let three = PaxosConfig {
        clients: 3,
        script: Script::Write,
        ..PaxosConfig::default()
    };
    let unique = check_paxos(&three, 2);
    group.throughput(Throughput::Elements(unique as u64));
    group.measurement_time(Duration::from_secs(60));
    group.bench_function("three_clients_bfs_2_threads", |b| {
        b.iter(|| assert_eq!(check_paxos(&three, 2), unique))
    });
    group.finish();
}

criterion_group!(benches, paxos);
criterion_main!(benches);
