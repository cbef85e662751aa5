// Peregrine playground: plain JavaScript modules over the server's public API (no build step, no
// third-party code). This one routes between the views and holds the account and the gallery.
import { el, clear, main, apiKey, KEY_STORAGE, APIError, api, modelHref } from "./api.js";
import { modelPage } from "./model.js";
import { historyPage } from "./history.js";

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
export function showSignIn(message) {
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

export function route() {
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

window.addEventListener("popstate", route);
route();
