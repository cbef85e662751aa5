// Peregrine playground: copyable snippets of the current input for curl, fal's Python and JS
// clients and the Swift `Client`.
import { el, clear } from "./api.js";

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

export function snippetPanel(endpoint) {
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
