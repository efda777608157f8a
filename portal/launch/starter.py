"""The starter notebook of a dataset launch: how to read the dataset's files over ``root://`` (uproot, streaming
only what is read) and over HTTPS, with the dataset's own URLs in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from portal.launch.base import FileRef, Prepare

#: files listed in the notebook (the whole fileset is in fileset.json)
LISTED = 20


def notebook_name(recid: int) -> str:
    return f"dataset-{recid}.ipynb"


def _cell(kind: str, source: str) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": source.strip("\n")}
    if kind == "code":
        cell.update({"execution_count": None, "outputs": []})
    return cell


def starter_notebook(recid: int, title: str, doi: str | None, files: list[FileRef], https: list[str]) -> dict[str, Any]:
    """An nbformat 4 notebook for dataset ``recid``: its root:// and HTTPS file URLs, and a cell reading each way."""
    root = [f.uri for f in files if f.uri.startswith("root://")][:LISTED]
    tree = "Events"
    cells = [
        _cell(
            "markdown",
            f"# {title}\n\nRecord {recid}"
            + (f", DOI [{doi}](https://doi.org/{doi})" if doi else "")
            + f". This session's `fileset.json` lists its {len(files)} file(s) with their checksums; the data is "
            "not copied here: it is read where it is stored.",
        ),
        _cell(
            "code",
            "import json\n\nFILESET = json.load(open('fileset.json'))\n"
            f"ROOT_FILES = {json.dumps(root, indent=1)}\n"
            f"HTTPS_FILES = {json.dumps(https[:LISTED], indent=1)}\n"
            "print(len(FILESET['files']), 'files in the fileset')",
        ),
        _cell(
            "markdown",
            "## Over `root://` with uproot\n\nXRootD streams only the branches and entries you read.",
        ),
        _cell(
            "code",
            "import uproot\n\n"
            "if not ROOT_FILES:\n"
            "    print('no file of this dataset is served over root:// here; use HTTPS below')\n"
            "else:\n"
            "    f = uproot.open(ROOT_FILES[0])\n"
            "    print('objects:', f.classnames())\n"
            f"    if '{tree}' in f:\n"
            f"        events = f['{tree}']\n"
            "        print(events.num_entries, 'events in', ROOT_FILES[0])\n"
            "        print('branches:', events.keys()[:10])",
        ),
        _cell(
            "markdown",
            "## Over HTTPS\n\nAny HTTP client works; this downloads the whole file into memory, so keep it for "
            "small files (or use `portal get` for many).",
        ),
        _cell(
            "code",
            "import io\nimport urllib.request\n\n"
            "import uproot\n\n"
            "with urllib.request.urlopen(HTTPS_FILES[0]) as response:\n"
            "    data = response.read()\n"
            "print(len(data), 'bytes from', HTTPS_FILES[0])\n"
            "if HTTPS_FILES[0].endswith('.root'):\n"
            "    f = uproot.open(io.BytesIO(data))\n"
            f"    if '{tree}' in f:\n"
            f"        print(f['{tree}'].num_entries, 'events')",
        ),
    ]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"  # nbformat 4.5 cells carry ids
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def dataset_workspace(recid: int, title: str, doi: str | None, files: list[FileRef], https: list[str]) -> Prepare:
    """A ``prepare`` that writes the starter notebook into the session's directory (kept when it exists: a
    relaunch keeps what the person wrote in it)."""

    def prepare(workdir: Path) -> dict[str, str]:
        target = workdir / notebook_name(recid)
        if not target.exists():
            workdir.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(starter_notebook(recid, title, doi, files, https), indent=1))
        return {"PORTAL_DATASET": str(recid)}

    return prepare
