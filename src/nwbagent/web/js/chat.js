// The chat UI (/): one conversation with the agents, plus what they found, asked and wrote.
// Everything from users, files or the LLM is rendered as text (h() / textContent), never as HTML.

import * as api from "./api.js";
import { h, clear, announce, humanBytes, fmtSeconds } from "./dom.js";
import {
  PartsPicker, ValueQuestions, metadataQuestions, questionTitle, renderChoices, renderDownloadGroups,
  renderLeftOut, renderNextStep, renderUnits, streamsFrozen,
} from "./streams.js";

const $ = (id) => document.getElementById(id);

const FINISHED = new Set(["passed", "passed_with_issues", "failed", "accepted"]);
const ACTION_TARGET = {
  preview: "previewing",
  convert: "converting",
  accept: "accepted",
  improve: "improving",
  abandon: "abandoned",
};
const STATE_TEXT = {
  created: "Waiting for a recording",
  files_received: "Files received",
  detected: "Format detected",
  needs_format_choice: "Please choose how to read the files",
  collecting_metadata: "Collecting metadata",
  previewing: "Trying a short preview conversion",
  ready: "Ready to convert",
  converting: "Converting",
  inspecting: "Inspecting the NWB file",
  passed: "Passed inspection",
  passed_with_issues: "Passed with issues",
  failed: "Failed inspection",
  improving: "Improving",
  accepted: "Accepted",
  abandoned: "Abandoned",
};
const SOURCE_TEXT = { user: "you", "user-text": "you", file: "file", inferred: "inferred", default: "default" };
const IMPORTANCE = [
  ["CRITICAL", "Must fix before sharing", "The file breaks a rule DANDI enforces."],
  ["PYNWB_VALIDATION", "Must fix: the file is not valid NWB", "PyNWB's schema validation failed."],
  ["ERROR", "Errors", "Something in the file could not be checked or is broken."],
  ["BEST_PRACTICE_VIOLATION", "Should fix", "Breaks an NWB best practice; the file still works."],
  ["BEST_PRACTICE_SUGGESTION", "Could improve", "A suggestion that makes the file easier to reuse."],
  ["TOOL_FAULT", "Checks that could not run", "An inspector check itself failed; not a problem with your data."],
];
/** Detection still running: poll until it ends (a turn that finds nothing to convert changes no state). */
const DETECTING = new Set(["files_received", "detected"]);
const DOWNLOAD_TEXT = {
  nwb: "Download NWB file",
  "report-pdf": "Download PDF report",
  "report-html": "Download HTML report",
  "report-json": "Download JSON report",
  "report-text": "Download text report",
  recipe: "Download conversion recipe (NeuroConv YAML)",
  metadata: "Download metadata (JSON)",
};

const ui = {
  sid: null,
  socket: null,
  session: null,
  metadata: null,
  schema: null,
  results: null,
  report: null,
  reportKey: null,
  chatCount: 0,
  job: null,
  busy: false,
  refreshing: false,
  refreshAgain: false,
  refreshTimer: null,
  lastMilestone: -1,
  dirty: new Set(), // metadata inputs the user is editing: a refresh keeps their text
  nextStepShown: false,
};

// The values a reader needs (PATCH /values) and the parts to convert (POST /parts): shared with the guided UI.
const valueBox = new ValueQuestions({ idPrefix: "chat", save: saveValue });
const partsBox = new PartsPicker({ idPrefix: "chat", apply: applyParts });

// ---- errors and status ---------------------------------------------------------------------------------

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  const message = err.message || String(err);
  box.textContent = err.hint ? `${message} ${err.hint}` : message;
  box.hidden = false;
}

async function guarded(fn) {
  showError(null);
  ui.busy = true;
  renderActions();
  renderStreams();
  try {
    return await fn();
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 404 && ui.sid) {
      forgetSession("This session no longer exists (it may have expired). Start a new one.");
    } else {
      showError(err);
    }
    return null;
  } finally {
    ui.busy = false;
    renderActions();
    renderStreams();
    refreshSoon(0);
  }
}

function setState(state) {
  $("state").textContent = state ? (STATE_TEXT[state] || state) : "no session yet";
  $("state").dataset.state = state || "";
}

// ---- session lifecycle -------------------------------------------------------------------------------

async function ensureSession() {
  if (ui.sid) return ui.sid;
  const created = await api.newSession();
  adoptSession(created.id);
  return created.id;
}

function adoptSession(id) {
  ui.sid = id;
  api.rememberSession(id);
  $("guided-link").setAttribute("href", `/guided#s=${encodeURIComponent(id)}`);
  if (ui.socket) ui.socket.close();
  ui.socket = api.connectEvents(id, onEvent);
}

function forgetSession(note) {
  if (ui.socket) ui.socket.close();
  ui.socket = null;
  ui.sid = null;
  api.rememberSession(null);
  Object.assign(ui, { session: null, metadata: null, results: null, report: null, reportKey: null, chatCount: 0, job: null });
  ui.dirty.clear();
  valueBox.reset();
  partsBox.reset();
  ui.nextStepShown = false;
  $("guided-link").setAttribute("href", "/guided");
  clear($("chat"));
  setState(null);
  $("connection").textContent = "";
  $("progress-box").hidden = true;
  renderAll();
  if (note) showError({ message: note });
}

// ---- refresh from the service ------------------------------------------------------------------------

function refreshSoon(delay = 250) {
  if (!ui.sid) return;
  if (ui.refreshTimer) window.clearTimeout(ui.refreshTimer);
  ui.refreshTimer = window.setTimeout(() => { ui.refreshTimer = null; refresh(); }, delay);
}

async function refresh() {
  if (!ui.sid) return;
  if (ui.refreshing) { ui.refreshAgain = true; return; }
  ui.refreshing = true;
  const sid = ui.sid;
  try {
    const [session, metadata] = await Promise.all([api.getSession(sid), api.getMetadata(sid)]);
    if (sid !== ui.sid) return;
    ui.session = session;
    ui.metadata = metadata;
    if (FINISHED.has(session.state) && session.output && session.output.verdict) {
      ui.results = await api.results(sid);
      const file = ui.results.files && ui.results.files["report-json"];
      const key = file ? `${file.url}@${session.output.at}` : null;
      if (key && key !== ui.reportKey) {
        try {
          const report = await api.fetchJson(file.url);
          ui.report = report;
          ui.reportKey = key;
        } catch (_) {
          ui.report = null;
        }
      } else if (!key) {
        ui.report = null;
        ui.reportKey = null;
      }
    } else {
      ui.results = null;
      ui.report = null;
      ui.reportKey = null;
    }
    renderAll();
    if (session.busy && DETECTING.has(session.state)) refreshSoon(1500);
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 404) {
      forgetSession("This session no longer exists (it may have expired). Start a new one.");
    } else {
      $("connection").textContent = `Could not refresh: ${err.message}`;
    }
  } finally {
    ui.refreshing = false;
    if (ui.refreshAgain) { ui.refreshAgain = false; refreshSoon(100); }
  }
}

// ---- live events ---------------------------------------------------------------------------------------

function onEvent({ type, payload }) {
  switch (type) {
    case "connection":
      if (payload.status === "open") $("connection").textContent = "";
      else if (payload.status === "closed") $("connection").textContent = "Live updates interrupted; reconnecting…";
      else if (payload.status === "gone") forgetSession("This session no longer exists (it may have expired). Start a new one.");
      break;
    case "snapshot":
      if (payload.job) updateJob(payload.job);
      setState(payload.state);
      refreshSoon(0);
      break;
    case "state":
      setState(payload.state);
      if (payload.state && ui.session) Object.assign(ui.session, { state: payload.state, busy: true }); // until refreshed
      renderStreams(); // e.g. the parts picker is off at once when a conversion starts
      announce(`State: ${STATE_TEXT[payload.state] || payload.state}`);
      refreshSoon();
      break;
    case "reply":
      refreshSoon(150);
      break;
    case "progress":
      showProgress(payload);
      break;
    case "job":
      updateJob(payload);
      break;
    case "error":
      showError({ message: payload.message || "Something went wrong." });
      refreshSoon();
      break;
    default:
      break; // "message" (agent to agent) and "ping" need nothing here
  }
}

function updateJob(job) {
  ui.job = { ...(ui.job && ui.job.job_id === job.job_id ? ui.job : {}), ...job };
  const box = $("progress-box");
  const text = $("progress-text");
  const bar = $("progress");
  const what = job.kind === "preview" ? "Preview" : "Conversion";
  if (job.status === "queued") {
    box.hidden = false;
    bar.removeAttribute("value"); // indeterminate while waiting
    const where = job.position ? `position ${job.position}` : "waiting";
    text.textContent = `${what} waiting in the queue: ${where}.`;
    announce(`${what} queued, ${where}.`);
  } else if (job.status === "running") {
    box.hidden = false;
    if (!bar.hasAttribute("value")) bar.value = 0;
  } else if (job.status) {
    const done = job.status === "succeeded";
    if (done) { bar.value = 100; }
    text.textContent = `${what} ${job.status}.`;
    announce(`${what} ${job.status}.`);
    ui.lastMilestone = -1;
  }
  renderActions();
  renderStreams();
}

function showProgress(p) {
  const box = $("progress-box");
  const bar = $("progress");
  box.hidden = false;
  const percent = Math.max(0, Math.min(100, Number(p.percent) || 0));
  bar.value = percent;
  bar.setAttribute("aria-valuenow", String(Math.round(percent)));
  bar.setAttribute("aria-valuetext", `${Math.round(percent)} percent`);
  const what = p.stub ? "Preview" : "Conversion";
  const parts = [`${what}: ${percent.toFixed(0)}%`];
  if (p.rate_mb_s) parts.push(`${Number(p.rate_mb_s).toFixed(1)} MB/s`);
  if (p.eta_s !== null && p.eta_s !== undefined && percent < 100) parts.push(`about ${fmtSeconds(p.eta_s)} left`);
  if (p.total_bytes) parts.push(`${humanBytes(p.done_bytes)} of ${humanBytes(p.total_bytes)}`);
  $("progress-text").textContent = parts.join(" · ");
  // Announce at 0/25/50/75/100 only: a screen reader should not read every step.
  const milestone = Math.floor(percent / 25);
  if (milestone !== ui.lastMilestone) {
    ui.lastMilestone = milestone;
    announce(`${what} ${Math.round(percent)} percent`);
  }
}

// ---- rendering -----------------------------------------------------------------------------------------

function renderAll() {
  const s = ui.session;
  setState(s ? s.state : null);
  renderChat();
  renderDetection();
  renderStreams();
  renderMetadata();
  renderActions();
  renderFindings();
  renderDownloads();
  if (s && s.state !== "created") $("start").classList.add("used");
}

function renderChat() {
  const list = $("chat");
  const turns = (ui.session && ui.session.chat) || [];
  for (const pending of list.querySelectorAll(".pending")) pending.remove();
  if (turns.length < ui.chatCount) { clear(list); ui.chatCount = 0; }
  const bulk = turns.length - ui.chatCount > 3;
  if (bulk) list.setAttribute("aria-busy", "true");
  for (const turn of turns.slice(ui.chatCount)) list.appendChild(chatItem(turn.role, turn.text, turn.agent));
  ui.chatCount = turns.length;
  if (bulk) list.removeAttribute("aria-busy");
  list.scrollTop = list.scrollHeight;
}

function chatItem(role, text, agent, pending = false) {
  const who = role === "user" ? "You" : role === "system" ? "System" : `Agent${agent ? ` (${agent})` : ""}`;
  const cls = role === "user" ? "from-user" : role === "system" ? "from-system" : "from-agent";
  return h("li", { class: [cls, pending && "pending"] }, h("span", { class: "who" }, `${who}:`), text);
}

/** The controls about the streams: format choice, values, parts, and the next step when nothing converts. */
function renderStreams() {
  const s = ui.session;
  const jobActive = ui.job && (ui.job.status === "queued" || ui.job.status === "running");
  renderChoices($("choices"), s && s.state === "needs_format_choice" ? s.choices : [], {
    idPrefix: "chat",
    disabled: ui.busy,
    hint: "Or type e.g. “use 1” or “none of these” in the message box.",
    choose: (index) => guarded(() => api.action(ui.sid, "choose", String(index))),
    none: () => guarded(async () => {
      await api.action(ui.sid, "choose", "none");
      announce("None of these: give other files, or start over.");
    }),
  });
  valueBox.render($("detection-values"), s, { disabled: ui.busy || streamsFrozen(s) });
  partsBox.render($("detection-parts"), s, { disabled: ui.busy || Boolean(jobActive) });
  const shown = renderNextStep($("next-step"), s, {
    idPrefix: "chat",
    busy: ui.busy,
    where: "drop them on the box below, use “Choose files” or “Choose folder”, or type a folder on the server",
    startOver,
  });
  if (shown && !ui.nextStepShown) {
    const active = document.activeElement;
    const typing = active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
    if (!typing) $("chat-next-heading").focus();
    $("next-step").scrollIntoView({ block: "nearest" });
    announce("Nothing to convert yet: give other files, or start over.");
  }
  ui.nextStepShown = shown;
}

async function saveValue(q, value) {
  showError(null);
  try {
    const turn = await api.patchValues(ui.sid, { [q.unit]: { [q.name]: value } });
    announce((turn && turn.replies && turn.replies[0]) || "Sent.");
    return turn;
  } finally {
    refreshSoon(0);
  }
}

async function applyParts(parts) {
  await guarded(async () => {
    await api.selectParts(ui.sid, parts);
    announce(parts.length ? `Converting only ${parts.join(", ")}.` : "Converting all parts.");
  });
}

function renderDetection() {
  const box = clear($("detection"));
  const s = ui.session;
  const det = s && s.detection;
  if (!det) {
    box.appendChild(h("p", { class: "muted" }, s && s.busy ? "Looking at the files…" : "Nothing detected yet."));
  } else {
    box.appendChild(h("p", { class: "small muted su-folder" }, "Folder: ", h("span", { class: "field-name" }, det.path)));
    if (!(s.units || []).length) box.appendChild(h("p", {}, "No convertible recording found."));
    for (const u of det.unsupported || []) box.appendChild(h("p", { class: "small" }, `Not supported: ${u.path} (${u.reason})`));
    for (const w of det.warnings || []) box.appendChild(h("p", { class: "small" }, `Warning: ${w}`));
  }
  renderUnits($("detection-units"), det ? s.units : [], { idPrefix: "chat" });
  renderLeftOut($("detection-left-out"), s ? s.left_out : [], { idPrefix: "chat" });
}

function displayValue(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(displayValue).join("; ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function schemaFields() {
  const props = (ui.schema && ui.schema.properties) || {};
  const names = Object.keys(props);
  const values = (ui.metadata && ui.metadata.values) || {};
  for (const name of Object.keys(values)) if (!names.includes(name)) names.push(name);
  return names.map((name) => ({ name, spec: props[name] || {} }));
}

function renderMetadata() {
  const box = $("metadata");
  const md = ui.metadata;
  if (!ui.session || !md || ui.session.state === "created" || ui.session.state === "files_received") {
    clear(box).appendChild(h("p", { class: "muted" }, "No metadata yet: give a recording first."));
    return;
  }
  // Keep what the user is typing: remember the text and focus of every row before rebuilding.
  const typed = {};
  for (const name of ui.dirty) {
    const input = document.getElementById(`md-${name}`);
    if (input) typed[name] = input.value;
  }
  const focused = document.activeElement && document.activeElement.id;

  const questions = {};
  for (const q of metadataQuestions(md.questions)) questions[q.field] = q;
  const errors = md.errors || {};
  const table = h("table", { class: "metadata-table", id: "metadata-table" },
    h("caption", { class: "visually-hidden" }, "Extracted metadata"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Field"),
      h("th", { scope: "col" }, "Value"),
      h("th", { scope: "col" }, "Source"),
      h("th", { scope: "col" }, "Confidence"),
    )));
  const body = h("tbody");
  for (const { name, spec } of schemaFields()) {
    const fv = md.values[name];
    const q = questions[name];
    const critical = q && q.importance === "CRITICAL";
    const inputId = `md-${name}`;
    const helpId = `md-help-${name}`;
    const described = [helpId];
    const status = [];
    if (critical) status.push(h("span", { class: "badge required", id: `md-req-${name}` }, "required"));
    else if (q) status.push(h("span", { class: "badge", id: `md-req-${name}` }, "suggested"));
    if (q) described.push(`md-req-${name}`, `md-q-${name}`);
    if (errors[name]) described.push(`md-err-${name}`);
    const input = h("input", {
      type: "text",
      id: inputId,
      name,
      value: name in typed ? typed[name] : displayValue(fv && fv.value),
      placeholder: spec.examples && spec.examples.length ? `e.g. ${displayValue(spec.examples[0])}` : "",
      "aria-describedby": described.join(" "),
      "aria-invalid": errors[name] ? "true" : null,
      "aria-required": critical ? "true" : null,
      autocomplete: "off",
      oninput: () => ui.dirty.add(name),
      onkeydown: (e) => { if (e.key === "Enter") { e.preventDefault(); saveField(name, spec); } },
    });
    const save = h("button", { type: "button", class: "small", "aria-label": `Save ${name}`, onclick: () => saveField(name, spec) }, "Save");
    const source = fv ? (SOURCE_TEXT[fv.source] || fv.source) : "—";
    body.appendChild(h("tr", { class: critical ? "required-missing" : "", "data-field": name },
      h("th", { scope: "row" },
        h("label", { for: inputId, class: "field-name" }, name), " ", status,
        h("span", { class: "field-help", id: helpId }, spec.title || ""),
      ),
      h("td", { "data-label": "Value" },
        h("div", { class: "edit-cell" }, input, save),
        q ? h("p", { class: "small", id: `md-q-${name}` }, q.text) : null,
        errors[name] ? h("p", { class: "small error", id: `md-err-${name}` }, `Not accepted: ${errors[name]}`) : null,
      ),
      h("td", { "data-label": "Source", class: source === "you" ? "source-you" : "", title: fv ? fv.evidence : "" }, source),
      h("td", { "data-label": "Confidence", class: "confidence" }, fv ? `${Math.round(fv.confidence * 100)}%` : "—"),
    ));
  }
  table.appendChild(body);
  clear(box).appendChild(table);
  const units = (ui.session && ui.session.units) || [];
  const missing = (md.questions || []).filter((q) => q.importance === "CRITICAL").map((q) => questionTitle(q, units));
  box.insertBefore(
    h("p", { class: missing.length ? "small" : "small ok", id: "metadata-summary" },
      missing.length ? `Required before converting: ${missing.join(", ")}.` : "All required fields are filled in."),
    table,
  );
  if (focused) { const el = document.getElementById(focused); if (el) el.focus(); }
}

function parseFieldValue(raw, spec) {
  const text = raw.trim();
  if (spec && spec.type === "array") return text.split(";").map((t) => t.trim()).filter(Boolean);
  return text;
}

async function saveField(name, spec) {
  const input = document.getElementById(`md-${name}`);
  if (!input || !ui.sid) return;
  const value = parseFieldValue(input.value, spec);
  if (value === "" || (Array.isArray(value) && !value.length)) {
    showError({ message: `Type a value for ${name} first.` });
    input.focus();
    return;
  }
  ui.dirty.delete(name);
  await guarded(async () => {
    await api.patchMetadata(ui.sid, { [name]: value });
    announce(`Saved ${name}.`);
  });
}

function renderActions() {
  const s = ui.session;
  const allowed = new Set((s && s.allowed) || []);
  const jobActive = ui.job && (ui.job.status === "queued" || ui.job.status === "running");
  for (const btn of document.querySelectorAll("#actions button[data-action]")) {
    const name = btn.dataset.action;
    let ok = false;
    if (s && !ui.busy) {
      if (name in ACTION_TARGET) ok = allowed.has(ACTION_TARGET[name]);
      else if (name === "retry") ok = s.state === "failed" || (s.state === "collecting_metadata" && !s.preview && !(s.questions || []).some((q) => q.importance === "CRITICAL") && !jobActive);
      else if (name === "cancel") ok = Boolean(jobActive);
    }
    if (name === "cancel" && jobActive && s) ok = true; // cancelling must work even while a request waits
    btn.disabled = !ok;
  }
}

async function runAction(name) {
  if (!ui.sid) return;
  await guarded(async () => {
    const reply = await api.action(ui.sid, name);
    if (reply && reply.status === "running") announce("The agents are working on it.");
  });
}

function findingFixes() {
  // Value questions are answered in the detection panel, not through PATCH /metadata.
  return metadataQuestions((ui.metadata && ui.metadata.questions) || []);
}

function fixForm(q, idSuffix) {
  const spec = (ui.schema && ui.schema.properties && ui.schema.properties[q.field]) || {};
  const id = `fix-${q.field}-${idSuffix}`;
  const title = spec.title || q.field;
  const input = h("input", { type: "text", id, "aria-label": `Fix value for ${title}`, placeholder: q.example ? `e.g. ${q.example}` : "", autocomplete: "off" });
  return h("form", {
    class: "fix-form",
    onsubmit: (e) => {
      e.preventDefault();
      const value = parseFieldValue(input.value, spec);
      if (value === "" || (Array.isArray(value) && !value.length)) { input.focus(); return; }
      guarded(async () => { await api.patchMetadata(ui.sid, { [q.field]: value }); announce(`Saved ${q.field}.`); });
    },
  }, input, h("button", { type: "submit", class: "small" }, `Apply fix: ${title}`));
}

function renderFindings() {
  const box = clear($("findings"));
  const s = ui.session;
  const summary = s && (s.output || s.preview);
  if (!summary || !summary.verdict) { box.appendChild(h("p", { class: "muted" }, "No inspection yet.")); return; }
  const which = s.output ? "The NWB file" : "The preview";
  box.appendChild(h("p", {}, `${which}: `, h("span", { class: `verdict verdict-${summary.verdict}` }, summary.verdict.replace(/_/g, " ").toLowerCase())));
  const report = s.output ? ui.report : null;
  const several = (ui.results && ui.results.all_files) || [];
  if (s.output && several.length > 1) {
    const first = several[0];
    box.appendChild(h("p", { class: "small muted" },
      `${several.length} files were written (one per acquisition). The findings below are those of file 1`,
      first.acquisition ? ` (${first.acquisition})` : "", "; every file has its own report under Downloads."));
  }
  if (report && report.verdict && report.verdict.reasons) {
    box.appendChild(h("ul", { class: "small" }, report.verdict.reasons.map((r) => h("li", {}, r))));
  }
  const questions = findingFixes();
  const used = new Set();
  if (report && Array.isArray(report.findings)) {
    const groups = {};
    for (const f of report.findings) {
      if (f.stub_false_positive) continue;
      (groups[f.importance] = groups[f.importance] || []).push(f);
    }
    const known = IMPORTANCE.map(([k]) => k);
    const order = IMPORTANCE.concat(Object.keys(groups).filter((k) => !known.includes(k)).map((k) => [k, k, ""]));
    let n = 0;
    for (const [key, title, about] of order) {
      const items = groups[key];
      if (!items || !items.length) continue;
      const list = h("ul", { class: "findings-list" });
      for (const f of items) {
        n += 1;
        const q = questions.find((qq) => !used.has(qq.field) && f.message && qq.text.includes(f.message));
        if (q) used.add(q.field);
        list.appendChild(h("li", {},
          h("p", {}, f.explanation || f.message),
          f.fix ? h("p", { class: "finding-fix small" }, h("strong", {}, "How to fix: "), f.fix) : null,
          q ? fixForm(q, n) : null,
          h("details", {}, h("summary", { class: "small" }, "Technical details"),
            h("p", { class: "small" }, `${f.check_name || ""}: ${f.message || ""}`),
            f.location ? h("p", { class: "small" }, `Where: ${f.location}${f.object ? ` (${f.object})` : ""}`) : null),
        ));
      }
      box.appendChild(h("section", { class: `finding-group importance-${key}`, "aria-label": title },
        h("h3", {}, title, h("span", { class: "badge" }, String(items.length))),
        about ? h("p", { class: "small muted" }, about) : null,
        list));
    }
    if (!n) box.appendChild(h("p", { class: "ok" }, "No findings: the file follows every checked best practice."));
  } else {
    // No JSON report (a preview, or the report is not ready): show the counts.
    const counts = summary.findings || {};
    const list = h("ul", {});
    for (const [key, title] of IMPORTANCE) if (counts[key]) list.appendChild(h("li", {}, `${title}: ${counts[key]}`));
    if (list.childNodes.length) box.appendChild(list);
    else box.appendChild(h("p", { class: "ok" }, "No findings."));
  }
  const rest = questions.filter((q) => !used.has(q.field));
  if (rest.length && (FINISHED.has(s.state) || s.state === "ready")) {
    const list = h("ul", { class: "findings-list" });
    rest.forEach((q, i) => list.appendChild(h("li", {}, h("p", {}, q.text), fixForm(q, `q${i}`))));
    box.appendChild(h("section", { class: "finding-group", "aria-label": "Quick fixes" }, h("h3", {}, "Quick fixes"), list));
  }
}

function renderDownloads() {
  const box = clear($("downloads"));
  const several = (ui.results && ui.results.all_files) || [];
  const labels = Object.entries(DOWNLOAD_TEXT);
  if (several.length > 1) {
    box.appendChild(renderDownloadGroups(several, labels, { idPrefix: "chat" }));
    return;
  }
  const list = box.appendChild(h("ul", { class: "downloads" }));
  const files = (ui.results && ui.results.files) || {};
  const kinds = Object.keys(DOWNLOAD_TEXT).filter((k) => files[k]);
  if (!kinds.length) { list.appendChild(h("li", { class: "muted" }, "Nothing to download yet.")); return; }
  const only = several[0];
  if (only && only.acquisition) box.insertBefore(h("p", { class: "small" }, `One file, from ${only.acquisition}.`), list);
  for (const kind of kinds) {
    const f = files[kind];
    list.appendChild(h("li", {},
      h("a", { href: f.url, download: f.name, id: `download-${kind}`, "aria-label": DOWNLOAD_TEXT[kind] }, DOWNLOAD_TEXT[kind]),
      h("span", { class: "small muted" }, ` ${f.name} (${humanBytes(f.size)})`)));
  }
}

// ---- starting: files, folders, sample, server path ----------------------------------------------------

async function uploadFiles(files) {
  const items = Array.from(files);
  if (!items.length) return;
  const status = $("upload-status");
  let bar = document.getElementById("upload-progress");
  if (!bar) {
    bar = h("progress", { id: "upload-progress", max: "100", value: "0", "aria-label": "Upload progress" });
    status.after(bar);
  }
  bar.hidden = false;
  const total = items.reduce((n, it) => n + ((it.file || it).size || 0), 0);
  status.textContent = `Uploading ${items.length} file${items.length === 1 ? "" : "s"} (${humanBytes(total)})…`;
  await guarded(async () => {
    const sid = await ensureSession();
    const body = await api.upload(sid, items, {
      start: true,
      onProgress: (loaded, all) => {
        const pct = all ? Math.round((loaded / all) * 100) : 0;
        bar.value = pct;
        status.textContent = `Uploading: ${pct}% (${humanBytes(loaded)} of ${humanBytes(all || total)})`;
      },
    });
    const n = body && body.files ? body.files.length : items.length;
    const names = body && body.files ? body.files.map((f) => f.relative_path) : items.map((f) => f.name);
    const shown = names.slice(0, 10).join(", ") + (names.length > 10 ? `, and ${names.length - 10} more` : "");
    // File names are user data: textContent keeps them text, whatever characters they hold.
    status.textContent = `Uploaded ${n} file${n === 1 ? "" : "s"}${body && body.total_bytes ? ` (${humanBytes(body.total_bytes)})` : ""}: ${shown}. The agents are looking at them.`;
    announce(status.textContent);
  });
  bar.hidden = true;
}

async function readEntry(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: `${prefix}${file.name}` });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) await readEntry(child, `${prefix}${entry.name}/`, out);
    }
  }
}

async function droppedItems(dt) {
  const entries = Array.from(dt.items || []).map((it) => (it.webkitGetAsEntry ? it.webkitGetAsEntry() : null)).filter(Boolean);
  if (!entries.length) return Array.from(dt.files || []);
  const out = [];
  for (const entry of entries) await readEntry(entry, "", out);
  return out;
}

function wireStart() {
  const zone = $("dropzone");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("dragover"); });
  }
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("dragover"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    try {
      await uploadFiles(await droppedItems(e.dataTransfer));
    } catch (err) {
      showError(err);
    }
  });
  for (const id of ["file-input", "folder-input"]) {
    const input = $(id);
    input.addEventListener("change", async () => {
      const files = Array.from(input.files || []);
      input.value = "";
      await uploadFiles(files);
    });
  }
  $("use-sample").addEventListener("click", () => guarded(async () => {
    const sid = await ensureSession();
    $("upload-status").textContent = "Using the bundled sample recording…";
    await api.useSample(sid, "neuropixels");
    $("upload-status").textContent = "Using the bundled sample recording.";
  }));
  $("server-path-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const path = $("server-path").value.trim();
    if (!path) { showError({ message: "Type a folder path on the server first." }); $("server-path").focus(); return; }
    guarded(async () => {
      const sid = await ensureSession();
      await api.useServerPath(sid, path);
    });
  });
}

// ---- the message box -----------------------------------------------------------------------------------

function wireMessages() {
  const form = $("message-form");
  const box = $("message");
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = box.value.trim();
    if (!text) { box.focus(); return; }
    box.value = "";
    $("chat").appendChild(chatItem("user", text, null, true));
    $("chat").scrollTop = $("chat").scrollHeight;
    guarded(async () => {
      const sid = await ensureSession();
      await api.say(sid, text);
    });
  });
}

// ---- start-up ------------------------------------------------------------------------------------------

function startOver() {
  forgetSession(null);
  $("upload-status").textContent = "";
  $("server-path").value = "";
  announce("Started over: give a new recording.");
  $("dropzone").focus();
}

async function main() {
  wireStart();
  wireMessages();
  for (const btn of document.querySelectorAll("#actions button[data-action]")) {
    btn.addEventListener("click", () => runAction(btn.dataset.action));
  }
  $("new-session").addEventListener("click", startOver);
  window.addEventListener("hashchange", () => {
    const id = api.currentSession();
    if (id && id !== ui.sid) { forgetSession(null); adoptSession(id); refreshSoon(0); }
  });
  try { ui.schema = await api.metadataSchema(); } catch (_) { ui.schema = null; }
  const id = api.currentSession();
  if (id) {
    adoptSession(id);
    await refresh();
  } else {
    renderAll();
  }
}

main();
