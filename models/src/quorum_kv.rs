//! A Dynamo-style quorum store: N replicas, writes acknowledged by W, reads answered from R,
//! versions ordered by vector clocks, concurrent versions kept side by side as siblings, and
//! read repair. The checker shows what quorums buy (R + W > N: a read sees every write that
//! completed before it) and what they do not (linearizability).
//!
//! # The protocol
//!
//! DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store" (SOSP 2007), sections
//! 4.3-4.5, with every server in every key's preference list. Any server coordinates the
//! requests it receives:
//!
//! - **put(v)**: the coordinator takes the vector clocks of the versions it holds for the key,
//!   merges them and increments its own entry: the new version supersedes what the coordinator
//!   has seen. It stores the version, sends it to every other replica, and answers `write_ok`
//!   once `W` replicas (itself included) hold it. (Dynamo's client passes the context of an
//!   earlier read; a `lin-kv` client has none, so the coordinator's own versions are the context.)
//! - **get**: the coordinator asks every replica and, once `R` (itself included) have answered,
//!   merges their versions, keeping those no other version descends from: the **siblings**. It
//!   answers with the largest sibling value (the deterministic rule a `lin-kv` read needs, since
//!   it returns one value), and with **read repair** sends the merged siblings to every replica
//!   that answered with less.
//! - A replica keeps, per key, the versions no other version it holds descends from.
//!
//! # Properties
//!
//! - `read your quorum` (always): every read's siblings contain each write that completed before
//!   the read was invoked, or a version that descends from it. Holds when `R + W > N` (the read
//!   quorum meets the write quorum); with `R + W <= N` the checker finds a **stale read**.
//! - `new/old inversion` (sometimes): the clients' history is not linearizable: a read returns a
//!   write that is still in progress, and a later read does not. Quorums without ABD's
//!   write-back allow it even with `R + W > N` (`abd` is the fix).
//! - `siblings` (sometimes): a read returns two concurrent versions.
//! - `replicas agree` (sometimes): every client is done and every replica holds the same versions.
//!
//! The model records, as ghost state at the coordinator, the versions each read returned and each
//! write stored; `read your quorum` reads them with the clients' history.

use crate::checked::{Checked, KvModel, KvSystemState};
use crate::clocks::VectorClock;
use crate::kv::{
    record_invocations, record_returns, ErrorCode, History, Key, KeyMap, KvActor, KvClient,
    KvConfig, KvMsg, KvRet, KvState, MsgId, Step, Value,
};
use crate::protocol::{
    always, sometimes, Descriptor, KeySemantics, Param, Pinned, Protocol, Serve, Settings,
    MAX_TALLIES,
};
use crate::system::System;
use crate::NetworkKind;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Envelope, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// A value and its vector clock.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Version {
    pub clock: VectorClock,
    pub value: Value,
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.clock.entries(), self.value).cmp(&(other.clock.entries(), other.value))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.value, self.clock)
    }
}

/// The versions of a key no other descends from, sorted.
pub type Siblings = Vec<Version>;

/// Adds `v` to `sibs` unless a version there descends from it (or is it); drops the versions `v`
/// descends from. Whether `sibs` changed.
pub fn add(sibs: &mut Siblings, v: &Version) -> bool {
    if sibs.iter().any(|s| v.clock <= s.clock) {
        return false;
    }
    sibs.retain(|s| !s.clock.happened_before(&v.clock));
    let at = sibs.binary_search(v).unwrap_or_else(|i| i);
    sibs.insert(at, v.clone());
    true
}

/// Merges `other` into `sibs`; whether it changed.
pub fn merge(sibs: &mut Siblings, other: &[Version]) -> bool {
    let mut changed = false;
    for v in other {
        changed |= add(sibs, v);
    }
    changed
}

/// An operation a coordinator runs: the client's actor id and the request's `msg_id`.
pub type OpId = (u64, MsgId);

/// Node-to-node messages.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum QuorumMsg {
    Get {
        op: OpId,
        key: Key,
    },
    GetReply {
        op: OpId,
        sibs: Siblings,
    },
    /// Store these versions; `ack`: the coordinator counts the answer (a write), else it is read
    /// repair.
    Put {
        op: OpId,
        key: Key,
        sibs: Siblings,
        ack: bool,
    },
    PutAck {
        op: OpId,
    },
}

impl fmt::Debug for QuorumMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuorumMsg::Get { op, key } => write!(f, "Get(c{}#{} k{key})", op.0, op.1),
            QuorumMsg::GetReply { op, sibs } => write!(f, "GetReply(c{}#{} {sibs:?})", op.0, op.1),
            QuorumMsg::Put { op, key, sibs, ack } => {
                let what = if *ack { "" } else { " repair" };
                write!(f, "Put(c{}#{} k{key}={sibs:?}{what})", op.0, op.1)
            }
            QuorumMsg::PutAck { op } => write!(f, "PutAck(c{}#{})", op.0, op.1),
        }
    }
}

/// An operation in progress at its coordinator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum QOp {
    /// A write waiting for acknowledgements (a bit per server).
    Put { id: OpId, heard: u64 },
    /// A read collecting replies: per server that answered, its versions.
    Get {
        id: OpId,
        key: Key,
        replies: Vec<(u8, Siblings)>,
    },
}

impl QOp {
    fn id(&self) -> OpId {
        match self {
            QOp::Put { id, .. } | QOp::Get { id, .. } => *id,
        }
    }
}

/// A server's state, with the ghost records the properties read.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QuorumState {
    pub store: Arc<KeyMap<Siblings>>,
    pub ops: Vec<QOp>,
    /// Ghost (checked model only): per answered read, its client, `msg_id` and the siblings it
    /// returned.
    pub answered: Vec<(OpId, Siblings)>,
    /// Ghost (checked model only): every version this server created for a write.
    pub created: Vec<Version>,
    /// On the network only (where the ghost records would grow without bound): counts for the
    /// run's report.
    pub tally: Tally,
}

/// What a server on the network counts ([`Serve::TALLIES`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tally {
    /// Reads this server coordinated to the end.
    pub reads: u64,
    /// Of those, the reads whose replies held two or more concurrent versions.
    pub sibling_reads: u64,
    /// Read-repair `Put`s sent to replicas that answered with less.
    pub repairs: u64,
}

/// The rule a read answers by when it finds siblings: the version whose clock counts the most
/// writes (the sum of its entries; it has seen the most history), ties to the larger value. A
/// `lin-kv` read returns one value, and every coordinator must pick the same one.
pub fn newest(sibs: &[Version]) -> Option<&Version> {
    sibs.iter().max_by_key(|v| {
        (
            v.clock.entries().iter().map(|&e| u64::from(e)).sum::<u64>(),
            v.value,
        )
    })
}

/// How many operations a server coordinates at once; past it, the oldest is dropped
/// unanswered, as a crash would drop it (its client times out).
pub const MAX_OPS: usize = 4096;

impl fmt::Debug for QuorumState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "holds {:?}", self.store)?;
        if !self.ops.is_empty() {
            write!(f, ", coordinating {:?}", self.ops)?;
        }
        Ok(())
    }
}

/// A quorum store server: replica and coordinator.
#[derive(Clone, Debug)]
pub struct QuorumServer {
    pub index: usize,
    pub servers: Vec<Id>,
    pub r: usize,
    pub w: usize,
    pub read_repair: bool,
    /// Keep the ghost records the checked properties read (the model), or count (the network).
    pub ghost: bool,
}

impl QuorumServer {
    fn others(&self) -> impl Iterator<Item = Id> + '_ {
        let me = self.servers[self.index];
        self.servers.iter().copied().filter(move |s| *s != me)
    }

    fn position(&self, id: Id) -> Option<usize> {
        self.servers.iter().position(|s| *s == id)
    }

    fn local(state: &QuorumState, key: Key) -> Siblings {
        state.store.get(&key).cloned().unwrap_or_default()
    }

    /// Merges `sibs` into what the replica holds for `key`, and saves the store if it changed.
    fn keep(state: &mut QuorumState, key: Key, sibs: &[Version], o: &mut Out<Self>) -> bool {
        let mut mine = Self::local(state, key);
        if !merge(&mut mine, sibs) {
            return false;
        }
        *Arc::make_mut(&mut state.store).entry_or_default(key) = mine;
        o.save(state.store.clone());
        true
    }

    /// Starts coordinating operation `op` of a client, unless it is a duplicate of one in
    /// progress or older than the client's latest here (a client has one request outstanding:
    /// a newer one means it gave up on the older). Whether to go on.
    fn admit(state: &mut QuorumState, id: OpId) -> bool {
        let mine = |o: &QOp| o.id().0 == id.0;
        if state.ops.iter().any(|o| mine(o) && o.id().1 >= id.1) {
            return false;
        }
        state.ops.retain(|o| !mine(o));
        if state.ops.len() >= MAX_OPS {
            state.ops.remove(0); // the oldest: operations are appended as they start
        }
        true
    }

    fn find(state: &QuorumState, id: OpId) -> Option<usize> {
        state.ops.iter().position(|o| o.id() == id)
    }

    /// Finishes operation `i` if it has heard enough.
    fn advance(&self, state: &mut QuorumState, i: usize, o: &mut Out<Self>) {
        let client = |id: OpId| Id::from(id.0 as usize);
        match &state.ops[i] {
            QOp::Put { id, heard } if heard.count_ones() as usize >= self.w => {
                let id = *id;
                state.ops.remove(i);
                o.send(client(id), KvMsg::WriteOk { in_reply_to: id.1 });
            }
            QOp::Get { id, key, replies } if replies.len() >= self.r => {
                let (id, key, replies) = (*id, *key, replies.clone());
                state.ops.remove(i);
                let mut merged = Siblings::new();
                for (_, s) in &replies {
                    merge(&mut merged, s);
                }
                let reply = match newest(&merged) {
                    Some(v) => KvMsg::ReadOk {
                        in_reply_to: id.1,
                        value: v.value,
                    },
                    None => KvMsg::error(id.1, ErrorCode::KeyDoesNotExist),
                };
                o.send(client(id), reply);
                if self.ghost {
                    state.answered.push((id, merged.clone()));
                } else {
                    state.tally.reads += 1;
                    state.tally.sibling_reads += u64::from(merged.len() >= 2);
                }
                if self.read_repair {
                    for (server, sibs) in &replies {
                        if *sibs == merged {
                            continue;
                        }
                        if *server as usize == self.index {
                            Self::keep(state, key, &merged, o);
                        } else {
                            if !self.ghost {
                                state.tally.repairs += 1;
                            }
                            let put = QuorumMsg::Put {
                                op: id,
                                key,
                                sibs: merged.clone(),
                                ack: false,
                            };
                            o.send(self.servers[*server as usize], KvMsg::Internal(put));
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

impl Actor for QuorumServer {
    type Msg = KvMsg<QuorumMsg>;
    type State = QuorumState;
    type Timer = ();
    type Random = ();
    type Storage = Arc<KeyMap<Siblings>>;

    fn name(&self) -> String {
        format!("server {}", self.index)
    }

    fn on_start(
        &self,
        _id: Id,
        storage: &Option<Arc<KeyMap<Siblings>>>,
        _o: &mut Out<Self>,
    ) -> QuorumState {
        QuorumState {
            store: storage.clone().unwrap_or_default(),
            ops: Vec::new(),
            answered: Vec::new(),
            created: Vec::new(),
            tally: Tally::default(),
        }
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<QuorumState>,
        src: Id,
        msg: KvMsg<QuorumMsg>,
        o: &mut Out<Self>,
    ) {
        let client = usize::from(src) as u64;
        match msg {
            KvMsg::Write { msg_id, key, value } => {
                let s = state.to_mut();
                let id = (client, msg_id);
                if !Self::admit(s, id) {
                    return;
                }
                let mut clock = VectorClock::new(self.servers.len());
                for v in Self::local(s, key) {
                    clock.merge(&v.clock);
                }
                clock.increment(self.index);
                let version = Version { clock, value };
                Self::keep(s, key, std::slice::from_ref(&version), o);
                if self.ghost {
                    s.created.push(version.clone());
                }
                s.ops.push(QOp::Put {
                    id,
                    heard: 1 << self.index,
                });
                for peer in self.others() {
                    let put = QuorumMsg::Put {
                        op: id,
                        key,
                        sibs: vec![version.clone()],
                        ack: true,
                    };
                    o.send(peer, KvMsg::Internal(put));
                }
                let i = s.ops.len() - 1;
                self.advance(s, i, o);
            }
            KvMsg::Read { msg_id, key } => {
                let s = state.to_mut();
                let id = (client, msg_id);
                if !Self::admit(s, id) {
                    return;
                }
                s.ops.push(QOp::Get {
                    id,
                    key,
                    replies: vec![(self.index as u8, Self::local(s, key))],
                });
                for peer in self.others() {
                    o.send(peer, KvMsg::Internal(QuorumMsg::Get { op: id, key }));
                }
                let i = s.ops.len() - 1;
                self.advance(s, i, o);
            }
            KvMsg::Cas { msg_id, .. } => {
                o.send(src, KvMsg::error(msg_id, ErrorCode::NotSupported));
            }
            KvMsg::Internal(QuorumMsg::Get { op, key }) => {
                let sibs = Self::local(state, key);
                o.send(src, KvMsg::Internal(QuorumMsg::GetReply { op, sibs }));
            }
            KvMsg::Internal(QuorumMsg::Put { op, key, sibs, ack }) => {
                let mut mine = Self::local(state, key);
                if merge(&mut mine, &sibs) {
                    Self::keep(state.to_mut(), key, &sibs, o);
                }
                if ack {
                    o.send(src, KvMsg::Internal(QuorumMsg::PutAck { op }));
                }
            }
            KvMsg::Internal(QuorumMsg::GetReply { op, sibs }) => {
                let (Some(i), Some(from)) = (Self::find(state, op), self.position(src)) else {
                    return;
                };
                let s = state.to_mut();
                if let QOp::Get { replies, .. } = &mut s.ops[i] {
                    if replies.iter().all(|(srv, _)| *srv as usize != from) {
                        replies.push((from as u8, sibs));
                        replies.sort();
                        self.advance(s, i, o);
                    }
                }
            }
            KvMsg::Internal(QuorumMsg::PutAck { op }) => {
                let (Some(i), Some(from)) = (Self::find(state, op), self.position(src)) else {
                    return;
                };
                let s = state.to_mut();
                if let QOp::Put { heard, .. } = &mut s.ops[i] {
                    *heard |= 1 << from;
                    self.advance(s, i, o);
                }
            }
            _ => {}
        }
    }
}

/// The configuration of a quorum store check.
#[derive(Clone, Debug, PartialEq)]
pub struct QuorumConfig {
    pub replicas: usize,
    pub r: usize,
    pub w: usize,
    pub clients: usize,
    pub reads: usize,
    pub read_repair: bool,
    pub network: NetworkKind,
}

impl KvConfig for QuorumConfig {
    fn server_count(&self) -> usize {
        self.replicas
    }
    fn client_count(&self) -> usize {
        self.clients
    }
}

/// The checked model.
pub type QuorumModel = Checked<KvModel<QuorumServer, QuorumConfig>>;
type Inner = KvModel<QuorumServer, QuorumConfig>;
type QSystem = KvSystemState<QuorumServer>;

fn servers(s: &QSystem) -> impl Iterator<Item = &QuorumState> + '_ {
    s.actors.iter().filter_map(|a| match &*a.state {
        KvState::Server(q) => Some(q),
        KvState::Client(_) => None,
    })
}

/// Whether every read's siblings cover the writes that completed before the read was invoked.
fn reads_cover_completed_writes(servers_n: usize, s: &QSystem) -> bool {
    let created: Vec<&Version> = servers(s).flat_map(|q| q.created.iter()).collect();
    servers(s).all(|q| {
        q.answered.iter().all(|((client, msg_id), sibs)| {
            let c = *client as usize - servers_n;
            let ops = &s.history.clients[c];
            let step = *msg_id as usize - 1;
            let after = match ops.done.get(step) {
                Some(d) => d.after,
                None => match &ops.pending {
                    Some(p) if p.msg_id == *msg_id => p.after,
                    _ => return true,
                },
            };
            // Each client's write is its first operation; its value is the client's own.
            s.history.clients.iter().enumerate().all(|(d, dops)| {
                let completed_before = if d == c {
                    step > 0
                } else {
                    after[d] >= 1 && matches!(dops.done.first(), Some(x) if x.ret == KvRet::WriteOk)
                };
                if !completed_before {
                    return true;
                }
                let value = KvClient::own_value(d);
                let Some(w) = created.iter().find(|v| v.value == value) else {
                    return true;
                };
                sibs.iter().any(|v| v.value == value || w.clock < v.clock)
            })
        })
    })
}

/// A reply or request is obsolete once the operation it belongs to is finished at its
/// coordinator; a repair `Put` once its versions are at the receiver.
fn obsolete(_: &Inner, state: &QSystem, env: &Envelope<KvMsg<QuorumMsg>>) -> bool {
    let server = |id: Id| match state.actors.get(usize::from(id)).map(|a| &*a.state) {
        Some(KvState::Server(q)) => Some(q),
        _ => None,
    };
    let done = |id: Id, op: &OpId| server(id).is_some_and(|q| QuorumServer::find(q, *op).is_none());
    match &env.msg {
        KvMsg::Internal(QuorumMsg::Get { op, .. }) => done(env.src, op),
        KvMsg::Internal(QuorumMsg::GetReply { op, .. } | QuorumMsg::PutAck { op }) => {
            done(env.dst, op)
        }
        KvMsg::Internal(QuorumMsg::Put {
            key,
            sibs,
            ack: false,
            ..
        }) => server(env.dst).is_some_and(|q| {
            let mut mine = QuorumServer::local(q, *key);
            !merge(&mut mine, sibs)
        }),
        _ => false,
    }
}

/// Builds the checked model: servers, then clients; request `k` of a client goes to server
/// `first + k`.
pub fn model(cfg: QuorumConfig) -> QuorumModel {
    let n = cfg.replicas;
    let ids: Vec<Id> = (0..n).map(Id::from).collect();
    let mut steps = vec![Step::WriteOwn];
    steps.extend(std::iter::repeat_n(Step::Read, cfg.reads));
    let system = System::new(cfg.clone(), History::new(cfg.clients))
        .actors((0..n).map(|index| {
            KvActor::Server(QuorumServer {
                index,
                servers: ids.clone(),
                r: cfg.r,
                w: cfg.w,
                read_repair: cfg.read_repair,
                ghost: true,
            })
        }))
        .actors((0..cfg.clients).map(|index| {
            KvActor::Client(KvClient {
                start: None,
                index,
                servers: ids.clone(),
                script: steps.clone(),
                rotate: true,
            })
        }))
        .network(cfg.network)
        .obsolete(obsolete)
        .property(Expectation::Always, "read your quorum", |m, s| {
            reads_cover_completed_writes(m.cfg.replicas, s)
        })
        .property(Expectation::Sometimes, "new/old inversion", |_, s| {
            !s.history.linearizable_cas()
        })
        .property(Expectation::Sometimes, "siblings", |_, s| {
            servers(s).any(|q| q.answered.iter().any(|(_, sibs)| sibs.len() >= 2))
        })
        .property(Expectation::Sometimes, "replicas agree", |_, s| {
            let done = s.history.clients.iter().all(|c| c.pending.is_none())
                && s.actors.iter().all(|a| match &*a.state {
                    KvState::Client(c) => c.awaiting.is_none(),
                    _ => true,
                });
            let mut it = servers(s);
            let first = it.next().map(|q| &q.store);
            done && first.is_some_and(|f| !f.is_empty() && it.all(|q| q.store == *f))
        })
        .record_msg_out(record_invocations)
        .record_msg_in(record_returns);
    Checked::new(system)
}

fn validate(s: &Settings) -> Result<(), String> {
    let n = s.get("replicas");
    for q in ["r", "w"] {
        if s.get(q) > n {
            return Err(format!(
                "--{q} {} exceeds --replicas {n}: a quorum is some of the replicas",
                s.get(q)
            ));
        }
    }
    Ok(())
}

/// No client sessions: a duplicated write would store a second version.
const NETWORKS: &[NetworkKind] = &[
    NetworkKind::UnorderedNonDuplicating,
    NetworkKind::Ordered,
    NetworkKind::LossyUnorderedNonDuplicating,
    NetworkKind::LossyOrdered,
];

/// The catalog entry: `synod check quorum-kv`.
pub struct QuorumKv;

impl Protocol for QuorumKv {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "quorum-kv",
        summary: "Dynamo-style N/R/W quorums with vector clocks, siblings and read repair (DeCandia et al., 2007)",
        params: &[
            Param::model("replicas", "replicas (N), each a coordinator too", 3, 1, 5),
            Param {
                run: Some(2),
                ..Param::model("r", "replies a read waits for (R), its own included", 2, 1, 9)
            },
            Param {
                run: Some(2),
                ..Param::model("w", "acknowledgements a write waits for (W), its own included", 2, 1, 9)
            },
            Param::model("clients", "clients; client i writes i+1, then reads", 2, 1, 3),
            Param::model("reads", "reads after each client's write", 2, 1, 2),
            Param {
                run: Some(1),
                ..Param::model("read-repair", "1: a read sends the merged versions to replicas that answered with less", 1, 0, 1)
            },
        ],
        properties: &[
            always("read your quorum"),
            sometimes("new/old inversion"),
            sometimes("siblings"),
            sometimes("replicas agree"),
        ],
        bugs: &[],
        symmetry: None,
        networks: NETWORKS,
        validate,
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 129_976,
                source: "tests/check_quorum_kv.rs",
            },
            Pinned {
                params: &[("reads", 1)],
                symmetry: false,
                unique_states: 14_778,
                source: "tests/check_quorum_kv.rs",
            },
        ],
    };
    type Model = KvModel<QuorumServer, QuorumConfig>;

    fn model(s: &Settings) -> QuorumModel {
        model(QuorumConfig {
            replicas: s.count("replicas"),
            r: s.count("r"),
            w: s.count("w"),
            clients: s.count("clients"),
            reads: s.count("reads"),
            read_repair: s.flag("read-repair"),
            network: s.network,
        })
    }
}

/// On sockets: `synod run quorum-kv --r R --w W` on `--nodes N` servers. The servers are the
/// checked actors without their ghost records; a read with siblings answers with [`newest`].
impl Serve for QuorumKv {
    type Internal = QuorumMsg;
    type Server = QuorumServer;
    type Storage = Arc<KeyMap<Siblings>>;
    const KEYS: KeySemantics = KeySemantics::Register;
    const CAS: bool = false;
    const TALLIES: &'static [&'static str] = &["reads", "sibling_reads", "read_repairs"];

    fn server(s: &Settings, index: usize, servers: Vec<Id>) -> QuorumServer {
        QuorumServer {
            index,
            servers,
            r: s.count("r"),
            w: s.count("w"),
            read_repair: s.flag("read-repair"),
            ghost: false,
        }
    }

    fn fits(s: &Settings, nodes: usize) -> Result<(), String> {
        for q in ["r", "w"] {
            if s.count(q) > nodes {
                return Err(format!(
                    "--{q} {} exceeds --nodes {nodes}: a quorum is some of the replicas",
                    s.get(q)
                ));
            }
        }
        Ok(())
    }

    fn tallies(state: &QuorumState) -> [u64; MAX_TALLIES] {
        let t = state.tally;
        [t.reads, t.sibling_reads, t.repairs, 0, 0]
    }
}
