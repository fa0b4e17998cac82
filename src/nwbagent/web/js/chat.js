// The chat UI (/): one conversation with the agents, plus what they found, asked and wrote.
// Everything from users, files or the LLM is rendered as text (h() / textContent), never as HTML. The words
// for states, importance levels, sources and downloads come from the vocabulary (vocabulary.js); what may be
// done now comes from the session view (session.js).

import * as api from "./api.js";
import { h, clear, announce, humanBytes } from "./dom.js";
import { renderDownloads } from "./downloads.js";
import { countsList, firstFileNote, reasonsList, renderFindings as findingsList, verdictBadge } from "./findings.js";
import { fieldTitle } from "./metadata.js";
import { MetadataTable } from "./metadata-table.js";
import { ProgressView } from "./progress.js";
import { SessionClient, streamsFrozen } from "./session.js";
import {
  PartsPicker, ValueQuestions, metadataQuestions, renderChoices, renderLeftOut, renderNextStep, renderUnits,
} from "./streams.js";
import { totalBytes, uploadItems, wireDropzone } from "./upload.js";
import { loadVocabulary, stateLabel } from "./vocabulary.js";

const $ = (id) => document.getElementById(id);

const ui = { schema: null, chatCount: 0, nextStepShown: false };

const client = new SessionClient({
  withChat: true,
  onOpen: () => resetPage({ keepPending: true }),
  onChange: () => renderAll(),
  onEvent: (type, payload) => onEvent(type, payload),
  onReplies: (replies) => announce(replies[0]),
  onError: (err) => showError(err),
  onGone: (message) => { resetPage(); renderAll(); showError({ message }); },
});
const progress = new ProgressView();
const table = new MetadataTable({ save: saveFields, say: (message) => showError({ message }) });
// The values a reader needs (PATCH /values) and the parts to convert (POST /parts): shared with the guided UI.
const valueBox = new ValueQuestions({ idPrefix: "chat", save: (q, value) => { showError(null); return client.saveValue(q, value); } });
const partsBox = new PartsPicker({ idPrefix: "chat", apply: (parts) => { showError(null); return client.selectParts(parts); } });

// ---- errors, state and live events ---------------------------------------------------------------

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  const message = err.message || String(err);
  box.textContent = err.hint ? `${message} ${err.hint}` : message;
  box.hidden = false;
}

/** A request from this page: errors shown, the page reloaded after it. */
function guarded(fn) {
  showError(null);
  return client.run(fn);
}

function setState(state) {
  $("state").textContent = state ? stateLabel(state) : "no session yet";
  $("state").dataset.state = state || "";
}

function onEvent(type, payload) {
  if (progress.onEvent(type, payload)) drawProgress();
  else if (type === "state") announce(`State: ${stateLabel(payload.state)}`);
  else if (type === "error") showError({ message: payload.message || "Something went wrong.", hint: payload.hint });
  else if (type === "connection" && payload.status !== "gone") {
    $("connection").textContent = payload.status === "closed" ? "Live updates interrupted; reconnecting…" : "";
  }
}

function drawProgress() {
  $("progress-box").hidden = !progress.has();
  progress.draw({ bar: $("progress"), text: $("progress-text") });
}

// ---- session lifecycle -------------------------------------------------------------------------------

function adoptSession(id) {
  client.open(id);
  return client.refresh();
}

/** Forget everything this page showed of the last session (`keepPending`: a message being sent stays). */
function resetPage({ keepPending = false } = {}) {
  ui.chatCount = 0;
  ui.nextStepShown = false;
  table.reset();
  valueBox.reset();
  partsBox.reset();
  progress.reset();
  for (const item of Array.from($("chat").children)) if (!(keepPending && item.classList.contains("pending"))) item.remove();
  $("connection").textContent = "";
  $("progress-box").hidden = true;
}

function startOver() {
  client.forget();
  resetPage();
  renderAll();
  showError(null);
  $("upload-status").textContent = "";
  $("server-path").value = "";
  announce("Started over: give a new recording.");
  $("dropzone").focus();
}

// ---- rendering -----------------------------------------------------------------------------------------

function renderAll() {
  const s = client.view;
  setState(s ? s.state : null);
  $("guided-link").setAttribute("href", client.sid ? `/guided#s=${encodeURIComponent(client.sid)}` : "/guided");
  renderChat();
  renderDetection();
  renderStreams();
  renderMetadata();
  for (const btn of document.querySelectorAll("#actions button[data-action]")) btn.disabled = !client.allows(btn.dataset.action);
  renderResults();
}

function renderChat() {
  const list = $("chat");
  const turns = (client.view && client.view.chat) || [];
  if (!client.view) return;
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
  const s = client.view;
  const waiting = client.pending > 0;
  renderChoices($("choices"), s ? s.choices : [], {
    idPrefix: "chat",
    disabled: waiting || !client.allows("choose"),
    hint: "Or type e.g. “use 1” or “none of these” in the message box.",
    choose: (index) => guarded(() => api.action(client.sid, "choose", String(index))),
    none: () => guarded(async () => {
      await api.action(client.sid, "choose", "none");
      announce("None of these: give other files, or start over.");
    }),
  });
  valueBox.render($("detection-values"), s, { disabled: waiting || streamsFrozen(s) });
  partsBox.render($("detection-parts"), s, { disabled: waiting });
  const shown = renderNextStep($("next-step"), s, {
    idPrefix: "chat",
    busy: waiting,
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

function saveFields(fields) {
  return guarded(() => api.patchMetadata(client.sid, fields));
}

function renderDetection() {
  const box = clear($("detection"));
  const s = client.view;
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

function renderMetadata() {
  const box = $("metadata");
  const s = client.view;
  if (!s || !client.metadata || !s.detection || !(s.units || []).length) {
    clear(box).appendChild(h("p", { class: "muted" }, "No metadata yet: give a recording first."));
    return;
  }
  table.render(box, { schema: ui.schema, metadata: client.metadata, units: s.units || [], disabled: client.pending > 0 || !client.mayEdit });
}

/** Verdict, findings (with one-click fixes) and downloads of the preview or the converted file. */
function renderResults() {
  const box = clear($("findings"));
  const s = client.view;
  const summary = s && (s.output || s.preview);
  const downloads = renderDownloads(s ? s.downloads : [], { idPrefix: "chat" });
  clear($("downloads")).appendChild(downloads || h("ul", { class: "downloads" }, h("li", { class: "muted" }, "Nothing to download yet.")));
  if (!summary || !summary.verdict) { box.appendChild(h("p", { class: "muted" }, "No inspection yet.")); return; }
  box.appendChild(h("p", {}, `${s.output ? "The NWB file" : "The preview"}: `, verdictBadge(summary.verdict)));
  const report = s.output ? client.report : null;
  for (const node of [s.output ? firstFileNote(s.downloads) : null, reasonsList(report)]) if (node) box.appendChild(node);
  // Value questions are answered in the detection panel, not through PATCH /metadata.
  const questions = client.mayEdit ? metadataQuestions((client.metadata && client.metadata.questions) || []) : [];
  const used = new Set();
  const spec = (field) => (ui.schema && ui.schema.properties && ui.schema.properties[field]) || {};
  const fixFor = (f, n) => {
    const q = questions.find((qq) => !used.has(qq.field) && f.message && qq.text.includes(f.message));
    if (!q) return null;
    used.add(q.field);
    return table.fixForm(q, n, spec(q.field), fieldTitle(ui.schema, q.field));
  };
  if (report && Array.isArray(report.findings)) box.appendChild(findingsList(report, { idPrefix: "chat", fixFor }));
  else box.appendChild(countsList(summary.findings || {})); // a preview, or the report is not ready
  const rest = questions.filter((q) => !used.has(q.field));
  if (rest.length) {
    const list = h("ul", { class: "findings-list" });
    rest.forEach((q, i) => list.appendChild(h("li", {}, h("p", {}, q.text), table.fixForm(q, `q${i}`, spec(q.field), fieldTitle(ui.schema, q.field)))));
    box.appendChild(h("section", { class: "finding-group", "aria-label": "Quick fixes" }, h("h3", {}, "Quick fixes"), list));
  }
}

// ---- starting: files, folders, sample, server path ----------------------------------------------------

async function uploadFiles(files) {
  const items = Array.from(files);
  if (!items.length) return;
  const status = $("upload-status");
  let bar = $("upload-progress");
  if (!bar) {
    bar = h("progress", { id: "upload-progress", max: "100", value: "0", "aria-label": "Upload progress" });
    status.after(bar);
  }
  bar.hidden = false;
  status.textContent = `Uploading ${items.length} file${items.length === 1 ? "" : "s"} (${humanBytes(totalBytes(items))})…`;
  await guarded(async () => {
    const out = await uploadItems(await client.ensure(), items, {
      onProgress: (pct, loaded, all) => {
        bar.value = pct;
        status.textContent = `Uploading: ${pct}% (${humanBytes(loaded)} of ${humanBytes(all)})`;
      },
    });
    status.textContent = out.text; // file names are user data: textContent keeps them text
    return out;
  });
  bar.hidden = true;
}

function wireStart() {
  wireDropzone($("dropzone"), uploadFiles, showError);
  for (const id of ["file-input", "folder-input"]) {
    const input = $(id);
    input.addEventListener("change", async () => {
      const files = Array.from(input.files || []);
      input.value = "";
      await uploadFiles(files);
    });
  }
  $("use-sample").addEventListener("click", () => guarded(async () => {
    const sid = await client.ensure();
    $("upload-status").textContent = "Using the bundled sample recording…";
    const out = await api.useSample(sid, "neuropixels");
    $("upload-status").textContent = "Using the bundled sample recording.";
    return out;
  }));
  $("server-path-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const path = $("server-path").value.trim();
    if (!path) { showError({ message: "Type a folder path on the server first." }); $("server-path").focus(); return; }
    guarded(async () => api.useServerPath(await client.ensure(), path));
  });
}

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
    guarded(async () => api.say(await client.ensure(), text));
  });
}

// ---- start-up ------------------------------------------------------------------------------------------

async function main() {
  wireStart();
  wireMessages();
  for (const btn of document.querySelectorAll("#actions button[data-action]")) {
    btn.addEventListener("click", () => guarded(async () => {
      const reply = await api.action(client.sid, btn.dataset.action);
      if (reply && reply.status === "running") announce("The agents are working on it.");
      return reply;
    }));
  }
  $("new-session").addEventListener("click", startOver);
  window.addEventListener("hashchange", () => {
    const id = api.currentSession();
    if (id && id !== client.sid) adoptSession(id);
  });
  const [schema] = await Promise.all([
    api.metadataSchema().catch(() => null),
    loadVocabulary().catch((err) => showError(err)),
  ]);
  ui.schema = schema;
  const id = api.currentSession();
  if (id) await adoptSession(id);
  renderAll();
}

main();
