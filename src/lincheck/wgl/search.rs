//! One key's search: Wing and Gong's depth-first search for a linearization, with Lowe's
//! memoisation of visited configurations, in the shape of Porcupine's `checkSingle`, plus three
//! reductions that keep it near-linear on histories from real runs.
//!
//! # The search
//!
//! The *definite* operations (those that got a reply) become call and return entries in one
//! doubly-linked list ordered by time; at equal timestamps calls come first, so an operation
//! invoked exactly when another completed counts as concurrent with it (`a` precedes `b` only if
//! `a.complete_ns < b.invoke_ns`). A configuration is the set `D` of definite operations
//! linearized so far, the set `I` of indeterminate ones linearized so far, and the model state.
//! Linearizing an operation *lifts* its two entries out of the list (dancing links), so the list
//! always holds the rest, and the *candidates* are exactly the calls before the first return
//! entry: the operations that no remaining definite operation must precede. The indeterminate
//! operations (no reply: they complete at infinity) live in a second list ordered by invocation;
//! one is a candidate once invoked no later than that first return. The search succeeds when
//! every definite operation is linearized: the remaining indeterminate ones take effect "after
//! everything" (or never, which is the same). It backtracks with an explicit stack, never by
//! recursion: a key may have hundreds of thousands of operations.
//!
//! # Memoisation
//!
//! A configuration that was visited before cannot lead anywhere new (Lowe). `D` is stored
//! exactly but compactly: ordering definite operations by invocation, `D` is `[0, hi)` minus the
//! unlinearized operations below `hi`, and those are all candidates (they were invoked before the
//! latest linearized one, which was itself invoked before the first return), so the key costs as
//! much as the concurrency at that point, not the length of the history as Porcupine's bitset
//! does. Its hash is maintained incrementally (Zobrist: an exclusive or per operation).
//!
//! `I` is compared by inclusion, not equality: configurations with the same `D` and state are
//! ordered by how many indeterminate operations they have used up, and one with `I` a superset of
//! a visited one's is covered by it, since indeterminate operations never constrain real-time
//! order and leaving one unused only keeps options open. Each `I` is a node in a persistent list
//! (the path that built it), so a memo entry stores it in one word.
//!
//! # Reductions (each sound by an exchange argument)
//!
//! 1. *Observers go first.* A candidate whose outcome holds in the current state and which never
//!    changes any state (a read, a failed cas, a write-once write that failed: `spec::observer`)
//!    is linearized at once, without trying alternatives: moving it to the front of any
//!    successful completion keeps that completion valid. (Not a write of the value the key
//!    happens to hold: where it stands in the completion it may change the state.) Reads are
//!    most of a history, so most nodes do not branch at all.
//! 2. *Indeterminate operations must matter.* One that leaves the state unchanged is never tried;
//!    and right after one (call it `i`, from parent state `p`), a child operation `o` whose step
//!    from `p` is valid and reaches the same state is skipped: that configuration is covered by
//!    linearizing `o` from the parent without `i`, which the parent tries itself. So `i` is
//!    linearized only where the next operation observes it, and a pile of timed-out writes that
//!    nobody read costs a constant per dead end instead of a power set.
//! 3. *Try what is needed first.* At a node that branches, let `f` be the operation whose return
//!    comes first (it must be linearized before anything invoked after it completed). Children
//!    are tried in this order: `f` itself; operations after which `f`'s outcome holds (the write
//!    a pending read observed: with unique written values there is usually exactly one); the
//!    other definite candidates; the other indeterminate ones. Order never changes the verdict,
//!    only how soon a linearization is found.
//!
//! The search is bounded: by a deadline, by a cancellation flag (another key already failed), and
//! by the memory its memo may hold.
//!
//! # What it costs
//!
//! On histories from a correct store the search is close to linear in the sub-history: with 64
//! clients spread over 100 keys (under one operation in flight per key on average) each key of
//! about 4,700 operations takes some 5,300 steps. What it cannot escape is the exponential worst
//! case of the problem (it is NP-complete): with many writers in flight *on one key*, a wrong
//! guess about their order can be refuted only after many further steps, and backtracking then
//! revisits every interleaving in between. Measured on simulated histories of one key, half
//! writes and cas: 16 concurrent clients decide in a quarter of a second, 24 in several seconds,
//! 32 and more not within 10 s; the checker then says `Unknown` at the deadline rather than
//! running on.

use super::spec::{self, State};
use crate::lincheck::{Model, Op, OpKind, Outcome, Value};
use crate::util::IdHasher;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The null link.
const NIL: u32 = u32::MAX;
/// How often (in search steps) the deadline and the cancellation flag are read.
const TICK_MASK: u64 = 255;

/// Why a key's search ended without a verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// The sub-history cannot be checked as given (a cas in the write-once model, a reply
    /// received before the request was sent, too many operations).
    Malformed(String),
    /// The deadline or the memory bound was reached first.
    Budget(String),
    /// The caller no longer needs this key's verdict.
    Cancelled,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Malformed(why) => write!(f, "malformed history: {why}"),
            Stop::Budget(why) => write!(f, "search budget exceeded: {why}"),
            Stop::Cancelled => f.write_str("search cancelled"),
        }
    }
}

/// The bounds on one key's search.
pub(super) struct Limits<'a> {
    pub deadline: Option<Instant>,
    /// Stop when the shared value drops below ours: `(best failing rank so far, our rank)`.
    pub cancel: Option<(&'a AtomicUsize, usize)>,
    /// Most bytes the memo, the stack and the bookkeeping may hold.
    pub max_memo_bytes: usize,
}

/// Checks one key's sub-history (in any order). `Ok(true)`: linearizable; `Ok(false)`: not.
pub(super) fn check_ops(ops: &[Op], model: Model, limits: &Limits) -> Result<bool, Stop> {
    // More than this and the entry ids (2 per operation, plus a head) overflow u32.
    const MAX_OPS: usize = (u32::MAX / 2 - 2) as usize;
    if ops.len() > MAX_OPS {
        return Err(Stop::Malformed(format!(
            "{} operations on one key (at most {MAX_OPS})",
            ops.len()
        )));
    }
    for (i, op) in ops.iter().enumerate() {
        if let OpKind::Add(_) = op.kind {
            return Err(Stop::Malformed(format!(
                "operation {i} (client {}, key {}) is an add, which a register does not have (a \
                 counter history is checked by lincheck::counter)",
                op.client, op.key
            )));
        }
        if model == Model::WriteOnce && matches!(op.kind, OpKind::Cas { .. }) {
            return Err(Stop::Malformed(format!(
                "operation {i} (client {}, key {}) is a cas, which the write-once model does not have",
                op.client, op.key
            )));
        }
        if op.outcome != Outcome::Indeterminate && op.complete_ns < op.invoke_ns {
            return Err(Stop::Malformed(format!(
                "operation {i} (client {}, key {}) completes at {} ns, before its invocation at {} ns",
                op.client, op.key, op.complete_ns, op.invoke_ns
            )));
        }
    }
    let definite = |op: &&Op| op.outcome != Outcome::Indeterminate;
    // An outcome no state allows (a read that returned write_ok) can never be linearized.
    if ops
        .iter()
        .filter(definite)
        .any(|op| !spec::possible(model, op.kind, op.outcome))
    {
        return Ok(false);
    }
    // Nor can an outcome that needs a value no operation ever stores (a read of a value never
    // written): states only ever hold values stored by operations of this sub-history.
    let produced: HashSet<Value> = ops
        .iter()
        .filter_map(|op| spec::produced_value(op.kind))
        .collect();
    if ops.iter().filter(definite).any(|op| {
        spec::required_value(model, op.kind, op.outcome).is_some_and(|v| !produced.contains(&v))
    }) {
        return Ok(false);
    }

    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].invoke_ns, ops[i].complete_ns, i));
    let mut def = Vec::new();
    let mut ind = Vec::new();
    for &i in &order {
        let op = &ops[i];
        if op.outcome != Outcome::Indeterminate {
            def.push(DefOp {
                kind: op.kind,
                outcome: op.outcome,
                observer: spec::observer(model, op.kind, op.outcome),
                invoke_ns: op.invoke_ns,
                complete_ns: op.complete_ns,
            });
        } else if op.kind != OpKind::Read {
            // An indeterminate read changes nothing and any value is fine for it: dropped.
            ind.push(IndOp {
                kind: op.kind,
                invoke_ns: op.invoke_ns,
            });
        }
    }
    if def.is_empty() {
        return Ok(true);
    }
    Search::new(model, &def, &ind).run(limits)
}

/// A definite operation, as the search needs it.
#[derive(Clone, Copy, Debug)]
struct DefOp {
    kind: OpKind,
    outcome: Outcome,
    /// `spec::observer`: never changes the state.
    observer: bool,
    invoke_ns: u64,
    complete_ns: u64,
}

/// An indeterminate operation (never a read).
#[derive(Clone, Copy, Debug)]
struct IndOp {
    kind: OpKind,
    invoke_ns: u64,
}

/// An operation by its index in the definite or the indeterminate array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ref {
    Def(u32),
    Ind(u32),
}

/// Where a branching node's enumeration of children stands, so it resumes after a child fails.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    /// 0: `f`; 1: definite ops enabling `f`; 2: indeterminate ops enabling `f`;
    /// 3: other definite ops; 4: other indeterminate ops.
    tier: u8,
    /// The next entry (tiers 1, 3) or indeterminate op (tiers 2, 4) to look at.
    pos: u32,
    /// The operation whose return entry comes first.
    f: u32,
    /// Its completion time: indeterminate ops invoked later are not candidates yet.
    m_ns: u64,
}

/// One linearized operation on the path, with what undoing it restores.
#[derive(Clone, Copy, Debug)]
struct Frame {
    op: Ref,
    state_before: State,
    hi_before: u32,
    iset_before: u32,
    /// The parent's enumeration, or `None` when the op was forced (reduction 1): then the parent
    /// fails with it.
    resume: Option<Cursor>,
}

/// A visited configuration.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The next entry with the same hash.
    next: u32,
    hi: u32,
    /// The unlinearized definite ops below `hi`, in `Memo::arena`.
    u_off: u32,
    u_len: u32,
    /// The linearized indeterminate ops: a node of `Search::iset_nodes`, and its length.
    iset: u32,
    iset_len: u32,
    state: State,
}

#[derive(Default)]
struct Memo {
    /// Hash of (D, state) -> the first entry of its chain.
    heads: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    entries: Vec<Entry>,
    arena: Vec<u32>,
}

/// SplitMix64's finaliser: a bijective mix of 64 bits.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The Zobrist word of definite op `j`.
#[inline]
fn zobrist(j: u32) -> u64 {
    mix(u64::from(j).wrapping_add(0x9e37_79b9_7f4a_7c15))
}

#[inline]
fn memo_hash(d_hash: u64, state: State) -> u64 {
    let s = match state {
        None => 0x5bd1_e995_2f0c_3a71,
        Some(v) => mix(v ^ 0x2545_f491_4f6c_dd1d),
    };
    mix(d_hash.wrapping_add(s.rotate_left(29)))
}

struct Search<'a> {
    model: Model,
    def: &'a [DefOp],
    ind: &'a [IndOp],
    /// Dancing links over the definite entries: call of op `j` is `2j`, its return `2j + 1`,
    /// the head is `2 * def.len()`.
    next: Vec<u32>,
    prev: Vec<u32>,
    head: u32,
    /// Dancing links over the indeterminate ops (by invocation); the head is `ind.len()`.
    ind_next: Vec<u32>,
    ind_prev: Vec<u32>,
    ind_head: u32,

    // The current configuration.
    state: State,
    /// Zobrist hash of D.
    d_hash: u64,
    /// One past the largest linearized definite op.
    hi: u32,
    def_left: usize,
    ind_bits: Vec<u64>,
    /// I as a node of `iset_nodes` (`NIL`: empty), and its size.
    iset: u32,
    iset_len: u32,
    /// Persistent list nodes: (indeterminate op, parent node).
    iset_nodes: Vec<(u32, u32)>,

    stack: Vec<Frame>,
    memo: Memo,
    /// The unlinearized definite ops below `hi` at the current node, from `scan`.
    scratch: Vec<u32>,
    steps: u64,
}

/// What `scan` learns about the current node.
struct Scan {
    f: u32,
    m_ns: u64,
    forced: Option<u32>,
}

impl<'a> Search<'a> {
    fn new(model: Model, def: &'a [DefOp], ind: &'a [IndOp]) -> Self {
        let nd = def.len();
        let head = 2 * nd;
        // Entries by (time, call before return, op index).
        let mut events: Vec<(u64, u32)> = Vec::with_capacity(2 * nd);
        for (j, op) in def.iter().enumerate() {
            events.push((op.invoke_ns, 2 * j as u32));
            events.push((op.complete_ns, 2 * j as u32 + 1));
        }
        events.sort_unstable_by_key(|&(t, e)| (t, e & 1, e >> 1));
        let mut next = vec![NIL; head + 1];
        let mut prev = vec![NIL; head + 1];
        let mut last = head as u32;
        for &(_, e) in &events {
            next[last as usize] = e;
            prev[e as usize] = last;
            last = e;
        }
        let ni = ind.len();
        let mut ind_next = vec![NIL; ni + 1];
        let mut ind_prev = vec![NIL; ni + 1];
        let mut last = ni as u32;
        for k in 0..ni as u32 {
            ind_next[last as usize] = k;
            ind_prev[k as usize] = last;
            last = k;
        }
        Search {
            model,
            def,
            ind,
            next,
            prev,
            head: head as u32,
            ind_next,
            ind_prev,
            ind_head: ni as u32,
            state: None,
            d_hash: 0,
            hi: 0,
            def_left: nd,
            ind_bits: vec![0; ni.div_ceil(64)],
            iset: NIL,
            iset_len: 0,
            iset_nodes: Vec::new(),
            stack: Vec::new(),
            memo: Memo::default(),
            scratch: Vec::new(),
            steps: 0,
        }
    }

    fn run(&mut self, limits: &Limits) -> Result<bool, Stop> {
        // `None`: the current node is new and must be scanned.
        let mut cursor: Option<Cursor> = None;
        loop {
            self.tick(limits)?;
            let mut c = match cursor.take() {
                Some(c) => c,
                None => {
                    if self.def_left == 0 {
                        return Ok(true);
                    }
                    let scan = self.scan()?;
                    if self.visit(limits)? {
                        match self.backtrack() {
                            Some(c) => {
                                cursor = Some(c);
                                continue;
                            }
                            None => return Ok(false),
                        }
                    }
                    if let Some(r) = scan.forced {
                        self.push(Ref::Def(r), self.state, None);
                        continue;
                    }
                    Cursor {
                        tier: 0,
                        pos: NIL,
                        f: scan.f,
                        m_ns: scan.m_ns,
                    }
                }
            };
            match self.next_child(&mut c) {
                Some((op, state)) => self.push(op, state, Some(c)),
                None => match self.backtrack() {
                    Some(c) => cursor = Some(c),
                    None => return Ok(false),
                },
            }
        }
    }

    fn tick(&mut self, limits: &Limits) -> Result<(), Stop> {
        self.steps += 1;
        if self.steps & TICK_MASK != 1 {
            return Ok(());
        }
        if let Some((best, ours)) = limits.cancel {
            if best.load(Ordering::Relaxed) < ours {
                return Err(Stop::Cancelled);
            }
        }
        if let Some(deadline) = limits.deadline {
            if Instant::now() >= deadline {
                return Err(Stop::Budget(format!(
                    "deadline reached after {} steps, {} configurations memoised",
                    self.steps,
                    self.memo.entries.len()
                )));
            }
        }
        Ok(())
    }

    /// Walks the candidates (the calls before the first return): collects the unlinearized ops
    /// below `hi` into `scratch`, finds `f` and the first forced op.
    fn scan(&mut self) -> Result<Scan, Stop> {
        self.scratch.clear();
        let mut forced = None;
        let mut e = self.next[self.head as usize];
        while e != NIL && e & 1 == 0 {
            let j = e >> 1;
            if j < self.hi {
                self.scratch.push(j);
            }
            if forced.is_none() {
                let op = &self.def[j as usize];
                if op.observer && spec::step(self.model, self.state, op.kind, op.outcome).is_some()
                {
                    forced = Some(j);
                }
            }
            e = self.next[e as usize];
        }
        if e == NIL {
            debug_assert!(false, "a definite op is left but no return entry");
            return Err(Stop::Malformed("internal: no return entry".into()));
        }
        // Pair assertion: every unlinearized op below `hi` is a candidate (see the module doc).
        debug_assert_eq!(
            self.scratch.len(),
            self.hi as usize - (self.def.len() - self.def_left)
        );
        let f = e >> 1;
        Ok(Scan {
            f,
            m_ns: self.def[f as usize].complete_ns,
            forced,
        })
    }

    /// Looks the current configuration up in the memo: `true` if a visited one covers it;
    /// otherwise records it.
    fn visit(&mut self, limits: &Limits) -> Result<bool, Stop> {
        let h = memo_hash(self.d_hash, self.state);
        let first = self.memo.heads.get(&h).copied().unwrap_or(NIL);
        let mut e = first;
        while e != NIL {
            let ent = self.memo.entries[e as usize];
            if ent.hi == self.hi
                && ent.state == self.state
                && ent.u_len as usize == self.scratch.len()
                && self.memo.arena[ent.u_off as usize..][..ent.u_len as usize] == self.scratch[..]
                && self.iset_covers(ent.iset, ent.iset_len)
            {
                return Ok(true);
            }
            e = ent.next;
        }
        let bytes = self.memo.entries.len() * std::mem::size_of::<Entry>()
            + self.memo.arena.len() * 4
            + self.memo.heads.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
            + self.iset_nodes.len() * 8
            + self.stack.len() * std::mem::size_of::<Frame>();
        let u_off = self.memo.arena.len();
        if bytes > limits.max_memo_bytes
            || u_off + self.scratch.len() >= NIL as usize
            || self.memo.entries.len() >= NIL as usize
        {
            return Err(Stop::Budget(format!(
                "memo holds {} configurations ({} MiB), the bound is {} MiB",
                self.memo.entries.len(),
                bytes >> 20,
                limits.max_memo_bytes >> 20
            )));
        }
        self.memo.arena.extend_from_slice(&self.scratch);
        self.memo.entries.push(Entry {
            next: first,
            hi: self.hi,
            u_off: u_off as u32,
            u_len: self.scratch.len() as u32,
            iset: self.iset,
            iset_len: self.iset_len,
            state: self.state,
        });
        self.memo
            .heads
            .insert(h, (self.memo.entries.len() - 1) as u32);
        Ok(false)
    }

    /// Whether the recorded set (a persistent-list node) is included in the current `I`.
    fn iset_covers(&self, mut node: u32, len: u32) -> bool {
        if len > self.iset_len {
            return false;
        }
        if node == self.iset {
            return true;
        }
        while node != NIL {
            let (k, parent) = self.iset_nodes[node as usize];
            if self.ind_bits[(k >> 6) as usize] & (1 << (k & 63)) == 0 {
                return false;
            }
            node = parent;
        }
        true
    }

    /// The next child of a branching node, in the order of reduction 3, skipping children
    /// covered by reduction 2. Advances the cursor past it.
    fn next_child(&self, c: &mut Cursor) -> Option<(Ref, State)> {
        // Reduction 2 applies when this node was reached by an indeterminate op.
        let parent_state = match self.stack.last() {
            Some(Frame {
                op: Ref::Ind(_),
                state_before,
                ..
            }) => Some(*state_before),
            _ => None,
        };
        let f = self.def[c.f as usize];
        let enables = |s: State| spec::step(self.model, s, f.kind, f.outcome).is_some();
        loop {
            match c.tier {
                0 => {
                    c.tier = 1;
                    c.pos = self.next[self.head as usize];
                    if let Some(s) = spec::step(self.model, self.state, f.kind, f.outcome) {
                        debug_assert!(!f.observer, "f would have been forced");
                        if !self.covered(parent_state, Ref::Def(c.f), s) {
                            return Some((Ref::Def(c.f), s));
                        }
                    }
                }
                1 | 3 => {
                    let e = c.pos;
                    if e == NIL || e & 1 == 1 {
                        // The first return: the definite candidates are done.
                        c.tier += 1;
                        c.pos = self.ind_next[self.ind_head as usize];
                        continue;
                    }
                    c.pos = self.next[e as usize];
                    let j = e >> 1;
                    if j == c.f {
                        continue;
                    }
                    let op = &self.def[j as usize];
                    let Some(s) = spec::step(self.model, self.state, op.kind, op.outcome) else {
                        continue;
                    };
                    debug_assert!(!op.observer, "an observer would have been forced");
                    if enables(s) == (c.tier == 1) && !self.covered(parent_state, Ref::Def(j), s) {
                        return Some((Ref::Def(j), s));
                    }
                }
                2 | 4 => {
                    let k = c.pos;
                    if k == NIL || self.ind[k as usize].invoke_ns > c.m_ns {
                        if c.tier == 4 {
                            return None;
                        }
                        c.tier = 3;
                        c.pos = self.next[self.head as usize];
                        continue;
                    }
                    c.pos = self.ind_next[k as usize];
                    let s = spec::effect(self.model, self.state, self.ind[k as usize].kind);
                    // Reduction 2: an indeterminate op that changes nothing is never needed.
                    if s != self.state
                        && enables(s) == (c.tier == 2)
                        && !self.covered(parent_state, Ref::Ind(k), s)
                    {
                        return Some((Ref::Ind(k), s));
                    }
                }
                _ => return None,
            }
        }
    }

    /// Reduction 2: after an indeterminate op from `parent_state`, child `op` reaching `state`
    /// is covered if `op` reaches the same state straight from the parent.
    fn covered(&self, parent_state: Option<State>, op: Ref, state: State) -> bool {
        let Some(p) = parent_state else {
            return false;
        };
        match op {
            Ref::Def(j) => {
                let op = &self.def[j as usize];
                spec::step(self.model, p, op.kind, op.outcome) == Some(state)
            }
            Ref::Ind(k) => spec::effect(self.model, p, self.ind[k as usize].kind) == state,
        }
    }

    fn push(&mut self, op: Ref, state: State, resume: Option<Cursor>) {
        self.stack.push(Frame {
            op,
            state_before: self.state,
            hi_before: self.hi,
            iset_before: self.iset,
            resume,
        });
        match op {
            Ref::Def(j) => {
                debug_assert!(self.def_left > 0);
                self.unlink(2 * j);
                self.unlink(2 * j + 1);
                self.d_hash ^= zobrist(j);
                self.hi = self.hi.max(j + 1);
                self.def_left -= 1;
            }
            Ref::Ind(k) => {
                debug_assert_eq!(self.ind_bits[(k >> 6) as usize] & (1 << (k & 63)), 0);
                let (p, n) = (self.ind_prev[k as usize], self.ind_next[k as usize]);
                self.ind_next[p as usize] = n;
                if n != NIL {
                    self.ind_prev[n as usize] = p;
                }
                self.ind_bits[(k >> 6) as usize] |= 1 << (k & 63);
                self.iset_nodes.push((k, self.iset));
                self.iset = (self.iset_nodes.len() - 1) as u32;
                self.iset_len += 1;
            }
        }
        self.state = state;
    }

    fn pop(&mut self) -> Option<Frame> {
        let frame = self.stack.pop()?;
        match frame.op {
            Ref::Def(j) => {
                self.relink(2 * j + 1);
                self.relink(2 * j);
                self.d_hash ^= zobrist(j);
                self.def_left += 1;
            }
            Ref::Ind(k) => {
                let (p, n) = (self.ind_prev[k as usize], self.ind_next[k as usize]);
                self.ind_next[p as usize] = k;
                if n != NIL {
                    self.ind_prev[n as usize] = k;
                }
                self.ind_bits[(k >> 6) as usize] &= !(1 << (k & 63));
                self.iset_len -= 1;
            }
        }
        self.state = frame.state_before;
        self.hi = frame.hi_before;
        self.iset = frame.iset_before;
        Some(frame)
    }

    /// Pops until a frame whose parent still has children to try; `None` when the root is
    /// exhausted (not linearizable).
    fn backtrack(&mut self) -> Option<Cursor> {
        while let Some(frame) = self.pop() {
            if let Some(c) = frame.resume {
                return Some(c);
            }
        }
        None
    }

    fn unlink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    fn relink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if n != NIL {
            self.prev[n as usize] = e;
        }
    }
}
