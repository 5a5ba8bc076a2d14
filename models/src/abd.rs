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
//! **Retries.** A client that hears nothing re-sends its request, perhaps to another server, and
//! a network may deliver a request twice. A read run twice is harmless (it writes back a value
//! that is already tagged), but a write run again after it completed would store its value under
//! a newer tag, over writes that came after it. So each replica also keeps, per client, the last
//! write it stored (`msg_id` and tagged value; durable, at most [`MAX_WRITERS`] clients), and
//! answers a query with that record when it is the queried request or a later one. A write's
//! coordinator that hears of its own request finishes that write (stores the recorded tag and
//! value, like a read's write-back) rather than starting a new one; a request that hears of a
//! later write of its client is a stale duplicate and is dropped unanswered. A completed write
//! was recorded at a majority, so every later query meets the record. The records do not cover
//! a retry at another server while the first attempt still runs: a first attempt whose query
//! finished before any record existed can store a second tag after the retry was answered. So
//! on the network a client re-sends a timed-out request to the same server, which recognises a
//! duplicate of an operation in progress, and tries another server only for its next operation,
//! once it has given this one up as indeterminate (`Serve::RETRY_ELSEWHERE`); the checker's
//! clients never retry.
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
//! # Bug variants
//!
//! `no-write-back`: a read answers right after its query phase (the "regular register" of
//! Lamport, "On Interprocess Communication", 1986, not an atomic one): the checker finds the
//! new/old inversion.
//!
//! `no-write-records`: replicas keep no record of their clients' writes. On a network that
//! duplicates, the checker finds a write delivered again after its `write_ok` overtaking a
//! later write.
//!
//! `coordinator-tags`: a tag's tie-breaker is the coordinator's index rather than the writing
//! client's. Two concurrent writes coordinated by one server can then take the same tag with
//! different values, and replicas keep whichever arrived first. `--shared-coordinator 1` sends
//! every client's requests through the same servers in the same order, so that two writes meet
//! at one coordinator; the checker finds the violation there. (This mistake was ours: the socket
//! runs found it first, where many clients share each coordinator.)

use crate::checked::{servers_only_crash, Checked, KvModel, KvSystemState};
use crate::durable::Durable;
use crate::kv::{
    record_invocations, record_returns, ErrorCode, History, Key, KeyMap, KvActor, KvClient,
    KvConfig, KvMsg, KvRet, MsgId, Step, Value,
};
use crate::protocol::{
    always, sometimes, BugInfo, Descriptor, Need, Param, Pinned, Protocol, Settings, ALL_NETWORKS,
};
use crate::protocol::{KeySemantics, Serve};
use crate::system::System;
use crate::NetworkKind;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Envelope, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A value's tag: the write's timestamp, ties broken by the writing client's id. The writer is
/// the client, not the coordinator: two concurrent writes coordinated by one server can pick the
/// same timestamp, and must still get distinct tags.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Tag {
    pub ts: u64,
    pub writer: u64,
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},c{})", self.ts, self.writer)
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

/// A client's last write that a replica stored: the request's `msg_id` and its tagged value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Wrote {
    pub client: u64,
    pub msg_id: MsgId,
    pub cell: Cell,
}

/// Per client, the last write a replica stored, sorted by client, at most [`MAX_WRITERS`].
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Writes(Vec<Wrote>);

/// How many operations a server coordinates at once. A request whose replies were lost stays
/// until its client's next request reaches this server, or until it is the oldest of
/// `MAX_OPS`: then it is dropped unanswered, as a crash would drop it (the client times out).
pub const MAX_OPS: usize = 4096;

/// How many clients' last writes a replica remembers. A retry of a write whose record was
/// evicted runs again as a new write: it needs `MAX_WRITERS` other clients to write in between.
pub const MAX_WRITERS: usize = 1024;

impl Writes {
    pub fn get(&self, client: u64) -> Option<&Wrote> {
        self.0
            .binary_search_by(|w| w.client.cmp(&client))
            .ok()
            .map(|i| &self.0[i])
    }

    /// Records `w` unless the table holds this client's write `w.msg_id` or a later one; when
    /// a new client does not fit, the record with the smallest `msg_id` goes (the load
    /// generator's ids start at the clock, so that is the oldest). Whether it changed.
    pub fn record(&mut self, w: Wrote) -> bool {
        match self.0.binary_search_by(|x| x.client.cmp(&w.client)) {
            Ok(i) if self.0[i].msg_id >= w.msg_id => false,
            Ok(i) => {
                self.0[i] = w;
                true
            }
            Err(i) => {
                self.0.insert(i, w);
                if self.0.len() > MAX_WRITERS {
                    let oldest = (0..self.0.len())
                        .min_by_key(|&j| (self.0[j].msg_id, self.0[j].client))
                        .expect("not empty");
                    self.0.remove(oldest);
                }
                true
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Wrote> {
        self.0.iter()
    }
}

impl fmt::Debug for Writes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for w in &self.0 {
            l.entry(&format_args!("c{}#{} {:?}", w.client, w.msg_id, w.cell));
        }
        l.finish()
    }
}

/// What a replica keeps, and saves before it acknowledges a store: its tagged values and its
/// clients' last writes.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AbdStorage {
    pub cells: Arc<KeyMap<Cell>>,
    pub writes: Arc<Writes>,
}

impl fmt::Debug for AbdStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.cells)?;
        if !self.writes.0.is_empty() {
            write!(f, ", wrote {:?}", self.writes)?;
        }
        Ok(())
    }
}

/// One change to a replica's storage, as the runtime logs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AbdEntry {
    Cell(Key, Cell),
    Wrote(Wrote),
}

/// A delta is the cells that changed and the write records that are new; recording them again
/// on recovery evicts what the actor evicted, by the same rule.
impl Durable for AbdStorage {
    type Entry = AbdEntry;

    fn delta(&self, prev: &Self) -> Option<Vec<AbdEntry>> {
        let mut out: Vec<AbdEntry> = self
            .cells
            .delta(&prev.cells)?
            .into_iter()
            .map(|(k, c)| AbdEntry::Cell(k, c))
            .collect();
        if !Arc::ptr_eq(&self.writes, &prev.writes) {
            for w in self.writes.iter() {
                if prev.writes.get(w.client) != Some(w) {
                    out.push(AbdEntry::Wrote(*w));
                }
            }
        }
        Some(out)
    }

    fn apply(&mut self, entry: AbdEntry) {
        match entry {
            AbdEntry::Cell(key, cell) => {
                *Arc::make_mut(&mut self.cells).entry_or_default(key) = cell
            }
            AbdEntry::Wrote(w) => {
                Arc::make_mut(&mut self.writes).record(w);
            }
        }
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
    /// What the replica holds, and the last write of the op's client it stored if that is
    /// this op or a later one.
    QueryReply {
        op: OpId,
        cell: Cell,
        wrote: Option<Wrote>,
    },
    /// Phase 2: keep `cell` for `key` if its tag is larger than yours; `write`: it is the
    /// client's write, to remember for its retries.
    Store {
        op: OpId,
        key: Key,
        cell: Cell,
        write: bool,
    },
    StoreAck {
        op: OpId,
    },
}

impl fmt::Debug for AbdMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbdMsg::Query { op, key } => write!(f, "Query({op:?} k{key})"),
            AbdMsg::QueryReply { op, cell, wrote } => {
                write!(f, "QueryReply({op:?} {cell:?}")?;
                if let Some(w) = wrote {
                    write!(f, ", wrote #{} {:?}", w.msg_id, w.cell)?;
                }
                write!(f, ")")
            }
            AbdMsg::Store {
                op,
                key,
                cell,
                write,
            } => {
                let what = if *write { "write" } else { "write-back" };
                write!(f, "Store({op:?} k{key}={cell:?} {what})")
            }
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
    /// Querying; `best` is the largest tagged value heard so far, `wrote` the latest record of
    /// this client's writes heard so far (if it is this request or a later one).
    Query {
        heard: u64,
        best: Cell,
        wrote: Option<Wrote>,
    },
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
            Phase::Query { heard, best, .. } => ("query", heard, best),
            Phase::Store { heard, cell } => ("store", heard, cell),
        };
        write!(
            f,
            "{:?} {what} k{}: {phase} {cell:?}, heard {}",
            self.id,
            self.key,
            heard.count_ones()
        )?;
        if let Phase::Query { wrote: Some(w), .. } = self.phase {
            write!(f, ", stored as #{} {:?}", w.msg_id, w.cell)?;
        }
        Ok(())
    }
}

/// A server's state: its replica's storage (durable) and the operations it coordinates.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AbdState {
    pub store: AbdStorage,
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

/// Deliberately broken variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AbdBug {
    /// A read answers after its query phase, without writing back.
    NoWriteBack,
    /// Replicas keep no record of their clients' writes: a write delivered again after it
    /// completed runs again, under a newer tag.
    NoWriteRecords,
    /// A tag's tie-breaker is the coordinator, not the writer: two writes at one coordinator
    /// can share a tag.
    CoordinatorTags,
}

/// An ABD server: replica and coordinator.
#[derive(Clone, Debug)]
pub struct AbdServer {
    pub index: usize,
    pub servers: Vec<Id>,
    pub bug: Option<AbdBug>,
    /// Each phase waits for every server rather than a majority (`--quorum all`): no faster,
    /// never safer, and stalled by one slow or crashed server; it is there to be measured.
    pub all: bool,
}

impl AbdServer {
    pub fn new(index: usize, servers: Vec<Id>) -> Self {
        AbdServer {
            index,
            servers,
            bug: None,
            all: false,
        }
    }

    /// The replies (its own included) a phase waits for: a majority, or every server.
    fn majority(&self) -> u32 {
        let n = self.servers.len() as u32;
        if self.all {
            n
        } else {
            n / 2 + 1
        }
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

    /// The replica's side of a store: keep `cell` if newer, remember a client's write (and
    /// save what changed).
    fn keep(
        &self,
        state: &mut AbdState,
        op: OpId,
        key: Key,
        cell: Cell,
        write: bool,
        o: &mut Out<Self>,
    ) {
        let mut changed = false;
        let current = state.store.cells.get(&key).copied().unwrap_or_default();
        if cell.tag > current.tag {
            *Arc::make_mut(&mut state.store.cells).entry_or_default(key) = cell;
            changed = true;
        }
        if write && self.bug != Some(AbdBug::NoWriteRecords) {
            let w = Wrote {
                client: op.client,
                msg_id: op.msg_id,
                cell,
            };
            let newer = state
                .store
                .writes
                .get(op.client)
                .is_none_or(|x| x.msg_id < op.msg_id);
            if newer {
                changed |= Arc::make_mut(&mut state.store.writes).record(w);
            }
        }
        debug_assert!(
            state.store.cells.get(&key).copied().unwrap_or_default().tag >= current.tag,
            "a replica's tag never decreases"
        );
        if changed {
            o.save(state.store.clone());
        }
    }

    /// The record of `client`'s writes this replica holds, if it is request `msg_id` or later.
    fn wrote(&self, store: &AbdStorage, op: OpId) -> Option<Wrote> {
        store
            .writes
            .get(op.client)
            .filter(|w| w.msg_id >= op.msg_id)
            .copied()
    }

    /// Moves operation `i` on as far as what it has heard allows: from a complete query to the
    /// store phase (or, with the bug, a read's answer), from a complete store to the answer.
    fn advance(&self, state: &mut AbdState, i: usize, o: &mut Out<Self>) {
        let op = state.ops[i].clone();
        match op.phase {
            Phase::Query { heard, best, wrote } if heard.count_ones() >= self.majority() => {
                let cell = match (op.kind, wrote) {
                    // The client has since had a later write stored at a majority: this request
                    // is a stale duplicate, and the client no longer waits for it.
                    (_, Some(w)) if w.msg_id > op.id.msg_id => {
                        state.ops.remove(i);
                        return;
                    }
                    // A retry of a write some replica stored: finish that write (its tag, not a
                    // new one), as a read writes back what it found.
                    (OpKind::Write(_), Some(w)) => w.cell,
                    (OpKind::Read, _) if self.bug == Some(AbdBug::NoWriteBack) => {
                        state.ops.remove(i);
                        return self.answer(&op, best, o);
                    }
                    (OpKind::Read, _) => best,
                    (OpKind::Write(value), None) => Cell {
                        tag: Tag {
                            ts: best.tag.ts + 1,
                            writer: if self.bug == Some(AbdBug::CoordinatorTags) {
                                self.index as u64
                            } else {
                                op.id.client
                            },
                        },
                        value: Some(value),
                    },
                };
                let write = matches!(op.kind, OpKind::Write(_));
                self.keep(state, op.id, op.key, cell, write, o);
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
                            write,
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
        if let Ok(i) = state.ops.binary_search_by(|op| op.id.cmp(&id)) {
            // A duplicate of an operation in progress: its client re-sent it here after a
            // timeout (it does not retry elsewhere), so a message of the phase or a reply may
            // have been lost. Repeat the phase to the peers not heard from.
            return self.repeat_phase(&state.ops[i], o);
        }
        // A client has one request outstanding: a new one means it gave up on the older ones
        // here (they lost replies, or it retried elsewhere), and an older one is stale. And a
        // bound on the rest.
        let mine = |op: &Op| op.id.client == id.client;
        if state
            .ops
            .iter()
            .any(|op| mine(op) && op.id.msg_id > id.msg_id)
        {
            return;
        }
        state.ops.retain(|op| !mine(op));
        if state.ops.len() >= MAX_OPS {
            let oldest = (0..state.ops.len())
                .min_by_key(|&j| state.ops[j].id.msg_id)
                .expect("not empty");
            state.ops.remove(oldest);
        }
        let Err(i) = state.ops.binary_search_by(|op| op.id.cmp(&id)) else {
            unreachable!("not in progress");
        };
        let best = state.store.cells.get(&key).copied().unwrap_or_default();
        let wrote = self.wrote(&state.store, id);
        state.ops.insert(
            i,
            Op {
                id,
                key,
                kind,
                phase: Phase::Query {
                    heard: self.me(),
                    best,
                    wrote,
                },
            },
        );
        for s in self.others() {
            o.send(s, KvMsg::Internal(AbdMsg::Query { op: id, key }));
        }
        self.advance(state, i, o);
    }

    /// A phase reply from `src` for operation `op`: a query's answer, or (`None`) a store's
    /// acknowledgement.
    fn heard(
        &self,
        state: &mut AbdState,
        src: Id,
        op: OpId,
        reply: Option<(Cell, Option<Wrote>)>,
        o: &mut Out<Self>,
    ) {
        let Some(bit) = self.bit(src) else { return };
        let Ok(i) = state.ops.binary_search_by(|x| x.id.cmp(&op)) else {
            return; // finished, or abandoned by a crash
        };
        match (&mut state.ops[i].phase, reply) {
            (Phase::Query { heard, best, wrote }, Some((cell, theirs))) if *heard & bit == 0 => {
                *heard |= bit;
                if cell.tag > best.tag {
                    *best = cell;
                }
                if theirs.map(|w| w.msg_id) > wrote.map(|w| w.msg_id) {
                    *wrote = theirs;
                }
            }
            (Phase::Store { heard, .. }, None) if *heard & bit == 0 => *heard |= bit,
            _ => return, // a reply to an earlier phase, or a duplicate
        }
        self.advance(state, i, o);
    }

    /// Sends operation `op`'s current phase again to the peers that have not answered it.
    fn repeat_phase(&self, op: &Op, o: &mut Out<Self>) {
        let (heard, msg) = match op.phase {
            Phase::Query { heard, .. } => (
                heard,
                AbdMsg::Query {
                    op: op.id,
                    key: op.key,
                },
            ),
            Phase::Store { heard, cell } => (
                heard,
                AbdMsg::Store {
                    op: op.id,
                    key: op.key,
                    cell,
                    write: matches!(op.kind, OpKind::Write(_)),
                },
            ),
        };
        for s in self.others() {
            if self.bit(s).is_some_and(|b| heard & b == 0) {
                o.send(s, KvMsg::Internal(msg.clone()));
            }
        }
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
                let cell = state.store.cells.get(&key).copied().unwrap_or_default();
                let wrote = self.wrote(&state.store, op);
                o.send(src, KvMsg::Internal(AbdMsg::QueryReply { op, cell, wrote }));
            }
            KvMsg::Internal(AbdMsg::Store {
                op,
                key,
                cell,
                write,
            }) => {
                let current = state.store.cells.get(&key).copied().unwrap_or_default();
                let recorded = state
                    .store
                    .writes
                    .get(op.client)
                    .is_some_and(|w| w.msg_id >= op.msg_id);
                if cell.tag > current.tag || (write && !recorded) {
                    self.keep(state.to_mut(), op, key, cell, write, o);
                }
                o.send(src, KvMsg::Internal(AbdMsg::StoreAck { op }));
            }
            KvMsg::Internal(AbdMsg::QueryReply { op, cell, wrote })
                if Self::waits(state, op, true) =>
            {
                self.heard(state.to_mut(), src, op, Some((cell, wrote)), o);
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
    /// Phases wait for every server (`--quorum all`).
    pub all: bool,
    /// Every client starts at server 0 (`--shared-coordinator 1`): its requests meet the other
    /// clients' at the same coordinators.
    pub shared: bool,
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
                all: cfg.all,
                ..AbdServer::new(index, servers.clone())
            })
        }))
        .actors((0..cfg.clients).map(|index| {
            KvActor::Client(KvClient {
                index,
                servers: servers.clone(),
                script: cfg.script.steps(),
                rotate: true,
                start: cfg.shared.then_some(0),
            })
        }))
        .network(cfg.network)
        .max_crashes(cfg.crashes)
        .obsolete(obsolete)
        .property(Expectation::Always, "linearizable", |_, s| {
            s.history.linearizable_cas()
        })
        .property(Expectation::Sometimes, "read sees a write", |_, s| {
            s.history
                .some_return(|r| matches!(r, KvRet::ReadOk(Some(_))))
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

/// The bug variants by name.
const BUGS: [(&str, AbdBug); 3] = [
    ("no-write-back", AbdBug::NoWriteBack),
    ("no-write-records", AbdBug::NoWriteRecords),
    ("coordinator-tags", AbdBug::CoordinatorTags),
];

/// The catalog entry: `synod check abd`, `synod run abd`.
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
            Param {
                name: "quorum",
                help: "what each phase waits for: a majority of the servers (0), or all of them (1; a crashed server then stalls every operation)",
                default: 0,
                min: 0,
                max: 1,
                run: Some(0),
                names: &[("majority", 0), ("all", 1)],
            },
            Param::model(
                "shared-coordinator",
                "1: every client sends its requests to the same servers in the same order (its writes meet the others' at one coordinator); 0: client i starts at server i",
                0,
                0,
                1,
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
        }, BugInfo {
            name: "no-write-records",
            summary: "replicas keep no record of their clients' writes: a write delivered again after it completed runs again, under a newer tag",
            source: "at-most-once execution of retried requests (Birrell and Nelson, Implementing Remote Procedure Calls, 1984; Raft thesis 6.3): a network that duplicates, or a client that retries, re-runs a write",
            violates: "linearizable",
            needs: &[
                Need::Network(NetworkKind::UnorderedDuplicating),
                Need::Param("servers", 1),
            ],
        }, BugInfo {
            name: "coordinator-tags",
            summary: "a tag's tie-breaker is the coordinating server, not the writing client: two concurrent writes at one coordinator take the same tag with different values",
            source: "multi-writer ABD orders tags by (timestamp, writer id) (Lynch and Shvartsman, Robust Emulation of Shared Memory Using Dynamic Quorum-Acknowledged Broadcasts, 1997); with server-side coordinators the writer is the client. Found by Synod's own socket runs",
            violates: "linearizable",
            needs: &[Need::Param("shared-coordinator", 1)],
        }],
        symmetry: None,
        networks: ALL_NETWORKS,
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
                unique_states: 231_236,
                source: "tests/check_abd.rs",
            },
            Pinned {
                params: &[("shared-coordinator", 1)],
                symmetry: false,
                unique_states: 39_973,
                source: "tests/check_abd.rs",
            },
            Pinned {
                params: &[("quorum", 1)],
                symmetry: false,
                unique_states: 7_641,
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
            bug: s.bug_of(&BUGS),
            all: s.flag("quorum"),
            shared: s.flag("shared-coordinator"),
        })
    }
}

impl Serve for Abd {
    type Internal = AbdMsg;
    type Server = AbdServer;
    type Storage = AbdStorage;
    const KEYS: KeySemantics = KeySemantics::Register;
    const CAS: bool = false;
    /// A query, then a store.
    const QUORUM_ROUND_TRIPS: u32 = 2;
    /// A retry at another server would start a second coordinator for the same write (see the
    /// module's "Retries").
    const RETRY_ELSEWHERE: bool = false;

    fn server(s: &Settings, index: usize, servers: Vec<Id>) -> AbdServer {
        AbdServer {
            bug: s.bug_of(&BUGS),
            all: s.flag("quorum"),
            ..AbdServer::new(index, servers)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(ts: u64, v: Value) -> Cell {
        Cell {
            tag: Tag { ts, writer: 0 },
            value: Some(v),
        }
    }

    fn wrote(client: u64, msg_id: MsgId) -> Wrote {
        Wrote {
            client,
            msg_id,
            cell: cell(msg_id, client),
        }
    }

    #[test]
    fn a_client_keeps_its_latest_write_and_the_oldest_client_goes_first() {
        let mut w = Writes::default();
        assert!(w.record(wrote(5, 10)));
        assert!(!w.record(wrote(5, 10)), "the same request again");
        assert!(!w.record(wrote(5, 9)), "an older request");
        assert!(w.record(wrote(5, 11)));
        assert_eq!(w.get(5).unwrap().msg_id, 11);
        for c in 0..MAX_WRITERS as u64 - 1 {
            assert!(w.record(wrote(100 + c, 1000 + c)));
        }
        assert_eq!(w.iter().count(), MAX_WRITERS);
        // One more client: the record with the smallest msg_id (client 5's) is evicted.
        assert!(w.record(wrote(99_999, 5000)));
        assert_eq!(w.iter().count(), MAX_WRITERS);
        assert!(w.get(5).is_none());
        assert!(w.get(99_999).is_some());
        let clients: Vec<u64> = w.iter().map(|x| x.client).collect();
        assert!(clients.windows(2).all(|p| p[0] < p[1]), "sorted by client");
    }

    #[test]
    fn storage_deltas_replay_to_the_same_value() {
        let mut prev = AbdStorage::default();
        let mut replayed = AbdStorage::default();
        for step in 0..4000u64 {
            let mut next = prev.clone();
            *Arc::make_mut(&mut next.cells).entry_or_default(step % 7) = cell(step, step);
            if step % 2 == 0 {
                Arc::make_mut(&mut next.writes).record(wrote(step / 2, step));
            }
            let delta = next.delta(&prev).expect("cells are only assigned");
            for e in delta {
                replayed.apply(e);
            }
            assert_eq!(replayed, next, "step {step}");
            prev = next;
        }
        assert!(
            prev.writes.iter().count() == MAX_WRITERS,
            "evictions were replayed too"
        );
    }

    /// A server's replies to a write and a retry of it: the retry finishes the same write.
    /// Where each message of a step went.
    fn sent(o: Out<AbdServer>) -> Vec<(Id, AbdMsg)> {
        o.into_iter()
            .filter_map(|c| match c {
                stateright::actor::Command::Send(dst, KvMsg::Internal(m)) => Some((dst, m)),
                _ => None,
            })
            .collect()
    }

    /// A client re-sends to the same coordinator (it does not retry elsewhere): a duplicate of
    /// an operation in progress repeats the current phase to the peers not heard from, so a lost
    /// message or reply costs a retry, not the operation; nothing new is started.
    #[test]
    fn a_duplicate_repeats_the_phase_to_the_peers_not_heard_from() {
        let servers = vec![
            Id::from(0),
            Id::from(1),
            Id::from(2),
            Id::from(3),
            Id::from(4),
        ];
        let s = AbdServer::new(0, servers);
        let client = Id::from(7);
        let mut state = Cow::Owned(s.on_start(Id::from(0), &None, &mut Out::new()));
        let write = KvMsg::Write {
            msg_id: 3,
            key: 1,
            value: 42,
        };
        let mut o = Out::new();
        s.on_msg(Id::from(0), &mut state, client, write.clone(), &mut o);
        let id = OpId {
            client: 7,
            msg_id: 3,
        };
        let query = AbdMsg::Query { op: id, key: 1 };
        assert_eq!(sent(o).len(), 4, "a query to every peer");
        let reply = AbdMsg::QueryReply {
            op: id,
            cell: Cell::default(),
            wrote: None,
        };
        s.on_msg(
            Id::from(0),
            &mut state,
            Id::from(1),
            KvMsg::Internal(reply.clone()),
            &mut Out::new(),
        );
        let mut o = Out::new();
        s.on_msg(Id::from(0), &mut state, client, write.clone(), &mut o);
        let again = sent(o);
        assert_eq!(
            again,
            vec![
                (Id::from(2), query.clone()),
                (Id::from(3), query.clone()),
                (Id::from(4), query)
            ]
        );
        assert_eq!(state.ops.len(), 1, "the same operation, not a second one");
        // With a majority the store phase begins; a duplicate then repeats the store.
        s.on_msg(
            Id::from(0),
            &mut state,
            Id::from(2),
            KvMsg::Internal(reply),
            &mut Out::new(),
        );
        let Phase::Store { cell, .. } = state.ops[0].phase else {
            panic!("{:?}", state.ops);
        };
        s.on_msg(
            Id::from(0),
            &mut state,
            Id::from(3),
            KvMsg::Internal(AbdMsg::StoreAck { op: id }),
            &mut Out::new(),
        );
        let mut o = Out::new();
        s.on_msg(Id::from(0), &mut state, client, write, &mut o);
        let store = AbdMsg::Store {
            op: id,
            key: 1,
            cell,
            write: true,
        };
        assert_eq!(
            sent(o),
            vec![
                (Id::from(1), store.clone()),
                (Id::from(2), store.clone()),
                (Id::from(4), store)
            ]
        );
    }

    #[test]
    fn a_retried_write_is_finished_not_run_again() {
        let s = AbdServer::new(0, vec![Id::from(0)]);
        let client = Id::from(7);
        let mut state = Cow::Owned(s.on_start(Id::from(0), &None, &mut Out::new()));
        let write = KvMsg::Write {
            msg_id: 3,
            key: 1,
            value: 42,
        };
        let mut o = Out::new();
        s.on_msg(Id::from(0), &mut state, client, write.clone(), &mut o);
        let tag = state.store.cells.get(&1).unwrap().tag;
        assert_eq!(tag.ts, 1);
        // Another client's write, then the first request again.
        let other = KvMsg::Write {
            msg_id: 1,
            key: 1,
            value: 43,
        };
        s.on_msg(Id::from(0), &mut state, Id::from(8), other, &mut Out::new());
        assert_eq!(state.store.cells.get(&1).unwrap().value, Some(43));
        let mut o = Out::new();
        s.on_msg(Id::from(0), &mut state, client, write, &mut o);
        assert_eq!(
            state.store.cells.get(&1).unwrap().value,
            Some(43),
            "the retry did not overwrite the later write"
        );
        let replies: Vec<_> = o
            .into_iter()
            .filter_map(|c| match c {
                stateright::actor::Command::Send(dst, m) => Some((dst, m)),
                _ => None,
            })
            .collect();
        assert_eq!(replies, vec![(client, KvMsg::WriteOk { in_reply_to: 3 })]);
        // A stale request (older than the client's last write) gets no answer.
        let stale = KvMsg::Write {
            msg_id: 2,
            key: 1,
            value: 41,
        };
        let mut o = Out::new();
        s.on_msg(Id::from(0), &mut state, client, stale, &mut o);
        assert_eq!(o.into_iter().count(), 0);
        assert_eq!(state.store.cells.get(&1).unwrap().value, Some(43));
    }
}
