//! Recording a real run (`synod run|bench --record FILE`): every datagram a node sends or
//! receives, every timer that fires, every crash and restart, the load generator's own datagrams
//! and, under `bench`, the clients' history with the linearizability verdict. The web UI draws
//! the file as a time-space diagram (one lane per node and per client, an arrow per datagram from
//! its send to its receipt), the same viewer as the checker's counterexamples.
//!
//! **Cost.** Recording is for understanding a run, not for measuring it, but it must not change
//! the run's shape much: each thread that records (a node, a load-generator thread) appends to a
//! [`Tape`] of its own, with no lock; an event is a time, two addresses, a 64-bit hash of the
//! datagram's bytes and the message's `Debug` text appended to one string. Only the admission of
//! an event touches shared state (one atomic add).
//!
//! **Bounded.** A recording keeps the first [`Recorder::max_events`] events of the run and counts
//! the rest as dropped (the file and the report say how many): the opening of a run is where a
//! reader starts, and a time-space diagram of millions of arrows is not read by anyone.
//!
//! **Matching.** UDP datagrams carry no identity, so a receipt is matched at the end to the
//! earliest unmatched send with the same source, destination and bytes (their hash): copies made
//! by injected duplication match one each, and a send left unmatched was lost (by injected loss,
//! a partition, the kernel, or a node that crashed before reading it).

use crate::lincheck::{self, CheckReport, Op, OpKind, Outcome, Verdict};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many events a recording keeps unless told otherwise (`--record-limit`).
pub const DEFAULT_MAX_EVENTS: usize = 200_000;

/// The most operations of a history a recording carries (those invoked first; the failing key's
/// shortest failing prefix is always kept whole).
pub const MAX_HISTORY_OPS: usize = 100_000;

/// What happened to a datagram (or a timer) at the tape's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Handed to the socket (or to the delay queue, to leave later).
    Send,
    /// Taken off the socket and decoded.
    Receive,
    /// Dropped on the way out by injected loss or a partition.
    Lost,
    /// Taken off the socket but not decodable (or from an address that is not a peer): dropped.
    Dropped,
    /// A timer fired.
    Timeout,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Send => "send",
            Kind::Receive => "receive",
            Kind::Lost => "lost",
            Kind::Dropped => "dropped",
            Kind::Timeout => "timeout",
        }
    }
}

/// One event as a tape holds it: the text lives in the tape's string.
struct Raw {
    at_ns: u64,
    kind: Kind,
    me: SocketAddr,
    peer: Option<SocketAddr>,
    hash: u64,
    text: (u32, u32),
    /// The message with its fields named, where that says more (length 0: it does not).
    fields: (u32, u32),
}

/// What a finished tape hands back to its recorder.
struct Finished {
    raws: Vec<Raw>,
    text: String,
}

/// Something the cluster did to a node (crash, restart).
struct Mark {
    at_ns: u64,
    node: usize,
    what: String,
}

/// A run's recording, shared by every thread that records into it.
pub struct Recorder {
    epoch: Instant,
    max_events: usize,
    admitted: AtomicUsize,
    dropped: AtomicU64,
    finished: Mutex<Vec<Finished>>,
    marks: Mutex<Vec<Mark>>,
    /// Lane names for addresses: nodes `n0`, `n1`...; the load generator's clients `c0`, `c1`...
    names: Mutex<HashMap<SocketAddr, String>>,
}

/// Two handles are equal when they are the same recording (a load configuration compares them).
impl PartialEq for Recorder {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("max_events", &self.max_events)
            .field("admitted", &self.admitted.load(Relaxed))
            .field("dropped", &self.dropped.load(Relaxed))
            .finish()
    }
}

/// Hashes a datagram's bytes (to match a receipt to its send).
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl Recorder {
    /// A recording that keeps at most `max_events` events; its clock starts now.
    pub fn new(max_events: usize) -> Arc<Recorder> {
        Arc::new(Recorder {
            epoch: Instant::now(),
            max_events,
            admitted: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            finished: Mutex::new(Vec::new()),
            marks: Mutex::new(Vec::new()),
            names: Mutex::new(HashMap::new()),
        })
    }

    /// Events recorded and dropped so far.
    pub fn counts(&self) -> (usize, u64) {
        (
            self.admitted.load(Relaxed).min(self.max_events),
            self.dropped.load(Relaxed),
        )
    }

    /// Nanoseconds from the recording's start to `t`.
    pub fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Names the lane of `addr` (`n0`, `c3`).
    pub fn name(&self, addr: SocketAddr, name: String) {
        self.names.lock().expect("recorder lock").insert(addr, name);
    }

    /// Notes that the cluster did `what` to `node` now.
    pub fn mark(&self, node: usize, what: &str) {
        let at_ns = self.ns(Instant::now());
        self.marks.lock().expect("recorder lock").push(Mark {
            at_ns,
            node,
            what: what.to_string(),
        });
    }

    /// Reserves room for one event; false (and counted) once the recording is full.
    fn admit(&self) -> bool {
        if self.admitted.fetch_add(1, Relaxed) < self.max_events {
            true
        } else {
            self.dropped.fetch_add(1, Relaxed);
            false
        }
    }
}

/// One thread's share of a recording. Dropping it hands what it holds to the recorder (a node
/// that crashes hands over what it recorded up to the crash).
pub struct Tape {
    recorder: Arc<Recorder>,
    raws: Vec<Raw>,
    text: String,
}

impl Tape {
    pub fn new(recorder: &Arc<Recorder>) -> Tape {
        Tape {
            recorder: recorder.clone(),
            raws: Vec::new(),
            text: String::new(),
        }
    }

    /// Records an event now, if the recording has room: `text` is the message's `Debug` form
    /// (or the timer's), `message` the message itself for its fields by name (`{:#?}`), `bytes`
    /// the datagram (hashed, for matching; empty for a timer).
    pub fn note(
        &mut self,
        kind: Kind,
        me: SocketAddr,
        peer: Option<SocketAddr>,
        bytes: &[u8],
        text: std::fmt::Arguments<'_>,
        message: Option<&dyn std::fmt::Debug>,
    ) {
        if !self.recorder.admit() {
            return;
        }
        let at_ns = self.recorder.ns(Instant::now());
        let start = self.text.len();
        let _ = self.text.write_fmt(text);
        let end = self.text.len();
        let mut fields = (end as u32, 0);
        if let Some(m) = message {
            let named = synod_models::trace::one_line(&format!("{m:#?}"));
            if named != self.text[start..end] {
                self.text.push_str(&named);
                fields.1 = named.len() as u32;
            }
        }
        self.raws.push(Raw {
            at_ns,
            kind,
            me,
            peer,
            hash: if bytes.is_empty() {
                0
            } else {
                hash_bytes(bytes)
            },
            text: (start as u32, (end - start) as u32),
            fields,
        });
    }
}

impl Drop for Tape {
    fn drop(&mut self) {
        let finished = Finished {
            raws: std::mem::take(&mut self.raws),
            text: std::mem::take(&mut self.text),
        };
        if let Ok(mut f) = self.recorder.finished.lock() {
            f.push(finished);
        }
    }
}

/// What a recording file says besides its events.
pub struct Context<'a> {
    /// The command, for the viewer's title (`synod bench raft --clients 4 ...`).
    pub command: String,
    pub protocol: Option<&'a str>,
    /// The cluster's nodes in index order (empty when they ran elsewhere: `bench --target`).
    pub nodes: Vec<SocketAddr>,
    /// The clients' history and when its clock started (`bench` only).
    pub history: Option<(&'a [Op], Instant)>,
    /// The history checker's verdict, and the model it checked against.
    pub lincheck: Option<(&'a CheckReport, lincheck::Model)>,
}

/// Figures of a written recording, for the report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Written {
    pub path: String,
    pub events: usize,
    pub dropped: u64,
    pub max_events: usize,
    pub bytes: u64,
}

/// The message's type: the identifier its `Debug` text starts with.
fn type_of(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    if end == 0 {
        "?"
    } else {
        &text[..end]
    }
}

fn op_json(op: &Op, offset_ns: u64) -> Value {
    let (kind, value) = match op.kind {
        OpKind::Read => ("read", Value::Null),
        OpKind::Write(v) => ("write", json!(v)),
        OpKind::Cas { from, to } => ("cas", json!([from, to])),
        OpKind::Add(delta) => ("add", json!(delta)),
    };
    let outcome = match op.outcome {
        Outcome::ReadOk(v) => json!({"read_ok": v}),
        Outcome::NotFound => json!("not found"),
        Outcome::WriteOk => json!("write_ok"),
        Outcome::CasOk => json!("cas_ok"),
        Outcome::PreconditionFailed => json!("precondition failed"),
        Outcome::Indeterminate => json!("indeterminate"),
    };
    let indeterminate = op.outcome == Outcome::Indeterminate;
    json!({
        "client": op.client,
        "key": op.key,
        "f": kind,
        "value": value,
        "invoke_us": (op.invoke_ns + offset_ns) as f64 / 1e3,
        "complete_us": if indeterminate { Value::Null } else { json!((op.complete_ns + offset_ns) as f64 / 1e3) },
        "outcome": outcome,
    })
}

impl Recorder {
    /// Writes the recording to `path` as one JSON object (see README, "Recorded runs"). Call
    /// after every tape was dropped (the cluster stopped, the load generator returned).
    pub fn write(&self, path: &Path, ctx: &Context<'_>) -> io::Result<Written> {
        let finished = std::mem::take(&mut *self.finished.lock().expect("recorder lock"));
        let marks = std::mem::take(&mut *self.marks.lock().expect("recorder lock"));
        let mut names = self.names.lock().expect("recorder lock").clone();
        for (i, a) in ctx.nodes.iter().enumerate() {
            names.insert(*a, format!("n{i}"));
        }
        // Every event with its text, in time order.
        let mut all: Vec<(&Raw, &str, &str)> = finished
            .iter()
            .flat_map(|f| {
                f.raws.iter().map(move |r| {
                    let slice = |(s, n): (u32, u32)| &f.text[s as usize..(s + n) as usize];
                    (r, slice(r.text), slice(r.fields))
                })
            })
            .collect();
        all.sort_by_key(|(r, _, _)| r.at_ns);

        // Lanes: the nodes in order, then the named clients in name order, then any other
        // address in order of appearance.
        let mut lanes: Vec<(SocketAddr, String)> = ctx
            .nodes
            .iter()
            .enumerate()
            .map(|(i, a)| (*a, format!("n{i}")))
            .collect();
        let mut clients: Vec<(SocketAddr, String)> = names
            .iter()
            .filter(|(a, _)| !ctx.nodes.contains(a))
            .map(|(a, n)| (*a, n.clone()))
            .collect();
        clients.sort_by_key(|(_, n)| {
            (
                n.trim_start_matches(|c: char| !c.is_ascii_digit())
                    .parse::<u64>()
                    .unwrap_or(u64::MAX),
                n.clone(),
            )
        });
        lanes.extend(clients);
        let mut lane_of: HashMap<SocketAddr, usize> = lanes
            .iter()
            .enumerate()
            .map(|(i, (a, _))| (*a, i))
            .collect();
        for (r, _, _) in &all {
            for a in std::iter::once(r.me).chain(r.peer) {
                if let std::collections::hash_map::Entry::Vacant(v) = lane_of.entry(a) {
                    v.insert(lanes.len());
                    lanes.push((a, a.to_string()));
                }
            }
        }

        // Match each receipt to the earliest unmatched send of the same bytes on the same path.
        let mut sends: HashMap<(SocketAddr, SocketAddr, u64), VecDeque<usize>> = HashMap::new();
        let mut matched: Vec<Option<usize>> = vec![None; all.len()];
        for (i, (r, _, _)) in all.iter().enumerate() {
            if let (Kind::Send, Some(peer)) = (r.kind, r.peer) {
                sends.entry((r.me, peer, r.hash)).or_default().push_back(i);
            }
        }
        for (i, (r, _, _)) in all.iter().enumerate() {
            if let (Kind::Receive, Some(peer)) = (r.kind, r.peer) {
                if let Some(q) = sends.get_mut(&(peer, r.me, r.hash)) {
                    // The send happened before the receipt (same clock); skip any later one.
                    if q.front().is_some_and(|&s| all[s].0.at_ns <= r.at_ns) {
                        let s = q.pop_front().expect("checked");
                        matched[s] = Some(i);
                        matched[i] = Some(s);
                    }
                }
            }
        }

        let mut types: Vec<&str> = Vec::new();
        let events: Vec<Value> = all
            .iter()
            .enumerate()
            .map(|(i, (r, text, fields))| {
                let t = if r.kind == Kind::Timeout {
                    "timeout"
                } else {
                    type_of(text)
                };
                if !types.contains(&t) {
                    types.push(t);
                }
                let mut e = json!({
                    "at_us": r.at_ns as f64 / 1e3,
                    "kind": r.kind.name(),
                    "lane": lane_of[&r.me],
                    "type": t,
                    "message": text,
                });
                if let Some(p) = r.peer {
                    e["peer"] = json!(lane_of[&p]);
                }
                if !fields.is_empty() {
                    e["fields"] = json!(fields);
                }
                if let Some(m) = matched[i] {
                    e[if r.kind == Kind::Send {
                        "received_as"
                    } else {
                        "sent_as"
                    }] = json!(m);
                }
                e
            })
            .collect();
        types.sort_unstable();
        let marks: Vec<Value> = marks
            .iter()
            .map(|m| json!({"at_us": m.at_ns as f64 / 1e3, "lane": m.node, "what": m.what}))
            .collect();

        let mut history_json = Value::Null;
        let mut omitted = 0usize;
        let mut lin = Value::Null;
        if let Some((ops, start)) = ctx.history {
            let offset_ns = self.ns(start);
            let mut keep: Vec<&Op> = ops.iter().take(MAX_HISTORY_OPS).collect();
            omitted = ops.len() - keep.len();
            if let Some((report, model)) = ctx.lincheck {
                let detail = match &report.verdict {
                    Verdict::Linearizable => Value::Null,
                    Verdict::Unknown { key, reason } => json!({"key": key, "reason": reason}),
                    Verdict::NotLinearizable { key, ops: failing } => {
                        let deadline = Instant::now() + Duration::from_secs(10);
                        let prefix = lincheck::shortest_failing_prefix(failing, model, deadline);
                        let detail = match &prefix {
                            Some((t, p)) => json!({
                                "key": key,
                                "at_us": (t + offset_ns) as f64 / 1e3,
                                "prefix": p.iter().map(|o| op_json(o, offset_ns)).collect::<Vec<_>>(),
                            }),
                            None => json!({
                                "key": key,
                                "at_us": Value::Null,
                                "prefix": failing.iter().map(|o| op_json(o, offset_ns)).collect::<Vec<_>>(),
                            }),
                        };
                        // The failing key's operations stay in the history whatever the bound.
                        let kept: std::collections::HashSet<*const Op> =
                            keep.iter().map(|o| *o as *const Op).collect();
                        let extra: Vec<&Op> = ops
                            .iter()
                            .filter(|o| o.key == *key && !kept.contains(&(*o as *const Op)))
                            .collect();
                        omitted -= extra.len();
                        keep.extend(extra);
                        detail
                    }
                };
                let verdict = report.verdict.name();
                lin = json!({
                    "model": model.name(),
                    "verdict": verdict,
                    "detail": detail,
                    "ops": report.ops,
                    "keys": report.keys,
                });
            }
            keep.sort_by_key(|o| o.invoke_ns);
            history_json = Value::Array(keep.iter().map(|o| op_json(o, offset_ns)).collect());
        }

        let dropped = self.dropped.load(Relaxed);
        let doc = json!({
            "kind": "synod-recording",
            "version": 1,
            "command": ctx.command,
            "protocol": ctx.protocol,
            "lanes": lanes.iter().map(|(a, n)| json!({"name": n, "addr": a.to_string(), "node": ctx.nodes.contains(a)})).collect::<Vec<_>>(),
            "types": types,
            "events": events,
            "marks": marks,
            "recorded_events": all.len(),
            "dropped_events": dropped,
            "max_events": self.max_events,
            "history": history_json,
            "history_omitted": omitted,
            "linearizability": lin,
        });
        let file = std::fs::File::create(path)?;
        let mut w = io::BufWriter::new(file);
        serde_json::to_writer(&mut w, &doc)?;
        io::Write::flush(&mut w)?;
        let bytes = w.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Written {
            path: path.display().to_string(),
            events: all.len(),
            dropped,
            max_events: self.max_events,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn receipts_match_sends_of_the_same_bytes_and_the_rest_are_lost() {
        let rec = Recorder::new(10);
        {
            let mut a = Tape::new(&rec);
            let mut b = Tape::new(&rec);
            a.note(
                Kind::Send,
                addr(1),
                Some(addr(2)),
                b"x",
                format_args!("Ping {{ n: 1 }}"),
                None,
            );
            a.note(
                Kind::Send,
                addr(1),
                Some(addr(2)),
                b"y",
                format_args!("Ping {{ n: 2 }}"),
                None,
            );
            b.note(
                Kind::Receive,
                addr(2),
                Some(addr(1)),
                b"y",
                format_args!("Ping {{ n: 2 }}"),
                None,
            );
            b.note(
                Kind::Timeout,
                addr(2),
                None,
                b"",
                format_args!("Election"),
                None,
            );
        }
        let dir = std::env::temp_dir().join(format!("synod-record-test-{}", std::process::id()));
        let ctx = Context {
            command: "test".into(),
            protocol: None,
            nodes: vec![addr(1), addr(2)],
            history: None,
            lincheck: None,
        };
        let w = rec.write(&dir, &ctx).unwrap();
        assert_eq!((w.events, w.dropped), (4, 0));
        let doc: Value = serde_json::from_slice(&std::fs::read(&dir).unwrap()).unwrap();
        let _ = std::fs::remove_file(&dir);
        let ev = doc["events"].as_array().unwrap();
        assert_eq!(ev[0]["type"], "Ping");
        assert!(
            ev[0].get("received_as").is_none(),
            "n: 1 was never received"
        );
        assert_eq!(ev[1]["received_as"], 2);
        assert_eq!(ev[2]["sent_as"], 1);
        assert_eq!(ev[3]["kind"], "timeout");
        assert_eq!(doc["lanes"][1]["name"], "n1");
    }

    #[test]
    fn a_full_recording_counts_what_it_drops() {
        let rec = Recorder::new(2);
        let mut t = Tape::new(&rec);
        for _ in 0..5 {
            t.note(Kind::Timeout, addr(1), None, b"", format_args!("T"), None);
        }
        assert_eq!(rec.counts(), (2, 3));
        assert_eq!(t.raws.len(), 2);
    }
}
