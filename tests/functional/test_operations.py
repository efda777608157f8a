"""Operations: liveness and readiness (with the reason when a dependency is away, and recovery when it is
back, without restarting the portal), Prometheus metrics that move with downloads and launches, and a
request id carried from the request to the response and the JSON log lines."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal.app import create_app, services_of
from portal.demo.generate import generate
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.postgres import private_postgres


def sample(app, name: str, **labels: str) -> float:
    """The value of one sample of ``/metrics`` (0 when absent)."""
    text = app.test_client().get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_healthz_answers_without_touching_dependencies(make_app):
    app = make_app(storage_backend="down")
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}


def test_readyz_checks_database_storage_and_search(app):
    client = app.test_client()
    not_yet = client.get("/readyz")  # no search snapshot yet: a fresh worker is not ready to search
    assert not_yet.status_code == 503 and not_yet.headers["Retry-After"]
    assert not_yet.get_json()["checks"]["search"]["detail"] == "the search snapshot is still being built"
    services_of(app).search.prepare(refresh_interval=0)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert {name: check["ok"] for name, check in ready.get_json()["checks"].items()} == {
        "database": True,
        "storage": True,
        "search": True,
    }


def test_readyz_names_storage_that_is_down(make_app):
    app = make_app(storage_backend="down")
    services_of(app).search.prepare(refresh_interval=0)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["checks"]["storage"] == {
        "ok": False,
        "detail": "storage server is down",
        "seconds": body["checks"]["storage"]["seconds"],
    }
    assert body["checks"]["database"]["ok"] and "storage: storage server is down" in body["detail"]


def test_readyz_follows_postgresql_going_away_and_coming_back_without_a_restart(tmp_path):
    with private_postgres() as server:
        app = create_app({"database_url": server.url, "var_dir": str(tmp_path / "var")})
        services_of(app).search.prepare(refresh_interval=0)
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        server.stop()
        down = client.get("/readyz")
        assert down.status_code == 503 and down.headers["Retry-After"]
        assert not down.get_json()["checks"]["database"]["ok"] and "database:" in down.get_json()["detail"]
        assert client.get("/healthz").status_code == 200  # alive, only not ready
        server.start()
        assert client.get("/readyz").status_code == 200
        services_of(app).close()


@pytest.fixture
def app_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data"), "launch_builder": "instant", "launch_launcher": "recording"}


def test_metrics_count_requests_downloads_and_launches(app, tmp_path):
    svc = services_of(app)
    generate("tiny", tmp_path / "data" / "ds", formats=("csv",))
    load_file(svc, write_records(tmp_path / "r.json", [dataset(9)]))
    report = svc.ingester.ingest_path(svc.storage, "ds")
    svc.catalog.ingest_files(9, report.file_rows("ds"), report.distribution())
    client = app.test_client()
    before = sample(app, "portal_downloads_total"), sample(app, "portal_download_bytes_total")
    launches = sample(app, "portal_launches_total", kind="env")
    requests = sample(app, "portal_http_requests_total", route="/api/records/<int:recid>", method="GET", status="200")
    assert client.get("/api/records/9").status_code == 200
    body = client.get("/record/9/files/dimuon_pairs.csv").data
    assert b"server ready" in client.get("/launch/env/education/events").get_data()
    assert sample(app, "portal_downloads_total") == before[0] + 1
    assert sample(app, "portal_download_bytes_total") == before[1] + len(body) > before[1]
    assert sample(app, "portal_launches_total", kind="env") == launches + 1
    assert (
        sample(app, "portal_http_requests_total", route="/api/records/<int:recid>", method="GET", status="200")
        == requests + 1
    )
    assert sample(app, "portal_http_request_duration_seconds_count", route="/api/records/<int:recid>") >= 1
    assert sample(app, "portal_queue_depth") == 0 and sample(app, "portal_analysis_jobs", state="done") == 0


def test_request_id_is_kept_or_made_and_stamped_on_json_logs(make_app, capsys):
    app = make_app(log_format="json")

    @app.get("/_log")
    def _log():
        logging.getLogger("portal.test").warning("something happened")
        return "ok"

    client = app.test_client()
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    forged = client.get("/healthz", headers={"X-Request-ID": "x level=ERROR"}).headers["X-Request-ID"]
    assert forged != "x level=ERROR" and len(forged) == 32
    client.get("/_log", headers={"X-Request-ID": "req-42"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert {"message": "something happened", "request_id": "req-42", "level": "WARNING"}.items() <= lines[-1].items()
