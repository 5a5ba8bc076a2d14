//! The Paxos check matrix, run through the same front end as `synod check` (`check::run`, the
//! function the catalog's `check` calls): pinned state counts, client symmetry (including an
//! independent orbit count), every deliberately broken variant found with a trace that replays on
//! the model, crashes, every network kind, and first-found shortest traces.
//!
//! Pinned counts are exact on purpose: any change to the model's state space (a new field in a
//! state, a message sent in a different order, a changed network or crash rule) shows up here.
//! When a change is intended, re-measure and update the pin in the same commit, saying why.
//!
//! Reports are memoised per (configuration, strategy, threads) within this test binary, so a
//! configuration that serves as a pinned count in one test and as a bug-free baseline in another
//! is explored once.

use stateright::actor::ActorModelAction;
use stateright::Model;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use synod::catalog::{self, RawSettings};
use synod::check::trace::Trace;
use synod::check::{self, CheckOptions, Header, Report, Strategy, Verdict};
use synod_models::checked::permute_system;
use synod_models::kv::{ClientPerm, KvMsg, KvState};
use synod_models::paxos::{model, PaxosBug, PaxosConfig, PaxosModel, PaxosMsg, PaxosState, Script};
use synod_models::protocol::Need;
use synod_models::NetworkKind;

mod common;
use common::{assert_counts, opts, permutations, reachable, verdict, verdicts};

type State = <PaxosModel as Model>::State;

const PROPERTIES: [&str; 4] = ["agreement", "validity", "linearizable", "value chosen"];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Runs `check::run` on a configuration (memoised: see the module docs).
fn check(cfg: &PaxosConfig, strategy: Strategy, threads: usize) -> Arc<Report> {
    common::memo_check(cfg, strategy, threads, model)
}

fn bfs(cfg: &PaxosConfig) -> Arc<Report> {
    check(cfg, Strategy::Bfs, 1)
}

/// The correct protocol passes: every safety property holds, "value chosen" is reached, the
/// search is complete and `synod check` would exit 0.
#[track_caller]
fn assert_passes(r: &Report, what: &str) {
    let names: Vec<&str> = r.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, PROPERTIES, "{what}: the model's properties");
    for name in ["agreement", "validity", "linearizable"] {
        assert_eq!(verdict(r, name), Verdict::Holds, "{what}: {name}");
        assert!(
            r.property(name).unwrap().trace.is_none(),
            "{what}: {name} has no trace"
        );
    }
    assert_eq!(verdict(r, "value chosen"), Verdict::Reached, "{what}");
    let example = r.property("value chosen").unwrap().trace.as_ref();
    assert!(
        example.is_some_and(|t| !t.steps.is_empty()),
        "{what}: \"value chosen\" has an example trace"
    );
    assert!(r.complete, "{what}: the search is complete");
    assert_eq!(r.exit_code(), 0, "{what}: exit code");
}

/// The values servers have announced as decided (with `Decided`) in a state: the history's
/// auxiliary record, which `agreement` and `validity` also read.
fn decided_in(state: &State) -> BTreeSet<u64> {
    state.history.announced.iter().map(|&(_, v)| v).collect()
}

fn property_holds(m: &PaxosModel, name: &str, state: &State) -> bool {
    let p = m
        .properties()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("the model has no property {name:?}"));
    (p.condition)(m, state)
}

/// Replays a trace on the unreduced model: every step must be a step the model can take (same
/// kind, actors, message and resulting actor state), starting from the initial state the trace
/// shows. Returns, per step, every state the trace can denote there (usually exactly one).
fn replay(cfg: &PaxosConfig, trace: &Trace) -> Vec<Vec<State>> {
    let m = model(PaxosConfig {
        symmetry: false,
        ..cfg.clone()
    });
    common::replay_on(&m, trace)
}

/// A checked counterexample: its trace, and the values announced as decided anywhere along it
/// (read from the replayed model states, not from the trace's text).
struct Counterexample {
    trace: Trace,
    decided: BTreeSet<u64>,
}

/// Checks a counterexample to `property`: present, non-empty, replays on the model, ends in a
/// state that violates the property, and (when marked shortest) passes through no earlier state
/// that violates it.
#[track_caller]
fn assert_counterexample(cfg: &PaxosConfig, r: &Report, property: &str) -> Counterexample {
    let p = r.property(property).expect("the property is reported");
    assert_eq!(p.verdict, Verdict::Violated, "{property}");
    let trace = p.trace.clone().expect("a violated property has a trace");
    assert!(!trace.steps.is_empty(), "the counterexample has steps");
    let last = trace.steps.last().unwrap();
    assert!(
        !last.state.is_empty(),
        "the last step shows the state it led to: {last:?}"
    );
    let m = model(PaxosConfig {
        symmetry: false,
        ..cfg.clone()
    });
    let states = replay(cfg, &trace);
    let (end, before) = states.split_last().unwrap();
    assert!(
        end.iter().any(|s| !property_holds(&m, property, s)),
        "the trace ends in a state that violates {property}\n{}",
        trace.to_text()
    );
    if trace.shortest {
        for (depth, candidates) in before.iter().enumerate() {
            assert!(
                candidates.iter().all(|s| property_holds(&m, property, s)),
                "a shortest counterexample to {property} does not violate it already after step {depth}"
            );
        }
    }
    let decided = states.iter().flatten().flat_map(decided_in).collect();
    Counterexample { trace, decided }
}

/// The orbit key of a state under client permutations.
fn orbit_key(state: &State, servers: usize, perms: &[Vec<usize>]) -> u64 {
    common::orbit_key(state, perms, |s, map| {
        let p = ClientPerm {
            servers,
            map: map.to_vec(),
        };
        permute_system(s, &p)
    })
}

fn cfg(servers: usize, clients: usize, script: Script) -> PaxosConfig {
    PaxosConfig {
        servers,
        clients,
        script,
        ..PaxosConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Pinned counts
// ---------------------------------------------------------------------------------------------

/// Runs BFS on 1 and 2 threads and DFS, and checks that each passes with the pinned counts and
/// that their verdicts agree.
fn pinned(cfg: &PaxosConfig, unique: usize, generated: usize, what: &str) {
    let one = bfs(cfg);
    assert_passes(&one, what);
    assert_counts(&one, unique, generated, what);
    let two = check(cfg, Strategy::Bfs, 2);
    assert_passes(&two, what);
    assert_counts(
        &two,
        unique,
        generated,
        &format!("{what}, BFS on 2 threads"),
    );
    let dfs = check(cfg, Strategy::Dfs, 1);
    assert_passes(&dfs, what);
    assert_counts(&dfs, unique, generated, &format!("{what}, DFS"));
    assert_eq!(verdicts(&one), verdicts(&two), "{what}");
    assert_eq!(verdicts(&one), verdicts(&dfs), "{what}");
}

#[test]
fn pinned_default_configuration() {
    // The default configuration (`synod check paxos`): 3 servers, 2 clients each writing its value
    // and reading it back from the next server, no crashes, unordered non-duplicating network.
    // A change to the model shows up here.
    let default = PaxosConfig::default();
    assert_eq!(
        default,
        cfg(3, 2, Script::WriteRead),
        "the documented default configuration"
    );
    pinned(&default, 98_653, 159_680, "default configuration");
    assert_eq!(
        bfs(&default).max_depth,
        25,
        "default configuration: BFS depth"
    );

    // The catalog with no settings is the same configuration.
    let paxos = catalog::find("paxos").expect("paxos is in the catalog");
    let settings = paxos
        .settings(&RawSettings::default())
        .expect("the defaults are valid");
    let via_catalog = paxos.check(&settings, &CheckOptions::default());
    assert_passes(&via_catalog, "catalog defaults");
    assert_counts(&via_catalog, 98_653, 159_680, "catalog defaults");
    assert_eq!(via_catalog.protocol, "paxos");
}

#[test]
fn pinned_network_knobs() {
    // The two behaviours the UDP runtime turns on (and the checker leaves off by default), checked
    // here: a redelivered request restarts a stuck round (`retry_rounds`), and a server that
    // knows the outcome answers a laggard's Prepare/Accept with Decided (`tell_laggards`).
    // 2 servers, 2 clients that only write, unordered duplicating network (duplicates are the
    // checker's retries). Without either knob this configuration has 248 states (643 generated).
    let retries = PaxosConfig {
        network: NetworkKind::UnorderedDuplicating,
        retry_rounds: 2,
        ..cfg(2, 2, Script::Write)
    };
    pinned(&retries, 12_176, 31_631, "retry-rounds 2");
    let both = PaxosConfig {
        tell_laggards: true,
        ..retries
    };
    pinned(&both, 40_226, 331_783, "retry-rounds 2, tell-laggards");
}

#[test]
fn pinned_write_only_two_clients() {
    // 3 servers, 2 clients that only write (`--reads 0`), no crashes, unordered non-duplicating.
    // A change to the model shows up here.
    pinned(
        &cfg(3, 2, Script::Write),
        10_045,
        20_483,
        "3 servers, 2 clients, write only",
    );
}

#[test]
fn pinned_one_client() {
    // 3 servers, 1 client that writes and reads back, no crashes, unordered non-duplicating.
    // A change to the model shows up here.
    pinned(
        &cfg(3, 1, Script::WriteRead),
        693,
        1_151,
        "3 servers, 1 client, write then read",
    );
    // 3 servers, 1 client that only writes. A change to the model shows up here.
    pinned(
        &cfg(3, 1, Script::Write),
        149,
        278,
        "3 servers, 1 client, write only",
    );
}

#[test]
fn pinned_three_clients_write_only() {
    // 3 servers, 3 clients that only write, no crashes, unordered non-duplicating: the largest
    // pinned space (several seconds in release), so it is explored once, on 2 threads.
    // A change to the model shows up here.
    let c = cfg(3, 3, Script::Write);
    let r = check(&c, Strategy::Bfs, 2);
    assert_passes(&r, "3 servers, 3 clients, write only");
    assert_counts(&r, 834_569, 1_781_200, "3 servers, 3 clients, write only");
}

// ---------------------------------------------------------------------------------------------
// 2. Symmetry
// ---------------------------------------------------------------------------------------------

fn sym(c: &PaxosConfig) -> PaxosConfig {
    PaxosConfig {
        symmetry: true,
        ..c.clone()
    }
}

/// Configurations where clients share a first server (client i starts at server i mod servers),
/// so client symmetry has something to reduce, with their pinned (unreduced, reduced) counts.
fn symmetric_configurations() -> Vec<(&'static str, PaxosConfig, usize, usize)> {
    vec![
        // 2 servers, 3 clients, write only (clients 0 and 2 share server 0).
        (
            "2 servers, 3 clients, write",
            cfg(2, 3, Script::Write),
            457,
            247,
        ),
        // 2 servers, 3 clients, write then read.
        (
            "2 servers, 3 clients, write-read",
            cfg(2, 3, Script::WriteRead),
            8_276,
            4_158,
        ),
        // 1 server, 3 clients, write then read (all clients interchangeable).
        (
            "1 server, 3 clients, write-read",
            cfg(1, 3, Script::WriteRead),
            1_525,
            259,
        ),
        // 2 servers, 4 clients, write only.
        (
            "2 servers, 4 clients, write",
            cfg(2, 4, Script::Write),
            1_953,
            583,
        ),
        // 1 server, 4 clients, write then read.
        (
            "1 server, 4 clients, write-read",
            cfg(1, 4, Script::WriteRead),
            46_641,
            1_982,
        ),
        // 2 servers, 3 clients, write only, one server may crash.
        (
            "2 servers, 3 clients, write, crashes 1",
            PaxosConfig {
                crashes: 1,
                ..cfg(2, 3, Script::Write)
            },
            58_689,
            30_975,
        ),
        // 2 servers, 3 clients, write only, duplicating network.
        (
            "2 servers, 3 clients, write, unordered-duplicating",
            PaxosConfig {
                network: NetworkKind::UnorderedDuplicating,
                ..cfg(2, 3, Script::Write)
            },
            1_424,
            743,
        ),
        // 2 servers, 3 clients, write only, ordered network.
        (
            "2 servers, 3 clients, write, ordered",
            PaxosConfig {
                network: NetworkKind::Ordered,
                ..cfg(2, 3, Script::Write)
            },
            361,
            194,
        ),
    ]
}

#[test]
fn symmetry_reduces_and_preserves_verdicts() {
    // Pinned counts, unreduced and reduced: a change to the model or to the canonical form shows
    // up here.
    for (what, c, unreduced, reduced) in symmetric_configurations() {
        let full = bfs(&c);
        let small = bfs(&sym(&c));
        assert_passes(&full, what);
        assert_passes(&small, what);
        assert!(
            !full.symmetry && small.symmetry,
            "{what}: the report says so"
        );
        assert!(
            small.unique_states < full.unique_states,
            "{what}: symmetry reduces ({} vs {})",
            small.unique_states,
            full.unique_states
        );
        assert_eq!(verdicts(&full), verdicts(&small), "{what}: same verdicts");
        assert_eq!(
            (full.unique_states, small.unique_states),
            (unreduced, reduced),
            "{what}: (unreduced, reduced) unique states; a change to the model shows up here"
        );
        let dfs = check(&sym(&c), Strategy::Dfs, 1);
        assert_eq!(dfs.unique_states, small.unique_states, "{what}: DFS agrees");
        assert_eq!(verdicts(&dfs), verdicts(&small), "{what}: DFS verdicts");
        // The example trace of a reduced search is concretised: it replays on the unreduced model.
        let example = small
            .property("value chosen")
            .unwrap()
            .trace
            .as_ref()
            .unwrap();
        let states = replay(&c, example);
        let m = model(c.clone());
        assert!(states
            .last()
            .unwrap()
            .iter()
            .any(|s| property_holds(&m, "value chosen", s)));
    }
}

#[test]
fn symmetry_preserves_a_counterexample() {
    // A bug is found with and without symmetry, and the reduced search's counterexample (mapped
    // back to real client ids) replays on the unreduced model.
    // 3 servers, 4 clients that only write (clients 0 and 3 share server 0). With 2 servers the
    // bug cannot break agreement: every quorum is both servers, and a server that promised the
    // second ballot ignores the first ballot's `Accepted`.
    let c = PaxosConfig {
        bug: Some(PaxosBug::IgnorePromisedValue),
        ..cfg(3, 4, Script::Write)
    };
    let full = bfs(&c);
    let small = bfs(&sym(&c));
    assert_eq!(full.exit_code(), 1);
    assert_eq!(small.exit_code(), 1);
    assert_eq!(verdict(&full, "agreement"), Verdict::Violated);
    assert_eq!(verdict(&small, "agreement"), Verdict::Violated);
    let a = assert_counterexample(&c, &full, "agreement");
    let b = assert_counterexample(&c, &small, "agreement");
    assert_eq!(
        a.trace.steps.len(),
        b.trace.steps.len(),
        "both are shortest"
    );
    assert!(
        a.decided.len() >= 2 && b.decided.len() >= 2,
        "two values decided"
    );
}

#[test]
fn symmetry_counts_exactly_the_orbits() {
    // The reduced count equals the number of orbits of the unreduced reachable set under every
    // permutation of clients, computed independently of the canonical form.
    let configs = [
        cfg(1, 3, Script::WriteRead),
        cfg(2, 4, Script::Write),
        PaxosConfig {
            crashes: 1,
            ..cfg(2, 3, Script::Write)
        },
        PaxosConfig {
            network: NetworkKind::UnorderedDuplicating,
            ..cfg(2, 3, Script::Write)
        },
        PaxosConfig {
            network: NetworkKind::Ordered,
            ..cfg(2, 3, Script::Write)
        },
    ];
    for c in configs {
        let what = format!("{c:?}");
        let perms = permutations(c.clients);
        let full = reachable(&model(c.clone()));
        assert_eq!(
            full.len(),
            bfs(&c).unique_states,
            "{what}: our BFS agrees with the checker"
        );
        let identity: Vec<usize> = (0..c.clients).collect();
        for s in full.iter().take(50) {
            let p = ClientPerm {
                servers: c.servers,
                map: identity.clone(),
            };
            assert!(
                permute_system(s, &p) == *s,
                "{what}: the identity permutes nothing"
            );
        }
        let orbits: HashSet<u64> = full
            .iter()
            .map(|s| orbit_key(s, c.servers, &perms))
            .collect();

        let reduced = reachable(&model(sym(&c)));
        let reduced_keys: Vec<u64> = reduced
            .iter()
            .map(|s| orbit_key(s, c.servers, &perms))
            .collect();
        let distinct: HashSet<u64> = reduced_keys.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            reduced_keys.len(),
            "{what}: no two reduced states are in the same orbit"
        );
        assert_eq!(
            distinct, orbits,
            "{what}: the reduced states cover exactly the orbits"
        );
        assert!(
            orbits.len() < full.len(),
            "{what}: there is something to reduce"
        );
        assert_eq!(
            bfs(&sym(&c)).unique_states,
            orbits.len(),
            "{what}: the checker's reduced count is the number of orbits"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Every bug is found, with a trace
// ---------------------------------------------------------------------------------------------

/// The smallest configuration in which each bug is found (clients and script chosen small; the
/// catalog's `needs` applied on top).
fn bug_configuration(name: &str) -> PaxosConfig {
    let bug = PaxosBug::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .unwrap_or_else(|| panic!("{name} is a PaxosBug"));
    let base = match bug {
        // Two proposers, each with its own client's value.
        PaxosBug::IgnorePromisedValue | PaxosBug::AcceptLowerBallot => cfg(3, 2, Script::Write),
        PaxosBug::VolatilePromise => PaxosConfig {
            crashes: 1,
            ..cfg(3, 2, Script::Write)
        },
        // The literature's case: 4 servers, two disjoint halves. (Quorums of n/2 with n = 3 are
        // single servers, so the default 3 servers break agreement too.)
        PaxosBug::MinorityQuorum => cfg(4, 2, Script::Write),
        // One client reading an undecided key is enough.
        PaxosBug::ReadProposesPlaceholder => cfg(3, 1, Script::ReadWrite),
    };
    PaxosConfig {
        bug: Some(bug),
        ..base
    }
}

/// The `--reads` setting that selects a script.
fn reads_setting(script: Script) -> usize {
    match script {
        Script::Write => 0,
        Script::WriteRead => 1,
        Script::ReadWrite => 2,
    }
}

/// Asserts that a configuration satisfies a catalog entry's `needs` (`crashes = 1` ...).
fn assert_meets_needs(c: &PaxosConfig, needs: &[Need]) {
    for need in needs {
        match *need {
            Need::Param(name, value) => {
                let actual = match name {
                    "servers" => c.servers,
                    "clients" => c.clients,
                    "crashes" => c.crashes,
                    "reads" => reads_setting(c.script),
                    other => panic!("unexpected setting {other} in needs {needs:?}"),
                };
                assert_eq!(
                    actual as u64, value,
                    "the catalog says the bug needs {needs:?}"
                );
            }
            Need::Network(kind) => assert_eq!(c.network, kind, "{needs:?}"),
        }
    }
}

fn bug_is_found(name: &str) {
    let paxos = catalog::find("paxos").unwrap();
    let info = paxos
        .descriptor
        .bugs
        .iter()
        .find(|b| b.name == name)
        .unwrap_or_else(|| panic!("{name} is in the catalog"));
    let c = bug_configuration(name);
    assert_meets_needs(&c, info.needs);

    let r = bfs(&c);
    assert_eq!(
        r.exit_code(),
        1,
        "{name}: synod check exits 1\n{}",
        r.to_text()
    );
    assert!(
        !r.complete,
        "{name}: the search stops at the counterexample"
    );
    let Counterexample { trace, decided } = assert_counterexample(&c, &r, info.violates);
    assert!(
        trace.shortest,
        "{name}: single-threaded BFS finds a shortest trace"
    );
    match info.violates {
        "agreement" => assert!(
            decided.len() >= 2,
            "{name}: two different values are decided in the trace: {decided:?}\n{}",
            trace.to_text()
        ),
        "validity" => assert!(
            decided.iter().any(|v| *v == 0 || *v as usize > c.clients),
            "{name}: a value no client wrote is decided: {decided:?}"
        ),
        other => panic!("{name}: no trace check for {other}"),
    }
    assert!(
        r.to_text()
            .contains(&format!("Counterexample to \"{}\"", info.violates)),
        "{name}: the text report shows the counterexample"
    );

    // `synod check paxos --bug NAME ...` (the catalog's settings) finds the very same trace.
    let mut raw = RawSettings {
        bug: Some(name.to_string()),
        ..RawSettings::default()
    };
    let reads = reads_setting(c.script) as u64;
    for (k, v) in [
        ("servers", c.servers as u64),
        ("clients", c.clients as u64),
        ("crashes", c.crashes as u64),
        ("reads", reads),
    ] {
        raw.params.insert(k.to_string(), v);
    }
    let settings = paxos.settings(&raw).expect("valid settings");
    let via_catalog = paxos.check(&settings, &CheckOptions::default());
    assert_eq!(via_catalog.exit_code(), 1, "{name} via the catalog");
    assert_eq!(
        via_catalog.parameters.get("bug"),
        Some(&serde_json::Value::from(name))
    );
    assert_eq!(
        via_catalog.property(info.violates).unwrap().trace.as_ref(),
        Some(&trace),
        "{name}: the catalog runs the same configuration"
    );

    // The same configuration without the bug passes: the bug is what breaks it.
    let correct = PaxosConfig {
        bug: None,
        ..c.clone()
    };
    assert_passes(
        &bfs(&correct),
        &format!("{name} configuration without the bug"),
    );
}

#[test]
fn every_bug_has_a_configuration() {
    let paxos = catalog::find("paxos").unwrap();
    let catalog_names: Vec<&str> = paxos.descriptor.bugs.iter().map(|b| b.name).collect();
    let model_names: Vec<&str> = PaxosBug::ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(catalog_names, model_names, "the catalog lists every bug");
    for name in model_names {
        let c = bug_configuration(name);
        let info = paxos
            .descriptor
            .bugs
            .iter()
            .find(|b| b.name == name)
            .unwrap();
        assert_meets_needs(&c, info.needs);
    }
}

#[test]
fn bug_ignore_promised_value() {
    bug_is_found("ignore-promised-value");
}

#[test]
fn bug_accept_lower_ballot() {
    bug_is_found("accept-lower-ballot");
}

#[test]
fn bug_volatile_promise() {
    bug_is_found("volatile-promise");
}

#[test]
fn bug_minority_quorum() {
    bug_is_found("minority-quorum");
}

#[test]
fn bug_read_proposes_placeholder() {
    bug_is_found("read-proposes-placeholder");
}

// ---------------------------------------------------------------------------------------------
// 4. Crashes
// ---------------------------------------------------------------------------------------------

#[test]
fn crashes_correct_protocol_holds() {
    // 3 servers, 2 clients that only write, one server may crash at a time (and restart from its
    // saved state), unordered non-duplicating. A change to the model shows up here.
    let two = PaxosConfig {
        crashes: 1,
        ..cfg(3, 2, Script::Write)
    };
    let r = bfs(&two);
    assert_passes(&r, "crashes 1, 2 clients, write");
    assert_counts(&r, 1_085_188, 3_785_141, "crashes 1, 2 clients, write");

    // 3 servers, 1 client that writes and reads back, one server may crash.
    // A change to the model shows up here.
    let one = PaxosConfig {
        crashes: 1,
        ..cfg(3, 1, Script::WriteRead)
    };
    let r = bfs(&one);
    assert_passes(&r, "crashes 1, 1 client, write-read");
    assert_counts(&r, 221_092, 689_504, "crashes 1, 1 client, write-read");

    // Crashes make a difference: the same configuration without them is much smaller.
    let no_crash = bfs(&PaxosConfig {
        crashes: 0,
        ..one.clone()
    });
    assert!(no_crash.unique_states < r.unique_states);
}

#[test]
fn crashes_never_crash_clients() {
    // In a counterexample that needs crashes, every crash is a server's.
    let c = bug_configuration("volatile-promise");
    let r = bfs(&c);
    let trace = r.property("agreement").unwrap().trace.clone().unwrap();
    let crashes: Vec<&str> = trace
        .steps
        .iter()
        .filter(|s| s.kind == "crash")
        .map(|s| s.actor.as_deref().expect("a crash names its actor"))
        .collect();
    assert!(
        !crashes.is_empty(),
        "volatile-promise needs a crash:\n{}",
        trace.to_text()
    );
    for actor in crashes {
        let index = trace
            .participants
            .iter()
            .position(|p| p == actor)
            .expect("a participant");
        assert!(index < c.servers, "{actor} is a server");
    }

    // In the model: over every reachable state, the checked model offers crashes of servers
    // only, although the underlying actor system would crash clients too.
    let c = PaxosConfig {
        crashes: 1,
        ..cfg(3, 1, Script::Write)
    };
    let m = model(c.clone());
    let states = reachable(&m);
    assert_eq!(
        states.len(),
        2_468,
        "crashes 1, 1 client, write: reachable states"
    );
    assert_eq!(
        states.len(),
        bfs(&c).unique_states,
        "our BFS agrees with the checker"
    );
    let (mut server_crashes, mut client_crashes_filtered) = (0, 0);
    for s in &states {
        let mut checked = Vec::new();
        m.actions(s, &mut checked);
        for a in &checked {
            if let ActorModelAction::Crash(id) = a {
                assert!(usize::from(*id) < c.servers, "a client may crash: {a:?}");
                server_crashes += 1;
            }
        }
        let mut inner = Vec::new();
        m.inner.actions(s, &mut inner);
        client_crashes_filtered += inner
            .iter()
            .filter(|a| matches!(a, ActorModelAction::Crash(id) if usize::from(*id) >= c.servers))
            .count();
    }
    assert!(server_crashes > 0, "servers do crash");
    assert!(
        client_crashes_filtered > 0,
        "the actor system offers client crashes, which the checked model filters out"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Networks
// ---------------------------------------------------------------------------------------------

#[test]
fn networks_correct_protocol_holds() {
    // The correct protocol under each network kind. Each line is one configuration (3 servers,
    // no crashes) with its pinned (unique states, states generated); a change to the model or
    // to the network semantics shows up here.
    let table: [(NetworkKind, PaxosConfig, usize, usize); 10] = [
        (
            NetworkKind::Ordered,
            cfg(3, 1, Script::WriteRead),
            1_530,
            4_610,
        ),
        (
            NetworkKind::Ordered,
            cfg(3, 2, Script::Write),
            9_317,
            32_125,
        ),
        (
            NetworkKind::UnorderedDuplicating,
            cfg(3, 1, Script::WriteRead),
            1_224,
            3_925,
        ),
        (
            NetworkKind::UnorderedDuplicating,
            cfg(3, 2, Script::Write),
            18_109,
            65_439,
        ),
        (
            NetworkKind::LossyUnorderedNonDuplicating,
            cfg(3, 1, Script::WriteRead),
            22_032,
            108_265,
        ),
        (
            NetworkKind::LossyUnorderedNonDuplicating,
            cfg(3, 1, Script::Write),
            1_167,
            4_051,
        ),
        (
            NetworkKind::LossyOrdered,
            cfg(3, 1, Script::WriteRead),
            4_823,
            23_937,
        ),
        (
            NetworkKind::LossyOrdered,
            cfg(3, 2, Script::Write),
            55_881,
            300_167,
        ),
        // Loss on a duplicating network is exponential in the messages ever sent (any subset of
        // them may be lost at any time): one writing client only.
        (
            NetworkKind::LossyUnorderedDuplicating,
            cfg(3, 1, Script::Write),
            271_338,
            1_903_511,
        ),
        (
            NetworkKind::LossyUnorderedDuplicating,
            cfg(2, 1, Script::Write),
            1_214,
            5_281,
        ),
    ];
    for (kind, base, unique, generated) in table {
        let c = PaxosConfig {
            network: kind,
            ..base
        };
        let what = format!("{kind}: {c:?}");
        let r = bfs(&c);
        assert_passes(&r, &what);
        assert_counts(&r, unique, generated, &what);
    }
}

#[test]
fn networks_bug_found_under_loss() {
    // A bug is still found when messages may be lost, and its trace replays.
    for kind in [
        NetworkKind::LossyUnorderedNonDuplicating,
        NetworkKind::LossyOrdered,
    ] {
        let c = PaxosConfig {
            network: kind,
            bug: Some(PaxosBug::AcceptLowerBallot),
            ..cfg(3, 2, Script::Write)
        };
        let r = bfs(&c);
        assert_eq!(r.exit_code(), 1, "{kind}");
        let found = assert_counterexample(&c, &r, "agreement");
        let trace = found.trace;
        assert!(trace.shortest);
        assert!(found.decided.len() >= 2, "{kind}: two values decided");
        // Loss does not make the shortest counterexample shorter than without it.
        let reliable = bfs(&PaxosConfig {
            network: NetworkKind::UnorderedNonDuplicating,
            ..c.clone()
        });
        let reliable_len = reliable
            .property("agreement")
            .unwrap()
            .trace
            .as_ref()
            .unwrap()
            .steps
            .len();
        assert_eq!(trace.steps.len(), reliable_len, "{kind}");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Traces are first-found and shortest
// ---------------------------------------------------------------------------------------------

#[test]
fn traces_are_first_found_and_shortest() {
    let c = PaxosConfig {
        bug: Some(PaxosBug::AcceptLowerBallot),
        ..PaxosConfig::default()
    };
    let one = bfs(&c);
    let two = check(&c, Strategy::Bfs, 2);
    let dfs = check(&c, Strategy::Dfs, 1);
    for (what, r) in [("bfs 1", &one), ("bfs 2", &two), ("dfs", &dfs)] {
        assert_eq!(r.exit_code(), 1, "{what}");
        assert_eq!(verdict(r, "agreement"), Verdict::Violated, "{what}");
    }
    let t1 = assert_counterexample(&c, &one, "agreement").trace;
    let t2 = assert_counterexample(&c, &two, "agreement").trace;
    let td = assert_counterexample(&c, &dfs, "agreement").trace;
    assert!(t1.shortest, "single-threaded BFS is shortest");
    assert!(
        t2.shortest,
        "the 2-thread run was minimised by a single-threaded re-run"
    );
    assert!(!td.shortest, "DFS does not claim shortest");
    assert_eq!(
        t1.steps.len(),
        t2.steps.len(),
        "1 and 2 threads: same length"
    );
    assert!(
        td.steps.len() >= t1.steps.len(),
        "DFS cannot beat a shortest trace"
    );

    // Independently: the least depth at which the model violates agreement, by our own
    // level-by-level search.
    let m = model(c.clone());
    let mut level: Vec<State> = m.init_states();
    let mut seen: HashSet<State> = level.iter().cloned().collect();
    let mut depth = 0;
    while !level.iter().any(|s| !property_holds(&m, "agreement", s)) {
        let mut next_level = Vec::new();
        for s in &level {
            let mut actions = Vec::new();
            m.actions(s, &mut actions);
            for a in actions {
                if let Some(n) = m.next_state(s, a) {
                    if seen.insert(n.clone()) {
                        next_level.push(n);
                    }
                }
            }
        }
        assert!(!next_level.is_empty(), "agreement is violated somewhere");
        level = next_level;
        depth += 1;
    }
    assert_eq!(t1.steps.len(), depth, "the BFS trace is a shortest one");
    // accept-lower-ballot in the default configuration: a change to the model shows up here.
    assert_eq!(
        depth, 10,
        "shortest counterexample to agreement under accept-lower-ballot"
    );

    // First-found: a second single-threaded run reports the very same trace.
    let again = check::run(
        &|| model(c.clone()),
        &opts(Strategy::Bfs, 1),
        Header::default(),
    );
    assert_eq!(
        again.property("agreement").unwrap().trace.as_ref(),
        Some(&t1)
    );
}

#[test]
fn replay_rejects_a_corrupted_trace() {
    // The replay that every counterexample check relies on is not vacuous: a trace with two
    // steps swapped, or with a step's resulting state altered, is not a run of the model.
    let c = bug_configuration("accept-lower-ballot");
    let r = bfs(&c);
    let trace = r.property("agreement").unwrap().trace.clone().unwrap();
    let quiet = |t: Trace| {
        let c = c.clone();
        std::panic::catch_unwind(move || {
            replay(&c, &t);
        })
    };
    // (The expected panics' messages go to this test's captured output.)
    let intact = quiet(trace.clone());
    let mut swapped = trace.clone();
    swapped.steps.swap(0, 1);
    swapped.steps[0].step = 1;
    swapped.steps[1].step = 2;
    let swapped = quiet(swapped);
    let mut altered = trace.clone();
    altered
        .steps
        .last_mut()
        .unwrap()
        .state
        .push_str(" (altered)");
    let altered = quiet(altered);
    assert!(intact.is_ok(), "the reported trace replays");
    assert!(
        swapped.is_err(),
        "a trace with swapped steps does not replay"
    );
    assert!(
        altered.is_err(),
        "a trace with an altered state does not replay"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Stuck rounds (the retry timer) and absent keys (the promise floor), issue 9
// ---------------------------------------------------------------------------------------------

fn server_states(state: &State) -> impl Iterator<Item = &PaxosState> {
    state.actors.iter().filter_map(|slot| slot.state.server())
}

fn some_server_decided(state: &State) -> bool {
    server_states(state).any(|s| s.keys.values().any(|i| i.decided.is_some()))
}

/// Every client has finished its script.
fn clients_done(state: &State) -> bool {
    state.actors.iter().all(|slot| match &*slot.state {
        KvState::Client(c) => c.awaiting.is_none(),
        KvState::Server(_) => true,
    })
}

/// The reachable states of `m` with their successors, by index.
fn state_graph(m: &PaxosModel) -> (Vec<State>, Vec<Vec<usize>>) {
    let states = reachable(m);
    let index: HashMap<&State, usize> = states.iter().enumerate().map(|(i, s)| (s, i)).collect();
    let edges = states
        .iter()
        .map(|s| {
            let mut actions = Vec::new();
            m.actions(s, &mut actions);
            actions
                .into_iter()
                .filter_map(|a| m.next_state(s, a))
                .map(|n| index[&n])
                .collect()
        })
        .collect();
    (states, edges)
}

/// The states from which some state satisfying `goal` is reachable.
fn can_reach(states: &[State], edges: &[Vec<usize>], goal: impl Fn(&State) -> bool) -> Vec<bool> {
    let mut preds = vec![Vec::new(); states.len()];
    for (i, out) in edges.iter().enumerate() {
        for &j in out {
            preds[j].push(i);
        }
    }
    let mut ok: Vec<bool> = states.iter().map(goal).collect();
    let mut queue: Vec<usize> = (0..states.len()).filter(|i| ok[*i]).collect();
    while let Some(j) = queue.pop() {
        for &i in &preds[j] {
            if !ok[i] {
                ok[i] = true;
                queue.push(i);
            }
        }
    }
    ok
}

/// 2 servers (every quorum is both), 1 client writing through server 0, a network that may lose
/// any message: a lost phase 1 or phase 2 message leaves the round stuck unless it is retried.
fn lossy_write(retry_timer: u32) -> PaxosConfig {
    PaxosConfig {
        network: NetworkKind::LossyUnorderedNonDuplicating,
        retry_timer,
        ..cfg(2, 1, Script::Write)
    }
}

#[test]
fn pinned_retry_timer() {
    // The retry timer is off in the checker unless asked for, and on by default on the network.
    assert_eq!(PaxosConfig::default().retry_timer, 0);
    let paxos = catalog::find("paxos").unwrap();
    let param = paxos.descriptor.param("retry-timer").unwrap();
    assert_eq!((param.default, param.run), (0, Some(1)));
    // With it on, every property still holds (each search is complete: the timer restarts a
    // round only while its promise is at round 1). A change to the model shows up here.
    pinned(
        &lossy_write(1),
        116,
        215,
        "retry-timer 1, lossy, 2 servers, 1 client",
    );
    pinned(
        &PaxosConfig {
            crashes: 1,
            retry_timer: 1,
            ..cfg(2, 2, Script::Write)
        },
        12_943,
        30_543,
        "retry-timer 1, crashes 1, 2 servers, 2 clients, write",
    );
    pinned(
        &PaxosConfig {
            retry_timer: 1,
            ..cfg(3, 1, Script::WriteRead)
        },
        14_773,
        24_809,
        "retry-timer 1, 3 servers, 1 client, write then read",
    );
}

#[test]
fn retry_timer_gets_a_value_chosen_after_a_lost_message() {
    // Search (state, whether a server-to-server message was lost before any decision): with the
    // timer a value is chosen after such a loss; without it, never (the round stays stuck).
    let chosen_after_loss = |c: &PaxosConfig| -> bool {
        let loses = |s: &State, a: &<PaxosModel as Model>::Action| {
            matches!(a, ActorModelAction::Drop(env) if matches!(env.msg, KvMsg::Internal(_)))
                && !some_server_decided(s)
        };
        reaches_after(&model(c.clone()), loses, some_server_decided)
    };
    assert!(chosen_after_loss(&lossy_write(1)), "with the retry timer");
    assert!(!chosen_after_loss(&lossy_write(0)), "without it");
}

#[test]
fn retry_timer_leaves_no_stuck_round_while_it_is_armed() {
    // In every reachable state where server 0 holds the client's request and its retry timer is
    // set, the client can still finish: no loss of the round's messages can stick it for good
    // while the timer may fire. Without the timer there are states where the request waits at
    // server 0 and the client can never finish.
    let m = model(lossy_write(1));
    let (states, edges) = state_graph(&m);
    let finishes = can_reach(&states, &edges, clients_done);
    let waiting_at_0 = |s: &State| {
        s.actor(0)
            .server()
            .is_some_and(|p| p.keys.values().any(|i| !i.waiting.is_empty()))
    };
    let mut armed = 0;
    for (i, s) in states.iter().enumerate() {
        if waiting_at_0(s) && !s.actors[0].timers.is_empty() {
            armed += 1;
            assert!(finishes[i], "stuck although the timer is armed: {s:?}");
        }
    }
    // (Few: the checker lets the timer restart the round once, from round 1.)
    assert_eq!(
        armed, 8,
        "states with a request waiting and the timer armed"
    );

    let m = model(lossy_write(0));
    let (states, edges) = state_graph(&m);
    let finishes = can_reach(&states, &edges, clients_done);
    assert!(
        states
            .iter()
            .enumerate()
            .any(|(i, s)| waiting_at_0(s) && !finishes[i]),
        "without the timer a lost message sticks the round"
    );
}

/// 3 servers, 2 clients writing through different servers, folding every idle promise at once:
/// a promise a server gave to a peer's round is folded into its floor right away, so a fold
/// that forgot the promise would let both values be chosen (a mutant that does not raise the
/// floor breaks agreement here).
fn folding_writers() -> PaxosConfig {
    PaxosConfig {
        fold_promises: 1,
        ..cfg(3, 2, Script::Write)
    }
}

#[test]
fn pinned_fold_promises() {
    assert_eq!(PaxosConfig::default().fold_promises, 0);
    let paxos = catalog::find("paxos").unwrap();
    let param = paxos.descriptor.param("fold-promises").unwrap();
    assert_eq!((param.default, param.run), (0, Some(1024)));
    // A change to the model shows up here.
    pinned(
        &folding_writers(),
        14_729,
        32_501,
        "fold-promises 1, 3 servers, 2 writers",
    );
    pinned(
        &PaxosConfig {
            fold_promises: 1,
            crashes: 1,
            ..cfg(3, 1, Script::ReadWrite)
        },
        11_780,
        34_097,
        "fold-promises 1, crashes 1, 3 servers, 1 client, read then write",
    );
    // Both knobs, crashes: folds raise floors, acceptors refuse lower ballots with Nack, and
    // proposers restart above them.
    pinned(
        &PaxosConfig {
            fold_promises: 1,
            retry_timer: 1,
            crashes: 1,
            ..cfg(2, 2, Script::ReadWrite)
        },
        152_805,
        368_824,
        "fold-promises 1, retry-timer 1, crashes 1, 2 servers, 2 clients, read then write",
    );
}

/// Whether some path of `m` takes an action for which `marks` holds and later reaches a state
/// where `goal` holds (a search over states paired with whether the path took such an action).
fn reaches_after(
    m: &PaxosModel,
    marks: impl Fn(&State, &<PaxosModel as Model>::Action) -> bool,
    goal: impl Fn(&State) -> bool,
) -> bool {
    let mut seen: HashSet<(State, bool)> = HashSet::new();
    let mut queue: Vec<(State, bool)> = m.init_states().into_iter().map(|s| (s, false)).collect();
    while let Some((s, marked)) = queue.pop() {
        if marked && goal(&s) {
            return true;
        }
        let mut actions = Vec::new();
        m.actions(&s, &mut actions);
        for a in actions {
            let now = marked || marks(&s, &a);
            if let Some(n) = m.next_state(&s, a) {
                if seen.insert((n.clone(), now)) {
                    queue.push((n, now));
                }
            }
        }
    }
    false
}

#[test]
fn folding_is_exercised_the_floor_rises_and_nacks_restart_rounds() {
    // In the folding configurations the interesting states are reachable: a key folded away
    // (no instance, the floor above zero), and a value chosen after a Nack restarted a round
    // (a Nack delivery is a step only when it restarts the round).
    let states = reachable(&model(folding_writers()));
    assert!(states.iter().any(
        |s| server_states(s).any(|p| p.floor > Default::default() && p.keys.get(&0).is_none())
    ));
    let c = PaxosConfig {
        fold_promises: 1,
        retry_timer: 1,
        ..cfg(2, 2, Script::ReadWrite)
    };
    let nack_restart = |_: &State, a: &<PaxosModel as Model>::Action| {
        matches!(
            a,
            ActorModelAction::Deliver {
                msg: KvMsg::Internal(PaxosMsg::Nack { .. }),
                ..
            }
        )
    };
    assert!(reaches_after(&model(c), nack_restart, some_server_decided));
}

#[test]
fn symmetry_counts_orbits_with_the_retry_timer_and_the_floor() {
    // Client symmetry stays exact with the new state (timers, floors, fold candidates, the
    // retry count of a round): the reduced count is the number of orbits.
    let configs = [
        (
            PaxosConfig {
                retry_timer: 1,
                ..cfg(2, 3, Script::Write)
            },
            3_509,
            1_875,
        ),
        (
            PaxosConfig {
                fold_promises: 1,
                ..cfg(2, 3, Script::ReadWrite)
            },
            32_898,
            16_482,
        ),
    ];
    for (c, unreduced, reduced) in configs {
        let what = format!("{c:?}");
        let perms = permutations(c.clients);
        let full = reachable(&model(c.clone()));
        assert_eq!(full.len(), unreduced, "{what}");
        let orbits: HashSet<u64> = full
            .iter()
            .map(|s| orbit_key(s, c.servers, &perms))
            .collect();
        let small = bfs(&sym(&c));
        assert_passes(&small, &what);
        assert_eq!(
            (small.unique_states, orbits.len()),
            (reduced, reduced),
            "{what}: reduced count, orbits"
        );
    }
}
