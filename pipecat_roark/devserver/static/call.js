// The call page. Data comes from /api/calls/<id>, or, in an exported file,
// from the embedded <script id="call-data"> (then nothing is fetched at all).
// Everything user-supplied is inserted with textContent, never as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const player = $("player");
  let data = null;
  let totalMs = 1;  // length of the shared time axis

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmtOffset(ms) {
    if (typeof ms !== "number") return "–";
    const s = ms / 1000;
    const m = Math.floor(s / 60);
    const rest = (s - m * 60).toFixed(1).padStart(4, "0");
    return `${m}:${rest}`;
  }

  // One time format on every page: UTC, written out (the list uses the same rules).
  const pad = (n, w) => String(n).padStart(w || 2, "0");
  function fmtWhen(iso) {  // a moment with its date: 2025-05-01 10:00:00 UTC
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
  }
  function fmtClock(iso) {  // a moment within the call: 10:00:00.250 UTC
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)} UTC`;
  }

  // One unit style for durations: ms under a second, s with two decimals
  // under a minute, then minutes and seconds (the list uses the same rules).
  function fmtMs(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return "–";
    if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
    if (Math.abs(ms) < 60000) return `${(ms / 1000).toFixed(2)} s`;
    const m = Math.floor(ms / 60000);
    return `${m} min ${((ms - m * 60000) / 1000).toFixed(1)} s`;
  }

  function yesNo(v) { return v === true ? "yes" : v === false ? "no" : v; }

  function pretty(value) {
    if (typeof value === "string") {
      try { return JSON.stringify(JSON.parse(value), null, 2); } catch (e) { return value; }
    }
    return JSON.stringify(value, null, 2);
  }

  function isOffset(v) { return typeof v === "number" && Number.isInteger(v) && v >= 0; }

  // ---- seeking -------------------------------------------------------------

  function seek(ms) {
    try { player.currentTime = ms / 1000; } catch (e) { /* no media yet */ }
    player.dataset.seekMs = String(ms);  // visible to tests even before media loads
    const p = player.play && player.play();
    if (p && p.catch) p.catch(() => {});  // autoplay policies may refuse; the seek still holds
    highlight(ms);
  }

  function highlight(ms) {
    document.querySelectorAll(".turn, .span, .wf-row, .log-line").forEach((e) => {
      const a = Number(e.dataset.offsetMs), b = Number(e.dataset.endOffsetMs);
      e.classList.toggle("active", e.dataset.offsetMs !== undefined && ms >= a && ms < (isNaN(b) ? a + 1 : b));
    });
    const left = `${Math.min(100, (ms / totalMs) * 100)}%`;
    document.querySelectorAll(".cursor").forEach((c) => { c.style.left = left; });
  }

  // ---- overview ------------------------------------------------------------

  function renderOverview() {
    $("call-id").textContent = data.callId;
    document.title = `pipecat-roark dev: ${data.callId}`;
    document.body.dataset.callId = data.callId;
    const facts = $("facts");
    facts.textContent = "";
    const started = data.started || {};
    const ended = data.ended || {};
    const add = (label, value) => {
      if (value === undefined || value === null || value === "") return;
      const li = el("li");
      li.appendChild(el("b", null, label + ": "));
      li.appendChild(document.createTextNode(String(value)));
      facts.appendChild(li);
    };
    add("Agent", started.agentName ? `${started.agentName} (${started.agentId})` : started.agentId);
    add("Started", fmtWhen(data.startedAt));
    add("Ended", fmtWhen(ended.callEndedAt));
    add("Duration", typeof data.durationS === "number" ? fmtMs(data.durationS * 1000) : null);
    add("End reason", data.complete ? ended.callEndedReason : "no call-ended received");
    add("End status", ended.callEndedStatus);
    add("Turns", data.turns);
    add("Tool calls", data.toolCalls);
    add("Agent spoke first", yesNo(ended.agentSpokeFirst));
    add("Test call", yesNo(started.isTest));
    add("Integration", started.roarkIntegrationId || ended.roarkIntegrationId);
    add("Chunks", data.chunks);
    if (data.captureOff && data.captureOff.length) add("Not captured", data.captureOff.join(", "));
    add("Audio consent", data.audioConsent);
    if (started.agentPrompt || started.metadata) {
      const li = el("li");
      const det = el("details");
      det.appendChild(el("summary", null, "Prompt & metadata"));
      if (started.agentPrompt) det.appendChild(el("pre", null, started.agentPrompt));
      if (started.metadata) det.appendChild(el("pre", null, pretty(started.metadata)));
      li.appendChild(det);
      facts.appendChild(li);
    }

    const rec = data.recording;
    const wav = $("link-wav"), json = $("link-json"), exp = $("link-export");
    if (data.exported) {
      if (rec.src) wav.href = rec.src; else wav.hidden = true;
      const blob = new Blob([JSON.stringify(Object.assign({}, data, { recording: Object.assign({}, rec, { src: undefined }) }), null, 2)],
        { type: "application/json" });
      json.href = URL.createObjectURL(blob);
      exp.hidden = true;
    } else {
      if (rec.available) wav.href = data.links.wav + location.search; else wav.hidden = true;
      json.href = data.links.json;
      exp.href = data.links.export + location.search;
    }
    // Real file names: <call id>.wav / .json (the server sends the same names).
    const names = data.downloads || {};
    wav.download = names.wav || "call.wav";
    json.download = names.json || "call.json";
    exp.download = names.export || "call.html";
  }

  function renderProblems() {
    const ul = $("problem-list");
    ul.textContent = "";
    if (!data.problems.length) {
      ul.appendChild(el("li", "no-problems", "None: this is what Roark expects."));
      return;
    }
    for (const p of data.problems) ul.appendChild(el("li", "problem", p));
  }

  // ---- recording -------------------------------------------------------------

  function axisLength() {
    let ms = data.recording.durationMs || 0;
    for (const t of data.transcript) {
      if (isOffset(t.endAudioOffsetMs)) ms = Math.max(ms, t.endAudioOffsetMs);
      else if (isOffset(t.audioOffsetMs)) ms = Math.max(ms, t.audioOffsetMs);
    }
    for (const row of data.tools) {
      for (const r of [row.call, row.result]) if (r && isOffset(r.audioOffsetMs)) ms = Math.max(ms, r.audioOffsetMs);
    }
    for (const sp of traceSpans()) if (typeof sp.endOffsetMs === "number") ms = Math.max(ms, sp.endOffsetMs);
    for (const e of data.timelineEvents || []) if (isOffset(e.offsetMs)) ms = Math.max(ms, e.offsetMs);
    return Math.max(ms, 1);
  }

  // ---- traces: a waterfall on the recording's time axis --------------------------

  function traceSpans() {
    const t = data.traces;
    return t && Array.isArray(t.spans) ? t.spans.filter((sp) => typeof sp.offsetMs === "number") : [];
  }

  function showSpan(sp, row) {
    document.querySelectorAll(".wf-row.selected").forEach((r) => r.classList.remove("selected"));
    row.classList.add("selected");
    const box = $("span-detail");
    box.textContent = "";
    box.hidden = false;
    box.dataset.spanId = sp.spanId;
    box.appendChild(el("h3", null, `${sp.name} · ${fmtOffset(Math.max(0, sp.offsetMs))} · ${fmtMs(sp.durationMs)}` +
      (typeof sp.ttfbMs === "number" ? ` · TTFB ${fmtMs(sp.ttfbMs)}` : "")));
    const meta = [`span ${sp.spanId}`, `trace ${sp.traceId}`];
    if (sp.parentSpanId) meta.push(`parent ${sp.parentSpanId}`);
    meta.push(`status ${sp.status}`);
    box.appendChild(el("div", "muted mono", meta.join(" · ")));
    box.appendChild(el("pre", "attributes", JSON.stringify(sp.attributes, null, 2)));
    if (sp.events && sp.events.length) box.appendChild(el("pre", "events", JSON.stringify(sp.events, null, 2)));
  }

  function renderTraces() {
    const t = data.traces || { count: 0, spans: [] };
    const spans = traceSpans();
    const none = $("traces-none");
    const lane = $("lane-traces");
    const box = $("waterfall");
    box.textContent = "";
    if (!spans.length) {
      lane.hidden = true;
      none.hidden = false;
      none.textContent = "No traces received for this call (RoarkObserver(trace=True) and " +
        "PipelineWorker(enable_tracing=True, conversation_id=roark.pipecat_call_id) send them).";
      return;
    }
    lane.hidden = false;
    none.hidden = true;
    $("traces-info").textContent = `${t.count} spans · aligned by ${t.anchorSource}`;
    for (const sp of spans) {
      const row = el("div", `wf-row${sp.name === "turn" ? " turn-row" : ""}`);
      const start = Math.max(0, sp.offsetMs);
      const end = Math.max(start, typeof sp.endOffsetMs === "number" ? sp.endOffsetMs : start);
      row.dataset.spanId = sp.spanId;
      row.dataset.name = String(sp.name);
      row.dataset.depth = String(sp.depth);
      if (sp.parentSpanId) row.dataset.parentSpanId = sp.parentSpanId;
      if (sp.turn !== null && sp.turn !== undefined) row.dataset.turn = String(sp.turn);
      row.dataset.offsetMs = String(Math.round(start));
      row.dataset.endOffsetMs = String(Math.round(end));
      const known = ["conversation", "turn", "stt", "llm", "tts"].includes(sp.name) ? sp.name : "other";
      const bar = el("div", `wf-bar ${known}${sp.offsetMs < 0 ? " before-start" : ""}${sp.status === "error" ? " error" : ""}`);
      bar.style.left = `${(start / totalMs) * 100}%`;
      bar.style.width = `${((end - start) / totalMs) * 100}%`;
      if (typeof sp.ttfbMs === "number" && sp.durationMs > 0) {
        const ttfb = el("div", "wf-ttfb");
        ttfb.style.width = `${Math.min(100, (sp.ttfbMs / sp.durationMs) * 100)}%`;
        bar.appendChild(ttfb);
        row.dataset.ttfbMs = String(sp.ttfbMs);
      }
      row.appendChild(bar);
      const parts = [sp.name, fmtMs(sp.durationMs)];
      if (typeof sp.ttfbMs === "number") parts.push(`TTFB ${fmtMs(sp.ttfbMs)}`);
      if (sp.model) parts.push(sp.model);
      if (sp.summary && sp.name !== "turn") parts.push(`“${sp.summary.slice(0, 60)}”`);
      else if (sp.summary) parts[0] = sp.summary;
      // The label beside its bar: after it while there is room, else before it.
      const label = el("span", "wf-label", parts.join(" · "));
      const startPct = (start / totalMs) * 100, endPct = (end / totalMs) * 100;
      if (endPct <= 60) {
        label.style.left = `calc(${endPct}% + 4px)`;
      } else {
        label.classList.add("before");
        label.style.right = `calc(${100 - startPct}% + 4px)`;
        if (startPct < 30) { label.style.right = ""; label.style.left = "4px"; label.classList.remove("before"); }
      }
      row.appendChild(label);
      row.title = `${sp.name} at ${fmtOffset(start)} for ${fmtMs(sp.durationMs)}`;
      row.addEventListener("click", () => { showSpan(sp, row); seek(Math.round(start)); });
      box.appendChild(row);
    }
  }

  function drawWave(canvas, peaks, color, scale) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    const mid = h / 2;
    ctx.fillStyle = "#d0d5dd";
    ctx.fillRect(0, Math.floor(mid), w, 1);
    // The audio may be shorter than the axis (turn offsets past its end): draw it to scale.
    const audioW = Math.round(w * Math.min(1, (data.recording.durationMs || 0) / totalMs));
    const n = peaks.length;
    ctx.fillStyle = color;
    if (n && audioW) {
      for (let x = 0; x < audioW; x++) {
        const i0 = Math.floor((x / audioW) * n);
        const i1 = Math.max(i0 + 1, Math.floor(((x + 1) / audioW) * n));
        let m = 0;
        for (let i = i0; i < i1 && i < n; i++) if (peaks[i] > m) m = peaks[i];
        const bh = Math.max(1, Math.min(1, m * scale) * (h - 4));
        ctx.fillRect(x, mid - bh / 2, 1, bh);
      }
    }
    canvas.dataset.drawn = "1";
    canvas.dataset.empty = n ? "0" : "1";
  }

  function drawWaves() {
    const peaks = data.recording.peaks || { caller: [], bot: [] };
    // One scale for both channels keeps their relative loudness honest.
    let max = 0;
    for (const v of peaks.caller.concat(peaks.bot)) if (v > max) max = v;
    const scale = 1 / Math.max(max, 0.05);
    const css = getComputedStyle(document.documentElement);
    drawWave($("wave-caller"), peaks.caller, css.getPropertyValue("--caller").trim() || "#2f6fde", scale);
    drawWave($("wave-bot"), peaks.bot, css.getPropertyValue("--bot").trim() || "#d9480f", scale);
  }

  function renderAxis() {
    const axis = $("axis");
    axis.textContent = "";
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200];
    const totalS = totalMs / 1000;
    const step = steps.find((s) => totalS / s <= 10) || 3600;
    for (let k = 0; k * step <= totalS + 1e-9; k++) {
      const t = k * step;  // multiply, not accumulate: no float drift in the labels
      const s = el("span", null, fmtOffset(t * 1000));
      const pct = (t / totalS) * 100;
      s.style.left = `${pct}%`;
      // Centred on its tick, except at the edges, where centring would clip it.
      if (pct < 3) s.classList.add("first");
      else if (pct > 97) s.classList.add("last");
      axis.appendChild(s);
    }
  }

  function renderSpans() {
    const lanes = { user: $("spans-caller"), assistant: $("spans-bot") };
    for (const lane of Object.values(lanes)) {
      lane.textContent = "";
      lane.appendChild(el("div", "cursor"));
    }
    data.transcript.forEach((t, i) => {
      const lane = lanes[t.role];
      if (!lane || !isOffset(t.audioOffsetMs)) return;
      const end = isOffset(t.endAudioOffsetMs) ? t.endAudioOffsetMs : t.audioOffsetMs;
      const s = el("div", `span ${t.role}${t.interrupted ? " interrupted" : ""}${isLowConfidence(i) ? " low-confidence" : ""}`);
      s.style.left = `${(t.audioOffsetMs / totalMs) * 100}%`;
      s.style.width = `${((end - t.audioOffsetMs) / totalMs) * 100}%`;
      s.dataset.offsetMs = String(t.audioOffsetMs);
      s.dataset.endOffsetMs = String(end);
      s.dataset.turnIndex = String(i);
      s.title = `${t.role} ${fmtOffset(t.audioOffsetMs)}: ${t.content}`;
      s.addEventListener("click", (ev) => { ev.stopPropagation(); seek(t.audioOffsetMs); });
      lane.appendChild(s);
    });
    for (const row of data.tools) {
      const c = row.call;
      if (!c || !isOffset(c.audioOffsetMs)) continue;
      const m = el("div", "tool-mark");
      m.style.left = `${(c.audioOffsetMs / totalMs) * 100}%`;
      m.dataset.offsetMs = String(c.audioOffsetMs);
      m.title = `tool call ${c.name} at ${fmtOffset(c.audioOffsetMs)}`;
      m.addEventListener("click", (ev) => { ev.stopPropagation(); seek(c.audioOffsetMs); });
      lanes.assistant.appendChild(m);
    }
  }

  function renderRecording() {
    const rec = data.recording;
    const info = rec.available
      ? `${fmtMs(rec.durationMs)}, ${rec.sampleRate} Hz, ${rec.channels} ch, ${rec.bytes} bytes` +
        (rec.assumedFormat ? " (format assumed: no call-ended yet; add ?rate=N to the URL to change)" : "")
      : "no audio received";
    $("recording-info").textContent = info;
    $("recording").dataset.available = rec.available ? "1" : "0";
    if (rec.available) player.src = data.exported ? rec.src : data.links.wav + location.search;
    else player.hidden = true;
    totalMs = axisLength();
    renderAxis();
    renderSpans();
    renderInterruptions();
    renderEventMarks();
    renderLatency();
    renderTraces();
    renderLogMarks();
    drawWaves();
    for (const id of ["wave-caller", "wave-bot"]) {
      $(id).addEventListener("click", (ev) => {
        const r = ev.currentTarget.getBoundingClientRect();
        seek(Math.round(((ev.clientX - r.left) / r.width) * totalMs));
      });
    }
    // Exposed for browser tests: proof the browser decoded the WAV.
    player.addEventListener("loadedmetadata", () => { player.dataset.durationMs = String(Math.round(player.duration * 1000)); });
    const follow = () => highlight(player.currentTime * 1000);
    player.addEventListener("timeupdate", follow);
    player.addEventListener("seeked", follow);
    let pending = 0;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(drawWaves, 100);
    });
  }

  // ---- latency, interruptions, summary, health, errors (contract extensions) -----

  function latencyRows() { return (data.latency && data.latency.rows) || []; }

  // One bar per answered turn, over the silence the caller waited through
  // (its width) and as tall as the wait (its height), with the call's p95.
  function renderLatency() {
    const box = $("latency-bars");
    box.textContent = "";
    const p95 = data.latency ? data.latency.p95Ms : null;
    const rows = latencyRows().filter((r) => typeof r.latencyMs === "number" && isOffset(r.offsetMs));
    $("latency-info").textContent = rows.length ? `${rows.length} turn(s) · p95 ${fmtMs(p95)}` : "not measured";
    $("lane-latency").dataset.count = String(rows.length);
    if (!rows.length) return;
    const scale = Math.max(typeof p95 === "number" ? p95 : 0, ...rows.map((r) => r.latencyMs), 1) * 1.15;
    for (const r of rows) {
      const start = Math.max(0, r.offsetMs - r.latencyMs);
      const bar = el("div", `latency-bar${typeof p95 === "number" && r.latencyMs > p95 ? " slow" : ""}`);
      bar.style.left = `${(start / totalMs) * 100}%`;
      bar.style.width = `${(r.latencyMs / totalMs) * 100}%`;
      bar.style.height = `${(r.latencyMs / scale) * 100}%`;
      bar.dataset.latencyMs = String(r.latencyMs);
      bar.dataset.offsetMs = String(r.offsetMs);
      bar.dataset.turnIndex = String(r.turnIndex);
      bar.title = `caller waited ${fmtMs(r.latencyMs)} for: ${r.content || ""}`;
      bar.addEventListener("click", (ev) => { ev.stopPropagation(); seek(start); });
      box.appendChild(bar);
    }
    if (typeof p95 === "number") {
      const line = el("div", "p95-line");
      line.style.bottom = `${(p95 / scale) * 100}%`;
      line.dataset.p95Ms = String(p95);
      line.appendChild(el("span", null, `p95 ${fmtMs(p95)}`));
      box.appendChild(line);
    }
  }

  // Where the bot was cut off, on the bot's waveform: a mark at the cut and,
  // for a barge-in, the stretch the bot kept talking over the caller. A cut
  // made while the caller was silent (the pipeline interrupted itself) gets
  // a mark of its own and no overlap.
  function renderInterruptions() {
    const lane = $("spans-bot");
    for (const r of latencyRows()) {
      if (!r.interrupted || !isOffset(r.endOffsetMs)) continue;
      const cut = r.endOffsetMs;
      const self = r.cause === "pipeline";
      const barge = !self && typeof r.bargeInMs === "number" ? r.bargeInMs : null;
      if (self) {
        const m = el("div", "interrupt-mark self");
        m.style.left = `${(cut / totalMs) * 100}%`;
        m.dataset.offsetMs = String(cut);
        m.dataset.turnIndex = String(r.turnIndex);
        m.dataset.cause = "pipeline";
        m.title = `the pipeline cut the bot off at ${fmtOffset(cut)} while the caller was silent`;
        m.addEventListener("click", (ev) => { ev.stopPropagation(); seek(cut); });
        lane.appendChild(m);
        continue;
      }
      if (barge) {
        const b = el("div", "barge-in");
        b.style.left = `${((cut - barge) / totalMs) * 100}%`;
        b.style.width = `${(barge / totalMs) * 100}%`;
        lane.appendChild(b);
      }
      const m = el("div", "interrupt-mark");
      m.style.left = `${(cut / totalMs) * 100}%`;
      m.dataset.offsetMs = String(cut);
      m.dataset.turnIndex = String(r.turnIndex);
      m.dataset.cause = "caller";
      if (barge !== null) m.dataset.bargeInMs = String(barge);
      m.title = `the caller cut the bot off at ${fmtOffset(cut)}` + (barge !== null ? `; the bot kept talking ${fmtMs(barge)} over the caller` : "");
      m.addEventListener("click", (ev) => { ev.stopPropagation(); seek(Math.max(0, cut - (barge || 0))); });
      lane.appendChild(m);
    }
  }


  // ---- outcome, phone call, events, cost, turn-taking (issue 14) -------------------

  const WHO = { caller: "the caller", bot: "the bot", system: "the system (Pipecat, the host)" };

  function factList(ul, items) {
    ul.textContent = "";
    let n = 0;
    for (const [key, label, value] of items) {
      if (value === undefined || value === null || value === "") continue;
      const li = el("li");
      li.dataset.key = key;
      li.appendChild(el("b", null, label + ": "));
      li.appendChild(document.createTextNode(String(value)));
      ul.appendChild(li);
      n++;
    }
    if (!n) ul.appendChild(el("li", "muted", "Not reported."));
  }

  function renderOutcome() {
    const o = data.outcome || {};
    const badge = $("end-status");
    badge.textContent = o.status || (data.complete ? "no status" : "in progress");
    badge.className = `status-badge end-${o.status || "none"}`;
    factList($("outcome"), [
      ["status", "Status", o.status],
      ["endedBy", "Ended by", o.endedBy ? WHO[o.endedBy] || o.endedBy : null],
      ["lastSpeaker", "Last speaker", o.lastSpeaker ? WHO[o.lastSpeaker] || o.lastSpeaker : null],
      ["reason", "Reason", o.reason],
    ]);
    const t = data.telephony || {};
    factList($("telephony"), [
      ["provider", "Provider", t.provider],
      ["direction", "Direction", t.direction],
      ["from", "From", t.fromNumber],
      ["to", "To", t.toNumber],
      ["callId", "Call id", t.callId],
      ["streamId", "Stream id", t.streamId],
      ["rate", "Carrier sample rate", t.carrierSampleRate ? `${t.carrierSampleRate} Hz` : null],
      ["encoding", "Encoding", t.encoding],
    ]);
    const box = $("timeline-events");
    box.textContent = "";
    const evs = data.timelineEvents || [];
    if (!evs.length) { box.appendChild(el("p", "muted", "None.")); return; }
    const rows = evs.map((e) => [fmtOffset(e.offsetMs), e.kind, e.label, e.data ? JSON.stringify(e.data) : ""]);
    const t2 = table(["at", "kind", "event", "data"], rows);
    t2.id = "timeline-events-table";
    box.appendChild(t2);
  }

  function renderEventMarks() {
    const lane = $("event-marks");
    lane.textContent = "";
    const evs = (data.timelineEvents || []).filter((e) => isOffset(e.offsetMs));
    $("events-info").textContent = evs.length ? `${evs.length}` : "none";
    for (const e of evs) {
      const m = el("div", `event-mark ${e.kind}`);
      m.style.left = `${(e.offsetMs / totalMs) * 100}%`;
      m.dataset.offsetMs = String(e.offsetMs);
      m.dataset.kind = e.kind;
      m.title = `${e.label} at ${fmtOffset(e.offsetMs)}` + (e.data && e.kind !== "dtmf" ? ` ${JSON.stringify(e.data)}` : "");
      m.addEventListener("click", (ev) => { ev.stopPropagation(); seek(e.offsetMs); });
      lane.appendChild(m);
    }
  }

  function fmtUsd(v) {
    if (typeof v !== "number" || !isFinite(v)) return "unknown";
    return v < 0.01 ? `$${v.toFixed(6)}` : `$${v.toFixed(4)}`;
  }

  function renderCost() {
    const box = $("cost");
    box.textContent = "";
    const c = data.cost;
    if (!c) { $("cost-total").textContent = ""; box.appendChild(el("p", "muted", "Not reported (no service usage seen).")); return; }
    $("cost-total").textContent = `${fmtUsd(c.totalUsd)} total${c.complete ? "" : " (lower bound: some components unknown)"}`;
    const by = Object.entries(c.byComponent || {}).map(([k, v]) => `${k} ${fmtUsd(v)}`);
    if (by.length) box.appendChild(el("p", null, `By component: ${by.join(" · ")}`));
    const rows = c.components.map((r) => [r.component, r.model || r.processor || "–", fmtUsd(r.usd),
      r.basis || "", r.quantity ? Object.entries(r.quantity).map(([k, v]) => `${k} ${v}`).join(" · ") : "", r.source || ""]);
    const t = table(["component", "model", "USD", "billed by", "quantity", "price source"], rows);
    t.id = "cost-table";
    t.querySelectorAll("tbody tr").forEach((tr, i) => { if (c.components[i].usd === null) tr.classList.add("cost-unknown"); });
    box.appendChild(t);
    if (c.perTurn.length) {
      const d = el("details");
      d.appendChild(el("summary", null, `Per turn (${c.perTurn.length})`));
      d.appendChild(table(["turn", "USD"], c.perTurn.map((p) => [`#${p.turnIndex}`, fmtUsd(p.usd) + (p.complete === false ? " +unknown" : "")])));
      box.appendChild(d);
    }
    if (c.pricesAsOf) box.appendChild(el("p", "muted", `Prices as of ${c.pricesAsOf}.`));
  }

  function renderTurnTaking() {
    const tt = data.turnTaking;
    if (!tt) { factList($("turn-taking"), []); return; }
    const i = tt.interruptions || {}, talk = tt.talkTimeMs || {}, mono = tt.longestMonologueMs || {};
    const silences = tt.longSilences || [];
    factList($("turn-taking"), [
      ["interruptions", "Interruptions", `${i.caller || 0} by the caller (barge-in) · ${i.pipeline || 0} by the pipeline`],
      ["overlap", "Overlap", fmtMs(tt.overlapMs)],
      ["talkRatio", "Bot's share of talk", typeof tt.talkRatio === "number" ? `${Math.round(tt.talkRatio * 100)} %` : null],
      ["talk", "Talk time", `caller ${fmtMs(talk.user)} · bot ${fmtMs(talk.assistant)}`],
      ["monologue", "Longest monologue", `caller ${fmtMs(mono.user)} · bot ${fmtMs(mono.assistant)}`],
      ["silences", `Silences over ${fmtMs(tt.longSilenceThresholdMs)}`, silences.length
        ? silences.map((x) => `${fmtOffset(x.startMs)} ${fmtMs(x.durationMs)} (${x.expected === "assistant" ? "the bot went quiet" : "waiting for the caller"})`).join(" · ")
        : "none"],
    ]);
  }

  function renderSummary() {
    const ul = $("call-summary");
    ul.textContent = "";
    const s = data.callSummary;
    if (!s) { ul.appendChild(el("li", "muted", data.complete ? "No callSummary in call-ended." : "No call-ended yet.")); return; }
    const add = (key, label, value) => {
      const li = el("li");
      li.dataset.key = key;
      li.appendChild(el("b", null, label + ": "));
      li.appendChild(document.createTextNode(String(value)));
      ul.appendChild(li);
    };
    const turns = s.turns || {}, talk = s.talkTimeMs || {}, lat = s.latency || {}, tools = s.toolCalls || {}, u = s.usage || {};
    add("turns", "Turns", `${turns.user || 0} caller · ${turns.assistant || 0} bot`);
    add("talk", "Talk time", `caller ${fmtMs(talk.user)} · bot ${fmtMs(talk.assistant)}`);
    if (typeof s.silenceMs === "number") add("silence", "Silence", fmtMs(s.silenceMs));
    const by = data.interruptions || {};
    add("interruptions", "Interruptions", by.pipeline
      ? `${by.caller || 0} by the caller · ${by.pipeline} by the pipeline (caller silent)`
      : (s.interruptions || 0));
    add("latency", "Response latency", lat.count ? `median ${fmtMs(lat.medianMs)} · p95 ${fmtMs(lat.p95Ms)} · max ${fmtMs(lat.maxMs)} (${lat.count})` : "not measured");
    const outcomes = ["failed", "cancelled", "timedOut", "noResult"].filter((k) => tools[k]).map((k) => `${tools[k]} ${k}`);
    add("tools", "Tool calls", `${tools.total || 0}${outcomes.length ? ` (${outcomes.join(", ")})` : ""}`);
    add("errors", "Errors", s.errors || 0);
    add("tokens", "LLM tokens", `${u.promptTokens || 0} prompt · ${u.completionTokens || 0} completion · ${u.totalTokens || 0} total` + (u.cachedTokens ? ` (${u.cachedTokens} cached)` : ""));
    add("characters", "TTS characters", u.ttsCharacters || 0);
    if (u.sttAudioSeconds) add("stt", "STT audio", fmtMs(u.sttAudioSeconds * 1000));
  }

  function renderHealth() {
    const badge = $("health-status"), box = $("health-detail");
    box.textContent = "";
    const status = data.recordingStatus;
    const h = data.recordingHealth;
    badge.textContent = status || "not reported";
    badge.dataset.status = status || "";
    badge.className = `status-badge ${status === "ok" ? "good" : status ? "bad" : ""}`;
    if (!h) return;
    const facts = el("ul", "facts");
    const add = (key, label, value) => {
      const li = el("li");
      li.dataset.key = key;
      li.appendChild(el("b", null, label + ": "));
      li.appendChild(document.createTextNode(String(value)));
      facts.appendChild(li);
    };
    add("chunks", "Chunks delivered", `${h.chunksDelivered}/${h.chunksProduced}` + (h.chunksLost ? ` (${h.chunksLost} lost)` : ""));
    if (typeof h.recordedMs === "number") add("duration", "Recorded", `${fmtMs(h.recordedMs)} of a ${fmtMs(h.callMs)} call`);
    const ch = h.channels || {};
    for (const [key, label] of [["caller", "Caller channel"], ["bot", "Bot channel"]]) {
      if (!ch[key]) continue;
      add(`channel-${key}`, label, ch[key].sound ? `sound (${fmtMs(ch[key].soundMs)})` : "SILENT");
    }
    box.appendChild(facts);
    if (h.warnings && h.warnings.length) {
      const ul = el("ul", "health-warnings");
      for (const w of h.warnings) ul.appendChild(el("li", "problem health-warning", w));
      box.appendChild(ul);
    }
  }

  function renderErrors() {
    const box = $("errors");
    box.textContent = "";
    if (!data.errors || !data.errors.length) { box.appendChild(el("p", "muted", "None.")); return; }
    const rows = data.errors.map((e) => [e.message, e.processor || "", yesNo(Boolean(e.fatal)), e.category || "",
      e.count || 1, isOffset(e.audioOffsetMs) ? fmtOffset(e.audioOffsetMs) : fmtClock(e.timestamp)]);
    const t = table(["message", "processor", "fatal", "category", "count", "at"], rows);
    t.classList.add("errors-table");
    box.appendChild(t);
  }

  function renderTtfb() {
    const box = $("ttfb");
    box.textContent = "";
    const rows = data.ttfb || [];
    if (!rows.length) { box.appendChild(el("p", "muted", "No TTFB measured (enable_metrics=True in PipelineParams).")); return; }
    const kinds = ["stt", "llm", "tts"].concat([...new Set(rows.flatMap((r) => Object.keys(r)))]
      .filter((k) => !["turnIndex", "interrupted", "role", "offsetMs", "replyTurnIndex", "replyCause", "stt", "llm", "tts"].includes(k)));
    const body = rows.map((r) => [
      r.turnIndex === null || r.turnIndex === undefined ? "–" : `#${r.turnIndex} ${r.role === "assistant" ? "bot" : r.role === "user" ? "caller" : ""}`,
      isOffset(r.offsetMs) ? fmtOffset(r.offsetMs) : "–",
      ...kinds.map((k) => (typeof r[k] === "number" ? fmtMs(r[k] * 1000) : "–")),
      replyText(r),
    ]);
    const t = table(["turn", "at", ...kinds.map((k) => `${k.toUpperCase()} TTFB`), "bot's reply"], body);
    t.classList.add("ttfb-table");
    box.appendChild(t);
  }

  // The TTFB row of a caller's turn measured the bot's reply to it: say which
  // turn that reply is and whether it was cut off, and by whom.
  function replyText(r) {
    const i = r.replyTurnIndex;
    const who = r.replyCause === "pipeline" ? "cut off by the pipeline" : "cut off by the caller";
    if (typeof i !== "number") return r.interrupted ? who : "–";
    const cut = r.replyCause ? who : (r.interrupted ? who : "not cut off");
    return `#${i} · ${cut}`;
  }

  function renderToolOutcome(div, row) {
    const r = row.result;
    if (!r || !r.status) return;
    div.dataset.status = r.status;
    const line = el("div", "tool-outcome");
    line.appendChild(el("span", `tool-status status-${r.status}`, r.status.replace("_", " ")));
    if (typeof r.durationMs === "number") line.appendChild(el("span", "muted", ` after ${fmtMs(r.durationMs)}`));
    if (r.error) line.appendChild(el("span", "tool-error", ` ${r.error}`));
    div.appendChild(line);
  }

  // ---- transcript, tools, metrics, chunks, events -----------------------------

  function renderTranscript() {
    const box = $("transcript");
    box.textContent = "";
    if (!data.transcript.length) {
      box.appendChild(el("p", "muted", data.complete ? "No transcript in call-ended." : "No call-ended yet."));
      return;
    }
    data.transcript.forEach((t, i) => {
      const low = isLowConfidence(i);
      const row = el("div", `turn ${t.role === "assistant" ? "assistant" : "user"}${t.interrupted ? " interrupted" : ""}${low ? " low-confidence" : ""}`);
      row.dataset.role = String(t.role);
      row.dataset.turnIndex = String(i);
      if (isOffset(t.audioOffsetMs)) row.dataset.offsetMs = String(t.audioOffsetMs);
      if (isOffset(t.endAudioOffsetMs)) row.dataset.endOffsetMs = String(t.endAudioOffsetMs);
      const time = el("div", "t");
      time.appendChild(el("div", null, isOffset(t.audioOffsetMs) ? fmtOffset(t.audioOffsetMs) : "no offset"));
      time.appendChild(el("div", null, fmtClock(t.timestamp)));
      row.appendChild(time);
      const who = el("div", "who", t.role === "assistant" ? "Bot" : t.role === "user" ? "Caller" : String(t.role));
      row.appendChild(who);
      const body = el("div", "text");
      body.appendChild(el("span", "content", t.content));
      const cause = interruptionCause(t);
      if (cause === "pipeline") {
        const mark = el("span", "mark-interrupted self", "cut off by the pipeline");
        mark.title = "the bot was cut off while the caller was silent (not a barge-in)";
        body.appendChild(mark);
      } else if (cause === "caller") {
        body.appendChild(el("span", "mark-interrupted", "interrupted by the caller"));
      }
      if (low) {
        const mark = el("span", "mark-low-confidence", "low STT confidence");
        mark.title = `below ${Math.round((data.lowConfidenceThreshold || 0.6) * 100)}%: the words may not be what the caller said`;
        body.appendChild(mark);
      }
      const meta = el("div", "meta");
      const item = (cls, text) => {
        if (meta.childNodes.length) meta.appendChild(document.createTextNode(" · "));
        const span = el("span", cls, text);
        meta.appendChild(span);
        return span;
      };
      // Shown inline, not only on hover: phones have no hover.
      if (typeof t.responseLatencyMs === "number") {
        item("turn-latency", `replied after ${fmtMs(t.responseLatencyMs)}`).dataset.latencyMs = String(t.responseLatencyMs);
      }
      if (cause === "caller" && typeof t.bargeInLatencyMs === "number") {
        item("turn-barge-in", `talked over the caller for ${fmtMs(t.bargeInLatencyMs)}`).dataset.bargeInMs = String(t.bargeInLatencyMs);
      }
      if (isOffset(t.endAudioOffsetMs)) item("turn-end", `ends ${fmtOffset(t.endAudioOffsetMs)}`);
      const conf = confidenceText(t);
      if (conf) item("turn-confidence", conf);
      if (t.language) item("turn-language", t.language);
      if (t.userId) item("turn-user", `user ${t.userId}`);
      if (meta.childNodes.length) body.appendChild(meta);
      row.appendChild(body);
      if (isOffset(t.audioOffsetMs)) row.addEventListener("click", () => seek(t.audioOffsetMs));
      box.appendChild(row);
    });
  }

  // ---- capture control (issue 15): STT confidence, the call's log lines ----------

  function isLowConfidence(i) { return (data.lowConfidenceTurns || []).includes(i); }

  function confidenceText(t) {
    const q = t.sttQuality;
    if (!q || typeof q.confidence !== "number") return null;
    return `STT confidence ${Math.round(q.confidence * 100)}%${q.confidenceFrom === "words" ? " (mean of words)" : ""}`;
  }

  function renderLogMarks() {
    const rows = (data.logs || []).filter((r) => isOffset(r.audioOffsetMs));
    const lane = $("lane-logs"), box = $("log-marks");
    box.textContent = "";
    lane.hidden = !(data.logs || []).length;
    $("logs-info").textContent = rows.length < (data.logs || []).length
      ? `(${(data.logs || []).length - rows.length} before the recording started)` : "";
    box.appendChild(el("div", "cursor"));
    for (const r of rows) {
      const m = el("div", `log-mark ${r.level.toLowerCase()}`);
      m.style.left = `${Math.min(100, (r.audioOffsetMs / totalMs) * 100)}%`;
      m.dataset.offsetMs = String(r.audioOffsetMs);
      m.title = `${fmtOffset(r.audioOffsetMs)} ${r.level} ${r.message}`;
      m.addEventListener("click", (ev) => { ev.stopPropagation(); seek(r.audioOffsetMs); });
      box.appendChild(m);
    }
  }

  function renderLogs() {
    const rows = data.logs || [];
    $("logs-card").hidden = !rows.length;
    $("logs-count").textContent = rows.length
      ? `(${rows.length}${data.logsDropped ? `, ${data.logsDropped} more dropped at the bound` : ""})` : "";
    const box = $("logs");
    box.textContent = "";
    for (const r of rows) {
      const line = el("div", "log-line");
      line.appendChild(el("span", "at", isOffset(r.audioOffsetMs) ? fmtOffset(r.audioOffsetMs) : fmtClock(r.timestamp)));
      line.appendChild(el("span", `lvl ${r.level}`, r.level));
      const msg = el("span", "msg", r.message + (r.count > 1 ? ` (×${r.count})` : ""));
      if (r.logger) msg.title = r.logger;
      line.appendChild(msg);
      if (isOffset(r.audioOffsetMs)) {
        line.dataset.offsetMs = String(r.audioOffsetMs);
        line.addEventListener("click", () => seek(r.audioOffsetMs));
      }
      box.appendChild(line);
    }
  }

  // Mirrors view.interruption_cause: no interruptionCause (older clients) means a barge-in.
  function interruptionCause(t) {
    if (t.role !== "assistant" || t.interrupted !== true) return null;
    return t.interruptionCause === "pipeline" ? "pipeline" : "caller";
  }

  function renderTools() {
    const box = $("tools");
    box.textContent = "";
    if (!data.tools.length) { box.appendChild(el("p", "muted", "None.")); return; }
    for (const row of data.tools) {
      const unpaired = !row.call || !row.result;
      const div = el("div", `tool${unpaired ? " unpaired" : ""}`);
      div.dataset.toolCallId = row.toolCallId;
      const head = el("div");
      head.appendChild(el("span", "name", row.name || "(no tool_call)"));
      head.appendChild(el("span", "muted mono", `  ${row.toolCallId}`));
      if (row.call && isOffset(row.call.audioOffsetMs)) {
        const a = el("a", null, `  at ${fmtOffset(row.call.audioOffsetMs)}`);
        a.href = "#";
        a.addEventListener("click", (ev) => { ev.preventDefault(); seek(row.call.audioOffsetMs); });
        head.appendChild(a);
      }
      div.appendChild(head);
      renderToolOutcome(div, row);
      if (row.call) {
        div.appendChild(el("div", "muted", `arguments (${fmtClock(row.call.timestamp)})`));
        div.appendChild(el("pre", "arguments", pretty(row.call.arguments)));
      }
      if (row.result) {
        div.appendChild(el("div", "muted", `result (${fmtClock(row.result.timestamp)})`));
        div.appendChild(el("pre", "result", pretty(row.result.content)));
      } else {
        div.appendChild(el("div", "muted", "no result"));
      }
      box.appendChild(div);
    }
  }

  function table(columns, rows) {
    const t = el("table");
    const head = el("tr");
    for (const c of columns) head.appendChild(el("th", null, c));
    const thead = el("thead");
    thead.appendChild(head);
    t.appendChild(thead);
    const tb = el("tbody");
    for (const r of rows) {
      const tr = el("tr");
      r.forEach((v, i) => {
        const td = el("td", null, v);
        td.dataset.label = columns[i] || "";  // the caption once phones stack the row
        tr.appendChild(td);
      });
      tb.appendChild(tr);
    }
    t.appendChild(tb);
    t.classList.add("stack");
    return t;
  }

  // Durations in seconds on the wire; shown in the page's one unit style.
  const SECONDS = new Set(["ttfb", "ttft", "duration", "ttfa", "ttfat", "audioDuration"]);

  function metricValue(key, v) {
    if (typeof v === "boolean") return yesNo(v);
    if (typeof v === "number" && SECONDS.has(key)) return fmtMs(v * 1000);
    if (typeof v === "number" && /Ms$/.test(key)) return fmtMs(v);
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
    if (v && typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function renderMetrics() {
    const box = $("metrics");
    box.textContent = "";
    $("metrics-count").textContent = `(${data.metrics.length})`;
    if (!data.metrics.length) { box.appendChild(el("p", "muted", "None.")); return; }
    const shown = ["kind", "metric", "timestamp", "audioOffsetMs", "turnIndex"];
    const rows = data.metrics.map((m) => {
      const values = Object.keys(m).filter((k) => !shown.includes(k) && m[k] !== null && m[k] !== undefined)
        .map((k) => `${k} ${metricValue(k, m[k])}`);
      return [m.kind, m.metric || "", typeof m.turnIndex === "number" ? `#${m.turnIndex}` : "–",
        fmtOffset(m.audioOffsetMs), values.join(" · ")];
    });
    box.appendChild(table(["service", "metric", "turn", "at", "values"], rows));
  }

  function renderChunks() {
    const box = $("chunks");
    box.textContent = "";
    if (!data.uploads.length) { box.appendChild(el("p", "muted", "No chunk uploaded.")); return; }
    const rows = data.uploads.map((u) => [u.index, u.bytes, fmtClock(u.receivedAt), u.contentType || "", u.sha256.slice(0, 12)]);
    box.appendChild(table(["index", "bytes", "received", "content type", "sha256"], rows));
  }

  function renderEvents() {
    const box = $("events");
    box.textContent = "";
    data.events.forEach((e, i) => {
      const d = el("details", "event");
      const name = e.json && e.json.event ? e.json.event : "(unparsable)";
      d.dataset.event = String(name);
      d.appendChild(el("summary", null, `#${i + 1} ${name} · received ${fmtClock(e.receivedAt)} · answered HTTP ${e.status}`));
      d.appendChild(el("pre", "pretty", e.json !== null ? JSON.stringify(e.json, null, 2) : e.raw));
      const raw = el("details");
      raw.appendChild(el("summary", "muted", "exactly as received"));
      raw.appendChild(el("pre", "raw", e.raw));
      d.appendChild(raw);
      box.appendChild(d);
    });
  }

  function render() {
    renderOverview();
    renderProblems();
    renderOutcome();
    renderCost();
    renderTurnTaking();
    renderSummary();
    renderHealth();
    renderErrors();
    renderTtfb();
    renderTranscript();
    renderLogs();
    renderTools();
    renderMetrics();
    renderChunks();
    renderEvents();
    renderRecording();  // last: the axis depends on turns and tools
    document.body.dataset.ready = "1";
  }

  async function load() {
    const embedded = $("call-data");
    if (embedded) return JSON.parse(embedded.textContent);
    // /calls/<encoded id> -> /api/calls/<encoded id>; keep ?rate= for calls without call-ended.
    const id = location.pathname.replace(/^\/calls\//, "");
    const r = await fetch(`/api/calls/${id}${location.search}`, { cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status} for this call`);
    return r.json();
  }

  load()
    .then((d) => { data = d; render(); })
    .catch((e) => {
      $("status").textContent = `Could not load the call: ${e.message}`;
      document.body.dataset.ready = "error";
    });
})();
