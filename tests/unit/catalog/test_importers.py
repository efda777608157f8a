"""Reading record files: formats, CERN normalisation, streamed file indices, clear refusals."""

import json

import pytest

from portal.catalog.importers import (
    IndexLocator,
    iter_index_file,
    iter_record_file,
    normalise_checksum,
    read_record_file,
)
from portal.errors import Invalid

RECORD = {"recid": 5, "title": "Some data", "type": {"primary": "Dataset"}, "date_published": "2020"}


def test_checksums_are_normalised():
    assert normalise_checksum("adler32:8f8f769") == "adler32:08f8f769"
    assert normalise_checksum("alder32:FB89064F") == "adler32:fb89064f"
    assert normalise_checksum("sha1:ABC") == "sha1:abc"


def test_yaml_with_several_documents_and_lists(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "recid: 1\ntitle: One record\ntype: {primary: Dataset}\ndate_published: '2020'\n---\n"
        "- {recid: 2, title: Two record, type: {primary: Software}, date_published: '2021'}\n"
    )
    inputs = read_record_file(path)
    assert [i.recid for i in inputs] == [1, 2]


def test_bad_json_names_file_and_line(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('[{"recid": 1,\n "title": }]')
    with pytest.raises(Invalid, match=r"r\.json.*line 2"):
        read_record_file(path)


def test_duplicate_recid_in_one_file_is_refused(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([RECORD, RECORD]))
    with pytest.raises(Invalid, match="recid appears twice") as info:
        read_record_file(path)
    assert info.value.field == "recid"


def test_index_files_are_found_and_streamed(tmp_path):
    index = tmp_path / "file-indexes" / "X_file_index.json"
    index.parent.mkdir()
    index.write_text(
        json.dumps([{"uri": f"root://h//d/{i}.root", "size": i, "checksum": "adler32:1"} for i in range(5)])
    )
    record = {
        **RECORD,
        "files": [
            {"type": "index.json", "uri": "root://h//d/X_file_index.json", "size": 10, "checksum": "adler32:00000001"}
        ],
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    [item] = read_record_file(path)
    [spec] = item.indices
    assert spec.key == "X_file_index"
    entries = list(spec.entries)
    assert [e["size"] for e in entries] == [0, 1, 2, 3, 4]
    assert entries[0]["checksum"] == "adler32:00000001"
    assert list(spec.entries) == entries  # re-iterable: streamed again


def test_missing_index_is_a_warning_not_a_failure(tmp_path):
    record = {**RECORD, "files": [{"type": "index.txt", "uri": "root://h//d/Y_file_index.txt"}]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    [item] = read_record_file(path, IndexLocator(tmp_path / "nowhere"))
    assert item.indices[0].entries is None
    assert "Y_file_index not found" in item.warnings[0]


def test_broken_index_entry_refuses_the_file(tmp_path):
    (tmp_path / "Z_file_index.json").write_text(json.dumps([{"uri": "root://h//a", "size": "big"}]))
    record = {**RECORD, "files": [{"type": "index.json", "uri": "root://h//d/Z_file_index.json"}]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    with pytest.raises(Invalid, match="size must be a non-negative integer"):
        read_record_file(path)


def test_text_index(tmp_path):
    path = tmp_path / "i.txt"
    path.write_text("root://h//a.root\n\nroot://h//b.root\n")
    assert [e["uri"] for e in iter_index_file(path)] == ["root://h//a.root", "root://h//b.root"]


def test_a_json_array_is_validated_record_by_record_as_it_streams(tmp_path):
    broken = {**RECORD, "recid": 6, "experiment": "CMS"}  # a string where CERN's schema has an array
    path = tmp_path / "r.json"
    path.write_text(json.dumps([RECORD, broken]))
    records = iter_record_file(path)
    assert next(records).recid == 5  # the first record is ready before the second is read
    with pytest.raises(Invalid) as info:
        next(records)
    assert info.value.field == "experiment"
    assert "r.json" in info.value.message and "record 6" in info.value.message


def test_a_file_that_is_not_a_list_of_records_is_refused(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([RECORD, [RECORD]]))
    with pytest.raises(Invalid, match="entry 1 is a list"):
        read_record_file(path)
    path.write_text("[]")
    with pytest.raises(Invalid, match="no records in file"):
        read_record_file(path)


def test_yaml_record_files_get_the_deposit_profile(tmp_path):
    # An open vocabulary value loads from CERN-style JSON but not from our own YAML record files.
    record = {**RECORD, "type": {"primary": "Dataset", "secondary": ["Whatever"]}}
    as_json = tmp_path / "r.json"
    as_json.write_text(json.dumps(record))
    assert [i.recid for i in read_record_file(as_json)] == [5]
    as_yaml = tmp_path / "r.yaml"
    as_yaml.write_text(json.dumps(record))  # JSON is YAML
    with pytest.raises(Invalid) as info:
        read_record_file(as_yaml)
    assert info.value.field == "type.secondary[0]"
    assert [i.recid for i in read_record_file(as_yaml, profile="import")] == [5]
    with pytest.raises(Invalid):
        read_record_file(as_json, profile="deposit")
