//! `synod check --compare`: the same configuration on stateright's own checker, for an honest
//! comparison of the two.
//!
//! A protocol's model is a [`System`] of actors; stateright's own form of it is an `ActorModel`
//! of the very same actors, configuration, network, crash bound and history recording. A TLA+
//! mirror is a plain `Model`, and stateright checks the very same model. So that both sides do
//! the same work, a comparison explores only: a system's properties (linearizability above all,
//! which dominates some checks) are replaced on both sides by one that always holds, so a search
//! expands every state and evaluates nothing of note. A mirror keeps its own properties, the
//! same on both sides. What stateright's form does differently (so that counts may differ) is
//! said in words by [`Baseline::differences`].

use crate::system::System;
use stateright::actor::{Actor, ActorModel};
use stateright::{Checker, Expectation, Model, Property};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

/// What one search found and how long it took.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BaselineRun {
    pub seconds: f64,
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
}

/// A model Synod can compare with stateright's own checker.
pub trait Baseline: Model + Sized {
    /// Which stateright model the comparison runs: `ActorModel`, or the model itself.
    const FORM: &'static str;

    /// The model exploring only (see the module docs); a mirror is unchanged.
    fn explore_only(self) -> Self {
        self
    }

    /// Runs stateright's breadth-first search over stateright's form of this model, exploring
    /// only, on `threads` threads.
    fn stateright_bfs(&self, threads: usize) -> BaselineRun;

    /// How stateright's form differs from this model in semantics (empty: not at all).
    fn differences(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The one property of a model that explores only: it always holds.
const EXPLORES: &str = "explores";

impl<A, C, H> Baseline for System<A, C, H>
where
    A: Actor + Clone + Send + Sync + 'static,
    A::Msg: Ord + Send + Sync,
    A::Timer: Ord + Send + Sync,
    A::State: PartialEq + Send + Sync,
    A::Storage: Send + Sync,
    A::Random: Send + Sync,
    C: Clone + Send + Sync + 'static,
    H: Clone + Debug + Hash + PartialEq + Send + Sync + 'static,
{
    const FORM: &'static str = "ActorModel";

    fn explore_only(mut self) -> Self {
        self.properties = vec![Property::always(EXPLORES, |_, _| true)];
        self.leads_to.clear();
        self
    }

    fn stateright_bfs(&self, threads: usize) -> BaselineRun {
        let model = ActorModel::new(self.cfg.clone(), self.init_history.clone())
            .actors(self.actors.iter().cloned())
            .init_network(self.network.network())
            .lossy_network(self.network.lossy())
            .max_crashes(self.max_crashes)
            .record_msg_in(self.record_msg_in)
            .record_msg_out(self.record_msg_out)
            .property(Expectation::Always, EXPLORES, |_, _| true);
        let started = Instant::now();
        let checker = model.checker().threads(threads.max(1)).spawn_bfs().join();
        BaselineRun {
            seconds: started.elapsed().as_secs_f64(),
            states: checker.state_count(),
            unique_states: checker.unique_state_count(),
            max_depth: checker.max_depth(),
        }
    }

    fn differences(&self) -> Vec<String> {
        let mut out = vec![
            "stateright's ActorModel fingerprints an actor's timers as a set of element hashes \
             without its length, so states that differ only in which actor has a timer set \
             count as one there (docs/decisions.md)"
                .to_string(),
        ];
        if self.max_crashes > 0 {
            out.push(
                "Synod's model may restrict which actors crash (the KV protocols: servers only; \
                 two-phase commit: the TM); ActorModel crashes any actor"
                    .into(),
            );
        }
        if self.reboot {
            out.push(
                "a crash here restarts the actor at once from what it saved; ActorModel crashes \
                 it and recovers it in a later step"
                    .into(),
            );
        }
        if self.crash_stop {
            out.push("a crashed actor here never recovers; ActorModel may recover it".into());
        }
        if self.obsolete.is_some() {
            out.push(
                "Synod's model drops messages in flight that can no longer change anything; \
                 ActorModel keeps them"
                    .into(),
            );
        }
        out
    }
}

/// The TLA+ mirrors: stateright checks the very same model.
macro_rules! same_model {
    ($($t:ty),*) => {$(
        impl Baseline for $t {
            const FORM: &'static str = "the same model";

            fn stateright_bfs(&self, threads: usize) -> BaselineRun {
                let started = Instant::now();
                let checker = self.clone().checker().threads(threads.max(1)).spawn_bfs().join();
                BaselineRun {
                    seconds: started.elapsed().as_secs_f64(),
                    states: checker.state_count(),
                    unique_states: checker.unique_state_count(),
                    max_depth: checker.max_depth(),
                }
            }
        }
    )*};
}

same_model!(
    synod_specs::TCommit,
    synod_specs::TwoPhase,
    synod_specs::Consensus,
    synod_specs::Voting,
    synod_specs::Paxos
);
