//! A system of actors as a checkable model: the same semantics as stateright's `ActorModel`
//! (deliver, drop, timeout, crash, recover, random choice; ordered, unordered and duplicating
//! networks; message histories), with a tighter state.
//!
//! Why not `ActorModel` itself: its state is seven vectors and a hash map, so every successor state
//! costs about eight allocations before the actor runs, and hashing its network sorts a buffer of
//! per-envelope hashes. Here a state is one vector of per-actor slots (state, saved storage,
//! timers), a crash bit set, the network as one sorted vector, and the history. A slot is shared
//! between a state and its successors until an actor steps (copy on write), and the network
//! keeps a running hash of its messages, so a successor costs one slot copy and a network copy,
//! and its fingerprint hashes one word per actor and one for the network. The successor
//! relation is the same, action for action, so unique-state counts equal `ActorModel`'s (a test
//! pins that); the actors are plain `stateright::actor::Actor`s, unchanged.

use crate::NetworkKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use stateright::actor::{Actor, ActorModelAction, Command, Envelope, Id, Out};
use stateright::{Model, Property};
use std::borrow::Cow;
use std::fmt::{self, Debug};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The most actors a system may have (crash flags are a bit set).
pub const MAX_ACTORS: usize = 64;

/// A 64-bit hash with fixed keys (so runs are reproducible).
pub fn digest<T: Hash + ?Sized>(value: &T) -> u64 {
    ahash::RandomState::with_seeds(0x5359_4e4f, 0x4450_4158, 0x4f53, 0x2026).hash_one(value)
}

/// One actor's part of a system state: a shared handle, so that a successor state copies one
/// pointer per actor and only the actor that steps gets a copy of its own (copy on write).
pub struct Slot<A: Actor>(Arc<SlotData<A>>);

/// What a [`Slot`] holds.
pub struct SlotData<A: Actor> {
    pub state: Arc<A::State>,
    /// What the actor last saved; a restart starts from it.
    pub storage: Option<A::Storage>,
    /// A hash of `state` and `storage`, kept current by [`Slot::set`]: fingerprinting a system
    /// state then hashes one word per unchanged actor instead of the actor's whole state.
    digest: u64,
    /// Timers set, sorted, without duplicates.
    pub timers: Vec<A::Timer>,
    /// Pending random choices, by key.
    pub random: Vec<(String, Vec<A::Random>)>,
}

impl<A: Actor> std::ops::Deref for Slot<A> {
    type Target = SlotData<A>;

    fn deref(&self) -> &SlotData<A> {
        &self.0
    }
}

/// Changing a slot changes this state's own copy (copied first if another state shares it).
impl<A: Actor> std::ops::DerefMut for Slot<A> {
    fn deref_mut(&mut self) -> &mut SlotData<A> {
        Arc::make_mut(&mut self.0)
    }
}

impl<A: Actor> Slot<A> {
    fn new(state: A::State, storage: Option<A::Storage>) -> Self {
        let mut data = SlotData {
            state: Arc::new(state),
            storage,
            digest: 0,
            timers: Vec::new(),
            random: Vec::new(),
        };
        data.refresh();
        Slot(Arc::new(data))
    }

    /// Replaces the actor's state and/or storage.
    pub fn set(&mut self, state: Option<A::State>, storage: Option<A::Storage>) {
        let data = &mut **self;
        if let Some(s) = state {
            data.state = Arc::new(s);
        }
        if let Some(s) = storage {
            data.storage = Some(s);
        }
        data.refresh();
    }

    /// Whether two slots are one shared copy (then they are equal without looking).
    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<A: Actor> SlotData<A> {
    fn refresh(&mut self) {
        self.digest = digest(&(&*self.state, &self.storage));
    }
}

impl<A: Actor> Clone for Slot<A> {
    fn clone(&self) -> Self {
        Slot(Arc::clone(&self.0))
    }
}

impl<A: Actor> Clone for SlotData<A> {
    fn clone(&self) -> Self {
        SlotData {
            state: Arc::clone(&self.state),
            storage: self.storage.clone(),
            digest: self.digest,
            timers: self.timers.clone(),
            random: self.random.clone(),
        }
    }
}

impl<A: Actor> PartialEq for Slot<A>
where
    A::State: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.same(other)
            || (self.digest == other.digest
                && self.state == other.state
                && self.storage == other.storage
                && self.timers == other.timers
                && self.random == other.random)
    }
}

impl<A: Actor> Hash for Slot<A> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.digest);
        self.timers.hash(h);
        self.random.hash(h);
    }
}

/// Messages in flight, kept sorted so that equal networks are equal vectors.
///
/// The unordered networks also keep `sum`, the wrapping sum of [`digest`] over every envelope
/// in flight (one term per copy): a hash of the multiset, updated by each send and delivery, so
/// that fingerprinting a state hashes one word for its network rather than every message.
#[derive(PartialEq, Eq)]
pub enum Net<M> {
    /// Unordered, delivered at most once: each distinct envelope with its multiplicity.
    Unordered(Vec<(Envelope<M>, u32)>, u64),
    /// Unordered and duplicating: a set of envelopes, plus the last one delivered (as stateright
    /// keeps it, so that a delivery that changes nothing else still leads to a new state).
    Duplicating(Vec<Envelope<M>>, Option<Envelope<M>>, u64),
    /// Ordered per (src, dst) channel: envelopes in send order.
    Ordered(Vec<Envelope<M>>),
}

impl<M: Hash> Hash for Net<M> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Net::Unordered(_, sum) => {
                h.write_u8(0);
                h.write_u64(*sum);
            }
            Net::Duplicating(_, last, sum) => {
                h.write_u8(1);
                h.write_u64(*sum);
                last.hash(h);
            }
            Net::Ordered(v) => {
                h.write_u8(2);
                v.hash(h);
            }
        }
    }
}

/// Room for this many more messages in a cloned network: a successor almost always sends, and
/// an exact-capacity clone would reallocate on the first send.
const NET_SLACK: usize = 4;

fn clone_with_slack<T: Clone>(v: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len() + NET_SLACK);
    out.extend_from_slice(v);
    out
}

impl<M: Clone> Clone for Net<M> {
    fn clone(&self) -> Self {
        match self {
            Net::Unordered(v, sum) => Net::Unordered(clone_with_slack(v), *sum),
            Net::Duplicating(v, last, sum) => {
                Net::Duplicating(clone_with_slack(v), last.clone(), *sum)
            }
            Net::Ordered(v) => Net::Ordered(clone_with_slack(v)),
        }
    }
}

impl<M: Ord + Clone + Hash> Net<M> {
    pub fn new(kind: NetworkKind) -> Self {
        match kind {
            NetworkKind::UnorderedNonDuplicating | NetworkKind::LossyUnorderedNonDuplicating => {
                Net::Unordered(Vec::new(), 0)
            }
            NetworkKind::UnorderedDuplicating | NetworkKind::LossyUnorderedDuplicating => {
                Net::Duplicating(Vec::new(), None, 0)
            }
            NetworkKind::Ordered | NetworkKind::LossyOrdered => Net::Ordered(Vec::new()),
        }
    }

    pub fn send(&mut self, env: Envelope<M>) {
        match self {
            Net::Unordered(v, sum) => {
                *sum = sum.wrapping_add(digest(&env));
                match v.binary_search_by(|(e, _)| e.cmp(&env)) {
                    Ok(i) => v[i].1 += 1,
                    Err(i) => v.insert(i, (env, 1)),
                }
            }
            Net::Duplicating(v, _, sum) => {
                if let Err(i) = v.binary_search(&env) {
                    *sum = sum.wrapping_add(digest(&env));
                    v.insert(i, env);
                }
            }
            // Kept sorted by channel, send order within a channel: canonical across channels.
            Net::Ordered(v) => {
                let i = v.partition_point(|e| (e.src, e.dst) <= (env.src, env.dst));
                v.insert(i, env);
            }
        }
    }

    /// Removes one copy of `env` (a delivery or a loss). For the duplicating network a delivery
    /// leaves the envelope in place and only remembers it.
    fn remove(&mut self, env: &Envelope<M>, delivered: bool) {
        match self {
            Net::Unordered(v, sum) => {
                let i = v
                    .binary_search_by(|(e, _)| e.cmp(env))
                    .expect("a deliverable envelope is in flight");
                *sum = sum.wrapping_sub(digest(env));
                if v[i].1 > 1 {
                    v[i].1 -= 1;
                } else {
                    v.remove(i);
                }
            }
            Net::Duplicating(v, last, sum) => {
                if delivered {
                    *last = Some(env.clone());
                } else if let Ok(i) = v.binary_search(env) {
                    *sum = sum.wrapping_sub(digest(env));
                    v.remove(i);
                }
            }
            Net::Ordered(v) => {
                let i = v
                    .iter()
                    .position(|e| e == env)
                    .expect("a deliverable envelope is in flight");
                v.remove(i);
            }
        }
    }

    /// Every envelope in flight, one per copy.
    pub fn iter_all(&self) -> Box<dyn Iterator<Item = &Envelope<M>> + '_> {
        match self {
            Net::Unordered(v, _) => Box::new(
                v.iter()
                    .flat_map(|(e, n)| std::iter::repeat_n(e, *n as usize)),
            ),
            Net::Duplicating(v, _, _) | Net::Ordered(v) => Box::new(v.iter()),
        }
    }

    /// Distinct deliverable envelopes, sorted (for ordered networks: the head of each channel).
    pub fn deliverable(&self) -> Vec<&Envelope<M>> {
        match self {
            Net::Unordered(v, _) => v.iter().map(|(e, _)| e).collect(),
            Net::Duplicating(v, _, _) => v.iter().collect(),
            Net::Ordered(v) => v
                .iter()
                .enumerate()
                .filter(|(i, e)| *i == 0 || (v[i - 1].src, v[i - 1].dst) != (e.src, e.dst))
                .map(|(_, e)| e)
                .collect(),
        }
    }

    /// Every distinct envelope in flight (deliverable now or not).
    pub fn deliverable_or_not(&self) -> Box<dyn Iterator<Item = &Envelope<M>> + '_> {
        match self {
            Net::Unordered(v, _) => Box::new(v.iter().map(|(e, _)| e)),
            Net::Duplicating(v, _, _) | Net::Ordered(v) => Box::new(v.iter()),
        }
    }

    /// Keeps only the envelopes `keep` accepts (every copy of each).
    pub fn retain(&mut self, mut keep: impl FnMut(&Envelope<M>) -> bool) {
        match self {
            Net::Unordered(v, sum) => v.retain(|(e, n)| {
                let kept = keep(e);
                if !kept {
                    *sum = sum.wrapping_sub(digest(e).wrapping_mul(u64::from(*n)));
                }
                kept
            }),
            Net::Duplicating(v, _, sum) => v.retain(|e| {
                let kept = keep(e);
                if !kept {
                    *sum = sum.wrapping_sub(digest(e));
                }
                kept
            }),
            Net::Ordered(v) => v.retain(|e| keep(e)),
        }
    }

    /// The number of messages in flight.
    pub fn len(&self) -> usize {
        match self {
            Net::Unordered(v, _) => v.iter().map(|(_, n)| *n as usize).sum(),
            Net::Duplicating(v, _, _) | Net::Ordered(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rebuilds the network with every envelope mapped (for symmetry).
    pub fn map(&self, f: impl Fn(&Envelope<M>) -> Envelope<M>) -> Self {
        match self {
            Net::Unordered(v, _) => {
                let mut out: Vec<(Envelope<M>, u32)> = v.iter().map(|(e, n)| (f(e), *n)).collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                let sum = unordered_sum(&out);
                Net::Unordered(out, sum)
            }
            Net::Duplicating(v, last, _) => {
                let mut out: Vec<Envelope<M>> = v.iter().map(&f).collect();
                out.sort();
                let sum = set_sum(&out);
                Net::Duplicating(out, last.as_ref().map(&f), sum)
            }
            // Send order within a channel is preserved; order across channels does not matter
            // for delivery, but must be canonical: sort stably by channel.
            Net::Ordered(v) => {
                let mut out: Vec<Envelope<M>> = v.iter().map(&f).collect();
                out.sort_by_key(|e| (e.src, e.dst));
                Net::Ordered(out)
            }
        }
    }
}

/// The `sum` of an unordered network, from scratch.
fn unordered_sum<M: Hash>(v: &[(Envelope<M>, u32)]) -> u64 {
    v.iter().fold(0u64, |sum, (e, n)| {
        sum.wrapping_add(digest(e).wrapping_mul(u64::from(*n)))
    })
}

/// The `sum` of a duplicating network's set, from scratch.
fn set_sum<M: Hash>(v: &[Envelope<M>]) -> u64 {
    v.iter().fold(0u64, |sum, e| sum.wrapping_add(digest(e)))
}

impl<M: Debug> Debug for Net<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        match self {
            Net::Unordered(v, _) => {
                for (e, n) in v {
                    for _ in 0..*n {
                        list.entry(&format_args!("{:?} -> {:?}: {:?}", e.src, e.dst, e.msg));
                    }
                }
            }
            Net::Duplicating(v, _, _) | Net::Ordered(v) => {
                for e in v {
                    list.entry(&format_args!("{:?} -> {:?}: {:?}", e.src, e.dst, e.msg));
                }
            }
        }
        list.finish()
    }
}

/// A snapshot of the whole system.
pub struct SystemState<A: Actor, H> {
    pub actors: Vec<Slot<A>>,
    /// Bit `i` set: actor `i` is crashed.
    pub crashed: u64,
    /// Crashes so far, when a crash restarts at once ([`System::reboot`]): the bound is on
    /// their number in a run, since none lasts.
    pub reboots: u8,
    pub network: Net<A::Msg>,
    pub history: H,
}

impl<A: Actor, H: Clone> Clone for SystemState<A, H> {
    fn clone(&self) -> Self {
        SystemState {
            actors: self.actors.clone(),
            crashed: self.crashed,
            reboots: self.reboots,
            network: self.network.clone(),
            history: self.history.clone(),
        }
    }
}

impl<A: Actor, H: PartialEq> PartialEq for SystemState<A, H>
where
    A::State: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.crashed == other.crashed
            && self.reboots == other.reboots
            && self.actors == other.actors
            && self.network == other.network
            && self.history == other.history
    }
}

impl<A: Actor, H: Eq> Eq for SystemState<A, H> where A::State: Eq {}

impl<A: Actor, H: Hash> Hash for SystemState<A, H> {
    fn hash<S: Hasher>(&self, h: &mut S) {
        self.actors.hash(h);
        self.crashed.hash(h);
        self.reboots.hash(h);
        self.network.hash(h);
        self.history.hash(h);
    }
}

// Serialized (the frontier of `--engine synod`, spilled to disk) as plain tuples. Digests
// travel with what they digest, so a state read back hashes as it did and is not rehashed.

/// An envelope as `(src, dst, msg)`, since stateright's `Envelope` has no `Deserialize`.
struct EnvRef<'a, M>(&'a Envelope<M>);

impl<M: Serialize> Serialize for EnvRef<'_, M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.0.src, self.0.dst, &self.0.msg).serialize(s)
    }
}

struct EnvSeq<'a, M>(&'a [Envelope<M>]);

impl<M: Serialize> Serialize for EnvSeq<'_, M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(EnvRef))
    }
}

struct CountedSeq<'a, M>(&'a [(Envelope<M>, u32)]);

impl<M: Serialize> Serialize for CountedSeq<'_, M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(e, n)| (EnvRef(e), *n)))
    }
}

/// [`Net`] as written (borrowing) ...
#[derive(Serialize)]
enum NetOut<'a, M> {
    Unordered(CountedSeq<'a, M>),
    Duplicating(EnvSeq<'a, M>, Option<EnvRef<'a, M>>),
    Ordered(EnvSeq<'a, M>),
}

type EnvTuple<M> = (Id, Id, M);

/// ... and as read back: the same variants in the same order.
#[derive(Deserialize)]
enum NetIn<M> {
    Unordered(Vec<(EnvTuple<M>, u32)>),
    Duplicating(Vec<EnvTuple<M>>, Option<EnvTuple<M>>),
    Ordered(Vec<EnvTuple<M>>),
}

fn envelope<M>((src, dst, msg): EnvTuple<M>) -> Envelope<M> {
    Envelope { src, dst, msg }
}

impl<M: Serialize> Serialize for Net<M> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Net::Unordered(v, _) => NetOut::Unordered(CountedSeq(v)),
            Net::Duplicating(v, last, _) => {
                NetOut::Duplicating(EnvSeq(v), last.as_ref().map(EnvRef))
            }
            Net::Ordered(v) => NetOut::Ordered(EnvSeq(v)),
        }
        .serialize(s)
    }
}

impl<'de, M: Deserialize<'de> + Hash> Deserialize<'de> for Net<M> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match NetIn::deserialize(d)? {
            NetIn::Unordered(v) => {
                let v: Vec<_> = v.into_iter().map(|(e, n)| (envelope(e), n)).collect();
                let sum = unordered_sum(&v);
                Net::Unordered(v, sum)
            }
            NetIn::Duplicating(v, last) => {
                let v: Vec<_> = v.into_iter().map(envelope).collect();
                let sum = set_sum(&v);
                Net::Duplicating(v, last.map(envelope), sum)
            }
            NetIn::Ordered(v) => Net::Ordered(v.into_iter().map(envelope).collect()),
        })
    }
}

// A slot is written once per batch (`crate::batch`): the successors of one state share all
// but one of their actors.
impl<A: Actor> Serialize for Slot<A>
where
    A: 'static,
    A::State: Serialize + PartialEq,
    A::Storage: Serialize,
    A::Timer: Serialize,
    A::Random: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let full = (
            &*self.state,
            &self.storage,
            self.digest,
            &self.timers,
            &self.random,
        );
        crate::batch::serialize(Arc::as_ptr(&self.state) as usize, self, full, s)
    }
}

type SlotParts<A> = (
    <A as Actor>::State,
    Option<<A as Actor>::Storage>,
    u64,
    Vec<<A as Actor>::Timer>,
    Vec<(String, Vec<<A as Actor>::Random>)>,
);

impl<'de, A: Actor> Deserialize<'de> for Slot<A>
where
    A: 'static,
    A::State: Deserialize<'de>,
    A::Storage: Deserialize<'de>,
    A::Timer: Deserialize<'de>,
    A::Random: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::batch::deserialize(
            d,
            |(state, storage, digest, timers, random): SlotParts<A>| {
                Slot(Arc::new(SlotData {
                    state: Arc::new(state),
                    storage,
                    digest,
                    timers,
                    random,
                }))
            },
        )
    }
}

impl<A: Actor, H: Serialize> Serialize for SystemState<A, H>
where
    Slot<A>: Serialize,
    A::Msg: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (
            &self.actors,
            self.crashed,
            self.reboots,
            &self.network,
            &self.history,
        )
            .serialize(s)
    }
}

impl<'de, A: Actor, H: Deserialize<'de>> Deserialize<'de> for SystemState<A, H>
where
    Slot<A>: Deserialize<'de>,
    A::Msg: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (actors, crashed, reboots, network, history) = Deserialize::deserialize(d)?;
        Ok(SystemState {
            actors,
            crashed,
            reboots,
            network,
            history,
        })
    }
}

impl<A: Actor, H: Debug> Debug for SystemState<A, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("SystemState");
        let states: Vec<&A::State> = self.actors.iter().map(|a| &*a.state).collect();
        s.field("actor_states", &states);
        if self.crashed != 0 {
            let crashed: Vec<usize> = (0..MAX_ACTORS).filter(|i| self.is_crashed(*i)).collect();
            s.field("crashed", &crashed);
        }
        if self.reboots != 0 {
            s.field("reboots", &self.reboots);
        }
        s.field("network", &self.network);
        s.field("history", &self.history);
        s.finish()
    }
}

impl<A: Actor, H> SystemState<A, H> {
    pub fn is_crashed(&self, index: usize) -> bool {
        self.crashed & (1 << index) != 0
    }

    /// The state of actor `index`.
    pub fn actor(&self, index: usize) -> &A::State {
        &self.actors[index].state
    }
}

/// How an outgoing or incoming message changes the history: `Some(next)` to record it.
pub type Recorder<A, C, H> = fn(&C, &H, Envelope<&<A as Actor>::Msg>) -> Option<H>;

/// A system of actors: the model.
pub struct System<A, C, H>
where
    A: Actor,
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
{
    pub actors: Vec<A>,
    pub cfg: C,
    pub init_history: H,
    pub network: NetworkKind,
    /// How many actors may be crashed at once.
    pub max_crashes: usize,
    /// Crash-stop failures: a crashed actor never restarts (no `Recover` actions).
    pub crash_stop: bool,
    /// A crash restarts the actor at once, from its storage (see [`System::reboot`]).
    pub reboot: bool,
    pub properties: Vec<Property<System<A, C, H>>>,
    pub record_msg_in: Recorder<A, C, H>,
    pub record_msg_out: Recorder<A, C, H>,
    /// Messages in flight that can no longer change anything (see [`System::obsolete`]).
    pub obsolete: Option<Obsolete<A, C, H>>,
    /// The protocol's own picture of a state for the trace viewer (see [`System::view`]).
    pub view: Option<ViewFn<A, H>>,
    /// `leads-to` properties (see [`crate::liveness`]).
    pub leads_to: Vec<crate::liveness::LeadsTo<System<A, C, H>>>,
}

/// A protocol's view of a state: a pure function to the small tables the UI draws.
pub type ViewFn<A, H> = fn(&SystemState<A, H>) -> Vec<crate::trace::ViewTable>;

/// Whether an envelope in flight is obsolete in a state (see [`System::obsolete`]).
pub type Obsolete<A, C, H> =
    fn(&System<A, C, H>, &SystemState<A, H>, &Envelope<<A as Actor>::Msg>) -> bool;

/// The actions of a system (stateright's, so traces and the explorer read as usual).
pub type SystemAction<A> =
    ActorModelAction<<A as Actor>::Msg, <A as Actor>::Timer, <A as Actor>::Random>;

impl<A, C, H> System<A, C, H>
where
    A: Actor,
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
{
    pub fn new(cfg: C, init_history: H) -> Self {
        System {
            actors: Vec::new(),
            cfg,
            init_history,
            network: NetworkKind::default(),
            max_crashes: 0,
            crash_stop: false,
            reboot: false,
            properties: Vec::new(),
            record_msg_in: |_, _, _| None,
            record_msg_out: |_, _, _| None,
            obsolete: None,
            view: None,
            leads_to: Vec::new(),
        }
    }

    pub fn actors(mut self, actors: impl IntoIterator<Item = A>) -> Self {
        self.actors.extend(actors);
        assert!(
            self.actors.len() <= MAX_ACTORS,
            "at most {MAX_ACTORS} actors"
        );
        self
    }

    pub fn network(mut self, kind: NetworkKind) -> Self {
        self.network = kind;
        self
    }

    pub fn max_crashes(mut self, n: usize) -> Self {
        self.max_crashes = n;
        self
    }

    /// Crashed actors stay down (crash-stop) instead of restarting from their storage.
    pub fn crash_stop(mut self, yes: bool) -> Self {
        self.crash_stop = yes;
        self
    }

    /// Crash and restart as one action: the actor loses its volatile state and timers and
    /// starts again from what it saved. Messages to a crashed actor wait in the network for
    /// its restart anyway, so an actor that is down for a while behaves, to everyone else,
    /// like one that takes no step for that while and then reboots; every interleaving of
    /// the separate crash and restart is one of these. What is lost is only the states in
    /// which the actor is down, and properties over the actors that are up hold in them if they
    /// hold with the actor up and idle (a property quantified over fewer actors is weaker).
    pub fn reboot(mut self, yes: bool) -> Self {
        self.reboot = yes;
        self
    }

    pub fn property(
        mut self,
        expectation: stateright::Expectation,
        name: &'static str,
        condition: fn(&Self, &SystemState<A, H>) -> bool,
    ) -> Self {
        assert!(
            self.properties.iter().all(|p| p.name != name),
            "property {name} is defined twice"
        );
        self.properties.push(Property {
            expectation,
            name,
            condition,
        });
        self
    }

    /// A `leads-to` property `from ~> to`, checked under weak fairness (see
    /// [`crate::liveness`]).
    pub fn leads_to(
        mut self,
        name: &'static str,
        from: fn(&Self, &SystemState<A, H>) -> bool,
        to: fn(&Self, &SystemState<A, H>) -> bool,
    ) -> Self {
        assert!(
            self.properties.iter().all(|p| p.name != name)
                && self.leads_to.iter().all(|p| p.name != name),
            "property {name} is defined twice"
        );
        self.leads_to
            .push(crate::liveness::LeadsTo { name, from, to });
        self
    }

    pub fn record_msg_in(mut self, f: Recorder<A, C, H>) -> Self {
        self.record_msg_in = f;
        self
    }

    pub fn record_msg_out(mut self, f: Recorder<A, C, H>) -> Self {
        self.record_msg_out = f;
        self
    }

    /// Removes, after every step, the messages in flight that `f` calls obsolete. `f` must
    /// only call a message obsolete if delivering it, in this state or in any state reachable
    /// from it, changes no actor and the history, and sends only messages that are obsolete
    /// themselves; and once obsolete, a message must stay so. Such a message is dead weight:
    /// the unreduced model never delivers it (a delivery that changes nothing is not a step),
    /// yet a state with it in flight and one without it differ. Removing it makes the reachable
    /// states the projection of the unreduced ones without their obsolete messages, so every
    /// property that does not read the network has the same verdict.
    pub fn obsolete(mut self, f: Obsolete<A, C, H>) -> Self {
        self.obsolete = Some(f);
        self
    }

    /// The protocol's view for the trace viewer (RaftScope-style logs, per-key ballots): it
    /// changes nothing in the search.
    pub fn view(mut self, f: ViewFn<A, H>) -> Self {
        self.view = Some(f);
        self
    }

    /// One step of the unreduced system (obsolete messages are collected by the caller).
    fn step(&self, last: &SystemState<A, H>, action: SystemAction<A>) -> Option<SystemState<A, H>> {
        match action {
            ActorModelAction::Drop(env) => {
                let mut next = last.clone();
                next.network.remove(&env, false);
                Some(next)
            }
            ActorModelAction::Deliver { src, dst, msg } => {
                let index = usize::from(dst);
                if index >= last.actors.len() || last.is_crashed(index) {
                    return None;
                }
                let mut actor_state = Cow::Borrowed(&*last.actors[index].state);
                let mut out = Out::new();
                self.actors[index].on_msg(dst, &mut actor_state, src, msg.clone(), &mut out);
                let ordered = matches!(last.network, Net::Ordered(_));
                if matches!(actor_state, Cow::Borrowed(_)) && out.is_empty() && !ordered {
                    return None; // nothing happens: not a step
                }
                let history = (self.record_msg_in)(
                    &self.cfg,
                    &last.history,
                    Envelope {
                        src,
                        dst,
                        msg: &msg,
                    },
                );
                let mut next = last.clone();
                next.network.remove(&Envelope { src, dst, msg }, true);
                let changed = matches!(actor_state, Cow::Owned(_));
                if let Cow::Owned(s) = actor_state {
                    next.actors[index].state = Arc::new(s);
                }
                if let Some(h) = history {
                    next.history = h;
                }
                self.apply_commands(index, dst, out, &mut next);
                if changed || next.actors[index].storage != last.actors[index].storage {
                    next.actors[index].refresh();
                }
                Some(next)
            }
            ActorModelAction::Timeout(id, timer) => {
                let index = usize::from(id);
                let mut actor_state = Cow::Borrowed(&*last.actors[index].state);
                let mut out = Out::new();
                self.actors[index].on_timeout(id, &mut actor_state, &timer, &mut out);
                let renews_only =
                    out.len() == 1 && matches!(&out[0], Command::SetTimer(t, _) if *t == timer);
                if matches!(actor_state, Cow::Borrowed(_)) && renews_only {
                    return None;
                }
                let mut next = last.clone();
                let timers = &mut next.actors[index].timers;
                if let Ok(i) = timers.binary_search(&timer) {
                    timers.remove(i);
                }
                if let Cow::Owned(s) = actor_state {
                    next.actors[index].set(Some(s), None);
                }
                self.apply(id, out, &mut next);
                Some(next)
            }
            ActorModelAction::Crash(id) => {
                let index = usize::from(id);
                let mut next = last.clone();
                next.actors[index].timers.clear();
                next.actors[index].random.clear();
                if self.reboot {
                    next.reboots += 1;
                    let mut out = Out::new();
                    let s = self.actors[index].on_start(id, &last.actors[index].storage, &mut out);
                    next.actors[index].set(Some(s), None);
                    self.apply(id, out, &mut next);
                    return Some(next);
                }
                next.crashed |= 1 << index;
                Some(next)
            }
            ActorModelAction::Recover(id) => {
                let index = usize::from(id);
                debug_assert!(last.is_crashed(index));
                let mut out = Out::new();
                let s = self.actors[index].on_start(id, &last.actors[index].storage, &mut out);
                let mut next = last.clone();
                next.actors[index].set(Some(s), None);
                next.crashed &= !(1 << index);
                self.apply(id, out, &mut next);
                Some(next)
            }
            ActorModelAction::SelectRandom { actor, key, random } => {
                let index = usize::from(actor);
                let mut actor_state = Cow::Borrowed(&*last.actors[index].state);
                let mut out = Out::new();
                self.actors[index].on_random(actor, &mut actor_state, &random, &mut out);
                let mut next = last.clone();
                next.actors[index].random.retain(|(k, _)| *k != key);
                if let Cow::Owned(s) = actor_state {
                    next.actors[index].set(Some(s), None);
                }
                self.apply(actor, out, &mut next);
                Some(next)
            }
        }
    }

    fn collect_obsolete(&self, state: &mut SystemState<A, H>) {
        let Some(f) = self.obsolete else {
            return;
        };
        let dead: Vec<Envelope<A::Msg>> = state
            .network
            .deliverable_or_not()
            .filter(|env| f(self, state, env))
            .cloned()
            .collect();
        if !dead.is_empty() {
            state.network.retain(|env| !dead.contains(env));
        }
    }

    fn lossy(&self) -> bool {
        self.network.lossy() == stateright::actor::LossyNetwork::Yes
    }

    /// Applies an actor's commands to the system state (and refreshes the actor's digest, which
    /// a `Save` changes).
    fn apply(&self, id: Id, out: Out<A>, state: &mut SystemState<A, H>) {
        let index = usize::from(id);
        let saves = out.iter().any(|c| matches!(c, Command::Save(_)));
        self.apply_commands(index, id, out, state);
        if saves {
            state.actors[index].refresh();
        }
    }

    fn apply_commands(&self, index: usize, id: Id, out: Out<A>, state: &mut SystemState<A, H>) {
        for command in out {
            match command {
                Command::Send(dst, msg) => {
                    let env = Envelope { src: id, dst, msg };
                    if let Some(h) = (self.record_msg_out)(
                        &self.cfg,
                        &state.history,
                        Envelope {
                            src: id,
                            dst,
                            msg: &env.msg,
                        },
                    ) {
                        state.history = h;
                    }
                    state.network.send(env);
                }
                Command::SetTimer(timer, _) => {
                    let timers = &mut state.actors[index].timers;
                    if let Err(i) = timers.binary_search(&timer) {
                        timers.insert(i, timer);
                    }
                }
                Command::CancelTimer(timer) => {
                    let timers = &mut state.actors[index].timers;
                    if let Ok(i) = timers.binary_search(&timer) {
                        timers.remove(i);
                    }
                }
                Command::ChooseRandom(key, choices) => {
                    let random = &mut state.actors[index].random;
                    random.retain(|(k, _)| *k != key);
                    if !choices.is_empty() {
                        random.push((key, choices));
                        random.sort_by(|a, b| a.0.cmp(&b.0));
                    }
                }
                Command::Save(storage) => state.actors[index].storage = Some(storage),
            }
        }
    }
}

impl<A, C, H> Model for System<A, C, H>
where
    A: Actor,
    A::Msg: Ord,
    A::Timer: Ord,
    H: Clone + Debug + Hash,
{
    type State = SystemState<A, H>;
    type Action = SystemAction<A>;

    fn init_states(&self) -> Vec<Self::State> {
        let mut state = SystemState {
            actors: Vec::with_capacity(self.actors.len()),
            crashed: 0,
            reboots: 0,
            network: Net::new(self.network),
            history: self.init_history.clone(),
        };
        for (index, actor) in self.actors.iter().enumerate() {
            let id = Id::from(index);
            let mut out = Out::new();
            let s = actor.on_start(id, &None, &mut out);
            state.actors.push(Slot::new(s, None));
            self.apply(id, out, &mut state);
        }
        vec![state]
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        let deliver = |env: &Envelope<A::Msg>, actions: &mut Vec<Self::Action>| {
            if usize::from(env.dst) < self.actors.len() {
                actions.push(ActorModelAction::Deliver {
                    src: env.src,
                    dst: env.dst,
                    msg: env.msg.clone(),
                });
            }
        };
        match (&state.network, self.lossy()) {
            // The common case, without an intermediate list.
            (Net::Unordered(v, _), false) => v.iter().for_each(|(env, _)| deliver(env, actions)),
            _ => {
                let deliverable = state.network.deliverable();
                if self.lossy() {
                    for env in &deliverable {
                        actions.push(ActorModelAction::Drop((*env).clone()));
                    }
                }
                deliverable
                    .into_iter()
                    .for_each(|env| deliver(env, actions));
            }
        }
        for (index, slot) in state.actors.iter().enumerate() {
            for timer in &slot.timers {
                actions.push(ActorModelAction::Timeout(Id::from(index), timer.clone()));
            }
        }
        let n = self.actors.len();
        let down = if self.reboot {
            usize::from(state.reboots)
        } else {
            state.crashed.count_ones() as usize
        };
        if down < self.max_crashes {
            for index in (0..n).filter(|i| !state.is_crashed(*i)) {
                actions.push(ActorModelAction::Crash(Id::from(index)));
            }
        }
        for index in (0..n).filter(|i| state.is_crashed(*i) && !self.crash_stop) {
            actions.push(ActorModelAction::Recover(Id::from(index)));
        }
        for (index, slot) in state.actors.iter().enumerate() {
            for (key, choices) in &slot.random {
                for random in choices {
                    actions.push(ActorModelAction::SelectRandom {
                        actor: Id::from(index),
                        key: key.clone(),
                        random: random.clone(),
                    });
                }
            }
        }
    }

    fn next_state(&self, last: &Self::State, action: Self::Action) -> Option<Self::State> {
        let mut next = self.step(last, action)?;
        self.collect_obsolete(&mut next);
        Some(next)
    }

    fn format_action(&self, action: &Self::Action) -> String {
        let name = |id: Id| {
            self.actors
                .get(usize::from(id))
                .map(|a| a.name())
                .unwrap_or_else(|| format!("{id:?}"))
        };
        match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                format!("{} -> {}: {msg:?}", name(*src), name(*dst))
            }
            ActorModelAction::Drop(env) => {
                format!("lose {} -> {}: {:?}", name(env.src), name(env.dst), env.msg)
            }
            ActorModelAction::Timeout(id, timer) => format!("{} timeout {timer:?}", name(*id)),
            ActorModelAction::Crash(id) if self.reboot => {
                format!("{} crashes and restarts", name(*id))
            }
            ActorModelAction::Crash(id) => format!("{} crashes", name(*id)),
            ActorModelAction::Recover(id) => format!("{} restarts", name(*id)),
            ActorModelAction::SelectRandom { actor, random, .. } => {
                format!("{} chooses {random:?}", name(*actor))
            }
        }
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.properties.clone()
    }

    /// A sequence diagram of the path for the explorer: a timeline per actor, an arrow from the
    /// step that sent a message to the step that delivered it, a dot for timeouts, crashes and
    /// restarts.
    fn as_svg(&self, path: stateright::Path<Self::State, Self::Action>) -> Option<String> {
        use std::fmt::Write as _;
        let names: Vec<String> = self.actors.iter().map(|a| a.name()).collect();
        let column_px = names
            .iter()
            .map(|n| n.len() as u64 * 9)
            .max()
            .unwrap_or(0)
            .max(110);
        let at = |actor: usize, step: usize| (actor as u64 * column_px, step as u64 * 30 + 30);
        let steps = path.into_vec();
        let (width, height) = at(names.len(), steps.len());
        let width = width + 320; // room for the labels of the last column
        let escape = |t: &str| {
            t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let mut svg = format!(
            "<svg version='1.1' baseProfile='full' width='{width}' height='{height}' \
             viewbox='-20 -20 {} {}' xmlns='http://www.w3.org/2000/svg'>\
             <defs><marker class='svg-event-shape' id='arrow' markerWidth='12' markerHeight='10' \
             refX='12' refY='5' orient='auto'><polygon points='0 0, 12 5, 0 10' /></marker></defs>",
            width + 20,
            height + 20
        );
        for (i, name) in names.iter().enumerate() {
            let (x, y0) = at(i, 0);
            let (_, y1) = at(i, steps.len());
            let _ = write!(
                svg,
                "<line x1='{x}' y1='{y0}' x2='{x}' y2='{y1}' class='svg-actor-timeline' />\
                 <text x='{x}' y='{}' class='svg-actor-label'>{}</text>",
                y0 - 10,
                escape(name)
            );
        }
        // When each message in flight was sent: (src, dst, msg) -> steps, oldest first.
        let mut sent: Vec<(Envelope<A::Msg>, usize)> = Vec::new();
        let mut before: Vec<&Envelope<A::Msg>> = Vec::new();
        for (step, (state, action)) in steps.iter().enumerate() {
            // Messages that appeared with this state were sent by the step that made it.
            let mut now: Vec<&Envelope<A::Msg>> = state.network.iter_all().collect();
            for old in &before {
                if let Some(i) = now.iter().position(|e| e == old) {
                    now.swap_remove(i);
                }
            }
            sent.extend(now.into_iter().map(|e| (e.clone(), step)));
            before = state.network.iter_all().collect();
            let Some(action) = action else { continue };
            let time = step + 1;
            match action {
                ActorModelAction::Deliver { src, dst, msg } => {
                    let env = Envelope {
                        src: *src,
                        dst: *dst,
                        msg: msg.clone(),
                    };
                    let from = sent.iter().position(|(e, _)| *e == env);
                    let send_step = from.map(|i| sent.remove(i).1).unwrap_or(0);
                    let (x1, y1) = at(usize::from(*src), send_step);
                    let (x2, y2) = at(usize::from(*dst), time);
                    let _ = write!(
                        svg,
                        "<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' marker-end='url(#arrow)' \
                         class='svg-event-line' /><text x='{x2}' y='{y2}' \
                         class='svg-event-label'>{}</text>",
                        escape(&format!("{msg:?}"))
                    );
                }
                ActorModelAction::Timeout(id, _)
                | ActorModelAction::Crash(id)
                | ActorModelAction::Recover(id)
                | ActorModelAction::SelectRandom { actor: id, .. } => {
                    let (x, y) = at(usize::from(*id), time);
                    let _ = write!(
                        svg,
                        "<circle cx='{x}' cy='{y}' r='8' class='svg-event-shape' />\
                         <text x='{x}' y='{y}' class='svg-event-label'>{}</text>",
                        escape(&self.format_action(action))
                    );
                }
                ActorModelAction::Drop(env) => {
                    let (x, y) = at(usize::from(env.dst), time);
                    let _ = write!(
                        svg,
                        "<text x='{x}' y='{y}' class='svg-event-label'>{}</text>",
                        escape(&self.format_action(action))
                    );
                }
            }
        }
        svg.push_str("</svg>");
        Some(svg)
    }
}

#[cfg(test)]
mod tests {
    //! The system must explore exactly the state graph of stateright's `ActorModel`: same
    //! actions, same successors. Checked by equal unique-state counts on a small protocol that
    //! exercises messages, no-op deliveries, timers, saved storage, crashes and every network.
    use super::*;
    use stateright::actor::ActorModel;
    use stateright::{Checker, Expectation};

    /// Two actors bounce a counter up to a limit; each remembers the largest value it saw, saves
    /// it, and re-sends on a timer.
    #[derive(Clone)]
    struct Bouncer {
        peer: Id,
        limit: u8,
    }

    impl Actor for Bouncer {
        type Msg = u8;
        type State = u8;
        type Timer = ();
        type Random = ();
        type Storage = u8;

        fn on_start(&self, id: Id, storage: &Option<u8>, o: &mut Out<Self>) -> u8 {
            if usize::from(id) == 0 && storage.is_none() {
                o.save(0); // a restart must not serve again
                o.send(self.peer, 1);
            }
            o.set_timer((), Duration::ZERO..Duration::ZERO);
            storage.unwrap_or(0)
        }

        fn on_msg(&self, _: Id, state: &mut Cow<u8>, src: Id, msg: u8, o: &mut Out<Self>) {
            if msg > **state {
                *state.to_mut() = msg;
                o.save(msg);
                if msg < self.limit {
                    o.send(src, msg + 1);
                }
            }
        }

        fn on_timeout(&self, _: Id, state: &mut Cow<u8>, _: &(), o: &mut Out<Self>) {
            // Give up: jump to the limit and tell the peer once.
            if **state < self.limit {
                *state.to_mut() = self.limit;
                o.save(self.limit);
                o.send(self.peer, self.limit);
            }
        }
    }

    use std::time::Duration;

    fn actors() -> Vec<Bouncer> {
        vec![
            Bouncer {
                peer: Id::from(1),
                limit: 3,
            },
            Bouncer {
                peer: Id::from(0),
                limit: 3,
            },
        ]
    }

    fn system(kind: NetworkKind, crashes: usize) -> System<Bouncer, (), ()> {
        System::new((), ())
            .actors(actors())
            .network(kind)
            .max_crashes(crashes)
            .property(Expectation::Always, "true", |_, _| true)
    }

    fn actor_model(kind: NetworkKind, crashes: usize) -> ActorModel<Bouncer, (), ()> {
        ActorModel::new((), ())
            .actors(actors())
            .init_network(kind.network())
            .lossy_network(kind.lossy())
            .max_crashes(crashes)
            .property(Expectation::Always, "true", |_, _| true)
    }

    /// Reachable states by full equality (no fingerprints).
    fn reachable<M: Model>(m: &M) -> usize
    where
        M::State: Clone + Eq + Hash,
    {
        let mut seen = std::collections::HashSet::new();
        let mut stack = m.init_states();
        while let Some(s) = stack.pop() {
            if !seen.insert(s.clone()) {
                continue;
            }
            let mut actions = Vec::new();
            m.actions(&s, &mut actions);
            stack.extend(actions.into_iter().filter_map(|a| m.next_state(&s, a)));
        }
        seen.len()
    }

    #[test]
    fn explores_the_same_state_graph_as_stateright_actor_model() {
        for (name, kind) in NetworkKind::ALL {
            for crashes in [0, 1] {
                let ours = reachable(&system(kind, crashes));
                let theirs = reachable(&actor_model(kind, crashes));
                assert_eq!(ours, theirs, "{name}, {crashes} crashes");
                assert!(ours > 10, "{name}: the protocol must do something");
                // Our fingerprints separate every state the full comparison separates.
                let checked = system(kind, crashes).checker().spawn_bfs().join();
                assert_eq!(
                    checked.unique_state_count(),
                    ours,
                    "{name}, {crashes} crashes"
                );
            }
        }
    }

    /// stateright 0.31 hashes a set of timers as its sorted element hashes with no length, so
    /// `[{t}, {}]` and `[{}, {t}]` (which actor has the timer) fingerprint alike and its checker
    /// merges distinct states. This pins that difference; if stateright fixes it, this fails and
    /// the note in docs/decisions.md can go.
    #[test]
    fn stateright_actor_model_merges_states_that_differ_in_timers() {
        let kind = NetworkKind::UnorderedNonDuplicating;
        let exact = reachable(&actor_model(kind, 0));
        let fingerprinted = actor_model(kind, 0).checker().spawn_bfs().join();
        assert!(fingerprinted.unique_state_count() < exact);
    }
}
