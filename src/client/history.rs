//! A recorded history written out for other checkers: Jepsen's EDN (Knossos, Elle) or JSON lines
//! (Porcupine, or a script).
//!
//! A recorded [`Op`] is one operation with its invocation and completion; the formats of the
//! Jepsen family are *event* histories, so each operation becomes two events, an invocation and
//! a completion, and the events of all clients are ordered by time. Times are nanoseconds since
//! the run's start. The completion's type says what the client learned:
//!
//! - `ok`: a success reply (`read_ok`, `write_ok`, `cas_ok`, `add_ok`), and a read answered error
//!   20: the read observed the absent key, which is the register's initial state (`value` null /
//!   `nil`). Knossos's `cas-register` accepts a nil read in any state, Elle reads nil as the
//!   initial version, and a Porcupine model can treat null as "absent"; a `fail` would instead
//!   claim the read did not happen and throw away what it saw (docs/decisions.md).
//! - `fail`: a definite refusal that changed nothing: error 22 (a cas whose `from` differed, a
//!   write-once key holding another value) or error 20 on a cas; `error` is `[code, text]`.
//! - `info`: no reply (the client gave up after its retries, or the run ended): the operation may
//!   or may not have taken effect. Its event is at the moment the client gave up (never before its
//!   invocation).
//!
//! **Processes.** An operation's `process` is its client's id, plus the number of clients for
//! each earlier operation of that client that ended `info`: Jepsen's convention, since an
//! indeterminate operation may still take effect later, its process never completes, and the
//! client goes on as a new process. So no process ever has two operations open.
//!
//! **Order.** By time; at equal times completions come before invocations (a client reads the
//! clock after a reply arrives and before it sends, so the reply really came first), except that
//! an operation's own completion always follows its invocation.
//!
//! JSON lines, one object per event (keys in this order; `error` only on `fail`):
//!
//! ```text
//! {"process":3,"type":"invoke","f":"write","key":1,"value":7,"time":123}
//! {"process":3,"type":"ok","f":"write","key":1,"value":7,"time":456}
//! {"process":0,"type":"invoke","f":"read","key":1,"value":null,"time":500}
//! {"process":0,"type":"ok","f":"read","key":1,"value":7,"time":800}
//! {"process":1,"type":"invoke","f":"cas","key":1,"value":[7,8],"time":900}
//! {"process":1,"type":"fail","f":"cas","key":1,"value":[7,8],"time":990,"error":[22,"precondition failed"]}
//! ```
//!
//! EDN, one map per line as Jepsen writes `history.edn`, keys and values as `jepsen.independent`
//! tuples `[key value]` (a cas's value is `[key [from to]]`), `:index` the line's position:
//!
//! ```text
//! {:type :invoke, :f :write, :value [1 7], :process 3, :time 123, :index 0}
//! {:type :ok, :f :write, :value [1 7], :process 3, :time 456, :index 1}
//! {:type :invoke, :f :read, :value [1 nil], :process 0, :time 500, :index 2}
//! {:type :ok, :f :read, :value [1 7], :process 0, :time 800, :index 3}
//! {:type :fail, :f :cas, :value [1 [7 8]], :process 1, :time 990, :index 5, :error [22 "precondition failed"]}
//! ```
//!
//! **A counter** (Maelstrom's `g-counter`). An add is `"f":"add"` with its delta as the value (an
//! `add_ok` completes it `ok`); a read is as above. JSON lines keep `"key":0`. EDN has no key
//! tuple, since there is one counter: the value is plain, as in Maelstrom's g-counter histories.
//! The caller says which shape a history has (the store it was recorded against), so a counter
//! history of reads alone is still written as a counter's.
//!
//! ```text
//! {"process":2,"type":"invoke","f":"add","key":0,"value":3,"time":100}
//! {:type :invoke, :f :add, :value 3, :process 2, :time 100, :index 0}
//! {:type :ok, :f :read, :value 12, :process 0, :time 800, :index 7}
//! ```

use super::codec::{error_name, ERR_KEY_DOES_NOT_EXIST, ERR_PRECONDITION_FAILED};
use crate::lincheck::{Op, OpKind, Outcome, Value};
use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// A history file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryFormat {
    /// One JSON object per line.
    JsonLines,
    /// One EDN map per line, as Jepsen's `history.edn`.
    Edn,
}

impl HistoryFormat {
    /// `.edn` (any case) is EDN; anything else (`.jsonl`, `.json`, no extension) JSON lines.
    pub fn for_path(path: &Path) -> HistoryFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("edn") => HistoryFormat::Edn,
            _ => HistoryFormat::JsonLines,
        }
    }

    /// `jsonl` or `edn`, as reports name it.
    pub fn name(self) -> &'static str {
        match self {
            HistoryFormat::JsonLines => "jsonl",
            HistoryFormat::Edn => "edn",
        }
    }
}

/// Writes `ops` to `path` (created or truncated) in the format its extension names
/// ([`HistoryFormat::for_path`]), in a counter's shape if `counter` (the module's schema). Returns
/// the number of lines (events) written: two per operation.
pub fn write_history(path: &Path, ops: &[Op], counter: bool) -> io::Result<usize> {
    let file = std::fs::File::create(path)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let lines = write_events(&mut out, HistoryFormat::for_path(path), ops, counter)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(lines)
}

/// Writes `ops` as events in `format` (a counter's shape if `counter`); returns the number of
/// lines.
pub fn write_events(
    out: impl Write,
    format: HistoryFormat,
    ops: &[Op],
    counter: bool,
) -> io::Result<usize> {
    match format {
        HistoryFormat::JsonLines => to_jsonl(out, ops),
        HistoryFormat::Edn => to_edn(out, ops, counter),
    }
}

/// Writes `ops` as JSON lines (the module's schema); returns the number of lines.
pub fn to_jsonl(mut out: impl Write, ops: &[Op]) -> io::Result<usize> {
    let events = Events::new(ops);
    for e in events.iter() {
        let op = e.op;
        write!(
            out,
            "{{\"process\":{},\"type\":\"{}\",\"f\":\"{}\",\"key\":{},\"value\":",
            e.process,
            e.kind.name(),
            f_name(op.kind),
            op.key
        )?;
        match e.value() {
            EventValue::Nil => out.write_all(b"null")?,
            EventValue::One(v) => write!(out, "{v}")?,
            EventValue::Pair(from, to) => write!(out, "[{from},{to}]")?,
        }
        write!(out, ",\"time\":{}", e.time_ns)?;
        if let Some((code, text)) = e.error() {
            write!(out, ",\"error\":[{code},")?;
            write_quoted(&mut out, text)?;
            out.write_all(b"]")?;
        }
        out.write_all(b"}\n")?;
    }
    out.flush()?;
    Ok(events.len())
}

/// Writes `ops` as Jepsen EDN, one map per line (the module's schema), values plain rather than
/// `[key value]` tuples if `counter`; returns the number of lines.
pub fn to_edn(mut out: impl Write, ops: &[Op], counter: bool) -> io::Result<usize> {
    let events = Events::new(ops);
    for (index, e) in events.iter().enumerate() {
        let op = e.op;
        write!(
            out,
            "{{:type :{}, :f :{}, :value ",
            e.kind.name(),
            f_name(op.kind)
        )?;
        if !counter {
            write!(out, "[{} ", op.key)?;
        }
        match e.value() {
            EventValue::Nil => out.write_all(b"nil")?,
            EventValue::One(v) => write!(out, "{v}")?,
            EventValue::Pair(from, to) => write!(out, "[{from} {to}]")?,
        }
        if !counter {
            out.write_all(b"]")?;
        }
        write!(
            out,
            ", :process {}, :time {}, :index {index}",
            e.process, e.time_ns
        )?;
        if let Some((code, text)) = e.error() {
            write!(out, ", :error [{code} ")?;
            write_quoted(&mut out, text)?;
            out.write_all(b"]")?;
        }
        out.write_all(b"}\n")?;
    }
    out.flush()?;
    Ok(events.len())
}

/// A string literal, valid in both JSON and EDN (the texts are Maelstrom's error names).
fn write_quoted(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    for c in s.chars() {
        match c {
            '"' => out.write_all(b"\\\"")?,
            '\\' => out.write_all(b"\\\\")?,
            '\n' => out.write_all(b"\\n")?,
            c if c.is_control() => write!(out, "\\u{:04x}", c as u32)?,
            c => write!(out, "{c}")?,
        }
    }
    out.write_all(b"\"")
}

fn f_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Read => "read",
        OpKind::Write(_) => "write",
        OpKind::Cas { .. } => "cas",
        OpKind::Add(_) => "add",
    }
}

/// An event's type, as Jepsen names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventKind {
    fn name(self) -> &'static str {
        match self {
            EventKind::Invoke => "invoke",
            EventKind::Ok => "ok",
            EventKind::Fail => "fail",
            EventKind::Info => "info",
        }
    }
}

/// The value an event carries (beside its key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventValue {
    Nil,
    One(Value),
    Pair(Value, Value),
}

/// One line of an exported history.
#[derive(Clone, Copy, Debug)]
struct Event<'a> {
    op: &'a Op,
    kind: EventKind,
    process: u64,
    time_ns: u64,
}

impl Event<'_> {
    fn value(&self) -> EventValue {
        let asked = match self.op.kind {
            OpKind::Read => EventValue::Nil,
            OpKind::Write(v) | OpKind::Add(v) => EventValue::One(v),
            OpKind::Cas { from, to } => EventValue::Pair(from, to),
        };
        match (self.kind, self.op.outcome) {
            (EventKind::Ok, Outcome::ReadOk(v)) => EventValue::One(v),
            // A read of the absent key: the initial state, nil.
            (EventKind::Ok, Outcome::NotFound) => EventValue::Nil,
            _ => asked,
        }
    }

    fn error(&self) -> Option<(u32, &'static str)> {
        if self.kind != EventKind::Fail {
            return None;
        }
        let code = match self.op.outcome {
            Outcome::NotFound => ERR_KEY_DOES_NOT_EXIST,
            _ => ERR_PRECONDITION_FAILED,
        };
        Some((code, error_name(code).unwrap_or("")))
    }
}

/// How an operation completed, in Jepsen's terms.
fn completion(op: &Op) -> EventKind {
    match (op.outcome, op.kind) {
        (Outcome::ReadOk(_) | Outcome::WriteOk | Outcome::CasOk, _) => EventKind::Ok,
        (Outcome::NotFound, OpKind::Read) => EventKind::Ok,
        (Outcome::NotFound | Outcome::PreconditionFailed, _) => EventKind::Fail,
        (Outcome::Indeterminate, _) => EventKind::Info,
    }
}

/// Every operation's invocation and completion, in the module's order, with processes assigned.
/// Kept compact (16 bytes a sort key per event; a 10-second run has a few million events) and
/// turned into [`Event`]s as they are written.
struct Events<'a> {
    ops: &'a [Op],
    /// Operation indices in invocation order (an operation's rank is its position here).
    order: Vec<usize>,
    /// The process of the operation of each rank.
    process: Vec<u64>,
    /// Sorted: (time, tie), tie = (0 for a completion of an operation invoked earlier, else 1)
    /// << 63 | rank << 1 | (1 for a completion).
    keys: Vec<(u64, u64)>,
}

impl<'a> Events<'a> {
    fn new(ops: &'a [Op]) -> Events<'a> {
        // A client's operations do not overlap, so invocation order is also the order of each
        // client's own operations.
        let mut order: Vec<usize> = (0..ops.len()).collect();
        order.sort_by_key(|&i| (ops[i].invoke_ns, ops[i].client, i));
        let clients = ops
            .iter()
            .map(|o| u64::from(o.client) + 1)
            .max()
            .unwrap_or(0);
        let mut retired: HashMap<u32, u64> = HashMap::new();
        let mut process = Vec::with_capacity(ops.len());
        let mut keys = Vec::with_capacity(2 * ops.len());
        for (rank, &i) in order.iter().enumerate() {
            let op = &ops[i];
            let earlier_info = retired.entry(op.client).or_insert(0);
            process.push(u64::from(op.client) + clients * *earlier_info);
            if completion(op) == EventKind::Info {
                *earlier_info += 1;
            }
            let rank = (rank as u64) << 1;
            keys.push((op.invoke_ns, 1 << 63 | rank));
            let done_ns = op.complete_ns.max(op.invoke_ns);
            let class = u64::from(done_ns == op.invoke_ns) << 63;
            keys.push((done_ns, class | rank | 1));
        }
        keys.sort_unstable();
        Events {
            ops,
            order,
            process,
            keys,
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn iter(&self) -> impl Iterator<Item = Event<'a>> + '_ {
        self.keys.iter().map(|&(time_ns, tie)| {
            let rank = ((tie & !(1 << 63)) >> 1) as usize;
            let op = &self.ops[self.order[rank]];
            Event {
                op,
                kind: if tie & 1 == 0 {
                    EventKind::Invoke
                } else {
                    completion(op)
                },
                process: self.process[rank],
                time_ns,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lincheck::Key;

    fn op(client: u32, key: Key, kind: OpKind, times: (u64, u64), outcome: Outcome) -> Op {
        Op {
            client,
            key,
            kind,
            invoke_ns: times.0,
            complete_ns: times.1,
            outcome,
        }
    }

    fn jsonl(ops: &[Op]) -> String {
        let mut out = Vec::new();
        let n = to_jsonl(&mut out, ops).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(n, s.lines().count());
        assert_eq!(n, 2 * ops.len());
        s
    }

    fn edn(ops: &[Op]) -> String {
        edn_shaped(ops, false)
    }

    fn edn_shaped(ops: &[Op], counter: bool) -> String {
        let mut out = Vec::new();
        let n = to_edn(&mut out, ops, counter).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(n, s.lines().count());
        assert_eq!(n, 2 * ops.len());
        s
    }

    /// One operation of every kind and outcome, each alone in time (no overlap), client 0.
    fn every_kind_and_outcome() -> Vec<Op> {
        let cas = OpKind::Cas { from: 7, to: 8 };
        vec![
            op(0, 1, OpKind::Write(7), (10, 20), Outcome::WriteOk),
            op(0, 1, OpKind::Read, (30, 40), Outcome::ReadOk(7)),
            op(0, 2, OpKind::Read, (50, 60), Outcome::NotFound),
            op(0, 1, cas, (70, 80), Outcome::CasOk),
            op(0, 1, cas, (90, 100), Outcome::PreconditionFailed),
            op(0, 2, cas, (110, 120), Outcome::NotFound),
            op(
                0,
                1,
                OpKind::Write(9),
                (130, 140),
                Outcome::PreconditionFailed,
            ),
            op(0, 1, OpKind::Write(9), (150, 160), Outcome::Indeterminate),
            op(0, 1, OpKind::Read, (170, 180), Outcome::Indeterminate),
            op(0, 1, cas, (190, 200), Outcome::Indeterminate),
        ]
    }

    #[test]
    fn json_lines_name_every_kind_and_outcome() {
        let s = jsonl(&every_kind_and_outcome());
        let expected = [
            r#"{"process":0,"type":"invoke","f":"write","key":1,"value":7,"time":10}"#,
            r#"{"process":0,"type":"ok","f":"write","key":1,"value":7,"time":20}"#,
            r#"{"process":0,"type":"invoke","f":"read","key":1,"value":null,"time":30}"#,
            r#"{"process":0,"type":"ok","f":"read","key":1,"value":7,"time":40}"#,
            r#"{"process":0,"type":"invoke","f":"read","key":2,"value":null,"time":50}"#,
            r#"{"process":0,"type":"ok","f":"read","key":2,"value":null,"time":60}"#,
            r#"{"process":0,"type":"invoke","f":"cas","key":1,"value":[7,8],"time":70}"#,
            r#"{"process":0,"type":"ok","f":"cas","key":1,"value":[7,8],"time":80}"#,
            r#"{"process":0,"type":"invoke","f":"cas","key":1,"value":[7,8],"time":90}"#,
            r#"{"process":0,"type":"fail","f":"cas","key":1,"value":[7,8],"time":100,"error":[22,"precondition failed"]}"#,
            r#"{"process":0,"type":"invoke","f":"cas","key":2,"value":[7,8],"time":110}"#,
            r#"{"process":0,"type":"fail","f":"cas","key":2,"value":[7,8],"time":120,"error":[20,"key does not exist"]}"#,
            r#"{"process":0,"type":"invoke","f":"write","key":1,"value":9,"time":130}"#,
            r#"{"process":0,"type":"fail","f":"write","key":1,"value":9,"time":140,"error":[22,"precondition failed"]}"#,
            r#"{"process":0,"type":"invoke","f":"write","key":1,"value":9,"time":150}"#,
            r#"{"process":0,"type":"info","f":"write","key":1,"value":9,"time":160}"#,
            // After an info the client is a new process: client + clients (1 client here).
            r#"{"process":1,"type":"invoke","f":"read","key":1,"value":null,"time":170}"#,
            r#"{"process":1,"type":"info","f":"read","key":1,"value":null,"time":180}"#,
            r#"{"process":2,"type":"invoke","f":"cas","key":1,"value":[7,8],"time":190}"#,
            r#"{"process":2,"type":"info","f":"cas","key":1,"value":[7,8],"time":200}"#,
        ];
        assert_eq!(s.lines().collect::<Vec<_>>(), expected);
        for line in s.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            for k in ["process", "type", "f", "key", "value", "time"] {
                assert!(keys.contains(&k), "{line} lacks {k}");
            }
            assert_eq!(v.get("error").is_some(), v["type"] == "fail", "{line}");
        }
    }

    #[test]
    fn edn_lines_are_jepsen_ops() {
        let s = edn(&every_kind_and_outcome());
        let expected = [
            r#"{:type :invoke, :f :write, :value [1 7], :process 0, :time 10, :index 0}"#,
            r#"{:type :ok, :f :write, :value [1 7], :process 0, :time 20, :index 1}"#,
            r#"{:type :invoke, :f :read, :value [1 nil], :process 0, :time 30, :index 2}"#,
            r#"{:type :ok, :f :read, :value [1 7], :process 0, :time 40, :index 3}"#,
            r#"{:type :invoke, :f :read, :value [2 nil], :process 0, :time 50, :index 4}"#,
            r#"{:type :ok, :f :read, :value [2 nil], :process 0, :time 60, :index 5}"#,
            r#"{:type :invoke, :f :cas, :value [1 [7 8]], :process 0, :time 70, :index 6}"#,
            r#"{:type :ok, :f :cas, :value [1 [7 8]], :process 0, :time 80, :index 7}"#,
            r#"{:type :invoke, :f :cas, :value [1 [7 8]], :process 0, :time 90, :index 8}"#,
            r#"{:type :fail, :f :cas, :value [1 [7 8]], :process 0, :time 100, :index 9, :error [22 "precondition failed"]}"#,
            r#"{:type :invoke, :f :cas, :value [2 [7 8]], :process 0, :time 110, :index 10}"#,
            r#"{:type :fail, :f :cas, :value [2 [7 8]], :process 0, :time 120, :index 11, :error [20 "key does not exist"]}"#,
            r#"{:type :invoke, :f :write, :value [1 9], :process 0, :time 130, :index 12}"#,
            r#"{:type :fail, :f :write, :value [1 9], :process 0, :time 140, :index 13, :error [22 "precondition failed"]}"#,
            r#"{:type :invoke, :f :write, :value [1 9], :process 0, :time 150, :index 14}"#,
            r#"{:type :info, :f :write, :value [1 9], :process 0, :time 160, :index 15}"#,
            r#"{:type :invoke, :f :read, :value [1 nil], :process 1, :time 170, :index 16}"#,
            r#"{:type :info, :f :read, :value [1 nil], :process 1, :time 180, :index 17}"#,
            r#"{:type :invoke, :f :cas, :value [1 [7 8]], :process 2, :time 190, :index 18}"#,
            r#"{:type :info, :f :cas, :value [1 [7 8]], :process 2, :time 200, :index 19}"#,
        ];
        assert_eq!(s.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn counter_histories_have_adds_and_plain_edn_values() {
        let ops = [
            op(0, 0, OpKind::Add(3), (10, 20), Outcome::WriteOk),
            op(1, 0, OpKind::Read, (30, 40), Outcome::ReadOk(3)),
            op(0, 0, OpKind::Add(2), (50, 60), Outcome::Indeterminate),
        ];
        let expected = [
            r#"{"process":0,"type":"invoke","f":"add","key":0,"value":3,"time":10}"#,
            r#"{"process":0,"type":"ok","f":"add","key":0,"value":3,"time":20}"#,
            r#"{"process":1,"type":"invoke","f":"read","key":0,"value":null,"time":30}"#,
            r#"{"process":1,"type":"ok","f":"read","key":0,"value":3,"time":40}"#,
            r#"{"process":0,"type":"invoke","f":"add","key":0,"value":2,"time":50}"#,
            r#"{"process":0,"type":"info","f":"add","key":0,"value":2,"time":60}"#,
        ];
        assert_eq!(jsonl(&ops).lines().collect::<Vec<_>>(), expected);
        let expected = [
            r#"{:type :invoke, :f :add, :value 3, :process 0, :time 10, :index 0}"#,
            r#"{:type :ok, :f :add, :value 3, :process 0, :time 20, :index 1}"#,
            r#"{:type :invoke, :f :read, :value nil, :process 1, :time 30, :index 2}"#,
            r#"{:type :ok, :f :read, :value 3, :process 1, :time 40, :index 3}"#,
            r#"{:type :invoke, :f :add, :value 2, :process 0, :time 50, :index 4}"#,
            r#"{:type :info, :f :add, :value 2, :process 0, :time 60, :index 5}"#,
        ];
        assert_eq!(edn_shaped(&ops, true).lines().collect::<Vec<_>>(), expected);
        // A counter history of reads alone keeps the counter's shape.
        let reads = [op(1, 0, OpKind::Read, (30, 40), Outcome::ReadOk(3))];
        assert_eq!(
            edn_shaped(&reads, true).lines().last(),
            Some(r#"{:type :ok, :f :read, :value 3, :process 1, :time 40, :index 1}"#)
        );
    }

    #[test]
    fn events_interleave_by_time_across_clients() {
        // Client 0: write [10, 50]; client 1: read [20, 30] then read [30, 60]; client 2: a
        // zero-length read at 40. Given in no particular order.
        let ops = [
            op(1, 5, OpKind::Read, (30, 60), Outcome::ReadOk(1)),
            op(0, 5, OpKind::Write(1), (10, 50), Outcome::WriteOk),
            op(2, 5, OpKind::Read, (40, 40), Outcome::NotFound),
            op(1, 5, OpKind::Read, (20, 30), Outcome::NotFound),
        ];
        let s = jsonl(&ops);
        let got: Vec<(u64, String, u64)> = s
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["process"].as_u64().unwrap(),
                    v["type"].as_str().unwrap().to_string(),
                    v["time"].as_u64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(u64, String, u64)> = [
            (0, "invoke", 10),
            (1, "invoke", 20),
            // Client 1's first read completes at 30 before its next one is invoked at 30.
            (1, "ok", 30),
            (1, "invoke", 30),
            // A zero-length operation: its completion still follows its invocation.
            (2, "invoke", 40),
            (2, "ok", 40),
            (0, "ok", 50),
            (1, "ok", 60),
        ]
        .into_iter()
        .map(|(p, t, at)| (p, t.to_string(), at))
        .collect();
        assert_eq!(got, want);
        // Times never go backwards, in either format.
        let edn_times: Vec<u64> = edn(&ops)
            .lines()
            .map(|l| {
                let at = l.split(":time ").nth(1).unwrap();
                at.split(',').next().unwrap().parse().unwrap()
            })
            .collect();
        assert!(edn_times.windows(2).all(|w| w[0] <= w[1]), "{edn_times:?}");
    }

    #[test]
    fn indeterminate_ops_never_complete_before_they_start_nor_block_their_client() {
        // An indeterminate operation recorded without a completion time (0), and one whose
        // "completion" lies after the client's next operation began: neither confuses the order.
        let ops = [
            op(0, 1, OpKind::Write(1), (100, 0), Outcome::Indeterminate),
            op(0, 1, OpKind::Read, (200, 300), Outcome::ReadOk(1)),
            op(
                1,
                1,
                OpKind::Write(2),
                (150, u64::MAX),
                Outcome::Indeterminate,
            ),
            op(1, 1, OpKind::Read, (400, 500), Outcome::ReadOk(1)),
        ];
        let s = jsonl(&ops);
        let lines: Vec<serde_json::Value> = s
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut last_time = 0;
        let mut open: std::collections::HashSet<u64> = std::collections::HashSet::new();
        for v in &lines {
            let t = v["time"].as_u64().unwrap();
            assert!(t >= last_time, "{s}");
            last_time = t;
            let p = v["process"].as_u64().unwrap();
            if v["type"] == "invoke" {
                assert!(
                    open.insert(p),
                    "process {p} invoked twice without completing: {s}"
                );
            } else {
                assert!(
                    open.remove(&p),
                    "process {p} completed without an invocation: {s}"
                );
            }
        }
        assert!(open.is_empty());
        // The first info sits at its invocation's time, right after it.
        assert_eq!(
            lines[1],
            serde_json::json!({"process":0,"type":"info","f":"write","key":1,"value":1,"time":100})
        );
        // Both clients' later operations run as new processes (2 clients: +2).
        let processes: Vec<u64> = lines
            .iter()
            .filter(|v| v["f"] == "read")
            .map(|v| v["process"].as_u64().unwrap())
            .collect();
        assert_eq!(processes, vec![2, 2, 3, 3]);
        assert!(lines.last().unwrap()["time"].as_u64() == Some(u64::MAX));
    }

    #[test]
    fn formats_follow_the_extension_and_files_hold_two_lines_per_op() {
        assert_eq!(
            HistoryFormat::for_path(Path::new("h.edn")),
            HistoryFormat::Edn
        );
        assert_eq!(
            HistoryFormat::for_path(Path::new("h.EDN")),
            HistoryFormat::Edn
        );
        for p in ["h.jsonl", "h.json", "h", "dir.edn/h.txt"] {
            assert_eq!(
                HistoryFormat::for_path(Path::new(p)),
                HistoryFormat::JsonLines
            );
        }
        let dir = std::env::temp_dir().join(format!("synod-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ops = every_kind_and_outcome();
        for (name, first) in [("h.edn", "{:type :invoke"), ("h.jsonl", "{\"process\":0")] {
            let path = dir.join(name);
            assert_eq!(write_history(&path, &ops, false).unwrap(), 2 * ops.len());
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().count(), 2 * ops.len());
            assert!(text.starts_with(first), "{text}");
        }
        assert_eq!(
            write_history(&dir.join("empty.jsonl"), &[], false).unwrap(),
            0
        );
        assert!(write_history(&dir.join("no/such/dir.edn"), &ops, false).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn quoting_escapes_what_json_and_edn_need() {
        let mut out = Vec::new();
        write_quoted(&mut out, "a \"b\" \\ c\n\u{1}").unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, r#""a \"b\" \\ c\n\u0001""#);
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a \"b\" \\ c\n\u{1}");
    }
}
