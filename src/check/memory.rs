//! Memory budgets for searches: how much this process holds, how much the machine has, and
//! `--max-memory SIZE` parsing.
//!
//! An exhaustive search keeps every state it has seen; without a budget it grows until the kernel
//! kills the process, and the user learns nothing. Searches instead poll [`resident_bytes`] (cheap:
//! one small `/proc` read, fine every 20 to 250 ms) through a [`MemoryWatch`] and stop cleanly,
//! reporting what they verified, once the resident set reaches the budget.
//!
//! Sizes use powers of 1024 for every suffix, as `free`, `top` and the JVM's `-Xmx` (TLC's
//! tooling) do: `K`, `KB` and `KiB` all mean 1024 bytes. The measurements are Linux-only; elsewhere
//! they are `None`, a budget is never exceeded and the default budget is [`FALLBACK_BUDGET`].

use std::fs;

/// The budget when physical memory cannot be determined: 8 GiB.
pub const FALLBACK_BUDGET: u64 = 8 << 30;

/// The default budget, as a percentage of physical memory.
pub const DEFAULT_BUDGET_PERCENT: u64 = 75;

const KIB: u64 = 1 << 10;

/// This process's resident set size, in bytes (`VmRSS` in `/proc/self/status`).
pub fn resident_bytes() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, "VmRSS:")
}

/// This process's resident set size, in bytes, from `/proc/self/statm` (a few numbers, cheaper to
/// read than `status`: Synod's engine asks before keeping each unit of its frontier in memory).
pub fn resident_bytes_now() -> Option<u64> {
    let statm = fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// The memory this process may use: the machine's `MemTotal` (`/proc/meminfo`), or the cgroup's
/// limit when there is a smaller one (cgroup v2 `memory.max`, cgroup v1
/// `memory.limit_in_bytes`), as in a container.
pub fn physical_bytes() -> Option<u64> {
    let total = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| kib_field(&m, "MemTotal:"));
    [total, cgroup_limit()].into_iter().flatten().min()
}

/// The default `--max-memory`: 75% of [`physical_bytes`], or [`FALLBACK_BUDGET`] when unknown.
pub fn default_budget() -> u64 {
    physical_bytes().map_or(FALLBACK_BUDGET, |p| {
        percent_of(p, DEFAULT_BUDGET_PERCENT as f64)
    })
}

/// Parses a size: `123` (bytes), `512K`, `512KB`, `512KiB`, `800M`, `12G`, `1.5GiB`, `1T`, or
/// `75%` of [`physical_bytes`]. Suffixes are case-insensitive and all powers of 1024 (see the
/// module docs); a space may separate number and suffix. Zero is an error.
pub fn parse_size(s: &str) -> Result<u64, String> {
    parse_size_with(s, physical_bytes)
}

/// A byte count for people: `512 B`, `1.5 KiB`, `18.0 GiB`.
pub fn format_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if b < KIB {
        return format!("{b} B");
    }
    let mut value = b as f64 / KIB as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Watches this process's resident memory against an optional budget and remembers the peak seen.
#[derive(Clone, Debug)]
pub struct MemoryWatch {
    budget_bytes: Option<u64>,
    peak_bytes: Option<u64>,
}

impl MemoryWatch {
    /// A watch for `budget_bytes` (`None`: never exceeded, only the peak is tracked).
    pub fn new(budget_bytes: Option<u64>) -> Self {
        MemoryWatch {
            budget_bytes,
            peak_bytes: None,
        }
    }

    /// Reads the resident set size now and updates the peak; `None` where it cannot be measured.
    pub fn poll(&mut self) -> Option<u64> {
        let now = resident_bytes();
        self.peak_bytes = self.peak_bytes.max(now);
        now
    }

    /// Polls, and answers whether the resident set has reached the budget.
    pub fn exceeded(&mut self) -> bool {
        match (self.poll(), self.budget_bytes) {
            (Some(rss), Some(budget)) => rss >= budget,
            _ => false,
        }
    }

    /// The largest resident set size seen by [`MemoryWatch::poll`] so far.
    pub fn peak_bytes(&self) -> Option<u64> {
        self.peak_bytes
    }

    pub fn budget_bytes(&self) -> Option<u64> {
        self.budget_bytes
    }
}

const ACCEPTED: &str = "expected a number of bytes with an optional suffix K, M, G or T \
    (powers of 1024; KB and KiB, MB and MiB and so on mean the same), e.g. 800M, 12G or 1.5GiB, \
    or a percentage of physical memory, e.g. 75%";

/// [`parse_size`] with physical memory supplied (for tests); only a percentage asks for it.
fn parse_size_with(s: &str, physical: impl FnOnce() -> Option<u64>) -> Result<u64, String> {
    let invalid = || format!("invalid size '{s}': {ACCEPTED}");
    let text = s.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let suffix = suffix.trim_start().to_ascii_lowercase();
    let valid_number = !number.is_empty()
        && number.chars().filter(|&c| c == '.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit());
    if !valid_number {
        return Err(invalid());
    }
    let bytes = if suffix == "%" {
        let percent: f64 = number.parse().map_err(|_| invalid())?;
        if percent > 100.0 {
            return Err(format!(
                "invalid size '{s}': at most 100% of physical memory"
            ));
        }
        let physical = physical().ok_or_else(|| {
            format!("invalid size '{s}': the physical memory of this machine is unknown; give a size such as 12G")
        })?;
        percent_of(physical, percent)
    } else {
        let power = match suffix.as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 1,
            "m" | "mb" | "mib" => 2,
            "g" | "gb" | "gib" => 3,
            "t" | "tb" | "tib" => 4,
            _ => return Err(invalid()),
        };
        let unit = KIB.pow(power);
        match number.parse::<u64>() {
            Ok(n) => n
                .checked_mul(unit)
                .ok_or_else(|| format!("invalid size '{s}': too large"))?,
            Err(_) if power == 0 => {
                return Err(format!(
                    "invalid size '{s}': a number of bytes must be whole; {ACCEPTED}"
                ))
            }
            Err(_) => {
                let value: f64 = number.parse().map_err(|_| invalid())?;
                let bytes = (value * unit as f64).floor();
                if bytes >= u64::MAX as f64 {
                    return Err(format!("invalid size '{s}': too large"));
                }
                bytes as u64
            }
        }
    };
    if bytes == 0 {
        return Err(format!("invalid size '{s}': must be more than zero bytes"));
    }
    Ok(bytes)
}

/// `percent`% of `bytes`, rounded down.
fn percent_of(bytes: u64, percent: f64) -> u64 {
    (bytes as f64 * percent / 100.0).floor() as u64
}

/// The value of a `Name:   123 kB` line of a `/proc` file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let mut words = line[name.len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(KIB),
        _ => None,
    }
}

/// The smallest memory limit of this process's cgroup, if it has one.
fn cgroup_limit() -> Option<u64> {
    // cgroup v2: `0::/path` in /proc/self/cgroup, the limit in /sys/fs/cgroup/path/memory.max.
    // Inside a container the cgroup root is usually the container's own, so look there too.
    let own = fs::read_to_string("/proc/self/cgroup").ok().and_then(|c| {
        c.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(|p| format!("/sys/fs/cgroup{}/memory.max", p.trim_end_matches('/')))
    });
    let candidates = own
        .into_iter()
        .chain(["/sys/fs/cgroup/memory.max".to_string()])
        .chain(["/sys/fs/cgroup/memory/memory.limit_in_bytes".to_string()]);
    candidates
        .filter_map(|path| fs::read_to_string(path).ok())
        .filter_map(|text| parse_cgroup_limit(&text))
        .min()
}

/// A cgroup limit file's value: `max` (v2) or an absurdly large number (v1) means no limit.
fn parse_cgroup_limit(text: &str) -> Option<u64> {
    let value: u64 = text.trim().parse().ok()?;
    // cgroup v1 writes "no limit" as the largest page-aligned i64.
    (value < 1 << 60).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn parse(s: &str) -> Result<u64, String> {
        parse_size_with(s, || Some(16 * GIB))
    }

    #[test]
    fn sizes_in_every_form() {
        assert_eq!(parse("123"), Ok(123));
        assert_eq!(parse("123B"), Ok(123));
        for k in [
            "512K", "512KB", "512KiB", "512k", "512kb", "512kib", "512 KiB",
        ] {
            assert_eq!(parse(k), Ok(512 * 1024), "{k}");
        }
        assert_eq!(parse("800M"), Ok(800 << 20));
        assert_eq!(parse("800MB"), Ok(800 << 20));
        assert_eq!(parse("800mib"), Ok(800 << 20));
        assert_eq!(parse("12G"), Ok(12 * GIB));
        assert_eq!(parse("12GB"), Ok(12 * GIB));
        assert_eq!(parse("12GiB"), Ok(12 * GIB));
        assert_eq!(parse("1.5G"), Ok(3 * GIB / 2));
        assert_eq!(parse(".5K"), Ok(512));
        assert_eq!(parse("0.1K"), Ok(102), "rounded down");
        assert_eq!(parse("1T"), Ok(1 << 40));
        assert_eq!(parse("2tib"), Ok(2 << 40));
        assert_eq!(parse(" 4G "), Ok(4 * GIB));
        assert_eq!(parse("75%"), Ok(12 * GIB));
        assert_eq!(parse("100%"), Ok(16 * GIB));
        assert_eq!(parse("12.5%"), Ok(2 * GIB));
    }

    #[test]
    fn bad_sizes_are_errors_that_name_the_text_and_the_accepted_forms() {
        for bad in [
            "", " ", "G", "abc", "-1G", "1.2.3G", "12X", "12GBs", "1e9", "0x10", "1,5G", ".", "%",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(&format!("'{bad}'")), "{e}");
            assert!(e.contains("800M") && e.contains("75%"), "{e}");
        }
        for zero in ["0", "0G", "0.0001K", "0%", "0.0M"] {
            let e = parse(zero).expect_err(zero);
            assert!(e.contains("more than zero"), "{zero}: {e}");
        }
        assert!(parse("1.5").unwrap_err().contains("whole"));
        assert!(parse("101%").unwrap_err().contains("at most 100%"));
        assert!(parse("99999999999T").unwrap_err().contains("too large"));
        assert!(parse("18446744073709551616").is_err());
        let unknown = parse_size_with("50%", || None).unwrap_err();
        assert!(unknown.contains("unknown"), "{unknown}");
    }

    #[test]
    fn percentages_use_physical_memory() {
        let physical = physical_bytes().expect("Linux reports MemTotal");
        assert_eq!(parse_size("50%"), Ok(physical / 2));
        let budget = default_budget() as f64;
        assert!(
            (0.74..=0.76).contains(&(budget / physical as f64)),
            "{budget} of {physical}"
        );
    }

    #[test]
    fn bytes_are_formatted_in_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(800 << 20), "800.0 MiB");
        assert_eq!(format_bytes(18 * GIB), "18.0 GiB");
        assert_eq!(format_bytes(3 << 40), "3.0 TiB");
        assert_eq!(format_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn proc_fields_and_cgroup_limits_parse() {
        let status = "Name:\tsynod\nVmPeak:\t  2000 kB\nVmRSS:\t    1234 kB\nThreads:\t1\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(1234 * 1024));
        assert_eq!(kib_field(status, "VmSwap:"), None);
        assert_eq!(kib_field("MemTotal: 12 MB\n", "MemTotal:"), None);
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("1073741824\n"), Some(GIB));
        assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
    }

    #[test]
    fn resident_memory_is_measured_and_plausible() {
        let rss = resident_bytes().expect("Linux reports VmRSS");
        let physical = physical_bytes().expect("Linux reports MemTotal");
        assert!(rss >= 1 << 20, "a test process holds at least 1 MiB: {rss}");
        assert!(rss < physical, "{rss} < {physical}");
        // 64 MiB written is resident (whatever other tests in this process do meanwhile).
        let block = std::hint::black_box(vec![1u8; 64 << 20]);
        let after = resident_bytes().unwrap();
        assert!(after >= 64 << 20, "{rss} -> {after}");
        drop(block);
    }

    #[test]
    fn a_watch_tracks_the_peak_and_the_budget() {
        let mut unlimited = MemoryWatch::new(None);
        assert!(!unlimited.exceeded());
        assert!(unlimited.peak_bytes().is_some());
        let mut tiny = MemoryWatch::new(Some(1));
        assert!(tiny.exceeded());
        assert_eq!(tiny.budget_bytes(), Some(1));
        let mut huge = MemoryWatch::new(Some(u64::MAX));
        assert!(!huge.exceeded());
        let first = huge.peak_bytes().unwrap();
        huge.poll();
        assert!(huge.peak_bytes().unwrap() >= first);
    }
}
