// A recorded real run (`synod run|bench --record FILE`) as a time-space diagram: one lane per
// node and per client, time flowing down, an arrow per datagram from its send to its receipt.
// Zoom and scroll in time, filter by lane and by message type, hover or click a message for its
// fields. The clients' operations are bars on their lanes; when the bench found the history not
// linearizable, the failing key's shortest failing prefix is drawn Porcupine-style below.
// Loaded after app.js, whose helpers (el, svg, fmt, parseDebugLine, tip) it uses.
"use strict";

const OP_COLOURS = { read: "#2f5bd3", write: "#1d7a46", cas: "#7a3db8" };
const MAX_ARROWS = 2500;
const DIAGRAM_HEIGHT = 640;

function openRecording(title, data, query) {
  current = null;
  const ev = data.events || [];
  let end = ev.length ? ev[ev.length - 1].at_us : 1000;
  for (const o of data.history || []) end = Math.max(end, o.complete_us ?? o.invoke_us);
  const start = ev.length ? ev[0].at_us : 0;
  // Open on the first hundred or so events: the start of a run is where a reader begins.
  const firstSpan = ev.length ? ev[Math.min(ev.length - 1, 100)].at_us - start : end - start;
  const lin = data.linearizability;
  const failing = lin && lin.verdict === "not linearizable" ? lin.detail : null;
  rec = {
    title, data, query, start, end: Math.max(end, start + 1),
    t0: start, span: Math.max(20, firstSpan * 1.05),
    lanes: new Set(data.lanes.map((_, i) => i)),
    types: new Set(data.types),
    selected: null,
    failing,
  };
  // A shared link keeps its window: ...&t0=MICROSECONDS&span=MICROSECONDS.
  if (query && query.get("t0") !== null && query.get("span") !== null) {
    rec.t0 = Number(query.get("t0"));
    rec.span = Math.max(5, Number(query.get("span")));
  }
  renderRecording();
}

function recSetView(t0, span) {
  const total = rec.end - rec.start;
  rec.span = Math.max(5, Math.min(span, total * 1.1 + 10));
  rec.t0 = Math.max(rec.start - rec.span * 0.05, Math.min(t0, rec.end - rec.span * 0.5));
  if (rec.query) {
    rec.query.set("t0", rec.t0.toFixed(1));
    rec.query.set("span", rec.span.toFixed(1));
    history.replaceState(null, "", "#/open?" + rec.query);
  }
  renderRecording();
}

function recZoom(factor, at) {
  const centre = at ?? rec.t0 + rec.span / 2;
  const span = rec.span * factor;
  recSetView(centre - (centre - rec.t0) * factor, span);
}

function usText(us) {
  if (us === null || us === undefined) return "?";
  if (Math.abs(us) >= 1e6) return (us / 1e6).toFixed(3) + " s";
  if (Math.abs(us) >= 1e3) return (us / 1e3).toFixed(3) + " ms";
  return us.toFixed(1) + " µs";
}

// The first index whose time is at least t (events are sorted by time).
function firstAt(events, t) {
  let lo = 0, hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (events[mid].at_us < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function opText(o) {
  const what = o.f === "read" ? "read" : o.f === "write" ? `write ${o.value}` : `cas ${o.value[0]}→${o.value[1]}`;
  const out = typeof o.outcome === "object" ? `read_ok ${o.outcome.read_ok}` : o.outcome;
  return `c${o.client} k${o.key} ${what} → ${out}`;
}

function renderRecording() {
  const { data } = rec;
  const lin = data.linearizability;
  const head = el("div", { class: "card" },
    el("h1", {}, rec.title),
    el("p", { class: "mono" }, data.command || ""),
    el("p", {}, `${fmt(data.recorded_events)} events recorded`,
      data.dropped_events ? el("span", { class: "note" }, `, ${fmt(data.dropped_events)} later ones dropped (--record-limit ${fmt(data.max_events)})`) : "",
      data.history ? `; ${fmt(data.history.length)} client operations` : "",
      data.history_omitted ? el("span", { class: "note" }, ` (${fmt(data.history_omitted)} more left out of the file)`) : "",
      data.marks && data.marks.length ? `; ${data.marks.map((m) => `${data.lanes[m.lane].name} ${m.what} at ${usText(m.at_us)}`).join(", ")}` : ""),
    lin ? el("p", { id: "rec-verdict", class: "verdict " + (lin.verdict === "linearizable" ? "holds" : lin.verdict === "unknown" ? "unknown" : "violated") },
      `History (${fmt(lin.ops)} ops on ${fmt(lin.keys)} keys, each checked as a ${lin.model} object): ${lin.verdict}`,
      rec.failing ? ` (key ${rec.failing.key})` : "") : null);
  const parts = [head, recControls(), el("div", { class: "rec-main" }, recDiagram(), recDetail())];
  if (rec.failing) parts.push(porcupine(rec.failing));
  $app.replaceChildren(...parts);
}

function recControls() {
  const { data } = rec;
  const total = rec.end - rec.start;
  const slider = el("input", { type: "range", id: "rec-position", min: 0, max: 1000, step: 1,
    value: Math.round(1000 * (rec.t0 - rec.start) / Math.max(1, total - rec.span)),
    oninput: (e) => recSetView(rec.start + (Number(e.target.value) / 1000) * Math.max(0, total - rec.span), rec.span) });
  const laneBox = (i) => el("label", { class: "chip" }, el("input", { type: "checkbox", "data-lane": data.lanes[i].name, checked: rec.lanes.has(i) ? true : null,
    onchange: (e) => { e.target.checked ? rec.lanes.add(i) : rec.lanes.delete(i); renderRecording(); } }), " " + data.lanes[i].name);
  const typeBox = (t) => el("label", { class: "chip" }, el("input", { type: "checkbox", "data-type": t, checked: rec.types.has(t) ? true : null,
    onchange: (e) => { e.target.checked ? rec.types.add(t) : rec.types.delete(t); renderRecording(); } }), " " + t);
  const nodes = data.lanes.map((l, i) => i).filter((i) => data.lanes[i].node);
  const others = data.lanes.map((l, i) => i).filter((i) => !data.lanes[i].node);
  const setAll = (set, items, on) => { for (const x of items) on ? set.add(x) : set.delete(x); renderRecording(); };
  return el("div", { class: "card rec-controls" },
    el("div", { class: "tracebar" },
      el("button", { id: "rec-zoom-in", title: "Zoom in (+)", onclick: () => recZoom(0.5) }, "+"),
      el("button", { id: "rec-zoom-out", title: "Zoom out (-)", onclick: () => recZoom(2) }, "−"),
      el("button", { id: "rec-fit", onclick: () => recSetView(rec.start, total) }, "Whole run"),
      el("button", { onclick: () => recSetView(rec.t0 - rec.span * 0.8, rec.span) }, "◀"),
      slider,
      el("button", { onclick: () => recSetView(rec.t0 + rec.span * 0.8, rec.span) }, "▶"),
      el("span", { id: "rec-window" }, `${usText(rec.t0)} – ${usText(rec.t0 + rec.span)} of ${usText(rec.end)}`),
      el("span", { class: "muted" }, "wheel scrolls, ctrl+wheel zooms")),
    el("div", { class: "filters" }, el("b", {}, "Nodes "), nodes.map(laneBox),
      others.length ? [el("b", {}, " Clients "),
        el("button", { class: "small", onclick: () => setAll(rec.lanes, others, true) }, "all"),
        el("button", { class: "small", onclick: () => setAll(rec.lanes, others, false) }, "none"),
        others.map(laneBox)] : null),
    el("div", { class: "filters" }, el("b", {}, "Messages "),
      el("button", { class: "small", onclick: () => setAll(rec.types, data.types, true) }, "all"),
      el("button", { class: "small", onclick: () => setAll(rec.types, data.types, false) }, "none"),
      data.types.map(typeBox)));
}

function recDiagram() {
  const { data } = rec;
  const events = data.events;
  const lanes = data.lanes.map((l, i) => i).filter((i) => rec.lanes.has(i));
  const laneW = Math.max(60, Math.min(150, Math.floor(1000 / Math.max(1, lanes.length))));
  const col = new Map(lanes.map((l, k) => [l, 40 + laneW / 2 + k * laneW]));
  const top = 30, H = DIAGRAM_HEIGHT;
  const t0 = rec.t0, t1 = rec.t0 + rec.span;
  const y = (t) => top + ((t - t0) / rec.span) * H;
  const clampY = (t) => Math.max(top - 4, Math.min(top + H + 4, y(t)));
  const width = 60 + laneW * lanes.length, height = top + H + 20;
  const g = svg("svg", { width, height, id: "rec-diagram" });
  g.append(svg("defs", {}, svg("marker", { id: "rec-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "context-stroke" }))));
  // The time axis: ten ticks.
  for (let k = 0; k <= 10; k++) {
    const t = t0 + (k / 10) * rec.span;
    g.append(svg("line", { x1: 0, x2: width, y1: y(t), y2: y(t), stroke: "#eef0f4" }));
    g.append(svg("text", { x: 2, y: y(t) - 2, fill: "#8a93a6", class: "tick" }, usText(t)));
  }
  for (const l of lanes) {
    const x = col.get(l);
    g.append(svg("text", { x, y: 16, "text-anchor": "middle", "font-weight": "600", class: "lane-name" }, data.lanes[l].name,
      svg("title", {}, data.lanes[l].addr)));
    g.append(svg("line", { x1: x, y1: 22, x2: x, y2: height, stroke: data.lanes[l].node ? "#9aa3b5" : "#d0d5df" }));
  }
  // The clients' operations, as bars on their lanes.
  const laneOfClient = new Map();
  data.lanes.forEach((l, i) => { if (/^c\d+$/.test(l.name)) laneOfClient.set(Number(l.name.slice(1)), i); });
  const failingKey = rec.failing ? rec.failing.key : null;
  for (const o of data.history || []) {
    const l = laneOfClient.get(o.client);
    if (l === undefined || !rec.lanes.has(l)) continue;
    const end = o.complete_us ?? rec.end;
    if (end < t0 || o.invoke_us > t1) continue;
    const x = col.get(l);
    const y1 = clampY(o.invoke_us), y2 = clampY(end);
    const bad = failingKey !== null && o.key === failingKey;
    const bar = svg("rect", { x: x - 5, y: y1, width: 10, height: Math.max(2, y2 - y1), rx: 2, class: "op",
      fill: OP_COLOURS[o.f] || "#666", "fill-opacity": 0.25, stroke: bad ? "#b42318" : OP_COLOURS[o.f], "stroke-width": bad ? 2 : 1,
      "stroke-dasharray": o.complete_us === null ? "3 2" : null });
    tip(bar, `${opText(o)}\ninvoked ${usText(o.invoke_us)}, ${o.complete_us === null ? "no reply (indeterminate)" : "returned " + usText(o.complete_us)}`, true);
    g.append(bar);
  }
  // Which sends to draw: those in the window, and those whose receipt is in it.
  const from = firstAt(events, t0 - 1), to = firstAt(events, t1 + 1);
  const drawn = new Set();
  const arrows = [], marks = [];
  for (let i = from; i < to; i++) {
    const e = events[i];
    if (!rec.types.has(e.type)) continue;
    if (e.kind === "send" || e.kind === "lost") drawn.add(i);
    else if (e.kind === "receive") drawn.add(e.sent_as ?? i);
    else marks.push(i);
  }
  const order = [...drawn].sort((a, b) => a - b);
  let skipped = 0;
  for (const i of order) {
    const e = events[i];
    if (arrows.length >= MAX_ARROWS) { skipped++; continue; }
    const recv = e.kind === "send" || e.kind === "lost" ? (e.received_as !== undefined ? events[e.received_as] : null) : e;
    const send = e.kind === "receive" ? null : e;
    const src = send ? send.lane : recv.peer, dst = send ? send.peer : recv.lane;
    if (!rec.lanes.has(src) || !rec.lanes.has(dst)) continue;
    arrows.push({ i, send, recv, src, dst });
  }
  const placed = []; // label boxes, so that labels never overlap
  const fits = (x, yy, w) => {
    for (const b of placed) if (Math.abs(b.y - yy) < 11 && x < b.x + b.w && b.x < x + w) return false;
    placed.push({ x, y: yy, w });
    return true;
  };
  for (const a of arrows) {
    const x1 = col.get(a.src), x2 = col.get(a.dst);
    const sendT = a.send ? a.send.at_us : null, recvT = a.recv ? a.recv.at_us : null;
    const ev = a.send || a.recv;
    const selected = rec.selected === a.i;
    const lost = a.send && !a.recv;
    const colour = selected ? "#d97706" : a.send && a.send.kind === "lost" ? "#b42318" : lost ? "#b42318" : a.send ? "#1d2330" : "#8a93a6";
    const ya = sendT !== null ? clampY(sendT) : clampY(recvT), yb = recvT !== null ? clampY(recvT) : ya + 14;
    let xb = x2;
    if (lost) xb = x1 + (x2 - x1) * 0.45;
    const line = svg("line", { x1: sendT !== null ? x1 : x2 + (x1 - x2) * 0.3, y1: ya, x2: xb, y2: yb, stroke: colour, "stroke-width": selected ? 2.5 : 1.2,
      "stroke-dasharray": lost || !a.send ? "4 3" : null, "marker-end": lost ? null : "url(#rec-arrow)", class: "msg", "data-event": a.i, "data-type": ev.type,
      onclick: () => { rec.selected = a.i; renderRecording(); } });
    tip(line, ev.fields || ev.message);
    g.append(line);
    if (lost) g.append(svg("text", { x: xb - 4, y: yb + 4, fill: "#b42318" }, "✕"));
    // A label at the arrow's middle, if there is room for it.
    const lx = (x1 + xb) / 2, ly = (ya + yb) / 2;
    const text = ev.type;
    const w = text.length * 7 + 4;
    if (fits(lx - w / 2, ly, w)) {
      const label = svg("text", { x: lx, y: ly - 2, "text-anchor": "middle", class: "msg-label", fill: colour, "data-event": a.i,
        onclick: () => { rec.selected = a.i; renderRecording(); } }, text);
      tip(label, ev.fields || ev.message);
      g.append(label);
    }
  }
  for (const i of marks) {
    const e = events[i];
    if (!rec.lanes.has(e.lane)) continue;
    const x = col.get(e.lane), yy = y(e.at_us);
    const timeout = e.kind === "timeout";
    const c = svg("circle", { cx: x, cy: yy, r: 7, fill: "#fff", stroke: timeout ? "#a15c07" : "#b42318", class: timeout ? "timeout" : "dropped" });
    tip(c, (timeout ? "timeout: " : "dropped on receipt: ") + e.message);
    g.append(c);
    g.append(svg("text", { x, y: yy + 3.5, "text-anchor": "middle", fill: timeout ? "#a15c07" : "#b42318", "font-size": 9, "pointer-events": "none" }, timeout ? "T" : "✕"));
  }
  for (const m of data.marks || []) {
    if (!rec.lanes.has(m.lane) || m.at_us < t0 || m.at_us > t1) continue;
    const x = col.get(m.lane), yy = y(m.at_us);
    const crash = m.what.startsWith("crash");
    g.append(svg("line", { x1: x - 14, x2: x + 14, y1: yy, y2: yy, stroke: crash ? "#b42318" : "#1d7a46", "stroke-width": 3 }));
    g.append(svg("text", { x: x + 16, y: yy + 4, fill: crash ? "#b42318" : "#1d7a46", class: "node-mark" }, m.what));
  }
  const box = el("div", { class: "diagram rec-diagram", id: "rec-box" }, g,
    skipped ? el("p", { class: "note", id: "rec-skipped" }, `${fmt(skipped)} more messages in this window are not drawn: zoom in`) : null);
  box.addEventListener("wheel", (e) => {
    e.preventDefault();
    const rect = g.getBoundingClientRect();
    const at = t0 + ((e.clientY - rect.top - top) / H) * rec.span;
    if (e.ctrlKey || e.metaKey) recZoom(e.deltaY > 0 ? 1.25 : 0.8, at);
    else recSetView(rec.t0 + Math.sign(e.deltaY) * rec.span * 0.1, rec.span);
  }, { passive: false });
  return box;
}

// The selected message: its fields as a tree, both ends and the time between them.
function recDetail() {
  const { data } = rec;
  const panel = el("div", { class: "card rec-detail", id: "rec-detail" });
  if (rec.selected === null) {
    panel.append(el("p", { class: "muted" }, "Click a message for its fields, its two ends and its latency; hover one for its fields."));
    return panel;
  }
  const e = data.events[rec.selected];
  const send = e.kind === "receive" ? (e.sent_as !== undefined ? data.events[e.sent_as] : null) : e;
  const recv = e.kind === "receive" ? e : (e.received_as !== undefined ? data.events[e.received_as] : null);
  const src = send ? send.lane : recv.peer, dst = send ? send.peer : recv.lane;
  panel.append(el("h3", {}, `${e.type}: ${data.lanes[src].name} → ${data.lanes[dst].name}`),
    el("ul", { class: "tree" }, renderNode(parseDebugLine(e.fields || e.message), "", null, false)),
    el("table", {},
      el("tr", {}, el("td", {}, "sent"), el("td", {}, send ? usText(send.at_us) + (send.kind === "lost" ? " (dropped by fault injection)" : "") : "not recorded (sender outside the recording)")),
      el("tr", {}, el("td", {}, "received"), el("td", {}, recv ? usText(recv.at_us) : "never: lost (loss, a partition, or a crash before it was read)")),
      send && recv ? el("tr", {}, el("td", {}, "in flight"), el("td", {}, usText(recv.at_us - send.at_us))) : null,
      el("tr", {}, el("td", {}, "from"), el("td", { class: "mono" }, `${data.lanes[src].name} ${data.lanes[src].addr}`)),
      el("tr", {}, el("td", {}, "to"), el("td", { class: "mono" }, `${data.lanes[dst].name} ${data.lanes[dst].addr}`))),
    el("button", { onclick: () => { rec.selected = null; renderRecording(); } }, "Clear"));
  return panel;
}

// Porcupine's picture of a failing key: one row per client, each operation a bar from its
// invocation to its return; the operation that no linearization explains is marked.
function porcupine(fail) {
  const ops = fail.prefix;
  const clients = [...new Set(ops.map((o) => o.client))].sort((a, b) => a - b);
  const lo = Math.min(...ops.map((o) => o.invoke_us));
  let hi = Math.max(...ops.map((o) => o.complete_us ?? o.invoke_us));
  if (fail.at_us !== null) hi = Math.max(hi, fail.at_us);
  hi += (hi - lo) * 0.08 + 1;
  const W = 1000, left = 60, RH = 30;
  const x = (t) => left + ((t - lo) / (hi - lo)) * (W - left - 10);
  const g = svg("svg", { width: W, height: 40 + RH * clients.length, id: "porcupine" });
  clients.forEach((c, i) => g.append(svg("text", { x: 4, y: 30 + RH * i + 12 }, `c${c}`)));
  const culprit = ops.find((o) => o.complete_us !== null && fail.at_us !== null && Math.abs(o.complete_us - fail.at_us) < 0.01);
  for (const o of ops) {
    const i = clients.indexOf(o.client);
    const x1 = x(o.invoke_us), x2 = x(o.complete_us ?? hi);
    const bad = o === culprit;
    const r = svg("rect", { x: x1, y: 22 + RH * i, width: Math.max(3, x2 - x1), height: RH - 10, rx: 3, class: "op" + (bad ? " culprit" : ""),
      fill: bad ? "#fde2e0" : "#eef2ff", stroke: bad ? "#b42318" : OP_COLOURS[o.f], "stroke-width": bad ? 2 : 1, "stroke-dasharray": o.complete_us === null ? "4 3" : null });
    tip(r, `${opText(o)}\n${usText(o.invoke_us)} .. ${o.complete_us === null ? "no reply" : usText(o.complete_us)}`, true);
    g.append(r);
    const label = opText(o).replace(/^c\d+ k\d+ /, "");
    g.append(svg("text", { x: x1 + 3, y: 22 + RH * i + 14 }, label.slice(0, Math.max(3, Math.floor((x2 - x1) / 7)))));
  }
  if (fail.at_us !== null) {
    g.append(svg("line", { x1: x(fail.at_us), x2: x(fail.at_us), y1: 10, y2: 30 + RH * clients.length, stroke: "#b42318", "stroke-dasharray": "3 2" }));
    const right = x(fail.at_us) > W / 2;
    g.append(svg("text", { x: x(fail.at_us) + (right ? -4 : 4), y: 14, fill: "#b42318", "text-anchor": right ? "end" : "start" },
      "no linearization explains the history up to here"));
  }
  return el("div", { class: "card", id: "porcupine-card" },
    el("h2", {}, `Key ${fail.key}: the shortest failing prefix (${ops.length} operations)`),
    el("p", { class: "muted" }, "Every operation on the key invoked by the time marked; those without a reply by then may or may not have taken effect (dashed). ",
      culprit ? `The operation that returned at that time (${opText(culprit)}) has no place in any order consistent with real time.` : ""),
    el("button", { id: "show-prefix", onclick: () => {
      const l = new Set(rec.data.lanes.map((ln, i) => i).filter((i) => rec.data.lanes[i].node || clients.includes(Number(rec.data.lanes[i].name.slice(1)))));
      rec.lanes = l;
      recSetView(lo - (hi - lo) * 0.05, (hi - lo) * 1.1);
    } }, "Show these clients and this time in the diagram"),
    el("div", { style: "overflow:auto" }, g));
}

document.addEventListener("keydown", (e) => {
  if (!rec || current || !document.getElementById("rec-diagram") || ["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName)) return;
  if (e.key === "+" || e.key === "=") { recZoom(0.5); e.preventDefault(); }
  else if (e.key === "-") { recZoom(2); e.preventDefault(); }
  else if (e.key === "ArrowDown" || e.key === "j") { recSetView(rec.t0 + rec.span * 0.2, rec.span); e.preventDefault(); }
  else if (e.key === "ArrowUp" || e.key === "k") { recSetView(rec.t0 - rec.span * 0.2, rec.span); e.preventDefault(); }
});
