//! Primary/backup replication: one primary orders the operations and ships them to its backups;
//! a backup that suspects the primary takes over. Its failure modes are the classic ones, and
//! the checker shows each with a trace: split brain without fencing, and an acknowledged write
//! lost when replication is asynchronous.
//!
//! # The protocol
//!
//! Alsberg and Day, "A Principle for Resilient Sharing of Distributed Resources" (1976); Budhiraja,
//! Marzullo, Schneider and Toueg, "The Primary-Backup Approach" (1993). Servers `0..=backups`;
//! server 0 starts as the primary of **epoch** 1. Clients send requests to any server; a server
//! that is not the primary answers error 11 naming the primary it knows.
//!
//! - The primary runs one operation at a time, the others queued in arrival order. It gives the
//!   operation the next **sequence number** of its epoch, applies it, and sends
//!   `Replicate(epoch, seq, op)` to its backups. With `--sync 1` it answers the client once
//!   every backup it waits for has sent `Ack(epoch, seq)`; reads go through the backups too, so
//!   that a primary that was replaced cannot answer from its stale copy. With `--sync 0` it
//!   answers at once (and reads locally): the backups catch up later, or never.
//! - A backup applies `Replicate` operations of its epoch in sequence order and acknowledges them.
//! - **Failure detection** is a timeout, and a timeout can be wrong: in the model a suspicion can
//!   come at any moment (a primary that is only slow is suspected too). What follows depends on
//!   fencing.
//!
//! **With fencing** (`--fencing 1`, the default): a backup that suspects the primary becomes a
//! candidate for epoch `e + 1` and asks every server for its vote (`Elect`); a server votes for
//! an epoch larger than its own, and adopts it, so it votes once per epoch and from then on
//! rejects (`Reject(epoch)`) anything from an older epoch. A candidate with the votes of a
//! majority is the primary of its epoch (at most one per epoch, since two majorities meet); it
//! first sends its copy of the store to every server (`NewEpoch`, acknowledged as sequence 0)
//! and serves only when all have it, so that the backups agree with it from then on. A primary
//! waits for every backup: an operation acknowledged in epoch `e` is at every server, so every
//! candidate for a later epoch has it. A primary that hears of a newer epoch steps down: the
//! operation it was running is never answered (it may or may not survive), the queued ones are
//! answered error 11.
//!
//! **Without fencing** (`--fencing 0`): failure detection acts alone. A backup that suspects the
//! primary promotes itself at once (epoch `e + 1`, no votes) and sends its store; a primary that
//! suspects the backups that have not acknowledged its operation stops waiting for them; and no
//! server checks epochs. Two servers then both believe they are the primary and both accept
//! writes: **split brain**.
//!
//! # Invariants
//!
//! - `linearizable` (checked): the clients' history, one register per key;
//! - `single primary per epoch` (checked): no two servers are primary in the same epoch;
//! - in the code: a backup applies its epoch's operations in sequence order, once each; a
//!   fenced primary answers an operation only after every backup acknowledged it.
//!
//! `sometimes` properties: a failover happens (a server is primary in a later epoch); a read
//! returns a written value.
//!
//! # Settings that break it (expected failures, not bug variants)
//!
//! - `--fencing 0`: split brain. The checker finds a non-linearizable history, and with two
//!   backups also two primaries in one epoch.
//! - `--sync 0`: the primary acknowledges a write before any backup has it; a failover to a
//!   backup without it loses the acknowledged write.
//!
//! # Bug variant
//!
//! `promote-without-transfer`: a new primary serves before its store reached the backups (it
//! does not wait for the `NewEpoch` acknowledgements): a backup that still holds an unacknowledged
//! write of the old epoch keeps it, and a later failover to that backup brings it back after the
//! new primary's reads said it was never written.

use crate::checked::{Checked, KvModel, KvSystemState};
use crate::kv::{
    record_invocations, record_returns, ErrorCode, History, Key, KeyMap, KvActor, KvClient,
    KvConfig, KvMsg, KvRet, MsgId, Step, Value,
};
use crate::protocol::{
    always, ms, sometimes, BugInfo, Descriptor, Param, Pinned, Protocol, Settings,
};
use crate::system::System;
use crate::NetworkKind;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use stateright::Expectation;
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A client's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Op {
    Read(Key),
    Write(Key, Value),
}

/// A client's request as the primary holds it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Request {
    pub client: u64,
    pub msg_id: MsgId,
    pub op: Op,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Op::Read(k) => write!(f, "c{}#{} read k{k}", self.client, self.msg_id),
            Op::Write(k, v) => write!(f, "c{}#{} write k{k}={v}", self.client, self.msg_id),
        }
    }
}

/// Node-to-node messages.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PbMsg {
    /// The primary's operation `seq` of `epoch` (a read carries no change: it only asks the
    /// backup whether `epoch` is still current).
    Replicate { epoch: u64, seq: u64, op: Op },
    /// Operation `seq` of `epoch` applied (`seq` 0: the epoch's store received).
    Ack { epoch: u64, seq: u64 },
    /// `epoch` is newer than the sender's.
    Reject { epoch: u64 },
    /// A candidate asks for votes for `epoch`.
    Elect { epoch: u64 },
    /// A vote for `epoch`, with the voter's store and where it stands: the epoch that store
    /// belongs to and the last sequence number applied in it.
    Vote {
        epoch: u64,
        stored: (u64, u64),
        store: Arc<KeyMap<Value>>,
    },
    /// The new primary of `epoch` and its store.
    NewEpoch {
        epoch: u64,
        store: Arc<KeyMap<Value>>,
    },
}

impl fmt::Debug for PbMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PbMsg::Replicate { epoch, seq, op } => write!(f, "Replicate(e{epoch} #{seq} {op:?})"),
            PbMsg::Ack { epoch, seq } => write!(f, "Ack(e{epoch} #{seq})"),
            PbMsg::Reject { epoch } => write!(f, "Reject(e{epoch})"),
            PbMsg::Elect { epoch } => write!(f, "Elect(e{epoch})"),
            PbMsg::Vote {
                epoch,
                stored,
                store,
            } => write!(
                f,
                "Vote(e{epoch}, has e{}#{} {store:?})",
                stored.0, stored.1
            ),
            PbMsg::NewEpoch { epoch, store } => write!(f, "NewEpoch(e{epoch} {store:?})"),
        }
    }
}

/// The operation a primary is running: which backups it still waits for (a bit per server).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Running {
    pub seq: u64,
    /// `None`: the epoch's store transfer (sequence 0).
    pub request: Option<Request>,
    pub waiting: u64,
}

/// What a server is.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Following `primary` (if known); `next`: the sequence number it applies next (`None`
    /// until it has its epoch's store).
    Backup {
        primary: Option<u8>,
        next: Option<u64>,
    },
    /// Collecting votes for its epoch (a bit per server), and the most advanced store among
    /// them.
    Candidate {
        votes: u64,
        best: (u64, u64),
        store: Arc<KeyMap<Value>>,
    },
    /// The primary: the backups it waits for, its last sequence number, the running operation
    /// and the queue behind it.
    Primary {
        backups: u64,
        seq: u64,
        running: Option<Running>,
        queue: Vec<Request>,
    },
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Backup { primary, next } => {
                write!(f, "backup of ")?;
                match primary {
                    Some(p) => write!(f, "s{p}")?,
                    None => write!(f, "?")?,
                }
                match next {
                    Some(n) => write!(f, ", next #{n}"),
                    None => write!(f, ", no store yet"),
                }
            }
            Role::Candidate { votes, best, .. } => write!(
                f,
                "candidate, {} votes, best store e{}#{}",
                votes.count_ones(),
                best.0,
                best.1
            ),
            Role::Primary {
                backups,
                seq,
                running,
                queue,
            } => {
                write!(f, "PRIMARY of {} backups, #{seq}", backups.count_ones())?;
                if let Some(r) = running {
                    write!(f, ", running #{} ", r.seq)?;
                    match r.request {
                        Some(q) => write!(f, "{q:?}")?,
                        None => write!(f, "store transfer")?,
                    }
                    write!(f, " (waits for {})", r.waiting.count_ones())?;
                }
                if !queue.is_empty() {
                    write!(f, ", queued {queue:?}")?;
                }
                Ok(())
            }
        }
    }
}

/// A server's state.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PbState {
    pub epoch: u64,
    pub role: Role,
    pub store: Arc<KeyMap<Value>>,
    /// The epoch the store belongs to and the last sequence number applied in it.
    pub stored: (u64, u64),
}

impl fmt::Debug for PbState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "e{} {:?}, holds {:?} (e{}#{})",
            self.epoch, self.role, self.store, self.stored.0, self.stored.1
        )
    }
}

/// The failure detector's timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PbTimer {
    Suspect,
}

/// The suspicion timeout's range on the network.
pub const SUSPECT_MS: Range<u64> = 300..600;

/// Deliberately broken variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PbBug {
    /// The primary answers reads from its own copy, without asking its backups whether its
    /// epoch is still current.
    LocalReads,
}

/// A primary/backup server.
#[derive(Clone, Debug)]
pub struct PbServer {
    pub index: usize,
    pub servers: Vec<Id>,
    /// The primary waits for its backups before answering.
    pub sync: bool,
    /// Epochs are agreed by a majority and enforced.
    pub fencing: bool,
    /// Suspicions act only below this epoch (the model's bound on failovers; `u64::MAX` on the
    /// network).
    pub max_epoch: u64,
    pub bug: Option<PbBug>,
}

type PbOut = Out<PbServer>;

impl PbServer {
    pub fn new(index: usize, servers: Vec<Id>) -> Self {
        PbServer {
            index,
            servers,
            sync: true,
            fencing: true,
            max_epoch: u64::MAX,
            bug: None,
        }
    }

    fn majority(&self) -> u32 {
        self.servers.len() as u32 / 2 + 1
    }

    fn me(&self) -> u64 {
        1 << self.index
    }

    fn all_others(&self) -> u64 {
        ((1u64 << self.servers.len()) - 1) & !self.me()
    }

    fn position(&self, id: Id) -> Option<usize> {
        self.servers.iter().position(|s| *s == id)
    }

    fn send_to(&self, mask: u64, msg: PbMsg, o: &mut PbOut) {
        for (i, s) in self.servers.iter().enumerate() {
            if mask & (1 << i) != 0 {
                o.send(*s, KvMsg::Internal(msg.clone()));
            }
        }
    }

    /// Becomes the primary of `state.epoch`, with `backups`, and sends its store to them.
    fn promote(&self, state: &mut PbState, backups: u64, o: &mut PbOut) {
        state.stored = (state.epoch, 0);
        state.role = Role::Primary {
            backups,
            seq: 0,
            running: Some(Running {
                seq: 0,
                request: None,
                waiting: backups,
            }),
            queue: Vec::new(),
        };
        let msg = PbMsg::NewEpoch {
            epoch: state.epoch,
            store: Arc::clone(&state.store),
        };
        self.send_to(backups, msg, o);
        self.finish(state, o);
    }

    /// Leaves the primary's or a candidate's role for `epoch` (newer): the running operation
    /// is not answered (it may survive), the queued ones are answered error 11.
    fn step_down(&self, state: &mut PbState, epoch: u64, primary: Option<u8>, o: &mut PbOut) {
        debug_assert!(epoch > state.epoch || !self.fencing);
        if let Role::Primary { queue, .. } = &state.role {
            for r in queue {
                o.send(
                    Id::from(r.client as usize),
                    KvMsg::error(r.msg_id, ErrorCode::TemporarilyUnavailable),
                );
            }
        }
        state.epoch = state.epoch.max(epoch);
        state.role = Role::Backup {
            primary,
            next: None,
        };
        o.set_timer(PbTimer::Suspect, ms(SUSPECT_MS));
    }

    /// Starts queued operations, and answers the running one once nobody is waited for.
    fn finish(&self, state: &mut PbState, o: &mut PbOut) {
        loop {
            let Role::Primary { running, queue, .. } = &mut state.role else {
                return;
            };
            match running {
                Some(r) if r.waiting != 0 => return,
                Some(r) => {
                    let done = *r;
                    *running = None;
                    if let Some(q) = done.request {
                        self.answer(&state.store, q, o);
                    }
                }
                None if queue.is_empty() => return,
                None => {
                    let q = queue.remove(0);
                    self.run(state, q, o);
                }
            }
        }
    }

    fn answer(&self, store: &KeyMap<Value>, q: Request, o: &mut PbOut) {
        let reply = match q.op {
            Op::Write(..) => KvMsg::WriteOk {
                in_reply_to: q.msg_id,
            },
            Op::Read(k) => match store.get(&k) {
                Some(&value) => KvMsg::ReadOk {
                    in_reply_to: q.msg_id,
                    value,
                },
                None => KvMsg::error(q.msg_id, ErrorCode::KeyDoesNotExist),
            },
        };
        o.send(Id::from(q.client as usize), reply);
    }

    /// The primary runs `q`: applies it, ships it, and (in sync mode) waits.
    fn run(&self, state: &mut PbState, q: Request, o: &mut PbOut) {
        let PbState {
            epoch,
            role,
            store,
            stored,
        } = state;
        let Role::Primary {
            backups,
            seq,
            running,
            ..
        } = role
        else {
            unreachable!("only a primary runs operations")
        };
        debug_assert!(running.is_none());
        if let Op::Write(k, v) = q.op {
            *Arc::make_mut(store).entry_or_default(k) = v;
        }
        let local_read = self.bug == Some(PbBug::LocalReads) && matches!(q.op, Op::Read(_));
        if !self.sync || local_read {
            // Answer at once; ship writes, in order, without waiting.
            if let Op::Write(..) = q.op {
                *seq += 1;
                *stored = (*epoch, *seq);
                let msg = PbMsg::Replicate {
                    epoch: *epoch,
                    seq: *seq,
                    op: q.op,
                };
                self.send_to(*backups, msg, o);
            }
            return self.answer(store, q, o);
        }
        *seq += 1;
        *stored = (*epoch, *seq);
        *running = Some(Running {
            seq: *seq,
            request: Some(q),
            waiting: *backups,
        });
        let msg = PbMsg::Replicate {
            epoch: *epoch,
            seq: *seq,
            op: q.op,
        };
        self.send_to(*backups, msg, o);
    }

    fn request(&self, state: &mut Cow<PbState>, q: Request, o: &mut PbOut) {
        match &state.role {
            Role::Primary { running, queue, .. } => {
                if queue.contains(&q) || running.and_then(|r| r.request) == Some(q) {
                    return; // a duplicate
                }
                let s = state.to_mut();
                if let Role::Primary { queue, .. } = &mut s.role {
                    queue.push(q);
                }
                self.finish(s, o);
            }
            Role::Backup { primary, .. } => {
                let leader = primary.map(|p| self.servers[p as usize]);
                o.send(
                    Id::from(q.client as usize),
                    KvMsg::Error {
                        in_reply_to: q.msg_id,
                        code: ErrorCode::TemporarilyUnavailable,
                        value: None,
                        leader,
                    },
                );
            }
            Role::Candidate { .. } => o.send(
                Id::from(q.client as usize),
                KvMsg::error(q.msg_id, ErrorCode::TemporarilyUnavailable),
            ),
        }
    }

    fn internal(&self, state: &mut Cow<PbState>, src: Id, msg: PbMsg, o: &mut PbOut) {
        let Some(from) = self.position(src) else {
            return;
        };
        let mine = state.epoch;
        match msg {
            // Fencing: anything from an older epoch is refused.
            PbMsg::Replicate { epoch, .. } | PbMsg::NewEpoch { epoch, .. }
                if self.fencing && epoch < mine =>
            {
                o.send(src, KvMsg::Internal(PbMsg::Reject { epoch: mine }));
            }
            PbMsg::Replicate { epoch, seq, op } => {
                if self.fencing && epoch > mine {
                    // A newer epoch whose store has not arrived yet: follow it, apply nothing.
                    self.step_down(state.to_mut(), epoch, Some(from as u8), o);
                    return;
                }
                let s = state.to_mut();
                let apply = |store: &mut Arc<KeyMap<Value>>, o: &mut PbOut| {
                    if let Op::Write(k, v) = op {
                        *Arc::make_mut(store).entry_or_default(k) = v;
                    }
                    o.send(src, KvMsg::Internal(PbMsg::Ack { epoch, seq }));
                };
                let next = match &mut s.role {
                    // Without fencing nobody checks: a backup applies whatever arrives, and a
                    // primary applies another's operation too.
                    _ if !self.fencing => return apply(&mut s.store, o),
                    Role::Backup { next, .. } => next,
                    _ => return,
                };
                match *next {
                    Some(n) if seq == n => {
                        *next = Some(n + 1);
                        s.stored = (epoch, seq);
                        apply(&mut s.store, o);
                    }
                    // Applied already: a duplicate.
                    Some(n) if seq < n => {
                        o.send(src, KvMsg::Internal(PbMsg::Ack { epoch, seq }));
                    }
                    // A gap (asynchronous shipping over a network that reorders), or no store
                    // yet: wait.
                    _ => {}
                }
            }
            PbMsg::NewEpoch { epoch, store } => {
                let s = state.to_mut();
                if epoch > s.epoch || !matches!(s.role, Role::Backup { .. }) {
                    self.step_down(s, epoch, Some(from as u8), o);
                }
                s.epoch = s.epoch.max(epoch);
                s.store = store;
                s.stored = (epoch, 0);
                s.role = Role::Backup {
                    primary: Some(from as u8),
                    next: Some(1),
                };
                o.send(src, KvMsg::Internal(PbMsg::Ack { epoch, seq: 0 }));
            }
            PbMsg::Ack { epoch, seq } => {
                let Role::Primary { running, .. } = &state.role else {
                    return;
                };
                let waits = running
                    .is_some_and(|r| r.seq == seq && epoch == mine && r.waiting & (1 << from) != 0);
                if waits {
                    let s = state.to_mut();
                    if let Role::Primary {
                        running: Some(r), ..
                    } = &mut s.role
                    {
                        r.waiting &= !(1 << from);
                    }
                    self.finish(s, o);
                }
            }
            PbMsg::Reject { epoch } if epoch > mine => {
                self.step_down(state.to_mut(), epoch, None, o);
            }
            PbMsg::Elect { epoch } if epoch > mine => {
                self.step_down(state.to_mut(), epoch, None, o);
                let vote = PbMsg::Vote {
                    epoch,
                    stored: state.stored,
                    store: Arc::clone(&state.store),
                };
                o.send(src, KvMsg::Internal(vote));
            }
            PbMsg::Vote {
                epoch,
                stored,
                store,
            } if epoch == mine => {
                let s = state.to_mut();
                let Role::Candidate {
                    votes,
                    best,
                    store: best_store,
                } = &mut s.role
                else {
                    return;
                };
                *votes |= 1 << from;
                // Every operation answered in an earlier epoch is at a majority of that epoch's
                // servers, so at one voter at least: the most advanced store has them all.
                if stored > *best {
                    *best = stored;
                    *best_store = store;
                }
                if votes.count_ones() >= self.majority() {
                    let (view, store) = (*votes & !self.me(), Arc::clone(best_store));
                    s.store = store;
                    self.promote(s, view, o);
                }
            }
            _ => {}
        }
    }
}

impl Actor for PbServer {
    type Msg = KvMsg<PbMsg>;
    type State = PbState;
    type Timer = PbTimer;
    type Random = ();
    type Storage = ();

    fn name(&self) -> String {
        format!("server {}", self.index)
    }

    fn on_start(&self, _id: Id, _storage: &Option<()>, o: &mut PbOut) -> PbState {
        let role = if self.index == 0 {
            Role::Primary {
                backups: self.all_others(),
                seq: 0,
                running: None,
                queue: Vec::new(),
            }
        } else {
            Role::Backup {
                primary: Some(0),
                next: Some(1),
            }
        };
        if self.index != 0 || !self.fencing {
            o.set_timer(PbTimer::Suspect, ms(SUSPECT_MS));
        }
        PbState {
            epoch: 1,
            role,
            store: Arc::default(),
            stored: (1, 0),
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<PbState>, src: Id, msg: KvMsg<PbMsg>, o: &mut PbOut) {
        let client = usize::from(src) as u64;
        let q = |msg_id, op| Request { client, msg_id, op };
        match msg {
            KvMsg::Read { msg_id, key } => self.request(state, q(msg_id, Op::Read(key)), o),
            KvMsg::Write { msg_id, key, value } => {
                self.request(state, q(msg_id, Op::Write(key, value)), o)
            }
            KvMsg::Cas { msg_id, .. } => o.send(src, KvMsg::error(msg_id, ErrorCode::NotSupported)),
            KvMsg::Internal(m) => self.internal(state, src, m, o),
            _ => {}
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<PbState>, _timer: &PbTimer, o: &mut PbOut) {
        if state.epoch >= self.max_epoch {
            return;
        }
        match &state.role {
            // Without fencing a primary stops waiting for the backups it suspects.
            Role::Primary { running, .. } => {
                let stalled = running.is_some_and(|r| r.waiting != 0);
                if !self.fencing && stalled {
                    let s = state.to_mut();
                    if let Role::Primary {
                        backups,
                        running: Some(r),
                        ..
                    } = &mut s.role
                    {
                        *backups &= !r.waiting;
                        r.waiting = 0;
                    }
                    self.finish(s, o);
                }
                if !self.fencing {
                    o.set_timer(PbTimer::Suspect, ms(SUSPECT_MS));
                }
            }
            Role::Backup { .. } | Role::Candidate { .. } => {
                let s = state.to_mut();
                s.epoch += 1;
                if self.fencing {
                    s.role = Role::Candidate {
                        votes: self.me(),
                        best: s.stored,
                        store: Arc::clone(&s.store),
                    };
                    let msg = PbMsg::Elect { epoch: s.epoch };
                    self.send_to(self.all_others(), msg, o);
                    o.set_timer(PbTimer::Suspect, ms(SUSPECT_MS));
                } else {
                    self.promote(s, self.all_others(), o);
                    o.set_timer(PbTimer::Suspect, ms(SUSPECT_MS));
                }
            }
        }
    }
}

/// What each client does: write its own value, then read the key `reads` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Script {
    pub reads: usize,
}

/// The configuration of a primary/backup check.
#[derive(Clone, Debug, PartialEq)]
pub struct PbConfig {
    pub backups: usize,
    pub clients: usize,
    pub sync: bool,
    pub fencing: bool,
    /// How many times the primary may change (epochs `1..=1 + failovers`).
    pub failovers: u64,
    pub reads: usize,
    pub network: NetworkKind,
    pub bug: Option<PbBug>,
}

impl KvConfig for PbConfig {
    fn server_count(&self) -> usize {
        self.backups + 1
    }
    fn client_count(&self) -> usize {
        self.clients
    }
}

/// The checked model.
pub type PbModel = Checked<KvModel<PbServer, PbConfig>>;

/// Whether two servers are primary in the same epoch.
fn two_primaries(s: &KvSystemState<PbServer>) -> bool {
    let primaries: Vec<u64> = s
        .actors
        .iter()
        .filter_map(|a| match &*a.state {
            crate::kv::KvState::Server(p) if matches!(p.role, Role::Primary { .. }) => {
                Some(p.epoch)
            }
            _ => None,
        })
        .collect();
    primaries
        .iter()
        .enumerate()
        .any(|(i, e)| primaries[i + 1..].contains(e))
}

/// Builds the checked model: servers `0..=backups`, then clients; client `i` starts at server
/// `i mod servers` and follows the primary a server names.
pub fn model(cfg: PbConfig) -> PbModel {
    let n = cfg.backups + 1;
    let servers: Vec<Id> = (0..n).map(Id::from).collect();
    let mut steps = vec![Step::WriteOwn];
    steps.extend(std::iter::repeat_n(Step::Read, cfg.reads));
    let system = System::new(cfg.clone(), History::new(cfg.clients))
        .actors((0..n).map(|index| {
            KvActor::Server(PbServer {
                sync: cfg.sync,
                fencing: cfg.fencing,
                max_epoch: 1 + cfg.failovers,
                bug: cfg.bug,
                ..PbServer::new(index, servers.clone())
            })
        }))
        .actors((0..cfg.clients).map(|index| {
            KvActor::Client(KvClient {
                start: None,
                index,
                servers: servers.clone(),
                script: steps.clone(),
                rotate: false,
            })
        }))
        .network(cfg.network)
        .property(Expectation::Always, "linearizable", |_, s| {
            s.history.linearizable_cas()
        })
        .property(Expectation::Always, "single primary per epoch", |_, s| {
            !two_primaries(s)
        })
        .property(Expectation::Sometimes, "failover", |_, s| {
            s.actors.iter().any(|a| {
                matches!(&*a.state, crate::kv::KvState::Server(p)
                    if p.epoch > 1 && matches!(p.role, Role::Primary { .. }))
            })
        })
        .property(Expectation::Sometimes, "read sees a write", |_, s| {
            s.history
                .some_return(|r| matches!(r, KvRet::ReadOk(Some(_))))
        })
        .record_msg_out(record_invocations)
        .record_msg_in(record_returns);
    Checked::new(system)
}

/// No client sessions yet: a duplicated request would run twice.
const NETWORKS: &[NetworkKind] = &[
    NetworkKind::UnorderedNonDuplicating,
    NetworkKind::Ordered,
    NetworkKind::LossyUnorderedNonDuplicating,
    NetworkKind::LossyOrdered,
];

/// The bug variants by name.
const BUGS: [(&str, PbBug); 1] = [("local-reads", PbBug::LocalReads)];

/// The catalog entry: `synod check primary-backup`.
pub struct PrimaryBackup;

impl Protocol for PrimaryBackup {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "primary-backup",
        summary: "primary/backup replication with failover: split brain without fencing, lost writes without sync (Alsberg and Day, 1976)",
        params: &[
            Param::model("backups", "backups (servers are the primary and its backups)", 2, 1, 3),
            Param::model("clients", "clients; client i writes i+1, then reads", 2, 1, 3),
            Param {
                name: "sync",
                help: "1: the primary answers after every backup has the operation; 0: at once",
                default: 1,
                min: 0,
                max: 1,
                run: Some(1),
                names: &[],
            },
            Param {
                name: "fencing",
                help: "1: epochs agreed by a majority and enforced; 0: a suspicion acts alone",
                default: 1,
                min: 0,
                max: 1,
                run: Some(1),
                names: &[],
            },
            Param::model("failovers", "how many times the primary may change", 1, 0, 2),
            Param::model("reads", "reads after each client's write", 1, 1, 2),
        ],
        properties: &[
            always("linearizable"),
            always("single primary per epoch"),
            sometimes("failover"),
            sometimes("read sees a write"),
        ],
        bugs: &[BugInfo {
            name: "local-reads",
            summary: "the primary answers reads from its own copy, without asking its backups whether its epoch is still current",
            source: "a deposed primary's stale read: the Raft thesis, 6.4 (a leader must confirm it still leads before answering a read); MIT 6.824's primary/backup lab",
            violates: "linearizable",
            needs: &[],
        }],
        symmetry: None,
        networks: NETWORKS,
        validate: crate::protocol::no_validation,
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 1_609_447,
                source: "tests/check_primary_backup.rs",
            },
            Pinned {
                params: &[("backups", 1)],
                symmetry: false,
                unique_states: 39_289,
                source: "tests/check_primary_backup.rs",
            },
        ],
    };
    type Model = KvModel<PbServer, PbConfig>;

    fn model(s: &Settings) -> PbModel {
        model(PbConfig {
            backups: s.count("backups"),
            clients: s.count("clients"),
            sync: s.flag("sync"),
            fencing: s.flag("fencing"),
            failovers: s.get("failovers"),
            reads: s.count("reads"),
            network: s.network,
            bug: s.bug_of(&BUGS),
        })
    }
}
