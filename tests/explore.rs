//! `synod explore`: the web UI of `synod ui`, with a link to step through one configuration by
//! hand, tested over plain HTTP and in a real headless browser (Debian's chromium, which
//! `.ci/run` installs).

mod common;

use common::web::{
    browser, free_port, http, rendered_dom, wait_with_limit, ChildGuard, TempDir, BROWSERS,
    STARTUP_LIMIT,
};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running `synod explore`, killed on drop, and the link it printed.
struct Explorer {
    _guard: ChildGuard,
    port: u16,
    link: String,
}

impl Explorer {
    /// Starts `synod explore ARGS` on a free loopback port; returns once it serves.
    fn start(args: &[&str]) -> Explorer {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_synod"))
            .arg("explore")
            .args(args)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn synod explore");
        let mut guard = ChildGuard(child);
        let stdout = guard.0.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the banner");
        let link = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no link in {line:?}"))
            .to_string();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < STARTUP_LIMIT,
                "synod explore did not serve"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Explorer {
            _guard: guard,
            port,
            link,
        }
    }
}

#[test]
fn explore_serves_the_ui_with_a_link_to_the_configuration() {
    let e = Explorer::start(&["paxos", "--bug", "accept-lower-ballot", "--servers", "2"]);
    assert!(
        e.link.ends_with("/#/explore?protocol=paxos&p.clients=2&p.crashes=0&p.fold-promises=0&p.reads=1&p.retry-rounds=0&p.retry-timer=0&p.servers=2&p.tell-laggards=0&network=unordered-nonduplicating&bug=accept-lower-ballot&path=0"),
        "{}",
        e.link
    );
    let (code, page) = http(e.port, "GET", "/", None);
    assert_eq!(code, 200);
    assert!(page.contains("<title>Synod</title>"), "{page}");
    let (code, body) = http(
        e.port,
        "POST",
        "/api/step",
        Some(
            r#"{"protocol":"paxos","bug":"accept-lower-ballot","params":{"servers":2},"path":[0]}"#,
        ),
    );
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let first: Vec<&str> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["message"].as_str().unwrap())
        .collect();
    assert!(first.contains(&"Write(#1 k0=1)"), "{first:?}");
}

#[test]
fn explore_refuses_symmetry() {
    explore_expect_usage_error(&["explore", "paxos", "--symmetry"], &["drop --symmetry"]);
}

fn explore_expect_usage_error(args: &[&str], needles: &[&str]) {
    let child = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn synod");
    let what = format!("synod {}", args.join(" "));
    let (status, stdout, stderr) = wait_with_limit(child, Duration::from_secs(20), &what);
    assert_eq!(
        status.code(),
        Some(2),
        "{what}: exit 2 expected\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{what}: stderr should contain {needle:?}:\n{stderr}"
        );
    }
}

#[test]
fn explore_rejects_an_invalid_address() {
    explore_expect_usage_error(
        &["explore", "paxos", "--addr", "256.1.1.1:1"],
        &["256.1.1.1:1"],
    );
    explore_expect_usage_error(&["explore", "paxos", "--addr", "nonsense"], &["nonsense"]);
}

#[test]
fn explore_rejects_a_port_in_use() {
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let addr = busy.local_addr().unwrap().to_string();
    explore_expect_usage_error(&["explore", "paxos", "--addr", &addr], &[&addr, "in use"]);
    drop(busy);
}

#[test]
fn explore_rejects_an_unknown_protocol() {
    explore_expect_usage_error(&["explore", "nosuch"], &["nosuch", "paxos"]);
}

#[test]
fn explorer_renders_in_a_real_browser() {
    let required = std::env::var("SYNOD_REQUIRE_BROWSER").as_deref() == Ok("1");
    let Some(browser) = browser() else {
        assert!(
            !required,
            "SYNOD_REQUIRE_BROWSER=1 but none of {BROWSERS:?} is on PATH: install Debian's \
             chromium (apt-get install -y --no-install-recommends chromium), as .ci/run does"
        );
        eprintln!("skipping explorer_renders_in_a_real_browser: none of {BROWSERS:?} is on PATH");
        return;
    };
    let e = Explorer::start(&["paxos", "--bug", "accept-lower-ballot"]);
    let profile = TempDir::new("explore-chromium");
    let dom = rendered_dom(&browser, &e.link, profile.path());
    for needle in [
        "Next: 2 enabled actions",
        "client 0 → server 0: Write(#1 k0=1)",
        "id=\"properties-here\"",
        "--bug accept-lower-ballot",
    ] {
        assert!(dom.contains(needle), "the page shows {needle:?}:\n{dom}");
    }
}
