"""The OpenAPI document describes what the API really answers: real responses validate against it."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from portal.app import services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate


@pytest.fixture
def app_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data"), "curator_token": "t"}


@pytest.fixture
def app(app, tmp_path):
    generate("tiny", tmp_path / "data" / "ds", formats=("root", "csv"))
    svc = services_of(app)
    svc.catalog.load(read_record_file(DEMO_RECORDS / "demo-catalogue.yaml"))
    report = svc.ingester.ingest_path(svc.storage, "ds")
    svc.catalog.ingest_files(90001, report.file_rows("ds"), report.distribution())
    return app


def check(doc, client, method, path, status, **kwargs):
    """Send a real request and validate its JSON body against the documented response schema."""
    resp = getattr(client, method)(path, **kwargs)
    assert resp.status_code == status, (path, resp.data[:300])
    template = next(t for t in doc["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", r"[^/]+", t), path.split("?")[0]))
    response = doc["paths"][template][method]["responses"][str(status)]
    media = "application/problem+json" if status >= 400 else "application/json"
    schema = response["content"][media]["schema"]
    registry = Registry().with_resource(
        "urn:openapi", Resource.from_contents({**doc, "$schema": "https://json-schema.org/draft/2020-12/schema"})
    )
    validator = Draft202012Validator({"$ref": "urn:openapi#" + schema["$ref"].lstrip("#")}, registry=registry)
    errors = [e.message for e in validator.iter_errors(resp.get_json())]
    assert not errors, (path, errors[:3])
    assert resp.mimetype == media


def test_documented_responses_match_real_ones(app):
    client = app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
    check(doc, client, "get", "/api/records", 200)
    check(doc, client, "get", '/api/records?q=doi:"10.5072/portal.90004"', 200)
    check(doc, client, "get", "/api/records?q=(", 400)
    check(doc, client, "get", "/api/records/90001", 200)
    check(doc, client, "get", "/api/records/90001?file_indices=summary", 200)
    check(doc, client, "get", "/api/records/1", 404)
    check(doc, client, "get", "/api/records/90004/versions", 200)
    check(doc, client, "post", "/api/records/90004/versions", 403)
    check(doc, client, "post", "/api/records/90004/versions", 201, headers={"Authorization": "Bearer t"})
    check(doc, client, "get", "/api/records/90001/files?page=1&size=2", 200)
    check(doc, client, "get", "/api/records/90001/files?size=0", 400)
    check(doc, client, "get", "/api/records/90001/files/search?q=*.root", 200)
    check(doc, client, "get", "/api/records/90001/files?q=*.root&size=1", 200)
    check(doc, client, "get", "/api/records/90001/pack?glob=*.root", 200)
    check(doc, client, "get", "/api/records/90001/preview?key=nanoaod_000.root&rows=2", 200)
    check(doc, client, "get", "/api/records/90001/histogram?key=nanoaod_000.root&column=MET_pt", 200)
    check(doc, client, "get", "/api/records/90001/histogram?key=nanoaod_000.root&column=x", 400)
    check(doc, client, "get", "/api/stats?recid=90001", 200)
    check(doc, client, "get", "/api/stats", 400)
    check(doc, client, "get", "/api/environments", 200)
    check(doc, client, "get", "/api/environments/builds?page=1&size=5", 200)
    check(doc, client, "get", "/api/environments/builds?size=0", 400)
    envs = {e["name"]: e for e in client.get("/api/environments").get_json()["environments"]}
    assert envs["hep-analysis"]["buildpack"] == "PythonBuildPack" and envs["hep-analysis"]["built"] is False
    assert envs["education"]["launch"].endswith("/launch/env/education")
