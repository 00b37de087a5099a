// The call list: polls /api/calls so a call shows up while it is happening.
"use strict";

function fmtDuration(s) {
  if (s === null || s === undefined) return "–";
  const m = Math.floor(s / 60);
  const sec = (s - m * 60).toFixed(1);
  return m ? `${m}m ${sec}s` : `${sec}s`;
}

function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
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
    a.textContent = fmtTime(c.startedAt || c.firstSeen);
    started.appendChild(a);
    started.appendChild(el("div", "muted mono call-id", c.callId));
    cell(tr, "Agent", c.agentName || c.agentId || "–");
    cell(tr, "Duration", fmtDuration(c.durationS), "num");
    cell(tr, "Turns", String(c.turns), "num");
    cell(tr, "Tool calls", String(c.toolCalls), "num");
    cell(tr, "Latency p95", typeof c.latencyP95Ms === "number" ? `${c.latencyP95Ms} ms` : "–", "num latency-p95");
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
