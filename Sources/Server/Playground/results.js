// Peregrine playground: results shown as they should be seen.
import { el, clear } from "./api.js";

// MARK: Results

/**
 * Where to load an output file from. Results name files by the server's public address, which
 * need not be the address this page was opened at (localhost and 127.0.0.1, a proxy): the
 * server's own files are loaded from this origin, which the page's CSP allows.
 */
export function outputURL(url) {
  if (typeof url !== "string") return "";
  try {
    const u = new URL(url, location.origin);
    // Only files and inline data are shown or linked: never a `javascript:` or other scheme.
    if (u.protocol === "data:") return url;
    if (u.protocol !== "https:" && u.protocol !== "http:") return "";
    return u.pathname.startsWith("/files/") ? location.origin + u.pathname + u.search : url;
  } catch (_) { return ""; }
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

export function renderResult(node, out, input) {
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

export function thumbnailOf(out) {
  const o = out || {};
  const file = (o.image) || (Array.isArray(o.previews) && o.previews[0]) || (Array.isArray(o.images) && o.images[0]);
  return file && typeof file.url === "string" && !file.url.startsWith("data:") ? outputURL(file.url) : null;
}
