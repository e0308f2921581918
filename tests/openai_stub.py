"""A real HTTP server on loopback that speaks the OpenAI protocol (embeddings, chat completions, images), for the model paths."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

WORD = re.compile(r"[a-z0-9']+")


def hashed_words(text: str, width: int) -> list[float]:
    """A deterministic bag-of-words vector: texts sharing words point the same way."""
    vector = np.zeros(width, dtype=np.float64)
    for word in WORD.findall(text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % width] += 1.0
    return vector.tolist()


@dataclass
class ChatAnswer:
    """One scripted chat answer: a status, exact content (None: valid JSON for the request's schema), a delay."""

    status: int = 200
    content: str | None = None
    delay: float = 0.0


def count_tokens(text: str) -> int:
    from core.ingest.chunking import count_tokens as tiktoken_count
    return tiktoken_count(text)


def count_message_tokens(message: dict) -> int:
    content = message.get("content") or ""
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return count_tokens(content) + 4  # OpenAI's per-message overhead


def _feature(body: dict) -> str | None:
    if body.get("tools"):
        return "tools"
    return (body.get("response_format") or {}).get("type")


def _schema_of(body: dict) -> dict | None:
    """The JSON schema the request asks for: response_format, a tool, or one written into a message."""
    if body.get("tools"):
        return body["tools"][0]["function"]["parameters"]
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return response_format["json_schema"]["schema"]
    for message in body["messages"]:
        content = message.get("content") or ""
        if isinstance(content, str) and '"properties"' in content:
            try:
                return json.JSONDecoder().raw_decode(content[content.index("{"):])[0]
            except ValueError:
                continue
    return None


SAMPLE = "Ada Lovelace defies the Engine Society to finish her calculating machine in foggy London"


def example_of(schema: dict, root: dict, name: str = "value") -> object:
    """A valid, non-placeholder value for a JSON schema (refs, arrays, objects, bounded strings)."""
    if "$ref" in schema:
        return example_of(root["$defs"][schema["$ref"].split("/")[-1]], root, name)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            options = [s for s in schema[combined] if s.get("type") != "null"] or schema[combined]
            return example_of(options[0], root, name)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        return {key: example_of(sub, root, key) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_of(schema.get("items", {}), root, name) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    text = f"{SAMPLE} ({name})"
    while len(text) < schema.get("minLength", 0):
        text += f" {SAMPLE}"
    return text[:schema.get("maxLength", len(text))].strip()


class OpenAIStub:
    """`/v1/embeddings` over loopback; records what it was asked and can be told to fail."""

    def __init__(self, width: int = 64) -> None:
        self.width = width
        self.requests: list[dict] = []
        self.failures: list[int] = []  # status codes to answer with, one per coming request
        self.chat_script, self.refuse = [], set()
        self.models = ["gpt-4o-mini", "gpt-4o"]  # what GET /v1/models lists
        self.prompt_tokens = self.completion_tokens = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                stub.requests.append({"path": self.path, "method": "GET",
                                      "authorization": self.headers.get("Authorization")})
                if stub.failures:
                    return self._answer(stub.failures.pop(0), {"error": {"message": "told to fail"}})
                if self.path.endswith("/models"):
                    return self._answer(200, {"object": "list", "data": [
                        {"id": model, "object": "model", "created": 0, "owned_by": "stub"} for model in stub.models]})
                self._answer(404, {"error": {"message": f"no {self.path} here"}})

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, **body})
                if stub.failures:
                    return self._answer(stub.failures.pop(0), {"error": {"message": "told to fail"}})
                if self.path.endswith("/chat/completions"):
                    return stub._chat(self, body)
                if self.path.endswith("/images/generations"):
                    return self._answer(200, stub._image(body))
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

    # --- /v1/chat/completions: scriptable answers, tokens counted with tiktoken -------------------------

    chat_script: list  # ChatAnswer per coming chat request; when empty, a valid answer built from the schema
    refuse: set  # request features answered 400, as local servers do: "json_schema", "json_object", "tools"
    responder = None  # optional function(body, schema) -> dict, the default answer's object

    def _chat(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        self.prompt_tokens += sum(count_message_tokens(m) for m in body["messages"])
        feature = _feature(body)
        if feature in self.refuse:  # refused before any scripted answer is used
            return handler._answer(400, {"error": {"message": f"{feature} is not supported by this server",
                                                   "type": "invalid_request_error"}})
        answer = self.chat_script.pop(0) if self.chat_script else ChatAnswer()
        if answer.delay:
            time.sleep(answer.delay)
        if answer.status != 200:
            return handler._answer(answer.status, {"error": {"message": f"scripted {answer.status}"}})
        schema = _schema_of(body)
        content = answer.content if answer.content is not None else json.dumps(
            self.responder(body, schema) if self.responder else example_of(schema or {}, schema or {}))
        completion_tokens = count_tokens(content)
        self.completion_tokens += completion_tokens
        message: dict = {"role": "assistant", "content": content}
        if body.get("tools"):
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": body["tools"][0]["function"]["name"], "arguments": content}}]}
        prompt_tokens = sum(count_message_tokens(m) for m in body["messages"])
        handler._answer(200, {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if body.get("tools") else "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}})

    # --- /v1/images/generations: a real PNG of the asked size, as b64_json ----------------------------------

    def _image(self, body: dict) -> dict:
        import base64
        import io

        from PIL import Image

        width, height = (int(n) for n in body.get("size", "1024x1536").split("x"))
        buffer = io.BytesIO()
        shade = len(self.image_requests()) * 40 % 256  # each answer a different image
        Image.new("RGB", (width, height), (shade, 90, 140)).save(buffer, format="PNG")
        return {"created": 0, "data": [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}]}

    def image_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/images/generations")]

    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def __enter__(self) -> "OpenAIStub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
