// Peregrine playground: request history, the server's (fal's platform API) merged with the
// requests made from this browser (kept in its localStorage, with result thumbnails).
import { el, clear, main, modelHref, api, APIError } from "./api.js";

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

/**
 * The server's history of the installed models (`GET /v1/models/requests/by-endpoint`, payloads
 * included while stored): what this key submitted from anywhere, or everyone's for an admin key.
 * Returns the items and whether the server holds more than were fetched.
 */
async function serverHistory() {
  const { json } = await api("/models");
  const ids = ((json && json.models) || []).map((m) => m.id);
  const items = [];
  let more = false;
  const start = new Date(Date.now() - 30 * 24 * 3600 * 1000).toISOString();
  for (let i = 0; i < ids.length; i += 50) {
    const query = new URLSearchParams({ endpoint_id: ids.slice(i, i + 50).join(","), limit: "100", expand: "payloads", start });
    const page = (await api("/v1/models/requests/by-endpoint?" + query)).json || {};
    items.push(...(page.items || []));
    more = more || !!page.has_more;
  }
  return { items, more };
}

/** A server history item as a history entry (a local entry of the same request adds its thumbnail). */
function fromServer(item, local) {
  const failed = item.status === "COMPLETED" && item.status_code >= 400;
  return {
    request_id: item.request_id, endpoint: item.endpoint_id, submitted_at: item.sent_at,
    status: failed ? "FAILED" : item.status, duration: item.duration,
    input: item.json_input || (local && local.input) || null, thumbnail: local && local.thumbnail, server: true,
  };
}

export async function historyPage() {
  const local = loadHistory();
  clear(main).append(el("h1", {}, "History"), el("p", { className: "muted" }, "Loading…"));
  let entries = local, note = "Requests made from this browser (kept in its local storage).", more = false;
  try {
    const server = await serverHistory();
    const byID = new Map(local.map((h) => [h.request_id, h]));
    const merged = server.items.map((item) => fromServer(item, byID.get(item.request_id)));
    const listed = new Set(merged.map((h) => h.request_id));
    entries = merged.concat(local.filter((h) => !listed.has(h.request_id)))
      .sort((a, b) => new Date(b.submitted_at) - new Date(a.submitted_at));
    note = "Requests of the last 30 days as the server keeps them, with this browser's own. Inputs can be re-run while the server still stores them.";
    more = server.more;
  } catch (err) {
    if (err instanceof APIError && err.status === 401) return;
    note = "The server's history is unavailable (" + (err.message || err) + "); showing requests made from this browser.";
  }
  const body = el("tbody", {}, entries.map((h) => el("tr", { "data-request": h.request_id, "data-source": h.server ? "server" : "browser" },
    el("td", {}, new Date(h.submitted_at).toLocaleString()),
    el("td", {}, el("a", { href: modelHref(h.endpoint) }, h.endpoint)),
    el("td", {}, h.thumbnail ? el("img", { src: h.thumbnail, alt: "" }) : null),
    el("td", { className: "state " + (h.status || "") }, h.status || ""),
    el("td", {}, el("a", { href: modelHref(h.endpoint) + "?request=" + encodeURIComponent(h.request_id) }, "Open"), " ",
      h.input ? el("button", { type: "button", onclick: () => rerun(h) }, "Re-run") : null))));
  clear(main).append(el("h1", {}, "History"),
    el("p", { className: "muted" }, note),
    entries.length
      ? el("table", { className: "history" }, el("thead", {}, el("tr", {}, ["When", "Model", "", "Status", ""].map((t) => el("th", {}, t)))), body)
      : el("p", { className: "muted" }, "No requests yet."),
    more ? el("p", { className: "muted" }, "Only the latest 100 requests per 50 models are shown.") : null,
    local.length ? el("button", { type: "button", onclick: () => { saveHistory([]); historyPage(); } }, "Clear this browser's history") : null);
}
