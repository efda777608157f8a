"""Huge and negative integers in paths, query arguments and JSON bodies answer 404/400 naming the parameter.

They used to reach SQL and overflow PostgreSQL's 32-bit INTEGER (and SQLite's 64-bit one): a 500. One app per
database serves every case (building an app migrates a database, which is the slow part).
"""

from __future__ import annotations

from portal.app import services_of
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.users import bearer, token_for

HUGE = "99999999999999999999"  # beyond 64 bits
JUST_ABOVE = str(2**31)  # beyond PostgreSQL's INTEGER
NUMBERS = (HUGE, JUST_ABOVE, "-1", "0")

PATHS = {
    "/api/records/{n}": "recid",
    "/api/records/{n}/versions": "recid",
    "/api/records/{n}/files": "recid",
    "/record/{n}": "recid",
    "/record/{n}/export/bibtex": "recid",
    "/record/{n}/files/a.root": "recid",
    "/api/analyses/{n}": "job_id",
}
QUERIES = {
    "/api/stats?recid={n}": "recid",
    "/api/records?page={n}": "page",
    "/api/records?size={n}": "size",
    "/search?page={n}": "page",
    "/api/records/321/files/search?cursor={n}{n}": "cursor",
    "/record/321?files_after={n}{n}": "files_after",
}


def test_out_of_range_integers_answer_4xx_naming_the_parameter(app, tmp_path):
    load_file(services_of(app), write_records(tmp_path / "r.json", [dataset(321)]))
    client = app.test_client()
    json_please = {"Accept": "application/json"}
    for number in NUMBERS:
        for path, field in PATHS.items():
            response = client.get(path.format(n=number), headers=json_please)
            assert response.status_code == 404, (path, number, response.get_data(as_text=True))
            assert response.mimetype == "application/problem+json"
            problem = response.get_json()
            assert problem["field"] == field and number in problem["detail"], (path, problem)
        for url, field in QUERIES.items():
            if number == "0" and field in ("cursor", "files_after"):
                continue  # "00" is a valid file position
            response = client.get(url.format(n=number), headers=json_please)
            assert response.status_code == 400, (url, number, response.get_data(as_text=True))
            assert response.get_json()["field"] == field
    # Browsers get the HTML 404 page naming the parameter.
    page = client.get(f"/record/{HUGE}", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "recid" in page.get_data(as_text=True)
    # JSON bodies: the dataset of an analysis (sent by a user who may run analyses).
    runner = bearer(token_for(client.application, ["analyses:run"]))
    for dataset_id in (int(HUGE), HUGE, 2**31, -3, 0, "12a", True, None):
        response = client.post("/api/analyses", json={"analysis": "dimuon", "dataset": dataset_id}, headers=runner)
        assert response.status_code == 400, (dataset_id, response.get_data(as_text=True))
        assert response.get_json()["field"] == "dataset"
