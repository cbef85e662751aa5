"""The base class a model implements."""


class Runner:
    """A model served by a runner process.

    `setup()` runs once, when Peregrine asks the runner to load (POST /setup); `predict()` runs
    once per request, possibly on several threads at once (up to the manifest's
    `max_concurrency`), so it must not keep per-request state on `self`.
    """

    def setup(self):
        """Loads weights and prepares caches. May return a dict of extra facts reported to
        Peregrine (for example `{"memory_bytes": n}` for the resident size)."""
        return None

    def predict(self, input, ctx):
        """Runs one request.

        `input` is the validated request body (a dict). `ctx` reports progress and logs, tells
        whether the request was cancelled, gives fetched input files and a directory for output
        files. Returns the output dict; files in it are written with `ctx.output_file()`.
        Raise `RunnerError` for failures the caller should see.
        """
        raise NotImplementedError
