"""Drives a running Peregrine server with fal's official Python client, unchanged.

Configuration comes only from the environment, as a user would set it:
  FAL_KEY, FAL_RUN_HOST=127.0.0.1:PORT/run, FAL_QUEUE_RUN_HOST=127.0.0.1:PORT/queue,
  SSL_CERT_FILE=<server certificate>, PEREGRINE_BASE=https://127.0.0.1:PORT (for JWKS).

The server must serve the test models `peregrine-test/echo`, `peregrine-test/slow` and
`peregrine-test/fail` and allow webhooks to loopback. Exits non-zero on the first failure and
prints one line per check.
"""

import base64
import hashlib
import http.server
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request

import fal_client
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ECHO = "peregrine-test/echo"
SLOW = "peregrine-test/slow"
FAIL = "peregrine-test/fail"
results = []


def check(name, fn):
    started = time.monotonic()
    try:
        fn()
    except Exception as exc:  # report and stop: later checks depend on a sane server
        print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)
        print(f"{sum(results)} passed, 1 failed")
        sys.exit(1)
    results.append(1)
    print(f"ok   {name} ({time.monotonic() - started:.2f}s)", flush=True)


def _hold_file():
    """A path the slow model waits for, and a release that creates it (also after 120 s, so a
    server that never reports anything fails the test instead of hanging it)."""
    path = os.path.join(tempfile.mkdtemp(prefix="peregrine-compat-"), "release")

    def release():
        open(path, "w").close()

    guard = threading.Timer(120, release)
    guard.daemon = True
    guard.start()
    return path, release


def test_subscribe_with_logs_and_updates():
    updates = []
    enqueued = []
    hold, release = _hold_file()

    def on_update(update):
        updates.append(update)
        # The job waits until the client has seen it running with its first log line: the
        # in-progress update is observed whatever the machine's speed.
        if isinstance(update, fal_client.InProgress) and any("holding" in l["message"] for l in (update.logs or [])):
            release()

    out = fal_client.subscribe(
        SLOW,
        arguments={"steps": 4, "step_ms": 10, "hold_file": hold},
        with_logs=True,
        on_enqueue=enqueued.append,
        on_queue_update=on_update,
    )
    assert out["steps_done"] == 4, out
    assert enqueued and isinstance(enqueued[0], str)
    kinds = {type(u).__name__ for u in updates}
    assert "InProgress" in kinds, kinds
    logs = [l for u in updates if isinstance(u, (fal_client.InProgress, fal_client.Completed)) for l in (u.logs or [])]
    assert any("holding" in l["message"] for l in logs), logs
    assert any("step" in l["message"] for l in logs), logs


def test_handle_submit_status_result():
    handle = fal_client.submit(ECHO, arguments={"value": "hello"})
    status = handle.status(with_logs=True)
    assert isinstance(status, (fal_client.Queued, fal_client.InProgress, fal_client.Completed)), status
    result = handle.get()
    assert result["value"] == "hello", result
    final = handle.status(with_logs=True)
    assert isinstance(final, fal_client.Completed), final
    again = fal_client.result(ECHO, handle.request_id)
    assert again == result
    st = fal_client.status(ECHO, handle.request_id, with_logs=False)
    assert isinstance(st, fal_client.Completed)


def test_cancel():
    # Runs far longer than the test (until cancelled): the outcome cannot depend on how fast
    # this machine gets to the cancel.
    handle = fal_client.submit(SLOW, arguments={"steps": 10000, "step_ms": 50})
    deadline = time.monotonic() + 20
    while not isinstance(handle.status(), fal_client.InProgress):
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.05)
    handle.cancel()
    deadline = time.monotonic() + 20
    while True:
        st = handle.status()
        if isinstance(st, fal_client.Completed):
            break
        assert time.monotonic() < deadline, "cancelled job never completed"
        time.sleep(0.05)
    try:
        handle.get()
    except fal_client.FalClientHTTPError as exc:
        assert exc.status_code >= 400
    else:
        raise AssertionError("result of a cancelled request did not raise")


def test_cancel_queued_and_unknown():
    # Holds the only slot until cancelled, so the queued requests are still queued when cancelled.
    blocker = fal_client.submit(SLOW, arguments={"steps": 10000, "step_ms": 50})
    queued = [fal_client.submit(SLOW, arguments={"steps": 1, "step_ms": 1}) for _ in range(3)]
    queued[-1].cancel()
    st = queued[-1].status()
    assert isinstance(st, fal_client.Completed), st
    blocker.cancel()
    for h in queued[:-1]:
        h.get()
    try:
        fal_client.cancel(ECHO, "00000000-0000-0000-0000-000000000000")
    except fal_client.FalClientHTTPError as exc:
        assert exc.status_code == 404, exc.status_code
    else:
        raise AssertionError("cancel of an unknown request did not raise")


def test_run():
    out = fal_client.run(ECHO, arguments={"value": "sync"})
    assert out["value"] == "sync", out


def test_stream():
    hold, release = _hold_file()
    events = []
    for event in fal_client.stream(SLOW, arguments={"steps": 3, "step_ms": 10, "hold_file": hold}):
        events.append(event)
        release()  # the job finishes only after the client has seen an event of it running
    assert len(events) >= 2, events
    assert events[-1]["steps_done"] == 3, events[-1]


def test_failure_reaches_client():
    try:
        fal_client.subscribe(FAIL, arguments={"message": "boom on purpose"})
    except fal_client.FalClientHTTPError as exc:
        assert "boom on purpose" in exc.message, exc.message
    else:
        raise AssertionError("failing model did not raise")
    try:
        fal_client.run(ECHO, arguments={"value": 12})
    except fal_client.FalClientHTTPError as exc:
        assert exc.status_code == 422, exc.status_code
    else:
        raise AssertionError("invalid input did not raise")


def test_webhook_signature():
    received = []
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(200)
            self.end_headers()
            done.set()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        handle = fal_client.submit(ECHO, arguments={"value": "hooked"}, webhook_url=url)
        assert done.wait(30), "webhook never arrived"
    finally:
        server.shutdown()
    headers, body = received[0]
    headers = {k.lower(): v for k, v in headers.items()}
    payload = json.loads(body)
    assert payload["request_id"] == handle.request_id
    assert payload["status"] == "OK" and payload["payload"]["value"] == "hooked", payload
    timestamp = headers["x-fal-webhook-timestamp"]
    assert abs(int(timestamp) - time.time()) < 300
    message = "\n".join([
        headers["x-fal-webhook-request-id"],
        headers["x-fal-webhook-user-id"],
        timestamp,
        hashlib.sha256(body).hexdigest(),
    ]).encode()
    base = os.environ["PEREGRINE_BASE"]
    with urllib.request.urlopen(f"{base}/.well-known/jwks.json") as resp:
        jwks = json.load(resp)
    signature = bytes.fromhex(headers["x-fal-webhook-signature"])
    verified = False
    for key in jwks["keys"]:
        x = key["x"] + "=" * (-len(key["x"]) % 4)
        try:
            Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x)).verify(signature, message)
            verified = True
        except Exception:
            pass
    assert verified, "webhook signature does not verify against the JWKS"


def test_upload_and_data_uri():
    # fal-client hard-codes its storage hosts, so this walks the same two calls it makes
    # (token, then raw upload) against the server, with the client's own header shapes.
    import httpx

    base = os.environ["PEREGRINE_BASE"]
    auth = {"Authorization": f"Key {os.environ['FAL_KEY']}"}
    with httpx.Client(verify=os.environ["SSL_CERT_FILE"]) as http:
        token = http.post(f"{base}/storage/auth/token?storage_type=fal-cdn-v3", headers=auth, json={}).json()
        assert token["token_type"] == "Bearer" and token["expires_at"].endswith("+00:00"), token
        resp = http.post(
            f"{token['base_url']}/files/upload",
            content=b"peregrine upload bytes",
            headers={
                "Authorization": f"Bearer {token['token']}",
                "Content-Type": "text/plain",
                "X-Fal-File-Name": "hello.txt",
            },
        )
        assert resp.status_code == 200, resp.text
        url = resp.json()["access_url"]
    assert url.startswith("https://"), url
    out = fal_client.run(ECHO, arguments={"value": "file", "file_url": url})
    assert out["file_size"] == len(b"peregrine upload bytes"), out
    data_uri = "data:text/plain;base64," + base64.b64encode(b"abc").decode()
    out = fal_client.run(ECHO, arguments={"value": "file", "file_url": data_uri})
    assert out["file_size"] == 3, out


if __name__ == "__main__":
    check("subscribe with logs and queue updates", test_subscribe_with_logs_and_updates)
    check("submit / status / result on a handle", test_handle_submit_status_result)
    check("cancel a running request", test_cancel)
    check("cancel a queued request, unknown id is 404", test_cancel_queued_and_unknown)
    check("run (sync)", test_run)
    check("stream", test_stream)
    check("model failure and invalid input reach the client", test_failure_reaches_client)
    check("webhook signature verifies against JWKS", test_webhook_signature)
    check("upload through the storage API, data URI input", test_upload_and_data_uri)
    print(f"{sum(results)} passed, 0 failed")
