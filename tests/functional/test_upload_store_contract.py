"""The upload-store contract (portal.deposit.stores.UploadStore), run over every real implementation: a local
directory and a real, writable XRootD server."""

from __future__ import annotations

import io
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from portal.deposit.stores import LocalUploadStore, XRootDUploadStore
from portal.errors import NotFound
from portal.storage.local import LocalStorage
from portal.storage.server import XRootDServer
from tests.support.xrootd import require_xrootd, served_tempdir


@pytest.fixture(scope="module", params=["local", "xrootd"])
def store(request, tmp_path_factory):
    if request.param == "local":
        yield LocalUploadStore(tmp_path_factory.mktemp("uploads"))
        return
    require_xrootd()
    top = served_tempdir()
    (top / "uploads").mkdir()
    user = pwd.getpwnam("xrootd")
    os.chown(top / "uploads", user.pw_uid, user.pw_gid)
    state = Path(tempfile.mkdtemp(prefix="xrd-state-"))
    server = XRootDServer(localroot=top, export="uploads", state_dir=state, read_only=False).start()
    try:
        yield XRootDUploadStore(f"{server.url}//uploads")
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(top, ignore_errors=True)


def test_appends_resume_at_the_size_and_read_back(store):
    store.create("contract01")
    assert store.size("contract01") == 0
    assert store.append("contract01", 0, iter([b"abc", b"def"])) == 6
    assert store.append("contract01", 6, iter([b"ghi"])) == 9  # a resume continues at the size
    with store.open("contract01") as fh:
        assert fh.read() == b"abcdefghi"
    store.truncate("contract01", 4)  # a refused chunk is dropped
    assert store.size("contract01") == 4
    assert store.append("contract01", 0, iter([b"new"])) == 3  # offset 0 starts again
    with store.open("contract01") as fh:
        assert fh.read() == b"new"
    store.delete("contract01")


def test_bytes_written_before_a_failing_stream_stay(store):
    store.create("contract02")

    def broken():
        yield b"x" * 1000
        raise ConnectionError("the client went away")

    with pytest.raises(ConnectionError):
        store.append("contract02", 0, broken())
    assert store.size("contract02") == 1000
    store.delete("contract02")


def test_listing_deleting_and_missing_uploads(store):
    store.create("contract03")
    assert "contract03" in {upload_id for upload_id, _mtime in store.uploads()}
    store.delete("contract03")
    store.delete("contract03")  # deleting twice is not an error
    assert "contract03" not in {upload_id for upload_id, _mtime in store.uploads()}
    with pytest.raises(NotFound):
        store.size("contract03")
    with pytest.raises(NotFound):
        store.open("contract03")
    with pytest.raises(NotFound):
        store.size("../../etc")  # ids are letters and digits only


def test_place_copies_into_the_catalogue_storage(store, tmp_path):
    store.create("contract04")
    data = os.urandom(3 * 1024 * 1024 + 1)
    store.append("contract04", 0, io.BytesIO(data))
    storage = LocalStorage(tmp_path / "data")
    store.place("contract04", storage, "deposits/7/a.bin")
    assert (tmp_path / "data" / "deposits" / "7" / "a.bin").read_bytes() == data
    assert not (tmp_path / "data" / "deposits" / "7" / "a.bin.part").exists()
    store.delete("contract04")
    assert (tmp_path / "data" / "deposits" / "7" / "a.bin").read_bytes() == data  # placed bytes outlive the upload
