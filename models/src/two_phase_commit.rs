//! Two-phase commit as actors: a transaction manager (TM) and N resource managers (RMs).
//!
//! # The protocol
//!
//! Gray and Lamport, "Consensus on Transaction Commit" (2006), section 3; the TLA+ spec is
//! `TwoPhase.tla` (mirrored in `synod_specs::two_phase`). Each RM decides on its own whether it
//! can commit: it either *prepares* (promises to commit if asked, and tells the TM with
//! `Prepared`) or *chooses to abort*. Here an RM votes yes only once the TM's `Prepare` request
//! has reached it, and may abort on its own before that. The TM commits once **every** RM has prepared, and may abort
//! at any time before that; it announces its decision with `Commit` or `Abort`, and an RM follows
//! the decision it receives. The TM writes its decision to stable storage before sending it, and
//! a prepared RM's promise is durable too.
//!
//! The choices (an RM preparing or aborting, the TM aborting early) are random choices of the
//! actors, so the checker explores each of them.
//!
//! # Properties
//!
//! - `consistency` (always, `TCConsistent`): no RM has committed while another has aborted;
//! - `committed` and `aborted` (sometimes): both outcomes are reachable;
//! - `every RM decides` (eventually): each RM ends committed or aborted. **This fails when the TM
//!   can crash** (`--crashes 1`, crash-stop): once an RM has prepared it may not abort on its
//!   own, so if the TM stops after RMs prepared and before it decides, they wait forever. That is
//!   the classic blocking scenario of two-phase commit, and the reason for Paxos Commit.
//! - `commit reaches every RM` (leads-to): once the TM has committed, every RM commits. This
//!   holds even when the TM crashes right after deciding (its `Commit` messages are already on
//!   their way), and fails on a lossy network, where a lost `Commit` leaves its RM prepared.
//!
//! Both liveness properties assume weak fairness of message delivery and of the RMs' and the
//! TM's choices (`--fairness`; see `synod_models::liveness`): a behaviour that simply stops
//! decides nothing.
//!
//! # Bug variant
//!
//! `majority-commit`: the TM commits when a majority of RMs has prepared instead of all of them,
//! so a committing TM can meet an RM that chose to abort (violates `consistency`).

use crate::checked::Checked;
use crate::protocol::{
    always, eventually, leads_to, sometimes, BugInfo, Descriptor, Param, Protocol, Refine,
    Settings, ALL_NETWORKS,
};
use crate::system::{System, SystemState};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, ActorModelAction, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;
use std::fmt;

/// Messages, as `msgs` in TwoPhase.tla.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TpMsg {
    /// The TM asks the RMs to prepare (the request that opens phase 1; TwoPhase.tla leaves it
    /// implicit, so it maps to no message of `msgs`).
    Prepare,
    /// `[type |-> "Prepared", rm |-> r]`, from an RM to the TM.
    Prepared,
    /// `[type |-> "Commit"]`, from the TM.
    Commit,
    /// `[type |-> "Abort"]`, from the TM.
    Abort,
}

impl fmt::Debug for TpMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TpMsg::Prepare => "Prepare",
            TpMsg::Prepared => "Prepared",
            TpMsg::Commit => "Commit",
            TpMsg::Abort => "Abort",
        })
    }
}

/// `rmState[r]` and `tmState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    Working,
    Prepared,
    Committed,
    Aborted,
}

/// The random choices: an RM prepares or aborts; the TM aborts early.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Choice {
    Prepare,
    ChooseToAbort,
    TmAbort,
    /// Offered to the TM once enough RMs have prepared: the commit is a step of its own, as
    /// `TMCommit` is in TwoPhase.tla.
    TmCommit,
}

/// An actor's state: its phase, and for the TM the RMs heard `Prepared` from (`tmPrepared`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TpState {
    pub phase: Phase,
    pub prepared: u64,
}

impl fmt::Debug for TpState {
    /// `Prepared, prepared {rm0,rm2}`; alternate (`{:#?}`): a struct of its fields, `prepared`
    /// as the set of RMs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("TpState")
                .field("phase", &self.phase)
                .field("prepared", &RmBits(self.prepared))
                .finish();
        }
        write!(f, "{:?}", self.phase)?;
        if self.prepared != 0 {
            let rms: Vec<String> = (0..64)
                .filter(|i| self.prepared & (1 << i) != 0)
                .map(|i| format!("rm{i}"))
                .collect();
            write!(f, ", prepared {{{}}}", rms.join(","))?;
        }
        Ok(())
    }
}

/// A set of RM indices held as bits, printed as a set of `rm{i}`.
struct RmBits(u64);

impl fmt::Debug for RmBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        for i in (0..64).filter(|i| self.0 & (1 << i) != 0) {
            set.entry(&format_args!("rm{i}"));
        }
        set.finish()
    }
}

/// Deliberately broken variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TpBug {
    /// The TM commits once a majority of RMs has prepared.
    MajorityCommit,
}

/// The TM (actor 0) or RM `index` (actor `index + 1`).
#[derive(Clone, Debug)]
pub enum TpActor {
    Tm { rms: usize, bug: Option<TpBug> },
    Rm { index: usize },
}

/// The TM's id.
fn tm() -> Id {
    Id::from(0)
}

impl Actor for TpActor {
    type Msg = TpMsg;
    type State = TpState;
    type Timer = ();
    type Random = Choice;
    type Storage = Phase;

    fn name(&self) -> String {
        match self {
            TpActor::Tm { .. } => "tm".to_string(),
            TpActor::Rm { index } => format!("rm{index}"),
        }
    }

    fn on_start(&self, _id: Id, storage: &Option<Phase>, o: &mut Out<Self>) -> TpState {
        let phase = storage.unwrap_or(Phase::Working);
        match (self, phase) {
            (TpActor::Tm { rms, .. }, Phase::Working) => {
                o.choose_random("abort", vec![Choice::TmAbort]);
                if storage.is_none() {
                    let all: Vec<Id> = (1..=*rms).map(Id::from).collect();
                    o.broadcast(&all, &TpMsg::Prepare);
                }
            }
            // An RM may abort on its own at any time before it prepares.
            (TpActor::Rm { .. }, Phase::Working) => {
                o.choose_random("abort", vec![Choice::ChooseToAbort])
            }
            _ => {}
        }
        TpState { phase, prepared: 0 }
    }

    fn on_random(&self, _id: Id, state: &mut Cow<TpState>, choice: &Choice, o: &mut Out<Self>) {
        if state.phase != Phase::Working {
            return;
        }
        match (self, choice) {
            (TpActor::Rm { .. }, Choice::Prepare) => {
                state.to_mut().phase = Phase::Prepared;
                o.remove_random("abort");
                o.save(Phase::Prepared); // the promise is durable
                o.send(tm(), TpMsg::Prepared);
            }
            (TpActor::Rm { .. }, Choice::ChooseToAbort) => {
                state.to_mut().phase = Phase::Aborted;
                o.remove_random("vote");
                o.save(Phase::Aborted);
            }
            (TpActor::Tm { rms, .. }, Choice::TmAbort) => {
                self.decide(*rms, state, Phase::Aborted, o)
            }
            (TpActor::Tm { rms, .. }, Choice::TmCommit) => {
                self.decide(*rms, state, Phase::Committed, o)
            }
            _ => {}
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<TpState>, src: Id, msg: TpMsg, o: &mut Out<Self>) {
        match (self, msg) {
            (TpActor::Tm { rms, bug }, TpMsg::Prepared) if state.phase == Phase::Working => {
                let Some(rm) = usize::from(src).checked_sub(1).filter(|r| r < rms) else {
                    return;
                };
                let prepared = state.prepared | (1 << rm);
                state.to_mut().prepared = prepared;
                let needed = match bug {
                    Some(TpBug::MajorityCommit) => rms / 2 + 1,
                    None => *rms,
                };
                if prepared.count_ones() as usize == needed {
                    o.choose_random("commit", vec![Choice::TmCommit]);
                }
            }
            // Asked to prepare, a working RM may now vote yes.
            (TpActor::Rm { .. }, TpMsg::Prepare) if state.phase == Phase::Working => {
                o.choose_random("vote", vec![Choice::Prepare]);
            }
            (TpActor::Rm { .. }, TpMsg::Commit) if state.phase != Phase::Committed => {
                state.to_mut().phase = Phase::Committed;
                o.save(Phase::Committed);
            }
            (TpActor::Rm { .. }, TpMsg::Abort) if state.phase != Phase::Aborted => {
                state.to_mut().phase = Phase::Aborted;
                o.save(Phase::Aborted);
            }
            _ => {}
        }
    }
}

impl TpActor {
    /// The TM's decision: on disk first, then to every RM.
    fn decide(&self, rms: usize, state: &mut Cow<TpState>, phase: Phase, o: &mut Out<Self>) {
        state.to_mut().phase = phase;
        o.remove_random("abort");
        o.remove_random("commit");
        o.save(phase);
        let msg = if phase == Phase::Committed {
            TpMsg::Commit
        } else {
            TpMsg::Abort
        };
        let all: Vec<Id> = (1..=rms).map(Id::from).collect();
        o.broadcast(&all, &msg);
    }
}

/// Messages ever sent (TwoPhase.tla's `msgs`, which only grows): an auxiliary history for the
/// refinement mapping, since the network forgets delivered messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sent {
    /// RMs that sent `Prepared` (bit `r`).
    pub prepared: u64,
    pub commit: bool,
    pub abort: bool,
}

fn record_sent(
    _: &TpConfig,
    sent: &Sent,
    env: stateright::actor::Envelope<&TpMsg>,
) -> Option<Sent> {
    let mut next = *sent;
    match env.msg {
        TpMsg::Prepare => {}
        TpMsg::Prepared => next.prepared |= 1 << (usize::from(env.src) - 1),
        TpMsg::Commit => next.commit = true,
        TpMsg::Abort => next.abort = true,
    }
    (next != *sent).then_some(next)
}

/// The refinement mapping to TwoPhase.tla: `rmState` from the RMs, `tmState` and `tmPrepared`
/// from the TM (a crashed TM keeps its last state: it takes no more steps), `msgs` from the
/// history of sent messages.
pub fn to_two_phase(state: &TpSystem) -> synod_specs::TwoPhaseState {
    use synod_specs::tcommit::{Rm, RmSet, RmState, RmStates};
    use synod_specs::two_phase::{Messages, TmState};
    let rms = state.actors.len() - 1;
    let mut rm_state = RmStates::constant(rms, RmState::Working);
    for (r, phase) in rm_phases(state).enumerate() {
        let s = match phase {
            Phase::Working => RmState::Working,
            Phase::Prepared => RmState::Prepared,
            Phase::Committed => RmState::Committed,
            Phase::Aborted => RmState::Aborted,
        };
        rm_state.set(Rm(r as u8), s);
    }
    let tm = &state.actors[0].state;
    synod_specs::TwoPhaseState {
        rmState: rm_state,
        tmState: match tm.phase {
            Phase::Committed => TmState::Committed,
            Phase::Aborted => TmState::Aborted,
            _ => TmState::Init,
        },
        tmPrepared: RmSet(tm.prepared as u32),
        msgs: Messages {
            prepared: RmSet(state.history.prepared as u32),
            commit: state.history.commit,
            abort: state.history.abort,
        },
    }
}

/// The configuration of a two-phase commit check.
#[derive(Clone, Debug, PartialEq)]
pub struct TpConfig {
    pub rms: usize,
    /// Whether the TM may crash (and stay down).
    pub tm_crashes: bool,
    pub network: crate::NetworkKind,
    pub bug: Option<TpBug>,
}

/// The checked model.
pub type TpModel = Checked<System<TpActor, TpConfig, Sent>>;
type TpSystem = SystemState<TpActor, Sent>;

fn rm_phases(state: &TpSystem) -> impl Iterator<Item = Phase> + '_ {
    state.actors[1..].iter().map(|a| a.state.phase)
}

/// Builds the model: the TM is actor 0, RMs follow.
pub fn model(cfg: TpConfig) -> TpModel {
    assert!((1..=16).contains(&cfg.rms), "between 1 and 16 RMs");
    let system = System::new(cfg.clone(), Sent::default())
        .actors(std::iter::once(TpActor::Tm {
            rms: cfg.rms,
            bug: cfg.bug,
        }))
        .actors((0..cfg.rms).map(|index| TpActor::Rm { index }))
        .network(cfg.network)
        .record_msg_out(record_sent)
        .max_crashes(usize::from(cfg.tm_crashes))
        .crash_stop(true)
        .property(Expectation::Always, "consistency", |_, s| {
            let mut phases = rm_phases(s);
            !(phases.any(|p| p == Phase::Committed) && rm_phases(s).any(|p| p == Phase::Aborted))
        })
        .property(Expectation::Sometimes, "committed", |_, s| {
            rm_phases(s).all(|p| p == Phase::Committed)
        })
        .property(Expectation::Sometimes, "aborted", |_, s| {
            rm_phases(s).all(|p| p == Phase::Aborted)
        })
        .property(Expectation::Eventually, "every RM decides", |_, s| {
            rm_phases(s).all(|p| matches!(p, Phase::Committed | Phase::Aborted))
        })
        .leads_to(
            "commit reaches every RM",
            |_, s| s.actors[0].state.phase == Phase::Committed,
            |_, s| rm_phases(s).all(|p| p == Phase::Committed),
        );
    let mut checked = Checked::new(system);
    // Only the TM crashes: the RMs' fate is the point.
    checked.allow = |_, a| !matches!(a, ActorModelAction::Crash(id) if *id != tm());
    checked
}

/// The catalog entry: `synod check two-phase-commit`, `--refines` against TwoPhase.tla.
pub struct TwoPhaseCommit;

impl Protocol for TwoPhaseCommit {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "two-phase-commit",
        summary:
            "Two-phase commit as actors: a transaction manager and RMs (Gray and Lamport, 2006)",
        params: &[
            Param::model(
                "rms",
                "resource managers, the set RM (TCommit.cfg/TwoPhase.cfg: 3)",
                3,
                1,
                16,
            ),
            Param::model(
                "crashes",
                "1: the transaction manager may crash and stay down (2PC then blocks)",
                0,
                0,
                1,
            ),
        ],
        properties: &[
            always("consistency"),
            sometimes("committed"),
            sometimes("aborted"),
            eventually("every RM decides"),
            leads_to("commit reaches every RM"),
        ],
        bugs: &[BugInfo {
            name: "majority-commit",
            summary: "the TM commits once a majority of RMs has prepared instead of all of them",
            source: "Gray and Lamport, Consensus on Transaction Commit (2006), section 3",
            violates: "consistency",
            needs: &[],
        }],
        symmetry: None,
        networks: ALL_NETWORKS,
        validate: crate::protocol::no_validation,
        pinned: &[],
    };
    type Model = System<TpActor, TpConfig, Sent>;

    fn model(s: &Settings) -> TpModel {
        model(TpConfig {
            rms: s.count("rms"),
            tm_crashes: s.flag("crashes"),
            network: s.network,
            bug: s.bug_of(&[("majority-commit", TpBug::MajorityCommit)]),
        })
    }
}

impl Refine for TwoPhaseCommit {
    type Spec = synod_specs::TwoPhase;
    const SPEC_NAME: &'static str = "TwoPhase.tla";

    fn spec(s: &Settings) -> Result<synod_specs::TwoPhase, String> {
        synod_specs::TwoPhase::new(synod_specs::TwoPhaseConfig {
            rms: s.count("rms"),
            symmetric: false,
            bug: None,
        })
        .map_err(|e| e.to_string())
    }

    fn map(state: &TpSystem) -> synod_specs::TwoPhaseState {
        to_two_phase(state)
    }
}
