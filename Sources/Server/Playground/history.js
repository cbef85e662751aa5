// Peregrine playground: the requests made from this browser, kept in its localStorage.
import { el, clear, main, modelHref } from "./api.js";

const HISTORY_STORAGE = "peregrine.history";
export const RERUN_STORAGE = "peregrine.rerun";
const HISTORY_LIMIT = 100;

// MARK: History (this browser only)

export function loadHistory() {
  try { const h = JSON.parse(localStorage.getItem(HISTORY_STORAGE) || "[]"); return Array.isArray(h) ? h : []; } catch (_) { return []; }
}

export function saveHistory(entries) {
  try { localStorage.setItem(HISTORY_STORAGE, JSON.stringify(entries.slice(0, HISTORY_LIMIT))); } catch (_) { /* storage full or disabled */ }
}

/** Inline files (data URIs) can be megabytes: the history keeps only a marker for them. */
export function historyInput(input) {
  const copy = {};
  for (const [k, v] of Object.entries(input)) copy[k] = typeof v === "string" && v.startsWith("data:") && v.length > 2048 ? "" : v;
  return copy;
}

export function addHistory(entry) { saveHistory([entry, ...loadHistory().filter((h) => h.request_id !== entry.request_id)]); }

export function updateHistory(id, changes) { saveHistory(loadHistory().map((h) => (h.request_id === id ? Object.assign({}, h, changes) : h))); }

function rerun(entry) {
  sessionStorage.setItem(RERUN_STORAGE, JSON.stringify({ endpoint: entry.endpoint, input: entry.input }));
  location.assign(modelHref(entry.endpoint));
}

export function historyPage() {
  const entries = loadHistory();
  const body = el("tbody", {}, entries.map((h) => el("tr", { "data-request": h.request_id },
    el("td", {}, new Date(h.submitted_at).toLocaleString()),
    el("td", {}, el("a", { href: modelHref(h.endpoint) }, h.endpoint)),
    el("td", {}, h.thumbnail ? el("img", { src: h.thumbnail, alt: "" }) : null),
    el("td", { className: "state " + (h.status || "") }, h.status || ""),
    el("td", {}, el("a", { href: modelHref(h.endpoint) + "?request=" + encodeURIComponent(h.request_id) }, "Open"), " ",
      el("button", { type: "button", onclick: () => rerun(h) }, "Re-run")))));
  clear(main).append(el("h1", {}, "History"),
    el("p", { className: "muted" }, "Requests made from this browser (kept in its local storage). Results are kept by the server only as long as its retention allows."),
    entries.length
      ? el("table", { className: "history" }, el("thead", {}, el("tr", {}, ["When", "Model", "", "Status", ""].map((t) => el("th", {}, t)))), body)
      : el("p", { className: "muted" }, "No requests yet."),
    entries.length ? el("button", { type: "button", onclick: () => { saveHistory([]); historyPage(); } }, "Clear history") : null);
}
