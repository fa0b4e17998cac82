// What NWB Inspector made of a file, as both pages show it: the verdict, why, the counts per importance and
// the findings grouped by importance, in the one order of the vocabulary (most serious first). Findings that
// fire only on a preview and checks that could not run are groups of their own, folded away.

import { h } from "./dom.js";
import { importance, importanceLevels, verdictLabel } from "./vocabulary.js";

// The two groups that are not NWB Inspector importances (the names the service counts them under).
const PREVIEW_ONLY = "STUB_FALSE_POSITIVE";
const TOOL_FAULT = "TOOL_FAULT";

/** The verdict as a badge, in the words of the state it leads to. */
export function verdictBadge(verdict) {
  const v = String(verdict || "none").toLowerCase();
  return h("span", { class: ["verdict", `verdict-${v}`] }, verdictLabel(verdict));
}

/** Why the file is (not) DANDI-ready, one sentence each. */
export function reasonsList(report) {
  const reasons = (report && report.verdict && report.verdict.reasons) || [];
  return reasons.length ? h("ul", { class: "small reasons" }, reasons.map((r) => h("li", {}, r))) : null;
}

/** The levels in display order, then any the vocabulary does not know. */
function ordered(names) {
  const known = importanceLevels().map((i) => i.name);
  return [...known.filter((n) => names.includes(n)), ...names.filter((n) => !known.includes(n))];
}

/** Counts per importance (`{CRITICAL: 0, ...}`) as a list, in display order. */
export function countsList(counts) {
  const names = ordered(Object.keys(counts || {}));
  return h("dl", { class: "counts" }, names.map((name) => [
    h("dt", {}, importance(name).label),
    h("dd", { class: counts[name] ? "nonzero" : null }, String(counts[name])),
  ]));
}

/** The report's findings (and tool faults) by level: [[level, items]] in display order. */
export function findingGroups(report) {
  const groups = {};
  const add = (name, item) => (groups[name] = groups[name] || []).push(item);
  for (const f of (report && report.findings) || []) add(f.stub_false_positive ? PREVIEW_ONLY : f.importance, f);
  for (const t of (report && report.tool_faults) || []) add(TOOL_FAULT, { fault: true, ...t });
  return ordered(Object.keys(groups)).map((name) => [importance(name), groups[name]]);
}

function item(f, fix) {
  if (f.fault) {
    return h("li", { class: "finding" },
      h("p", { class: "finding-msg" }, `${f.check_name} could not run${f.count > 1 ? ` (${f.count} times)` : ""}.`),
      h("details", {}, h("summary", { class: "small" }, "Technical details"), h("pre", { class: "su-raw" }, f.exception || "")));
  }
  const where = [f.object, f.location].filter(Boolean).join(" at ");
  return h("li", { class: "finding" },
    h("p", { class: "finding-msg" }, f.message || f.check_name || ""),
    f.explanation ? h("p", { class: "small" }, h("strong", {}, "Why it matters: "), f.explanation) : null,
    f.fix ? h("p", { class: "finding-fix small" }, h("strong", {}, "How to fix: "), f.fix) : null,
    fix,
    h("details", {}, h("summary", { class: "small" }, "Technical details"),
      h("p", { class: "small" }, `Check: ${f.check_name || ""}`),
      where ? h("p", { class: "small" }, `Where: ${where}`) : null));
}

/**
 * The findings of a JSON report, one section per level. `fixFor(finding, n)` may return a form that fixes
 * it (the chat's one-click fixes). Returns the element, or a "nothing found" line.
 */
export function renderFindings(report, { idPrefix = "f", headingLevel = "h3", fixFor = () => null } = {}) {
  const groups = findingGroups(report);
  if (!groups.length) return h("p", { class: "ok" }, "No findings: the file follows every checked best practice.");
  let n = 0;
  return h("div", { class: "findings" }, groups.map(([level, items]) => {
    const id = `${idPrefix}-findings-${level.name.toLowerCase()}`;
    const list = h("ul", { class: "findings-list" }, items.map((f) => { n += 1; return item(f, f.fault ? null : fixFor(f, n)); }));
    const apart = level.name === PREVIEW_ONLY || level.name === TOOL_FAULT;
    return h("section", { class: ["finding-group", `importance-${level.name}`, level.blocking && "is-blocking"], "aria-labelledby": id },
      h(headingLevel, { id }, level.label, " ", h("span", { class: "badge" }, String(items.length))),
      level.explanation ? h("p", { class: "small muted" }, level.explanation) : null,
      apart ? h("details", {}, h("summary", { class: "small" }, "Show them"), list) : list);
  }));
}

/** A line saying the findings shown are those of file 1 when the conversion wrote several. */
export function firstFileNote(downloads) {
  const files = downloads || [];
  if (files.length < 2) return null;
  const first = files[0];
  return h("p", { class: "small muted" },
    `${files.length} files were written (one per acquisition). The findings below are those of file 1`,
    first.acquisition ? ` (${first.acquisition})` : "", "; every file has its own report under Downloads.");
}

/** The report's plots (traces, probe layout, findings) as figures, or null when it has none. */
export function plotsOf(report, { headingLevel = "h3" } = {}) {
  const plots = ((report && report.plots) || []).filter((p) => p.png_base64);
  if (!plots.length) return null;
  return h("div", { class: "plots" }, h(headingLevel, {}, "Plots"), plots.map((p) => h("figure", {},
    h("img", { src: `data:image/png;base64,${p.png_base64}`, alt: p.alt || p.title || p.name || "plot" }),
    h("figcaption", {}, p.title || p.name || ""))));
}
