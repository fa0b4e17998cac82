// The guided metadata form, generated from the metadata JSON schema: one labelled field per property,
// grouped as Session / Subject / Electrodes, each with its help, where its value came from and the server's
// answer for what is typed ("You typed “man”; saved as “M”." or why not, with an example). Saved with one
// button; what the server accepts is sent as typed, and shown back as the server stored it.

import { h, clear, announce } from "./dom.js";
import { isRequired, metadataQuestions } from "./streams.js";
import { FieldChecks, checkAll, checkMessage, displayValue, exampleText, fieldTitle, sourceOf } from "./metadata.js";

const GROUPS = [["NWBFile", "Session"], ["Subject", "Subject"], ["Ecephys", "Electrodes"]];

export class MetadataForm {
  /** `save(fields)` sends `{name: text}` and resolves with the turn (null when it failed); `titleOf(q)`
   * names a question's field. */
  constructor({ save, titleOf }) {
    this.save = save;
    this.titleOf = titleOf;
    this.checks = new FieldChecks({ onResult: (name, typed, result) => this.answered(name, typed, result), species: () => this.species() });
    this.fields = null;
    this.notes = {};
  }

  get built() { return Boolean(this.fields); }

  /** Forget the form (a new session, or the step is locked again). */
  reset() {
    this.fields = null;
    this.notes = {};
    this.checks.reset();
  }

  species() {
    const f = this.fields && this.fields.species;
    return (f && f.input.value.trim()) || null;
  }

  build(body, schema) {
    clear(body);
    this.schema = schema;
    this.fields = {};
    const groups = Object.fromEntries(GROUPS.map(([key, legend]) => [key, h("fieldset", { class: "g-group" }, h("legend", {}, legend))]));
    for (const [name, prop] of Object.entries(schema.properties || {})) {
      const group = String(prop["x-nwb-location"] || "NWBFile").split(".")[0];
      const f = this.field(name, prop);
      this.fields[name] = f;
      (groups[group] || groups.NWBFile).appendChild(f.wrap);
    }
    const grid = h("div", { class: "g-form-grid" }, Object.values(groups).filter((g) => g.children.length > 1));
    this.summary = h("div", { id: "metadata-summary", class: "g-summary", "aria-live": "polite" });
    this.saveBtn = h("button", { type: "submit", id: "save-metadata" }, "Save metadata");
    this.saved = h("p", { id: "metadata-saved", class: "g-help", "aria-live": "polite" });
    const intro = h("p", { class: "g-help" },
      "Values read from the files are filled in already. Fields marked “required” are needed by DANDI ",
      "(age may be replaced by the date of birth). Each value is checked as you type and saved with “Save metadata”.");
    // Values a stream's reader needs (not metadata fields): saved one by one, before the preview can run.
    body.appendChild(h("div", { id: "metadata-values", class: "g-slot", hidden: true }));
    body.appendChild(h("form", { id: "metadata-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      intro, this.summary, grid, h("div", { class: "g-actions g-sticky-actions" }, this.saveBtn, this.saved)));
  }

  field(name, prop) {
    const id = `field-${name}`;
    const required = Boolean(prop["x-dandi-required"]);
    const example = exampleText(prop);
    const attrs = {
      id, name, class: "g-input", autocomplete: "off", placeholder: example ? `e.g. ${example}` : null,
      "aria-describedby": [`help-${name}`, required && `req-${name}`, `source-${name}`, `note-${name}`, `error-${name}`].filter(Boolean).join(" "),
      "aria-required": required ? "true" : null,
      oninput: () => { this.checks.later(name, this.fields[name].input.value); this.validate(name); },
      onblur: () => { const f = this.fields[name]; if (f.input.value !== f.original) this.checks.now(name, f.input.value); },
    };
    let input;
    let list = null;
    if (/description$/.test(name)) {
      input = h("textarea", { ...attrs, rows: "2" });
    } else {
      if (Array.isArray(prop.enum)) {
        list = h("datalist", { id: `list-${name}` }, prop.enum.map((v) => h("option", { value: v })));
        attrs.list = `list-${name}`;
      }
      input = h("input", { ...attrs, type: "text" });
    }
    const help = `${prop.description || ""}${prop.type === "array" ? " Several: separate them with semicolons." : ""}`;
    const source = h("span", { id: `source-${name}`, class: "g-source" });
    const note = h("p", { id: `note-${name}`, class: "g-note", "aria-live": "polite" });
    const error = h("p", { id: `error-${name}`, class: "g-error", "aria-live": "polite" });
    const wrap = h("div", { class: ["g-field", `g-field-${name}`] },
      h("div", { class: "g-label-row" },
        h("label", { for: id }, prop.title || name),
        required ? h("span", { class: "g-required", id: `req-${name}` }, "required") : null,
        source),
      input, list,
      h("p", { class: "g-help", id: `help-${name}` }, help),
      note, error);
    return { name, prop, input, error, note, source, wrap, original: "", check: null };
  }

  answered(name, typed, result) {
    const f = this.fields && this.fields[name];
    if (!f || f.input.value.trim() !== typed) return;
    f.check = { ...checkMessage(result, typed), for: typed };
    this.validate(name);
  }

  /** Put the server's values in the form; fields being edited keep their text unless `force`. */
  fill({ metadata, questions, disabled }, force = false) {
    if (!this.fields || !metadata) return;
    this.metadata = metadata;
    this.questions = questions || [];
    const values = metadata.values || {};
    for (const f of Object.values(this.fields)) {
      const v = values[f.name];
      const text = displayValue(v ? v.value : null);
      if (f.input.value === f.original || force) {
        f.input.value = text;
        f.original = text;
        f.check = null;
      }
      const source = sourceOf(v);
      f.source.textContent = source ? source.label : "";
      if (source) {
        f.source.setAttribute("title", source.evidence);
        f.source.setAttribute("data-source", source.name);
      } else {
        f.source.removeAttribute("title");
        f.source.removeAttribute("data-source");
      }
      this.validate(f.name);
    }
    this.saveBtn.disabled = disabled;
    this.renderSummary();
  }

  /** One field's messages: the server's check of the text typed, else what it says about the saved value. */
  validate(name) {
    const f = this.fields && this.fields[name];
    if (!f) return;
    const dirty = f.input.value !== f.original;
    let note = "";
    let problem = { kind: "", text: "" };
    if (dirty) {
      const typed = f.input.value.trim();
      const message = f.check && f.check.for === typed ? f.check : null;
      if (message && message.kind === "error") problem = { kind: "error", text: message.text };
      else if (message) note = message.text;
    } else {
      const saved = this.notes[name];
      if (saved && saved.saved === f.original && f.original) note = `You typed “${saved.typed}”; saved as “${saved.saved}”.`;
      const serverError = this.metadata && this.metadata.errors && this.metadata.errors[name];
      const q = metadataQuestions(this.questions).find((x) => x.field === name && !x.answered);
      if (serverError) problem = { kind: "error", text: serverError };
      else if (q) problem = { kind: isRequired(q) ? "error" : "suggestion", text: q.text };
    }
    f.note.textContent = note;
    f.error.textContent = problem.text ? `${problem.kind === "error" ? "Error: " : "Suggestion: "}${problem.text}` : "";
    f.error.className = problem.kind === "error" ? "g-error" : "g-suggestion";
    if (problem.kind === "error") f.input.setAttribute("aria-invalid", "true");
    else f.input.removeAttribute("aria-invalid");
    f.wrap.classList.toggle("is-invalid", problem.kind === "error");
    f.wrap.classList.toggle("is-dirty", dirty);
  }

  renderSummary() {
    const box = clear(this.summary);
    const open = this.questions.filter((q) => !q.answered);
    const critical = open.filter(isRequired);
    const optional = open.length - critical.length;
    if (critical.length) {
      box.appendChild(h("p", { class: "g-warning" },
        `${critical.length} required answer${critical.length > 1 ? "s are" : " is"} missing before the preview can run: `,
        critical.map(this.titleOf).join(", "), "."));
    } else if (this.metadata) {
      box.appendChild(h("p", { class: "g-ok" }, "All required metadata is there.",
        optional ? ` ${optional} optional improvement${optional > 1 ? "s" : ""} suggested below.` : ""));
    }
  }

  async submit() {
    if (!this.fields) return;
    const typed = {};
    for (const f of Object.values(this.fields)) {
      const text = f.input.value.trim();
      if (f.input.value !== f.original && text) typed[f.name] = text; // a cleared field sends nothing
    }
    const names = Object.keys(typed);
    const title = (n) => fieldTitle(this.schema, n);
    if (!names.length) { this.saved.textContent = "Nothing changed."; return; }
    this.saved.textContent = "Checking…";
    const { refused, results } = await checkAll(this.checks, typed);
    if (refused.length) {
      this.saved.textContent = `Check: ${refused.map(title).join(", ")}.`;
      this.fields[refused[0]].input.focus();
      return;
    }
    this.saved.textContent = "Saving…";
    const out = await this.save(typed);
    if (!out) { this.saved.textContent = "Not saved."; return; }
    for (const n of names) {
      const r = results[n];
      if (r && r.ok && r.changed) this.notes[n] = { typed: typed[n], saved: displayValue(r.value) };
      else delete this.notes[n];
      this.checks.drop(n);
      this.fields[n].original = "\u0000"; // take the server's (normalized) value
    }
    this.fill({ metadata: this.metadata, questions: this.questions, disabled: this.saveBtn.disabled }, true);
    this.saved.textContent = `Saved ${names.map(title).join(", ")}.`;
    announce(`Metadata saved: ${names.map(title).join(", ")}.`);
  }
}
