//! Primary/backup replication: one primary orders the operations and ships them to its backups;
//! a backup that suspects the primary takes over. Its failure modes are the classic ones, and
//! the checker shows each with a trace: split brain without fencing, and an acknowledged write
//! lost when replication is asynchronous.
//!
//! # The protocol
//!
//! Alsberg and Day, "A Principle for Resilient Sharing of Distributed Resources" (1976); Budhiraja,
//! Marzullo, Schneider and Toueg, "The Primary-Backup Approach" (1993); the view changes follow
//! Viewstamped Replication (Oki and Liskov, 1988). Servers `0..=backups`; server 0 starts as the
//! primary of **epoch** 1 with every other server as its backup. Clients send requests to any
//! server; a server that is not the primary answers error 11 naming the primary it knows.
//!
//! - The primary runs one operation at a time, the others queued in arrival order. It gives the
//!   operation the next **sequence number** of its epoch, applies it, and sends
//!   `Replicate(epoch, seq, request)` to its backups. With `--sync 1` it answers the client once
//!   every backup it waits for has sent `Ack(epoch, seq)`; reads go through the backups too, so
//!   that a primary that was replaced cannot answer from its stale copy. With `--sync 0` it
//!   answers at once (and reads locally): the backups catch up later, or never.
//! - A backup applies `Replicate` operations of its epoch in sequence order and acknowledges them.
//! - Writes are applied **at most once**: the store keeps a session per client (its last write's
//!   `msg_id` and reply, [`KvStore`]), replicated with the store, so a client that retries at a
//!   new primary gets the first attempt's reply rather than a second write.
//! - **Failure detection** is a timeout, and a timeout can be wrong: in the model a suspicion can
//!   come at any moment (a primary that is only slow is suspected too). On the network the
//!   primary sends heartbeats (and resends what is not yet acknowledged), and hearing from it
//!   postpones a backup's suspicion. What follows a suspicion depends on fencing.
//!
//! **With fencing** (`--fencing 1`, the default): a backup that suspects the primary becomes a
//! candidate for epoch `e + 1` and asks every server for its vote (`Elect`); a server votes for
//! an epoch larger than its own, and adopts it, so it votes once per epoch and from then on
//! rejects (`Reject(epoch)`) anything from an older epoch. A candidate with the votes of a
//! majority is the primary of its epoch (at most one per epoch, since two majorities meet); its
//! backups are its voters (every server once all have voted, or the majority it has when its
//! short wait for the others ends), and it first sends its copy of the store to them
//! (`NewEpoch`, acknowledged as sequence 0) and serves only when all have it. A primary waits
//! for every backup: an operation acknowledged in epoch `e` is at every backup of `e`, a
//! majority, so every candidate for a later epoch hears of it. A primary whose operation waits
//! too long suspects a backup and stands for the next epoch itself, so that a dead backup
//! leaves the view (Viewstamped Replication's view change). A primary that hears of a newer
//! epoch steps down: the operation it was running is never answered (it may or may not
//! survive), the queued ones are answered error 11.
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
//! `local-reads`: the primary answers reads from its own copy without asking its backups
//! whether its epoch is still current. A primary that was replaced (and does not know it yet)
//! then returns a value the new epoch has overwritten.
//!
//! # On the network
//!
//! What a server saves ([`PbSaved`]) is its epoch (which is also its vote), its store with the
//! sessions, and where the store stands; a restarted server comes back as a backup of its saved
//! epoch. The store travels whole in one datagram (`Vote`, `NewEpoch`), so it holds at most
//! [`MAX_KEYS`] keys and [`MAX_SESSIONS`] sessions: a write of one more key is refused (error
//! 10), definitely, rather than making the next failover impossible.

use crate::checked::{Checked, KvModel, KvSystemState};
use crate::durable::{keymap_delta, Durable};
use crate::kv::{
    record_invocations, record_returns, Command, ErrorCode, History, Key, KvActor, KvClient,
    KvConfig, KvMsg, KvRet, KvStore, MsgId, Seen, Session, Step, Value,
};
use crate::protocol::{
    always, ms, sometimes, BugInfo, Descriptor, KeySemantics, Need, Param, Pinned, Protocol, Serve,
    Settings,
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

impl Request {
    fn client_id(&self) -> Id {
        Id::from(self.client as usize)
    }
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
    /// The primary's batch `seq` of `epoch`: requests in the order it applied them (a read
    /// carries no change: it only asks the backup whether `epoch` is still current). Requests
    /// carry their client and `msg_id` for the sessions.
    Replicate {
        epoch: u64,
        seq: u64,
        batch: Vec<Request>,
    },
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
        store: Arc<KvStore>,
    },
    /// The new primary of `epoch` and its store.
    NewEpoch { epoch: u64, store: Arc<KvStore> },
    /// The primary of `epoch` is alive (on the network only: in the model a suspicion may come
    /// at any moment anyway).
    Heartbeat { epoch: u64 },
}

impl fmt::Debug for PbMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PbMsg::Replicate { epoch, seq, batch } => match batch.as_slice() {
                [q] => write!(f, "Replicate(e{epoch} #{seq} {q:?})"),
                _ => write!(f, "Replicate(e{epoch} #{seq} {batch:?})"),
            },
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
            PbMsg::Heartbeat { epoch } => write!(f, "Heartbeat(e{epoch})"),
        }
    }
}
/// The batch a primary is running: which backups it still waits for (a bit per server).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Running {
    /// 0: the epoch's store transfer (an empty batch).
    pub seq: u64,
    pub batch: Vec<Request>,
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
        store: Arc<KvStore>,
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
                    match r.batch.as_slice() {
                        [] => write!(f, "store transfer")?,
                        [q] => write!(f, "{q:?}")?,
                        batch => write!(f, "{batch:?}")?,
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
    pub store: Arc<KvStore>,
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

/// What a server saves: its epoch (a server votes for an epoch by adopting it, so this is its
/// vote too), its store with the sessions, and where that store stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PbSaved {
    pub epoch: u64,
    pub stored: (u64, u64),
    pub store: Arc<KvStore>,
}

/// A change to what a server saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PbEntry {
    Epoch(u64),
    Stored(u64, u64),
    Put(Key, Value),
    Session(Session),
}

/// Within one store (the same `stored` epoch) a change is the assignments and the sessions the
/// applied writes recorded; a store received whole (`NewEpoch`, an election) is a snapshot.
impl Durable for PbSaved {
    type Entry = PbEntry;

    fn delta(&self, prev: &Self) -> Option<Vec<PbEntry>> {
        let mut out = Vec::new();
        if self.epoch != prev.epoch {
            out.push(PbEntry::Epoch(self.epoch));
        }
        if !Arc::ptr_eq(&self.store, &prev.store) {
            if self.stored.0 != prev.stored.0 {
                return None;
            }
            let (new, old) = (&self.store, &prev.store);
            let puts = keymap_delta(new.data.iter(), old.data.iter())?;
            out.extend(puts.into_iter().map(|(k, v)| PbEntry::Put(k, v)));
            let sessions = new.sessions.recorded_since(&old.sessions)?;
            out.extend(sessions.into_iter().map(PbEntry::Session));
        }
        if self.stored != prev.stored {
            out.push(PbEntry::Stored(self.stored.0, self.stored.1));
        }
        Some(out)
    }

    fn apply(&mut self, entry: PbEntry) {
        match entry {
            PbEntry::Epoch(e) => self.epoch = e,
            PbEntry::Stored(e, s) => self.stored = (e, s),
            PbEntry::Put(k, v) => {
                Arc::make_mut(&mut self.store).data.insert(k, v);
            }
            PbEntry::Session(s) => {
                Arc::make_mut(&mut self.store)
                    .sessions
                    .record(s, usize::MAX);
            }
        }
    }
}

/// A server's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PbTimer {
    /// The failure detector: a backup suspects its primary, a primary the backups its operation
    /// still waits for.
    Suspect,
    /// A candidate with a majority stops waiting for the other votes.
    Gather,
    /// The primary's heartbeat (on the network only).
    Heartbeat,
}

/// The suspicion timeout's range on the network.
pub const SUSPECT_MS: Range<u64> = 300..600;
/// How long a candidate with a majority waits for the other votes, on the network.
pub const GATHER_MS: Range<u64> = 50..100;
/// The primary's heartbeat period on the network.
pub const HEARTBEAT_MS: Range<u64> = 40..60;
/// How long the primary waits for its backups' acknowledgements before it resends, on the
/// network.
pub const RESEND_MS: Range<u64> = 10..20;
/// Keys a store may hold on the network: with [`MAX_SESSIONS`] sessions and every number at its
/// longest, a `Vote` or `NewEpoch` still fits in one datagram (a test measures it).
pub const MAX_KEYS: usize = 2048;
/// Client sessions a store keeps on the network (least recently used evicted first).
pub const MAX_SESSIONS: usize = 1024;
/// Servers in a cluster: masks of servers are `u64`s.
pub const MAX_SERVERS: usize = 63;
/// Requests a primary queues behind the running batch; beyond, error 11.
pub const MAX_QUEUE: usize = 4096;
/// Requests in one batch (one `Replicate`): at their longest they fit in a datagram.
pub const MAX_BATCH: usize = 1024;

/// Deliberately broken variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PbBug {
    /// The primary answers reads from its own copy, without asking its backups whether its
    /// epoch is still current.
    LocalReads,
    /// A restarted server comes back in the epoch of its store, not the epoch it voted for:
    /// its vote was not durable, so it can vote twice in one epoch.
    ForgetVote,
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
    /// On the network: the primary sends heartbeats and resends what is not acknowledged, and a
    /// backup that hears from its primary postpones its suspicion. Off in the model, where the
    /// messages would have no bound.
    pub heartbeat: bool,
    /// Sessions the store keeps.
    pub max_sessions: usize,
    /// Keys the store may hold.
    pub max_keys: usize,
}

type PbOut = Out<PbServer>;

impl PbServer {
    /// Server `index` of `servers`, fenced and synchronous, with the network's bounds and no
    /// heartbeats.
    pub fn new(index: usize, servers: Vec<Id>) -> Self {
        assert!(
            index < servers.len() && servers.len() <= MAX_SERVERS,
            "server {index} of {} (at most {MAX_SERVERS})",
            servers.len()
        );
        PbServer {
            index,
            servers,
            sync: true,
            fencing: true,
            max_epoch: u64::MAX,
            bug: None,
            heartbeat: false,
            max_sessions: MAX_SESSIONS,
            max_keys: MAX_KEYS,
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

    fn suspect_later(&self, o: &mut PbOut) {
        o.set_timer(PbTimer::Suspect, ms(SUSPECT_MS));
    }

    /// On the network: the heartbeat comes sooner while a batch waits, to resend it.
    fn resend_later(&self, o: &mut PbOut) {
        if self.heartbeat {
            o.set_timer(PbTimer::Heartbeat, ms(RESEND_MS));
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
                batch: Vec::new(),
                waiting: backups,
            }),
            queue: Vec::new(),
        };
        let msg = PbMsg::NewEpoch {
            epoch: state.epoch,
            store: Arc::clone(&state.store),
        };
        self.send_to(backups, msg, o);
        o.cancel_timer(PbTimer::Gather);
        self.resend_later(o);
        self.finish(state, o);
    }

    /// Answers a primary's queued requests error 11: they were not applied, except retries of
    /// writes applied before, which get no answer (the client retries elsewhere).
    fn drop_queue(&self, state: &PbState, o: &mut PbOut) {
        if let Role::Primary { queue, .. } = &state.role {
            for r in queue.iter().filter(|r| !applied(&state.store, r)) {
                o.send(
                    r.client_id(),
                    KvMsg::error(r.msg_id, ErrorCode::TemporarilyUnavailable),
                );
            }
        }
    }

    /// Leaves the primary's or a candidate's role for `epoch` (newer): the running operation
    /// is not answered (it may survive), the queued ones are answered error 11.
    fn step_down(&self, state: &mut PbState, epoch: u64, primary: Option<u8>, o: &mut PbOut) {
        debug_assert!(epoch > state.epoch || !self.fencing);
        self.drop_queue(state, o);
        state.epoch = state.epoch.max(epoch);
        state.role = Role::Backup {
            primary,
            next: None,
        };
        o.cancel_timer(PbTimer::Gather);
        self.suspect_later(o);
    }

    /// Suspects the primary (or, as a primary, the backups it waits for) and goes for the next
    /// epoch: as a candidate with fencing, as its primary at once without.
    fn stand(&self, state: &mut PbState, o: &mut PbOut) {
        self.drop_queue(state, o);
        // A majority gathered for an earlier epoch counts for nothing now.
        o.cancel_timer(PbTimer::Gather);
        state.epoch += 1;
        if self.fencing {
            state.role = Role::Candidate {
                votes: self.me(),
                best: state.stored,
                store: Arc::clone(&state.store),
            };
            let msg = PbMsg::Elect { epoch: state.epoch };
            self.send_to(self.all_others(), msg, o);
        } else {
            self.promote(state, self.all_others(), o);
        }
        self.suspect_later(o);
    }

    /// Starts queued operations, and answers the running one once nobody is waited for.
    fn finish(&self, state: &mut PbState, o: &mut PbOut) {
        loop {
            let Role::Primary { running, queue, .. } = &mut state.role else {
                return;
            };
            match running {
                Some(r) if r.waiting != 0 => return,
                Some(_) => {
                    let done = running.take().expect("matched");
                    for q in done.batch {
                        self.answer(&state.store, q, o);
                    }
                    // Progress: the backups are alive.
                    if self.heartbeat {
                        self.suspect_later(o);
                    }
                }
                None if queue.is_empty() => return,
                None => {
                    let rest = queue.split_off(queue.len().min(MAX_BATCH));
                    let batch = std::mem::replace(queue, rest);
                    self.run(state, batch, o);
                }
            }
        }
    }

    fn answer(&self, store: &KvStore, q: Request, o: &mut PbOut) {
        let reply = match q.op {
            Op::Write(..) => KvMsg::WriteOk {
                in_reply_to: q.msg_id,
            },
            Op::Read(k) => store.read(q.msg_id, k),
        };
        o.send(q.client_id(), reply);
    }

    /// Applies write `q` to `store`, at most once per client session.
    fn apply(&self, store: &mut Arc<KvStore>, q: Request) {
        if let Op::Write(key, value) = q.op {
            let cmd = Command::Write { key, value };
            Arc::make_mut(store).execute(q.client_id(), q.msg_id, cmd, self.max_sessions);
        }
    }

    /// Whether the primary runs `q`: a write its session shows applied is answered from the
    /// session (or ignored when older), a write of one key too many is refused.
    fn admit(&self, store: &KvStore, q: &Request, o: &mut PbOut) -> bool {
        let Op::Write(k, _) = q.op else {
            return true;
        };
        match store.sessions.seen(q.client_id(), q.msg_id) {
            Seen::Retry(outcome) => o.send(q.client_id(), outcome.reply(q.msg_id)),
            Seen::Stale => {}
            Seen::New if !store.data.contains_key(&k) && store.data.len() >= self.max_keys => o
                .send(
                    q.client_id(),
                    KvMsg::error(q.msg_id, ErrorCode::NotSupported),
                ),
            Seen::New => return true,
        }
        false
    }

    /// The primary runs `batch` (queued requests, in arrival order): applies it, ships it as
    /// one sequence number, and (in sync mode) waits. The requests of one batch were all
    /// pending together, so answering them together, after the last write, is linearizable.
    fn run(&self, state: &mut PbState, mut batch: Vec<Request>, o: &mut PbOut) {
        batch.retain(|q| {
            let admitted = self.admit(&state.store, q, o);
            if admitted {
                self.apply(&mut state.store, *q);
            }
            admitted
        });
        if batch.is_empty() {
            return;
        }
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
        if self.bug == Some(PbBug::LocalReads) {
            // Reads answered from the local copy at once.
            batch.retain(|q| {
                let read = matches!(q.op, Op::Read(_));
                if read {
                    self.answer(store, *q, o);
                }
                !read
            });
            if batch.is_empty() {
                return;
            }
        }
        let writes = batch.iter().any(|q| matches!(q.op, Op::Write(..)));
        if !self.sync {
            // Answer at once; ship writes, in order, without waiting.
            if writes {
                *seq += 1;
                *stored = (*epoch, *seq);
                let writes = batch
                    .iter()
                    .filter(|q| matches!(q.op, Op::Write(..)))
                    .copied()
                    .collect();
                let msg = PbMsg::Replicate {
                    epoch: *epoch,
                    seq: *seq,
                    batch: writes,
                };
                self.send_to(*backups, msg, o);
            }
            for q in batch {
                self.answer(store, q, o);
            }
            return;
        }
        *seq += 1;
        *stored = (*epoch, *seq);
        let msg = PbMsg::Replicate {
            epoch: *epoch,
            seq: *seq,
            batch: batch.clone(),
        };
        *running = Some(Running {
            seq: *seq,
            batch,
            waiting: *backups,
        });
        self.send_to(*backups, msg, o);
        self.resend_later(o);
    }

    fn request(&self, state: &mut Cow<PbState>, q: Request, o: &mut PbOut) {
        let applied_here = applied(&state.store, &q);
        if applied_here && !matches!(state.role, Role::Primary { .. }) {
            // This server applied the write (as a primary since replaced, or as a backup), so
            // error 11 ("not applied") would be a lie, and only a primary may answer write_ok:
            // no answer. The client retries elsewhere and the primary answers from its session.
            return;
        }
        match &state.role {
            Role::Primary { running, queue, .. } => {
                let running_it = running.as_ref().is_some_and(|r| r.batch.contains(&q));
                if running_it || queue.contains(&q) {
                    return; // a duplicate
                }
                if queue.len() >= MAX_QUEUE {
                    if !applied_here {
                        let busy = KvMsg::error(q.msg_id, ErrorCode::TemporarilyUnavailable);
                        o.send(q.client_id(), busy);
                    }
                    return;
                }
                // A write applied already is queued too: the next batch starts only once
                // everything before it is at every backup, and answers it from its session.
                let s = state.to_mut();
                if let Role::Primary { queue, .. } = &mut s.role {
                    queue.push(q);
                }
                self.finish(s, o);
            }
            Role::Backup { primary, .. } => {
                let leader = primary.map(|p| self.servers[p as usize]);
                o.send(q.client_id(), KvMsg::not_leader(q.msg_id, leader));
            }
            Role::Candidate { .. } => o.send(
                q.client_id(),
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
            PbMsg::Replicate { epoch, .. }
            | PbMsg::NewEpoch { epoch, .. }
            | PbMsg::Heartbeat { epoch }
            | PbMsg::Elect { epoch }
                if self.fencing && epoch < mine =>
            {
                o.send(src, KvMsg::Internal(PbMsg::Reject { epoch: mine }));
            }
            PbMsg::Replicate { epoch, .. } | PbMsg::Heartbeat { epoch }
                if self.fencing && epoch > mine =>
            {
                // A newer epoch whose store has not arrived yet: follow it, apply nothing.
                self.step_down(state.to_mut(), epoch, Some(from as u8), o);
            }
            PbMsg::Heartbeat { epoch } => {
                let following = matches!(state.role, Role::Backup { next: Some(_), .. });
                if following && (epoch == mine || !self.fencing) {
                    self.suspect_later(o);
                }
            }
            PbMsg::Replicate { epoch, seq, batch } => {
                let s = state.to_mut();
                let next = match &mut s.role {
                    // Without fencing nobody checks: a backup applies whatever arrives, and a
                    // primary applies another's operation too.
                    _ if !self.fencing => {
                        for q in batch {
                            self.apply(&mut s.store, q);
                        }
                        return o.send(src, KvMsg::Internal(PbMsg::Ack { epoch, seq }));
                    }
                    Role::Backup { primary, next } => {
                        // A restarted backup learns whom it follows (for its clients' hints).
                        primary.get_or_insert(from as u8);
                        next
                    }
                    _ => return,
                };
                match *next {
                    Some(n) if seq == n => {
                        *next = Some(n + 1);
                        s.stored = (epoch, seq);
                        for q in batch {
                            self.apply(&mut s.store, q);
                        }
                        o.send(src, KvMsg::Internal(PbMsg::Ack { epoch, seq }));
                    }
                    // Applied already: a duplicate, or a resend whose acknowledgement was lost.
                    Some(n) if seq < n => {
                        o.send(src, KvMsg::Internal(PbMsg::Ack { epoch, seq }));
                    }
                    // A gap (asynchronous shipping over a network that reorders), or no store
                    // yet: wait.
                    _ => return,
                }
                if self.heartbeat {
                    self.suspect_later(o);
                }
            }
            PbMsg::NewEpoch { epoch, store } => {
                // This epoch's store is here already (fenced: only its one primary sends it;
                // a restarted backup does not know who that is yet).
                let resent = epoch == mine
                    && match state.role {
                        Role::Backup { .. } if self.fencing => state.stored.0 == epoch,
                        Role::Backup {
                            primary: Some(p),
                            next: Some(_),
                        } => p as usize == from,
                        _ => false,
                    };
                if resent {
                    if let Role::Backup { primary: None, .. } = state.role {
                        if let Role::Backup { primary, .. } = &mut state.to_mut().role {
                            *primary = Some(from as u8);
                        }
                    }
                } else {
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
                }
                // A resent store already here (its acknowledgement was lost) is acknowledged
                // again and not applied: the backup may have applied later operations since.
                o.send(src, KvMsg::Internal(PbMsg::Ack { epoch, seq: 0 }));
                if self.heartbeat {
                    self.suspect_later(o);
                }
            }
            PbMsg::Ack { epoch, seq } => {
                let Role::Primary { running, .. } = &state.role else {
                    return;
                };
                let waits = running
                    .as_ref()
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
                // Every operation answered in an earlier epoch is at every backup of that
                // epoch, a majority, so at one voter at least: the most advanced store has
                // them all.
                if stored > *best {
                    *best = stored;
                    *best_store = store;
                }
                let all = (1u64 << self.servers.len()) - 1;
                if *votes == all {
                    self.elected(s, o);
                } else if votes.count_ones() == self.majority() {
                    // Enough to serve; the others get a moment to join the view.
                    o.set_timer(PbTimer::Gather, ms(GATHER_MS));
                }
            }
            _ => {}
        }
    }

    /// A candidate with a majority becomes the primary of its voters, with the best store.
    fn elected(&self, state: &mut PbState, o: &mut PbOut) {
        let Role::Candidate { votes, store, .. } = &state.role else {
            return;
        };
        debug_assert!(votes.count_ones() >= self.majority());
        let view = votes & !self.me();
        state.store = Arc::clone(store);
        self.promote(state, view, o);
    }
}

impl Actor for PbServer {
    type Msg = KvMsg<PbMsg>;
    type State = PbState;
    type Timer = PbTimer;
    type Random = ();
    type Storage = PbSaved;

    fn name(&self) -> String {
        format!("server {}", self.index)
    }

    /// Server 0 is the first primary; a restarted server is a backup of the epoch it saved
    /// (still following it where it holds that epoch's store), until it hears from a primary
    /// or suspects.
    fn on_start(&self, _id: Id, storage: &Option<PbSaved>, o: &mut PbOut) -> PbState {
        if let Some(saved) = storage {
            self.suspect_later(o);
            let mut store = Arc::clone(&saved.store);
            if store.sessions.len() > self.max_sessions {
                Arc::make_mut(&mut store)
                    .sessions
                    .truncate_to(self.max_sessions);
            }
            let epoch = match self.bug {
                Some(PbBug::ForgetVote) => saved.stored.0,
                _ => saved.epoch,
            };
            let next = (saved.stored.0 == epoch).then_some(saved.stored.1 + 1);
            return PbState {
                epoch,
                role: Role::Backup {
                    primary: None,
                    next,
                },
                store,
                stored: saved.stored,
            };
        }
        let role = if self.index == 0 {
            if self.heartbeat {
                o.set_timer(PbTimer::Heartbeat, ms(HEARTBEAT_MS));
            }
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
        self.suspect_later(o);
        PbState {
            epoch: 1,
            role,
            store: Arc::default(),
            stored: (1, 0),
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<PbState>, src: Id, msg: KvMsg<PbMsg>, o: &mut PbOut) {
        let before = saved_part(state);
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
        save_if_changed(before, state, o);
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<PbState>, timer: &PbTimer, o: &mut PbOut) {
        let before = saved_part(state);
        match timer {
            PbTimer::Heartbeat => {
                let Role::Primary {
                    backups, running, ..
                } = &state.role
                else {
                    return; // not primary any more: the next promotion sets it again
                };
                let waiting = running.as_ref().map_or(0, |r| r.waiting);
                if let Some(r) = running.as_ref().filter(|r| r.waiting != 0) {
                    // Resend what is not acknowledged: it or its acknowledgement may be lost.
                    let msg = match r.seq {
                        0 => PbMsg::NewEpoch {
                            epoch: state.epoch,
                            store: Arc::clone(&state.store),
                        },
                        seq => PbMsg::Replicate {
                            epoch: state.epoch,
                            seq,
                            batch: r.batch.clone(),
                        },
                    };
                    self.send_to(r.waiting, msg, o);
                }
                let beat = PbMsg::Heartbeat { epoch: state.epoch };
                self.send_to(backups & !waiting, beat, o);
                let next = if waiting != 0 {
                    RESEND_MS
                } else {
                    HEARTBEAT_MS
                };
                o.set_timer(PbTimer::Heartbeat, ms(next));
            }
            PbTimer::Gather => {
                let majority = match &state.role {
                    Role::Candidate { votes, .. } => votes.count_ones() >= self.majority(),
                    _ => false,
                };
                if majority {
                    self.elected(state.to_mut(), o);
                }
            }
            PbTimer::Suspect => {
                if state.epoch >= self.max_epoch {
                    return;
                }
                match &state.role {
                    Role::Primary { running, .. } => {
                        let stalled = running.as_ref().is_some_and(|r| r.waiting != 0);
                        if stalled && self.fencing {
                            // A backup does not answer: a new epoch without it.
                            self.stand(state.to_mut(), o);
                        } else if stalled {
                            // Without fencing the primary just stops waiting for it.
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
                        self.suspect_later(o);
                    }
                    Role::Backup { .. } | Role::Candidate { .. } => self.stand(state.to_mut(), o),
                }
            }
        }
        save_if_changed(before, state, o);
    }
}

/// Whether `store` has applied write `q` (or a later write of its client).
fn applied(store: &KvStore, q: &Request) -> bool {
    matches!(q.op, Op::Write(..)) && store.sessions.seen(q.client_id(), q.msg_id) != Seen::New
}

/// The part of a server's state it saves.
fn saved_part(state: &PbState) -> PbSaved {
    PbSaved {
        epoch: state.epoch,
        stored: state.stored,
        store: Arc::clone(&state.store),
    }
}

/// Saves the server's epoch, store and position when a step changed them.
fn save_if_changed(before: PbSaved, state: &PbState, o: &mut PbOut) {
    let same = before.epoch == state.epoch
        && before.stored == state.stored
        && Arc::ptr_eq(&before.store, &state.store);
    if !same {
        o.save(saved_part(state));
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
    /// Crash-restarts in a run: a crashed server restarts at once from what it saved.
    pub crashes: usize,
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
        .max_crashes(cfg.crashes)
        .reboot(true)
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
    let mut checked = Checked::new(system);
    checked.allow = crate::checked::servers_only_crash;
    checked
}

/// The networks the model is checked on. Not the duplicating ones: the checker's client takes a
/// duplicated error 11 for a new answer, follows its hint again, and after
/// [`KvClient::MAX_HOPS`] gives up on a request that is still in flight (a false alarm of the
/// client, not of the protocol). Duplicates on sockets meet the sessions and the resend rules,
/// and `tests/pb_runtime.rs` runs with them.
const NETWORKS: &[NetworkKind] = &[
    NetworkKind::UnorderedNonDuplicating,
    NetworkKind::Ordered,
    NetworkKind::LossyUnorderedNonDuplicating,
    NetworkKind::LossyOrdered,
];

/// The bug variants by name.
const BUGS: [(&str, PbBug); 2] = [
    ("local-reads", PbBug::LocalReads),
    ("forget-vote", PbBug::ForgetVote),
];

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
            Param::model(
                "crashes",
                "crash-restarts in a run (a crashed server restarts at once as a backup of its saved epoch, with its saved store)",
                0,
                0,
                2,
            ),
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
        },
        BugInfo {
            name: "forget-vote",
            summary: "a restarted server comes back in the epoch of its store, not the epoch it voted for, and can vote twice in one epoch",
            source: "the Raft paper's Figure 2 (currentTerm and votedFor are persistent state, written before answering); Viewstamped Replication Revisited, section 4.3 (a recovering replica must not take part before it learns the current view)",
            violates: "single primary per epoch",
            needs: &[Need::Param("crashes", 1)],
        }],
        symmetry: None,
        networks: NETWORKS,
        validate: crate::protocol::no_validation,
        pinned: &[
            Pinned {
                params: &[],
                symmetry: false,
                unique_states: 3_888_987,
                source: "tests/check_primary_backup.rs",
            },
            Pinned {
                params: &[("backups", 1)],
                symmetry: false,
                unique_states: 52_473,
                source: "tests/check_primary_backup.rs",
            },
            Pinned {
                params: &[("backups", 1), ("crashes", 1)],
                symmetry: false,
                unique_states: 234_013,
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
            crashes: s.count("crashes"),
            network: s.network,
            bug: s.bug_of(&BUGS),
        })
    }
}

impl Serve for PrimaryBackup {
    type Internal = PbMsg;
    type Server = PbServer;
    type Storage = PbSaved;
    const KEYS: KeySemantics = KeySemantics::Register;
    const CAS: bool = false;
    const LEADER: bool = true;

    /// On the network epochs are unbounded, and the primary sends heartbeats.
    fn server(s: &Settings, index: usize, servers: Vec<Id>) -> PbServer {
        PbServer {
            sync: s.flag("sync"),
            fencing: s.flag("fencing"),
            bug: s.bug_of(&BUGS),
            heartbeat: true,
            ..PbServer::new(index, servers)
        }
    }

    /// A server keeps a bit per server (votes, the view, who a batch waits for).
    fn fits(_: &Settings, nodes: usize) -> Result<(), String> {
        if nodes > MAX_SERVERS {
            return Err(format!(
                "--nodes {nodes}: primary-backup runs on at most {MAX_SERVERS} servers"
            ));
        }
        Ok(())
    }

    fn leading(state: &PbState) -> Option<u64> {
        matches!(state.role, Role::Primary { .. }).then_some(state.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(client: u64, msg_id: MsgId, key: Key, value: Value) -> Request {
        Request {
            client,
            msg_id,
            op: Op::Write(key, value),
        }
    }

    fn replay(base: &PbSaved, entries: Vec<PbEntry>) -> PbSaved {
        let mut s = base.clone();
        for e in entries {
            s.apply(e);
        }
        s
    }

    #[test]
    fn a_save_within_one_store_is_its_assignments_and_sessions() {
        let server = PbServer::new(0, vec![Id::from(0), Id::from(1)]);
        let mut prev = PbSaved {
            epoch: 1,
            stored: (1, 0),
            store: Arc::default(),
        };
        for seq in 1..=50u64 {
            let mut next = prev.clone();
            server.apply(&mut next.store, write(10 + seq % 7, seq, seq % 5, seq));
            next.stored = (1, seq);
            if seq % 10 == 0 {
                next.epoch += 1; // a vote for a later epoch
            }
            let delta = next.delta(&prev).expect("one store: a delta");
            assert!(delta.len() <= 4, "{delta:?}");
            assert_eq!(replay(&prev, delta), next, "seq {seq}");
            prev = next;
        }
        // A store received whole (another epoch's) is a snapshot.
        let mut other = prev.clone();
        other.store = Arc::default();
        other.stored = (7, 0);
        assert_eq!(other.delta(&prev), None);
    }

    #[test]
    fn a_write_of_one_key_too_many_is_refused_and_an_overwrite_is_not() {
        let server = PbServer {
            max_keys: 2,
            sync: false,
            ..PbServer::new(0, vec![Id::from(0), Id::from(1)])
        };
        let mut o = Out::new();
        let mut state = Cow::Owned(server.on_start(Id::from(0), &None, &mut o));
        for (msg_id, key) in [(1, 10), (2, 11), (3, 12), (4, 10)] {
            let msg = KvMsg::Write {
                msg_id,
                key,
                value: msg_id,
            };
            server.on_msg(Id::from(0), &mut state, Id::from(5), msg, &mut o);
        }
        let replies: Vec<String> = o
            .iter()
            .filter_map(|c| match c {
                stateright::actor::Command::Send(dst, m) if *dst == Id::from(5) => {
                    Some(format!("{m:?}"))
                }
                _ => None,
            })
            .collect();
        assert_eq!(replies.len(), 4, "{replies:?}");
        assert_eq!(replies[2], "Error(#3 10)");
        assert!(replies[3].starts_with("WriteOk"), "{replies:?}");
        assert_eq!(state.store.data.len(), 2);
        assert_eq!(state.store.data.get(&10), Some(&4));
    }

    #[test]
    fn a_retried_write_is_answered_from_its_session_not_applied_again() {
        let server = PbServer {
            sync: false,
            ..PbServer::new(0, vec![Id::from(0), Id::from(1)])
        };
        let mut o = Out::new();
        let mut state = Cow::Owned(server.on_start(Id::from(0), &None, &mut o));
        let first = KvMsg::Write {
            msg_id: 1,
            key: 0,
            value: 1,
        };
        server.on_msg(Id::from(0), &mut state, Id::from(5), first.clone(), &mut o);
        let other = KvMsg::Write {
            msg_id: 1,
            key: 0,
            value: 2,
        };
        server.on_msg(Id::from(0), &mut state, Id::from(6), other, &mut o);
        let shipped = |o: &Out<PbServer>| {
            o.iter()
                .filter(
                    |c| matches!(c, stateright::actor::Command::Send(d, _) if *d == Id::from(1)),
                )
                .count()
        };
        assert_eq!(shipped(&o), 2);
        // The first client's write arrives again, after another client's.
        server.on_msg(Id::from(0), &mut state, Id::from(5), first, &mut o);
        assert_eq!(shipped(&o), 2, "a retry is not shipped again");
        assert_eq!(state.store.data.get(&0), Some(&2), "nor applied again");
    }

    fn three() -> Vec<Id> {
        (0..3).map(Id::from).collect()
    }

    fn internal(server: &PbServer, state: &mut Cow<PbState>, from: usize, msg: PbMsg) -> PbOut {
        let mut o = Out::new();
        let msg = KvMsg::Internal(msg);
        server.on_msg(Id::from(server.index), state, Id::from(from), msg, &mut o);
        o
    }

    fn timeout(server: &PbServer, state: &mut Cow<PbState>, timer: PbTimer) -> PbOut {
        let mut o = Out::new();
        server.on_timeout(Id::from(server.index), state, &timer, &mut o);
        o
    }

    /// A candidate that gathered a majority for one epoch and then stood for the next must not
    /// be promoted by the first epoch's Gather timer (found in review: a primary of no one).
    #[test]
    fn a_majority_for_an_earlier_epoch_promotes_nobody() {
        let server = PbServer::new(1, three());
        let mut state = Cow::Owned(server.on_start(Id::from(1), &None, &mut Out::new()));
        timeout(&server, &mut state, PbTimer::Suspect);
        assert_eq!(state.epoch, 2);
        let vote = PbMsg::Vote {
            epoch: 2,
            stored: (1, 0),
            store: Arc::default(),
        };
        let o = internal(&server, &mut state, 0, vote);
        let sets_gather = |o: &PbOut| {
            o.iter()
                .any(|c| matches!(c, stateright::actor::Command::SetTimer(PbTimer::Gather, _)))
        };
        assert!(sets_gather(&o), "a majority waits for the others");
        let o = timeout(&server, &mut state, PbTimer::Suspect);
        assert_eq!(state.epoch, 3);
        let cancels = o
            .iter()
            .any(|c| matches!(c, stateright::actor::Command::CancelTimer(PbTimer::Gather)));
        assert!(cancels, "standing again cancels the wait");
        timeout(&server, &mut state, PbTimer::Gather);
        assert!(matches!(state.role, Role::Candidate { .. }), "{state:?}");
    }

    /// A restarted backup that holds its epoch's store does not take a late copy of the epoch's
    /// first store over the operations it applied since (found in review).
    #[test]
    fn a_late_store_copy_does_not_roll_a_restarted_backup_back() {
        let server = PbServer {
            heartbeat: true,
            ..PbServer::new(1, three())
        };
        let mut store = KvStore::default();
        store.data.insert(7, 5);
        let saved = PbSaved {
            epoch: 2,
            stored: (2, 5),
            store: Arc::new(store),
        };
        let mut state = Cow::Owned(server.on_start(Id::from(1), &Some(saved), &mut Out::new()));
        let late = PbMsg::NewEpoch {
            epoch: 2,
            store: Arc::default(),
        };
        let o = internal(&server, &mut state, 0, late);
        assert_eq!(state.stored, (2, 5));
        assert_eq!(state.store.data.get(&7), Some(&5));
        assert!(
            matches!(
                state.role,
                Role::Backup {
                    primary: Some(0),
                    next: Some(6)
                }
            ),
            "{state:?}"
        );
        let acks = o.iter().any(|c| {
            matches!(
                c,
                stateright::actor::Command::Send(
                    _,
                    KvMsg::Internal(PbMsg::Ack { epoch: 2, seq: 0 })
                )
            )
        });
        assert!(acks, "acknowledged again");
    }

    /// A duplicate of a completed write that waits in the queue when the primary steps down is
    /// not answered error 11 ("not applied"): it was applied (found in review).
    #[test]
    fn a_queued_retry_of_an_applied_write_is_not_called_unapplied() {
        let server = PbServer::new(0, three());
        let mut o = Out::new();
        let mut state = Cow::Owned(server.on_start(Id::from(0), &None, &mut o));
        let client = Id::from(9);
        let w = |msg_id, value| KvMsg::Write {
            msg_id,
            key: 1,
            value,
        };
        server.on_msg(Id::from(0), &mut state, client, w(1, 10), &mut o);
        for from in [1, 2] {
            let ack = PbMsg::Ack { epoch: 1, seq: 1 };
            internal(&server, &mut state, from, ack);
        }
        // Another client's write runs; the first write's duplicate queues behind it.
        server.on_msg(Id::from(0), &mut state, Id::from(8), w(1, 20), &mut o);
        let mut o = Out::new();
        server.on_msg(Id::from(0), &mut state, client, w(1, 10), &mut o);
        let o = internal(&server, &mut state, 1, PbMsg::Reject { epoch: 5 });
        let to_client = o
            .iter()
            .any(|c| matches!(c, stateright::actor::Command::Send(d, _) if *d == client));
        assert!(!to_client, "no error 11 for an applied write");
        assert!(matches!(state.role, Role::Backup { .. }));
    }
}
