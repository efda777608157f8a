"""Access rights on records and files, on SQLite and PostgreSQL: open, embargoed until a date (an injected clock)
and restricted to a group; enforced on downloads, packs, previews, file indices, analyses and launches; metadata
kept public in OAI-PMH unless the record itself is restricted; restricted bytes out of the public root:// export.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from portal.app import services_of
from portal.demo.generate import generate
from portal.identity.principal import COMMAND_LINE
from portal.web.auth import SESSION_USER, SESSION_VERSION
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.xrootd import require_xrootd, served_tempdir, xrootd_over

KEY = "dimuon_pairs.csv"
GROUP = "cms-internal"
BEFORE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AFTER = datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)
OAI = "{http://www.openarchives.org/OAI/2.0/}"

RECORDS = {
    21: None,  # open
    22: {
        "record": "public",
        "files": "restricted",
        "embargo": {"active": True, "until": "2027-01-01", "reason": "thesis"},
    },
    23: {"record": "public", "files": "restricted", "group": GROUP},
    24: {"record": "restricted", "files": "restricted", "group": GROUP},
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """One generated CSV, copied into each record's folder (generating costs more than copying)."""
    folder = tmp_path_factory.mktemp("sample")
    generate("tiny", folder, formats=("csv",))
    return folder / KEY


def build(svc, data: Path, tmp_path: Path, sample: Path) -> Clock:
    """Four records (open, embargoed, restricted files, restricted record), each with its own CSV file."""
    load_file(
        svc,
        write_records(
            tmp_path / "records.json",
            [dataset(recid, **({"access": access} if access else {})) for recid, access in RECORDS.items()],
        ),
    )
    for recid in RECORDS:
        (data / f"r{recid}").mkdir(parents=True)
        shutil.copy(sample, data / f"r{recid}" / KEY)
        report = svc.ingester.ingest_path(svc.storage, f"r{recid}")
        svc.catalog.ingest_files(recid, report.file_rows(f"r{recid}"), report.distribution())
    clock = Clock(BEFORE)
    svc.access.now = clock
    svc.placement.place_all()
    return clock


@pytest.fixture
def app_settings(tmp_path):
    return {"data_dir": str(tmp_path / "data"), "stats_flush_interval": 0.05}


@pytest.fixture
def app(app, tmp_path, sample):
    svc = services_of(app)
    app.config["clock"] = build(svc, tmp_path / "data", tmp_path, sample)
    # accounts without passwords (as from an OIDC provider): argon2 hashing would only slow the tests down
    alice = svc.users.create(COMMAND_LINE, "alice")
    svc.users.add_to_group(COMMAND_LINE, alice.id, GROUP)
    bob = svc.users.create(COMMAND_LINE, "bob")
    app.config["alice"] = alice.id
    _info, app.config["bob_token"] = svc.tokens.create(COMMAND_LINE, bob.id, "laptop", ["analyses:run"])
    _info, app.config["alice_token"] = svc.tokens.create(COMMAND_LINE, alice.id, "laptop", ["analyses:run"])
    return app


def signed_in(app, user_id: int):
    """A test client with a browser session of ``user_id`` (as `portal.web.auth.sign_in` makes it)."""
    client = app.test_client()
    with client.session_transaction() as session:
        session[SESSION_USER] = user_id
        session[SESSION_VERSION] = 1
    return client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_open_files_download_for_anyone_restricted_ones_need_the_group(app):
    client = app.test_client()
    assert client.get(f"/record/21/files/{KEY}").status_code == 200
    anonymous = client.get(f"/record/23/files/{KEY}", headers={"Accept": "application/problem+json"})
    assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json"
    assert "Restricted to the group cms-internal" in anonymous.json["detail"]
    in_a_browser = client.get(f"/record/23/files/{KEY}")
    assert in_a_browser.status_code == 401 and in_a_browser.mimetype == "text/html"
    outsider = client.get(
        f"/record/23/files/{KEY}", headers={**bearer(app.config["bob_token"]), "Accept": "application/json"}
    )
    assert outsider.status_code == 403 and outsider.json["field"] == "access"
    member = signed_in(app, app.config["alice"]).get(f"/record/23/files/{KEY}")
    assert member.status_code == 200 and member.data.startswith(b"run,event,")
    by_token = client.get(f"/record/23/files/{KEY}", headers=bearer(app.config["alice_token"]))
    assert by_token.status_code == 200 and by_token.data == member.data


def test_every_path_that_reveals_bytes_asks_the_policy(app):
    client = app.test_client()
    paths = [
        f"/record/23/files/{KEY}",
        f"/record/23/pack.zip?files={KEY}",
        f"/api/records/23/pack?files={KEY}",
        f"/api/records/23/preview?key={KEY}",
        f"/api/records/23/histogram?key={KEY}&column=M",
        f"/record/23/preview?key={KEY}",
        "/record/23/file_index/anything.json",
        "/record/23/file_index/anything.txt",
        "/launch/record/23",  # a launch's fileset holds the record's files
    ]
    for path in paths:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=bearer(app.config["bob_token"])).status_code == 403, path
    member = signed_in(app, app.config["alice"])
    for path in paths[:6]:
        assert member.get(path).status_code == 200, path
    for path in paths[:6]:  # the same views on the open record need nobody
        assert client.get(path.replace("/23/", "/21/")).status_code == 200, path
    # an analysis reads the dataset's bytes: refused before any job exists
    refused = client.post(
        "/api/analyses", json={"analysis": "dimuon", "dataset": 23}, headers=bearer(app.config["bob_token"])
    )
    assert refused.status_code == 403 and refused.json["field"] == "access"


def test_embargo_opens_the_files_on_its_date_without_a_manual_step(app):
    client, clock = app.test_client(), app.config["clock"]
    page = client.get("/record/22")
    assert page.status_code == 200 and b"Embargoed until 2027-01-01 (thesis)" in page.data
    assert client.get(f"/record/22/files/{KEY}").status_code == 401
    assert client.get(f"/record/22/files/{KEY}", headers=bearer(app.config["bob_token"])).status_code == 403
    clock.now = AFTER
    assert client.get(f"/record/22/files/{KEY}").status_code == 200  # read from the restricted side until lifted
    assert b"Open access" in client.get("/record/22").data
    svc = services_of(app)
    assert [p.recid for p in svc.placement.place_all() if p.moved] == [22]
    assert not any(p.moved for p in svc.placement.place_all())  # idempotent
    assert client.get(f"/record/22/files/{KEY}").status_code == 200


def test_embargoed_metadata_stays_public_in_oai_and_exports_restricted_records_are_hidden(app):
    client = app.test_client()
    listed = etree.fromstring(client.get("/oai2d?verb=ListIdentifiers&metadataPrefix=oai_dc").data)
    ids = sorted(int(h.findtext(f"{OAI}identifier").rsplit(":", 1)[1]) for h in listed.iter(f"{OAI}header"))
    assert ids == [21, 22, 23]  # the embargoed and the files-restricted records keep their metadata public
    missing = etree.fromstring(
        client.get("/oai2d?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:portal.test:24").data
    )
    assert missing.find(f"{OAI}error").get("code") == "idDoesNotExist"
    assert client.get("/api/records/22").status_code == 200
    assert client.get("/record/22/export/datacite-json").status_code == 200
    for path in ("/api/records/24", "/record/24", "/record/24/export/datacite-json", "/api/records/24/files"):
        assert client.get(path).status_code == 404, path  # existence not revealed to anonymous
        assert client.get(path, headers=bearer(app.config["bob_token"])).status_code == 404, path
        assert client.get(path, headers=bearer(app.config["alice_token"])).status_code == 200, path
    assert b"Restricted to the group cms-internal" in signed_in(app, app.config["alice"]).get("/record/24").data
    sitemap = client.get("/sitemap.xml").data
    assert b"/record/23<" in sitemap and b"/record/24<" not in sitemap


@pytest.mark.parametrize("sort", ["mostrecent", "mostviewed"])  # the in-memory path and the SQL one
def test_search_hides_restricted_records_from_those_who_cannot_read_them(app, sort):
    def found(headers=None):
        body = app.test_client().get(f"/api/records?size=50&sort={sort}", headers=headers or {}).json
        return sorted(int(h["id"]) for h in body["hits"]["hits"]), body["hits"]["total"]

    assert found() == ([21, 22, 23], 3)
    assert found(bearer(app.config["bob_token"])) == ([21, 22, 23], 3)
    assert found(bearer(app.config["alice_token"])) == ([21, 22, 23, 24], 4)
    page = app.test_client().get("/search?q=Dataset")
    assert page.status_code == 200 and b"Dataset 24" not in page.data and b"Dataset 23" in page.data


def test_which_records_are_hidden_is_read_from_the_partial_index_not_the_whole_table(app):
    """Every search asks which versions a visitor may not see; the question is spelled as the predicate of the
    partial index ix_records_restricted, so the database can answer it from that index (at a million records a
    scan of every version's metadata took seconds per search)."""
    from sqlalchemy import event

    from portal.identity.principal import ANONYMOUS

    svc = services_of(app)
    statements: list[tuple[str, object]] = []

    def seen(_conn, _cursor, sql, params, *_args):
        statements.append((sql, params))

    event.listen(svc.db.engine, "before_cursor_execute", seen)
    try:
        assert svc.access.hidden_recids(ANONYMOUS) == frozenset({24})
    finally:
        event.remove(svc.db.engine, "before_cursor_execute", seen)
    (sql, params), *_ = [(q, p) for q, p in statements if "FROM records" in q]
    with svc.db.engine.connect() as conn:
        if svc.db.dialect == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # a 4-row table: ask whether the index *can* serve
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params))
        else:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
    assert "ix_records_restricted" in plan, plan


def test_restricted_bytes_leave_the_data_directory(app, tmp_path):
    data = tmp_path / "data"
    restricted = Path(services_of(app).settings.restricted_dir)
    assert (data / "r21" / KEY).is_file() and not (restricted / "r21").exists()
    for recid in (22, 23, 24):
        assert not (data / f"r{recid}" / KEY).exists() and (restricted / f"r{recid}" / KEY).is_file()
    # analyses (once the policy let them start) read restricted bytes where they are, not at the public URI
    svc = services_of(app)
    uri = svc.catalog.get_file(23, KEY)["uri"]
    assert svc.files.readable_uri(uri) == str((restricted / "r23" / KEY).resolve())
    assert svc.files.readable_uri(svc.catalog.get_file(21, KEY)["uri"]) == svc.catalog.get_file(21, KEY)["uri"]
    if svc.analyses is not None:
        assert svc.analyses.locate_uri(uri) == str((restricted / "r23" / KEY).resolve())  # how dataset_files maps


def test_a_restricted_dir_inside_the_exported_data_dir_is_refused(make_app, tmp_path):
    from portal.errors import Invalid

    with pytest.raises(Invalid, match="must lie outside data_dir"):
        make_app(data_dir=str(tmp_path / "d"), restricted_dir=str(tmp_path / "d" / "closed"))


# --------------------------------------------------------------------------------- root:// (a real XRootD server)
def test_restricted_files_are_not_readable_over_the_public_root_export(make_app, tmp_path, sample):
    require_xrootd()
    data = served_tempdir()  # <top>/data is exported as //data; restricted bytes go to <top>/restricted
    try:
        with xrootd_over(data) as server:
            app = make_app(
                data_dir=str(data),
                restricted_dir=str(data.parent / "restricted"),
                xrootd_url=server.url,
                xrootd_export="data",
            )
            svc = services_of(app)
            build(svc, data, tmp_path, sample)
            rows = {recid: svc.catalog.get_file(recid, KEY) for recid in RECORDS}
            assert all(r["uri"].startswith(server.url + "//data/") for r in rows.values())

            def xrdcp(url: str) -> subprocess.CompletedProcess[str]:
                out = tmp_path / "copy.csv"
                out.unlink(missing_ok=True)
                return subprocess.run(["xrdcp", "-f", url, str(out)], capture_output=True, text=True, timeout=60)

            assert xrdcp(rows[21]["uri"]).returncode == 0  # open data streams over root:// as before
            assert (tmp_path / "copy.csv").read_bytes() == (data / "r21" / KEY).read_bytes()
            for recid in (22, 23, 24):
                assert xrdcp(rows[recid]["uri"]).returncode != 0, recid
                outside = f"{server.url}//restricted/r{recid}/{KEY}"  # not exported, whatever the path
                assert xrdcp(outside).returncode != 0, recid
            alice = svc.users.create(COMMAND_LINE, "alice")
            svc.users.add_to_group(COMMAND_LINE, alice.id, GROUP)
            member = signed_in(app, alice.id).get(f"/record/23/files/{KEY}")  # the member reads it over HTTP
            assert member.status_code == 200
            assert member.data == (data.parent / "restricted" / "r23" / KEY).read_bytes()
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)


# --------------------------------------------------------------------------------------------- the command line
def test_the_command_line_keeps_restricted_bytes_off_the_export_and_brings_them_back(
    settings_dict, make_app, tmp_path, sample
):
    portal = Path(sys.executable).parent / "portal"
    env = {**os.environ, "PORTAL_DATABASE_URL": settings_dict["database_url"], "PORTAL_VAR_DIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(portal), *args], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    def embargoed_until(day: str) -> Path:
        access = {"files": "restricted", "embargo": {"active": True, "until": day}}
        return write_records(tmp_path / "records.json", [dataset(31, access=access)])

    (tmp_path / "data" / "r31").mkdir(parents=True)
    shutil.copy(sample, tmp_path / "data" / "r31" / KEY)
    run("records", "load", str(embargoed_until("2099-01-01")))
    ingested = run("ingest", "31", "r31")
    assert "moved 1 file(s) to the restricted directory" in ingested.stdout
    assert (tmp_path / "restricted" / "r31" / KEY).is_file() and not (tmp_path / "data" / "r31" / KEY).exists()
    # a curator moves the embargo to a day already past (a metadata fix): lift-embargoes puts the bytes back
    svc = services_of(make_app(var_dir=str(tmp_path)))
    metadata = {k: v for k, v in svc.catalog.get(31).metadata.items() if k not in ("files", "_files")}
    metadata["access"]["embargo"]["until"] = "2020-01-01"
    svc.catalog.edit_metadata(31, metadata)
    lifted = run("access", "lift-embargoes")
    assert "1 embargo(es) lifted, 1 file(s) moved" in lifted.stdout
    assert (tmp_path / "data" / "r31" / KEY).is_file() and not (tmp_path / "restricted" / "r31" / KEY).exists()
