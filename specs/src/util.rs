//! Small building blocks shared by the specs: element names that print as in the TLC configs
//! (`r1`, `a1`, `v1`), fixed-capacity functions over acceptors, bitsets of pairs, quorums, and
//! permutations for the symmetry canonicalisers. Everything here is `Copy` or cheap to clone and
//! hashes as a few machine words, because the checker clones and hashes every state it meets.

use std::fmt;

/// The most acceptors Voting and Paxos accept: states hold fixed arrays of this length.
pub const MAX_ACCEPTORS: usize = 5;
/// The most values Voting and Paxos accept (pairs `<<b, v>>` are packed with this stride).
pub const MAX_VALUES: usize = 3;

/// An acceptor, printed `a1`, `a2`, ... as in `MCVoting.tla` and `MCPaxos.tla`.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Acceptor(pub u8);

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a{}", self.0 + 1)
    }
}

/// A value, printed `v1`, `v2`, ... as in `MCVoting.tla` and `MCPaxos.tla` (`MCConsensus.tla`
/// calls its three values `a, b, c`; here they are `v1, v2, v3`).
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Value(pub u8);

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0 + 1)
    }
}

/// A ballot number, or `-1` where the TLA+ writes `Ballot \cup {-1}`.
pub type Ballot = i8;

/// A TLA+ function with domain `Acceptor` (`[Acceptor -> T]`), stored as a fixed array with the
/// size of its domain. Slots past `len` hold `T::default()` and are never read.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ByAcceptor<T> {
    len: u8,
    at: [T; MAX_ACCEPTORS],
}

impl<T: Copy + Default> ByAcceptor<T> {
    /// `[a \in Acceptor |-> value]` for `acceptors` acceptors.
    pub fn constant(acceptors: usize, value: T) -> Self {
        assert!(
            acceptors <= MAX_ACCEPTORS,
            "at most {MAX_ACCEPTORS} acceptors"
        );
        let mut at = [T::default(); MAX_ACCEPTORS];
        at[..acceptors].fill(value);
        ByAcceptor {
            len: acceptors as u8,
            at,
        }
    }

    /// The number of acceptors, `Cardinality(Acceptor)`.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for a function over no acceptor (never the case in a valid configuration).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `f[a]`.
    pub fn get(&self, a: Acceptor) -> T {
        debug_assert!((a.0 as usize) < self.len());
        self.at[a.0 as usize]
    }

    /// `f' = [f EXCEPT ![a] = value]`.
    pub fn set(&mut self, a: Acceptor, value: T) {
        debug_assert!((a.0 as usize) < self.len());
        self.at[a.0 as usize] = value;
    }

    /// The pairs `<<a, f[a]>>` in acceptor order.
    pub fn iter(&self) -> impl Iterator<Item = (Acceptor, T)> + '_ {
        self.at[..self.len()]
            .iter()
            .enumerate()
            .map(|(i, v)| (Acceptor(i as u8), *v))
    }

    /// The values in acceptor order.
    pub fn values(&self) -> &[T] {
        &self.at[..self.len()]
    }

    /// The function with its acceptors renamed: acceptor `a` becomes `perm[a]`.
    pub fn permuted(&self, perm: &[u8]) -> Self {
        debug_assert_eq!(perm.len(), self.len());
        let mut out = *self;
        for (i, &p) in perm.iter().enumerate() {
            out.at[p as usize] = self.at[i];
        }
        out
    }

    /// The function with every value mapped through `f`.
    pub fn map(&self, f: impl Fn(T) -> T) -> Self {
        let mut out = *self;
        for slot in &mut out.at[..self.len()] {
            *slot = f(*slot);
        }
        out
    }
}

impl<T: Copy + Default + fmt::Debug> fmt::Debug for ByAcceptor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, (a, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a:?} |-> {v:?}")?;
        }
        f.write_str("]")
    }
}

/// A set of `<<ballot, value>>` pairs (a set of votes, or of 2a/2b messages' `bal` and `val`),
/// packed as bit `b * MAX_VALUES + v` of a `u32`; ballots up to 9 fit.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PairSet(pub u32);

impl PairSet {
    /// The largest ballot a `PairSet` can hold.
    pub const MAX_BALLOT: usize = 32 / MAX_VALUES - 1;

    fn bit(b: Ballot, v: Value) -> u32 {
        debug_assert!(b >= 0 && (b as usize) <= Self::MAX_BALLOT);
        debug_assert!((v.0 as usize) < MAX_VALUES);
        1 << (b as usize * MAX_VALUES + v.0 as usize)
    }

    /// `<<b, v>> \in S`.
    pub fn contains(&self, b: Ballot, v: Value) -> bool {
        self.0 & Self::bit(b, v) != 0
    }

    /// `S \cup {<<b, v>>}`.
    pub fn insert(&mut self, b: Ballot, v: Value) {
        self.0 |= Self::bit(b, v);
    }

    /// `\E v : <<b, v>> \in S`.
    pub fn has_ballot(&self, b: Ballot) -> bool {
        let mask = ((1u32 << MAX_VALUES) - 1) << (b as usize * MAX_VALUES);
        self.0 & mask != 0
    }

    /// `S = {}`.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The pairs in increasing ballot, then value, order.
    pub fn iter(&self) -> impl Iterator<Item = (Ballot, Value)> {
        let bits = self.0;
        (0..32u32).filter(move |i| bits & (1 << i) != 0).map(|i| {
            (
                (i as usize / MAX_VALUES) as Ballot,
                Value((i as usize % MAX_VALUES) as u8),
            )
        })
    }

    /// The set with every value renamed: value `v` becomes `perm[v]`.
    pub fn permuted_values(&self, perm: &[u8]) -> Self {
        let mut out = PairSet(0);
        for (b, v) in self.iter() {
            out.insert(b, Value(perm[v.0 as usize]));
        }
        out
    }
}

impl fmt::Debug for PairSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (b, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "<<{b}, {v:?}>>")?;
        }
        f.write_str("}")
    }
}

/// All subsets of `0..n` (as bitmasks) with exactly `size` elements, in increasing order.
pub(crate) fn subsets_of_size(n: usize, size: usize) -> Vec<u32> {
    (0u32..1 << n)
        .filter(|m| m.count_ones() as usize == size)
        .collect()
}

/// The quorums of the MC files, `{{a1, a2}, {a1, a3}, {a2, a3}}` for three acceptors: every set
/// of `n / 2 + 1` acceptors. Adding the larger majorities would not change any count: each
/// quorum is used under `\E Q`, and whenever a larger majority satisfies `ChosenAt`,
/// `NoneOtherChoosableAt`, `ShowsSafeAt` or Paxos' phase 2a condition, so does one of its
/// smallest subsets (take one that holds the acceptor with the highest vote).
pub(crate) fn majorities(n: usize) -> Vec<u32> {
    subsets_of_size(n, n / 2 + 1)
}

/// Quorums that break the ASSUME of Voting.tla (`Q1 \cap Q2 /= {}`): every set of `n / 2`
/// acceptors, so two disjoint ones exist for any `n >= 2`.
pub(crate) fn minorities(n: usize) -> Vec<u32> {
    subsets_of_size(n, n / 2)
}

/// Every permutation of `0..n`, in lexicographic order (so the identity comes first).
pub(crate) fn permutations(n: usize) -> Vec<Vec<u8>> {
    fn extend(prefix: &mut Vec<u8>, used: u32, n: usize, out: &mut Vec<Vec<u8>>) {
        if prefix.len() == n {
            out.push(prefix.clone());
            return;
        }
        for i in 0..n as u8 {
            if used & (1 << i) == 0 {
                prefix.push(i);
                extend(prefix, used | (1 << i), n, out);
                prefix.pop();
            }
        }
    }
    let mut out = Vec::new();
    extend(&mut Vec::with_capacity(n), 0, n, &mut out);
    out
}

/// Writes `{x, y, z}` for the members of a bitset of elements named `prefix1`, `prefix2`, ...
pub(crate) fn fmt_bitset(f: &mut fmt::Formatter<'_>, prefix: &str, bits: u32) -> fmt::Result {
    f.write_str("{")?;
    let mut first = true;
    for i in 0..32 {
        if bits & (1 << i) != 0 {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{prefix}{}", i + 1)?;
        }
    }
    f.write_str("}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_all_distinct_and_complete() {
        let perms = permutations(4);
        assert_eq!(perms.len(), 24);
        assert_eq!(perms[0], vec![0, 1, 2, 3]);
        let mut sorted = perms.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 24);
    }

    #[test]
    fn quorums_match_the_mc_files() {
        assert_eq!(majorities(3), vec![0b011, 0b101, 0b110]);
        assert_eq!(minorities(3), vec![0b001, 0b010, 0b100]);
        assert_eq!(majorities(5).len(), 10);
    }

    #[test]
    fn pair_sets_print_as_tla() {
        let mut s = PairSet::default();
        s.insert(1, Value(0));
        s.insert(0, Value(2));
        assert_eq!(format!("{s:?}"), "{<<0, v3>>, <<1, v1>>}");
        assert!(s.has_ballot(1) && !s.has_ballot(2));
        assert_eq!(
            format!("{:?}", s.permuted_values(&[2, 1, 0])),
            "{<<0, v1>>, <<1, v3>>}"
        );
    }
}
