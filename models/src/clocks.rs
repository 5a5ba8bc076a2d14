//! Logical clocks: Lamport clocks and vector clocks, and a catalog entry that checks what each
//! promises against the true happened-before relation.
//!
//! # Happened-before
//!
//! Lamport, "Time, Clocks, and the Ordering of Events in a Distributed System" (1978): the
//! events of one process are totally ordered, and `a -> b` (a *happened before* b) is the
//! smallest relation such that
//! 1. if a and b are events of the same process and a comes first, `a -> b`;
//! 2. if a is the sending of a message and b its receipt, `a -> b`;
//! 3. if `a -> b` and `b -> c`, then `a -> c`.
//!
//! Two distinct events are *concurrent* (`a || b`) when neither happened before the other.
//!
//! # Lamport clocks
//!
//! Each process keeps a counter `C`. IR1: a process increments `C` between any two of its
//! events (here: before each local or send event). IR2: a message carries its send event's
//! time `Tm`; on receipt the process sets `C` to `max(C, Tm)` and then increments it. This
//! gives the **clock condition**: `a -> b` implies `C(a) < C(b)`. Its converse is false: two
//! concurrent events may have ordered times, so a Lamport clock cannot tell concurrency apart
//! from causality.
//!
//! # Vector clocks
//!
//! Fidge (1988) and Mattern (1989): each process `p` keeps a vector `V` with one entry per
//! process. Before each of its events `p` increments `V[p]`; a message carries the send event's
//! vector, and the receiver first takes the entry-wise maximum with it. Ordering vectors
//! entry-wise (`V <= W` when every entry is, `V < W` when also `V != W`) **characterises
//! happened-before**: `a -> b` if and only if `V(a) < V(b)`, so `a || b` exactly when the two
//! vectors are incomparable.
//!
//! # The model (`synod check clocks`)
//!
//! `--processes N` processes each take `--events E` steps of their own, each step either a local
//! event or the sending of a message to another process (a random choice, so the checker tries
//! every mix); every receipt is an event too. Each event records its Lamport time and its vector
//! as the clocks above assign them. Beside them the model keeps the true happened-before
//! relation as a *ghost* (a history variable, as in TLA+ specifications): each event's causal
//! past as a set of event ids, built from the three rules above only (program order, and a
//! message carrying its send event's past). The clocks never read it, and it never goes on a
//! wire. Properties, over every pair of recorded events:
//!
//! - `clock condition` (always): `a -> b` implies `L(a) < L(b)`;
//! - `vector clocks characterise happened-before` (always): `a -> b` iff `V(a) < V(b)`;
//! - `concurrent events ordered by Lamport time` (sometimes): there are `a || b` with
//!   `L(a) < L(b)`, the reason Lamport clocks do not detect concurrency;
//! - `message received` (sometimes): messages do flow.
//!
//! # Bug variants
//!
//! - `receive-without-max`: a receipt only increments the clocks and ignores the message's
//!   stamps (IR2 without the maximum): a receipt can get an earlier time than its send.
//! - `send-without-increment`: a send event does not advance the clocks (IR1 broken), so it
//!   gets its predecessor's time and vector.
//!
//! # On sockets (`synod run clocks`, `synod bench clocks`)
//!
//! The same processes run as nodes, with the ghost off (no recorded events, no causal pasts:
//! they would grow without bound) and without a step bound: a timer (`TICK_MS`) makes each
//! node take its random step, a local event or a send to a random peer, for as long as it
//! runs. Happened-before is the transitive closure of its two kinds of edges, and a strict
//! order is transitive, so a node checks the clock condition and the "only if" half of the
//! vector characterisation exactly by checking each edge as it sees it:
//! - program order: an event's Lamport time and vector against its predecessor's (the clocks
//!   as they stood: they change only at events);
//! - a receipt: against the stamps the message carries.
//!
//! It counts events, receipts, and the edges along which the Lamport time or the vector did not
//! grow ([`EdgeTally`], reported as the node's tallies); a run with a violation fails, and a
//! run in which no message arrived is not judged. The receipt's check takes the message's stamps
//! to be its send event's clocks; a message whose stamps no process of the system sends (a
//! vector of another length, clocks near their bounds) is dropped and counted. The "if" half (`V(a) < V(b)` implies
//! `a -> b`) is a statement about every pair of events in the system, which no single node
//! sees; the model checks it. A node saves its clocks after every event, so a restarted node
//! continues its program order from them instead of reusing times. Clients get error 10: there
//! is no store.

use crate::checked::Checked;
use crate::durable::Durable;
use crate::kv::{ErrorCode, KvMsg};
use crate::protocol::{
    always, ms, sometimes, BugInfo, Descriptor, Judged, KeySemantics, Param, Pinned, Protocol,
    Serve, Settings, MAX_TALLIES,
};
use crate::system::{System, SystemState};
use crate::trace::{ViewCell, ViewTable};
use crate::NetworkKind;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use stateright::actor::{Actor, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;

/// A Lamport clock: one counter per process.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LamportClock(u64);

impl LamportClock {
    pub const fn new() -> Self {
        LamportClock(0)
    }

    /// The current time.
    pub fn time(self) -> u64 {
        self.0
    }

    /// IR1: advances the clock for a local or send event; returns the event's time.
    pub fn tick(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }

    /// IR2: a message stamped `stamp` is received; returns the receipt's time,
    /// `max(C, stamp) + 1`.
    pub fn receive(&mut self, stamp: u64) -> u64 {
        self.0 = self.0.max(stamp) + 1;
        self.0
    }
}

impl fmt::Debug for LamportClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

/// A vector clock: one entry per process, all vectors of a system the same length.
///
/// `PartialOrd` is the causal order: `a < b` when `a` is entry-wise at most `b` and differs,
/// `partial_cmp` is `None` for concurrent vectors. There is deliberately no `Ord`.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VectorClock(SmallVec<[u32; 4]>);

impl VectorClock {
    /// All zeros, for `processes` processes.
    pub fn new(processes: usize) -> Self {
        VectorClock(SmallVec::from_elem(0, processes))
    }

    pub fn from_entries(entries: &[u32]) -> Self {
        VectorClock(SmallVec::from_slice(entries))
    }

    pub fn entries(&self) -> &[u32] {
        &self.0
    }

    pub fn get(&self, process: usize) -> u32 {
        self.0[process]
    }

    /// Counts one more event of `process`.
    pub fn increment(&mut self, process: usize) {
        self.0[process] += 1;
    }

    /// Takes the entry-wise maximum with `other` (what a receipt knows).
    pub fn merge(&mut self, other: &VectorClock) {
        assert_eq!(self.0.len(), other.0.len(), "vector clocks of one system");
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// `self < other`: entry-wise at most, and not equal.
    pub fn happened_before(&self, other: &VectorClock) -> bool {
        self.partial_cmp(other) == Some(Ordering::Less)
    }

    /// Neither is at most the other.
    pub fn concurrent(&self, other: &VectorClock) -> bool {
        self.partial_cmp(other).is_none()
    }
}

impl PartialOrd for VectorClock {
    fn partial_cmp(&self, other: &VectorClock) -> Option<Ordering> {
        assert_eq!(self.0.len(), other.0.len(), "vector clocks of one system");
        let (mut less, mut greater) = (false, false);
        for (a, b) in self.0.iter().zip(&other.0) {
            less |= a < b;
            greater |= a > b;
        }
        match (less, greater) {
            (false, false) => Some(Ordering::Equal),
            (true, false) => Some(Ordering::Less),
            (false, true) => Some(Ordering::Greater),
            (true, true) => None,
        }
    }
}

impl fmt::Debug for VectorClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries: Vec<String> = self.0.iter().map(u32::to_string).collect();
        write!(f, "[{}]", entries.join(","))
    }
}

/// A set of events, one bit per event id (see [`event_id`]).
pub type EventSet = u64;

/// Events one process may record: its own steps plus receipts.
pub const MAX_EVENTS: usize = 16;

/// The id of process `p`'s `k`-th event: `p * 16 + k`.
pub fn event_id(process: usize, k: usize) -> u8 {
    assert!(k < MAX_EVENTS, "at most {MAX_EVENTS} events per process");
    (process * MAX_EVENTS + k) as u8
}

/// A message: the send event's Lamport time and vector, and (ghost) the send event's causal
/// past including itself.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClockMsg {
    pub lamport: u64,
    pub vector: VectorClock,
    pub past: EventSet,
}

// The network keeps messages sorted: any total order does, so compare the entries as numbers.
impl Ord for ClockMsg {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.lamport, self.vector.entries(), self.past).cmp(&(
            other.lamport,
            other.vector.entries(),
            other.past,
        ))
    }
}

impl PartialOrd for ClockMsg {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for ClockMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Msg(L{}, {:?})", self.lamport, self.vector)
    }
}

/// What an event was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    Local,
    Send { to: u8 },
    Receive { from: u8 },
}

/// A recorded event: what the clocks said, and (ghost) its true causal past.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event {
    pub id: u8,
    pub kind: EventKind,
    pub lamport: u64,
    pub vector: VectorClock,
    /// Every event that happened before this one (not itself).
    pub past: EventSet,
}

impl Event {
    pub fn process(&self) -> usize {
        usize::from(self.id) / MAX_EVENTS
    }

    /// `self -> other`.
    pub fn happened_before(&self, other: &Event) -> bool {
        other.past & (1 << self.id) != 0
    }

    /// The event's name: `p1.2` is process 1's third event.
    pub fn name(&self) -> String {
        format!("p{}.{}", self.process(), usize::from(self.id) % MAX_EVENTS)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            EventKind::Local => "local".to_string(),
            EventKind::Send { to } => format!("send to p{to}"),
            EventKind::Receive { from } => format!("receive from p{from}"),
        };
        write!(
            f,
            "{} {what} L{} {:?}",
            self.name(),
            self.lamport,
            self.vector
        )
    }
}

/// One process's state: its clocks, its steps left, what it has recorded, and (ghost) its
/// causal history so far.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessState {
    pub lamport: LamportClock,
    pub vector: VectorClock,
    /// Whether the process has had an event (its next one has a predecessor in program order).
    pub stamped: bool,
    pub steps_left: u8,
    pub events: Vec<Event>,
    /// Ghost: every event that happened before this process's next event.
    pub past: EventSet,
    /// On the network: the edges checked so far (zero in the model).
    pub tally: EdgeTally,
}

impl fmt::Debug for ProcessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.steps_left == 1 { "" } else { "s" };
        if self.tally.events > 0 {
            // On the network: no steps bound and no recorded events.
            return write!(f, "{:?} {:?}, {:?}", self.lamport, self.vector, self.tally);
        }
        write!(
            f,
            "{:?} {:?}, {} step{plural} left, events {:?}",
            self.lamport, self.vector, self.steps_left, self.events
        )
    }
}

/// What a node has checked on the network: its events (each one's program-order edge from its
/// predecessor, if it has one), its receipts (each one's edge from the send), and the edges
/// along which a clock did not grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EdgeTally {
    pub events: u64,
    pub receipts: u64,
    /// Edges `a -> b` with `L(a) >= L(b)`: the clock condition broken.
    pub lamport_violations: u64,
    /// Edges `a -> b` without `V(a) < V(b)`: the characterisation's "only if" half broken.
    pub vector_violations: u64,
    /// Messages from peers whose stamps no process of this system sends (a vector of another
    /// length, or a clock near its bound), dropped without an event.
    pub malformed: u64,
}

impl EdgeTally {
    /// Counts the edge from an event stamped `(lamport, vector)` to the event the process's
    /// clocks `now_lamport`, `now_vector` stamp.
    fn edge(&mut self, from: (u64, &VectorClock), now_lamport: u64, now_vector: &VectorClock) {
        if from.0 >= now_lamport {
            self.lamport_violations += 1;
        }
        if !from.1.happened_before(now_vector) {
            self.vector_violations += 1;
        }
    }
}

/// What a process saves after each event: its clocks, which are its last event's stamps.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClockSaved {
    pub lamport: LamportClock,
    pub vector: VectorClock,
}

/// A few numbers per process: each save is one write-ahead entry holding them all.
impl Durable for ClockSaved {
    type Entry = ClockSaved;

    fn delta(&self, prev: &Self) -> Option<Vec<ClockSaved>> {
        crate::durable::whole(self, prev)
    }

    fn apply(&mut self, entry: ClockSaved) {
        *self = entry;
    }
}

/// A process's timer: on the network, when to take its next step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClockTimer {
    Tick,
}

/// How often a node takes a step on the network, in milliseconds.
pub const TICK_MS: Range<u64> = 1..4;

/// A process's next step (a random choice, so the checker tries each).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Step {
    Local,
    SendTo(u8),
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Local => write!(f, "a local event"),
            Step::SendTo(p) => write!(f, "to send to p{p}"),
        }
    }
}

/// Deliberately broken variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClockBug {
    /// A receipt increments the clocks and ignores the message's stamps.
    ReceiveWithoutMax,
    /// A send event does not advance the clocks.
    SendWithoutIncrement,
}

/// Process `index` of `peers.len()`.
#[derive(Clone, Debug)]
pub struct ClockProcess {
    pub index: usize,
    /// Every process's id, this one's included (addresses on the network).
    pub peers: Vec<Id>,
    /// Own steps in the model (unbounded on the network).
    pub steps: u8,
    pub bug: Option<ClockBug>,
    /// On the network: no ghost, steps on a timer without bound, edges checked and counted.
    pub network: bool,
}

impl ClockProcess {
    fn processes(&self) -> usize {
        self.peers.len()
    }

    fn offer(&self, state: &ProcessState, o: &mut Out<Self>) {
        if !self.network && state.steps_left == 0 {
            return;
        }
        let mut steps = vec![Step::Local];
        steps.extend(
            (0..self.processes())
                .filter(|p| *p != self.index)
                .map(|p| Step::SendTo(p as u8)),
        );
        o.choose_random("step", steps);
    }

    /// After an event: saves the clocks, and on the network counts the event and checks its
    /// program-order edge from `previous` (the clocks before it, if it had a predecessor) and a
    /// receipt's edge from the message's stamps.
    fn after_event(
        &self,
        s: &mut ProcessState,
        previous: Option<(u64, VectorClock)>,
        sent: Option<&ClockMsg>,
        o: &mut Out<Self>,
    ) {
        s.stamped = true;
        o.save(ClockSaved {
            lamport: s.lamport,
            vector: s.vector.clone(),
        });
        if !self.network {
            return;
        }
        let (now, vector) = (s.lamport.time(), &s.vector);
        let t = &mut s.tally;
        t.events += 1;
        if let Some((l, v)) = &previous {
            t.edge((*l, v), now, vector);
        }
        if let Some(m) = sent {
            t.receipts += 1;
            t.edge((m.lamport, &m.vector), now, vector);
        }
    }

    /// Whether a message's stamps could come from a process of this system: a vector entry per
    /// process, and clocks far from their bounds (so that taking the maximum and incrementing
    /// cannot overflow). A peer started with another `--peers` list, or a damaged one, sends
    /// others.
    fn well_formed(&self, msg: &ClockMsg) -> bool {
        msg.vector.entries().len() == self.processes()
            && msg.lamport < u64::MAX / 2
            && msg.vector.entries().iter().all(|e| *e < u32::MAX / 2)
    }

    /// On the network, the clocks as they stand: the stamps of the process's last event (if it
    /// had one), for the next event's program-order edge. The model checks no edges.
    fn previous(&self, s: &ProcessState) -> Option<(u64, VectorClock)> {
        (self.network && s.stamped).then(|| (s.lamport.time(), s.vector.clone()))
    }

    /// Records an event with the clocks as they now are; returns its causal past including
    /// itself. The ghost: nothing on the network.
    fn record(&self, state: &mut ProcessState, kind: EventKind, past: EventSet) -> EventSet {
        if self.network {
            return 0;
        }
        let id = event_id(self.index, state.events.len());
        state.events.push(Event {
            id,
            kind,
            lamport: state.lamport.time(),
            vector: state.vector.clone(),
            past,
        });
        state.past = past | (1 << id);
        state.past
    }
}

impl Actor for ClockProcess {
    type Msg = KvMsg<ClockMsg>;
    type State = ProcessState;
    type Timer = ClockTimer;
    type Random = Step;
    type Storage = ClockSaved;

    fn name(&self) -> String {
        format!("p{}", self.index)
    }

    fn on_start(&self, _id: Id, storage: &Option<ClockSaved>, o: &mut Out<Self>) -> ProcessState {
        // A restart goes on from its last event's clocks.
        let (lamport, vector) = match storage {
            Some(saved) => (saved.lamport, saved.vector.clone()),
            None => (LamportClock::new(), VectorClock::new(self.processes())),
        };
        let state = ProcessState {
            lamport,
            vector,
            stamped: storage.is_some(),
            steps_left: self.steps,
            events: Vec::new(),
            past: 0,
            tally: EdgeTally::default(),
        };
        if self.network {
            o.set_timer(ClockTimer::Tick, ms(TICK_MS));
        } else {
            self.offer(&state, o);
        }
        state
    }

    fn on_timeout(
        &self,
        _id: Id,
        state: &mut Cow<ProcessState>,
        _timer: &ClockTimer,
        o: &mut Out<Self>,
    ) {
        self.offer(state, o);
    }

    fn on_random(&self, _id: Id, state: &mut Cow<ProcessState>, step: &Step, o: &mut Out<Self>) {
        let s = state.to_mut();
        let previous = self.previous(s);
        if !self.network {
            s.steps_left -= 1;
        }
        let advance = match step {
            Step::Local => true,
            Step::SendTo(_) => self.bug != Some(ClockBug::SendWithoutIncrement),
        };
        if advance {
            s.lamport.tick();
            s.vector.increment(self.index);
        }
        let past = s.past;
        match *step {
            Step::Local => {
                self.record(s, EventKind::Local, past);
            }
            Step::SendTo(to) => {
                let with_send = self.record(s, EventKind::Send { to }, past);
                let msg = ClockMsg {
                    lamport: s.lamport.time(),
                    vector: s.vector.clone(),
                    past: with_send,
                };
                o.send(self.peers[usize::from(to)], KvMsg::Internal(msg));
            }
        }
        self.after_event(s, previous, None, o);
        if self.network {
            o.set_timer(ClockTimer::Tick, ms(TICK_MS));
        } else {
            self.offer(s, o);
        }
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<ProcessState>,
        src: Id,
        msg: KvMsg<ClockMsg>,
        o: &mut Out<Self>,
    ) {
        let msg = match msg {
            KvMsg::Internal(m) => m,
            // No store: a client learns so (the node's codec answers first on the network).
            KvMsg::Read { msg_id, .. }
            | KvMsg::Write { msg_id, .. }
            | KvMsg::Cas { msg_id, .. }
            | KvMsg::Add { msg_id, .. } => {
                o.send(src, KvMsg::error(msg_id, ErrorCode::NotSupported));
                return;
            }
            _ => return,
        };
        let Some(from) = self.peers.iter().position(|p| *p == src) else {
            return;
        };
        if !self.well_formed(&msg) {
            state.to_mut().tally.malformed += 1;
            return;
        }
        let s = state.to_mut();
        let previous = self.previous(s);
        if self.bug == Some(ClockBug::ReceiveWithoutMax) {
            s.lamport.tick();
        } else {
            s.lamport.receive(msg.lamport);
            s.vector.merge(&msg.vector);
        }
        s.vector.increment(self.index);
        let past = s.past | msg.past;
        self.record(s, EventKind::Receive { from: from as u8 }, past);
        self.after_event(s, previous, Some(&msg), o);
    }
}

/// The configuration of a clocks check.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockConfig {
    pub processes: usize,
    /// Each process's own steps (local events and sends).
    pub steps: u8,
    pub network: NetworkKind,
    pub bug: Option<ClockBug>,
}

/// The checked model.
pub type ClockModel = Checked<System<ClockProcess, ClockConfig, ()>>;
type ClockState = SystemState<ClockProcess, ()>;

/// Every event recorded so far.
fn events(state: &ClockState) -> impl Iterator<Item = &Event> + '_ {
    state.actors.iter().flat_map(|a| a.state.events.iter())
}

/// Whether some ordered pair of distinct events satisfies `f`.
fn any_pair(state: &ClockState, f: impl Fn(&Event, &Event) -> bool) -> bool {
    events(state).any(|a| events(state).any(|b| a.id != b.id && f(a, b)))
}

fn concurrent(a: &Event, b: &Event) -> bool {
    !a.happened_before(b) && !b.happened_before(a)
}

/// The processes' events as a table: a row per process, a column per event.
fn view(state: &ClockState) -> Vec<ViewTable> {
    let longest = state.actors.iter().map(|a| a.state.events.len()).max();
    let columns = crate::trace::view_columns(&["process", "clocks"], longest.unwrap_or(0) as u64);
    let rows = state
        .actors
        .iter()
        .enumerate()
        .map(|(p, a)| {
            let s = &a.state;
            let mut row = vec![
                ViewCell {
                    text: format!("p{p}"),
                    ..ViewCell::default()
                },
                ViewCell {
                    text: format!("{:?} {:?}", s.lamport, s.vector),
                    ..ViewCell::default()
                },
            ];
            row.extend(s.events.iter().map(|e| {
                let before: Vec<String> = events(state)
                    .filter(|x| x.happened_before(e))
                    .map(Event::name)
                    .collect();
                let kind = match e.kind {
                    EventKind::Local => "local".to_string(),
                    EventKind::Send { to } => format!("-> p{to}"),
                    EventKind::Receive { from } => format!("<- p{from}"),
                };
                ViewCell {
                    text: format!("{kind} L{} {:?}", e.lamport, e.vector),
                    colour: Some(e.lamport),
                    mark: None,
                    title: Some(format!(
                        "{} happened after: {}",
                        e.name(),
                        if before.is_empty() {
                            "nothing".to_string()
                        } else {
                            before.join(", ")
                        }
                    )),
                }
            }));
            row.resize(columns.len(), ViewCell::default());
            row
        })
        .collect();
    vec![ViewTable {
        title: "events (colour: Lamport time)".to_string(),
        columns,
        rows,
    }]
}

/// Builds the model.
pub fn model(cfg: ClockConfig) -> ClockModel {
    assert!(
        (2..=4).contains(&cfg.processes),
        "between 2 and 4 processes"
    );
    // Own steps plus receipts of every other process's sends must fit in one process's ids.
    assert!((1..=3).contains(&cfg.steps), "between 1 and 3 steps");
    let system = System::new(cfg.clone(), ())
        .actors((0..cfg.processes).map(|index| ClockProcess {
            index,
            peers: (0..cfg.processes).map(Id::from).collect(),
            steps: cfg.steps,
            bug: cfg.bug,
            network: false,
        }))
        .network(cfg.network)
        .property(Expectation::Always, "clock condition", |_, s| {
            !any_pair(s, |a, b| a.happened_before(b) && a.lamport >= b.lamport)
        })
        .property(
            Expectation::Always,
            "vector clocks characterise happened-before",
            |_, s| {
                !any_pair(s, |a, b| {
                    a.happened_before(b) != a.vector.happened_before(&b.vector)
                })
            },
        )
        .property(
            Expectation::Sometimes,
            "concurrent events ordered by Lamport time",
            |_, s| any_pair(s, |a, b| concurrent(a, b) && a.lamport < b.lamport),
        )
        .property(Expectation::Sometimes, "message received", |_, s| {
            events(s).any(|e| matches!(e.kind, EventKind::Receive { .. }))
        })
        .view(view);
    Checked::new(system)
}

/// The networks it is checked under: a duplicating network would deliver a message again and
/// again, each receipt a new event, without bound.
const NETWORKS: &[NetworkKind] = &[
    NetworkKind::UnorderedNonDuplicating,
    NetworkKind::Ordered,
    NetworkKind::LossyUnorderedNonDuplicating,
    NetworkKind::LossyOrdered,
];

/// The catalog entry: `synod check clocks`.
pub struct Clocks;

impl Protocol for Clocks {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "clocks",
        summary: "Lamport and vector clocks checked against the true happened-before relation (Lamport 1978; Fidge 1988, Mattern 1989)",
        params: &[
            Param::model("processes", "processes", 3, 2, 4),
            Param::model(
                "events",
                "steps each process takes (a local event or a send); receipts are events too",
                2,
                1,
                3,
            ),
        ],
        properties: &[
            always("clock condition"),
            always("vector clocks characterise happened-before"),
            sometimes("concurrent events ordered by Lamport time"),
            sometimes("message received"),
        ],
        bugs: &[
            BugInfo {
                name: "receive-without-max",
                summary: "a receipt increments the clocks and ignores the message's stamps",
                source: "Lamport, Time, Clocks, and the Ordering of Events (1978), IR2",
                violates: "clock condition",
                needs: &[],
            },
            BugInfo {
                name: "send-without-increment",
                summary: "sending a message does not advance the clocks",
                source: "Lamport (1978), IR1; Mattern, Virtual Time and Global States (1989)",
                violates: "vector clocks characterise happened-before",
                needs: &[],
            },
        ],
        symmetry: None,
        networks: NETWORKS,
        validate: crate::protocol::no_validation,
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 802_806,
                source: "tests/check_clocks.rs",
            },
            Pinned {
                params: &[("processes", 2), ("events", 2)],
                symmetry: false,
                unique_states: 749,
                source: "tests/check_clocks.rs",
            },
            Pinned {
                params: &[("processes", 4), ("events", 1)],
                symmetry: false,
                unique_states: 15_128,
                source: "tests/check_clocks.rs",
            },
        ],
    };
    type Model = System<ClockProcess, ClockConfig, ()>;

    fn model(s: &Settings) -> ClockModel {
        model(ClockConfig {
            processes: s.count("processes"),
            steps: s.get("events") as u8,
            network: s.network,
            bug: s.bug_of(&BUGS),
        })
    }
}

const BUGS: [(&str, ClockBug); 2] = [
    ("receive-without-max", ClockBug::ReceiveWithoutMax),
    ("send-without-increment", ClockBug::SendWithoutIncrement),
];

/// On sockets: the same processes with the ghost off, stepping on a timer, checking every
/// happened-before edge they see. No clients.
impl Serve for Clocks {
    type Internal = ClockMsg;
    type Server = ClockProcess;
    type Storage = ClockSaved;
    const KEYS: KeySemantics = KeySemantics::NoClients;
    const CAS: bool = false;
    const TALLIES: &'static [&'static str] = &[
        "events",
        "receipts",
        "Lamport violations",
        "vector violations",
        "malformed stamps",
    ];

    fn server(s: &Settings, index: usize, servers: Vec<Id>) -> ClockProcess {
        ClockProcess {
            index,
            peers: servers,
            steps: 0,
            bug: s.bug_of(&BUGS),
            network: true,
        }
    }

    fn fits(_: &Settings, nodes: usize) -> Result<(), String> {
        if !(2..=MAX_NODES).contains(&nodes) {
            return Err(format!(
                "--nodes {nodes}: clocks runs on 2 to {MAX_NODES} processes (messages need a peer; a vector has an entry per process)"
            ));
        }
        Ok(())
    }

    fn tallies(s: &ProcessState) -> [u64; MAX_TALLIES] {
        let t = &s.tally;
        [
            t.events,
            t.receipts,
            t.lamport_violations,
            t.vector_violations,
            t.malformed,
        ]
    }

    fn judge(totals: &[u64; MAX_TALLIES]) -> Option<Judged> {
        let [events, receipts, lamport, vector, _] = *totals;
        Some(if lamport + vector > 0 {
            Judged::Violated(format!(
                "a clock did not grow along a happened-before edge: the Lamport time along {lamport} (the clock condition), the vector along {vector} (a -> b implies V(a) < V(b))"
            ))
        } else if receipts == 0 {
            Judged::Unjudged(format!(
                "no message was received in {events} events: the receive rule went unchecked"
            ))
        } else {
            Judged::Holds(format!(
                "both clocks grew along every happened-before edge seen: {events} events, each against its predecessor, and {receipts} receipts, each against its send"
            ))
        })
    }
}

/// The most processes a clocks cluster runs (a vector entry each, on every message).
pub const MAX_NODES: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    fn v(entries: &[u32]) -> VectorClock {
        VectorClock::from_entries(entries)
    }

    #[test]
    fn lamport_clock_rules() {
        let mut c = LamportClock::new();
        assert_eq!(c.tick(), 1);
        assert_eq!(c.receive(5), 6, "IR2: max(1, 5) + 1");
        assert_eq!(c.receive(2), 7, "IR2: max(6, 2) + 1");
        assert_eq!(c.time(), 7);
    }

    #[test]
    fn vector_clock_order_is_the_entrywise_partial_order() {
        assert!(v(&[1, 0, 0]).happened_before(&v(&[1, 1, 0])));
        assert!(!v(&[1, 1, 0]).happened_before(&v(&[1, 1, 0])), "strict");
        assert!(v(&[1, 1, 0]) <= v(&[1, 1, 0]));
        assert!(v(&[2, 0, 0]).concurrent(&v(&[0, 1, 0])));
        assert_eq!(v(&[2, 0, 0]).partial_cmp(&v(&[0, 1, 0])), None);
        assert!(v(&[2, 3, 1]) > v(&[2, 1, 1]));
        let mut m = v(&[2, 0, 5]);
        m.merge(&v(&[1, 4, 5]));
        assert_eq!(m, v(&[2, 4, 5]));
        m.increment(1);
        assert_eq!(m.get(1), 5);
    }

    fn node(index: usize, bug: Option<ClockBug>) -> ClockProcess {
        ClockProcess {
            index,
            peers: vec![Id::from(10), Id::from(11)],
            steps: 0,
            bug,
            network: true,
        }
    }

    /// Runs one step of `p` and returns what it saved and sent.
    fn step(
        p: &ClockProcess,
        state: &mut ProcessState,
        f: impl FnOnce(&ClockProcess, &mut Cow<ProcessState>, &mut Out<ClockProcess>),
    ) -> (Option<ClockSaved>, Vec<(Id, KvMsg<ClockMsg>)>) {
        let mut cow = Cow::Owned(state.clone());
        let mut o = Out::new();
        f(p, &mut cow, &mut o);
        *state = cow.into_owned();
        let (mut saved, mut sent) = (None, Vec::new());
        for c in o {
            match c {
                stateright::actor::Command::Save(s) => saved = Some(s),
                stateright::actor::Command::Send(dst, m) => sent.push((dst, m)),
                _ => {}
            }
        }
        (saved, sent)
    }

    /// On the network: no ghost, every event counted and its edges checked; a restart goes on
    /// from the saved clocks, and the first event after it is checked against them; a client
    /// request is refused.
    #[test]
    fn a_node_checks_each_edge_and_restarts_from_its_clocks() {
        let (a, b) = (node(0, None), node(1, None));
        let mut sa = a.on_start(Id::from(10), &None, &mut Out::new());
        let mut sb = b.on_start(Id::from(11), &None, &mut Out::new());
        let (saved, sent) = step(&a, &mut sa, |p, s, o| {
            p.on_random(Id::from(10), s, &Step::SendTo(1), o)
        });
        let (dst, msg) = sent.into_iter().next().expect("a send");
        assert_eq!(dst, Id::from(11));
        assert!(
            sa.events.is_empty() && sa.past == 0,
            "no ghost on the network"
        );
        assert_eq!(saved.unwrap().lamport.time(), 1);
        step(&b, &mut sb, |p, s, o| {
            p.on_random(Id::from(11), s, &Step::Local, o)
        });
        let (saved, _) = step(&b, &mut sb, |p, s, o| {
            p.on_msg(Id::from(11), s, Id::from(10), msg.clone(), o)
        });
        assert_eq!(sb.vector, v(&[1, 2]));
        assert_eq!(
            sb.tally,
            EdgeTally {
                events: 2,
                receipts: 1,
                ..EdgeTally::default()
            }
        );
        // A message from an address that is not a peer is no event.
        step(&b, &mut sb, |p, s, o| {
            p.on_msg(Id::from(11), s, Id::from(99), msg.clone(), o)
        });
        assert_eq!(sb.tally.events, 2);
        // Restarted from what it saved: the clocks go on, and program order spans the restart.
        let mut sb = b.on_start(Id::from(11), &saved, &mut Out::new());
        assert!(sb.stamped && sb.lamport.time() == 2 && sb.vector == v(&[1, 2]));
        step(&b, &mut sb, |p, s, o| {
            p.on_random(Id::from(11), s, &Step::Local, o)
        });
        assert_eq!(sb.lamport.time(), 3);
        assert_eq!(sb.tally.lamport_violations + sb.tally.vector_violations, 0);
        // The broken send is caught on its program-order edge, across a restart too.
        let bad = node(1, Some(ClockBug::SendWithoutIncrement));
        let mut sc = bad.on_start(Id::from(11), &saved, &mut Out::new());
        step(&bad, &mut sc, |p, s, o| {
            p.on_random(Id::from(11), s, &Step::SendTo(0), o)
        });
        assert_eq!(
            (sc.tally.lamport_violations, sc.tally.vector_violations),
            (1, 1)
        );
        // So is the broken receipt, on its edge from the send.
        let bad = node(1, Some(ClockBug::ReceiveWithoutMax));
        let mut sd = bad.on_start(Id::from(11), &None, &mut Out::new());
        step(&bad, &mut sd, |p, s, o| {
            p.on_msg(Id::from(11), s, Id::from(10), msg.clone(), o)
        });
        assert_eq!(
            (sd.tally.lamport_violations, sd.tally.vector_violations),
            (1, 1)
        );
        // Stamps no process of this system sends are dropped and counted, never a panic.
        for bad in [
            ClockMsg {
                lamport: 1,
                vector: v(&[1, 0, 0]),
                past: 0,
            },
            ClockMsg {
                lamport: u64::MAX,
                vector: v(&[1, 0]),
                past: 0,
            },
            ClockMsg {
                lamport: 1,
                vector: v(&[u32::MAX, 0]),
                past: 0,
            },
        ] {
            let before = sa.tally;
            step(&a, &mut sa, |p, s, o| {
                p.on_msg(Id::from(10), s, Id::from(11), KvMsg::Internal(bad), o)
            });
            assert_eq!(sa.tally.malformed, before.malformed + 1);
            assert_eq!(sa.tally.events, before.events);
        }
        // No store: a client's request gets error 10.
        let read = KvMsg::Read { msg_id: 5, key: 1 };
        let (_, sent) = step(&a, &mut sa, |p, s, o| {
            p.on_msg(Id::from(10), s, Id::from(50), read, o)
        });
        assert_eq!(
            sent,
            vec![(Id::from(50), KvMsg::error(5, ErrorCode::NotSupported))]
        );
    }

    /// A small deterministic generator (no dependency needed for a test).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    /// Random executions, with happened-before computed from its definition (program order,
    /// send before receipt, transitive closure by a fixpoint over explicit edges) and the clocks
    /// from the types: the clock condition and the vector-clock characterisation hold on every
    /// pair, and Lamport time orders some concurrent pairs.
    #[test]
    fn clocks_agree_with_happened_before_on_random_executions() {
        let mut rng = Lcg(7);
        let mut ordered_concurrent = 0;
        for _ in 0..300 {
            let n = 2 + rng.below(3) as usize;
            let mut lamport = vec![LamportClock::new(); n];
            let mut vector = vec![VectorClock::new(n); n];
            // Per event: (process, Lamport time, vector); explicit edges (a, b) for rules 1, 2.
            let mut events: Vec<(usize, u64, VectorClock)> = Vec::new();
            let mut last: Vec<Option<usize>> = vec![None; n];
            let mut edges: Vec<(usize, usize)> = Vec::new();
            let mut in_flight: Vec<(usize, u64, VectorClock, usize)> = Vec::new();
            for _ in 0..12 {
                let p = rng.below(n as u64) as usize;
                let choice = rng.below(3);
                let id = events.len();
                if choice == 2 && !in_flight.is_empty() {
                    let i = rng.below(in_flight.len() as u64) as usize;
                    let (to, stamp, stamp_v, send) = in_flight.swap_remove(i);
                    lamport[to].receive(stamp);
                    vector[to].merge(&stamp_v);
                    vector[to].increment(to);
                    edges.push((send, id));
                    if let Some(prev) = last[to] {
                        edges.push((prev, id));
                    }
                    last[to] = Some(id);
                    events.push((to, lamport[to].time(), vector[to].clone()));
                    continue;
                }
                lamport[p].tick();
                vector[p].increment(p);
                if let Some(prev) = last[p] {
                    edges.push((prev, id));
                }
                last[p] = Some(id);
                events.push((p, lamport[p].time(), vector[p].clone()));
                if choice == 1 {
                    let to = (p + 1 + rng.below(n as u64 - 1) as usize) % n;
                    in_flight.push((to, lamport[p].time(), vector[p].clone(), id));
                }
            }
            let k = events.len();
            let mut hb = vec![vec![false; k]; k];
            for &(a, b) in &edges {
                hb[a][b] = true;
            }
            for m in 0..k {
                for a in 0..k {
                    for b in 0..k {
                        if hb[a][m] && hb[m][b] {
                            hb[a][b] = true;
                        }
                    }
                }
            }
            for a in 0..k {
                for b in 0..k {
                    if a == b {
                        continue;
                    }
                    let (_, la, va) = &events[a];
                    let (_, lb, vb) = &events[b];
                    if hb[a][b] {
                        assert!(la < lb, "clock condition");
                    }
                    assert_eq!(hb[a][b], va.happened_before(vb), "characterisation");
                    if !hb[a][b] && !hb[b][a] {
                        assert!(va.concurrent(vb));
                        if la < lb {
                            ordered_concurrent += 1;
                        }
                    }
                }
            }
        }
        assert!(
            ordered_concurrent > 0,
            "Lamport time orders concurrent events"
        );
    }
}
