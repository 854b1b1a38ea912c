"""A session per request: the blog served over HTTP by the standard library (``wsgiref``).

Run it (one thread per request, one ``Database`` shared by all of them)::

    python sample_models/server.py sqlite:///blog.db 8000
    curl localhost:8000/users                      # list users
    curl -X POST localhost:8000/users -d 'Ann'     # add one (email ann@example.org)
    curl localhost:8000/users/1                    # one user
    curl -X POST localhost:8000/users/1/bio -d 'writes about tea'   # change a field

Every request runs in ``with database.transaction() as session:``: loaded, changed and
committed on a connection from the database's pool, rolled back if the handler fails.
What it leaves out: authentication, HTML, and everything a real web framework does.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import Database, IntegrityError
from sample_models.blog import Comment, Post, Tag, User

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _user(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "bio": user.bio}


def make_app(database: Database) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application: a session per request, committed when the handler returns."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size).decode() if size else ""
        try:
            with database.transaction() as session:
                status, payload = _route(session, method, path, body.strip())
        except IntegrityError as exc:
            status, payload = "409 Conflict", {"error": str(exc)}
        data = json.dumps(payload).encode()
        start_response(status, [("Content-Type", "application/json")])
        return [data]

    return app


def _route(session: Any, method: str, path: str, body: str) -> tuple[str, Any]:
    if path == "/users" and method == "GET":
        return "200 OK", [_user(u) for u in session.query(User).order_by("id").find()]
    if path == "/users" and method == "POST" and body:
        user = User(email=f"{body.lower()}@example.org", name=body)
        session.add(user)
        session.flush()  # the key, for the answer
        return "201 Created", _user(user)
    m = re.fullmatch(r"/users/(\d+)(/bio)?", path)
    if m:
        user = session.get(User, int(m.group(1)))
        if user is None:
            return "404 Not Found", {"error": f"no user {m.group(1)}"}
        if m.group(2) and method == "POST":
            user.bio = body
        return "200 OK", _user(user)
    return "404 Not Found", {"error": f"no route {method} {path}"}


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request."""

    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(url: str, port: int) -> ThreadingWSGIServer:
    """A server for the blog database at ``url`` (tables made if missing), not yet running."""
    database = Database(url, [User, Tag, Post, Comment])
    database.migrate()
    return make_server(  # type: ignore[return-value]
        "127.0.0.1", port, make_app(database), ThreadingWSGIServer, QuietHandler
    )


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "sqlite:///blog.db"
    server = serve(url, int(sys.argv[2]) if len(sys.argv) > 2 else 8000)
    print(f"serving {url} on http://127.0.0.1:{server.server_port}")
    server.serve_forever()
