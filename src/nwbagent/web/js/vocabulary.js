// The words both pages show for the service's workflow states, importance levels, value sources and download
// kinds. Each list has one owner in Python and is served as GET /api/vocabulary; this module
// fetches it once per page (loadVocabulary(), awaited before the first render) and answers from it. No list
// is restated here: a name the vocabulary does not know is shown as it is.

import * as api from "./api.js";

const vocab = { states: new Map(), importance: [], levels: new Map(), sources: new Map(), downloads: [] };
let loading = null;

/** Fetch the vocabulary (once; a failed fetch is tried again on the next call). */
export function loadVocabulary() {
  if (!loading) {
    loading = api.vocabulary().then((v) => {
      vocab.states = new Map((v.states || []).map((s) => [s.name, s]));
      vocab.importance = v.importance || [];
      vocab.levels = new Map(vocab.importance.map((i) => [i.name, i]));
      vocab.sources = new Map((v.sources || []).map((s) => [s.name, s]));
      vocab.downloads = v.downloads || [];
      return vocab;
    }, (err) => {
      loading = null;
      throw err;
    });
  }
  return loading;
}

// ---- workflow states -------------------------------------------------------------------------------

/** What a page calls a state ("passed_with_issues" -> its label). */
export const stateLabel = (name) => (vocab.states.get(name) || {}).label || (name ? String(name) : "");
/** Nothing follows the state: the session is over. */
export const isTerminal = (name) => Boolean((vocab.states.get(name) || {}).terminal);
/** The state holds a judged file of the last full conversion. */
export const hasResult = (name) => Boolean((vocab.states.get(name) || {}).with_result);

/** A file's verdict ("PASSED_WITH_ISSUES") in words: the label of the state it leads to. */
export function verdictLabel(verdict) {
  if (!verdict) return "not inspected";
  const state = String(verdict).toLowerCase();
  return vocab.states.has(state) ? stateLabel(state) : state.replace(/_/g, " ");
}

// ---- findings --------------------------------------------------------------------------------------

/** The importance levels, most serious first: the one order both pages show findings in. */
export const importanceLevels = () => vocab.importance;
/** One level's {name, label, explanation, blocking}; an unknown one gets its name as label. */
export const importance = (name) => vocab.levels.get(name) || { name, label: String(name), explanation: "", blocking: false };

// ---- values and downloads ---------------------------------------------------------------------------

/** Where a metadata value came from, as a page says it ("user-text" -> "you (chat)"). */
export const sourceLabel = (name) => (vocab.sources.get(name) || {}).label || (name ? String(name) : "");

/** The download kinds in display order: [{kind, label, suffix, media_type}]. */
export const downloadKinds = () => vocab.downloads;

/** A download link's text: "Download " and the kind's label, its first word lower-cased unless an acronym. */
export function downloadText(kind) {
  const found = vocab.downloads.find((k) => k.kind === kind);
  const label = found ? found.label : String(kind);
  // Lower-case a capitalised first word, never an acronym ("NWB file", "PDF report").
  const lower = /^[A-Z][a-z]/.test(label) ? label[0].toLowerCase() + label.slice(1) : label;
  return `Download ${lower}`;
}
