//! The single-copy KV check matrix, through the same front end as `synod check` (`check::run`):
//! pinned state counts, the two-server demonstration that unsynchronised copies are not
//! linearizable, every deliberately broken variant found with a trace that replays on the model,
//! what the session bound gives up, and client symmetry checked against an independent orbit
//! count.
//!
//! Pinned counts are exact on purpose: any change to the model's state space (a field in the
//! server state, a reply sent differently, the client scripts, the network or crash rules) shows
//! up here. When a change is intended, re-measure and update the pin in the same commit, saying
//! why. Reports are memoised per (configuration, strategy, threads) within this test binary.

use stateright::Model;
use std::collections::HashSet;
use std::sync::Arc;
use synod::catalog::{self, RawSettings};
use synod::check::trace::Trace;
use synod::check::{CheckOptions, Report, Strategy, Verdict};
use synod_models::checked::permute_system;
use synod_models::kv::{ClientPerm, KvRet, KvState};
use synod_models::protocol::Need;
use synod_models::single_copy_kv::{
    model, Script, SingleCopyBug, SingleCopyConfig, SingleCopyModel, SingleCopyState,
};
use synod_models::NetworkKind;

mod common;
use common::{assert_counts, permutations, reachable, verdict, verdicts};

type State = <SingleCopyModel as Model>::State;

const PROPERTIES: [&str; 4] = [
    "linearizable",
    "read sees a write",
    "cas succeeds",
    "cas fails",
];
const SOMETIMES: [&str; 3] = ["read sees a write", "cas succeeds", "cas fails"];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Runs `check::run` on a configuration (memoised: see the module docs).
fn check(cfg: &SingleCopyConfig, strategy: Strategy, threads: usize) -> Arc<Report> {
    common::memo_check(cfg, strategy, threads, model)
}

fn bfs(cfg: &SingleCopyConfig) -> Arc<Report> {
    check(cfg, Strategy::Bfs, 1)
}

/// The correct protocol on one server passes: `linearizable` holds, every `sometimes` property
/// is reached with an example, the search is complete and `synod check` would exit 0.
#[track_caller]
fn assert_passes(r: &Report, what: &str) {
    let names: Vec<&str> = r.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, PROPERTIES, "{what}: the model's properties");
    assert_eq!(verdict(r, "linearizable"), Verdict::Holds, "{what}");
    assert!(r.property("linearizable").unwrap().trace.is_none());
    for name in SOMETIMES {
        assert_eq!(verdict(r, name), Verdict::Reached, "{what}: {name}");
        let example = r.property(name).unwrap().trace.as_ref();
        assert!(
            example.is_some_and(|t| !t.steps.is_empty()),
            "{what}: {name:?} has an example trace"
        );
    }
    assert!(r.complete, "{what}: the search is complete");
    assert_eq!(r.exit_code(), 0, "{what}: exit code");
}

fn property_holds(m: &SingleCopyModel, name: &str, state: &State) -> bool {
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
fn replay(cfg: &SingleCopyConfig, trace: &Trace) -> Vec<Vec<State>> {
    let m = model(SingleCopyConfig {
        symmetry: false,
        ..cfg.clone()
    });
    common::replay_on(&m, trace)
}

/// Checks a counterexample to `linearizable`: present, non-empty, replays on the model, ends in
/// a state that violates it and (when marked shortest) passes through none before. Returns the
/// trace and the replayed states (the first candidate per step).
#[track_caller]
fn assert_counterexample(cfg: &SingleCopyConfig, r: &Report) -> (Trace, Vec<State>) {
    let p = r.property("linearizable").expect("reported");
    assert_eq!(p.verdict, Verdict::Violated, "{}", r.to_text());
    let trace = p.trace.clone().expect("a violated property has a trace");
    assert!(!trace.steps.is_empty(), "the counterexample has steps");
    let m = model(SingleCopyConfig {
        symmetry: false,
        ..cfg.clone()
    });
    let states = replay(cfg, &trace);
    let (end, before) = states.split_last().unwrap();
    assert!(
        end.iter().any(|s| !property_holds(&m, "linearizable", s)),
        "the trace ends in a non-linearizable state\n{}",
        trace.to_text()
    );
    if trace.shortest {
        for (depth, candidates) in before.iter().enumerate() {
            assert!(
                candidates
                    .iter()
                    .all(|s| property_holds(&m, "linearizable", s)),
                "a shortest counterexample is not violated already after step {depth}"
            );
        }
    }
    let path = states.into_iter().map(|c| c[0].clone()).collect();
    (trace, path)
}

fn server(state: &State, index: usize) -> &SingleCopyState {
    match state.actor(index) {
        KvState::Server(s) => s,
        KvState::Client(_) => panic!("actor {index} is a client"),
    }
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

fn with(f: impl FnOnce(&mut SingleCopyConfig)) -> SingleCopyConfig {
    let mut c = SingleCopyConfig::default();
    f(&mut c);
    c
}

fn sym(c: &SingleCopyConfig) -> SingleCopyConfig {
    SingleCopyConfig {
        symmetry: true,
        ..c.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Pinned counts
// ---------------------------------------------------------------------------------------------

#[test]
fn pinned_default_configuration() {
    // `synod check single-copy-kv`: 1 server, 2 clients each writing its value, cas'ing it to its
    // cas value and reading key 0, no crashes, unordered non-duplicating network, 8 sessions.
    // A change to the model shows up here.
    let default = SingleCopyConfig::default();
    assert_eq!(
        (default.servers, default.clients, default.crashes),
        (1, 2, 0)
    );
    assert_eq!(default.script, Script::WriteCasRead);
    assert_eq!(default.network, NetworkKind::UnorderedNonDuplicating);
    assert!(default.bug.is_none() && !default.symmetry);
    let one = bfs(&default);
    assert_passes(&one, "default");
    assert_counts(&one, 685, 889, "default");
    assert_eq!(one.max_depth, 13, "default: BFS depth");
    for (what, r) in [
        ("BFS on 2 threads", check(&default, Strategy::Bfs, 2)),
        ("DFS", check(&default, Strategy::Dfs, 1)),
    ] {
        assert_passes(&r, what);
        assert_counts(&r, 685, 889, what);
        assert_eq!(verdicts(&r), verdicts(&one), "{what}");
    }

    // The catalog with no settings is the same configuration, and lists the model's properties.
    let entry = catalog::find("single-copy-kv").expect("in the catalog");
    let listed: Vec<&str> = entry.descriptor.properties.iter().map(|p| p.name).collect();
    assert_eq!(
        listed, PROPERTIES,
        "the catalog lists the model's properties"
    );
    let settings = entry.settings(&RawSettings::default()).expect("valid");
    let via_catalog = entry.check(&settings, &CheckOptions::default());
    assert_passes(&via_catalog, "catalog defaults");
    assert_counts(&via_catalog, 685, 889, "catalog defaults");
    assert_eq!(via_catalog.protocol, "single-copy-kv");
}

#[test]
fn pinned_other_configurations() {
    // Each line: one configuration of the correct protocol on 1 server with its pinned (unique
    // states, states generated). A change to the model shows up here.
    let table: [(&str, SingleCopyConfig, usize, usize); 5] = [
        // `--reads 2`: read first (error 20 while nothing is written), then write and cas.
        (
            "read, write, cas",
            with(|c| c.script = Script::ReadWriteCas),
            550,
            685,
        ),
        // `--crashes 1`: the server may crash and restart from its saved store and sessions.
        ("crashes 1", with(|c| c.crashes = 1), 1_370, 2_773),
        // Duplicated deliveries: retries, which the sessions absorb.
        (
            "unordered-duplicating",
            with(|c| c.network = NetworkKind::UnorderedDuplicating),
            4_093,
            18_525,
        ),
        (
            "lossy-unordered-nonduplicating",
            with(|c| c.network = NetworkKind::LossyUnorderedNonDuplicating),
            1_364,
            2_513,
        ),
        // One request in flight per client and one server: ordering changes nothing.
        (
            "ordered",
            with(|c| c.network = NetworkKind::Ordered),
            685,
            889,
        ),
    ];
    for (what, c, unique, generated) in table {
        let r = bfs(&c);
        assert_passes(&r, what);
        assert_counts(&r, unique, generated, what);
    }
}

#[test]
fn pinned_three_clients_with_symmetry() {
    // `--clients 3 --symmetry`: 1 server, 3 interchangeable clients. The unreduced space has
    // 365,599 states (measured with `synod check single-copy-kv --clients 3`; too slow for this
    // suite). A change to the model shows up here.
    let c = sym(&with(|c| c.clients = 3));
    let r = check(&c, Strategy::Bfs, 2);
    assert_passes(&r, "3 clients, symmetry");
    assert_eq!(r.unique_states, 60_937, "3 clients, symmetry: orbits");
}

// ---------------------------------------------------------------------------------------------
// 2. No replication without a protocol
// ---------------------------------------------------------------------------------------------

#[test]
fn two_unsynchronised_servers_are_caught_not_linearizable() {
    // Two servers, each its own store: a client writes to one and its next request, to the
    // other, finds the key missing. The shortest counterexample is those four steps.
    let c = with(|c| c.servers = 2);
    let r = bfs(&c);
    assert_eq!(r.exit_code(), 1, "{}", r.to_text());
    let (trace, states) = assert_counterexample(&c, &r);
    assert!(trace.shortest);
    assert_eq!(trace.steps.len(), 4, "{}", trace.to_text());
    let servers_reached: HashSet<&str> = trace
        .steps
        .iter()
        .filter(|s| s.kind == "deliver")
        .filter_map(|s| s.dst.as_deref())
        .filter(|d| d.starts_with("server"))
        .collect();
    assert_eq!(
        servers_reached.len(),
        2,
        "the client talks to both servers:\n{}",
        trace.to_text()
    );
    // The write was acknowledged and a later request saw no value at all.
    let end = states.last().unwrap();
    let rets: Vec<KvRet> = end
        .history
        .clients
        .iter()
        .flat_map(|c| c.done.iter().map(|d| d.ret))
        .collect();
    assert!(rets.contains(&KvRet::WriteOk), "{rets:?}");
    assert!(
        rets.iter()
            .any(|r| matches!(r, KvRet::CasNotFound | KvRet::ReadOk(None))),
        "{rets:?}"
    );
    // The stores diverge in the model's own state too, not only in the clients' eyes.
    assert_ne!(server(end, 0).data, server(end, 1).data);

    // Three servers fail the same way, and through the catalog `--servers 2` is allowed and
    // exits 1.
    assert_eq!(bfs(&with(|c| c.servers = 3)).exit_code(), 1);
    let entry = catalog::find("single-copy-kv").unwrap();
    let mut raw = RawSettings::default();
    raw.params.insert("servers".into(), 2);
    let settings = entry.settings(&raw).expect("2 servers is a valid setting");
    let via_catalog = entry.check(&settings, &CheckOptions::default());
    assert_eq!(via_catalog.exit_code(), 1);
    assert_eq!(verdict(&via_catalog, "linearizable"), Verdict::Violated);
}

// ---------------------------------------------------------------------------------------------
// 3. Every bug is found, with a trace
// ---------------------------------------------------------------------------------------------

fn bug_named(name: &str) -> SingleCopyBug {
    SingleCopyBug::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .unwrap_or_else(|| panic!("{name} is a SingleCopyBug"))
}

/// The default configuration with the bug and the catalog's `needs` applied.
fn bug_configuration(name: &str) -> SingleCopyConfig {
    let entry = catalog::find("single-copy-kv").unwrap();
    let info = entry
        .descriptor
        .bugs
        .iter()
        .find(|b| b.name == name)
        .unwrap();
    let mut c = SingleCopyConfig {
        bug: Some(bug_named(name)),
        ..SingleCopyConfig::default()
    };
    for need in info.needs {
        match *need {
            Need::Param("crashes", n) => c.crashes = n as usize,
            Need::Network(kind) => c.network = kind,
            other => panic!("{name}: unexpected needs {other:?}"),
        }
    }
    c
}

/// Runs a bug's configuration: exit 1, a shortest replayable counterexample of the pinned
/// length, the same trace through the catalog, and a pass without the bug. Returns the trace and
/// its replayed states.
fn bug_is_found(name: &str, length: usize) -> (Trace, Vec<State>) {
    let entry = catalog::find("single-copy-kv").unwrap();
    let info = entry
        .descriptor
        .bugs
        .iter()
        .find(|b| b.name == name)
        .unwrap();
    assert_eq!(info.violates, "linearizable", "{name}");
    let c = bug_configuration(name);
    let r = bfs(&c);
    assert_eq!(r.exit_code(), 1, "{name}\n{}", r.to_text());
    assert!(
        !r.complete,
        "{name}: the search stops at the counterexample"
    );
    let (trace, states) = assert_counterexample(&c, &r);
    assert!(trace.shortest, "{name}: single-threaded BFS is shortest");
    assert_eq!(
        trace.steps.len(),
        length,
        "{name}: shortest counterexample length; a change to the model shows up here\n{}",
        trace.to_text()
    );

    // `synod check single-copy-kv --bug NAME <needs>` finds the very same trace.
    let mut raw = RawSettings {
        bug: Some(name.to_string()),
        ..RawSettings::default()
    };
    raw.params.insert("crashes".into(), c.crashes as u64);
    if c.network != NetworkKind::default() {
        raw.network = Some(c.network.name().to_string());
    }
    let settings = entry.settings(&raw).expect("valid settings");
    let via_catalog = entry.check(&settings, &CheckOptions::default());
    assert_eq!(via_catalog.exit_code(), 1, "{name} via the catalog");
    assert_eq!(
        via_catalog.property("linearizable").unwrap().trace.as_ref(),
        Some(&trace),
        "{name}: the catalog runs the same configuration"
    );

    // The bug is what breaks it.
    let correct = SingleCopyConfig {
        bug: None,
        ..c.clone()
    };
    assert_passes(&bfs(&correct), &format!("{name} configuration without it"));
    (trace, states)
}

#[test]
fn every_bug_is_listed_with_its_needs() {
    let entry = catalog::find("single-copy-kv").unwrap();
    let listed: Vec<&str> = entry.descriptor.bugs.iter().map(|b| b.name).collect();
    let model_names: Vec<&str> = SingleCopyBug::ALL.iter().map(|(n, _)| *n).collect();
    assert_eq!(listed, model_names, "the catalog lists every bug");
    for b in entry.descriptor.bugs {
        assert!(
            !b.source.is_empty(),
            "{}: a source in the literature",
            b.name
        );
        bug_configuration(b.name); // the needs parse
    }
}

#[test]
fn bug_no_dedup() {
    // A duplicated write is applied again after the same client's cas, and its read then sees
    // the overwritten value: write 1, cas 1 -> 10, the duplicate of write 1, read 1.
    let (trace, states) = bug_is_found("no-dedup", 7);
    let deliveries: Vec<(&str, &str, &str, usize)> = trace
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == "deliver")
        .map(|(i, s)| {
            (
                s.src.as_deref().unwrap(),
                s.dst.as_deref().unwrap(),
                s.message.as_deref().unwrap(),
                i,
            )
        })
        .collect();
    let again = deliveries
        .iter()
        .find(|(src, dst, msg, i)| {
            msg.starts_with("Write(")
                && deliveries
                    .iter()
                    .any(|(s, d, m, j)| j < i && s == src && d == dst && m == msg)
        })
        .unwrap_or_else(|| panic!("a write is delivered twice:\n{}", trace.to_text()));
    let at = again.3;
    assert_ne!(
        server(&states[at], 0).data,
        server(&states[at + 1], 0).data,
        "the second delivery changes the store:\n{}",
        trace.to_text()
    );
}

#[test]
fn bug_volatile_store() {
    // A write is acknowledged, the server crashes and restarts empty, and the client's next
    // request finds no key.
    let (trace, states) = bug_is_found("volatile-store", 6);
    let kinds: Vec<&str> = trace.steps.iter().map(|s| s.kind).collect();
    let crash = kinds.iter().position(|k| *k == "crash").expect("a crash");
    assert_eq!(kinds[crash + 1], "recover", "{}", trace.to_text());
    assert_eq!(trace.steps[crash].actor.as_deref(), Some("server 0"));
    let acked_before_crash = states[crash]
        .history
        .clients
        .iter()
        .any(|c| c.done.iter().any(|d| d.ret == KvRet::WriteOk));
    assert!(acked_before_crash, "{}", trace.to_text());
    assert!(
        server(&states[crash + 2], 0).data.is_empty(),
        "the restart lost it"
    );
}

#[test]
fn bug_dedup_by_msg_id() {
    // Client 1's first write has msg_id 1, like client 0's applied write: it is answered from
    // client 0's session and never applied.
    let (trace, states) = bug_is_found("dedup-by-msg-id", 8);
    let unapplied = trace.steps.iter().enumerate().find(|(i, s)| {
        s.kind == "deliver"
            && s.message
                .as_deref()
                .is_some_and(|m| m.starts_with("Write("))
            && server(&states[*i], 0) == server(&states[i + 1], 0)
    });
    let (i, step) = unapplied
        .unwrap_or_else(|| panic!("a write answered but not applied:\n{}", trace.to_text()));
    let client = step.src.as_deref().unwrap();
    assert!(
        trace.steps[i + 1..].iter().any(|s| {
            s.dst.as_deref() == Some(client)
                && s.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("WriteOk"))
        }),
        "{client} is told its write succeeded:\n{}",
        trace.to_text()
    );
}

// ---------------------------------------------------------------------------------------------
// 4. The session bound
// ---------------------------------------------------------------------------------------------

#[test]
fn evicted_sessions_lose_at_most_once_under_duplication() {
    // With room for one session and two clients, a duplicate from the client whose session was
    // evicted looks new and is applied again: the documented cost of a bounded table without
    // session registration. Room for both clients, or no duplication, and it holds.
    let dup = NetworkKind::UnorderedDuplicating;
    let one_session = with(|c| {
        c.sessions = 1;
        c.network = dup;
    });
    let r = bfs(&one_session);
    assert_eq!(r.exit_code(), 1, "{}", r.to_text());
    let (trace, states) = assert_counterexample(&one_session, &r);
    assert!(trace.shortest);
    assert_eq!(trace.steps.len(), 8, "{}", trace.to_text());
    // Some write delivery finds its client without a session although the client had one
    // before: evicted by the other client's write, the duplicate is applied again.
    let reapplied = trace.steps.iter().enumerate().any(|(i, s)| {
        let client = match s.src.as_deref() {
            Some(name) if name.starts_with("client") => name,
            _ => return false,
        };
        let id = trace.participants.iter().position(|p| p == client).unwrap();
        let id = stateright::actor::Id::from(id);
        let had_session = states[..i]
            .iter()
            .any(|st| server(st, 0).sessions.get(id).is_some());
        s.message
            .as_deref()
            .is_some_and(|m| m.starts_with("Write("))
            && had_session
            && server(&states[i], 0).sessions.get(id).is_none()
            && server(&states[i], 0).data != server(&states[i + 1], 0).data
    });
    assert!(reapplied, "{}", trace.to_text());

    let two_sessions = with(|c| {
        c.sessions = 2;
        c.network = dup;
    });
    assert_passes(&bfs(&two_sessions), "2 sessions, duplicating");
    assert_counts(
        &bfs(&two_sessions),
        4_093,
        18_525,
        "2 sessions, duplicating",
    );
    assert_passes(&bfs(&with(|c| c.sessions = 1)), "1 session, no duplicates");
}

// ---------------------------------------------------------------------------------------------
// 5. Symmetry
// ---------------------------------------------------------------------------------------------

/// Configurations with their pinned (unreduced, reduced) counts.
fn symmetric_configurations() -> Vec<(&'static str, SingleCopyConfig, usize, usize)> {
    vec![
        ("default", SingleCopyConfig::default(), 685, 343),
        (
            "read, write, cas",
            with(|c| c.script = Script::ReadWriteCas),
            550,
            276,
        ),
        ("crashes 1", with(|c| c.crashes = 1), 1_370, 686),
        (
            "unordered-duplicating",
            with(|c| c.network = NetworkKind::UnorderedDuplicating),
            4_093,
            2_047,
        ),
    ]
}

#[test]
fn symmetry_reduces_preserves_verdicts_and_counts_exactly_the_orbits() {
    for (what, c, unreduced, reduced) in symmetric_configurations() {
        let full = bfs(&c);
        let small = bfs(&sym(&c));
        assert_passes(&full, what);
        assert_passes(&small, what);
        assert!(
            !full.symmetry && small.symmetry,
            "{what}: the report says so"
        );
        assert_eq!(verdicts(&full), verdicts(&small), "{what}: same verdicts");
        assert_eq!(
            (full.unique_states, small.unique_states),
            (unreduced, reduced),
            "{what}: (unreduced, reduced); a change to the model shows up here"
        );
        let dfs = check(&sym(&c), Strategy::Dfs, 1);
        assert_eq!(dfs.unique_states, reduced, "{what}: DFS agrees");

        // Independently of the canonical form: the orbits of the unreduced reachable set under
        // every permutation of clients are exactly the reduced states.
        let perms = permutations(c.clients);
        let all = reachable(&model(c.clone()));
        assert_eq!(
            all.len(),
            unreduced,
            "{what}: our BFS agrees with the checker"
        );
        let orbits: HashSet<u64> = all
            .iter()
            .map(|s| orbit_key(s, c.servers, &perms))
            .collect();
        let reduced_keys: Vec<u64> = reachable(&model(sym(&c)))
            .iter()
            .map(|s| orbit_key(s, c.servers, &perms))
            .collect();
        let distinct: HashSet<u64> = reduced_keys.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            reduced_keys.len(),
            "{what}: no two reduced states share an orbit"
        );
        assert_eq!(distinct, orbits, "{what}: reduced states cover the orbits");

        // A reduced search's example is concretised: it replays on the unreduced model.
        let example = small.property("cas fails").unwrap().trace.as_ref().unwrap();
        let states = replay(&c, example);
        let m = model(c.clone());
        assert!(states
            .last()
            .unwrap()
            .iter()
            .any(|s| property_holds(&m, "cas fails", s)));
    }
}

#[test]
fn symmetry_preserves_counterexamples() {
    // Each bug, and the two-server demonstration, is found with and without symmetry, with
    // shortest traces of the same length that replay on the unreduced model.
    let mut configurations: Vec<SingleCopyConfig> = SingleCopyBug::ALL
        .iter()
        .map(|(name, _)| bug_configuration(name))
        .collect();
    configurations.push(with(|c| c.servers = 2));
    for c in configurations {
        let full = bfs(&c);
        let small = bfs(&sym(&c));
        let (a, _) = assert_counterexample(&c, &full);
        let (b, _) = assert_counterexample(&c, &small);
        assert_eq!(a.steps.len(), b.steps.len(), "{c:?}: both shortest");
    }
}
