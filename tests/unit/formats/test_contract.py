"""The FileFormat contract, run against every registered format and the test double, over good and damaged files
(truncated, corrupt header, empty, named like another format): what ingest, previews and processing rely on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from portal.errors import Invalid
from portal.files.ingest import Ingester
from portal.formats.base import FileFormat, PreviewTable, is_processable
from portal.formats.collection import Formats
from portal.formats.doubles import FakeFormat
from portal.storage.local import LocalStorage
from tests.support.formats import registered_formats
from tests.unit.formats.samples import SAMPLES, Samples

ALL = Formats([*registered_formats(), FakeFormat()])
NAMES = [*registered_formats().names(), "fake"]


@pytest.fixture(scope="module", params=NAMES)
def case(request: pytest.FixtureRequest, tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    name = request.param
    assert name in SAMPLES, f"format {name!r} is registered but has no samples in tests/unit/formats/samples.py"
    fmt = ALL.by_name(name)
    assert fmt is not None
    return fmt, SAMPLES[name](tiny, tmp_path_factory.mktemp(f"samples-{name}"))


def _ends(path: Path) -> tuple[bytes, bytes]:
    data = path.read_bytes()
    return data[:8192], data[-4:]


def test_the_format_states_what_it_is(case: tuple[FileFormat, Samples]) -> None:
    fmt, _ = case
    assert isinstance(fmt.name, str) and fmt.name and fmt.name not in ("json", "text", "binary")
    assert fmt.suffixes and all(s.startswith(".") and s == s.lower() for s in fmt.suffixes)
    assert isinstance(fmt.processable, bool) and isinstance(fmt.textual, bool)
    assert type(fmt).from_settings(None).name == fmt.name  # type: ignore[attr-defined]
    readers = ("entry_boundaries", "read")
    assert not is_processable(fmt) or all(callable(getattr(fmt, m, None)) for m in readers)


def test_good_files_are_claimed_by_their_format_alone(case: tuple[FileFormat, Samples]) -> None:
    fmt, samples = case
    head, tail = _ends(samples.good)
    assert [f.name for f in ALL if f.sniff(head, tail)] == [fmt.name]
    assert ALL.sniff(head, tail) == fmt.name
    assert ALL.for_path(samples.good.name) is fmt
    assert not fmt.sniff(b"", b"")


def test_good_files_are_summarised_as_json(case: tuple[FileFormat, Samples]) -> None:
    fmt, samples = case
    summary = fmt.inspect(str(samples.good), samples.good.stat().st_size)
    assert summary["format"] == fmt.name and summary["entries"] == samples.entries
    assert json.loads(json.dumps(summary)) == summary
    assert fmt.inspect(f"file://{samples.good}", samples.good.stat().st_size) == summary


def test_good_files_preview_their_first_rows(case: tuple[FileFormat, Samples]) -> None:
    fmt, samples = case
    table = fmt.preview(str(samples.good), 3)
    assert isinstance(table, PreviewTable) and samples.column in table.columns
    assert len(table.rows) == 3 and all(set(row) <= set(table.columns) for row in table.rows)
    json.dumps(table.rows)  # plain JSON values only


def test_a_numeric_sample_reads_at_most_the_rows_asked(case: tuple[FileFormat, Samples]) -> None:
    fmt, samples = case
    sample = fmt.sample(str(samples.good), samples.column, 200)
    assert 0 < sample.rows <= 200 and sample.values.dtype == np.float64 and len(sample.values) > 0
    everything = fmt.sample(str(samples.good), samples.column, 10 * samples.entries)
    assert everything.rows > sample.rows and len(everything.values) > len(sample.values)
    assert np.array_equal(everything.values[: len(sample.values)], sample.values)  # the first rows, in order
    with pytest.raises(Invalid) as err:
        fmt.sample(str(samples.good), "no_such_column", 10)
    assert err.value.field == "column" and "no_such_column" in err.value.message


def test_processable_formats_read_entry_ranges_of_named_columns(case: tuple[FileFormat, Samples]) -> None:
    fmt, samples = case
    uri = str(samples.good)
    if not is_processable(fmt):
        assert fmt.name not in {f.name for f in ALL.processable}
        assert not set(fmt.suffixes) & set(ALL.processable_suffixes)
        with pytest.raises(Invalid, match="no reader"):
            ALL.reader(uri)
        return
    assert ALL.reader(uri) is fmt and ALL.reader(f"file://{uri}") is fmt
    bounds = fmt.entry_boundaries(uri)
    assert bounds[0] == 0 and bounds[-1] == samples.entries and bounds == sorted(set(bounds))
    columns = samples.read_columns
    whole = fmt.read(uri, columns, 0, samples.entries)
    assert len(whole) == samples.entries and ak.fields(whole) == list(columns)
    middle = samples.entries // 3
    parts = [fmt.read(uri, columns, 0, middle), fmt.read(f"file://{uri}", columns, middle, samples.entries)]
    assert [len(p) for p in parts] == [middle, samples.entries - middle]
    for column in columns:
        joined = ak.concatenate([p[column] for p in parts])
        assert ak.to_list(joined) == ak.to_list(whole[column]), column


def test_damaged_files_are_refused(case: tuple[FileFormat, Samples]) -> None:
    fmt, samples = case
    assert {"truncated", "corrupt header", "empty"} <= set(samples.damaged) | set(samples.undetected)
    for kind, path in samples.damaged.items():
        head, tail = _ends(path)
        if ALL.sniff(head, tail) != fmt.name:
            continue  # no longer looks like this format: ingest then refuses it by its name (below)
        with pytest.raises(Invalid) as err:
            fmt.inspect(str(path), path.stat().st_size)
        assert str(path) in err.value.message, kind
        if is_processable(fmt):
            # processing either fails on the file (the engine then names it) or reads exactly the good values:
            # a truncated file may still hold every basket of the columns asked for
            try:
                bounds = fmt.entry_boundaries(str(path))
                events = fmt.read(str(path), samples.read_columns, 0, bounds[-1])
            except Exception:  # noqa: BLE001, S112 - any failure is the file's
                continue
            good = fmt.read(str(samples.good), samples.read_columns, 0, samples.entries)
            assert ak.to_list(events) == ak.to_list(good), kind


def test_ingest_never_catalogues_a_damaged_file_as_a_good_one(case: tuple[FileFormat, Samples], tmp_path: Path) -> None:
    fmt, samples = case
    for kind, path in samples.damaged.items():
        shutil.copyfile(path, tmp_path / f"{kind.replace(' ', '_')}{fmt.suffixes[0]}")
    report = Ingester(ALL).ingest_path(LocalStorage(tmp_path))
    errors = dict(report.errors)
    for f in report.files:  # what was not refused was recognised as something else (a CSV damaged into text)
        assert f.format != fmt.name and f.entries is None, (f.path, f.format)
    assert len(errors) + len(report.files) == len(samples.damaged)
    assert all(reason for reason in errors.values())


def test_undetectable_damage_still_never_adds_entries(case: tuple[FileFormat, Samples]) -> None:
    fmt, samples = case
    for kind, path in samples.damaged_anyway.items():
        assert kind in samples.undetected
        summary = fmt.inspect(str(path), path.stat().st_size)
        assert summary["entries"] is not None and summary["entries"] < samples.entries, kind


def test_content_named_like_another_format_is_refused_and_a_neutral_name_is_fine(
    case: tuple[FileFormat, Samples], tmp_path: Path
) -> None:
    fmt, samples = case
    others = [f for f in ALL if f is not fmt]
    for other in others:
        shutil.copyfile(samples.good, tmp_path / f"disguised{other.suffixes[0]}")
    shutil.copyfile(samples.good, tmp_path / "neutral.dat")
    report = Ingester(ALL).ingest_path(LocalStorage(tmp_path))
    errors = dict(report.errors)
    for other in others:
        assert (
            errors[f"disguised{other.suffixes[0]}"] == f"named like a {other.name} file but its content is {fmt.name}"
        )
    [neutral] = report.files
    assert (neutral.path, neutral.format, neutral.entries) == ("neutral.dat", fmt.name, samples.entries)
