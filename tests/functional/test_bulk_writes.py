"""Bulk writes (COPY on PostgreSQL, multi-row INSERTs on SQLite) store exactly what a row-by-row write stores, and
the record page's formatted citations are kept per record version and style until the record changes."""

from __future__ import annotations

import html
import json

from sqlalchemy import select, update

from portal.app import services_of
from portal.catalog.importers import read_record_file
from portal.db.models import File
from portal.exports.rendered import RENDERED
from tests.functional.catalog_helpers import dataset, load_file, write_records

# Values that COPY's text format must escape: tab, newline, backslash, quotes, NUL-free unicode, "\N" (its NULL).
AWKWARD = ["tab\there", "line\nbreak", "back\\slash \\N", "quote ' and \"", "unicode é ∑ 😀", "\\."]


def entries(n: int) -> list[dict]:
    out = []
    for i in range(n):
        entry: dict = {
            "uri": f"root://xrootd.example//eos/bulk/dir {i % 3}/file_{i:04d}.root",
            "size": 2**40 + i,
            "checksum": f"adler32:{i:08x}",
        }
        if i % 2:
            entry["description"] = AWKWARD[i % len(AWKWARD)]
            entry["entries"] = i * 1000
            entry["inspection"] = {"trees": {"Events": {"entries": i}}, "note": AWKWARD[i % len(AWKWARD)]}
        if i % 5 == 0:
            entry["filename"] = f"renamed {AWKWARD[i % len(AWKWARD)]}.root"
        out.append(entry)
    return out


def test_a_file_index_is_stored_exactly(app, tmp_path):
    written = entries(45)
    (tmp_path / "BULK_index.json").write_text(json.dumps(written), encoding="utf-8")
    record = dataset(
        901,
        files=[{"type": "index.json", "uri": "root://xrootd.example//eos/bulk/BULK_index.json", "size": 10}],
    )
    svc = services_of(app)
    svc.catalog.load(read_record_file(write_records(tmp_path / "r.json", [record])))
    page = svc.catalog.list_files(901, index_key="BULK_index", page=1, size=100)
    assert page.total == 45
    for got, want in zip(page.items, written, strict=True):
        name = want.get("filename") or want["uri"].rsplit("/", 1)[-1]
        assert got["uri"] == want["uri"] and got["size"] == want["size"] and got["checksum"] == want["checksum"]
        assert got["key"] == name and got["filename"] == name
        assert got.get("description") == want.get("description")
        assert got.get("entries") == want.get("entries")
    with svc.db.reader() as s:
        rows = s.execute(
            select(File.position, File.inspection).where(File.recid == 901, File.index_id.is_not(None))
        ).all()
    assert sorted(p for p, _ in rows) == list(range(45))  # dense positions: any page is one range scan
    assert {p: i for p, i in rows} == {n: e.get("inspection") for n, e in enumerate(written)}
    view = svc.catalog.get(901)
    assert [(i["number_files"], i["size"]) for i in view.indices] == [(45, sum(e["size"] for e in written))]


def citations_on_page(app, recid: int) -> dict[str, str]:
    page = app.test_client().get(f"/record/{recid}").get_data(as_text=True)
    out = {}
    for style in ("apa", "harvard", "chicago"):
        start = page.index(f'data-cite="{style}"')
        out[style] = html.unescape(page[page.index(">", start) + 1 : page.index("</pre>", start)])
    return out


def test_formatted_citations_are_kept_per_version_and_style_until_an_edit(app, tmp_path):
    svc = services_of(app)
    record = dataset(902, title="Kept citations of muon pairs", authors=[{"name": "Doe, Jane"}])
    load_file(svc, write_records(tmp_path / "a.json", [record]))
    first = citations_on_page(app, 902)
    assert all("kept citations of muon pairs" in text.lower() for text in first.values()), first
    with svc.db.reader() as s:
        stored = {style: (digest, text) for _, style, digest, text in s.execute(select(RENDERED))}
    assert {style: text for style, (_, text) in stored.items()} == first
    # The page reads the stored text while the version is unchanged (this one was not formatted by citeproc).
    with svc.db.transaction() as s:
        s.execute(update(RENDERED).where(RENDERED.c.style == "apa").values(text="stored, not formatted again"))
    assert citations_on_page(app, 902)["apa"] == "stored, not formatted again"
    # An edit of the metadata gives another CSL item: every style is formatted again, and stored again.
    load_file(svc, write_records(tmp_path / "b.json", [{**record, "title": "Edited citations of muon pairs"}]))
    edited = citations_on_page(app, 902)
    assert all("edited citations of muon pairs" in text.lower() for text in edited.values()), edited
    with svc.db.reader() as s:
        again = {style: (digest, text) for _, style, digest, text in s.execute(select(RENDERED))}
    assert {style: text for style, (_, text) in again.items()} == edited
    assert all(again[style][0] != stored[style][0] for style in stored)
