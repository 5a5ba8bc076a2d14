//! `synod explore`: the web UI of `synod ui`, with a link to step through one configuration by
//! hand, tested over plain HTTP and in a real headless browser (Debian's chromium, which
//! `.ci/run` installs).

mod common;

use common::web::{browser, http, rendered_dom, wait_with_limit, Served, TempDir, BROWSERS};
use serde_json::Value;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running `synod explore ARGS`, killed on drop, and the link it printed.
struct Explorer {
    port: u16,
    link: String,
    _served: Served,
}

impl Explorer {
    fn start(args: &[&str]) -> Explorer {
        let mut all = vec!["explore"];
        all.extend_from_slice(args);
        let served = Served::start(&all);
        Explorer {
            port: served.port,
            link: served.link.clone(),
            _served: served,
        }
    }
}

#[test]
fn explore_serves_the_ui_with_a_link_to_the_configuration() {
    let e = Explorer::start(&["paxos", "--bug", "accept-lower-ballot", "--servers", "2"]);
    assert!(
        e.link.ends_with("/#/explore?protocol=paxos&p.clients=2&p.crashes=0&p.fold-promises=0&p.liveness=0&p.reads=1&p.retry-rounds=0&p.retry-timer=0&p.servers=2&p.tell-laggards=0&network=unordered-nonduplicating&bug=accept-lower-ballot&path=0"),
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
    // `synod ui` binds the same way.
    explore_expect_usage_error(&["ui", "--addr", "nonsense"], &["nonsense"]);
    explore_expect_usage_error(&["ui", "--addr", "256.1.1.1:1"], &["256.1.1.1:1"]);
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
