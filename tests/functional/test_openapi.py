"""The OpenAPI document describes what the API really answers: real responses validate against it."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from portal.app import create_app, services_of
from portal.catalog.importers import read_record_file
from portal.demo import RECORDS as DEMO_RECORDS
from portal.demo.generate import generate
from portal.identity.principal import SCOPES
from tests.support.users import CURATOR_SCOPES, bearer, token_for


@pytest.fixture
def app_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data")}


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
    check(doc, client, "post", "/api/records/90004/versions", 401)
    check(doc, client, "post", "/api/records/90004/versions", 403, headers=bearer(token_for(app, ["deposit:write"])))
    curator = bearer(token_for(app, CURATOR_SCOPES, username="cura", roles=["curator"]))
    check(doc, client, "post", "/api/records/90004/versions", 201, headers=curator)
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


def test_documented_write_analysis_and_lesson_responses_match_real_ones(app):
    client = app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    auth = bearer(token_for(app, CURATOR_SCOPES, username="cura", roles=["curator"]))
    runner = bearer(token_for(app, ["analyses:run"]))
    check(doc, client, "put", "/api/records/90004/draft", 401, json={"metadata": {}})
    draft = client.post("/api/records/90004/versions", headers=auth).get_json()
    metadata = {**services_of(app).catalog.get(draft["id"], include_drafts=True).metadata, "title": "A second version"}
    check(doc, client, "put", f"/api/records/{draft['id']}/draft", 400, headers=auth, json={"metadata": "x"})
    check(doc, client, "put", f"/api/records/{draft['id']}/draft", 200, headers=auth, json={"metadata": metadata})
    check(doc, client, "post", f"/api/records/{draft['id']}/draft/actions/publish", 401)
    check(doc, client, "post", f"/api/records/{draft['id']}/draft/actions/publish", 403, headers=runner)
    check(doc, client, "post", f"/api/records/{draft['id']}/draft/actions/publish", 202, headers=auth)
    check(doc, client, "post", f"/api/records/{draft['id']}/draft/actions/publish", 409, headers=auth)
    check(doc, client, "get", "/api/analyses", 401)
    check(doc, client, "get", "/api/analyses", 200, headers=runner)
    check(doc, client, "get", "/api/analyses?state=sleeping", 400, headers=runner)
    check(doc, client, "post", "/api/analyses/12345/cancel", 401)
    check(doc, client, "post", "/api/analyses/12345/cancel", 404, headers=runner)
    check(doc, client, "post", "/api/analyses", 401, json={"analysis": "dimuon"})
    check(doc, client, "post", "/api/analyses", 400, headers=runner, json={"analysis": "dimuon"})
    check(doc, client, "post", "/api/analyses", 403, headers=runner, json={"analysis": "os:path", "dataset": 90001})
    check(doc, client, "get", "/api/analyses/12345", 404)
    check(doc, client, "get", "/api/analyses/12345/plot.png", 404)
    check(doc, client, "get", "/api/analyses/12345/histogram.json", 404)
    check(doc, client, "post", "/api/analyses/12345/publish", 401)
    check(doc, client, "post", "/api/analyses/12345/publish", 403, headers=runner)
    check(doc, client, "post", "/api/analyses/12345/publish", 404, headers=auth)
    check(doc, client, "get", "/api/education/lessons", 200)


def api_operations(app) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route of the JSON API: every route under /api/ answers JSON (or, for
    downloads, the documented media type), and its errors are problem details."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
            path = path.rstrip("/")  # /api/records/ is an alias of /api/records
            found |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def test_every_json_route_is_documented_with_its_parameters_and_errors(tmp_path):
    app = create_app({"var_dir": str(tmp_path)})  # the routes are the same on any database
    doc = app.test_client().get("/api/openapi.json").get_json()
    served = api_operations(app)
    documented = {(path, method) for path, operations in doc["paths"].items() for method in operations}
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented operations the app does not serve"
    for path, method in sorted(served):
        operation = doc["paths"][path][method]
        where = f"{method.upper()} {path}"
        parameters = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
        assert {("path", name) for name in re.findall(r"\{([^}]+)\}", path)} <= parameters, where
        errors = {code: r for code, r in operation["responses"].items() if code == "default" or int(code) >= 400}
        for response in errors.values():
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
        assert "default" in errors, where  # 405, 500: every error is problem details
        if "{" in path:
            assert "404" in errors, where
        if operation.get("security"):
            assert {"401", "403"} <= set(errors), where  # no credential; a credential without the scope or role
            scopes = [scope for requirement in operation["security"] for scope in requirement["token"]]
            assert scopes and set(scopes) <= set(SCOPES), where
        if any(p["in"] == "query" for p in operation.get("parameters", [])) or "requestBody" in operation:
            assert "400" in errors, where
