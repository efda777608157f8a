"""Bulk writes of many rows in the caller's transaction: COPY on PostgreSQL, multi-row INSERTs elsewhere.

A multi-row INSERT through SQLAlchemy costs PostgreSQL a parse and plan of a statement with thousands of
parameters per batch, and Python the building of that statement; COPY streams the rows in one protocol
message flow (psycopg encodes them in C). The rows land in the same transaction as everything else the
session wrote, so a failure still rolls the whole write back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session


def _plain(value: Any) -> Any:
    # JSON columns: COPY takes their text (the database parses it, as it would a bound JSON parameter).
    return json.dumps(value) if isinstance(value, dict | list) else value


def copy_rows(s: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY ``rows`` (tuples in the order of ``columns``) into ``table`` on the session's PostgreSQL
    connection; returns how many rows were written. Only for PostgreSQL (psycopg 3)."""
    s.flush()  # rows the session holds (the record the files belong to) go first: COPY does not autoflush
    dbapi = s.connection().connection.dbapi_connection
    assert dbapi is not None
    count = 0
    with dbapi.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row([_plain(v) for v in row])
            count += 1
    return count


def insert_rows(s: Session, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``: by COPY on PostgreSQL, else one
    multi-row INSERT."""
    if not rows:
        return
    if s.get_bind().dialect.name == "postgresql":
        columns = list(rows[0])
        copy_rows(s, table.name, columns, ([row[c] for c in columns] for row in rows))
    else:
        s.execute(sa.insert(table), list(rows))


__all__ = ["copy_rows", "insert_rows"]
