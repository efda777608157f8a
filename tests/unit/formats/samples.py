"""Good and damaged files for the format contract suite: one builder per format, by the format's name.

A format registered in ``portal.formats`` without a builder here fails the contract suite: adding a format means
adding its samples. Damage that a format cannot detect is listed in ``undetected`` with the reason, and the
suite checks what can still be said of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from portal.formats.doubles import FakeFormat


@dataclass(frozen=True)
class Samples:
    """``good``: a good file with ``entries`` entries, a numeric ``column`` (as previews name it) and, for
    processable formats, ``read_columns`` to read. ``damaged``: kind -> a damaged copy that must be refused
    (not sniffed as this format, or refused by ``inspect``). ``undetected``: kind -> why that damage cannot be
    seen (its copy is in ``damaged_anyway``)."""

    good: Path
    entries: int
    column: str
    read_columns: tuple[str, ...] = ()
    damaged: dict[str, Path] = field(default_factory=dict)
    undetected: dict[str, str] = field(default_factory=dict)
    damaged_anyway: dict[str, Path] = field(default_factory=dict)


def _copy(src: Path, out: Path, name: str, data: bytes | None = None) -> Path:
    target = out / name
    if data is None:
        shutil.copyfile(src, target)
    else:
        target.write_bytes(data)
    return target


def _common(good: Path, out: Path, suffix: str) -> dict[str, Path]:
    """Truncated (first half) and empty copies."""
    data = good.read_bytes()
    return {
        "truncated": _copy(good, out, f"truncated{suffix}", data[: len(data) // 2]),
        "empty": _copy(good, out, f"empty{suffix}", b""),
    }


def _garble(data: bytes, start: int, length: int) -> bytes:
    raw = bytearray(data)
    raw[start : start + length] = bytes((0xA5 ^ i) & 0xFF for i in range(length))
    return bytes(raw)


def root(tiny: Path, out: Path) -> Samples:
    good = _copy(tiny / "nanoaod_000.root", out, "good.root")
    damaged = _common(good, out, ".root")
    # the file header after the magic: version, first key, end of file, free segments, directory seek
    damaged["corrupt header"] = _copy(good, out, "header.root", _garble(good.read_bytes(), 4, 60))
    return Samples(good, 5000, "Muon_pt", ("MET_pt", "nMuon", "Muon_pt"), damaged)


def parquet(tiny: Path, out: Path) -> Samples:
    good = _copy(tiny / "nanoaod_000.parquet", out, "good.parquet")
    data = good.read_bytes()
    damaged = _common(good, out, ".parquet")
    # Parquet's header is its footer: the file metadata before the 4-byte length and the closing magic
    footer = int.from_bytes(data[-8:-4], "little")
    damaged["corrupt header"] = _copy(good, out, "header.parquet", _garble(data, len(data) - 8 - footer, 64))
    return Samples(good, 5000, "Muon_pt", ("MET_pt", "nMuon", "Muon_pt"), damaged)


def hdf5(tiny: Path, out: Path) -> Samples:
    good = _copy(tiny / "nanoaod_000.h5", out, "good.h5")
    damaged = _common(good, out, ".h5")
    # the superblock after the 8-byte signature: versions, sizes, base and end-of-file addresses, root group
    damaged["corrupt header"] = _copy(good, out, "header.h5", _garble(good.read_bytes(), 8, 80))
    return Samples(good, 5000, "Events/Muon_pt", ("MET_pt", "nMuon", "Muon_pt"), damaged)


def csv(tiny: Path, out: Path) -> Samples:
    good = _copy(tiny / "dimuon_pairs.csv", out, "good.csv")
    data = good.read_bytes()
    rows = data.count(b"\n") - 1
    common = _common(good, out, ".csv")
    header_end = data.index(b"\n")
    damaged = {
        "empty": common["empty"],
        # a header that is no longer text
        "corrupt header": _copy(good, out, "header.csv", b"\xff\xfe\x00" * (header_end // 3) + data[header_end:]),
    }
    return Samples(
        good,
        rows,
        "pt1",
        damaged=damaged,
        undetected={"truncated": "a CSV file cut short is a shorter CSV file (a last row may lose fields)"},
        damaged_anyway={"truncated": common["truncated"]},
    )


def fake(tiny: Path, out: Path) -> Samples:
    n = 1000
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 4, n)
    columns = {
        "MET_pt": rng.exponential(30, n).round(3).tolist(),
        "nMuon": counts.tolist(),
        "Muon_pt": [rng.exponential(20, int(c)).round(3).tolist() for c in counts],
    }
    good = FakeFormat.write(out / "good.fake", columns, boundaries=[0, 250, 600, n])
    data = good.read_bytes()
    damaged = _common(good, out, ".fake")
    damaged["corrupt header"] = _copy(good, out, "header.fake", data[:6] + b"\x00\x01garbage" + data[20:])
    return Samples(good, n, "Muon_pt", ("MET_pt", "nMuon", "Muon_pt"), damaged)


SAMPLES: dict[str, Callable[[Path, Path], Samples]] = {
    "root": root,
    "parquet": parquet,
    "hdf5": hdf5,
    "csv": csv,
    "fake": fake,
}
