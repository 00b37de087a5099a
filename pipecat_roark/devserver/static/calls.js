// The call list: polls /api/calls so a call shows up while it is happening.
"use strict";

// The same time format and unit style as the call page (call.js).
const pad = (n, w) => String(n).padStart(w || 2, "0");

function fmtWhen(iso) {  // 2025-05-01 10:00:00 UTC
  if (!iso) return "–";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

function fmtMs(ms) {  // 640 ms, 1.25 s, 1 min 22.0 s
  if (typeof ms !== "number" || !isFinite(ms)) return "–";
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  if (Math.abs(ms) < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const m = Math.floor(ms / 60000);
  return `${m} min ${((ms - m * 60000) / 1000).toFixed(1)} s`;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function cell(row, label, text, cls) {
  const td = document.createElement("td");
  td.dataset.label = label;  // shown as a caption on phones
  if (cls) td.className = cls;
  td.textContent = text;
  row.appendChild(td);
  return td;
}

// Sorting and filtering (issue 14: status and cost); the choice survives the refresh.
const view = { sort: null, desc: false, status: "" };
let lastCalls = [];

function fmtUsd(v) {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  return v < 0.01 ? `$${v.toFixed(6)}` : `$${v.toFixed(4)}`;
}

function shown(calls) {
  let out = view.status ? calls.filter((c) => (c.endStatus || "(none)") === view.status) : calls.slice();
  if (view.sort) {
    const k = view.sort;
    out.sort((a, b) => {
      const x = a[k], y = b[k];
      if (x === null || x === undefined) return (y === null || y === undefined) ? 0 : 1;  // unknown last
      if (y === null || y === undefined) return -1;
      const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return view.desc ? -c : c;
    });
  }
  return out;
}

function renderFilters(calls) {
  const sel = document.getElementById("filter-status");
  const statuses = [...new Set(calls.map((c) => c.endStatus || "(none)"))].sort();
  const have = [...sel.options].slice(1).map((o) => o.value);
  if (have.join() !== statuses.join()) {
    while (sel.options.length > 1) sel.remove(1);
    for (const st of statuses) sel.appendChild(new Option(st, st));
    sel.value = statuses.includes(view.status) ? view.status : "";
  }
  for (const th of document.querySelectorAll("#calls th[data-sort]")) {
    th.dataset.sorted = th.dataset.sort === view.sort ? (view.desc ? "desc" : "asc") : "";
  }
}

function render(calls) {
  lastCalls = calls;
  renderFilters(calls);
  const all = calls;
  calls = shown(calls);
  const body = document.getElementById("calls-body");
  body.textContent = "";
  document.getElementById("empty").hidden = all.length > 0;
  document.getElementById("base-url-hint").textContent = `ROARK_BASE_URL=${location.origin}`;
  document.getElementById("summary").textContent = calls.length === all.length
    ? `${all.length} call(s)` : `${calls.length} of ${all.length} call(s)`;
  for (const c of calls) {
    const tr = document.createElement("tr");
    tr.className = "call-row";
    tr.dataset.callId = c.callId;
    const started = cell(tr, "Started", "");
    const a = document.createElement("a");
    a.href = c.links.page;
    a.textContent = fmtWhen(c.startedAt || c.firstSeen);
    started.appendChild(a);
    started.appendChild(el("div", "muted mono call-id", c.callId));
    const agent = cell(tr, "Agent", c.agentName || c.agentId || "–");
    if (c.telephonyProvider) agent.appendChild(el("div", "muted phone", `phone · ${c.telephonyProvider}`));
    cell(tr, "Duration", typeof c.durationS === "number" ? fmtMs(c.durationS * 1000) : "–", "num");
    cell(tr, "Turns", String(c.turns), "num");
    cell(tr, "Tool calls", String(c.toolCalls), "num");
    cell(tr, "Latency p95", fmtMs(c.latencyP95Ms), "num latency-p95");
    const errs = cell(tr, "Errors", "", "num errors");
    if (c.errorCount) {
      const b = document.createElement("span");
      b.className = "badge-bad";
      b.textContent = String(c.errorCount);
      errs.appendChild(b);
    } else {
      errs.textContent = "0";
    }
    const st = cell(tr, "Status", c.endStatus || "–", "end-status");
    if (c.endedBy) st.title = `ended by ${c.endedBy}`;
    cell(tr, "Cost", fmtUsd(c.costUsd) + (c.costComplete === false ? "+" : ""), "num cost");
    cell(tr, "End reason", c.complete ? (c.endReason || "–") : "in progress / no call-ended");
    const p = cell(tr, "Problems", "", "num problems");
    if (c.problemCount) {
      const b = document.createElement("span");
      b.className = "badge-bad";
      b.textContent = String(c.problemCount);
      p.appendChild(b);
    } else {
      p.textContent = "0";
    }
    tr.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") location.href = c.links.page; });
    body.appendChild(tr);
  }
  document.body.dataset.ready = "1";
}

async function refresh() {
  try {
    const r = await fetch("/api/calls", { cache: "no-store" });
    if (r.ok) render((await r.json()).calls);
  } catch (e) {
    document.getElementById("summary").textContent = "server unreachable";
  }
}

document.getElementById("filter-status").addEventListener("change", (ev) => {
  view.status = ev.target.value;
  render(lastCalls);
});
for (const th of document.querySelectorAll("#calls th[data-sort]")) {
  th.style.cursor = "pointer";
  th.addEventListener("click", () => {
    if (view.sort === th.dataset.sort) view.desc = !view.desc;
    else { view.sort = th.dataset.sort; view.desc = false; }
    render(lastCalls);
  });
}

refresh();
setInterval(refresh, 3000);
