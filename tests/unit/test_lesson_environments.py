"""Each lesson's environment declares what its notebook imports, so the lesson also runs in a built image
(repo2docker), not only in a venv that happens to see the portal's own packages."""

from __future__ import annotations

import json
import re
import sys

import pytest

from portal.education.lessons import load_lessons
from tests.conftest import ENVS_DIR, LESSONS_DIR

IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][\w.]*)", re.M)
# Packages whose imports name something else, or that other listed packages bring along.
MODULE_PACKAGE = {"dask.distributed": "distributed"}
BROUGHT_BY = {"numpy": {"pandas", "matplotlib", "awkward", "uproot", "scipy"}}


def requirements(env: str) -> set[str]:
    lines = (ENVS_DIR / env / "requirements.txt").read_text().splitlines()
    return {
        re.split(r"[=<>!~\[ ]", line.strip(), maxsplit=1)[0].lower()
        for line in lines
        if line.strip() and not line.startswith("#")
    }


def needed(code: str) -> set[str]:
    out = set()
    for module in IMPORT.findall(code):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names:
            continue
        out.add(MODULE_PACKAGE.get(".".join(module.split(".")[:2]), top).lower())
    if re.search(r"\b(from|read|to)_parquet\b", code):
        out.add("pyarrow")  # awkward and pandas read Parquet through pyarrow
    return out


@pytest.mark.parametrize("lesson", load_lessons(LESSONS_DIR), ids=lambda lesson: lesson.slug)
def test_lesson_environment_declares_the_notebooks_imports(lesson):
    cells = json.loads(lesson.notebook.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    declared = requirements(lesson.spec["environment"])
    missing = {pkg for pkg in needed(code) - declared if not BROUGHT_BY.get(pkg, set()) & declared}
    assert not missing, f"analysis_envs/{lesson.spec['environment']} lacks {sorted(missing)}"
    assert "ipykernel" in declared  # the launched server needs a kernel in the environment itself


def test_the_check_sees_a_missing_package():
    assert needed("import scipy.optimize\nfrom dask.distributed import Client\nak.from_parquet(p)") == {
        "scipy",
        "distributed",
        "pyarrow",
    }
