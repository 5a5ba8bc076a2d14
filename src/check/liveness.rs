//! Liveness under weak fairness: `eventually` and `leads-to` properties checked on the whole
//! state graph, cycles included, with a lasso counterexample.
//!
//! stateright checks an `eventually` property on acyclic paths only: it reports a path that ends
//! in a state without successors, and a cycle hides a violation. Here the graph is explored once
//! more, in full, keeping every edge (its target, its action's index and its fairness class, see
//! [`synod_models::liveness`]); then, per property, the question is TLC's: is there a *fair*
//! behaviour that violates it?
//!
//! For `P ~> Q` (and `eventually Q`, which is `Init ~> Q`) a violation is a behaviour that reaches
//! a `P` state and from there stays in `¬Q` states forever. In a finite graph "forever" is one of
//! two things:
//!
//! - **a cycle** through `¬Q` states that the behaviour repeats. Weak fairness of a class `A` asks
//!   that `A` be taken infinitely often or be disabled infinitely often; a behaviour that loops
//!   through a whole strongly connected component `C` (every state, every edge) is weakly fair
//!   iff every class enabled in *all* of `C`'s states is the class of some edge inside `C`. A
//!   smaller cycle can only do worse (fewer edges taken, as many classes enabled everywhere), so
//!   it suffices to test each SCC of the `¬Q` subgraph once (Tarjan's algorithm, iterative);
//! - **stopping** in a `¬Q` state where no fair class is enabled: with nothing enabled at all
//!   that is a deadlock; with only crashes or losses enabled, a fair behaviour may still take
//!   none of them (TLA+'s stuttering).
//!
//! SCCs come out of Tarjan's algorithm sinks first, so whether each can reach a bad one within
//! `¬Q` is known when it is popped. The counterexample is then the shortest path (BFS order)
//! from an initial state to the nearest `P ∧ ¬Q` state that can, the shortest path on within `¬Q`
//! to the nearest bad state, and a cycle through the bad SCC built to be fair: starting with
//! the state reached, it is extended, class by class, to an edge of each class that is still
//! enabled everywhere on it and not yet taken, or to a state where that class is disabled, and
//! closed by the shortest way back. The trace is replayed from the actions' indices, so its
//! states are the model's own.
//!
//! Symmetry reduction is not used here: fairness names actors and messages, which a
//! canonicalisation permutes, so the graph is the unreduced one.

use super::engine::Identity;
use super::trace::{self, Lasso, Trace, Traceable};
use super::{lock, memory, Stopped, Watch};
use stateright::{Expectation, Model};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hash};
use std::sync::Arc;
use std::time::Instant;
use synod_models::checked::Checked;
use synod_models::liveness::{Fairness, Liveness};

/// What [`check`] may spend.
pub struct Plan {
    pub fairness: Fairness,
    pub deadline: Option<Instant>,
    /// Stop (incomplete) once the process's resident memory reaches this many bytes.
    pub max_memory: u64,
    pub watch: Option<Arc<Watch>>,
}

/// A liveness property as the checker sees it.
struct Prop<M: Model> {
    name: &'static str,
    /// `None` for `eventually`: the premise is "is an initial state".
    from: Option<fn(&M, &M::State) -> bool>,
    to: fn(&M, &M::State) -> bool,
}

/// The names of the model's liveness properties: its `eventually` ones, then its `leads-to`
/// ones, each with its kind.
pub fn properties<M: Liveness>(model: &M) -> Vec<(&'static str, Kind)> {
    props(model).iter().map(|p| (p.name, p.kind())).collect()
}

/// `eventually` or `leads-to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Eventually,
    LeadsTo,
}

impl<M: Model> Prop<M> {
    fn kind(&self) -> Kind {
        if self.from.is_some() {
            Kind::LeadsTo
        } else {
            Kind::Eventually
        }
    }
}

fn props<M: Liveness>(model: &M) -> Vec<Prop<M>> {
    let mut out: Vec<Prop<M>> = model
        .properties()
        .into_iter()
        .filter(|p| p.expectation == Expectation::Eventually)
        .map(|p| Prop {
            name: p.name,
            from: None,
            to: p.condition,
        })
        .collect();
    out.extend(model.leads_to().into_iter().map(|p| Prop {
        name: p.name,
        from: Some(p.from),
        to: p.to,
    }));
    assert!(out.len() <= 16, "at most 16 liveness properties");
    out
}

/// What the liveness pass found.
pub struct Outcome {
    /// The whole graph was explored (verdicts without a counterexample hold).
    pub complete: bool,
    pub stopped: Option<Stopped>,
    pub unique_states: usize,
    pub edges: usize,
    pub seconds: f64,
    /// Counterexamples, by property.
    pub violations: HashMap<&'static str, Trace>,
    /// The model's boundary (`within_boundary`) left out successors, as it does for the
    /// search: the graph is partial and proves nothing (a state cut there looks stuck).
    pub bounded: bool,
}

/// One edge of the graph: its target, the index of its action in the state's action list, and
/// its fairness class (0: no fairness covers it).
#[derive(Clone, Copy)]
struct Edge {
    to: u32,
    action: u32,
    class: u32,
}

const NONE: u32 = u32::MAX;

/// The explored graph, nodes numbered in BFS order (so a lower number is no deeper).
struct Graph {
    /// Node `i`'s edges are `edges[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    edges: Vec<Edge>,
    /// The BFS tree: (parent, index of the action taken), or (NONE, index of the initial state).
    parent: Vec<(u32, u32)>,
    /// Per property `k`: bit `2k` its premise, bit `2k + 1` its conclusion.
    labels: Vec<u32>,
    /// Each node's fingerprint (the replay checks it reaches the states it should).
    fps: Vec<u64>,
}

impl Graph {
    fn out(&self, v: u32) -> &[Edge] {
        &self.edges[self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize]
    }

    fn len(&self) -> usize {
        self.parent.len()
    }

    /// The distinct fair classes enabled at `v`.
    fn enabled(&self, v: u32) -> Vec<u32> {
        let mut c: Vec<u32> = self
            .out(v)
            .iter()
            .map(|e| e.class)
            .filter(|c| *c != 0)
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    }
}

/// Explores `model` (without its canonicalisation) and checks its liveness properties.
pub fn check<M>(model: &Checked<M>, plan: &Plan) -> Outcome
where
    M: Liveness + Traceable,
    M::State: Hash + Clone + PartialEq,
    M::Action: Clone,
{
    let started = Instant::now();
    let props = props(&model.inner);
    let (graph, stopped, bounded) = explore(model, &props, plan);
    let complete = stopped.is_none() && !bounded;
    let mut violations = HashMap::new();
    if complete {
        for (k, p) in props.iter().enumerate() {
            if let Some(path) = violation(&graph, k, p.from.is_some()) {
                violations.insert(p.name, replay(model, &graph, &path, plan.fairness));
            }
        }
    }
    Outcome {
        complete,
        stopped,
        unique_states: graph.len(),
        edges: graph.edges.len(),
        seconds: started.elapsed().as_secs_f64(),
        violations,
        bounded,
    }
}

/// The actions `model` offers in `state`, as the search sees them (the action filter applied).
fn actions_of<M: Model>(model: &Checked<M>, state: &M::State, out: &mut Vec<M::Action>) {
    out.clear();
    model.inner.actions(state, out);
    out.retain(|a| (model.allow)(&model.inner, a));
}

/// The graph, why it stopped early if it did, and whether the model's boundary cut it.
fn explore<M>(model: &Checked<M>, props: &[Prop<M>], plan: &Plan) -> (Graph, Option<Stopped>, bool)
where
    M: Liveness,
    M::State: Hash + Clone,
    M::Action: Clone,
{
    let inner = &model.inner;
    let mut index: HashMap<u64, u32, BuildHasherDefault<Identity>> = HashMap::default();
    // Class keys are digests already: hashed as themselves.
    let mut classes: HashMap<u64, u32, BuildHasherDefault<Identity>> = HashMap::default();
    let mut graph = Graph {
        offsets: vec![0],
        edges: Vec::new(),
        parent: Vec::new(),
        labels: Vec::new(),
        fps: Vec::new(),
    };
    let mut queue: VecDeque<M::State> = VecDeque::new();
    let label = |s: &M::State| -> u32 {
        let mut bits = 0;
        for (k, p) in props.iter().enumerate() {
            if p.from.is_some_and(|f| f(inner, s)) {
                bits |= 1 << (2 * k);
            }
            if (p.to)(inner, s) {
                bits |= 1 << (2 * k + 1);
            }
        }
        bits
    };
    // As the search: states outside the model's boundary are not visited.
    let mut bounded = false;
    for (i, s) in inner.init_states().into_iter().enumerate() {
        if !inner.within_boundary(&s) {
            bounded = true;
            continue;
        }
        let fp = super::engine::fingerprint(&s);
        if index.contains_key(&fp) {
            continue;
        }
        index.insert(fp, graph.parent.len() as u32);
        graph.parent.push((NONE, i as u32));
        graph.labels.push(label(&s));
        graph.fps.push(fp);
        queue.push_back(s);
    }
    let mut actions = Vec::new();
    let mut expanded: u32 = 0;
    while let Some(state) = queue.pop_front() {
        if expanded.is_multiple_of(1024) {
            if plan.deadline.is_some_and(|d| Instant::now() >= d) {
                return (graph, Some(Stopped::Timeout), bounded);
            }
            if plan.watch.as_ref().is_some_and(|w| w.stop_requested()) {
                return (graph, Some(Stopped::Interrupted), bounded);
            }
            if memory::resident_bytes_now().is_some_and(|b| b >= plan.max_memory) {
                return (graph, Some(Stopped::MaxMemory), bounded);
            }
            if let Some(w) = &plan.watch {
                let mut p = lock(&w.progress);
                p.unique_states = p.unique_states.max(graph.len());
            }
        }
        let v = expanded;
        expanded += 1;
        actions_of(model, &state, &mut actions);
        for (ai, action) in actions.drain(..).enumerate() {
            let class = match inner.fair_class(&action, plan.fairness) {
                Some(key) => {
                    let next = classes.len() as u32 + 1;
                    *classes.entry(key).or_insert(next)
                }
                None => 0,
            };
            let Some(next) = inner.next_state(&state, action) else {
                continue;
            };
            if !inner.within_boundary(&next) {
                bounded = true;
                continue;
            }
            let fp = super::engine::fingerprint(&next);
            let to = match index.get(&fp) {
                Some(&to) => to,
                None => {
                    let to = u32::try_from(graph.parent.len())
                        .ok()
                        .filter(|n| *n != NONE)
                        .expect("at most 2^32 - 1 states in a liveness graph");
                    index.insert(fp, to);
                    graph.parent.push((v, ai as u32));
                    graph.labels.push(label(&next));
                    graph.fps.push(fp);
                    queue.push_back(next);
                    to
                }
            };
            graph.edges.push(Edge {
                to,
                action: ai as u32,
                class,
            });
        }
        graph.offsets.push(graph.edges.len() as u32);
    }
    (graph, None, bounded)
}

/// How a violating behaviour ends, as nodes and edges of the graph.
struct Path {
    /// The initial state's index among the model's initial states.
    init: u32,
    /// Edge indices from the initial state on.
    edges: Vec<u32>,
    /// Where the cycle starts (an index into `edges`), or how it stops.
    end: End,
}

enum End {
    Cycle(usize),
    Deadlock,
    Stuttering,
}

/// Finds a fair behaviour violating property `k` (`leads_to`: `P ~> Q`; else `eventually Q`).
fn violation(g: &Graph, k: usize, leads_to: bool) -> Option<Path> {
    let from_bit = 1u32 << (2 * k);
    let to_bit = 1u32 << (2 * k + 1);
    let inside = |v: u32| g.labels[v as usize] & to_bit == 0;
    let n = g.len();

    // Tarjan's SCCs of the ¬Q subgraph, iteratively; `reach[c]`: component c can reach a bad
    // component or a state where the behaviour may stop, within ¬Q.
    let mut order = vec![NONE; n];
    let mut low = vec![NONE; n];
    let mut comp = vec![NONE; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut reach: Vec<bool> = Vec::new();
    let mut fair_scc: Vec<bool> = Vec::new();
    let mut stops = vec![false; n];
    let mut next_order = 0u32;
    let mut calls: Vec<(u32, usize)> = Vec::new();
    for root in 0..n as u32 {
        if !inside(root) || order[root as usize] != NONE {
            continue;
        }
        calls.push((root, 0));
        order[root as usize] = next_order;
        low[root as usize] = next_order;
        next_order += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut pos)) = calls.last_mut() {
            let out = g.out(v);
            if *pos < out.len() {
                let w = out[*pos].to;
                *pos += 1;
                if !inside(w) {
                    continue;
                }
                if order[w as usize] == NONE {
                    order[w as usize] = next_order;
                    low[w as usize] = next_order;
                    next_order += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    calls.push((w, 0));
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(order[w as usize]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent as usize] = low[parent as usize].min(low[v as usize]);
            }
            if low[v as usize] != order[v as usize] {
                continue;
            }
            // v is the root of a component: pop it.
            let c = reach.len() as u32;
            let mut members = Vec::new();
            loop {
                let w = stack.pop().expect("the root is on the stack");
                on_stack[w as usize] = false;
                comp[w as usize] = c;
                members.push(w);
                if w == v {
                    break;
                }
            }
            let mut cyclic = members.len() > 1;
            let mut taken: HashSet<u32> = HashSet::new();
            let mut everywhere: HashMap<u32, usize> = HashMap::new();
            let mut reaches = false;
            for &u in &members {
                let enabled = g.enabled(u);
                if enabled.is_empty() {
                    stops[u as usize] = true;
                    reaches = true;
                }
                for cl in enabled {
                    *everywhere.entry(cl).or_insert(0) += 1;
                }
                for e in g.out(u) {
                    if !inside(e.to) {
                        continue;
                    }
                    let cw = comp[e.to as usize];
                    if cw == c {
                        cyclic |= e.to == u || members.len() > 1;
                        if e.class != 0 {
                            taken.insert(e.class);
                        }
                    } else if cw != NONE && reach[cw as usize] {
                        reaches = true;
                    }
                }
            }
            let fair = cyclic
                && everywhere
                    .iter()
                    .all(|(cl, count)| *count < members.len() || taken.contains(cl));
            fair_scc.push(fair);
            reach.push(reaches || fair);
        }
    }

    // The shallowest state where the premise holds, Q does not, and a bad end is reachable.
    let start = (0..n as u32).find(|&v| {
        let premise = if leads_to {
            g.labels[v as usize] & from_bit != 0
        } else {
            g.parent[v as usize].0 == NONE
        };
        premise && inside(v) && reach[comp[v as usize] as usize]
    })?;

    // The BFS-tree prefix to `start`.
    let mut edges = Vec::new();
    let mut v = start;
    while g.parent[v as usize].0 != NONE {
        let (p, ai) = g.parent[v as usize];
        edges.push(edge_index(g, p, ai));
        v = p;
    }
    let init = g.parent[v as usize].1;
    edges.reverse();

    // On within ¬Q to the nearest bad end.
    let bad = |u: u32| stops[u as usize] || fair_scc[comp[u as usize] as usize];
    let (to_bad, end_node) = bfs(g, start, inside, bad)?;
    edges.extend(to_bad);
    if stops[end_node as usize] {
        let end = if g.out(end_node).is_empty() {
            End::Deadlock
        } else {
            End::Stuttering
        };
        return Some(Path { init, edges, end });
    }
    let loop_from = edges.len();
    edges.extend(fair_cycle(g, end_node, &comp));
    Some(Path {
        init,
        edges,
        end: End::Cycle(loop_from),
    })
}

/// The index in `g.edges` of node `v`'s edge for action `ai`.
fn edge_index(g: &Graph, v: u32, ai: u32) -> u32 {
    let base = g.offsets[v as usize];
    let pos = g
        .out(v)
        .iter()
        .position(|e| e.action == ai)
        .expect("the BFS tree's edges are edges");
    base + pos as u32
}

/// The shortest path (edge indices) from `from` through nodes `within` allows to the first
/// node `goal` accepts (`from` itself included, with an empty path).
fn bfs(
    g: &Graph,
    from: u32,
    within: impl Fn(u32) -> bool,
    goal: impl Fn(u32) -> bool,
) -> Option<(Vec<u32>, u32)> {
    let mut came: HashMap<u32, u32> = HashMap::new(); // node -> edge index that reached it
    let mut queue = VecDeque::from([from]);
    let mut seen: HashSet<u32> = HashSet::from([from]);
    while let Some(u) = queue.pop_front() {
        if goal(u) {
            let mut path = Vec::new();
            let mut at = u;
            while at != from {
                let e = came[&at];
                path.push(e);
                at = source(g, e);
            }
            path.reverse();
            return Some((path, u));
        }
        let base = g.offsets[u as usize];
        for (i, e) in g.out(u).iter().enumerate() {
            if within(e.to) && seen.insert(e.to) {
                came.insert(e.to, base + i as u32);
                queue.push_back(e.to);
            }
        }
    }
    None
}

/// The node an edge leaves from.
fn source(g: &Graph, e: u32) -> u32 {
    (g.offsets.partition_point(|&o| o <= e) - 1) as u32
}

/// A cycle from `start` back to it inside its (fair) component that is itself weakly fair: every
/// class enabled in all of its states is taken on it.
fn fair_cycle(g: &Graph, start: u32, comp: &[u32]) -> Vec<u32> {
    let c = comp[start as usize];
    let within = |u: u32| comp[u as usize] == c;
    let mut walk: Vec<u32> = Vec::new();
    let mut at = start;
    let mut taken: HashSet<u32> = HashSet::new();
    let mut everywhere: HashSet<u32> = g.enabled(start).into_iter().collect();
    loop {
        let missing = everywhere
            .iter()
            .copied()
            .filter(|cl| !taken.contains(cl))
            .min();
        let Some(class) = missing else { break };
        // The nearest state where `class` is disabled, or the nearest edge of `class`.
        let (mut path, node) = bfs(g, at, within, |u| {
            !g.enabled(u).contains(&class)
                || g.out(u).iter().any(|e| e.class == class && within(e.to))
        })
        .expect("a fair component has an edge of, or a state without, each class");
        if g.enabled(node).contains(&class) {
            let base = g.offsets[node as usize];
            let i = g
                .out(node)
                .iter()
                .position(|e| e.class == class && within(e.to))
                .expect("found for that edge");
            path.push(base + i as u32);
        }
        for &e in &path {
            let edge = g.edges[e as usize];
            taken.insert(edge.class);
            let enabled: HashSet<u32> = g.enabled(edge.to).into_iter().collect();
            everywhere.retain(|cl| enabled.contains(cl));
            at = edge.to;
        }
        walk.extend(path);
    }
    // Close the cycle (with at least one step).
    if at == start {
        if walk.is_empty() {
            let base = g.offsets[start as usize];
            let i = g
                .out(start)
                .iter()
                .position(|e| within(e.to))
                .expect("a cyclic component has an edge inside it");
            walk.push(base + i as u32);
            at = g.edges[(base + i as u32) as usize].to;
        } else {
            return walk;
        }
    }
    if at != start {
        let (back, _) =
            bfs(g, at, within, |u| u == start).expect("a component is strongly connected");
        walk.extend(back);
    }
    walk
}

/// Replays a path's actions from its initial state into a trace.
fn replay<M>(model: &Checked<M>, g: &Graph, path: &Path, fairness: Fairness) -> Trace
where
    M: Liveness + Traceable,
    M::State: Hash + Clone + PartialEq,
    M::Action: Clone,
{
    let inner = &model.inner;
    let init = inner
        .init_states()
        .into_iter()
        .nth(path.init as usize)
        .expect("the graph's initial states are the model's");
    let mut state = init.clone();
    let mut steps = Vec::with_capacity(path.edges.len());
    let mut actions = Vec::new();
    for &e in &path.edges {
        let edge = g.edges[e as usize];
        actions_of(model, &state, &mut actions);
        let action = actions
            .drain(..)
            .nth(edge.action as usize)
            .expect("replaying the model's own actions");
        let next = inner
            .next_state(&state, action.clone())
            .expect("an edge of the graph is enabled");
        assert_eq!(
            super::engine::fingerprint(&next),
            g.fps[edge.to as usize],
            "replaying an edge reached another state: the model is not deterministic"
        );
        steps.push((action, next.clone()));
        state = next;
    }
    let mut t = trace::build(inner, &init, &steps, false);
    t.lasso = Some(Lasso {
        kind: match path.end {
            End::Cycle(_) => "cycle",
            End::Deadlock => "deadlock",
            End::Stuttering => "stuttering",
        },
        loop_from: match path.end {
            End::Cycle(i) => Some(i + 1),
            _ => None,
        },
        fairness: fairness.names(),
    });
    t
}
