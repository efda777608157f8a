"""Ingest checksum throughput against the read + checksum floor.

Comparators ("floors"): (A) `cat FILES | python -c <zlib.adler32 over stdin>`, one process for all files;
(B) the tightest: a plain in-process `readinto` + `zlib.adler32` loop over each file. Ours: the ingest pass
(`checksum_and_sniff`: size, adler32 and format in one streaming read), then the full ingest (plus
inspection). Page cache warm for all. Target: ours ≥ 0.8 × floor B.
Env: BENCH_INGEST_MIB (default 1024), BENCH_INGEST_FILES (default 8) for random-byte files; or
BENCH_INGEST_DIR=<dir> to measure the files of a directory (e.g. `portal data generate --tier bench`), where
the full ingest also inspects real ROOT/Parquet/HDF5 files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from portal.files.ingest import Ingester
from portal.services import build_formats
from portal.settings import load_settings
from portal.storage.local import LocalStorage

TOTAL_MIB = int(os.environ.get("BENCH_INGEST_MIB", "1024"))
FILES = int(os.environ.get("BENCH_INGEST_FILES", "8"))
DIR = os.environ.get("BENCH_INGEST_DIR", "")
FLOOR = (
    "import sys, zlib\nv = 1\nbuf = bytearray(8 << 20)\nwhile True:\n    n = sys.stdin.buffer.readinto(buf)\n"
    "    if not n: break\n    v = zlib.adler32(memoryview(buf)[:n], v)\nprint(f'{v & 0xffffffff:08x}')\n"
)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(DIR or tmp).resolve()
        if not DIR:
            per_file = TOTAL_MIB * 1024 * 1024 // FILES
            for i in range(FILES):
                with (root / f"part_{i:02d}.bin").open("wb") as fh:
                    block = os.urandom(1 << 20)
                    for _ in range(per_file >> 20):
                        fh.write(block)
        paths = sorted(p for p in root.iterdir() if p.is_file())
        n_files = len(paths)
        total = sum(p.stat().st_size for p in paths)
        for p in paths:  # warm the page cache, so both sides measure CPU + memory bandwidth
            subprocess.run(["cat", str(p)], stdout=subprocess.DEVNULL, check=True)
        t0 = time.perf_counter()
        subprocess.run(
            f'cat {" ".join(map(str, paths))} | {sys.executable} -c "$FLOOR"',
            shell=True,
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "FLOOR": FLOOR},
        )
        t_cat = time.perf_counter() - t0
        t0 = time.perf_counter()
        floor_sums = []
        buf = bytearray(8 << 20)
        view = memoryview(buf)
        for p in paths:
            value = 1
            with p.open("rb", buffering=0) as fh:
                while n := fh.readinto(buf):
                    value = zlib.adler32(view[:n], value)
            floor_sums.append(f"{value & 0xFFFFFFFF:08x}")
        t_floor = time.perf_counter() - t0
        storage = LocalStorage(root)
        ingester = Ingester(build_formats(load_settings()))
        t0 = time.perf_counter()
        ours = [ingester.checksum_and_sniff(storage, p.name)[1] for p in paths]
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = ingester.ingest_path(storage, "")
        t_full = time.perf_counter() - t0
        assert [s.split(":")[1] for s in ours] == floor_sums, "checksums disagree"
        assert not report.errors and len(report.files) == n_files, report.errors
    mb = total / 1e6
    print(f"{n_files} files in {DIR or 'a temp dir'}, {total / 2**20:,.0f} MiB, page cache warm")
    print(f"{'method':<46}{'time':>9}{'MB/s':>10}{'vs floor':>10}")
    print(f"{'floor A: cat | python zlib.adler32':<46}{t_cat:>8.2f}s{mb / t_cat:>10.0f}{t_floor / t_cat:>10.2f}")
    print(f"{'floor B: in-process readinto + adler32':<46}{t_floor:>8.2f}s{mb / t_floor:>10.0f}{1:>10.2f}")
    print(f"{'ours: checksum_and_sniff (one pass)':<46}{t_ours:>8.2f}s{mb / t_ours:>10.0f}{t_floor / t_ours:>10.2f}")
    print(
        f"{'ours: ingest_path (checksum + sniff + inspect)':<46}{t_full:>8.2f}s{mb / t_full:>10.0f}"
        f"{t_floor / t_full:>10.2f}"
    )
    print("target: ours >= 0.80 x floor B")


if __name__ == "__main__":
    main()
