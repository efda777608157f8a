"""`portal records load` and friends, run as a user would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from portal.demo import RECORDS as DEMO_RECORDS

PORTAL = Path(sys.executable).parent / "portal"


def run(args, env):
    return subprocess.run([str(PORTAL), *args], capture_output=True, text=True, env=env, timeout=120)


def test_load_show_version_publish(settings_dict, tmp_path):
    env = {**os.environ, "PORTAL_DATABASE_URL": settings_dict["database_url"], "PORTAL_VAR_DIR": str(tmp_path)}
    demo = DEMO_RECORDS
    first = run(["records", "load", str(demo)], env)
    assert first.returncode == 0, first.stderr
    assert "8 created" in first.stdout
    again = run(["records", "load", str(demo)], env)
    assert "8 unchanged" in again.stdout
    shown = json.loads(run(["records", "show", "90004"], env).stdout)
    assert shown["metadata"]["conceptrecid"] == "90010" and shown["metadata"]["version"] == "1.1.0"
    draft = run(["records", "new-version", "90004"], env)
    assert draft.returncode == 0 and "version 3 of concept 90010" in draft.stdout
    draft_recid = draft.stdout.split()[1]
    published = run(["records", "publish", draft_recid], env)
    assert published.returncode == 0 and f"10.5072/portal.{draft_recid}" in published.stdout
    missing = run(["records", "show", "123"], env)
    assert missing.returncode == 1 and "there is no record 123" in missing.stderr


def test_refused_file_exits_non_zero_and_names_the_field(settings_dict, tmp_path):
    env = {**os.environ, "PORTAL_DATABASE_URL": settings_dict["database_url"], "PORTAL_VAR_DIR": str(tmp_path)}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "recid: 3\ntitle: Bad licence\ntype: {primary: Dataset}\ndate_published: '2020'\n"
        "license: {attribution: 'free for all'}\n"
    )
    result = run(["records", "load", str(bad)], env)
    assert result.returncode == 1
    assert "bad.yaml: record 3: field license.attribution" in result.stderr
