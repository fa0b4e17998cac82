// The guided UI (/guided): the same workflow as the chat, as six steps with forms.
// Every text that comes from the user, the files or an LLM is inserted as text (dom.js `h`), never as HTML.
// The words for states, importance levels, sources and downloads come from the vocabulary (vocabulary.js);
// what may be done now comes from the session view (session.js).

import * as api from "./api.js";
import { h, clear, announce } from "./dom.js";
import { renderDownloads } from "./downloads.js";
import { countsList, firstFileNote, plotsOf, reasonsList, renderFindings, verdictBadge } from "./findings.js";
import { MetadataForm } from "./metadata-form.js";
import { fieldTitle } from "./metadata.js";
import { ProgressView } from "./progress.js";
import { SessionClient, streamsFrozen } from "./session.js";
import { PartsPicker, ValueQuestions, questionTitle, renderChoices, renderLeftOut, renderNextStep, renderUnits } from "./streams.js";
import { namesText, uploadItems } from "./upload.js";
import { hasResult, isTerminal, loadVocabulary, stateLabel } from "./vocabulary.js";

const STEPS = [["source", "Source"], ["format", "Format and streams"], ["metadata", "Metadata"], ["preview", "Preview"],
  ["convert", "Convert"], ["results", "Results"]].map(([key, short]) => ({ key, short }));
/** The step that shows each state before there is a result; a state with a result, or a final one, is step 6. */
const STEP_OF_STATE = {
  created: 0, files_received: 0, detected: 1, needs_format_choice: 1, collecting_metadata: 2, improving: 2,
  previewing: 3, ready: 3, converting: 4, inspecting: 4,
};
const stepOf = (state) => (hasResult(state) || isTerminal(state) ? 5 : STEP_OF_STATE[state] ?? 0);

const app = { schema: null, samples: [], lastStep: -1, lastState: null, uploadPercent: null, uploaded: [], replies: null };

const $ = (id) => document.getElementById(id);
const client = new SessionClient({
  onOpen: () => resetPage(),
  onChange: () => renderAll(),
  onEvent: (type, payload) => onEvent(type, payload),
  onReplies: (replies) => replies.forEach(addReply),
  onError: (err) => showError(err),
  onGone: (message) => { resetPage(); renderAll(); showNotice(message); },
});
const progress = new ProgressView();
const form = new MetadataForm({ save: (fields) => client.run(() => api.patchMetadata(client.sid, fields)), titleOf: (q) => titleOf(q) });
// The values a reader needs (PATCH /values) and the parts to convert (POST /parts): shared with the chat UI.
const valueBox = new ValueQuestions({ idPrefix: "g", save: (q, value) => { hideAlert(); return client.saveValue(q, value); } });
const partsBox = new PartsPicker({ idPrefix: "g", apply: (parts) => { hideAlert(); return client.selectParts(parts); } });

const view = () => client.view;
const stateName = () => (client.view ? client.view.state : client.sid ? "created" : "none");
const waiting = () => client.pending > 0;
const units = () => (client.view ? client.view.units || [] : []);
const titleOf = (q) => questionTitle(q, units(), (name) => fieldTitle(app.schema, name));

// ---- start-up and sessions -----------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", init);

async function init() {
  $("new-session").addEventListener("click", startOver);
  window.addEventListener("hashchange", () => {
    const id = api.currentSession();
    if (id && id !== client.sid) openSession(id);
  });
  const [schema, samples] = await Promise.all([
    api.metadataSchema().catch((err) => { showError(err); return null; }),
    api.samples().catch(() => []),
    loadVocabulary().catch((err) => showError(err)),
  ]);
  Object.assign(app, { schema, samples });
  const id = api.currentSession();
  if (id) await openSession(id);
  renderAll();
}

function openSession(id) {
  client.open(id);
  return client.refresh();
}

/** Forget what this page showed of the last session. */
function resetPage() {
  Object.assign(app, { lastStep: -1, lastState: null, replies: null });
  progress.reset();
  form.reset();
  valueBox.reset();
  partsBox.reset();
  clear($("body-metadata"));
}

function startOver() {
  client.forget();
  resetPage();
  hideAlert();
  renderAll();
  announce("New session: choose a recording.");
  $("h-source").focus();
}

function onEvent(type, payload) {
  if (progress.onEvent(type, payload)) updateProgress();
  else if (type === "reply") addReply(payload.text);
  else if (type === "error") showError({ message: payload.message || "The agents reported an error.", hint: payload.hint });
}

function addReply(text) {
  if (!text || !app.replies) return;
  // The same reply may come from the REST answer and from the WebSocket: show it once.
  if (app.replies.includes(String(text))) return;
  app.replies = [...app.replies, String(text)].slice(-5);
  renderReplies();
}

// ---- requests -------------------------------------------------------------------------------------

/** Run a request with the page waiting (buttons off), show its errors, then reload. */
function run(fn) {
  hideAlert();
  return client.run(fn);
}

const doAction = (name, argument) => run(async () => api.action(await client.ensure(), name, argument));

// ---- rendering -----------------------------------------------------------------------------------------

function renderAll(opts = {}) {
  const focusedId = document.activeElement && document.activeElement.id;
  const state = stateName();
  const step = state === "none" ? 0 : stepOf(state);
  if (client.view && app.replies === null) {
    // Opening a session: its last words from the agents.
    app.replies = (client.view.chat || []).filter((t) => t.role !== "user").slice(-5).map((t) => t.text);
  }
  const stateEl = $("state");
  stateEl.textContent = state === "none" ? "No session yet" : stateLabel(state);
  stateEl.setAttribute("data-state", state);
  document.body.setAttribute("data-state", state);
  $("session-id").textContent = client.sid ? `Session ${client.sid}` : "";
  $("chat-link").setAttribute("href", client.sid ? `/#s=${encodeURIComponent(client.sid)}` : "/");
  $("new-session").hidden = !client.sid;

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
  if (app.lastState !== null && app.lastState !== state && state !== "none") announce(`Status: ${stateLabel(state)}.`);
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
  const session = view();
  const disabled = waiting() || step > 0 || client.working;

  if (session && session.detection && step > 0) {
    body.appendChild(h("p", {}, "Reading from ", h("code", {}, session.detection.path), "."));
    body.appendChild(h("p", { class: "g-help" }, "To convert another recording, start a new session (top of the page)."));
    return;
  }
  // Nothing to convert (no recording found, "none of these", a failed detection): say how to go on.
  const next = h("div", { id: "source-next" });
  body.appendChild(next);
  const replies = app.replies || [];
  const stuck = renderNextStep(next, session, {
    idPrefix: "g",
    busy: waiting(),
    where: "upload them, or name a folder on the server, below",
    startOver,
    lastReply: replies.length ? replies[replies.length - 1] : "",
  });
  if (stuck) {
    for (const u of (session.detection && session.detection.unsupported) || []) {
      body.appendChild(h("p", { class: "g-help" }, `${u.path}: ${u.reason}`));
    }
    const left = h("div", { id: "source-left-out" });
    body.appendChild(left);
    renderLeftOut(left, session.left_out, { idPrefix: "g-source" });
  } else if (session && session.busy) {
    body.appendChild(h("p", { class: "g-help", role: "status" }, "Files received; detecting the format…"));
  }
  if (app.uploaded.length) {
    // Names as the server stored them, rendered as text: a name is user data, never markup.
    body.appendChild(h("p", { class: "g-help", id: "uploaded-files" }, `Uploaded: ${namesText(app.uploaded)}`));
  }

  // (a) the bundled sample
  const sample = app.samples[0] || { name: "neuropixels", description: "" };
  body.appendChild(h("div", { class: "g-source-option" },
    h("h3", {}, "Try the sample"),
    sample.description ? h("p", { class: "g-help", id: "sample-help" }, sample.description) : null,
    h("button", {
      type: "button", id: "btn-sample", disabled, "aria-describedby": sample.description ? "sample-help" : null,
      onclick: () => run(async () => api.useSample(await client.ensure(), sample.name)),
    }, "Use the sample recording")));

  // (b) upload
  const files = h("input", { type: "file", id: "upload-files", multiple: true, disabled });
  const folder = h("input", { type: "file", id: "upload-folder", webkitdirectory: true, multiple: true, disabled });
  const bar = h("progress", { id: "upload-progress", max: "100", "aria-label": "Upload progress", hidden: app.uploadPercent === null });
  if (app.uploadPercent !== null) bar.value = app.uploadPercent;
  body.appendChild(h("form", {
    class: "g-source-option",
    onsubmit: (e) => {
      e.preventDefault();
      const chosen = [...(files.files || []), ...(folder.files || [])];
      if (!chosen.length) { showNotice("Choose files or a folder first."); files.focus(); return; }
      uploadFiles(chosen);
    },
  },
  h("h3", {}, "Upload your recording"),
  h("div", { class: "g-field" }, h("label", { for: "upload-files" }, "Files or archives (.zip, .tar.gz)"), files),
  h("div", { class: "g-field" }, h("label", { for: "upload-folder" }, "Or a whole folder"), folder),
  h("div", { class: "g-actions" },
    h("button", { type: "submit", id: "btn-upload", disabled }, "Upload and detect"), bar,
    h("span", { id: "upload-progress-text", class: "g-help" }, app.uploadPercent !== null ? `${app.uploadPercent}% uploaded` : ""))));

  // (c) a folder on the server
  const path = h("input", { type: "text", id: "server-path", name: "server_path", autocomplete: "off", disabled,
    placeholder: "e.g. /data/lab/mouse12/session1", "aria-describedby": "server-path-help" });
  body.appendChild(h("form", {
    class: "g-source-option",
    onsubmit: (e) => {
      e.preventDefault();
      const value = path.value.trim();
      if (!value) { showNotice("Type the folder's path on the server."); path.focus(); return; }
      run(async () => api.useServerPath(await client.ensure(), value));
    },
  },
  h("h3", {}, "Use a folder on the server"),
  h("div", { class: "g-field" },
    h("label", { for: "server-path" }, "Folder on the server"),
    h("p", { class: "g-help", id: "server-path-help" }, "Only folders under the server's configured data roots are allowed."),
    path),
  h("div", { class: "g-actions" }, h("button", { type: "submit", id: "btn-path", disabled }, "Use this folder"))));
}

async function uploadFiles(files) {
  app.uploadPercent = 0;
  await run(async () => {
    const out = await uploadItems(await client.ensure(), files, {
      onProgress: (pct) => {
        app.uploadPercent = pct;
        const bar = $("upload-progress");
        if (bar) { bar.hidden = false; bar.value = pct; }
        const text = $("upload-progress-text");
        if (text) text.textContent = `${pct}% uploaded`;
      },
    });
    app.uploaded = out.names;
    return out;
  });
  app.uploadPercent = null;
  renderAll();
}

// 2. Format and streams --------------------------------------------------------------------------------

function renderFormat(step) {
  const body = $("body-format");
  const session = view();
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
  renderChoices($("format-choices"), session.choices, {
    idPrefix: "g",
    disabled: !client.allows("choose"),
    choose: (index) => doAction("choose", String(index)),
    none: () => doAction("choose", "none"),
  });
  renderUnits($("format-units"), list, { idPrefix: "g" });
  partsBox.render($("format-parts"), session, { disabled: waiting() });
  renderLeftOut($("format-left-out"), session.left_out, { idPrefix: "g" });
}

// 3. Metadata ------------------------------------------------------------------------------------------

function renderMetadata(step) {
  const body = $("body-metadata");
  if (step < 2 || !app.schema) {
    form.reset();
    locked(body, "Available once the format is known.");
    return;
  }
  if (!form.built) form.build(body, app.schema);
  form.fill({ metadata: client.metadata, questions: view().questions, disabled: waiting() || !client.mayEdit });
  valueBox.render($("metadata-values"), view(), { disabled: waiting() || streamsFrozen(view()) });
}

// 4. Preview -------------------------------------------------------------------------------------------

function renderPreview(step) {
  const body = clear($("body-preview"));
  if (step < 3) {
    locked(body, "The preview (a small test file, checked by NWB Inspector) runs by itself once the required metadata is complete.");
    return;
  }
  const preview = view() && view().preview;
  if (stateName() === "previewing") {
    body.appendChild(h("p", { class: "g-help" }, "Writing and inspecting a small preview file…"));
    body.appendChild(h("progress", { id: "preview-progress", max: "100", "aria-label": "Preview progress" }));
  } else if (preview) {
    body.appendChild(h("p", {}, "Preview verdict: ", verdictBadge(preview.verdict)));
    body.appendChild(countsList(preview.findings));
    const open = (view().questions || []).filter((q) => !q.answered);
    if (open.length) {
      body.appendChild(h("p", { class: "g-help" }, "Optional improvements (edit them in step 3):"));
      body.appendChild(h("ul", { class: "g-list" }, open.map((q) => h("li", {}, `${titleOf(q)}: ${q.text}`))));
    }
  } else {
    body.appendChild(h("p", { class: "g-help" }, "No preview yet."));
  }
  body.appendChild(h("div", { class: "g-actions" },
    h("button", { type: "button", id: "btn-preview", class: "secondary", disabled: !client.allows("preview"), onclick: () => doAction("preview") },
      "Preview again")));
}

// 5. Convert -------------------------------------------------------------------------------------------

function renderConvert(step) {
  const body = clear($("body-convert"));
  if (step < 3) {
    locked(body, "Available once the preview has passed.");
    return;
  }
  body.appendChild(h("p", { class: "g-help" },
    "Writes the full NWB file in the background, then checks it with NWB Inspector. You can leave this page; the session continues."));
  body.appendChild(h("div", { class: "g-actions" },
    h("button", { type: "button", id: "convert", disabled: !client.allows("convert"), onclick: () => doAction("convert") }, "Convert"),
    client.allows("retry") ? h("button", { type: "button", id: "btn-retry", onclick: () => doAction("retry") }, "Retry the conversion") : null,
    step === 4 && client.allows("cancel")
      ? h("button", { type: "button", id: "btn-cancel", class: "secondary", onclick: () => doAction("cancel") }, "Cancel conversion") : null));
  body.appendChild(h("div", { class: "g-progress", id: "convert-progress-box" },
    h("progress", { id: "convert-progress", max: "100", "aria-label": "Conversion progress" }),
    h("p", { id: "convert-progress-text", class: "g-progress-text" }),
    h("p", { id: "queue-position", class: "g-help", "aria-live": "polite" })));
  updateProgress();
}

function updateProgress() {
  const step = stepOf(stateName());
  const box = $("convert-progress-box");
  if (box) {
    box.hidden = !(progress.has("convert") || step === 4);
    progress.draw({ bar: $("convert-progress"), text: $("convert-progress-text"), queue: $("queue-position") },
      { kind: "convert", idle: step === 4 ? `${stateLabel(stateName())}…` : "" });
  }
  const bar = $("preview-progress");
  if (bar) progress.draw({ bar }, { kind: "preview" });
}

// 6. Results -------------------------------------------------------------------------------------------

function renderResults(step) {
  const body = clear($("body-results"));
  const state = stateName();
  const s = view();
  if (isTerminal(state) && !hasResult(state)) {
    body.appendChild(h("p", {}, `${stateLabel(state)}: start a new session to convert again.`));
  } else if (step < 5) {
    locked(body, "Available once the full file has been written and inspected.");
    return;
  }
  const verdict = s && (s.verdict || (s.output && s.output.verdict));
  if (verdict) body.appendChild(h("p", { class: "g-verdict-line" }, "Verdict: ", verdictBadge(verdict)));
  const report = client.report;
  if (report && report.verdict) {
    body.appendChild(h("p", {}, report.verdict.dandi_ready ? "Ready for DANDI." : "Not ready for DANDI yet."));
    const reasons = reasonsList(report);
    if (reasons) body.appendChild(reasons);
  }
  const counts = s && s.output && s.output.findings;
  if (counts && Object.keys(counts).length) body.appendChild(countsList(counts));

  if (!isTerminal(state)) {
    body.appendChild(h("div", { class: "g-actions g-decide" },
      h("button", { type: "button", id: "btn-accept", disabled: !client.allows("accept"), onclick: () => doAction("accept") }, "Accept"),
      h("button", { type: "button", id: "btn-improve", class: "secondary", disabled: !client.allows("improve"), onclick: () => doAction("improve") }, "Improve"),
      h("button", { type: "button", id: "btn-abandon", class: "danger", disabled: !client.allows("abandon"), onclick: () => doAction("abandon") }, "Abandon")));
    body.appendChild(h("p", { class: "g-help" },
      "Accept keeps the file; Improve goes back to the metadata to fix what the inspector found; Abandon stops here."));
  } else if (hasResult(state)) {
    body.appendChild(h("p", { class: "g-help" }, `${stateLabel(state)}: the file below is final.`));
  }

  const downloads = renderDownloads(s && s.downloads, { idPrefix: "g", headingLevel: "h4" });
  if (downloads) {
    const several = downloads.querySelectorAll(".su-file").length;
    body.appendChild(h("div", {}, h("h3", {}, "Downloads"),
      several ? h("p", { class: "g-help" }, `${several} files: one per acquisition, each inspected on its own.`) : null,
      downloads));
  }
  if (report && Array.isArray(report.findings)) {
    body.appendChild(h("div", { class: "g-findings" }, h("h3", {}, "Findings"),
      firstFileNote(s.downloads), renderFindings(report, { idPrefix: "g", headingLevel: "h4" })));
  }
  const plots = plotsOf(report);
  if (plots) body.appendChild(plots);
}

// ---- messages ----------------------------------------------------------------------------------------

function renderReplies() {
  const ul = clear($("replies"));
  const replies = app.replies || [];
  $("agent-log").hidden = !replies.length;
  for (const text of replies) ul.appendChild(h("li", {}, text));
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
