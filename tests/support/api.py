"""A small synchronous client for the control API of a worker process (stdlib urllib)."""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from .processes import WorkerProcess


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    def __init__(self, base: str, token: str | None) -> None:
        self.base = base
        self.token = token

    @classmethod
    def of(cls, worker: WorkerProcess, token: str | None, timeout_s: float = 60) -> "Api":
        """Wait for the worker's API to listen and be ready; return a client for it."""
        worker.wait_for_log("worker api listening on", timeout_s)
        port = re.search(r"worker api listening on http://127\.0\.0\.1:(\d+)", worker.log())
        assert port is not None
        api = cls(f"http://127.0.0.1:{port.group(1)}", token)
        deadline = time.monotonic() + timeout_s
        while api.call("GET", "/readyz").status != 200:
            assert time.monotonic() < deadline, "API not ready"
            time.sleep(0.2)
        return api

    def call(self, method: str, path: str, body: Any = None, token: str | None = "default",
             raw: bytes | None = None, content_type: str = "application/json") -> Answer:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        tok = self.token if token == "default" else token
        if tok is not None:
            request.add_header("Authorization", f"Bearer {tok}")
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return Answer(resp.status, _decode(resp.read(), resp.headers), dict(resp.headers))
        except urllib.error.HTTPError as err:
            return Answer(err.code, _decode(err.read(), err.headers), dict(err.headers))


def _decode(data: bytes, headers: Any) -> Any:
    if headers.get("Content-Type", "").startswith("application/json") and data:
        return json.loads(data)
    return data.decode("utf-8", "replace")
