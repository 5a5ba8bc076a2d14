//! The UDP runtime on real loopback sockets: clusters started and stopped, garbage datagrams, each
//! fault flag's effect, crash and restart from disk, and the `run`/`node`/`client` commands.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use synod::catalog::runnable;
use synod::client::{self, LoadConfig, ReplyBody, Request, Wire};
use synod::lincheck::{self, OpKind, Verdict};
use synod::net::codec::BINARY_V1;
use synod::net::{Cluster, ClusterConfig, FaultConfig, FsyncPolicy, NodeEvent, Partition, Target};
use synod_models::kv::KvMsg;
use synod_models::paxos::PaxosMsg;

mod common;
use common::{bench_json, SPLIT_BRAIN};

fn data_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "synod-test-net-{tag}-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn cluster(protocol: &str, nodes: usize, faults: FaultConfig, tag: &str) -> Cluster {
    cluster_with(protocol, nodes, faults, vec![], vec![], tag)
}

fn cluster_with(
    protocol: &str,
    nodes: usize,
    faults: FaultConfig,
    crashes: Vec<NodeEvent>,
    restarts: Vec<NodeEvent>,
    tag: &str,
) -> Cluster {
    Cluster::start(ClusterConfig {
        protocol: runnable(protocol, None).unwrap(),
        nodes,
        host: Ipv4Addr::LOCALHOST,
        port: 0,
        data_dir: data_dir(tag),
        fsync: FsyncPolicy::Always,
        faults,
        crashes,
        restarts,
        record: None,
    })
    .unwrap()
}

fn addr(c: &Cluster, i: usize) -> SocketAddr {
    SocketAddr::V4(c.addrs()[i])
}

fn ask(to: SocketAddr, key: u64, kind: OpKind, timeout_ms: u64, retries: u32) -> Option<String> {
    client::request(
        to,
        Request { key, kind },
        Duration::from_millis(timeout_ms),
        retries,
    )
    .ok()
    .map(|r| r.to_string())
}

fn write(to: SocketAddr, key: u64, value: u64) -> Option<String> {
    ask(to, key, OpKind::Write(value), 500, 4)
}

fn read(to: SocketAddr, key: u64) -> Option<String> {
    ask(to, key, OpKind::Read, 500, 4)
}

fn load(c: &Cluster, secs: f64, clients: usize) -> LoadConfig {
    LoadConfig {
        targets: c.addrs().iter().map(|a| SocketAddr::V4(*a)).collect(),
        wire: Wire::LinKv,
        clients,
        rate: None,
        duration: Duration::from_secs_f64(secs),
        warmup: Duration::ZERO,
        keys: 20,
        key_base: 0,
        reads: 0.5,
        cas: 0.0,
        timeout: Duration::from_millis(100),
        retries: 5,
        seed: 1,
        record_history: true,
        threads: 1,
        fresh_writes: false,
        record: None,
        retry_elsewhere: true,
    }
}

#[test]
fn a_paxos_cluster_serves_clients_and_stops_cleanly() {
    let c = cluster("paxos", 3, FaultConfig::default(), "serve");
    assert_eq!(write(addr(&c, 0), 3, 7).as_deref(), Some("write_ok"));
    assert_eq!(read(addr(&c, 1), 3).as_deref(), Some("read_ok 7"));
    let lost = write(addr(&c, 2), 3, 8).unwrap();
    assert!(lost.starts_with("error 22"), "{lost}");
    let none = read(addr(&c, 2), 4).unwrap();
    assert!(none.starts_with("error 20"), "{none}");
    let cas = ask(addr(&c, 0), 3, OpKind::Cas { from: 7, to: 8 }, 500, 0).unwrap();
    assert!(cas.starts_with("error 10"), "{cas}");
    let report = c.stop();
    assert_eq!(report.nodes.len(), 3);
    assert!(report.nodes.iter().all(|n| n.error.is_none()));
    assert_eq!(report.total.requests, 5);
    assert_eq!(report.total.undecodable + report.total.non_peer, 0);
    assert!(report.total.fsyncs > 0, "acceptor state is fsynced");
}

#[test]
fn garbage_datagrams_change_nothing_and_crash_nothing() {
    let c = cluster("paxos", 3, FaultConfig::default(), "garbage");
    assert_eq!(write(addr(&c, 0), 1, 5).as_deref(), Some("write_ok"));
    let target = addr(&c, 1);
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Random bytes, some starting with the binary version byte.
    for i in 0..200 {
        let len = (next() % 300) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 4 == 0 && !bytes.is_empty() {
            bytes[0] = BINARY_V1;
        }
        s.send_to(&bytes, target).unwrap();
    }
    // Truncated JSON, wrong types, unknown types, huge datagrams, an empty datagram.
    let json: [&[u8]; 8] = [
        br#"{"type":"write","msg_id":1,"key":1,"val"#,
        br#"{"type":"write","msg_id":2,"key":"one","value":9}"#,
        br#"{"type":"write","msg_id":3,"key":1,"value":-9}"#,
        br#"{"type":"write","msg_id":4,"key":1}"#,
        br#"{"type":"txn","msg_id":5}"#,
        br#"[1,2,3]"#,
        br#"null"#,
        b"",
    ];
    for j in json {
        s.send_to(j, target).unwrap();
    }
    let mut huge = br#"{"type":"write","msg_id":6,"key":1,"value":9,"pad":""#.to_vec();
    huge.resize(65_000, b'x');
    huge.extend_from_slice(br#""}"#);
    s.send_to(&huge, target).unwrap();
    s.send_to(&vec![0xFFu8; 65_507], target).unwrap();
    // A well-formed internal message from an address that is not a peer: a forged decision.
    let forged: KvMsg<PaxosMsg> = KvMsg::Internal(PaxosMsg::Decided { key: 1, value: 99 });
    let mut bytes = vec![BINARY_V1];
    bytes.extend(postcard::to_stdvec(&forged).unwrap());
    s.send_to(&bytes, target).unwrap();
    let forged_key2: KvMsg<PaxosMsg> = KvMsg::Internal(PaxosMsg::Decided { key: 2, value: 99 });
    let mut bytes = vec![BINARY_V1];
    bytes.extend(postcard::to_stdvec(&forged_key2).unwrap());
    s.send_to(&bytes, target).unwrap();

    // The store is unchanged: key 1 still holds 5, key 2 was never decided.
    assert_eq!(read(target, 1).as_deref(), Some("read_ok 5"));
    let k2 = read(target, 2).unwrap();
    assert!(k2.starts_with("error 20"), "forged decision taken: {k2}");
    assert!(c.is_up(1));
    // Malformed JSON with a msg_id was answered with error 12 (or 10 for the unknown type).
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut codes = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok((n, _)) = s.recv_from(&mut buf) {
        let v: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        codes.push((
            v["in_reply_to"].as_u64().unwrap(),
            v["code"].as_u64().unwrap(),
        ));
    }
    codes.sort();
    // The padded write is a valid request (unknown fields are ignored, as in Maelstrom's
    // bodies): key 1 holds 5, so writing 9 fails with 22.
    assert_eq!(codes, vec![(2, 12), (3, 12), (4, 12), (5, 10), (6, 22)]);
    let report = c.stop();
    let n1 = &report.nodes[1].counters;
    // The two forged decisions, and any random datagram that happens to decode as binary.
    assert!(n1.non_peer >= 2, "{n1:?}");
    assert!(n1.undecodable >= 150, "{n1:?}");
    assert_eq!(n1.malformed, 4, "{n1:?}");
    assert!(report.nodes.iter().all(|n| n.error.is_none()));
}

#[test]
fn loss_makes_timeouts_appear_and_retries_keep_the_history_linearizable() {
    let faults = FaultConfig {
        loss: 0.2,
        seed: 3,
        ..FaultConfig::default()
    };
    let c = cluster("paxos", 3, faults, "loss");
    let report = client::run(&load(&c, 1.5, 8)).unwrap();
    let nodes = c.stop();
    assert!(nodes.total.fault_dropped > 0);
    assert!(report.timeouts > 0, "loss shows as client timeouts");
    assert!(report.ops > 0);
    let check = lincheck::check(
        report.history.as_ref().unwrap(),
        lincheck::Model::WriteOnce,
        Duration::from_secs(30),
    );
    assert_eq!(check.verdict, Verdict::Linearizable);
}

#[test]
fn duplication_sends_datagrams_twice_and_retries_apply_once() {
    let faults = FaultConfig {
        dup: 1.0,
        seed: 4,
        ..FaultConfig::default()
    };
    let c = cluster("paxos", 3, faults, "dup");
    let report = client::run(&load(&c, 1.0, 8)).unwrap();
    let nodes = c.stop();
    assert!(nodes.total.fault_duplicated > 0);
    assert!(
        report.stale_replies > 0 || report.datagrams_received > report.ops,
        "clients saw duplicate replies"
    );
    let check = lincheck::check(
        report.history.as_ref().unwrap(),
        lincheck::Model::WriteOnce,
        Duration::from_secs(30),
    );
    assert_eq!(check.verdict, Verdict::Linearizable);
}

#[test]
fn delay_shows_in_latency() {
    let faults = FaultConfig {
        delay_ms: 20.0,
        jitter_ms: 2.0,
        seed: 5,
        ..FaultConfig::default()
    };
    let c = cluster("paxos", 3, faults, "delay");
    let mut cfg = load(&c, 1.0, 4);
    cfg.timeout = Duration::from_millis(500);
    let report = client::run(&cfg).unwrap();
    let nodes = c.stop();
    assert!(nodes.total.fault_delayed > 0);
    // Every reply is delayed about 20 ms (a write's Paxos round three times more).
    let p50 = report.latency_us_at(0.5);
    assert!(p50 >= 15_000, "p50 {p50} us");
}

#[test]
fn a_partitioned_node_cannot_decide_until_the_partition_heals() {
    let faults = FaultConfig {
        partitions: vec![Partition::parse("0@0-1.5").unwrap()],
        ..FaultConfig::default()
    };
    let c = cluster("paxos", 3, faults, "partition");
    // Node 0 is cut off from its peers: its write cannot gather a quorum.
    assert_eq!(ask(addr(&c, 0), 1, OpKind::Write(5), 300, 0), None);
    // The majority side decides on its own.
    assert_eq!(write(addr(&c, 1), 2, 6).as_deref(), Some("write_ok"));
    std::thread::sleep(Duration::from_millis(1600));
    // Healed: node 0's retried write (same msg_id from a new client, so a new round) goes through,
    // and it learns the majority's decision.
    assert!(write(addr(&c, 0), 1, 5).is_some());
    assert_eq!(read(addr(&c, 0), 2).as_deref(), Some("read_ok 6"));
    let nodes = c.stop();
    assert!(nodes.total.fault_dropped > 0);
}

#[test]
fn a_crashed_node_restarts_from_its_disk() {
    let c = cluster_with(
        "paxos",
        3,
        FaultConfig::default(),
        vec![NodeEvent {
            target: Target::Node(1),
            at: Duration::from_millis(500),
        }],
        vec![NodeEvent {
            target: Target::Node(1),
            at: Duration::from_millis(1200),
        }],
        "crash",
    );
    assert_eq!(write(addr(&c, 1), 7, 70).as_deref(), Some("write_ok"));
    std::thread::sleep(Duration::from_millis(700));
    assert!(!c.is_up(1));
    assert_eq!(
        ask(addr(&c, 1), 7, OpKind::Read, 200, 0),
        None,
        "node 1 is down"
    );
    // The others still form a majority.
    assert_eq!(write(addr(&c, 0), 8, 80).as_deref(), Some("write_ok"));
    std::thread::sleep(Duration::from_millis(700));
    assert!(c.is_up(1));
    // Node 1 recovered its acceptor state; reading key 7 there finds the accepted value.
    assert_eq!(read(addr(&c, 1), 7).as_deref(), Some("read_ok 70"));
    assert_eq!(read(addr(&c, 1), 8).as_deref(), Some("read_ok 80"));
    let report = c.stop();
    assert_eq!(report.nodes[1].counters.recoveries, 1);
    let what: Vec<&str> = report.events.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(what, ["crashed", "restarted from disk"]);
}

#[test]
fn fsync_never_skips_fsyncs() {
    let c = Cluster::start(ClusterConfig {
        protocol: runnable("paxos", None).unwrap(),
        nodes: 3,
        host: Ipv4Addr::LOCALHOST,
        port: 0,
        data_dir: data_dir("nofsync"),
        fsync: FsyncPolicy::Never,
        faults: FaultConfig::default(),
        crashes: vec![],
        restarts: vec![],
        record: None,
    })
    .unwrap();
    assert_eq!(write(addr(&c, 0), 1, 1).as_deref(), Some("write_ok"));
    let report = c.stop();
    assert!(report.total.commits > 0);
    assert_eq!(report.total.fsyncs, 0);
}

fn synod() -> Command {
    Command::new(env!("CARGO_BIN_EXE_synod"))
}

fn free_port() -> u16 {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    s.local_addr().unwrap().port()
}

#[test]
fn synod_run_prints_addresses_and_stops_after_its_duration() {
    let out = synod()
        .args([
            "run",
            "paxos",
            "--nodes",
            "3",
            "--port",
            "0",
            "--duration",
            "0.5",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.matches("127.0.0.1:").count() >= 6, "{stdout}");
    assert!(stdout.contains("node 2"), "{stdout}");
    assert!(stdout.contains("Counters:"), "{stdout}");
}

#[test]
fn synod_node_processes_form_a_cluster_and_recover_from_disk() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peers: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let dir = data_dir("nodes");
    let start = |i: usize| {
        synod()
            .args([
                "node",
                "paxos",
                "--listen",
                &peers[i],
                "--peers",
                &peers.join(","),
                "--data-dir",
                dir.join(format!("n{i}")).to_str().unwrap(),
                "--duration",
                "3",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut nodes: Vec<_> = (0..3).map(start).collect();
    let a0: SocketAddr = peers[0].parse().unwrap();
    let a2: SocketAddr = peers[2].parse().unwrap();
    assert_eq!(write(a0, 1, 11).as_deref(), Some("write_ok"));
    assert_eq!(read(a2, 1).as_deref(), Some("read_ok 11"));
    for n in nodes.iter_mut() {
        let status = n.wait().unwrap();
        assert!(status.success());
    }
    // All three restart from their disks: the decision is still there (phase 1 finds it).
    let mut nodes: Vec<_> = (0..3).map(start).collect();
    assert_eq!(read(a2, 1).as_deref(), Some("read_ok 11"));
    let lost = write(a0, 1, 12).unwrap();
    assert!(lost.starts_with("error 22"), "{lost}");
    for n in nodes.iter_mut() {
        let _ = n.kill();
        let _ = n.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_get_clear_errors() {
    let cases: [(&[&str], &str); 8] = [
        (&["run", "spec-paxos"], "cannot run on the network"),
        (
            &["run", "paxos", "--bug", "nope"],
            "possible values: ignore-promised-value",
        ),
        (&["run", "paxos", "--loss", "2"], "--loss"),
        (&["run", "paxos", "--partition", "0@5-1"], "--partition"),
        (
            &["run", "paxos", "--nodes", "2", "--crash", "5@1"],
            "no node 5",
        ),
        (
            &[
                "node",
                "paxos",
                "--listen",
                "127.0.0.1:1",
                "--peers",
                "127.0.0.1:2",
                "--data-dir",
                "/tmp/synod-never-used",
            ],
            "not one of --peers",
        ),
        (
            &[
                "node",
                "paxos",
                "--listen",
                "127.0.0.1:1",
                "--peers",
                "127.0.0.1:1",
            ],
            "--data-dir DIR is required",
        ),
        (
            &["client", "127.0.0.1:1", "cas", "1", "2"],
            "expected one of",
        ),
    ];
    for (args, want) in cases {
        let out = synod().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    let port = free_port().to_string();
    let out = synod()
        .args([
            "client",
            &format!("127.0.0.1:{port}"),
            "read",
            "1",
            "--timeout-ms",
            "50",
            "--retries",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("after 2 attempts in 100 ms: is a node listening there?"));
}

#[test]
fn reply_bodies_parse() {
    // The client decodes what the node's codec writes (a cross-check of the two codecs).
    let mut buf = Vec::new();
    let msg: KvMsg<PaxosMsg> = KvMsg::Error {
        in_reply_to: 9,
        code: synod_models::kv::ErrorCode::PreconditionFailed,
        value: Some(3),
        leader: None,
    };
    assert!(synod::net::codec::encode_json(&msg, &mut buf));
    let reply = client::decode_reply(Wire::LinKv, &buf).unwrap();
    assert_eq!(reply.in_reply_to, 9);
    assert!(matches!(reply.body, ReplyBody::Error { code: 22, .. }));
    // Error 11 from a follower names the leader by its address.
    let leader = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7002);
    let msg: KvMsg<PaxosMsg> = KvMsg::not_leader(10, Some(stateright::actor::Id::from(leader)));
    assert!(synod::net::codec::encode_json(&msg, &mut buf));
    let reply = client::decode_reply(Wire::LinKv, &buf).unwrap();
    assert!(matches!(
        reply.body,
        ReplyBody::Error { code: 11, leader: Some(l), .. } if l == std::net::SocketAddr::V4(leader)
    ));
    let _ = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
}

#[test]
fn bench_reports_throughput_latency_and_a_linearizable_history() {
    let (code, r) = bench_json(&[
        "single-copy-kv",
        "--nodes",
        "1",
        "--clients",
        "8",
        "--duration",
        "0.5",
        "--cas",
        "0.2",
    ]);
    assert_eq!(code, Some(0), "{r}");
    let load = &r["load"];
    assert!(load["ops"].as_u64().unwrap() > 100, "{r}");
    assert!(load["cas"].as_u64().unwrap() > 0, "{r}");
    for field in [
        "latency_us_p50",
        "latency_us_p99",
        "latency_us_p999",
        "latency_us_max",
    ] {
        assert!(load[field].as_u64().unwrap() > 0, "{field}: {r}");
    }
    assert_eq!(r["lincheck"]["verdict"], "linearizable", "{r}");
    assert!(r["cluster"]["total"]["requests"].as_u64().unwrap() > 100);
}

#[test]
fn bench_catches_two_unsynchronised_servers_on_the_network() {
    // The checker's counterexample, reproduced on real sockets: clients spread over two
    // single-copy servers that never talk see their writes vanish.
    let (code, r) = bench_json(&[&SPLIT_BRAIN[..], &["--duration", "0.5"]].concat());
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(r["lincheck"]["verdict"], "not linearizable", "{r}");
    let all = r["lincheck"]["detail"]["ops"].as_array().unwrap().len();
    // The shortest failing prefix ends at the operation no linearization explains.
    let prefix = &r["lincheck"]["detail"]["shortest_failing_prefix"];
    let shown = prefix["ops"].as_array().unwrap().len();
    assert!(shown >= 2 && shown <= all, "{prefix}");
    assert!(prefix["at_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_crash_restart_exposes_a_volatile_store() {
    // volatile-store never saves: the crash and restart lose acknowledged writes, and the
    // recorded history shows it. The correct server recovers them from its disk.
    let args = |bug: bool| {
        let mut a = vec![
            "single-copy-kv",
            "--nodes",
            "1",
            "--clients",
            "4",
            "--keys",
            "4",
            // Mostly reads: the first operation on a key after the restart is almost surely a
            // read that finds it gone (all four keys' first being writes: 1 in 10,000).
            "--reads",
            "0.9",
            "--duration",
            "1.2",
            "--timeout-ms",
            "100",
            "--crash",
            "0@0.4",
            "--restart",
            "0@0.6",
        ];
        if bug {
            a.extend(["--bug", "volatile-store"]);
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| bench_json(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    let (code, r) = run(args(false));
    assert_eq!(code, Some(0), "{r}");
    assert!(
        r["load"]["timeouts"].as_u64().unwrap() > 0,
        "the crash shows"
    );
    assert_eq!(r["cluster"]["nodes"][0]["counters"]["recoveries"], 1, "{r}");
    let (code, r) = run(args(true));
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(r["lincheck"]["verdict"], "not linearizable", "{r}");
}

#[test]
fn bench_open_loop_and_compare() {
    let (code, r) = bench_json(&[
        "paxos",
        "--rate",
        "2000",
        "--clients",
        "16",
        "--duration",
        "0.5",
        "--compare",
        "--seed",
        "9",
    ]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["load"]["mode"], "open");
    let ops = r["load"]["ops"].as_u64().unwrap();
    assert!((700..=1100).contains(&ops), "about 2000/s for 0.5 s: {ops}");
    assert_eq!(r["faults"]["seed"], 9);
    let names: Vec<&str> = r["baselines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["spawn", "single-copy-kv", "echo"]);
    for b in r["baselines"].as_array().unwrap() {
        assert!(b["load"]["ops"].as_u64().unwrap() > 0, "{b}");
        assert!(b["ratio"].as_f64().unwrap() > 0.0, "{b}");
    }
}

/// SIGINT (Ctrl-C), SIGTERM (what systemd and container runtimes send) and SIGHUP all stop a
/// cluster cleanly: counters printed, exit 0, and the temporary data directory removed.
#[test]
fn synod_run_stops_cleanly_on_sigint_sigterm_and_sighup() {
    use std::io::{BufRead, BufReader, Read};
    /// Kills the process if the test fails before it stops it (no orphan `synod run`).
    struct KillOnDrop(u32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-9", &self.0.to_string()])
                .status();
        }
    }
    for signal in ["INT", "TERM", "HUP"] {
        let mut child = synod()
            .args(["run", "single-copy-kv", "--nodes", "1", "--port", "0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _guard = KillOnDrop(child.id());
        // Wait for the banner, which names the temporary directory.
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        while !banner.contains("to stop") {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "SIG{signal}: {banner}"
            );
            banner.push_str(&line);
        }
        let dir = banner
            .split("data in ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("the banner names the data directory: {banner}"))
            .to_string();
        // The node creates its directory as it starts.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !Path::new(&dir).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(Path::new(&dir).exists(), "{dir}");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "SIG{signal}: {status:?}\n{banner}{rest}");
        assert!(rest.contains("Counters:"), "SIG{signal}: {rest}");
        assert!(
            !Path::new(&dir).exists(),
            "SIG{signal}: the temporary directory {dir} is removed"
        );
    }
}

#[test]
fn paxos_with_many_keys_stays_linearizable_through_a_restart() {
    // Thousands of keys (each a fresh Paxos instance, past KeyMap's inline form), one node
    // crashed and restarted from its write-ahead file meanwhile.
    let (code, r) = bench_json(&[
        "paxos",
        "--keys",
        "100000",
        "--clients",
        "16",
        "--duration",
        "1.2",
        "--timeout-ms",
        "100",
        "--crash",
        "1@0.4",
        "--restart",
        "1@0.6",
    ]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["lincheck"]["verdict"], "linearizable", "{r}");
    assert!(r["lincheck"]["keys"].as_u64().unwrap() > 500, "{r}");
    assert_eq!(r["cluster"]["nodes"][1]["counters"]["recoveries"], 1, "{r}");
}

/// Duplication applies to client requests on their way in (delivered again a little later), so
/// a server without at-most-once sessions is caught on real sockets as in the checker; with
/// sessions the same faults stay linearizable.
#[test]
fn duplicated_client_requests_expose_a_server_without_sessions() {
    let args = |bug: bool| {
        let mut a = vec![
            "single-copy-kv",
            "--nodes",
            "1",
            "--clients",
            "16",
            "--keys",
            "20",
            "--dup",
            "0.5",
            "--duration",
            "1",
            "--seed",
            "3",
        ];
        if bug {
            a.extend(["--bug", "no-dedup"]);
        }
        a
    };
    let (code, r) = bench_json(&args(true));
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(r["lincheck"]["verdict"], "not linearizable");
    assert!(r["cluster"]["total"]["fault_duplicated"].as_u64().unwrap() > 100);
    let (code, r) = bench_json(&args(false));
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["lincheck"]["verdict"], "linearizable");
    // The JSON counts the checked history; the text repeats the faults and their seed.
    assert!(r["load"]["history_ops"].as_u64().unwrap() > 100, "{r}");
    let out = synod().arg("bench").args(args(false)).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Faults (seed 3): dup 0.5"), "{text}");
}

/// A node listens on the address its peers know it by: 0.0.0.0 or port 0 would send from an
/// address its peers drop as a stranger.
#[test]
fn unspecified_addresses_are_refused() {
    for args in [
        vec![
            "node",
            "paxos",
            "--listen",
            "0.0.0.0:7400",
            "--peers",
            "0.0.0.0:7400,127.0.0.1:7401",
            "--data-dir",
            "/tmp/synod-never-used",
        ],
        vec![
            "node",
            "paxos",
            "--listen",
            "127.0.0.1:0",
            "--peers",
            "127.0.0.1:0,127.0.0.1:7401",
            "--data-dir",
            "/tmp/synod-never-used",
        ],
        vec!["run", "paxos", "--host", "0.0.0.0", "--duration", "1"],
    ] {
        let out = synod().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("0.0.0.0") || stderr.contains("port 0"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!Path::new("/tmp/synod-never-used").exists());
}

/// A node that cannot use its data directory ends `synod run` at once, non-zero, naming the path,
/// instead of "Serving ..." until Ctrl-C.
#[test]
fn run_exits_at_once_when_a_node_fails() {
    let started = Instant::now();
    let out = synod()
        .args([
            "run",
            "single-copy-kv",
            "--nodes",
            "1",
            "--port",
            "0",
            "--data-dir",
            "/dev/null/synod",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("/dev/null/synod"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A cluster on fixed loopback ports (a restart on the same data directory needs the same
/// addresses: they are the nodes' identities). Retries with other ports if one is taken.
fn fixed_cluster(protocol: &str, nodes: usize, dir: &Path) -> Result<Cluster, String> {
    let mut last = String::new();
    for _ in 0..20 {
        let base = free_port();
        if base > 65_000 {
            continue;
        }
        match Cluster::start(ClusterConfig {
            protocol: runnable(protocol, None).unwrap(),
            nodes,
            host: Ipv4Addr::LOCALHOST,
            port: base,
            data_dir: dir.to_path_buf(),
            fsync: FsyncPolicy::Always,
            faults: FaultConfig::default(),
            crashes: vec![],
            restarts: vec![],
            record: None,
        }) {
            Ok(c) => return Ok(c),
            Err(e) if e.contains("cannot bind") => last = e,
            Err(e) => return Err(e),
        }
    }
    panic!("no free ports: {last}")
}

/// Issue 9's safety scenario: keys decided through node 0, then nodes 1 and 2 lose their
/// snapshots. Started alone they would form a quorum that forgot its promises and accepts, and
/// decide other values for the same write-once keys. They refuse to start instead, naming the
/// file, and change nothing.
#[test]
fn paxos_acceptors_that_lost_their_snapshot_refuse_to_start() {
    let dir = data_dir("lost-snapshot");
    let c = fixed_cluster("paxos", 3, &dir).unwrap();
    let addrs = c.addrs().to_vec();
    let a0 = SocketAddr::V4(addrs[0]);
    for key in 1..=20 {
        assert_eq!(write(a0, key, 100 + key).as_deref(), Some("write_ok"));
    }
    c.stop();
    for node in [1, 2] {
        std::fs::remove_file(dir.join(format!("node{node}/snapshot"))).unwrap();
    }
    let before: Vec<_> = std::fs::read_dir(dir.join("node1"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    // The same addresses as before.
    let again = Cluster::start(ClusterConfig {
        protocol: runnable("paxos", None).unwrap(),
        nodes: 3,
        host: Ipv4Addr::LOCALHOST,
        port: addrs[0].port(),
        data_dir: dir.clone(),
        fsync: FsyncPolicy::Always,
        faults: FaultConfig::default(),
        crashes: vec![],
        restarts: vec![],
        record: None,
    });
    let err = match again {
        Ok(c) => {
            c.stop();
            panic!("a node without its snapshot started")
        }
        Err(e) => e,
    };
    assert!(
        err.contains("node1/snapshot") && err.contains("missing"),
        "{err}"
    );
    let after: Vec<_> = std::fs::read_dir(dir.join("node1"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "nothing deleted");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two `synod node` processes on one directory: the second is refused with the holder's pid; a
/// node of another protocol (or shape) on a directory is refused with both shapes; and
/// `check-data` describes the directory without touching it.
#[test]
fn a_data_directory_is_locked_and_remembers_what_wrote_it() {
    let dir = data_dir("locked");
    let me = format!("127.0.0.1:{}", free_port());
    let other = format!("127.0.0.1:{}", free_port());
    let node_at = |protocol: &str, me: &str| {
        let mut c = synod();
        c.args([
            "node",
            protocol,
            "--listen",
            me,
            "--peers",
            me,
            "--data-dir",
            dir.to_str().unwrap(),
            "--duration",
            "3",
        ]);
        c
    };
    let node = |protocol: &str| node_at(protocol, &me);
    let mut first = node("single-copy-kv")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it serves.
    let to: SocketAddr = me.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while write(to, 1, 7).is_none() {
        assert!(Instant::now() < deadline, "the first node never answered");
    }
    // (Another address: the first node holds this one's port.)
    let out = node_at("single-copy-kv", &other).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("in use") && stderr.contains(&first.id().to_string()),
        "the second node names the holder: {stderr}"
    );
    let report = synod()
        .args(["check-data", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert_eq!(report.status.code(), Some(0), "{text}");
    assert!(text.contains("single-copy-kv node 0 of 1"), "{text}");
    let _ = first.kill();
    let _ = first.wait();
    let out = node("paxos").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("single-copy-kv") && stderr.contains("paxos"),
        "both shapes: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
