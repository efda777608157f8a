"""A published result as evidence: the files a Derived record carries (histograms as JSON/HDF5/ROOT, the plot, the
cut flow, the input files with their checksums), written to storage before the record names them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from portal.errors import Unavailable
from portal.i18n import N_
from portal.processing import results
from portal.processing.model import Job

#: the folder of the storage that holds published results, one sub-folder per job
DERIVED_FOLDER = "derived"


def result_files(job: Job, inputs: list[dict[str, Any]]) -> list[tuple[str, bytes, str]]:
    """(file name, bytes, description) of every file a published result carries."""
    result = job.result or {}
    out = [
        (
            "histograms.json",
            results.histograms(job, "json")[0],
            "Histograms (exact integer bins), cut flow, provenance",
        ),
        ("histograms.h5", results.histograms(job, "h5")[0], "Histograms as HDF5"),
        ("histograms.root", results.histograms(job, "root")[0], "Histograms as ROOT TH1D"),
        ("plot.png", results.plot(job, "png")[0], "Plot of the main histogram (display bins)"),
        ("plot.svg", results.plot(job, "svg")[0], "Plot of the main histogram (display bins), SVG"),
    ]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["cut", "passed"])
    writer.writerows((cut, n) for cut, n in (result.get("cutflow") or {}).items())
    out.append(("cutflow.csv", buf.getvalue().encode(), "Cut flow"))
    out.append(("inputs.json", json.dumps(inputs, indent=1).encode(), "Input files with their sizes and checksums"))
    return out


def input_files(rows: Iterable[dict[str, Any]], read: list[str], locate: Any) -> list[dict[str, Any]]:
    """The dataset's file rows the job read (``read``: the URIs, as located), as key, URI, size and checksum."""
    wanted = set(read)
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        uri = row.get("uri")
        if not uri:
            continue
        for candidate in (uri, locate(uri)):
            if candidate in wanted and candidate not in found:
                found[candidate] = {
                    "key": row.get("key"),
                    "uri": uri,
                    "size": row.get("size"),
                    "checksum": row.get("checksum"),
                }
    return [found.get(u) or {"key": u.rsplit("/", 1)[-1], "uri": u, "size": None, "checksum": None} for u in read]


def write_files(storage: Any, folder: str, files: list[tuple[str, bytes, str]]) -> tuple[list[dict[str, Any]], Path]:
    """Write ``files`` into ``folder`` of the local ``storage`` (each under a temporary name, then renamed) and
    return their file rows (key, URI, size, adler32 checksum, SHA-256 in the description) and the folder's path.
    Unavailable when the storage has no local directory (results cannot be written to a remote XRootD)."""
    base = storage.local_path(folder) if storage is not None else None
    if base is None:
        raise Unavailable(N_("publishing result files needs a local storage directory (PORTAL_STORAGE_BACKEND=local)"))
    target = Path(base)
    target.mkdir(parents=True, exist_ok=False)
    rows = []
    for name, body, description in files:
        path = target / name
        tmp = path.with_name(name + ".part")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        rel = f"{folder}/{name}"
        rows.append(
            {
                "key": name,
                "uri": storage.root_url(rel) or f"file://{path}",
                "size": len(body),
                "checksum": f"adler32:{zlib.adler32(body) & 0xFFFFFFFF:08x}",
                "description": f"{description} (sha256:{hashlib.sha256(body).hexdigest()})",
            }
        )
    return rows, target


def remove_folder(path: Path) -> None:
    """Undo :func:`write_files` when the record could not be stored: nothing half-published stays behind."""
    shutil.rmtree(path, ignore_errors=True)
