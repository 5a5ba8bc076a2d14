//! `synod bench` against servers that are already running ([`bench_targets`]), and the history
//! export: clusters started in this process on loopback, driven through their addresses only.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use synod::bench::{bench_targets, TargetBenchConfig};
use synod::client::LoadConfig;
use synod::lincheck::{Model, Verdict};
use synod::net::runnable::Runnable;
use synod::net::{Cluster, ClusterConfig, FaultConfig, FsyncPolicy};

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "synod-test-targets-{tag}-{}-{:?}",
        std::process::id(),
        Instant::now()
    ))
}

/// The one place these tests name a protocol's registration.
fn runnable(protocol: &str) -> Runnable {
    synod::catalog::runnable(protocol, None).unwrap()
}

/// A cluster started for one test; [`Local::stop`] stops it and removes its data directory.
struct Local {
    cluster: Cluster,
    dir: PathBuf,
}

impl Local {
    fn stop(self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A cluster of `nodes` nodes of `protocol` on loopback, and its addresses as a user would type
/// them.
fn cluster(protocol: &str, nodes: usize, tag: &str) -> (Local, Vec<String>) {
    let dir = temp_path(tag);
    let cluster = Cluster::start(ClusterConfig {
        protocol: runnable(protocol),
        nodes,
        host: Ipv4Addr::LOCALHOST,
        port: 0,
        data_dir: dir.clone(),
        fsync: FsyncPolicy::Never,
        faults: FaultConfig::default(),
        crashes: Vec::new(),
        restarts: Vec::new(),
        record: None,
    })
    .unwrap();
    let addrs = cluster.addrs().iter().map(|a| a.to_string()).collect();
    (Local { cluster, dir }, addrs)
}

fn config(targets: Vec<String>, model: Model, secs: f64) -> TargetBenchConfig {
    TargetBenchConfig {
        targets,
        load: LoadConfig {
            clients: 8,
            duration: Duration::from_secs_f64(secs),
            keys: 20,
            reads: 0.5,
            cas: 0.0,
            timeout: Duration::from_millis(200),
            retries: 5,
            seed: 3,
            ..LoadConfig::default()
        },
        model,
        check: true,
        check_budget: Duration::from_secs(30),
        history_out: None,
        record: None,
    }
}

#[test]
fn a_paxos_cluster_driven_by_address_is_linearizable_with_fresh_writes() {
    let (c, addrs) = cluster("paxos", 3, "paxos");
    let mut cfg = config(addrs.clone(), Model::WriteOnce, 1.0);
    cfg.load.fresh_writes = true;
    let r = bench_targets(&cfg).unwrap();
    c.stop();
    let text = r.to_text();
    assert_eq!(r.exit_code(), 0, "{text}");
    let check = r.lincheck.as_ref().expect("checked");
    assert_eq!(check.verdict, Verdict::Linearizable, "{text}");
    assert!(r.load.ops_ok > 0 && r.load.writes > 0, "{text}");
    // Every write is a fresh key: a write-once store has nothing to refuse.
    assert_eq!(r.load.errors.get(&22), None, "{text}");
    assert!(r.cluster.is_none() && r.protocol.is_none());
    assert!(text.starts_with("existing cluster: 3 targets"), "{text}");
    assert!(text.contains("write-once"), "{text}");
    let j = r.to_json();
    assert_eq!(j["protocol"], serde_json::Value::Null);
    assert_eq!(j["targets"], serde_json::json!(addrs));
    assert_eq!(j["model"], "write-once");
    assert_eq!(j["cluster"], serde_json::Value::Null);
    assert_eq!(j["lincheck"]["verdict"], "linearizable");
    assert!(j["load"]["ops_ok"].as_u64().unwrap() > 0);
}

#[test]
fn two_unsynchronised_servers_driven_by_address_are_caught() {
    // Two single-copy servers that never talk: clients spread over them see writes vanish.
    let (c, addrs) = cluster("single-copy-kv", 2, "split");
    let mut cfg = config(addrs, Model::Register, 0.5);
    cfg.load.clients = 4;
    cfg.load.keys = 4;
    let r = bench_targets(&cfg).unwrap();
    c.stop();
    assert!(
        matches!(
            r.lincheck.as_ref().map(|c| &c.verdict),
            Some(Verdict::NotLinearizable { .. })
        ),
        "{}",
        r.to_text()
    );
    assert_eq!(r.exit_code(), 1);
    assert!(r.to_text().contains("NOT linearizable"));
    assert_eq!(r.to_json()["lincheck"]["verdict"], "not linearizable");
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn history_out_writes_two_lines_per_operation_in_either_format() {
    let (c, addrs) = cluster("single-copy-kv", 1, "history");
    let dir = temp_path("history-files");
    std::fs::create_dir_all(&dir).unwrap();

    // JSON lines, with the check off: the history is recorded for the file anyway.
    let jsonl = dir.join("h.jsonl");
    let mut cfg = config(addrs.clone(), Model::Register, 0.3);
    cfg.load.cas = 0.2;
    cfg.check = false;
    cfg.history_out = Some(jsonl.clone());
    let r = bench_targets(&cfg).unwrap();
    assert!(r.lincheck.is_none() && r.exit_code() == 0);
    let out = r.history_out.as_ref().unwrap();
    let ops = *out.written.as_ref().unwrap();
    assert!(ops as u64 >= r.load.ops && ops > 0, "{}", r.to_text());
    let got = lines(&jsonl);
    assert_eq!(got.len(), 2 * ops);
    for line in &got {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["process"].is_u64() && v["time"].is_u64() && v["key"].is_u64(),
            "{line}"
        );
        assert!(
            ["invoke", "ok", "fail", "info"].contains(&v["type"].as_str().unwrap()),
            "{line}"
        );
    }
    let text = r.to_text();
    assert!(
        text.contains(&format!(
            "History: {ops} ops ({} lines, jsonl) written to {}",
            2 * ops,
            jsonl.display()
        )),
        "{text}"
    );
    let j = r.to_json();
    assert_eq!(j["history_out"]["ops"], ops);
    assert_eq!(j["history_out"]["format"], "jsonl");
    assert_eq!(j["history_out"]["path"], jsonl.display().to_string());

    // EDN, checked: the file holds exactly the checked operations.
    let edn = dir.join("h.edn");
    cfg.check = true;
    cfg.history_out = Some(edn.clone());
    let r = bench_targets(&cfg).unwrap();
    let checked = r.lincheck.as_ref().unwrap();
    assert_eq!(checked.verdict, Verdict::Linearizable);
    let ops = *r.history_out.as_ref().unwrap().written.as_ref().unwrap();
    assert_eq!(ops, checked.ops);
    let got = lines(&edn);
    assert_eq!(got.len(), 2 * ops);
    assert!(got.iter().all(|l| l.starts_with("{:type :")), "{got:?}");
    assert_eq!(r.to_json()["history_out"]["format"], "edn");

    // An unwritable path fails before the run, naming the path.
    cfg.history_out = Some(dir.join("no/such/dir/h.edn"));
    let e = bench_targets(&cfg).unwrap_err();
    assert!(e.contains("no/such/dir/h.edn"), "{e}");
    c.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_target_configurations_are_errors() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let e = bench_targets(&config(
        vec!["no-such-host.invalid:7000".into()],
        Model::Register,
        0.1,
    ))
    .unwrap_err();
    assert!(e.contains("no-such-host.invalid:7000"), "{e}");
    let e = bench_targets(&config(vec![], Model::Register, 0.1)).unwrap_err();
    assert!(e.contains("no targets"), "{e}");
    let mut cfg = config(vec![addr.clone()], Model::WriteOnce, 0.1);
    cfg.load.cas = 0.1;
    assert!(bench_targets(&cfg).unwrap_err().contains("no cas"));
    // Host names resolve; a silent target gives timeouts and a plain hint, not an error.
    let port = silent.local_addr().unwrap().port();
    let mut cfg = config(vec![format!("localhost:{port}")], Model::Register, 0.2);
    cfg.load.clients = 1;
    cfg.load.timeout = Duration::from_millis(50);
    cfg.load.retries = 0;
    let r = bench_targets(&cfg).unwrap();
    assert_eq!(r.load.targets, vec![addr.parse::<SocketAddr>().unwrap()]);
    assert_eq!(r.load.ops, 0);
    assert!(
        r.to_text().contains("no target answered in time"),
        "{}",
        r.to_text()
    );
}

fn synod() -> Command {
    Command::new(env!("CARGO_BIN_EXE_synod"))
}

#[test]
fn cli_client_speaks_plainly() {
    let (c, addrs) = cluster("paxos", 3, "cli-client");
    let port = addrs[0].rsplit_once(':').unwrap().1;
    let host = format!("localhost:{port}");
    let run = |args: &[&str]| {
        let out = synod().arg("client").args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert_eq!(run(&[&host, "write", "3", "7"]).1, "write_ok\n");
    let (code, out, _) = run(&[&addrs[1], "write", "3", "8"]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "error 22 (precondition failed); current value 7\n");
    let (code, out, _) = run(&[&addrs[2], "read", "3", "--json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["value"].as_u64()),
        (Some("read_ok"), Some(7))
    );
    c.stop();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let (code, _, err) = run(&[&addr, "read", "1", "--timeout-ms", "50", "--retries", "1"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "no reply from {addr} after 2 attempts in 100 ms: is a node listening there?"
        )),
        "{err}"
    );
    let (code, _, err) = run(&["no-such-host.invalid:1", "read", "1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no-such-host.invalid:1"), "{err}");
}

/// `--store write-once` without `--keys`: every write to a fresh key (the CLI's documented default).
#[test]
fn cli_bench_target_writes_the_history() {
    let (c, addrs) = cluster("paxos", 3, "cli-bench");
    let dir = temp_path("cli-history");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("h.edn");
    let out = synod()
        .args([
            "bench",
            "--target",
            &addrs.join(","),
            "--store",
            "write-once",
        ])
        .args(["--clients", "4", "--duration", "0.5"])
        .args(["--history-out", file.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    c.stop();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r["lincheck"]["verdict"], "linearizable", "{r}");
    assert_eq!(r["load"]["errors"].get("22"), None, "{r}");
    let ops = r["history_out"]["ops"].as_u64().unwrap() as usize;
    assert!(ops > 0);
    assert_eq!(lines(&file).len(), 2 * ops);
    let _ = std::fs::remove_dir_all(&dir);
}
