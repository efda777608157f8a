"""The wheelhouse holds only what the portal's own environment lacks, named by requirement line."""

from __future__ import annotations

from importlib import metadata

import pytest

from portal.environments.wheelhouse import requirement_lines, unsatisfied
from portal.errors import Invalid


def test_unsatisfied_requirements(tmp_path):
    have = metadata.version("click")
    req = tmp_path / "requirements.txt"
    req.write_text(f"# comment\nclick=={have}\nclick<0.1\nno-such-package-here==1.0\n\n")
    lines = requirement_lines(req.read_text())
    assert lines == [f"click=={have}", "click<0.1", "no-such-package-here==1.0"]
    assert unsatisfied(lines) == ["click<0.1", "no-such-package-here==1.0"]


def test_bad_requirement_is_named():
    with pytest.raises(Invalid, match="not a requirement"):
        unsatisfied(["not a requirement ((("])
