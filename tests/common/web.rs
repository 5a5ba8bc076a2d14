//! Helpers for the tests that talk HTTP to `synod explore` and `synod ui` and drive a real
//! headless browser (Debian's chromium, which `.ci/run` installs).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The browsers the browser test looks for on PATH, in order.
pub const BROWSERS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// The first browser on PATH. Without one the browser test prints one line and skips, unless
/// `SYNOD_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs Debian's chromium) makes it fail.
pub fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}
pub const STARTUP_LIMIT: Duration = Duration::from_secs(20);

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Kills and reaps the child when dropped, so a failed assertion never leaves a server running.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for the child to exit, killing it after `limit`. Returns its status, stdout, stderr.
pub fn wait_with_limit(child: Child, limit: Duration, what: &str) -> (ExitStatus, String, String) {
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

/// A minimal HTTP/1.1 GET: returns the status code and the body (Content-Length or to EOF).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http(port, "GET", path, None)
}

/// A minimal HTTP/1.1 request with an optional JSON body: the status code and the body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
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

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("synod-web-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The flags every headless chromium here starts with: no sandbox (CI runs as root), no GPU,
/// nothing fetched in the background.
const HEADLESS: [&str; 7] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Runs headless chromium with `args` (and its own profile) until it exits; returns stdout.
fn run_headless(browser: &Path, profile: &Path, args: &[&str], what: &str) -> String {
    let child = Command::new(browser)
        .args(HEADLESS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let (status, stdout, stderr) = wait_with_limit(child, Duration::from_secs(60), "the browser");
    assert!(status.success(), "{what} failed ({status}):\n{stderr}");
    stdout
}

/// Loads the UI in headless chromium and returns the DOM after its JavaScript ran.
pub fn rendered_dom(browser: &Path, url: &str, profile: &Path) -> String {
    rendered_dom_within(browser, url, profile, 5000)
}

/// [`rendered_dom`] with `budget_ms` of the page's virtual time (its timers run that long).
pub fn rendered_dom_within(browser: &Path, url: &str, profile: &Path, budget_ms: u32) -> String {
    let budget = format!("--virtual-time-budget={budget_ms}");
    let args = ["--disable-quic", &budget, "--dump-dom", url];
    run_headless(browser, profile, &args, &format!("loading {url}"))
}

/// Loads `url` in headless chromium at 1600x1000 and writes a PNG of the page to `out`.
pub fn screenshot(browser: &Path, url: &str, profile: &Path, out: &Path) {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("create the screenshot directory");
    }
    let shot = format!("--screenshot={}", out.display());
    let args = [
        "--hide-scrollbars",
        "--window-size=1600,1000",
        "--virtual-time-budget=20000",
        &shot,
        url,
    ];
    run_headless(browser, profile, &args, &format!("screenshot of {url}"));
    assert!(out.is_file(), "no screenshot written to {}", out.display());
}

/// A headless chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
/// commands on its fd 3, answers on its fd 4, each a JSON object ended by a NUL byte), attached
/// to the page it opened. Enough to press keys and read the page, as a user would.
pub struct Cdp {
    _child: ChildGuard,
    to: std::fs::File,
    from: std::io::BufReader<std::fs::File>,
    session: String,
    next_id: u64,
    _profile: TempDir,
}

impl Cdp {
    /// Starts chromium on `url` and attaches to its page.
    pub fn open(browser: &Path, url: &str) -> Cdp {
        use std::os::unix::io::FromRawFd;
        use std::os::unix::process::CommandExt;
        let profile = TempDir::new("cdp-profile");
        let mut to_chrome = [0; 2];
        let mut from_chrome = [0; 2];
        // SAFETY: pipe() fills the two arrays with fresh descriptors.
        unsafe {
            assert_eq!(libc::pipe(to_chrome.as_mut_ptr()), 0);
            assert_eq!(libc::pipe(from_chrome.as_mut_ptr()), 0);
        }
        let (child_read, child_write) = (to_chrome[0], from_chrome[1]);
        let mut cmd = Command::new(browser);
        cmd.args(HEADLESS)
            .args([
                "--window-size=1600,1000",
                "--remote-debugging-pipe",
                &format!("--user-data-dir={}", profile.path().display()),
                url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec only dup2, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(child_read, 3) < 0 || libc::dup2(child_write, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start chromium");
        // SAFETY: these descriptors are ours alone from here on.
        let (to, from) = unsafe {
            libc::close(child_read);
            libc::close(child_write);
            (
                std::fs::File::from_raw_fd(to_chrome[1]),
                std::fs::File::from_raw_fd(from_chrome[0]),
            )
        };
        let mut cdp = Cdp {
            _child: ChildGuard(child),
            to,
            from: std::io::BufReader::new(from),
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let started = Instant::now();
        let target = loop {
            let targets = cdp.call("Target.getTargets", serde_json::json!({}));
            let page = targets["targetInfos"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["type"] == "page")
                .map(|t| t["targetId"].as_str().unwrap().to_string());
            if let Some(id) = page {
                break id;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no page target"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let attached = cdp.call(
            "Target.attachToTarget",
            serde_json::json!({ "targetId": target, "flatten": true }),
        );
        cdp.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        cdp
    }

    /// Sends a command (to the page once attached) and returns its result.
    pub fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        use std::io::BufRead;
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = serde_json::json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = self.session.clone().into();
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        loop {
            let mut buf = Vec::new();
            let n = self
                .from
                .read_until(0, &mut buf)
                .expect("read from chromium");
            assert!(n > 0, "chromium closed the pipe");
            buf.pop();
            let v: serde_json::Value = serde_json::from_slice(&buf).expect("CDP JSON");
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page and returns its value.
    pub fn eval(&mut self, expression: &str) -> serde_json::Value {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({ "expression": expression, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page.
    pub fn wait_for(&mut self, expression: &str) {
        let started = Instant::now();
        while self.eval(expression) != serde_json::Value::Bool(true) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the page never satisfied {expression}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Moves the mouse onto the middle of the first element matching `selector`, as a user
    /// hovering it (the page gets real mouse events, so whatever is drawn on top there gets
    /// them); returns the point.
    pub fn hover(&mut self, selector: &str) -> (f64, f64) {
        let (x, y) = self.centre(selector);
        self.call(
            "Input.dispatchMouseEvent",
            serde_json::json!({ "type": "mouseMoved", "x": x, "y": y }),
        );
        (x, y)
    }

    /// Clicks the middle of the first element matching `selector`.
    pub fn click(&mut self, selector: &str) {
        let (x, y) = self.centre(selector);
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                serde_json::json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// The middle of the first element matching `selector`, scrolled into view.
    fn centre(&mut self, selector: &str) -> (f64, f64) {
        let sel = serde_json::to_string(selector).unwrap();
        let at = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
             e.scrollIntoView({{block: 'center', inline: 'center'}}); const r = e.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ));
        assert!(at.is_array(), "no element matches {selector}");
        (at[0].as_f64().unwrap(), at[1].as_f64().unwrap())
    }

    /// Presses and releases a key (`"j"`, `"ArrowDown"`, ...).
    pub fn press(&mut self, key: &str) {
        for kind in ["keyDown", "keyUp"] {
            let mut p = serde_json::json!({ "type": kind, "key": key });
            if key.len() == 1 && kind == "keyDown" {
                p["text"] = key.into();
            }
            self.call("Input.dispatchKeyEvent", p);
        }
    }
}

/// A `synod ui` or `synod explore` started on a free port (`--addr 127.0.0.1:0`), killed on drop:
/// its port and the link its banner printed (read from its stdout, so the port is its own).
pub struct Served {
    _guard: ChildGuard,
    pub port: u16,
    pub link: String,
}

impl Served {
    pub fn start(args: &[&str]) -> Served {
        use std::io::BufRead;
        let child = Command::new(env!("CARGO_BIN_EXE_synod"))
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn synod");
        let mut guard = ChildGuard(child);
        let stdout = guard.0.stdout.take().expect("piped");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let link = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("synod {args:?} exited before its banner"))
                .expect("read stdout");
            if let Some(w) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                break w.to_string();
            }
        };
        let port = link
            .trim_start_matches("http://")
            .split(['/', ':'])
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {link}"));
        // Keep reading stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < STARTUP_LIMIT,
                "synod {args:?} did not serve"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Served {
            _guard: guard,
            port,
            link,
        }
    }
}
