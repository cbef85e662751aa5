"""Serve a model to Peregrine from a separate process.

A runner is a small HTTP/1.1 server on a Unix socket (see docs/runner-protocol.md). Subclass
`Runner`, implement `setup()` and `predict()`, and call `serve(MyRunner())`.
"""

from .context import Cancelled, Context, RunnerError
from .runner import Runner
from .server import serve

__all__ = ["Cancelled", "Context", "Runner", "RunnerError", "serve"]

PROTOCOL_VERSION = 1
