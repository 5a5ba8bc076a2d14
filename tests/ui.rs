//! `synod ui`: its JSON API over plain HTTP, and its pages in a real headless browser (Debian's
//! chromium, which `.ci/run` installs): the catalog, a check's results, a counterexample's trace
//! view reached by a deep link, a trace file written by `check --trace-out`, recorded real runs
//! (`--record`) as time-space diagrams, and message fields on hover. Screenshots of each page go
//! to `target/ui-screenshots/` for a reviewer.

mod common;

use common::web::{browser, http, rendered_dom_within, screenshot, Cdp, Served, TempDir, BROWSERS};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A running `synod ui` on a free loopback port, killed on drop.
struct Ui {
    _served: Served,
    port: u16,
}

impl Ui {
    fn start() -> Ui {
        let served = Served::start(&["ui"]);
        let port = served.port;
        Ui {
            _served: served,
            port,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let (code, text) = http(self.port, method, path, body);
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {:.500}", text));
        (code, value)
    }

    /// Polls `GET /api/check` until the check is no longer running.
    fn wait_done(&self) -> Value {
        let started = Instant::now();
        loop {
            let (code, v) = self.call("GET", "/api/check", None);
            assert_eq!(code, 200);
            if v["status"] != "running" {
                return v;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the check did not end: {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, fragment: &str) -> String {
        format!("http://127.0.0.1:{}/{fragment}", self.port)
    }
}

/// `synod check ... --format json` run by the CLI, for comparison.
fn cli_check(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .arg("check")
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("run synod check");
    serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).expect("check prints JSON")
}

fn property<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no property {name}: {report}"))
}

const PAXOS_BUG: &str = r#"{"protocol":"paxos","bug":"accept-lower-ballot"}"#;

#[test]
fn the_api_runs_a_check_to_the_same_shortest_counterexample_as_the_cli() {
    let ui = Ui::start();
    let (code, catalog) = ui.call("GET", "/api/catalog", None);
    assert_eq!(code, 200);
    let names: Vec<&str> = catalog
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for p in ["paxos", "raft", "multi-paxos", "single-copy-kv"] {
        assert!(names.contains(&p), "{names:?}");
    }
    let (code, idle) = ui.call("GET", "/api/check", None);
    assert_eq!((code, idle["status"].as_str()), (200, Some("idle")));

    let (code, started) = ui.call("POST", "/api/check", Some(PAXOS_BUG));
    assert_eq!(code, 202, "{started}");
    let done = ui.wait_done();
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["request"]["protocol"], "paxos");
    assert!(
        done["progress"]["unique_states"].as_u64().unwrap() > 0,
        "{done}"
    );
    let ui_trace = &property(&done["report"], "agreement")["trace"];
    let cli = cli_check(&["paxos", "--bug", "accept-lower-ballot"]);
    let cli_trace = &property(&cli, "agreement")["trace"];
    assert_eq!(ui_trace["shortest"], true);
    assert_eq!(ui_trace["steps"], cli_trace["steps"], "the same trace");
    let steps = ui_trace["steps"].as_array().unwrap().len();
    assert_eq!(steps, 10);
    // The viewer's input: every actor's state before the first step and after each.
    let states = ui_trace["states"].as_array().unwrap();
    assert_eq!(states.len(), steps + 1);
    assert_eq!(states[0]["actors"].as_array().unwrap().len(), 5);
    assert!(states[0]["in_flight"].as_array().unwrap().len() >= 2);
    // Paxos's own view at the end: key 0's promised and accepted ballots and decided values,
    // one row per server, two servers deciding different values (the violation itself).
    let view = &states[steps]["view"][0];
    assert_eq!(view["title"], "key 0", "{view}");
    assert_eq!(
        view["columns"],
        serde_json::json!(["server", "promised", "accepted", "decided"])
    );
    let decided: Vec<&str> = view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[3]["text"].as_str().unwrap())
        .filter(|d| *d != "-")
        .collect();
    assert!(
        decided.len() >= 2 && decided.iter().any(|d| *d != decided[0]),
        "two servers decided different values: {view}"
    );
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let ui = Ui::start();
    let cases = [
        (r#"{"protocol":"paxoz"}"#, "valid protocols: paxos"),
        (
            r#"{"protocol":"paxos","params":{"servers":99}}"#,
            "--servers 99 is out of range",
        ),
        (r#"{"protocol":"paxos","bug":"nope"}"#, "unknown bug 'nope'"),
        (
            r#"{"protocol":"paxos","strategy":"bogo"}"#,
            "unknown strategy 'bogo'",
        ),
        (
            r#"{"protocol":"paxos","colour":1}"#,
            "unknown field `colour`",
        ),
        ("not json", "bad check request"),
    ];
    for (body, needle) in cases {
        let (code, v) = ui.call("POST", "/api/check", Some(body));
        assert_eq!(code, 400, "{body}: {v}");
        let error = v["error"].as_str().unwrap();
        assert!(error.contains(needle), "{body}: {error}");
    }
    let (code, v) = ui.call("GET", "/api/nothing", None);
    assert_eq!(code, 404, "{v}");
}

/// One check at a time: a second is refused while the first runs, and Stop ends the first
/// with what it found, marked interrupted.
#[test]
fn one_check_at_a_time_and_stop_interrupts_it() {
    let ui = Ui::start();
    let long = r#"{"protocol":"multi-paxos","params":{"ops":3},"threads":1}"#;
    let (code, v) = ui.call("POST", "/api/check", Some(long));
    assert_eq!(code, 202, "{v}");
    let (code, v) = ui.call("POST", "/api/check", Some(PAXOS_BUG));
    assert_eq!(code, 409, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("multi-paxos is running"),
        "{v}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let (code, v) = ui.call("POST", "/api/check/stop", None);
    assert_eq!((code, v["status"].as_str()), (200, Some("stopping")));
    let done = ui.wait_done();
    assert_eq!(done["report"]["stopped"], "interrupted", "{done}");
    assert_eq!(done["report"]["complete"], false);
    // Now the next one may start.
    let (code, v) = ui.call("POST", "/api/check", Some(PAXOS_BUG));
    assert_eq!(code, 202, "{v}");
    ui.wait_done();
}

/// A trace file written by `check --trace-out` (this test's own).
fn trace_file(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("agreement.json");
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .args([
            "check",
            "paxos",
            "--bug",
            "accept-lower-ballot",
            "--trace-out",
        ])
        .arg(&path)
        .output()
        .expect("run synod check");
    assert_eq!(out.status.code(), Some(1));
    path
}

#[test]
fn trace_files_are_served_only_when_they_hold_a_trace() {
    let ui = Ui::start();
    let dir = TempDir::new("ui-trace-files");
    let path = trace_file(&dir);
    let (code, v) = ui.call(
        "GET",
        &format!("/api/trace-file?path={}", path.display()),
        None,
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["trace"]["steps"].as_array().unwrap().len(), 10);
    let not_trace = dir.path().join("other.json");
    std::fs::write(&not_trace, "{\"x\":1}").unwrap();
    for (path, code, needle) in [
        (
            not_trace.display().to_string(),
            400,
            "holds neither a trace nor a recording",
        ),
        ("/etc/passwd".to_string(), 400, "ends in .json"),
        ("/no/such/file.json".to_string(), 404, "cannot read"),
    ] {
        let (got, v) = ui.call("GET", &format!("/api/trace-file?path={path}"), None);
        assert_eq!(got, code, "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains(needle), "{v}");
    }
}

/// Interactive stepping: the actions enabled after a path, each described like a trace step,
/// crashes among them when the settings allow one, and a path that leaves the state space is
/// refused with the step where it does.
#[test]
fn stepping_by_hand_lists_the_enabled_actions() {
    let ui = Ui::start();
    let (code, v) = ui.call(
        "POST",
        "/api/step",
        Some(r#"{"protocol":"multi-paxos","params":{"crashes":1},"path":[0]}"#),
    );
    assert_eq!(code, 200, "{v}");
    let kinds: Vec<&str> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"deliver") && kinds.contains(&"timeout"),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"crash"), "{kinds:?}");
    assert_eq!(v["trace"]["steps"].as_array().unwrap().len(), 0);
    // Follow the first action twice: the trace grows by one step each time.
    let (code, v) = ui.call(
        "POST",
        "/api/step",
        Some(r#"{"protocol":"multi-paxos","params":{"crashes":1},"path":[0,0,0]}"#),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["trace"]["steps"].as_array().unwrap().len(), 2);
    assert_eq!(v["trace"]["states"].as_array().unwrap().len(), 3);
    for p in v["properties"].as_array().unwrap() {
        assert!(p["condition"].is_boolean(), "{p}");
    }
    let (code, v) = ui.call(
        "POST",
        "/api/step",
        Some(r#"{"protocol":"paxos","path":[0,99]}"#),
    );
    assert_eq!(code, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("step 1 of the path: action 99"),
        "{v}"
    );
}

/// Raft and Multi-Paxos draw their servers' logs (RaftScope-style): a row per server with its
/// role and term or ballot, and a column per log index or slot.
#[test]
fn replicated_logs_have_a_protocol_view() {
    let ui = Ui::start();
    for (protocol, title, columns) in [
        (
            "raft",
            "Servers and logs",
            ["server", "role", "term", "voted for", "commit"],
        ),
        (
            "multi-paxos",
            "Replicas and slots",
            ["replica", "role", "promised", "applied", ""],
        ),
    ] {
        let body = format!(r#"{{"protocol":"{protocol}","path":[0]}}"#);
        let (code, v) = ui.call("POST", "/api/step", Some(&body));
        assert_eq!(code, 200, "{v}");
        let view = &v["trace"]["states"][0]["view"][0];
        assert!(view["title"].as_str().unwrap().starts_with(title), "{view}");
        let have: Vec<&str> = view["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for c in columns.iter().filter(|c| !c.is_empty()) {
            assert!(have.contains(c), "{protocol}: {have:?}");
        }
        assert_eq!(view["rows"].as_array().unwrap().len(), 3, "{view}");
        assert_eq!(view["rows"][0][1]["text"], "follower", "{view}");
    }
}

fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("ui-screenshots")
}

#[test]
fn the_pages_render_in_a_real_browser() {
    let required = std::env::var("SYNOD_REQUIRE_BROWSER").as_deref() == Ok("1");
    let Some(browser) = browser() else {
        assert!(
            !required,
            "SYNOD_REQUIRE_BROWSER=1 but none of {BROWSERS:?} is on PATH"
        );
        eprintln!("skipping the_pages_render_in_a_real_browser: none of {BROWSERS:?} is on PATH");
        return;
    };
    let ui = Ui::start();
    let profile = TempDir::new("ui-chromium");
    let shots = screenshot_dir();
    let dom =
        |fragment: &str| rendered_dom_within(&browser, &ui.url(fragment), profile.path(), 20_000);

    // The catalog: each protocol, its parameter form, its bugs and properties.
    let page = dom("#/p/paxos");
    for needle in [
        "data-protocol=\"multi-paxos\"",
        "data-param=\"servers\"",
        "<option value=\"accept-lower-ballot\">",
        "id=\"check\"",
        "agreement",
    ] {
        assert!(page.contains(needle), "catalog lacks {needle:?}:\n{page}");
    }
    screenshot(
        &browser,
        &ui.url("#/p/paxos"),
        profile.path(),
        &shots.join("catalog.png"),
    );

    // A check's results: the counterexample is the shortest, as `check` reports it.
    let check = "#/check?protocol=paxos&bug=accept-lower-ballot";
    let page = dom(check);
    assert!(
        page.contains("counterexample: 10 steps (shortest)"),
        "results:\n{page}"
    );
    assert!(page.contains("class=\"verdict violated\""), "{page}");
    screenshot(
        &browser,
        &ui.url(check),
        profile.path(),
        &shots.join("results.png"),
    );

    // The trace view, by a deep link to step 6 (server 1's Accepted reaches server 0): the
    // step count is the CLI's, the step is selected in the list and the diagram, and the actor
    // it changed is highlighted.
    let trace = format!("{check}&prop=agreement&step=6");
    let page = dom(&trace);
    assert!(page.contains("data-steps=\"10\""), "trace length:\n{page}");
    assert!(page.contains("step 6 of 10"), "{page}");
    assert!(
        page.contains("class=\"selected\" data-step=\"6\""),
        "the step list selects step 6:\n{page}"
    );
    assert!(
        page.contains("class=\"row selected\" data-step=\"6\""),
        "the diagram selects step 6:\n{page}"
    );
    assert!(
        page.contains("class=\"actor changed\" data-actor=\"server 0\""),
        "server 0 is highlighted as changed:\n{page}"
    );
    assert!(
        !page.contains("class=\"actor changed\" data-actor=\"server 2\""),
        "server 2 did not change at step 6"
    );
    assert!(
        page.contains("in flight: "),
        "pending messages drawn:\n{page}"
    );
    assert!(
        page.contains("id=\"protocol-view\"") && page.contains("key 0"),
        "Paxos's view:\n{page}"
    );
    screenshot(
        &browser,
        &ui.url(&trace),
        profile.path(),
        &shots.join("trace.png"),
    );

    // Stepping by hand: the enabled actions as buttons, the properties at the current state.
    let explore = "#/explore?protocol=multi-paxos&p.crashes=1&path=0.0.0.1.0";
    let page = dom(explore);
    assert!(page.contains("Next: 8 enabled actions"), "explore:\n{page}");
    assert!(page.contains("data-action=\"7\""), "{page}");
    assert!(page.contains("replica 2 crashes"), "{page}");
    assert!(page.contains("id=\"properties-here\""), "{page}");
    assert!(page.contains("holds here"), "{page}");
    screenshot(
        &browser,
        &ui.url(explore),
        profile.path(),
        &shots.join("explore.png"),
    );

    // A trace file written by `check --trace-out`, opened by its path.
    let dir = TempDir::new("ui-browser-file");
    let path = trace_file(&dir);
    let open = format!("#/open?path={}&step=3", path.display());
    let page = dom(&open);
    assert!(page.contains("data-steps=\"10\""), "trace file:\n{page}");
    assert!(page.contains("step 3 of 10"), "{page}");
    assert!(page.contains("agreement.json"), "{page}");

    // A liveness counterexample: the results say how it goes on (a cycle, a deadlock), and the
    // trace marks where the cycle starts and says that it repeats.
    let lasso = "#/check?protocol=paxos&p.liveness=1&p.clients=1&p.crashes=1&p.reads=0&p.servers=2";
    let page = dom(lasso);
    assert!(
        page.contains("counterexample: 2 steps, then a cycle from step 1"),
        "lasso results:\n{page}"
    );
    let page = dom(&format!("{lasso}&prop=value%20eventually%20chosen&step=2"));
    assert!(page.contains("id=\"cycle-start\""), "cycle start:\n{page}");
    assert!(
        page.contains("steps 1 to 2 repeat forever"),
        "how it goes on:\n{page}"
    );
    let page = dom("#/check?protocol=two-phase-commit&p.crashes=1");
    assert!(
        page.contains("steps, then deadlock"),
        "deadlock results:\n{page}"
    );
}

/// Stepping with the keyboard, as a user does: `j` and the down arrow go forward, `k` back; the
/// selected step follows in the list and the diagram, and the actor each step changed is the
/// one highlighted.
#[test]
fn the_keyboard_steps_through_a_trace() {
    let Some(browser) = browser() else {
        assert!(std::env::var("SYNOD_REQUIRE_BROWSER").as_deref() != Ok("1"));
        eprintln!("skipping the_keyboard_steps_through_a_trace: no browser");
        return;
    };
    let ui = Ui::start();
    let url = ui.url("#/check?protocol=paxos&bug=accept-lower-ballot&prop=agreement&step=0");
    let mut page = Cdp::open(&browser, &url);
    page.wait_for("!!document.getElementById('trace-length')");
    let label = |p: &mut Cdp| p.eval("document.getElementById('step-label').textContent");
    let changed = |p: &mut Cdp| {
        p.eval(
            "[...document.querySelectorAll('.actor.changed')].map(a => a.dataset.actor).join(',')",
        )
    };
    assert_eq!(label(&mut page), "step 0 of 10");
    page.press("j");
    assert_eq!(label(&mut page), "step 1 of 10");
    // Step 1: client 0's write reaches server 0.
    assert_eq!(changed(&mut page), "server 0");
    page.press("ArrowDown");
    page.press("j");
    assert_eq!(label(&mut page), "step 3 of 10");
    // Step 3: server 1's Promise reaches server 0.
    assert_eq!(changed(&mut page), "server 0");
    assert_eq!(
        page.eval("document.querySelector('.steps .selected').dataset.step"),
        "3"
    );
    assert_eq!(
        page.eval("document.querySelector('#diagram .row.selected').dataset.step"),
        "3"
    );
    page.press("k");
    assert_eq!(label(&mut page), "step 2 of 10");
    // Step 2: server 0's Prepare reaches server 1.
    assert_eq!(changed(&mut page), "server 1");
    // The URL follows, so the step can be shared.
    assert!(page
        .eval("location.hash")
        .as_str()
        .unwrap()
        .ends_with("step=2"));
    page.press("End");
    assert_eq!(label(&mut page), "step 10 of 10");
}

/// `synod bench ... --record FILE` into `dir`: the file's path and its contents.
fn record_bench(dir: &TempDir, name: &str, args: &[&str]) -> (PathBuf, Value) {
    let path = dir.path().join(format!("{name}.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_synod"))
        .arg("bench")
        .args(args)
        .arg("--record")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, rec)
}

/// A recorded real run opens in the same viewer as the checker's traces: a time-space diagram
/// with a lane per node and client, and for a history that is not linearizable, the failing
/// key's shortest failing prefix drawn Porcupine-style.
#[test]
fn recorded_runs_open_as_time_space_diagrams() {
    let required = std::env::var("SYNOD_REQUIRE_BROWSER").as_deref() == Ok("1");
    let Some(browser) = browser() else {
        assert!(!required, "SYNOD_REQUIRE_BROWSER=1 but no browser on PATH");
        eprintln!("skipping recorded_runs_open_as_time_space_diagrams: no browser");
        return;
    };
    let ui = Ui::start();
    let dir = TempDir::new("ui-recordings");
    let profile = TempDir::new("ui-recordings-chromium");
    let shots = screenshot_dir();
    let dom =
        |fragment: &str| rendered_dom_within(&browser, &ui.url(fragment), profile.path(), 20_000);

    // The API serves a recording as it serves a trace file.
    let split = [&common::SPLIT_BRAIN[..], &["--duration", "0.3"]].concat();
    let (path, rec) = record_bench(&dir, "split", &split);
    let (code, served) = ui.call(
        "GET",
        &format!("/api/trace-file?path={}", path.display()),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(served["kind"], "synod-recording");

    // Two single-copy servers that never talk: the history is not linearizable, and the page
    // draws the failing key's prefix with the operation no linearization explains marked.
    let lin = &rec["linearizability"]["detail"];
    let at = lin["at_us"].as_f64().unwrap();
    let first = lin["prefix"][0]["invoke_us"].as_f64().unwrap();
    let open = format!(
        "#/open?path={}&t0={:.0}&span={:.0}",
        path.display(),
        first - 100.0,
        at - first + 300.0
    );
    let page = dom(&open);
    for needle in [
        "id=\"rec-diagram\"",
        ">n0<",
        ">n1<",
        ">c3<",
        "not linearizable (key ",
        "id=\"porcupine\"",
        "op culprit",
        "the shortest failing prefix",
        "data-type=\"Write\"",
    ] {
        assert!(page.contains(needle), "recording lacks {needle:?}:\n{page}");
    }
    assert!(page.matches("class=\"msg\"").count() > 3, "{page}");
    screenshot(
        &browser,
        &ui.url(&open),
        profile.path(),
        &shots.join("recording-not-linearizable.png"),
    );

    // Raft with a crash and a restart: the election's messages, timeouts and the crash mark.
    let (path, rec) = record_bench(
        &dir,
        "raft",
        &[
            "raft",
            "--clients",
            "2",
            "--duration",
            "0.6",
            "--crash",
            "leader@0.3",
            "--restart",
            "leader@0.4",
            "--timeout-ms",
            "100",
        ],
    );
    let events = rec["events"].as_array().unwrap();
    let vote = events
        .iter()
        .find(|e| e["type"] == "RequestVote")
        .expect("an election");
    let t = vote["at_us"].as_f64().unwrap();
    // From the election timeout that set it off.
    let timeout = events
        .iter()
        .rev()
        .find(|e| e["kind"] == "timeout" && e["at_us"].as_f64().unwrap() <= t)
        .expect("the election timeout")["at_us"]
        .as_f64()
        .unwrap();
    let open = format!(
        "#/open?path={}&t0={:.0}&span={:.0}",
        path.display(),
        timeout - 100.0,
        t - timeout + 1500.0
    );
    let page = dom(&open);
    for needle in ["RequestVote", "class=\"timeout\"", "linearizable"] {
        assert!(
            page.contains(needle),
            "raft recording lacks {needle:?}:\n{page}"
        );
    }
    screenshot(
        &browser,
        &ui.url(&open),
        profile.path(),
        &shots.join("recording.png"),
    );
    let crash = rec["marks"][0]["at_us"].as_f64().unwrap();
    let open = format!(
        "#/open?path={}&t0={:.0}&span=200000",
        path.display(),
        crash - 20_000.0
    );
    let page = dom(&open);
    assert!(
        page.contains("crashed (the leader, term"),
        "crash mark:\n{page}"
    );
}

/// Hovering a message shows its fields by name, in a checker's trace and in a recorded run;
/// clicking one in a recording shows both ends; zoom and the type filter redraw the diagram.
#[test]
fn hovering_a_message_shows_its_fields() {
    let Some(browser) = browser() else {
        assert!(std::env::var("SYNOD_REQUIRE_BROWSER").as_deref() != Ok("1"));
        eprintln!("skipping hovering_a_message_shows_its_fields: no browser");
        return;
    };
    let ui = Ui::start();
    let tip = |p: &mut Cdp| {
        p.eval("(() => { const t = document.getElementById('tip'); return t && t.style.display === 'block' ? t.textContent : ''; })()")
    };

    // A counterexample: step 2 delivers server 0's Prepare to server 1.
    let url = ui.url("#/check?protocol=paxos&bug=accept-lower-ballot&prop=agreement&step=2");
    let mut page = Cdp::open(&browser, &url);
    page.wait_for("!!document.querySelector('#diagram line.msg')");
    page.hover("#diagram .row[data-step='2'] line.msg");
    let shown = tip(&mut page);
    let shown = shown.as_str().unwrap();
    assert!(
        shown.contains("key: 0") && shown.contains("ballot: "),
        "the Prepare's fields: {shown:?}"
    );
    drop(page);

    // A recorded run.
    let dir = TempDir::new("ui-hover");
    let (path, _) = record_bench(
        &dir,
        "raft",
        &["raft", "--clients", "2", "--duration", "0.3"],
    );
    let url = ui.url(&format!("#/open?path={}", path.display()));
    let mut page = Cdp::open(&browser, &url);
    page.wait_for("!!document.querySelector('#rec-diagram line.msg')");
    let (x, y) = page.hover("#rec-diagram line.msg[data-type='Read']");
    // Arrows cross: the one under the mouse is the one hovered.
    let under = page.eval(&format!(
        "(() => {{ const e = document.elementFromPoint({x}, {y}); \
         return e && e.dataset.event !== undefined ? (rec.data.events[Number(e.dataset.event)].fields || rec.data.events[Number(e.dataset.event)].message) : null; }})()"
    ));
    let fields = under.as_str().expect("a message arrow under the mouse");
    // `Read { msg_id: 17, key: 3 }`: the tree shows `msg_id: 17`.
    let first = fields
        .split_once("{ ")
        .and_then(|(_, rest)| {
            rest.split([',', ' '])
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
                .into()
        })
        .unwrap();
    let shown = tip(&mut page);
    assert!(
        shown
            .as_str()
            .unwrap()
            .contains(first.trim_end_matches(',')),
        "hovering {fields} shows {shown}"
    );
    page.click("#rec-diagram line.msg");
    page.wait_for("document.getElementById('rec-detail').textContent.includes('in flight')");
    let window = |p: &mut Cdp| p.eval("document.getElementById('rec-window').textContent");
    let before = window(&mut page);
    page.click("#rec-zoom-in");
    assert_ne!(window(&mut page), before, "zooming changes the window");
    assert!(page
        .eval("location.hash")
        .as_str()
        .unwrap()
        .contains("&span="));
    let count = |p: &mut Cdp| {
        p.eval("document.querySelectorAll('#rec-diagram line.msg').length")
            .as_u64()
            .unwrap()
    };
    let all = count(&mut page);
    page.click("input[data-type='Read']");
    let fewer = count(&mut page);
    assert!(fewer < all, "hiding Read leaves {fewer} of {all}");
}
