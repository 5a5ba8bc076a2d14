//! One node: a stateright actor driven by a UDP socket, a clock and a disk.
//!
//! The loop, on one thread:
//!
//! 1. wait (epoll, through mio) until a datagram arrives, a timer or a delayed datagram is due,
//!    or [`STOP_POLL`] passes (to notice a stop request);
//! 2. take up to [`BATCH`] datagrams off the socket and run the actor's `on_msg` for each, then
//!    `on_timeout` for each due timer and `on_random` for each pending random choice: these are
//!    the batch's *steps*, and their sends wait in an outbox;
//! 3. send the messages the protocol declares independent of unsaved state
//!    ([`Serve::early`](synod_models::protocol::Serve::early); none unless it says so);
//! 4. **group commit**: if any step `save`d, write the newest saved value
//!    ([`DiskStore::write`]) and have it fsynced once by the node's disk thread ([`Syncer`]);
//! 5. send the rest of the outbox once the saves made before it are on disk — so what a step
//!    saved is durable before any other message it produced leaves the node (DESIGN.md,
//!    "Runtime rules"). Binary to peers, JSON to clients, each datagram through the fault
//!    injector (loss, duplication, delay, partitions). A message a node sends itself is queued
//!    in memory and delivered at its next batch, after the fsync for a message of step 5, so a
//!    note to itself can say "this is durable now".
//!
//! A node whose protocol lets nothing leave early waits for its fsync in the loop: every
//! message waits for it anyway, and the next batch then holds everything that arrived
//! meanwhile. A node with early messages goes on while its disk thread syncs: it keeps taking
//! datagrams, its exempt messages leave at once, the others queue by the number of the write
//! they wait for ([`Pipeline`]), and saves staged during a sync are written together when it
//! ends (never into a file being synced, which would stall on pages under writeback).
//!
//! Ids are addresses: a node's `Id` is `Id::from(SocketAddrV4)`, a client's is its source
//! address, as in `stateright::actor::spawn`; the actor cannot tell this runtime from the
//! checker. Datagrams that do not decode, binary datagrams from non-peers and replies that have
//! no client form are dropped and counted, never logged one by one.

use super::codec::{self, Decoded, MAX_DATAGRAM_BYTES};
use super::datadir::{DataDir, Meta};
use super::faults::{Fate, Faults, Rng};
use super::record::{Kind, Tape};
use super::storage::{DiskStore, Durable};
use super::{Counters, NodeContext};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::actor::{Actor, Command, Id, Out};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use synod_models::kv::KvMsg;
use synod_models::protocol::MAX_TALLIES;

/// The most datagrams taken off the socket per batch (one fsync covers them all).
pub const BATCH: usize = 128;
/// The longest the loop sleeps before it looks at its stop flag.
pub const STOP_POLL: Duration = Duration::from_millis(20);
/// The most datagrams waiting in the delay queue (fault injection); more are dropped and counted.
pub const MAX_DELAYED: usize = 65_536;
/// The socket buffers asked of the kernel (bytes; the kernel may grant less).
pub const SOCKET_BUFFER_BYTES: usize = 8 << 20;
/// The most messages a node's notes to itself may queue; more are dropped and counted.
pub const MAX_LOOPBACK: usize = 4096;

/// A datagram held back by the delay fault.
struct Delayed {
    due: Instant,
    seq: u64,
    dst: SocketAddrV4,
    bytes: Vec<u8>,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// How much later than the original an injected duplicate of a client request arrives, at most
/// (uniform; plus the configured delay): a network that duplicates does not deliver both copies
/// back to back, and a copy applied right after its original would change nothing to see.
pub const DUPLICATE_LATER_MAX: Duration = Duration::from_millis(20);

/// A client request to deliver again later (injected duplication on the way in).
struct Redelivery<M> {
    due: Instant,
    seq: u64,
    src: SocketAddrV4,
    msg: M,
}

impl<M> PartialEq for Redelivery<M> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl<M> Eq for Redelivery<M> {}
impl<M> PartialOrd for Redelivery<M> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for Redelivery<M> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// The running actor and everything its steps touch.
struct Node<A: Actor>
where
    A::Storage: Durable,
{
    actor: A,
    id: Id,
    peers: HashMap<SocketAddrV4, usize>,
    /// Always `Some` between steps.
    state: Option<A::State>,
    timers: HashMap<A::Timer, Instant>,
    randoms: Vec<(String, A::Random)>,
    store: DiskStore<A::Storage>,
    /// Sends that wait for the batch's commit, and those the protocol lets go before it.
    outbox: Vec<(Id, A::Msg)>,
    early_outbox: Vec<(Id, A::Msg)>,
    early: Option<fn(&A, &A::Msg) -> bool>,
    rng: Rng,
    counters: std::sync::Arc<Counters>,
    /// Whether (and in which term) the state leads, published for `--crash leader`.
    leading: fn(&A::State) -> Option<u64>,
    published: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The protocol's counts in the state, published into `counters.protocol`.
    tallies: Option<Tallies<A>>,
}

impl<A, I> Node<A>
where
    A: Actor<Msg = KvMsg<I>>,
    A::Storage: Durable,
{
    /// Carries out a step's commands: sends wait in the outbox, saves are staged for the batch's
    /// commit, timers get a uniformly random duration in their range.
    fn absorb(&mut self, out: Out<A>) {
        for c in out {
            match c {
                Command::Send(dst, msg) => {
                    if self.early.is_some_and(|early| early(&self.actor, &msg)) {
                        self.early_outbox.push((dst, msg))
                    } else {
                        self.outbox.push((dst, msg))
                    }
                }
                Command::Save(s) => self.store.stage(s),
                Command::SetTimer(t, range) => {
                    let lo = range.start.as_nanos() as u64;
                    let hi = range.end.as_nanos() as u64;
                    let d = Duration::from_nanos(self.rng.range(lo, hi));
                    self.timers.insert(t, Instant::now() + d);
                }
                Command::CancelTimer(t) => {
                    self.timers.remove(&t);
                }
                Command::ChooseRandom(key, options) => {
                    self.randoms.retain(|(k, _)| *k != key);
                    if !options.is_empty() {
                        let pick = self.rng.range(0, options.len() as u64) as usize;
                        self.randoms.push((key, options[pick].clone()));
                    }
                }
            }
        }
        self.counters.steps.fetch_add(1, Relaxed);
    }

    /// Runs one handler. The state is handed over owned (`Cow::Owned`), so a handler that
    /// changes it (`to_mut`) edits it in place instead of cloning it as the checker must.
    fn step(&mut self, f: impl FnOnce(&A, Id, &mut Cow<A::State>, &mut Out<A>)) {
        let mut out = Out::new();
        let state = self
            .state
            .take()
            .expect("the state is put back after every step");
        let mut cow = Cow::Owned(state);
        f(&self.actor, self.id, &mut cow, &mut out);
        let state = cow.into_owned();
        let leading = (self.leading)(&state).map_or(0, |term| term.saturating_add(1));
        self.published.store(leading, Relaxed);
        if let Some(tallies) = self.tallies {
            for (slot, value) in self.counters.protocol.iter().zip(tallies(&state)) {
                slot.store(value, Relaxed);
            }
        }
        self.state = Some(state);
        self.absorb(out);
    }
}

/// Opens the node's data directory (locked, checked against what wrote it) and recovers what it
/// saved, in the caller's thread, then runs the node on a thread of its own until `ctx.stop` is
/// set. A directory the node cannot trust is an error here, before anything is served: the
/// message names the file, the offset and what is wrong (see [`super::storage`]).
pub fn start<A, I>(
    actor: A,
    protocol: &'static str,
    hooks: Hooks<A>,
    ctx: NodeContext,
) -> io::Result<std::thread::JoinHandle<io::Result<()>>>
where
    A: Actor<Msg = KvMsg<I>> + Send + 'static,
    A::Storage: Durable,
    I: Clone + std::fmt::Debug + Serialize + DeserializeOwned + Send + 'static,
{
    let meta = Meta::new(protocol, ctx.index, ctx.addrs.to_vec());
    let data = DataDir::open(&ctx.dir, &meta)?;
    let (store, recovered, recovery) = DiskStore::<A::Storage>::recover(data, ctx.fsync)?;
    if let Some(torn) = &recovery.torn_tail {
        eprintln!("node {}: {torn}", ctx.index);
        ctx.counters.torn_tails.fetch_add(1, Relaxed);
    }
    if recovered.is_some() {
        ctx.counters.recoveries.fetch_add(1, Relaxed);
    }
    std::thread::Builder::new()
        .name(format!("synod-node-{}", ctx.index))
        .spawn(move || run(actor, hooks, ctx, store, recovered))
}

/// The protocol's counts in a state ([`synod_models::protocol::Serve::tallies`]).
pub type Tallies<A> = fn(&<A as Actor>::State) -> [u64; MAX_TALLIES];

/// What the runtime asks of a protocol besides its actor ([`synod_models::protocol::Serve`]).
pub struct Hooks<A: Actor> {
    /// The term a state leads in, if it does (published for `--crash leader`).
    pub leading: fn(&A::State) -> Option<u64>,
    /// Which messages may leave before the saves ahead of them are durable.
    pub early: Option<fn(&A, &A::Msg) -> bool>,
    /// The protocol's counts in a state, if it keeps any.
    pub tallies: Option<Tallies<A>>,
    /// Which client requests it serves.
    pub clients: codec::Clients,
}

/// Runs a node until `ctx.stop` is set. Returns an error only for what the node cannot survive
/// (its disk failing); everything the network does is counted instead.
fn run<A, I>(
    actor: A,
    hooks: Hooks<A>,
    ctx: NodeContext,
    store: DiskStore<A::Storage>,
    recovered: Option<A::Storage>,
) -> io::Result<()>
where
    A: Actor<Msg = KvMsg<I>>,
    A::Storage: Durable,
    I: Clone + std::fmt::Debug + Serialize + DeserializeOwned,
{
    let me = ctx.addrs[ctx.index];
    let peers: HashMap<SocketAddrV4, usize> = ctx
        .addrs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != ctx.index)
        .map(|(i, a)| (*a, i))
        .collect();
    let mut socket = UdpSocket::from_std(ctx.socket);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut socket, Token(0), Interest::READABLE)?;
    let mut events = Events::with_capacity(16);
    // A node some of whose messages leave before the disk syncs in the background, so that
    // they are not held up behind an fsync; any other node fsyncs in the loop: every message
    // it sends waits for the disk anyway, and the batch that follows then holds what arrived
    // meanwhile (with closed-loop clients, the requests its replies set off).
    let syncer = match hooks.early {
        Some(_) => {
            let waker = std::sync::Arc::new(mio::Waker::new(poll.registry(), Token(1))?);
            Some(Syncer::start(waker, ctx.index, ctx.dir.clone())?)
        }
        None => None,
    };
    let mut disk = Pipeline::new(syncer, ctx.dir.clone());
    let seed = ctx.faults.seed ^ 0x5EED ^ ((ctx.index as u64) << 32) ^ ctx.incarnation;
    let mut out = Transport {
        socket,
        me,
        index: ctx.index,
        peers: peers.clone(),
        faults: Faults::new(ctx.faults.clone(), ctx.index),
        delayed: BinaryHeap::new(),
        delayed_seq: 0,
        wire: Vec::with_capacity(1024),
        counters: ctx.counters.clone(),
        tape: ctx.record.as_ref().map(|r| {
            r.name(SocketAddr::V4(me), format!("n{}", ctx.index));
            Tape::new(r)
        }),
    };

    let id = Id::from(me);
    let mut first = Out::new();
    let state = actor.on_start(id, &recovered, &mut first);
    let mut node = Node {
        actor,
        id,
        peers,
        state: Some(state),
        timers: HashMap::new(),
        randoms: Vec::new(),
        store,
        outbox: Vec::new(),
        early_outbox: Vec::new(),
        early: hooks.early,
        rng: Rng::new(seed),
        counters: ctx.counters.clone(),
        leading: hooks.leading,
        published: ctx.leading.clone(),
        tallies: hooks.tallies,
    };
    node.absorb(first);

    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    let mut redeliveries_seq = 0u64;
    let mut loopback: VecDeque<KvMsg<I>> = VecDeque::new();
    let mut redeliveries: BinaryHeap<Reverse<Redelivery<KvMsg<I>>>> = BinaryHeap::new();
    let mut backlog = false; // the socket may hold more datagrams than the last batch took
    let counters = ctx.counters.clone();
    let clients = hooks.clients;

    loop {
        // Messages still waiting for their saves to be synced were never sent: a stop now
        // loses nothing acknowledged.
        if ctx.stop.load(Relaxed) {
            break;
        }
        let now = Instant::now();
        let mut wait = STOP_POLL;
        if let Some(t) = node.timers.values().min() {
            wait = wait.min(t.saturating_duration_since(now));
        }
        if let Some(Reverse(d)) = out.delayed.peek() {
            wait = wait.min(d.due.saturating_duration_since(now));
        }
        if let Some(Reverse(r)) = redeliveries.peek() {
            wait = wait.min(r.due.saturating_duration_since(now));
        }
        if backlog || !node.randoms.is_empty() || !loopback.is_empty() {
            wait = Duration::ZERO;
        }
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }

        // 2. Steps: notes to itself, duplicated requests now due, datagrams, then due timers,
        // then random choices.
        for msg in std::mem::take(&mut loopback) {
            node.step(|a, id, s, o| a.on_msg(id, s, id, msg, o));
        }
        let now = Instant::now();
        while redeliveries.peek().is_some_and(|Reverse(r)| r.due <= now) {
            let Reverse(r) = redeliveries.pop().expect("peeked");
            node.step(|a, id, s, o| a.on_msg(id, s, Id::from(r.src), r.msg, o));
        }
        backlog = false;
        let mut taken = 0;
        while taken < BATCH {
            let (len, src) = match out.socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // e.g. ECONNREFUSED from an earlier send's ICMP error: nothing was received.
                    counters.recv_errors.fetch_add(1, Relaxed);
                    continue;
                }
            };
            taken += 1;
            counters.received.fetch_add(1, Relaxed);
            let SocketAddr::V4(src) = src else {
                counters.undecodable.fetch_add(1, Relaxed);
                continue;
            };
            if len > MAX_DATAGRAM_BYTES {
                counters.undecodable.fetch_add(1, Relaxed);
                continue;
            }
            let decoded = codec::decode::<I>(&buf[..len], clients);
            if let Some(tape) = &mut out.tape {
                let (kind, bytes) = (Kind::Receive, &buf[..len]);
                let (me, from) = (SocketAddr::V4(me), Some(SocketAddr::V4(src)));
                match &decoded {
                    Decoded::Peer(_) if !node.peers.contains_key(&src) => tape.note(
                        Kind::Dropped,
                        me,
                        from,
                        bytes,
                        format_args!("NonPeer(a node message from an address that is not a peer)"),
                        None,
                    ),
                    Decoded::Peer(msg) | Decoded::Client(msg) => {
                        tape.note(kind, me, from, bytes, format_args!("{msg:?}"), Some(msg))
                    }
                    Decoded::Reject { code, .. } => tape.note(
                        kind,
                        me,
                        from,
                        bytes,
                        format_args!("Malformed(answered with error {})", code.code()),
                        None,
                    ),
                    Decoded::Garbage => tape.note(
                        Kind::Dropped,
                        me,
                        from,
                        bytes,
                        format_args!("Undecodable({len} bytes)"),
                        None,
                    ),
                }
            }
            match decoded {
                Decoded::Peer(msg) => {
                    if !node.peers.contains_key(&src) {
                        counters.non_peer.fetch_add(1, Relaxed);
                        continue;
                    }
                    node.step(|a, id, s, o| a.on_msg(id, s, Id::from(src), msg, o));
                }
                Decoded::Client(msg) => {
                    counters.requests.fetch_add(1, Relaxed);
                    if out.faults.duplicate_inbound() {
                        if redeliveries.len() < MAX_DELAYED {
                            counters.fault_duplicated.fetch_add(1, Relaxed);
                            let later = out.faults.config.delay_ms.max(0.0) / 1000.0
                                + DUPLICATE_LATER_MAX.as_secs_f64() * node.rng.unit();
                            redeliveries_seq += 1;
                            redeliveries.push(Reverse(Redelivery {
                                due: Instant::now() + Duration::from_secs_f64(later),
                                seq: redeliveries_seq,
                                src,
                                msg: msg.clone(),
                            }));
                        } else {
                            counters.queue_full.fetch_add(1, Relaxed);
                        }
                    }
                    node.step(|a, id, s, o| a.on_msg(id, s, Id::from(src), msg, o));
                }
                Decoded::Reject { msg_id, code } => {
                    counters.malformed.fetch_add(1, Relaxed);
                    node.outbox
                        .push((Id::from(src), KvMsg::error(msg_id, code)));
                }
                Decoded::Garbage => {
                    counters.undecodable.fetch_add(1, Relaxed);
                }
            }
        }
        if taken == BATCH {
            backlog = true;
        }
        let now = Instant::now();
        if node.timers.values().any(|t| *t <= now) {
            let mut due: Vec<A::Timer> = node
                .timers
                .iter()
                .filter(|(_, t)| **t <= now)
                .map(|(k, _)| k.clone())
                .collect();
            due.sort_by_key(|k| node.timers[k]);
            for t in due {
                // An earlier step of this batch may have reset or cancelled it.
                if node.timers.get(&t).is_some_and(|at| *at <= now) {
                    node.timers.remove(&t);
                    counters.timeouts.fetch_add(1, Relaxed);
                    if let Some(tape) = &mut out.tape {
                        let me = SocketAddr::V4(me);
                        tape.note(Kind::Timeout, me, None, &[], format_args!("{t:?}"), None);
                    }
                    node.step(|a, id, s, o| a.on_timeout(id, s, &t, o));
                }
            }
        }
        for (_, r) in std::mem::take(&mut node.randoms) {
            node.step(|a, id, s, o| a.on_random(id, s, &r, o));
        }

        // 3. What the protocol lets leave before the batch's saves are durable.
        if !node.early_outbox.is_empty() {
            let batch = std::mem::take(&mut node.early_outbox);
            counters.sent_early.fetch_add(batch.len() as u64, Relaxed);
            out.send_all(batch, &mut loopback, ctx.epoch.elapsed(), Instant::now());
        }

        // 4. Group commit: the saves staged since the last write are written together and
        // fsynced, in the loop or (with early messages) by the disk thread while the loop goes
        // on, never into a file it is syncing: one fsync covers every save made before it.
        disk.collect(&counters)?;
        if node.store.dirty() && !disk.syncing {
            disk.write(&mut node.store, &counters)?;
        }

        // 5. The rest, once the saves made before it are durable, in the order produced: a
        // message produced after a save still staged waits for the write that will carry it.
        let batch = std::mem::take(&mut node.outbox);
        if !batch.is_empty() {
            let needs = disk.written + u64::from(node.store.dirty());
            if disk.durable >= needs {
                out.send_all(batch, &mut loopback, ctx.epoch.elapsed(), Instant::now());
            } else {
                disk.waiting.push_back((needs, batch));
                if disk.waiting.len() >= MAX_WAITING_BATCHES {
                    // Bounded: let the disk catch up.
                    disk.wait(&counters)?;
                    if node.store.dirty() {
                        disk.write(&mut node.store, &counters)?;
                    }
                }
            }
        }
        let elapsed = ctx.epoch.elapsed();
        let now = Instant::now();
        while disk
            .waiting
            .front()
            .is_some_and(|(seq, _)| *seq <= disk.durable)
        {
            let (_, batch) = disk.waiting.pop_front().expect("checked");
            out.send_all(batch, &mut loopback, elapsed, now);
        }
        out.send_due(elapsed, now);
    }
    Ok(())
}

/// The most batches of messages waiting for an fsync; past it the loop waits for the disk.
pub const MAX_WAITING_BATCHES: usize = 1024;

/// Where the node's writes stand: numbered in order, synced in the loop or by a [`Syncer`].
struct Pipeline<M> {
    /// `None`: each write is fsynced in the loop before it goes on.
    syncer: Option<Syncer>,
    /// The data directory (for error messages).
    dir: std::path::PathBuf,
    /// The number of the last write, and of the last one known durable.
    written: u64,
    durable: u64,
    /// The disk thread is syncing.
    syncing: bool,
    /// Messages waiting for the write of this number to be durable, oldest first (only with a
    /// disk thread: in the loop every write is durable before anything is sent).
    waiting: VecDeque<(u64, Vec<(Id, M)>)>,
}

impl<M> Pipeline<M> {
    fn new(syncer: Option<Syncer>, dir: std::path::PathBuf) -> Self {
        Pipeline {
            syncer,
            dir,
            written: 0,
            durable: 0,
            syncing: false,
            waiting: VecDeque::new(),
        }
    }

    /// Writes what the store has staged and has it synced: at once in the loop, or by the disk
    /// thread. Durable at once when no sync is needed (a snapshot, fsynced when written and
    /// covering every earlier write, or `--fsync never`).
    fn write<S: Durable>(
        &mut self,
        store: &mut DiskStore<S>,
        counters: &Counters,
    ) -> io::Result<()> {
        let w = store.write()?;
        counters.commits.fetch_add(1, Relaxed);
        counters.fsyncs.fetch_add(w.stats.fsyncs, Relaxed);
        counters.disk_bytes.fetch_add(w.stats.bytes, Relaxed);
        counters.snapshots.fetch_add(w.stats.snapshots, Relaxed);
        self.written += 1;
        match (w.sync, &self.syncer) {
            (None, _) => self.durable = self.written,
            (Some(wal), None) => {
                wal.sync_data().map_err(|e| fsync_error(&self.dir, e))?;
                counters.fsyncs.fetch_add(1, Relaxed);
                self.durable = self.written;
            }
            (Some(wal), Some(syncer)) => {
                syncer.request(self.written, wal);
                self.syncing = true;
            }
        }
        Ok(())
    }

    /// Notes the syncs that finished (a failed one fails the node).
    fn collect(&mut self, counters: &Counters) -> io::Result<()> {
        let Some(syncer) = &self.syncer else {
            return Ok(());
        };
        let mut finished = Vec::new();
        while let Ok(done) = syncer.done.try_recv() {
            finished.push(done?);
        }
        for seq in finished {
            self.finished(seq, counters);
        }
        Ok(())
    }

    /// Blocks until the sync under way, if any, finishes.
    fn wait(&mut self, counters: &Counters) -> io::Result<()> {
        if let (true, Some(syncer)) = (self.syncing, &self.syncer) {
            let done = syncer
                .done
                .recv()
                .map_err(|_| io::Error::other("the disk thread stopped"))?;
            self.finished(done?, counters);
        }
        Ok(())
    }

    fn finished(&mut self, seq: u64, counters: &Counters) {
        counters.fsyncs.fetch_add(1, Relaxed);
        self.durable = self.durable.max(seq);
        self.syncing = false;
    }
}

fn fsync_error(dir: &std::path::Path, e: io::Error) -> io::Error {
    let what = format!("fsync of the write-ahead file in {}: {e}", dir.display());
    io::Error::new(e.kind(), what)
}

/// The node's disk thread: it fsyncs the write-ahead file while the loop serves the next batch,
/// and wakes the loop when a sync is done. Requests that queued up during a sync are served by
/// one fsync (the latest request's file: an earlier file was superseded by a snapshot, which
/// was synced when written).
struct Syncer {
    requests: Option<std::sync::mpsc::Sender<(u64, std::sync::Arc<std::fs::File>)>>,
    done: std::sync::mpsc::Receiver<io::Result<u64>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    fn start(
        waker: std::sync::Arc<mio::Waker>,
        index: usize,
        dir: std::path::PathBuf,
    ) -> io::Result<Syncer> {
        let (requests, rx) = std::sync::mpsc::channel::<(u64, std::sync::Arc<std::fs::File>)>();
        let (tx, done) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("synod-disk-{index}"))
            .spawn(move || {
                while let Ok((mut seq, mut wal)) = rx.recv() {
                    while let Ok((later, file)) = rx.try_recv() {
                        (seq, wal) = (later, file);
                    }
                    let result = wal
                        .sync_data()
                        .map(|()| seq)
                        .map_err(|e| fsync_error(&dir, e));
                    let failed = result.is_err();
                    if tx.send(result).is_err() || failed {
                        let _ = waker.wake();
                        return;
                    }
                    let _ = waker.wake();
                }
            })?;
        Ok(Syncer {
            requests: Some(requests),
            done,
            thread: Some(thread),
        })
    }

    fn request(&self, seq: u64, wal: std::sync::Arc<std::fs::File>) {
        if let Some(r) = &self.requests {
            // A send fails only if the thread stopped on a failed sync, which `collect` reports.
            let _ = r.send((seq, wal));
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.requests = None; // ends the thread's loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A node's way out: its socket, the fault injector and the queue of delayed datagrams.
struct Transport {
    socket: UdpSocket,
    me: SocketAddrV4,
    index: usize,
    peers: HashMap<SocketAddrV4, usize>,
    faults: Faults,
    delayed: BinaryHeap<Reverse<Delayed>>,
    delayed_seq: u64,
    wire: Vec<u8>,
    counters: std::sync::Arc<Counters>,
    /// The node's share of a `--record`ing, if the run is recorded.
    tape: Option<Tape>,
}

impl Transport {
    /// Sends `msgs` in order: binary to peers, JSON to clients, through the fault injector; a
    /// message to this node itself goes to `loopback` (no socket, no faults).
    fn send_all<I: Serialize + std::fmt::Debug>(
        &mut self,
        msgs: Vec<(Id, KvMsg<I>)>,
        loopback: &mut VecDeque<KvMsg<I>>,
        elapsed: Duration,
        now: Instant,
    ) {
        let counters = self.counters.clone();
        for (dst, msg) in msgs {
            let dst = SocketAddrV4::from(dst);
            if dst == self.me {
                if loopback.len() < MAX_LOOPBACK {
                    counters.to_self.fetch_add(1, Relaxed);
                    loopback.push_back(msg);
                } else {
                    counters.queue_full.fetch_add(1, Relaxed);
                }
                continue;
            }
            let peer = self.peers.get(&dst).copied();
            let encoded = match peer {
                Some(_) => codec::encode_binary(&msg, &mut self.wire).is_ok(),
                None => codec::encode_json(&msg, &mut self.wire),
            };
            if !encoded || self.wire.len() > MAX_DATAGRAM_BYTES {
                counters.unsendable.fetch_add(1, Relaxed);
                continue;
            }
            let fate = if self.faults.config.any() {
                self.faults.judge(peer.map(|p| (self.index, p)), elapsed)
            } else {
                Fate::Send {
                    copies: 1,
                    delay: Duration::ZERO,
                }
            };
            let (me, to) = (SocketAddr::V4(self.me), Some(SocketAddr::V4(dst)));
            match fate {
                Fate::Drop => {
                    counters.fault_dropped.fetch_add(1, Relaxed);
                    if let Some(tape) = &mut self.tape {
                        let m = Some(&msg as &dyn std::fmt::Debug);
                        tape.note(Kind::Lost, me, to, &self.wire, format_args!("{msg:?}"), m);
                    }
                }
                Fate::Send { copies, delay } => {
                    if copies > 1 {
                        counters.fault_duplicated.fetch_add(1, Relaxed);
                    }
                    for _ in 0..copies {
                        if let Some(tape) = &mut self.tape {
                            let m = Some(&msg as &dyn std::fmt::Debug);
                            tape.note(Kind::Send, me, to, &self.wire, format_args!("{msg:?}"), m);
                        }
                        if delay.is_zero() {
                            send(&self.socket, &self.wire, dst, &counters);
                        } else if self.delayed.len() < MAX_DELAYED {
                            self.delayed_seq += 1;
                            counters.fault_delayed.fetch_add(1, Relaxed);
                            self.delayed.push(Reverse(Delayed {
                                due: now + delay,
                                seq: self.delayed_seq,
                                dst,
                                bytes: self.wire.clone(),
                            }));
                        } else {
                            counters.queue_full.fetch_add(1, Relaxed);
                        }
                    }
                }
            }
        }
    }

    /// Sends the delayed datagrams now due.
    fn send_due(&mut self, elapsed: Duration, now: Instant) {
        while self.delayed.peek().is_some_and(|Reverse(d)| d.due <= now) {
            let Reverse(d) = self.delayed.pop().expect("peeked");
            // A partition that began while the datagram was in flight cuts it too.
            let cut = self
                .peers
                .get(&d.dst)
                .is_some_and(|p| self.faults.cut(self.index, *p, elapsed));
            if cut {
                self.counters.fault_dropped.fetch_add(1, Relaxed);
            } else {
                send(&self.socket, &d.bytes, d.dst, &self.counters);
            }
        }
    }
}

fn send(socket: &UdpSocket, bytes: &[u8], dst: SocketAddrV4, counters: &Counters) {
    match socket.send_to(bytes, SocketAddr::V4(dst)) {
        Ok(_) => {
            counters.sent.fetch_add(1, Relaxed);
        }
        Err(_) => {
            // A full send buffer (WouldBlock) or an unreachable destination: UDP's own loss.
            counters.send_errors.fetch_add(1, Relaxed);
        }
    }
}
