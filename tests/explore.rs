//! `synod explore`: stateright's Explorer served for a catalog entry, tested over plain HTTP and
//! in a real headless browser (Debian's chromium, which `.ci/run` installs).
//!
//! The Explorer's URL scheme (stateright 0.31, src/checker/explorer.rs): `GET /.status` is the
//! checker's status; `GET /.states` lists the initial states; `GET /.states/I/A1/A2/...` lists the
//! successors of the state reached from initial state number `I` by the actions numbered `A1`,
//! `A2`, ... (each the `actionIndex` of an entry of the previous listing). Path segments are these
//! indices, not state fingerprints: a fingerprint there is a 404.

mod common;

use common::web::{
    browser, free_port, http_get, rendered_dom, wait_with_limit, ChildGuard, TempDir, BROWSERS,
    STARTUP_LIMIT,
};
use serde_json::Value;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running `synod explore`, killed on drop.
struct Explorer {
    guard: ChildGuard,
    port: u16,
}

impl Explorer {
    /// Starts `synod explore paxos` on a free loopback port and waits until it accepts connections.
    fn start() -> Explorer {
        // Another process may grab the free port between our probe and the child's bind: retry.
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let child = Command::new(env!("CARGO_BIN_EXE_synod"))
                .args(["explore", "paxos", "--addr", &format!("127.0.0.1:{port}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn synod explore");
            let mut guard = ChildGuard(child);
            let started = Instant::now();
            loop {
                if let Some(status) = guard.0.try_wait().expect("try_wait") {
                    let mut stderr = String::new();
                    if let Some(mut e) = guard.0.stderr.take() {
                        let _ = e.read_to_string(&mut stderr);
                    }
                    last_error = format!("synod explore exited early ({status}): {stderr}");
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Explorer { guard, port };
                }
                assert!(
                    started.elapsed() < STARTUP_LIMIT,
                    "synod explore did not accept connections on port {port} within {STARTUP_LIMIT:?}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("could not start the explorer: {last_error}");
    }

    fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path)
    }

    /// GETs `path`, asserts 200, and parses the body as JSON.
    fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path} is not JSON ({e}): {body}"))
    }

    fn assert_alive(&mut self) {
        assert!(
            self.guard.0.try_wait().expect("try_wait").is_none(),
            "the explorer died"
        );
    }
}

fn as_list<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is a JSON array: {v}"))
}

#[test]
fn explorer_serves_status_and_states_over_http() {
    let mut explorer = Explorer::start();

    // The UI itself.
    let (status, index) = explorer.get("/");
    assert_eq!(status, 200);
    assert!(index.contains("Stateright Explorer"), "{index}");
    let (status, app) = explorer.get("/app.js");
    assert_eq!(status, 200);
    assert!(app.contains("/.status"), "app.js fetches /.status");

    // /.status: the model, counts, and the catalog's properties.
    let st = explorer.get_json("/.status");
    let model = st["model"].as_str().expect("model is a string");
    assert!(model.contains("paxos"), "the model is paxos: {model}");
    for key in ["state_count", "unique_state_count", "max_depth"] {
        assert!(st[key].is_u64(), "{key} in {st}");
    }
    assert!(st["done"].is_boolean(), "{st}");
    let names: Vec<&str> = as_list(&st["properties"], "properties")
        .iter()
        .map(|p| p[1].as_str().expect("[expectation, name, discovery]"))
        .collect();
    for name in ["agreement", "validity", "linearizable", "value chosen"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    // /.states: the initial states.
    let inits = explorer.get_json("/.states");
    let inits = as_list(&inits, "/.states");
    assert!(!inits.is_empty(), "at least one initial state");
    let init = &inits[0];
    assert_eq!(init["actionIndex"], 0, "{init}");
    assert!(init["state"].is_string(), "{init}");
    let init_fingerprint = init["fingerprint"]
        .as_str()
        .expect("a state has a fingerprint")
        .to_string();
    assert!(
        init.get("action").is_none(),
        "an initial state has no action"
    );

    // /.states/0: the successors of initial state 0, each reached by an action.
    let next = explorer.get_json("/.states/0");
    let next = as_list(&next, "/.states/0");
    assert!(!next.is_empty(), "the initial state has successors");
    for step in next {
        assert!(step["action"].is_string(), "{step}");
        assert!(step["actionIndex"].is_u64(), "{step}");
    }
    assert!(
        next.iter()
            .any(|s| s["action"].as_str().unwrap().contains("Write")),
        "a client's write is deliverable first: {next:?}"
    );
    let first = next
        .iter()
        .find(|s| s["state"].is_string())
        .expect("some action changes the state");
    assert_ne!(
        first["fingerprint"].as_str(),
        Some(init_fingerprint.as_str())
    );

    // One level deeper, by action index.
    let deeper_path = format!("/.states/0/{}", first["actionIndex"]);
    let deeper = explorer.get_json(&deeper_path);
    let deeper = as_list(&deeper, &deeper_path);
    assert!(!deeper.is_empty(), "{deeper_path} has successors");
    assert!(
        deeper
            .iter()
            .any(|s| s["action"].as_str().unwrap_or("").contains("Prepare")),
        "after a write reaches a server, it sends Prepare: {deeper:?}"
    );
    // Each step carries a sequence diagram of its path: actor timelines and, two steps in, the
    // arrow of the delivered Write.
    let svg = deeper[0]["svg"].as_str().unwrap_or("");
    assert!(svg.starts_with("<svg"), "a sequence diagram: {svg}");
    assert!(
        svg.contains("server 0") && svg.contains("client 0"),
        "{svg}"
    );
    assert!(svg.contains("marker-end='url(#arrow)'"), "an arrow: {svg}");
    assert!(
        svg.contains("Write(#1 k0=1)"),
        "the delivered message is labelled: {svg}"
    );

    // Segments are action indices, not fingerprints; a bad path is a 404, not a crash.
    let (status, body) = explorer.get(&format!("/.states/{init_fingerprint}"));
    assert_eq!(status, 404, "{body}");
    let (status, _) = explorer.get("/.states/0/99999");
    assert_eq!(status, 404);
    let (status, _) = explorer.get("/.states/zero");
    assert_eq!(status, 404);
    explorer.assert_alive();
    let st = explorer.get_json("/.status");
    assert!(st["state_count"].is_u64(), "still serving after bad paths");
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
        eprintln!(
            "skipping explorer_renders_in_a_real_browser: none of {BROWSERS:?} is on PATH \
             (install chromium to run it; SYNOD_REQUIRE_BROWSER=1 makes it mandatory)"
        );
        return;
    };
    let explorer = Explorer::start();
    let profile = TempDir::new("chromium-profile");
    // `#/steps/0` makes the app fetch /.status, /.states and /.states/0 and render them.
    let url = format!("http://127.0.0.1:{}/#/steps/0", explorer.port);
    let dom = rendered_dom(&browser, &url, profile.path());
    assert!(
        dom.contains("Stateright Explorer"),
        "the page loaded:\n{dom}"
    );
    // Rendered from /.status: the properties and the model's (shortened) type name.
    for p in [
        "Always agreement",
        "Always validity",
        "Always linearizable",
        "Sometimes value chosen",
    ] {
        assert!(dom.contains(p), "the DOM lists {p:?} from /.status:\n{dom}");
    }
    assert!(
        dom.contains("PaxosServer"),
        "the model name from /.status:\n{dom}"
    );
    // Rendered from /.states: the path starts at an initial state; from /.states/0: the next
    // actions are the clients' writes.
    assert!(
        dom.contains("Init 0"),
        "the initial state from /.states:\n{dom}"
    );
    assert!(
        dom.contains("Write(#1 k0=1)"),
        "the next actions from /.states/0:\n{dom}"
    );
    // The template's placeholders are gone.
    for placeholder in [">MODEL<", ">PROPERTY<", ">NEXT<", "loading..."] {
        assert!(
            !dom.contains(placeholder),
            "placeholder {placeholder:?} was not replaced:\n{dom}"
        );
    }
}
