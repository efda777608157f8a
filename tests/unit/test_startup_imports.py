"""Startup stays light: `portal --help` imports none of the heavy libraries (and the lazily loaded commands keep
their help), and an app serving pages has not imported the libraries only record writes and exports need.
Speed is measured by `benchmarks/cli_startup.py`, never timed here."""

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


APP_START = """
import json, sys
from portal.app import create_app

client = create_app({{"var_dir": {var!r}}}).test_client()
assert client.get("/").status_code == 200 and client.get("/search?q=muon").status_code == 200
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})), file=sys.stderr)
"""


def test_serving_pages_imports_neither_schema_validation_nor_datacite(tmp_path):
    # jsonschema compiles grammars on import when rfc3987-syntax is installed (1-3 s) and datacite builds idutils'
    # tables (~0.4 s): record writes and DataCite exports import them when they first need them.
    proc = subprocess.run(
        [sys.executable, "-c", APP_START.format(var=str(tmp_path / "var"))], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    imported = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert not imported & {"jsonschema", "rfc3987_syntax", "datacite", "idutils"}


def test_a_records_command_imports_neither_the_analysis_engine_nor_dask(tmp_path, monkeypatch):
    # the analysis job service is built on first use (Services.analyses): awkward and hist cost 0.5-1 s, which
    # `portal records …` (run as a subprocess by many tests) does not need
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("PORTAL_DATABASE_URL", raising=False)
    imported = imported_by("records", "show", "1")
    assert "sqlalchemy" in imported  # it did build the services
    assert not imported & {"awkward", "hist", "dask", "distributed", "uproot"}


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
