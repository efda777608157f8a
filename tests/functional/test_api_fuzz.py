"""Schemathesis over the whole OpenAPI document, on SQLite and PostgreSQL: every operation, with data that
fits the schema and data that does not; no answer may be a 5xx, and every answer must match what the
document says of it (status, content type, body schema).

The operations are walked in the test (not through schemathesis' pytest plugin: its lazy schemas need
pytest internals that pytest 9 removed), and every operation's first failure is collected, so one run names
every operation that breaks its contract. Each generated request is sent to both portals, one per database, in
the same Hypothesis example: generating the requests is most of the cost (the same, derandomized, for both), so
it is paid once."""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from portal.app import create_app, services_of
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.app import start_worker
from tests.support.postgres import reset_database

EXAMPLES = 20  # per operation and mode: bounded so that the run stays within a minute or two
#: Operations whose valid inputs JSON Schema cannot describe exactly: a search query's grammar (balanced
#: parentheses, quotes), a histogram range's `lo < hi`, a pack's "one of index, glob or files", a CSL style. Their
#: schema-valid requests may rightly answer 400 naming the parameter, so the check that valid data is
#: accepted is left out for them; every other check (no 5xx, documented status, body and content type) runs.
GRAMMAR = {
    "GET /api/records",
    "GET /api/records/{recid}/histogram",
    "GET /api/records/{recid}/pack",
    "POST /api/records/{recid}/citation",  # a CSL style: an XML document valid against the CSL schema
}
#: tus answers a request without its version header 412 Precondition Failed, as the protocol says (schemathesis'
#: default list of rejections lacks 412); every other operation keeps the default list.
CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            {
                "include-path-regex": "^/api/uploads",
                "checks": {
                    "negative_data_rejection": {
                        "expected-statuses": [
                            "400",
                            "401",
                            "403",
                            "404",
                            "405",
                            "406",
                            "409",
                            "412",
                            "415",
                            "422",
                            "428",
                            "429",
                            "5xx",
                        ],
                    }
                },
            }
        ]
    }
)
# a tus chunk is raw bytes
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


@pytest.fixture
def app_settings():
    # the rate limits would answer 429 (documented, so accepted) after a few examples, and the fuzzing would then
    # stop reaching the views; test_rate_limits.py covers the limits themselves
    return {"ratelimit_enabled": False}


@pytest.fixture
def portals(request: pytest.FixtureRequest, tmp_path, app_settings) -> dict[str, Flask]:
    """A portal on SQLite and one on PostgreSQL (when the tests have one), each with two datasets."""
    urls = {"sqlite": f"sqlite:///{tmp_path / 'portal.sqlite'}"}
    try:
        urls["postgresql"] = request.getfixturevalue("postgres_url")
        reset_database(urls["postgresql"])
    except pytest.skip.Exception:
        pass  # no PostgreSQL here (CI requires it: the fixture fails there instead)
    portals = {}
    for name, url in urls.items():
        app = create_app(
            {
                "database_url": url,
                "var_dir": str(tmp_path / name),
                "base_url": "http://portal.test",
                "first_recid": 100000,
                **app_settings,
            }
        )
        start_worker(app)
        load_file(services_of(app), write_records(tmp_path / f"{name}.json", [dataset(9), dataset(10)]))
        portals[name] = app
    return portals


def contract_test(operation, mode: GenerationMode, portals: dict[str, Flask]):
    """A Hypothesis test of one operation in one generation mode: each example is sent to every portal."""
    excluded = [positive_data_acceptance] if operation.label in GRAMMAR else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case):
        for name, app in portals.items():
            try:
                case.call_and_validate(excluded_checks=excluded, app=app)
            except BaseException as exc:
                exc.add_note(f"(on {name})")
                raise

    return check


def test_every_operation_answers_within_its_contract(portals, tmp_path):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", next(iter(portals.values())), config=CONFIG)
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                contract_test(operation, mode, portals)()
            except Unsatisfiable:
                continue  # no invalid request exists for an operation without parameters or body
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every failure is reported below
                where = " ".join(getattr(exc, "__notes__", []))
                failures[f"{operation.label} ({mode.value}) {where}"] = str(exc)[:1500]
    assert operations >= 20
    assert not failures, "\n\n".join(f"{label}:\n{why}" for label, why in sorted(failures.items()))


def test_a_nul_byte_in_any_query_argument_is_refused_naming_it(client):
    for url in ("/api/records?category=a%00b", "/api/records/1/files?index=%00", "/search?q=x%00"):
        resp = client.get(url, headers={"Accept": "application/json"})
        assert resp.status_code == 400, url
        assert "NUL byte" in resp.get_json()["detail"]
