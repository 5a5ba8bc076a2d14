//! `synod explore`: stateright's Explorer served for a catalog entry, tested over plain HTTP and
//! in a real headless browser (Debian's chromium, which `.ci/run` installs).
//!
//! The Explorer's URL scheme (stateright 0.31, src/checker/explorer.rs): `GET /.status` is the
//! checker's status; `GET /.states` lists the initial states; `GET /.states/I/A1/A2/...` lists the
//! successors of the state reached from initial state number `I` by the actions numbered `A1`,
//! `A2`, ... (each the `actionIndex` of an entry of the previous listing). Path segments are these
//! indices, not state fingerprints: a fingerprint there is a 404.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The browsers the browser test looks for on PATH, in order.
const BROWSERS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// The first browser on PATH. Without one the browser test prints one line and skips, unless
/// `SYNOD_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs Debian's chromium) makes it fail.
fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}
const STARTUP_LIMIT: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Kills and reaps the child when dropped, so a failed assertion never leaves a server running.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for the child to exit, killing it after `limit`. Returns its status, stdout, stderr.
fn wait_with_limit(child: Child, limit: Duration, what: &str) -> (ExitStatus, String, String) {
    let mut guard = ChildGuard(child);
    let mut stdout = guard.0.stdout.take();
    let mut stderr = guard.0.stderr.take();
    // Read both pipes on their own threads so a full pipe never blocks the child.
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = stdout.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = stderr.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = guard.0.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = guard.0.kill();
            let _ = guard.0.wait();
            panic!(
                "{what} did not exit within {limit:?}; stderr:\n{}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    )
}

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

/// A minimal HTTP/1.1 GET: returns the status code and the body (Content-Length or to EOF).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the explorer");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    stream.flush().expect("flush the request");

    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).expect("read the response head");
        assert!(
            n > 0,
            "GET {path}: connection closed before the headers ended"
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut body = buf[header_end + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: bad status line in {head:?}"));
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    match length {
        Some(len) => {
            while body.len() < len {
                let n = stream.read(&mut chunk).expect("read the response body");
                assert!(n > 0, "GET {path}: body shorter than Content-Length {len}");
                body.extend_from_slice(&chunk[..n]);
            }
            body.truncate(len);
        }
        None => {
            stream.read_to_end(&mut body).expect("read the body to EOF");
        }
    }
    (status, String::from_utf8(body).expect("the body is UTF-8"))
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

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("synod-explore-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads the UI in headless chromium and returns the DOM after its JavaScript ran.
fn rendered_dom(browser: &Path, url: &str, profile: &Path) -> String {
    let child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let (status, dom, stderr) = wait_with_limit(child, Duration::from_secs(60), "the browser");
    assert!(
        status.success(),
        "{} failed ({status}):\n{stderr}",
        browser.display()
    );
    dom
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
