"""Without an optional part (pip extra) the portal still serves its core, and whatever needs the missing part says
which extra to install: HTTP 503 problem+json on the web, one line and exit status 1 in the CLI, no traceback.

The extras are installed here, so each case runs in a fresh interpreter whose imports of them fail, as they would
in an installation without them.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

from portal.extras import EXTRAS

BLOCK = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Uninstalled())
"""

CLI = """
from portal.cli import main
main({args!r})
"""

WEB = """
import json
from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS

app = create_app({settings!r})
services_of(app).catalog.load(read_record_file(RECORDS / "demo-catalogue.yaml"))
client = app.test_client()
out = {{}}
for method, url in {requests!r}:
    response = client.open(url, method=method, json={{"analysis": "dimuon", "dataset": 90001}})
    out[f"{{method}} {{url}}"] = [response.status_code, response.get_data(as_text=True)]
print(json.dumps(out))
"""


def run(code: str, blocked: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK.format(blocked=set(blocked)) + code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PORTAL_VAR_DIR": str(cwd / "var")},
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["analysis", "list"], "processing"),
        (["analysis", "run", "dimuon", "--dataset", "90001"], "processing"),
        (["env", "build", "education"], "launch"),
        (["env", "list"], "launch"),
    ],
)
def test_cli_names_the_missing_extra(tmp_path, args, extra):
    proc = run(CLI.format(args=args), EXTRAS[extra], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"pip install 'portal[{extra}]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_core_serves_and_optional_routes_name_their_extra(tmp_path):
    settings = {"database_url": f"sqlite:///{tmp_path / 'portal.sqlite'}", "var_dir": str(tmp_path / "var")}
    requests = [
        ("GET", "/"),
        ("GET", "/record/90004"),
        ("GET", "/record/90005"),
        ("GET", "/api/records/90001"),
        ("GET", "/education"),
        ("POST", "/api/analyses"),
        ("GET", "/launch/env/education"),
    ]
    proc = run(WEB.format(settings=settings, requests=requests), (*EXTRAS["processing"], *EXTRAS["launch"]), tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for url in ("GET /", "GET /record/90004", "GET /record/90005", "GET /api/records/90001", "GET /education"):
        assert out[url][0] == 200, (url, out[url][1][:2000])
    assert "Launch in JupyterLab" not in out["GET /record/90005"][1]  # no button that could only fail
    status, body = out["POST /api/analyses"]
    assert status == 503 and "pip install 'portal[processing]'" in json.loads(body)["detail"]
    status, body = out["GET /launch/env/education"]
    assert status == 503 and "pip install 'portal[launch]'" in html.unescape(body), body[:2000]
