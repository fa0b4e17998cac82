// A conversion's (or preview's) progress as both pages show it: a <progress> bar and one line of text
// (percent, MB/s, ETA, bytes; the queue position while it waits), fed by the WebSocket's `progress` and `job`
// events. Screen readers hear the queue, every quarter and the end, not every step.

import { announce, humanBytes, fmtSeconds } from "./dom.js";

const clamp = (x) => Math.max(0, Math.min(100, Number(x) || 0));
const kindOf = (p) => (p && (p.stub || p.kind === "preview") ? "preview" : "convert");
const WHAT = { preview: "Preview", convert: "Conversion" };

/** "45% · 1.2 MB/s · about 20 s left · 10.0 MB of 22.0 MB". */
export function progressText(p) {
  const pct = clamp(p.percent);
  const bits = [`${pct.toFixed(0)}%`];
  if (p.rate_mb_s) bits.push(`${Number(p.rate_mb_s).toFixed(1)} MB/s`);
  if (p.eta_s !== null && p.eta_s !== undefined && pct < 100) bits.push(`about ${fmtSeconds(p.eta_s)} left`);
  if (p.total_bytes) bits.push(`${humanBytes(p.done_bytes)} of ${humanBytes(p.total_bytes)}`);
  return bits.join(" · ");
}

export class ProgressView {
  constructor() { this.reset(); }

  reset() {
    this.last = { preview: null, convert: null }; // the latest progress event of each kind
    this.latest = null; // the latest of either
    this.job = null;
    this.marks = { preview: -1, convert: -1 };
  }

  /** A session event: true when it changed what to show (`snapshot`, `progress`, `job`). */
  onEvent(type, payload) {
    if (type === "progress") this.onProgress(payload);
    else if (type === "job") this.onJob(payload);
    else if (type === "snapshot") this.onJob(payload.job);
    else return false;
    return true;
  }

  /** A `progress` event. */
  onProgress(p) {
    const kind = kindOf(p);
    this.last[kind] = p;
    this.latest = p;
    const mark = Math.floor(clamp(p.percent) / 25) * 25;
    if (mark > this.marks[kind]) {
      this.marks[kind] = mark;
      if (kind === "convert" && mark === 100) announce("Conversion written; inspecting the file.");
      else if (mark > 0) announce(`${WHAT[kind]} ${mark}% done.`);
    }
  }

  /** A `job` event (or the job of a snapshot): queued with its position, running, or finished. */
  onJob(job) {
    if (!job) return;
    const same = this.job && this.job.job_id === job.job_id;
    if (!same) {
      const kind = kindOf(job);
      this.last[kind] = null;
      this.marks[kind] = -1;
    }
    const before = same ? this.job.status : null;
    this.job = { ...(same ? this.job : {}), ...job };
    if (job.status !== before) {
      const what = WHAT[kindOf(job)];
      if (job.status === "queued") announce(`${what} waiting in the queue${job.position ? `: position ${job.position}` : ""}.`);
      else if (job.status && job.status !== "running") announce(`${what} ${job.status}.`);
    }
  }

  /** Whether there is anything to show (of `kind`, or of either when null): progress seen on this page, or
   * a job waiting or running (a job that ended before the page opened is not news). */
  has(kind = null) {
    const job = this.jobOf(kind);
    return Boolean((kind ? this.last[kind] : this.latest) || (job && (job.status === "queued" || job.status === "running")));
  }

  jobOf(kind) { return this.job && (!kind || kindOf(this.job) === kind) ? this.job : null; }

  /**
   * Show the progress of `kind` ("convert", "preview", or null for whichever came last) in `bar` and `text`
   * (either may be null); `queue` gets the queue position when given apart. `note` is added to the text;
   * `idle` is the text before any report.
   */
  draw({ bar = null, text = null, queue = null } = {}, { kind = null, note = "", idle = "" } = {}) {
    const p = kind ? this.last[kind] : this.latest;
    const job = this.jobOf(kind);
    const what = WHAT[kind || kindOf(p || job)];
    const waiting = Boolean(job && job.status === "queued");
    const ended = Boolean(job && job.status && !waiting && job.status !== "running");
    const where = waiting ? `${what} waiting in the queue${job.position ? `: position ${job.position}` : ""}.` : "";
    if (bar) {
      if (ended && job.status === "succeeded") bar.value = 100;
      else if (p && !waiting) bar.value = clamp(p.percent);
      else bar.removeAttribute("value"); // indeterminate: waiting, or started without a first report yet
      if (bar.hasAttribute("value")) {
        const pct = Math.round(Number(bar.value));
        bar.setAttribute("aria-valuenow", String(pct));
        bar.setAttribute("aria-valuetext", `${pct} percent`);
      } else {
        bar.removeAttribute("aria-valuenow");
        bar.removeAttribute("aria-valuetext");
      }
    }
    let line = idle;
    if (ended) line = `${what} ${job.status}.`;
    else if (p && !waiting) line = `${what}: ${progressText(p)}`;
    if (line && note) line = `${line} · ${note}`;
    if (queue) {
      queue.textContent = where;
      if (text) text.textContent = line;
    } else if (text) {
      text.textContent = where || line;
    }
  }
}
