//! The key-value service shared by every replicated-KV protocol: the client messages, the client
//! actor the model checker runs, the recorded client history, and client symmetry.
//!
//! **Messages.** Clients speak Jepsen Maelstrom's `lin-kv` bodies (`read`, `write`, `cas` and their
//! `_ok` replies, and `error` with Maelstrom's codes), so [`KvMsg`] is the same vocabulary inside the
//! checker and on the wire. Node-to-node messages travel as [`KvMsg::Internal`], whose payload each
//! protocol defines.
//!
//! **Clients.** The checker's [`KvClient`] runs a fixed script against one key: client `i` writes
//! the value `i + 1` (so every client proposes a distinct value), may `cas` it to `10 * (i + 1)`
//! (so a read tells whose cas took effect), and reads the key, each request sent to a server
//! chosen from the client's index. A client has one request outstanding.
//!
//! **History.** [`History`] records what clients saw, in a form that is canonical for the
//! precedence order: for every operation it keeps, per other client, how many operations that
//! client had completed when the operation was invoked. This is exactly the information
//! stateright's `LinearizabilityTester` keeps, but unlike the tester it can be permuted, which
//! client symmetry needs; [`History::linearizable_wo`] replays it into a `LinearizabilityTester`
//! with `WORegister` semantics, one per key, and [`History::linearizable_cas`] with the semantics
//! of a lin-kv key, a read/write/cas register ([`CasRegister`]).
//!
//! **Symmetry.** Clients are interchangeable up to the value each one writes, so a permutation of
//! clients ([`ClientPerm`]) renames client ids *and* client values. [`Permute`] applies it to every
//! piece of state.

use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use stateright::semantics::write_once_register::{WORegister, WORegisterOp, WORegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A key of the store.
pub type Key = u64;
/// A value of the store.
pub type Value = u64;
/// A client-chosen request id; a reply names it in `in_reply_to`.
pub type MsgId = u64;

/// The most clients a checked configuration can have (bounds the precedence vectors).
pub const MAX_CLIENTS: usize = 8;

/// Maelstrom's error codes, as DESIGN.md's wire protocol uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// 10: the operation is not supported by this service.
    NotSupported,
    /// 11: temporarily unavailable; definite: the operation was not applied.
    TemporarilyUnavailable,
    /// 12: the request could not be parsed.
    MalformedRequest,
    /// 20: the key does not exist (a read of an undecided key).
    KeyDoesNotExist,
    /// 22: a precondition failed (cas `from` mismatch, or a write-once key holds another value).
    PreconditionFailed,
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub fn code(self) -> u32 {
        match self {
            ErrorCode::NotSupported => 10,
            ErrorCode::TemporarilyUnavailable => 11,
            ErrorCode::MalformedRequest => 12,
            ErrorCode::KeyDoesNotExist => 20,
            ErrorCode::PreconditionFailed => 22,
        }
    }

    /// The code for a wire number, if it is one of Maelstrom's that Synod uses.
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            10 => ErrorCode::NotSupported,
            11 => ErrorCode::TemporarilyUnavailable,
            12 => ErrorCode::MalformedRequest,
            20 => ErrorCode::KeyDoesNotExist,
            22 => ErrorCode::PreconditionFailed,
            _ => return None,
        })
    }
}

/// A message of a replicated KV protocol: a `lin-kv` client body, or a protocol's own message.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KvMsg<I> {
    Read {
        msg_id: MsgId,
        key: Key,
    },
    ReadOk {
        in_reply_to: MsgId,
        value: Value,
    },
    Write {
        msg_id: MsgId,
        key: Key,
        value: Value,
    },
    WriteOk {
        in_reply_to: MsgId,
    },
    Cas {
        msg_id: MsgId,
        key: Key,
        from: Value,
        to: Value,
    },
    CasOk {
        in_reply_to: MsgId,
    },
    /// An error reply. `value` carries the current value where the error is about it (a write-once
    /// key that already holds another value); `leader`, on error 11 from a server that is not
    /// the leader, names the leader it knows of (on the wire, its address).
    Error {
        in_reply_to: MsgId,
        code: ErrorCode,
        value: Option<Value>,
        leader: Option<Id>,
    },
    /// A node-to-node message of the protocol.
    Internal(I),
    /// (After `Internal`, so the binary form of the older variants is unchanged.)
    /// Maelstrom's `g-counter` `add` (protocols whose [`KeySemantics`] is `Counter`; the
    /// runtime refuses it for the others before their actors see it, and decodes a `read`
    /// without a key for them as a read of key 0).
    ///
    /// [`KeySemantics`]: crate::protocol::KeySemantics
    Add {
        msg_id: MsgId,
        delta: Value,
    },
    AddOk {
        in_reply_to: MsgId,
    },
}

impl<I: fmt::Debug> fmt::Debug for KvMsg<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return self.fields(f);
        }
        match self {
            KvMsg::Read { msg_id, key } => write!(f, "Read(#{msg_id} k{key})"),
            KvMsg::ReadOk { in_reply_to, value } => write!(f, "ReadOk(#{in_reply_to} {value})"),
            KvMsg::Write { msg_id, key, value } => write!(f, "Write(#{msg_id} k{key}={value})"),
            KvMsg::WriteOk { in_reply_to } => write!(f, "WriteOk(#{in_reply_to})"),
            KvMsg::Cas {
                msg_id,
                key,
                from,
                to,
            } => write!(f, "Cas(#{msg_id} k{key} {from}->{to})"),
            KvMsg::CasOk { in_reply_to } => write!(f, "CasOk(#{in_reply_to})"),
            KvMsg::Add { msg_id, delta } => write!(f, "Add(#{msg_id} +{delta})"),
            KvMsg::AddOk { in_reply_to } => write!(f, "AddOk(#{in_reply_to})"),
            KvMsg::Error {
                in_reply_to,
                code,
                value,
                leader,
            } => {
                write!(f, "Error(#{in_reply_to} {}", code.code())?;
                if let Some(v) = value {
                    write!(f, " value={v}")?;
                }
                if let Some(l) = leader {
                    // On sockets an id is an address (IPv4 and port packed in the number); in
                    // the checker it is an actor's index.
                    let n = usize::from(*l);
                    if n > usize::from(u16::MAX) {
                        write!(f, " leader={}", std::net::SocketAddrV4::from(*l))?;
                    } else {
                        write!(f, " leader={n}")?;
                    }
                }
                write!(f, ")")
            }
            KvMsg::Internal(i) => i.fmt(f),
        }
    }
}

impl<I: fmt::Debug> KvMsg<I> {
    /// `{:#?}`: every field by name, for the UI's message trees (the plain form above is
    /// the paper-style one-liner of diagrams and step lists).
    fn fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvMsg::Read { msg_id, key } => f
                .debug_struct("Read")
                .field("msg_id", msg_id)
                .field("key", key)
                .finish(),
            KvMsg::ReadOk { in_reply_to, value } => f
                .debug_struct("ReadOk")
                .field("in_reply_to", in_reply_to)
                .field("value", value)
                .finish(),
            KvMsg::Write { msg_id, key, value } => f
                .debug_struct("Write")
                .field("msg_id", msg_id)
                .field("key", key)
                .field("value", value)
                .finish(),
            KvMsg::WriteOk { in_reply_to } => f
                .debug_struct("WriteOk")
                .field("in_reply_to", in_reply_to)
                .finish(),
            KvMsg::Cas {
                msg_id,
                key,
                from,
                to,
            } => f
                .debug_struct("Cas")
                .field("msg_id", msg_id)
                .field("key", key)
                .field("from", from)
                .field("to", to)
                .finish(),
            KvMsg::CasOk { in_reply_to } => f
                .debug_struct("CasOk")
                .field("in_reply_to", in_reply_to)
                .finish(),
            KvMsg::Add { msg_id, delta } => f
                .debug_struct("Add")
                .field("msg_id", msg_id)
                .field("delta", delta)
                .finish(),
            KvMsg::AddOk { in_reply_to } => f
                .debug_struct("AddOk")
                .field("in_reply_to", in_reply_to)
                .finish(),
            KvMsg::Error {
                in_reply_to,
                code,
                value,
                leader,
            } => f
                .debug_struct("Error")
                .field("in_reply_to", in_reply_to)
                .field("code", code)
                .field("value", value)
                .field("leader", leader)
                .finish(),
            KvMsg::Internal(i) => i.fmt(f),
        }
    }
}

impl<I> KvMsg<I> {
    /// The error reply to a request.
    pub fn error(in_reply_to: MsgId, code: ErrorCode) -> Self {
        KvMsg::Error {
            in_reply_to,
            code,
            value: None,
            leader: None,
        }
    }

    /// Error 11 from a server that is not the leader, naming the leader it knows of.
    pub fn not_leader(in_reply_to: MsgId, leader: Option<Id>) -> Self {
        KvMsg::Error {
            in_reply_to,
            code: ErrorCode::TemporarilyUnavailable,
            value: None,
            leader,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The KV state machine with client sessions, shared by every protocol that serves lin-kv.
// ---------------------------------------------------------------------------------------------

/// What applying a `write` or `cas` produced: the reply a session caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outcome {
    WriteOk,
    CasOk,
    /// Error 22 (cas `from` did not match) or 20 (cas on a key that does not exist).
    Failed(ErrorCode),
}

impl Outcome {
    /// The reply to request `in_reply_to`.
    pub fn reply<I>(self, in_reply_to: MsgId) -> KvMsg<I> {
        match self {
            Outcome::WriteOk => KvMsg::WriteOk { in_reply_to },
            Outcome::CasOk => KvMsg::CasOk { in_reply_to },
            Outcome::Failed(code) => KvMsg::error(in_reply_to, code),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::WriteOk => f.write_str("write_ok"),
            Outcome::CasOk => f.write_str("cas_ok"),
            Outcome::Failed(code) => write!(f, "error {}", code.code()),
        }
    }
}

/// One client's session: the last `write` or `cas` applied for it and the reply it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Session {
    pub client: Id,
    pub msg_id: MsgId,
    pub reply: Outcome,
}

/// The session table, least recently used first: the last entry's request was applied last.
/// At most one session per client. Small and inline because the checker clones it at every step;
/// lookups are linear in the bound, which the runtime keeps to a few thousand at most.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sessions(pub(crate) smallvec::SmallVec<[Session; 2]>);

/// How a request relates to its client's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not applied before: apply it.
    New,
    /// A retry of the request this session holds: resend the cached reply.
    Retry(Outcome),
    /// Older than the session's request: ignore it.
    Stale,
}

impl Sessions {
    /// The session of `client`, if it is in the table.
    pub fn get(&self, client: Id) -> Option<&Session> {
        self.0.iter().find(|s| s.client == client)
    }

    /// Sessions, least recently used first.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// For a replicated store's leader: whether request `msg_id` of `client` was already
    /// applied or superseded. A retry is answered with its cached reply (into `o`), a stale
    /// request is ignored; either way `true`, and the request must not be proposed again.
    pub fn settled<I, A>(
        &self,
        client: Id,
        msg_id: MsgId,
        o: &mut stateright::actor::Out<A>,
    ) -> bool
    where
        A: stateright::actor::Actor<Msg = KvMsg<I>>,
    {
        match self.seen(client, msg_id) {
            Seen::Retry(outcome) => {
                o.send(client, outcome.reply(msg_id));
                true
            }
            Seen::Stale => true,
            Seen::New => false,
        }
    }

    /// Classifies request `msg_id` of `client`.
    pub fn seen(&self, client: Id, msg_id: MsgId) -> Seen {
        match self.get(client) {
            Some(s) if msg_id == s.msg_id => Seen::Retry(s.reply),
            Some(s) if msg_id < s.msg_id => Seen::Stale,
            _ => Seen::New,
        }
    }

    /// Records that `session.msg_id` was applied for `session.client`: its session becomes the
    /// most recently used, and if a new session does not fit in `max_sessions`, the least
    /// recently used one is evicted (and returned).
    pub fn record(&mut self, session: Session, max_sessions: usize) -> Option<Session> {
        assert!(
            max_sessions >= 1,
            "the session table holds at least one session"
        );
        if let Some(at) = self.0.iter().position(|s| s.client == session.client) {
            debug_assert!(
                session.msg_id > self.0[at].msg_id,
                "only new requests are applied"
            );
            self.0.remove(at);
        }
        let evicted = (self.0.len() >= max_sessions).then(|| self.0.remove(0));
        self.0.push(session);
        debug_assert!(self.0.len() <= max_sessions);
        evicted
    }

    /// The sessions recorded since `prev`, in table order: replaying them with
    /// [`record`](Self::record) turns `prev` into `self`. `None` when nothing but the whole table
    /// says it (a session was evicted, went back, or the table came from elsewhere).
    pub fn recorded_since(&self, prev: &Sessions) -> Option<Vec<Session>> {
        let old: std::collections::HashMap<Id, MsgId> =
            prev.iter().map(|s| (s.client, s.msg_id)).collect();
        let recorded = self
            .iter()
            .filter(|s| old.get(&s.client) != Some(&s.msg_id))
            .count();
        let (kept, tail) = self.0.split_at(self.0.len() - recorded);
        let moved: std::collections::HashSet<Id> = tail.iter().map(|s| s.client).collect();
        let forward = tail
            .iter()
            .all(|s| old.get(&s.client).is_none_or(|m| *m < s.msg_id));
        let unmoved = prev.iter().filter(|s| !moved.contains(&s.client));
        (forward && unmoved.eq(kept.iter())).then(|| tail.to_vec())
    }

    /// Evicts least recently used sessions until at most `max_sessions` remain (a server
    /// restarted with a smaller bound).
    pub fn truncate_to(&mut self, max_sessions: usize) {
        let excess = self.0.len().saturating_sub(max_sessions);
        self.0.drain(..excess);
    }
}

impl fmt::Debug for Sessions {
    /// `[#1 of 3 -> write_ok, #2 of 4 -> error 22]`, least recently used first; `of 3` names the
    /// client's actor id.
    /// Alternate (`{:#?}`): a list of the sessions, each a struct.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f.debug_list().entries(self.0.iter()).finish();
        }
        write!(f, "[")?;
        for (i, s) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(
                f,
                "{sep}#{} of {} -> {}",
                s.msg_id,
                usize::from(s.client),
                s.reply
            )?;
        }
        write!(f, "]")
    }
}

/// On disk the table is its sessions in LRU order. Decoding keeps, per client, the last (most
/// recent) session, so any decoded table has at most one session per client.
impl Serialize for Sessions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for Sessions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let all: Vec<Session> = Vec::deserialize(deserializer)?;
        let mut table = smallvec::SmallVec::new();
        for (i, s) in all.iter().enumerate() {
            if all[i + 1..].iter().all(|later| later.client != s.client) {
                table.push(*s);
            }
        }
        Ok(Sessions(table))
    }
}

/// A state-changing request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Command {
    Write { key: Key, value: Value },
    Cas { key: Key, from: Value, to: Value },
}

impl Command {
    /// Applies the request to the store (lin-kv's semantics) and returns its outcome.
    pub fn apply(self, store: &mut im::OrdMap<Key, Value>) -> Outcome {
        match self {
            Command::Write { key, value } => {
                store.insert(key, value);
                Outcome::WriteOk
            }
            Command::Cas { key, from, to } => match store.get_mut(&key) {
                None => Outcome::Failed(ErrorCode::KeyDoesNotExist),
                Some(v) if *v == from => {
                    *v = to;
                    Outcome::CasOk
                }
                Some(_) => Outcome::Failed(ErrorCode::PreconditionFailed),
            },
        }
    }
}

/// The lin-kv state machine that a replicated log applies: the store and the client sessions,
/// both part of the replicated state, so every replica deduplicates a retried request the same
/// way and a retry that reaches a new leader still takes effect at most once (Ongaro, *Consensus:
/// Bridging Theory and Practice*, 2014, section 6.3). Persistent collections: a snapshot shares
/// the store with the state instead of copying it.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KvStore {
    pub data: im::OrdMap<Key, Value>,
    pub sessions: Sessions,
}

impl fmt::Debug for KvStore {
    /// `k0=1 sessions [#1 of 3 -> write_ok]`; alternate (`{:#?}`): a struct of its fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("KvStore")
                .field("data", &self.data)
                .field("sessions", &self.sessions)
                .finish();
        }
        if self.data.is_empty() {
            write!(f, "(empty)")?;
        }
        for (i, (k, v)) in self.data.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}k{k}={v}")?;
        }
        if !self.sessions.is_empty() {
            write!(f, " sessions {:?}", self.sessions)?;
        }
        Ok(())
    }
}

impl KvStore {
    /// Executes request `msg_id` of `client` at most once: a new request is applied and its
    /// outcome recorded in the client's session (evicting the least recently used session beyond
    /// `max_sessions`); a retry of the session's request gets the recorded outcome again; an
    /// older request gets `None` (its client has moved past it: nobody waits for a reply).
    pub fn execute(
        &mut self,
        client: Id,
        msg_id: MsgId,
        cmd: Command,
        max_sessions: usize,
    ) -> Option<Outcome> {
        match self.sessions.seen(client, msg_id) {
            Seen::Retry(outcome) => Some(outcome),
            Seen::Stale => None,
            Seen::New => {
                let outcome = cmd.apply(&mut self.data);
                let session = Session {
                    client,
                    msg_id,
                    reply: outcome,
                };
                self.sessions.record(session, max_sessions);
                Some(outcome)
            }
        }
    }

    /// The reply to `read(key)`: the value, or error 20.
    pub fn read<I>(&self, msg_id: MsgId, key: Key) -> KvMsg<I> {
        match self.data.get(&key) {
            Some(&value) => KvMsg::ReadOk {
                in_reply_to: msg_id,
                value,
            },
            None => KvMsg::error(msg_id, ErrorCode::KeyDoesNotExist),
        }
    }
}

impl Permute for KvStore {
    /// Renames clients in the sessions (keeping their order) and values in the store.
    fn permute(&self, p: &ClientPerm) -> Self {
        KvStore {
            data: self.data.iter().map(|(k, v)| (*k, p.value(*v))).collect(),
            sessions: Sessions(
                self.sessions
                    .iter()
                    .map(|s| Session {
                        client: p.id(s.client),
                        ..*s
                    })
                    .collect(),
            ),
        }
    }
}

/// A shared store (a server's saved state, a snapshot) permutes into a new shared one.
impl Permute for Arc<KvStore> {
    fn permute(&self, p: &ClientPerm) -> Self {
        Arc::new((**self).permute(p))
    }
}

impl Permute for Command {
    fn permute(&self, p: &ClientPerm) -> Self {
        match *self {
            Command::Write { key, value } => Command::Write {
                key,
                value: p.value(value),
            },
            Command::Cas { key, from, to } => Command::Cas {
                key,
                from: p.value(from),
                to: p.value(to),
            },
        }
    }
}

/// A client operation as the linearizability checker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KvOp {
    Read(Key),
    Write(Key, Value),
    Cas(Key, Value, Value),
}

impl KvOp {
    pub fn key(self) -> Key {
        match self {
            KvOp::Read(k) | KvOp::Write(k, _) | KvOp::Cas(k, _, _) => k,
        }
    }
}

/// A completed client operation's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KvRet {
    /// A read's value; `None` for a key that does not exist (error 20).
    ReadOk(Option<Value>),
    WriteOk,
    /// Error 22 on a write: a write-once key holds another value.
    WriteFail,
    CasOk,
    /// Error 22 on a cas: `from` did not match.
    CasFail,
    /// Error 20 on a cas: the key does not exist.
    CasNotFound,
}

/// A lin-kv key as a sequential object: a register that may be absent, with read, write and
/// compare-and-set, as Maelstrom's `lin-kv` workload defines them. stateright's `Register` has no
/// cas and no absent value, so this is the specification [`History::linearizable_cas`] checks
/// against. Operations on other keys are not this register's business; the replay hands it one
/// key's operations only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CasRegister(pub Option<Value>);

impl SequentialSpec for CasRegister {
    type Op = KvOp;
    type Ret = KvRet;

    fn invoke(&mut self, op: &KvOp) -> KvRet {
        match *op {
            KvOp::Read(_) => KvRet::ReadOk(self.0),
            KvOp::Write(_, v) => {
                self.0 = Some(v);
                KvRet::WriteOk
            }
            KvOp::Cas(_, from, to) => match self.0 {
                None => KvRet::CasNotFound,
                Some(v) if v == from => {
                    self.0 = Some(to);
                    KvRet::CasOk
                }
                Some(_) => KvRet::CasFail,
            },
        }
    }
}

/// One client's script step, the request it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    /// Write this client's own value (`index + 1`) to key 0.
    WriteOwn,
    /// Read key 0.
    Read,
    /// Compare-and-set key 0 from this client's own value to its cas value (`10 * (index + 1)`):
    /// succeeds if the client's own write is the latest, fails (error 22) if another client
    /// wrote since, or (error 20) if nothing was written yet.
    CasOwn,
}

/// The checker's client: runs `script` one request at a time against the servers.
#[derive(Clone, Debug)]
pub struct KvClient {
    /// This client's index among the clients (0-based).
    pub index: usize,
    /// The servers' ids.
    pub servers: Vec<Id>,
    pub script: Vec<Step>,
    /// Whether request `k` goes to server `first + k` (round robin) rather than always `first`.
    pub rotate: bool,
    /// The server it starts at (`first`); `None`: server `index % servers` (clients spread).
    pub start: Option<u8>,
}

/// The client's state: the server it starts with, how many script steps have completed, and the
/// outstanding request's id. The target server lives in the state, not in the actor, so that
/// permuting clients permutes whom they talk to (clients must be interchangeable for symmetry).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientState {
    pub first: u8,
    pub completed: u8,
    pub awaiting: Option<MsgId>,
    /// How many leader hints (error 11 naming a leader) the outstanding request has followed.
    pub hops: u8,
}

impl fmt::Debug for ClientState {
    /// `starts at server 0, 1 done, awaiting #2`; alternate (`{:#?}`): a struct of its fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("ClientState")
                .field("first", &self.first)
                .field("completed", &self.completed)
                .field("awaiting", &self.awaiting)
                .field("hops", &self.hops)
                .finish();
        }
        write!(
            f,
            "starts at server {}, {} done",
            self.first, self.completed
        )?;
        match self.awaiting {
            Some(id) if self.hops > 0 => write!(f, ", awaiting #{id} (redirected {})", self.hops),
            Some(id) => write!(f, ", awaiting #{id}"),
            None => write!(f, ", finished"),
        }
    }
}

impl KvClient {
    /// The value client `index` writes: distinct per client, never 0.
    pub fn own_value(index: usize) -> Value {
        index as Value + 1
    }

    /// The value client `index` sets with [`Step::CasOwn`]: `10 * (index + 1)`, distinct per
    /// client and from every client's own value (there are at most [`MAX_CLIENTS`] clients).
    pub fn cas_value(index: usize) -> Value {
        10 * Self::own_value(index)
    }

    /// How many leader hints a request follows before the client gives it up (hints can chase
    /// an election; the network client has the same kind of bound).
    pub const MAX_HOPS: u8 = 2;

    fn request<I>(
        &self,
        first: u8,
        step: usize,
        o: &mut Out<impl Actor<Msg = KvMsg<I>>>,
    ) -> Option<MsgId> {
        let hop = if self.rotate { step } else { 0 };
        let dst = self.servers[(first as usize + hop) % self.servers.len()];
        self.request_to(dst, step, o)
    }

    /// Sends script step `step` to `dst`; its `msg_id` is `step + 1`, so a re-sent request keeps
    /// its id (a server's session recognises it).
    fn request_to<I>(
        &self,
        dst: Id,
        step: usize,
        o: &mut Out<impl Actor<Msg = KvMsg<I>>>,
    ) -> Option<MsgId> {
        let kind = *self.script.get(step)?;
        let msg_id = step as MsgId + 1;
        let msg = match kind {
            Step::WriteOwn => KvMsg::Write {
                msg_id,
                key: 0,
                value: Self::own_value(self.index),
            },
            Step::Read => KvMsg::Read { msg_id, key: 0 },
            Step::CasOwn => KvMsg::Cas {
                msg_id,
                key: 0,
                from: Self::own_value(self.index),
                to: Self::cas_value(self.index),
            },
        };
        o.send(dst, msg);
        Some(msg_id)
    }
}

/// A server or a client of a replicated KV protocol: the checker's actor type.
#[derive(Clone, Debug)]
pub enum KvActor<S> {
    Server(S),
    Client(KvClient),
}

/// The state of a [`KvActor`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KvState<S> {
    Server(S),
    Client(ClientState),
}

impl<S: fmt::Debug> fmt::Debug for KvState<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvState::Server(s) => s.fmt(f),
            KvState::Client(c) => c.fmt(f),
        }
    }
}

impl<S> KvState<S> {
    /// The server state, if this is a server.
    pub fn server(&self) -> Option<&S> {
        match self {
            KvState::Server(s) => Some(s),
            KvState::Client(_) => None,
        }
    }
}

impl<S, I> Actor for KvActor<S>
where
    S: Actor<Msg = KvMsg<I>>,
    I: Clone + fmt::Debug + Eq + std::hash::Hash,
{
    type Msg = KvMsg<I>;
    type State = KvState<S::State>;
    type Timer = S::Timer;
    type Random = S::Random;
    type Storage = S::Storage;

    fn name(&self) -> String {
        match self {
            KvActor::Server(s) => s.name(),
            KvActor::Client(c) => format!("client {}", c.index),
        }
    }

    fn on_start(&self, id: Id, storage: &Option<Self::Storage>, o: &mut Out<Self>) -> Self::State {
        match self {
            KvActor::Server(s) => {
                let mut so = Out::new();
                let state = s.on_start(id, storage, &mut so);
                o.append(&mut so);
                KvState::Server(state)
            }
            KvActor::Client(c) => {
                let first = c.start.unwrap_or((c.index % c.servers.len()) as u8);
                let awaiting = c.request(first, 0, o);
                KvState::Client(ClientState {
                    first,
                    completed: 0,
                    awaiting,
                    hops: 0,
                })
            }
        }
    }

    fn on_msg(
        &self,
        id: Id,
        state: &mut Cow<Self::State>,
        src: Id,
        msg: Self::Msg,
        o: &mut Out<Self>,
    ) {
        match (self, &**state) {
            (KvActor::Server(s), KvState::Server(ss)) => {
                let mut server_state = Cow::Borrowed(ss);
                let mut so = Out::new();
                s.on_msg(id, &mut server_state, src, msg, &mut so);
                o.append(&mut so);
                if let Cow::Owned(next) = server_state {
                    *state = Cow::Owned(KvState::Server(next));
                }
            }
            (KvActor::Client(c), KvState::Client(cs)) => {
                let in_reply_to = match msg {
                    KvMsg::ReadOk { in_reply_to, .. }
                    | KvMsg::WriteOk { in_reply_to }
                    | KvMsg::CasOk { in_reply_to }
                    | KvMsg::Error { in_reply_to, .. } => in_reply_to,
                    _ => return,
                };
                if cs.awaiting != Some(in_reply_to) {
                    return; // a duplicate or stale reply
                }
                if let KvMsg::Error {
                    code: ErrorCode::TemporarilyUnavailable,
                    leader: Some(leader),
                    ..
                } = msg
                {
                    // Not the leader, and it names one: send the same request there.
                    if cs.hops < KvClient::MAX_HOPS && c.servers.contains(&leader) {
                        c.request_to(leader, cs.completed as usize, o);
                        *state = Cow::Owned(KvState::Client(ClientState {
                            hops: cs.hops + 1,
                            ..cs.clone()
                        }));
                        return;
                    }
                }
                let completed = cs.completed + 1;
                let awaiting = c.request(cs.first, completed as usize, o);
                *state = Cow::Owned(KvState::Client(ClientState {
                    first: cs.first,
                    completed,
                    awaiting,
                    hops: 0,
                }));
            }
            _ => unreachable!("actor and state kinds always match"),
        }
    }

    fn on_timeout(
        &self,
        id: Id,
        state: &mut Cow<Self::State>,
        timer: &Self::Timer,
        o: &mut Out<Self>,
    ) {
        if let (KvActor::Server(s), KvState::Server(ss)) = (self, &**state) {
            let mut server_state = Cow::Borrowed(ss);
            let mut so = Out::new();
            s.on_timeout(id, &mut server_state, timer, &mut so);
            o.append(&mut so);
            if let Cow::Owned(next) = server_state {
                *state = Cow::Owned(KvState::Server(next));
            }
        }
    }
}

/// What a KV model's configuration tells the shared client machinery.
pub trait KvConfig {
    /// Servers occupy actor ids `0..server_count`; clients follow.
    fn server_count(&self) -> usize;
    fn client_count(&self) -> usize;
}

/// For each other client, how many operations it had completed when an operation was invoked.
pub type Precedence = [u8; MAX_CLIENTS];

/// A completed operation in the [`History`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Completed {
    pub after: Precedence,
    pub op: KvOp,
    pub ret: KvRet,
}

/// An invoked operation that has not returned (it may or may not take effect).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pending {
    pub msg_id: MsgId,
    pub after: Precedence,
    pub op: KvOp,
}

/// One client's operations.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientOps {
    pub done: smallvec::SmallVec<[Completed; 2]>,
    pub pending: Option<Pending>,
}

/// What clients saw, plus the decisions servers announced (an auxiliary variable for agreement).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HistoryData {
    pub clients: Vec<ClientOps>,
    /// `(key, value)` pairs some server announced as decided, sorted and without duplicates.
    pub announced: Vec<(Key, Value)>,
}

/// The recorded [`HistoryData`], shared: every state the checker clones carries a history, but
/// only a client request, a reply or an announcement changes it, so clones are reference counts.
/// Its hash is computed once, when it is made, so fingerprinting a state hashes one word for it.
#[derive(Clone, Eq, PartialOrd, Ord)]
pub struct History(Arc<Digested>);

impl fmt::Debug for History {
    /// One line per client, `write k0=1 -> WriteOk; read k0 ... (pending)`, then the
    /// announced decisions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (c, ops) in self.clients.iter().enumerate() {
            let mut line = format!("client {c}:");
            for d in &ops.done {
                line.push_str(&format!(" {:?} -> {:?};", d.op, d.ret));
            }
            if let Some(p) = &ops.pending {
                line.push_str(&format!(" {:?} (pending)", p.op));
            }
            list.entry(&format_args!("{line}"));
        }
        if !self.announced.is_empty() {
            list.entry(&format_args!("announced decisions: {:?}", self.announced));
        }
        list.finish()
    }
}

impl PartialEq for History {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

#[derive(Debug)]
struct Digested {
    digest: u64,
    data: HistoryData,
    /// The linearizability verdicts (write-once, cas register), each computed at most once per
    /// shared history.
    linearizable: std::sync::OnceLock<bool>,
    linearizable_cas: std::sync::OnceLock<bool>,
}

impl PartialEq for Digested {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest && self.data == other.data
    }
}

impl Eq for Digested {}

impl PartialOrd for Digested {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Digested {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.digest, &self.data).cmp(&(other.digest, &other.data))
    }
}

/// On disk (the checker's frontier, `--engine synod`): the data with its digest and the
/// verdicts computed so far, so a state read back is not checked again from scratch.
impl Serialize for History {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let d = &*self.0;
        let full = (
            d.digest,
            &d.data,
            d.linearizable.get(),
            d.linearizable_cas.get(),
        );
        crate::batch::serialize(Arc::as_ptr(&self.0) as usize, self, full, serializer)
    }
}

impl<'de> Deserialize<'de> for History {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let verdict = |v: Option<bool>| {
            let cell = std::sync::OnceLock::new();
            if let Some(v) = v {
                let _ = cell.set(v);
            }
            cell
        };
        crate::batch::deserialize(
            deserializer,
            |(digest, data, lin, cas): (u64, HistoryData, Option<bool>, Option<bool>)| {
                History(Arc::new(Digested {
                    digest,
                    data,
                    linearizable: verdict(lin),
                    linearizable_cas: verdict(cas),
                }))
            },
        )
    }
}

impl std::hash::Hash for History {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.0.digest);
    }
}

impl Default for History {
    fn default() -> Self {
        History::from_data(HistoryData::default())
    }
}

impl std::ops::Deref for History {
    type Target = HistoryData;
    fn deref(&self) -> &HistoryData {
        &self.0.data
    }
}

impl History {
    pub fn new(client_count: usize) -> Self {
        assert!(client_count <= MAX_CLIENTS, "at most {MAX_CLIENTS} clients");
        History::from_data(HistoryData {
            clients: vec![ClientOps::default(); client_count],
            announced: Vec::new(),
        })
    }

    fn from_data(data: HistoryData) -> Self {
        let digest = crate::system::digest(&data);
        History(Arc::new(Digested {
            digest,
            data,
            linearizable: std::sync::OnceLock::new(),
            linearizable_cas: std::sync::OnceLock::new(),
        }))
    }

    fn edit(&self, f: impl FnOnce(&mut HistoryData)) -> Self {
        let mut data = self.0.data.clone();
        f(&mut data);
        History::from_data(data)
    }

    /// Notes that a server announced `value` decided for `key`.
    pub fn announce(&self, key: Key, value: Value) -> Option<Self> {
        match self.announced.binary_search(&(key, value)) {
            Ok(_) => None,
            Err(at) => Some(self.edit(|h| h.announced.insert(at, (key, value)))),
        }
    }

    /// Records a client's request (`record_msg_out`).
    pub fn on_invoke(&self, client: usize, msg_id: MsgId, op: KvOp) -> Option<Self> {
        let mut after = [0u8; MAX_CLIENTS];
        for (p, ops) in self.clients.iter().enumerate() {
            if p != client {
                after[p] = ops.done.len() as u8;
            }
        }
        Some(self.edit(|h| {
            let ops = &mut h.clients[client];
            debug_assert!(ops.pending.is_none(), "one request outstanding per client");
            ops.pending = Some(Pending { msg_id, after, op });
        }))
    }

    /// Records a reply delivered to a client (`record_msg_in`); duplicates and stale replies are
    /// ignored. Error 11 is definite (not applied), so the operation is forgotten; any other
    /// unexpected reply leaves the operation pending (indeterminate).
    pub fn on_return<I>(&self, client: usize, msg: &KvMsg<I>) -> Option<Self> {
        let pending = self.clients.get(client)?.pending.as_ref()?;
        let (in_reply_to, ret) = match (msg_reply(msg)?, pending.op) {
            (Reply::ReadOk(id, v), KvOp::Read(_)) => (id, Some(KvRet::ReadOk(Some(v)))),
            (Reply::Error(id, ErrorCode::KeyDoesNotExist), KvOp::Read(_)) => {
                (id, Some(KvRet::ReadOk(None)))
            }
            (Reply::WriteOk(id), KvOp::Write(..)) => (id, Some(KvRet::WriteOk)),
            (Reply::Error(id, ErrorCode::PreconditionFailed), KvOp::Write(..)) => {
                (id, Some(KvRet::WriteFail))
            }
            (Reply::CasOk(id), KvOp::Cas(..)) => (id, Some(KvRet::CasOk)),
            (Reply::Error(id, ErrorCode::PreconditionFailed), KvOp::Cas(..)) => {
                (id, Some(KvRet::CasFail))
            }
            (Reply::Error(id, ErrorCode::KeyDoesNotExist), KvOp::Cas(..)) => {
                (id, Some(KvRet::CasNotFound))
            }
            (Reply::Error(id, ErrorCode::TemporarilyUnavailable), _) => (id, None),
            (reply, _) => (reply.in_reply_to(), None),
        };
        if in_reply_to != pending.msg_id {
            return None;
        }
        let definite_failure = matches!(
            msg,
            KvMsg::Error {
                code: ErrorCode::TemporarilyUnavailable,
                ..
            }
        );
        if ret.is_none() && !definite_failure {
            return None; // an unexpected reply: the outcome stays unknown
        }
        Some(self.edit(|h| {
            let ops = &mut h.clients[client];
            let pending = ops.pending.take().expect("checked above");
            if let Some(ret) = ret {
                ops.done.push(Completed {
                    after: pending.after,
                    op: pending.op,
                    ret,
                });
            }
        }))
    }

    /// Whether the history is linearizable against one write-once register per key, checked by
    /// replaying it into stateright's `LinearizabilityTester`. Results are memoised per history
    /// (many states share one), in a bounded thread-local table.
    pub fn linearizable_wo(&self) -> bool {
        *self
            .0
            .linearizable
            .get_or_init(|| self.linearizable_memo(Semantics::WriteOnce))
    }

    /// Whether some client's completed operation returned what `seen` looks for (the
    /// `sometimes` properties of the kv protocols: a read saw a value, a cas succeeded).
    pub fn some_return(&self, seen: impl Fn(KvRet) -> bool) -> bool {
        self.clients
            .iter()
            .any(|c| c.done.iter().any(|d| seen(d.ret)))
    }

    /// Whether the history is linearizable against one [`CasRegister`] per key (lin-kv's read,
    /// write and cas), memoised like [`History::linearizable_wo`].
    pub fn linearizable_cas(&self) -> bool {
        *self
            .0
            .linearizable_cas
            .get_or_init(|| self.linearizable_memo(Semantics::Cas))
    }

    /// Histories equal in content but built apart (different allocations) share a verdict
    /// through a bounded memo keyed by content, shared by the checker's threads (a search hands
    /// a state's successors to whichever thread is free, so a per-thread memo would compute most
    /// verdicts once per thread).
    fn linearizable_memo(&self, semantics: Semantics) -> bool {
        type Memo = Mutex<HashMap<(History, Semantics), bool, BuildDigest>>;
        const SHARDS: usize = 64;
        const SHARD_LIMIT: usize = 1 << 10;
        static MEMO: std::sync::LazyLock<Vec<Memo>> = std::sync::LazyLock::new(|| {
            (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_hasher(BuildDigest)))
                .collect()
        });
        let shard = &MEMO[(self.0.digest >> 20) as usize % SHARDS];
        let key = (self.clone(), semantics);
        let lock = || shard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = lock().get(&key).copied() {
            return hit;
        }
        let verdict = match semantics {
            Semantics::WriteOnce => self.replay(|| WORegister(None), wo_op, wo_ret),
            Semantics::Cas => self.replay(CasRegister::default, Some, Some),
        };
        let mut m = lock();
        if m.len() >= SHARD_LIMIT {
            m.clear();
        }
        m.insert(key, verdict);
        verdict
    }

    /// Replays the history, key by key, into a `LinearizabilityTester` of the sequential object
    /// `init` makes; `op` and `ret` translate operations and outcomes, `None` for one the object
    /// cannot express (which makes the history not linearizable).
    fn replay<S>(
        &self,
        init: impl Fn() -> S,
        op: impl Fn(KvOp) -> Option<S::Op>,
        ret: impl Fn(KvRet) -> Option<S::Ret>,
    ) -> bool
    where
        S: SequentialSpec + Clone,
        S::Op: Clone + fmt::Debug,
        S::Ret: Clone + fmt::Debug + PartialEq,
    {
        let mut keys: Vec<Key> = self
            .clients
            .iter()
            .flat_map(|c| {
                c.done
                    .iter()
                    .map(|d| d.op.key())
                    .chain(c.pending.iter().map(|p| p.op.key()))
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let events = self.event_order();
        keys.into_iter().all(|key| {
            let mut tester: LinearizabilityTester<Id, S> = LinearizabilityTester::new(init());
            for event in &events {
                let (client, index, is_return) = *event;
                let ops = &self.clients[client];
                let (kv_op, kv_ret) = match ops.done.get(index) {
                    Some(d) => (d.op, Some(d.ret)),
                    None => (
                        ops.pending.as_ref().expect("event of a pending op").op,
                        None,
                    ),
                };
                if kv_op.key() != key {
                    continue;
                }
                let thread = Id::from(client);
                let ok = if is_return {
                    match kv_ret.and_then(&ret) {
                        Some(r) => tester.on_return(thread, r).is_ok(),
                        None => false,
                    }
                } else {
                    match op(kv_op) {
                        Some(o) => tester.on_invoke(thread, o).is_ok(),
                        None => false,
                    }
                };
                if !ok {
                    return false; // an operation the sequential object cannot express
                }
            }
            tester.is_consistent()
        })
    }

    /// A total order of invocation and return events consistent with the recorded precedence
    /// (Kahn's algorithm over the interval order). Each event is (client, op index, is_return).
    fn event_order(&self) -> Vec<(usize, usize, bool)> {
        let mut nodes: Vec<(usize, usize, bool)> = Vec::new();
        for (c, ops) in self.clients.iter().enumerate() {
            for i in 0..ops.done.len() {
                nodes.push((c, i, false));
                nodes.push((c, i, true));
            }
            if ops.pending.is_some() {
                nodes.push((c, ops.done.len(), false));
            }
        }
        let after_of = |c: usize, i: usize| -> &Precedence {
            let ops = &self.clients[c];
            match ops.done.get(i) {
                Some(d) => &d.after,
                None => &ops.pending.as_ref().expect("pending op").after,
            }
        };
        // `before(a, b)`: event a must come before event b.
        let before = |a: (usize, usize, bool), b: (usize, usize, bool)| -> bool {
            if a.0 == b.0 {
                return (a.1, a.2) < (b.1, b.2);
            }
            match (a.2, b.2) {
                // ret(A) before inv(B) iff B was invoked after A completed.
                (true, false) => (after_of(b.0, b.1)[a.0] as usize) > a.1,
                // inv(A) before ret(B) iff B had not completed when A was invoked.
                (false, true) => (after_of(a.0, a.1)[b.0] as usize) <= b.1,
                _ => false,
            }
        };
        let mut order = Vec::with_capacity(nodes.len());
        let mut placed = vec![false; nodes.len()];
        while order.len() < nodes.len() {
            let next = (0..nodes.len()).find(|&j| {
                !placed[j]
                    && (0..nodes.len()).all(|k| placed[k] || k == j || !before(nodes[k], nodes[j]))
            });
            let j = next.expect("a recorded history's precedence is acyclic");
            placed[j] = true;
            order.push(nodes[j]);
        }
        order
    }
}

/// Hashes a [`History`] by its precomputed digest (the only thing its `Hash` writes).
#[derive(Clone, Copy, Default)]
struct BuildDigest;

impl std::hash::BuildHasher for BuildDigest {
    type Hasher = DigestHasher;
    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// The sequential object a history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Semantics {
    WriteOnce,
    Cas,
}

fn wo_op(op: KvOp) -> Option<WORegisterOp<Value>> {
    match op {
        KvOp::Read(_) => Some(WORegisterOp::Read),
        KvOp::Write(_, v) => Some(WORegisterOp::Write(v)),
        KvOp::Cas(..) => None,
    }
}

fn wo_ret(ret: KvRet) -> Option<WORegisterRet<Value>> {
    match ret {
        KvRet::ReadOk(v) => Some(WORegisterRet::ReadOk(v)),
        KvRet::WriteOk => Some(WORegisterRet::WriteOk),
        KvRet::WriteFail => Some(WORegisterRet::WriteFail),
        KvRet::CasOk | KvRet::CasFail | KvRet::CasNotFound => None,
    }
}

#[derive(Clone, Copy)]
enum Reply {
    ReadOk(MsgId, Value),
    WriteOk(MsgId),
    CasOk(MsgId),
    Error(MsgId, ErrorCode),
}

impl Reply {
    fn in_reply_to(self) -> MsgId {
        match self {
            Reply::ReadOk(id, _) | Reply::WriteOk(id) | Reply::CasOk(id) | Reply::Error(id, _) => {
                id
            }
        }
    }
}

fn msg_reply<I>(msg: &KvMsg<I>) -> Option<Reply> {
    Some(match *msg {
        KvMsg::ReadOk { in_reply_to, value } => Reply::ReadOk(in_reply_to, value),
        KvMsg::WriteOk { in_reply_to } => Reply::WriteOk(in_reply_to),
        KvMsg::CasOk { in_reply_to } => Reply::CasOk(in_reply_to),
        KvMsg::Error {
            in_reply_to, code, ..
        } => Reply::Error(in_reply_to, code),
        _ => return None,
    })
}

/// The operation a client request stands for.
pub fn request_op<I>(msg: &KvMsg<I>) -> Option<(MsgId, KvOp)> {
    match *msg {
        KvMsg::Read { msg_id, key } => Some((msg_id, KvOp::Read(key))),
        KvMsg::Write { msg_id, key, value } => Some((msg_id, KvOp::Write(key, value))),
        KvMsg::Cas {
            msg_id,
            key,
            from,
            to,
        } => Some((msg_id, KvOp::Cas(key, from, to))),
        _ => None,
    }
}

/// `record_msg_out` for KV models: a client's request is an invocation.
pub fn record_invocations<C: KvConfig, I>(
    cfg: &C,
    history: &History,
    env: stateright::actor::Envelope<&KvMsg<I>>,
) -> Option<History> {
    let client = usize::from(env.src).checked_sub(cfg.server_count())?;
    let (msg_id, op) = request_op(env.msg)?;
    history.on_invoke(client, msg_id, op)
}

/// `record_msg_in` for KV models: a reply delivered to a client is a return.
pub fn record_returns<C: KvConfig, I>(
    cfg: &C,
    history: &History,
    env: stateright::actor::Envelope<&KvMsg<I>>,
) -> Option<History> {
    let client = usize::from(env.dst).checked_sub(cfg.server_count())?;
    history.on_return(client, env.msg)
}

/// A permutation of clients: client `i` becomes client `map[i]`, which renames its actor id and
/// the value it writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientPerm {
    pub servers: usize,
    pub map: Vec<usize>,
}

impl ClientPerm {
    pub fn id(&self, id: Id) -> Id {
        let raw = usize::from(id);
        match raw.checked_sub(self.servers) {
            Some(c) if c < self.map.len() => Id::from(self.servers + self.map[c]),
            _ => id,
        }
    }

    /// Renames a client's own value (`c + 1`) or cas value (`10 * (c + 1)`); other values stay.
    pub fn value(&self, v: Value) -> Value {
        match (v as usize).checked_sub(1) {
            Some(c) if c < self.map.len() => self.map[c] as Value + 1,
            _ => match (0..self.map.len()).find(|&c| KvClient::cas_value(c) == v) {
                Some(c) => KvClient::cas_value(self.map[c]),
                None => v,
            },
        }
    }
}

/// A permutation of servers: server `i` becomes server `map[i]`, which renames its actor id
/// wherever it appears (votes, leader hints, message addresses, a client's first server).
/// Clients keep their ids.
#[derive(Clone, Debug)]
pub struct ServerPerm {
    pub map: Vec<usize>,
}

impl ServerPerm {
    pub fn index(&self, i: usize) -> usize {
        self.map[i]
    }

    pub fn id(&self, id: Id) -> Id {
        match self.map.get(usize::from(id)) {
            Some(&new) => Id::from(new),
            None => id,
        }
    }

    /// Renames a set of server indices held as bits.
    pub fn bits(&self, set: u64) -> u64 {
        (0..self.map.len())
            .filter(|i| set & (1 << i) != 0)
            .fold(0, |acc, i| acc | (1 << self.map[i]))
    }
}

/// Applies a server permutation.
pub trait PermuteServers {
    fn permute_servers(&self, p: &ServerPerm) -> Self;
}

impl PermuteServers for ClientState {
    fn permute_servers(&self, p: &ServerPerm) -> Self {
        ClientState {
            first: p.index(self.first as usize) as u8,
            ..self.clone()
        }
    }
}

impl<I: PermuteServers + Clone> PermuteServers for KvMsg<I> {
    fn permute_servers(&self, p: &ServerPerm) -> Self {
        match self {
            KvMsg::Error {
                in_reply_to,
                code,
                value,
                leader,
            } => KvMsg::Error {
                in_reply_to: *in_reply_to,
                code: *code,
                value: *value,
                leader: leader.map(|l| p.id(l)),
            },
            KvMsg::Internal(i) => KvMsg::Internal(i.permute_servers(p)),
            other => other.clone(),
        }
    }
}

/// Applies a client permutation.
pub trait Permute {
    fn permute(&self, p: &ClientPerm) -> Self;
}

impl Permute for ClientState {
    fn permute(&self, _: &ClientPerm) -> Self {
        self.clone()
    }
}

impl<S: Permute> Permute for KvState<S> {
    fn permute(&self, p: &ClientPerm) -> Self {
        match self {
            KvState::Server(s) => KvState::Server(s.permute(p)),
            KvState::Client(c) => KvState::Client(c.permute(p)),
        }
    }
}

impl Permute for KvOp {
    fn permute(&self, p: &ClientPerm) -> Self {
        match *self {
            KvOp::Read(k) => KvOp::Read(k),
            KvOp::Write(k, v) => KvOp::Write(k, p.value(v)),
            KvOp::Cas(k, a, b) => KvOp::Cas(k, p.value(a), p.value(b)),
        }
    }
}

impl Permute for KvRet {
    fn permute(&self, p: &ClientPerm) -> Self {
        match *self {
            KvRet::ReadOk(v) => KvRet::ReadOk(v.map(|v| p.value(v))),
            other => other,
        }
    }
}

fn permute_after(after: &Precedence, p: &ClientPerm) -> Precedence {
    let mut out = [0u8; MAX_CLIENTS];
    for (c, &n) in after.iter().enumerate().take(p.map.len()) {
        out[p.map[c]] = n;
    }
    out
}

impl Permute for History {
    fn permute(&self, p: &ClientPerm) -> Self {
        let mut clients = vec![ClientOps::default(); self.clients.len()];
        for (c, ops) in self.clients.iter().enumerate() {
            clients[p.map[c]] = ClientOps {
                done: ops
                    .done
                    .iter()
                    .map(|d| Completed {
                        after: permute_after(&d.after, p),
                        op: d.op.permute(p),
                        ret: d.ret.permute(p),
                    })
                    .collect(),
                pending: ops.pending.as_ref().map(|q| Pending {
                    msg_id: q.msg_id,
                    after: permute_after(&q.after, p),
                    op: q.op.permute(p),
                }),
            };
        }
        let mut announced: Vec<(Key, Value)> = self
            .announced
            .iter()
            .map(|&(k, v)| (k, p.value(v)))
            .collect();
        announced.sort_unstable();
        History::from_data(HistoryData { clients, announced })
    }
}

impl<I: Permute> Permute for KvMsg<I> {
    fn permute(&self, p: &ClientPerm) -> Self {
        match *self {
            KvMsg::Read { msg_id, key } => KvMsg::Read { msg_id, key },
            KvMsg::ReadOk { in_reply_to, value } => KvMsg::ReadOk {
                in_reply_to,
                value: p.value(value),
            },
            KvMsg::Write { msg_id, key, value } => KvMsg::Write {
                msg_id,
                key,
                value: p.value(value),
            },
            KvMsg::WriteOk { in_reply_to } => KvMsg::WriteOk { in_reply_to },
            KvMsg::Cas {
                msg_id,
                key,
                from,
                to,
            } => KvMsg::Cas {
                msg_id,
                key,
                from: p.value(from),
                to: p.value(to),
            },
            KvMsg::CasOk { in_reply_to } => KvMsg::CasOk { in_reply_to },
            // A counter's deltas are amounts, not client values.
            KvMsg::Add { msg_id, delta } => KvMsg::Add { msg_id, delta },
            KvMsg::AddOk { in_reply_to } => KvMsg::AddOk { in_reply_to },
            KvMsg::Error {
                in_reply_to,
                code,
                value,
                leader,
            } => KvMsg::Error {
                in_reply_to,
                code,
                value: value.map(|v| p.value(v)),
                leader,
            },
            KvMsg::Internal(ref i) => KvMsg::Internal(i.permute(p)),
        }
    }
}

/// A map from keys to per-key state, in key order. Small maps (what the checker sees, almost
/// always a single key) are a sorted vector stored inline: cloning one at every step costs no
/// allocation. Past [`KeyMap::SMALL`] keys (what a server on the network holds after a benchmark)
/// it becomes a persistent B-tree (`im::OrdMap`): lookups and inserts are O(log n) and a clone
/// shares the tree, so a step never costs time proportional to the number of keys. Equality,
/// order and hashing are by content, whatever the representation.
#[derive(Clone)]
pub struct KeyMap<V: Clone>(Repr<V>);

#[derive(Clone)]
enum Repr<V: Clone> {
    Small(smallvec::SmallVec<[(Key, V); 1]>),
    Large(im::OrdMap<Key, V>, Journal),
}

/// The keys a large map's recent mutations touched, so that the runtime can write the difference
/// between two versions of a map in time proportional to the change, not to the map
/// ([`KeyMap::changed_since`]). Versions cloned from one another share the journal's `base`; it
/// restarts (a new `base`) every [`Journal::MAX`] keys. Not part of the map's value: equality,
/// order and hashing ignore it.
#[derive(Clone)]
struct Journal(Arc<JournalData>);

#[derive(Clone)]
struct JournalData {
    base: Arc<()>,
    keys: Vec<Key>,
}

impl Journal {
    const MAX: usize = 256;

    fn new() -> Self {
        Journal(Arc::new(JournalData {
            base: Arc::new(()),
            keys: Vec::new(),
        }))
    }

    fn note(&mut self, key: Key) {
        if self.0.keys.len() >= Self::MAX {
            *self = Journal::new();
        }
        Arc::make_mut(&mut self.0).keys.push(key);
    }
}

impl<V: Clone> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap(Repr::Small(smallvec::SmallVec::new()))
    }
}

impl<V: Clone + PartialEq> PartialEq for KeyMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<V: Clone + Eq> Eq for KeyMap<V> {}

impl<V: Clone + PartialOrd> PartialOrd for KeyMap<V> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.iter().partial_cmp(other.iter())
    }
}

impl<V: Clone + Ord> Ord for KeyMap<V> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

impl<V: Clone + std::hash::Hash> std::hash::Hash for KeyMap<V> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_usize(self.len());
        for (k, v) in self.iter() {
            k.hash(h);
            v.hash(h);
        }
    }
}

impl<V: Clone + fmt::Debug> fmt::Debug for KeyMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: Clone> KeyMap<V> {
    /// The most keys kept in the inline sorted vector.
    pub const SMALL: usize = 32;

    pub fn get(&self, key: &Key) -> Option<&V> {
        match &self.0 {
            Repr::Small(v) => v
                .binary_search_by_key(key, |(k, _)| *k)
                .ok()
                .map(|i| &v[i].1),
            Repr::Large(m, _) => m.get(key),
        }
    }

    pub fn get_mut(&mut self, key: &Key) -> Option<&mut V> {
        match &mut self.0 {
            Repr::Small(v) => v
                .binary_search_by_key(key, |(k, _)| *k)
                .ok()
                .map(|i| &mut v[i].1),
            Repr::Large(m, journal) => {
                let v = m.get_mut(key)?;
                journal.note(*key);
                Some(v)
            }
        }
    }

    /// The value for `key`, inserted as `V::default()` if absent.
    pub fn entry_or_default(&mut self, key: Key) -> &mut V
    where
        V: Default,
    {
        let promote = match &self.0 {
            Repr::Small(v) => {
                v.len() >= Self::SMALL && v.binary_search_by_key(&key, |(k, _)| *k).is_err()
            }
            Repr::Large(..) => false,
        };
        if promote {
            if let Repr::Small(v) = &mut self.0 {
                let large: im::OrdMap<Key, V> = v.drain(..).collect();
                self.0 = Repr::Large(large, Journal::new());
            }
        }
        match &mut self.0 {
            Repr::Small(v) => {
                let i = match v.binary_search_by_key(&key, |(k, _)| *k) {
                    Ok(i) => i,
                    Err(i) => {
                        v.insert(i, (key, V::default()));
                        i
                    }
                };
                &mut v[i].1
            }
            Repr::Large(m, journal) => {
                journal.note(key);
                m.entry(key).or_default()
            }
        }
    }

    /// Removes `key` and returns its value, if it was present. A large map stays large (a B-tree
    /// with few keys is still correct) and its journal notes the key, so
    /// [`changed_since`](Self::changed_since) names removals too.
    pub fn remove(&mut self, key: &Key) -> Option<V> {
        match &mut self.0 {
            Repr::Small(v) => {
                let i = v.binary_search_by_key(key, |(k, _)| *k).ok()?;
                Some(v.remove(i).1)
            }
            Repr::Large(m, journal) => {
                let old = m.remove(key)?;
                journal.note(*key);
                Some(old)
            }
        }
    }

    /// The keys whose values may differ between `earlier` and `self`, if `self` was derived from
    /// `earlier` (by clones and changes) recently enough for the journal to tell; `None` when
    /// only a full comparison can say. Sorted, without repeats.
    pub fn changed_since(&self, earlier: &Self) -> Option<Vec<Key>> {
        let (Repr::Large(_, now), Repr::Large(_, then)) = (&self.0, &earlier.0) else {
            return None;
        };
        let (now, then) = (&*now.0, &*then.0);
        if !Arc::ptr_eq(&now.base, &then.base)
            || now.keys.len() < then.keys.len()
            || now.keys[..then.keys.len()] != then.keys[..]
        {
            return None;
        }
        let mut keys = now.keys[then.keys.len()..].to_vec();
        keys.sort_unstable();
        keys.dedup();
        Some(keys)
    }

    pub fn iter(&self) -> KeyMapIter<'_, V> {
        match &self.0 {
            Repr::Small(v) => KeyMapIter::Small(v.iter()),
            Repr::Large(m, _) => KeyMapIter::Large(m.iter()),
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Small(v) => v.len(),
            Repr::Large(m, _) => m.len(),
        }
    }
}

/// An iterator over a [`KeyMap`] in key order.
pub enum KeyMapIter<'a, V: Clone> {
    Small(std::slice::Iter<'a, (Key, V)>),
    Large(im::ordmap::Iter<'a, Key, V>),
}

impl<'a, V: Clone> Iterator for KeyMapIter<'a, V> {
    type Item = (&'a Key, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            KeyMapIter::Small(i) => i.next().map(|(k, v)| (k, v)),
            KeyMapIter::Large(i) => i.next(),
        }
    }
}

impl<V: Clone> FromIterator<(Key, V)> for KeyMap<V> {
    fn from_iter<T: IntoIterator<Item = (Key, V)>>(iter: T) -> Self {
        let mut entries: smallvec::SmallVec<[(Key, V); 1]> = iter.into_iter().collect();
        entries.sort_by_key(|(k, _)| *k);
        entries.dedup_by_key(|(k, _)| *k);
        if entries.len() <= Self::SMALL {
            KeyMap(Repr::Small(entries))
        } else {
            KeyMap(Repr::Large(entries.into_iter().collect(), Journal::new()))
        }
    }
}

/// On the wire and on disk a [`KeyMap`] is a sequence of `(key, value)` pairs, so the UDP
/// runtime can save protocol storage built from it; decoding sorts and drops repeated keys (the
/// first occurrence wins), so any decoded map satisfies the sorted-unique invariant.
impl<V: Clone + Serialize> Serialize for KeyMap<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        // The length up front: compact formats (postcard) need it.
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for pair in self.iter() {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }
}

impl<'de, V: Clone + Deserialize<'de>> Deserialize<'de> for KeyMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs: Vec<(Key, V)> = Vec::deserialize(deserializer)?;
        Ok(pairs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::KeyMap;
    use std::hash::{Hash, Hasher};

    fn digest<T: Hash>(t: &T) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        t.hash(&mut h);
        h.finish()
    }

    #[test]
    fn recorded_sessions_replay_into_the_new_table_or_say_they_cannot() {
        use super::{Id, Outcome, Session, Sessions};
        let s = |client: usize, msg_id| Session {
            client: Id::from(client),
            msg_id,
            reply: Outcome::WriteOk,
        };
        let mut old = Sessions::default();
        for c in 1..=4 {
            old.record(s(c, 1), 4);
        }
        let mut new = old.clone();
        new.record(s(2, 2), 4);
        new.record(s(5, 1), 4); // evicts client 1
        assert_eq!(
            new.recorded_since(&old),
            None,
            "an eviction needs the whole table"
        );
        let mut new = old.clone();
        new.record(s(2, 2), 4);
        new.record(s(4, 3), 4);
        let recorded = new.recorded_since(&old).unwrap();
        assert_eq!(recorded, vec![s(2, 2), s(4, 3)]);
        let mut replayed = old.clone();
        for r in recorded {
            replayed.record(r, usize::MAX);
        }
        assert_eq!(replayed, new);
        // A table where a client went back (a store from another server) cannot be replayed.
        assert_eq!(old.recorded_since(&new), None);
        assert_eq!(old.recorded_since(&old), Some(vec![]));
    }

    #[test]
    fn key_maps_grow_past_the_inline_form_and_compare_by_content() {
        let n = KeyMap::<u64>::SMALL as u64 * 3;
        let mut grown = KeyMap::<u64>::default();
        // Insert in a scrambled order; the map stays sorted through the promotion.
        for i in 0..n {
            let k = (i * 37) % n;
            *grown.entry_or_default(k) = k * 10;
        }
        assert_eq!(grown.len(), n as usize);
        let keys: Vec<u64> = grown.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, (0..n).collect::<Vec<_>>());
        assert_eq!(grown.get(&5), Some(&50));
        *grown.get_mut(&5).unwrap() = 7;
        assert_eq!(grown.get(&5), Some(&7));
        assert_eq!(grown.get(&n), None);

        // The same content built at once is equal, hashes and orders the same.
        let built: KeyMap<u64> = grown.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(built, grown);
        assert_eq!(digest(&built), digest(&grown));
        assert_eq!(built.cmp(&grown), std::cmp::Ordering::Equal);

        // A clone is independent.
        let mut copy = grown.clone();
        *copy.entry_or_default(0) = 99;
        assert_eq!(grown.get(&0), Some(&0));
        assert_ne!(copy, grown);

        // Both forms round-trip through postcard, which needs the length up front.
        for map in [grown, (0..3u64).map(|k| (k, k)).collect()] {
            let bytes = postcard::to_stdvec(&map).unwrap();
            let back: KeyMap<u64> = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, map);
        }
    }
}
