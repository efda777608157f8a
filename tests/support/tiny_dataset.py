"""The demo generator's tiny tier as ROOT files (2 files of 5,000 events), the input of every module that runs the
dimuon analysis on real files: generated once per module, in a folder of its own, and removed after it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.demo.generate import generate


def tiny_root_files(tmp_path_factory: pytest.TempPathFactory, folder: str) -> Iterator[list[Path]]:
    """For a module-scoped fixture (``yield from``): the tiny tier's ROOT files, sorted, generated into a new
    temporary folder named after ``folder``; the folder is removed when the fixture ends."""
    out = tmp_path_factory.mktemp(folder)
    generate("tiny", out, formats=("root",))
    yield sorted(out.glob("*.root"))
    shutil.rmtree(out, ignore_errors=True)
