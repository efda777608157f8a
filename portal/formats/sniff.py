"""Identify a file's format from its first bytes (and, for Parquet, its last four), not from its name."""

from __future__ import annotations

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
EXPECTED_BY_SUFFIX = {
    ".root": "root",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
}


def sniff(head: bytes, tail: bytes = b"") -> str:
    """ "root", "hdf5", "parquet", "csv", "json", "text" or "binary" from the first bytes (and last 4)."""
    if head.startswith(b"root"):
        return "root"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(b"PAR1") and (not tail or tail.endswith(b"PAR1")):
        return "parquet"
    sample = head[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the sample's end is still text
        try:
            text = sample[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return "binary"
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return "json"
    lines = [line for line in text.splitlines()[:5] if line]
    if len(lines) >= 2 and all("," in line for line in lines) and len({line.count(",") for line in lines[:-1]}) == 1:
        return "csv"
    return "text"


def expected_format(name: str) -> str | None:
    """The format a file's name promises, when its suffix names one we inspect."""
    lowered = name.lower()
    for suffix, fmt in EXPECTED_BY_SUFFIX.items():
        if lowered.endswith(suffix):
            return fmt
    return None
