"""The Analyse panel of a dataset with a large file index reads a bounded sample of its entries (SQLite and
PostgreSQL): it used to read the index in batches of 20,000 rows, seconds per dataset page at 10 million entries."""

from __future__ import annotations

from sqlalchemy import event

from portal.app import services_of
from portal.catalog.model import IndexSpec, RecordInput
from portal.db.models import File
from portal.processing import offers

RECID = 6801


def _entry(i: int) -> dict:
    return {
        "uri": f"root://xrd.test//eos/big/file_{i:05d}.root",
        "size": 1000 + i,
        "checksum": f"adler32:{i:08x}",
        "entries": 10,
    }


def test_panel_samples_a_bounded_slice_of_a_large_index_and_scales_up(app, monkeypatch) -> None:
    monkeypatch.setattr(offers, "SAMPLE_FILES", 40)
    svc = services_of(app)
    metadata = {
        "recid": RECID,
        "title": "A dataset with a large file index",
        "type": {"primary": "Dataset", "secondary": ["Collision"]},
        "date_published": "2024-05-01",
    }
    entries = [_entry(i) for i in range(400)]
    svc.catalog.load([RecordInput(metadata, indices=[IndexSpec(key="big_index", entries=entries)])])
    loaded: list[int] = []

    def seen(target, _context):
        loaded.append(target.position)

    event.listen(File, "load", seen)
    try:
        rows, total = offers._rows(svc.catalog, RECID)
        page = app.test_client().get(f"/record/{RECID}")
    finally:
        event.remove(File, "load", seen)
    assert total == 400
    assert [r["uri"] for r in rows] == [e["uri"] for e in entries[:40]]  # the first entries, in order
    assert page.status_code == 200
    # the sample twice (once by _rows, once by the page) plus the page's first few rows: never the index
    assert len(loaded) <= 2 * 40 + 60, len(loaded)
