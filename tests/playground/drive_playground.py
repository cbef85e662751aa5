#!/usr/bin/env python3
"""Drives the playground in headless Chromium over the DevTools protocol (Python stdlib only).

Run by Tests/ServerTests/PlaygroundBrowserTests.swift against a live server: signs in with an
API key, searches the gallery, opens a model page, uploads a real image through the file input,
submits, waits for the result (events only, under one overall deadline), checks the DOM and
saves a screenshot. Prints one JSON line with what it saw; exits non-zero on any failure.

Chromium is driven through --remote-debugging-pipe: CDP messages are JSON terminated by NUL,
read from the browser's fd 4 and written to its fd 3, so no port or WebSocket is involved.
"""
import argparse
import base64
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time


class Failure(Exception):
    pass


class Browser:
    def __init__(self, chromium, deadline, extra_flags):
        self.deadline = deadline
        self.profile = tempfile.mkdtemp(prefix="peregrine-chromium-")
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # Parked above the fds the child numbers itself, so the dup2s below never clobber them.
        high_r = os.dup2(to_browser_r, 40)
        high_w = os.dup2(from_browser_w, 41)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def wire():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        flags = [
            "--headless=new", "--remote-debugging-pipe", "--user-data-dir=" + self.profile,
            "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--ignore-certificate-errors", "--window-size=1280,1400",
            "--password-store=basic", "--use-mock-keychain",
        ] + extra_flags
        self.log = open(os.path.join(self.profile, "chromium.log"), "wb")
        self.process = subprocess.Popen(
            [chromium] + flags + ["about:blank"], stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            pass_fds=(3, 4), preexec_fn=wire)
        os.close(high_r)
        os.close(high_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def close(self):
        try:
            self.process.terminate()
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
        for fd in (self.to_browser, self.from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()

    def chromium_log(self):
        try:
            with open(os.path.join(self.profile, "chromium.log"), "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _read_message(self):
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise Failure("deadline passed waiting for the browser")
            ready, _, _ = select.select([self.from_browser], [], [], min(left, 5))
            if not ready:
                if self.process.poll() is not None:
                    raise Failure("chromium exited (%s): %s" % (self.process.returncode, self.chromium_log()))
                continue
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise Failure("chromium closed the DevTools pipe: " + self.chromium_log())
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self.to_browser, data)
            data = data[written:]
        while True:
            reply = self._read_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise Failure("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method):
        """The next event named `method` (events seen earlier are consumed first)."""
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method:
                    return self.events.pop(i)
            reply = self._read_message()
            if "method" in reply:
                self.events.append(reply)

    def evaluate(self, expression):
        """Evaluates `expression` in the page, awaiting a promise; answers its JSON value."""
        left = int(max(1, self.deadline - time.monotonic()) * 1000)
        result = self.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True, "timeout": left})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise Failure("page script failed: %s" % (details.get("exception", {}).get("description") or details.get("text")))
        return result.get("result", {}).get("value")


# Resolves with the first value `probe()` answers that is not null, re-checked on every DOM
# change: the page is never polled on a timer, and the driver's deadline bounds the wait.
WAIT_FOR = """
(probe) => new Promise((resolve) => {
  const check = () => { const v = probe(); if (v !== null && v !== undefined) { observer.disconnect(); resolve(v); return true; } return false; };
  const observer = new MutationObserver(check);
  observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  check();
})
"""


def wait_for(browser, probe):
    return browser.evaluate("(%s)(%s)" % (WAIT_FOR, probe))


def navigate(browser, url):
    browser.send("Page.navigate", {"url": url})
    browser.wait_event("Page.loadEventFired")


def cancel_flow(browser, args, seen):
    """Opens the page of a model that holds each request running, submits, watches the running
    state and the model's log line arrive over the status stream, cancels from the page and
    waits for the cancelled end."""
    navigate(browser, args.base + "/playground/models/" + args.endpoint)
    wait_for(browser, "() => document.getElementById('submit')")
    browser.evaluate("(() => { const n = document.getElementById('f-name'); n.value = 'held'; n.dispatchEvent(new Event('input')); "
                     "document.getElementById('submit').click(); })()")
    seen["running"] = wait_for(browser, "() => { const s = document.getElementById('state'); const l = document.getElementById('logs');"
                                        " return s.dataset.state === 'IN_PROGRESS' && l.textContent.includes('waiting for the gate')"
                                        " && !document.getElementById('cancel').disabled ? l.textContent : null; }")
    browser.evaluate("document.getElementById('cancel').click()")
    seen["ended"] = wait_for(browser, "() => { const s = document.getElementById('state'); "
                                      "return s.dataset.state === 'FAILED' || s.dataset.state === 'COMPLETED' ? [s.dataset.state, s.textContent, "
                                      "document.getElementById('result').textContent] : null; }")
    seen["request_id"] = browser.evaluate("document.getElementById('request-id').textContent")
    seen["history"] = browser.evaluate("JSON.parse(localStorage.getItem('peregrine.history') || '[]').map(h => [h.request_id, h.status])")
    shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    with open(args.screenshot, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    seen["screenshot"] = args.screenshot


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--base", required=True, help="server origin, e.g. https://127.0.0.1:8443")
    parser.add_argument("--key", default="", help="API key to sign in with (empty: auth off)")
    parser.add_argument("--flow", choices=["upscale", "cancel"], default="upscale",
                        help="upscale: the whole way to a result; cancel: a request held running, cancelled from the page")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--image")
    parser.add_argument("--scale", type=int)
    parser.add_argument("--expect-width", type=int)
    parser.add_argument("--expect-height", type=int)
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--timeout", type=float, default=150)
    parser.add_argument("--no-sandbox", action="store_true", help="needed when running as root (CI)")
    args = parser.parse_args()

    # The test's hang guard sends SIGTERM: end cleanly so the browser is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    deadline = time.monotonic() + args.timeout
    browser = Browser(args.chromium, deadline, ["--no-sandbox"] if args.no_sandbox else [])
    seen = {}
    try:
        targets = browser.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        browser.session = browser.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False)["sessionId"]
        browser.send("Page.enable")
        browser.send("Runtime.enable")
        browser.send("Log.enable")
        if args.flow == "cancel":
            cancel_flow(browser, args, seen)
            print(json.dumps(seen))
            return

        # 1. The root answers the playground; with auth on it asks for a key first.
        navigate(browser, args.base + "/")
        if args.key:
            wait_for(browser, "() => document.getElementById('api-key')")
            browser.evaluate(
                "(() => { document.getElementById('api-key').value = %s; document.querySelector('.signin form').requestSubmit(); })()"
                % json.dumps(args.key))

        # 2. The gallery lists the model under its category; search narrows the list.
        card = "a.model-card[data-endpoint=%s]" % json.dumps(args.endpoint)
        wait_for(browser, "() => document.querySelector(%s)" % json.dumps(card))
        seen["asked_for_key"] = browser.evaluate("document.getElementById('api-key') !== null")
        # The 401 that sent the page to its sign-in form is expected; any page error from here on is not.
        browser.events.clear()
        seen["gallery_models"] = browser.evaluate("document.querySelectorAll('a.model-card').length")
        seen["gallery_categories"] = browser.evaluate("[...document.querySelectorAll('#gallery h2')].map(h => h.textContent)")
        seen["search_hits"] = browser.evaluate(
            "(() => { const s = document.getElementById('search'); s.value = %s; s.dispatchEvent(new Event('input'));"
            " return document.querySelectorAll('a.model-card').length; })()" % json.dumps(args.endpoint.split("/")[-1]))
        seen["search_miss"] = browser.evaluate(
            "(() => { const s = document.getElementById('search'); s.value = 'no-such-model-xyz'; s.dispatchEvent(new Event('input'));"
            " return document.querySelectorAll('a.model-card').length; })()")
        browser.evaluate(
            "(() => { const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input'));"
            " document.querySelector(%s).click(); })()" % json.dumps(card))
        browser.wait_event("Page.loadEventFired")

        # 3. The model page's form comes from the input schema.
        picker = "input[type=file][data-file-for=image_url]"
        wait_for(browser, "() => document.querySelector(%s)" % json.dumps(picker))
        seen["fields"] = browser.evaluate("[...document.querySelectorAll('#model-form [data-field]')].map(f => f.dataset.field)")
        seen["advanced_folded"] = browser.evaluate("[...document.querySelectorAll('details.advanced [data-field]')].map(f => f.dataset.field)")
        seen["scale_options"] = browser.evaluate("[...document.querySelectorAll('#f-scale option')].map(o => o.textContent)")
        seen["tile_slider"] = browser.evaluate(
            "(() => { const r = document.querySelector('[data-field=tile_size] input[type=range]'); return r ? [Number(r.min), Number(r.max)] : null; })()")

        # 4. A real file through the file input, uploaded by the page through the storage API.
        document = browser.send("DOM.getDocument", {"depth": 0})
        node = browser.send("DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": picker})["nodeId"]
        browser.send("DOM.setFileInputFiles", {"files": [os.path.abspath(args.image)], "nodeId": node})
        upload = wait_for(browser, "() => { const n = document.querySelector('.upload-state'); "
                                   "return n && ['uploaded', 'failed'].includes(n.dataset.state) ? n.dataset.state + ': ' + n.textContent : null; }")
        if not upload.startswith("uploaded"):
            raise Failure("upload: " + upload)
        seen["image_url"] = browser.evaluate("document.getElementById('f-image_url').value")

        # 5. Choose the scale, submit, follow the status stream to the end.
        browser.evaluate(
            "(() => { const s = document.getElementById('f-scale'); s.value = [...s.options].find(o => o.textContent === %s).value;"
            " s.dispatchEvent(new Event('change')); })()" % json.dumps(str(args.scale)))
        seen["snippet_curl"] = browser.evaluate("document.getElementById('snippet').textContent")
        browser.evaluate("document.getElementById('submit').click()")
        seen["state"] = wait_for(browser, "() => { const s = document.getElementById('state'); "
                                          "return s && ['COMPLETED', 'FAILED'].includes(s.dataset.state) ? s.dataset.state : null; }")
        if seen["state"] != "COMPLETED":
            raise Failure("request ended %s: %s" % (seen["state"], browser.evaluate("document.getElementById('result').textContent")))

        # 6. The result as it should be seen: the upscaled image under a before/after slider.
        seen["output"] = browser.evaluate("""
          (async () => {
            const loaded = (image) => image.complete ? Promise.resolve() : new Promise((ok, bad) => {
              image.addEventListener('load', ok);
              image.addEventListener('error', () => bad(new Error(image.src + ' did not load')));
            });
            const img = document.querySelector('#result img[data-output=image]');
            if (!img) return null;
            const before = document.querySelector('#compare img.before');
            await Promise.all([img, before].filter(Boolean).map(loaded));
            return { width: img.naturalWidth, height: img.naturalHeight, src: img.src, compare: !!before,
                     before_width: before ? before.naturalWidth : null };
          })()""")
        seen["request_id"] = browser.evaluate("document.getElementById('request-id').textContent")
        seen["logs"] = browser.evaluate("document.getElementById('logs').textContent")
        seen["history"] = browser.evaluate("JSON.parse(localStorage.getItem('peregrine.history') || '[]').map(h => [h.request_id, h.status])")
        seen["key_in_local_storage"] = browser.evaluate(
            "Object.keys(localStorage).some(k => (localStorage.getItem(k) || '').includes(%s))" % json.dumps(args.key or "\u0000"))

        shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        with open(args.screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        seen["screenshot"] = args.screenshot

        # The other result kinds, drawn by the page's own renderer from outputs shaped like the
        # generators', the terrain model's and the video models' (files from this run).
        seen["renderers"] = browser.evaluate("""
          (async () => {
            const { renderResult } = await import('/playground/results.js');
            const file = { url: document.querySelector('#result img[data-output=image]').src, width: 80, height: 60, content_type: 'image/png' };
            const draw = (out) => { const n = document.createElement('div'); renderResult(n, out, {}); return n; };
            const grid = draw({ images: [file, file, file], seed: 7 });
            const terrain = draw({ images: [file], previews: [file], seed: 1 });
            const video = draw({ video: Object.assign({}, file, { content_type: 'video/mp4' }) });
            return {
              grid: grid.querySelectorAll('.grid figure img').length,
              terrain: [...terrain.querySelectorAll('.terrain figcaption')].map(c => c.textContent.split(' ')[0]),
              video: video.querySelectorAll('video[controls]').length,
            };
          })()""")

        # 7. The history page lists the request; re-run opens the model page with its input.
        navigate(browser, args.base + "/playground/history")
        row = "tr[data-request=%s]" % json.dumps(seen["request_id"])
        seen["history_row"] = wait_for(browser, "() => { const r = document.querySelector(%s); return r ? r.textContent : null; }" % json.dumps(row))
        # The server's history lists it too: with this browser's history cleared the row stays.
        browser.evaluate("localStorage.removeItem('peregrine.history')")
        navigate(browser, args.base + "/playground/history")
        seen["history_source"] = wait_for(browser, "() => { const r = document.querySelector(%s); return r ? r.dataset.source : null; }" % json.dumps(row))
        browser.evaluate("document.querySelector(%s + ' button').click()" % json.dumps(row))
        browser.wait_event("Page.loadEventFired")
        seen["rerun"] = wait_for(browser, "() => { const u = document.getElementById('f-image_url'); const s = document.getElementById('f-scale');"
                                          " return u && u.value ? [u.value, s.options[s.selectedIndex].textContent] : null; }")

        # 8. Drag and drop: a file dropped on the drop zone is uploaded like a picked one.
        seen["dropped"] = browser.evaluate("""
          (async () => {
            const blob = await (await fetch(document.querySelector('#f-image_url').value)).blob();
            const data = new DataTransfer();
            data.items.add(new File([blob], 'dropped.png', { type: 'image/png' }));
            document.querySelector('[data-drop=image_url]').dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
            return true;
          })()""")
        seen["dropped"] = wait_for(browser, "() => { const n = document.querySelector('.upload-state'); "
                                            "return n && ['uploaded', 'failed'].includes(n.dataset.state) ? [n.dataset.state, document.getElementById('f-image_url').value] : null; }")

        # Anything the page logged as an error (a CSP refusal, a failed load, an exception).
        problems = []
        for event in browser.events:
            if event["method"] == "Runtime.exceptionThrown":
                problems.append(event["params"]["exceptionDetails"].get("text", "exception"))
            elif event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error":
                problems.append(event["params"]["entry"].get("text", ""))
        seen["page_errors"] = problems

        output = seen["output"] or {}
        if output.get("width") != args.expect_width or output.get("height") != args.expect_height:
            raise Failure("output image is %sx%s, expected %sx%s" % (output.get("width"), output.get("height"), args.expect_width, args.expect_height))
        print(json.dumps(seen))
    except Failure as failure:
        print(json.dumps(seen))
        print("FAILED: %s" % failure, file=sys.stderr)
        sys.exit(1)
    finally:
        browser.close()


if __name__ == "__main__":
    main()
