//! The load generator behind `synod bench`: many lin-kv (or g-counter) clients against a cluster,
//! with latency histograms and, optionally, the history the checkers read.
//!
//! **Clients.** `clients` logical clients, each with its own UDP socket (so each is a distinct client
//! to a server's at-most-once session table) and exactly one request outstanding, as in Maelstrom.
//! They are multiplexed on `threads` event loops (`mio`, edge-triggered), never a thread per
//! client. Client `c` starts at target `c % targets.len()`. Its `msg_id`s count up from
//! [`msg_id_base`](super::msg_id_base) (the clock, so a reused port never repeats ids); a retry
//! re-sends the same `msg_id` from the same socket, so a server applies it at most once.
//!
//! **Operations.** Keys are uniform in `key_base..key_base + keys`. Each operation is a read (fraction `reads`), a
//! cas (fraction `cas`) or a write. Written values are unique per operation, `(client << 40) |
//! counter` with the counter starting at 1, never 0, so the checker can tell writes apart; a cas
//! goes from the last value this client saw for the key (read, written or cas'd; 0, which nobody
//! writes, if it saw none) to a fresh unique value.
//!
//! **A counter** ([`Wire::Counter`], Maelstrom's `g-counter`). Every operation is a keyless read
//! (fraction `reads`) or an `add` (the rest) of a delta uniform in 1..=5, drawn from the client's
//! generator. There is one counter: the history records key 0 (`key_base` is not used), `keys` must
//! be 1, and cas and `fresh_writes` are refused. An acknowledged add (`add_ok`) is recorded as
//! `Outcome::WriteOk` and counted with the writes.
//!
//! **Fresh keys** (`fresh_writes`). Against a write-once store (Paxos: one consensus instance per
//! key) uniform keys soon meet decided keys, and then most writes are answered error 22 without
//! a consensus round: the figures measure lookups, not agreement. With `fresh_writes` every write
//! goes to a key never written before in the run, so every write is a full consensus round: the
//! run draws write keys from one counter shared by all clients and threads, starting at the
//! clock's microseconds (so a later run against the same long-lived cluster starts above this
//! one's keys); a read goes to a uniformly random key among those handed out so far (its write
//! may still be in flight, or have failed: then the read answers error 20). `keys` is unused, and
//! cas is refused (its `from` would always be absent).
//!
//! **Two loops.** Closed loop (`rate: None`): every client sends its next request as soon as the
//! previous one ends; latency runs from the first send. Open loop (`rate: Some(r)`): operation `i`
//! is *intended* at `start + i / r` whatever the servers do, and its latency runs from that intended
//! time, so a stalled server is charged for the operations it delayed (no coordinated omission).
//! The `clients` pool serves the schedule: an operation whose time has come waits for a free
//! client, its latency still counting. On Linux the schedule is kept by a timerfd, so operations
//! leave on time rather than at `epoll`'s millisecond granularity.
//!
//! **Failures.** A reply error 11 (temporarily unavailable) naming a leader sends the same request
//! there at once; without a usable hint the client waits [`UNAVAILABLE_BACKOFF`] and tries the next
//! target. At most [`MAX_REDIRECTS`](super::MAX_REDIRECTS) such hops per operation, then the
//! operation fails with 11. A timeout re-sends the same request to the *next* target (a crashed
//! leader should not hold a client forever; the session table makes it safe), up to `retries`
//! times; then the operation is *indeterminate*. Errors 10, 11 and 12 that end an operation are
//! definite failures: counted, left out of the history, unless an earlier attempt of the same
//! operation timed out (it may have been applied then, so it is recorded as indeterminate).
//! Error 20 and 22 are ordinary outcomes (`NotFound`, `PreconditionFailed`); an unknown error code
//! is recorded as indeterminate.
//!
//! **Phases.** The run lasts `warmup + duration`. Figures (throughput, latencies and the counters
//! of the report, except the `ops_issued`/`ops_intended`/`ops_unfinished`/history ones) cover the
//! `duration` after the warmup: an operation counts if it *completed* inside that window. The history covers the whole run, warmup included, because the checker
//! needs every write that a later read may observe. At the end no new operation starts; operations
//! in flight get one more `timeout` to finish without retries, and those that do not are recorded
//! as indeterminate (`ops_unfinished`). The history is bounded by [`MAX_HISTORY_OPS`]: a run that
//! would record more drops its history whole (`history_overflow`), since a truncated history could
//! miss a write that a recorded read saw and so make a correct server look non-linearizable.
//!
//! **Speed.** Per operation: one `send`, one `recv`, no allocation (the request is encoded into
//! a reused buffer, a reply is decoded borrowing the datagram). Client sockets are *connected* to
//! their current target (re-connected when it changes): the kernel then skips the route lookup on
//! each send, and drops datagrams from other addresses, so a server must answer from the address
//! the request was sent to (every UDP server that replies with `send_to(src)` on its listening
//! socket does). A wakeup drains every readable socket. Since all timeouts have the same length,
//! the timeout "wheel" is a FIFO list threaded through the clients (re-sending moves a client to
//! the back): O(1) per operation, bounded by the number of clients. A socket is read until the
//! reply to its outstanding request (not until `WouldBlock`): every datagram that arrives later
//! raises a new edge, so nothing is stranded, and a closed loop saves the extra failing `recv` per
//! operation (before declaring a timeout the socket is read once more, to be sure).

use super::codec::{self, decode_reply, encode_request, ReplyBody, Request, Wire};
use super::{any_addr_like, MAX_REDIRECTS};
use crate::lincheck::{Key, Op, OpKind, Outcome, Value};
use crate::net::record::{Kind, Recorder, Tape};
use crate::util::thousands;
use hdrhistogram::Histogram;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a client waits after an error 11 without a usable leader hint before it tries the
/// next target.
pub const UNAVAILABLE_BACKOFF: Duration = Duration::from_millis(10);

/// The most logical clients (client ids occupy the bits above 40 in written values).
pub const MAX_CLIENTS: usize = 1 << 23;

/// The most operations a run records for its history (about 80 bytes each); beyond it the
/// history is dropped whole and the report says `history_overflow`.
pub const MAX_HISTORY_OPS: usize = 10_000_000;

/// The largest latency the histograms hold (one hour, in microseconds); larger ones are clamped.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// How a load run is shaped. [`LoadConfig::default`] has no targets: set them.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadConfig {
    /// The cluster's nodes. Client `c` starts at `targets[c % targets.len()]`.
    pub targets: Vec<SocketAddr>,
    pub wire: Wire,
    /// Logical clients, each with its own socket and one request outstanding.
    pub clients: usize,
    /// `None`: closed loop. `Some(ops_per_sec)`: open loop on a fixed schedule.
    pub rate: Option<f64>,
    /// The measured time, after the warmup.
    pub duration: Duration,
    /// Load before the measured time: in the history, not in the figures.
    pub warmup: Duration,
    /// Keys are uniform in `key_base..key_base + keys` (unused with `fresh_writes`; 1 for the
    /// counter wire).
    pub keys: u64,
    /// The first key (0 by default). The checker takes every key to start absent, so a run
    /// against a store that earlier runs wrote to should start above their keys
    /// ([`bench_targets`](crate::bench::bench_targets) uses the clock's microseconds). Not used
    /// by the counter wire: its one counter is key 0.
    pub key_base: u64,
    /// Fraction of operations that are reads.
    pub reads: f64,
    /// Fraction of operations that are cas; the rest are writes (adds, for a counter: cas must
    /// then be 0).
    pub cas: f64,
    /// How long one attempt waits for its reply.
    pub timeout: Duration,
    /// Re-sends after a timeout before an operation is given up as indeterminate.
    pub retries: u32,
    /// Seeds each client's choice of operations and keys (client `c` uses `seed` mixed with `c`).
    pub seed: u64,
    /// Whether to keep every operation for the linearizability checker.
    pub record_history: bool,
    /// Event-loop threads (at most `clients`).
    pub threads: usize,
    /// Every write to a key never written before in this run, reads of keys already handed out to
    /// a write, no cas: a write-once store (Paxos) then runs a full consensus round per write
    /// instead of answering most writes with error 22 (see the module's "Fresh keys").
    pub fresh_writes: bool,
    /// Record every datagram the clients send and receive here (`--record`); client `c`'s lane
    /// is named `c<c>`.
    pub record: Option<std::sync::Arc<Recorder>>,
    /// A timed-out request is re-sent to the next target (`true`, the default) or to the same
    /// one, the client moving on only once the operation is given up (`false`: a protocol whose
    /// servers coordinate a write, such as ABD, where a second coordinator could give one write
    /// a second tag).
    pub retry_elsewhere: bool,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            targets: Vec::new(),
            wire: Wire::LinKv,
            clients: 16,
            rate: None,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            keys: 100,
            key_base: 0,
            reads: 0.5,
            cas: 0.0,
            timeout: Duration::from_secs(1),
            retries: 2,
            seed: 0,
            record_history: false,
            threads: 1,
            fresh_writes: false,
            record: None,
            retry_elsewhere: true,
        }
    }
}

impl LoadConfig {
    /// Checks every field; the message names the field and the accepted range.
    pub fn validate(&self) -> Result<(), LoadError> {
        let bad = |m: String| Err(LoadError::Config(m));
        if self.targets.is_empty() {
            return bad("no targets: give at least one server address".into());
        }
        if self
            .targets
            .iter()
            .any(|t| t.is_ipv4() != self.targets[0].is_ipv4())
        {
            return bad(
                "targets mix IPv4 and IPv6 addresses; client sockets have one family".into(),
            );
        }
        if self.clients == 0 || self.clients > MAX_CLIENTS {
            return bad(format!(
                "clients must be in 1..={MAX_CLIENTS}, not {}",
                self.clients
            ));
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                return bad(format!("rate must be a positive number of ops/s, not {r}"));
            }
        }
        if self.duration.is_zero() {
            return bad("duration must be positive".into());
        }
        if self.keys == 0 {
            return bad("keys must be at least 1".into());
        }
        if self.key_base.checked_add(self.keys).is_none() {
            return bad(format!(
                "key_base {} + keys {} passes the largest key, {}",
                self.key_base,
                self.keys,
                u64::MAX
            ));
        }
        for (name, f) in [("reads", self.reads), ("cas", self.cas)] {
            if !(0.0..=1.0).contains(&f) {
                return bad(format!("{name} must be a fraction in 0..=1, not {f}"));
            }
        }
        if self.reads + self.cas > 1.0 + 1e-9 {
            return bad(format!(
                "reads + cas must be at most 1, not {} + {}",
                self.reads, self.cas
            ));
        }
        if self.timeout.is_zero() {
            return bad("timeout must be positive".into());
        }
        if self.threads == 0 {
            return bad("threads must be at least 1".into());
        }
        if self.wire == Wire::Counter {
            if self.cas > 0.0 {
                return bad(format!(
                    "cas {} is not an operation of the g-counter wire (reads and adds only); set \
                     cas to 0",
                    self.cas
                ));
            }
            if self.fresh_writes {
                return bad(
                    "fresh_writes cannot be combined with the g-counter wire: there is one \
                     counter, no key to make fresh"
                        .into(),
                );
            }
            if self.keys != 1 {
                return bad(format!(
                    "keys must be 1 for the g-counter wire (one counter), not {}: pass --keys 1",
                    self.keys
                ));
            }
        }
        if self.fresh_writes && self.cas > 0.0 {
            return bad(format!(
                "cas {} cannot be combined with fresh_writes: every key is written once, so a cas \
                 would only ever meet an absent key; set cas to 0",
                self.cas
            ));
        }
        Ok(())
    }
}

/// Why a load run could not run.
#[derive(Debug)]
pub enum LoadError {
    /// A configuration field is out of range.
    Config(String),
    /// A socket, the poller or a thread could not be set up or failed.
    Io { context: String, source: io::Error },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Config(m) => write!(f, "invalid load configuration: {m}"),
            LoadError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { source, .. } => Some(source),
            LoadError::Config(_) => None,
        }
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> LoadError {
    let context = context.into();
    move |source| LoadError::Io { context, source }
}

/// What a load run measured.
///
/// `to_json()` gives one object with these fields (units in the names; "window" means the
/// measured `duration` after the warmup, "run" the whole run):
///
/// | field | meaning |
/// |---|---|
/// | `wire` | `lin-kv`, `stateright-json`, `echo` or `g-counter` |
/// | `targets` | the servers' addresses |
/// | `clients`, `threads` | logical clients; event-loop threads |
/// | `mode` | `closed` or `open` |
/// | `keys`, `key_base` | uniform keys in `key_base..key_base + keys` |
/// | `fresh_writes` | true: a fresh key for every write (write-once stores), `keys` unused |
/// | `rate_ops_per_sec` | the open loop's schedule; null in a closed loop |
/// | `duration_secs`, `warmup_secs` | measured time; warmup before it |
/// | `ops` | operations completed in the window with an outcome for the history: ok, error 20 or 22 |
/// | `ops_per_sec` | `ops / duration_secs` |
/// | `ops_ok` | those of `ops` answered with success: `read_ok`, `write_ok`, `cas_ok`, `add_ok` (a read's error 20 is a definite answer, but not counted here) |
/// | `ops_ok_per_sec` | `ops_ok / duration_secs` |
/// | `reads`, `writes`, `cas` | `ops` by kind: reads, writes (adds, for a counter), cas |
/// | `latency_us_p50`, `_p90`, `_p99`, `_p999`, `_max`, `latency_us_mean` | latency of those `ops`, microseconds (from the first send, or in an open loop from the intended time) |
/// | `longest_gap_ms` | window: the longest stretch without a successful operation (from the window's start to the first, between two, from the last to the end), 1 ms resolution: a failover's unavailability |
/// | `ops_failed` | window: operations ended by a definite error 10, 11 or 12 |
/// | `indeterminate` | window: operations given up after `retries` timeouts (or ended by an unknown error code) |
/// | `timeouts` | window: attempts that timed out |
/// | `retries` | window: re-sends after a timeout |
/// | `redirects` | window: re-sends after an error 11 (to the named leader, or the next target) |
/// | `errors` | window: error replies received, by code (`{"11": 3, "22": 40}`) |
/// | `datagrams_sent`, `datagrams_received` | window |
/// | `undecodable` | window: datagrams that were not a reply of the wire (or did not fit the request) |
/// | `stale_replies` | window: replies to an earlier `msg_id` (duplicates, answers to retried requests) |
/// | `send_errors` | window: sends the kernel refused (treated as lost) |
/// | `ops_intended` | run: operations the open loop's schedule held before the end; null in a closed loop |
/// | `ops_issued` | run: operations started |
/// | `ops_unfinished` | run: operations the end of the run cut short (no reply within the grace `timeout`, or waiting out a backoff); recorded as indeterminate if they may have been applied |
/// | `history_ops` | run: operations in the history; null when not recorded (or dropped) |
/// | `history_overflow` | run: the history passed [`MAX_HISTORY_OPS`] and was dropped |
#[derive(Clone, Debug)]
pub struct LoadReport {
    pub wire: Wire,
    pub targets: Vec<SocketAddr>,
    /// The key space: `keys` uniform keys from `key_base`, or a fresh key per write.
    pub keys: u64,
    pub key_base: u64,
    pub fresh_writes: bool,
    pub clients: usize,
    pub threads: usize,
    pub rate: Option<f64>,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    pub ops: u64,
    pub ops_per_sec: f64,
    /// Of `ops`, those answered `read_ok`, `write_ok`, `cas_ok` or `add_ok`. Error 20 on a read is
    /// a definite answer (the key is absent) and error 22 a definite refusal: both are in `ops`
    /// for the checker, neither is here.
    pub ops_ok: u64,
    pub ops_ok_per_sec: f64,
    pub reads: u64,
    /// Writes (adds, for a counter).
    pub writes: u64,
    pub cas: u64,
    /// Latencies of `ops`, microseconds.
    pub latency_us: Histogram<u64>,
    pub latency_us_mean: f64,
    /// The longest stretch of the window in which no operation succeeded, milliseconds.
    pub longest_gap_ms: u64,
    pub ops_failed: u64,
    pub indeterminate: u64,
    pub timeouts: u64,
    pub retries: u64,
    pub redirects: u64,
    pub errors: BTreeMap<u32, u64>,
    pub datagrams_sent: u64,
    pub datagrams_received: u64,
    pub undecodable: u64,
    pub stale_replies: u64,
    pub send_errors: u64,
    pub ops_intended: Option<u64>,
    pub ops_issued: u64,
    pub ops_unfinished: u64,
    /// Every operation of the run ordered by invocation, if `record_history` was set and the
    /// history stayed within [`MAX_HISTORY_OPS`].
    pub history: Option<Vec<Op>>,
    /// How many operations the history held (kept when the history is taken for checking).
    pub history_ops: Option<usize>,
    pub history_overflow: bool,
    /// When the run started: the history's times count from here.
    pub start: Instant,
}

impl LoadReport {
    /// The latency at `quantile` (0..=1), microseconds; 0 with no operations.
    pub fn latency_us_at(&self, quantile: f64) -> u64 {
        if self.latency_us.is_empty() {
            0
        } else {
            self.latency_us.value_at_quantile(quantile)
        }
    }

    /// The largest latency, microseconds.
    pub fn latency_us_max(&self) -> u64 {
        if self.latency_us.is_empty() {
            0
        } else {
            self.latency_us.max()
        }
    }

    /// The report as one JSON object; the fields are listed on [`LoadReport`].
    pub fn to_json(&self) -> serde_json::Value {
        let errors: serde_json::Map<String, serde_json::Value> = self
            .errors
            .iter()
            .map(|(code, n)| (code.to_string(), (*n).into()))
            .collect();
        serde_json::json!({
            "wire": self.wire.name(),
            "targets": self.targets.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            "clients": self.clients,
            "threads": self.threads,
            "mode": if self.rate.is_some() { "open" } else { "closed" },
            "keys": self.keys,
            "key_base": self.key_base,
            "fresh_writes": self.fresh_writes,
            "rate_ops_per_sec": self.rate,
            "duration_secs": self.duration_secs,
            "warmup_secs": self.warmup_secs,
            "ops": self.ops,
            "ops_per_sec": self.ops_per_sec,
            "ops_ok": self.ops_ok,
            "ops_ok_per_sec": self.ops_ok_per_sec,
            "reads": self.reads,
            "writes": self.writes,
            "cas": self.cas,
            "latency_us_p50": self.latency_us_at(0.5),
            "latency_us_p90": self.latency_us_at(0.9),
            "latency_us_p99": self.latency_us_at(0.99),
            "latency_us_p999": self.latency_us_at(0.999),
            "latency_us_max": self.latency_us_max(),
            "latency_us_mean": self.latency_us_mean,
            "longest_gap_ms": self.longest_gap_ms,
            "ops_failed": self.ops_failed,
            "indeterminate": self.indeterminate,
            "timeouts": self.timeouts,
            "retries": self.retries,
            "redirects": self.redirects,
            "errors": errors,
            "datagrams_sent": self.datagrams_sent,
            "datagrams_received": self.datagrams_received,
            "undecodable": self.undecodable,
            "stale_replies": self.stale_replies,
            "send_errors": self.send_errors,
            "ops_intended": self.ops_intended,
            "ops_issued": self.ops_issued,
            "ops_unfinished": self.ops_unfinished,
            "history_ops": self.history_ops,
            "history_overflow": self.history_overflow,
        })
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let more = match self.targets.len() {
            0 | 1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        let first = self
            .targets
            .first()
            .map_or_else(String::new, |t| t.to_string());
        writeln!(f, "wire          {} -> {first}{more}", self.wire)?;
        let plural = if self.threads == 1 { "" } else { "s" };
        match self.rate {
            None => writeln!(
                f,
                "load          closed loop, {} clients on {} thread{plural}",
                self.clients, self.threads
            )?,
            Some(r) => writeln!(
                f,
                "load          open loop at {r} ops/s, {} clients on {} thread{plural}: {} intended, {} issued",
                self.clients,
                self.threads,
                self.ops_intended.unwrap_or(0),
                self.ops_issued
            )?,
        }
        if self.wire == Wire::Counter {
            writeln!(f, "keys          one counter: adds and keyless reads")?;
        } else if self.fresh_writes {
            writeln!(
                f,
                "keys          a fresh key for every write, reads of written keys (a write-once store decides each write)"
            )?;
        } else {
            writeln!(
                f,
                "keys          uniform in {}..{}",
                self.key_base,
                self.key_base.saturating_add(self.keys)
            )?;
        }
        writeln!(
            f,
            "measured      {:.2} s after {:.2} s warmup",
            self.duration_secs, self.warmup_secs
        )?;
        if self.wire == Wire::Counter {
            writeln!(
                f,
                "throughput    {:.0} ops/s, {:.0} ok/s ({} ops, {} ok: {} reads, {} adds)",
                self.ops_per_sec,
                self.ops_ok_per_sec,
                self.ops,
                self.ops_ok,
                self.reads,
                self.writes
            )?;
        } else {
            writeln!(
                f,
                "throughput    {:.0} ops/s, {:.0} ok/s ({} ops, {} ok: {} reads, {} writes, {} cas)",
                self.ops_per_sec,
                self.ops_ok_per_sec,
                self.ops,
                self.ops_ok,
                self.reads,
                self.writes,
                self.cas
            )?;
        }
        writeln!(
            f,
            "latency us    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.1}",
            self.latency_us_at(0.5),
            self.latency_us_at(0.9),
            self.latency_us_at(0.99),
            self.latency_us_at(0.999),
            self.latency_us_max(),
            self.latency_us_mean
        )?;
        writeln!(
            f,
            "longest gap   {} ms without a successful operation",
            self.longest_gap_ms
        )?;
        writeln!(
            f,
            "failures      {} failed, {} indeterminate, {} timeouts, {} retries, {} redirects, {} unfinished",
            self.ops_failed,
            self.indeterminate,
            self.timeouts,
            self.retries,
            self.redirects,
            self.ops_unfinished
        )?;
        if self.errors.is_empty() {
            writeln!(f, "errors        none")?;
        }
        for (i, (code, n)) in self.errors.iter().enumerate() {
            let head = if i == 0 { "errors" } else { "" };
            let name = codec::error_name(*code).unwrap_or("unknown code");
            writeln!(f, "{head:<14}error {code} {name}: {}", thousands(*n))?;
        }
        write!(
            f,
            "datagrams     {} sent, {} received, {} undecodable, {} stale",
            self.datagrams_sent, self.datagrams_received, self.undecodable, self.stale_replies
        )?;
        if self.send_errors > 0 {
            write!(f, ", {} send errors", self.send_errors)?;
        }
        if let Some(h) = &self.history {
            write!(f, "\nhistory       {} ops recorded", h.len())?;
        }
        if self.history_overflow {
            write!(
                f,
                "\nhistory       dropped: more than {MAX_HISTORY_OPS} ops (shorten the run)"
            )?;
        }
        Ok(())
    }
}

/// Runs the load described by `cfg` and reports what it measured. Blocks for `warmup + duration`
/// plus at most one `timeout` for the operations still in flight.
pub fn run(cfg: &LoadConfig) -> Result<LoadReport, LoadError> {
    cfg.validate()?;
    let threads = cfg.threads.min(cfg.clients);
    let fresh = FreshKeys::new();
    let mut workers = Vec::with_capacity(threads);
    for t in 0..threads {
        workers.push(Worker::new(cfg, &fresh, t, threads)?);
    }
    let start = Instant::now();
    let results: Vec<Result<ThreadResult, LoadError>> = if threads == 1 {
        workers.into_iter().map(|w| w.run(start)).collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = workers
                .into_iter()
                .map(|w| s.spawn(move || w.run(start)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LoadError::Io {
                            context: "load generator thread".into(),
                            source: io::Error::other("panicked"),
                        })
                    })
                })
                .collect()
        })
    };
    merge(cfg, threads, results, start)
}

/// What one event-loop thread hands back.
struct ThreadResult {
    window: Counters,
    run: Counters,
    latency_us: Histogram<u64>,
    latency_ns_sum: u128,
    ok_ms: MsBitmap,
    history: OpLog,
    history_overflow: bool,
}

/// The operations one load thread recorded, in chunks of [`OpLog::CHUNK`]: appending never
/// moves what is already recorded. (A `Vec` that doubled a history of a million operations
/// held the load thread, and with it every client's latency, for 0.3 to 0.9 s.)
#[derive(Default)]
struct OpLog {
    chunks: Vec<Vec<Op>>,
    len: usize,
}

impl OpLog {
    const CHUNK: usize = 1 << 16;

    fn push(&mut self, op: Op) {
        if self.chunks.last().is_none_or(|c| c.len() == Self::CHUNK) {
            self.chunks.push(Vec::with_capacity(Self::CHUNK));
        }
        self.chunks.last_mut().expect("pushed above").push(op);
        self.len += 1;
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// One bit per millisecond of the measured window: whether an operation succeeded in it.
/// Threads merge by OR; the longest run of empty milliseconds is the longest gap.
#[derive(Clone, Debug)]
struct MsBitmap {
    bits: Vec<u64>,
    len: usize,
}

impl MsBitmap {
    fn new(window: Duration) -> Self {
        let len = (window.as_millis() as usize).max(1);
        MsBitmap {
            bits: vec![0; len.div_ceil(64)],
            len,
        }
    }

    fn set(&mut self, since_start: Duration) {
        let ms = (since_start.as_millis() as usize).min(self.len - 1);
        self.bits[ms / 64] |= 1 << (ms % 64);
    }

    fn or(&mut self, o: &MsBitmap) {
        for (a, b) in self.bits.iter_mut().zip(&o.bits) {
            *a |= b;
        }
    }

    fn get(&self, ms: usize) -> bool {
        self.bits[ms / 64] & (1 << (ms % 64)) != 0
    }

    /// The longest stretch of the window without a success, in milliseconds: from the window's
    /// start to the first success, between two, or from the last to the window's end (the
    /// whole window if none), at one millisecond's resolution.
    fn longest_gap_ms(&self) -> u64 {
        let mut longest = 0;
        let mut last: Option<usize> = None;
        for ms in (0..self.len).filter(|ms| self.get(*ms)) {
            let gap = match last {
                None => ms,
                Some(l) => ms - l,
            };
            longest = longest.max(gap);
            last = Some(ms);
        }
        let tail = match last {
            None => self.len,
            Some(l) => self.len - l,
        };
        longest.max(tail) as u64
    }
}

fn merge(
    cfg: &LoadConfig,
    threads: usize,
    results: Vec<Result<ThreadResult, LoadError>>,
    start: Instant,
) -> Result<LoadReport, LoadError> {
    let mut window = Counters::default();
    let mut run = Counters::default();
    let mut latency_us = new_histogram()?;
    let mut latency_ns_sum = 0u128;
    let mut history = Vec::new();
    let mut history_overflow = false;
    let mut ok_ms = MsBitmap::new(cfg.duration);
    for r in results {
        let r = r?;
        history_overflow |= r.history_overflow;
        ok_ms.or(&r.ok_ms);
        window.add(&r.window);
        run.add(&r.run);
        latency_us.add(&r.latency_us).map_err(|e| LoadError::Io {
            context: "merging latency histograms".into(),
            source: io::Error::other(e.to_string()),
        })?;
        latency_ns_sum += r.latency_ns_sum;
        history.reserve(r.history.len());
        for chunk in r.history.chunks {
            history.extend(chunk);
        }
    }
    history.sort_by_key(|op| (op.invoke_ns, op.client));
    let duration_secs = cfg.duration.as_secs_f64();
    let total_secs = (cfg.warmup + cfg.duration).as_secs_f64();
    Ok(LoadReport {
        wire: cfg.wire,
        targets: cfg.targets.clone(),
        keys: cfg.keys,
        key_base: cfg.key_base,
        fresh_writes: cfg.fresh_writes,
        clients: cfg.clients,
        threads,
        rate: cfg.rate,
        duration_secs,
        warmup_secs: cfg.warmup.as_secs_f64(),
        ops: window.ops,
        ops_per_sec: window.ops as f64 / duration_secs,
        ops_ok: window.ops_ok,
        ops_ok_per_sec: window.ops_ok as f64 / duration_secs,
        reads: window.reads,
        writes: window.writes,
        cas: window.cas,
        latency_us_mean: if window.ops == 0 {
            0.0
        } else {
            latency_ns_sum as f64 / window.ops as f64 / 1000.0
        },
        latency_us,
        longest_gap_ms: ok_ms.longest_gap_ms(),
        ops_failed: window.ops_failed,
        indeterminate: window.indeterminate,
        timeouts: window.timeouts,
        retries: window.retries,
        redirects: window.redirects,
        errors: window.errors.iter().copied().collect(),
        datagrams_sent: window.sent,
        datagrams_received: window.received,
        undecodable: window.undecodable,
        stale_replies: window.stale,
        send_errors: window.send_errors,
        ops_intended: cfg.rate.map(|r| (total_secs * r).ceil() as u64),
        ops_issued: run.issued,
        ops_unfinished: run.unfinished,
        history_ops: (cfg.record_history && !history_overflow).then_some(history.len()),
        history: (cfg.record_history && !history_overflow).then_some(history),
        history_overflow,
        start,
    })
}

fn new_histogram() -> Result<Histogram<u64>, LoadError> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).map_err(|e| LoadError::Io {
        context: "creating a latency histogram".into(),
        source: io::Error::other(e.to_string()),
    })
}

/// Event counters of one thread; the report's window figures are the difference of two snapshots.
#[derive(Clone, Debug, Default)]
struct Counters {
    ops: u64,
    ops_ok: u64,
    reads: u64,
    writes: u64,
    cas: u64,
    ops_failed: u64,
    indeterminate: u64,
    timeouts: u64,
    retries: u64,
    redirects: u64,
    sent: u64,
    received: u64,
    undecodable: u64,
    stale: u64,
    send_errors: u64,
    issued: u64,
    unfinished: u64,
    /// Error replies by code: a short list, so one allocation per distinct code at most.
    errors: Vec<(u32, u64)>,
}

impl Counters {
    fn error(&mut self, code: u32) {
        match self.errors.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.errors.push((code, 1)),
        }
    }

    fn add(&mut self, o: &Counters) {
        self.combine(o, |a, b| a + b);
    }

    /// `self - earlier`, for counters that only grow.
    fn since(&self, earlier: &Counters) -> Counters {
        let mut d = self.clone();
        d.combine(earlier, |a, b| a.saturating_sub(b));
        d.errors.retain(|(_, n)| *n > 0);
        d
    }

    fn combine(&mut self, o: &Counters, f: impl Fn(u64, u64) -> u64) {
        let pairs: [(&mut u64, u64); 17] = [
            (&mut self.ops, o.ops),
            (&mut self.ops_ok, o.ops_ok),
            (&mut self.reads, o.reads),
            (&mut self.writes, o.writes),
            (&mut self.cas, o.cas),
            (&mut self.ops_failed, o.ops_failed),
            (&mut self.indeterminate, o.indeterminate),
            (&mut self.timeouts, o.timeouts),
            (&mut self.retries, o.retries),
            (&mut self.redirects, o.redirects),
            (&mut self.sent, o.sent),
            (&mut self.received, o.received),
            (&mut self.undecodable, o.undecodable),
            (&mut self.stale, o.stale),
            (&mut self.send_errors, o.send_errors),
            (&mut self.issued, o.issued),
            (&mut self.unfinished, o.unfinished),
        ];
        for (a, b) in pairs {
            *a = f(*a, b);
        }
        for &(code, n) in &o.errors {
            match self.errors.iter_mut().find(|(c, _)| *c == code) {
                Some((_, m)) => *m = f(*m, n),
                None => self.errors.push((code, f(0, n))),
            }
        }
    }
}

/// A cheap hash for integer keys (the per-client "last value seen" maps).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The keys handed out to writes in a `fresh_writes` run: `base + 0`, `base + 1`, ..., one
/// counter for every client of every thread, so no two writes of the run share a key.
struct FreshKeys {
    base: Key,
    next: AtomicU64,
}

impl FreshKeys {
    fn new() -> FreshKeys {
        FreshKeys {
            // The clock's microseconds: a later run against the same cluster starts above every
            // key this one wrote, as long as it wrote fewer keys than microseconds passed (a
            // consensus round per write keeps it far below a million a second).
            base: super::msg_id_base(),
            next: AtomicU64::new(0),
        }
    }

    /// A key no write of this run has had.
    fn write_key(&self) -> Key {
        self.base + self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// A key already handed out to a write (the first one if none was), uniform among them.
    fn read_key(&self, r: u64) -> Key {
        let written = self.next.load(Ordering::Relaxed).max(1);
        self.base + ((u128::from(r) * u128::from(written)) >> 64) as u64
    }
}

/// splitmix64: a tiny, good-enough generator for choosing operations.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// "No client" in the intrusive lists.
const NIL: u32 = u32::MAX;

/// Where a client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No operation (open loop: waiting for the schedule; or the run has ended).
    Idle,
    /// A request is out; the client is on the timeout list.
    InFlight,
    /// After an error 11 without a usable hint; the client is on the backoff list.
    Backoff,
}

/// One logical client and its current operation.
struct Client {
    socket: UdpSocket,
    id: u32,
    rng: u64,
    /// Values this client wrote so far (the low 40 bits of the next one).
    counter: u64,
    target_idx: usize,
    target: SocketAddr,
    /// The current operation's id (the last one used, when idle).
    msg_id: u64,
    phase: Phase,
    req: Request,
    /// Latency is measured from here: the first send, or the open loop's intended time.
    origin: Instant,
    invoke_ns: u64,
    timeouts_left: u32,
    redirects_left: u32,
    /// Some attempt of this operation timed out: it may have been applied.
    maybe_applied: bool,
    /// When the current attempt times out, or the backoff ends.
    deadline: Instant,
    prev: u32,
    next: u32,
    /// The last value seen per key, for cas `from` (kept only when cas > 0).
    seen: HashMap<Key, Value, BuildHasherDefault<KeyHasher>>,
}

/// A FIFO of clients linked through their `prev`/`next` fields. Entries are appended with
/// deadlines `now + constant`, so the head always has the earliest deadline.
#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };

    fn push_back(&mut self, clients: &mut [Client], i: u32) {
        let c = &mut clients[i as usize];
        c.prev = self.tail;
        c.next = NIL;
        if self.tail == NIL {
            self.head = i;
        } else {
            clients[self.tail as usize].next = i;
        }
        self.tail = i;
    }

    fn unlink(&mut self, clients: &mut [Client], i: u32) {
        let (prev, next) = {
            let c = &clients[i as usize];
            (c.prev, c.next)
        };
        if prev == NIL {
            debug_assert_eq!(self.head, i);
            self.head = next;
        } else {
            clients[prev as usize].next = next;
        }
        if next == NIL {
            debug_assert_eq!(self.tail, i);
            self.tail = prev;
        } else {
            clients[next as usize].prev = prev;
        }
        let c = &mut clients[i as usize];
        c.prev = NIL;
        c.next = NIL;
    }

    fn is_empty(&self) -> bool {
        self.head == NIL
    }
}

/// What a datagram said about the outstanding request, detached from the receive buffer.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Done(Outcome),
    Error {
        code: u32,
        leader: Option<SocketAddr>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Warmup,
    Measure,
    Drain,
}

/// The open loop's schedule for one thread: its share is every `threads`-th operation.
struct Schedule {
    rate: f64,
    threads: u64,
    thread: u64,
    /// The thread's next operation (local index) and its intended time.
    next: u64,
    next_at: Instant,
}

impl Schedule {
    fn intended(&self, start: Instant, local: u64) -> Instant {
        let global = local * self.threads + self.thread;
        start + Duration::from_secs_f64(global as f64 / self.rate)
    }
}

const ALARM: Token = Token(usize::MAX - 1);

/// One event-loop thread and the clients it multiplexes.
struct Worker<'a> {
    cfg: &'a LoadConfig,
    /// The run's write keys when `cfg.fresh_writes`.
    fresh: &'a FreshKeys,
    poll: Poll,
    alarm: Alarm,
    clients: Vec<Client>,
    in_flight: List,
    backing_off: List,
    /// Idle clients (open loop).
    free: Vec<u32>,
    schedule: Option<Schedule>,
    out: Vec<u8>,
    buf: Vec<u8>,
    start: Instant,
    warmup_end: Instant,
    end: Instant,
    stage: Stage,
    counters: Counters,
    at_measure: Counters,
    at_end: Counters,
    latency_us: Histogram<u64>,
    latency_ns_sum: u128,
    /// Which milliseconds of the window saw an operation succeed (for `longest_gap_ms`).
    ok_ms: MsBitmap,
    history: OpLog,
    /// This thread's share of [`MAX_HISTORY_OPS`], and whether it was exceeded.
    history_cap: usize,
    history_overflow: bool,
    /// The read fraction and read+cas fraction scaled to u64, for integer comparisons.
    read_below: u64,
    cas_below: u64,
    /// The counter wire: reads and adds of key 0.
    counter: bool,
    /// This thread's share of a `--record`ing, if the run is recorded.
    tape: Option<Tape>,
}

fn fraction_to_u64(f: f64) -> u64 {
    if f >= 1.0 {
        u64::MAX
    } else {
        (f * 2f64.powi(64)) as u64
    }
}

impl<'a> Worker<'a> {
    fn new(
        cfg: &'a LoadConfig,
        fresh: &'a FreshKeys,
        thread: usize,
        threads: usize,
    ) -> Result<Self, LoadError> {
        let poll = Poll::new().map_err(io_err("creating a poller"))?;
        let alarm = Alarm::new(&poll).map_err(io_err("creating the open loop's timer"))?;
        let bind = any_addr_like(cfg.targets[0]);
        let mut clients = Vec::new();
        let mut id = thread;
        let now = Instant::now();
        while id < cfg.clients {
            let local = clients.len();
            let mut socket = UdpSocket::bind(bind).map_err(io_err(format!(
                "binding the socket of client {id} (of {}; is the open-file limit too low?)",
                cfg.clients
            )))?;
            let target_idx = id % cfg.targets.len();
            socket
                .connect(cfg.targets[target_idx])
                .map_err(io_err("connecting a client socket"))?;
            poll.registry()
                .register(&mut socket, Token(local), Interest::READABLE)
                .map_err(io_err("registering a client socket"))?;
            let msg_id_base = super::msg_id_base();
            let mut rng = cfg.seed ^ (id as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
            next_random(&mut rng);
            clients.push(Client {
                socket,
                id: id as u32,
                rng,
                counter: 0,
                target_idx,
                target: cfg.targets[target_idx],
                msg_id: msg_id_base,
                phase: Phase::Idle,
                req: Request {
                    key: 0,
                    kind: OpKind::Read,
                },
                origin: now,
                invoke_ns: 0,
                timeouts_left: 0,
                redirects_left: 0,
                maybe_applied: false,
                deadline: now,
                prev: NIL,
                next: NIL,
                seen: HashMap::default(),
            });
            id += threads;
        }
        let tape = cfg.record.as_ref().map(|r| {
            for c in &clients {
                if let Ok(a) = c.socket.local_addr() {
                    r.name(a, format!("c{}", c.id));
                }
            }
            Tape::new(r)
        });
        let schedule = cfg.rate.map(|rate| Schedule {
            rate,
            threads: threads as u64,
            thread: thread as u64,
            next: 0,
            next_at: now,
        });
        Ok(Worker {
            cfg,
            fresh,
            poll,
            alarm,
            free: (0..clients.len() as u32).rev().collect(),
            clients,
            in_flight: List::EMPTY,
            backing_off: List::EMPTY,
            schedule,
            out: Vec::with_capacity(128),
            buf: vec![0u8; codec::MAX_DATAGRAM_BYTES],
            start: now,
            warmup_end: now,
            end: now,
            stage: Stage::Warmup,
            counters: Counters::default(),
            at_measure: Counters::default(),
            at_end: Counters::default(),
            ok_ms: MsBitmap::new(cfg.duration),
            latency_us: new_histogram()?,
            latency_ns_sum: 0,
            history: OpLog::default(),
            history_cap: MAX_HISTORY_OPS / threads,
            history_overflow: false,
            read_below: fraction_to_u64(cfg.reads),
            cas_below: fraction_to_u64(cfg.reads + cfg.cas),
            counter: cfg.wire == Wire::Counter,
            tape,
        })
    }

    fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_nanos() as u64
    }

    fn run(mut self, start: Instant) -> Result<ThreadResult, LoadError> {
        self.start = start;
        self.warmup_end = start + self.cfg.warmup;
        self.end = self.warmup_end + self.cfg.duration;
        let drain_end = self.end + self.cfg.timeout;
        if let Some(s) = &mut self.schedule {
            s.next_at = s.intended(start, 0);
        }
        let mut events = Events::with_capacity(1024);
        let now = Instant::now();
        self.advance_stage(now);
        if self.schedule.is_none() {
            while let Some(i) = self.free.pop() {
                self.start_op(i, now, now);
            }
        }
        loop {
            let now = Instant::now();
            self.advance_stage(now);
            self.expire(now);
            self.issue_scheduled(now);
            if self.stage == Stage::Drain {
                if self.in_flight.is_empty() && self.backing_off.is_empty() {
                    break;
                }
                if now >= drain_end {
                    self.abandon_in_flight();
                    break;
                }
            }
            // Sleep until the next deadline, or the next scheduled operation (precisely, by the
            // alarm), or a datagram.
            let mut wake = match self.stage {
                Stage::Warmup => self.warmup_end,
                Stage::Measure => self.end,
                Stage::Drain => drain_end,
            };
            if self.in_flight.head != NIL {
                wake = wake.min(self.clients[self.in_flight.head as usize].deadline);
            }
            if self.backing_off.head != NIL {
                wake = wake.min(self.clients[self.backing_off.head as usize].deadline);
            }
            if let Some(s) = &self.schedule {
                if self.stage != Stage::Drain
                    && !self.free.is_empty()
                    && s.next_at < wake
                    && !self.alarm.set(s.next_at, now)
                {
                    wake = s.next_at;
                }
            }
            let timeout = wake.saturating_duration_since(now);
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("polling the client sockets")(e)),
            }
            for ev in events.iter() {
                match ev.token() {
                    ALARM => self.alarm.fired(),
                    Token(i) => self.on_readable(i as u32),
                }
            }
        }
        if self.stage < Stage::Drain {
            // Unreachable in practice (the loop only ends while draining); keeps the figures sane.
            self.at_end = self.counters.clone();
        }
        Ok(ThreadResult {
            window: self.at_end.since(&self.at_measure),
            run: self.counters,
            latency_us: self.latency_us,
            latency_ns_sum: self.latency_ns_sum,
            ok_ms: self.ok_ms,
            history: self.history,
            history_overflow: self.history_overflow,
        })
    }

    /// Moves from warmup to measuring to draining as time passes, snapshotting the counters.
    fn advance_stage(&mut self, now: Instant) {
        if self.stage == Stage::Warmup && now >= self.warmup_end {
            self.at_measure = self.counters.clone();
            self.stage = Stage::Measure;
        }
        if self.stage == Stage::Measure && now >= self.end {
            self.at_end = self.counters.clone();
            self.stage = Stage::Drain;
            self.abandon_backoffs();
        }
    }

    /// Times out the attempts and ends the backoffs whose deadlines have passed.
    fn expire(&mut self, now: Instant) {
        while self.in_flight.head != NIL {
            let i = self.in_flight.head;
            let (deadline, msg_id) = {
                let c = &self.clients[i as usize];
                (c.deadline, c.msg_id)
            };
            if deadline > now {
                break;
            }
            // A reply may have arrived since the last poll: look before declaring a timeout.
            self.on_readable(i);
            let c = &self.clients[i as usize];
            if c.phase == Phase::InFlight && c.msg_id == msg_id && c.deadline <= now {
                self.on_timeout(i, now);
            }
        }
        while self.backing_off.head != NIL {
            let i = self.backing_off.head;
            if self.clients[i as usize].deadline > now {
                break;
            }
            self.send(i, now);
        }
    }

    /// Open loop: starts every operation whose intended time has come, while clients are free.
    fn issue_scheduled(&mut self, now: Instant) {
        if self.stage == Stage::Drain {
            return;
        }
        while let Some(s) = &self.schedule {
            let at = s.next_at;
            if at > now || at >= self.end {
                return;
            }
            let Some(i) = self.free.pop() else { return };
            self.advance_schedule();
            self.start_op(i, at, now);
        }
    }

    fn advance_schedule(&mut self) {
        let start = self.start;
        if let Some(s) = &mut self.schedule {
            s.next += 1;
            s.next_at = s.intended(start, s.next);
        }
    }

    /// Starts client `i`'s next operation; its latency counts from `origin`.
    fn start_op(&mut self, i: u32, origin: Instant, now: Instant) {
        let invoke_ns = self.ns(now);
        let (read_below, cas_below, keys, counter) =
            (self.read_below, self.cas_below, self.cfg.keys, self.counter);
        let c = &mut self.clients[i as usize];
        debug_assert_eq!(c.phase, Phase::Idle);
        let r = next_random(&mut c.rng);
        let mut key = self.cfg.key_base + ((u128::from(r) * u128::from(keys)) >> 64) as u64;
        let choice = next_random(&mut c.rng);
        if self.cfg.fresh_writes {
            key = if choice < read_below {
                self.fresh.read_key(r)
            } else {
                self.fresh.write_key()
            };
        }
        let kind = if counter {
            key = 0;
            if choice < read_below {
                OpKind::Read
            } else {
                // A delta uniform in 1..=5, from the key's draw (one key: it is free).
                OpKind::Add(1 + ((u128::from(r) * 5) >> 64) as u64)
            }
        } else if choice < read_below {
            OpKind::Read
        } else {
            c.counter += 1;
            let fresh = (u64::from(c.id) << 40) | (c.counter & ((1 << 40) - 1));
            if choice < cas_below {
                OpKind::Cas {
                    from: c.seen.get(&key).copied().unwrap_or(0),
                    to: fresh,
                }
            } else {
                OpKind::Write(fresh)
            }
        };
        c.msg_id += 1;
        c.req = Request { key, kind };
        c.origin = origin;
        c.invoke_ns = invoke_ns;
        c.timeouts_left = self.cfg.retries;
        c.redirects_left = MAX_REDIRECTS;
        c.maybe_applied = false;
        self.counters.issued += 1;
        self.send(i, now);
    }

    /// Sends (or re-sends) client `i`'s current request to its target and starts its timeout.
    fn send(&mut self, i: u32, now: Instant) {
        self.detach(i);
        let c = &mut self.clients[i as usize];
        encode_request(self.cfg.wire, c.msg_id, &c.req, &mut self.out);
        if let (Some(tape), Ok(me)) = (&mut self.tape, c.socket.local_addr()) {
            // The same text the node's recording gives the request it receives.
            let text = codec::to_kv_msg(c.msg_id, &c.req);
            tape.note(
                Kind::Send,
                me,
                Some(c.target),
                &self.out,
                format_args!("{text:?}"),
                Some(&text),
            );
        }
        match c.socket.send(&self.out) {
            Ok(_) => self.counters.sent += 1,
            // Lost as far as we can tell: the timeout will retry it.
            Err(_) => self.counters.send_errors += 1,
        }
        c.phase = Phase::InFlight;
        c.deadline = now + self.cfg.timeout;
        self.in_flight.push_back(&mut self.clients, i);
    }

    /// Takes client `i` off whichever list its phase puts it on, and makes it idle.
    fn detach(&mut self, i: u32) {
        match self.clients[i as usize].phase {
            Phase::InFlight => self.in_flight.unlink(&mut self.clients, i),
            Phase::Backoff => self.backing_off.unlink(&mut self.clients, i),
            Phase::Idle => {}
        }
        self.clients[i as usize].phase = Phase::Idle;
    }

    fn rotate_target(&mut self, i: u32) {
        let c = &mut self.clients[i as usize];
        c.target_idx = (c.target_idx + 1) % self.cfg.targets.len();
        let target = self.cfg.targets[c.target_idx];
        self.retarget(i, target);
    }

    /// Points client `i`'s socket at `target` (a no-op if it already is).
    fn retarget(&mut self, i: u32, target: SocketAddr) {
        let c = &mut self.clients[i as usize];
        if c.target != target {
            c.target = target;
            // On failure the sends fail too, are counted, and time out into retries elsewhere.
            if c.socket.connect(target).is_err() {
                self.counters.send_errors += 1;
            }
        }
    }

    /// Reads client `i`'s socket until the reply to its outstanding request, or until empty.
    fn on_readable(&mut self, i: u32) {
        loop {
            let c = &self.clients[i as usize];
            let n = match c.socket.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock, or an ICMP error from an earlier send: nothing (more) to read.
                Err(_) => return,
            };
            self.counters.received += 1;
            let decoded = decode_reply(self.cfg.wire, &self.buf[..n]);
            if let (Some(tape), Ok(me)) = (&mut self.tape, c.socket.local_addr()) {
                let (bytes, from) = (&self.buf[..n], Some(c.target));
                match decoded.as_ref().map(|r| (r, codec::reply_kv_msg(r))) {
                    // The same text the node's recording gives the reply it sent.
                    Ok((_, Some(msg))) => tape.note(
                        Kind::Receive,
                        me,
                        from,
                        bytes,
                        format_args!("{msg:?}"),
                        Some(&msg),
                    ),
                    Ok((reply, None)) => tape.note(
                        Kind::Receive,
                        me,
                        from,
                        bytes,
                        format_args!("{reply}"),
                        None,
                    ),
                    Err(_) => tape.note(
                        Kind::Dropped,
                        me,
                        from,
                        bytes,
                        format_args!("Undecodable({n} bytes)"),
                        None,
                    ),
                }
            }
            let answer = match decoded {
                Ok(reply) => {
                    if c.phase == Phase::Idle || reply.in_reply_to != c.msg_id {
                        self.counters.stale += 1;
                        continue;
                    }
                    match (reply.body, c.req.kind) {
                        (ReplyBody::ReadOk(v), OpKind::Read) => Answer::Done(Outcome::ReadOk(v)),
                        (ReplyBody::WriteOk, OpKind::Write(_)) => Answer::Done(Outcome::WriteOk),
                        (ReplyBody::CasOk, OpKind::Cas { .. }) => Answer::Done(Outcome::CasOk),
                        (ReplyBody::AddOk, OpKind::Add(_)) => Answer::Done(Outcome::WriteOk),
                        (ReplyBody::Error { code, leader, .. }, _) => {
                            Answer::Error { code, leader }
                        }
                        _ => {
                            self.counters.undecodable += 1;
                            continue;
                        }
                    }
                }
                Err(_) => {
                    self.counters.undecodable += 1;
                    continue;
                }
            };
            self.on_answer(i, answer);
            return;
        }
    }

    fn on_answer(&mut self, i: u32, answer: Answer) {
        let now = Instant::now();
        match answer {
            Answer::Done(outcome) => self.complete(i, outcome, now),
            Answer::Error { code, leader } => {
                self.counters.error(code);
                match code {
                    codec::ERR_KEY_DOES_NOT_EXIST => self.complete(i, Outcome::NotFound, now),
                    codec::ERR_PRECONDITION_FAILED => {
                        self.complete(i, Outcome::PreconditionFailed, now)
                    }
                    codec::ERR_TEMPORARILY_UNAVAILABLE => self.on_unavailable(i, leader, now),
                    codec::ERR_NOT_SUPPORTED | codec::ERR_MALFORMED_REQUEST => self.fail(i, now),
                    _ => self.complete(i, Outcome::Indeterminate, now),
                }
            }
        }
    }

    /// Error 11: follow the leader hint, or back off and try the next target.
    fn on_unavailable(&mut self, i: u32, leader: Option<SocketAddr>, now: Instant) {
        let c = &mut self.clients[i as usize];
        if self.stage == Stage::Drain || c.redirects_left == 0 {
            self.fail(i, now);
            return;
        }
        c.redirects_left -= 1;
        self.counters.redirects += 1;
        match leader {
            Some(l) if l != c.target => {
                if let Some(idx) = self.cfg.targets.iter().position(|t| *t == l) {
                    c.target_idx = idx;
                }
                self.retarget(i, l);
                self.send(i, now);
            }
            _ => {
                self.rotate_target(i);
                self.detach(i);
                let c = &mut self.clients[i as usize];
                c.phase = Phase::Backoff;
                c.deadline = now + UNAVAILABLE_BACKOFF;
                self.backing_off.push_back(&mut self.clients, i);
            }
        }
    }

    fn on_timeout(&mut self, i: u32, now: Instant) {
        self.counters.timeouts += 1;
        let c = &mut self.clients[i as usize];
        c.maybe_applied = true;
        if self.stage == Stage::Drain || c.timeouts_left == 0 {
            if !self.cfg.retry_elsewhere {
                // Given up where it was sent: the next operation tries the next target.
                self.rotate_target(i);
            }
            self.complete(i, Outcome::Indeterminate, now);
            return;
        }
        c.timeouts_left -= 1;
        self.counters.retries += 1;
        if self.cfg.retry_elsewhere {
            self.rotate_target(i);
        }
        self.send(i, now);
    }

    /// A definite error ended the operation: not applied, unless an earlier attempt timed out.
    fn fail(&mut self, i: u32, now: Instant) {
        if self.clients[i as usize].maybe_applied {
            self.complete(i, Outcome::Indeterminate, now);
            return;
        }
        self.detach(i);
        self.counters.ops_failed += 1;
        self.next_op(i, now);
    }

    /// The operation ended with `outcome`: count it, record it, and start the next one.
    fn complete(&mut self, i: u32, outcome: Outcome, now: Instant) {
        self.detach(i);
        let complete_ns = self.ns(now);
        let track_seen = self.cfg.cas > 0.0;
        let c = &mut self.clients[i as usize];
        let (key, kind) = (c.req.key, c.req.kind);
        if track_seen {
            match (outcome, kind) {
                (Outcome::ReadOk(v), _) => {
                    c.seen.insert(key, v);
                }
                (Outcome::WriteOk, OpKind::Write(v))
                | (Outcome::CasOk, OpKind::Cas { to: v, .. }) => {
                    c.seen.insert(key, v);
                }
                _ => {}
            }
        }
        let op = Op {
            client: c.id,
            key,
            kind,
            invoke_ns: c.invoke_ns,
            complete_ns,
            outcome,
        };
        if outcome == Outcome::Indeterminate {
            self.counters.indeterminate += 1;
        } else if now >= self.warmup_end && now < self.end {
            let latency_ns = now.saturating_duration_since(c.origin).as_nanos() as u64;
            self.latency_ns_sum += u128::from(latency_ns);
            self.latency_us
                .saturating_record((latency_ns / 1000).min(MAX_LATENCY_US));
            self.counters.ops += 1;
            if matches!(
                outcome,
                Outcome::ReadOk(_) | Outcome::WriteOk | Outcome::CasOk
            ) {
                self.counters.ops_ok += 1;
                self.ok_ms
                    .set(now.saturating_duration_since(self.warmup_end));
            }
            match kind {
                OpKind::Read => self.counters.reads += 1,
                OpKind::Write(_) | OpKind::Add(_) => self.counters.writes += 1,
                OpKind::Cas { .. } => self.counters.cas += 1,
            }
        }
        if self.stage == Stage::Drain && outcome == Outcome::Indeterminate {
            self.counters.unfinished += 1;
        }
        if self.cfg.record_history && !self.history_overflow {
            if self.history.len() < self.history_cap {
                self.history.push(op);
            } else {
                self.history_overflow = true;
                self.history = OpLog::default();
            }
        }
        self.next_op(i, now);
    }

    /// Client `i` is free: give it the next operation (closed loop), or a due scheduled one (open
    /// loop), or park it.
    fn next_op(&mut self, i: u32, now: Instant) {
        if self.stage == Stage::Drain || now >= self.end {
            return;
        }
        match &self.schedule {
            None => self.start_op(i, now, now),
            Some(s) if s.next_at <= now && s.next_at < self.end => {
                let at = s.next_at;
                self.advance_schedule();
                self.start_op(i, at, now);
            }
            Some(_) => self.free.push(i),
        }
    }

    /// At the end of the run an operation waiting out a backoff is not re-sent. Every attempt was
    /// refused with error 11 (not applied) unless one timed out: then it may have been applied and
    /// is recorded as indeterminate; otherwise it is left out of the history.
    fn abandon_backoffs(&mut self) {
        let now = Instant::now();
        while self.backing_off.head != NIL {
            let i = self.backing_off.head;
            if self.clients[i as usize].maybe_applied {
                self.complete(i, Outcome::Indeterminate, now);
            } else {
                self.counters.unfinished += 1;
                self.detach(i);
            }
        }
    }

    /// After the grace period: whatever is still in flight is indeterminate.
    fn abandon_in_flight(&mut self) {
        let now = Instant::now();
        while self.in_flight.head != NIL {
            let i = self.in_flight.head;
            self.complete(i, Outcome::Indeterminate, now);
        }
    }
}

/// Wakes the event loop at an exact instant (the open loop's next intended send): a timerfd on
/// Linux, whose readiness ends `epoll_wait` with microsecond precision, where a poll timeout would
/// round up to the next millisecond.
#[cfg(target_os = "linux")]
struct Alarm {
    fd: std::os::fd::OwnedFd,
    armed: Option<Instant>,
}

#[cfg(target_os = "linux")]
impl Alarm {
    fn new(poll: &Poll) -> io::Result<Alarm> {
        use rustix::time::{timerfd_create, TimerfdClockId, TimerfdFlags};
        use std::os::fd::AsRawFd;
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        poll.registry().register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            ALARM,
            Interest::READABLE,
        )?;
        Ok(Alarm { fd, armed: None })
    }

    /// Arms the alarm for `at`. Returns whether it will wake the poll then.
    fn set(&mut self, at: Instant, now: Instant) -> bool {
        use rustix::time::{timerfd_settime, Itimerspec, TimerfdTimerFlags, Timespec};
        if self.armed == Some(at) {
            return true;
        }
        // A zero it_value would disarm the timer.
        let wait = at
            .saturating_duration_since(now)
            .max(Duration::from_nanos(1));
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: wait.as_secs() as i64,
                tv_nsec: i64::from(wait.subsec_nanos()),
            },
        };
        let ok = timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec).is_ok();
        self.armed = ok.then_some(at);
        ok
    }

    fn fired(&mut self) {
        let mut expirations = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut expirations[..]);
        self.armed = None;
    }
}

/// Elsewhere the open loop wakes at the poll's own (millisecond) granularity.
#[cfg(not(target_os = "linux"))]
struct Alarm;

#[cfg(not(target_os = "linux"))]
impl Alarm {
    fn new(_poll: &Poll) -> io::Result<Alarm> {
        Ok(Alarm)
    }
    fn set(&mut self, _at: Instant, _now: Instant) -> bool {
        false
    }
    fn fired(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_gap_spans_threads_and_the_window_edges() {
        let ms = Duration::from_millis;
        let mut a = MsBitmap::new(ms(1000));
        assert_eq!(a.longest_gap_ms(), 1000, "nothing succeeded");
        a.set(ms(10));
        a.set(ms(400));
        let mut b = MsBitmap::new(ms(1000));
        b.set(ms(150));
        b.set(ms(990));
        a.or(&b);
        // 10, 150, 400, 990: the longest stretch is 400..990.
        assert_eq!(a.longest_gap_ms(), 590);
        let mut edge = MsBitmap::new(ms(1000));
        edge.set(ms(700));
        assert_eq!(edge.longest_gap_ms(), 700, "from the window's start");
        edge.set(ms(5_000)); // a late completion counts in the last millisecond
        assert_eq!(edge.longest_gap_ms(), 700);
        let mut tail = MsBitmap::new(ms(1000));
        tail.set(ms(100));
        assert_eq!(tail.longest_gap_ms(), 900, "to the window's end");
    }

    #[test]
    fn lists_are_fifo_and_unlink_anywhere() {
        let now = Instant::now();
        let mut clients: Vec<Client> = (0..4)
            .map(|id| Client {
                socket: UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
                id,
                rng: 0,
                counter: 0,
                target_idx: 0,
                target: "127.0.0.1:1".parse().unwrap(),
                msg_id: 0,
                phase: Phase::Idle,
                req: Request {
                    key: 0,
                    kind: OpKind::Read,
                },
                origin: now,
                invoke_ns: 0,
                timeouts_left: 0,
                redirects_left: 0,
                maybe_applied: false,
                deadline: now,
                prev: NIL,
                next: NIL,
                seen: HashMap::default(),
            })
            .collect();
        let mut l = List::EMPTY;
        for i in 0..4 {
            l.push_back(&mut clients, i);
        }
        l.unlink(&mut clients, 2);
        l.unlink(&mut clients, 0);
        l.push_back(&mut clients, 0);
        let mut order = Vec::new();
        let mut at = l.head;
        while at != NIL {
            order.push(at);
            at = clients[at as usize].next;
        }
        assert_eq!(order, vec![1, 3, 0]);
        assert_eq!(l.tail, 0);
        for i in [3, 1, 0] {
            l.unlink(&mut clients, i);
        }
        assert!(l.is_empty());
        assert_eq!(l.tail, NIL);
    }

    #[test]
    fn config_validation_names_the_field() {
        let ok = LoadConfig {
            targets: vec!["127.0.0.1:1".parse().unwrap()],
            ..LoadConfig::default()
        };
        assert!(ok.validate().is_ok());
        let cases: Vec<(LoadConfig, &str)> = vec![
            (LoadConfig::default(), "targets"),
            (
                LoadConfig {
                    targets: vec!["127.0.0.1:1".parse().unwrap(), "[::1]:1".parse().unwrap()],
                    ..ok.clone()
                },
                "targets",
            ),
            (
                LoadConfig {
                    clients: 0,
                    ..ok.clone()
                },
                "clients",
            ),
            (
                LoadConfig {
                    rate: Some(0.0),
                    ..ok.clone()
                },
                "rate",
            ),
            (
                LoadConfig {
                    rate: Some(f64::NAN),
                    ..ok.clone()
                },
                "rate",
            ),
            (
                LoadConfig {
                    reads: 0.7,
                    cas: 0.5,
                    ..ok.clone()
                },
                "reads + cas",
            ),
            (
                LoadConfig {
                    reads: -0.1,
                    ..ok.clone()
                },
                "reads",
            ),
            (
                LoadConfig {
                    keys: 0,
                    ..ok.clone()
                },
                "keys",
            ),
            (
                LoadConfig {
                    key_base: u64::MAX - 5,
                    keys: 10,
                    ..ok.clone()
                },
                "key_base",
            ),
            (
                LoadConfig {
                    timeout: Duration::ZERO,
                    ..ok.clone()
                },
                "timeout",
            ),
            (
                LoadConfig {
                    duration: Duration::ZERO,
                    ..ok.clone()
                },
                "duration",
            ),
            (
                LoadConfig {
                    threads: 0,
                    ..ok.clone()
                },
                "threads",
            ),
            (
                LoadConfig {
                    fresh_writes: true,
                    cas: 0.1,
                    ..ok.clone()
                },
                "cannot be combined with fresh_writes",
            ),
            (
                LoadConfig {
                    wire: Wire::Counter,
                    keys: 1,
                    cas: 0.1,
                    ..ok.clone()
                },
                "cas 0.1 is not an operation of the g-counter wire",
            ),
            (
                LoadConfig {
                    wire: Wire::Counter,
                    keys: 1,
                    fresh_writes: true,
                    ..ok.clone()
                },
                "fresh_writes cannot be combined with the g-counter wire",
            ),
            (
                LoadConfig {
                    wire: Wire::Counter,
                    ..ok.clone()
                },
                "keys must be 1 for the g-counter wire (one counter), not 100: pass --keys 1",
            ),
        ];
        let counter = LoadConfig {
            wire: Wire::Counter,
            keys: 1,
            key_base: 1 << 40,
            ..ok.clone()
        };
        assert!(counter.validate().is_ok());
        for (cfg, field) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e} should name {field}");
        }
    }

    #[test]
    fn counters_subtract_and_add() {
        let mut a = Counters {
            ops: 5,
            ..Counters::default()
        };
        a.error(11);
        let mut b = a.clone();
        b.ops = 9;
        b.error(11);
        b.error(22);
        let d = b.since(&a);
        assert_eq!(d.ops, 4);
        let mut errors = d.errors.clone();
        errors.sort();
        assert_eq!(errors, vec![(11, 1), (22, 1)]);
        let mut s = Counters::default();
        s.add(&d);
        s.add(&d);
        assert_eq!(s.ops, 8);
        assert_eq!(s.errors.iter().find(|e| e.0 == 22).unwrap().1, 2);
    }

    #[test]
    fn fresh_keys_are_distinct_and_reads_stay_below_the_counter() {
        let fresh = FreshKeys::new();
        assert_eq!(fresh.read_key(u64::MAX), fresh.base, "nothing written yet");
        let written: Vec<Key> = (0..100).map(|_| fresh.write_key()).collect();
        let mut sorted = written.clone();
        sorted.dedup();
        assert_eq!(sorted, written, "increasing, hence distinct");
        let mut rng = 1;
        for _ in 0..1000 {
            let k = fresh.read_key(next_random(&mut rng));
            assert!(written.contains(&k), "{k}");
        }
        assert_eq!(fresh.read_key(u64::MAX), fresh.base + 99);
        std::thread::sleep(Duration::from_millis(1));
        assert!(
            FreshKeys::new().base > written[99],
            "a later run starts above"
        );
    }

    #[test]
    fn fractions_split_the_u64_range() {
        assert_eq!(fraction_to_u64(0.0), 0);
        assert_eq!(fraction_to_u64(1.0), u64::MAX);
        let half = fraction_to_u64(0.5);
        assert!(half.abs_diff(1 << 63) < 1 << 20);
    }
}
