// Peregrine playground: one model's page (form, run panel, snippets).
import { el, clear, main, api, APIError, modelHref } from "./api.js";
import { resolve, inputSchema, widgetFor, PRIMARY_FIELDS, ADVANCED_FIELDS, LEADING_FIELDS } from "./form.js";
import { runPanel } from "./run.js";
import { snippetPanel } from "./snippets.js";
import { loadHistory, RERUN_STORAGE } from "./history.js";
import { route } from "./main.js";

// MARK: Model page

export async function modelPage(endpoint) {
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
  // A fresh form: the page without `?request=`, so no earlier request is re-attached.
  const reset = el("button", { type: "button", onclick: () => { history.replaceState(null, "", modelHref(endpoint)); route(); } }, "Reset");
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
