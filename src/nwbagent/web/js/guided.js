// The guided UI (/guided): the same workflow as the chat, as six steps with forms.
// Every text that comes from the user, the files or an LLM is inserted as text (dom.js `h`), never as HTML.

import { h, clear, announce, humanBytes, fmtSeconds } from "./dom.js";
import * as api from "./api.js";
import {
  PartsPicker, ValueQuestions, metadataQuestions, questionTitle, renderChoices, renderDownloadGroups,
  renderLeftOut, renderNextStep, renderUnits, streamsFrozen,
} from "./streams.js";

const STEPS = [
  { key: "source", title: "1. Source", short: "Source" },
  { key: "format", title: "2. Format and streams", short: "Format and streams" },
  { key: "metadata", title: "3. Metadata", short: "Metadata" },
  { key: "preview", title: "4. Preview", short: "Preview" },
  { key: "convert", title: "5. Convert", short: "Convert" },
  { key: "results", title: "6. Results", short: "Results" },
];

/** Which step each workflow state belongs to (index into STEPS). */
const STEP_OF_STATE = {
  none: 0,
  created: 0,
  files_received: 0,
  detected: 1,
  needs_format_choice: 1,
  collecting_metadata: 2,
  improving: 2,
  previewing: 3,
  ready: 3,
  converting: 4,
  inspecting: 4,
  passed: 5,
  passed_with_issues: 5,
  failed: 5,
  accepted: 5,
  abandoned: 5,
};

const STATE_LABEL = {
  none: "No session yet",
  created: "Waiting for a recording",
  files_received: "Files received",
  detected: "Format detected",
  needs_format_choice: "Choose how to read the files",
  collecting_metadata: "Collecting metadata",
  improving: "Improving the file",
  previewing: "Running the preview",
  ready: "Ready to convert",
  converting: "Converting",
  inspecting: "Inspecting the file",
  passed: "Passed",
  passed_with_issues: "Passed with issues",
  failed: "Failed",
  accepted: "Accepted",
  abandoned: "Abandoned",
};

const FINISHED = new Set(["passed", "passed_with_issues", "failed", "accepted"]);
/** Detection still running: poll until it ends (a turn that finds nothing to convert changes no state). */
const DETECTING = new Set(["files_received", "detected"]);
const IMPORTANCE_ORDER = [
  "CRITICAL",
  "PYNWB_VALIDATION",
  "ERROR",
  "BEST_PRACTICE_VIOLATION",
  "BEST_PRACTICE_SUGGESTION",
  "TOOL_FAULT",
  "STUB_FALSE_POSITIVE",
];
const IMPORTANCE_LABEL = {
  CRITICAL: "Critical",
  PYNWB_VALIDATION: "NWB schema validation",
  ERROR: "Errors",
  BEST_PRACTICE_VIOLATION: "Best-practice violations",
  BEST_PRACTICE_SUGGESTION: "Best-practice suggestions",
  TOOL_FAULT: "Inspector faults",
  STUB_FALSE_POSITIVE: "Only in the preview (ignored)",
};
const SOURCE_LABEL = { file: "from file", user: "you", inferred: "inferred", default: "default", llm: "inferred" };
const DOWNLOAD_LABEL = [
  ["nwb", "Download NWB file"],
  ["report-pdf", "Download PDF report"],
  ["report-html", "Download HTML report"],
  ["recipe", "Download recipe"],
  ["metadata", "Download metadata (JSON)"],
  ["report-json", "Download JSON report"],
];

// ---- state ---------------------------------------------------------------------------------------------

const app = {
  sid: null,
  session: null, // GET /api/sessions/{id}
  metadata: null, // GET .../metadata
  results: null, // GET .../results
  report: null, // the JSON report, when there is one
  reportUrl: null,
  schema: null,
  samples: [],
  events: null,
  lastStep: -1,
  lastState: null,
  busy: "", // a request this page is waiting for
  uploadPercent: null,
  uploaded: [],
  progress: { convert: null, preview: null },
  queue: null,
  milestone: 0,
  form: null, // {fields: {name: {...}}}
  normalizedNotes: {},
  replies: [],
};

const $ = (id) => document.getElementById(id);
const stateName = () => (app.session ? app.session.state : app.sid ? "created" : "none");
const allowed = (s) => Boolean(app.session && (app.session.allowed || []).includes(s));
const questions = () => (app.session ? app.session.questions || [] : []);
const criticalOpen = () => questions().some((q) => q.importance === "CRITICAL" && !q.answered);
const units = () => (app.session ? app.session.units || [] : []);
const titleOf = (q) => questionTitle(q, units(), fieldTitle);

// The values a reader needs (PATCH /values) and the parts to convert (POST /parts): shared with the chat UI.
const valueBox = new ValueQuestions({ idPrefix: "g", save: saveValue });
const partsBox = new PartsPicker({ idPrefix: "g", apply: applyParts });
let pollTimer = null;

// ---- start-up ------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", init);

async function init() {
  $("new-session").addEventListener("click", startOver);
  window.addEventListener("hashchange", () => {
    const id = api.currentSession();
    if (id && id !== app.sid) openSession(id);
  });
  renderAll();
  try {
    [app.schema, app.samples] = await Promise.all([api.metadataSchema(), api.samples().catch(() => [])]);
  } catch (err) {
    showError(err);
  }
  const id = api.currentSession();
  if (id) await openSession(id);
  else renderAll();
}

async function openSession(id) {
  if (app.events) app.events.close();
  Object.assign(app, {
    sid: id, session: null, metadata: null, results: null, report: null, reportUrl: null,
    form: null, lastStep: -1, lastState: null, queue: null, milestone: 0, replies: [],
    progress: { convert: null, preview: null }, normalizedNotes: {},
  });
  valueBox.reset();
  partsBox.reset();
  clear($("body-metadata"));
  try {
    app.session = await api.getSession(id);
  } catch (err) {
    if (err.status === 404) {
      api.rememberSession(null);
      app.sid = null;
      renderAll();
      showNotice("The saved session is no longer available (it may have expired). Start again below.");
      return;
    }
    showError(err);
    return;
  }
  api.rememberSession(id);
  app.replies = (app.session.chat || []).filter((t) => t.role !== "user").slice(-5).map((t) => t.text);
  app.events = api.connectEvents(id, onEvent);
  await refresh({ quiet: true });
}

async function ensureSession() {
  if (app.sid) return app.sid;
  const created = await api.newSession();
  await openSession(created.id);
  return created.id;
}

function startOver() {
  if (app.events) app.events.close();
  app.events = null;
  api.rememberSession(null);
  Object.assign(app, {
    sid: null, session: null, metadata: null, results: null, report: null, reportUrl: null, form: null,
    lastStep: -1, lastState: null, queue: null, replies: [], progress: { convert: null, preview: null },
  });
  clear($("body-metadata"));
  valueBox.reset();
  partsBox.reset();
  hideAlert();
  renderAll();
  announce("New session: choose a recording.");
  $("h-source").focus();
}

// ---- server data ---------------------------------------------------------------------------------------

let refreshing = null;
let refreshAgain = false;

/** Reload the session (and, as the state needs them, metadata and results), then re-render. Coalesced. */
async function refresh(opts = {}) {
  if (!app.sid) return;
  if (refreshing) { refreshAgain = true; return refreshing; }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      try {
        const sid = app.sid;
        const session = await api.getSession(sid);
        if (sid !== app.sid) return;
        app.session = session;
        const step = STEP_OF_STATE[session.state] ?? 0;
        if (step >= 2) app.metadata = await api.getMetadata(sid);
        if (FINISHED.has(session.state) || (session.state === "abandoned" && session.output)) {
          app.results = await api.results(sid);
          const json = app.results.files && app.results.files["report-json"];
          if (json && json.url !== app.reportUrl) {
            app.reportUrl = json.url;
            app.report = await api.fetchJson(json.url).catch(() => null);
          }
        } else {
          app.results = null;
          app.report = null;
          app.reportUrl = null;
        }
      } catch (err) {
        if (err.status === 404) { startOver(); showNotice("This session is no longer available."); return; }
        showError(err);
      }
      renderAll(opts);
      if (app.session && app.session.busy && DETECTING.has(app.session.state) && !pollTimer) {
        pollTimer = window.setTimeout(() => { pollTimer = null; refresh(); }, 1500);
      }
    } while (refreshAgain);
  })();
  try { await refreshing; } finally { refreshing = null; }
}

function onEvent({ type, payload }) {
  switch (type) {
    case "snapshot":
      if (payload.job) onJob(payload.job);
      if (!app.session || payload.state !== app.session.state) refresh();
      break;
    case "state":
      if (app.session) app.session.state = payload.state;
      refresh();
      break;
    case "reply":
      addReply(payload.text);
      // A reply may come with new questions, streams or (after the verdict) downloads: refresh (coalesced).
      refresh();
      break;
    case "progress":
      onProgress(payload);
      break;
    case "job":
      onJob(payload);
      if (payload.status && payload.status !== "running" && payload.status !== "queued") refresh();
      break;
    case "error":
      showError({ message: payload.message || "The agents reported an error.", hint: payload.hint });
      break;
    case "connection":
      if (payload.status === "gone") {
        showNotice("This session is no longer available (it may have expired). Start a new session.");
      }
      break;
    default:
      break;
  }
}

function onProgress(p) {
  const kind = p.stub ? "preview" : "convert";
  app.progress[kind] = p;
  if (kind === "convert") {
    app.queue = null;
    const pct = Math.floor(Number(p.percent) || 0);
    const mark = pct >= 100 ? 100 : pct >= 75 ? 75 : pct >= 50 ? 50 : pct >= 25 ? 25 : 0;
    if (mark > app.milestone) {
      app.milestone = mark;
      announce(mark === 100 ? "Conversion written; inspecting the file." : `Conversion ${mark}% done.`);
    }
  }
  updateProgress();
}

function onJob(job) {
  if (!job) return;
  if (job.status === "queued" || (job.position !== undefined && job.position !== null && job.status !== "running")) {
    app.queue = job.position ?? null;
    if (job.kind !== "preview") announce(`Waiting in the queue${app.queue ? `: position ${app.queue}` : ""}.`);
  } else {
    app.queue = null;
  }
  if (job.status === "running" && job.kind === "convert") app.milestone = 0;
  updateProgress();
}

function addReply(text) {
  if (!text) return;
  // The same reply may come from the REST answer and from the WebSocket: show it once.
  if (app.replies.includes(String(text))) return;
  app.replies.push(String(text));
  app.replies = app.replies.slice(-5);
  renderReplies();
}

// ---- actions -------------------------------------------------------------------------------------------

/** Run `fn` with the page marked busy (buttons off), show its errors, then refresh. */
async function run(label, fn) {
  if (app.busy) return;
  app.busy = label;
  hideAlert();
  renderAll();
  try {
    const out = await fn();
    if (out && Array.isArray(out.replies)) out.replies.forEach(addReply);
    return out;
  } catch (err) {
    showError(err);
    return null;
  } finally {
    app.busy = "";
    await refresh();
    renderAll();
  }
}

function doAction(name, argument) {
  return run(name, async () => api.action(await ensureSession(), name, argument));
}

async function saveValue(q, value) {
  hideAlert();
  try {
    const turn = await api.patchValues(app.sid, { [q.unit]: { [q.name]: value } });
    if (turn && Array.isArray(turn.replies)) turn.replies.forEach(addReply);
    announce((turn && turn.replies && turn.replies[0]) || "Sent.");
    return turn;
  } finally {
    refresh();
  }
}

function applyParts(parts) {
  return run("parts", async () => {
    const out = await api.selectParts(app.sid, parts);
    announce(parts.length ? `Converting only ${parts.join(", ")}.` : "Converting all parts.");
    return out;
  });
}

// ---- rendering -----------------------------------------------------------------------------------------

function renderAll(opts = {}) {
  const focusedId = document.activeElement && document.activeElement.id;
  const state = stateName();
  const step = STEP_OF_STATE[state] ?? 0;
  const stateEl = $("state");
  stateEl.textContent = STATE_LABEL[state] || state;
  stateEl.setAttribute("data-state", state);
  document.body.setAttribute("data-state", state);

  const idEl = $("session-id");
  idEl.textContent = app.sid ? `Session ${app.sid}` : "";
  const chat = $("chat-link");
  chat.setAttribute("href", app.sid ? `/#s=${encodeURIComponent(app.sid)}` : "/");
  $("new-session").hidden = !app.sid;

  renderSteps(step);
  STEPS.forEach((s, i) => {
    const section = $(`step-${s.key}`);
    section.classList.toggle("is-current", i === step);
    section.classList.toggle("is-locked", i > step);
    section.classList.toggle("is-done", i < step);
  });
  renderSource(step);
  renderFormat(step);
  renderMetadata(step);
  renderPreview(step);
  renderConvert(step);
  renderResults(step);
  renderReplies();

  // Keep keyboard focus on a control that was re-rendered (same id), else on its step's heading.
  const stepChanged = app.lastStep !== -1 && step !== app.lastStep && !opts.quiet;
  if (focusedId && !stepChanged && document.activeElement === document.body) {
    const again = document.getElementById(focusedId);
    if (again && !again.disabled) again.focus();
    else if (again) { const sec = again.closest("section"); if (sec) sec.querySelector("h2").focus(); }
  }
  if (app.lastState !== null && app.lastState !== state && state !== "none") {
    announce(`Status: ${STATE_LABEL[state] || state}.`);
  }
  if (stepChanged) moveToStep(step);
  app.lastState = state;
  app.lastStep = step;
}

function moveToStep(step) {
  const heading = $(`h-${STEPS[step].key}`);
  const active = document.activeElement;
  const typing = active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) && active.type !== "button";
  if (!typing) heading.focus({ preventScroll: true });
  heading.scrollIntoView({ block: "start", behavior: "smooth" });
}

function renderSteps(current) {
  const ol = clear($("steps"));
  STEPS.forEach((s, i) => {
    const label = i < current ? "done" : i === current ? "current" : "not yet";
    const inner = i <= current
      ? h("a", { href: `#step-${s.key}`, onclick: (e) => { e.preventDefault(); jump(i); } }, s.short)
      : h("span", { class: "g-step-locked" }, s.short);
    ol.appendChild(
      h("li", { class: ["g-step-item", `is-${label.replace(" ", "-")}`], "aria-current": i === current ? "step" : null },
        h("span", { class: "g-step-num", "aria-hidden": "true" }, String(i + 1)),
        inner,
        h("span", { class: "visually-hidden" }, ` (${label})`)),
    );
  });
}

function jump(i) {
  const heading = $(`h-${STEPS[i].key}`);
  heading.focus({ preventScroll: true });
  heading.scrollIntoView({ block: "start" });
}

function locked(body, text) {
  clear(body).appendChild(h("p", { class: "g-locked-note" }, text));
}

// 1. Source ------------------------------------------------------------------------------------------

function renderSource(step) {
  const body = clear($("body-source"));
  const state = stateName();
  const session = app.session;
  const canStart = state === "none" || state === "created" || state === "files_received";
  const disabled = Boolean(app.busy) || !canStart;

  if (session && session.detection && step > 0) {
    body.appendChild(h("p", {}, "Reading from ", h("code", {}, session.detection.path), "."));
    body.appendChild(h("p", { class: "g-help" }, "To convert another recording, start a new session (top of the page)."));
    return;
  }
  // Nothing to convert (no recording found, "none of these", a failed detection): say how to go on.
  const next = h("div", { id: "source-next" });
  body.appendChild(next);
  const lastReply = app.replies.length ? app.replies[app.replies.length - 1] : "";
  const waiting = renderNextStep(next, session, {
    idPrefix: "g",
    busy: Boolean(app.busy),
    where: "upload them, or name a folder on the server, below",
    startOver,
    lastReply,
  });
  if (waiting) {
    for (const u of (session.detection && session.detection.unsupported) || []) {
      body.appendChild(h("p", { class: "g-help" }, `${u.path}: ${u.reason}`));
    }
    const left = h("div", { id: "source-left-out" });
    body.appendChild(left);
    renderLeftOut(left, session.left_out, { idPrefix: "g-source" });
  } else if (state === "files_received") {
    body.appendChild(h("p", { class: "g-help", role: "status" }, "Files received; detecting the format…"));
  }

  if (app.uploaded.length) {
    // Names as the server stored them, rendered as text: a name is user data, never markup.
    body.appendChild(h("p", { class: "g-help", id: "uploaded-files" },
      `Uploaded: ${app.uploaded.slice(0, 10).join(", ")}${app.uploaded.length > 10 ? `, and ${app.uploaded.length - 10} more` : ""}`));
  }

  // (a) the bundled sample
  const sampleName = (app.samples[0] && app.samples[0].name) || "neuropixels";
  const sampleText = (app.samples[0] && app.samples[0].description) || "";
  body.appendChild(
    h("div", { class: "g-source-option" },
      h("h3", {}, "Try the sample"),
      sampleText ? h("p", { class: "g-help", id: "sample-help" }, sampleText) : null,
      h("button", {
        type: "button",
        id: "btn-sample",
        disabled,
        "aria-describedby": sampleText ? "sample-help" : null,
        onclick: () => run("sample", async () => api.useSample(await ensureSession(), sampleName)),
      }, "Use the sample recording")),
  );

  // (b) upload
  const files = h("input", { type: "file", id: "upload-files", multiple: true, disabled });
  const folder = h("input", { type: "file", id: "upload-folder", webkitdirectory: true, multiple: true, disabled });
  const uploadBtn = h("button", { type: "submit", id: "btn-upload", disabled }, "Upload and detect");
  const progress = h("progress", { id: "upload-progress", max: "100", "aria-label": "Upload progress", hidden: app.uploadPercent === null });
  if (app.uploadPercent !== null) progress.value = app.uploadPercent;
  const progressText = h("span", { id: "upload-progress-text", class: "g-help" },
    app.uploadPercent !== null ? `${app.uploadPercent}% uploaded` : "");
  const form = h("form", {
    class: "g-source-option",
    onsubmit: (e) => {
      e.preventDefault();
      const chosen = [...(files.files || []), ...(folder.files || [])];
      if (!chosen.length) { showNotice("Choose files or a folder first."); files.focus(); return; }
      uploadFiles(chosen);
    },
  },
  h("h3", {}, "Upload your recording"),
  h("div", { class: "g-field" },
    h("label", { for: "upload-files" }, "Files or archives (.zip, .tar.gz)"),
    files),
  h("div", { class: "g-field" },
    h("label", { for: "upload-folder" }, "Or a whole folder"),
    folder),
  h("div", { class: "g-actions" }, uploadBtn, progress, progressText));
  body.appendChild(form);

  // (c) a folder on the server
  const path = h("input", { type: "text", id: "server-path", name: "server_path", autocomplete: "off", disabled,
    placeholder: "e.g. /data/lab/mouse12/session1", "aria-describedby": "server-path-help" });
  body.appendChild(
    h("form", {
      class: "g-source-option",
      onsubmit: (e) => {
        e.preventDefault();
        const value = path.value.trim();
        if (!value) { showNotice("Type the folder's path on the server."); path.focus(); return; }
        run("path", async () => api.useServerPath(await ensureSession(), value));
      },
    },
    h("h3", {}, "Use a folder on the server"),
    h("div", { class: "g-field" },
      h("label", { for: "server-path" }, "Folder on the server"),
      h("p", { class: "g-help", id: "server-path-help" }, "Only folders under the server's configured data roots are allowed."),
      path),
    h("div", { class: "g-actions" }, h("button", { type: "submit", id: "btn-path", disabled }, "Use this folder"))),
  );
}

async function uploadFiles(files) {
  const total = files.reduce((n, f) => n + f.size, 0);
  app.uploadPercent = 0;
  await run("upload", async () => {
    const sid = await ensureSession();
    announce(`Uploading ${files.length} file(s), ${humanBytes(total)}.`);
    let lastMark = 0;
    const out = await api.upload(sid, files, {
      start: true,
      onProgress: (loaded, all) => {
        const pct = all ? Math.floor((loaded / all) * 100) : 0;
        app.uploadPercent = pct;
        const bar = $("upload-progress");
        if (bar) { bar.hidden = false; bar.value = pct; }
        const text = $("upload-progress-text");
        if (text) text.textContent = `${pct}% uploaded`;
        if (pct >= lastMark + 25) { lastMark = pct - (pct % 25); announce(`Upload ${lastMark}% done.`); }
      },
    });
    app.uploaded = out && out.files ? out.files.map((f) => f.relative_path) : files.map((f) => f.name);
    announce("Upload finished; detecting the format.");
    return out && out.turn ? out.turn : out;
  });
  app.uploadPercent = null;
  renderAll();
}

// 2. Format and streams --------------------------------------------------------------------------------

function renderFormat(step) {
  const body = $("body-format");
  const session = app.session;
  const detection = session && session.detection;
  if (step < 1 || !detection) {
    locked(body, "Available once a recording has been read.");
    return;
  }
  const slots = ["format-summary", "format-choices", "format-parts", "format-left-out", "format-units"];
  if (!$(slots[0])) {
    clear(body);
    for (const id of slots) body.appendChild(h("div", { id, class: "g-slot" }));
  }
  const summary = clear($("format-summary"));
  const list = session.units || [];
  summary.appendChild(h("p", { class: "g-help" }, list.length === 1 ? "One stream found" : `${list.length} streams found`,
    " in ", h("code", {}, detection.path), "."));
  for (const w of detection.warnings || []) summary.appendChild(h("p", { class: "g-warning" }, `Warning: ${w}`));
  for (const u of detection.unsupported || []) {
    summary.appendChild(h("p", { class: "g-help" }, `Not convertible: ${u.path} (${u.reason})`));
  }
  renderChoices($("format-choices"), session.state === "needs_format_choice" ? session.choices : [], {
    idPrefix: "g",
    disabled: Boolean(app.busy),
    choose: (index) => doAction("choose", String(index)),
    none: () => doAction("choose", "none"),
  });
  renderUnits($("format-units"), list, { idPrefix: "g" });
  const jobActive = ["converting", "inspecting", "previewing"].includes(session.state);
  partsBox.render($("format-parts"), session, { disabled: Boolean(app.busy) || jobActive });
  renderLeftOut($("format-left-out"), session.left_out, { idPrefix: "g" });
}

// 3. Metadata ------------------------------------------------------------------------------------------

function renderMetadata(step) {
  const body = $("body-metadata");
  if (step < 2 || !app.schema) {
    app.form = null;
    locked(body, "Available once the format is known.");
    return;
  }
  if (!app.form) buildForm(body);
  fillForm();
  valueBox.render($("metadata-values"), app.session, { disabled: Boolean(app.busy) || streamsFrozen(app.session) });
}

function buildForm(body) {
  clear(body);
  const props = app.schema.properties || {};
  const fields = {};
  const intro = h("p", { class: "g-help" },
    "Values read from the files are filled in already. Fields marked “required” are needed by DANDI ",
    "(age may be replaced by the date of birth). Changes are checked as you type and saved with “Save metadata”.");
  const summary = h("div", { id: "metadata-summary", class: "g-summary", "aria-live": "polite" });
  const grid = h("div", { class: "g-form-grid" });
  const groups = { NWBFile: h("fieldset", { class: "g-group" }, h("legend", {}, "Session")),
    Subject: h("fieldset", { class: "g-group" }, h("legend", {}, "Subject")),
    Ecephys: h("fieldset", { class: "g-group" }, h("legend", {}, "Electrodes")) };
  for (const [name, prop] of Object.entries(props)) {
    const group = String(prop["x-nwb-location"] || "NWBFile").split(".")[0];
    const f = buildField(name, prop);
    fields[name] = f;
    (groups[group] || groups.NWBFile).appendChild(f.wrap);
  }
  Object.values(groups).forEach((g) => { if (g.children.length > 1) grid.appendChild(g); });
  const saveBtn = h("button", { type: "submit", id: "save-metadata" }, "Save metadata");
  const saved = h("p", { id: "metadata-saved", class: "g-help", "aria-live": "polite" });
  const form = h("form", { id: "metadata-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); saveMetadata(); } },
    intro, summary, grid, h("div", { class: "g-actions g-sticky-actions" }, saveBtn, saved));
  // Values a stream's reader needs (not metadata fields): saved one by one, before the preview can run.
  body.appendChild(h("div", { id: "metadata-values", class: "g-slot", hidden: true }));
  body.appendChild(form);
  app.form = { fields, saveBtn, saved, summary };
}

function separatorFor(prop) {
  // Names like "Doe, Jane" hold commas: such lists are separated by semicolons instead.
  const ex = (prop.examples || []).flat();
  return ex.some((x) => String(x).includes(",")) ? "; " : ", ";
}

function buildField(name, prop) {
  const id = `field-${name}`;
  const isArray = prop.type === "array";
  const sep = isArray ? separatorFor(prop) : null;
  const required = Boolean(prop["x-dandi-required"]);
  const example = (prop.examples || [])[0];
  const exampleText = example === undefined ? "" : Array.isArray(example) ? example.join(sep || ", ") : String(example);
  const long = /description$/.test(name);
  const describedBy = [`help-${name}`, required ? `req-${name}` : null, `source-${name}`, `error-${name}`].filter(Boolean).join(" ");
  const attrs = {
    id, name, class: "g-input", autocomplete: "off", placeholder: exampleText ? `e.g. ${exampleText}` : null,
    "aria-describedby": describedBy, "aria-required": required ? "true" : null,
    oninput: () => validateField(name), onblur: () => validateField(name),
  };
  let input;
  let list = null;
  if (long) input = h("textarea", { ...attrs, rows: "2" });
  else {
    if (Array.isArray(prop.enum)) {
      list = h("datalist", { id: `list-${name}` }, prop.enum.map((v) => h("option", { value: v })));
      attrs.list = `list-${name}`;
    }
    input = h("input", { ...attrs, type: "text" });
  }
  let help = prop.description || "";
  if (isArray) help += sep === "; " ? " Several: separate them with semicolons." : " Several: separate them with commas.";
  const source = h("span", { id: `source-${name}`, class: "g-source" });
  const error = h("p", { id: `error-${name}`, class: "g-error", "aria-live": "polite" });
  const note = h("p", { id: `note-${name}`, class: "g-note" });
  const wrap = h("div", { class: ["g-field", `g-field-${name}`] },
    h("div", { class: "g-label-row" },
      h("label", { for: id }, prop.title || name),
      required ? h("span", { class: "g-required", id: `req-${name}` }, "required") : null,
      source),
    input, list,
    h("p", { class: "g-help", id: `help-${name}` }, help),
    note, error);
  return { name, prop, input, error, note, source, wrap, isArray, sep, required, original: "" };
}

function toText(f, value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(f.sep || ", ");
  return String(value);
}

function fromText(f, text) {
  const t = text.trim();
  if (!f.isArray) return t;
  const parts = f.sep === "; " ? t.split(";") : t.split(/[,;]/);
  return parts.map((x) => x.trim()).filter(Boolean);
}

/** Put the server's values in the form; fields the user is editing keep their text. */
function fillForm(force = false) {
  if (!app.form || !app.metadata) return;
  const values = app.metadata.values || {};
  for (const f of Object.values(app.form.fields)) {
    const v = values[f.name];
    const text = toText(f, v ? v.value : null);
    const dirty = f.input.value !== f.original;
    if (!dirty || force) {
      f.input.value = text;
      f.original = text;
    }
    if (v && v.source) {
      f.source.textContent = SOURCE_LABEL[v.source] || v.source;
      f.source.setAttribute("title", v.evidence || "");
      f.source.setAttribute("data-source", v.source);
    } else {
      f.source.textContent = "";
      f.source.removeAttribute("title");
    }
    const n = app.normalizedNotes[f.name];
    f.note.textContent = n && n !== text && text ? `You typed “${n}”; saved as “${text}”.` : "";
    validateField(f.name);
  }
  const disabled = Boolean(app.busy) || !canEditMetadata();
  app.form.saveBtn.disabled = disabled;
  renderMetadataSummary();
}

function canEditMetadata() {
  const s = stateName();
  return !["converting", "inspecting", "previewing", "accepted", "abandoned"].includes(s);
}

function renderMetadataSummary() {
  const box = clear(app.form.summary);
  const open = questions().filter((q) => !q.answered);
  const critical = open.filter((q) => q.importance === "CRITICAL");
  if (critical.length) {
    box.appendChild(h("p", { class: "g-warning" },
      `${critical.length} required answer${critical.length > 1 ? "s are" : " is"} missing before the preview can run: `,
      critical.map(titleOf).join(", "), "."));
  } else if (stateName() === "collecting_metadata" || stateName() === "improving") {
    box.appendChild(h("p", { class: "g-ok" }, "All required metadata is there. The preview runs after you save."));
  } else if (open.length) {
    box.appendChild(h("p", { class: "g-help" }, `${open.length} optional improvement${open.length > 1 ? "s" : ""} suggested below.`));
  }
}

function fieldTitle(name) {
  const p = app.schema && app.schema.properties && app.schema.properties[name];
  return (p && p.title) || name;
}

const ISO_DURATION = /^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$/i;
const HUMAN_AGE = /^(about\s+|~\s*)?\d+(\.\d+)?\s*(d|days?|w|wks?|weeks?|mo|months?|y|yrs?|years?)(\s+old)?$/i;
const SEXES = /^(m|f|u|o|xx|xo|male|female|unknown|other)$/i;
const WEIGHT = /^\d+(\.\d+)?\s*(kg|g|mg|ug|μg|ng|pg|grams?|kilograms?)$/i;

/** Live check of one field: client rules first, then the agents' open question or error for it. */
function validateField(name) {
  const f = app.form && app.form.fields[name];
  if (!f) return;
  const text = f.input.value.trim();
  const dirty = f.input.value !== f.original;
  let message = "";
  let severity = "";
  const dob = app.form.fields.date_of_birth;
  if (!text) {
    if (name === "age" && dob && dob.input.value.trim()) message = "";
    else if (f.required) { message = "Required: DANDI needs this."; severity = "error"; }
  } else if (name === "age") {
    const parts = text.split("/");
    const ok = parts.every((p) => !p || ISO_DURATION.test(p)) || HUMAN_AGE.test(text);
    if (!ok) { message = "Give the age as an ISO 8601 duration (P90D, P12W) or like “12 weeks”, “90 days”."; severity = "error"; }
  } else if (name === "sex") {
    if (!SEXES.test(text)) { message = "Use M, F, U (unknown) or O (other)."; severity = "error"; }
  } else if (name === "weight") {
    if (!WEIGHT.test(text)) { message = "Give a number and a unit, e.g. “25 g”."; severity = "error"; }
  } else if (f.prop.format === "date-time") {
    if (Number.isNaN(Date.parse(text))) { message = "Use a date and time like 2021-09-20T14:13:34+02:00."; severity = "error"; }
  } else if (name === "subject_id" && text.includes("/")) {
    message = "No slashes in the subject ID."; severity = "error";
  }
  if (!message && !dirty) {
    const serverError = app.metadata && app.metadata.errors && app.metadata.errors[name];
    const q = metadataQuestions(questions()).find((x) => x.field === name && !x.answered);
    if (serverError) { message = serverError; severity = "error"; }
    else if (q) { message = q.text; severity = q.importance === "CRITICAL" ? "error" : "suggestion"; }
  }
  f.error.textContent = message ? `${severity === "error" ? "Error: " : "Suggestion: "}${message}` : "";
  f.error.className = severity === "error" ? "g-error" : "g-suggestion";
  if (severity === "error") f.input.setAttribute("aria-invalid", "true");
  else f.input.removeAttribute("aria-invalid");
  f.wrap.classList.toggle("is-invalid", severity === "error");
  f.wrap.classList.toggle("is-dirty", dirty);
}

async function saveMetadata() {
  if (!app.form) return;
  const changed = {};
  const typed = {};
  for (const f of Object.values(app.form.fields)) {
    if (f.input.value === f.original) continue;
    const value = fromText(f, f.input.value);
    if ((Array.isArray(value) && !value.length) || value === "") continue; // nothing to send for a cleared field
    changed[f.name] = value;
    typed[f.name] = f.input.value.trim();
  }
  const names = Object.keys(changed);
  if (!names.length) {
    app.form.saved.textContent = "Nothing changed.";
    return;
  }
  const invalid = names.filter((n) => app.form.fields[n].wrap.classList.contains("is-invalid"));
  if (invalid.length) {
    app.form.saved.textContent = `Check: ${invalid.map(fieldTitle).join(", ")}.`;
    app.form.fields[invalid[0]].input.focus();
    return;
  }
  app.form.saved.textContent = "Saving…";
  const out = await run("metadata", async () => api.patchMetadata(app.sid, changed));
  if (out) {
    app.normalizedNotes = { ...app.normalizedNotes, ...typed };
    for (const n of names) app.form.fields[n].original = "\u0000"; // take the server's (normalized) value
    fillForm(true);
    app.form.saved.textContent = `Saved ${names.map(fieldTitle).join(", ")}.`;
    announce(`Metadata saved: ${names.map(fieldTitle).join(", ")}.`);
  } else {
    app.form.saved.textContent = "Not saved.";
  }
}

// 4. Preview -------------------------------------------------------------------------------------------

function countsList(counts) {
  const entries = IMPORTANCE_ORDER.filter((k) => counts && counts[k] !== undefined).map((k) => [k, counts[k]]);
  return h("dl", { class: "g-counts" },
    entries.map(([k, n]) => [h("dt", {}, IMPORTANCE_LABEL[k] || k), h("dd", { class: n ? "g-nonzero" : null }, String(n))]));
}

function verdictBadge(verdict) {
  const v = verdict || "unknown";
  const text = { PASSED: "Passed", PASSED_WITH_ISSUES: "Passed with issues", FAILED: "Failed" }[v] || v;
  return h("span", { class: ["g-verdict", `g-verdict-${v.toLowerCase()}`] }, text);
}

function renderPreview(step) {
  const body = clear($("body-preview"));
  if (step < 3) {
    locked(body, "The preview (a small test file, checked by NWB Inspector) runs by itself once the required metadata is complete.");
    return;
  }
  const state = stateName();
  const preview = app.session && app.session.preview;
  if (state === "previewing") {
    const p = app.progress.preview;
    body.appendChild(h("p", { class: "g-help" }, "Writing and inspecting a small preview file…"));
    body.appendChild(h("progress", { id: "preview-progress", max: "100", "aria-label": "Preview progress",
      value: p ? String(Math.round(p.percent || 0)) : null }));
  } else if (preview) {
    body.appendChild(h("p", {}, "Preview verdict: ", verdictBadge(preview.verdict)));
    body.appendChild(countsList(preview.findings));
    const open = questions().filter((q) => !q.answered);
    if (open.length) {
      body.appendChild(h("p", { class: "g-help" }, "Optional improvements (edit them in step 3):"));
      body.appendChild(h("ul", { class: "g-list" }, open.map((q) => h("li", {}, `${titleOf(q)}: ${q.text}`))));
    }
  } else {
    body.appendChild(h("p", { class: "g-help" }, "No preview yet."));
  }
  const canPreview = ["collecting_metadata", "ready", "improving"].includes(state) && !criticalOpen();
  body.appendChild(h("div", { class: "g-actions" },
    h("button", { type: "button", id: "btn-preview", class: "secondary", disabled: Boolean(app.busy) || !canPreview, onclick: () => doAction("preview") },
      "Preview again")));
}

// 5. Convert -------------------------------------------------------------------------------------------

function renderConvert(step) {
  const body = clear($("body-convert"));
  if (step < 3) {
    locked(body, "Available once the preview has passed.");
    return;
  }
  const state = stateName();
  const canConvert = state === "ready" || (state === "collecting_metadata" && !criticalOpen());
  const canRetry = state === "failed" && allowed("converting");
  const running = state === "converting" || state === "inspecting";
  body.appendChild(h("p", { class: "g-help" },
    "Writes the full NWB file in the background, then checks it with NWB Inspector. You can leave this page; the session continues."));
  const actions = h("div", { class: "g-actions" },
    h("button", { type: "button", id: "convert", disabled: Boolean(app.busy) || !canConvert, onclick: () => doAction("convert") }, "Convert"),
    canRetry ? h("button", { type: "button", id: "btn-retry", onclick: () => doAction("retry"), disabled: Boolean(app.busy) }, "Retry the conversion") : null,
    running ? h("button", { type: "button", id: "btn-cancel", class: "secondary", onclick: () => doAction("cancel") }, "Cancel conversion") : null);
  body.appendChild(actions);
  const bar = h("progress", { id: "convert-progress", max: "100", "aria-label": "Conversion progress" });
  const text = h("p", { id: "convert-progress-text", class: "g-progress-text" });
  const queue = h("p", { id: "queue-position", class: "g-help", "aria-live": "polite" });
  body.appendChild(h("div", { class: "g-progress", id: "convert-progress-box", hidden: !(running || app.progress.convert) }, bar, text, queue));
  updateProgress();
}

function updateProgress() {
  const box = $("convert-progress-box");
  const bar = $("convert-progress");
  const text = $("convert-progress-text");
  const queue = $("queue-position");
  const state = stateName();
  const p = app.progress.convert;
  if (box) box.hidden = !(p || app.queue || state === "converting" || state === "inspecting");
  if (bar && text) {
    if (p) {
      const pct = Math.max(0, Math.min(100, Number(p.percent) || 0));
      bar.value = pct;
      bar.textContent = `${pct.toFixed(0)}%`;
      const bits = [`${pct.toFixed(0)}%`];
      if (p.rate_mb_s) bits.push(`${Number(p.rate_mb_s).toFixed(1)} MB/s`);
      if (p.eta_s !== null && p.eta_s !== undefined && pct < 100) bits.push(`about ${fmtSeconds(p.eta_s)} left`);
      if (p.total_bytes) bits.push(`${humanBytes(p.done_bytes)} of ${humanBytes(p.total_bytes)}`);
      if (state === "inspecting") bits.push("inspecting the file");
      text.textContent = bits.join(" · ");
    } else {
      bar.removeAttribute("value");
      text.textContent = state === "converting" ? "Starting…" : "";
    }
  }
  if (queue) queue.textContent = app.queue ? `Waiting in the queue: position ${app.queue}.` : "";
  const pp = $("preview-progress");
  if (pp && app.progress.preview) pp.value = Number(app.progress.preview.percent) || 0;
}

// 6. Results -------------------------------------------------------------------------------------------

function renderResults(step) {
  const body = clear($("body-results"));
  const state = stateName();
  if (state === "abandoned") {
    body.appendChild(h("p", {}, "This session was abandoned. Start a new session to convert again."));
  } else if (step < 5) {
    locked(body, "Available once the full file has been written and inspected.");
    return;
  }
  const r = app.results;
  const output = app.session && app.session.output;
  if (output || r) {
    body.appendChild(h("p", { class: "g-verdict-line" }, "Verdict: ", verdictBadge((r && r.verdict) || (output && output.verdict))));
  }
  const report = app.report;
  if (report && report.verdict) {
    const v = report.verdict;
    body.appendChild(h("p", {}, v.dandi_ready ? "Ready for DANDI." : "Not ready for DANDI yet."));
    if ((v.reasons || []).length) body.appendChild(h("ul", { class: "g-list" }, v.reasons.map((x) => h("li", {}, x))));
  }
  if (r && r.findings && Object.keys(r.findings).length) body.appendChild(countsList(r.findings));

  // decisions
  if (state !== "abandoned") {
    const busy = Boolean(app.busy);
    body.appendChild(h("div", { class: "g-actions g-decide" },
      h("button", { type: "button", id: "btn-accept", disabled: busy || !allowed("accepted"), onclick: () => doAction("accept") }, "Accept"),
      h("button", { type: "button", id: "btn-improve", class: "secondary", disabled: busy || !allowed("improving"), onclick: () => doAction("improve") }, "Improve"),
      h("button", { type: "button", id: "btn-abandon", class: "danger", disabled: busy || !allowed("abandoned"), onclick: () => doAction("abandon") }, "Abandon")));
    body.appendChild(h("p", { class: "g-help" },
      state === "accepted" ? "Accepted: the file below is your DANDI-ready NWB file."
        : "Accept keeps the file; Improve goes back to the metadata to fix what the inspector found; Abandon stops here."));
  }

  // downloads
  const files = (r && r.files) || {};
  const several = (r && r.all_files) || [];
  if (several.length > 1) {
    body.appendChild(h("div", {}, h("h3", {}, "Downloads"),
      h("p", { class: "g-help" }, `${several.length} files: one per acquisition, each inspected on its own.`),
      renderDownloadGroups(several, DOWNLOAD_LABEL, { idPrefix: "g", headingLevel: "h4" })));
  } else {
    const links = DOWNLOAD_LABEL.filter(([k]) => files[k]).map(([k, label]) =>
      h("li", {}, h("a", { href: files[k].url, download: files[k].name }, label), " ",
        h("span", { class: "g-help" }, `${files[k].name} (${humanBytes(files[k].size)})`)));
    const from = several[0] && several[0].acquisition;
    if (links.length) {
      body.appendChild(h("div", {}, h("h3", {}, "Downloads"),
        from ? h("p", { class: "g-help" }, `One file, from ${from}.`) : null,
        h("ul", { class: "g-downloads" }, links)));
    }
  }

  // findings from the JSON report
  if (report && Array.isArray(report.findings)) {
    const groups = {};
    for (const f of report.findings) (groups[f.importance] = groups[f.importance] || []).push(f);
    const order = [...IMPORTANCE_ORDER, ...Object.keys(groups).filter((k) => !IMPORTANCE_ORDER.includes(k))];
    const wrap = h("div", { class: "g-findings" }, h("h3", {}, "Findings"));
    if (several.length > 1) {
      wrap.appendChild(h("p", { class: "g-help" }, `These are the findings of file 1`,
        several[0].acquisition ? ` (${several[0].acquisition})` : "", "; every file has its own report under Downloads."));
    }
    if (!report.findings.length) wrap.appendChild(h("p", {}, "NWB Inspector found nothing to report."));
    for (const imp of order) {
      const list = groups[imp];
      if (!list || !list.length) continue;
      wrap.appendChild(h("details", { class: ["g-finding-group", `g-imp-${imp.toLowerCase()}`], open: imp !== "STUB_FALSE_POSITIVE" ? true : null },
        h("summary", {}, `${IMPORTANCE_LABEL[imp] || imp} (${list.length})`),
        h("ul", { class: "g-list" }, list.map((f) => h("li", { class: "g-finding" },
          h("p", { class: "g-finding-msg" }, f.message || f.check_name || ""),
          f.object || f.location ? h("p", { class: "g-help" }, [f.object, f.location].filter(Boolean).join(" at ")) : null,
          f.explanation ? h("p", {}, h("strong", {}, "Why it matters: "), f.explanation) : null,
          f.fix ? h("p", {}, h("strong", {}, "How to fix: "), f.fix) : null)))));
    }
    body.appendChild(wrap);
  }
  if (report && Array.isArray(report.plots) && report.plots.length) {
    body.appendChild(h("div", { class: "g-plots" }, h("h3", {}, "Plots"),
      report.plots.filter((p) => p.png_base64).map((p) => h("figure", {},
        h("img", { src: `data:image/png;base64,${p.png_base64}`, alt: p.title || p.name || "plot" }),
        h("figcaption", {}, p.title || p.name || "")))));
  }
}

// ---- messages ----------------------------------------------------------------------------------------

function renderReplies() {
  const ul = clear($("replies"));
  $("agent-log").hidden = !app.replies.length;
  for (const text of app.replies) ul.appendChild(h("li", {}, text));
}

function showError(err) {
  const box = $("alert");
  clear(box);
  box.appendChild(h("p", {}, (err && err.message) || "Something went wrong."));
  if (err && err.hint) box.appendChild(h("p", { class: "g-help" }, err.hint));
  box.appendChild(h("button", { type: "button", class: "secondary", onclick: hideAlert }, "Dismiss"));
  box.classList.remove("is-notice");
  box.hidden = false;
}

function showNotice(text) {
  showError({ message: text });
  $("alert").classList.add("is-notice");
}

function hideAlert() {
  const box = $("alert");
  box.hidden = true;
  clear(box);
}
