"""The runner's HTTP/1.1 server on a Unix socket (protocol version 1)."""

import json
import os
import signal
import socketserver
import sys
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler

from .context import Cancelled, Context, RunnerError


class _State:
    """What the handlers share: the runner, whether setup ran, the requests in flight."""

    def __init__(self, runner):
        self.runner = runner
        self.setup_lock = threading.Lock()
        self.setup_info = None
        self.lock = threading.Lock()
        self.active = {}


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "peregrine-runner/1"
    state = None  # set by serve()

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        # Access logs would drown the runner's own output in Peregrine's log.
        pass

    def address_string(self):
        return "unix"

    # MARK: plumbing

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length == 0:
            return {}
        return json.loads(self.rfile.read(length))

    def _json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # MARK: routes

    def do_GET(self):
        if self.path != "/health":
            return self._json(404, {"error_type": "not_found", "message": self.path})
        st = self.state
        with st.lock:
            active = len(st.active)
        self._json(200, {"status": "ok", "ready": st.setup_info is not None, "protocol": 1, "active": active, "pid": os.getpid()})

    def do_POST(self):
        try:
            body = self._body()
        except (ValueError, UnicodeDecodeError) as e:
            return self._json(400, {"error_type": "invalid_request", "message": "body is not JSON: %s" % e})
        if self.path == "/setup":
            return self._setup()
        if self.path == "/predict":
            return self._predict(body)
        if self.path == "/cancel":
            return self._cancel(body)
        self._json(404, {"error_type": "not_found", "message": self.path})

    def _setup(self):
        st = self.state
        with st.setup_lock:
            if st.setup_info is None:
                try:
                    info = st.runner.setup() or {}
                except RunnerError as e:
                    return self._json(e.status or 500, e.event())
                except Exception as e:  # any failure of the model's own code
                    traceback.print_exc()
                    return self._json(500, {"type": "error", "error_type": "internal_error", "message": "%s: %s" % (type(e).__name__, e)})
                st.setup_info = dict(info)
        self._json(200, dict(st.setup_info, ready=True))

    def _cancel(self, body):
        st = self.state
        with st.lock:
            ctx = st.active.get(body.get("request_id"))
        if ctx is not None:
            ctx.cancel()
        self._json(200, {"cancelled": ctx is not None})

    def _predict(self, body):
        st = self.state
        if st.setup_info is None:
            return self._json(409, {"type": "error", "error_type": "not_ready", "message": "POST /setup first"})
        request_id = str(body.get("request_id") or "")
        output_dir = body.get("output_dir") or tempfile.mkdtemp(prefix="peregrine-runner-")
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        write_lock = threading.Lock()

        def emit(event):
            line = (json.dumps(event) + "\n").encode()
            with write_lock:
                try:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                except OSError:
                    # Peregrine went away: nobody waits for this request any more.
                    ctx.cancel()

        ctx = Context(request_id, emit, body.get("files"), output_dir)
        with st.lock:
            st.active[request_id] = ctx
        try:
            output = st.runner.predict(body.get("input") or {}, ctx)
            final = {"type": "result", "output": output if output is not None else {}}
            if ctx.cancelled:
                final = {"type": "error", "error_type": "cancelled", "message": "request cancelled", "status": 499}
        except Cancelled:
            final = {"type": "error", "error_type": "cancelled", "message": "request cancelled", "status": 499}
        except RunnerError as e:
            final = e.event()
        except Exception as e:  # the model's own bug: report it, keep serving
            ctx.log(traceback.format_exc(), level="ERROR")
            final = {"type": "error", "error_type": "internal_error", "message": "%s: %s" % (type(e).__name__, e)}
        finally:
            with st.lock:
                st.active.pop(request_id, None)
        emit(final)
        with write_lock:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass


def _exit_with_parent(stop):
    """Peregrine holds the write end of our stdin: end of file means it is gone."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    stop(None, None)


def serve(runner, socket_path=None):
    """Serves `runner` on the Unix socket `socket_path` (default `$PEREGRINE_RUNNER_SOCKET`)
    until the process is terminated or Peregrine (the parent holding stdin) exits."""
    path = socket_path or os.environ.get("PEREGRINE_RUNNER_SOCKET")
    if not path:
        sys.exit("peregrine_runner: PEREGRINE_RUNNER_SOCKET is not set")
    if os.path.exists(path):
        os.unlink(path)
    _Handler.state = _State(runner)
    server = _Server(path, _Handler)
    os.chmod(path, 0o600)

    def stop(signum, frame):
        try:
            os.unlink(path)
        except OSError:
            pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    if os.environ.get("PEREGRINE_RUNNER_SOCKET") and not sys.stdin.isatty():
        threading.Thread(target=_exit_with_parent, args=(stop,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop(None, None)
