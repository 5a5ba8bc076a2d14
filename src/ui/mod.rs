//! `synod ui`: Synod's own web UI. One page (HTML, CSS and JavaScript embedded in the binary,
//! nothing fetched from the internet) over a small JSON API:
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /api/catalog` | every protocol: parameters, properties, bugs (as `synod list --format json`) |
//! | `POST /api/check` | starts a check (body: [`CheckRequest`]); 202, or 409 while one runs, 400 on bad settings |
//! | `GET /api/check` | the check: `status` (`idle`, `running`, `done`, `failed`), `request`, `progress`, `report` (as `check --format json`) |
//! | `POST /api/check/stop` | stops the running check; it reports what it found, `stopped: interrupted` |
//! | `POST /api/step` | interactive stepping (body: [`StepRequest`]): the trace along `path`, the actions enabled at its end, each property's condition there |
//! | `GET /api/trace-file?path=FILE.json` | a trace file written by `check --trace-out`, or a recording by `run`/`bench --record`, read from this machine |
//!
//! A check runs in a background thread with `check`'s memory budget, one at a time: the HTTP
//! thread never waits for it. The server binds to loopback unless told otherwise, since whoever
//! reaches it can make this machine search state spaces.

pub mod step;

use crate::catalog::{self, Mode, RawSettings};
use crate::check::{memory, CheckOptions, Strategy, Watch};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The default address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// Resolves `addr` and listens on it (port 0: any free port; the listener says which), so a
/// busy port or a bad address is a clear error rather than a panic inside the HTTP server.
pub fn bind(addr: &str) -> Result<TcpListener, String> {
    let resolved = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve --addr {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("--addr {addr} resolves to no address"))?;
    TcpListener::bind(resolved).map_err(|e| format!("cannot listen on {resolved}: {e}"))
}

/// The largest request body accepted, bytes.
const MAX_BODY_BYTES: u64 = 64 << 10;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");
const RECORDING_JS: &str = include_str!("assets/recording.js");

/// What `POST /api/check` takes: the protocol and its settings as on the command line.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub protocol: String,
    /// Protocol parameters by name (`servers`, `clients`, ...); missing ones take their default.
    #[serde(default)]
    pub params: BTreeMap<String, u64>,
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub bug: Option<String>,
    #[serde(default)]
    pub symmetry: bool,
    /// `bfs` (default), `dfs` or `simulation`.
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub threads: Option<usize>,
    /// Seconds.
    #[serde(default)]
    pub timeout: Option<f64>,
    #[serde(default)]
    pub max_depth: Option<usize>,
}

/// What `POST /api/step` takes: a protocol's settings and a path from an initial state.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    pub protocol: String,
    #[serde(default)]
    pub params: BTreeMap<String, u64>,
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub bug: Option<String>,
    /// The initial state's index, then one action index per step.
    #[serde(default)]
    pub path: Vec<usize>,
}

/// Finds `protocol` and validates its settings as `synod check` does (a bug's needs applied).
fn resolve(
    protocol: &str,
    params: &BTreeMap<String, u64>,
    network: &Option<String>,
    bug: &Option<String>,
    symmetry: bool,
) -> Result<(&'static catalog::Entry, catalog::Resolved), String> {
    let entry = catalog::find(protocol).map_err(|e| e.to_string())?;
    let raw = RawSettings {
        params: params.clone(),
        network: network.clone(),
        bug: bug.clone().filter(|b| !b.is_empty()),
        symmetry,
    };
    let resolved = entry
        .resolve(&raw, Mode::Check)
        .map_err(|e| e.to_string())?;
    Ok((entry, resolved))
}

fn step(req: &StepRequest) -> (u16, Value) {
    let (entry, resolved) = match resolve(&req.protocol, &req.params, &req.network, &req.bug, false)
    {
        Ok(x) => x,
        Err(e) => return (400, json!({ "error": e })),
    };
    match entry.step(&resolved.settings, &req.path) {
        Ok(v) => (200, v),
        Err(e) => (400, json!({ "error": e })),
    }
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`].
fn read_body(req: &mut tiny_http::Request) -> Result<String, String> {
    let mut body = String::new();
    let read = req
        .as_reader()
        .take(MAX_BODY_BYTES + 1)
        .read_to_string(&mut body);
    if read.is_err() || body.len() as u64 > MAX_BODY_BYTES {
        return Err(format!(
            "the body must be UTF-8 JSON of at most {MAX_BODY_BYTES} bytes"
        ));
    }
    Ok(body)
}

/// The one check a server runs at a time.
#[derive(Default)]
struct Job {
    request: Option<CheckRequest>,
    watch: Option<Arc<Watch>>,
    running: bool,
    report: Option<Value>,
    error: Option<String>,
}

type Shared = Arc<Mutex<Job>>;

/// Validates a request into a protocol entry, its settings and search options.
fn prepare(
    req: &CheckRequest,
) -> Result<(&'static catalog::Entry, catalog::Resolved, CheckOptions), String> {
    let (entry, resolved) = resolve(
        &req.protocol,
        &req.params,
        &req.network,
        &req.bug,
        req.symmetry,
    )?;
    let strategy = match req.strategy.as_deref() {
        None => Strategy::Bfs,
        Some(name) => Strategy::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                format!("unknown strategy '{name}'; valid strategies: bfs, dfs, simulation")
            })?,
    };
    let threads = match req.threads {
        Some(0) => return Err("threads must be at least 1".into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let timeout = match req.timeout {
        None => None,
        Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
        Some(t) => return Err(format!("timeout {t} must be a positive number of seconds")),
    };
    if req.max_depth == Some(0) {
        return Err("max_depth must be at least 1".into());
    }
    let opts = CheckOptions {
        strategy,
        threads,
        timeout,
        max_depth: req.max_depth,
        seed: 0,
        progress: false,
        max_memory: Some(memory::default_budget()),
        watch: None,
        engine: Default::default(),
        frontier_states: None,
        checkpoint: None,
        fairness: Default::default(),
    };
    Ok((entry, resolved, opts))
}

/// Starts `req` unless a check is running.
fn start(job: &Shared, req: CheckRequest) -> (u16, Value) {
    let (entry, resolved, mut opts) = match prepare(&req) {
        Ok(x) => x,
        Err(e) => return (400, json!({ "error": e })),
    };
    let mut j = job.lock().unwrap_or_else(|e| e.into_inner());
    if j.running {
        let what = j.request.as_ref().map_or("", |r| r.protocol.as_str());
        return (
            409,
            json!({ "error": format!("a check of {what} is running: stop it or wait for it") }),
        );
    }
    let watch = Arc::new(Watch::default());
    opts.watch = Some(Arc::clone(&watch));
    *j = Job {
        request: Some(req),
        watch: Some(watch),
        running: true,
        report: None,
        error: None,
    };
    let job = Arc::clone(job);
    let spawned = std::thread::Builder::new()
        .name("ui-check".into())
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                entry.check_resolved(&resolved, &opts).to_json()
            }));
            let mut j = job.lock().unwrap_or_else(|e| e.into_inner());
            j.running = false;
            match outcome {
                Ok(text) => j.report = serde_json::from_str(&text).ok(),
                Err(_) => j.error = Some("the check panicked (see the server's stderr)".into()),
            }
        });
    if let Err(e) = spawned {
        j.running = false;
        j.error = Some(format!("cannot start a thread: {e}"));
        return (500, json!({ "error": j.error }));
    }
    (202, json!({ "status": "running" }))
}

fn status(job: &Shared) -> Value {
    let j = job.lock().unwrap_or_else(|e| e.into_inner());
    let status = match (&j.request, j.running, &j.error) {
        (None, _, _) => "idle",
        (_, true, _) => "running",
        (_, false, Some(_)) => "failed",
        _ => "done",
    };
    json!({
        "status": status,
        "request": j.request,
        "progress": j.watch.as_ref().map(|w| w.progress()),
        "report": j.report,
        "error": j.error,
    })
}

fn stop(job: &Shared) -> Value {
    let j = job.lock().unwrap_or_else(|e| e.into_inner());
    if let (true, Some(w)) = (j.running, &j.watch) {
        w.stop();
        json!({ "status": "stopping" })
    } else {
        json!({ "status": "idle" })
    }
}

/// The largest trace or recording file `GET /api/trace-file` reads, bytes (a recording of the
/// default 200,000 events is about 60 MB).
const MAX_TRACE_FILE_BYTES: u64 = 256 << 20;

/// `GET /api/trace-file?path=FILE.json`: a trace that `check --trace-out` wrote, read from
/// this machine's disk (the UI is on loopback by default; only `.json` files that hold a trace
/// are returned).
fn trace_file(url: &str) -> (u16, Value) {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let Some(path) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("path="))
        .map(percent_decode)
    else {
        return (400, json!({ "error": "give the file as ?path=FILE.json" }));
    };
    if !path.ends_with(".json") {
        return (
            400,
            json!({ "error": format!("{path}: a trace file ends in .json (synod check ... --trace-out FILE.json)") }),
        );
    }
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => return (404, json!({ "error": format!("cannot read {path}: {e}") })),
    };
    let mut text = String::new();
    if let Err(e) = file
        .take(MAX_TRACE_FILE_BYTES + 1)
        .read_to_string(&mut text)
    {
        return (400, json!({ "error": format!("cannot read {path}: {e}") }));
    }
    if text.len() as u64 > MAX_TRACE_FILE_BYTES {
        return (
            400,
            json!({ "error": format!("{path} is larger than {MAX_TRACE_FILE_BYTES} bytes") }),
        );
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if v["trace"]["steps"].is_array() => (200, v),
        Ok(v) if v["kind"] == "synod-recording" => (200, v),
        Ok(_) => (
            400,
            json!({ "error": format!("{path} holds neither a trace nor a recording: write one with synod check ... --trace-out FILE.json, or synod run|bench ... --record FILE.json") }),
        ),
        Err(e) => (400, json!({ "error": format!("{path} is not JSON: {e}") })),
    }
}

/// Decodes `%XX` escapes and `+` (a query string's space).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn respond(req: tiny_http::Request, code: u16, content_type: &str, body: String) {
    let header = tiny_http::Header::from_bytes("Content-Type", content_type).expect("valid header");
    let no_store =
        tiny_http::Header::from_bytes("Cache-Control", "no-store").expect("valid header");
    let response = tiny_http::Response::from_string(body)
        .with_status_code(code)
        .with_header(header)
        .with_header(no_store);
    let _ = req.respond(response);
}

fn respond_json(req: tiny_http::Request, code: u16, body: Value) {
    respond(req, code, "application/json", body.to_string());
}

fn handle(job: &Shared, mut req: tiny_http::Request) {
    let path = req
        .url()
        .split(['?', '#'])
        .next()
        .unwrap_or("/")
        .to_string();
    let method = req.method().clone();
    use tiny_http::Method::{Get, Post};
    match (method, path.as_str()) {
        (Get, "/") | (Get, "/index.html") => {
            respond(req, 200, "text/html; charset=utf-8", INDEX_HTML.into())
        }
        (Get, "/app.js") => respond(req, 200, "text/javascript; charset=utf-8", APP_JS.into()),
        (Get, "/recording.js") => respond(
            req,
            200,
            "text/javascript; charset=utf-8",
            RECORDING_JS.into(),
        ),
        (Get, "/style.css") => respond(req, 200, "text/css; charset=utf-8", STYLE_CSS.into()),
        (Get, "/api/catalog") => respond_json(req, 200, catalog::to_json()),
        (Get, "/api/check") => {
            let body = status(job);
            respond_json(req, 200, body)
        }
        (Post, "/api/step") => {
            let (code, answer) = match read_body(&mut req) {
                Err(e) => (400, json!({ "error": e })),
                Ok(body) => match serde_json::from_str::<StepRequest>(&body) {
                    Ok(r) => step(&r),
                    Err(e) => (400, json!({ "error": format!("bad step request: {e}") })),
                },
            };
            respond_json(req, code, answer)
        }
        (Post, "/api/check") => {
            let body = match read_body(&mut req) {
                Ok(b) => b,
                Err(e) => return respond_json(req, 400, json!({ "error": e })),
            };
            let (code, answer) = match serde_json::from_str::<CheckRequest>(&body) {
                Ok(r) => start(job, r),
                Err(e) => (400, json!({ "error": format!("bad check request: {e}") })),
            };
            respond_json(req, code, answer)
        }
        (Get, "/api/trace-file") => {
            let (code, body) = trace_file(req.url());
            respond_json(req, code, body)
        }
        (Post, "/api/check/stop") => {
            let body = stop(job);
            respond_json(req, 200, body)
        }
        (method, p) if p.starts_with("/api/") => {
            let body = json!({ "error": format!("no endpoint {method} {p}") });
            respond_json(req, 404, body)
        }
        _ => respond(req, 404, "text/plain", format!("not found: {path}")),
    }
}

/// Serves the UI on `listener` until the process ends.
pub fn serve(listener: TcpListener) -> Result<(), String> {
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| format!("cannot serve: {e}"))?;
    let job: Shared = Arc::new(Mutex::new(Job::default()));
    // A few HTTP threads: a slow client never holds up the others.
    let server = Arc::new(server);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let server = Arc::clone(&server);
            let job = Arc::clone(&job);
            std::thread::spawn(move || {
                for req in server.incoming_requests() {
                    handle(&job, req);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}
