// Peregrine playground: forms generated from a model's input schema.
import { el, clear, api, APIError, localPath } from "./api.js";

// MARK: Schemas

/** Follows `$ref`s into `components.schemas` and merges a lone non-null `anyOf` branch. */
export function resolve(schema, doc, depth) {
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
export function inputSchema(doc, endpoint) {
  const post = ((doc.paths || {})["/" + endpoint] || {}).post || {};
  const media = ((post.requestBody || {}).content || {})["application/json"] || {};
  return resolve(media.schema, doc);
}

export const PRIMARY_FIELDS = ["prompt", "image_url", "video_url", "mask_url"];
/** Never shown unfolded: tuning and transport options. */
export const ADVANCED_FIELDS = ["sync_mode", "tile_size", "output_format", "seed", "loras", "enable_safety_checker"];
/** Besides required and primary fields, this many of the first fields in the schema's order stay unfolded. */
export const LEADING_FIELDS = 3;

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

export function widgetFor(name, schema, required, onchange) {
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
