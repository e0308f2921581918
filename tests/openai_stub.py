"""A real HTTP server on loopback that speaks the OpenAI protocol, for the model paths of the app."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

WORD = re.compile(r"[a-z0-9']+")


def hashed_words(text: str, width: int) -> list[float]:
    """A deterministic bag-of-words vector: texts sharing words point the same way."""
    vector = np.zeros(width, dtype=np.float64)
    for word in WORD.findall(text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % width] += 1.0
    return vector.tolist()


class OpenAIStub:
    """`/v1/embeddings` over loopback; records what it was asked and can be told to fail."""

    def __init__(self, width: int = 64) -> None:
        self.width = width
        self.requests: list[dict] = []
        self.failures: list[int] = []  # status codes to answer with, one per coming request
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, **body})
                if stub.failures:
                    return self._answer(stub.failures.pop(0), {"error": {"message": "told to fail"}})
                if self.path.endswith("/embeddings"):
                    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [{"object": "embedding", "index": i, "embedding": hashed_words(t, stub.width)}
                            for i, t in enumerate(texts)]
                    tokens = sum(len(WORD.findall(t)) for t in texts)
                    return self._answer(200, {"object": "list", "data": data, "model": body["model"],
                                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
                self._answer(404, {"error": {"message": f"no {self.path} here"}})

            def _answer(self, status: int, payload: dict) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "OpenAIStub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
