"""The download client's pieces that need no server: running checksums and where a file key is saved."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from portal.client.download import Checksum, TransferError, local_path
from portal.client.records import _remote

DATA = b"open data " * 1000


def running(expected: str | None, chunks: int = 7) -> Checksum:
    check = Checksum(expected)
    step = len(DATA) // chunks + 1
    for i in range(0, len(DATA), step):
        check.update(DATA[i : i + step])
    return check


def test_checksums_computed_in_pieces_match_the_whole():
    adler = zlib.adler32(DATA) & 0xFFFFFFFF
    assert running(f"adler32:{adler:08x}").matches()
    assert running(f"ADLER32:{adler:x}").matches()  # leading zeros dropped, upper-case algorithm
    assert running(f"sha256:{hashlib.sha256(DATA).hexdigest()}").matches()
    assert not running(f"adler32:{adler ^ 1:08x}").matches()
    assert not running("sha256:" + "0" * 64).matches()
    unknown = running("crc99:1234")
    assert not unknown.known and unknown.matches()  # only the size can be checked then
    assert not Checksum(None).known


def test_checksum_reset_starts_over():
    check = running(f"adler32:{zlib.adler32(DATA) & 0xFFFFFFFF:08x}")
    check.update(b"garbage")
    assert not check.matches()
    check.reset()
    check.update(DATA)
    assert check.matches()


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", ""])
def test_keys_that_would_leave_the_output_directory_are_refused(tmp_path, key):
    with pytest.raises(TransferError, match="unsafe file key"):
        local_path(tmp_path, key)


def test_keys_with_directories_stay_inside(tmp_path):
    assert local_path(tmp_path, "run1/events.root") == tmp_path / "run1" / "events.root"


def test_remote_files_from_cern_shaped_entries():
    cern = _remote(
        "https://server.example",
        5,
        {"uri": "root://eospublic.cern.ch//eos/opendata/cms/a b.root", "size": 12, "checksum": "adler32:0000000c"},
        "IDX",
    )
    assert cern.key == "a b.root" and cern.size == 12 and cern.index == "IDX"
    assert cern.root_url == "root://eospublic.cern.ch//eos/opendata/cms/a b.root"
    assert cern.https_url == "https://server.example/record/5/files/a%20b.root"
    direct = _remote("https://s", 5, {"key": "x.csv", "uri": "https://cdn.example/x.csv"}, None)
    assert direct.https_url == "https://cdn.example/x.csv" and direct.root_url is None and direct.size is None
    assert Path(direct.key).name == "x.csv"


def test_two_files_under_one_key_do_not_share_a_part_file(tmp_path):
    from portal.client.download import download
    from portal.client.records import DownloadPlan, RemoteFile

    # both point at a server that is not there: the first fails on the network, the second without trying
    files = tuple(RemoteFile("same.bin", 1, None, "http://127.0.0.1:9/a", None) for _ in range(2))
    report = download(DownloadPlan("http://127.0.0.1:9", 1, files), tmp_path, parallel=2, timeout=2)
    assert [o.status for o in report.outcomes] == ["failed", "failed"]
    assert report.outcomes[1].error == "another file of the record is saved under this key"
