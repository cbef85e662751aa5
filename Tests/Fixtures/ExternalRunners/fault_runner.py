"""A runner that misbehaves on request, for Peregrine's external-runner tests.

Environment (set by the test's manifest):
  FAULT_STARTUP   "hang" never listens; "exit" exits with status 7 before listening.
  FAULT_MARKS     directory where the runner records what it saw (one empty file per event).

Input `mode`:
  "echo"          progress in 3 steps, echoes `text`, describes the file fetched for `image_url`.
  "file"          returns an output file with the bytes of `text`.
  "crash"         reports progress, then the process dies mid-request.
  "crash_once"    like "crash" the first time it sees `text` (records "crashed-once-<text>"), then
                  like "echo": a retried request crashes on its first attempt only.
  "wait"          reports progress, then waits until cancelled (records "cancelled-<id>").
  "ignore_cancel" reports progress, records cancellation but never stops.
  "fail"          raises a RunnerError (invalid_input, 422).
  "freeze"        reports progress, then hangs, and so does every later health check: alive
                  but not answering.
  "symlink"       returns as its output file a symlink to a file outside its output directory.
  "long_log"      sends a log line of `int(text)` bytes.
  "long_result"   returns a result whose line holds `int(text)` bytes of text.
"""

import hashlib
import os
import sys
import threading

sys.path.insert(0, os.environ["PEREGRINE_PYTHON_LIB"])

from peregrine_runner import Runner, RunnerError, serve  # noqa: E402
from peregrine_runner import server as runner_server  # noqa: E402

startup = os.environ.get("FAULT_STARTUP", "")
if startup == "hang":
    threading.Event().wait()
if startup == "exit":
    sys.stderr.write("fault runner: refusing to start\n")
    sys.stderr.flush()
    os._exit(7)


def mark(name):
    marks = os.environ.get("FAULT_MARKS")
    if marks:
        open(os.path.join(marks, name), "w").close()


class Fault(Runner):
    def setup(self):
        mark("setup-%d" % os.getpid())
        return {"memory_bytes": 1 << 20}

    def predict(self, input, ctx):
        mode = input.get("mode", "echo")
        ctx.progress(fraction=0.25, step=1, total=4, message="started")
        ctx.log("mode %s" % mode)
        if mode == "echo":
            for step in (2, 3):
                ctx.progress(fraction=step / 4.0, step=step, total=4)
            out = {"text": input.get("text", ""), "pid": os.getpid()}
            f = ctx.input_file("image_url")
            if f is not None:
                with open(f["path"], "rb") as fh:
                    data = fh.read()
                out["image"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "content_type": f.get("content_type")}
            return out
        if mode == "file":
            return {"file": ctx.output_file("out.txt", input.get("text", "").encode(), "text/plain", lines=1)}
        if mode == "crash":
            mark("crashed-%d" % os.getpid())
            os._exit(3)
        if mode == "crash_once":
            once = os.path.join(os.environ["FAULT_MARKS"], "crashed-once-%s" % input.get("text", ""))
            if not os.path.exists(once):
                mark("crashed-once-%s" % input.get("text", ""))
                os._exit(3)
            return {"text": input.get("text", ""), "pid": os.getpid()}
        if mode in ("wait", "ignore_cancel"):
            mark("waiting-%s" % ctx.request_id)
            ctx.wait_cancelled()
            mark("cancelled-%s" % ctx.request_id)
            ctx.log("cancel received")
            if mode == "wait":
                ctx.check_cancelled()
            threading.Event().wait()
        if mode == "freeze":
            mark("frozen-%d" % os.getpid())
            runner_server._Handler.do_GET = lambda handler: threading.Event().wait()
            threading.Event().wait()
        if mode == "symlink":
            secret = os.path.join(os.environ["FAULT_MARKS"], "secret.txt")
            with open(secret, "w") as fh:
                fh.write("top secret")
            os.symlink(secret, os.path.join(ctx.output_dir, "leak.txt"))
            return {"file": {"$file": "leak.txt", "content_type": "text/plain"}}
        if mode == "long_log":
            ctx.log("x" * int(input.get("text", "0")))
            return {"text": "logged"}
        if mode == "long_result":
            return {"text": "y" * int(input.get("text", "0"))}
        if mode == "fail":
            raise RunnerError("text must not be empty", error_type="invalid_input", status=422, field=["body", "text"])
        raise RunnerError("unknown mode %r" % mode)


if __name__ == "__main__":
    serve(Fault())
