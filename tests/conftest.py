"""Shared pytest fixtures, and the OpenAI-compatible servers the HTTP clients are tested against.

`scripted_server`: an http.server on loopback whose every request gets the `Reply` a test chose
(rate limits, server errors, dropped connections, slow answers, garbage, several choices); the
judge (test_judge.py) and served generation (test_served_generation.py) are tested against it.
`transformers_server`: `transformers serve` running the embedded model, for their slow tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# The shared sample lives beside the project (/work/shared next to /work/main), not inside it:
# tests/ -> project root -> its parent.
SHARED_GRETEL_SAMPLE = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "gretel_sample_train.jsonl"
)


@pytest.fixture
def shared_gretel_path() -> Path:
    """900 real rows of gretelai/synthetic_text_to_sql; skips where the shared folder is absent."""
    if not SHARED_GRETEL_SAMPLE.is_file():
        pytest.skip(f"shared gretel sample not found at {SHARED_GRETEL_SAMPLE}")
    return SHARED_GRETEL_SAMPLE


@pytest.fixture
def runs(monkeypatch) -> Counter:
    """Every SQL text run on an example database, counted (gold and answers alike)."""
    from sqlgrpo.scoring import rewards
    from sqlgrpo.sql import ExampleDatabase

    counted: Counter = Counter()
    real_run = ExampleDatabase.run

    def spy(self, sql, **kwargs):
        counted[sql] += 1
        return real_run(self, sql, **kwargs)

    rewards.clear_caches()  # the gold is run (once) inside the measured call, not before it
    monkeypatch.setattr(ExampleDatabase, "run", spy)
    return counted


# ------------------------------------------------------------------------------------------
# A scripted OpenAI-compatible server


@dataclass
class Reply:
    status: int = 200
    # The assistant message's text (status 200); a list gives one choice per text.
    content: str | list[str] | None = "ok"
    body: bytes | None = None  # raw body, overriding content
    headers: dict = field(default_factory=dict)
    delay_s: float = 0.0
    usage: tuple[int, int] | None = (10, 5)
    drop: bool = False  # close the connection without answering, as a crashed server does


def completion_body(content: str | list[str], usage: tuple[int, int] | None, model: str = "test-model") -> bytes:
    texts = content if isinstance(content, list) else [content]
    body = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                        for i, text in enumerate(texts)]}
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    return json.dumps(body).encode()


SERVER_POLL_S = 0.02


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping past a client timeout must not block shutdown

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.lock = threading.Lock()
        self.bodies: list[dict] = []  # every request body, in arrival order
        self.authorizations: list[str | None] = []  # the Authorization header of each, in the same order
        self.in_flight = 0
        self.max_in_flight = 0
        # responder(request_index, body) -> Reply; the default answers "ok".
        self.responder: Callable[[int, dict], Reply] = lambda i, body: Reply()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def log_message(self, format, *args):  # keep the test output clean
        pass

    def do_POST(self):
        server = self.server
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw or b"{}")
        with server.lock:
            index = len(server.bodies)
            server.bodies.append(body)
            server.authorizations.append(self.headers.get("Authorization"))
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            if self.path != "/v1/chat/completions":
                reply = Reply(status=404, body=b'{"error": {"message": "unknown path"}}')
            else:
                reply = server.responder(index, body)
            time.sleep(reply.delay_s)
            if reply.drop:
                return  # HTTP/1.0: returning without a response closes the connection
            payload = reply.body if reply.body is not None else (
                completion_body(reply.content, reply.usage) if reply.status == 200
                else json.dumps({"error": {"message": f"scripted {reply.status}"}}).encode())
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test); nothing to answer
        finally:
            with server.lock:
                server.in_flight -= 1


@contextlib.contextmanager
def serving(srv, poll_s: float = SERVER_POLL_S):
    """An HTTP server answering on a thread of its own while the block runs, shut down after."""
    # A short poll interval: shutdown() waits up to one interval, at every test's teardown.
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": poll_s},
                              name=f"test-server-{type(srv).__name__}", daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture
def scripted_server():
    with serving(ScriptedServer()) as srv:
        yield srv


# ------------------------------------------------------------------------------------------
# transformers serve with the embedded model

# The server loads torch and the model; on 2 shared cores that takes 15-60 s.
SERVE_READY_TIMEOUT_S = 240.0
SERVE_POLL_S = 0.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


@pytest.fixture(scope="module")
def transformers_server(tmp_path_factory):
    """`transformers serve` pinned to the embedded model on a free loopback port: (base_url, model id).
    One per test module: starting it takes most of a slow test's time."""
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"transformers serve needs {', '.join(missing)}: pip install -e '.[serving]'")
    from sqlgrpo.llm.models import embedded_checkpoint_dir

    checkpoint = embedded_checkpoint_dir()
    port = _free_port()
    log_path = tmp_path_factory.mktemp("transformers-serve") / "transformers-serve.log"
    command = [str(Path(sys.executable).with_name("transformers")), "serve", "--host", "127.0.0.1",
               "--port", str(port), "--device", "cpu", "--log-level", "info", str(checkpoint)]
    # The model is a local folder; offline mode keeps the server from asking the hub about it.
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVE_READY_TIMEOUT_S
        while _get_json(f"{base}/health") is None:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready after {SERVE_READY_TIMEOUT_S:g} s:\n"
                            f"{log_path.read_text()[-3000:]}")
            time.sleep(SERVE_POLL_S)
        # A server pinned to a model answers 400 to any other model name: ask it for its id.
        models = _get_json(f"{base}/v1/models") or {}
        model_id = models["data"][0]["id"] if models.get("data") else str(checkpoint)
        yield f"{base}/v1", model_id
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


GPU_CHECK_TOOL = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py"


def load_script(path: Path):
    """A script of the repository (tools/, benchmarks/: not part of the package) as a module named
    after its file, loaded once."""
    import importlib.util
    import sys

    name = path.stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_gpu_check():
    """tools/gpu_check.py as a module."""
    return load_script(GPU_CHECK_TOOL)
