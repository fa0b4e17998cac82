// The browser client of the nwbagent web service, shared by the chat UI (/) and the guided UI (/guided).
// Same-origin only; the session token lives in an httponly cookie set by POST /api/sessions.

const STORAGE_KEY = "nwbagent.session";

/** Every failed request: HTTP status and the service's JSON {error, message, hint}. */
export class ApiError extends Error {
  constructor(status, error, message, hint = null) {
    super(message || error || `Request failed (${status})`);
    this.name = "ApiError";
    this.status = status;
    this.error = error || "http_error";
    this.hint = hint || null;
  }
}

async function toError(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (body && typeof body === "object") {
    return new ApiError(response.status, body.error, body.message, body.hint);
  }
  return new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`);
}

async function request(method, url, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, "network_error", "The service could not be reached.", "Check that nwbagent serve is running.");
  }
  if (!response.ok) throw await toError(response);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("application/json") ? response.json() : response.text();
}

const enc = encodeURIComponent;
const base = (id) => `/api/sessions/${enc(id)}`;

/** Create a session; the token is also set as a cookie. Returns {id, token, state}. */
export function newSession() {
  return request("POST", "/api/sessions");
}

/** The session id from `#s=<id>`, else localStorage, else null. */
export function currentSession() {
  const match = /(?:^#|&)s=([^&]+)/.exec(location.hash || "");
  if (match) return decodeURIComponent(match[1]);
  try { return localStorage.getItem(STORAGE_KEY) || null; } catch (_) { return null; }
}

/** Remember the session in the URL hash and localStorage (a reload or the other UI continue it). */
export function rememberSession(id) {
  try {
    if (id) localStorage.setItem(STORAGE_KEY, id);
    else localStorage.removeItem(STORAGE_KEY);
  } catch (_) { /* storage disabled */ }
  const hash = id ? `#s=${enc(id)}` : "";
  if (location.hash !== hash) history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
}

export const getSession = (id) => request("GET", base(id));
export const status = (id) => request("GET", `${base(id)}/status`);
export const samples = () => request("GET", "/api/samples");
export const useSample = (id, name = "neuropixels") => request("POST", `${base(id)}/source`, { sample: name });
export const useServerPath = (id, path) => request("POST", `${base(id)}/source`, { path });
export const say = (id, text) => request("POST", `${base(id)}/messages`, { text });
export const action = (id, name, argument = null) =>
  request("POST", `${base(id)}/actions/${enc(name)}`, argument === null || argument === undefined ? {} : { argument: String(argument) });
export const getMetadata = (id) => request("GET", `${base(id)}/metadata`);
export const patchMetadata = (id, fields) => request("PATCH", `${base(id)}/metadata`, { fields });
/** Answer value questions: `{"<unit handle>": {"<name>": "<value>"}}` (e.g. a sampling frequency). */
export const patchValues = (id, values) => request("PATCH", `${base(id)}/values`, { values });
/** Convert only these acquisitions/segments (`parts.available` of the session); [] for all of them. */
export const selectParts = (id, parts) => request("POST", `${base(id)}/parts`, { parts });
export const results = (id) => request("GET", `${base(id)}/results`);
export const metadataSchema = () => request("GET", "/api/schema/metadata");
/** Every word list the pages show (states, actions, importance levels, sources, download kinds, formats). */
export const vocabulary = () => request("GET", "/api/vocabulary");
/** One field as the server would save it: `{field, ok, value, changed, example, error?, empty?}`. */
export const checkValue = (field, value, species = null) =>
  request("POST", "/api/metadata/check", species ? { field, value, species } : { field, value });
/** GET any same-origin JSON url with the session cookie (e.g. a results() download url). */
export const fetchJson = (url) => request("GET", url);

/**
 * Upload files (a FileList or array of File) as multipart; each keeps `webkitRelativePath || name`.
 * An item may also be `{file, path}` (e.g. from a dropped folder) to give the relative path explicitly.
 * `onProgress(loaded, total)` follows the upload. Resolves with the service's JSON body.
 */
export function upload(id, files, { start = true, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const item of Array.from(files)) {
      const file = item instanceof Blob ? item : item.file;
      form.append("files", file, (item instanceof Blob ? "" : item.path) || file.webkitRelativePath || file.name);
    }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${base(id)}/files${start ? "?start=true" : ""}`);
    xhr.withCredentials = true;
    xhr.responseType = "text";
    if (onProgress) {
      xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0));
    }
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else if (body && typeof body === "object") reject(new ApiError(xhr.status, body.error, body.message, body.hint));
      else reject(new ApiError(xhr.status, "http_error", `Upload failed (${xhr.status}).`));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error", "The upload was interrupted.", "Check your connection and try again.")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was cancelled.")));
    xhr.send(form);
  });
}

/**
 * Follow a session's live events. `onEvent({type, payload})` gets `snapshot` first (again after every
 * reconnect), then `state`, `reply`, `progress`, `job`, `message`, `error`, `ping`; plus synthetic
 * `{type: "connection", payload: {status: "open"|"closed"|"gone"}}`. Reconnects with backoff (1 s .. 30 s);
 * a 4404 close (unknown session) stops it. Returns {close()}.
 */
export function connectEvents(id, onEvent) {
  let socket = null;
  let closed = false;
  let delay = 1000;
  let timer = null;
  const emit = (type, payload) => { try { onEvent({ type, payload }); } catch (err) { console.error(err); } };

  function open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}${base(id)}/events`);
    socket.addEventListener("open", () => { delay = 1000; emit("connection", { status: "open" }); });
    socket.addEventListener("message", (e) => {
      let event;
      try { event = JSON.parse(e.data); } catch (_) { return; }
      if (event && event.type) emit(event.type, event.payload || {});
    });
    socket.addEventListener("close", (e) => {
      socket = null;
      if (closed) return;
      if (e.code === 4404) { emit("connection", { status: "gone", reason: e.reason }); return; }
      emit("connection", { status: "closed" });
      timer = window.setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }
  open();
  return {
    close() {
      closed = true;
      if (timer) window.clearTimeout(timer);
      if (socket) socket.close();
    },
  };
}
