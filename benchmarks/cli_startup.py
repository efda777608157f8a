"""Startup of the `portal` command: `portal --help` next to other command-line tools, and `portal serve` until
it answers next to a bare Flask app under gunicorn.

`--help` comparators, each a fresh process run to completion (the tools of this venv):
  python -c pass      the interpreter alone: the floor of any Python command;
  flask --help        Flask's CLI (click + Flask + Werkzeug), the web framework the portal is built on;
  dask --help         Dask's CLI (click + Dask), a scientific-Python tool with lazy subcommands;
  jupyterhub --help   JupyterHub's CLI (traitlets application), the server the portal launches notebooks on.
The runs are interleaved (one of each in turn) so that other load on the machine hits every command alike; the
table gives the median and the fastest of BENCH_CLI_RUNS runs and the ratio of each median to `portal --help`'s.

`serve` comparators: time from starting the process until `GET /` answers 200, with one gunicorn worker:
  gunicorn hello      a one-route Flask app served by gunicorn: the floor of any Flask app under gunicorn;
  portal serve        the portal on an empty SQLite catalogue (migrated by a first, unmeasured start).
Run: `python -m benchmarks cli_startup`. Env: BENCH_CLI_RUNS (default 15), BENCH_CLI_SERVE_RUNS (default 5; 0
skips the serve part).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

RUNS = int(os.environ.get("BENCH_CLI_RUNS", "15"))
SERVE_RUNS = int(os.environ.get("BENCH_CLI_SERVE_RUNS", "5"))
BIN = Path(sys.executable).parent
HELLO = 'from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.get("/")\ndef home():\n    return "hello"\n'


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_once(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def _serve_once(argv: list[str], cwd: Path, env: dict[str, str], port: int) -> float:
    """Seconds from starting ``argv`` until `GET /` on ``port`` answers 200."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=60).status_code == 200:
                    return time.perf_counter() - started
            except requests.ConnectionError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with status {proc.returncode} before answering")
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def _table(title: str, rows: dict[str, list[float]], reference: str) -> None:
    ref = statistics.median(rows[reference])
    print(f"\n{title}")
    print(f"{'command':22} {'median s':>9} {'fastest s':>10} {'median / ' + reference:>24}")
    for name, times in rows.items():
        median = statistics.median(times)
        print(f"{name:22} {median:9.3f} {min(times):10.3f} {median / ref:23.2f}x")


def bench_help(work: Path) -> None:
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "portal --help": [str(BIN / "portal"), "--help"],
        "flask --help": [str(BIN / "flask"), "--help"],
        "dask --help": [str(BIN / "dask"), "--help"],
        "jupyterhub --help": [str(BIN / "jupyterhub"), "--help"],
    }
    for name, argv in list(commands.items()):
        if not Path(argv[0]).exists():
            print(f"(skipped {name}: {argv[0]} is not installed)")
            del commands[name]
    for argv in commands.values():  # warm the page cache: every command starts from the same state
        _run_once(argv, work)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, argv in commands.items():
            times[name].append(_run_once(argv, work))
    _table(f"--help, {RUNS} runs each, interleaved", times, "portal --help")


def bench_serve(work: Path) -> None:
    (work / "hello.py").write_text(HELLO)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(PORTAL_VAR_DIR=str(work / "var"), PORTAL_PORT=str(port))
    gunicorn = [str(BIN / "gunicorn"), "--workers", "1", "--threads", "2", "--bind", f"127.0.0.1:{port}", "hello:app"]
    commands = {"gunicorn hello": gunicorn, "portal serve": [str(BIN / "portal"), "serve", "--workers", "1"]}
    for argv in commands.values():  # the first start migrates the new database; not measured
        _serve_once(argv, work, env, port)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(SERVE_RUNS):
        for name, argv in commands.items():
            times[name].append(_serve_once(argv, work, env, port))
    _table(f"start until GET / answers, {SERVE_RUNS} runs each, interleaved", times, "portal serve")


def main() -> None:
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)  # outside the checkout: no command finds anything of it on its path
        bench_help(work)
        if SERVE_RUNS:
            bench_serve(work)


if __name__ == "__main__":
    main()
