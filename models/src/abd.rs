//! ABD: a linearizable read/write register over majority quorums, without consensus.
//!
//! # The algorithm
//!
//! Attiya, Bar-Noy and Dolev, "Sharing Memory Robustly in Message-Passing Systems" (1995), in its
//! multi-writer form (Lynch and Shvartsman, "Robust Emulation of Shared Memory Using Dynamic
//! Quorum-Acknowledged Broadcasts", 1997). Every server is a *replica* holding, per key, a value
//! and its *tag* `(ts, writer)`, tags ordered by `ts` and then by writer id. Any server also
//! *coordinates* the client requests it receives, in two phases over majorities:
//!
//! - **write(v)**: *query* a majority for their tags and take the largest, `(ts, w)`; then
//!   *store* `((ts + 1, me), v)` at a majority. Then answer `write_ok`.
//! - **read**: *query* a majority and take the value with the largest tag; then **write it
//!   back**, storing that tag and value at a majority, and only then answer with the value.
//!
//! A replica answers a query with what it holds, and on a store keeps the tagged value if its tag
//! is larger than its own. Any two majorities intersect, so a query sees the tag of every
//! completed store. The read's write-back is what makes reads linearizable: once a read returns
//! a value, a majority holds it (or something newer), so no later read returns anything older.
//! Without it a reader can see a write that reached one replica, and a second reader, after it,
//! a majority that has not seen it yet: the **new/old inversion**.
//!
//! The coordinator counts itself as one of the majority without a message. A replica's tagged
//! values are durable (saved before it acknowledges a store); a coordinator's operations in
//! progress are not: a crash abandons them, and their clients never hear back (an operation
//! whose outcome is unknown, which linearizability allows to take effect or not). With `f`
//! of `2f + 1` servers down the others still form majorities.
//!
//! ABD emulates a read/write register: a compare-and-set needs consensus (Herlihy, "Wait-Free
//! Synchronization", 1991), so `cas` is answered with error 10 (not supported).
//!
//! # Invariants
//!
//! - `linearizable` (checked): the clients' history is linearizable against one register per
//!   key;
//! - in the code: a replica's tag for a key never decreases; every stored tag's value is the one
//!   its writer chose; a coordinator answers only after a majority (itself included) has
//!   answered the phase.
//!
//! `sometimes` properties: a read returns a written value; a read returns another client's
//! value (the clients' writes do race).
//!
//! # Bug variant
//!
//! `no-write-back`: a read answers right after its query phase (the "regular register" of
//! Lamport, "On Interprocess Communication", 1986, not an atomic one): the checker finds the
//! new/old inversion.

use crate::checked::{servers_only_crash, Checked, KvModel, KvSystemState};
use crate::kv::{
    record_invocations, record_returns, ErrorCode, History, Key, KeyMap, KvActor, KvClient,
    KvConfig, KvMsg, KvRet, MsgId, Step, Value,
};
use crate::protocol::{
    always, sometimes, BugInfo, Descriptor, Need, Param, Pinned, Protocol, Settings,
};
use crate::system::System;
use crate::NetworkKind;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Envelope, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A value's tag: the writer's timestamp, ties broken by the writer's index.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Tag {
    pub ts: u64,
    pub writer: u8,
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},s{})", self.ts, self.writer)
    }
}

/// What a replica holds for a key: a tagged value (`None`: never written, tag `(0,s0)`).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cell {
    pub tag: Tag,
    pub value: Option<Value>,
}

impl fmt::Debug for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Some(v) => write!(f, "{v}@{:?}", self.tag),
            None => write!(f, "none"),
        }
    }
}

/// An operation a coordinator runs: the client's id and the request's `msg_id`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId {
    pub client: u64,
    pub msg_id: MsgId,
}

impl fmt::Debug for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}#{}", self.client, self.msg_id)
    }
}

/// Node-to-node messages.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AbdMsg {
    /// Phase 1: what do you hold for `key`?
    Query {
        op: OpId,
        key: Key,
    },
    QueryReply {
        op: OpId,
        cell: Cell,
    },
    /// Phase 2: keep `cell` for `key` if its tag is larger than yours.
    Store {
        op: OpId,
        key: Key,
        cell: Cell,
    },
    StoreAck {
        op: OpId,
    },
}

impl fmt::Debug for AbdMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbdMsg::Query { op, key } => write!(f, "Query({op:?} k{key})"),
            AbdMsg::QueryReply { op, cell } => write!(f, "QueryReply({op:?} {cell:?})"),
            AbdMsg::Store { op, key, cell } => write!(f, "Store({op:?} k{key}={cell:?})"),
            AbdMsg::StoreAck { op } => write!(f, "StoreAck({op:?})"),
        }
    }
}

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OpKind {
    Read,
    Write(Value),
}

/// Where an operation stands: the servers heard from in this phase (a bit each, the coordinator
/// included) and what the phase carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Querying; `best` is the largest tagged value heard so far.
    Query { heard: u64, best: Cell },
    /// Storing `cell`.
    Store { heard: u64, cell: Cell },
}

/// An operation in progress at its coordinator.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Op {
    pub id: OpId,
    pub key: Key,
    pub kind: OpKind,
    pub phase: Phase,
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            OpKind::Read => "read".to_string(),
            OpKind::Write(v) => format!("write {v}"),
        };
        let (phase, heard, cell) = match self.phase {
            Phase::Query { heard, best } => ("query", heard, best),
            Phase::Store { heard, cell } => ("store", heard, cell),
        };
        write!(
            f,
            "{:?} {what} k{}: {phase} {cell:?}, heard {}",
            self.id,
            self.key,
            heard.count_ones()
        )
    }
}

/// A server's state: its replica's tagged values (durable) and the operations it coordinates.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AbdState {
    pub store: Arc<KeyMap<Cell>>,
    /// Sorted by id.
    pub ops: Vec<Op>,
}

impl fmt::Debug for AbdState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "holds {:?}", self.store)?;
        if !self.ops.is_empty() {
            write!(f, ", coordinating {:?}", self.ops)?;
        }
        Ok(())
    }
}

/// What a server saves: its replica's tagged values.
pub type AbdStorage = Arc<KeyMap<Cell>>;

/// Deliberately broken variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AbdBug {
    /// A read answers after its query phase, without writing back.
    NoWriteBack,
}

/// An ABD server: replica and coordinator.
#[derive(Clone, Debug)]
pub struct AbdServer {
    pub index: usize,
    pub servers: Vec<Id>,
    pub bug: Option<AbdBug>,
}

impl AbdServer {
    pub fn new(index: usize, servers: Vec<Id>) -> Self {
        AbdServer {
            index,
            servers,
            bug: None,
        }
    }

    fn majority(&self) -> u32 {
        self.servers.len() as u32 / 2 + 1
    }

    fn me(&self) -> u64 {
        1 << self.index
    }

    fn others(&self) -> impl Iterator<Item = Id> + '_ {
        let me = self.servers[self.index];
        self.servers.iter().copied().filter(move |s| *s != me)
    }

    fn bit(&self, server: Id) -> Option<u64> {
        self.servers
            .iter()
            .position(|s| *s == server)
            .map(|i| 1 << i)
    }

    /// The replica's side of a store: keep `cell` if newer (and save it).
    fn keep(&self, state: &mut AbdState, key: Key, cell: Cell, o: &mut Out<Self>) {
        let current = state.store.get(&key).copied().unwrap_or_default();
        if cell.tag > current.tag {
            *Arc::make_mut(&mut state.store).entry_or_default(key) = cell;
            o.save(Arc::clone(&state.store));
        }
    }

    /// Moves operation `i` on as far as what it has heard allows: from a complete query to the
    /// store phase (or, with the bug, a read's answer), from a complete store to the answer.
    fn advance(&self, state: &mut AbdState, i: usize, o: &mut Out<Self>) {
        let op = state.ops[i].clone();
        match op.phase {
            Phase::Query { heard, best } if heard.count_ones() >= self.majority() => {
                let cell = match op.kind {
                    OpKind::Read if self.bug == Some(AbdBug::NoWriteBack) => {
                        state.ops.remove(i);
                        return self.answer(&op, best, o);
                    }
                    OpKind::Read => best,
                    OpKind::Write(value) => Cell {
                        tag: Tag {
                            ts: best.tag.ts + 1,
                            writer: self.index as u8,
                        },
                        value: Some(value),
                    },
                };
                self.keep(state, op.key, cell, o);
                state.ops[i].phase = Phase::Store {
                    heard: self.me(),
                    cell,
                };
                for s in self.others() {
                    o.send(
                        s,
                        KvMsg::Internal(AbdMsg::Store {
                            op: op.id,
                            key: op.key,
                            cell,
                        }),
                    );
                }
                self.advance(state, i, o);
            }
            Phase::Store { heard, cell } if heard.count_ones() >= self.majority() => {
                state.ops.remove(i);
                self.answer(&op, cell, o);
            }
            _ => {}
        }
    }

    fn answer(&self, op: &Op, cell: Cell, o: &mut Out<Self>) {
        let client = Id::from(op.id.client as usize);
        let in_reply_to = op.id.msg_id;
        let reply = match (op.kind, cell.value) {
            (OpKind::Write(_), _) => KvMsg::WriteOk { in_reply_to },
            (OpKind::Read, Some(value)) => KvMsg::ReadOk { in_reply_to, value },
            (OpKind::Read, None) => KvMsg::Error {
                in_reply_to,
                code: ErrorCode::KeyDoesNotExist,
                value: None,
                leader: None,
            },
        };
        o.send(client, reply);
    }

    /// A client's request: start coordinating it (once).
    fn start(&self, state: &mut AbdState, id: OpId, key: Key, kind: OpKind, o: &mut Out<Self>) {
        let Err(i) = state.ops.binary_search_by(|op| op.id.cmp(&id)) else {
            return; // a duplicate of an operation in progress
        };
        let best = state.store.get(&key).copied().unwrap_or_default();
        state.ops.insert(
            i,
            Op {
                id,
                key,
                kind,
                phase: Phase::Query {
                    heard: self.me(),
                    best,
                },
            },
        );
        for s in self.others() {
            o.send(s, KvMsg::Internal(AbdMsg::Query { op: id, key }));
        }
        self.advance(state, i, o);
    }

    /// A phase reply from `src` for operation `op`.
    fn heard(
        &self,
        state: &mut AbdState,
        src: Id,
        op: OpId,
        reply: Option<Cell>,
        o: &mut Out<Self>,
    ) {
        let Some(bit) = self.bit(src) else { return };
        let Ok(i) = state.ops.binary_search_by(|x| x.id.cmp(&op)) else {
            return; // finished, or abandoned by a crash
        };
        match (&mut state.ops[i].phase, reply) {
            (Phase::Query { heard, best }, Some(cell)) if *heard & bit == 0 => {
                *heard |= bit;
                if cell.tag > best.tag {
                    *best = cell;
                }
            }
            (Phase::Store { heard, .. }, None) if *heard & bit == 0 => *heard |= bit,
            _ => return, // a reply to an earlier phase, or a duplicate
        }
        self.advance(state, i, o);
    }

    /// Whether `op` at this coordinator still waits for replies of the phase a message belongs
    /// to (`query`: the query phase, else the store phase).
    fn waits(state: &AbdState, op: OpId, query: bool) -> bool {
        state
            .ops
            .binary_search_by(|x| x.id.cmp(&op))
            .is_ok_and(|i| matches!(state.ops[i].phase, Phase::Query { .. }) == query)
    }
}

impl Actor for AbdServer {
    type Msg = KvMsg<AbdMsg>;
    type State = AbdState;
    type Timer = ();
    type Random = ();
    type Storage = AbdStorage;

    fn name(&self) -> String {
        format!("server {}", self.index)
    }

    fn on_start(&self, _id: Id, storage: &Option<AbdStorage>, _o: &mut Out<Self>) -> AbdState {
        AbdState {
            store: storage.clone().unwrap_or_default(),
            ops: Vec::new(),
        }
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<AbdState>,
        src: Id,
        msg: KvMsg<AbdMsg>,
        o: &mut Out<Self>,
    ) {
        let client = usize::from(src) as u64;
        match msg {
            KvMsg::Read { msg_id, key } => {
                let id = OpId { client, msg_id };
                self.start(state.to_mut(), id, key, OpKind::Read, o);
            }
            KvMsg::Write { msg_id, key, value } => {
                let id = OpId { client, msg_id };
                self.start(state.to_mut(), id, key, OpKind::Write(value), o);
            }
            KvMsg::Cas { msg_id, .. } => o.send(
                src,
                KvMsg::Error {
                    in_reply_to: msg_id,
                    code: ErrorCode::NotSupported,
                    value: None,
                    leader: None,
                },
            ),
            KvMsg::Internal(AbdMsg::Query { op, key }) => {
                let cell = state.store.get(&key).copied().unwrap_or_default();
                o.send(src, KvMsg::Internal(AbdMsg::QueryReply { op, cell }));
            }
            KvMsg::Internal(AbdMsg::Store { op, key, cell }) => {
                let current = state.store.get(&key).copied().unwrap_or_default();
                if cell.tag > current.tag {
                    self.keep(state.to_mut(), key, cell, o);
                }
                o.send(src, KvMsg::Internal(AbdMsg::StoreAck { op }));
            }
            KvMsg::Internal(AbdMsg::QueryReply { op, cell }) if Self::waits(state, op, true) => {
                self.heard(state.to_mut(), src, op, Some(cell), o);
            }
            KvMsg::Internal(AbdMsg::StoreAck { op }) if Self::waits(state, op, false) => {
                self.heard(state.to_mut(), src, op, None, o);
            }
            _ => {}
        }
    }
}

/// What each client does: write its own value, then read the key `reads` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Script {
    pub reads: usize,
}

impl Script {
    pub fn steps(self) -> Vec<Step> {
        let mut steps = vec![Step::WriteOwn];
        steps.extend(std::iter::repeat_n(Step::Read, self.reads));
        steps
    }
}

/// The configuration of an ABD check.
#[derive(Clone, Debug, PartialEq)]
pub struct AbdConfig {
    pub servers: usize,
    pub clients: usize,
    /// How many servers may be crashed at once (they restart from their saved values).
    pub crashes: usize,
    pub script: Script,
    pub network: NetworkKind,
    pub bug: Option<AbdBug>,
}

impl KvConfig for AbdConfig {
    fn server_count(&self) -> usize {
        self.servers
    }
    fn client_count(&self) -> usize {
        self.clients
    }
}

/// The checked model.
pub type AbdModel = Checked<KvModel<AbdServer, AbdConfig>>;
type Inner = KvModel<AbdServer, AbdConfig>;
type AbdSystem = KvSystemState<AbdServer>;

/// A reply or request is obsolete once the operation it belongs to no longer waits for that
/// phase at its coordinator (finished, moved on, or abandoned by a crash): delivering it changes
/// nothing, or only sends a reply that is obsolete too. A `Store` never is: it moves a replica.
fn obsolete(_: &Inner, state: &AbdSystem, env: &Envelope<KvMsg<AbdMsg>>) -> bool {
    let coordinator = |id: Id| match state.actors.get(usize::from(id)).map(|a| &*a.state) {
        Some(crate::kv::KvState::Server(s)) => Some(s),
        _ => None,
    };
    match &env.msg {
        KvMsg::Internal(AbdMsg::Query { op, .. }) => {
            coordinator(env.src).is_some_and(|s| !AbdServer::waits(s, *op, true))
        }
        KvMsg::Internal(AbdMsg::QueryReply { op, .. }) => {
            coordinator(env.dst).is_some_and(|s| !AbdServer::waits(s, *op, true))
        }
        KvMsg::Internal(AbdMsg::StoreAck { op }) => {
            coordinator(env.dst).is_some_and(|s| !AbdServer::waits(s, *op, false))
        }
        _ => false,
    }
}

/// Builds the checked model: servers `0..servers`, then clients, request `k` of a client going
/// to server `first + k`.
pub fn model(cfg: AbdConfig) -> AbdModel {
    let servers: Vec<Id> = (0..cfg.servers).map(Id::from).collect();
    let system = System::new(cfg.clone(), History::new(cfg.clients))
        .actors((0..cfg.servers).map(|index| {
            KvActor::Server(AbdServer {
                bug: cfg.bug,
                ..AbdServer::new(index, servers.clone())
            })
        }))
        .actors((0..cfg.clients).map(|index| {
            KvActor::Client(KvClient {
                index,
                servers: servers.clone(),
                script: cfg.script.steps(),
                rotate: true,
            })
        }))
        .network(cfg.network)
        .max_crashes(cfg.crashes)
        .obsolete(obsolete)
        .property(Expectation::Always, "linearizable", |_, s| {
            s.history.linearizable_cas()
        })
        .property(Expectation::Sometimes, "read sees a write", |_, s| {
            s.history.clients.iter().any(|c| {
                c.done
                    .iter()
                    .any(|d| matches!(d.ret, KvRet::ReadOk(Some(_))))
            })
        })
        .property(
            Expectation::Sometimes,
            "read sees another client's write",
            |_, s| {
                s.history.clients.iter().enumerate().any(|(c, ops)| {
                    let own = KvClient::own_value(c);
                    ops.done
                        .iter()
                        .any(|d| matches!(d.ret, KvRet::ReadOk(Some(v)) if v != own))
                })
            },
        )
        .record_msg_out(record_invocations)
        .record_msg_in(record_returns);
    let mut checked = Checked::new(system);
    checked.allow = servers_only_crash;
    checked
}

/// A duplicating network would hand a coordinator a client's request again after it answered
/// it, and it would run the write again under a newer tag: ABD has no client sessions.
const NETWORKS: &[NetworkKind] = &[
    NetworkKind::UnorderedNonDuplicating,
    NetworkKind::Ordered,
    NetworkKind::LossyUnorderedNonDuplicating,
    NetworkKind::LossyOrdered,
];

/// The catalog entry: `synod check abd`.
pub struct Abd;

impl Protocol for Abd {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "abd",
        summary: "ABD: a linearizable register over majority quorums, reads write back (Attiya, Bar-Noy and Dolev, 1995)",
        params: &[
            Param::model("servers", "servers, each a replica and a coordinator", 3, 1, 5),
            Param::model("clients", "clients; client i writes i+1, then reads", 2, 1, 3),
            Param::model(
                "crashes",
                "servers that may be crashed at once (they restart from their saved values)",
                0,
                0,
                2,
            ),
            Param::model(
                "reads",
                "reads after each client's write (2 lets one client see the new/old inversion)",
                1,
                1,
                2,
            ),
        ],
        properties: &[
            always("linearizable"),
            sometimes("read sees a write"),
            sometimes("read sees another client's write"),
        ],
        bugs: &[BugInfo {
            name: "no-write-back",
            summary: "a read answers after its query phase, without writing the value back to a majority",
            source: "Attiya, Bar-Noy and Dolev, Sharing Memory Robustly (1995): the read's second phase; without it a regular, not atomic, register (Lamport 1986)",
            violates: "linearizable",
            needs: &[Need::Param("reads", 2)],
        }],
        symmetry: None,
        networks: NETWORKS,
        validate: crate::protocol::crashes_at_most_servers,
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 38_813,
                source: "tests/check_abd.rs",
            },
            Pinned {
                params: &[("reads", 2)],
                symmetry: false,
                unique_states: 1_137_401,
                source: "tests/check_abd.rs",
            },
            Pinned {
                params: &[("crashes", 1)],
                symmetry: false,
                unique_states: 231_036,
                source: "tests/check_abd.rs",
            },
        ],
    };
    type Model = KvModel<AbdServer, AbdConfig>;

    fn model(s: &Settings) -> AbdModel {
        model(AbdConfig {
            servers: s.count("servers"),
            clients: s.count("clients"),
            crashes: s.count("crashes"),
            script: Script {
                reads: s.count("reads"),
            },
            network: s.network,
            bug: s.bug_of(&[("no-write-back", AbdBug::NoWriteBack)]),
        })
    }
}
