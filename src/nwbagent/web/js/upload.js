// Giving files: what a dropped folder holds (with its relative paths), a drop zone, and one upload with its
// progress and a plain summary of what the server kept. Shared by the chat and the guided UI.

import * as api from "./api.js";
import { announce, humanBytes } from "./dom.js";

async function readEntry(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: `${prefix}${file.name}` });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) await readEntry(child, `${prefix}${entry.name}/`, out);
    }
  }
}

/** The files of a drop, folders walked: File objects, or `{file, path}` to keep a folder's layout. */
export async function droppedItems(dt) {
  const entries = Array.from(dt.items || []).map((it) => (it.webkitGetAsEntry ? it.webkitGetAsEntry() : null)).filter(Boolean);
  if (!entries.length) return Array.from(dt.files || []);
  const out = [];
  for (const entry of entries) await readEntry(entry, "", out);
  return out;
}

/** Make `zone` take dropped files and folders: `onItems(items)`; `onError(err)` when reading them fails. */
export function wireDropzone(zone, onItems, onError) {
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("dragover"); });
  }
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("dragover"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    try {
      await onItems(await droppedItems(e.dataTransfer));
    } catch (err) {
      onError(err);
    }
  });
}

export const totalBytes = (items) => Array.from(items).reduce((n, it) => n + ((it.file || it).size || 0), 0);

/** "a.bin, b.meta" (the first ten, then "and N more"). Names are user data: callers insert them as text. */
export function namesText(names) {
  return names.slice(0, 10).join(", ") + (names.length > 10 ? `, and ${names.length - 10} more` : "");
}

/**
 * Upload `items` to session `sid` and start detection. `onProgress(percent, loaded, total)` follows it and
 * every quarter is announced. Resolves with the service's body plus `names` (the paths it kept) and `text`,
 * a plain summary.
 */
export async function uploadItems(sid, items, { onProgress } = {}) {
  const list = Array.from(items);
  const total = totalBytes(list);
  announce(`Uploading ${list.length} file${list.length === 1 ? "" : "s"} (${humanBytes(total)}).`);
  let mark = 0;
  const body = await api.upload(sid, list, {
    start: true,
    onProgress: (loaded, all) => {
      const pct = all ? Math.floor((loaded / all) * 100) : 0;
      if (onProgress) onProgress(pct, loaded, all || total);
      if (pct >= mark + 25) { mark = pct - (pct % 25); announce(`Upload ${mark}% done.`); }
    },
  });
  const names = body && body.files ? body.files.map((f) => f.relative_path) : list.map((f) => (f.file || f).name);
  const n = names.length;
  const size = body && body.total_bytes ? ` (${humanBytes(body.total_bytes)})` : "";
  const text = `Uploaded ${n} file${n === 1 ? "" : "s"}${size}: ${namesText(names)}. The agents are looking at them.`;
  announce(text);
  return { ...(body || {}), names, text };
}
