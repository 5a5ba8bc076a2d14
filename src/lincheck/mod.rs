//! The linearizability checker for histories recorded from real runs.
//!
//! A load generator records every operation a client issued: when it was invoked, when it
//! completed, and what it returned. An operation whose reply never came (a timeout) is
//! *indeterminate*: it may or may not have taken effect, so it completes "at infinity" and any
//! return value is acceptable for it. An operation that failed definitely (error 10, 11, 12: not
//! applied) is left out of the history by the recorder.
//!
//! The check is per key (linearizability is compositional, Herlihy and Wing's locality, the
//! "P-compositionality" of Horn and Kroening), each key's sub-history searched with the
//! Wing-Gong-Lowe algorithm and memoisation of (linearized set, state), as in Lowe's "Testing for
//! linearizability" and Porcupine.
//!
//! `check` takes a whole history and a time budget and returns a `CheckReport`; `check_key`
//! decides one key's sub-history. How the search is kept near-linear on real histories (and
//! where it is not) is told in `wgl/search.rs`; `benches/lincheck.rs` measures a 10-second,
//! 64-client run (478k operations over 100 keys) at about a quarter of a second on two cores.
//!
//! Both are for registers. A grow-only counter (`Model::Counter`, Maelstrom's `g-counter`) is not
//! linearizable by design: its history is checked for bounds and convergence by [`counter`].

pub mod counter;
pub mod stale;
mod wgl;

pub use wgl::{check, check_key};

/// A key of the store (as on the wire).
pub type Key = u64;
/// A value of the store (as on the wire).
pub type Value = u64;

/// The sequential object each key is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    /// A read/write/cas register that starts absent: reads of an absent key return "does not
    /// exist" (error 20), a cas on an absent key fails with error 20, a cas whose `from` differs
    /// fails with error 22. (`single-copy-kv`.)
    Register,
    /// A write-once register that starts absent: the first write sets it; a later write of the
    /// same value succeeds, of another value fails with error 22. No cas. (`paxos`.)
    WriteOnce,
    /// One grow-only counter (Maelstrom's `g-counter`): `add` a delta, `read` the total. Not
    /// linearizable by design (replicas gossip): its histories go to [`counter::check_reads`]
    /// and [`counter::CounterCheck::bounds`], never to [`check`].
    Counter,
}

impl Model {
    /// Every model, in the order of their names.
    pub const ALL: [Model; 3] = [Model::Register, Model::WriteOnce, Model::Counter];

    /// `register`, `write-once` or `counter`: the model's name on the command line and in
    /// reports.
    pub fn name(self) -> &'static str {
        match self {
            Model::Register => "register",
            Model::WriteOnce => "write-once",
            Model::Counter => "counter",
        }
    }
}

impl Model {
    /// What a protocol declares its keys to be is what its histories are checked against;
    /// `None` for a protocol without clients (no history).
    pub fn of(k: synod_models::protocol::KeySemantics) -> Option<Model> {
        use synod_models::protocol::KeySemantics as K;
        match k {
            K::Register => Some(Model::Register),
            K::WriteOnce => Some(Model::WriteOnce),
            K::Counter => Some(Model::Counter),
            K::NoClients => None,
        }
    }
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Model {
    type Err = String;

    /// A model by its [`Model::name`]; the error lists the valid names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Model::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let valid: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
                format!("unknown model {s:?} (valid: {})", valid.join(", "))
            })
    }
}

/// What an operation asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Read,
    Write(Value),
    Cas {
        from: Value,
        to: Value,
    },
    /// A counter's `add` of this delta (`Model::Counter` only; a register has no add).
    Add(Value),
}

/// What an operation returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// `read_ok` with its value.
    ReadOk(Value),
    /// Error 20: the key does not exist (a read or a cas of an absent key).
    NotFound,
    /// `write_ok`, or `add_ok` for an add.
    WriteOk,
    /// `cas_ok`.
    CasOk,
    /// Error 22: precondition failed (a cas whose `from` differs from the current value; a
    /// write-once key that holds another value). Definite: the operation did not change state.
    PreconditionFailed,
    /// No reply before the client gave up: the operation may or may not have taken effect.
    Indeterminate,
}

/// One recorded operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Op {
    /// The logical client that issued it (one operation outstanding per client).
    pub client: u32,
    pub key: Key,
    pub kind: OpKind,
    /// When the client sent the request, in nanoseconds since the run's start.
    pub invoke_ns: u64,
    /// When the client received the reply; ignored for an indeterminate operation.
    pub complete_ns: u64,
    pub outcome: Outcome,
}

/// The checker's verdict on a whole history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every key's sub-history is linearizable.
    Linearizable,
    /// Some key's sub-history is not: `key` is the failing key whose sub-history is smallest,
    /// and `ops` that sub-history, ordered by invocation time.
    NotLinearizable { key: Key, ops: Vec<Op> },
    /// The search for some key exceeded its budget before deciding.
    Unknown { key: Key, reason: String },
}

impl Verdict {
    /// `linearizable`, `not linearizable` or `unknown`: the verdict's name in every report.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable { .. } => "not linearizable",
            Verdict::Unknown { .. } => "unknown",
        }
    }
}

/// A verdict with the figures a report prints.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    pub verdict: Verdict,
    /// Operations checked (indeterminate ones included).
    pub ops: usize,
    pub indeterminate: usize,
    pub keys: usize,
    pub seconds: f64,
}

/// The shortest failing prefix of one key's non-linearizable sub-history, cut by time: the
/// operations invoked by some time `T`, those still running at `T` made indeterminate. A prefix of
/// a linearizable history is linearizable, so failing is monotone in `T` and a binary search over
/// the completion times finds the earliest `T`: the operation completing then is the one no
/// linearization can explain, and the operations just before it are the context a reader needs.
/// Returns `T` and the prefix (ordered by invocation), or `None` if no prefix fails in time.
pub fn shortest_failing_prefix(
    ops: &[Op],
    model: Model,
    deadline: std::time::Instant,
) -> Option<(u64, Vec<Op>)> {
    let prefix = |t: u64| -> Vec<Op> {
        let mut out: Vec<Op> = ops
            .iter()
            .filter(|o| o.invoke_ns <= t)
            .map(|o| {
                let mut o = *o;
                if o.outcome != Outcome::Indeterminate && o.complete_ns > t {
                    o.outcome = Outcome::Indeterminate;
                }
                o
            })
            .collect();
        out.sort_by_key(|o| o.invoke_ns);
        out
    };
    let fails = |t: u64| matches!(check_key(&prefix(t), model, Some(deadline)), Ok(false));
    let mut times: Vec<u64> = ops
        .iter()
        .filter(|o| o.outcome != Outcome::Indeterminate)
        .map(|o| o.complete_ns)
        .collect();
    times.sort_unstable();
    times.dedup();
    let last = *times.last()?;
    if !fails(last) {
        return None;
    }
    // Invariant: times[hi] fails; everything below lo passes.
    let (mut lo, mut hi) = (0, times.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fails(times[mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
        if std::time::Instant::now() > deadline {
            break;
        }
    }
    let t = times[hi];
    Some((t, prefix(t)))
}

#[cfg(test)]
mod prefix_tests {
    use super::*;

    fn op(client: u32, kind: OpKind, invoke_ns: u64, complete_ns: u64, outcome: Outcome) -> Op {
        Op {
            client,
            key: 0,
            kind,
            invoke_ns,
            complete_ns,
            outcome,
        }
    }

    #[test]
    fn the_shortest_failing_prefix_ends_at_the_stale_read() {
        let mut ops = vec![
            op(0, OpKind::Write(1), 0, 10, Outcome::WriteOk),
            op(1, OpKind::Write(2), 20, 30, Outcome::WriteOk),
            op(2, OpKind::Read, 40, 50, Outcome::ReadOk(1)), // stale: 2 was written before
        ];
        // Later, unrelated and linearizable on their own.
        for i in 0..20 {
            let t = 100 + i * 10;
            ops.push(op(3, OpKind::Write(10 + i), t, t + 5, Outcome::WriteOk));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let (t, prefix) = shortest_failing_prefix(&ops, Model::Register, deadline).unwrap();
        assert_eq!(t, 50);
        assert_eq!(prefix.len(), 3);
        assert_eq!(prefix[2].outcome, Outcome::ReadOk(1));
        // A linearizable history has no failing prefix.
        assert!(shortest_failing_prefix(&ops[3..], Model::Register, deadline).is_none());
    }

    #[test]
    fn model_names_round_trip() {
        for m in Model::ALL {
            assert_eq!(m.name().parse::<Model>(), Ok(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert!("paxos".parse::<Model>().unwrap_err().contains("write-once"));
    }
}
