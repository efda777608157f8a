"""The disk fills up under an upload and under an ingest: the storage (or upload) directory is a real 8 MiB tmpfs
mounted for the test, filled with a ballast file until what is sent no longer fits.

Each time the client gets 507 problem+json whose detail says "no space", no file row is written, the bytes that
did land are removed (the disk holds only the ballast again), and once the ballast is deleted the very same
request (or the same resumable upload, from its confirmed offset) succeeds with exact bytes.

The ingest case extends tests/functional/test_faults.py's (an index that does not fit) with the retry once space
is freed. Mounting needs root (CAP_SYS_ADMIN); elsewhere the tests skip saying so.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.app import services_of
from portal.cli import main as cli
from tests.functional.catalog_helpers import dataset, load_file, write_records
from tests.support.users import bearer, token_for

MiB = 1024 * 1024
WRITER = ["deposit:write", "deposit:publish"]
DRAFT = {
    "metadata": {
        "title": "Calibration constants",
        "type": {"primary": "Dataset", "secondary": ["Derived"]},
        "experiment": ["CMS"],
        "date_published": "2026-12-01",
    }
}


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs at tmp_path/disk, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        if os.path.ismount(mount):
            subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """A ballast file that leaves ``leave`` bytes free on ``disk``."""
    ballast = disk / "ballast"
    st = os.statvfs(disk)
    size = st.f_bavail * st.f_frsize - leave
    with ballast.open("wb") as fh:
        for _ in range(size // MiB):
            fh.write(b"\0" * MiB)
        fh.write(b"\0" * (size % MiB))
    return ballast


def files_on(disk: Path) -> list[str]:
    return sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if p.is_file())


def no_space(resp) -> None:
    assert resp.status_code == 507, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert "no space" in resp.get_json()["detail"].lower(), resp.get_json()


def new_draft(client, auth) -> int:
    resp = client.post("/api/records", json=DRAFT, headers=auth)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return int(resp.get_json()["id"])


def test_a_tus_upload_that_fills_the_disk_is_refused_507_and_resumes_once_space_is_freed(make_app, disk):
    app = make_app(deposit_owners_publish=True, upload_dir=str(disk / "uploads"))
    svc = services_of(app)
    auth = bearer(token_for(app, WRITER, username="alice"))
    client = app.test_client()
    recid = new_draft(client, auth)
    data = os.urandom(4 * MiB)
    ballast = fill(disk, 2 * MiB)
    tus = {**auth, "Tus-Resumable": "1.0.0"}
    meta = f"record {base64.b64encode(str(recid).encode()).decode()},filename {base64.b64encode(b'c.bin').decode()}"
    created = client.post("/api/uploads/", headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": meta})
    assert created.status_code == 201, created.get_data(as_text=True)
    location = created.headers["Location"]
    upload_id = location.rsplit("/", 1)[1]

    def patch(offset: int, chunk: bytes):
        headers = {**tus, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        return client.patch(location, data=chunk, headers=headers)

    assert patch(0, data[:MiB]).status_code == 204  # the first MiB fits
    full = patch(MiB, data[MiB:])  # the rest does not: the disk fills up mid-chunk
    no_space(full)
    assert full.headers["Tus-Resumable"] == "1.0.0"
    assert client.head(location, headers=tus).headers["Upload-Offset"] == str(MiB)  # the confirmed offset
    assert svc.deposit.store.size(upload_id) == MiB  # what landed of the refused chunk is gone
    assert svc.catalog.get(recid, include_drafts=True).files == []  # no file row
    [entry] = client.get(f"/api/records/{recid}/draft/files", headers=auth).get_json()["entries"]
    assert (entry["status"], entry["received"]) == ("pending", MiB)

    ballast.unlink()  # space is freed: the same upload goes on from its offset
    assert patch(MiB, data[MiB:]).status_code == 204
    entry = client.get(f"/api/records/{recid}/draft/files/c.bin", headers=auth).get_json()
    assert entry["status"] == "completed" and entry["checksums"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_one_request_upload_that_fills_the_disk_leaves_nothing_and_succeeds_once_space_is_freed(make_app, disk):
    app = make_app(deposit_owners_publish=True, upload_dir=str(disk / "uploads"))
    auth = bearer(token_for(app, WRITER, username="alice"))
    client = app.test_client()
    recid = new_draft(client, auth)
    data = os.urandom(3 * MiB)
    ballast = fill(disk, 2 * MiB)

    full = client.put(f"/api/files/{recid}/big.bin", data=data, headers=auth)  # Zenodo's bucket PUT
    no_space(full)
    assert client.get(f"/api/records/{recid}/draft/files", headers=auth).get_json()["entries"] == []
    assert files_on(disk) == ["ballast"]  # no partial bytes left in the upload store

    ballast.unlink()
    again = client.put(f"/api/files/{recid}/big.bin", data=data, headers=auth)
    assert again.status_code == 201, again.get_data(as_text=True)
    assert again.get_json()["checksum"] == "md5:" + hashlib.md5(data).hexdigest()


def test_publishing_into_a_full_storage_is_refused_507_with_no_file_row_and_succeeds_once_space_is_freed(
    make_app, disk, tmp_path
):
    # the uploads are elsewhere; the catalogue's storage (data_dir), where publication ingests them, is the tmpfs
    app = make_app(deposit_owners_publish=True, data_dir=str(disk / "data"), upload_dir=str(tmp_path / "uploads"))
    svc = services_of(app)
    auth = bearer(token_for(app, WRITER, username="alice"))
    client = app.test_client()
    recid = new_draft(client, auth)
    small, big = os.urandom(MiB // 2), os.urandom(3 * MiB)
    assert client.put(f"/api/files/{recid}/a-small.bin", data=small, headers=auth).status_code == 201
    assert client.put(f"/api/files/{recid}/b-big.bin", data=big, headers=auth).status_code == 201
    (disk / "data").mkdir(exist_ok=True)
    ballast = fill(disk, 2 * MiB)  # the small file is placed, the big one fills the disk

    full = client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth)
    no_space(full)
    view = svc.catalog.get(recid, include_drafts=True)
    assert view.status == "draft" and view.files == []  # nothing published, no file row
    assert files_on(disk) == ["ballast"]  # neither the placed file nor the partial one is left
    keys = [e["key"] for e in client.get(f"/api/records/{recid}/draft/files", headers=auth).get_json()["entries"]]
    assert keys == ["a-small.bin", "b-big.bin"]  # the draft keeps its uploads

    ballast.unlink()
    again = client.post(f"/api/records/{recid}/draft/actions/publish", headers=auth)
    assert again.status_code == 202, again.get_data(as_text=True)
    rows = {r["key"]: r for r in client.get(f"/api/records/{recid}").get_json()["metadata"]["files"]}
    assert Path(rows["b-big.bin"]["uri"].removeprefix("file://")).read_bytes() == big
    assert Path(rows["a-small.bin"]["uri"].removeprefix("file://")).read_bytes() == small


def test_an_ingest_whose_file_index_fills_the_disk_fails_saying_so_and_leaves_nothing(
    make_app, disk, settings_dict, tmp_path
):
    app = make_app(data_dir=str(disk))
    svc = services_of(app)
    load_file(svc, write_records(tmp_path / "r.json", [dataset(4400)]))
    (disk / "run").mkdir()
    for i in range(200):  # many files: their index (JSON and text) is larger than what is left
        (disk / "run" / f"events_{i:04d}_with_a_long_name_for_the_index.csv").write_text("run,event\n1,2\n")
    ballast = fill(disk, 16 * 1024)
    before = files_on(disk)
    env = {
        "PORTAL_DATABASE_URL": settings_dict["database_url"],
        "PORTAL_VAR_DIR": settings_dict["var_dir"],
        "PORTAL_DATA_DIR": str(disk),
    }
    full = CliRunner().invoke(cli, ["ingest", "4400", "run", "--write-index", "RUN"], env=env)
    assert full.exit_code == 1, full.output
    assert "no space" in full.output.lower(), full.output
    assert svc.catalog.get(4400).files == []  # no file row
    assert files_on(disk) == before  # no index, no partial .part

    ballast.unlink()
    again = CliRunner().invoke(cli, ["ingest", "4400", "run", "--write-index", "RUN"], env=env)
    assert again.exit_code == 0, again.output
    keys = sorted(f["key"] for f in svc.catalog.get(4400).files)
    assert keys == ["RUN_file_index.json", "RUN_file_index.txt"]
