"""`portal get` against a live portal (and a real XRootD server): parallel downloads, resume after the process is
killed mid-file, damaged local copies refetched, failures named in the exit status, --dry-run, --glob, --index,
root://. The server side is the real portal; a WSGI wrapper only watches requests (and slows one test down)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.app import services_of
from portal.cli import main
from portal.client.download import download
from portal.client.records import list_files
from portal.files.ingest import write_file_index
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.live import live_server
from tests.support.xrootd import require_xrootd, served_tempdir, xrootd_over

PORTAL = Path(sys.executable).parent / "portal"
SMALL = 24  # small files of record 9, 2-40 kB each
BIG = 6_000_000  # bytes of big.bin, the file killed mid-way


class Watch:
    """WSGI middleware: records each download request's Range header and the most requests seen at once;
    with ``delay`` set, sleeps that long per chunk of the body (so a test can kill a client mid-file)."""

    def __init__(self, app):
        self.app = app
        self.ranges: list[str | None] = []
        self.active = 0
        self.most = 0
        self.delay = 0.0
        self.expand = False  # answer record requests with expanded file indices, as CERN's server does
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if self.expand:
            environ["QUERY_STRING"] = environ.get("QUERY_STRING", "").replace("file_indices=summary", "")
        downloading = "/files/" in environ.get("PATH_INFO", "") and "/api/" not in environ["PATH_INFO"]
        if downloading:
            with self.lock:
                self.ranges.append(environ.get("HTTP_RANGE"))
                self.active += 1
                self.most = max(self.most, self.active)
        try:
            if downloading:
                time.sleep(0.02)  # long enough for parallel requests to overlap visibly
            for chunk in self.app(environ, start_response):
                if self.delay:
                    time.sleep(self.delay)
                yield chunk
        finally:
            if downloading:
                with self.lock:
                    self.active -= 1


def write_files(directory: Path, sizes: dict[str, int]) -> dict[str, bytes]:
    rng = random.Random(18)
    directory.mkdir(parents=True, exist_ok=True)
    contents = {}
    for name, size in sizes.items():
        contents[name] = rng.randbytes(size)
        (directory / name).write_bytes(contents[name])
    return contents


def ingest(svc, recid: int, path: str, index_key: str | None = None) -> None:
    report = svc.ingester.ingest_path(svc.storage, path)
    assert not report.errors
    rows = report.file_rows(path)
    if index_key:
        files, index = write_file_index(svc.storage, path, index_key, rows)
        svc.catalog.ingest_files(recid, files, report.distribution(), indices=[index])
    else:
        svc.catalog.ingest_files(recid, rows, report.distribution())


def populate(app, data: Path, tmp_path: Path) -> dict[str, bytes]:
    """Record 9: SMALL small files and big.bin as direct files; record 10: a file index `IDX` of 5 files."""
    svc = services_of(app)
    load_file(svc, write_records(tmp_path / "r.json", [dataset(9), dataset(10)]))
    rng = random.Random(9)
    sizes = {f"small_{i:02d}.bin": rng.randint(2_000, 40_000) for i in range(SMALL)}
    contents = write_files(data / "ds", {**sizes, "big.bin": BIG})
    ingest(svc, 9, "ds")
    write_files(data / "ix", {f"part_{i}.dat": 3_000 + i for i in range(5)})
    ingest(svc, 10, "ix", index_key="IDX")
    return contents


@pytest.fixture
def app_settings(tmp_path):
    # api_expand_file_indices: a record request without `file_indices` expands them (CERN's shape)
    return {"data_dir": str(tmp_path / "data"), "stats_flush_interval": 0.05, "api_expand_file_indices": True}


@pytest.fixture
def portal_server(app, tmp_path):
    contents = populate(app, tmp_path / "data", tmp_path)
    watch = Watch(app.wsgi_app)
    app.wsgi_app = watch
    with live_server(app) as url:
        yield url, watch, contents


def get(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["get", *args])
    return result.exit_code, result.stdout, result.stderr


def test_parallel_download_verifies_every_file_then_skips_complete_ones(portal_server, tmp_path):
    url, watch, contents = portal_server
    out = tmp_path / "out"
    code, stdout, stderr = get("9", "--server", url, "--out", str(out), "--parallel", "8")
    assert code == 0, stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == contents  # no .part left, every byte right
    assert f"{SMALL + 1} downloaded, 0 resumed, 0 skipped" in stdout
    assert watch.most > 1  # requests overlapped: the files really came in parallel
    watch.ranges.clear()
    code, stdout, _ = get("9", "--server", url, "--out", str(out))
    assert code == 0 and f"0 downloaded, 0 resumed, {SMALL + 1} skipped; 0 B fetched" in stdout
    assert watch.ranges == []  # complete files cost no request at all


def test_a_damaged_local_copy_is_detected_and_refetched(portal_server, tmp_path):
    url, _watch, contents = portal_server
    out = tmp_path / "out"
    assert get("9", "--server", url, "--out", str(out))[0] == 0
    damaged = out / "small_03.bin"
    raw = bytearray(damaged.read_bytes())
    raw[100] ^= 0xFF  # same size, other bytes: only the checksum can tell
    damaged.write_bytes(bytes(raw))
    code, stdout, stderr = get("9", "--server", url, "--out", str(out))
    assert code == 0, stderr
    assert f"1 downloaded, 0 resumed, {SMALL} skipped (1 damaged local copies refetched)" in stdout
    assert damaged.read_bytes() == contents["small_03.bin"]


def test_resume_after_the_process_is_killed_mid_file(portal_server, tmp_path):
    url, watch, contents = portal_server
    out = tmp_path / "out"
    part = out / "big.bin.part"
    watch.delay = 0.002  # ~8 kB chunks: a few seconds for big.bin, time enough to kill the client mid-file
    proc = subprocess.Popen(
        [str(PORTAL), "get", "9", "--server", url, "--out", str(out), "--glob", "big.bin"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > 500_000):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    kept = part.stat().st_size
    assert 0 < kept < BIG and not (out / "big.bin").exists()
    watch.delay = 0
    watch.ranges.clear()
    code, stdout, stderr = get("9", "--server", url, "--out", str(out), "--glob", "big.bin")
    assert code == 0, stderr
    assert "0 downloaded, 1 resumed" in stdout
    assert watch.ranges == [f"bytes={kept}-"]  # only the missing bytes were asked for
    assert (out / "big.bin").read_bytes() == contents["big.bin"] and not part.exists()


def test_failures_exit_non_zero_naming_every_failed_file(portal_server, tmp_path):
    url, _watch, contents = portal_server
    data = tmp_path / "data" / "ds"
    (data / "small_01.bin").unlink()  # the server has lost it: 404
    changed = bytearray(contents["small_02.bin"])
    changed[0] ^= 0xFF
    (data / "small_02.bin").write_bytes(bytes(changed))  # the server's copy no longer matches the catalogue
    out = tmp_path / "out"
    code, stdout, stderr = get("9", "--server", url, "--out", str(out))
    assert code == 1
    assert "failed: small_01.bin: HTTP 404" in stderr
    assert "failed: small_02.bin: verification failed: adler32" in stderr
    assert "2 file(s) failed: small_01.bin small_02.bin" in stderr
    assert f"{SMALL - 1} downloaded" in stdout
    assert not (out / "small_02.bin").exists() and not (out / "small_02.bin.part").exists()  # nothing unverified


def test_dry_run_glob_and_index(portal_server, tmp_path):
    url, watch, contents = portal_server
    out = tmp_path / "out"
    code, stdout, _ = get("9", "--server", url, "--out", str(out), "--dry-run")
    total = sum(len(c) for c in contents.values())
    assert code == 0 and f"{SMALL + 1} file(s), " in stdout and f"({total:,} bytes)" in stdout
    assert "small_23.bin" in stdout and not out.exists() and watch.ranges == []
    code, stdout, _ = get("9", "--server", url, "--out", str(out), "--glob", "small_1*.bin")
    assert code == 0 and sorted(p.name for p in out.iterdir()) == [f"small_1{i}.bin" for i in range(10)]
    plan = list_files(url, 10, index="IDX_file_index")
    assert [f.key for f in plan.files] == [f"part_{i}.dat" for i in range(5)] and plan.total_bytes == 15_010
    assert {f.index for f in plan.files} == {"IDX_file_index"}
    watch.expand = True
    assert list_files(url, 10, index="IDX_file_index") == plan  # from `_file_indices[].files` this time
    watch.expand = False
    report = download(plan, tmp_path / "idx", parallel=3)
    assert not report.failed and (tmp_path / "idx" / "part_4.dat").stat().st_size == 3_004
    code, _, stderr = get("10", "--server", url, "--index", "NOPE", "--dry-run")
    assert code == 2 and "no file index 'NOPE'" in stderr and "IDX_file_index" in stderr


@pytest.fixture
def served(tmp_path):
    require_xrootd()
    data = served_tempdir()
    with xrootd_over(data) as server:
        yield server, data
    shutil.rmtree(data.parent, ignore_errors=True)


def test_root_protocol_downloads_and_resumes_through_xrootd(make_app, served, tmp_path):
    server, data = served
    app = make_app(data_dir=str(data), xrootd_url=server.url, xrootd_export="data")
    contents = populate(app, data, tmp_path)
    os.chmod(data / "ds", 0o755)
    for p in (data / "ds").iterdir():
        os.chmod(p, 0o644)  # written after the server started: let the xrootd user read them
    out = tmp_path / "out"
    out.mkdir()
    (out / "big.bin.part").write_bytes(contents["big.bin"][:1_234_567])  # as a killed run leaves it
    with live_server(app) as url:
        plan = list_files(url, 9)
        assert all(f.root_url and f.root_url.startswith(server.url) for f in plan.files)
        code, stdout, stderr = get("9", "--server", url, "--out", str(out), "--protocol", "root", "--parallel", "4")
    assert code == 0, stderr
    assert f"{SMALL} downloaded, 1 resumed" in stdout
    assert {p.name: p.read_bytes() for p in out.iterdir()} == contents
    assert zlib.adler32(contents["big.bin"]) & 0xFFFFFFFF == int(
        next(f for f in plan.files if f.key == "big.bin").checksum.split(":")[1], 16
    )
