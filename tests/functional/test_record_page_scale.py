"""The record page at scale, on SQLite and PostgreSQL: what it reads must not grow with the catalogue. A dataset
page's Analyse panel offers the analyses of the latest published version of each software record that carries a
package; it finds them through the partial index of package files (ix_files_package), so software records without
one are never read, and adding hundreds of records adds no statement to the page (it used to read every software
record once per process and group all their versions on every dataset page: minutes at 200,000 records)."""

from __future__ import annotations

import tarfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from portal.app import services_of
from portal.catalog.model import RecordInput
from portal.processing.isolated import _package_recids
from tests.functional.test_software_analyses import ANALYSES, PYPROJECT

DATASET = 7101
BASE = {"experiment": ["CMS"], "date_published": "2024-05-01"}


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"processing_executor": "inline", "launch_builder": "venv"}


def _archive(tmp_path: Path) -> dict[str, Any]:
    """A file row of a git-archive-shaped release (.tar.gz) of a package declaring `portal.analyses` entry points."""
    tree = tmp_path / "leadpt-v1.0.0"
    (tree / "leadpt").mkdir(parents=True)
    (tree / "pyproject.toml").write_text(PYPROJECT)
    (tree / "leadpt" / "__init__.py").write_text("")
    (tree / "leadpt" / "analyses.py").write_text(ANALYSES)
    path = tmp_path / "Leadpt-v1.0.0.TAR.GZ"  # upper case: the index's predicate compares lower(key)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tree, arcname="leadpt-v1.0.0")
    body = path.read_bytes()
    return {
        "key": path.name,
        "uri": f"file://{path}",
        "size": len(body),
        "checksum": f"adler32:{zlib.adler32(body):08x}",
    }


def _software(n: int, start: int) -> list[RecordInput]:
    """``n`` software records without a package (a README only): nothing for the Analyse panel to read."""
    return [
        RecordInput(
            {**BASE, "recid": recid, "title": f"Tool {recid}", "type": {"primary": "Software", "secondary": ["Tool"]}},
            files=[{"key": "README.md", "uri": f"root://eos.example/{recid}/README.md", "size": 10}],
        )
        for recid in range(start, start + n)
    ]


def _datasets(n: int, start: int) -> list[RecordInput]:
    return [
        RecordInput({**BASE, "recid": recid, "title": f"Events {recid}", "type": {"primary": "Dataset"}})
        for recid in range(start, start + n)
    ]


@contextmanager
def _statements(app: Any) -> Iterator[list[str]]:
    """The statements this thread runs (the test client serves the request in it; the job worker's polls, in
    its own threads, are not the page's)."""
    seen: list[str] = []
    me = threading.get_ident()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == me:
            seen.append(statement)

    engine = services_of(app).db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _page_statements(app: Any) -> int:
    """The statements of one visit to the dataset's page (the first one, after records were added)."""
    client = app.test_client()
    with _statements(app) as seen:
        page = client.get(f"/record/{DATASET}")
    assert page.status_code == 200
    return len(seen)


def test_the_panel_offers_the_latest_version_of_software_with_a_package(app, tmp_path: Path) -> None:
    catalog = services_of(app).catalog
    catalog.load([*_datasets(1, DATASET), *_software(3, 7200)])
    first = catalog.create(
        {**BASE, "title": "Leading muon pT", "version": "1.0.0", "type": {"primary": "Software", "secondary": []}},
        source="test release",
        files=[_archive(tmp_path)],
    )
    assert _offered(app) == {f"leading-muon-pt@{first.recid}", f"env-probe@{first.recid}", f"raising@{first.recid}"}

    second = catalog.publish(catalog.new_version(first.recid).recid)
    assert _offered(app) == {f"leading-muon-pt@{second.recid}", f"env-probe@{second.recid}", f"raising@{second.recid}"}
    assert app.test_client().get(f"/record/{DATASET}").status_code == 200


def _offered(app: Any) -> set[str]:
    """The software analyses the dataset's Analyse panel offers (the built-in ones left out)."""
    return {o.name for o in services_of(app).analyses.panel(DATASET).offers if o.software is not None}


def test_the_dataset_page_reads_the_same_statements_at_50_and_500_records(app, tmp_path: Path) -> None:
    catalog = services_of(app).catalog
    catalog.load([*_datasets(25, DATASET), *_software(25, 8000)])
    catalog.create(
        {**BASE, "title": "Leading muon pT", "type": {"primary": "Software", "secondary": []}},
        source="test release",
        files=[_archive(tmp_path)],
    )
    app.test_client().get(f"/record/{DATASET}")  # the first visit stores the page's formatted citations
    at_50 = _page_statements(app)
    catalog.load([*_datasets(225, 9000), *_software(225, 10000)])
    assert _page_statements(app) == at_50, "the record page's statements grew with the catalogue"


def test_the_offers_query_is_served_by_the_package_files_index(app) -> None:
    """The partial index is used only when the query spells its predicate the same way; this pins that it does."""
    db = services_of(app).db
    with db.engine.connect() as conn:
        compiled = _package_recids().compile(dialect=conn.dialect)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table is read whole otherwise
            rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
            plan = "\n".join(r[0] for r in rows)
        else:
            params = tuple(compiled.params[k] for k in compiled.positiontup or [])
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params))
    assert "ix_files_package" in plan, plan


def test_cited_by_counts_read_by_index_equal_the_catalogue_wide_count(app) -> None:
    """The record page counts one concept's citations by index (`_counts`); the search's `mostcited` sort still
    joins the catalogue-wide `count_query`: both must agree, relations to any version or to the concept counting
    once per citing record and never a record's own versions."""
    svc = services_of(app)
    cites = lambda *recids: [{"type": "cites", "recid": str(r)} for r in recids]  # noqa: E731
    svc.catalog.load(
        [
            RecordInput({**BASE, "recid": 7301, "title": "Cited", "type": {"primary": "Dataset"}}),
            RecordInput(
                {**BASE, "recid": 7302, "title": "Cites 7301", "type": {"primary": "Dataset"}, "relations": cites(7301)}
            ),
            RecordInput({**BASE, "recid": 7303, "title": "Other", "type": {"primary": "Dataset"}}),
        ]
    )
    v2 = svc.catalog.new_version(7301)
    svc.catalog.update_draft(
        v2.recid, {**BASE, "title": "Cited v2", "type": {"primary": "Dataset"}, "relations": cites(7301)}
    )
    svc.catalog.publish(v2.recid)
    concept = svc.catalog.get(7301).concept_recid
    svc.catalog.load(
        [
            RecordInput(
                {
                    **BASE,
                    "recid": 7304,
                    "title": "Cites both",
                    "type": {"primary": "Dataset"},
                    "relations": cites(7301, v2.recid),
                }
            ),
            RecordInput(
                {
                    **BASE,
                    "recid": 7305,
                    "title": "Cites the concept",
                    "type": {"primary": "Dataset"},
                    "relations": cites(concept, 7303),
                }
            ),
        ]
    )
    assert svc.citations is not None
    concepts = sorted({svc.catalog.get(r).concept_recid for r in (7301, 7302, 7303, 7304, 7305)})
    counted = svc.citations.count_query()
    with svc.db.reader() as s:
        generic = {
            int(r): int(n)
            for r, n in s.execute(select(counted.c.recid, counted.c.n).where(counted.c.recid.in_(concepts)))
        }
    assert svc.citations.counts(concepts) == generic
    assert generic[concept] == 3  # 7302, 7304 (twice, once counted) and 7305; not its own version 2
    assert svc.citations.of_record(v2.recid).count == 3
    assert svc.citations.of_record(7303).count == 1
