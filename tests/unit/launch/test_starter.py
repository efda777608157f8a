"""The starter notebook of a dataset launch: valid nbformat 4 naming the dataset's root:// and HTTPS URLs, written
once (a relaunch keeps the person's edits)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from portal.launch.base import FileRef
from portal.launch.starter import dataset_workspace, notebook_name, starter_notebook


def test_the_notebook_is_valid_and_names_the_files() -> None:
    files = [FileRef("a.root", "root://127.0.0.1:1094//data/a.root", "adler32:00000001", 10)]
    nb = starter_notebook(7, "Tiny", "10.5072/x.7", files, ["http://portal.test/record/7/files/a.root"])
    nbformat.validate(nbformat.from_dict(nb))
    text = json.dumps(nb)
    assert "root://127.0.0.1:1094//data/a.root" in text and "http://portal.test/record/7/files/a.root" in text
    assert "uproot.open(ROOT_FILES[0])" in text and "10.5072/x.7" in text


def test_the_workspace_writes_the_notebook_once(tmp_path: Path) -> None:
    prepare = dataset_workspace(7, "Tiny", None, [], [])
    assert prepare(tmp_path) == {"PORTAL_DATASET": "7"}
    target = tmp_path / notebook_name(7)
    target.write_text("edited")
    prepare(tmp_path)
    assert target.read_text() == "edited"
