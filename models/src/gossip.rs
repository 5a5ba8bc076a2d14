//! Gossip with state-based CRDTs: replicas update locally and periodically send their whole state
//! to a random peer, which merges it with a join; every replica that has heard (directly or not)
//! of every update holds the same state. The checker shows that this holds for any delivery
//! order and loss pattern, and breaks when the merge is not a join or the set forgets its tags.
//!
//! # The data types
//!
//! Shapiro, Preguiça, Baquero and Zawirski, "Conflict-free Replicated Data Types" (2011), and "A
//! comprehensive study of Convergent and Commutative Replicated Data Types" (INRIA RR-7506, 2011),
//! section 3: a state-based CRDT's states form a join-semilattice, an update moves a replica's
//! state up, and merge is the least upper bound, so merging is commutative, associative and
//! idempotent and the order, repetition and path of gossip do not matter.
//!
//! - [`GCounter`]: one count per replica; a replica increments its own; merge takes the maximum
//!   of each entry; the value is the sum.
//! - [`PnCounter`]: two G-Counters, increments and decrements; the value is the difference.
//! - [`OrSet`] (observed-remove set): an add tags the element with a unique tag; a remove
//!   tombstones the tags of the element that the replica has observed; an element is in the set
//!   while one of its tags is not tombstoned. So a remove cancels only the adds it saw, and an add
//!   concurrent with a remove survives it (*add wins*).
//!
//! # The protocol
//!
//! Each replica makes `--updates` local updates (replica `i`'s update increments the G-Counter;
//! increments the PN-Counter, or decrements it on odd replicas; adds element 1 to the set, or
//! removes it on replicas `1, 4, ...`). It remembers which peers may lack its current state;
//! when its gossip timer fires it picks one of them at random and sends its state. A replica that
//! merges something new has news for every peer.
//!
//! # Properties
//!
//! - `convergence` (always): in every state where no gossip is in flight and no replica has news
//!   for a peer, all replicas hold the same state, and the counters count exactly the updates
//!   made (strong eventual consistency; the counting part catches a merge that inflates).
//! - `add wins` (always): in those states, element 1 is in the set iff some add of it was not
//!   observed by any remove (the OR-Set's specification).
//! - `replicas differ` and `converged after every update` (sometimes): gossip does have work to
//!   do, and finishes it.
//!
//! # Bug variants
//!
//! - `add-merge`: the counters merge by adding entries instead of taking the maximum. Merge is
//!   then not idempotent: a replica's own increment comes back to it through a peer and counts
//!   twice. (The model saturates the inflated entries at `updates + 1`, so the search ends.)
//! - `untagged-set`: the set removes the *element* rather than the tags it observed (a 2P-Set's
//!   tombstone): a remove wins over an add it never saw.

use crate::checked::Checked;
use crate::kv::{ErrorCode, KvMsg};
use crate::protocol::{
    always, ms, sometimes, BugInfo, Descriptor, KeySemantics, Need, Param, Pinned, Protocol, Serve,
    Settings,
};
use crate::system::{System, SystemState};
use crate::NetworkKind;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;

/// A grow-only counter: one entry per replica.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GCounter(pub Vec<u64>);

impl GCounter {
    pub fn new(replicas: usize) -> Self {
        GCounter(vec![0; replicas])
    }

    pub fn increment(&mut self, replica: usize) {
        self.0[replica] += 1;
    }

    pub fn value(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds `delta` to this replica's own entry (a client's `add`).
    pub fn add(&mut self, replica: usize, delta: u64) {
        self.0[replica] = self.0[replica].saturating_add(delta);
    }

    /// The join: entry-wise maximum. Whether it changed.
    pub fn merge(&mut self, other: &GCounter) -> bool {
        let mut changed = false;
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            if *b > *a {
                *a = *b;
                changed = true;
            }
        }
        changed
    }

    /// The bug: entry-wise sum (saturating at `cap`), not a join.
    fn merge_adding(&mut self, other: &GCounter, cap: u64) -> bool {
        let mut changed = false;
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            let sum = (*a + *b).min(cap.max(*a));
            changed |= sum != *a;
            *a = sum;
        }
        changed
    }
}

impl fmt::Debug for GCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A counter that goes both ways: increments and decrements, each a [`GCounter`].
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PnCounter {
    pub p: GCounter,
    pub n: GCounter,
}

impl PnCounter {
    pub fn new(replicas: usize) -> Self {
        PnCounter {
            p: GCounter::new(replicas),
            n: GCounter::new(replicas),
        }
    }

    pub fn increment(&mut self, replica: usize) {
        self.p.increment(replica);
    }

    pub fn decrement(&mut self, replica: usize) {
        self.n.increment(replica);
    }

    pub fn value(&self) -> i64 {
        self.p.value() as i64 - self.n.value() as i64
    }

    pub fn merge(&mut self, other: &PnCounter) -> bool {
        let p = self.p.merge(&other.p);
        self.n.merge(&other.n) | p
    }
}

impl fmt::Debug for PnCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{:?} -{:?}", self.p, self.n)
    }
}

/// An add's unique tag: the replica and its own count of adds.
pub type Tag = (u8, u8);

/// An observed-remove set of small integers.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrSet {
    /// Every add seen: element and tag.
    pub adds: BTreeSet<(u64, Tag)>,
    /// Tombstoned tags.
    pub removed: BTreeSet<Tag>,
    /// Tombstoned elements (only the `untagged-set` bug writes here).
    pub removed_elements: BTreeSet<u64>,
}

impl OrSet {
    pub fn add(&mut self, element: u64, tag: Tag) {
        self.adds.insert((element, tag));
    }

    /// Removes the adds of `element` this replica has observed (`untagged`: the element itself).
    pub fn remove(&mut self, element: u64, untagged: bool) {
        if untagged {
            self.removed_elements.insert(element);
            return;
        }
        let seen: Vec<Tag> = self
            .adds
            .iter()
            .filter(|(e, _)| *e == element)
            .map(|(_, t)| *t)
            .collect();
        self.removed.extend(seen);
    }

    pub fn contains(&self, element: u64) -> bool {
        !self.removed_elements.contains(&element)
            && self
                .adds
                .iter()
                .any(|(e, t)| *e == element && !self.removed.contains(t))
    }

    /// The join: unions. Whether it changed.
    pub fn merge(&mut self, other: &OrSet) -> bool {
        let before = (
            self.adds.len(),
            self.removed.len(),
            self.removed_elements.len(),
        );
        self.adds.extend(other.adds.iter().copied());
        self.removed.extend(other.removed.iter().copied());
        self.removed_elements
            .extend(other.removed_elements.iter().copied());
        before
            != (
                self.adds.len(),
                self.removed.len(),
                self.removed_elements.len(),
            )
    }
}

impl fmt::Debug for OrSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live: Vec<u64> = self
            .adds
            .iter()
            .map(|(e, _)| *e)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|e| self.contains(*e))
            .collect();
        write!(f, "{live:?} (adds {}", self.adds.len())?;
        if !self.removed.is_empty() {
            write!(f, ", {} tags removed", self.removed.len())?;
        }
        if !self.removed_elements.is_empty() {
            write!(f, ", elements removed {:?}", self.removed_elements)?;
        }
        write!(f, ")")
    }
}

/// What a replica holds and gossips: the three CRDTs side by side (a product of joins is a join).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Crdts {
    pub g: GCounter,
    pub pn: PnCounter,
    pub set: OrSet,
}

impl fmt::Debug for Crdts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "g={} {:?}, pn={} {:?}, set {:?}",
            self.g.value(),
            self.g,
            self.pn.value(),
            self.pn,
            self.set
        )
    }
}

/// The element the replicas add and remove.
pub const ELEMENT: u64 = 1;

/// A replica's state.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GossipState {
    pub crdts: Crdts,
    /// Updates made here.
    pub updates: u8,
    /// Peers that may lack this state (a bit per replica).
    pub news_for: u64,
    /// On the network: per client, the last `add` applied here (`msg_id`), sorted by client, at
    /// most [`MAX_CLIENTS`], so a duplicated datagram is not counted twice. (An add retried at
    /// another replica is: the load generator of `bench gossip` does not retry.)
    pub applied: Vec<(u64, u64)>,
}

/// How many clients' last adds a replica remembers; the smallest `msg_id` (the oldest: the load
/// generator's ids start at the clock) is forgotten first.
pub const MAX_CLIENTS: usize = 1024;

impl fmt::Debug for GossipState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}, {} updates", self.crdts, self.updates)?;
        if self.news_for != 0 {
            write!(f, ", news for {} peers", self.news_for.count_ones())?;
        }
        Ok(())
    }
}

/// A replica's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GossipTimer {
    /// Make the next local update.
    Update,
    /// Gossip to a random peer with news.
    Gossip,
}

/// The gossip period on the network.
pub const GOSSIP_MS: Range<u64> = 50..100;

/// Deliberately broken variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GossipBug {
    /// The counters merge by adding entries.
    AddMerge,
    /// The set tombstones elements, not observed tags.
    UntaggedSet,
}

/// A gossiping replica.
#[derive(Clone, Debug)]
pub struct Replica {
    pub index: usize,
    pub replicas: usize,
    /// Local updates to make (the model's clients; on the network, clients `add`).
    pub updates: u8,
    pub bug: Option<GossipBug>,
    /// Every replica's id, this one's included (addresses on the network).
    pub peers: Vec<Id>,
    /// With no news for anyone, still send the state to a random peer each period (repairs
    /// what a lost message or a restart left behind; on the network by default).
    pub anti_entropy: bool,
}

/// What a replica saves: its CRDTs, whole (they are small: a few entries per replica), as one
/// write-ahead entry rather than a snapshot file per save. A restarted replica starts from
/// them, so an `add` it acknowledged is never lost.
impl crate::durable::Durable for Crdts {
    type Entry = Crdts;

    fn delta(&self, prev: &Self) -> Option<Vec<Crdts>> {
        crate::durable::whole(self, prev)
    }

    fn apply(&mut self, entry: Crdts) {
        *self = entry;
    }
}

impl Replica {
    fn all_others(&self) -> u64 {
        ((1u64 << self.replicas) - 1) & !(1 << self.index)
    }

    fn update(&self, s: &mut GossipState) {
        let i = self.index;
        s.crdts.g.increment(i);
        if i % 2 == 1 {
            s.crdts.pn.decrement(i);
        } else {
            s.crdts.pn.increment(i);
        }
        if i % 3 == 1 {
            s.crdts
                .set
                .remove(ELEMENT, self.bug == Some(GossipBug::UntaggedSet));
        } else {
            s.crdts.set.add(ELEMENT, (i as u8, s.updates));
        }
        s.updates += 1;
        s.news_for = self.all_others();
    }

    fn merge(&self, s: &mut GossipState, other: &Crdts) -> bool {
        let counters = if self.bug == Some(GossipBug::AddMerge) {
            // The model saturates inflated entries so that its search ends; on the network
            // (no update timer) nothing bounds them.
            let cap = match self.updates {
                0 => u64::MAX,
                n => u64::from(n) + 1,
            };
            let g = s.crdts.g.merge_adding(&other.g, cap);
            let p = s.crdts.pn.p.merge_adding(&other.pn.p, cap);
            s.crdts.pn.n.merge_adding(&other.pn.n, cap) | p | g
        } else {
            let g = s.crdts.g.merge(&other.g);
            s.crdts.pn.merge(&other.pn) | g
        };
        s.crdts.set.merge(&other.set) | counters
    }
}

impl Actor for Replica {
    type Msg = KvMsg<Crdts>;
    type State = GossipState;
    type Timer = GossipTimer;
    type Random = u8;
    type Storage = Crdts;

    fn name(&self) -> String {
        format!("replica {}", self.index)
    }

    fn on_start(&self, _id: Id, storage: &Option<Crdts>, o: &mut Out<Self>) -> GossipState {
        if self.updates > 0 {
            o.set_timer(GossipTimer::Update, ms(GOSSIP_MS));
        }
        o.set_timer(GossipTimer::Gossip, ms(GOSSIP_MS));
        match storage {
            // A restart: what it holds may be news to peers that moved on without it.
            Some(crdts) => GossipState {
                crdts: crdts.clone(),
                updates: 0,
                news_for: self.all_others(),
                applied: Vec::new(),
            },
            None => GossipState {
                crdts: Crdts {
                    g: GCounter::new(self.replicas),
                    pn: PnCounter::new(self.replicas),
                    set: OrSet::default(),
                },
                updates: 0,
                news_for: 0,
                applied: Vec::new(),
            },
        }
    }

    fn on_timeout(
        &self,
        _id: Id,
        state: &mut Cow<GossipState>,
        timer: &GossipTimer,
        o: &mut Out<Self>,
    ) {
        match timer {
            GossipTimer::Update => {
                let s = state.to_mut();
                self.update(s);
                o.save(s.crdts.clone());
                if s.updates < self.updates {
                    o.set_timer(GossipTimer::Update, ms(GOSSIP_MS));
                }
            }
            GossipTimer::Gossip => {
                let mut peers: Vec<u8> = (0..self.replicas as u8)
                    .filter(|p| state.news_for & (1 << p) != 0)
                    .collect();
                if peers.is_empty() && self.anti_entropy {
                    peers = (0..self.replicas as u8)
                        .filter(|p| usize::from(*p) != self.index)
                        .collect();
                }
                o.choose_random("peer", peers);
            }
        }
        if *timer == GossipTimer::Gossip || state.news_for != 0 {
            o.set_timer(GossipTimer::Gossip, ms(GOSSIP_MS));
        }
    }

    fn on_random(&self, _id: Id, state: &mut Cow<GossipState>, peer: &u8, o: &mut Out<Self>) {
        let news = state.news_for & (1 << peer) != 0;
        if !news && !self.anti_entropy {
            return;
        }
        let to = self.peers[usize::from(*peer)];
        o.send(to, KvMsg::Internal(state.crdts.clone()));
        if news {
            state.to_mut().news_for &= !(1 << peer);
        }
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<GossipState>,
        src: Id,
        msg: KvMsg<Crdts>,
        o: &mut Out<Self>,
    ) {
        match msg {
            KvMsg::Internal(crdts) => {
                let mut next = (**state).clone();
                if self.merge(&mut next, &crdts) {
                    next.news_for = self.all_others();
                    o.save(next.crdts.clone());
                    *state = Cow::Owned(next);
                    o.set_timer(GossipTimer::Gossip, ms(GOSSIP_MS));
                }
            }
            // A client of the counter (on the network): the add is this replica's own update,
            // on disk before the reply leaves.
            KvMsg::Add { msg_id, delta } => {
                let s = state.to_mut();
                let client = usize::from(src) as u64;
                let at = s.applied.binary_search_by_key(&client, |(c, _)| *c);
                match at {
                    Ok(i) if s.applied[i].1 >= msg_id => {
                        // Applied already (a duplicated datagram), or older than one that was.
                        o.send(
                            src,
                            KvMsg::AddOk {
                                in_reply_to: msg_id,
                            },
                        );
                        return;
                    }
                    Ok(i) => s.applied[i].1 = msg_id,
                    Err(i) => {
                        s.applied.insert(i, (client, msg_id));
                        if s.applied.len() > MAX_CLIENTS {
                            let oldest = (0..s.applied.len())
                                .min_by_key(|&j| s.applied[j].1)
                                .expect("not empty");
                            s.applied.remove(oldest);
                        }
                    }
                }
                s.crdts.g.add(self.index, delta);
                s.news_for = self.all_others();
                o.save(s.crdts.clone());
                o.send(
                    src,
                    KvMsg::AddOk {
                        in_reply_to: msg_id,
                    },
                );
            }
            KvMsg::Read { msg_id, key } => {
                debug_assert_eq!(key, 0, "the runtime reads the one counter as key 0");
                let value = state.crdts.g.value();
                o.send(
                    src,
                    KvMsg::ReadOk {
                        in_reply_to: msg_id,
                        value,
                    },
                );
            }
            KvMsg::Write { msg_id, .. } | KvMsg::Cas { msg_id, .. } => {
                o.send(src, KvMsg::error(msg_id, ErrorCode::NotSupported));
            }
            KvMsg::ReadOk { .. }
            | KvMsg::WriteOk { .. }
            | KvMsg::CasOk { .. }
            | KvMsg::AddOk { .. }
            | KvMsg::Error { .. } => {}
        }
    }
}

/// The configuration of a gossip check.
#[derive(Clone, Debug, PartialEq)]
pub struct GossipConfig {
    pub replicas: usize,
    pub updates: u8,
    pub network: NetworkKind,
    pub bug: Option<GossipBug>,
    /// Gossip to a random peer even without news.
    pub anti_entropy: bool,
}

/// The checked model.
pub type GossipModel = Checked<System<Replica, GossipConfig, ()>>;
type GState = SystemState<Replica, ()>;

/// No gossip in flight and no replica with news for a peer.
fn quiet(s: &GState) -> bool {
    s.network.is_empty() && s.actors.iter().all(|a| a.state.news_for == 0)
}

/// What the counters must read once every update has reached everyone.
fn expected(s: &GState) -> (u64, i64) {
    let mut g = 0;
    let mut pn = 0;
    for (i, a) in s.actors.iter().enumerate() {
        let n = u64::from(a.state.updates);
        g += n;
        pn += if i % 2 == 1 { -(n as i64) } else { n as i64 };
    }
    (g, pn)
}

/// The OR-Set's specification: the element is in the set iff some add of it is not among the
/// tags some remove observed (read from any replica: at a quiet state they agree on the tags).
fn should_contain(set: &OrSet) -> bool {
    set.adds
        .iter()
        .any(|(e, t)| *e == ELEMENT && !set.removed.contains(t))
}

/// A gossip message whose merge would change nothing at its receiver is obsolete, and stays so
/// (states only grow under merge): delivering it is not a step, so it is dropped from the
/// network, and "no gossip in flight" means no gossip that still carries news.
fn obsolete(
    m: &System<Replica, GossipConfig, ()>,
    s: &GState,
    env: &stateright::actor::Envelope<KvMsg<Crdts>>,
) -> bool {
    let index = usize::from(env.dst);
    let (Some(slot), KvMsg::Internal(crdts)) = (s.actors.get(index), &env.msg) else {
        return false;
    };
    let mut probe = (*slot.state).clone();
    !m.actors[index].merge(&mut probe, crdts)
}

/// Builds the model.
pub fn model(cfg: GossipConfig) -> GossipModel {
    assert!((2..=4).contains(&cfg.replicas), "between 2 and 4 replicas");
    let system = System::new(cfg.clone(), ())
        .actors((0..cfg.replicas).map(|index| Replica {
            index,
            replicas: cfg.replicas,
            updates: cfg.updates,
            bug: cfg.bug,
            peers: (0..cfg.replicas).map(Id::from).collect(),
            anti_entropy: cfg.anti_entropy,
        }))
        .network(cfg.network)
        .obsolete(obsolete)
        .property(Expectation::Always, "convergence", |_, s| {
            if !quiet(s) {
                return true;
            }
            let first = &s.actors[0].state.crdts;
            let (g, pn) = expected(s);
            s.actors.iter().all(|a| a.state.crdts == *first)
                && first.g.value() == g
                && first.pn.value() == pn
        })
        .property(Expectation::Always, "add wins", |_, s| {
            if !quiet(s) {
                return true;
            }
            s.actors.iter().all(|a| {
                let set = &a.state.crdts.set;
                set.contains(ELEMENT) == should_contain(set)
            })
        })
        .property(Expectation::Sometimes, "replicas differ", |_, s| {
            let first = &s.actors[0].state.crdts;
            s.actors.iter().any(|a| a.state.crdts != *first)
        })
        .property(
            Expectation::Sometimes,
            "converged after every update",
            |m, s| {
                let first = &s.actors[0].state.crdts;
                quiet(s)
                    && s.actors
                        .iter()
                        .all(|a| a.state.updates == m.cfg.updates && a.state.crdts == *first)
                    && m.cfg.updates > 0
            },
        );
    Checked::new(system)
}

/// A duplicating network would keep every gossip message deliverable forever: "no gossip in
/// flight" would never hold, and `convergence` would say nothing.
/// A lossy network breaks the premise the other way: a replica that sent its news to a peer
/// does not send it again, so a lost message leaves the peer behind for good (real gossip
/// re-sends periodically: anti-entropy, which the model's bound on messages leaves out).
const NETWORKS: &[NetworkKind] = &[NetworkKind::UnorderedNonDuplicating, NetworkKind::Ordered];

const BUGS: [(&str, GossipBug); 2] = [
    ("add-merge", GossipBug::AddMerge),
    ("untagged-set", GossipBug::UntaggedSet),
];

/// The catalog entry: `synod check gossip`.
pub struct Gossip;

impl Protocol for Gossip {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "gossip",
        summary: "gossip of state-based CRDTs (G-Counter, PN-Counter, OR-Set) to random peers (Shapiro et al., 2011)",
        params: &[
            Param::model("replicas", "replicas", 3, 2, 4),
            Param::model("updates", "local updates each replica makes", 1, 0, 2),
            Param {
                name: "anti-entropy",
                help: "1: with no news for any peer, a replica still sends its state to a random peer each period (repairs lost messages and restarts; the default on the network); 0: only news",
                default: 0,
                min: 0,
                max: 1,
                run: Some(1),
                names: &[],
            },
        ],
        properties: &[
            always("convergence"),
            always("add wins"),
            sometimes("replicas differ"),
            sometimes("converged after every update"),
        ],
        bugs: &[
            BugInfo {
                name: "add-merge",
                summary: "the counters merge by adding entries instead of taking the maximum (not idempotent)",
                source: "Shapiro et al., A comprehensive study of CRDTs (2011), 2.2: merge must be a least upper bound",
                violates: "convergence",
                needs: &[Need::Param("replicas", 2)],
            },
            BugInfo {
                name: "untagged-set",
                summary: "a remove tombstones the element, not the tags it observed: it wins over concurrent adds",
                source: "Shapiro et al. (2011), 3.3.5: the OR-Set's unique tags, against the 2P-Set",
                violates: "add wins",
                needs: &[Need::Param("replicas", 2)],
            },
        ],
        symmetry: None,
        networks: NETWORKS,
        validate,
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 410_251,
                source: "tests/check_gossip.rs",
            },
            Pinned {
                params: &[("replicas", 2)],
                symmetry: false,
                unique_states: 49,
                source: "tests/check_gossip.rs",
            },
        ],
    };
    type Model = System<Replica, GossipConfig, ()>;

    fn model(s: &Settings) -> GossipModel {
        model(GossipConfig {
            replicas: s.count("replicas"),
            updates: s.get("updates") as u8,
            network: s.network,
            bug: s.bug_of(&BUGS),
            anti_entropy: s.flag("anti-entropy"),
        })
    }
}

/// Anti-entropy re-sends the state every period whatever happens: the checked model would have
/// no bound. It is a network setting.
fn validate(s: &Settings) -> Result<(), String> {
    if s.flag("anti-entropy") {
        return Err("--anti-entropy 1 sends every period forever, so the checked state space has no bound; it applies on the network (run, bench), where it is the default".into());
    }
    Ok(())
}

/// On sockets: a Maelstrom `g-counter` service (`add`, keyless `read`), the same replicas
/// updated by clients instead of the model's update timer, gossiping with anti-entropy.
impl Serve for Gossip {
    type Internal = Crdts;
    type Server = Replica;
    type Storage = Crdts;
    const KEYS: KeySemantics = KeySemantics::Counter;
    const CAS: bool = false;

    fn server(s: &Settings, index: usize, servers: Vec<Id>) -> Replica {
        Replica {
            index,
            replicas: servers.len(),
            updates: 0,
            bug: s.bug_of(&BUGS),
            peers: servers,
            anti_entropy: s.flag("anti-entropy"),
        }
    }

    fn fits(_: &Settings, nodes: usize) -> Result<(), String> {
        if !(2..=32).contains(&nodes) {
            return Err(format!("--nodes {nodes}: gossip runs on 2 to 32 replicas"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_are_joins() {
        let mut a = GCounter::new(2);
        a.increment(0);
        let mut b = GCounter::new(2);
        b.increment(1);
        b.increment(1);
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba, "commutative");
        assert_eq!(ab.value(), 3);
        assert!(!ab.clone().merge(&ab), "idempotent");
        let mut adding = a.clone();
        adding.merge_adding(&a, 10);
        assert_eq!(adding.value(), 2, "the bug counts twice");

        let mut p = PnCounter::new(2);
        p.increment(0);
        p.decrement(1);
        p.decrement(1);
        assert_eq!(p.value(), -1);
    }

    #[test]
    fn an_add_concurrent_with_a_remove_wins() {
        let mut a = OrSet::default();
        a.add(7, (0, 0));
        let mut b = a.clone();
        b.remove(7, false); // observed (0, 0)
        a.add(7, (0, 1)); // concurrent with the remove
        a.merge(&b);
        assert!(a.contains(7));
        let mut c = OrSet::default();
        c.add(7, (0, 0));
        c.remove(7, false);
        assert!(!c.contains(7));
        // Untagged, the remove wins.
        let mut d = OrSet::default();
        d.add(7, (0, 0));
        let mut e = OrSet::default();
        e.remove(7, true);
        d.merge(&e);
        assert!(!d.contains(7));
    }
}
