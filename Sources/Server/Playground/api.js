// Peregrine playground: DOM helpers and the API client every view uses. The DOM is built with
// createElement/textContent, never from HTML strings, so model descriptions and results cannot
// inject markup; every call carries the key the user signed in with (this tab's sessionStorage).
import { showSignIn } from "./main.js";

export const KEY_STORAGE = "peregrine.key";
export const main = document.getElementById("main");

// MARK: DOM helpers

/** Creates an element: `attrs` are properties (or `data-*`/`aria-*` attributes); children are nodes or text. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("data-") || k.startsWith("aria-") || k === "for" || k === "role") node.setAttribute(k, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node[k] = v;
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

// MARK: API

export function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ""; }

export class APIError extends Error {
  constructor(status, body) {
    super(APIError.describe(status, body));
    this.status = status;
    this.body = body;
  }
  static describe(status, body) {
    const d = body && body.detail;
    if (typeof d === "string") return `${status}: ${d}`;
    if (Array.isArray(d)) return `${status}: ` + d.map((i) => `${(i.loc || []).join(".")}: ${i.msg}`).join("; ");
    return `HTTP ${status}`;
  }
}

/** Headers for an API call: the signed-in key, when there is one. */
export function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const key = apiKey();
  if (key) h["Authorization"] = "Key " + key;
  return h;
}

/**
 * Calls the API; JSON in and out. A 401 sends the user to sign in; other error statuses throw
 * unless `accept` lists them (or is "any": a model's result carries the model's own status).
 */
export async function api(path, options) {
  const o = options || {};
  const headers = authHeaders(o.headers);
  let body = o.body;
  if (body !== undefined && !(body instanceof Blob) && typeof body !== "string") {
    body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, { method: o.method || "GET", headers, body, signal: o.signal });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = { detail: text }; }
  if (response.status === 401 || (!response.ok && o.accept !== "any" && !(o.accept || []).includes(response.status))) {
    if (response.status === 401) showSignIn("This server needs an API key.");
    throw new APIError(response.status, json);
  }
  return { status: response.status, json };
}

/** Same-origin path of a URL the server handed out (absolute URLs name the host the page came from). */
export function localPath(url) {
  try { const u = new URL(url, location.origin); return u.origin === location.origin ? u.pathname + u.search : url; } catch (_) { return url; }
}

/** The page of `endpoint`. */
export function modelHref(endpoint) { return "/playground/models/" + endpoint.split("/").map(encodeURIComponent).join("/"); }
