"""sample_models/server.py: a session per request in a threaded WSGI server."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

from sample_models.server import serve


def _call(port: int, method: str, path: str, body: str = "") -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body.encode() or None, method=method
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_requests_in_parallel_each_get_their_own_session(db_url: str) -> None:
    """8 clients add users at once, then change their bios; every request's work lands."""
    server = serve(db_url, 0)
    port = server.server_port
    runner = threading.Thread(target=server.serve_forever, daemon=True)
    runner.start()
    try:
        errors: list[BaseException] = []

        def client(i: int) -> None:
            try:
                user = _call(port, "POST", "/users", f"user{i}")
                changed = _call(port, "POST", f"/users/{user['id']}/bio", f"bio {i}")
                assert changed["bio"] == f"bio {i}"
            except BaseException as exc:
                errors.append(exc)

        clients = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        assert errors == []
        users = _call(port, "GET", "/users")
        assert sorted(u["bio"] for u in users) == [f"bio {i}" for i in range(8)]
    finally:
        server.shutdown()
        server.server_close()
