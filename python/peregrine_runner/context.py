"""Per-request services given to `Runner.predict`."""

import os
import threading


class RunnerError(Exception):
    """A failure the caller should see, with fal's `error_type` and an HTTP status."""

    def __init__(self, message, error_type="invalid_input", status=None, field=None):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.status = status
        self.field = field

    def event(self):
        e = {"type": "error", "error_type": self.error_type, "message": self.message}
        if self.status is not None:
            e["status"] = self.status
        if self.field is not None:
            e["field"] = list(self.field)
        return e


class Cancelled(Exception):
    """Raised by `Context.check_cancelled()` once Peregrine cancelled the request."""


class Context:
    """Progress, logs, cancellation and files of one request."""

    def __init__(self, request_id, emit, files, output_dir):
        self.request_id = request_id
        self._emit = emit
        self._files = files or {}
        self.output_dir = output_dir
        self._cancelled = threading.Event()

    @property
    def cancelled(self):
        """True once Peregrine asked to cancel this request (POST /cancel)."""
        return self._cancelled.is_set()

    def cancel(self):
        self._cancelled.set()

    def wait_cancelled(self, timeout=None):
        """Blocks until the request is cancelled or `timeout` seconds pass; True if cancelled."""
        return self._cancelled.wait(timeout)

    def check_cancelled(self):
        """Raises `Cancelled` when the request was cancelled; call it between steps."""
        if self._cancelled.is_set():
            raise Cancelled()

    def progress(self, fraction=None, step=None, total=None, message=None):
        """Reports progress; cheap enough to call once per step."""
        e = {"type": "progress"}
        if fraction is not None:
            e["fraction"] = max(0.0, min(1.0, float(fraction)))
        if step is not None:
            e["step"] = int(step)
        if total is not None:
            e["total"] = int(total)
        if message is not None:
            e["message"] = str(message)
        self._emit(e)

    def log(self, message, level="INFO"):
        """Adds a log line to the request's logs (levels: DEBUG, INFO, WARN, ERROR)."""
        self._emit({"type": "log", "level": level, "message": str(message)})

    def input_file(self, field):
        """The file Peregrine fetched for input `field`: a dict with `path`, `content_type`,
        `file_name` and `size`, or None when the field had no file."""
        return self._files.get(field)

    def output_file(self, name, data, content_type, **extra):
        """Writes an output file and returns the reference to put in the output dict;
        Peregrine replaces it with a fal file object (`url`, `content_type`, `file_name`,
        `file_size`, plus `extra` members such as `width` and `height`)."""
        if not name or "/" in name or name in (".", ".."):
            raise ValueError("output file name must be a plain file name")
        with open(os.path.join(self.output_dir, name), "wb") as f:
            f.write(data)
        ref = {"$file": name, "content_type": content_type}
        ref.update(extra)
        return ref
