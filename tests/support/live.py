"""Run a Flask app on a real socket in a background thread (for HTTP clients such as cernopendata-client)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import make_server


@contextmanager
def live_server(app: Flask, port: int = 0) -> Iterator[str]:
    """``port`` 0: any free one; a fixed one when another server (the hub) must know the URL beforehand."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def live_server_for(factory: Callable[[str], Flask]) -> Iterator[str]:
    """Serve the app ``factory(url)`` builds, telling it first the URL it will be served at (for an app whose
    ``base_url`` must be right, such as one registered with an OpenID Connect provider)."""
    server = make_server("127.0.0.1", 0, Flask("not-yet"), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    server.app = factory(url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(5)
