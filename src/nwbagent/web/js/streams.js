// What both UIs show about the detected streams ("units"): one row per stream, what was left out and why,
// the values a reader needs that the files lack, a choice between readings, the parts of a multi-acquisition
// folder, and the next step when nothing can be converted.
// Everything is built with dom.js `h` (text only, never HTML). Reader class names appear only inside
// "Technical details" elements.
//
// Each render function draws into a container the page keeps (a "slot"): it rebuilds only when what it
// shows changed, and keeps the keyboard focus, the caret and open <details> across a rebuild, so a live
// refresh never takes a control away from someone using it.

import { h, clear } from "./dom.js";
import { streamsFrozen } from "./session.js";
import { isTerminal } from "./vocabulary.js";

const CATEGORY_TEXT = {
  recording: "recording",
  lfp: "LFP",
  sorting: "spike sorting",
  auxiliary: "auxiliary (sync, analog, digital)",
  icephys: "intracellular",
};

const openDetails = new Set(); // ids of <details> the user opened: kept open across rebuilds

export const percent = (x) => `${Math.round((Number(x) || 0) * 100)}%`;

/** An id fragment from any text (handles hold '/', '#', spaces). */
function slug(text) {
  return String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "x";
}

function detailsEl(id, summary, ...children) {
  const el = h("details", { id, class: "su-details", open: openDetails.has(id) },
    h("summary", {}, summary), ...children);
  el.addEventListener("toggle", () => { if (el.open) openDetails.add(id); else openDetails.delete(id); });
  return el;
}

/**
 * Rebuild `slot` with `build()` when `sig` differs from the last one drawn there. Keeps the focused
 * control (by id) and its caret, so typing is never interrupted by a refresh. Returns whether it rebuilt.
 */
export function renderSlot(slot, sig, build) {
  if (!slot) return false;
  const key = typeof sig === "string" ? sig : JSON.stringify(sig);
  if (slot.dataset.sig === key) return false;
  const active = document.activeElement;
  const inside = active && active !== document.body && slot.contains(active) ? active : null;
  const focusId = inside && inside.id;
  let caret = null;
  if (inside && typeof inside.selectionStart === "number") {
    try { caret = [inside.selectionStart, inside.selectionEnd]; } catch (_) { caret = null; }
  }
  clear(slot);
  const content = build();
  if (content) slot.appendChild(content);
  slot.dataset.sig = key;
  slot.hidden = !content;
  if (focusId) {
    const again = document.getElementById(focusId);
    if (again && slot.contains(again) && !again.disabled) {
      again.focus({ preventScroll: true });
      if (caret) { try { again.setSelectionRange(caret[0], caret[1]); } catch (_) { /* not a text input */ } }
    } else {
      const heading = slot.querySelector("[tabindex='-1']") || slot.closest("section")?.querySelector("h2");
      if (heading) heading.focus({ preventScroll: true });
    }
  }
  return true;
}

// ---- questions -------------------------------------------------------------------------------------

/** The open value questions (a value one stream's reader needs that the files lack). */
export function valueQuestions(session) {
  return ((session && session.questions) || []).filter((q) => q.kind === "value" && !q.answered);
}

/** A question whose answer is required before converting (the rest are suggestions). */
export const isRequired = (q) => q.importance === "CRITICAL";

/** The open metadata questions (everything but value questions). */
export function metadataQuestions(questions) {
  return (questions || []).filter((q) => q.kind !== "value");
}

function needOf(q, units) {
  const unit = (units || []).find((u) => u.handle === q.unit);
  const need = unit && (unit.needs || []).find((n) => n.name === q.name);
  return { unit, need };
}

/** A short name for any question: the field's title, or "<value label> of <stream>" for a value question. */
export function questionTitle(q, units, fieldTitle = (f) => f) {
  if (q.kind !== "value") return fieldTitle(q.field);
  const { unit, need } = needOf(q, units);
  const what = (need && need.label) || String(q.name || q.field).replace(/_/g, " ");
  return unit ? `${what} of ${unit.format}${unit.stream ? ` (${unit.stream})` : ""}` : what;
}

/** Agent text with the streams' internal labels (reader class names) replaced by their display names. */
function plainText(text, units) {
  let out = String(text || "");
  for (const u of units || []) {
    if (u.label && u.format && out.includes(u.label)) out = out.split(u.label).join(u.stream ? `${u.format} (${u.stream})` : u.format);
  }
  return out;
}

// ---- the units -------------------------------------------------------------------------------------

function segmentsText(u) {
  const all = u.segments || [];
  const kept = u.kept_segments || all;
  if (!all.length) return null;
  if (kept.length === all.length) return all.length === 1 ? all[0] : `all ${all.length}: ${all.join(", ")}`;
  return `${kept.length ? kept.join(", ") : "none"} (of ${all.length}: ${all.join(", ")})`;
}

function fact(name, value, cls) {
  if (value === null || value === undefined || value === "") return null;
  return h("div", { class: ["su-fact", cls] }, h("dt", {}, name), h("dd", {}, value));
}

/** One row per unit: format, stream, acquisition, segments kept of all, confidence, used or not, needs. */
export function renderUnits(slot, units, { idPrefix = "su" } = {}) {
  const list = units || [];
  renderSlot(slot, list, () => {
    if (!list.length) return null;
    return h("ul", { class: "su-units", "aria-label": "Detected streams" }, list.map((u, i) => {
      const id = `${idPrefix}-unit-${i + 1}`;
      const needs = u.needs || [];
      const uncertain = (u.confidence || 0) < 0.5;
      return h("li", {
        class: ["su-unit", u.selected ? "is-selected" : "is-skipped", needs.length && "has-needs"],
        id,
        "data-handle": u.handle,
        title: u.description || null,
      },
      h("div", { class: "su-unit-head" },
        h("strong", { class: "su-format" }, u.format || "Unknown format"),
        u.stream ? h("span", { class: "su-stream" }, u.stream) : null),
      h("div", { class: "su-badges" },
        h("span", { class: ["badge", u.selected ? "su-used" : "su-unused"] }, u.selected ? "will be converted" : "not converted"),
        needs.map((n) => h("span", { class: "badge su-needs" }, `needs: ${n.label}`))),
      h("dl", { class: "su-facts" },
        fact("Acquisition", u.acquisition),
        fact("Segments", segmentsText(u)),
        fact("Kind", CATEGORY_TEXT[u.category] || u.category),
        fact("Confidence", `${percent(u.confidence)}${uncertain ? " (uncertain)" : ""}`, uncertain && "su-uncertain")),
      detailsEl(`${id}-tech`, "Technical details",
        h("p", { class: "small" }, "Reader: ", h("code", {}, u.interface || "?")),
        u.handle ? h("p", { class: "small" }, "Handle: ", h("code", {}, u.handle)) : null,
        (u.evidence || []).length ? h("ul", { class: "small su-evidence" }, u.evidence.map((e) => h("li", {}, e))) : null));
    }));
  });
}

// ---- left out --------------------------------------------------------------------------------------

/** Each stream left out: label, problem and fix in plain view; the reader's own message folded away. */
export function renderLeftOut(slot, items, { idPrefix = "su", headingLevel = "h3" } = {}) {
  const list = items || [];
  renderSlot(slot, list, () => {
    if (!list.length) return null;
    const headingId = `${idPrefix}-left-out-heading`;
    return h("section", { class: "su-left-out", "aria-labelledby": headingId },
      h(headingLevel, { id: headingId }, `Left out (${list.length})`),
      h("p", { class: "small muted" }, "Recognised but not converted; everything else converts without it."),
      h("ul", { class: "su-left-list" }, list.map((x, i) => {
        const id = `${idPrefix}-left-${i + 1}`;
        return h("li", { class: "su-left", id, "data-code": x.code || null },
          h("p", { class: "su-left-label" }, h("strong", {}, x.label),
            x.path ? h("span", { class: "su-path" }, x.path) : null),
          h("p", { class: "su-problem" }, h("strong", {}, "Problem: "), x.problem),
          h("p", { class: "su-fix" }, h("strong", {}, "Fix: "), x.fix),
          x.details || x.code ? detailsEl(`${id}-tech`, "Technical details",
            x.code ? h("p", { class: "small" }, "Code: ", h("code", {}, x.code)) : null,
            x.details ? h("pre", { class: "su-raw" }, x.details) : null) : null);
      })));
  });
}

// ---- value questions -------------------------------------------------------------------------------

/**
 * The values the readers need: one labeled field per open value question, saved with its button or Enter.
 * `save(q, value)` sends it (PATCH /values) and resolves with the agents' Turn (or a 202 body). The reply is
 * shown next to the field: a refusal stays with the field, a success in the status line under the list.
 */
export class ValueQuestions {
  constructor({ idPrefix = "su", save }) {
    this.idPrefix = idPrefix;
    this.save = save;
    this.reset();
  }

  reset() {
    this.drafts = {}; // field -> text being typed
    this.errors = {}; // field -> why the last value was refused
    this.note = ""; // the last success
    this.pending = "";
    this.args = null;
  }

  render(slot, session, { disabled = false } = {}) {
    this.slot = slot;
    const questions = valueQuestions(session);
    const units = (session && session.units) || [];
    this.args = { session, disabled };
    const sig = { q: questions, d: disabled, e: this.errors, n: this.note, p: this.pending, u: units.map((u) => u.label) };
    renderSlot(slot, sig, () => (questions.length || this.note ? this.build(questions, units, disabled) : null));
  }

  rerender() { if (this.slot && this.args) this.render(this.slot, this.args.session, { disabled: this.args.disabled }); }

  build(questions, units, disabled) {
    const p = this.idPrefix;
    const box = h("section", { class: "su-values", "aria-labelledby": `${p}-values-heading` },
      h("h3", { id: `${p}-values-heading`, tabindex: "-1" }, "Values the files do not give"));
    if (questions.length) {
      box.appendChild(h("p", { class: "small muted" },
        "A reader needs these to open the recording. Type the value and press Enter or Save."));
    }
    questions.forEach((q, i) => box.appendChild(this.field(q, i, units, disabled)));
    if (this.note) box.appendChild(h("p", { class: "su-value-note ok small", id: `${p}-values-status`, role: "status" }, this.note));
    return box;
  }

  field(q, i, units, disabled) {
    const p = this.idPrefix;
    const id = `${p}-value-${i + 1}-${slug(q.name || "value")}`;
    const { need } = needOf(q, units);
    const critical = isRequired(q);
    const text = String(q.text || questionTitle(q, units));
    const cut = text.indexOf("? ");
    const label = cut > 0 ? text.slice(0, cut + 1) : text;
    const help = cut > 0 ? text.slice(cut + 2) : "";
    const error = this.errors[q.field];
    const describedBy = [help && `${id}-help`, critical && `${id}-req`, error && `${id}-error`].filter(Boolean).join(" ");
    const input = h("input", {
      type: "text",
      id,
      name: q.name || "value",
      class: "su-value-input",
      autocomplete: "off",
      spellcheck: "false",
      value: this.drafts[q.field] ?? "",
      placeholder: q.example ? `e.g. ${q.example}` : null,
      "aria-required": critical ? "true" : null,
      "aria-invalid": error ? "true" : null,
      "aria-describedby": describedBy || null,
      disabled: disabled || this.pending === q.field,
      oninput: (e) => { this.drafts[q.field] = e.target.value; },
    });
    const what = (need && need.label) || String(q.name || "value").replace(/_/g, " ");
    return h("form", {
      class: ["su-value", critical && "is-required", error && "is-invalid"],
      "data-field": q.field,
      novalidate: true,
      onsubmit: (e) => { e.preventDefault(); this.submit(q, input, units); },
    },
    h("div", { class: "su-value-label" },
      h("label", { for: id }, label),
      critical ? h("span", { class: "badge required", id: `${id}-req` }, "required") : h("span", { class: "badge" }, "suggested")),
    help ? h("p", { class: "small muted", id: `${id}-help` }, help) : null,
    h("div", { class: "input-row" }, input,
      h("button", { type: "submit", class: "small", disabled: disabled || this.pending === q.field, "aria-label": `Save ${what}` },
        this.pending === q.field ? "Saving…" : "Save")),
    error ? h("p", { class: "small error su-value-error", id: `${id}-error`, role: "alert" }, error) : null);
  }

  async submit(q, input, units) {
    const value = input.value.trim();
    this.drafts[q.field] = input.value;
    if (!value) {
      this.errors = { ...this.errors, [q.field]: `Type a value first${q.example ? `, e.g. ${q.example}` : ""}.` };
      this.rerender();
      return;
    }
    this.pending = q.field;
    this.note = "";
    this.rerender();
    let errors = { ...this.errors };
    delete errors[q.field];
    try {
      const turn = await this.save(q, value);
      const replies = (turn && turn.replies) || [];
      const open = turn && Array.isArray(turn.questions)
        && turn.questions.some((x) => x.field === q.field && !x.answered);
      if (turn && turn.status === "running") {
        this.note = "Sent: the agents are still working on it.";
        delete this.drafts[q.field];
      } else if (open) {
        errors[q.field] = plainText(replies[0] || "That value was not accepted.", units);
      } else {
        this.note = plainText(replies.find((r) => /^saved/i.test(r)) || replies[0] || "Saved.", units);
        delete this.drafts[q.field];
      }
    } catch (err) {
      errors[q.field] = `${(err && err.message) || "Not saved."}${err && err.hint ? ` ${err.hint}` : ""}`;
    }
    this.errors = errors;
    this.pending = "";
    this.rerender();
    const again = document.getElementById(input.id);
    if (again && errors[q.field]) again.focus();
    else if (!again && this.slot) { const heading = this.slot.querySelector("h3"); if (heading) heading.focus(); }
  }
}

// ---- parts ------------------------------------------------------------------------------------------

/**
 * Checkboxes for the acquisitions and segments of a multi-part folder, plus "All parts", applied with one
 * button (POST /parts). Shown only when `parts.available` has more than one entry; reflects
 * `parts.selected` (empty = all) unless the user is changing the boxes.
 */
export class PartsPicker {
  constructor({ idPrefix = "su", apply }) {
    this.idPrefix = idPrefix;
    this.apply = apply;
    this.reset();
  }

  reset() { this.draft = null; this.args = null; }

  render(slot, session, { disabled = false } = {}) {
    this.slot = slot;
    this.args = { session, disabled };
    const parts = (session && session.parts) || { available: [], selected: [] };
    const available = parts.available || [];
    const selected = parts.selected || [];
    const units = (session && session.units) || [];
    const why = session && isTerminal(session.state) ? "This session is closed: start a new one to convert other parts."
      : session && session.active ? "Not while a file is being written."
        : streamsFrozen(session) && session ? "Not while the agents are working." : "";
    const off = disabled || Boolean(why);
    renderSlot(slot, { a: available, s: selected, d: off, w: why, r: this.draft }, () =>
      (available.length > 1 ? this.build(available, selected, units, off, why) : null));
  }

  rerender() { if (this.slot && this.args) this.render(this.slot, this.args.session, { disabled: this.args.disabled }); }

  build(available, selected, units, disabled, why) {
    const p = this.idPrefix;
    const acquisitions = new Set(units.map((u) => u.acquisition).filter(Boolean));
    const chosen = new Set(this.draft ?? selected);
    const groups = [
      ["Acquisitions", "each becomes its own NWB file", available.filter((x) => acquisitions.has(x))],
      ["Segments", "kept inside each file, one series each", available.filter((x) => !acquisitions.has(x))],
    ].filter(([, , items]) => items.length);
    const boxes = [];
    const all = h("input", { type: "checkbox", id: `${p}-part-all`, checked: chosen.size === 0, disabled,
      onchange: () => { this.draft = []; this.rerender(); } });
    const form = h("form", {
      class: "su-parts",
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        const picked = boxes.filter((b) => b.checked).map((b) => b.value);
        this.draft = picked;
        try { await this.apply(picked); } finally { this.draft = null; this.rerender(); }
      },
    },
    h("fieldset", {},
      h("legend", {}, "Parts to convert"),
      h("p", { class: "small muted", id: `${p}-parts-help` },
        acquisitions.size > 1 ? "This folder holds several acquisitions: each becomes its own NWB file. Pick the ones to convert."
          : "The recording has several segments: all of them go into one file. Pick the ones to keep."),
      h("div", { class: "su-check su-check-all" }, all, h("label", { for: `${p}-part-all` }, "All parts")),
      groups.map(([title, about, items], g) => h("fieldset", { class: "su-part-group" },
        h("legend", {}, title, h("span", { class: "small muted" }, ` (${about})`)),
        items.map((name, i) => {
          const id = `${p}-part-${g + 1}-${i + 1}`;
          const box = h("input", { type: "checkbox", id, value: name, checked: chosen.has(name), disabled,
            onchange: () => {
              const now = new Set(this.draft ?? selected);
              if (box.checked) now.add(name); else now.delete(name);
              this.draft = available.filter((x) => now.has(x));
              this.rerender();
            } });
          boxes.push(box);
          return h("div", { class: "su-check" }, box, h("label", { for: id }, name));
        }))),
      h("p", { class: "small su-parts-now", id: `${p}-parts-now` },
        selected.length ? `Now converting only: ${selected.join(", ")}.` : "Now converting: all parts."),
      h("div", { class: "button-row" },
        h("button", { type: "submit", id: `${p}-parts-apply`, class: "small", disabled,
          "aria-describedby": `${p}-parts-now` }, "Apply parts"),
        why ? h("span", { class: "small muted", id: `${p}-parts-why` }, why) : null)));
    return form;
  }
}

// ---- format choice ---------------------------------------------------------------------------------

/** The readings offered when detection could not decide, as buttons with their reasons, plus "None of these". */
export function renderChoices(slot, choices, { idPrefix = "su", disabled = false, hint = "", choose, none } = {}) {
  const list = choices || [];
  renderSlot(slot, { c: list, d: disabled, hint }, () => {
    if (!list.length) return null;
    const p = idPrefix;
    // A reason may name readers by class ("choose AbfInterface for ..."): say their display names instead.
    const named = (text) => list.reduce((t, c) => (c.interface && c.format ? t.split(c.interface).join(c.format) : t), String(text || ""));
    return h("section", { class: "su-choices", "aria-labelledby": `${p}-choices-heading` },
      h("h3", { id: `${p}-choices-heading`, tabindex: "-1" }, "Which reader fits your files?"),
      h("p", { class: "small" }, "These files can be read in more than one way. Pick the one that matches how they were recorded.",
        hint ? ` ${hint}` : ""),
      h("ul", { class: "su-choice-list" },
        list.map((c) => h("li", { class: "su-choice" },
          h("button", { type: "button", class: "secondary", id: `${p}-choice-${c.index}`, "data-choice": String(c.index),
            "aria-describedby": `${p}-choice-why-${c.index}`, disabled, onclick: () => choose(c.index) },
          `Use ${c.index}: ${c.format}`),
          h("p", { class: "small", id: `${p}-choice-why-${c.index}` }, `${named(c.reason)} (confidence ${percent(c.confidence)})`),
          detailsEl(`${p}-choice-tech-${c.index}`, "Technical details", h("p", { class: "small" }, "Reader: ", h("code", {}, c.interface))))),
        h("li", { class: "su-choice su-choice-none" },
          h("button", { type: "button", class: "secondary", id: `${p}-choice-none`, "data-choice": "none",
            "aria-describedby": `${p}-choice-why-none`, disabled, onclick: () => none() }, "None of these"),
          h("p", { class: "small", id: `${p}-choice-why-none` },
            "The files came from other software, or companion files are missing: you can give other files next."))));
  });
}

// ---- what next when nothing converts ---------------------------------------------------------------

/** Why a session waits in files_received with nothing to convert, or null when it does not. */
export function nextStepReason(session, { busy = false } = {}) {
  if (!session || session.state !== "files_received" || session.busy || busy) return null;
  const det = session.detection;
  const units = (session.units && session.units.length ? session.units : (det && det.units)) || [];
  if (det && units.length && !units.some((u) => u.selected)) return "None of the readers offered fits these files.";
  if (det && !units.length && (session.left_out || []).length) return "Nothing here can be converted as it is: see what was left out, and the fix for each.";
  if (det && !units.length) return "No recording that can be converted was found in these files.";
  return "The files could not be read: see the agents' message.";
}

/** The next step after "none of these", an empty folder or a failed detection: other files, or start over. */
export function renderNextStep(slot, session, { idPrefix = "su", busy = false, where, startOver, lastReply } = {}) {
  const reason = nextStepReason(session, { busy });
  renderSlot(slot, { r: reason, w: where, l: reason ? lastReply || "" : "" }, () => {
    if (!reason) return null;
    const p = idPrefix;
    return h("section", { class: "su-next", "aria-labelledby": `${p}-next-heading` },
      h("h3", { id: `${p}-next-heading`, tabindex: "-1" }, "What now?"),
      h("p", {}, reason),
      lastReply ? h("p", { class: "small su-last-reply" }, h("strong", {}, "The agents said: "), lastReply) : null,
      h("ul", { class: "su-next-list" },
        h("li", {}, "Give other files or another folder: ", where || "use the options below", "."),
        h("li", {}, "Or start over with a new, empty session.")),
      h("div", { class: "button-row" },
        h("button", { type: "button", id: `${p}-start-over`, class: "secondary", onclick: () => startOver() }, "Start over")));
  });
  return Boolean(reason);
}
