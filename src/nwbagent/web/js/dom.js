// Safe DOM helpers shared by the chat and guided UIs. Text is only ever inserted as text nodes:
// nothing in the app uses innerHTML, outerHTML or insertAdjacentHTML.

/**
 * Build an element. `attrs`: `class`, `for`, `aria-*`, `data-*`, any attribute (setAttribute);
 * function values for `on<event>` keys become listeners; `value`, `checked`, `disabled`, `hidden`,
 * `selected`, `textContent` are set as properties. null/undefined/false attributes are skipped.
 * Children: strings/numbers become text nodes, Nodes are appended, arrays are flattened, null skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function" && key.startsWith("on")) {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (["value", "checked", "disabled", "hidden", "selected", "textContent", "indeterminate"].includes(key)) {
      el[key] = value;
    } else if (key === "class" || key === "className") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : String(value));
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Remove every child of `el`; returns `el`. */
export function clear(el) {
  while (el && el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Say `text` to screen readers through a visually hidden polite live region (id "announcer"). */
export function announce(text) {
  let region = document.getElementById("announcer");
  if (!region) {
    region = h("div", { id: "announcer", class: "visually-hidden", "aria-live": "polite", role: "status" });
    document.body.appendChild(region);
  }
  // Clear first so the same text twice is still announced.
  region.textContent = "";
  window.setTimeout(() => { region.textContent = String(text); }, 50);
}

/** 1536 -> "1.5 KB" (binary units, one decimal). */
export function humanBytes(n) {
  const value = Number(n);
  if (!Number.isFinite(value) || value < 0) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = value;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** 75 -> "1 min 15 s", 3725 -> "1 h 2 min", 4.2 -> "4 s". */
export function fmtSeconds(s) {
  const value = Number(s);
  if (!Number.isFinite(value) || value < 0) return "";
  const total = Math.round(value);
  const hrs = Math.floor(total / 3600);
  const mins = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  if (hrs > 0) return `${hrs} h ${mins} min`;
  if (mins > 0) return `${mins} min ${secs} s`;
  return `${secs} s`;
}
