//! The end of a counter benchmark (`synod bench gossip`): once the load stops, do the replicas
//! converge, and to the right total?
//!
//! A gossiped counter is eventually consistent, not linearizable, so its history is judged as
//! Maelstrom judges a `g-counter`: during the run a read may lag, but never show more than the
//! adds sent by the time it completed ([`crate::lincheck::counter::check_reads`]); after the
//! load, every replica must come to read the same value, between the sum of the acknowledged adds
//! and that plus every add whose reply never came ([`crate::lincheck::counter::CounterCheck::bounds`]).
//! The bench reads every node every [`POLL`] until they agree or `limit` passes, and reports how
//! long convergence took.

use crate::client::{self, Request, Wire};
use crate::lincheck::counter::{check_reads, CounterCheck};
use crate::lincheck::{Op, OpKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often the replicas are read while waiting.
pub const POLL: Duration = Duration::from_millis(20);

/// How long one read of one replica may take (one retry).
const READ_TIMEOUT: Duration = Duration::from_millis(50);

/// What the replicas read after the load.
#[derive(Clone, Debug)]
pub struct Settled {
    /// Per node, its last read value (`None`: it did not answer).
    pub values: Vec<Option<u64>>,
    /// How long after the load stopped every node first read the same value; `None` if they
    /// never did within the limit.
    pub converged_after: Option<Duration>,
    /// How long the bench waited.
    pub waited: Duration,
}

/// Reads every node until all answer the same value, or `limit` passes.
pub fn settle(nodes: &[SocketAddr], limit: Duration) -> Settled {
    let start = Instant::now();
    loop {
        let values: Vec<Option<u64>> = nodes
            .iter()
            .map(|addr| {
                let read = Request {
                    key: 0,
                    kind: OpKind::Read,
                };
                match client::request_wire(Wire::Counter, *addr, read, READ_TIMEOUT, 1) {
                    Ok(reply) => match reply.body {
                        client::ReplyBody::ReadOk(v) => Some(v),
                        _ => None,
                    },
                    Err(_) => None,
                }
            })
            .collect();
        let agreed = values.iter().all(|v| v.is_some() && *v == values[0]);
        let waited = start.elapsed();
        if agreed || waited >= limit {
            return Settled {
                values,
                converged_after: agreed.then_some(waited),
                waited,
            };
        }
        std::thread::sleep(POLL);
    }
}

/// A counter run's verdict.
#[derive(Clone, Debug)]
pub struct CounterReport {
    pub reads: CounterCheck,
    /// (sum of acknowledged adds, plus the indeterminate ones).
    pub bounds: (u64, u64),
    pub settled: Settled,
}

impl CounterReport {
    /// The verdict of `history` and what the replicas read after it, for a counter that read
    /// `base` before the run (0 for a fresh cluster; an existing one keeps earlier runs' adds).
    pub fn new(history: &[Op], settled: Settled, base: u64) -> CounterReport {
        let reads = check_reads(history, base);
        let (low, high) = reads.bounds();
        CounterReport {
            reads,
            bounds: (base.saturating_add(low), base.saturating_add(high)),
            settled,
        }
    }

    /// The value every replica settled on, if they did.
    pub fn settled_value(&self) -> Option<u64> {
        self.settled.converged_after?;
        self.settled.values.first().copied().flatten()
    }

    /// Converged, to a value within the bounds, and no read during the run out of bounds.
    pub fn ok(&self) -> bool {
        let (low, high) = self.bounds;
        self.reads.reads_out_of_bounds == 0
            && self.settled_value().is_some_and(|v| low <= v && v <= high)
    }

    /// `converged`; `wrong value` (the replicas agree on a value outside the bounds, or a read
    /// during the run showed adds nobody had sent); `not converged`.
    pub fn verdict(&self) -> &'static str {
        match self.settled_value() {
            None => "not converged",
            Some(_) if self.ok() => "converged",
            Some(_) => "wrong value",
        }
    }

    pub fn to_text(&self) -> String {
        let (low, high) = self.bounds;
        let values: Vec<String> = self
            .settled
            .values
            .iter()
            .map(|v| v.map_or("no answer".to_string(), |v| v.to_string()))
            .collect();
        let mut out = match (self.settled.converged_after, self.settled_value()) {
            (Some(after), Some(v)) => format!(
                "Convergence: every replica reads {v} {} ms after the load stopped; the acknowledged adds make {low}, {} with the unacknowledged: {}\n",
                after.as_millis(),
                high,
                if low <= v && v <= high {
                    "within bounds"
                } else {
                    "OUT OF BOUNDS"
                }
            ),
            _ => format!(
                "Convergence: NOT converged after {} ms: replicas read [{}]; the acknowledged adds make {low}, {high} with the unacknowledged\n",
                self.settled.waited.as_millis(),
                values.join(", ")
            ),
        };
        let r = &self.reads;
        out.push_str(&format!(
            "Reads during the run: {} of {} showed more than had been added by then{}\n",
            r.reads_out_of_bounds,
            r.reads,
            r.first_bad
                .map(|op| format!(
                    " (first: client {} at {:.3} ms)",
                    op.client,
                    op.invoke_ns as f64 / 1e6
                ))
                .unwrap_or_default()
        ));
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "verdict": self.verdict(),
            "values": self.settled.values,
            "converged_after_ms": self.settled.converged_after.map(|d| d.as_millis() as u64),
            "waited_ms": self.settled.waited.as_millis() as u64,
            "acknowledged_sum": self.bounds.0,
            "upper_bound": self.bounds.1,
            "adds_ok": self.reads.adds_ok,
            "reads": self.reads.reads,
            "reads_out_of_bounds": self.reads.reads_out_of_bounds,
        })
    }
}
