// What both metadata editors (the chat's table, the guided form) share: the fields (from the metadata JSON
// schema), a value as text, where it came from, and the one validation there is: the server's normalizers,
// asked through POST /api/metadata/check while the user types (after a pause), on leaving a field or
// pressing Enter, and before saving. Nothing here second-guesses the server: a value it accepts is saved.

import * as api from "./api.js";
import { sourceLabel } from "./vocabulary.js";

const PAUSE_MS = 350;
const MAX_CHECKED = 200; // the longest value POST /metadata/check takes; longer free text is not checked

/** A value as the editors show it (lists joined by "; ", which the server splits again). */
export function displayValue(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map(displayValue).join("; ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The schema's first example as text, for a placeholder ("e.g. P90D"). */
export function exampleText(spec) {
  const ex = spec && spec.examples && spec.examples.length ? spec.examples[0] : undefined;
  return ex === undefined ? "" : displayValue(ex);
}

/** Every field the schema names, then any other field the session has a value for: [{name, spec}]. */
export function schemaFields(schema, values) {
  const props = (schema && schema.properties) || {};
  const names = Object.keys(props);
  for (const name of Object.keys(values || {})) if (!names.includes(name)) names.push(name);
  return names.map((name) => ({ name, spec: props[name] || {} }));
}

/** A field's title from the schema ("Subject ID"), else its name. */
export function fieldTitle(schema, name) {
  const p = schema && schema.properties && schema.properties[name];
  return (p && p.title) || name;
}

/** Where a stored value came from, in the vocabulary's words ("you (chat)"), with its evidence. */
export function sourceOf(fv) {
  return fv && fv.source ? { name: fv.source, label: sourceLabel(fv.source), evidence: fv.evidence || "" } : null;
}

/**
 * What to say under a field about the server's answer for `typed`: a note when it will be saved in another
 * form ("You typed “man”; saved as “M”."), an error with an example when it is refused, else nothing.
 */
export function checkMessage(result, typed) {
  if (!result || result.empty) return { kind: "", text: "" };
  if (result.ok) {
    const saved = displayValue(result.value);
    return result.changed && saved !== typed ? { kind: "note", text: `You typed “${typed}”; saved as “${saved}”.` } : { kind: "", text: "" };
  }
  const example = displayValue(result.example);
  const error = String(result.error || "This value is not accepted.");
  return { kind: "error", text: example && !error.includes(example) ? `${error} For example: ${example}.` : error };
}

/** Show `message` ({kind, text}) in `el` (a <p>) and mark `input` invalid on an error. */
export function showCheck(el, input, message) {
  el.textContent = message.text;
  el.className = ["check", message.kind === "error" ? "error" : message.kind === "note" ? "ok" : "", "small"].filter(Boolean).join(" ");
  if (input) {
    if (message.kind === "error") input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

/**
 * The server's answers for typed values. `onResult(name, typed, result)` hears each answer for the text a
 * field holds now (answers for older text are dropped); `species()` gives the species that reading `sex`
 * depends on. A check that could not be asked (network, limits) answers null and blocks nothing.
 */
export class FieldChecks {
  constructor({ onResult = () => {}, species = () => null } = {}) {
    this.onResult = onResult;
    this.species = species;
    this.timers = {};
    this.current = {};
    this.answers = new Map(); // key -> promise of the answer
  }

  key(name, typed) { return name === "sex" ? `${name}\u0000${typed}\u0000${this.species() || ""}` : `${name}\u0000${typed}`; }

  /** Typing: ask after a pause. */
  later(name, text) {
    window.clearTimeout(this.timers[name]);
    this.current[name] = String(text).trim();
    this.timers[name] = window.setTimeout(() => { this.now(name, text); }, PAUSE_MS);
  }

  /** Leaving the field, Enter, saving: ask at once. Resolves with the answer, or null. */
  async now(name, text) {
    window.clearTimeout(this.timers[name]);
    const typed = String(text).trim();
    this.current[name] = typed;
    if (!typed || typed.length > MAX_CHECKED) {
      this.onResult(name, typed, null);
      return null;
    }
    const key = this.key(name, typed);
    if (!this.answers.has(key)) {
      const species = name === "sex" ? this.species() : null;
      this.answers.set(key, api.checkValue(name, typed, species).catch(() => { this.answers.delete(key); return null; }));
    }
    const result = await this.answers.get(key);
    if (this.current[name] === typed) this.onResult(name, typed, result);
    return result;
  }

  /** Forget what a field was being typed (after saving it, or a new session). */
  drop(name) {
    window.clearTimeout(this.timers[name]);
    delete this.current[name];
  }

  reset() {
    for (const name of Object.keys(this.timers)) window.clearTimeout(this.timers[name]);
    this.timers = {};
    this.current = {};
  }
}

/**
 * Check every `{name: text}` at once: `{refused, results}`, the names the server refuses (their errors are
 * shown through `onResult`) and every answer. Values it accepts, or could not check, are never held back.
 */
export async function checkAll(checks, typed) {
  const names = Object.keys(typed);
  const answers = await Promise.all(names.map((name) => checks.now(name, typed[name])));
  const results = Object.fromEntries(names.map((name, i) => [name, answers[i]]));
  return { refused: names.filter((name) => results[name] && results[name].ok === false), results };
}
