// Peregrine playground: a request's life on the page: status stream, logs, progress, cancel, result.
import { el, clear, api, APIError, authHeaders, localPath, modelHref } from "./api.js";
import { renderResult, thumbnailOf } from "./results.js";
import { addHistory, updateHistory, historyInput } from "./history.js";

// MARK: Run panel: status over SSE, logs, progress, cancel, result

export function runPanel(endpoint, cancelButton) {
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
    const { status, json } = await api(localPath(entry.response_url), { accept: "any" });
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
