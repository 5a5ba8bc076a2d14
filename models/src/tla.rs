//! The TLA+ mirrors of `synod-specs` as catalog entries (`synod check spec-paxos`): their
//! constants as parameters, their invariants as properties, their deliberately broken variants
//! as bugs, and the unique-state counts TLC publishes for their model-checking configurations.
//!
//! The specifications live in `synod-specs`, which knows nothing of the catalog; this file gives
//! each one the descriptor the harness registers, and tells traces in TLA+ terms (each step is
//! the action with its arguments, and the whole state after it).

use crate::checked::Checked;
use crate::protocol::{
    always, sometimes, BugInfo, Descriptor, Param, Pinned, Protocol, Settings, NO_NETWORK,
};
use crate::trace::{plain_step, TraceStep, Traceable};
use synod_specs as specs;

/// Tells a specification's steps: the TLA+ action, then the whole state.
macro_rules! plain_traceable {
    ($($model:ty),* $(,)?) => {$(
        impl Traceable for $model {
            fn describe_init(&self, state: &Self::State) -> String {
                format!("{state:?}")
            }

            fn describe_step(
                &self,
                _last: &Self::State,
                action: &Self::Action,
                next: &Self::State,
            ) -> TraceStep {
                plain_step(action, next)
            }
        }
    )*};
}

// The specifications state no fairness: every behaviour may stop, as in the TLA+ specs
// without a `WF` conjunct (none of them has a liveness property).
impl crate::liveness::Liveness for specs::TCommit {}
impl crate::liveness::Liveness for specs::TwoPhase {}
impl crate::liveness::Liveness for specs::Consensus {}
impl crate::liveness::Liveness for specs::Voting {}
impl crate::liveness::Liveness for specs::Paxos {}

plain_traceable!(
    specs::TCommit,
    specs::TwoPhase,
    specs::Consensus,
    specs::Voting,
    specs::Paxos,
);

/// A specification wrapped for checking; `--symmetry` applies its exact canonical form.
fn checked<M: stateright::Model>(
    spec: Result<M, specs::ConfigError>,
    s: &Settings,
    canonical: fn(&M, &M::State) -> M::State,
) -> Checked<M>
where
    M::State: Clone,
    M::Action: Clone,
{
    let mut c = Checked::new(spec.expect("the descriptor's validate accepted these settings"));
    if s.symmetry {
        c.canonical = Some(canonical);
    }
    c
}

fn valid<M>(spec: Result<M, specs::ConfigError>) -> Result<(), String> {
    spec.map(|_| ()).map_err(|e| e.to_string())
}

const RMS: Param = Param::model(
    "rms",
    "resource managers, the set RM (TCommit.cfg/TwoPhase.cfg: 3)",
    3,
    1,
    16,
);
const ACCEPTORS: Param = Param::model(
    "acceptors",
    "the set Acceptor (MC configurations: 3)",
    3,
    1,
    5,
);
const VALUES: Param = Param::model("values", "the set Value (MC configurations: 2)", 2, 1, 3);

/// `synod check spec-tcommit`: TCommit.tla.
pub struct TCommitSpec;

fn tcommit(s: &Settings) -> Result<specs::TCommit, specs::ConfigError> {
    specs::TCommit::new(specs::TCommitConfig {
        rms: s.count("rms"),
        symmetric: false,
        bug: s.bug_of(&[("abort-after-commit", specs::TCommitBug::AbortAfterCommit)]),
    })
}

impl Protocol for TCommitSpec {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "spec-tcommit",
        summary: "TCommit.tla (Gray and Lamport, Consensus on Transaction Commit): the commit spec",
        params: &[RMS],
        properties: &[
            always("TCTypeOK"),
            always("TCConsistent"),
            sometimes("committed"),
            sometimes("aborted"),
        ],
        bugs: &[BugInfo {
            name: "abort-after-commit",
            summary: "Decide(r) aborts without notCommitted: an RM aborts after another committed",
            source: "TCommit.tla: the notCommitted conjunct of Decide",
            violates: "TCConsistent",
            needs: &[],
        }],
        symmetry: Some("resource managers"),
        networks: NO_NETWORK,
        validate: |s| valid(tcommit(s)),
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 34,
                source: "TLC on TCommit.tla with TCommit.cfg (3 RMs)",
            },
            Pinned {
                params: &[],
                symmetry: true,
                unique_states: 13,
                source: "orbits of TCommit.cfg under RM permutations (specs/tests/symmetry.rs)",
            },
        ],
    };
    type Model = specs::TCommit;

    fn model(s: &Settings) -> Checked<specs::TCommit> {
        checked(tcommit(s), s, specs::TCommit::canonical)
    }
}

/// `synod check spec-twophase`: TwoPhase.tla.
pub struct TwoPhaseSpec;

fn two_phase(s: &Settings) -> Result<specs::TwoPhase, specs::ConfigError> {
    specs::TwoPhase::new(specs::TwoPhaseConfig {
        rms: s.count("rms"),
        symmetric: false,
        bug: s.bug_of(&[(
            "commit-without-all-prepared",
            specs::TwoPhaseBug::CommitWithoutAllPrepared,
        )]),
    })
}

impl Protocol for TwoPhaseSpec {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "spec-twophase",
        summary: "TwoPhase.tla (Gray and Lamport): two-phase commit with a transaction manager and messages",
        params: &[RMS],
        properties: &[
            always("TPTypeOK"),
            always("TCConsistent"),
            sometimes("committed"),
            sometimes("aborted"),
        ],
        bugs: &[BugInfo {
            name: "commit-without-all-prepared",
            summary: "TMCommit without tmPrepared = RM: the TM commits before every RM has prepared",
            source: "Gray and Lamport, Consensus on Transaction Commit (2006), section 3",
            violates: "TCConsistent",
            needs: &[],
        }],
        symmetry: Some("resource managers"),
        networks: NO_NETWORK,
        validate: |s| valid(two_phase(s)),
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 288,
                source: "TLC on TwoPhase.tla with TwoPhase.cfg (3 RMs)",
            },
            Pinned {
                params: &[],
                symmetry: true,
                unique_states: 80,
                source: "orbits under RM permutations (specs/tests/symmetry.rs)",
            },
            Pinned {
                params: &[("rms", 6)],
                symmetry: false,
                unique_states: 50_816,
                source: "TwoPhase.tla's closing comment: TLC with six RMs",
            },
        ],
    };
    type Model = specs::TwoPhase;

    fn model(s: &Settings) -> Checked<specs::TwoPhase> {
        checked(two_phase(s), s, specs::TwoPhase::canonical)
    }
}

/// `synod check spec-consensus`: Consensus.tla.
pub struct ConsensusSpec;

fn consensus(s: &Settings) -> Result<specs::Consensus, specs::ConfigError> {
    specs::Consensus::new(specs::ConsensusConfig {
        values: s.count("values"),
        symmetric: false,
        bug: s.bug_of(&[("choose-again", specs::ConsensusBug::ChooseAgain)]),
    })
}

impl Protocol for ConsensusSpec {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "spec-consensus",
        summary:
            "Consensus.tla (Lamport, Paxos: how to win a Turing award): at most one value is chosen",
        params: &[Param::model(
            "values",
            "the set Value (MCConsensus: 3)",
            3,
            1,
            16,
        )],
        properties: &[always("TypeOK"), always("Inv"), sometimes("value chosen")],
        bugs: &[BugInfo {
            name: "choose-again",
            summary: "Next without chosen = {}: a second value can be chosen",
            source: "Consensus.tla, its opening comment",
            violates: "Inv",
            needs: &[],
        }],
        symmetry: Some("values"),
        networks: NO_NETWORK,
        validate: |s| valid(consensus(s)),
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 4,
                source: "TLC on MCConsensus.tla (3 values)",
            },
            Pinned {
                params: &[],
                symmetry: true,
                unique_states: 2,
                source: "orbits under value permutations (specs/tests/symmetry.rs)",
            },
        ],
    };
    type Model = specs::Consensus;

    fn model(s: &Settings) -> Checked<specs::Consensus> {
        checked(consensus(s), s, specs::Consensus::canonical)
    }
}

/// `synod check spec-voting`: Voting.tla.
pub struct VotingSpec;

fn voting(s: &Settings) -> Result<specs::Voting, specs::ConfigError> {
    specs::Voting::new(specs::VotingConfig {
        acceptors: s.count("acceptors"),
        values: s.count("values"),
        max_ballot: s.count("max-ballot"),
        symmetric: false,
        bug: s.bug_of(&[
            (
                "vote-without-shows-safe-at",
                specs::VotingBug::VoteWithoutShowsSafeAt,
            ),
            (
                "quorums-do-not-intersect",
                specs::VotingBug::QuorumsDoNotIntersect,
            ),
        ]),
    })
}

impl Protocol for VotingSpec {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "spec-voting",
        summary:
            "Voting.tla (Lamport): ballots, votes and quorums, the abstraction Paxos implements",
        params: &[
            ACCEPTORS,
            VALUES,
            Param::model(
                "max-ballot",
                "ballots are 0..=max-ballot (MCVoting: 2)",
                2,
                0,
                9,
            ),
        ],
        properties: &[
            always("TypeOK"),
            always("VotesSafe"),
            always("OneValuePerBallot"),
            always("Inv"),
            always("C!Inv"),
            sometimes("value chosen"),
            sometimes("value chosen in a later ballot"),
        ],
        bugs: &[
            BugInfo {
                name: "vote-without-shows-safe-at",
                summary:
                    "VoteFor without ShowsSafeAt: an acceptor votes for a value that is not safe",
                source: "Voting.tla, VoteFor",
                violates: "VotesSafe",
                needs: &[],
            },
            BugInfo {
                name: "quorums-do-not-intersect",
                summary: "quorums of n/2 acceptors, two of them disjoint",
                source: "Voting.tla, the closing exercise on the quorum assumption",
                violates: "C!Inv",
                needs: &[],
            },
        ],
        symmetry: Some("acceptors and values"),
        networks: NO_NETWORK,
        validate: |s| valid(voting(s)),
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 6_752,
                source: "TLC on MCVoting.tla (3 acceptors, 2 values, Ballot 0..2)",
            },
            Pinned {
                params: &[],
                symmetry: true,
                unique_states: 686,
                source: "orbits under acceptor and value permutations (specs/tests/symmetry.rs)",
            },
        ],
    };
    type Model = specs::Voting;

    fn model(s: &Settings) -> Checked<specs::Voting> {
        checked(voting(s), s, specs::Voting::canonical)
    }
}

/// `synod check spec-paxos`: Paxos.tla.
pub struct PaxosSpec;

fn paxos(s: &Settings) -> Result<specs::Paxos, specs::ConfigError> {
    specs::Paxos::new(specs::PaxosConfig {
        acceptors: s.count("acceptors"),
        values: s.count("values"),
        max_ballot: s.count("max-ballot"),
        symmetric: false,
        bug: s.bug_of(&[
            (
                "phase2a-ignores-votes",
                specs::PaxosBug::Phase2aIgnoresVotes,
            ),
            (
                "phase2a-without-phase1b",
                specs::PaxosBug::Phase2aWithoutPhase1b,
            ),
            (
                "quorums-do-not-intersect",
                specs::PaxosBug::QuorumsDoNotIntersect,
            ),
        ]),
    })
}

impl Protocol for PaxosSpec {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "spec-paxos",
        summary: "Paxos.tla (Lamport): the Paxos consensus algorithm with messages 1a/1b/2a/2b",
        params: &[
            ACCEPTORS,
            VALUES,
            Param::model(
                "max-ballot",
                "ballots are 0..=max-ballot (MCPaxosTiny: 1)",
                1,
                0,
                4,
            ),
        ],
        properties: &[
            always("TypeOK"),
            always("Inv"),
            always("V!Inv"),
            always("V!VotesSafe"),
            always("V!OneValuePerBallot"),
            always("V!C!Inv"),
            sometimes("value chosen"),
            sometimes("value chosen in a later ballot"),
        ],
        bugs: &[
            BugInfo {
                name: "phase2a-ignores-votes",
                summary: "Phase2a keeps the 1b quorum but ignores the votes it reports",
                source: "Paxos.tla, Phase2a; Lamport, Paxos Made Simple 2.2",
                violates: "Inv",
                needs: &[],
            },
            BugInfo {
                name: "phase2a-without-phase1b",
                summary: "Phase2a without any 1b quorum: no phase 1 at all",
                source: "Paxos.tla, Phase2a",
                violates: "Inv",
                needs: &[],
            },
            BugInfo {
                name: "quorums-do-not-intersect",
                summary: "quorums of n/2 acceptors, two of them disjoint",
                source: "Paxos.tla and Voting.tla, the quorum assumption",
                violates: "V!C!Inv",
                needs: &[],
            },
        ],
        symmetry: Some("acceptors and values"),
        networks: NO_NETWORK,
        validate: |s| valid(paxos(s)),
        pinned: &[Pinned {
            params: &[],
            symmetry: false,
            unique_states: 3_921,
            source: "TLC on MCPaxos.tla with MCPaxosTiny.cfg (3 acceptors, 2 values, MaxBallot 1)",
        }],
    };
    type Model = specs::Paxos;

    fn model(s: &Settings) -> Checked<specs::Paxos> {
        checked(paxos(s), s, specs::Paxos::canonical)
    }
}
