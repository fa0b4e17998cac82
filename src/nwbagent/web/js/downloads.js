// The finished files of a session as links, from the session view's `downloads` (one entry per file, one
// file per acquisition) and the vocabulary's download kinds (their order and words). One list for one
// file, one labelled group per file when there are several.

import { h, humanBytes } from "./dom.js";
import { downloadKinds, downloadText } from "./vocabulary.js";
import { verdictBadge } from "./findings.js";

function link(file, kind, { id = null, suffix = "" } = {}) {
  const text = downloadText(kind);
  return h("li", {},
    h("a", { href: file.url, download: file.name, id, "aria-label": suffix ? `${text} (${suffix})` : null }, text),
    h("span", { class: "small muted su-file-name" }, ` ${file.name} (${humanBytes(file.size)})`));
}

const kindsOf = (files) => downloadKinds().map((k) => k.kind).filter((kind) => files[kind]);

/**
 * The links of `downloads` (the view's list), or null when nothing can be downloaded yet. Several files:
 * one section each, headed by its acquisition and verdict; `headingLevel` is their heading.
 */
export function renderDownloads(downloads, { idPrefix = "dl", headingLevel = "h3" } = {}) {
  const files = (downloads || []).filter((f) => f && f.files && Object.keys(f.files).length);
  if (!files.length) return null;
  if (files.length === 1) {
    const only = files[0];
    return h("div", { class: "downloads-one" },
      only.acquisition ? h("p", { class: "small" }, `One file, from ${only.acquisition}.`) : null,
      h("ul", { class: "downloads" },
        kindsOf(only.files).map((kind) => link(only.files[kind], kind, { id: `${idPrefix}-download-${kind}` }))));
  }
  return h("div", { class: "su-downloads" }, files.map((f, i) => {
    const name = f.acquisition || (f.files.nwb && f.files.nwb.name) || `file ${i + 1}`;
    const headingId = `${idPrefix}-file-${i + 1}`;
    return h("section", { class: "su-file", "aria-labelledby": headingId, "data-file": String(f.index ?? i) },
      h(headingLevel, { id: headingId }, `File ${i + 1} of ${files.length}: ${name} `, verdictBadge(f.verdict)),
      h("ul", { class: "su-file-links" }, kindsOf(f.files).map((kind) => link(f.files[kind], kind, { suffix: name }))));
  }));
}
