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

function render(calls) {
  const body = document.getElementById("calls-body");
  body.textContent = "";
  document.getElementById("empty").hidden = calls.length > 0;
  document.getElementById("base-url-hint").textContent = `ROARK_BASE_URL=${location.origin}`;
  document.getElementById("summary").textContent = `${calls.length} call(s)`;
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
    cell(tr, "Agent", c.agentName || c.agentId || "–");
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

refresh();
setInterval(refresh, 3000);
