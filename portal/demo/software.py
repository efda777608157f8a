"""The files of the demo's software record (a release archive of ``sources/zpeak-1.0.0``) and of the environment
record it requires (a ``requirements.txt``), written deterministically: the same bytes on every machine and run.

The archive has the shape of a git release's ``.tar.gz`` (one top folder ``zpeak-1.0.0/`` holding the project), so
the demo's software record is what publishing a tagged release would make; the portal reads its analyses from it.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

SOURCES = Path(__file__).resolve().parent / "sources"
PROJECT = "zpeak-1.0.0"
ARCHIVE = f"{PROJECT}.tar.gz"
SOFTWARE_RECID, ENVIRONMENT_RECID = 90008, 90009
#: what the analysis imports, pinned as analysis_envs/hep-analysis pins them (tests/unit/test_demo_software.py keeps
#: them in step); the XRootD client lets it read the dataset over root:// when the portal serves it so
REQUIREMENTS = (
    "uproot==5.7.7",
    "awkward==2.14.0",
    "hist==2.12.1",
    "xrootd==6.2.1",
    "fsspec-xrootd==0.5.5",
)
#: a fixed modification time for every archive member (2026-11-24T00:00:00Z): the archive's bytes do not depend on
#: when the checkout was made
MTIME = 1795478400


def write_archive(out: Path) -> Path:
    """``out/zpeak-1.0.0.tar.gz``: the project's files in name order, fixed mtime/owner/modes, gzip without a
    timestamp. Written under a temporary name and renamed, never left half-written."""
    root = SOURCES / PROJECT
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            body = path.read_bytes()
            info = tarfile.TarInfo(f"{PROJECT}/{path.relative_to(root).as_posix()}")
            info.size, info.mtime, info.mode = len(body), MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(body))
    target = out / ARCHIVE
    return _write(target, gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0))


def write_requirements(out: Path) -> Path:
    """``out/requirements.txt``: the environment record's repo2docker spec."""
    text = "# Minimal analysis environment: read ROOT files (also over root://) and fill histograms.\n"
    return _write(out / "requirements.txt", (text + "\n".join(REQUIREMENTS) + "\n").encode())


def _write(target: Path, body: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(body)
    partial.replace(target)
    return target


#: demo record -> (its folder under data_dir, what writes its files there)
DEMO_FILES: dict[int, tuple[str, Callable[[Path], Path]]] = {
    ENVIRONMENT_RECID: ("demo-software/zpeak-environment", write_requirements),
    SOFTWARE_RECID: ("demo-software/zpeak", write_archive),
}
