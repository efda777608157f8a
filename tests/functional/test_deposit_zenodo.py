"""A maintained third-party Zenodo client from PyPI, `zenodo-client`, publishes through the portal's Zenodo-compatible
legacy deposit API unchanged (SQLite and PostgreSQL): a deposition with two files, then a new version replacing one.
The client is pointed at the portal through its own `api_base`/`depositions_base` attributes (it has no constructor
argument for a base URL); none of its code is patched."""

from __future__ import annotations

import zlib

import pytest
from zenodo_client import Creator, Metadata, Zenodo

from portal.app import services_of
from portal.catalog.schema import validation_errors
from tests.support.live import live_server_for
from tests.support.users import bearer, token_for


@pytest.fixture
def app_settings(tmp_path):
    return {"deposit_owners_publish": True, "data_dir": str(tmp_path / "data")}


def adler(data: bytes) -> str:
    return f"adler32:{zlib.adler32(data) & 0xFFFFFFFF:08x}"


def test_zenodo_client_creates_publishes_and_versions_a_record(make_app, app_settings, tmp_path):
    built = []

    def serve(url: str):
        built.append(make_app(**app_settings, base_url=url))  # links (the bucket's) point where the client connects
        return built[0]

    table = tmp_path / "table.csv"
    table.write_bytes(b"x,y\n1,2\n3,4\n")
    readme = tmp_path / "README.txt"
    readme.write_bytes(b"What the table holds.\n")
    # the record schema's validator compiles on first use (seconds on a loaded machine): not inside the client's
    # 15-second request timeout
    validation_errors({})
    with live_server_for(serve) as url:
        app = built[0]
        svc = services_of(app)
        token = token_for(app, ["deposit:write", "deposit:publish"], username="alice")
        zenodo = Zenodo(access_token=token)
        zenodo.api_base = f"{url}/api"
        zenodo.depositions_base = f"{url}/api/deposit/depositions"
        data = Metadata(
            title="Efficiency table",
            upload_type="dataset",
            description="Trigger efficiencies per run.",
            creators=[Creator(name="Doe, Jane", affiliation="CERN")],
            keywords=["trigger"],
        )
        published = zenodo.create(data=data, paths=[table, readme]).json()
        first = published["id"]
        assert published["submitted"] is True and published["doi"] == f"10.5072/portal.{first}"
        assert sorted(f["filename"] for f in published["files"]) == ["README.txt", "table.csv"]

        table.write_bytes(b"x,y\n1,2\n3,4\n5,6\n")
        second = zenodo.update(deposition_id=str(first), paths=[table]).json()
        assert second["submitted"] is True and second["id"] != first
        assert second["conceptdoi"] == published["conceptdoi"]

    client = app.test_client()
    old = {f["key"]: f for f in client.get(f"/api/records/{first}").get_json()["metadata"]["files"]}
    new = {f["key"]: f for f in client.get(f"/api/records/{second['id']}").get_json()["metadata"]["files"]}
    assert old["table.csv"]["checksum"] == adler(b"x,y\n1,2\n3,4\n") and old["table.csv"]["entries"] == 2
    assert new["table.csv"]["checksum"] == adler(b"x,y\n1,2\n3,4\n5,6\n") and new["table.csv"]["entries"] == 3
    assert new["README.txt"] == old["README.txt"]  # carried over unchanged
    record = svc.catalog.get(second["id"])
    assert record.metadata["authors"] == [{"name": "Doe, Jane", "affiliation": "CERN"}]
    assert svc.catalog.find_by_doi(published["conceptdoi"]).recid == second["id"]


def test_zenodo_routes_refuse_without_a_token_and_name_bad_metadata(app, client):
    assert client.post("/api/deposit/depositions", json={"metadata": {"title": "x"}}).status_code == 401
    auth = bearer(token_for(app, ["deposit:write"], username="alice"))
    bad = client.post(
        "/api/deposit/depositions", json={"metadata": {"title": "Fine", "upload_type": "poster"}}, headers=auth
    )
    assert bad.status_code == 400 and bad.get_json()["field"] == "metadata.upload_type"
    # the query-string token is accepted on the Zenodo routes only
    token = token_for(app, ["deposit:write"], username="alice")
    assert client.post(f"/api/records?access_token={token}", json={"metadata": {}}).status_code == 401
