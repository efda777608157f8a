"""`portal --help` stays light: it imports none of the heavy libraries, and the lazily loaded commands keep their
help (their speed is measured by `benchmarks/cli_startup.py`, never timed here)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from portal.cli import LAZY_COMMANDS, main

# Libraries that cost tenths of a second or more to import; none is needed to print the help.
HEAVY = {
    "awkward",
    "uproot",
    "pyarrow",
    "h5py",
    "numpy",
    "pandas",
    "matplotlib",
    "dask",
    "distributed",
    "hist",
    "sqlalchemy",
    "alembic",
    "flask",
    "jsonschema",
    "datacite",
    "lxml",
    "nbconvert",
    "jupyterhub",
    "repo2docker",
}

IMPORTED_BY = """
import json, sys
from portal.cli import main
try:
    main({args!r})
except SystemExit:
    pass
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})), file=sys.stderr)
"""


def imported_by(*args: str) -> set[str]:
    """The top-level modules a fresh interpreter has imported after running `portal ARGS`."""
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY.format(args=list(args))], capture_output=True, text=True, timeout=120
    )
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["settings", "--help"], ["serve", "--help"], ["env", "--help"]])
def test_help_imports_no_heavy_library(args):
    assert not imported_by(*args) & HEAVY


def test_help_lists_every_command_with_the_help_it_has_when_loaded():
    out = CliRunner().invoke(main, ["--help"]).output
    for name, (module, attribute, _extra, short_help) in LAZY_COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert command.help.strip() == short_help  # the help shown without loading it is the real one
        assert f"  {name} " in out
    for name in ("records", "serve", "stack", "education", "env", "ingest"):
        assert f"  {name} " in out


def test_lazy_command_runs_once_loaded():
    result = CliRunner().invoke(main, ["analysis", "list"])
    assert result.exit_code == 0, result.output
    assert "dimuon" in result.output
