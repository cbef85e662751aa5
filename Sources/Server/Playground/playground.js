// Peregrine playground: plain JavaScript over the server's public API (no build step, no
// third-party code). Every call carries the key the user signed in with, kept in this tab's
// sessionStorage only; the DOM is built with createElement/textContent, never from HTML strings,
// so model descriptions and results cannot inject markup.
"use strict";

const KEY_STORAGE = "peregrine.key";
const HISTORY_STORAGE = "peregrine.history";
const RERUN_STORAGE = "peregrine.rerun";
const HISTORY_LIMIT = 100;
const main = document.getElementById("main");

// MARK: DOM helpers

/** Creates an element: `attrs` are properties (or `data-*`/`aria-*` attributes); children are nodes or text. */
function el(tag, attrs, ...children) {
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

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

// MARK: API

function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ""; }

class APIError extends Error {
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
function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const key = apiKey();
  if (key) h["Authorization"] = "Key " + key;
  return h;
}

/** Calls the API; JSON in and out. A 401 sends the user to sign in. */
async function api(path, options) {
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
  if (!response.ok && !(o.accept || []).includes(response.status)) {
    if (response.status === 401) showSignIn("This server needs an API key.");
    throw new APIError(response.status, json);
  }
  return { status: response.status, json };
}

/** Same-origin path of a URL the server handed out (absolute URLs name the host the page came from). */
function localPath(url) {
  try { const u = new URL(url, location.origin); return u.origin === location.origin ? u.pathname + u.search : url; } catch (_) { return url; }
}

// MARK: Account

function renderAccount() {
  const box = clear(document.getElementById("account"));
  const key = apiKey();
  if (key) {
    box.append(el("span", {}, "Key ", el("code", {}, key.split(":")[0])),
      el("button", { type: "button", onclick: () => { sessionStorage.removeItem(KEY_STORAGE); renderAccount(); route(); } }, "Sign out"));
  } else {
    box.append(el("button", { type: "button", id: "signin-open", onclick: () => showSignIn() }, "Sign in"));
  }
}

/** Replaces the page with the sign-in form; on success the current view reloads. */
function showSignIn(message) {
  const input = el("input", { type: "password", id: "api-key", placeholder: "id:secret", autocomplete: "off", required: true });
  const error = el("p", { className: "error" });
  const form = el("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      const candidate = input.value.trim();
      try {
        const r = await fetch("/models", { headers: { Authorization: "Key " + candidate } });
        if (!r.ok) { error.textContent = r.status === 401 ? "This key was not accepted." : `HTTP ${r.status}`; return; }
        sessionStorage.setItem(KEY_STORAGE, candidate);
        renderAccount();
        route();
      } catch (err) { error.textContent = String(err); }
    },
  }, input, el("button", { className: "primary", type: "submit" }, "Sign in"));
  clear(main).append(el("section", { className: "panel signin" },
    el("h1", {}, "Sign in"),
    el("p", { className: "muted" }, message || "Paste an API key (`peregrine keys create`)."),
    el("p", { className: "muted" }, "The key stays in this browser tab (sessionStorage) and is sent only to this server."),
    form, error));
  input.focus();
}

// MARK: Routing

function route() {
  const path = location.pathname.replace(/\/+$/, "");
  renderAccount();
  if (path.startsWith("/playground/models/")) {
    const endpoint = path.slice("/playground/models/".length).split("/").map(decodeURIComponent).join("/");
    return modelPage(endpoint).catch(showError);
  }
  if (path === "/playground/history") return historyPage();
  return gallery().catch(showError);
}

function showError(err) {
  if (err instanceof APIError && err.status === 401) return;  // the sign-in form is showing
  clear(main).append(el("p", { className: "error" }, String(err.message || err)));
}

function modelHref(endpoint) { return "/playground/models/" + endpoint.split("/").map(encodeURIComponent).join("/"); }

// MARK: Gallery

async function gallery() {
  clear(main).append(el("p", { className: "muted" }, "Loading models…"));
  const { json } = await api("/models");
  const models = (json && json.models) || [];
  const search = el("input", { type: "search", className: "search", id: "search", placeholder: "Search models", "aria-label": "Search models" });
  const list = el("div", { id: "gallery" });
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = models.filter((m) => !q || [m.id, m.display_name, m.description, m.category].join(" ").toLowerCase().includes(q));
    const byCategory = new Map();
    for (const m of shown) {
      if (!byCategory.has(m.category)) byCategory.set(m.category, []);
      byCategory.get(m.category).push(m);
    }
    clear(list);
    if (!shown.length) list.append(el("p", { className: "muted" }, models.length ? "No model matches." : "No models are installed."));
    for (const category of [...byCategory.keys()].sort()) {
      list.append(el("h2", { className: "category" }, category.replace(/-/g, " ")),
        el("div", { className: "cards" }, byCategory.get(category).sort((a, b) => a.id.localeCompare(b.id)).map((m) =>
          el("a", { className: "card model-card", href: modelHref(m.id), "data-endpoint": m.id },
            el("div", { className: "id" }, m.id),
            el("div", { className: "name" }, m.display_name || m.id),
            el("div", { className: "desc" }, m.description || ""),
            el("span", { className: "badge" }, m.category)))));
    }
  };
  search.addEventListener("input", draw);
  clear(main).append(el("h1", {}, "Models"), search, list);
  draw();
}

// MARK: Schemas

/** Follows `$ref`s into `components.schemas` and merges a lone non-null `anyOf` branch. */
function resolve(schema, doc, depth) {
  let s = schema || {};
  for (let i = 0; i < 16 && s.$ref; i++) {
    const name = s.$ref.split("/").pop();
    s = Object.assign({}, ((doc.components || {}).schemas || {})[name] || {}, s, { $ref: undefined });
    delete s.$ref;
  }
  if ((depth || 0) < 4 && Array.isArray(s.anyOf)) {
    const options = s.anyOf.map((o) => resolve(o, doc, (depth || 0) + 1)).filter((o) => o.type !== "null");
    if (options.length === 1) return Object.assign({}, options[0], s, { anyOf: undefined });
    return Object.assign({}, s, { anyOf: options });
  }
  return s;
}

/** The input schema of `endpoint` in its OpenAPI document. */
function inputSchema(doc, endpoint) {
  const post = ((doc.paths || {})["/" + endpoint] || {}).post || {};
  const media = ((post.requestBody || {}).content || {})["application/json"] || {};
  return resolve(media.schema, doc);
}

const PRIMARY_FIELDS = ["prompt", "image_url", "video_url", "mask_url"];
/** Never shown unfolded: tuning and transport options. */
const ADVANCED_FIELDS = ["sync_mode", "tile_size", "output_format", "seed", "loras", "enable_safety_checker"];
/** Besides required and primary fields, this many of the first fields in the schema's order stay unfolded. */
const LEADING_FIELDS = 3;

function fileKind(name, schema) {
  if (schema.type !== "string" || !/_url$/.test(name)) return null;
  if (/video/.test(name)) return "video";
  if (/audio/.test(name)) return "audio";
  return "image";
}

function title(name, schema) { return schema.title || name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase()); }

function niceStep(schema) {
  if (schema.multipleOf) return schema.multipleOf;
  if (schema.type === "integer") return 1;
  const span = schema.maximum - schema.minimum;
  return span <= 2 ? 0.01 : span <= 20 ? 0.1 : 1;
}

// MARK: Form widgets
//
// Each widget: { name, node, value() -> value or undefined (left out of the request), set(v),
// pending() -> promise of in-flight work (uploads) }. Only required fields and fields the user
// touched are sent, so the model's own defaults apply and snippets stay short.

function widgetFor(name, schema, required, onchange) {
  const kind = fileKind(name, schema);
  if (kind) return fileWidget(name, schema, required, kind, onchange);
  if (Array.isArray(schema.anyOf)) return anyOfWidget(name, schema, required, onchange);
  if (Array.isArray(schema.enum)) return enumWidget(name, schema, required, onchange);
  if (schema.type === "boolean") return booleanWidget(name, schema, required, onchange);
  if ((schema.type === "integer" || schema.type === "number") && Number.isFinite(schema.minimum) && Number.isFinite(schema.maximum)
      && schema.maximum - schema.minimum <= 100000) return rangeWidget(name, schema, required, onchange);
  if (schema.type === "integer" || schema.type === "number") return numberWidget(name, schema, required, onchange);
  if (schema.type === "string") return textWidget(name, schema, required, onchange);
  return jsonWidget(name, schema, required, onchange);
}

function fieldShell(name, schema, required, control, id) {
  return el("div", { className: "field", "data-field": name },
    el("label", { for: id }, title(name, schema), required ? el("span", { className: "required" }, " *") : null),
    control,
    schema.description ? el("div", { className: "hint" }, schema.description) : null,
    el("div", { className: "hint error field-error" }));
}

function textWidget(name, schema, required, onchange) {
  const id = "f-" + name;
  const long = /prompt/.test(name) || (schema.maxLength || 0) > 200;
  const input = long
    ? el("textarea", { id, name, rows: /^prompt$/.test(name) ? 5 : 3, maxLength: schema.maxLength || undefined,
      placeholder: schema.default || (name === "prompt" ? "Describe the image… (Ctrl+Enter to generate)" : "") })
    : el("input", { type: "text", id, name, maxLength: schema.maxLength || undefined, placeholder: schema.default || "" });
  let touched = false;
  input.addEventListener("input", () => { touched = true; onchange(); });
  return {
    name, node: fieldShell(name, schema, required, input, id),
    value: () => (touched || required) && input.value !== "" ? input.value : undefined,
    set: (v) => { input.value = v == null ? "" : String(v); touched = true; },
  };
}

function numberWidget(name, schema, required, onchange) {
  const id = "f-" + name;
  const input = el("input", { type: "number", id, name, step: schema.type === "integer" ? 1 : "any",
    min: schema.minimum, max: schema.maximum, placeholder: schema.default !== undefined ? String(schema.default) : "default" });
  let touched = false;
  input.addEventListener("input", () => { touched = true; onchange(); });
  const parse = () => (schema.type === "integer" ? parseInt(input.value, 10) : parseFloat(input.value));
  return {
    name, node: fieldShell(name, schema, required, input, id),
    value: () => (touched || required) && input.value !== "" && Number.isFinite(parse()) ? parse() : undefined,
    set: (v) => { input.value = v == null ? "" : String(v); touched = true; },
  };
}

function rangeWidget(name, schema, required, onchange) {
  const id = "f-" + name;
  const step = niceStep(schema);
  const initial = schema.default !== undefined ? schema.default : schema.minimum;
  const slider = el("input", { type: "range", min: schema.minimum, max: schema.maximum, step, value: initial, "aria-label": title(name, schema) });
  const box = el("input", { type: "number", id, name, min: schema.minimum, max: schema.maximum, step,
    value: schema.default !== undefined ? schema.default : "", placeholder: "default" });
  let touched = false;
  slider.addEventListener("input", () => { box.value = slider.value; touched = true; onchange(); });
  box.addEventListener("input", () => { if (box.value !== "") slider.value = box.value; touched = true; onchange(); });
  const parse = () => (schema.type === "integer" ? parseInt(box.value, 10) : parseFloat(box.value));
  return {
    name, node: fieldShell(name, schema, required, el("div", { className: "range" }, slider, box), id),
    value: () => (touched || required) && box.value !== "" && Number.isFinite(parse()) ? parse() : undefined,
    set: (v) => { box.value = v == null ? "" : String(v); if (v != null) slider.value = v; touched = true; },
  };
}

function enumWidget(name, schema, required, onchange) {
  const id = "f-" + name;
  const select = el("select", { id, name });
  if (!required && schema.default === undefined) select.append(el("option", { value: "" }, "(model default)"));
  schema.enum.forEach((v, i) => select.append(el("option", { value: String(i), selected: v === schema.default }, String(v))));
  let touched = false;
  select.addEventListener("change", () => { touched = true; onchange(); });
  return {
    name, node: fieldShell(name, schema, required, select, id),
    value: () => ((touched || required) && select.value !== "" ? schema.enum[Number(select.value)] : undefined),
    set: (v) => { const i = schema.enum.indexOf(v); if (i >= 0) { select.value = String(i); touched = true; } },
  };
}

function booleanWidget(name, schema, required, onchange) {
  const id = "f-" + name;
  const box = el("input", { type: "checkbox", id, name, checked: schema.default === true });
  let touched = false;
  box.addEventListener("change", () => { touched = true; onchange(); });
  const node = el("div", { className: "field", "data-field": name },
    el("label", { className: "check", for: id }, box, title(name, schema)),
    schema.description ? el("div", { className: "hint" }, schema.description) : null,
    el("div", { className: "hint error field-error" }));
  return { name, node, value: () => (touched || required ? box.checked : undefined), set: (v) => { box.checked = !!v; touched = true; } };
}

/** `image_size`-like fields: a named value or an object of bounded numbers ("custom"). */
function anyOfWidget(name, schema, required, onchange) {
  const named = schema.anyOf.find((o) => Array.isArray(o.enum));
  const object = schema.anyOf.find((o) => o.type === "object" && o.properties);
  if (!named && !object) return jsonWidget(name, schema, required, onchange);
  const id = "f-" + name;
  const select = el("select", { id, name });
  select.append(el("option", { value: "" }, "(model default)"));
  (named ? named.enum : []).forEach((v) => select.append(el("option", { value: "n:" + v }, String(v))));
  if (object) select.append(el("option", { value: "custom" }, "custom…"));
  const parts = object ? Object.entries(object.properties).map(([k, s]) =>
    ({ k, s, input: el("input", { type: "number", min: s.minimum, max: s.maximum, step: s.multipleOf || 1, placeholder: k, "aria-label": k }) })) : [];
  const custom = el("div", { className: "range" }, parts.map((p) => p.input));
  const sync = () => { custom.hidden = select.value !== "custom"; };
  select.addEventListener("change", () => { sync(); onchange(); });
  parts.forEach((p) => p.input.addEventListener("input", onchange));
  sync();
  return {
    name, node: fieldShell(name, schema, required, el("div", {}, select, custom), id),
    value: () => {
      if (select.value.startsWith("n:")) return select.value.slice(2);
      if (select.value !== "custom") return undefined;
      const o = {};
      for (const p of parts) if (p.input.value !== "") o[p.k] = Number(p.input.value);
      return o;
    },
    set: (v) => {
      if (typeof v === "string") select.value = "n:" + v;
      else if (v && typeof v === "object") { select.value = "custom"; for (const p of parts) p.input.value = v[p.k] == null ? "" : v[p.k]; }
      sync();
    },
  };
}

function jsonWidget(name, schema, required, onchange) {
  const id = "f-" + name;
  const area = el("textarea", { id, name, placeholder: schema.default !== undefined ? JSON.stringify(schema.default) : "JSON" });
  let touched = false;
  area.addEventListener("input", () => { touched = true; onchange(); });
  return {
    name, node: fieldShell(name, schema, required, area, id),
    value: () => {
      if (!(touched || required) || area.value.trim() === "") return undefined;
      try { return JSON.parse(area.value); } catch (_) { return area.value; }
    },
    set: (v) => { area.value = JSON.stringify(v); touched = true; },
  };
}

/** A file input: drop or pick a file (uploaded through the storage API), or paste a URL. */
function fileWidget(name, schema, required, kind, onchange) {
  const id = "f-" + name;
  const url = el("input", { type: "url", id, name, placeholder: "https://… or drop a file", autocomplete: "off" });
  const picker = el("input", { type: "file", accept: kind + "/*", className: "pick", "data-file-for": name, "aria-label": "Choose a file for " + name });
  const preview = el("div", {});
  const note = el("div", { className: "hint upload-state" });
  const drop = el("div", { className: "drop", "data-drop": name }, `Drop ${kind === "image" ? "an" : "a"} ${kind} here, or choose one: `, picker, preview, note);
  let pending = Promise.resolve();
  const show = (src) => {
    clear(preview);
    if (!src) return;
    preview.append(kind === "video" ? el("video", { src, muted: true, controls: true }) : el("img", { src, alt: "input preview" }));
  };
  const upload = (file) => {
    show(URL.createObjectURL(file));
    note.textContent = `Uploading ${file.name} (${Math.ceil(file.size / 1024)} KiB)…`;
    note.dataset.state = "uploading";
    pending = uploadFile(file).then((fileURL) => {
      url.value = fileURL;
      note.textContent = `Uploaded ${file.name}.`;
      note.dataset.state = "uploaded";
      onchange();
    }, (err) => {
      note.textContent = "Upload failed: " + err.message;
      note.dataset.state = "failed";
      throw err;
    });
    pending.catch(() => {});
  };
  picker.addEventListener("change", () => { if (picker.files && picker.files[0]) upload(picker.files[0]); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (file) upload(file);
  });
  url.addEventListener("input", () => { show(url.value); onchange(); });
  return {
    name, node: fieldShell(name, schema, required, el("div", {}, url, drop), id),
    value: () => (url.value.trim() !== "" ? url.value.trim() : undefined),
    set: (v) => { url.value = v || ""; show(v); },
    pending: () => pending,
  };
}

/** Uploads `file` as fal's JS client does: initiate, then a plain PUT; answers the file's URL. */
async function uploadFile(file) {
  const type = file.type || "application/octet-stream";
  const { json } = await api("/storage/upload/initiate?storage_type=fal-cdn-v3", { method: "POST", body: { content_type: type, file_name: file.name || "upload" } });
  const put = await fetch(localPath(json.upload_url), { method: "PUT", headers: { "Content-Type": type }, body: file });
  if (!put.ok) {
    let body = null;
    try { body = await put.json(); } catch (_) { /* not JSON */ }
    throw new APIError(put.status, body);
  }
  return json.file_url;
}

// MARK: Model page

async function modelPage(endpoint) {
  clear(main).append(el("p", { className: "muted" }, "Loading " + endpoint + "…"));
  const path = "/models/" + endpoint.split("/").map(encodeURIComponent).join("/") + "/openapi.json";
  const { json: doc } = await api(path);
  const schema = inputSchema(doc, endpoint);
  const meta = (doc.info || {})["x-fal-metadata"] || {};
  const category = meta.category || "";
  const properties = schema.properties || {};
  const required = new Set(schema.required || []);
  const order = (schema["x-fal-order-properties"] || []).filter((k) => k in properties);
  for (const k of Object.keys(properties)) if (!order.includes(k)) order.push(k);

  const snippets = snippetPanel(endpoint);
  const refresh = () => snippets.update(collect());
  const widgets = order.map((k) => widgetFor(k, resolve(properties[k], doc), required.has(k), refresh));
  const collect = () => {
    const input = {};
    for (const w of widgets) { const v = w.value(); if (v !== undefined) input[w.name] = v; }
    return input;
  };
  const leading = order.filter((k) => !ADVANCED_FIELDS.includes(k)).slice(0, LEADING_FIELDS);
  const isPrimary = (w) => required.has(w.name) || PRIMARY_FIELDS.includes(w.name) || leading.includes(w.name);
  const advanced = widgets.filter((w) => !isPrimary(w));
  const form = el("form", { id: "model-form", noValidate: true },
    widgets.filter(isPrimary).map((w) => w.node),
    advanced.length ? el("details", { className: "advanced" }, el("summary", {}, `Advanced (${advanced.length})`), advanced.map((w) => w.node)) : null);
  const submit = el("button", { className: "primary", type: "submit", id: "submit" }, category === "text-to-image" ? "Generate" : "Run");
  const cancel = el("button", { type: "button", id: "cancel", disabled: true }, "Cancel");
  const reset = el("button", { type: "button", onclick: () => route() }, "Reset");
  form.append(el("div", { className: "actions" }, submit, cancel, reset));
  // Ctrl/Cmd+Enter in the prompt (or any field) submits, as in most playgrounds.
  form.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); } });
  const run = runPanel(endpoint, cancel);
  const formError = el("p", { className: "error", id: "form-error" });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    formError.textContent = "";
    form.querySelectorAll(".field-error").forEach((n) => { n.textContent = ""; });
    submit.disabled = true;
    try {
      await Promise.all(widgets.map((w) => (w.pending ? w.pending() : null)));
      const input = collect();
      snippets.update(input);
      await run.submit(input);
    } catch (err) {
      if (err instanceof APIError && err.status === 422 && Array.isArray(err.body && err.body.detail)) {
        for (const issue of err.body.detail) {
          const field = (issue.loc || [])[1];
          const slot = field !== undefined && form.querySelector(`[data-field="${CSS.escape(String(field))}"] .field-error`);
          if (slot) slot.textContent = issue.msg; else formError.textContent += `${(issue.loc || []).join(".")}: ${issue.msg}\n`;
        }
      } else if (!(err instanceof APIError && err.status === 401)) {
        formError.textContent = String(err.message || err);
      }
    } finally {
      submit.disabled = false;
    }
  });

  // A re-run from the history fills the form with that request's input.
  const rerun = sessionStorage.getItem(RERUN_STORAGE);
  if (rerun) {
    sessionStorage.removeItem(RERUN_STORAGE);
    try {
      const r = JSON.parse(rerun);
      if (r.endpoint === endpoint) for (const w of widgets) if (r.input[w.name] !== undefined) w.set(r.input[w.name]);
    } catch (_) { /* a stale entry */ }
  }

  clear(main).append(
    el("p", {}, el("a", { href: "/playground" }, "← Models")),
    el("h1", {}, doc.info && doc.info.title ? doc.info.title : endpoint),
    el("p", { className: "muted" }, el("code", {}, endpoint), " · ", el("span", { className: "badge" }, category || "model"), " ", (doc.info || {}).description || ""),
    el("div", { className: "layout" },
      el("section", { className: "panel" }, form, formError),
      el("div", {}, run.node, snippets.node)));
  refresh();

  // `?request=ID` re-attaches to a request (from the history): its status, then its result.
  const watched = new URLSearchParams(location.search).get("request");
  if (watched) {
    const entry = loadHistory().find((h) => h.request_id === watched);
    if (entry) run.attach(entry);
  }
}

// MARK: Run panel: status over SSE, logs, progress, cancel, result

function runPanel(endpoint, cancelButton) {
  const state = el("span", { className: "state", id: "state", "data-state": "" }, "Idle");
  const position = el("span", { className: "muted", id: "queue-position" });
  const requestLabel = el("code", { className: "muted", id: "request-id" });
  const progress = el("progress", { id: "progress", max: 1, hidden: true });
  const logs = el("div", { className: "logs", id: "logs" });
  const result = el("div", { className: "result", id: "result" });
  const node = el("section", { className: "panel" }, el("div", { className: "status" }, state, position, requestLabel), progress, logs, result);
  let current = null;

  cancelButton.addEventListener("click", async () => {
    if (!current) return;
    cancelButton.disabled = true;
    try {
      const { json } = await api(localPath(current.cancel_url), { method: "PUT", accept: [400, 404] });
      position.textContent = json && json.status ? json.status.replace(/_/g, " ").toLowerCase() : "";
    } catch (err) { position.textContent = String(err.message || err); }
  });

  const setState = (text, kind) => { state.textContent = text; state.dataset.state = kind; state.className = "state " + kind; };

  function showStatus(s) {
    if (s.status === "IN_QUEUE") {
      setState("In queue", "IN_QUEUE");
      position.textContent = `position ${s.queue_position}`;
      progress.hidden = false;
      progress.removeAttribute("value");
    } else if (s.status === "IN_PROGRESS") {
      setState("Running", "IN_PROGRESS");
      position.textContent = "";
      progress.hidden = false;
    }
    if (Array.isArray(s.logs)) {
      clear(logs).append(s.logs.map((l) => `${(l.timestamp || "").slice(11, 19)} ${l.level} ${l.message}\n`).join(""));
      logs.scrollTop = logs.scrollHeight;
      // Models report steps in their log lines ("frame 3/40", "step 2/4"): the last such count is the progress.
      for (let i = s.logs.length - 1; i >= 0; i--) {
        const m = /(\d+)\s*\/\s*(\d+)/.exec(s.logs[i].message);
        if (m && Number(m[2]) > 0) { progress.value = Math.min(1, Number(m[1]) / Number(m[2])); break; }
      }
    }
  }

  /** Polls the status once a second: when the stream is refused (429: the key's streams are all open). */
  async function poll(urls) {
    for (;;) {
      const { json } = await api(localPath(urls.status_url) + "?logs=1", { accept: [202] });
      showStatus(json);
      if (json.status === "COMPLETED") return json;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /** Reads the status stream (fetch, so the key can go in a header) until COMPLETED. */
  async function follow(urls, attempt) {
    const response = await fetch(localPath(urls.status_url) + "/stream?logs=1", { headers: authHeaders({ Accept: "text/event-stream" }) });
    if (response.status === 429 || response.status >= 500) return poll(urls);
    if (!response.ok || !response.body) {
      let body = null;
      try { body = await response.json(); } catch (_) { /* not JSON */ }
      throw new APIError(response.status, body);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let last = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
        if (!data) continue;  // a ": ping" comment
        last = JSON.parse(data);
        showStatus(last);
        if (last.status === "COMPLETED") { reader.cancel().catch(() => {}); return last; }
      }
    }
    if (last && last.status === "COMPLETED") return last;
    // The stream ended early (a proxy, a restart): reconnect, then poll if it keeps ending.
    if ((attempt || 0) >= 3) return poll(urls);
    return follow(urls, (attempt || 0) + 1);
  }

  async function watch(entry) {
    current = entry;
    requestLabel.textContent = entry.request_id;
    cancelButton.disabled = false;
    clear(result);
    clear(logs);
    let final;
    try {
      final = await follow(entry);
    } finally {
      cancelButton.disabled = true;
    }
    progress.hidden = true;
    position.textContent = final.metrics && final.metrics.inference_time != null ? `${final.metrics.inference_time.toFixed(2)} s` : "";
    const { status, json } = await api(localPath(entry.response_url), { accept: [400, 404, 422, 500, 503, 504] });
    if (final.error || status >= 400) {
      setState(final.error_type === "request_cancelled" ? "Cancelled" : "Failed", "FAILED");
      result.append(el("p", { className: "error" }, final.error || APIError.describe(status, json)),
        final.error_type ? el("p", { className: "muted" }, final.error_type) : null);
      updateHistory(entry.request_id, { status: "FAILED", error: final.error || APIError.describe(status, json) });
      return;
    }
    renderResult(result, json, entry.input || {});
    setState("Completed", "COMPLETED");
    updateHistory(entry.request_id, { status: "COMPLETED", thumbnail: thumbnailOf(json) });
  }

  return {
    node,
    async submit(input) {
      setState("Submitting", "SUBMITTING");
      const path = "/queue/" + endpoint.split("/").map(encodeURIComponent).join("/");
      let json;
      try {
        ({ json } = await api(path, { method: "POST", body: input }));
      } catch (err) {
        setState("Idle", "");
        throw err;
      }
      const entry = {
        request_id: json.request_id, endpoint, input: historyInput(input), submitted_at: new Date().toISOString(),
        status_url: json.status_url, response_url: json.response_url, cancel_url: json.cancel_url, status: "IN_QUEUE",
      };
      addHistory(entry);
      history.replaceState(null, "", modelHref(endpoint) + "?request=" + encodeURIComponent(json.request_id));
      showStatus(json);
      await watch(Object.assign({}, entry, { input }));
    },
    attach(entry) { watch(entry).catch((err) => { setState("Unknown", "FAILED"); result.append(el("p", { className: "error" }, String(err.message || err))); }); },
  };
}

// MARK: Results

/**
 * Where to load an output file from. Results name files by the server's public address, which
 * need not be the address this page was opened at (localhost and 127.0.0.1, a proxy): the
 * server's own files are loaded from this origin, which the page's CSP allows.
 */
function outputURL(url) {
  if (typeof url !== "string" || url.startsWith("data:")) return url;
  try {
    const u = new URL(url, location.origin);
    return u.pathname.startsWith("/files/") ? location.origin + u.pathname + u.search : url;
  } catch (_) { return url; }
}

function sizeCaption(file) {
  return [file.width && file.height ? `${file.width}×${file.height}` : null, file.content_type, file.file_size ? `${Math.ceil(file.file_size / 1024)} KiB` : null]
    .filter(Boolean).join(" · ");
}

function imageFigure(file, label) {
  return el("figure", {},
    el("a", { href: outputURL(file.url), target: "_blank", rel: "noopener" }, el("img", { src: outputURL(file.url), alt: label || "output", "data-output": "image" })),
    el("figcaption", {}, (label ? label + " · " : "") + sizeCaption(file)));
}

/** Before/after: the output sets the size; the input is drawn over it, clipped at the slider. */
function compare(beforeURL, after) {
  const afterImage = el("img", { src: outputURL(after.url), alt: "after", className: "after", "data-output": "image" });
  const beforeImage = el("img", { src: beforeURL, alt: "before", className: "before" });
  const handle = el("div", { className: "handle" });
  const box = el("div", { className: "compare", id: "compare" }, afterImage, beforeImage, handle,
    el("span", { className: "tag left" }, "before"), el("span", { className: "tag right" }, "after"));
  const slider = el("input", { type: "range", min: 0, max: 100, value: 50, className: "compare-slider", "aria-label": "Before/after" });
  const place = () => {
    const p = Number(slider.value);
    beforeImage.style.clipPath = `inset(0 ${100 - p}% 0 0)`;
    handle.style.left = p + "%";
  };
  // A small output is magnified to the panel's width: keep its pixels sharp rather than blurred.
  afterImage.addEventListener("load", () => box.classList.toggle("magnified", afterImage.naturalWidth < box.clientWidth));
  slider.addEventListener("input", place);
  box.addEventListener("pointermove", (e) => {
    if (e.buttons !== 1) return;
    const r = box.getBoundingClientRect();
    slider.value = String(Math.round(((e.clientX - r.left) / r.width) * 100));
    place();
  });
  place();
  return el("figure", {}, box, slider, el("figcaption", {}, "after · " + sizeCaption(after)));
}

function renderResult(node, out, input) {
  clear(node);
  const o = out || {};
  if (o.video && o.video.url) {
    node.append(el("figure", {}, el("video", { src: outputURL(o.video.url), controls: true, loop: true, "data-output": "video" }), el("figcaption", {}, sizeCaption(o.video))));
  } else if (Array.isArray(o.images) && Array.isArray(o.previews)) {
    // The terrain generator: each heightmap beside its shaded relief.
    o.images.forEach((image, i) => node.append(el("div", { className: "terrain" },
      imageFigure(image, "heightmap"), o.previews[i] ? imageFigure(o.previews[i], "relief") : null)));
  } else if (Array.isArray(o.images)) {
    node.append(el("div", { className: "grid" }, o.images.map((image, i) => imageFigure(image, `image ${i + 1}`))));
  } else if (o.image && o.image.url) {
    node.append(typeof input.image_url === "string" ? compare(input.image_url, o.image) : imageFigure(o.image));
  }
  const extras = [];
  if (o.seed !== undefined) extras.push(`seed ${o.seed}`);
  if (o.timings && o.timings.inference != null) extras.push(`inference ${Number(o.timings.inference).toFixed(2)} s`);
  if (Array.isArray(o.has_nsfw_concepts) && o.has_nsfw_concepts.some(Boolean)) extras.push("some images were flagged by the safety checker");
  if (extras.length) node.append(el("p", { className: "muted" }, extras.join(" · ")));
  node.append(el("details", {}, el("summary", {}, "Response JSON"), el("pre", { className: "json" }, JSON.stringify(out, null, 2))));
}

function thumbnailOf(out) {
  const o = out || {};
  const file = (o.image) || (Array.isArray(o.previews) && o.previews[0]) || (Array.isArray(o.images) && o.images[0]);
  return file && typeof file.url === "string" && !file.url.startsWith("data:") ? outputURL(file.url) : null;
}

// MARK: History (this browser only)

function loadHistory() {
  try { const h = JSON.parse(localStorage.getItem(HISTORY_STORAGE) || "[]"); return Array.isArray(h) ? h : []; } catch (_) { return []; }
}

function saveHistory(entries) {
  try { localStorage.setItem(HISTORY_STORAGE, JSON.stringify(entries.slice(0, HISTORY_LIMIT))); } catch (_) { /* storage full or disabled */ }
}

/** Inline files (data URIs) can be megabytes: the history keeps only a marker for them. */
function historyInput(input) {
  const copy = {};
  for (const [k, v] of Object.entries(input)) copy[k] = typeof v === "string" && v.startsWith("data:") && v.length > 2048 ? "" : v;
  return copy;
}

function addHistory(entry) { saveHistory([entry, ...loadHistory().filter((h) => h.request_id !== entry.request_id)]); }

function updateHistory(id, changes) { saveHistory(loadHistory().map((h) => (h.request_id === id ? Object.assign({}, h, changes) : h))); }

function rerun(entry) {
  sessionStorage.setItem(RERUN_STORAGE, JSON.stringify({ endpoint: entry.endpoint, input: entry.input }));
  location.assign(modelHref(entry.endpoint));
}

function historyPage() {
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

// MARK: Snippets

function pyLiteral(v, indent) {
  const pad = "    ".repeat(indent + 1), end = "    ".repeat(indent);
  if (v === null) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (Array.isArray(v)) return v.length ? "[\n" + v.map((x) => pad + pyLiteral(x, indent + 1)).join(",\n") + ",\n" + end + "]" : "[]";
  if (typeof v === "object") {
    const keys = Object.keys(v);
    return keys.length ? "{\n" + keys.map((k) => pad + JSON.stringify(k) + ": " + pyLiteral(v[k], indent + 1)).join(",\n") + ",\n" + end + "}" : "{}";
  }
  return JSON.stringify(v);
}

function swiftLiteral(v, indent) {
  const pad = "    ".repeat(indent + 1), end = "    ".repeat(indent);
  if (v === null) return "nil";
  if (Array.isArray(v)) return v.length ? "[\n" + v.map((x) => pad + swiftLiteral(x, indent + 1)).join(",\n") + ",\n" + end + "]" : "[]";
  if (typeof v === "object") {
    const keys = Object.keys(v);
    return keys.length ? "[\n" + keys.map((k) => pad + JSON.stringify(k) + ": " + swiftLiteral(v[k], indent + 1)).join(",\n") + ",\n" + end + "]" : "[:]";
  }
  return JSON.stringify(v);
}

function snippetTexts(endpoint, input) {
  const origin = location.origin;
  const host = location.host;
  const https = location.protocol === "https:";
  const json = JSON.stringify(input, null, 2);
  const shellJSON = "'" + json.replace(/'/g, "'\\''") + "'";
  return {
    curl: [
      `curl${https ? ' --cacert "$(peregrine cert)"' : ""} -X POST "${origin}/queue/${endpoint}" \\`,
      `  -H "Authorization: Key $FAL_KEY" \\`,
      `  -H "Content-Type: application/json" \\`,
      `  -d ${shellJSON}`,
      `# then: curl -H "Authorization: Key $FAL_KEY" <status_url>/stream?logs=1  and  <response_url>`,
    ].join("\n"),
    python: [
      `# pip install fal-client==1.0.3`,
      `# export FAL_KEY=<id:secret> FAL_RUN_HOST=${host}/run FAL_QUEUE_RUN_HOST=${host}/queue${https ? ' SSL_CERT_FILE="$(peregrine cert)"' : ""}`,
      `import fal_client`,
      ``,
      `result = fal_client.subscribe(`,
      `    ${JSON.stringify(endpoint)},`,
      `    arguments=${pyLiteral(input, 1)},`,
      `    with_logs=True,`,
      `    on_queue_update=print,`,
      `)`,
      `print(result)`,
    ].join("\n"),
    javascript: [
      `// npm install @fal-ai/client${https ? '   (NODE_EXTRA_CA_CERTS="$(peregrine cert)")' : ""}`,
      `import { fal } from "@fal-ai/client";`,
      ``,
      `fal.config({`,
      `  credentials: process.env.FAL_KEY,`,
      `  proxyUrl: { url: "${origin}/proxy", when: "always" },`,
      `});`,
      `const { data } = await fal.subscribe(${JSON.stringify(endpoint)}, {`,
      `  input: ${JSON.stringify(input, null, 2).replace(/\n/g, "\n  ")},`,
      `  logs: true,`,
      `  onQueueUpdate: (update) => console.log(update.status),`,
      `});`,
      `console.log(data);`,
    ].join("\n"),
    swift: [
      `// .product(name: "Client", package: "Peregrine")`,
      `import Client`,
      `import Foundation`,
      `import ModelKit`,
      ``,
      `let http = try PeregrineClient.makeHTTPClient(trusting: ${https ? '"/path/to/cert.pem"  // peregrine cert' : "nil"})`,
      `let client = PeregrineClient(baseURL: "${origin}", key: ProcessInfo.processInfo.environment["FAL_KEY"], httpClient: http)`,
      `let input: JSONValue = ${swiftLiteral(input, 0)}`,
      `let output = try await client.subscribe(${JSON.stringify(endpoint)}, input: input, logs: true) { print($0.status) }`,
      `print(output)`,
      `try await http.shutdown()`,
    ].join("\n"),
  };
}

function snippetPanel(endpoint) {
  const names = { curl: "curl", python: "Python", javascript: "JavaScript", swift: "Swift" };
  let selected = "curl";
  let texts = snippetTexts(endpoint, {});
  const pre = el("pre", { className: "snippet", id: "snippet" });
  const tabs = el("div", { className: "tabs", role: "tablist" });
  const copy = el("button", { type: "button", className: "copy", onclick: async () => {
    try { await navigator.clipboard.writeText(texts[selected]); copy.textContent = "Copied"; } catch (_) {
      // Clipboard access needs a secure context and permission: select the text instead.
      const range = document.createRange();
      range.selectNodeContents(pre);
      const s = getSelection(); s.removeAllRanges(); s.addRange(range);
      copy.textContent = "Selected";
    }
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  } }, "Copy");
  const draw = () => {
    clear(tabs).append(...Object.entries(names).map(([k, label]) =>
      el("button", { type: "button", className: k === selected ? "active" : "", "data-snippet": k, onclick: () => { selected = k; draw(); } }, label)));
    pre.textContent = texts[selected];
  };
  draw();
  return {
    node: el("section", { className: "panel" }, el("h2", {}, "Call it from code"), tabs, el("div", { className: "snippet-box" }, pre, copy)),
    update(input) { texts = snippetTexts(endpoint, input); draw(); },
  };
}

window.addEventListener("popstate", route);
route();
