"""Fixity audits seen by Prometheus: `/metrics` exports the latest run (time, files checked, findings by kind),
the documented alerts name series that exist, and the scheduled audit (`portal files audit --schedule`, and the
function a job queue calls) writes the report those metrics read."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from portal.app import services_of
from portal.demo.generate import generate
from portal.preservation.schedule import scheduled_audit
from tests.functional.catalog_helpers import dataset, load_file, write_records

BIN = Path(sys.executable).parent
ALERTS = Path(__file__).resolve().parents[2] / "docs" / "prometheus-alerts.yml"


@pytest.fixture
def app_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data"), "stats_enabled": False, "audit_rate": 0.0}


@pytest.fixture
def app(app, tmp_path):
    """Record 9 with the tiny CSV and Parquet samples ingested into it."""
    generate("tiny", tmp_path / "data" / "ds", formats=("csv", "parquet"))
    svc = services_of(app)
    load_file(svc, write_records(tmp_path / "r.json", [dataset(9)]))
    report = svc.ingester.ingest_path(svc.storage, "ds")
    svc.catalog.ingest_files(9, report.file_rows("ds"), report.distribution())
    return app


def scrape(app) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_follow_the_latest_audit(app, make_app, app_settings):
    svc = services_of(app)
    before = scrape(app)
    assert before[("portal_fixity_last_run_timestamp_seconds", ())] == 0  # never audited: the stale alert fires
    assert not [k for k in before if k[0] == "portal_fixity_findings"]

    clean = svc.preservation.audit_files()
    metrics = scrape(app)
    assert metrics[("portal_fixity_files_checked", ())] == clean.files_checked > 0
    assert metrics[("portal_fixity_bytes_read", ())] == clean.bytes_read > 0
    assert abs(metrics[("portal_fixity_last_run_timestamp_seconds", ())] - clean.finished.timestamp()) < 1e-3
    assert metrics[("portal_fixity_last_run_full", ())] == 1
    for kind in ("mismatch", "missing", "unexpected", "unreadable"):
        assert metrics[("portal_fixity_findings", (("kind", kind),))] == 0

    files = sorted(p for p in Path(svc.settings.data_dir).rglob("*") if p.is_file())
    raw = bytearray(files[0].read_bytes())
    raw[len(raw) // 2] ^= 0x01
    files[0].write_bytes(bytes(raw))
    files[1].unlink()
    (files[0].parent / "stray.bin").write_bytes(b"nobody's")
    dirty = svc.preservation.audit_files()
    metrics = scrape(app)
    assert metrics[("portal_fixity_findings", (("kind", "mismatch"),))] == 1
    assert metrics[("portal_fixity_findings", (("kind", "missing"),))] == 1
    assert metrics[("portal_fixity_findings", (("kind", "unexpected"),))] == 1
    assert metrics[("portal_fixity_last_run_timestamp_seconds", ())] == pytest.approx(dirty.finished.timestamp())

    # Another replica (an app built on the same database and var_dir) reports the same run.
    other = scrape(make_app(**app_settings))
    assert other[("portal_fixity_findings", (("kind", "mismatch"),))] == 1


def test_an_unreadable_report_does_not_break_the_scrape(app):
    svc = services_of(app)
    reports = Path(svc.settings.var_dir) / "audits"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "latest.json").write_text("{not json", encoding="utf-8")
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert scrape(app)[("portal_fixity_last_run_timestamp_seconds", ())] == 0


def test_every_alert_names_series_the_portal_exports(app):
    svc = services_of(app)
    svc.preservation.audit_files()
    client = app.test_client()
    client.get("/api/records")  # so the request counters have a series
    families = list(text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)))
    # A labelled counter nobody has incremented yet is declared (HELP, TYPE) without samples: count it too.
    exported = {s.name for f in families for s in f.samples} | {
        f.name + ("_total" if f.type == "counter" else "") for f in families
    }
    rules = [r for group in yaml.safe_load(ALERTS.read_text())["groups"] for r in group["rules"]]
    fixity = [r for r in rules if "fixity" in r["expr"]]
    assert {r["alert"] for r in fixity} >= {"PortalFixityProblems", "PortalFixityAuditStale"}
    for rule in rules:
        for name in re.findall(r"\bportal_[a-z_]+", rule["expr"]):
            assert name in exported, f"alert {rule['alert']} names {name}, which /metrics does not export"


def test_the_scheduled_audit_function_and_command_write_the_report(app, settings_dict):
    svc = services_of(app)
    settings = {**settings_dict, "data_dir": svc.settings.data_dir, "var_dir": svc.settings.var_dir}
    report = scheduled_audit(settings)  # what a job queue calls: plain data in, plain data out
    assert report["ok"] and report["files_checked"] > 0
    assert scrape(app)[("portal_fixity_files_checked", ())] == report["files_checked"]

    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": svc.settings.var_dir,
        "PORTAL_DATA_DIR": svc.settings.data_dir,
        "PORTAL_AUDIT_INTERVAL": "0.2",
    }
    first = scrape(app)[("portal_fixity_last_run_timestamp_seconds", ())]
    time.sleep(0.01)  # so the command's runs finish at a later time than the function's
    done = subprocess.run(
        [str(BIN / "portal"), "files", "audit", "--schedule", "--runs", "2", "--rate", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("0 problem(s)") == 2, done.stdout
    assert scrape(app)[("portal_fixity_last_run_timestamp_seconds", ())] > first
    disabled = subprocess.run(
        [str(BIN / "portal"), "files", "audit", "--schedule"],
        capture_output=True,
        text=True,
        env={**env, "PORTAL_AUDIT_INTERVAL": "0"},
        timeout=60,
    )
    assert disabled.returncode == 1 and "PORTAL_AUDIT_INTERVAL" in disabled.stderr
