"""A release webhook from delivery to published version, next to the floor of its work.

A repository of BENCH_RELEASE_FILES source files (BENCH_RELEASE_KB KiB each, incompressible) on a loopback git
server (git's dumb HTTP from a stdlib server, as the tests use) gets a new tag per run; each run is timed:
  git fetch + archive   a fresh `git fetch` of the tag and `git archive --format=tar.gz` of it, in a subprocess:
                        what any integration must do to get the release's bytes (the floor);
  webhook → version     `POST /api/hooks/github` (signed; answered 202, queued) until a `portal worker` (in this
                        process, polling every 50 ms) processed it: fetch, archive, checksums, CITATION.cff
                        through cffconvert, a new version with its DOI, the delivery's outcome recorded.
The runs are interleaved; the table gives the median and fastest of BENCH_RELEASE_RUNS runs and the ratio of the
medians. Run: `python -m benchmarks release_webhook` (SQLite catalogue in a temporary directory).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RELEASE_RUNS", "5"))
FILES = int(os.environ.get("BENCH_RELEASE_FILES", "50"))
KB = int(os.environ.get("BENCH_RELEASE_KB", "100"))
CFF = """cff-version: 1.2.0
message: Cite it as below.
title: Benchmark fitter
version: "{version}"
date-released: 2026-12-01
authors:
  - family-names: Doe
    given-names: Jane
"""


def _floor(url: str, tag: str, work: Path) -> float:
    repo = Path(tempfile.mkdtemp(dir=work))
    started = time.perf_counter()
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "fetch", "-q", "--no-tags", url, f"refs/tags/{tag}:refs/tags/{tag}"], check=True
    )
    with open(repo / "out.tar.gz", "wb") as out:
        subprocess.run(["git", "-C", str(repo), "archive", "--format=tar.gz", tag], stdout=out, check=True)
    return time.perf_counter() - started


def main() -> None:
    from portal.app import create_app, services_of
    from portal.jobqueue.worker import Worker
    from portal.releases.signatures import github_signature
    from tests.support.gitserver import git_server
    from tests.support.users import bearer, token_for

    with tempfile.TemporaryDirectory() as tmp, git_server(Path(tmp) / "git") as server:
        root = Path(tmp)
        files = {f"src/module_{i}.txt": os.urandom(KB * 512).hex() for i in range(FILES)}
        app = create_app(
            {
                "var_dir": str(root / "var"),
                "releases_git_hosts": "127.0.0.1",
                "releases_allow_http": True,
                "deposit_owners_publish": True,  # the connecting user publishes (a curator otherwise)
            }
        )
        client = app.test_client()
        svc = services_of(app)
        worker = Worker(svc, concurrency=1, poll_interval=0.05).start()
        token = token_for(app, ["deposit:write", "deposit:publish"])
        repo = client.post("/api/repositories", json={"provider": "github", "url": server.url}, headers=bearer(token))
        secret = repo.get_json()["secret"]
        payload = json.loads(
            (Path(__file__).parent.parent / "tests/data/webhooks/github-release-published.json").read_text()
        )
        payload["repository"]["clone_url"] = server.url
        floors, hooks = [], []
        for run in range(RUNS):
            tag = f"v1.{run}.0"
            server.release(tag, {**(files if run == 0 else {}), "CITATION.cff": CFF.format(version=tag[1:])})
            floors.append(_floor(server.url, tag, root))
            payload["release"]["tag_name"] = tag
            body = json.dumps(payload).encode()
            headers = {
                "X-GitHub-Event": "release",
                "X-GitHub-Delivery": f"bench-{run}",
                "X-Hub-Signature-256": github_signature(secret, body),
            }
            started = time.perf_counter()
            resp = client.post("/api/hooks/github", data=body, headers=headers, content_type="application/json")
            assert resp.status_code == 202, resp.get_data(as_text=True)
            ref = f"release.delivery:{resp.get_json()['id']}"
            while (entry := svc.queue.find(ref)) is None or entry.state in ("queued", "running"):
                time.sleep(0.01)
            hooks.append(time.perf_counter() - started)
            assert entry.state == "succeeded", entry.error
        worker.stop(grace=5)
        svc.close()
    size = FILES * KB
    print(f"{FILES} files x {KB} KiB ({size / 1024:.1f} MiB of source), {RUNS} releases, interleaved")
    print(f"{'what':<24}{'median s':>10}{'fastest s':>11}{'ratio':>8}")
    floor = statistics.median(floors)
    for name, times in (("git fetch + archive", floors), ("webhook -> version", hooks)):
        median = statistics.median(times)
        print(f"{name:<24}{median:>10.3f}{min(times):>11.3f}{median / floor:>8.2f}")


if __name__ == "__main__":
    main()
