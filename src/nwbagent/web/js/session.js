// One session as a page follows it, the same for the chat and the guided UI: create or reopen it (the id
// lives in the URL hash and localStorage), follow its WebSocket, reload its view, metadata and JSON report
// (coalesced, after every event or request), and say what may be done now. What may be done is the
// server's answer (the view's `allowed_actions`, `allowed`, `busy`), never a list of states kept here.

import * as api from "./api.js";
import { announce } from "./dom.js";
import { hasResult, isTerminal } from "./vocabulary.js";

const GONE = "This session no longer exists (it may have expired). Start a new one.";

/** The agents are still answering, or a conversion (or preview) is queued or running. */
export const working = (view) => Boolean(view && (view.busy || view.active));

/** The streams (parts, values, the format choice) cannot change now. */
export const streamsFrozen = (view) => !view || working(view) || isTerminal(view.state);

/**
 * A form edit is taken now: not while the agents work, not once the session is over, and on a judged file
 * only where improving it is possible (the rule of the server's edit check, from the view's own fields).
 */
export function mayEdit(view) {
  if (!view || working(view) || isTerminal(view.state)) return false;
  return !hasResult(view.state) || (view.allowed || []).includes("improving");
}

/** Page hooks: `onOpen(id)` a session is followed from now on (forget what was shown of another);
 * `onChange()` re-render; `onEvent(type, payload)` every live event, first; `onReplies(texts)`; `onError(err)`;
 * `onGone(message)` the session disappeared (already forgotten). `withChat`: reload the chat every time. */
export class SessionClient {
  constructor({ withChat = false, onOpen, onChange, onEvent, onReplies, onError, onGone } = {}) {
    this.withChat = withChat;
    this.hooks = { onOpen, onChange, onEvent, onReplies, onError, onGone };
    this.sid = null;
    this.socket = null;
    this.pending = 0; // requests this page is waiting for
    this.reset();
  }

  reset() {
    this.view = null; // the session view (GET /status, plus the chat from GET /sessions/{id})
    this.metadata = null; // GET .../metadata
    this.report = null; // the first file's JSON report, when there is one
    this.reportKey = null;
    this.loading = null;
    this.again = false;
    if (this.timer) window.clearTimeout(this.timer);
    this.timer = null;
  }

  call(name, ...args) {
    const hook = this.hooks[name];
    if (hook) return hook(...args);
    return undefined;
  }

  get state() { return this.view ? this.view.state : null; }
  get working() { return working(this.view); }
  get mayEdit() { return mayEdit(this.view); }

  /** The button `action` does something now (only "cancel" while another request is waiting). */
  allows(action) {
    if (!this.view || (this.pending && action !== "cancel")) return false;
    return (this.view.allowed_actions || []).includes(action);
  }

  // ---- lifecycle -----------------------------------------------------------------------------------

  /** Follow session `id`: remember it, open its events (their snapshot loads it). */
  open(id) {
    this.close();
    this.reset();
    this.sid = id;
    api.rememberSession(id);
    this.call("onOpen", id);
    this.socket = api.connectEvents(id, (e) => this.event(e));
  }

  async ensure() {
    if (this.sid) return this.sid;
    const created = await api.newSession();
    this.open(created.id);
    return created.id;
  }

  close() {
    if (this.socket) this.socket.close();
    this.socket = null;
  }

  /** Stop following the session (a new one starts with the next source). */
  forget() {
    this.close();
    this.reset();
    this.sid = null;
    api.rememberSession(null);
  }

  gone(message = GONE) {
    this.forget();
    this.call("onGone", message);
  }

  // ---- loading -------------------------------------------------------------------------------------

  refreshSoon(delay = 250) {
    if (!this.sid) return;
    if (this.timer) window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => { this.timer = null; this.refresh(); }, delay);
  }

  /** Reload the view, metadata and report, then re-render; calls during a reload coalesce into one more. */
  async refresh() {
    if (!this.sid) return undefined;
    if (this.loading) { this.again = true; return this.loading; }
    this.loading = (async () => {
      do {
        this.again = false;
        const sid = this.sid;
        try {
          const chat = this.withChat || !this.view;
          const [status, full, metadata] = await Promise.all([
            api.status(sid), chat ? api.getSession(sid) : null, api.getMetadata(sid),
          ]);
          if (sid !== this.sid) return;
          const history = full ? full.chat : (this.view && this.view.chat) || [];
          this.view = { ...(full || {}), ...status, chat: history };
          this.metadata = metadata;
          await this.loadReport(sid);
          if (sid !== this.sid) return;
        } catch (err) {
          if (err instanceof api.ApiError && err.status === 404) { this.gone(); return; }
          this.call("onError", err);
          return;
        }
        this.call("onChange");
        // The agents answer without a job (detection, a metadata turn): look again until they are done.
        if (this.view.busy && !this.view.active) this.refreshSoon(1500);
      } while (this.again);
    })();
    try { return await this.loading; } finally { this.loading = null; }
  }

  async loadReport(sid) {
    const first = (this.view.downloads || [])[0];
    const json = first && first.files && first.files["report-json"];
    const key = json ? `${json.url}|${json.size}|${(this.view.output && this.view.output.at) || ""}` : null;
    if (!key) { this.report = null; this.reportKey = null; return; }
    if (key === this.reportKey) return;
    try {
      const report = await api.fetchJson(json.url);
      if (sid !== this.sid) return;
      this.report = report;
      this.reportKey = key;
    } catch (_) {
      this.report = null;
    }
  }

  // ---- live events and requests ------------------------------------------------------------------

  event({ type, payload }) {
    this.call("onEvent", type, payload);
    switch (type) {
      case "connection":
        if (payload.status === "gone") this.gone();
        break;
      case "snapshot":
        this.refreshSoon(0);
        break;
      case "state":
        // Until the reload: the new state, and the agents at work (e.g. the parts picker is off at once).
        if (this.view && payload.state) Object.assign(this.view, { state: payload.state, busy: true });
        this.call("onChange");
        this.refreshSoon();
        break;
      case "reply":
        this.refreshSoon(150);
        break;
      case "job":
      case "error":
        this.refreshSoon(0);
        break;
      default:
        break; // "progress", agent-to-agent "message" and "ping": the page's own hook
    }
  }

  /** Run a request with the page marked as waiting; its replies and errors go to the hooks; then reload. */
  async run(fn) {
    this.pending += 1;
    this.call("onChange");
    try {
      const out = await fn();
      const turn = out && out.turn ? out.turn : out; // an upload with ?start=true holds the turn
      if (turn && Array.isArray(turn.replies) && turn.replies.length) this.call("onReplies", turn.replies);
      return out;
    } catch (err) {
      if (err instanceof api.ApiError && err.status === 404 && this.sid) this.gone();
      else this.call("onError", err);
      return null;
    } finally {
      this.pending -= 1;
      if (this.sid) await this.refresh();
      else this.call("onChange");
    }
  }

  /** Answer a value question (PATCH /values): resolves with the turn (its replies to `onReplies`), throws
   * when refused, so the field can say why; reloads after. */
  async saveValue(q, value) {
    try {
      const turn = await api.patchValues(this.sid, { [q.unit]: { [q.name]: value } });
      const replies = (turn && turn.replies) || [];
      if (replies.length) this.call("onReplies", replies);
      else announce("Sent.");
      return turn;
    } finally {
      this.refreshSoon(0);
    }
  }

  /** Convert only these acquisitions/segments (POST /parts); [] for all of them. */
  selectParts(parts) {
    return this.run(async () => {
      const out = await api.selectParts(this.sid, parts);
      announce(parts.length ? `Converting only ${parts.join(", ")}.` : "Converting all parts.");
      return out;
    });
  }
}
