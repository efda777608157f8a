"""Fixtures of the format tests: ``tiny``, one generated tiny tier (ROOT, Parquet, HDF5 and the CSV sample)
shared by the session; ``formats``, the registered formats as the services build them."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.demo.generate import generate
from portal.formats.collection import Formats
from tests.support.formats import registered_formats


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("formats")
    generate("tiny", out)
    return out


@pytest.fixture(scope="session")
def formats() -> Formats:
    return registered_formats()
