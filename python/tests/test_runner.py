"""The runner library over a real Unix socket: python3 -m unittest discover python/tests"""

import http.client
import json
import os
import socket
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from peregrine_runner import Runner, RunnerError  # noqa: E402
from peregrine_runner import server as runner_server  # noqa: E402
from peregrine_runner.png import encode_rgb  # noqa: E402


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("runner")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


class Doubler(Runner):
    def setup(self):
        return {"memory_bytes": 123}

    def predict(self, input, ctx):
        if input.get("x") is None:
            raise RunnerError("x is required", field=["body", "x"])
        ctx.progress(fraction=0.5, step=1, total=2)
        ctx.log("doubling")
        return {"y": input["x"] * 2, "file": ctx.output_file("y.txt", b"data", "text/plain")}


class RunnerServerTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.socket = os.path.join(cls.dir, "r.sock")
        runner_server._Handler.state = runner_server._State(Doubler())
        cls.server = runner_server._Server(cls.socket, runner_server._Handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def call(self, method, path, body=None):
        conn = _UnixConnection(self.socket)
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, data

    def test_setup_then_predict_streams_events(self):
        status, body = self.call("POST", "/setup", {})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["memory_bytes"], 123)
        self.assertTrue(json.loads(self.call("GET", "/health")[1])["ready"])
        out = tempfile.mkdtemp()
        status, body = self.call("POST", "/predict", {"request_id": "a", "input": {"x": 21}, "output_dir": out})
        self.assertEqual(status, 200)
        events = [json.loads(line) for line in body.decode().splitlines()]
        self.assertEqual([e["type"] for e in events], ["progress", "log", "result"])
        self.assertEqual(events[-1]["output"]["y"], 42)
        self.assertEqual(events[-1]["output"]["file"], {"$file": "y.txt", "content_type": "text/plain"})
        with open(os.path.join(out, "y.txt"), "rb") as f:
            self.assertEqual(f.read(), b"data")

    def test_runner_error_is_the_last_line(self):
        self.call("POST", "/setup", {})
        status, body = self.call("POST", "/predict", {"request_id": "b", "input": {}, "output_dir": tempfile.mkdtemp()})
        last = json.loads(body.decode().splitlines()[-1])
        self.assertEqual(last, {"type": "error", "error_type": "invalid_input", "message": "x is required", "field": ["body", "x"]})

    def test_cancel_of_unknown_request(self):
        self.assertEqual(json.loads(self.call("POST", "/cancel", {"request_id": "nope"})[1]), {"cancelled": False})


class PNGTests(unittest.TestCase):
    def test_header_and_size_check(self):
        png = encode_rgb(bytes(2 * 3 * 3), 2, 3)
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(png[16:24], b"\x00\x00\x00\x02\x00\x00\x00\x03")
        with self.assertRaises(ValueError):
            encode_rgb(b"\x00", 2, 3)


if __name__ == "__main__":
    unittest.main()
