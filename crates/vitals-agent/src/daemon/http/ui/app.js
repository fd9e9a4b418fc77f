// The Vitals dashboard: plain JavaScript, no dependencies, served by the agent itself.
// It loads the current state with plain GETs, then follows GET /v1/events (Server-Sent
// Events) and updates in place; the matrix, which has no events, is re-read every few
// seconds. The API token, when the agent asks for one, is kept in sessionStorage and sent
// as a bearer token (EventSource cannot send headers: there it goes as ?token=).
"use strict";

const state = {
  members: new Map(),      // name -> MemberView
  history: new Map(),      // name -> [{at: ms, to: status}]
  failures: [],            // [{member, at, silenceMs, reason}]
  self: null,
  leader: null,
  matrix: null,
  services: new Map(),     // name -> [Instance]
  started: Date.now(),
};
const $ = (id) => document.getElementById(id);
const HISTORY_WINDOW_MS = 10 * 60 * 1000;

function token() { return sessionStorage.getItem("vitalsToken") || ""; }

async function api(path) {
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  const response = await fetch(path, { headers });
  if (response.status === 401 || response.status === 403) {
    askToken();
    throw new Error("token needed");
  }
  return response;
}

async function json(path) {
  const response = await api(path);
  return response.ok ? response.json() : null;
}

function askToken() {
  $("auth").hidden = false;
  $("token").focus();
}

$("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("vitalsToken", $("token").value.trim());
  $("auth").hidden = true;
  start();
});

// ---- loading ----

async function loadMembers() {
  const list = await json("/v1/members");
  if (!list) return;
  const seen = new Set();
  for (const m of list) {
    seen.add(m.name);
    const held = state.members.get(m.name);
    if (!held || held.status !== m.status) note(m.name, m.status, Date.now() - m.status_age_ms);
    state.members.set(m.name, m);
  }
  for (const name of [...state.members.keys()]) if (!seen.has(name)) state.members.delete(name);
  renderMembers();
}

async function loadHistories() {
  const names = [...state.members.keys()].slice(0, 128);
  await Promise.all(names.map(async (name) => {
    const why = await json("/v1/members/" + encodeURIComponent(name) + "/why").catch(() => null);
    if (!why) return;
    const lane = [];
    for (const t of why.history || []) {
      lane.push({ at: Date.parse(t.at), to: t.to });
      if (t.to === "dead") addFailure(name, Date.parse(t.at), millis(t.silence), "");
    }
    if (lane.length) state.history.set(name, lane);
  }));
  renderTimeline();
  renderFailures();
}

async function loadLeader() {
  const response = await api("/v1/leader");
  state.leader = response.ok ? await response.json() : null;
  renderLeader();
}

async function loadMatrix() {
  state.matrix = await json("/v1/reachability");
  renderMatrix();
}

async function loadServices() {
  const names = (await json("/v1/services")) || [];
  state.services = new Map();
  await Promise.all(names.map(async (name) => {
    state.services.set(name, (await json("/v1/services/" + encodeURIComponent(name))) || []);
  }));
  renderServices();
}

// ---- the event stream ----

let stream = null;
function follow() {
  if (stream) stream.close();
  const url = "/v1/events" + (token() ? "?token=" + encodeURIComponent(token()) : "");
  stream = new EventSource(url);
  const status = $("stream");
  stream.onopen = () => { status.dataset.state = "live"; status.textContent = "live"; };
  stream.onerror = () => {
    status.dataset.state = "down";
    status.textContent = "reconnecting";
    poll();
  };
  stream.addEventListener("member", (e) => onMember(JSON.parse(e.data)));
  stream.addEventListener("leader", (e) => {
    const ev = JSON.parse(e.data);
    state.leader = Object.assign(state.leader || {}, { leader: ev.leader, term: ev.term });
    renderLeader();
  });
  for (const kind of ["check", "service"]) stream.addEventListener(kind, () => later("services", loadServices, 300));
  // Events were lost (the stream fell behind, or resumed past its ring): read it all again.
  for (const kind of ["gap", "lagged"]) stream.addEventListener(kind, () => reload());
}

function onMember(ev) {
  const at = Date.parse(ev.time) || Date.now();
  const held = state.members.get(ev.member);
  if (held) {
    held.status = ev.to;
    held.incarnation = ev.incarnation;
    held.status_age_ms = 0;
  } else {
    later("members", loadMembers, 200);
  }
  note(ev.member, ev.to, at);
  if (ev.to === "dead") {
    addFailure(ev.member, at, null, ev.reason || "");
    refineFailure(ev.member);
  }
  renderMembers(ev.member);
  renderTimeline();
  renderFailures();
  later("matrix", loadMatrix, 500);
}

// The silence before the verdict is in the member's history (`why`).
async function refineFailure(name) {
  const why = await json("/v1/members/" + encodeURIComponent(name) + "/why").catch(() => null);
  const dead = why && (why.history || []).filter((t) => t.to === "dead").pop();
  if (!dead) return;
  const failure = state.failures.find((f) => f.member === name && f.silenceMs == null);
  if (failure) failure.silenceMs = millis(dead.silence);
  renderFailures();
}

// Without a stream (an agent without /v1/events, or while it reconnects), poll.
let polling = null;
function poll() {
  if (polling) return;
  polling = setInterval(() => {
    if ($("stream").dataset.state === "live") { clearInterval(polling); polling = null; return; }
    loadMembers().catch(() => {});
  }, 2000);
}

const timers = {};
function later(key, fn, ms) {
  if (timers[key]) return;
  timers[key] = setTimeout(() => { timers[key] = null; fn().catch(() => {}); }, ms);
}

// ---- bookkeeping ----

function note(name, status, at) {
  const lane = state.history.get(name) || [];
  const last = lane[lane.length - 1];
  if (last && last.to === status) return;
  lane.push({ at, to: status });
  if (lane.length > 32) lane.shift();
  state.history.set(name, lane);
}

function addFailure(member, at, silenceMs, reason) {
  if (state.failures.some((f) => f.member === member && Math.abs(f.at - at) < 2000)) return;
  state.failures.push({ member, at, silenceMs, reason });
  state.failures.sort((a, b) => b.at - a.at);
  state.failures.length = Math.min(state.failures.length, 10);
}

function millis(d) {
  if (d == null) return null;
  if (typeof d === "number") return d;
  if (typeof d === "object" && "secs" in d) return d.secs * 1000 + (d.nanos || 0) / 1e6;
  return null;
}

// ---- rendering ----

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function ago(ms) {
  if (ms == null) return "";
  if (ms < 1000) return ms + " ms";
  if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
  return Math.round(ms / 60000) + " min";
}

function checks(m) {
  return m.check_status || "";
}

function renderMembers(changed) {
  const filter = $("filter").value.trim().toLowerCase();
  const body = $("members").tBodies[0];
  const rows = [];
  const counts = { alive: 0, suspect: 0, dead: 0, left: 0 };
  for (const m of [...state.members.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    counts[m.status] = (counts[m.status] || 0) + 1;
    const tags = Object.entries(m.tags || {}).map(([k, v]) => k + "=" + v);
    const text = [m.name, m.status, ...tags].join(" ").toLowerCase();
    if (filter && !text.includes(filter)) continue;
    const row = el("tr", { "data-member": m.name, "data-status": m.status },
      el("td", { text: m.name + (m.is_self ? " (this agent)" : "") }),
      el("td", { class: "status s-" + m.status, text: m.status }),
      el("td", { text: m.score == null ? "" : m.score.toFixed(2) }),
      el("td", { text: checks(m) }),
      el("td", { class: "muted", text: m.is_self ? "" : ago(m.last_heard_ms) }),
      el("td", { class: "muted", text: m.rtt_ms == null ? "" : m.rtt_ms.toFixed(1) + " ms" }),
      el("td", {}, ...tags.map((t) => el("span", { class: "tag", text: t }))));
    if (m.name === changed) row.className = "flash";
    rows.push(row);
  }
  body.replaceChildren(...rows);
  $("counts").textContent = Object.entries(counts).filter(([, n]) => n).map(([s, n]) => n + " " + s).join(" · ");
}

function renderLeader() {
  const l = state.leader;
  const strategy = state.self ? state.self.strategy : "";
  $("leader").textContent = l ? "leader: " + (l.leader || "(election)") + " · term " + l.term : "strategy " + strategy + " (no leader)";
}

function renderMatrix() {
  const m = state.matrix;
  const box = $("matrix");
  if (!m) { box.textContent = "no matrix"; return; }
  if (m.full) {
    const index = new Map(m.members.map((n, i) => [n, i]));
    const head = el("tr", {}, el("th", {}), ...m.members.map((n, i) => el("th", { title: n, text: String(i) })));
    const rows = m.rows.map((r) => el("tr", {}, el("th", { title: r.observer, text: r.observer + " " + index.get(r.observer) }),
      ...[...r.cells].map((c, i) => {
        const cls = c === "h" ? "h" : c === "x" ? "x" : c === "-" ? "self" : "u";
        const rtt = r.rtt_ms && r.rtt_ms[i] != null ? ", " + r.rtt_ms[i].toFixed(1) + " ms" : "";
        const word = { h: "hears", x: "does not hear", "-": "is", ".": "has no word about" }[c];
        const cell = el("td", { class: cls, "data-observer": r.observer, "data-target": m.members[i], title: r.observer + " " + word + " " + m.members[i] + rtt });
        if (c === "h" && r.rtt_ms && r.rtt_ms[i] != null) cell.style.opacity = String(Math.max(0.45, 1 - r.rtt_ms[i] / 200));
        return cell;
      })));
    box.replaceChildren(el("table", {}, head, ...rows));
  } else {
    const rows = m.observers.filter((o) => o.unheard > 0).map((o) =>
      el("tr", {}, el("td", { text: o.observer }), el("td", { text: o.heard + " heard" }), el("td", { class: "s-dead", text: o.unheard + " not" })));
    box.replaceChildren(el("p", { class: "muted", text: m.observers.length + " observers: counts only beyond 64 members" }), el("table", {}, ...rows));
  }
  const pairs = m.unreachable.map((u) => el("li", { "data-class": u.class, "data-observer": u.observer, "data-target": u.target, class: "c-" + u.class },
    u.observer + " does not hear " + u.target + ": " + u.class.replace("_", " ")));
  if (m.unreachable_total > m.unreachable.length) pairs.push(el("li", { class: "muted", text: "… " + (m.unreachable_total - m.unreachable.length) + " more" }));
  if (!pairs.length) pairs.push(el("li", { class: "muted", text: "every member hears every other" }));
  $("pairs").replaceChildren(...pairs);
}

function renderTimeline() {
  const now = Date.now();
  const from = now - HISTORY_WINDOW_MS;
  $("window").textContent = "last 10 minutes";
  const lanes = [];
  for (const name of [...state.members.keys()].sort()) {
    const lane = state.history.get(name) || [];
    const bar = el("div", { class: "bar" });
    lane.forEach((t, i) => {
      const start = Math.max(t.at, from);
      const end = i + 1 < lane.length ? lane[i + 1].at : now;
      if (end <= from) return;
      const span = el("span", { class: t.to, title: t.to + " from " + new Date(t.at).toLocaleTimeString() });
      span.style.left = ((start - from) / HISTORY_WINDOW_MS * 100) + "%";
      span.style.width = Math.max(0.2, (end - start) / HISTORY_WINDOW_MS * 100) + "%";
      bar.append(span);
    });
    lanes.push(el("div", { class: "lane", "data-member": name }, el("span", { class: "name", text: name }), bar));
  }
  $("timeline").replaceChildren(...lanes);
}

function renderFailures() {
  const rows = state.failures.map((f) => el("tr", { "data-member": f.member },
    el("td", { text: f.member }),
    el("td", { text: new Date(f.at).toLocaleTimeString() }),
    el("td", { text: f.silenceMs == null ? "" : Math.round(f.silenceMs) + " ms" }),
    el("td", { class: "muted", text: f.reason })));
  $("failures").tBodies[0].replaceChildren(...rows);
}

function renderServices() {
  const blocks = [];
  for (const [name, instances] of state.services) {
    const healthy = instances.filter((i) => i.member_status === "alive" && i.status !== "critical");
    const total = healthy.reduce((s, i) => s + i.weight * i.score, 0);
    const rows = instances.map((i) => {
      const routed = healthy.includes(i) && total > 0 ? (i.weight * i.score / total * 100).toFixed(0) + " %" : "0 %";
      return el("tr", {}, el("td", { text: i.name }), el("td", { text: i.addr }),
        el("td", { class: "s-" + i.member_status, text: i.member_status }), el("td", { text: i.status }),
        el("td", { text: i.score.toFixed(2) }), el("td", { text: String(i.weight) }), el("td", { text: routed }));
    });
    blocks.push(el("div", { class: "service" }, el("h2", { text: name + " (" + healthy.length + "/" + instances.length + " healthy)" }),
      el("table", {}, el("tr", {}, ...["member", "address", "member status", "checks", "score", "weight", "share of weighted picks"].map((h) => el("th", { text: h }))), ...rows)));
  }
  if (!blocks.length) blocks.push(el("p", { class: "muted", text: "no member announces a service" }));
  $("services").replaceChildren(...blocks);
}

$("filter").addEventListener("input", () => renderMembers());

// ---- start ----

async function reload() {
  await loadMembers();
  await Promise.all([loadHistories(), loadLeader(), loadMatrix(), loadServices()]);
}

async function start() {
  try {
    state.self = await json("/v1/self");
    if (state.self) $("node").textContent = state.self.name + " · " + state.self.strategy + " · " + state.self.preset;
    await reload();
    follow();
  } catch (e) {
    // A token is needed: the form is shown; start() runs again once it is given.
  }
}

setInterval(() => { loadMatrix().catch(() => {}); }, 3000);
setInterval(() => { loadMembers().catch(() => {}); renderTimeline(); }, 10000);
start();
