// The chat's metadata table: one row per field with its value (editable inline, saved with its button or
// Enter), whether it is required, where it came from and how sure that is; plus the one-click fix forms of
// the findings. Values are checked by the server as they are typed (metadata.js), and what the server
// accepts is saved as it was typed: the server normalizes it once more on saving.

import { h, clear, announce } from "./dom.js";
import { isRequired, metadataQuestions, questionTitle } from "./streams.js";
import { FieldChecks, checkAll, checkMessage, displayValue, exampleText, schemaFields, showCheck, sourceOf } from "./metadata.js";

export class MetadataTable {
  /** `save(fields)` sends `{name: text}` (PATCH /metadata) and resolves when done; `say(message)` shows a
   * problem in the page's error line. */
  constructor({ save, say }) {
    this.save = save;
    this.say = say;
    this.checks = new FieldChecks({ onResult: (name, typed, result) => this.answered(name, typed, result), species: () => this.species() });
    this.reset();
  }

  reset() {
    this.dirty = new Set(); // fields being edited: a refresh keeps their text
    this.typed = {};
    this.messages = {}; // field -> what the server said about the text typed there
    this.notes = {}; // field -> {typed, saved}: a value saved in another form than typed
    this.metadata = null;
    this.checks.reset();
  }

  species() {
    const typed = this.dirty.has("species") ? this.typed.species : null;
    const fv = this.metadata && this.metadata.values && this.metadata.values.species;
    return typed || (fv && fv.value) || null;
  }

  answered(name, typed, result) {
    if (!this.dirty.has(name) || String(this.typed[name] || "").trim() !== typed) return;
    this.messages[name] = checkMessage(result, typed);
    const el = document.getElementById(`md-check-${name}`);
    if (el) showCheck(el, document.getElementById(`md-${name}`), this.messages[name]);
  }

  /** What to say under a field: the check of the text being typed, else how its saved value was read. */
  message(name, shown) {
    if (this.dirty.has(name)) return this.messages[name] || { kind: "", text: "" };
    const note = this.notes[name];
    return note && note.saved === shown ? { kind: "note", text: `You typed “${note.typed}”; saved as “${note.saved}”.` } : { kind: "", text: "" };
  }

  render(box, { schema, metadata, units, disabled }) {
    this.metadata = metadata;
    const focused = document.activeElement && document.activeElement.id;
    const questions = {};
    for (const q of metadataQuestions(metadata.questions)) questions[q.field] = q;
    const errors = metadata.errors || {};
    const body = h("tbody");
    for (const { name, spec } of schemaFields(schema, metadata.values)) {
      body.appendChild(this.row(name, spec, metadata.values[name], questions[name], errors[name], disabled));
    }
    const table = h("table", { class: "metadata-table", id: "metadata-table" },
      h("caption", { class: "visually-hidden" }, "Extracted metadata"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Value"),
        h("th", { scope: "col" }, "Source"), h("th", { scope: "col" }, "Confidence"))),
      body);
    const missing = (metadata.questions || []).filter(isRequired).map((q) => questionTitle(q, units));
    clear(box).append(
      h("p", { class: missing.length ? "small" : "small ok", id: "metadata-summary" },
        missing.length ? `Required before converting: ${missing.join(", ")}.` : "All required fields are filled in."),
      table);
    if (focused) { const el = document.getElementById(focused); if (el) el.focus(); }
  }

  row(name, spec, fv, q, error, disabled) {
    const critical = Boolean(q && isRequired(q));
    const shown = displayValue(fv && fv.value);
    const value = this.dirty.has(name) ? this.typed[name] : shown;
    const described = [`md-help-${name}`, q && `md-req-${name}`, q && `md-q-${name}`, `md-check-${name}`, error && `md-err-${name}`];
    const input = h("input", {
      type: "text",
      id: `md-${name}`,
      name,
      value,
      placeholder: exampleText(spec) ? `e.g. ${exampleText(spec)}` : "",
      "aria-describedby": described.filter(Boolean).join(" "),
      "aria-invalid": error ? "true" : null,
      "aria-required": critical ? "true" : null,
      autocomplete: "off",
      oninput: (e) => { this.dirty.add(name); this.typed[name] = e.target.value; this.checks.later(name, e.target.value); },
      onblur: (e) => { if (this.dirty.has(name)) this.checks.now(name, e.target.value); },
      onkeydown: (e) => { if (e.key === "Enter") { e.preventDefault(); this.saveField(name); } },
    });
    const check = h("p", { id: `md-check-${name}`, "aria-live": "polite" });
    showCheck(check, error ? null : input, this.message(name, shown));
    const source = sourceOf(fv);
    return h("tr", { class: critical ? "required-missing" : "", "data-field": name },
      h("th", { scope: "row" },
        h("label", { for: `md-${name}`, class: "field-name" }, name), " ",
        critical ? h("span", { class: "badge required", id: `md-req-${name}` }, "required")
          : q ? h("span", { class: "badge", id: `md-req-${name}` }, "suggested") : null,
        h("span", { class: "field-help", id: `md-help-${name}` }, spec.title || "")),
      h("td", { "data-label": "Value" },
        h("div", { class: "edit-cell" }, input,
          h("button", { type: "button", class: "small", disabled, "aria-label": `Save ${name}`, onclick: () => this.saveField(name) }, "Save")),
        check,
        q ? h("p", { class: "small", id: `md-q-${name}` }, q.text) : null,
        error ? h("p", { class: "small error", id: `md-err-${name}` }, `Not accepted: ${error}`) : null),
      h("td", { "data-label": "Source", class: "source", "data-source": source ? source.name : null, title: source ? source.evidence : "" },
        source ? source.label : "—"),
      h("td", { "data-label": "Confidence", class: "confidence" }, fv ? `${Math.round(fv.confidence * 100)}%` : "—"));
  }

  /** Save one row's text, unless the server refuses it (then its error stays under the field). */
  async saveField(name) {
    const input = document.getElementById(`md-${name}`);
    if (!input) return;
    const typed = input.value.trim();
    if (!typed) { this.say(`Type a value for ${name} first.`); input.focus(); return; }
    this.dirty.add(name);
    this.typed[name] = input.value;
    const { refused, results } = await checkAll(this.checks, { [name]: typed });
    if (refused.length) { input.focus(); return; }
    const result = results[name];
    if (result && result.ok && result.changed) this.notes[name] = { typed, saved: displayValue(result.value) };
    else delete this.notes[name];
    this.dirty.delete(name);
    this.checks.drop(name);
    delete this.messages[name];
    await this.save({ [name]: typed });
    announce(`Saved ${name}.`);
  }

  /** A one-click fix for question `q` (a finding the metadata answers), checked like a row. */
  fixForm(q, idSuffix, spec, title) {
    const id = `fix-${q.field}-${idSuffix}`;
    const input = h("input", { type: "text", id, "aria-label": `Fix value for ${title}`, "aria-describedby": `${id}-check`,
      placeholder: q.example ? `e.g. ${q.example}` : "", autocomplete: "off" });
    const check = h("p", { id: `${id}-check`, "aria-live": "polite" });
    return h("form", {
      class: "fix-form",
      onsubmit: async (e) => {
        e.preventDefault();
        const typed = input.value.trim();
        if (!typed) { input.focus(); return; }
        const result = await this.checks.now(`${q.field}`, typed);
        showCheck(check, input, checkMessage(result, typed));
        if (result && result.ok === false) { input.focus(); return; }
        await this.save({ [q.field]: typed });
        announce(`Saved ${q.field}.`);
      },
    }, input, h("button", { type: "submit", class: "small" }, `Apply fix: ${title}`), check);
  }
}
