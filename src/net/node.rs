//! One node: a stateright actor driven by a UDP socket, a clock and a disk.
//!
//! The loop, on one thread:
//!
//! 1. wait (epoll, through mio) until a datagram arrives, a timer or a delayed datagram is due,
//!    or [`STOP_POLL`] passes (to notice a stop request);
//! 2. take up to [`BATCH`] datagrams off the socket and run the actor's `on_msg` for each, then
//!    `on_timeout` for each due timer and `on_random` for each pending random choice: these are
//!    the batch's *steps*, and their sends wait in an outbox;
//! 3. **group commit**: if any step `save`d, write the newest saved value and fsync once
//!    ([`DiskStore::commit`]) — so what a step saved is on disk before any message it produced
//!    leaves the node (DESIGN.md, "Runtime rules");
//! 4. send the outbox: binary to peers, JSON to clients, each datagram through the fault
//!    injector (loss, duplication, delay, partitions).
//!
//! Ids are addresses: a node's `Id` is `Id::from(SocketAddrV4)`, a client's is its source
//! address, as in `stateright::actor::spawn`; the actor cannot tell this runtime from the
//! checker. Datagrams that do not decode, binary datagrams from non-peers and replies that have
//! no client form are dropped and counted, never logged one by one.

use super::codec::{self, Decoded, MAX_DATAGRAM_BYTES};
use super::datadir::{DataDir, Meta};
use super::faults::{Fate, Faults, Rng};
use super::storage::{DiskStore, Durable};
use super::{Counters, NodeContext};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use serde::de::DeserializeOwned;
use serde::Serialize;
use stateright::actor::{Actor, Command, Id, Out};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use synod_models::kv::KvMsg;

/// The most datagrams taken off the socket per batch (one fsync covers them all).
pub const BATCH: usize = 128;
/// The longest the loop sleeps before it looks at its stop flag.
pub const STOP_POLL: Duration = Duration::from_millis(20);
/// The most datagrams waiting in the delay queue (fault injection); more are dropped and counted.
pub const MAX_DELAYED: usize = 65_536;
/// The socket buffers asked of the kernel (bytes; the kernel may grant less).
pub const SOCKET_BUFFER_BYTES: usize = 8 << 20;

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
    index: usize,
    peers: HashMap<SocketAddrV4, usize>,
    /// Always `Some` between steps.
    state: Option<A::State>,
    timers: HashMap<A::Timer, Instant>,
    randoms: Vec<(String, A::Random)>,
    store: DiskStore<A::Storage>,
    outbox: Vec<(Id, A::Msg)>,
    rng: Rng,
    counters: std::sync::Arc<Counters>,
    /// Whether (and in which term) the state leads, published for `--crash leader`.
    leading: fn(&A::State) -> Option<u64>,
    published: std::sync::Arc<std::sync::atomic::AtomicU64>,
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
                Command::Send(dst, msg) => self.outbox.push((dst, msg)),
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
    leading: fn(&A::State) -> Option<u64>,
    ctx: NodeContext,
) -> io::Result<std::thread::JoinHandle<io::Result<()>>>
where
    A: Actor<Msg = KvMsg<I>> + Send + 'static,
    A::Storage: Durable,
    I: Clone + Serialize + DeserializeOwned + Send + 'static,
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
        .spawn(move || run(actor, leading, ctx, store, recovered))
}

/// Runs a node until `ctx.stop` is set. Returns an error only for what the node cannot survive
/// (its disk failing); everything the network does is counted instead.
fn run<A, I>(
    actor: A,
    leading: fn(&A::State) -> Option<u64>,
    ctx: NodeContext,
    store: DiskStore<A::Storage>,
    recovered: Option<A::Storage>,
) -> io::Result<()>
where
    A: Actor<Msg = KvMsg<I>>,
    A::Storage: Durable,
    I: Clone + Serialize + DeserializeOwned,
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
    let seed = ctx.faults.seed ^ 0x5EED ^ ((ctx.index as u64) << 32) ^ ctx.incarnation;
    let mut faults = Faults::new(ctx.faults.clone(), ctx.index);

    let id = Id::from(me);
    let mut out = Out::new();
    let state = actor.on_start(id, &recovered, &mut out);
    let mut node = Node {
        actor,
        id,
        index: ctx.index,
        peers,
        state: Some(state),
        timers: HashMap::new(),
        randoms: Vec::new(),
        store,
        outbox: Vec::new(),
        rng: Rng::new(seed),
        counters: ctx.counters.clone(),
        leading,
        published: ctx.leading.clone(),
    };
    node.absorb(out);

    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    let mut wire = Vec::with_capacity(1024);
    let mut delayed: BinaryHeap<Reverse<Delayed>> = BinaryHeap::new();
    let mut delayed_seq = 0u64;
    let mut redeliveries: BinaryHeap<Reverse<Redelivery<KvMsg<I>>>> = BinaryHeap::new();
    let mut backlog = false; // the socket may hold more datagrams than the last batch took
    let counters = ctx.counters.clone();

    loop {
        // Sends and saves of the previous iteration are done; a stop now loses nothing acked.
        if ctx.stop.load(Relaxed) {
            break;
        }
        let now = Instant::now();
        let mut wait = STOP_POLL;
        if let Some(t) = node.timers.values().min() {
            wait = wait.min(t.saturating_duration_since(now));
        }
        if let Some(Reverse(d)) = delayed.peek() {
            wait = wait.min(d.due.saturating_duration_since(now));
        }
        if let Some(Reverse(r)) = redeliveries.peek() {
            wait = wait.min(r.due.saturating_duration_since(now));
        }
        if backlog || !node.randoms.is_empty() {
            wait = Duration::ZERO;
        }
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }

        // 2. Steps: duplicated requests now due, datagrams, then due timers, then random choices.
        let now = Instant::now();
        while redeliveries.peek().is_some_and(|Reverse(r)| r.due <= now) {
            let Reverse(r) = redeliveries.pop().expect("peeked");
            node.step(|a, id, s, o| a.on_msg(id, s, Id::from(r.src), r.msg, o));
        }
        backlog = false;
        let mut taken = 0;
        while taken < BATCH {
            let (len, src) = match socket.recv_from(&mut buf) {
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
            match codec::decode::<I>(&buf[..len]) {
                Decoded::Peer(msg) => {
                    if !node.peers.contains_key(&src) {
                        counters.non_peer.fetch_add(1, Relaxed);
                        continue;
                    }
                    node.step(|a, id, s, o| a.on_msg(id, s, Id::from(src), msg, o));
                }
                Decoded::Client(msg) => {
                    counters.requests.fetch_add(1, Relaxed);
                    if faults.duplicate_inbound() {
                        if redeliveries.len() < MAX_DELAYED {
                            counters.fault_duplicated.fetch_add(1, Relaxed);
                            let later = faults.config.delay_ms.max(0.0) / 1000.0
                                + DUPLICATE_LATER_MAX.as_secs_f64() * node.rng.unit();
                            delayed_seq += 1;
                            redeliveries.push(Reverse(Redelivery {
                                due: Instant::now() + Duration::from_secs_f64(later),
                                seq: delayed_seq,
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
                    node.step(|a, id, s, o| a.on_timeout(id, s, &t, o));
                }
            }
        }
        for (_, r) in std::mem::take(&mut node.randoms) {
            node.step(|a, id, s, o| a.on_random(id, s, &r, o));
        }

        // 3. Group commit: one write and one fsync for every save of the batch.
        if node.store.dirty() {
            let stats = node.store.commit()?;
            counters.commits.fetch_add(1, Relaxed);
            counters.fsyncs.fetch_add(stats.fsyncs, Relaxed);
            counters.disk_bytes.fetch_add(stats.bytes, Relaxed);
            counters.snapshots.fetch_add(stats.snapshots, Relaxed);
        }

        // 4. Send the outbox, through the fault injector.
        let elapsed = ctx.epoch.elapsed();
        let now = Instant::now();
        for (dst, msg) in std::mem::take(&mut node.outbox) {
            let dst = SocketAddrV4::from(dst);
            let peer = node.peers.get(&dst).copied();
            let encoded = match peer {
                Some(_) => codec::encode_binary(&msg, &mut wire).is_ok(),
                None => codec::encode_json(&msg, &mut wire),
            };
            if !encoded || wire.len() > MAX_DATAGRAM_BYTES {
                counters.unsendable.fetch_add(1, Relaxed);
                continue;
            }
            let fate = if faults.config.any() {
                faults.judge(peer.map(|p| (node.index, p)), elapsed)
            } else {
                Fate::Send {
                    copies: 1,
                    delay: Duration::ZERO,
                }
            };
            match fate {
                Fate::Drop => {
                    counters.fault_dropped.fetch_add(1, Relaxed);
                }
                Fate::Send { copies, delay } => {
                    if copies > 1 {
                        counters.fault_duplicated.fetch_add(1, Relaxed);
                    }
                    for _ in 0..copies {
                        if delay.is_zero() {
                            send(&socket, &wire, dst, &counters);
                        } else if delayed.len() < MAX_DELAYED {
                            delayed_seq += 1;
                            counters.fault_delayed.fetch_add(1, Relaxed);
                            delayed.push(Reverse(Delayed {
                                due: now + delay,
                                seq: delayed_seq,
                                dst,
                                bytes: wire.clone(),
                            }));
                        } else {
                            counters.queue_full.fetch_add(1, Relaxed);
                        }
                    }
                }
            }
        }
        while delayed.peek().is_some_and(|Reverse(d)| d.due <= now) {
            let Reverse(d) = delayed.pop().expect("peeked");
            // A partition that began while the datagram was in flight cuts it too.
            let cut = node
                .peers
                .get(&d.dst)
                .is_some_and(|p| faults.cut(node.index, *p, elapsed));
            if cut {
                counters.fault_dropped.fetch_add(1, Relaxed);
            } else {
                send(&socket, &d.bytes, d.dst, &counters);
            }
        }
    }
    Ok(())
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
