//! The liveness checker (`synod::check::liveness`) on small hand-made state graphs, where the
//! right verdict can be worked out on paper.
//!
//! What this pins, under weak fairness:
//!
//! - a cycle of `¬Q` states violates `eventually Q` when it is *fair*: every fairness class
//!   enabled in all of its states is taken on it. A fair exit enabled everywhere on the cycle
//!   makes it unfair (so the property holds); an exit enabled only somewhere, or not fair, or a
//!   class taken only on a longer cycle of the same component, does not;
//! - a behaviour may stop in a `¬Q` state where no fair class is enabled: `deadlock` when
//!   nothing is enabled, `stuttering` when only unfair actions are (and, with no fairness at
//!   all, anywhere);
//! - `P ~> Q` is violated only by a behaviour that reaches a `P ∧ ¬Q` state and stays in `¬Q`
//!   from there; `eventually Q` is `Init ~> Q`, so an initial state in `Q` satisfies it;
//! - the counterexample is a genuine lasso: every test replays it on the model step by step
//!   (each step an enabled action leading to the printed state), checks that its cycle closes
//!   (`loop_from`) and recomputes the cycle's fairness from the model itself;
//! - `unique_states` and `edges` are the reachable states and the enabled (state, action) pairs.
//!
//! The models are plain stateright models: most are [`Table`]s, a transition table over `u8`
//! states; [`Counter`] is a crash-and-restart counter with a struct state; [`Ring`] is a long
//! cycle (the SCC search must not recurse per state).

use stateright::{Model, Property};
use std::collections::BTreeSet;
use std::fmt::Debug;
use synod::check::liveness::{check, Outcome, Plan};
use synod::check::trace::Trace;
use synod_models::checked::Checked;
use synod_models::liveness::{Fairness, LeadsTo, Liveness};
use synod_models::trace::{plain_step, TraceStep, Traceable};

/// The name of every model's `eventually Q` property.
const EVENTUALLY: &str = "eventually q";
/// The name of a [`Table`]'s `P ~> Q` property.
const LEADS_TO: &str = "p leads to q";

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/// The actions of a [`Table`]: only names, what they do is the table's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Act {
    Step,
    Exit,
    ExitA,
    ExitB,
    Fin,
    Crash,
    Go,
    A,
    B,
    C,
    Y,
}
use Act::*;

/// A deterministic transition table over `u8` states: `(from, action, to)` rows. Every action
/// named anywhere in the table is *listed* in every state, and enabled (its `next_state` is
/// `Some`) only where the table has a row for it, so disabled actions are exercised too.
///
/// Its fair actions count as the `deliver` kind: under a [`Fairness`] without `deliver` (e.g.
/// [`Fairness::NONE`]) none is fair.
struct Table {
    init: Vec<u8>,
    rows: Vec<(u8, Act, u8)>,
    /// Fair actions and their class keys (two actions may share one).
    fair: Vec<(Act, u64)>,
    p: Vec<u8>,
    q: Vec<u8>,
}

impl Table {
    /// The table `rows`, starting in state 0, no action fair, `P` and `Q` empty.
    fn new(rows: &[(u8, Act, u8)]) -> Table {
        for (i, (s, a, _)) in rows.iter().enumerate() {
            assert!(
                !rows[..i].iter().any(|(s2, a2, _)| s2 == s && a2 == a),
                "two rows for {a:?} in state {s}: a model must be deterministic"
            );
        }
        Table {
            init: vec![0],
            rows: rows.to_vec(),
            fair: Vec::new(),
            p: Vec::new(),
            q: Vec::new(),
        }
    }

    fn fair(mut self, action: Act, class: u64) -> Table {
        self.fair.push((action, class));
        self
    }

    fn init(mut self, init: &[u8]) -> Table {
        self.init = init.to_vec();
        self
    }

    fn p(mut self, p: &[u8]) -> Table {
        self.p = p.to_vec();
        self
    }

    fn q(mut self, q: &[u8]) -> Table {
        self.q = q.to_vec();
        self
    }

    fn is_p(&self, s: &u8) -> bool {
        self.p.contains(s)
    }

    fn is_q(&self, s: &u8) -> bool {
        self.q.contains(s)
    }
}

impl Model for Table {
    type State = u8;
    type Action = Act;

    fn init_states(&self) -> Vec<u8> {
        self.init.clone()
    }

    fn actions(&self, _: &u8, actions: &mut Vec<Act>) {
        for (_, a, _) in &self.rows {
            if !actions.contains(a) {
                actions.push(*a);
            }
        }
    }

    fn next_state(&self, s: &u8, action: Act) -> Option<u8> {
        self.rows
            .iter()
            .find(|(from, a, _)| from == s && *a == action)
            .map(|r| r.2)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::eventually(EVENTUALLY, |m, s| m.is_q(s))]
    }
}

impl Liveness for Table {
    fn fair_class(&self, action: &Act, fairness: Fairness) -> Option<u64> {
        if !fairness.deliver {
            return None;
        }
        self.fair.iter().find(|(a, _)| a == action).map(|f| f.1)
    }

    fn leads_to(&self) -> Vec<LeadsTo<Self>> {
        vec![LeadsTo {
            name: LEADS_TO,
            from: |m, s| m.is_p(s),
            to: |m, s| m.is_q(s),
        }]
    }
}

impl Traceable for Table {
    fn describe_init(&self, s: &u8) -> String {
        format!("{s:?}")
    }

    fn describe_step(&self, _: &u8, action: &Act, next: &u8) -> TraceStep {
        plain_step(action, next)
    }
}

/// A counter modulo 4 that may crash and restart: `eventually n == 3`. `Tick` is fair (a
/// timer: the `timeout` kind), `Restart` is fair only with the `recover` kind, `Crash` never.
struct Counter;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Node {
    n: u8,
    up: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    Tick,
    Crash,
    Restart,
}

impl Model for Counter {
    type State = Node;
    type Action = Op;

    fn init_states(&self) -> Vec<Node> {
        vec![Node { n: 0, up: true }]
    }

    fn actions(&self, _: &Node, actions: &mut Vec<Op>) {
        actions.extend([Op::Tick, Op::Crash, Op::Restart]);
    }

    fn next_state(&self, s: &Node, action: Op) -> Option<Node> {
        match action {
            Op::Tick if s.up => Some(Node {
                n: (s.n + 1) % 4,
                up: true,
            }),
            Op::Crash if s.up => Some(Node { n: s.n, up: false }),
            Op::Restart if !s.up => Some(Node { n: s.n, up: true }),
            _ => None,
        }
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::eventually(EVENTUALLY, |_, s: &Node| s.n == 3)]
    }
}

impl Liveness for Counter {
    fn fair_class(&self, action: &Op, fairness: Fairness) -> Option<u64> {
        match action {
            Op::Tick if fairness.timeout => Some(1),
            Op::Restart if fairness.recover => Some(2),
            _ => None,
        }
    }
}

impl Traceable for Counter {
    fn describe_init(&self, s: &Node) -> String {
        format!("{s:?}")
    }

    fn describe_step(&self, _: &Node, action: &Op, next: &Node) -> TraceStep {
        plain_step(action, next)
    }
}

/// A ring of `n` states `0 -> 1 -> ... -> n - 1 -> 0` by the fair `Next`, and, when `out` says
/// so, an `Out` from every ring state to state `n`, the only `Q` state (`Some(true)`: `Out` is
/// fair, `Some(false)`: it is not).
struct Ring {
    n: u32,
    out: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RingAct {
    Next,
    Out,
}

impl Model for Ring {
    type State = u32;
    type Action = RingAct;

    fn init_states(&self) -> Vec<u32> {
        vec![0]
    }

    fn actions(&self, s: &u32, actions: &mut Vec<RingAct>) {
        if *s < self.n {
            actions.push(RingAct::Next);
            if self.out.is_some() {
                actions.push(RingAct::Out);
            }
        }
    }

    fn next_state(&self, s: &u32, action: RingAct) -> Option<u32> {
        match action {
            RingAct::Next => Some((s + 1) % self.n),
            RingAct::Out => Some(self.n),
        }
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::eventually(EVENTUALLY, |m, s| *s == m.n)]
    }
}

impl Liveness for Ring {
    fn fair_class(&self, action: &RingAct, _: Fairness) -> Option<u64> {
        match action {
            RingAct::Next => Some(1),
            RingAct::Out => self.out.filter(|fair| *fair).map(|_| 2),
        }
    }
}

impl Traceable for Ring {
    fn describe_init(&self, s: &u32) -> String {
        format!("{s:?}")
    }

    fn describe_step(&self, _: &u32, action: &RingAct, next: &u32) -> TraceStep {
        plain_step(action, next)
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Runs the liveness checker on `model` under `fairness`, with no limits, and asserts it
/// explored the whole graph.
#[track_caller]
fn run<M>(model: M, fairness: Fairness) -> (Checked<M>, Outcome)
where
    M: Liveness + Traceable,
    M::State: std::hash::Hash + Clone + PartialEq,
    M::Action: Clone,
{
    let checked = Checked::new(model);
    let out = check(&checked, &plan(fairness));
    assert!(out.complete, "the whole graph is explored");
    assert_eq!(out.stopped, None);
    (checked, out)
}

fn plan(fairness: Fairness) -> Plan {
    Plan {
        fairness,
        deadline: None,
        max_memory: u64::MAX,
        watch: None,
    }
}

/// The default fairness (`deliver`, `timeout` and `random`): a [`Table`]'s fair actions are fair.
fn fair() -> Fairness {
    Fairness::default()
}

/// The counterexample for `name`, which must be violated.
#[track_caller]
fn violated<'a>(out: &'a Outcome, name: &str) -> &'a Trace {
    out.violations
        .get(name)
        .unwrap_or_else(|| panic!("{name} is violated; violations: {:?}", names(out)))
}

/// Asserts `name` holds (no counterexample).
#[track_caller]
fn assert_holds(out: &Outcome, name: &str) {
    if let Some(t) = out.violations.get(name) {
        panic!(
            "{name} holds, yet a counterexample was given:\n{}",
            t.to_text()
        );
    }
}

fn names(out: &Outcome) -> BTreeSet<&'static str> {
    out.violations.keys().copied().collect()
}

/// The actions enabled in `s` (listed, and with a successor), with their successors.
fn successors<M: Model>(m: &M, s: &M::State) -> Vec<(M::Action, M::State)>
where
    M::Action: Clone,
{
    let mut actions = Vec::new();
    m.actions(s, &mut actions);
    actions
        .into_iter()
        .filter_map(|a| m.next_state(s, a.clone()).map(|next| (a, next)))
        .collect()
}

/// The fair classes enabled in `s`.
fn fair_enabled<M: Liveness>(m: &M, s: &M::State, f: Fairness) -> BTreeSet<u64>
where
    M::Action: Clone,
{
    successors(m, s)
        .iter()
        .filter_map(|(a, _)| m.fair_class(a, f))
        .collect()
}

/// A trace replayed on its model: `states[0]` is the initial state, `states[i]` the state after
/// step `i` (1-based), `actions[i - 1]` step `i`'s action.
struct Run<M: Model> {
    states: Vec<M::State>,
    actions: Vec<M::Action>,
}

/// Replays `t` on `m`: its initial state must be one of the model's, and each step an enabled
/// action (by its `Debug` name, as `plain_step` prints it) leading to the state it prints.
#[track_caller]
fn replay<M>(m: &M, t: &Trace) -> Run<M>
where
    M: Model,
    M::State: Debug,
    M::Action: Debug + Clone,
{
    let init = m
        .init_states()
        .into_iter()
        .find(|s| format!("{s:?}") == t.initial_state)
        .unwrap_or_else(|| panic!("{:?} is not an initial state", t.initial_state));
    let mut run = Run {
        states: vec![init],
        actions: Vec::new(),
    };
    for (i, step) in t.steps.iter().enumerate() {
        assert_eq!(step.step, i + 1, "steps are numbered from 1");
        let last = run.states.last().expect("at least the initial state");
        let (action, next) = successors(m, last)
            .into_iter()
            .find(|(a, next)| {
                step.message.as_deref() == Some(format!("{a:?}").as_str())
                    && step.state == format!("{next:?}")
            })
            .unwrap_or_else(|| {
                panic!(
                    "step {} ({:?} to {}) is no enabled step of the model from {last:?}:\n{}",
                    step.step,
                    step.message,
                    step.state,
                    t.to_text()
                )
            });
        run.actions.push(action);
        run.states.push(next);
    }
    run
}

/// Asserts that `t` is a genuine counterexample to `premise ~> q` under fairness `f`, and
/// returns it replayed:
///
/// - it replays on the model ([`replay`]);
/// - some state `i` satisfies the premise (`premise(i, state)`: `i == 0` for `eventually`) and
///   no state from `i` on satisfies `q` (the cycle's states are among them);
/// - `cycle`: the state after the last step is the state before step `loop_from`, and every
///   class enabled in all of the cycle's states is the class of one of its steps (recomputed
///   from the model); `deadlock`: nothing is enabled after the last step; `stuttering`:
///   something is, but no fair class.
#[track_caller]
fn assert_counterexample<M>(
    m: &M,
    f: Fairness,
    t: &Trace,
    premise: impl Fn(usize, &M::State) -> bool,
    q: impl Fn(&M::State) -> bool,
) -> Run<M>
where
    M: Liveness,
    M::State: Debug + PartialEq,
    M::Action: Debug + Clone,
{
    let run = replay(m, t);
    let text = || t.to_text();
    let lasso = t
        .lasso
        .as_ref()
        .expect("a liveness counterexample is a lasso");
    assert_eq!(lasso.fairness, f.names(), "the fairness assumed");
    let n = run.actions.len();
    let from = (0..=n).find(|&i| premise(i, &run.states[i]) && !run.states[i..].iter().any(&q));
    assert!(
        from.is_some(),
        "no state satisfies the premise with only ¬Q states after it:\n{}",
        text()
    );
    let last = &run.states[n];
    match lasso.kind {
        "cycle" => {
            let lf = lasso.loop_from.expect("a cycle says where it starts");
            assert!(
                (1..=n).contains(&lf),
                "loop_from {lf} of {n} steps:\n{}",
                text()
            );
            assert_eq!(
                *last,
                run.states[lf - 1],
                "the cycle closes: the state after the last step is the state before step {lf}:\n{}", text()
            );
            let cycle = &run.states[lf - 1..n];
            let mut everywhere = fair_enabled(m, &cycle[0], f);
            for s in cycle {
                let here = fair_enabled(m, s, f);
                everywhere.retain(|c| here.contains(c));
            }
            let taken: BTreeSet<u64> = run.actions[lf - 1..]
                .iter()
                .filter_map(|a| m.fair_class(a, f))
                .collect();
            assert!(
                everywhere.is_subset(&taken),
                "the cycle is not weakly fair: classes {everywhere:?} are enabled in all of its states, only {taken:?} are taken:\n{}", text()
            );
        }
        "deadlock" => {
            assert_eq!(lasso.loop_from, None);
            assert!(
                successors(m, last).is_empty(),
                "a deadlock has nothing enabled:\n{}",
                text()
            );
        }
        "stuttering" => {
            assert_eq!(lasso.loop_from, None);
            assert!(
                !successors(m, last).is_empty(),
                "stuttering has some action enabled (else it is a deadlock):\n{}",
                text()
            );
            assert!(
                fair_enabled(m, last, f).is_empty(),
                "stuttering has no fair class enabled:\n{}",
                text()
            );
        }
        other => panic!("unknown lasso kind {other:?}"),
    }
    run
}

/// [`assert_counterexample`] for a [`Table`]'s `eventually Q`.
#[track_caller]
fn assert_eventually_cex(m: &Table, f: Fairness, t: &Trace) -> Run<Table> {
    assert_counterexample(m, f, t, |i, _| i == 0, |s| m.is_q(s))
}

/// [`assert_counterexample`] for a [`Table`]'s `P ~> Q`.
#[track_caller]
fn assert_leads_to_cex(m: &Table, f: Fairness, t: &Trace) -> Run<Table> {
    assert_counterexample(m, f, t, |_, s| m.is_p(s), |s| m.is_q(s))
}

/// The lasso's kind and `loop_from`.
fn shape(t: &Trace) -> (&'static str, Option<usize>) {
    let l = t
        .lasso
        .as_ref()
        .expect("a liveness counterexample is a lasso");
    (l.kind, l.loop_from)
}

// ---------------------------------------------------------------------------------------------
// Cycles and fairness
// ---------------------------------------------------------------------------------------------

/// The three-state cycle `0 -> 1 -> 2 -> 0` by the fair `Step`, optionally with more rows.
fn triangle(extra: &[(u8, Act, u8)]) -> Table {
    let mut rows = vec![(0, Step, 1), (1, Step, 2), (2, Step, 0)];
    rows.extend_from_slice(extra);
    Table::new(&rows).fair(Step, 1)
}

/// A fair cycle that never reaches `Q` violates `eventually Q`: the lasso is the whole
/// triangle, repeated from the initial state (step 1) on.
#[test]
fn fair_cycle_without_q_violates_eventually() {
    let (m, out) = run(triangle(&[]), fair());
    assert_eq!((out.unique_states, out.edges), (3, 3));
    assert_eq!(names(&out), BTreeSet::from([EVENTUALLY]));
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t), ("cycle", Some(1)));
    let r = assert_eventually_cex(&m.inner, fair(), t);
    assert_eq!(r.states, [0, 1, 2, 0]);
    assert_eq!(r.actions, [Step, Step, Step]);
    // `P` is empty, so `P ~> Q` holds vacuously in the same graph.
    assert_holds(&out, LEADS_TO);
}

/// A fair `Exit` to `Q` enabled in every state of the cycle, never taken on it: a behaviour
/// looping forever would leave `Exit` continuously enabled, which weak fairness forbids. So
/// every fair behaviour exits, and `eventually Q` holds.
#[test]
fn fair_exit_enabled_everywhere_on_the_cycle_forces_progress() {
    let m = triangle(&[(0, Exit, 3), (1, Exit, 3), (2, Exit, 3)])
        .fair(Exit, 2)
        .q(&[3]);
    let (_, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (4, 6));
    assert!(out.violations.is_empty(), "{:?}", names(&out));
}

/// Weak, not strong, fairness: `Exit` (fair, own class) is enabled only in state 0, so on the
/// cycle it is disabled infinitely often (in states 1 and 2) and weak fairness does not require
/// it to be taken. The cycle is fair and `eventually Q` is violated. (Under *strong* fairness,
/// which asks that an action enabled infinitely often be taken, it would hold.)
#[test]
fn exit_enabled_in_one_state_only_leaves_the_cycle_fair() {
    let m = triangle(&[(0, Exit, 3)]).fair(Exit, 2).q(&[3]);
    let (m, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (4, 4));
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t).0, "cycle");
    let r = assert_eventually_cex(&m.inner, fair(), t);
    assert!(!r.actions.contains(&Exit), "the cycle never exits");
    // The fairness the cycle needs: it passes through a state where `Exit` is disabled.
    let lf = shape(t).1.unwrap();
    assert!(r.states[lf - 1..].iter().any(|s| *s != 0));
}

/// The same cycle with `Exit` enabled everywhere but not fair: nothing obliges a behaviour to
/// take it, so the cycle is a fair behaviour violating `eventually Q`.
#[test]
fn unfair_exit_does_not_force_progress() {
    let m = triangle(&[(0, Exit, 3), (1, Exit, 3), (2, Exit, 3)]).q(&[3]);
    let (m, out) = run(m, fair());
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t), ("cycle", Some(1)));
    let r = assert_eventually_cex(&m.inner, fair(), t);
    assert_eq!(r.actions, [Step, Step, Step]);
}

/// Fairness is per class, not per action: `ExitA` (enabled in 0) and `ExitB` (enabled in 1)
/// sharing one class make that class enabled in every state of the cycle `0 <-> 1`, so the
/// cycle is unfair and `eventually Q` holds. With a class each, each is disabled somewhere on
/// the cycle and the cycle is fair.
#[test]
fn a_class_shared_by_two_actions_is_enabled_where_either_is() {
    let rows = [(0, Step, 1), (1, Step, 0), (0, ExitA, 2), (1, ExitB, 2)];
    let shared = Table::new(&rows)
        .fair(Step, 1)
        .fair(ExitA, 7)
        .fair(ExitB, 7)
        .q(&[2]);
    let (_, out) = run(shared, fair());
    assert_eq!((out.unique_states, out.edges), (3, 4));
    assert_holds(&out, EVENTUALLY);

    let separate = Table::new(&rows)
        .fair(Step, 1)
        .fair(ExitA, 7)
        .fair(ExitB, 8)
        .q(&[2]);
    let (m, out) = run(separate, fair());
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t), ("cycle", Some(1)));
    let r = assert_eventually_cex(&m.inner, fair(), t);
    assert_eq!(r.states, [0, 1, 0]);
}

/// An unfair self-loop (`Crash` in state 1) does not violate `eventually Q` when a fair `Fin`
/// to `Q` is enabled there: the loop leaves `Fin` continuously enabled.
#[test]
fn unfair_self_loop_beside_a_fair_exit_is_not_a_violation() {
    let m = Table::new(&[(0, Step, 1), (1, Crash, 1), (1, Fin, 2)])
        .fair(Step, 1)
        .fair(Fin, 2)
        .q(&[2]);
    let (_, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (3, 3));
    assert_holds(&out, EVENTUALLY);
}

/// A fair self-loop is a cycle of one step; the counterexample gets to it through a component
/// that is not fair (`0 <-> 1`, with the fair `Exit` enabled in both states and never taken
/// inside): `0 -> 1 -> 2`, then `Step` from 2 to 2 forever.
#[test]
fn walks_through_an_unfair_component_to_a_fair_self_loop() {
    let m = Table::new(&[
        (0, A, 1),
        (1, A, 0),
        (0, Exit, 3),
        (1, Exit, 3),
        (1, Go, 2),
        (2, Step, 2),
    ])
    .fair(A, 1)
    .fair(Exit, 2)
    .fair(Go, 3)
    .fair(Step, 4)
    .q(&[3]);
    let (m, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (4, 6));
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t), ("cycle", Some(3)));
    let r = assert_eventually_cex(&m.inner, fair(), t);
    assert_eq!(r.actions, [A, Go, Step]);
    assert_eq!(r.states, [0, 1, 2, 2]);
}

/// A component whose shortest cycle through the start is unfair but which is fair as a whole:
/// `A` and `B` are both enabled in all of 0, 1, 2 (`B` leads to `Q` from 0 and 2), and `B`'s
/// only edge inside the component is `1 -> 2`. The loop `0 -A-> 1 -A-> 0` never takes `B`, so
/// the counterexample's cycle must go round through 2 and take both classes.
#[test]
fn fair_cycle_takes_every_class_enabled_in_all_its_states() {
    let m = Table::new(&[
        (0, A, 1),
        (1, A, 0),
        (2, A, 1),
        (0, B, 3),
        (1, B, 2),
        (2, B, 3),
    ])
    .fair(A, 1)
    .fair(B, 2)
    .q(&[3]);
    let (m, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (4, 6));
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t).0, "cycle");
    let r = assert_eventually_cex(&m.inner, fair(), t);
    let lf = shape(t).1.unwrap();
    let cycle = &r.actions[lf - 1..];
    assert!(cycle.contains(&A) && cycle.contains(&B), "{cycle:?}");
    assert!(
        cycle.len() > 2,
        "longer than the unfair shortest loop: {cycle:?}"
    );
    assert!(r.states[lf - 1..].contains(&2));
}

/// Fairness by disabling: `Y` (to `Q`) is enabled in 0 and 1 and never leads inside the
/// component, so the loop `0 <-> 1` is unfair, but passing through state 2 (by the fair `C`),
/// where `Y` is disabled, makes the cycle fair without ever taking `Y`.
#[test]
fn fair_cycle_may_pass_where_a_class_is_disabled_instead_of_taking_it() {
    let m = Table::new(&[
        (0, A, 1),
        (1, A, 0),
        (0, Y, 3),
        (1, Y, 3),
        (1, C, 2),
        (2, C, 0),
    ])
    .fair(A, 1)
    .fair(Y, 2)
    .fair(C, 3)
    .q(&[3]);
    let (m, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (4, 6));
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t).0, "cycle");
    let r = assert_eventually_cex(&m.inner, fair(), t);
    let lf = shape(t).1.unwrap();
    assert!(!r.actions.contains(&Y), "{:?}", r.actions);
    assert!(r.states[lf - 1..].contains(&2), "{:?}", r.states);

    // Without the detour through 2 the component is the unfair loop: the property holds.
    let m = Table::new(&[(0, A, 1), (1, A, 0), (0, Y, 3), (1, Y, 3)])
        .fair(A, 1)
        .fair(Y, 2)
        .q(&[3]);
    let (_, out) = run(m, fair());
    assert_holds(&out, EVENTUALLY);
}

/// A cycle of 50 000 states (the SCC search and the cycle construction are iterative): with
/// a fair `Out` enabled everywhere the property holds; with an unfair one (or none) the
/// counterexample is the whole ring.
#[test]
fn long_ring() {
    const N: u32 = 50_000;
    let (_, out) = run(
        Ring {
            n: N,
            out: Some(true),
        },
        fair(),
    );
    assert_eq!(out.unique_states, N as usize + 1);
    assert_eq!(out.edges, 2 * N as usize);
    assert_holds(&out, EVENTUALLY);

    for out_kind in [Some(false), None] {
        let (m, out) = run(
            Ring {
                n: N,
                out: out_kind,
            },
            fair(),
        );
        let edges = if out_kind.is_some() { 2 * N } else { N };
        assert_eq!(out.edges, edges as usize);
        let t = violated(&out, EVENTUALLY);
        assert_eq!(shape(t), ("cycle", Some(1)), "{out_kind:?}");
        assert_eq!(t.steps.len(), N as usize);
        let r = assert_counterexample(&m.inner, fair(), t, |i, _| i == 0, |s| *s == N);
        assert!(r.actions.iter().all(|a| *a == RingAct::Next));
    }
}

// ---------------------------------------------------------------------------------------------
// Stopping: deadlock and stuttering
// ---------------------------------------------------------------------------------------------

/// State 1's only enabled action is the unfair `Crash` (which would even reach `Q`): a fair
/// behaviour may take none of it and stop in 1, so `eventually Q` is violated by stuttering.
#[test]
fn stuttering_where_only_unfair_actions_are_enabled() {
    let m = Table::new(&[(0, Step, 1), (1, Crash, 2)])
        .fair(Step, 1)
        .q(&[2]);
    let (m, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (3, 2));
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t), ("stuttering", None));
    let r = assert_eventually_cex(&m.inner, fair(), t);
    assert_eq!(r.states, [0, 1]);

    // Make the crash fair and the behaviour must take it.
    let m = Table::new(&[(0, Step, 1), (1, Crash, 2)])
        .fair(Step, 1)
        .fair(Crash, 2)
        .q(&[2]);
    let (_, out) = run(m, fair());
    assert_holds(&out, EVENTUALLY);
}

/// State 1 has no enabled action at all (`Step` is listed there but its `next_state` is
/// `None`): a deadlock outside `Q`.
#[test]
fn deadlock_where_nothing_is_enabled() {
    let m = Table::new(&[(0, Step, 1), (2, Step, 0)])
        .fair(Step, 1)
        .q(&[2]);
    let (m, out) = run(m, fair());
    // State 2 is unreachable: it is neither counted nor an edge's source.
    assert_eq!((out.unique_states, out.edges), (2, 1));
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t), ("deadlock", None));
    let r = assert_eventually_cex(&m.inner, fair(), t);
    assert_eq!(r.states, [0, 1]);
}

/// With no fairness at all a behaviour may stop anywhere: the initial state, outside `Q`, is
/// already a counterexample (stuttering after no step), even where a fair `Exit` made the
/// property hold.
#[test]
fn without_fairness_a_behaviour_may_stop_at_once() {
    for exits in [false, true] {
        let extra: &[(u8, Act, u8)] = if exits {
            &[(0, Exit, 3), (1, Exit, 3), (2, Exit, 3)]
        } else {
            &[]
        };
        let m = triangle(extra).fair(Exit, 2).q(&[3]);
        let (m, out) = run(m, Fairness::NONE);
        let t = violated(&out, EVENTUALLY);
        assert_eq!(shape(t), ("stuttering", None), "exits: {exits}");
        assert!(t.steps.is_empty(), "stops in the initial state");
        assert!(t.lasso.as_ref().unwrap().fairness.is_empty());
        assert_eventually_cex(&m.inner, Fairness::NONE, t);
    }
}

/// [`Counter`]: `Tick` is fair, but the counter may crash at any time. Crashing and restarting
/// forever is a weakly fair behaviour whether or not `Restart` is fair (`Tick` is disabled
/// whenever the counter is down, and a fair behaviour may take unfair steps): a cycle. Without
/// `Restart` (the action filter) the counter stays down: a deadlock. With no fairness at all
/// it may stop at once. Without crashes, `eventually` holds.
#[test]
fn crash_and_restart() {
    let recover = Fairness {
        recover: true,
        ..fair()
    };
    for f in [fair(), recover] {
        let (m, out) = run(Counter, f);
        assert_eq!((out.unique_states, out.edges), (8, 12));
        let t = violated(&out, EVENTUALLY);
        assert_eq!(shape(t), ("cycle", Some(1)), "{f:?}");
        let r = assert_counterexample(&m.inner, f, t, |i, _| i == 0, |s| s.n == 3);
        assert_eq!(r.actions, [Op::Crash, Op::Restart]);
    }

    let (m, out) = run(Counter, Fairness::NONE);
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t), ("stuttering", None));
    assert!(t.steps.is_empty());
    assert_counterexample(&m.inner, Fairness::NONE, t, |i, _| i == 0, |s| s.n == 3);

    let mut no_restart = Checked::new(Counter);
    no_restart.allow = |_, a| *a != Op::Restart;
    let out = check(&no_restart, &plan(recover));
    assert!(out.complete);
    assert_eq!((out.unique_states, out.edges), (8, 8));
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t), ("deadlock", None));
    // (The filtered model's own deadlock: the inner model still lists and enables `Restart`.)
    let r = replay(&Counter, t);
    assert_eq!(r.actions, [Op::Crash]);

    let mut no_crash = Checked::new(Counter);
    no_crash.allow = |_, a| *a != Op::Crash;
    let out = check(&no_crash, &plan(recover));
    assert!(out.complete);
    assert_eq!((out.unique_states, out.edges), (4, 4));
    assert_holds(&out, EVENTUALLY);
}

// ---------------------------------------------------------------------------------------------
// Leads-to and initial states
// ---------------------------------------------------------------------------------------------

/// `P` (state 1) is followed by `Q` (state 3) on every fair behaviour: the only way on from 1
/// is 2, where the fair `Fin` stays enabled while the unfair `Crash` loops. Both properties hold.
#[test]
fn leads_to_holds_when_every_fair_behaviour_from_p_reaches_q() {
    let m = Table::new(&[
        (0, Step, 1),
        (1, Step, 2),
        (2, Crash, 2),
        (2, Fin, 3),
        (3, Step, 0),
    ])
    .fair(Step, 1)
    .fair(Fin, 2)
    .p(&[1])
    .q(&[3]);
    let (_, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (4, 5));
    assert!(out.violations.is_empty(), "{:?}", names(&out));
}

/// `Q` holds initially (so `eventually Q` holds) but `P` (state 1) can go on to the fair `¬Q`
/// cycle `2 <-> 3`: `P ~> Q` is violated, and its counterexample passes through 1 before the
/// cycle.
#[test]
fn leads_to_violated_by_a_fair_cycle_after_p() {
    let m = Table::new(&[
        (0, Step, 1),
        (1, Fin, 4),
        (1, Step, 2),
        (2, Step, 3),
        (3, Step, 2),
    ])
    .fair(Step, 1)
    .fair(Fin, 2)
    .p(&[1])
    .q(&[0, 4]);
    let (m, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (5, 5));
    assert_holds(&out, EVENTUALLY);
    let t = violated(&out, LEADS_TO);
    assert_eq!(shape(t), ("cycle", Some(3)));
    let r = assert_leads_to_cex(&m.inner, fair(), t);
    assert_eq!(r.states, [0, 1, 2, 3, 2]);
    let lf = shape(t).1.unwrap();
    let p_at = r.states.iter().position(|s| m.inner.is_p(s)).unwrap();
    assert!(p_at < lf - 1, "P comes before the cycle");
}

/// `P` never holds: `P ~> Q` holds vacuously although a fair `¬Q` cycle is reachable (which
/// `eventually Q` does trip on, in the same graph).
#[test]
fn leads_to_holds_when_p_never_holds() {
    let m = Table::new(&[(0, Step, 1), (1, Step, 2), (2, Step, 1)])
        .fair(Step, 1)
        .p(&[9]);
    let (m, out) = run(m, fair());
    assert_holds(&out, LEADS_TO);
    let t = violated(&out, EVENTUALLY);
    assert_eq!(shape(t), ("cycle", Some(2)));
    assert_eventually_cex(&m.inner, fair(), t);
}

/// `P` holds in 0, whose every fair continuation reaches `Q` (state 1) at once, and again in
/// 2, which can loop with 3 outside `Q` forever: the counterexample starts from the deeper `P`.
/// `P` in a `Q` state (here 1 as well) is satisfied on the spot.
#[test]
fn leads_to_counterexample_starts_at_a_p_state_that_can_avoid_q() {
    let m = Table::new(&[(0, Step, 1), (1, Step, 2), (2, Step, 3), (3, Step, 2)])
        .fair(Step, 1)
        .p(&[0, 1, 2])
        .q(&[1]);
    let (m, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (4, 4));
    let t = violated(&out, LEADS_TO);
    assert_eq!(shape(t), ("cycle", Some(3)));
    let r = assert_leads_to_cex(&m.inner, fair(), t);
    assert_eq!(r.states, [0, 1, 2, 3, 2]);

    // Without the P in 2, the P states are 0 and 1 only: it holds.
    let m = Table::new(&[(0, Step, 1), (1, Step, 2), (2, Step, 3), (3, Step, 2)])
        .fair(Step, 1)
        .p(&[0, 1])
        .q(&[1]);
    let (_, out) = run(m, fair());
    assert_holds(&out, LEADS_TO);
    assert_holds(&out, EVENTUALLY);
}

/// An initial state in `Q` satisfies `eventually Q`, whatever fair `¬Q` cycles follow it.
#[test]
fn initial_state_in_q_satisfies_eventually() {
    let m = Table::new(&[(0, Step, 1), (1, Step, 2), (2, Step, 1)])
        .fair(Step, 1)
        .q(&[0]);
    let (_, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (3, 3));
    assert_holds(&out, EVENTUALLY);
}

/// `eventually Q` must hold from every initial state: from 0 (in `Q`) it does, from 5 (which
/// goes on to the fair cycle `1 <-> 2`) it does not, and the counterexample starts there.
#[test]
fn every_initial_state_must_reach_q() {
    let m = Table::new(&[(0, Step, 1), (5, Step, 1), (1, Step, 2), (2, Step, 1)])
        .fair(Step, 1)
        .init(&[0, 5])
        .q(&[0]);
    let (m, out) = run(m, fair());
    assert_eq!((out.unique_states, out.edges), (4, 4));
    let t = violated(&out, EVENTUALLY);
    assert_eq!(t.initial_state, "5");
    assert_eq!(shape(t), ("cycle", Some(2)));
    let r = assert_eventually_cex(&m.inner, fair(), t);
    assert_eq!(r.states, [5, 1, 2, 1]);
}

// ---------------------------------------------------------------------------------------------
// The graph explored
// ---------------------------------------------------------------------------------------------

/// A counter that would go up to 20, bounded by `within_boundary` to 0..3. stateright's
/// checkers, and Synod's own engine (`src/check/engine.rs`), never visit a state outside the
/// boundary.
struct Bounded;

impl Model for Bounded {
    type State = u8;
    type Action = Act;

    fn init_states(&self) -> Vec<u8> {
        vec![0]
    }

    fn actions(&self, _: &u8, actions: &mut Vec<Act>) {
        actions.push(Step);
    }

    fn next_state(&self, s: &u8, _: Act) -> Option<u8> {
        (*s < 20).then_some(s + 1)
    }

    fn within_boundary(&self, s: &u8) -> bool {
        *s < 3
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::eventually(EVENTUALLY, |_, s| *s == 10)]
    }
}

impl Liveness for Bounded {
    fn fair_class(&self, _: &Act, _: Fairness) -> Option<u64> {
        Some(1)
    }
}

impl Traceable for Bounded {
    fn describe_init(&self, s: &u8) -> String {
        format!("{s:?}")
    }

    fn describe_step(&self, _: &u8, action: &Act, next: &u8) -> TraceStep {
        plain_step(action, next)
    }
}

/// The liveness graph is the graph the safety search explores: within the model's boundary
/// (states 0, 1, 2 and the two edges between them), not the 21 states (0 to 20) the model reaches
/// without it. A graph the boundary cut proves nothing (state 2 looks stuck, but only because
/// its successor was cut): it is not complete, and no counterexample is claimed.
#[test]
fn liveness_graph_stays_within_the_boundary() {
    let out = check(&Checked::new(Bounded), &plan(fair()));
    assert_eq!((out.unique_states, out.edges), (3, 2));
    assert!(out.bounded && !out.complete && out.stopped.is_none());
    assert!(out.violations.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The tests' own yardstick
// ---------------------------------------------------------------------------------------------

/// [`assert_counterexample`] rejects an unfair cycle: in the model of
/// [`fair_cycle_takes_every_class_enabled_in_all_its_states`], the loop `0 -A-> 1 -A-> 0`
/// leaves `B` enabled throughout and never takes it. (So the fairness the other tests recompute
/// is a real check, not a formality.)
#[test]
#[should_panic(expected = "the cycle is not weakly fair")]
fn the_yardstick_rejects_an_unfair_cycle() {
    let m = Table::new(&[
        (0, A, 1),
        (1, A, 0),
        (2, A, 1),
        (0, B, 3),
        (1, B, 2),
        (2, B, 3),
    ])
    .fair(A, 1)
    .fair(B, 2)
    .q(&[3]);
    let mut t = synod::check::trace::build(&m, &0, &[(A, 1), (A, 0)], false);
    t.lasso = Some(synod::check::trace::Lasso {
        kind: "cycle",
        loop_from: Some(1),
        fairness: fair().names(),
    });
    assert_eventually_cex(&m, fair(), &t);
}
