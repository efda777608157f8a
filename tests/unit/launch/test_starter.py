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


def test_a_dataset_opens_by_default_where_uproot_is(tmp_path: Path) -> None:
    from portal.launch.kinds import LaunchContext, dataset_environment

    for name, reqs in (("a-education", "pandas\n"), ("b-hep", "numpy\nuproot==5.7.7\n"), ("c-other", "uproot\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "requirements.txt").write_text(reqs)
    ctx = LaunchContext(catalog=None, storage=None, envs_root=tmp_path, work_dir=tmp_path, lessons=None)  # type: ignore[arg-type]
    assert dataset_environment({"title": "no environment named"}, ctx) == "b-hep"
    assert dataset_environment({"usage": {"description": "analysis_envs/c-other"}}, ctx) == "c-other"
    assert dataset_environment({}, LaunchContext(None, None, tmp_path / "none", tmp_path, None)) is None  # type: ignore[arg-type]
