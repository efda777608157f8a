"""Data files are read only through portal/formats: no other module of the portal imports a format library."""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[3] / "portal"
LIBRARIES = {"uproot", "h5py", "pyarrow", "fastparquet", "pandas", "csv", "tables"}
#: modules that write result files (histograms as HDF5 and ROOT, a published result's cut flow as CSV) rather
#: than read data, the demo-data generators, and the single-file analysis API, which runs inside an analysis
#: environment where the portal (and so portal.formats) is deliberately not importable
ALLOWED = (
    "portal/formats/",
    "portal/demo/",
    "portal/processing/results.py",
    "portal/processing/evidence.py",
    "portal/processing/analysis_api.py",
)


def test_no_module_outside_portal_formats_imports_a_data_format_library() -> None:
    offenders = []
    for path in sorted(PORTAL.rglob("*.py")):
        rel = path.relative_to(PORTAL.parent).as_posix()
        if rel.startswith(ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{rel}:{node.lineno} {n}" for n in names if n.split(".")[0] in LIBRARIES]
    assert not offenders, "read data through portal.formats instead:\n" + "\n".join(offenders)
