"""Database sessions on SQLite and PostgreSQL: a `shared_reads()` block gives every read one session."""

from __future__ import annotations

import threading

from sqlalchemy import event

from portal.app import services_of
from portal.db.models import Record
from tests.functional.catalog_helpers import dataset, load_file, write_records


def test_shared_reads_use_one_session_and_read_a_row_by_key_once(make_app, tmp_path):
    svc = services_of(make_app())
    load_file(svc, write_records(tmp_path / "r.json", [dataset(7301)]))
    db = svc.db
    statements: list[str] = []
    checkouts: list[object] = []
    event.listen(db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: statements.append(sql))
    event.listen(db.engine, "checkout", lambda *_a: checkouts.append(1))

    with db.shared_reads():
        with db.reader() as first:
            assert first.get(Record, 7301).title == "Dataset 7301"
        with db.reader() as second:
            assert second is first
            with db.shared_reads(), db.reader() as third:  # nested: the same session still
                assert third is first
                assert third.get(Record, 7301).title == "Dataset 7301"
        other: list[object] = []
        worker = threading.Thread(target=lambda: other.append(db.reader().__enter__()))
        worker.start()
        worker.join()
        assert other[0] is not first  # another thread does not share this thread's session
    assert len([s for s in statements if "FROM records" in s]) == 1
    assert len(checkouts) == 1

    with db.reader() as after:  # outside the block, a new session again: it sees rows written since
        assert after is not first
    assert svc.catalog.get(7301).metadata["title"] == "Dataset 7301"
    svc.close()
