// Synod's web UI: the catalog, checks with live progress, and the trace viewer.
// No framework and no build step: this file is embedded in the binary as it is.
"use strict";

const $app = document.getElementById("app");
const $status = document.getElementById("status");
let catalog = null;        // GET /api/catalog
let current = null;        // the trace on screen: {title, trace, back}
let rec = null;            // the recorded run on screen (recording.js)
let pollTimer = null;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return e;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return e;
}

function fmt(n) {
  return typeof n === "number" ? n.toLocaleString("en-US", { maximumFractionDigits: 1 }) : String(n);
}

async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await r.json(); } catch (_) { data = { error: `HTTP ${r.status}` }; }
  return { code: r.status, data };
}

// The route: "#/path?query".
function route() {
  const h = location.hash.replace(/^#/, "") || "/";
  const q = h.indexOf("?");
  return { path: q < 0 ? h : h.slice(0, q), query: new URLSearchParams(q < 0 ? "" : h.slice(q + 1)) };
}

// A check request <-> a query string (deep links hold the whole configuration).
function requestToQuery(req) {
  const q = new URLSearchParams();
  q.set("protocol", req.protocol);
  for (const [k, v] of Object.entries(req.params || {})) q.set("p." + k, v);
  for (const k of ["network", "bug", "strategy", "threads", "timeout", "max_depth"]) {
    if (req[k] !== null && req[k] !== undefined && req[k] !== "") q.set(k, req[k]);
  }
  if (req.symmetry) q.set("symmetry", "1");
  return q;
}

function queryToRequest(q) {
  const req = { protocol: q.get("protocol"), params: {}, symmetry: q.get("symmetry") === "1" };
  for (const [k, v] of q.entries()) if (k.startsWith("p.")) req.params[k.slice(2)] = Number(v);
  for (const k of ["network", "bug", "strategy"]) if (q.get(k)) req[k] = q.get(k);
  for (const k of ["threads", "max_depth"]) if (q.get(k)) req[k] = Number(q.get(k));
  if (q.get("timeout")) req.timeout = Number(q.get("timeout"));
  return req;
}

function sameRequest(a, b) {
  return !!a && !!b && requestToQuery(a).toString() === requestToQuery(b).toString();
}

// ---------------------------------------------------------------------------------------------
// Catalog: every protocol, its parameters, bugs and properties, and the Check form
// ---------------------------------------------------------------------------------------------

function showCatalog(selected) {
  const entry = catalog.find((e) => e.name === selected) || catalog[0];
  const list = el("div", { class: "protolist card" },
    catalog.map((e) => el("a", { href: "#/p/" + e.name, class: e === entry ? "selected" : null, "data-protocol": e.name },
      el("b", {}, e.name), el("small", {}, e.summary))));
  $app.replaceChildren(el("div", { class: "catalog" }, list, protocolCard(entry)));
}

function protocolCard(e) {
  const form = el("div", { class: "form", id: "check-form" });
  for (const p of e.parameters) {
    form.append(
      el("label", { for: "p-" + p.name }, "--" + p.name),
      el("input", { type: "number", id: "p-" + p.name, "data-param": p.name, value: p.default, min: p.min, max: p.max }),
      el("span", { class: "help" }, `${p.help} (${p.min}..${p.max}, default ${p.default})`));
  }
  const bug = el("select", { id: "bug" }, el("option", { value: "" }, "none (the correct protocol)"),
    e.bugs.map((b) => el("option", { value: b.name }, b.name)));
  const bugHelp = el("span", { class: "help", id: "bug-help" });
  const showBug = () => {
    const b = e.bugs.find((x) => x.name === bug.value);
    bugHelp.textContent = b ? `${b.summary}. Breaks "${b.violates}". Source: ${b.source}` : "";
  };
  bug.addEventListener("change", showBug);
  form.append(el("label", { for: "bug" }, "--bug"), bug, bugHelp);
  if (e.networks.length > 0) {
    form.append(el("label", { for: "network" }, "--network"),
      el("select", { id: "network" }, e.networks.map((n) => el("option", { value: n }, n))),
      el("span", { class: "help" }, "how the network may reorder, duplicate or lose messages"));
  }
  if (e.symmetry) {
    form.append(el("label", { for: "symmetry" }, "--symmetry"), el("input", { type: "checkbox", id: "symmetry" }),
      el("span", { class: "help" }, `reduce by symmetry over ${e.symmetry}`));
  }
  form.append(
    el("label", { for: "strategy" }, "--strategy"),
    el("select", { id: "strategy" }, ["bfs", "dfs", "simulation"].map((s) => el("option", { value: s }, s))),
    el("span", { class: "help" }, "bfs finds shortest traces"),
    el("label", { for: "threads" }, "--threads"), el("input", { type: "number", id: "threads", min: 1, placeholder: "cores" }),
    el("span", { class: "help" }, "checker threads (a found trace is shortened single-threaded)"),
    el("label", { for: "timeout" }, "--timeout"), el("input", { type: "number", id: "timeout", min: 0, step: "any", placeholder: "none" }),
    el("span", { class: "help" }, "seconds"));
  const go = el("button", { class: "primary", id: "check", onclick: () => {
    const req = { protocol: e.name, params: {}, symmetry: false };
    for (const input of form.querySelectorAll("[data-param]")) req.params[input.dataset.param] = Number(input.value);
    if (bug.value) req.bug = bug.value;
    const net = form.querySelector("#network"); if (net) req.network = net.value;
    const sym = form.querySelector("#symmetry"); if (sym) req.symmetry = sym.checked;
    req.strategy = form.querySelector("#strategy").value;
    const t = form.querySelector("#threads").value; if (t) req.threads = Number(t);
    const to = form.querySelector("#timeout").value; if (to) req.timeout = Number(to);
    location.hash = "#/check?" + requestToQuery(req) + "&run=" + Date.now();
  } }, "Check");
  const explore = el("button", { id: "explore", onclick: () => {
    const req = { protocol: e.name, params: {} };
    for (const input of form.querySelectorAll("[data-param]")) req.params[input.dataset.param] = Number(input.value);
    if (bug.value) req.bug = bug.value;
    const net = form.querySelector("#network"); if (net) req.network = net.value;
    const q = requestToQuery(req); q.set("path", "0");
    location.hash = "#/explore?" + q;
  } }, "Step through it by hand");
  return el("div", { class: "card" },
    el("h1", {}, e.name), el("p", {}, e.summary),
    form, el("p", {}, go, " ", explore),
    el("h3", {}, "Properties"),
    el("table", {}, e.properties.map((p) => el("tr", {}, el("td", {}, p.expectation), el("td", {}, p.name)))),
    el("h3", {}, "Bugs"),
    el("table", {}, e.bugs.map((b) => el("tr", {}, el("td", {}, el("code", {}, b.name)),
      el("td", {}, `${b.summary} (breaks ${b.violates}; ${b.source})`)))),
    e.runnable ? el("p", { class: "muted" }, `Runs on real sockets too: synod run ${e.name}, synod bench ${e.name}.`) : null);
}

// ---------------------------------------------------------------------------------------------
// A check: start (or find) it, poll its progress, show its verdicts
// ---------------------------------------------------------------------------------------------

async function showCheck(query) {
  const req = queryToRequest(query);
  let { data } = await api("GET", "/api/check");
  const fresh = query.get("run") && sessionStorage.getItem("started") !== query.get("run");
  if (!sameRequest(data.request, req) || (fresh && data.status !== "running")) {
    const started = await api("POST", "/api/check", req);
    if (started.code !== 202) {
      $app.replaceChildren(el("div", { class: "card" }, el("h1", {}, "Cannot start this check"),
        el("p", { class: "error", id: "check-error" }, started.data.error || "unknown error"),
        el("p", {}, el("a", { href: "#/p/" + req.protocol }, "Back to " + req.protocol))));
      return;
    }
    if (query.get("run")) sessionStorage.setItem("started", query.get("run"));
    data = (await api("GET", "/api/check")).data;
  }
  renderCheck(data, query);
  if (data.status === "running") schedulePoll(query);
}

function schedulePoll(query) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    if (route().path !== "/check") return;
    const { data } = await api("GET", "/api/check");
    renderCheck(data, query);
    if (data.status === "running") schedulePoll(query);
  }, 250);
}

function renderCheck(data, query) {
  const req = data.request || queryToRequest(query);
  const p = data.progress || {};
  const head = el("div", { class: "card" },
    el("h1", {}, `${req.protocol}${req.bug ? " --bug " + req.bug : ""}`),
    el("p", { class: "mono" }, "synod check " + commandLine(req)),
    el("div", { class: "progress", id: "progress" },
      el("div", {}, el("b", { id: "states" }, fmt(p.states || 0)), "states"),
      el("div", {}, el("b", { id: "unique" }, fmt(p.unique_states || 0)), "unique"),
      el("div", {}, el("b", {}, fmt(p.max_depth || 0)), "depth"),
      el("div", {}, el("b", {}, fmt(Math.round(p.states_per_sec || 0))), "states/s"),
      el("div", {}, el("b", {}, fmt(p.seconds || 0) + " s"), data.status === "running" ? (p.minimising ? "shortening the trace" : "running") : data.status)),
    data.status === "running" ? el("p", {}, el("button", { id: "stop", onclick: () => api("POST", "/api/check/stop") }, "Stop")) : null);
  const parts = [head];
  if (data.error) parts.push(el("div", { class: "card error" }, data.error));
  if (data.report) parts.push(resultsCard(data.report, req, query));
  $app.replaceChildren(...parts);
  $status.textContent = data.status === "running" ? "checking…" : "";
  // A deep link to a trace opens it once the report is there.
  if (data.report && query.get("prop")) {
    const prop = data.report.properties.find((x) => x.name === query.get("prop"));
    if (prop && prop.trace) openTrace(traceTitle(data.report, prop), prop.trace, query, Number(query.get("step") || 0));
  }
}

function commandLine(req) {
  const a = [req.protocol];
  for (const [k, v] of Object.entries(req.params || {})) a.push(`--${k} ${v}`);
  if (req.network) a.push("--network " + req.network);
  if (req.bug) a.push("--bug " + req.bug);
  if (req.symmetry) a.push("--symmetry");
  if (req.strategy && req.strategy !== "bfs") a.push("--strategy " + req.strategy);
  if (req.threads) a.push("--threads " + req.threads);
  if (req.timeout) a.push("--timeout " + req.timeout);
  return a.join(" ");
}

function traceTitle(report, prop) {
  const kind = prop.verdict === "violated" ? "Counterexample to" : "Example of";
  return `${kind} "${prop.name}" (${report.protocol})`;
}

function resultsCard(report, req, query) {
  const rows = report.properties.map((prop) => {
    let link = null;
    if (prop.trace) {
      const q = requestToQuery(req);
      q.set("prop", prop.name);
      q.set("step", "0");
      const n = prop.trace.steps.length;
      const shape = prop.trace.lasso ? `, then ${prop.trace.lasso.kind === "cycle" ? "a cycle from step " + prop.trace.lasso.loop_from : prop.trace.lasso.kind}` : "";
      link = el("a", { href: "#/check?" + q, class: "open-trace", "data-steps": n },
        `${prop.verdict === "violated" ? "counterexample" : "example"}: ${n} steps${shape}${prop.trace.shortest ? " (shortest)" : ""}`);
    }
    return el("tr", { "data-property": prop.name },
      el("td", {}, prop.expectation), el("td", {}, prop.name),
      el("td", { class: "verdict " + prop.verdict }, prop.verdict), el("td", {}, link));
  });
  const summary = report.complete ? "complete" : report.stopped ? "stopped early: " + report.stopped : "incomplete";
  return el("div", { class: "card", id: "results" },
    el("h2", {}, "Results"),
    el("p", {}, `${fmt(report.states)} states, ${fmt(report.unique_states ?? 0)} unique, depth ${report.max_depth}, ${fmt(report.seconds)} s: ${summary}`),
    report.known_unique_states ? el("p", { class: "muted" },
      `Pinned: ${fmt(report.known_unique_states[0] ?? report.known_unique_states)} unique states`) : null,
    (report.notes || []).map((n) => el("p", { class: "note" }, n)),
    el("table", {}, rows));
}

// ---------------------------------------------------------------------------------------------
// Rust's pretty Debug output ({:#?}) as a tree, and what changed between two of them
// ---------------------------------------------------------------------------------------------

function parseDebug(text) {
  const root = { children: [] };
  const stack = [root];
  for (const raw of (text || "").split("\n")) {
    let t = raw.trim();
    if (!t) continue;
    if (/^[\]\)\}],?$/.test(t)) { if (stack.length > 1) stack.pop(); continue; }
    if (t.endsWith(",")) t = t.slice(0, -1);
    let key = null;
    const m = /^([^\s:({\[",]+(?:\([^)]*\))?|"(?:[^"\\]|\\.)*"): (.*)$/.exec(t);
    if (m) { key = m[1]; t = m[2]; }
    const top = stack[stack.length - 1];
    const last = t.slice(-1);
    if ((last === "{" || last === "(" || last === "[") && !/(\{\}|\(\)|\[\])$/.test(t)) {
      const node = { key, label: t.slice(0, -1).trim(), open: last, children: [] };
      top.children.push(node);
      stack.push(node);
    } else {
      top.children.push({ key, value: t });
    }
  }
  return root.children.length === 1 ? root.children[0] : root;
}

// Rust's one-line Debug output ({:?}, as messages are printed) as the same tree.
function parseDebugLine(text) {
  let i = 0;
  const n = text.length;
  const CLOSE = { "(": ")", "[": "]", "{": "}" };
  const fieldRe = /([A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*"|-?\d+): /y;
  const skip = () => { while (text[i] === " ") i++; };
  function value(key) {
    skip();
    let label = "";
    while (i < n) {
      const c = text[i];
      if (c === '"') {
        const s = i++;
        while (i < n && text[i] !== '"') { if (text[i] === "\\") i++; i++; }
        i++;
        label += text.slice(s, i);
        continue;
      }
      if (c in CLOSE) break;
      if (c === "," || c === ")" || c === "]" || c === "}") return { key, value: label.trim() };
      label += c; i++;
    }
    if (i >= n) return { key, value: label.trim() };
    const open = text[i++], close = CLOSE[open];
    skip();
    if (text[i] === close) { i++; return { key, value: label.trim() + " " + open + close }; }
    const node = { key, label: label.trim(), open, children: [] };
    while (i < n) {
      skip();
      let k = null;
      if (open === "{") {
        fieldRe.lastIndex = i;
        const m = fieldRe.exec(text);
        if (m) { k = m[1]; i = fieldRe.lastIndex; }
      }
      node.children.push(value(k));
      skip();
      if (text[i] === ",") { i++; skip(); if (text[i] === close) { i++; break; } continue; }
      if (text[i] === close) { i++; break; }
      // Something this reader does not follow: keep the rest as text.
      node.children.push({ key: null, value: text.slice(i) });
      i = n;
    }
    return node;
  }
  const v = value(null);
  if (i < n) return { key: null, value: text };
  return v;
}

// Hovering `target` shows `text` in a floating box: as a tree of fields (a message's Debug
// form), or as plain lines.
function tip(target, text, plain) {
  let box = document.getElementById("tip");
  const move = (e) => {
    box.style.left = Math.min(e.clientX + 14, window.innerWidth - box.offsetWidth - 8) + "px";
    box.style.top = Math.min(e.clientY + 14, window.innerHeight - box.offsetHeight - 8) + "px";
  };
  target.addEventListener("mouseenter", (e) => {
    if (!box) { box = el("div", { id: "tip", class: "tip" }); document.body.append(box); }
    box.replaceChildren(plain ? el("pre", {}, text) : el("ul", { class: "tree" }, renderNode(parseDebugLine(text), "", null, false)));
    box.style.display = "block";
    move(e);
  });
  target.addEventListener("mousemove", (e) => box && move(e));
  target.addEventListener("mouseleave", () => { if (box) box.style.display = "none"; });
}

function hideTip() {
  const box = document.getElementById("tip");
  if (box) box.style.display = "none";
}

function flatten(node, path, out) {
  const here = path + "/" + (node.key ?? "");
  if (node.children) {
    out.set(here, "<" + (node.label || "") + ">");
    node.children.forEach((c, i) => flatten(c, here + (c.key === null ? "#" + i : ""), out));
  } else {
    out.set(here, node.value);
  }
  return out;
}

function renderNode(node, path, before, changesOnly) {
  const here = path + "/" + (node.key ?? "");
  const keyEl = node.key !== null && node.key !== undefined ? [el("span", { class: "k" }, node.key), ": "] : [];
  if (!node.children) {
    const was = before ? before.get(here) : undefined;
    const isChanged = before && was !== node.value;
    if (changesOnly && !isChanged) return null;
    return el("li", { class: isChanged ? "changed" : null, "data-path": here }, keyEl, node.value,
      isChanged && was !== undefined ? el("span", { class: "was", title: "before this step" }, was.startsWith("<") ? was.slice(1, -1) + " …" : was) : null);
  }
  const kids = node.children.map((c, i) => renderNode(c, here + (c.key === null ? "#" + i : ""), before, changesOnly))
    .filter((x) => x !== null);
  const isChanged = before && (before.get(here) !== "<" + (node.label || "") + ">" || kids.some((k) => k.classList.contains("changed") || k.dataset.changed));
  if (changesOnly && !isChanged) return null;
  const close = { "{": "}", "(": ")", "[": "]" }[node.open] || "";
  const li = el("li", { "data-path": here }, keyEl, (node.label || "") + " " + node.open, el("ul", { class: "tree" }, kids), close);
  if (isChanged) li.dataset.changed = "1";
  return li;
}

// ---------------------------------------------------------------------------------------------
// The trace view
// ---------------------------------------------------------------------------------------------

function openTrace(title, trace, query, step) {
  current = { title, trace, query, step: Math.max(0, Math.min(step || 0, trace.steps.length)), changesOnly: false, open: {} };
  renderTrace();
}

function setStep(k) {
  if (!current) return;
  const n = current.trace.steps.length;
  current.step = Math.max(0, Math.min(k, n));
  if (current.query) {
    const q = new URLSearchParams(current.query);
    q.set("step", String(current.step));
    history.replaceState(null, "", "#" + route().path + "?" + q);
  }
  renderTrace();
}

function stepText(s) {
  switch (s.kind) {
    case "deliver": return `${s.src} → ${s.dst}: ${s.message}`;
    case "drop": return `lost: ${s.src} → ${s.dst}: ${s.message}`;
    case "timeout": return `${s.actor} times out: ${s.message}`;
    case "crash": return `${s.actor} crashes`;
    case "recover": return `${s.actor} restarts from its saved state`;
    case "random": return `${s.actor} chooses ${s.message}`;
    default: return s.message || "";
  }
}

// How a liveness counterexample goes on forever (the report's `lasso`), as the CLI says it.
function lassoText(trace) {
  const l = trace.lasso, n = trace.steps.length;
  const fair = l.fairness.length ? "weakly fair in " + l.fairness.join(", ") : "no fairness assumed";
  const at = n === 0 ? "in the initial state" : `after step ${n}`;
  if (l.kind === "cycle") return `↻ steps ${l.loop_from} to ${n} repeat forever (${fair})`;
  if (l.kind === "deadlock") return `■ ${at} no step is enabled: deadlock`;
  return `■ ${at} only steps no fairness covers are enabled (crashes, losses): the behaviour may stop here (${fair})`;
}

function renderTrace() {
  const { trace, step, title } = current;
  const n = trace.steps.length;
  const slider = el("input", { type: "range", min: 0, max: n, value: step, id: "slider",
    oninput: (e) => setStep(Number(e.target.value)) });
  const bar = el("div", { class: "tracebar" },
    el("b", {}, title),
    el("span", { id: "trace-length", "data-steps": n }, `${n} steps${trace.shortest ? ", a shortest trace" : ""}`),
    el("button", { onclick: () => setStep(step - 1), id: "prev" }, "◀"), slider,
    el("button", { onclick: () => setStep(step + 1), id: "next" }, "▶"),
    el("span", { id: "step-label" }, `step ${step} of ${n}`),
    el("label", {}, el("input", { type: "checkbox", id: "changes-only", checked: current.changesOnly ? true : null,
      onchange: (e) => { current.changesOnly = e.target.checked; renderTrace(); } }), " changes only"),
    el("span", { class: "muted" }, el("kbd", {}, "j"), "/", el("kbd", {}, "k"), " or arrows to step"));
  const steps = el("div", { class: "steps card", id: "steps" },
    el("div", { class: step === 0 ? "selected" : null, "data-step": 0, onclick: () => setStep(0) }, "0. initial state"),
    trace.steps.map((s) => [
      trace.lasso && trace.lasso.loop_from === s.step ? el("div", { class: "lasso-mark", id: "cycle-start" }, "↻ the cycle starts here") : null,
      el("div", { class: s.step === step ? "selected" : null, "data-step": s.step, title: stepText(s),
        onclick: () => setStep(s.step) }, `${s.step}. ${stepText(s)}`)]),
    trace.lasso ? el("div", { class: "lasso-mark", id: "lasso" }, lassoText(trace)) : null);
  const parts = [bar, el("div", { class: "trace" }, steps, diagram(trace, step), statePanel(trace, step))];
  if (current.explore) parts.splice(1, 0, explorePanel());
  if (trace.states && trace.states[step] && trace.states[step].view) parts.push(protocolView(trace, step));
  if (trace.states && trace.states.length) parts.push(historyTimeline(trace, step));
  if (current.query && !current.explore && route().path === "/check") parts.unshift(el("p", {}, el("a", { href: "#/check?" + backQuery(current.query) }, "← results")));
  $app.replaceChildren(...parts);
  const sel = steps.querySelector(".selected");
  if (sel) sel.scrollIntoView({ block: "nearest" });
}

function backQuery(q) {
  const b = new URLSearchParams(q);
  b.delete("prop"); b.delete("step"); b.delete("run");
  return b;
}

// The sequence diagram: one lane per actor, one row per step, so labels never overlap; the
// messages in flight after the selected step are drawn, dashed, right below it.
function diagram(trace, selected) {
  const actors = trace.participants.length ? trace.participants : ["state"];
  const lane = Math.max(100, Math.min(200, Math.floor(600 / actors.length)));
  const x = (name) => 20 + lane / 2 + Math.max(0, actors.indexOf(name)) * lane;
  const RH = 24, top = 34;
  const pending = (trace.states && trace.states[selected]) ? trace.states[selected].in_flight : [];
  const rows = [];
  let y = top;
  const addRow = (kind, data) => { rows.push({ kind, y, ...data }); y += kind === "pending" ? 20 : RH; };
  addRow("step", { step: 0, s: null });
  if (selected === 0) pending.forEach((m) => addRow("pending", { m }));
  for (const s of trace.steps) {
    addRow("step", { step: s.step, s });
    if (s.step === selected) pending.forEach((m) => addRow("pending", { m }));
  }
  const width = 40 + lane * actors.length, height = y + 10;
  const g = svg("svg", { width, height, id: "diagram" });
  g.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#1d2330" })),
    svg("marker", { id: "arrow-pending", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a93a6" }))));
  for (const r of rows) {
    if (r.kind === "step") {
      const row = svg("g", { class: "row" + (r.step === selected ? " selected" : ""), "data-step": r.step, onclick: () => setStep(r.step) },
        svg("rect", { class: "bg", x: 0, y: r.y - RH / 2, width, height: RH, fill: "transparent" }));
      g.append(row);
      r.g = row;
    }
  }
  actors.forEach((a) => {
    g.append(svg("text", { x: x(a), y: 16, "text-anchor": "middle", "font-weight": "600" }, a));
    g.append(svg("line", { x1: x(a), y1: 22, x2: x(a), y2: height, stroke: "#c5cad6" }));
  });
  const label = (text, x1, x2, yy, attrs, fields) => {
    const room = Math.max(90, Math.abs(x2 - x1) - 8);
    const max = Math.floor(room / 7);
    const shown = text.length > max ? text.slice(0, max - 1) + "…" : text;
    const t = svg("text", { x: (x1 + x2) / 2, y: yy - 4, "text-anchor": "middle", class: "msg-label", ...attrs }, shown);
    tip(t, fields || text.replace(/^(in flight|lost): /, ""));
    return t;
  };
  for (const r of rows) {
    const target = r.g || g;
    if (r.kind === "pending") {
      const x1 = x(r.m.src), x2 = x(r.m.dst);
      target.append(svg("line", { x1, y1: r.y, x2: x2 === x1 ? x1 + 30 : x2, y2: r.y, stroke: "#8a93a6", "stroke-dasharray": "4 3", "marker-end": "url(#arrow-pending)", class: "pending-msg" }));
      target.append(label("in flight: " + r.m.message, x1, x2 === x1 ? x1 + 200 : x2, r.y + 1, { fill: "#8a93a6" }, r.m.fields));
      continue;
    }
    const s = r.s;
    target.append(svg("text", { x: 4, y: r.y + 4, fill: "#6b7385" }, String(r.step)));
    if (!s) continue;
    if (s.kind === "deliver" || s.kind === "drop") {
      const x1 = x(s.src), x2 = x(s.dst);
      const lost = s.kind === "drop";
      if (x1 === x2) {
        target.append(svg("path", { d: `M ${x1} ${r.y - 6} h 24 v 12 h -24`, fill: "none", stroke: "#1d2330", "marker-end": "url(#arrow)" }));
        const t = svg("text", { x: x1 + 30, y: r.y + 4, class: "msg-label" }, s.message.slice(0, 40));
        tip(t, s.fields || s.message);
        target.append(t);
      } else {
        const line = svg("line", { x1, y1: r.y + 2, x2, y2: r.y + 2, stroke: lost ? "#b42318" : "#1d2330", "stroke-dasharray": lost ? "5 3" : null, "marker-end": lost ? null : "url(#arrow)", class: "msg" });
        tip(line, s.fields || s.message);
        target.append(line);
        if (lost) target.append(svg("text", { x: x2 - 4, y: r.y + 6, fill: "#b42318" }, "✕"));
        target.append(label((lost ? "lost: " : "") + s.message, x1, x2, r.y, {}, s.fields));
      }
    } else {
      const ax = x(s.actor);
      const mark = { timeout: ["T", "#a15c07"], crash: ["✕", "#b42318"], recover: ["↻", "#1d7a46"], random: ["?", "#2f5bd3"] }[s.kind] || ["•", "#1d2330"];
      target.append(svg("circle", { cx: ax, cy: r.y, r: 8, fill: "#fff", stroke: mark[1] }));
      target.append(svg("text", { x: ax, y: r.y + 4, "text-anchor": "middle", fill: mark[1] }, mark[0]));
      const what = s.kind === "timeout" ? "timeout " + s.message : s.kind === "crash" ? "crash" : s.kind === "recover" ? "restart" : (s.message || s.kind);
      target.append(svg("text", { x: ax + 12, y: r.y + 4, fill: mark[1] }, svg("title", {}, what), what.slice(0, 28)));
    }
  }
  return el("div", { class: "diagram" }, g);
}

// Each actor's state after the selected step, as a tree; what the step changed is highlighted.
function statePanel(trace, step) {
  if (!trace.states || !trace.states.length) {
    const text = step === 0 ? trace.initial_state : trace.steps[step - 1].state;
    return el("div", { class: "state card" }, el("pre", {}, text));
  }
  const now = trace.states[step];
  const prev = step > 0 ? trace.states[step - 1] : null;
  const actors = now.actors.map((a, i) => {
    const tree = parseDebug(a.state);
    const before = prev ? flatten(parseDebug(prev.actors[i].state), "", new Map()) : null;
    const changed = prev && (prev.actors[i].state !== a.state || prev.actors[i].crashed !== a.crashed);
    const open = current.open[a.name] ?? (step === 0 || changed);
    if (current.changesOnly && !changed) return null;
    const body = el("ul", { class: "tree" }, renderNode(tree, "", changed ? before : null, current.changesOnly && changed));
    const box = el("div", { class: "actor" + (changed ? " changed" : "") + (a.crashed ? " crashed" : "") + (open ? "" : " collapsed"), "data-actor": a.name },
      el("div", { class: "head", onclick: () => { current.open[a.name] = !open; renderTrace(); } },
        open ? "▾" : "▸", a.name, a.crashed ? " (crashed)" : "", changed ? " (changed)" : "",
        a.timers.length ? el("span", { class: "muted" }, " timers: " + a.timers.join(", ")) : null),
      el("div", { class: "body" }, body));
    return box;
  }).filter((x) => x);
  const pending = el("div", { class: "card pending" }, el("h3", {}, `In flight (${now.in_flight.length})`),
    el("ul", {}, now.in_flight.map((m) => el("li", {}, `${m.src} → ${m.dst}: ${m.message}`))));
  return el("div", { class: "state", id: "state" }, actors, pending);
}

// The protocol's own picture (RaftScope-style logs, per-key ballots): tables from the model,
// cells coloured by their key (a term, a ballot), cells that the step changed outlined.
const PALETTE = ["#dbe7ff", "#ffe2c6", "#d6f5dd", "#f8d7f1", "#fff3b0", "#d9f3f7", "#e8ddff", "#ffd6d6"];

function protocolView(trace, step) {
  const tables = trace.states[step].view;
  const before = step > 0 && trace.states[step - 1].view ? trace.states[step - 1].view : null;
  const cards = tables.map((t) => {
    const prev = before ? before.find((b) => b.title === t.title) : null;
    return el("div", { class: "view-table" }, el("h3", {}, t.title),
      el("table", { class: "view" },
        el("tr", {}, t.columns.map((c) => el("th", {}, c))),
        t.rows.map((row, r) => el("tr", {}, row.map((cell, c) => {
          const old = prev && prev.rows[r] && prev.rows[r][c];
          const changed = before && (!old || old.text !== cell.text || old.mark !== cell.mark);
          const style = cell.colour !== undefined && cell.colour !== null ? `background:${PALETTE[cell.colour % PALETTE.length]}` : null;
          return el("td", { class: ["cell", cell.mark ? "mark-" + cell.mark : "", changed ? "changed" : ""].join(" ").trim(),
            style, title: cell.title || null }, cell.text);
        })))));
  });
  return el("div", { class: "card protocol-view", id: "protocol-view" }, cards);
}

// The clients' operations as bars from invocation to return, stepped like the trace.
function historyTimeline(trace, selected) {
  const clients = trace.participants.filter((p) => p.startsWith("client"));
  if (!clients.length) return el("div");
  const key = (m) => `${m.src}|${m.dst}|${m.message}`;
  const ops = [];
  const open = {};
  for (let k = 0; k < trace.states.length; k++) {
    const before = new Map();
    for (const m of k > 0 ? trace.states[k - 1].in_flight : []) before.set(key(m), (before.get(key(m)) || 0) + 1);
    const s = k > 0 ? trace.steps[k - 1] : null;
    if (s && s.kind === "deliver" && clients.includes(s.dst) && open[s.dst]) {
      open[s.dst].end = k; open[s.dst].reply = s.message; open[s.dst] = null;
    }
    for (const m of trace.states[k].in_flight) {
      const c = before.get(key(m)) || 0;
      if (c > 0) { before.set(key(m), c - 1); continue; }
      if (clients.includes(m.src) && !open[m.src]) {
        const op = { client: m.src, start: k, end: null, request: m.message, reply: null };
        ops.push(op); open[m.src] = op;
      }
    }
  }
  const n = trace.steps.length;
  const W = Math.max(600, 30 * n), left = 80, RH = 26;
  const sx = (k) => left + (k / Math.max(1, n)) * (W - left - 20);
  const g = svg("svg", { width: W, height: 30 + RH * clients.length, id: "history" });
  clients.forEach((c, i) => g.append(svg("text", { x: 4, y: 24 + RH * i + 14 }, c)));
  for (const op of ops) {
    const i = clients.indexOf(op.client);
    const x1 = sx(op.start), x2 = sx(op.end ?? n);
    const done = op.end !== null;
    g.append(svg("rect", { x: x1, y: 24 + RH * i, width: Math.max(4, x2 - x1), height: RH - 8, rx: 3,
      fill: done ? "#dfe7ff" : "#f3f4f7", stroke: done ? "#2f5bd3" : "#8a93a6", "stroke-dasharray": done ? null : "4 3" },
      svg("title", {}, `${op.request} → ${op.reply ?? "no reply yet"} (steps ${op.start}..${op.end ?? "…"})`)));
    g.append(svg("text", { x: x1 + 4, y: 24 + RH * i + 13 }, (op.request + (op.reply ? " → " + op.reply : "")).slice(0, Math.max(4, Math.floor((x2 - x1) / 7)))));
  }
  g.append(svg("line", { x1: sx(selected), x2: sx(selected), y1: 14, y2: 30 + RH * clients.length, stroke: "#b42318" }));
  return el("div", { class: "card history" }, el("h3", {}, "Client history"), el("div", { style: "overflow:auto" }, g));
}

// ---------------------------------------------------------------------------------------------
// Interactive stepping: choose the next action among those enabled, go back, branch
// ---------------------------------------------------------------------------------------------

function pathOf(query) {
  return (query.get("path") || "0").split(".").filter((x) => x !== "").map(Number);
}

async function showExplore(query) {
  const req = queryToRequest(query);
  const path = pathOf(query);
  const body = { protocol: req.protocol, params: req.params, path };
  if (req.network) body.network = req.network;
  if (req.bug) body.bug = req.bug;
  const r = await api("POST", "/api/step", body);
  if (r.code !== 200) {
    $app.replaceChildren(el("div", { class: "card" }, el("h1", {}, "Cannot follow this path"),
      el("p", { class: "error", id: "step-error" }, r.data.error)));
    return;
  }
  const n = r.data.trace.steps.length;
  const step = query.get("step") !== null ? Number(query.get("step")) : n;
  current = { title: `Exploring ${commandLine(req)}`, trace: r.data.trace, query, step: Math.min(step, n),
    changesOnly: false, open: {}, explore: { path, data: r.data } };
  renderTrace();
}

function goPath(path) {
  const q = new URLSearchParams(current.query);
  q.set("path", path.join("."));
  q.delete("step");
  location.hash = "#/explore?" + q;
}

function explorePanel() {
  const { path, data } = current.explore;
  const n = current.trace.steps.length;
  const atEnd = current.step === n;
  const actions = el("div", { id: "actions" },
    atEnd ? (data.actions.length ? data.actions.map((a, i) =>
      el("button", { class: "action", "data-action": i, onclick: () => goPath(path.concat([i])) }, stepText(a)))
      : el("p", { class: "muted" }, "Nothing can happen here: no action is enabled."))
      : el("p", {}, el("button", { id: "branch", onclick: () => goPath(path.slice(0, current.step + 1)) },
        `Continue from step ${current.step} (drops the ${n - current.step} steps after it)`)));
  const props = el("table", { id: "properties-here" }, data.properties.map((p) => {
    const leads = p.expectation === "leads-to";
    const verdict = p.expectation === "always" ? (p.condition ? "holds here" : "VIOLATED here")
      : leads ? (p.condition ? "its goal holds here" : p.from ? "triggered here, goal not yet" : "not triggered here")
      : (p.condition ? "reached here" : "not here");
    const cls = p.expectation === "always" ? (p.condition ? "holds" : "violated")
      : (p.condition ? "reached" : "unknown");
    return el("tr", {}, el("td", {}, p.expectation), el("td", {}, p.name), el("td", { class: "verdict " + cls }, verdict));
  }));
  return el("div", { class: "card explore" },
    el("h3", {}, atEnd ? `Next: ${data.actions.length} enabled actions` : "Viewing an earlier step"),
    actions,
    el("p", {}, el("button", { id: "back", disabled: path.length <= 1 ? true : null, onclick: () => goPath(path.slice(0, -1)) }, "◀ Undo the last step"),
      " ", el("span", { class: "muted" }, `path ${path.join(".")}`)),
    el("h3", {}, `Properties at step ${n}`), props);
}

// ---------------------------------------------------------------------------------------------
// Opening a trace file written by `synod check --trace-out FILE.json`
// ---------------------------------------------------------------------------------------------

function showOpen() {
  const input = el("input", { type: "file", accept: ".json,application/json", id: "file" });
  const msg = el("p", { class: "error", id: "open-error" });
  const load = async (file) => {
    try {
      const data = JSON.parse(await file.text());
      if (data.kind === "synod-recording") {
        location.hash = "#/recording";
        openRecording(`Recorded run (${file.name})`, data, null);
        return;
      }
      if (!data.trace || !data.trace.steps) throw new Error("neither a trace nor a recording: write one with synod check ... --trace-out FILE.json, or synod run|bench ... --record FILE");
      location.hash = "#/trace";
      openTrace(`${data.verdict === "violated" ? "Counterexample to" : "Example of"} "${data.property}" (${data.protocol}, ${file.name})`, data.trace, null, 0);
    } catch (e) {
      msg.textContent = `${file.name}: ${e.message}`;
    }
  };
  input.addEventListener("change", () => input.files[0] && load(input.files[0]));
  const path = el("input", { type: "text", id: "path", size: 60, placeholder: "/path/to/trace.json" });
  const byPath = async (p) => {
    const r = await api("GET", "/api/trace-file?path=" + encodeURIComponent(p));
    if (r.code !== 200) { msg.textContent = r.data.error; return; }
    // The link's other settings (a step, a recording's window) hold for the file it names.
    const q = new URLSearchParams(openQuery.get("path") === p ? openQuery : { path: p });
    current = null;
    history.replaceState(null, "", "#/open?" + q);
    if (r.data.kind === "synod-recording") return openRecording(`Recorded run (${p})`, r.data, q);
    openTrace(`${r.data.verdict === "violated" ? "Counterexample to" : "Example of"} "${r.data.property}" (${r.data.protocol}, ${p})`, r.data.trace, q, Number(openQuery.get("step") || 0));
  };
  const openQuery = route().query;
  const drop = el("div", { class: "drop", id: "dropzone" }, "Drop a trace file (from ", el("code", {}, "synod check … --trace-out FILE.json"),
    ") or a recorded run (from ", el("code", {}, "synod run|bench … --record FILE.json"), ") here, or choose one: ", input);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) load(e.dataTransfer.files[0]); });
  const form = el("p", {}, "Or a file on this machine: ", path, " ",
    el("button", { id: "open-path", onclick: () => byPath(path.value) }, "Open"));
  $app.replaceChildren(el("div", { class: "card" }, el("h1", {}, "Open a trace or a recorded run"), drop, form, msg));
  if (openQuery.get("path")) { path.value = openQuery.get("path"); byPath(openQuery.get("path")); }
}

// ---------------------------------------------------------------------------------------------
// Routing and keys
// ---------------------------------------------------------------------------------------------

async function render() {
  clearTimeout(pollTimer);
  hideTip();
  rec = null;
  const { path, query } = route();
  if (!catalog) {
    const r = await api("GET", "/api/catalog");
    catalog = r.data;
  }
  if (path === "/check") return showCheck(query);
  if (path === "/explore") return showExplore(query);
  if (path === "/open") { current = null; return showOpen(); }
  if (path === "/trace") { if (current) return renderTrace(); return showOpen(); }
  if (path === "/recording") return showOpen(); // a dropped file is not kept across a reload
  current = null;
  const m = /^\/p\/(.+)$/.exec(path);
  showCatalog(m ? decodeURIComponent(m[1]) : null);
}

window.addEventListener("hashchange", () => {
  // Stepping rewrites the hash with replaceState, which fires no event; any other change re-renders.
  current = null;
  // A dropped recording is on screen under #/recording, set just before: keep it.
  if (location.hash === "#/recording" && rec) return;
  render();
});

document.addEventListener("keydown", (e) => {
  if (!current || ["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName)) return;
  if (e.key === "j" || e.key === "ArrowDown" || e.key === "ArrowRight") { setStep(current.step + 1); e.preventDefault(); }
  else if (e.key === "k" || e.key === "ArrowUp" || e.key === "ArrowLeft") { setStep(current.step - 1); e.preventDefault(); }
  else if (e.key === "Home") { setStep(0); e.preventDefault(); }
  else if (e.key === "End") { setStep(current.trace.steps.length); e.preventDefault(); }
});

// Once recording.js (loaded after this file) is in.
window.addEventListener("DOMContentLoaded", render);
