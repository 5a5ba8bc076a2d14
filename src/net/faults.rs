//! Fault injection: what a hostile network and unreliable machines do to a cluster, on purpose and
//! reproducibly.
//!
//! Every datagram a node sends passes [`Faults::judge`]: it may be lost (`--loss P`), duplicated
//! (`--dup P`), delayed by a normally distributed time (`--delay-ms MEAN --jitter-ms SD`, clamped
//! at zero), or cut by a partition (`--partition NODES@START-END`: from START to END seconds after
//! the cluster starts, the listed nodes and the others cannot exchange messages; clients still
//! reach every node). Crashes and restarts (`--crash NODE@SECS`, `--restart NODE@SECS`) are
//! carried out by the cluster, which stops a node's thread (its volatile state is lost, its disk
//! is kept) and later starts it again from its disk.
//!
//! Each node draws from its own generator seeded from `--seed` and its index, so a run's faults are
//! reproducible up to the interleaving the operating system chooses.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A small, fast, seedable generator (xoshiro256**, Blackman and Vigna).
#[derive(Clone, Debug)]
pub struct Rng([u64; 4]);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 spreads any seed (0 included) over the state.
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }

    /// A standard normal deviate (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

/// A partition: from `start` to `end` after the cluster starts, the nodes in `side` and the
/// others are cut off from each other. With `leader`, the side is the node that leads at
/// `start` (or the first to lead after it), which the cluster resolves then and shares with
/// every node through the atomic (`usize::MAX` until resolved: nothing is cut).
#[derive(Clone, Debug)]
pub struct Partition {
    pub side: Vec<usize>,
    pub leader: Option<Arc<AtomicUsize>>,
    pub start: Duration,
    pub end: Duration,
}

impl PartialEq for Partition {
    fn eq(&self, o: &Self) -> bool {
        (&self.side, self.leader.is_some(), self.start, self.end)
            == (&o.side, o.leader.is_some(), o.start, o.end)
    }
}

impl Partition {
    /// Parses `NODES@START-END`, e.g. `0@2-5` or `0,1@2.5-4`, or `leader@START-END`, seconds
    /// from the start.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("bad --partition {text:?}: expected NODES@START-END, e.g. 0@2-5 (node 0 isolated from 2 s to 5 s), 0,1@2-5 or leader@2-5")
        };
        let (nodes, window) = text.split_once('@').ok_or_else(bad)?;
        let (start, end) = window.split_once('-').ok_or_else(bad)?;
        let leader = (nodes.trim() == "leader").then(|| Arc::new(AtomicUsize::new(usize::MAX)));
        let side = if leader.is_some() {
            Vec::new()
        } else {
            nodes
                .split(',')
                .map(|n| n.trim().parse::<usize>().map_err(|_| bad()))
                .collect::<Result<Vec<_>, _>>()?
        };
        let start = parse_secs(start).ok_or_else(bad)?;
        let end = parse_secs(end).ok_or_else(bad)?;
        if end <= start {
            return Err(format!(
                "bad --partition {text:?}: the end must come after the start"
            ));
        }
        Ok(Partition {
            side,
            leader,
            start,
            end,
        })
    }

    /// Whether this partition separates `a` and `b` at `elapsed`.
    pub fn cuts(&self, a: usize, b: usize, elapsed: Duration) -> bool {
        if elapsed < self.start || elapsed >= self.end {
            return false;
        }
        match &self.leader {
            Some(resolved) => {
                let l = resolved.load(Ordering::Relaxed);
                l != usize::MAX && (a == l) != (b == l)
            }
            None => self.side.contains(&a) != self.side.contains(&b),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side: Vec<String> = self.side.iter().map(|n| n.to_string()).collect();
        let side = if self.leader.is_some() {
            "leader".to_string()
        } else {
            side.join(",")
        };
        write!(
            f,
            "{side}@{}-{}",
            self.start.as_secs_f64(),
            self.end.as_secs_f64()
        )
    }
}

/// A crash or restart of one node at a time after the cluster starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeEvent {
    pub target: Target,
    pub at: Duration,
}

/// Which node an event is for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// Node `i`.
    Node(usize),
    /// For a crash: the node that leads at that moment (the highest term among the nodes that
    /// say they lead), or the first that does after it. For a restart: the node the last
    /// leader crash took down. Only protocols with a leader accept it.
    Leader,
}

impl NodeEvent {
    /// Parses `NODE@SECS` or `leader@SECS`, e.g. `1@3`, `1@2.5`, `leader@3`.
    pub fn parse(flag: &str, text: &str) -> Result<Self, String> {
        let bad = || format!("bad {flag} {text:?}: expected NODE@SECS or leader@SECS, e.g. 1@3");
        let (node, at) = text.split_once('@').ok_or_else(bad)?;
        let target = match node.trim() {
            "leader" => Target::Leader,
            n => Target::Node(n.parse().map_err(|_| bad())?),
        };
        Ok(NodeEvent {
            target,
            at: parse_secs(at).ok_or_else(bad)?,
        })
    }
}

impl fmt::Display for NodeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target {
            Target::Node(n) => write!(f, "{n}@{}", self.at.as_secs_f64()),
            Target::Leader => write!(f, "leader@{}", self.at.as_secs_f64()),
        }
    }
}

fn parse_secs(text: &str) -> Option<Duration> {
    let text = text.trim().trim_end_matches('s');
    let secs: f64 = text.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// The network faults of a run (crashes are the cluster's).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is sent twice.
    pub dup: f64,
    /// Mean extra delay of a datagram (milliseconds).
    pub delay_ms: f64,
    /// Standard deviation of the delay (milliseconds).
    pub jitter_ms: f64,
    pub partitions: Vec<Partition>,
    pub seed: u64,
}

impl FaultConfig {
    /// Checks the probabilities and durations.
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        for (flag, p) in [("--loss", self.loss), ("--dup", self.dup)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{flag} {p} is not a probability in [0, 1]"));
            }
        }
        for (flag, ms) in [
            ("--delay-ms", self.delay_ms),
            ("--jitter-ms", self.jitter_ms),
        ] {
            if !(0.0..=60_000.0).contains(&ms) {
                return Err(format!("{flag} {ms} must be between 0 and 60000"));
            }
        }
        for p in &self.partitions {
            if let Some(n) = p.side.iter().find(|n| **n >= nodes) {
                return Err(format!(
                    "--partition {p}: there is no node {n} (nodes are 0..{})",
                    nodes - 1
                ));
            }
        }
        Ok(())
    }

    /// Whether any network fault is configured.
    pub fn any(&self) -> bool {
        self.loss > 0.0
            || self.dup > 0.0
            || self.delay_ms > 0.0
            || self.jitter_ms > 0.0
            || !self.partitions.is_empty()
    }
}

/// What happens to one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Lost (or cut by a partition).
    Drop,
    /// Sent `copies` times (1, or 2 when duplicated), each after the given delay.
    Send { copies: u8, delay: Duration },
}

/// One node's fault state.
#[derive(Clone, Debug)]
pub struct Faults {
    pub config: FaultConfig,
    rng: Rng,
}

impl Faults {
    pub fn new(config: FaultConfig, node: usize) -> Self {
        let seed = config.seed ^ (node as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407);
        Faults {
            config,
            rng: Rng::new(seed),
        }
    }

    /// Whether a partition separates nodes `a` and `b` now.
    pub fn cut(&self, a: usize, b: usize, elapsed: Duration) -> bool {
        self.config.partitions.iter().any(|p| p.cuts(a, b, elapsed))
    }

    /// Whether an arriving client request is delivered twice, as a network that duplicates
    /// datagrams would: duplication applies on the way in too, so a server without at-most-once
    /// sessions is caught on real sockets as it is in the checker.
    pub fn duplicate_inbound(&mut self) -> bool {
        self.rng.chance(self.config.dup)
    }

    /// Decides one datagram's fate. `peers` is `Some((from, to))` for node-to-node traffic.
    pub fn judge(&mut self, peers: Option<(usize, usize)>, elapsed: Duration) -> Fate {
        if let Some((a, b)) = peers {
            if self.cut(a, b, elapsed) {
                return Fate::Drop;
            }
        }
        if self.rng.chance(self.config.loss) {
            return Fate::Drop;
        }
        let copies = if self.rng.chance(self.config.dup) {
            2
        } else {
            1
        };
        let c = &self.config;
        let delay = if c.delay_ms > 0.0 || c.jitter_ms > 0.0 {
            let ms = c.delay_ms + c.jitter_ms * self.rng.normal();
            Duration::from_secs_f64(ms.max(0.0) / 1000.0)
        } else {
            Duration::ZERO
        };
        Fate::Send { copies, delay }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_reject_nonsense() {
        let p = Partition::parse("0,2@1.5-4").unwrap();
        assert_eq!(p.side, vec![0, 2]);
        assert_eq!(p.start, Duration::from_millis(1500));
        assert!(p.cuts(0, 1, Duration::from_secs(2)));
        assert!(!p.cuts(0, 2, Duration::from_secs(2)));
        assert!(!p.cuts(0, 1, Duration::from_secs(4)));
        for bad in ["0@5-2", "x@1-2", "0@1", "0-1-2", "0@-1-2"] {
            assert!(Partition::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            NodeEvent::parse("--crash", "1@3s").unwrap(),
            NodeEvent {
                target: Target::Node(1),
                at: Duration::from_secs(3)
            }
        );
        let p = Partition::parse("leader@1-2").unwrap();
        assert_eq!(p.to_string(), "leader@1-2");
        assert!(
            !p.cuts(0, 1, Duration::from_millis(1500)),
            "unresolved: nothing cut"
        );
        p.leader
            .as_ref()
            .unwrap()
            .store(1, std::sync::atomic::Ordering::Relaxed);
        assert!(p.cuts(0, 1, Duration::from_millis(1500)));
        assert!(!p.cuts(0, 2, Duration::from_millis(1500)));
        assert!(!p.cuts(0, 1, Duration::from_millis(2500)));
        let leader = NodeEvent::parse("--crash", "leader@2.5").unwrap();
        assert_eq!(leader.target, Target::Leader);
        assert_eq!(leader.to_string(), "leader@2.5");
        assert!(NodeEvent::parse("--crash", "1").is_err());
        assert!(NodeEvent::parse("--crash", "leaderr@1").is_err());
        let cfg = FaultConfig {
            loss: 1.5,
            ..FaultConfig::default()
        };
        assert!(cfg.validate(3).unwrap_err().contains("--loss"));
    }

    #[test]
    fn fates_follow_the_probabilities() {
        let cfg = FaultConfig {
            loss: 0.2,
            dup: 0.1,
            delay_ms: 5.0,
            jitter_ms: 1.0,
            seed: 7,
            ..FaultConfig::default()
        };
        let mut f = Faults::new(cfg.clone(), 0);
        let n = 100_000;
        let (mut lost, mut dup, mut delay_sum) = (0, 0, 0.0);
        for _ in 0..n {
            match f.judge(None, Duration::ZERO) {
                Fate::Drop => lost += 1,
                Fate::Send { copies, delay } => {
                    dup += usize::from(copies == 2);
                    delay_sum += delay.as_secs_f64() * 1000.0;
                }
            }
        }
        let lost_frac = lost as f64 / n as f64;
        let dup_frac = dup as f64 / (n - lost) as f64;
        let mean = delay_sum / (n - lost) as f64;
        assert!((lost_frac - 0.2).abs() < 0.01, "{lost_frac}");
        assert!((dup_frac - 0.1).abs() < 0.01, "{dup_frac}");
        assert!((mean - 5.0).abs() < 0.05, "{mean}");
        // Same seed, same fates.
        let mut a = Faults::new(cfg.clone(), 1);
        let mut b = Faults::new(cfg, 1);
        for _ in 0..100 {
            assert_eq!(a.judge(None, Duration::ZERO), b.judge(None, Duration::ZERO));
        }
    }
}
