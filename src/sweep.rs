//! `synod bench PROTOCOL --sweep-nodes 3,5,7,9`: quorum latency against cluster size, measured
//! and predicted.
//!
//! The claim under test (a staple of the quorum-systems literature): when round trips are
//! independent and normally distributed, a coordinator that waits for a majority of replies waits
//! about as long as the median round trip, whatever N; one that waits for all N waits for the
//! slowest, which grows like `mu + sigma * sqrt(2 ln N)`. The sweep runs the same load against the
//! protocol at each cluster size with `--quorum majority` and with `--quorum all`, under the
//! normal delay of `--delay-ms MEAN --jitter-ms SD` (every datagram a node sends, replies to
//! clients included; clients' requests are not delayed), and prints each configuration's latency
//! beside a prediction.
//!
//! **The prediction.** A round trip to one peer is two delayed datagrams, normal with mean `2 mu`
//! and deviation `sqrt(2) sigma`. A coordinator counts itself and needs `q - 1` of the `N - 1`
//! peers (`q` = N/2 + 1, or N): it waits for the `(q-1)`-th smallest of `N - 1` round trips, whose
//! expectation is `2 mu + sqrt(2) sigma E[X_(q-1:N-1)]` ([`crate::order_stats`], exact, by
//! numerical integration). An operation waits for `R` such quorums in sequence
//! ([`Serve::QUORUM_ROUND_TRIPS`](synod_models::protocol::Serve::QUORUM_ROUND_TRIPS): ABD's query
//! and store) and one delayed reply to its client, so its mean latency is predicted as `mu + R (2
//! mu + sqrt(2) sigma E[...])`, plus the processing time the prediction leaves out (a few hundred
//! microseconds on loopback). The asymptotic `sqrt(2 ln (N-1))` for the maximum is printed too:
//! it overestimates at these small N. Delays are clamped at zero, so keep `jitter` well under
//! `delay` for the prediction to apply.
//!
//! Every configuration's history is checked as `bench` checks it; the sweep's exit code is the
//! worst of them.

use crate::bench::{self, BenchConfig, BenchReport};
use crate::catalog;
use crate::lincheck::Verdict;
use crate::order_stats::{expected_normal_order_statistic, max_normal_asymptotic};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What each phase of a configuration waits for.
pub const QUORUMS: [(&str, u64); 2] = [("majority", 0), ("all", 1)];

/// How to sweep.
pub struct SweepConfig {
    /// The bench of one configuration; `nodes` and the protocol's `quorum` are set per run.
    pub base: BenchConfig,
    /// The cluster sizes, each at least 2.
    pub nodes: Vec<usize>,
    /// Write the plot here (SVG).
    pub plot: Option<PathBuf>,
}

/// One configuration's outcome.
pub struct Row {
    pub nodes: usize,
    pub quorum: &'static str,
    /// The predicted mean latency, microseconds.
    pub predicted_us: f64,
    /// The same with the asymptotic `sqrt(2 ln (N-1))` for the slowest peer (`all` only).
    pub asymptotic_us: Option<f64>,
    pub report: Result<BenchReport, String>,
}

/// The sweep's outcome.
pub struct SweepReport {
    pub protocol: &'static str,
    pub delay_ms: f64,
    pub jitter_ms: f64,
    pub round_trips: u32,
    pub rows: Vec<Row>,
    /// Where the plot went, or why it did not.
    pub plot: Option<Result<PathBuf, String>>,
}

/// The predicted mean latency (microseconds) of an operation of `round_trips` quorum waits on
/// `nodes` servers, each waiting for `need` replies (itself included).
pub fn predicted_us(
    delay_ms: f64,
    jitter_ms: f64,
    round_trips: u32,
    nodes: usize,
    need: usize,
) -> f64 {
    let peers = nodes - 1;
    let z = if need <= 1 || peers == 0 {
        None
    } else {
        Some(expected_normal_order_statistic(need - 1, peers))
    };
    operation_us(delay_ms, jitter_ms, round_trips, z)
}

/// The mean latency (microseconds) of `round_trips` quorum waits and one delayed reply, each
/// wait a round trip at `z` standard deviations above its mean (`None`: no peer to wait for).
fn operation_us(delay_ms: f64, jitter_ms: f64, round_trips: u32, z: Option<f64>) -> f64 {
    let wait = z.map_or(0.0, |z| {
        2.0 * delay_ms + std::f64::consts::SQRT_2 * jitter_ms * z
    });
    1000.0 * (delay_ms + f64::from(round_trips) * wait)
}

/// Checks the sweep applies, then runs every configuration one after another.
pub fn sweep(cfg: &SweepConfig) -> Result<SweepReport, String> {
    let protocol = &cfg.base.protocol;
    let entry = catalog::find_runnable(protocol.name).map_err(|e| e.to_string())?;
    let param = entry.descriptor.param("quorum");
    let quorum_words = param.is_some_and(|p| QUORUMS.iter().all(|(w, v)| p.parse(w) == Ok(*v)));
    if protocol.quorum_round_trips == 0 || !quorum_words {
        let which: Vec<&str> = catalog::catalog()
            .iter()
            .filter(|e| e.is_runnable())
            .filter(|e| e.descriptor.param("quorum").is_some())
            .map(|e| e.name())
            .collect();
        return Err(format!(
            "--sweep-nodes compares --quorum majority with --quorum all; {} has no quorum to choose (protocols that do: {})",
            protocol.name,
            which.join(", ")
        ));
    }
    if cfg.nodes.is_empty() {
        return Err("--sweep-nodes needs at least one cluster size".into());
    }
    if let Some(n) = cfg.nodes.iter().find(|n| **n < 2 || **n > 64) {
        return Err(format!(
            "--sweep-nodes {n}: a sweep compares quorums of 2 to 64 nodes"
        ));
    }
    let (delay_ms, jitter_ms) = (cfg.base.faults.delay_ms, cfg.base.faults.jitter_ms);
    let mut rows = Vec::new();
    for &nodes in &cfg.nodes {
        for (quorum, value) in QUORUMS {
            let mut settings = protocol.settings.clone();
            settings.params.insert("quorum", value);
            let mut one = cfg.base.clone();
            one.protocol = entry.runnable(settings);
            one.nodes = nodes;
            let need = if value == 1 { nodes } else { nodes / 2 + 1 };
            let rt = protocol.quorum_round_trips;
            let asymptotic_us = (value == 1 && nodes > 1).then(|| {
                operation_us(
                    delay_ms,
                    jitter_ms,
                    rt,
                    Some(max_normal_asymptotic(nodes - 1)),
                )
            });
            rows.push(Row {
                nodes,
                quorum,
                predicted_us: predicted_us(delay_ms, jitter_ms, rt, nodes, need),
                asymptotic_us,
                report: bench::bench(&one),
            });
        }
    }
    let mut report = SweepReport {
        protocol: protocol.name,
        delay_ms,
        jitter_ms,
        round_trips: protocol.quorum_round_trips,
        rows,
        plot: None,
    };
    if let Some(path) = &cfg.plot {
        report.plot = Some(
            std::fs::write(path, report.svg())
                .map(|()| path.clone())
                .map_err(|e| format!("cannot write the plot to {}: {e}", path.display())),
        );
    }
    Ok(report)
}

fn ms(us: f64) -> String {
    format!("{:.2}", us / 1000.0)
}

impl SweepReport {
    /// 0 every history linearizable (or unchecked), 1 one was not, 3 the checker ran out of
    /// time; a configuration that failed to run is 1 too.
    pub fn exit_code(&self) -> u8 {
        self.rows
            .iter()
            .map(|r| r.report.as_ref().map_or(1, |b| b.exit_code()))
            .max()
            .unwrap_or(0)
    }

    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} latency against cluster size: delay {} ms ± {} ms per datagram, {} quorum round trips per operation\n",
            self.protocol, self.delay_ms, self.jitter_ms, self.round_trips
        );
        out.push_str(
            "nodes  quorum    ops/s     mean ms  p50 ms  p99 ms  predicted ms  sqrt(2 ln n) ms  history\n",
        );
        for r in &self.rows {
            let asym = r.asymptotic_us.map_or("-".to_string(), ms);
            match &r.report {
                Ok(b) => {
                    let l = &b.load;
                    let verdict = match b.lincheck.as_ref().map(|c| &c.verdict) {
                        None => "not checked",
                        // Shouted in the table, as the bench's text does.
                        Some(Verdict::NotLinearizable { .. }) => "NOT linearizable",
                        Some(v) => v.name(),
                    };
                    let _ = writeln!(
                        out,
                        "{:>5}  {:<8} {:>8.0}  {:>9}  {:>6}  {:>6}  {:>12}  {:>15}  {verdict}",
                        r.nodes,
                        r.quorum,
                        l.ops_per_sec,
                        ms(l.latency_us_mean),
                        ms(l.latency_us_at(0.5) as f64),
                        ms(l.latency_us_at(0.99) as f64),
                        ms(r.predicted_us),
                        asym,
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "{:>5}  {:<8} failed: {e}", r.nodes, r.quorum);
                }
            }
        }
        out.push_str(
            "predicted: the expected mean, delay + round trips x the expected wait for the quorum's slowest needed reply (exact normal order statistics); processing and fsync time not included\n",
        );
        // The difference cancels what the prediction leaves out (processing, disk).
        let mut lines = Vec::new();
        for pair in self.rows.chunks(2) {
            if let [maj, all] = pair {
                if let (Ok(a), Ok(b)) = (&maj.report, &all.report) {
                    lines.push(format!(
                        "N={} {} ms (predicted {})",
                        maj.nodes,
                        ms(b.load.latency_us_mean - a.load.latency_us_mean),
                        ms(all.predicted_us - maj.predicted_us)
                    ));
                }
            }
        }
        if !lines.is_empty() {
            let _ = writeln!(out, "all - majority, mean: {}", lines.join("; "));
        }
        match &self.plot {
            Some(Ok(p)) => {
                let _ = writeln!(out, "Plot: {}", p.display());
            }
            Some(Err(e)) => {
                let _ = writeln!(out, "Plot: {e}");
            }
            None => {}
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                let mut row = serde_json::json!({
                    "nodes": r.nodes,
                    "quorum": r.quorum,
                    "predicted_latency_us_mean": r.predicted_us,
                    "asymptotic_latency_us_mean": r.asymptotic_us,
                });
                match &r.report {
                    Ok(b) => row["bench"] = b.to_json(),
                    Err(e) => row["error"] = serde_json::json!(e),
                }
                row
            })
            .collect();
        serde_json::json!({
            "protocol": self.protocol,
            "delay_ms": self.delay_ms,
            "jitter_ms": self.jitter_ms,
            "quorum_round_trips": self.round_trips,
            "rows": rows,
            "plot": match &self.plot {
                Some(Ok(p)) => serde_json::json!(p.display().to_string()),
                Some(Err(e)) => serde_json::json!({"error": e}),
                None => serde_json::Value::Null,
            },
        })
    }

    /// Mean latency against N: measured (solid, dots) and predicted (dashed), one colour per
    /// quorum.
    pub fn svg(&self) -> String {
        let (w, h, left, right, top, bottom) = (640.0, 400.0, 70.0, 150.0, 40.0, 50.0);
        let measured = |r: &Row| r.report.as_ref().ok().map(|b| b.load.latency_us_mean);
        let nodes: Vec<usize> = {
            let mut n: Vec<usize> = self.rows.iter().map(|r| r.nodes).collect();
            n.dedup();
            n
        };
        let (n_min, n_max) = (
            *nodes.iter().min().unwrap_or(&1) as f64,
            *nodes.iter().max().unwrap_or(&2) as f64,
        );
        let y_max = self
            .rows
            .iter()
            .flat_map(|r| [measured(r).unwrap_or(0.0), r.predicted_us])
            .fold(1.0, f64::max)
            * 1.1
            / 1000.0;
        let x = |n: f64| {
            if n_max > n_min {
                left + (n - n_min) / (n_max - n_min) * (w - left - right)
            } else {
                left + (w - left - right) / 2.0
            }
        };
        let y = |ms: f64| h - bottom - ms / y_max * (h - top - bottom);
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(
            s,
            r#"<text x="{left}" y="20">{} mean latency, delay {} ms ± {} ms</text>"#,
            self.protocol, self.delay_ms, self.jitter_ms
        );
        let _ = write!(
            s,
            r#"<line x1="{left}" y1="{0}" x2="{1}" y2="{0}" stroke="black"/><line x1="{left}" y1="{top}" x2="{left}" y2="{0}" stroke="black"/>"#,
            h - bottom,
            w - right
        );
        for n in &nodes {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="middle">{n}</text>"#,
                x(*n as f64),
                h - bottom + 16.0
            );
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">nodes</text>"#,
            (left + w - right) / 2.0,
            h - 10.0
        );
        for i in 0..=4 {
            let v = y_max * f64::from(i) / 4.0;
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{v:.1}</text>"#,
                left - 6.0,
                y(v) + 4.0
            );
        }
        let _ = write!(
            s,
            r#"<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">ms</text>"#,
            (top + h - bottom) / 2.0,
            (top + h - bottom) / 2.0
        );
        for (i, (quorum, colour)) in [("majority", "#1f77b4"), ("all", "#d62728")]
            .iter()
            .enumerate()
        {
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.quorum == *quorum).collect();
            let line = |f: &dyn Fn(&Row) -> Option<f64>| -> String {
                rows.iter()
                    .filter_map(|r| {
                        f(r).map(|us| format!("{:.1},{:.1}", x(r.nodes as f64), y(us / 1000.0)))
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                line(&|r| measured(r))
            );
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-dasharray="6 4"/>"#,
                line(&|r| Some(r.predicted_us))
            );
            for r in &rows {
                if let Some(us) = measured(r) {
                    let _ = write!(
                        s,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                        x(r.nodes as f64),
                        y(us / 1000.0)
                    );
                }
            }
            let ly = top + 20.0 * i as f64;
            let _ = write!(
                s,
                r#"<line x1="{0}" y1="{ly}" x2="{1}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{2}" y="{3}">{quorum}</text>"#,
                w - right + 10.0,
                w - right + 30.0,
                w - right + 36.0,
                ly + 4.0
            );
        }
        let ly = top + 50.0;
        let _ = write!(
            s,
            r#"<line x1="{0}" y1="{ly}" x2="{1}" y2="{ly}" stroke="gray" stroke-dasharray="6 4"/><text x="{2}" y="{3}">predicted</text></svg>"#,
            w - right + 10.0,
            w - right + 30.0,
            w - right + 36.0,
            ly + 4.0
        );
        s.push('\n');
        s
    }
}

/// Whether `path` names an SVG file (the plot is SVG only).
pub fn plot_path_ok(path: &Path) -> Result<(), String> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => Ok(()),
        _ => Err(format!(
            "--plot {}: the plot is written as SVG; name a .svg file",
            path.display()
        )),
    }
}
