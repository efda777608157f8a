"""A git repository served over HTTP on loopback, as a git host would serve it: a bare repository behind git's
"dumb" HTTP protocol (static files after `git update-server-info`), from a stdlib HTTP server in a thread."""

from __future__ import annotations

import functools
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

IDENTITY = ["-c", "user.name=Release Tester", "-c", "user.email=tester@example.org"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


class GitServer:
    """``url`` is the repository's http:// URL; :meth:`release` commits files and tags them, as a release would."""

    def __init__(self, root: Path, name: str, port: int) -> None:
        self.work = root / "work"
        self.bare = root / "srv" / f"{name}.git"
        self.url = f"http://127.0.0.1:{port}/{name}.git"

    def git(self, *args: str, cwd: Path | None = None) -> str:
        proc = subprocess.run(
            ["git", *IDENTITY, *args], cwd=cwd or self.work, capture_output=True, text=True, check=True
        )
        return proc.stdout.strip()

    def release(self, tag: str, files: dict[str, str]) -> str:
        """Commit ``files`` (path -> text; an empty text deletes the file), tag the commit ``tag`` (annotated,
        as release tools make them), publish to the bare repository; the tagged commit."""
        for path, text in files.items():
            target = self.work / path
            if text:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            else:
                target.unlink(missing_ok=True)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", f"Release {tag}")
        self.git("tag", "-a", tag, "-m", f"Release {tag}")
        self.git("push", "-q", "--tags", str(self.bare), "HEAD:refs/heads/main")
        self.git("update-server-info", cwd=self.bare)
        return self.git("rev-parse", "HEAD")


@contextmanager
def git_server(root: Path, name: str = "fitter") -> Iterator[GitServer]:
    (root / "srv").mkdir(parents=True)
    handler = functools.partial(_Quiet, directory=str(root / "srv"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server = GitServer(root, name, httpd.server_address[1])
    subprocess.run(["git", "init", "-q", "-b", "main", str(server.work)], check=True)
    subprocess.run(["git", "init", "-q", "--bare", str(server.bare)], check=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
